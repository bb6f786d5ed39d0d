"""The participants CSV export (issue 19, item 2): the authorization matrix on `Offering.participantsExport`,
the streamed CSV parsed with csv.reader (every booking, in order, across batches), formula injection defused,
and links refused alike when tampered with, expired, for another organization, or once the permission is gone."""

from __future__ import annotations

import csv
import io
import time
import uuid
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from codex_graphql.authz import OrgRole
from codex_graphql.offerings import participants_export
from tests.offerings.support import CHECK_IN, book, grant, published_event, raw_id
from tests.support import Actors, assert_authz_matrix, make_actors

EXPORT = """query($id: ID!) { node(id: $id) { ... on Offering { participantsExport { url expiresAt } } } }"""
SECRET = "test-secret-key-not-for-production"


@pytest.fixture
async def actors(factory: Any) -> Actors:
    # ADMIN holds CUSTOMERS_READ (and CONTENT_MANAGE, for check-in); MEMBER holds neither.
    return await make_actors(factory, with_role=OrgRole.ADMIN)


def rows_of(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


async def download(http: Any, url: str) -> Any:
    return await http.get(url.removeprefix("http://testserver"))


async def test_who_may_export_and_what_the_csv_holds(gql: Any, http: Any, db: Any, factory: Any, actors: Actors,
                                                     monkeypatch: Any) -> None:
    staff = actors.staff_with.token
    offering, sessions = await published_event(gql, staff, capacity=3, sessions=2, title="Workshop",
                                               timeZone="Europe/Berlin")
    names = ["=HYPERLINK(\"http://evil\")", "+1 555", "-minus", "@sum", "Plain, with comma", "Ada \"quoted\""]
    people = [await factory.user(name=name) for name in names]
    made = []
    for n, person in enumerate(people):
        await grant(db, actors.org, person.user_id, 10)
        made.append((await book(gql, person.token, offering["id"], sessions[n % 2]["id"]))["booking"])
    await gql.ok(CHECK_IN, {"input": {"bookingId": made[0]["id"]}}, staff)
    # Another organization's bookings never appear.
    other, other_sessions = await published_event(gql, actors.other_staff.token, title="Theirs")
    await grant(db, actors.other_org, actors.customer.user_id, 10)
    await book(gql, actors.customer.token, other["id"], other_sessions[0]["id"])

    results = await assert_authz_matrix(gql, actors, EXPORT, {"id": offering["id"]}, path=["node", "participantsExport"],
                                        allowed={"staff_with_permission"})
    for name, body in results.items():
        if name != "staff_with_permission":
            assert "http" not in str(body.get("data")), (name, body)
    export = results["staff_with_permission"]["data"]["node"]["participantsExport"]
    expires = datetime.fromisoformat(export["expiresAt"].replace("Z", "+00:00"))
    assert 0 < (expires - datetime.now(UTC)).total_seconds() <= participants_export.URL_TTL_SECONDS

    monkeypatch.setattr(participants_export, "BATCH", 2)  # 6 bookings: three batches and an empty fourth read
    response = await download(http, export["url"])
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"] == 'attachment; filename="participants-workshop.csv"'
    assert response.headers["cache-control"] == "private, no-store"
    rows = rows_of(response.text)
    assert rows[0] == participants_export.COLUMNS
    assert [r[1] for r in rows[1:]] == [p.email for p in people]  # every booking, booking order, once
    assert [r[0] for r in rows[1:]] == ["'=HYPERLINK(\"http://evil\")", "'+1 555", "'-minus", "'@sum",
                                        "Plain, with comma", "Ada \"quoted\""]
    berlin = ZoneInfo("Europe/Berlin")
    for n, row in enumerate(rows[1:]):
        start = datetime.fromisoformat(sessions[n % 2]["startsAt"].replace("Z", "+00:00"))
        assert row[2] == start.astimezone(berlin).isoformat()
        assert row[3] == "CONFIRMED" and row[6] == "CREDITS" and row[7] == "3"
        assert datetime.fromisoformat(row[5]).tzinfo is not None
    assert rows[1][4] != "" and all(r[4] == "" for r in rows[2:])  # checked in: the first one only


async def test_export_links_are_refused_alike(gql: Any, http: Any, db: Any, actors: Actors) -> None:
    offering, sessions = await published_event(gql, actors.staff_with.token, title="Private list")
    await grant(db, actors.org, actors.customer.user_id, 10)
    await book(gql, actors.customer.token, offering["id"], sessions[0]["id"])
    export = (await gql.ok(EXPORT, {"id": offering["id"]}, actors.staff_with.token))["node"]["participantsExport"]
    assert (await download(http, export["url"])).status_code == 200
    token = export["url"].rsplit("/", 1)[1].removesuffix(".csv")
    offering_id, org = raw_id(offering["id"], "Offering"), actors.org

    def signed(user: uuid.UUID, organization: uuid.UUID = org, expires: int | None = None,
               secret: str = SECRET) -> str:
        claim = participants_export.ExportClaim(offering_id, organization, user, expires or int(time.time()) + 60)
        return participants_export.sign(secret, claim)

    refused = [
        token[:-1] + ("A" if token[-1] != "A" else "B"),  # tampered signature
        token.replace(offering_id.hex, uuid.uuid4().hex),  # another offering, same signature
        signed(actors.staff_with.user_id, expires=int(time.time()) - 1),  # expired
        signed(actors.staff_with.user_id, secret="another-secret"),  # another key
        signed(actors.staff_without.user_id),  # a member without CUSTOMERS_READ
        signed(actors.other_staff.user_id),  # staff of another organization
        signed(actors.other_staff.user_id, organization=actors.other_org),  # ... naming their own organization
        signed(actors.customer.user_id),  # the customer
        "garbage", "a.b.c.d.e",
    ]
    for bad in refused:
        response = await http.get(f"/offerings/participants/{bad}.csv")
        assert (response.status_code, response.text) == (404, "not found"), bad
        assert actors.customer.email not in response.text
