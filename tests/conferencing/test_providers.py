"""The providers and helpers without a server: Google Meet against an ``httpx.MockTransport`` that answers as the
Calendar API and Google's token endpoint do (idempotent insert by event id, 409 on a retry, 410 on a deleted
event), Zoom's webhook signature rules, the demo provider, and the credentials' encryption and signed state."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from codex_graphql.conferencing import credentials, google_meet, zoom
from codex_graphql.conferencing.local import LocalProvider
from codex_graphql.conferencing.protocol import ProviderError, TokenExpired

START = datetime(2027, 3, 28, 0, 30, tzinfo=UTC)


class FakeGoogle:
    def __init__(self) -> None:
        self.events: dict[str, dict] = {}
        self.calls: list[tuple[str, str]] = []
        self.valid = {"ya29.good"}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls.append((request.method, request.url.path))
        if request.url.host == "oauth2.example":
            form = parse_qs(request.content.decode())
            assert form["client_id"] == ["gid"] and form["client_secret"] == ["gsecret"]
            if form["grant_type"] == ["authorization_code"] and form["code"] == ["good"]:
                return httpx.Response(200, json={"access_token": "ya29.good", "expires_in": 3599,
                                                 "refresh_token": "1//refresh", "scope": google_meet.SCOPE,
                                                 "token_type": "Bearer"})
            if form["grant_type"] == ["refresh_token"]:
                return httpx.Response(200, json={"access_token": "ya29.good", "expires_in": 3599,
                                                 "scope": google_meet.SCOPE, "token_type": "Bearer"})
            return httpx.Response(400, json={"error": "invalid_grant"})
        if request.headers.get("authorization") not in {f"Bearer {t}" for t in self.valid}:
            return httpx.Response(401, json={"error": {"code": 401, "message": "Invalid Credentials"}})
        path = request.url.path.removeprefix("/calendar/v3")
        if request.method == "POST" and path == "/calendars/primary/events":
            assert request.url.params["conferenceDataVersion"] == "1"
            body = json.loads(request.content)
            if body["id"] in self.events:
                return httpx.Response(409, json={"error": {"code": 409, "message": "The requested identifier "
                                                           "already exists."}})
            assert body["conferenceData"]["createRequest"]["conferenceSolutionKey"] == {"type": "hangoutsMeet"}
            event = {**body, "status": "confirmed", "hangoutLink": f"https://meet.google.com/{body['id'][:3]}-abcd-efg",
                     "conferenceData": {"entryPoints": [{"entryPointType": "video",
                                                         "uri": f"https://meet.google.com/{body['id'][:3]}-abcd-efg"}]}}
            self.events[body["id"]] = event
            return httpx.Response(200, json=event)
        if path.startswith("/calendars/primary/events/"):
            event_id = path.rsplit("/", 1)[1]
            if request.method == "GET":
                found = self.events.get(event_id)
                return httpx.Response(200, json=found) if found else httpx.Response(404, json={})
            if request.method == "DELETE":
                if self.events.pop(event_id, None) is None:
                    return httpx.Response(410, json={"error": {"code": 410, "message": "Resource has been deleted"}})
                return httpx.Response(204)
        return httpx.Response(404, json={"error": {"code": 404, "message": "Not Found"}})


def google(fake: FakeGoogle) -> google_meet.GoogleMeetProvider:
    return google_meet.GoogleMeetProvider("gid", "gsecret", oauth_base="https://accounts.example",
                                          token_url="https://oauth2.example/token",
                                          api_base="https://calendar.example/calendar/v3",
                                          transport=httpx.MockTransport(fake))


async def test_google_meet_connects_creates_idempotently_and_deletes() -> None:
    fake = FakeGoogle()
    provider = google(fake)
    url = urlsplit(provider.authorize_url("signed-state", "http://testserver/conferencing/oauth/callback"))
    query = parse_qs(url.query)
    assert (url.netloc, url.path) == ("accounts.example", "/o/oauth2/v2/auth")
    assert query["access_type"] == ["offline"] and query["scope"] == [google_meet.SCOPE]
    assert query["state"] == ["signed-state"]
    tokens = await provider.exchange_code("good", "http://testserver/conferencing/oauth/callback")
    assert tokens.access_token == "ya29.good" and tokens.refresh_token == "1//refresh"
    assert (await provider.refresh("1//refresh")).refresh_token is None  # Google keeps the refresh token
    with pytest.raises(ProviderError):
        await provider.exchange_code("bad", "http://testserver/cb")

    options = {"topic": "Live class", "start": START, "end": START + timedelta(hours=2), "time_zone": "Europe/Berlin",
               "marker": "codex-123"}
    made = await provider.create_meeting("ya29.good", retry=False, **options)
    again = await provider.create_meeting("ya29.good", retry=True, **options)  # 409, then read back
    assert made == again and made.join_url.startswith("https://meet.google.com/")
    assert len(fake.events) == 1 and made.provider_meeting_id == google_meet.event_id("codex-123")
    with pytest.raises(TokenExpired):
        await provider.create_meeting("ya29.expired", retry=False, **options)
    await provider.delete_meeting("ya29.good", made.provider_meeting_id)
    await provider.delete_meeting("ya29.good", made.provider_meeting_id)  # already gone (410): no error
    assert fake.events == {}


def test_zoom_webhook_signatures_follow_zoom_s_scheme() -> None:
    body, now = b'{"event":"recording.completed"}', time.time()
    stamp = str(int(now))
    signed = zoom.signature("secret", stamp, body)
    assert signed.startswith("v0=") and len(signed) == 67
    assert zoom.verify("secret", body, stamp, signed, now=now)
    assert not zoom.verify("secret", body, stamp, signed, now=now + 301)  # replayed later
    assert not zoom.verify("other", body, stamp, signed, now=now)
    assert not zoom.verify(None, body, stamp, signed, now=now)
    assert not zoom.verify("secret", body, "not-a-number", signed, now=now)


async def test_the_demo_provider_is_deterministic_per_meeting() -> None:
    provider = LocalProvider("key", "http://demo.example/")
    first = await provider.create_meeting("local", topic="t", start=START, end=START, time_zone="UTC", marker="codex-a",
                                          retry=False)
    again = await provider.create_meeting("local", topic="t", start=START, end=START, time_zone="UTC",
                                          marker="codex-a", retry=True)
    other = await provider.create_meeting("local", topic="t", start=START, end=START, time_zone="UTC",
                                          marker="codex-b", retry=False)
    assert first == again and first.join_url.startswith("http://demo.example/meet/") and other != first


def test_tokens_are_bound_to_their_organization_and_state_to_its_secret() -> None:
    org, other = uuid.uuid4(), uuid.uuid4()
    sealed = credentials.encrypt("k", org, "access", "token-1")
    assert b"token-1" not in sealed and credentials.decrypt("k", org, "access", sealed) == "token-1"
    for key, organization, role in (("k2", org, "access"), ("k", other, "access"), ("k", org, "refresh")):
        with pytest.raises(credentials.CredentialsUnavailable):
            credentials.decrypt(key, organization, role, sealed)
    state = credentials.State(org, other, "ZOOM")
    signed = credentials.sign_state("k", state)
    assert credentials.open_state("k", signed) == state
    for bad_key, token, now in (("k2", signed, None), ("k", signed + "A", None),
                                ("k", signed, time.time() + credentials.STATE_TTL_SECONDS + 5)):
        with pytest.raises(credentials.BadState):
            credentials.open_state(bad_key, token, now=now)
