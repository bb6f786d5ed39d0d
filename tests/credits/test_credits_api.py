"""The credits API through the ASGI app: adjustCredits (staff with CREDITS_MANAGE, audited), the viewer's own balance
and ledger, node(id:) visibility; the authorization matrix and bad input change nothing and leak nothing."""

from __future__ import annotations

import uuid
from typing import Any

from codex_graphql.authz import OrgRole
from codex_graphql.credits import service
from codex_graphql.relay import to_global_id
from tests.credits.support import SOURCE, assert_ledger, run
from tests.support import assert_authz_matrix, make_actors

ADJUST = """mutation($input: AdjustCreditsInput!) { adjustCredits(input: $input) {
  errors { code field message } balance transaction { id kind amount balanceAfter reason sourceType userId organizationId } } }"""
VIEWER = """query($org: ID!) { viewer { creditBalance(organizationId: $org)
  creditTransactions(organizationId: $org, first: 10) { totalCount edges { cursor node { kind amount balanceAfter } } } } }"""
ALL_MINE = """query($after: String) { viewer { creditTransactions(first: 1, after: $after) {
  totalCount pageInfo { hasNextPage endCursor } nodes { amount organizationId } } } }"""
NODE = """query($id: ID!) { node(id: $id) { id ... on CreditTransaction { amount } } }"""


def snapshot_of(admin_db: Any) -> Any:
    async def snapshot() -> Any:
        return (await admin_db.fetchval("select count(*) from credit_transaction"),
                await admin_db.fetchval("select coalesce(sum(balance), 0) from credit_balance"),
                await admin_db.fetchval("select count(*) from audit_log_entry where action = 'CREDITS_ADJUSTED'"))
    return snapshot


def adjust_input(actors: Any, amount: int = 5, key: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"input": {"organizationId": to_global_id("Organization", actors.org),
                      "userId": to_global_id("User", actors.customer.user_id), "amount": amount,
                      "reason": "Goodwill after an outage", "idempotencyKey": key or uuid.uuid4().hex, **extra}}


async def test_adjust_credits_matrix(gql, factory, admin_db):
    for with_role in (OrgRole.OWNER, OrgRole.ADMIN):
        actors = await make_actors(factory, with_role=with_role, without_role=OrgRole.CREATOR)
        variables = adjust_input(actors, 5, key=f"k-{with_role.name}")
        results = await assert_authz_matrix(gql, actors, ADJUST, variables, path=["adjustCredits"],
                                            allowed={"staff_with_permission"}, snapshot=snapshot_of(admin_db))
        payload = results["staff_with_permission"]["data"]["adjustCredits"]
        assert payload["errors"] == [] and payload["balance"] == 5
        assert payload["transaction"] | {"id": None} == {
            "id": None, "kind": "ADJUST", "amount": 5, "balanceAfter": 5, "reason": "Goodwill after an outage",
            "sourceType": "staff", "userId": to_global_id("User", actors.customer.user_id),
            "organizationId": to_global_id("Organization", actors.org)}
        await assert_ledger(admin_db, actors.org, actors.customer.user_id, 5)
        entry = await admin_db.fetchrow("select actor_user_id, target_id, before, after from audit_log_entry "
                                        "where action = 'CREDITS_ADJUSTED' and organization_id = $1", actors.org)
        assert entry["actor_user_id"] == actors.staff_with.user_id
        # A retry with the same key returns the first adjustment and changes nothing.
        again = await gql.ok(ADJUST, variables, actors.staff_with.token)
        assert again["adjustCredits"]["transaction"]["id"] == payload["transaction"]["id"]
        await assert_ledger(admin_db, actors.org, actors.customer.user_id, 5)
        assert await admin_db.fetchval("select idempotency_key from credit_transaction where organization_id = $1",
                                       actors.org) == f"adjust:k-{with_role.name}"  # staff keys: their own namespace
        # Nothing was written in the other organization by its staff's refused attempt.
        assert await admin_db.fetchval("select count(*) from credit_transaction where organization_id = $1",
                                       actors.other_org) == 0


