"""The iCalendar feed routes (calendar.py): ``GET /calendars/user/{token}.ics`` and
``GET /calendars/offering/{token}.ics``.

A person's feed is read in that person's user scope only (RLS shows their own bookings and the offerings and
sessions that are not drafts): the token's signature is checked first, then its version against the person's
current one, in the same transaction as the read. An offering's feed is read in the anonymous scope (published
and cancelled offerings are public; a draft is not found). Every refusal is the same 404 with nothing in it; the
calendar is built after the transaction ends."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from codex_graphql.accounts import repository as accounts
from codex_graphql.db import TenantScope, utcnow
from codex_graphql.offerings import calendar, calendar_mail, calendar_repository
from codex_graphql.offerings import repository as offerings
from codex_graphql.offerings.models import OfferingStatus

PAST = timedelta(days=90)  # a person's feed keeps sessions that ended this recently
FEED_LIMIT = 1000
_HEADERS = {"cache-control": "private, max-age=300", "x-content-type-options": "nosniff"}


def _not_found() -> Response:
    return PlainTextResponse("not found", status_code=404, headers={"cache-control": "no-store"})


def _calendar(body: bytes) -> Response:
    return Response(body, media_type=calendar.CONTENT_TYPE,
                    headers={**_HEADERS, "content-disposition": 'inline; filename="calendar.ics"'})


def calendar_routes(get_services: Any) -> list[Route]:
    async def user_feed(request: Request) -> Response:
        services = get_services()
        settings = services.settings
        found = calendar.read_user_token(settings.secret_key, request.path_params["token"])
        if found is None:
            return _not_found()
        user_id, version = found
        async with services.db.transaction(TenantScope(user_id=user_id)) as session:
            if version != await calendar_repository.feed_version(session, user_id):
                return _not_found()
            user = await accounts.user_by_id(session, user_id)
            rows = await calendar_repository.booked_sessions(session, user_id, utcnow() - PAST, FEED_LIMIT)
        if user is None:
            return _not_found()
        items = [event for offering, target in rows for event in calendar_mail.events_of(offering, [target])]
        return _calendar(calendar.build(items, name="My bookings", base_url=settings.public_base_url))

    async def offering_feed(request: Request) -> Response:
        services = get_services()
        settings = services.settings
        offering_id = calendar.read_offering_token(settings.secret_key, request.path_params["token"])
        if offering_id is None:
            return _not_found()
        async with services.db.transaction(TenantScope()) as session:
            offering = await offerings.by_id(session, offering_id)
            found = await offerings.sessions_of(session, [offering_id]) if offering else {}
        if offering is None or offering.status is OfferingStatus.DRAFT:
            return _not_found()
        items = calendar_mail.events_of(offering, found.get(offering_id, []))
        return _calendar(calendar.build(items, name=offering.title, base_url=settings.public_base_url))

    return [Route("/calendars/user/{token}.ics", user_feed, methods=["GET"]),
            Route("/calendars/offering/{token}.ics", offering_feed, methods=["GET"])]
