"""The audit log: one entry per sensitive action, with before/after and the request id; read by owners only."""

from __future__ import annotations

import json
import uuid
from typing import Any

from codex_graphql.authz import OrgRole
from codex_graphql.relay import to_global_id
from tests.support import assert_authz_matrix, make_actors
from tests.support.commerce import REFUND

GRANT = """mutation($input: GrantContentAccessInput!) { grantContentAccess(input: $input) {
  errors { code field message } purchase { id } } }"""
REVOKE = """mutation($input: RevokeContentAccessInput!) { revokeContentAccess(input: $input) {
  errors { code field message } purchase { id } } }"""
ADD_MEMBER = """mutation($input: AddOrganizationMemberInput!) { addOrganizationMember(input: $input) {
  errors { code field message } member { id } } }"""
SETTINGS = """mutation($input: UpdateOrganizationSettingsInput!) { updateOrganizationSettings(input: $input) {
  errors { code field message } } }"""
PUBLISH = """mutation($id: ID!) { publishContent(input: {contentId: $id}) { errors { code field message } } }"""
UNPUBLISH = """mutation($id: ID!) { unpublishContent(input: {contentId: $id}) { errors { code field message } } }"""
AUDIT_LOG = """query($slug: String!, $first: Int, $after: String, $filter: AuditLogFilter) {
  organization(slug: $slug) { auditLog(first: $first, after: $after, filter: $filter) {
    totalCount pageInfo { hasNextPage endCursor }
    nodes { id action targetType targetId before after requestId ip userAgent createdAt actorId actor { id } } } } }"""


async def mutate(shop, query: str, variables: dict[str, Any], token: str) -> str:
    """Run a mutation expecting success; returns the response's x-request-id."""
    response = await shop.gql.raw(query, variables, token, headers={"user-agent": "AuditTest/1.0"})
    body = response.json()
    assert "errors" not in body, body
    for value in body["data"].values():
        assert value["errors"] == [], body
    return response.headers["x-request-id"]


async def entries(admin_db, action: str) -> list[Any]:
    rows = await admin_db.fetch("select * from audit_log_entry where action = $1 order by created_at", action)
    return [{**dict(r), "before": json.loads(r["before"]) if r["before"] else None,
             "after": json.loads(r["after"]) if r["after"] else None} for r in rows]


async def only_entry(admin_db, action: str, request_id: str, actor: uuid.UUID, org: uuid.UUID | None) -> dict[str, Any]:
    [entry] = await entries(admin_db, action)
    assert entry["request_id"] == request_id
    assert entry["actor_user_id"] == actor and entry["organization_id"] == org
    assert entry["ip"] == "198.51.100.9" and entry["user_agent"] == "AuditTest/1.0"
    return entry


async def test_grant_revoke_and_refund_are_audited_once_with_before_and_after(shop, admin_db):
    customer = await shop.factory.user()
    request = await mutate(shop, GRANT, {"input": {"contentId": shop.free, "userId": customer.global_id, "note": "gift"}},
                           shop.owner.token)
    grant_id = await admin_db.fetchval("select id from purchase where kind = 'GRANT'")
    entry = await only_entry(admin_db, "ACCESS_GRANTED", request, shop.owner.user_id, shop.org)
    assert (entry["target_type"], entry["target_id"]) == ("Purchase", grant_id)
    assert entry["before"] is None
    free_id = await admin_db.fetchval("select content_id from purchase where kind = 'GRANT'")
    assert entry["after"] == {"status": "COMPLETED", "userId": str(customer.user_id), "contentId": str(free_id),
                              "note": "gift"}

    request = await mutate(shop, REVOKE, {"input": {"purchaseId": to_global_id("Purchase", grant_id)}}, shop.owner.token)
    entry = await only_entry(admin_db, "ACCESS_REVOKED", request, shop.owner.user_id, shop.org)
    assert entry["target_id"] == grant_id
    assert (entry["before"], entry["after"]) == ({"status": "COMPLETED"}, {"status": "REFUNDED"})

    await shop.buy(customer)
    paid_id = await admin_db.fetchval("select id from purchase where kind = 'PAID'")
    request = await mutate(shop, REFUND, {"input": {"purchaseId": to_global_id("Purchase", paid_id), "reason": "asked",
                                                    "idempotencyKey": "r1"}}, shop.owner.token)
    entry = await only_entry(admin_db, "PURCHASE_REFUNDED", request, shop.owner.user_id, shop.org)
    assert entry["target_id"] == paid_id
    assert entry["before"] == {"status": "COMPLETED", "refundedAmountCents": 0, "refundReason": None}
    assert entry["after"]["status"] == "REFUNDED" and entry["after"]["refundReason"] == "asked"
    assert entry["after"]["amountCents"] == 1999 and entry["after"]["refundedAmountCents"] == 1999
    assert entry["after"]["source"] == "API" and entry["actor_service"] is None
    # A replay of the refund (same key) records nothing more.
    await mutate(shop, REFUND, {"input": {"purchaseId": to_global_id("Purchase", paid_id), "reason": "asked",
                                          "idempotencyKey": "r1"}}, shop.owner.token)
    assert len(await entries(admin_db, "PURCHASE_REFUNDED")) == 1


