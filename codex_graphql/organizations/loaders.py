from __future__ import annotations

import uuid

from aiodataloader import DataLoader

from codex_graphql.context import Context
from codex_graphql.organizations import repository
from codex_graphql.organizations.models import Organization


class OrganizationLoader(DataLoader[uuid.UUID, Organization | None]):
    def __init__(self, ctx: Context) -> None:
        super().__init__()
        self.ctx = ctx

    async def batch_load_fn(self, keys: list[uuid.UUID]) -> list[Organization | None]:
        found = {o.id: o for o in await repository.by_ids(self.ctx.db, list(keys))}
        return [found.get(k) for k in keys]


def organizations(ctx: Context) -> OrganizationLoader:
    return ctx.loader("organizations", lambda: OrganizationLoader(ctx))
