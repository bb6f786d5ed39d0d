"""Fixtures of the conferencing tests: a running Zoom stand-in and the app's settings pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from codex_graphql.settings import Settings
from tests.support.zoom_standin import ZoomStandIn, running_zoom


@pytest.fixture
async def zoom() -> AsyncIterator[ZoomStandIn]:
    async with running_zoom() as standin:
        yield standin


@pytest.fixture
def settings(settings: Settings, zoom: ZoomStandIn) -> Settings:
    return settings.model_copy(update={
        "zoom_client_id": zoom.client_id, "zoom_client_secret": zoom.client_secret,
        "zoom_webhook_secret": zoom.webhook_secret, "zoom_api_base": zoom.base_url, "zoom_oauth_base": zoom.base_url,
    })


@pytest.fixture
def services(app: Any) -> Any:
    return app.state.runtime["services"]
