from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from codex_graphql.batching import RowLoader
from codex_graphql.organizations import repository
from codex_graphql.organizations.models import Organization

if TYPE_CHECKING:
    from codex_graphql.context import Context  # annotations only: the context builds these loaders


class OrganizationLoader(RowLoader[uuid.UUID, Organization | None]):
    query = staticmethod(repository.by_ids)


def organizations(ctx: Context) -> OrganizationLoader:
    return ctx.loaders.organizations
