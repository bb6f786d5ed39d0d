from __future__ import annotations

import uuid
from collections import namedtuple
from functools import partial
from typing import TYPE_CHECKING, Any

from sqlalchemy import any_, bindparam, select
from sqlalchemy.dialects.postgresql import ARRAY, UUID

from codex_graphql.accounts.models import User
from codex_graphql.batching import RowLoader
from codex_graphql.db import SerializedSession, raw_read

if TYPE_CHECKING:
    from codex_graphql.context import Context  # annotations only: the context builds these loaders

# What the loader answers per user: an immutable tuple with the columns of ``User`` as attributes (what the
# ``User``, ``Viewer`` and member types read), without an ORM instance; a mutation's changes are flushed when
# its savepoint is released, before its payload is loaded, so the rows read here are current.
UserRecord = namedtuple("UserRecord", [column.key for column in User.__table__.columns])  # type: ignore[misc]
_record = partial(tuple.__new__, UserRecord)
# Built once; the batch is one array parameter (``IN`` renders a parameter per id on every execution).
_USERS = select(*User.__table__.columns).where(User.id == any_(bindparam("ids", type_=ARRAY(UUID(as_uuid=True)))))
_USERS_READ = raw_read(_USERS)  # run straight on the driver (``SerializedSession.fetch``)


async def users_by_ids(session: SerializedSession, ids: list[uuid.UUID]) -> list[Any]:
    return await session.fetch(_USERS_READ, {"ids": list(ids)}, _record)


class UserLoader(RowLoader[uuid.UUID, Any]):
    query = staticmethod(users_by_ids)


def users(ctx: Context) -> UserLoader:
    return ctx.loaders.users
