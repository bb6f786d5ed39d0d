"""Device limits (docs/media.md, "Devices").

Every ``Content.playback`` a customer asks for names the device it plays on (``deviceId``: a stable random id
the client keeps, for example in localStorage). The first playback on a device registers it in the item's
organization; later ones only mark it used. When the organization sets ``maxDevicesPerCustomer``, a device
beyond the limit is refused with DEVICE_LIMIT_REACHED, naming the registered devices, until the customer (or
staff with CUSTOMERS_MANAGE) removes one with ``removeDevice``. A removed device's HLS tokens stop getting
segment keys at once (``media/streaming.py`` asks ``is_registered``). Staff of the organization play without
registering: the limit is for customers.

Registrations of one customer in one organization are serialized by a transaction-scoped advisory lock, so
concurrent playbacks from new devices cannot exceed the limit. Customers may remove at most
``REMOVALS_PER_WINDOW`` of their own devices per ``REMOVAL_WINDOW``, so removing and adding devices in turn
cannot turn a device limit into an account shared without bound; staff removals are not limited.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import timedelta

from graphql import GraphQLError
from sqlalchemy.ext.asyncio import AsyncSession
from ua_parser import parse

from codex_graphql.authz import Permission, Viewer
from codex_graphql.db import utcnow
from codex_graphql.devices import repository
from codex_graphql.devices.models import PlaybackDevice
from codex_graphql.errors import DomainError, ErrorCode
from codex_graphql.org_settings import service as org_settings

DEVICE_ID = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")
REMOVALS_PER_WINDOW = 5
REMOVAL_WINDOW = timedelta(days=30)


class DeviceLimitReached(GraphQLError):
    """A new device over the organization's limit; ``extensions.devices`` names the registered ones."""

    def __init__(self, limit: int, devices: list[PlaybackDevice]) -> None:
        super().__init__(
            f"You can play on {limit} device{'s' if limit != 1 else ''} and all are in use; remove one with "
            f"removeDevice to play here.",
            extensions={"code": "DEVICE_LIMIT_REACHED", "limit": limit, "devices": [
                {"id": global_id(d), "name": d.name, "lastSeenAt": d.last_seen_at.isoformat()} for d in devices]})


class DeviceRequired(GraphQLError):
    def __init__(self) -> None:
        super().__init__("This organization limits playback devices: pass deviceId to playback.",
                         extensions={"code": "DEVICE_REQUIRED"})


def global_id(device: PlaybackDevice) -> str:
    from codex_graphql.relay import to_global_id
    return str(to_global_id("PlaybackDevice", device.id))


def device_hash(device_id: str) -> bytes:
    return hashlib.sha256(device_id.encode()).digest()


def name_of(user_agent: str) -> str:
    """A short, human name for a device: "Mobile Safari on iOS (iPhone)", "Chrome on Linux"."""
    found = parse(user_agent) if user_agent else None
    if found is None or found.user_agent is None:
        return "Unknown device"
    name = found.user_agent.family
    if found.os is not None and found.os.family != "Other":
        name += f" on {found.os.family}"
    if found.device is not None and found.device.family not in ("Other", "Generic Smartphone", "Mac", "K"):
        name += f" ({found.device.family})"
    return name[:120]


async def register(session: AsyncSession, viewer: Viewer, organization_id: uuid.UUID, device_id: str | None,
                   user_agent: str) -> uuid.UUID | None:
    """The registered device a customer's playback is bound to (registering it when new), or None when the
    playback is not bound to a device (staff; no ``deviceId`` where there is no limit). Raises
    ``DeviceLimitReached``, ``DeviceRequired`` or a BAD_USER_INPUT error for a malformed id."""
    if viewer.user_id is None or viewer.can(Permission.CONTENT_READ, organization_id):
        return None
    limit = await org_settings.max_devices_per_customer(session, organization_id)
    if device_id is None:
        if limit is None:
            return None
        raise DeviceRequired()
    if not DEVICE_ID.fullmatch(device_id):
        raise GraphQLError("deviceId must be 8 to 128 letters, digits or . _ : - characters.",
                           extensions={"code": "BAD_USER_INPUT", "argument": "deviceId"})
    agent = user_agent[:400]
    name = name_of(agent)
    await repository.lock_customer(session, organization_id, viewer.user_id)
    registered = await repository.active(session, organization_id, viewer.user_id)
    wanted = device_hash(device_id)
    for device in registered:
        if device.device_hash == wanted:
            await repository.touch(session, device.id, agent, name)
            return device.id
    if limit is not None and len(registered) >= limit:
        raise DeviceLimitReached(limit, registered)
    return (await repository.add(session, organization_id, viewer.user_id, wanted, name, agent)).id


async def remove(session: AsyncSession, viewer: Viewer, device_id: uuid.UUID) -> PlaybackDevice:
    """End a device's registration: its owner, or staff of its organization with CUSTOMERS_MANAGE. Removing a
    removed device changes nothing and answers it again."""
    assert viewer.user_id is not None
    device = await repository.by_id(session, device_id)
    if device is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such device.", "deviceId")
    owner = device.user_id == viewer.user_id
    staff = viewer.can(Permission.CUSTOMERS_MANAGE, device.organization_id)
    if not owner and not staff:
        raise DomainError(ErrorCode.NOT_FOUND, "No such device.", "deviceId")
    # The customer's lock first, as registration takes it, then the row: parallel removals (and registrations)
    # queue, so the removal count below cannot be passed by racing requests.
    await repository.lock_customer(session, device.organization_id, device.user_id)
    device = await repository.by_id(session, device_id, for_update=True)
    if device is None:  # its customer's account (or the organization) was deleted meanwhile
        raise DomainError(ErrorCode.NOT_FOUND, "No such device.", "deviceId")
    if device.removed_at is not None:
        return device
    if owner and not staff:
        since = utcnow() - REMOVAL_WINDOW
        if await repository.removals_by_owner_since(session, device.organization_id, viewer.user_id,
                                                    since) >= REMOVALS_PER_WINDOW:
            raise DomainError(ErrorCode.THROTTLED, f"You can remove {REMOVALS_PER_WINDOW} devices per "
                              f"{REMOVAL_WINDOW.days} days; ask the organization's support to remove more.",
                              "deviceId")
    await repository.remove(session, device.id, viewer.user_id)
    await session.refresh(device)
    return device


async def is_registered(session: AsyncSession, device_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    return await repository.is_active(session, device_id, user_id)


async def of_viewer(session: AsyncSession, viewer: Viewer, organization_id: uuid.UUID | None) -> list[PlaybackDevice]:
    if viewer.user_id is None:
        return []
    return await repository.of_user(session, viewer.user_id, organization_id)
