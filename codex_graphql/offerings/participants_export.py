"""The participants CSV export of an offering (docs/offerings.md, "Participants export").

``Offering.participantsExport`` (staff with CUSTOMERS_READ, as ``Offering.participants``) signs a short-lived URL
(``URL_TTL_SECONDS``) naming the offering, its organization and the staff member; ``GET
/offerings/participants/{token}.csv`` checks the signature and the expiry before any database read, then checks
again that the staff member still holds CUSTOMERS_READ in the organization (a member removed after asking gets a
404), and streams the CSV: the header, then the bookings in batches of ``BATCH`` rows, each batch read in a short
transaction of its own (keyset on the booking's ``created_at, id``), so neither the file nor a transaction is held
while the client reads. Every failure is the same 404.

Columns (``COLUMNS``): name, email, session start (ISO 8601 in the offering's time zone), status, checked-in time
and booking time (ISO 8601, UTC), how it was paid, credits spent. Cells that a spreadsheet would run as a formula
(starting with ``= + - @``, a tab or a carriage return) are written with a leading ``'`` (CSV injection).
"""

from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import io
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from codex_graphql.authz import Membership, Permission, Viewer
from codex_graphql.db import Database, TenantScope
from codex_graphql.offerings import participants_export_repository as repository
from codex_graphql.offerings import repository as offerings
from codex_graphql.organizations import repository as organizations

URL_TTL_SECONDS = 900
BATCH = 500
COLUMNS = ["name", "email", "session_starts_at", "status", "checked_in_at", "booked_at", "paid_with",
           "credits_spent"]
_CONTEXT = b"codex-graphql participants export v1"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_HEADERS = {"cache-control": "private, no-store", "x-content-type-options": "nosniff"}


@dataclass(frozen=True, slots=True)
class ExportClaim:
    offering_id: uuid.UUID
    organization_id: uuid.UUID
    user_id: uuid.UUID
    expires_at: int  # unix seconds


def _mac(secret_key: str, body: str) -> str:
    key = hmac.new(secret_key.encode(), _CONTEXT, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(hmac.new(key, body.encode(), hashlib.sha256).digest()).decode().rstrip("=")


def sign(secret_key: str, claim: ExportClaim) -> str:
    body = f"{claim.offering_id.hex}.{claim.organization_id.hex}.{claim.user_id.hex}.{claim.expires_at}"
    return f"{body}.{_mac(secret_key, body)}"


def verify(secret_key: str, token: str, now: float | None = None) -> ExportClaim | None:
    """The claim of a token this server signed that has not expired; None for anything else."""
    body, _, mac = token.rpartition(".")
    if not body or not mac or not hmac.compare_digest(_mac(secret_key, body).encode(), mac.encode()):
        return None
    parts = body.split(".")
    if len(parts) != 4 or not parts[3].isdigit():
        return None
    try:
        claim = ExportClaim(uuid.UUID(hex=parts[0]), uuid.UUID(hex=parts[1]), uuid.UUID(hex=parts[2]), int(parts[3]))
    except ValueError:
        return None
    return claim if claim.expires_at > (time.time() if now is None else now) else None


def issue(secret_key: str, base_url: str, offering_id: uuid.UUID, organization_id: uuid.UUID,
          user_id: uuid.UUID) -> tuple[str, datetime]:
    """The download URL and its expiry, for staff the caller found may read the participants."""
    expires = int(time.time()) + URL_TTL_SECONDS
    token = sign(secret_key, ExportClaim(offering_id, organization_id, user_id, expires))
    return f"{base_url.rstrip('/')}/offerings/participants/{token}.csv", datetime.fromtimestamp(expires, UTC)


def safe_cell(value: Any) -> str:
    """The cell as text, with a leading ``'`` when a spreadsheet would read it as a formula."""
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(_FORMULA_START) else text


def _stamp(moment: datetime | None, zone: ZoneInfo | None = None) -> str:
    if moment is None:
        return ""
    return moment.astimezone(zone or UTC).isoformat()


def row_cells(row: Any, zone: ZoneInfo) -> list[str]:
    return [safe_cell(v) for v in (
        row.name, row.email, _stamp(row.starts_at, zone), row.status.value, _stamp(row.checked_in_at),
        _stamp(row.created_at), row.pay_with.value, row.credits_spent)]


def _line(cells: list[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(cells)
    return buffer.getvalue()


async def allowed(db: Database, claim: ExportClaim) -> tuple[str, ZoneInfo] | None:
    """The offering's title and time zone when the claim's staff member still holds CUSTOMERS_READ in its
    organization and the offering is that organization's; None otherwise."""
    async with db.transaction(TenantScope(user_id=claim.user_id, organization_id=claim.organization_id)) as session:
        memberships = tuple(Membership(m.organization_id, m.role)
                            for m, _ in await organizations.memberships_of_user(session, claim.user_id))
        viewer = Viewer(user_id=claim.user_id, memberships=memberships, active_organization_id=claim.organization_id)
        if not viewer.can(Permission.CUSTOMERS_READ, claim.organization_id):
            return None
        offering = await offerings.by_id(session, claim.offering_id)
    if offering is None or offering.organization_id != claim.organization_id:
        return None
    try:
        zone = ZoneInfo(offering.time_zone)
    except (KeyError, ValueError):
        zone = ZoneInfo("UTC")
    return offering.title, zone


async def stream(db: Database, claim: ExportClaim, zone: ZoneInfo, batch: int | None = None) -> AsyncIterator[str]:
    """The CSV, a header line then one chunk per batch, each batch read in its own short transaction."""
    size = batch or BATCH
    yield _line(COLUMNS)
    after: tuple[datetime, uuid.UUID] | None = None
    scope = TenantScope(user_id=claim.user_id, organization_id=claim.organization_id)
    while True:
        async with db.transaction(scope) as session:
            rows = await repository.batch(session, claim.organization_id, claim.offering_id, after, size)
        if rows:
            yield "".join(_line(row_cells(r, zone)) for r in rows)
            after = (rows[-1].created_at, rows[-1].id)
        if len(rows) < size:
            return


def _filename(title: str) -> str:
    slug = "".join(c if c.isalnum() else "-" for c in title.lower()).strip("-")[:60] or "offering"
    return f"participants-{'-'.join(p for p in slug.split('-') if p)}.csv"


def participants_export_routes(get_services: Any) -> list[Route]:
    async def download(request: Request) -> Response:
        services = get_services()
        claim = verify(services.settings.secret_key, request.path_params["token"])
        found = await allowed(services.db, claim) if claim else None
        if claim is None or found is None:
            return PlainTextResponse("not found", status_code=404, headers=_HEADERS)
        title, zone = found
        headers = {**_HEADERS, "content-disposition": f'attachment; filename="{_filename(title)}"'}
        return StreamingResponse(stream(services.db, claim, zone), media_type="text/csv; charset=utf-8",
                                 headers=headers)

    return [Route("/offerings/participants/{token}.csv", download, methods=["GET"])]