async def test_adjust_credits_bad_input_changes_nothing(gql, factory, admin_db):
    actors = await make_actors(factory)
    token = actors.staff_with.token
    await gql.ok(ADJUST, adjust_input(actors, 3), token)
    snapshot = snapshot_of(admin_db)
    before = await snapshot()
    cases = [
        (adjust_input(actors, 0), "INVALID_INPUT", ["input", "amount"]),
        (adjust_input(actors, -(service.MAX_AMOUNT + 1)), "INVALID_INPUT", ["input", "amount"]),
        (adjust_input(actors, 2_000_000_000), "INVALID_INPUT", ["input", "amount"]),
        (adjust_input(actors, -4), "INSUFFICIENT_CREDITS", ["input", "amount"]),
        (adjust_input(actors, 2, reason="   "), "INVALID_INPUT", ["input", "reason"]),
        (adjust_input(actors, 2, idempotencyKey=" "), "INVALID_INPUT", ["input", "idempotencyKey"]),
        (adjust_input(actors, 2, key="k" * (service.MAX_STAFF_KEY_LENGTH + 1)), "INVALID_INPUT", ["input", "idempotencyKey"]),
        (adjust_input(actors, 2, userId=to_global_id("User", uuid.uuid4())), "NOT_FOUND", ["input", "userId"]),
        (adjust_input(actors, 2, userId="not-an-id"), "NOT_FOUND", ["input", "userId"]),
        (adjust_input(actors, 2, organizationId="garbage"), "NOT_FOUND", ["input", "organizationId"]),
    ]
    for variables, code, field in cases:
        body = await gql(ADJUST, variables, token)
        assert "errors" not in body, body
        errors = body["data"]["adjustCredits"]["errors"]
        assert [(e["code"], e["field"]) for e in errors] == [(code, field)], (variables, body)
        assert body["data"]["adjustCredits"]["transaction"] is None
        assert await snapshot() == before, variables
    # Naming an organization the caller is not staff of is refused as a permission error.
    body = await gql(ADJUST, adjust_input(actors, 2, organizationId=to_global_id("Organization", actors.other_org)), token)
    assert {e["extensions"]["code"] for e in body["errors"]} == {"FORBIDDEN"}
    assert await snapshot() == before
    await assert_ledger(admin_db, actors.org, actors.customer.user_id, 3)


