from __future__ import annotations

from datetime import datetime

import strawberry

from codex_graphql.accounts.models import User as UserModel
from codex_graphql.relay import Node, to_global_id


@strawberry.type(description="A person on the platform, as others may see them: no contact details.")
class User(Node):
    name: str = strawberry.field(description="Display name; may be empty.")
    created_at: datetime = strawberry.field(description="When the account was created.")

    @classmethod
    def from_model(cls, user: UserModel) -> User:
        return cls(id=to_global_id("User", user.id), name=user.name, created_at=user.created_at)
