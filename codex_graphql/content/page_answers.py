"""Answers for a whole page of items, loaded once before the page's items are resolved.

A catalogue page asks every item for the same loader-backed fields (``viewerHasAccess``, ``creator``,
``thumbnailUrl``). Resolved item by item, each of them is a coroutine, a dataloader future and an asyncio
task per item (about 100 microseconds of CPU each), although the loaders answer the whole page in one batch
anyway. ``prefetch`` runs the same loaders for the page's items in the connection's resolver, when the
document selects those fields, so the items' resolvers answer synchronously from ``PageAnswers``; the
statements are the same batches the per-item resolvers send (the loaders' caches are filled as before).

Only fields selected without directives (``@include``/``@skip``) count, so nothing is loaded that the
document would not have executed. Whatever was not prefetched (a field under a directive, an item whose
thumbnail failed to sign, a failed batch) is resolved item by item as before, errors included.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    SelectionSetNode,
)

from codex_graphql.accounts import loaders as account_loaders
from codex_graphql.accounts.types import User
from codex_graphql.content import loaders, service

if TYPE_CHECKING:
    import strawberry

    from codex_graphql.relay import Connection

log = logging.getLogger(__name__)

T = TypeVar("T")

PREFETCHED = frozenset(("viewerHasAccess", "creator", "thumbnailUrl"))


@dataclass(slots=True)
class PageAnswers:
    """What ``prefetch`` loaded for one page; a map is None when its field was not prefetched."""

    entitled: dict[uuid.UUID, bool] | None = None  # content id -> the entitlement loader's answer
    creators: dict[uuid.UUID, Any] | None = None  # creator id -> its ``User`` (or None), built once per page
    thumbnails: dict[uuid.UUID, str | None] = field(default_factory=dict)  # content id -> signed URL


def later(awaitable: Awaitable[T]) -> T:
    """A synchronous resolver's answer that graphql-core awaits (the item was not prefetched)."""
    return awaitable  # type: ignore[return-value]


def _fields(selection_set: SelectionSetNode | None, fragments: dict[str, FragmentDefinitionNode]) -> Iterable[FieldNode]:
    """The fields of a selection set through its fragments, leaving out anything under a directive.

    Validation admits only fragments that apply to an object type's selection, so none is filtered by type."""
    for selection in selection_set.selections if selection_set is not None else ():
        if selection.directives:
            continue
        if isinstance(selection, FieldNode):
            yield selection
        elif isinstance(selection, InlineFragmentNode):
            yield from _fields(selection.selection_set, fragments)
        elif isinstance(selection, FragmentSpreadNode) and selection.name.value in fragments:
            yield from _fields(fragments[selection.name.value].selection_set, fragments)


def item_fields(info: strawberry.Info) -> set[str]:
    """Names of the fields a connection field's document selects on its items (``edges { node }``, ``nodes``)."""
    raw = info._raw_info
    fragments = raw.fragments
    names: set[str] = set()
    for connection in raw.field_nodes:
        for child in _fields(connection.selection_set, fragments):
            if child.name.value == "nodes":
                names.update(f.name.value for f in _fields(child.selection_set, fragments))
            elif child.name.value == "edges":
                for node in _fields(child.selection_set, fragments):
                    if node.name.value == "node":
                        names.update(f.name.value for f in _fields(node.selection_set, fragments))
    return names


async def prefetch(info: strawberry.Info, connection: Connection[Any]) -> None:
    """Load the page's answers for the selected fields of ``PREFETCHED`` and attach them to its items."""
    items = [edge.node for edge in connection.edges]
    if not items:
        return
    wanted = item_fields(info) & PREFETCHED
    if not wanted:
        return
    ctx = info.context
    answers = PageAnswers()
    ids = [item.row.id for item in items]
    try:
        if "viewerHasAccess" in wanted:
            answers.entitled = dict(zip(ids, await loaders.entitlements(ctx).load_all(ids), strict=True))
        if "creator" in wanted:
            creator_ids = list(dict.fromkeys(item.row.creator_id for item in items))
            users = await account_loaders.users(ctx).load_all(creator_ids)
            answers.creators = {key: User.from_model(user) if user else None
                                for key, user in zip(creator_ids, users, strict=True)}
    except Exception:  # noqa: BLE001  (each item's resolver loads again and reports the failure where it did)
        log.debug("page prefetch failed; the items resolve one by one", exc_info=True)
    if "thumbnailUrl" in wanted:
        storage = ctx.services.storage
        for item in items:
            thumbnails = item.row.thumbnails
            try:
                if not thumbnails:
                    answers.thumbnails[item.row.id] = None
                else:
                    smallest = min(thumbnails, key=lambda t: t["width"])
                    signed = await storage.presign_get(smallest["key"], service.URL_TTL_SECONDS)
                    answers.thumbnails[item.row.id] = signed.url
            except Exception:  # noqa: BLE001,S112  (the item's resolver signs again and reports the error)
                continue
    for item in items:
        item.answers = answers


__all__ = ["PREFETCHED", "PageAnswers", "item_fields", "later", "prefetch"]