async def test_membership_settings_and_publishing_are_audited(shop, admin_db):
    newcomer = await shop.factory.user()
    org_id = to_global_id("Organization", shop.org)
    request = await mutate(shop, ADD_MEMBER, {"input": {"organizationId": org_id, "email": newcomer.email,
                                                        "role": "CREATOR"}}, shop.owner.token)
    entry = await only_entry(admin_db, "MEMBER_ADDED", request, shop.owner.user_id, shop.org)
    membership = await admin_db.fetchval("select id from organization_membership where user_id = $1", newcomer.user_id)
    assert (entry["target_type"], entry["target_id"]) == ("OrganizationMember", membership)
    assert entry["after"] == {"userId": str(newcomer.user_id), "email": newcomer.email, "role": "CREATOR"}

    request = await mutate(shop, SETTINGS, {"input": {"organizationId": org_id, "name": "Renamed Shop",
                                                      "legalName": "Shop Ltd", "timezone": "UTC"}}, shop.owner.token)
    entry = await only_entry(admin_db, "SETTINGS_CHANGED", request, shop.owner.user_id, shop.org)
    assert (entry["target_type"], entry["target_id"]) == ("Organization", shop.org)
    # Only changed fields: the timezone was sent unchanged.
    assert entry["before"] == {"name": "Test Org", "legalName": None}
    assert entry["after"] == {"name": "Renamed Shop", "legalName": "Shop Ltd"}
    await mutate(shop, SETTINGS, {"input": {"organizationId": org_id, "name": "Renamed Shop"}}, shop.owner.token)
    assert len(await entries(admin_db, "SETTINGS_CHANGED")) == 1  # nothing changed, nothing recorded

    request = await mutate(shop, UNPUBLISH, {"id": shop.paid}, shop.owner.token)
    entry = await only_entry(admin_db, "CONTENT_UNPUBLISHED", request, shop.owner.user_id, shop.org)
    content_id = entry["target_id"]
    assert to_global_id("Content", content_id) == shop.paid and entry["target_type"] == "Content"
    assert (entry["before"], entry["after"]) == ({"status": "PUBLISHED"}, {"status": "READY"})
    request = await mutate(shop, PUBLISH, {"id": shop.paid}, shop.owner.token)
    entry = await only_entry(admin_db, "CONTENT_PUBLISHED", request, shop.owner.user_id, shop.org)
    assert (entry["before"], entry["after"]) == ({"status": "READY"}, {"status": "PUBLISHED"})

    # A refused action records nothing.
    refused = await shop.gql(PUBLISH, {"id": shop.paid}, shop.owner.token)
    assert refused["data"]["publishContent"]["errors"][0]["code"] == "INVALID_STATE"
    assert len(await entries(admin_db, "CONTENT_PUBLISHED")) == 1

    # The GraphQL view, newest first, with filters.
    log = (await shop.gql.ok(AUDIT_LOG, {"slug": "shop"}, shop.owner.token))["organization"]["auditLog"]
    assert [n["action"] for n in log["nodes"]] == ["CONTENT_PUBLISHED", "CONTENT_UNPUBLISHED", "SETTINGS_CHANGED",
                                                   "MEMBER_ADDED"]
    assert log["totalCount"] == 4
    top = log["nodes"][0]
    assert top["targetId"] == shop.paid and top["actorId"] == shop.owner.global_id == top["actor"]["id"]
    assert top["before"] == {"status": "READY"} and top["requestId"] == request and top["userAgent"] == "AuditTest/1.0"
    page = (await shop.gql.ok(AUDIT_LOG, {"slug": "shop", "first": 1, "after": log["pageInfo"]["endCursor"]},
                              shop.owner.token))["organization"]["auditLog"]
    assert page["totalCount"] == 4 and page["nodes"] == []
    two = (await shop.gql.ok(AUDIT_LOG, {"slug": "shop", "first": 2}, shop.owner.token))["organization"]["auditLog"]
    nxt = (await shop.gql.ok(AUDIT_LOG, {"slug": "shop", "first": 2, "after": two["pageInfo"]["endCursor"]},
                             shop.owner.token))["organization"]["auditLog"]
    assert [n["action"] for n in two["nodes"] + nxt["nodes"]] == [n["action"] for n in log["nodes"]]
    for filter_, expected in [
        ({"action": "MEMBER_ADDED"}, ["MEMBER_ADDED"]),
        ({"targetId": shop.paid}, ["CONTENT_PUBLISHED", "CONTENT_UNPUBLISHED"]),
        ({"actorId": shop.owner.global_id, "action": "SETTINGS_CHANGED"}, ["SETTINGS_CHANGED"]),
        ({"actorId": newcomer.global_id}, []),
        ({"actorId": "not-an-id"}, []),
        ({"from": top["createdAt"]}, ["CONTENT_PUBLISHED"]),
        ({"to": log["nodes"][-1]["createdAt"]}, []),
    ]:
        found = (await shop.gql.ok(AUDIT_LOG, {"slug": "shop", "filter": filter_}, shop.owner.token))
        assert [n["action"] for n in found["organization"]["auditLog"]["nodes"]] == expected, filter_