async def test_viewer_reads_only_their_own_credits(gql, factory, admin_db, db):
    actors = await make_actors(factory)
    org = to_global_id("Organization", actors.org)
    await gql.ok(ADJUST, adjust_input(actors, 7), actors.staff_with.token)
    other_customer = await factory.user()
    await run(db, actors.org, service.grant, other_customer.user_id, 50, "g-other", SOURCE)
    await run(db, actors.other_org, service.grant, actors.customer.user_id, 2, "g-elsewhere", SOURCE)
    spent = await run(db, actors.org, service.spend, actors.customer.user_id, 3, "s-1", service.Source("booking", "b"))

    mine = (await gql.ok(VIEWER, {"org": org}, actors.customer.token))["viewer"]
    assert mine["creditBalance"] == 4
    connection = mine["creditTransactions"]
    assert connection["totalCount"] == 2
    assert [e["node"] for e in connection["edges"]] == [
        {"kind": "SPEND", "amount": -3, "balanceAfter": 4}, {"kind": "ADJUST", "amount": 7, "balanceAfter": 7}]
    # Every organization, page by page (cursors), newest first.
    seen, after = [], None
    while True:
        page = (await gql.ok(ALL_MINE, {"after": after}, actors.customer.token))["viewer"]["creditTransactions"]
        assert page["totalCount"] == 3
        seen += [n["amount"] for n in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == [-3, 2, 7]
    # Staff of the organization read their own (empty) ledger through `viewer`, never the customer's.
    for person in (actors.staff_with, actors.staff_without, actors.other_staff):
        theirs = (await gql.ok(VIEWER, {"org": org}, person.token))["viewer"]
        assert theirs == {"creditBalance": 0, "creditTransactions": {"totalCount": 0, "edges": []}}
    assert (await gql.ok(VIEWER, {"org": org}, other_customer.token))["viewer"]["creditBalance"] == 50
    assert (await gql.ok(VIEWER, {"org": org}))["viewer"] is None  # anonymous
    bad = await gql(VIEWER, {"org": "nonsense"}, actors.customer.token)
    assert {e["extensions"]["code"] for e in bad["errors"]} == {"BAD_USER_INPUT"}
    # node(id:): the customer and staff with CREDITS_MANAGE; nobody else.
    node_id = to_global_id("CreditTransaction", spent.id)
    for person, sees in ((actors.customer, True), (actors.staff_with, True), (actors.staff_without, False),
                         (actors.other_staff, False), (other_customer, False)):
        found = (await gql.ok(NODE, {"id": node_id}, person.token))["node"]
        assert (found == {"id": node_id, "amount": -3}) if sees else found is None, person
    assert (await gql.ok(NODE, {"id": node_id}))["node"] is None
    await assert_ledger(admin_db, actors.org, actors.customer.user_id, 4)


CUSTOMER_CREDITS = """query($slug: String!, $user: ID!) { organization(slug: $slug) { name
  customerCredits(userId: $user) { userId balance transactions(first: 5) { totalCount nodes { kind amount } } } } }"""


async def test_customer_credits_matrix(gql, factory, db):
    actors = await make_actors(factory, with_role=OrgRole.ADMIN, without_role=OrgRole.CREATOR)
    customer = to_global_id("User", actors.customer.user_id)
    await run(db, actors.org, service.grant, actors.customer.user_id, 6, "g", SOURCE)
    await run(db, actors.other_org, service.grant, actors.customer.user_id, 9, "g-other", SOURCE)
    results = await assert_authz_matrix(gql, actors, CUSTOMER_CREDITS, {"slug": actors.org_slug, "user": customer},
                                        path=["organization", "customerCredits"], allowed={"staff_with_permission"})
    assert results["staff_with_permission"]["data"]["organization"]["customerCredits"] == {
        "userId": customer, "balance": 6, "transactions": {"totalCount": 1, "nodes": [{"kind": "GRANT", "amount": 6}]}}
    for body in results.values():  # the rest of the organization answers for everyone
        assert body["data"]["organization"]["name"] == "Test Org"
    headers = {"X-Codex-Organization": actors.org_slug}
    malformed = await gql.ok(CUSTOMER_CREDITS, {"slug": actors.org_slug, "user": "nope"}, actors.staff_with.token, headers)
    assert malformed["organization"]["customerCredits"] is None


async def test_adjust_credits_in_the_active_organization(gql, factory, admin_db):
    actors = await make_actors(factory)
    variables = adjust_input(actors, 4)
    del variables["input"]["organizationId"]
    headers = {"X-Codex-Organization": actors.org_slug}
    data = await gql.ok(ADJUST, variables, actors.staff_with.token, headers)
    assert data["adjustCredits"]["balance"] == 4
    await assert_ledger(admin_db, actors.org, actors.customer.user_id, 4)
    # Staff of another organization, active there, adjust in their own organization only.
    other = await gql.ok(ADJUST, adjust_input(actors, 1) | {"input": {**adjust_input(actors, 1)["input"],
                                                                     "organizationId": None}},
                         actors.other_staff.token, {"X-Codex-Organization": str(actors.other_org)})
    assert other["adjustCredits"]["balance"] == 1
    await assert_ledger(admin_db, actors.other_org, actors.customer.user_id, 1)
    await assert_ledger(admin_db, actors.org, actors.customer.user_id, 4)
