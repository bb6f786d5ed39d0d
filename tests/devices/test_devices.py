"""Device limits (docs/media.md, "Devices"): each customer playback names its device and registers it in the item's
organization; ``maxDevicesPerCustomer`` refuses a new device over the limit with DEVICE_LIMIT_REACHED naming the
registered ones, exactly, even under concurrent requests; ``removeDevice`` frees a place (its owner, a few times a
month, or staff with CUSTOMERS_MANAGE; nobody else); staff read a customer's devices; staff play unregistered."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from codex_graphql.content.models import ContentStatus
from codex_graphql.devices import service
from codex_graphql.relay import to_global_id
from tests.content.scheduling_support import gid, item
from tests.support import Actors, make_actors, statements
from tests.support.reviews import entitle, set_settings

PLAY = "query($id: ID!, $device: String) { content(id: $id) { playback(deviceId: $device) { url } } }"
PLAY_NO_ARG = "query($id: ID!) { content(id: $id) { playback { url expiresAt } } }"
MINE = "query($org: ID) { viewer { devices(organizationId: $org) { id name userAgent firstSeenAt lastSeenAt removedAt } } }"
REMOVE = """mutation($id: ID!) { removeDevice(input: {deviceId: $id}) {
  errors { code field message } device { id name removedAt } } }"""
IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/17.1 Mobile/15E148 Safari/604.1")
LINUX = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36"


@pytest.fixture
async def actors(factory: Any) -> Actors:
    return await make_actors(factory)


@pytest.fixture
async def store(app: Any, db: Any, actors: Actors) -> dict[str, Any]:
    content_id = await item(db, actors.org, actors.staff_with.user_id, ContentStatus.PUBLISHED)
    await entitle(db, actors.org, content_id, actors.customer)
    return {"item": gid(content_id), "content_id": content_id}


async def play(gql: Any, token: str | None, content: str, device: str | None, agent: str = LINUX) -> dict[str, Any]:
    return await gql(PLAY, {"id": content, "device": device}, token, headers={"user-agent": agent})


def code(body: dict[str, Any]) -> str | None:
    return body["errors"][0]["extensions"]["code"] if body.get("errors") else None


async def device_rows(admin_db: Any, user_id: uuid.UUID) -> list[Any]:
    return await admin_db.fetch("select id, name, removed_at, removed_by from playback_device where user_id = $1 "
                                "order by first_seen_at", user_id)


async def views(admin_db: Any, user_id: uuid.UUID) -> int:
    return await admin_db.fetchval("select count(*) from content_view where user_id = $1", user_id)


async def test_without_a_limit_the_device_is_optional_and_recorded_when_named(gql: Any, admin_db: Any, actors: Actors,
                                                                              store: dict[str, Any]) -> None:
    body = await play(gql, actors.customer.token, store["item"], None)
    assert body["data"]["content"]["playback"]["url"]
    assert await device_rows(admin_db, actors.customer.user_id) == []
    body = await play(gql, actors.customer.token, store["item"], "phone-0001", IPHONE)
    assert body["data"]["content"]["playback"]["url"]
    [row] = await device_rows(admin_db, actors.customer.user_id)
    assert row["name"] == "Mobile Safari on iOS (iPhone)"
    stored = await admin_db.fetchval("select device_hash from playback_device where id = $1", row["id"])
    assert stored == service.device_hash("phone-0001")  # the client's id is never stored as given
    mine = (await gql.ok(MINE, {"org": None}, actors.customer.token))["viewer"]["devices"]
    assert [(d["id"], d["name"], d["userAgent"], d["removedAt"]) for d in mine] == [
        (to_global_id("PlaybackDevice", row["id"]), "Mobile Safari on iOS (iPhone)", IPHONE, None)]
    other = (await gql.ok(MINE, {"org": to_global_id("Organization", actors.other_org)}, actors.customer.token))
    assert other["viewer"]["devices"] == []


async def test_the_limit_refuses_a_new_device_naming_the_registered_ones(gql: Any, admin_db: Any, actors: Actors,
                                                                        store: dict[str, Any]) -> None:
    settings = await set_settings(gql, actors.staff_with, maxDevicesPerCustomer=2)
    assert settings is not None
    customer = actors.customer
    before = await views(admin_db, customer.user_id)
    refused = await play(gql, customer.token, store["item"], None)
    assert code(refused) == "DEVICE_REQUIRED" and refused["data"]["content"]["playback"] is None
    # The compiled read path answers the same (it leaves device registration to the resolvers).
    refused = await gql(PLAY_NO_ARG, {"id": store["item"]}, customer.token)
    assert code(refused) == "DEVICE_REQUIRED" and refused["data"]["content"]["playback"] is None
    assert await views(admin_db, customer.user_id) == before  # a refused playback counts no view

    assert (await play(gql, customer.token, store["item"], "laptop-0001"))["data"]["content"]["playback"]["url"]
    assert (await play(gql, customer.token, store["item"], "phone-0001", IPHONE))["data"]["content"]["playback"]
    assert (await play(gql, customer.token, store["item"], "laptop-0001"))["data"]["content"]["playback"]  # known
    over = await play(gql, customer.token, store["item"], "tablet-0001")
    assert code(over) == "DEVICE_LIMIT_REACHED" and over["data"]["content"]["playback"] is None
    extensions = over["errors"][0]["extensions"]
    assert extensions["limit"] == 2
    assert [d["name"] for d in extensions["devices"]] == ["Chrome on Linux", "Mobile Safari on iOS (iPhone)"]
    assert len(await device_rows(admin_db, customer.user_id)) == 2

    laptop = extensions["devices"][0]["id"]
    removed = (await gql.ok(REMOVE, {"id": laptop}, customer.token))["removeDevice"]["device"]
    assert removed["id"] == laptop and removed["removedAt"] is not None
    assert (await play(gql, customer.token, store["item"], "tablet-0001"))["data"]["content"]["playback"]["url"]
    # The removed laptop is a new device again, and over the limit.
    assert code(await play(gql, customer.token, store["item"], "laptop-0001")) == "DEVICE_LIMIT_REACHED"
    # Staff play without a device and register nothing.
    staff = await gql(PLAY_NO_ARG, {"id": store["item"]}, actors.staff_without.token)
    assert staff["data"]["content"]["playback"]["url"] and "errors" not in staff
    assert await device_rows(admin_db, actors.staff_without.user_id) == []


@pytest.mark.timeout(60)
async def test_concurrent_new_devices_never_exceed_the_limit(gql: Any, admin_db: Any, actors: Actors,
                                                             store: dict[str, Any]) -> None:
    await set_settings(gql, actors.staff_with, maxDevicesPerCustomer=2)
    answers = await asyncio.gather(*(play(gql, actors.customer.token, store["item"], f"device-{n:04d}")
                                     for n in range(12)))
    played = [a for a in answers if a["data"]["content"]["playback"]]
    assert len(played) == 2
    assert sorted(code(a) for a in answers if not a["data"]["content"]["playback"]) == ["DEVICE_LIMIT_REACHED"] * 10
    rows = await device_rows(admin_db, actors.customer.user_id)
    assert len(rows) == 2 and all(r["removed_at"] is None for r in rows)


async def test_bad_device_ids_and_limits_are_refused(gql: Any, admin_db: Any, actors: Actors,
                                                     store: dict[str, Any]) -> None:
    for bad in ("short", "x" * 129, "has space!", "ünïcode-id", "a/b/c/d/e/f"):
        body = await play(gql, actors.customer.token, store["item"], bad)
        assert code(body) == "BAD_USER_INPUT", bad
    assert await device_rows(admin_db, actors.customer.user_id) == []
    for limit in (0, -1, 101):
        body = await gql(
            "mutation($n: Int) { updateOrganizationSettings(input: {maxDevicesPerCustomer: $n}) { errors { code field } "
            "settings { maxDevicesPerCustomer } } }", {"n": limit}, actors.staff_with.token)
        assert body["data"]["updateOrganizationSettings"]["errors"] == [
            {"code": "INVALID_INPUT", "field": ["input", "maxDevicesPerCustomer"]}], limit
    assert (await set_settings(gql, actors.staff_with, maxDevicesPerCustomer=None)) is not None


async def test_remove_device_authorization_matrix(gql: Any, admin_db: Any, factory: Any, actors: Actors,
                                                  store: dict[str, Any]) -> None:
    assert (await play(gql, actors.customer.token, store["item"], "laptop-0001"))["data"]["content"]["playback"]
    [row] = await device_rows(admin_db, actors.customer.user_id)
    device = to_global_id("PlaybackDevice", row["id"])
    stranger = await factory.user()
    anonymous = await gql(REMOVE, {"id": device}, None)
    assert code(anonymous) == "UNAUTHENTICATED"
    for caller in (stranger, actors.other_staff, actors.staff_without):  # MEMBER: no CUSTOMERS_MANAGE
        body = await gql.ok(REMOVE, {"id": device}, caller.token) if False else await gql(REMOVE, {"id": device},
                                                                                          caller.token)
        payload = body["data"]["removeDevice"]
        assert payload["device"] is None and [e["code"] for e in payload["errors"]] == ["NOT_FOUND"], caller.email
    assert (await device_rows(admin_db, actors.customer.user_id))[0]["removed_at"] is None
    staff = (await gql.ok(REMOVE, {"id": device}, actors.staff_with.token))["removeDevice"]["device"]
    assert staff["removedAt"] is not None
    [after] = await device_rows(admin_db, actors.customer.user_id)
    assert after["removed_by"] == actors.staff_with.user_id
    again = (await gql.ok(REMOVE, {"id": device}, actors.customer.token))["removeDevice"]["device"]
    assert again["removedAt"] == staff["removedAt"]  # removing a removed device changes nothing
    for bad in ("garbage", to_global_id("Content", row["id"]), to_global_id("PlaybackDevice", uuid.uuid4())):
        payload = (await gql(REMOVE, {"id": bad}, actors.customer.token))["data"]["removeDevice"]
        assert [e["code"] for e in payload["errors"]] == ["NOT_FOUND"]


async def test_customers_remove_a_few_devices_a_month_staff_any(gql: Any, admin_db: Any, actors: Actors,
                                                                store: dict[str, Any]) -> None:
    customer = actors.customer
    for n in range(service.REMOVALS_PER_WINDOW + 1):
        assert (await play(gql, customer.token, store["item"], f"device-{n:04d}"))["data"]["content"]["playback"]
    ids = [to_global_id("PlaybackDevice", r["id"]) for r in await device_rows(admin_db, customer.user_id)]
    for device in ids[:service.REMOVALS_PER_WINDOW]:
        assert (await gql.ok(REMOVE, {"id": device}, customer.token))["removeDevice"]["device"]["removedAt"]
    throttled = (await gql(REMOVE, {"id": ids[-1]}, customer.token))["data"]["removeDevice"]
    assert [e["code"] for e in throttled["errors"]] == ["THROTTLED"] and throttled["device"] is None
    assert (await device_rows(admin_db, customer.user_id))[-1]["removed_at"] is None
    assert (await gql.ok(REMOVE, {"id": ids[-1]}, actors.staff_with.token))["removeDevice"]["device"]["removedAt"]


@pytest.mark.timeout(60)
async def test_parallel_removals_cannot_pass_the_monthly_count(gql: Any, admin_db: Any, actors: Actors,
                                                             store: dict[str, Any]) -> None:
    customer = actors.customer
    for n in range(service.REMOVALS_PER_WINDOW + 3):
        assert (await play(gql, customer.token, store["item"], f"device-{n:04d}"))["data"]["content"]["playback"]
    ids = [to_global_id("PlaybackDevice", r["id"]) for r in await device_rows(admin_db, customer.user_id)]
    for device in ids[:service.REMOVALS_PER_WINDOW - 1]:
        assert (await gql.ok(REMOVE, {"id": device}, customer.token))["removeDevice"]["device"]["removedAt"]
    racing = await asyncio.gather(*(gql(REMOVE, {"id": device}, customer.token)
                                    for device in ids[service.REMOVALS_PER_WINDOW - 1:]))
    outcomes = sorted("removed" if r["data"]["removeDevice"]["device"] else r["data"]["removeDevice"]["errors"][0]["code"]
                      for r in racing)
    assert outcomes == ["THROTTLED", "THROTTLED", "THROTTLED", "removed"], outcomes
    removed = [r for r in await device_rows(admin_db, customer.user_id) if r["removed_at"] is not None]
    assert len(removed) == service.REMOVALS_PER_WINDOW


CUSTOMERS = """query($slug: String!) { organization(slug: $slug) { customers(first: 20) { nodes { id
  devices { name lastSeenAt removedAt } } } } }"""


async def test_staff_read_a_customers_devices(app: Any, gql: Any, admin_db: Any, factory: Any, actors: Actors, db: Any,
                                              store: dict[str, Any]) -> None:
    customers = [actors.customer]
    for _ in range(3):
        person = await factory.user()
        await entitle(db, actors.org, store["content_id"], person)
        customers.append(person)
    for n, person in enumerate(customers):
        for d in range(n % 3 + 1):
            assert (await play(gql, person.token, store["item"], f"dev-{n}-{d:04d}"))["data"]["content"]["playback"]
    await admin_db.execute("insert into customer_summary (organization_id, user_id, purchase_count, "
                           "total_spent_cents, first_purchase_at, last_purchase_at) select $1, u, 1, 500, now(), now() "
                           "from unnest($2::uuid[]) u on conflict do nothing", actors.org,
                           [p.user_id for p in customers])
    await gql.ok(CUSTOMERS, {"slug": actors.org_slug}, actors.staff_with.token)  # warm: session and plan caches
    async with statements(app) as few:
        await gql.ok(CUSTOMERS.replace("first: 20", "first: 2"), {"slug": actors.org_slug}, actors.staff_with.token)
    async with statements(app) as many:
        data = await gql.ok(CUSTOMERS, {"slug": actors.org_slug}, actors.staff_with.token)
    assert len(few) == len(many), (few, many)  # one statement for the devices of a whole page of customers
    listed = {n["id"]: n["devices"] for n in data["organization"]["customers"]["nodes"]}
    for n, person in enumerate(customers):
        assert len(listed[to_global_id("User", person.user_id)]) == n % 3 + 1
    # Organization.customers is CUSTOMERS_READ: the other callers see no devices.
    for token in (actors.customer.token, actors.other_staff.token, actors.staff_without.token):
        body = await gql(CUSTOMERS, {"slug": actors.org_slug}, token)
        assert (body["data"]["organization"] or {}).get("customers") is None
