"""Helpers shared by tests: a GraphQL client, factories, and the authorization matrix."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from codex_graphql.accounts.models import User
from codex_graphql.accounts.security import hash_password
from codex_graphql.authz import OrgRole, PlatformRole
from codex_graphql.db import Database, TenantScope, rescope, utcnow
from codex_graphql.organizations.models import Organization, OrganizationMembership
from codex_graphql.relay import to_global_id

PASSWORD = "correct horse battery staple"


class GraphQLClient:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def raw(self, query: str, variables: dict[str, Any] | None = None, token: str | None = None,
                  headers: dict[str, str] | None = None) -> httpx.Response:
        self.http.cookies.clear()  # each call is its own caller; cookie auth is tested explicitly
        all_headers = dict(headers or {})
        if token:
            all_headers["authorization"] = f"Bearer {token}"
        return await self.http.post("/graphql", json={"query": query, "variables": variables or {}}, headers=all_headers)

    async def __call__(self, query: str, variables: dict[str, Any] | None = None, token: str | None = None,
                       headers: dict[str, str] | None = None) -> dict[str, Any]:
        response = await self.raw(query, variables, token, headers)
        assert response.status_code == 200, response.text
        body = response.json()
        for error in body.get("errors", []):
            assert error["extensions"]["code"] != "INTERNAL_SERVER_ERROR", body
        return body

    async def ok(self, query: str, variables: dict[str, Any] | None = None, token: str | None = None,
                 headers: dict[str, str] | None = None) -> dict[str, Any]:
        """Data of a request expected to succeed: no GraphQL errors and no payload errors."""
        body = await self(query, variables, token, headers)
        assert "errors" not in body, body
        for value in (body["data"] or {}).values():
            if isinstance(value, dict) and "errors" in value:
                assert value["errors"] == [], body
        return body["data"]


@dataclass
class Person:
    user_id: uuid.UUID
    email: str
    token: str

    @property
    def global_id(self) -> str:
        return to_global_id("User", self.user_id)


class Factory:
    def __init__(self, db: Database, gql: GraphQLClient) -> None:
        self.db = db
        self.gql = gql

    async def user(self, email: str | None = None, role: PlatformRole = PlatformRole.CUSTOMER,
                   verified: bool = True, name: str = "Test User") -> Person:
        email = email or f"user-{uuid.uuid4().hex[:8]}@example.com"
        async with self.db.transaction() as session:
            user = User(email=email, name=name, password_hash=await hash_password(PASSWORD), platform_role=role,
                        email_verified_at=utcnow() if verified else None)
            session.add(user)
            await session.flush()
            user_id = user.id
        return Person(user_id=user_id, email=email, token=await self.login(email))

    async def login(self, email: str, password: str = PASSWORD) -> str:
        data = await self.gql.ok(
            "mutation($e:String!,$p:String!){login(input:{email:$e,password:$p}){token errors{code message}}}",
            {"e": email, "p": password},
        )
        return data["login"]["token"]

    async def organization(self, owner: Person, slug: str | None = None, name: str = "Test Org") -> uuid.UUID:
        slug = slug or f"org-{uuid.uuid4().hex[:8]}"
        async with self.db.transaction(TenantScope(user_id=owner.user_id)) as session:
            organization = Organization(slug=slug, name=name)
            session.add(organization)
            await session.flush()
            await rescope(session, TenantScope(user_id=owner.user_id, organization_id=organization.id))
            session.add(OrganizationMembership(organization_id=organization.id, user_id=owner.user_id, role=OrgRole.OWNER))
            return organization.id

    async def member(self, organization_id: uuid.UUID, person: Person, role: OrgRole) -> None:
        async with self.db.transaction(TenantScope(organization_id=organization_id)) as session:
            session.add(OrganizationMembership(organization_id=organization_id, user_id=person.user_id, role=role))


@dataclass
class Actors:
    """The five callers of the authorization matrix, around organization ``org``."""

    org: uuid.UUID
    org_slug: str
    other_org: uuid.UUID
    customer: Person
    other_staff: Person
    staff_without: Person
    staff_with: Person

    def tokens(self) -> dict[str, str | None]:
        return {
            "anonymous": None,
            "customer": self.customer.token,
            "other_org_staff": self.other_staff.token,
            "staff_without_permission": self.staff_without.token,
            "staff_with_permission": self.staff_with.token,
        }


async def make_actors(factory: Factory, *, with_role: OrgRole = OrgRole.OWNER,
                      without_role: OrgRole = OrgRole.MEMBER) -> Actors:
    owner = await factory.user()
    slug = f"org-{uuid.uuid4().hex[:8]}"
    org = await factory.organization(owner, slug=slug)
    staff_with = owner
    if with_role is not OrgRole.OWNER:
        staff_with = await factory.user()
        await factory.member(org, staff_with, with_role)
    staff_without = await factory.user()
    await factory.member(org, staff_without, without_role)
    other_staff = await factory.user()
    other_org = await factory.organization(other_staff)
    customer = await factory.user()
    return Actors(org=org, org_slug=slug, other_org=other_org, customer=customer, other_staff=other_staff,
                  staff_without=staff_without, staff_with=staff_with)


def dig(data: Any, path: list[str]) -> Any:
    for key in path:
        if data is None:
            return None
        data = data[key]
    return data


async def assert_authz_matrix(
    gql: GraphQLClient,
    actors: Actors,
    query: str,
    variables: dict[str, Any],
    *,
    path: list[str],
    allowed: set[str],
    snapshot: Any = None,
) -> dict[str, Any]:
    """Run ``query`` as each caller. Allowed callers get data at ``path`` without errors; the others
    get UNAUTHENTICATED (anonymous) or FORBIDDEN, null at ``path``, and ``snapshot()`` unchanged."""
    results: dict[str, Any] = {}
    for name, token in actors.tokens().items():
        before = await snapshot() if snapshot else None
        body = await gql(query, variables, token)
        results[name] = body
        if name in allowed:
            assert "errors" not in body, (name, body)
            assert dig(body["data"], path) is not None, (name, body)
            continue
        codes = {e["extensions"]["code"] for e in body.get("errors", [])}
        expected = "UNAUTHENTICATED" if token is None else "FORBIDDEN"
        assert codes == {expected}, (name, body)
        assert dig(body["data"], path) is None, (name, body)
        if snapshot:
            assert await snapshot() == before, f"{name} changed state"
    return results


def log_driver_queries(engine: Any, sink: Any) -> Any:
    """Hand asyncpg's log record of every query sent on the engine's connections checked out from now on
    (what runs straight on the driver, ``db.SerializedSession.fetch`` and the scope statement among them) to
    ``sink``; returns the function that stops it. The records arrive through the loop (``call_soon``)."""
    from sqlalchemy import event

    watched: list[Any] = []

    def watch(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        driver = dbapi_connection.driver_connection
        if driver not in watched:
            driver.add_query_logger(sink)
            watched.append(driver)

    def stop() -> None:
        event.remove(engine, "checkout", watch)
        for driver in watched:
            driver.remove_query_logger(sink)

    event.listen(engine, "checkout", watch)
    return stop


@asynccontextmanager
async def statements(app: Any) -> AsyncIterator[list[str]]:
    """Every SQL statement the app sends while the block runs: through SQLAlchemy, straight on the driver
    connection under a session (``db.driver_connection``) and on the fast path's own pool. The outbox
    relay, which polls the same engine in the background, is stopped first so that only the request is
    counted."""
    from sqlalchemy import event

    services = app.state.runtime["services"]
    await services.relay.stop()
    engine = services.db.engine.sync_engine
    seen: list[str] = []
    watched: list[Any] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        seen.append(" ".join(statement.split()))

    def record_driver(query: Any) -> None:
        text = " ".join(query.query.split())
        if text.startswith("BEGIN; "):  # the scope statement, sent with its BEGIN in one message (db._begin_scoped)
            text = text[len("BEGIN; "):]
        # asyncpg logs the BEGIN and COMMIT of SQLAlchemy's transactions (which SQLAlchemy's count leaves out,
        # as it does the driver's own type introspection, once per connection and type).
        if text.split()[0].upper().rstrip(";") in ("BEGIN", "COMMIT", "ROLLBACK") or "typeinfo_tree" in text \
                or "set_config('jit'" in text or "current_setting('jit')" in text:
            return
        seen.append(text)

    def watch(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        driver = dbapi_connection.driver_connection
        if driver not in watched:
            driver.add_query_logger(record_driver)
            watched.append(driver)

    fast = app.state.runtime["graphql"].fast
    event.listen(engine, "before_cursor_execute", record)
    event.listen(engine, "checkout", watch)
    if fast is not None:
        fast.query_loggers.append(record_driver)
    try:
        yield seen
    finally:
        await asyncio.sleep(0)  # asyncpg hands query logs to the loop (call_soon): let the last ones arrive
        event.remove(engine, "before_cursor_execute", record)
        event.remove(engine, "checkout", watch)
        for driver in watched:
            driver.remove_query_logger(record_driver)
        if fast is not None:
            fast.query_loggers.remove(record_driver)


def bare(body: dict[str, Any]) -> dict[str, Any]:
    """A GraphQL response body without ``extensions`` (every response reports ``extensions.cost``)."""
    return {k: v for k, v in body.items() if k != "extensions"}
