"""Reviews: moderation levels NONE / PRE / POST, one review per customer and item (submitting again edits),
typed refusals that change nothing, sanitized bodies, exact rating aggregates under concurrent submissions,
authorization matrices, and a statement count flat in page size."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from codex_graphql.authz import OrgRole
from codex_graphql.db import TenantScope
from codex_graphql.relay import decode_id, to_global_id
from tests.support import assert_authz_matrix, make_actors, statements
from tests.support.commerce import insert_content
from tests.support.reviews import entitle, make_store, review_gid, set_item, set_settings, without

SUBMIT = """mutation($input: SubmitReviewInput!) { submitReview(input: $input) {
  errors { code field message } review { id rating body status author { name } }
  content { ratingAverage ratingCount } } }"""
MODERATE = """mutation($input: ModerateReviewInput!) { moderateReview(input: $input) {
  errors { code field message } review { id status rating } } }"""
ITEM = """query($id: ID!) { content(id: $id) { ratingAverage ratingCount
  reviews(first: 10) { totalCount nodes { id rating body status } }
  viewerReview { id status rating } } }"""
QUEUE = """query($id: ID!, $status: ReviewStatus) { content(id: $id) {
  moderationReviews(status: $status) { totalCount nodes { id status rating } } } }"""


async def submit(gql, person, item, rating, body="Great", raw=False):  # type: ignore[no-untyped-def]
    body_ = await gql(SUBMIT, {"input": {"contentId": item, "rating": rating, "body": body}}, person.token)
    return body_ if raw else body_["data"]["submitReview"]


async def item_view(gql, item, token=None) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return (await gql.ok(ITEM, {"id": item}, token))["content"]


async def review_state(admin_db, item_id) -> Any:  # type: ignore[no-untyped-def]
    rows = await admin_db.fetch("select user_id, rating, body, status from review where content_id = $1 order by user_id",
                                item_id)
    summary = await admin_db.fetchrow("select rating_count, rating_sum from content_rating where content_id = $1", item_id)
    return [tuple(r) for r in rows], tuple(summary) if summary else None


async def assert_summary_matches_reviews(admin_db, item_id) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    truth = await admin_db.fetchrow(
        "select count(*) as n, coalesce(sum(rating), 0) as s from review where content_id = $1 and status = 'PUBLISHED'",
        item_id)
    summary = await admin_db.fetchrow("select rating_count, rating_sum from content_rating where content_id = $1", item_id)
    kept = (summary["rating_count"], summary["rating_sum"]) if summary else (0, 0)
    assert kept == (truth["n"], truth["s"])
    return kept


async def test_moderation_none_publishes_at_once_and_resubmitting_edits(gql, db, factory, admin_db):
    store = await make_store(db, factory)
    alice = await factory.user(name="Alice")
    await entitle(db, store.org, store.item_id, alice)

    first = await submit(gql, alice, store.item, 4, "<p>Lovely</p>")
    assert first["errors"] == [] and first["review"]["status"] == "PUBLISHED"
    assert first["review"]["author"] == {"name": "Alice"}
    assert first["content"] == {"ratingAverage": 4.0, "ratingCount": 1}

    second = await submit(gql, alice, store.item, 2, "Changed my mind")
    assert second["errors"] == []
    assert second["review"]["id"] == first["review"]["id"]  # one review per customer and item: edited
    assert second["review"]["rating"] == 2 and second["content"] == {"ratingAverage": 2.0, "ratingCount": 1}
    assert await admin_db.fetchval("select count(*) from review where content_id = $1", store.item_id) == 1

    public = await item_view(gql, store.item)  # anonymous
    assert public["reviews"]["totalCount"] == 1
    assert [n["body"] for n in public["reviews"]["nodes"]] == ["Changed my mind"]
    assert public["viewerReview"] is None
    assert (await item_view(gql, store.item, alice.token))["viewerReview"]["rating"] == 2
    node = await gql.ok("query($id: ID!) { node(id: $id) { ... on Review { rating status } } }",
                        {"id": first["review"]["id"]})
    assert node["node"] == {"rating": 2, "status": "PUBLISHED"}
    assert await assert_summary_matches_reviews(admin_db, store.item_id) == (1, 2)


async def test_moderation_pre_holds_every_review_and_every_edit(gql, db, factory, admin_db):
    store = await make_store(db, factory)
    await set_settings(gql, store.owner, moderationLevel="PRE")
    bob = await factory.user(name="Bob")
    await entitle(db, store.org, store.item_id, bob)

    submitted = await submit(gql, bob, store.item, 5, "Pending please")
    assert submitted["errors"] == [] and submitted["review"]["status"] == "PENDING"
    assert submitted["content"] == {"ratingAverage": None, "ratingCount": 0}
    public = await item_view(gql, store.item, bob.token)
    assert public["reviews"]["nodes"] == [] and public["reviews"]["totalCount"] == 0
    assert public["viewerReview"]["status"] == "PENDING"  # the author sees their own pending review
    hidden = await gql.ok("query($id: ID!) { node(id: $id) { id } }", {"id": submitted["review"]["id"]})
    assert hidden["node"] is None  # not to anyone else

    queue = (await gql.ok(QUEUE, {"id": store.item, "status": "PENDING"}, store.owner.token))["content"]
    assert queue["moderationReviews"]["totalCount"] == 1
    review_id = queue["moderationReviews"]["nodes"][0]["id"]
    approved = (await gql.ok(MODERATE, {"input": {"reviewId": review_id, "action": "APPROVE"}},
                             store.owner.token))["moderateReview"]
    assert approved["review"]["status"] == "PUBLISHED"
    assert (await item_view(gql, store.item))["ratingCount"] == 1
    entry = await admin_db.fetchrow(
        "select actor_user_id, before, after from audit_log_entry where action = 'REVIEW_MODERATED' and target_id = $1",
        review_gid(review_id))
    assert entry["actor_user_id"] == store.owner.user_id
    assert '"PENDING"' in entry["before"] and '"PUBLISHED"' in entry["after"] and '"APPROVE"' in entry["after"]

    edited = await submit(gql, bob, store.item, 1, "Edited")
    assert edited["review"]["status"] == "PENDING"  # an edit re-enters moderation
    assert edited["content"] == {"ratingAverage": None, "ratingCount": 0}
    rejected = (await gql.ok(MODERATE, {"input": {"reviewId": review_id, "action": "REJECT"}},
                             store.owner.token))["moderateReview"]
    assert rejected["review"]["status"] == "REJECTED"
    assert await assert_summary_matches_reviews(admin_db, store.item_id) == (0, 0)


async def test_moderation_post_publishes_and_staff_hide(gql, db, factory, admin_db):
    store = await make_store(db, factory)
    carol = await factory.user(name="Carol")
    await entitle(db, store.org, store.item_id, carol)
    # Under NONE there is no moderation: hiding is refused and nothing changes.
    review_id = (await submit(gql, carol, store.item, 3))["review"]["id"]
    before = await review_state(admin_db, store.item_id)
    refused = (await gql(MODERATE, {"input": {"reviewId": review_id, "action": "HIDE"}},
                         store.owner.token))["data"]["moderateReview"]
    assert [e["code"] for e in refused["errors"]] == ["INVALID_STATE"] and refused["review"] is None
    assert await review_state(admin_db, store.item_id) == before

    await set_settings(gql, store.owner, moderationLevel="POST")
    hidden = (await gql.ok(MODERATE, {"input": {"reviewId": review_id, "action": "HIDE"}},
                           store.owner.token))["moderateReview"]
    assert hidden["review"]["status"] == "HIDDEN"
    assert (await item_view(gql, store.item))["reviews"]["nodes"] == []
    assert await assert_summary_matches_reviews(admin_db, store.item_id) == (0, 0)
    # Editing does not undo a hide under POST.
    edited = await submit(gql, carol, store.item, 5, "Try again")
    assert edited["review"]["status"] == "HIDDEN" and edited["content"]["ratingCount"] == 0
    again = (await gql(MODERATE, {"input": {"reviewId": review_id, "action": "HIDE"}},
                       store.owner.token))["data"]["moderateReview"]
    assert [e["code"] for e in again["errors"]] == ["INVALID_STATE"]
    unhidden = (await gql.ok(MODERATE, {"input": {"reviewId": review_id, "action": "UNHIDE"}},
                             store.owner.token))["moderateReview"]
    assert unhidden["review"] == {"id": review_id, "status": "PUBLISHED", "rating": 5}
    assert (await item_view(gql, store.item))["ratingAverage"] == 5.0
    # A second customer under POST: published at once.
    dave = await factory.user(name="Dave")
    await entitle(db, store.org, store.item_id, dave)
    assert (await submit(gql, dave, store.item, 2))["content"] == {"ratingAverage": 3.5, "ratingCount": 2}
    assert await assert_summary_matches_reviews(admin_db, store.item_id) == (2, 7)


async def test_bad_input_is_refused_with_typed_errors_and_changes_nothing(gql, db, factory, admin_db):
    store = await make_store(db, factory)
    owner_of_nothing = await factory.user()
    erin = await factory.user()
    await entitle(db, store.org, store.item_id, erin)
    await submit(gql, erin, store.item, 4, "Original")  # an existing review, which refused edits must not touch
    before = await review_state(admin_db, store.item_id)

    cases = [
        (erin, store.item, 0, "x", "INVALID_INPUT", ["input", "rating"]),
        (erin, store.item, 6, "x", "INVALID_INPUT", ["input", "rating"]),
        (erin, store.item, -3, "x", "INVALID_INPUT", ["input", "rating"]),
        (erin, store.item, 3, "a" * 5001, "INVALID_INPUT", ["input", "body"]),
        (owner_of_nothing, store.item, 5, "I never bought it", "NOT_ALLOWED", ["input", "contentId"]),
        (erin, to_global_id("Content", uuid.uuid4()), 5, "x", "NOT_FOUND", ["input", "contentId"]),
        (erin, "not-an-id", 5, "x", "NOT_FOUND", ["input", "contentId"]),
    ]
    for person, item, rating, body, code, field in cases:
        result = await submit(gql, person, item, rating, body)
        assert result["review"] is None, result
        assert [(e["code"], e["field"]) for e in result["errors"]] == [(code, field)], result
        assert await review_state(admin_db, store.item_id) == before

    await set_item(db, store.org, store.item_id, reviews_enabled=False)
    off = await submit(gql, erin, store.item, 1, "Reviews are off")
    assert [e["code"] for e in off["errors"]] == ["NOT_ALLOWED"]
    anonymous = await gql(SUBMIT, {"input": {"contentId": store.item, "rating": 5, "body": ""}})
    assert [e["extensions"]["code"] for e in anonymous["errors"]] == ["UNAUTHENTICATED"]
    assert await review_state(admin_db, store.item_id) == before


async def test_bodies_are_sanitized(gql, db, factory):
    store = await make_store(db, factory)
    frank = await factory.user()
    await entitle(db, store.org, store.item_id, frank)
    dirty = ('<p onclick="steal()">Good <strong>film</strong></p><script>alert(1)</script>'
             '<img src=x onerror="alert(2)"><a href="javascript:alert(3)">click</a> '
             '<a href="https://example.com/more" onmouseover="x()">more</a><style>p{}</style>')
    body = (await submit(gql, frank, store.item, 5, dirty))["review"]["body"]
    for bad in ("<script", "alert(1)", "onerror", "onclick", "onmouseover", "javascript:", "<img", "<style"):
        assert bad not in body, body
    assert "<strong>film</strong>" in body and 'href="https://example.com/more"' in body and "nofollow" in body
    stored = (await item_view(gql, store.item))["reviews"]["nodes"][0]["body"]
    assert stored == body


async def test_concurrent_submissions_keep_the_rating_exact(gql, db, factory, admin_db):
    store = await make_store(db, factory)
    await set_settings(gql, store.owner, moderationLevel="POST")
    people = [await factory.user() for _ in range(8)]
    for person in people:
        await entitle(db, store.org, store.item_id, person)
    ratings = [1, 2, 3, 4, 5, 5, 4, 3]
    results = await asyncio.gather(*(submit(gql, p, store.item, r) for p, r in zip(people, ratings, strict=True)))
    assert all(r["errors"] == [] for r in results)
    assert await assert_summary_matches_reviews(admin_db, store.item_id) == (8, sum(ratings))
    # One customer racing edits and first submissions with themselves: still one review, counted once.
    racer = await factory.user()
    await entitle(db, store.org, store.item_id, racer)
    raced = await asyncio.gather(*(submit(gql, racer, store.item, r) for r in (1, 5, 2, 4, 3, 5)))
    assert all(r["errors"] == [] for r in raced)
    assert len({r["review"]["id"] for r in raced}) == 1
    count, total = await assert_summary_matches_reviews(admin_db, store.item_id)
    assert count == 9
    final = await admin_db.fetchval("select rating from review where user_id = $1", racer.user_id)
    assert total == sum(ratings) + final
    # Concurrent hides and edits keep the aggregate equal to the published rows.
    ids = [r["review"]["id"] for r in results]
    await asyncio.gather(
        *(gql(MODERATE, {"input": {"reviewId": i, "action": "HIDE"}}, store.owner.token) for i in ids[:4]),
        *(submit(gql, p, store.item, 5) for p in people[2:6]),
    )
    await assert_summary_matches_reviews(admin_db, store.item_id)
    view = await item_view(gql, store.item)
    count, total = await assert_summary_matches_reviews(admin_db, store.item_id)
    assert view["ratingCount"] == count and view["ratingAverage"] == round(total / count, 2)


async def test_moderate_review_matrix(gql, db, factory, admin_db):
    actors = await make_actors(factory, with_role=OrgRole.CREATOR, without_role=OrgRole.MEMBER)
    item = await insert_content(db, actors.org, actors.staff_with.user_id, "Matrix film", 100)
    item_id = decode_id(item, "Content")
    await set_item(db, actors.org, item_id, reviews_enabled=True)
    reviewer = await factory.user()
    await entitle(db, actors.org, item_id, reviewer)
    await admin_db.execute("update organization set settings = settings || '{\"moderation_level\": \"POST\"}' "
                           "where id = $1", actors.org)
    review_id = (await submit(gql, reviewer, item, 4))["review"]["id"]

    async def snapshot() -> Any:
        return await review_state(admin_db, item_id), await admin_db.fetchval(
            "select count(*) from audit_log_entry where action = 'REVIEW_MODERATED'")

    # Staff of another organization pass the guard in their own (active) organization, where this review
    # does not exist: NOT_FOUND, as for every mutation naming another tenant's object, and nothing changes.
    before = await snapshot()
    crossed = (await gql(MODERATE, {"input": {"reviewId": review_id, "action": "HIDE"}},
                         actors.other_staff.token))["data"]["moderateReview"]
    assert [e["code"] for e in crossed["errors"]] == ["NOT_FOUND"] and crossed["review"] is None
    assert await snapshot() == before
    results = await assert_authz_matrix(
        gql, without(actors, "other_org_staff"), MODERATE, {"input": {"reviewId": review_id, "action": "HIDE"}},
        path=["moderateReview", "review"], allowed={"staff_with_permission"}, snapshot=snapshot,
    )
    assert results["staff_with_permission"]["data"]["moderateReview"]["review"]["status"] == "HIDDEN"
    # The reviewer (a customer) cannot moderate even their own review.
    assert await admin_db.fetchval("select count(*) from audit_log_entry where action = 'REVIEW_MODERATED'") == 1


async def test_staff_only_review_fields_matrix(gql, db, factory, admin_db):
    actors = await make_actors(factory)
    item = await insert_content(db, actors.org, actors.staff_with.user_id, "Queue film", 100)
    item_id = decode_id(item, "Content")
    await set_item(db, actors.org, item_id, reviews_enabled=True)
    await admin_db.execute("update organization set settings = settings || '{\"moderation_level\": \"PRE\"}' "
                           "where id = $1", actors.org)
    await entitle(db, actors.org, item_id, actors.customer)
    assert (await submit(gql, actors.customer, item, 2, "secret pending text"))["review"]["status"] == "PENDING"

    results = await assert_authz_matrix(
        gql, actors, QUEUE, {"id": item, "status": None}, path=["content", "moderationReviews"],
        allowed={"staff_with_permission"},
    )
    queue = results["staff_with_permission"]["data"]["content"]["moderationReviews"]
    assert queue["totalCount"] == 1 and queue["nodes"][0]["status"] == "PENDING"
    for name, body in results.items():
        if name != "staff_with_permission":
            assert "secret pending text" not in str(body)
    # The public list leaks nothing pending to anyone, staff included.
    for token in actors.tokens().values():
        assert (await item_view(gql, item, token))["reviews"] == {"totalCount": 0, "nodes": []}


REVIEW_PAGE = """query($id: ID!, $first: Int!) { content(id: $id) { ratingAverage ratingCount
  reviews(first: $first) { totalCount edges { cursor node { id rating body author { name } } }
  pageInfo { hasNextPage endCursor } } } }"""


async def test_review_page_statement_count_is_flat_in_page_size(app, gql, db, factory, admin_db):
    store = await make_store(db, factory)
    for n in range(40):
        user_id = uuid.uuid4()
        await admin_db.execute("insert into user_account (id, email, name, password_hash, platform_role) "
                               "values ($1, $2, $3, 'x', 'CUSTOMER')", user_id, f"r{n}-{user_id.hex[:6]}@example.com",
                               f"Reviewer {n}")
        await admin_db.execute("insert into review (id, organization_id, content_id, user_id, rating, body, status) "
                               "values ($1, $2, $3, $4, $5, 'ok', 'PUBLISHED')", uuid.uuid4(), store.org,
                               store.item_id, user_id, n % 5 + 1)
    await admin_db.execute("insert into content_rating (content_id, organization_id, rating_count, rating_sum) "
                           "select content_id, organization_id, count(*), sum(rating) from review "
                           "group by content_id, organization_id")
    viewer = await factory.user()
    await gql.ok("query { viewer { id } }", {}, viewer.token)  # warm the session cache

    counts = {}
    for first in (5, 30):
        async with statements(app) as seen:
            data = await gql.ok(REVIEW_PAGE, {"id": store.item, "first": first}, viewer.token)
        reviews = data["content"]["reviews"]
        assert len(reviews["edges"]) == first and reviews["totalCount"] == 40
        assert all(e["node"]["author"]["name"].startswith("Reviewer") for e in reviews["edges"])
        counts[first] = len(seen)
    assert counts[5] == counts[30], counts
    # The next page continues where the first ended.
    first_page = (await gql.ok(REVIEW_PAGE, {"id": store.item, "first": 30}))["content"]["reviews"]
    rest = await gql.ok("query($id: ID!, $after: String) { content(id: $id) { reviews(first: 30, after: $after) "
                        "{ edges { node { id } } pageInfo { hasNextPage } } } }",
                        {"id": store.item, "after": first_page["pageInfo"]["endCursor"]})
    page2 = rest["content"]["reviews"]
    assert len(page2["edges"]) == 10 and page2["pageInfo"]["hasNextPage"] is False
    assert not {e["node"]["id"] for e in page2["edges"]} & {e["node"]["id"] for e in first_page["edges"]}


async def test_creators_moderate_only_their_own_items(gql, db, factory, admin_db):
    store = await make_store(db, factory)  # created by the owner
    creator = await factory.user()
    await factory.member(store.org, creator, OrgRole.CREATOR)
    await set_settings(gql, store.owner, moderationLevel="POST")
    gina = await factory.user()
    await entitle(db, store.org, store.item_id, gina)
    review_id = (await submit(gql, gina, store.item, 4))["review"]["id"]
    before = await review_state(admin_db, store.item_id)
    refused = (await gql(MODERATE, {"input": {"reviewId": review_id, "action": "HIDE"}},
                         creator.token))["data"]["moderateReview"]
    assert [e["code"] for e in refused["errors"]] == ["NOT_ALLOWED"] and refused["review"] is None
    assert await review_state(admin_db, store.item_id) == before


async def test_row_level_security_hides_other_peoples_reviews_and_counters(gql, db, factory):
    """Statements that forget every app-level filter still see only what the policies admit."""
    store = await make_store(db, factory)
    await set_settings(gql, store.owner, moderationLevel="PRE")
    hana, ivan = await factory.user(), await factory.user()
    for person in (hana, ivan):
        await entitle(db, store.org, store.item_id, person)
    await submit(gql, hana, store.item, 5, "hana pending")
    await gql.ok("mutation($i: RequestDownloadInput!) { requestDownload(input: $i) { errors { code } } }",
                 {"i": {"contentId": store.item}}, hana.token)
    async with db.transaction(TenantScope(user_id=ivan.user_id)) as session:
        assert (await session.execute(text("select body from review"))).all() == []
        assert (await session.execute(text("select id from download_counter"))).all() == []
    async with db.transaction(TenantScope(user_id=hana.user_id)) as session:
        assert [r[0] for r in (await session.execute(text("select body from review"))).all()] == ["hana pending"]
        assert len((await session.execute(text("select id from download_counter"))).all()) == 1
    async with db.transaction(TenantScope(user_id=store.owner.user_id, organization_id=store.org)) as session:
        assert len((await session.execute(text("select id from review"))).all()) == 1
    # A customer's own scope cannot write a review (only the item's organization scope, after the service
    # checked the entitlement).
    with pytest.raises(DBAPIError):
        async with db.transaction(TenantScope(user_id=ivan.user_id)) as session:
            await session.execute(text(
                "insert into review (id, organization_id, content_id, user_id, rating, status) "
                "values (gen_random_uuid(), :o, :c, :u, 5, 'PUBLISHED')"),
                {"o": store.org, "c": store.item_id, "u": ivan.user_id})
