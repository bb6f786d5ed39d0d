from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from codex_graphql.accounts import repository
from codex_graphql.accounts.models import User
from codex_graphql.batching import RowLoader

if TYPE_CHECKING:
    from codex_graphql.context import Context  # annotations only: the context builds these loaders


class UserLoader(RowLoader[uuid.UUID, User | None]):
    query = staticmethod(repository.users_by_ids)


def users(ctx: Context) -> UserLoader:
    return ctx.loaders.users
