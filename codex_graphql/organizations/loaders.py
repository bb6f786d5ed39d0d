from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from codex_graphql.batching import RowLoader
from codex_graphql.organizations import repository

if TYPE_CHECKING:
    from codex_graphql.context import Context  # annotations only: the context builds these loaders


class OrganizationLoader(RowLoader[uuid.UUID, Any]):
    """Organizations by id, as read-only ``OrganizationRecord`` tuples."""

    query = staticmethod(repository.by_ids)


def organizations(ctx: Context) -> OrganizationLoader:
    return ctx.loaders.organizations
