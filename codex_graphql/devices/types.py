"""GraphQL types of playback devices: the device, the viewer's and a customer's device lists, removeDevice."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import strawberry

from codex_graphql.context import Context
from codex_graphql.devices import loaders, service
from codex_graphql.devices.models import PlaybackDevice as DeviceModel
from codex_graphql.errors import DomainError, ErrorCode
from codex_graphql.payloads import mutation_field
from codex_graphql.permissions import IsAuthenticated
from codex_graphql.relay import decode_id, to_global_id


@strawberry.type(description="A device a customer plays an organization's items on, registered by their first "
                 "`Content.playback` on it with that `deviceId`. Counted against the organization's "
                 "`maxDevicesPerCustomer` until removed.")
class PlaybackDevice:
    id: strawberry.ID = strawberry.field(description="Global id; pass it to `removeDevice`.")
    name: str = strawberry.field(description="A name made from the user agent, for example \"Chrome on Windows\".")
    user_agent: str = strawberry.field(description="The user agent of the latest playback on it (up to 400 characters).")
    first_seen_at: datetime = strawberry.field(description="When the device was registered (its first playback).")
    last_seen_at: datetime = strawberry.field(description="Its latest playback.")
    removed_at: datetime | None = strawberry.field(description="When it was removed; null while registered.")
    organization_id: strawberry.ID = strawberry.field(description="Global id of the organization it is registered in.")

    @classmethod
    def from_model(cls, row: DeviceModel) -> PlaybackDevice:
        return cls(id=to_global_id("PlaybackDevice", row.id), name=row.name, user_agent=row.user_agent,
                   first_seen_at=row.first_seen_at, last_seen_at=row.last_seen_at, removed_at=row.removed_at,
                   organization_id=to_global_id("Organization", row.organization_id))


@strawberry.type(description="Device fields of `Viewer` (never served as a type of its own).")
class ViewerDevices:
    user_id: strawberry.Private[uuid.UUID]  # ``self`` is the Viewer object being resolved

    @strawberry.field(description="The viewer's registered playback devices, most recently used first: in one "
                      "organization, or in every one when `organizationId` is omitted.")
    async def devices(self, info: strawberry.Info, organization_id: Annotated[strawberry.ID | None, strawberry.argument(
            description="Only the devices registered in this organization.")] = None) -> list[PlaybackDevice]:
        ctx: Context = info.context
        organization = None
        if organization_id is not None:
            organization = decode_id(organization_id, "Organization")
            if organization is None:
                return []
        rows = await service.of_viewer(ctx.db, ctx.viewer, organization)
        return [PlaybackDevice.from_model(row) for row in rows]


@strawberry.type(description="Device fields of `Customer` (never served as a type of its own).")
class CustomerDevices:
    user_id: strawberry.Private[uuid.UUID]
    organization_id: strawberry.Private[uuid.UUID]

    @strawberry.field(description="The customer's registered playback devices in this organization, most recently "
                      "used first (readable where the customer is: `Organization.customers`, CUSTOMERS_READ). "
                      "Staff with CUSTOMERS_MANAGE remove one with `removeDevice`.")
    async def devices(self, info: strawberry.Info) -> list[PlaybackDevice]:
        rows = await loaders.customer_devices(info.context).load(self.user_id)
        return [PlaybackDevice.from_model(row) for row in rows]


@strawberry.input(description="The device to remove.")
class RemoveDeviceInput:
    device_id: strawberry.ID = strawberry.field(description="Global id of the device (`PlaybackDevice.id`).")


@strawberry.type
class DeviceMutations:
    @mutation_field(
        IsAuthenticated(),
        description="Remove a registered playback device, freeing its place under the organization's "
        "`maxDevicesPerCustomer`; its playback URLs stop receiving segment keys at once. Its owner may remove "
        f"{service.REMOVALS_PER_WINDOW} devices per {service.REMOVAL_WINDOW.days} days (THROTTLED beyond); staff "
        "with CUSTOMERS_MANAGE remove any device of their organization's customers. NOT_FOUND for anyone else. "
        "Removing a removed device changes nothing.",
        input_description="The device to remove.",
        payload={"device": (PlaybackDevice, "The device, removed (`removedAt` set).")},
    )
    async def remove_device(ctx: Context, input: RemoveDeviceInput) -> dict:
        device_id = decode_id(input.device_id, "PlaybackDevice")
        if device_id is None:
            raise DomainError(ErrorCode.NOT_FOUND, "No such device.", "deviceId")
        return {"device": PlaybackDevice.from_model(await service.remove(ctx.db, ctx.viewer, device_id))}


__all__ = ["CustomerDevices", "DeviceMutations", "PlaybackDevice", "ViewerDevices"]
