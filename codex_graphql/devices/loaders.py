"""Per-request batch loader of customers' registered devices (one statement per page of customers)."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from codex_graphql.batching import KeyedLoader
from codex_graphql.devices import repository
from codex_graphql.devices.models import PlaybackDevice

if TYPE_CHECKING:
    from codex_graphql.context import Context  # annotations only: the context builds these loaders


class CustomerDevicesLoader(KeyedLoader[uuid.UUID, list[PlaybackDevice]]):
    """A customer's registered devices in the viewer's active organization (the field is for its staff)."""

    per = "organization"
    missing: list[PlaybackDevice] = []
    query = staticmethod(repository.of_customers)


def customer_devices(ctx: Context) -> CustomerDevicesLoader:
    return ctx.loaders.customer_devices