async def test_audit_log_authorization_matrix_admin_is_not_enough(gql, factory, admin_db):
    actors = await make_actors(factory, with_role=OrgRole.OWNER, without_role=OrgRole.ADMIN)
    await admin_db.execute(
        "insert into audit_log_entry (id, organization_id, actor_user_id, action, target_type, target_id, after) "
        "values ($1, $2, $3, 'SETTINGS_CHANGED', 'Organization', $2, '{\"name\": \"x\"}')",
        uuid.uuid4(), actors.org, actors.staff_with.user_id,
    )
    await admin_db.execute(
        "insert into audit_log_entry (id, organization_id, actor_user_id, action, target_type) "
        "values ($1, $2, $3, 'MEMBER_ADDED', 'OrganizationMember')", uuid.uuid4(), actors.other_org, actors.other_staff.user_id,
    )
    results = await assert_authz_matrix(gql, actors, AUDIT_LOG, {"slug": actors.org_slug},
                                        path=["organization", "auditLog"], allowed={"staff_with_permission"})
    log = results["staff_with_permission"]["data"]["organization"]["auditLog"]
    assert [n["action"] for n in log["nodes"]] == ["SETTINGS_CHANGED"] and log["totalCount"] == 1


async def test_rls_hides_other_organizations_and_other_users_entries(db, admin_db, factory):
    from sqlalchemy import text

    from codex_graphql.db import TenantScope

    owner = await factory.user()
    org, other = await factory.organization(owner), await factory.organization(owner)
    me, someone = uuid.uuid4(), uuid.uuid4()
    for user in (me, someone):
        await admin_db.execute("insert into user_account (id, email, password_hash, platform_role) values ($1, $2, 'x', 'CUSTOMER')",
                               user, f"{user.hex[:10]}@example.com")
    for organization_id, actor in ((org, None), (other, None), (None, me), (None, someone)):
        await admin_db.execute("insert into audit_log_entry (id, organization_id, actor_user_id, action, target_type) "
                               "values ($1, $2, $3, 'LOGIN_NEW_DEVICE', 'User')", uuid.uuid4(), organization_id, actor)
    async with db.transaction(TenantScope(user_id=me, organization_id=org)) as session:
        # No filter at all: RLS alone limits what is seen.
        rows = (await session.execute(text("select organization_id, actor_user_id from audit_log_entry"))).all()
        assert sorted(rows, key=str) == sorted([(org, None), (None, me)], key=str)
        # Append-only: no update or delete for the application role.
        for statement in ("update audit_log_entry set action = 'MEMBER_ADDED'", "delete from audit_log_entry"):
            try:
                async with session.begin_nested():
                    await session.execute(text(statement))
            except Exception as exc:  # noqa: BLE001
                assert "permission denied" in str(exc)
            else:
                raise AssertionError(f"{statement} was allowed")
    async with db.transaction(TenantScope(user_id=me, organization_id=org)) as session:
        try:
            async with session.begin_nested():
                await session.execute(text(
                    "insert into audit_log_entry (id, organization_id, action, target_type) "
                    "values (gen_random_uuid(), :o, 'MEMBER_ADDED', 'X')"), {"o": other})
        except Exception as exc:  # noqa: BLE001
            assert "row-level security" in str(exc)
        else:
            raise AssertionError("inserted into another organization's log")
