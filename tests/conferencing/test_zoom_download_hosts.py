"""A recording is downloaded from Zoom only (review of issue 19): the webhook's ``download_url`` must be https on
zoom.us or a subdomain (or the configured API host, the stand-in's in tests), and every redirect is checked again,
so a forged or leaked webhook cannot point the worker, and the download token, at an internal address."""

from __future__ import annotations

import io

import httpx
import pytest

from codex_graphql.conferencing.protocol import ProviderError
from codex_graphql.conferencing.zoom import ZoomProvider


def provider(handler) -> ZoomProvider:  # type: ignore[no-untyped-def]
    return ZoomProvider("id", "secret", api_base="https://api.zoom.us", oauth_base="https://zoom.us",
                        transport=httpx.MockTransport(handler))


@pytest.mark.parametrize("url", [
    "http://zoom.us/rec/download/a",  # not https
    "https://zoom.us.evil.example/rec/a",
    "https://evilzoom.us/rec/a",
    "https://169.254.169.254/latest/meta-data",
    "https://localhost/rec/a",
])
async def test_a_url_off_zoom_is_refused_before_any_request(url: str) -> None:
    sent: list[str] = []
    zoom = provider(lambda request: (sent.append(str(request.url)), httpx.Response(200, content=b"x"))[1])
    with pytest.raises(ProviderError, match="not Zoom's"):
        await zoom.download(url, "token", io.BytesIO(), 1_000)
    assert sent == []


async def test_a_redirect_off_zoom_is_refused_and_one_on_zoom_is_followed() -> None:
    sent: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(str(request.url))
        if request.url.host == "zoom.us":
            target = "https://ssrweb.zoom.us/file.mp4" if request.url.path == "/good" else "http://10.0.0.5/x"
            return httpx.Response(302, headers={"location": target})
        assert request.headers["authorization"] == "Bearer token"
        return httpx.Response(200, content=b"video bytes")

    zoom, sink = provider(handler), io.BytesIO()
    assert await zoom.download("https://zoom.us/good", "token", sink, 1_000) == len(b"video bytes")
    assert sink.getvalue() == b"video bytes" and sent == ["https://zoom.us/good", "https://ssrweb.zoom.us/file.mp4"]
    sent.clear()
    with pytest.raises(ProviderError, match="not Zoom's"):
        await zoom.download("https://zoom.us/bad", "token", io.BytesIO(), 1_000)
    assert sent == ["https://zoom.us/bad"]
