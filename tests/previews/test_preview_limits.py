"""Guessing tokens goes through the normal request limits: at most MAX_ALIASES lookups per request (validation),
each one charged to the caller's bucket, and a throttled request looks nothing up (nothing executes)."""

from __future__ import annotations

import secrets

import pytest

from tests.previews.support import created, draft
from tests.support import make_actors


@pytest.fixture
def settings(settings):  # type: ignore[no-untyped-def]
    return settings.model_copy(update={"rate_limit_capacity": 70, "rate_limit_restore_rate": 0.01})


def _guesses(count: int) -> str:
    return "{ " + " ".join(f'g{i}: contentPreview(token: "{secrets.token_urlsafe(32)}") {{ title }}'
                           for i in range(count)) + " }"


async def test_token_guessing_is_bounded_per_request_and_charged_to_the_bucket(gql, factory, db, settings):
    actors = await make_actors(factory)
    made = await created(gql, actors.staff_with.token, await draft(db, actors.org, actors.staff_with.user_id))
    too_many = await gql.raw(_guesses(settings.max_aliases + 1))
    assert {e["extensions"]["code"] for e in too_many.json()["errors"]} == {"GRAPHQL_VALIDATION_FAILED"}

    first = await gql.raw(_guesses(settings.max_aliases))  # each lookup costs 1, plus the request's overhead
    body = first.json()
    assert first.status_code == 200 and set(body["data"].values()) == {None}
    cost = body["extensions"]["cost"]
    assert cost["requestedQueryCost"] == settings.max_aliases and cost["chargedCost"] > settings.max_aliases
    assert cost["throttleStatus"]["currentlyAvailable"] < cost["chargedCost"], cost  # no room for a second one
    second = await gql.raw(_guesses(settings.max_aliases))
    assert second.status_code == 429 and second.json()["data"] is None  # nothing ran
    assert {e["extensions"]["code"] for e in second.json()["errors"]} == {"THROTTLED"}
    # Another caller (the link's holder, signed in) has a bucket of its own and reads the link.
    shown = await gql.raw(f'{{ contentPreview(token: "{made["token"]}") {{ title }} }}', token=actors.customer.token)
    assert shown.status_code == 200 and shown.json()["data"]["contentPreview"] == {"title": "Draft film"}
