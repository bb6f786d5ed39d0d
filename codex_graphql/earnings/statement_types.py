"""GraphQL types of creators' monthly statements (earnings/statements.py): ``CreatorStatement``, the viewer's
``creatorStatements`` (attached to ``Viewer`` by schema assembly) and ``node(id:)``."""

from __future__ import annotations

import uuid
from datetime import datetime

import strawberry

from codex_graphql.authz import Permission
from codex_graphql.content.types import AfterArg, FirstArg
from codex_graphql.context import Context
from codex_graphql.earnings import statement_repository as repository
from codex_graphql.earnings import statements
from codex_graphql.earnings.payout_models import CreatorStatement as CreatorStatementModel
from codex_graphql.earnings.payout_models import StatementStatus
from codex_graphql.organizations import loaders as organization_loaders
from codex_graphql.organizations.types import Organization
from codex_graphql.relay import Connection, Node, build_connection, check_first, register_node, to_global_id
from codex_graphql.storage import SignedRequest


@strawberry.type(description="A creator's statement for one organization and month: a CSV file listing every "
                 "earning entry recorded for them there that month (UTC), with a total per currency, written by a "
                 "job (`creatorStatement`). Visible to the creator and to the organization's staff with "
                 "PURCHASES_READ.")
class CreatorStatement(Node):
    month: str = strawberry.field(description="The month, `YYYY-MM` (UTC).")
    status: StatementStatus = strawberry.field(description="PENDING while the job writes it, READY, or FAILED.")
    rows: int | None = strawberry.field(description="How many earning entries the file lists; null until READY.")
    requested_at: datetime = strawberry.field(description="When it was last requested.")
    ready_at: datetime | None = strawberry.field(description="When its file was written; null until READY.")
    row: strawberry.Private[CreatorStatementModel]
    signed: strawberry.Private[dict[str, SignedRequest | None]]

    @classmethod
    def from_model(cls, row: CreatorStatementModel) -> CreatorStatement:
        return cls(id=to_global_id("CreatorStatement", row.id), month=f"{row.month:%Y-%m}", status=row.status,
                   rows=row.rows, requested_at=row.requested_at, ready_at=row.ready_at, row=row, signed={})

    async def _download(self, info: strawberry.Info) -> SignedRequest | None:
        if "url" not in self.signed:
            viewer = info.context.viewer
            allowed = viewer.owns_or_can(self.row.user_id, Permission.PURCHASES_READ, self.row.organization_id) \
                if viewer.user_id else False
            self.signed["url"] = await statements.sign(info.context.services.storage, self.row) if allowed else None
        return self.signed["url"]

    @strawberry.field(description="The organization it is from.")
    async def organization(self, info: strawberry.Info) -> Organization | None:
        row = await organization_loaders.organizations(info.context).load(self.row.organization_id)
        return Organization.from_model(row) if row else None

    @strawberry.field(description="A short-lived signed URL downloading the CSV (15 minutes, signed on each read); "
                      "null until READY. Only for the creator and the organization's staff with PURCHASES_READ.")
    async def url(self, info: strawberry.Info) -> str | None:
        signed = await self._download(info)
        return signed.url if signed else None

    @strawberry.field(description="When `url` stops working; null with it.")
    async def expires_at(self, info: strawberry.Info) -> datetime | None:
        signed = await self._download(info)
        return signed.expires_at if signed else None


@strawberry.type(description="Statement fields of `Viewer` (never served as a type of its own).")
class ViewerStatements:
    user_id: strawberry.Private[uuid.UUID]  # ``self`` is the Viewer object being resolved

    @strawberry.field(description="The viewer's own statements from every organization, most recently requested "
                      "first (`creatorStatement` asks for one).")
    async def creator_statements(self, info: strawberry.Info, first: FirstArg = None,
                                 after: AfterArg = None) -> Connection[CreatorStatement]:
        db = info.context.db
        page = await repository.own_page(db, self.user_id, check_first(first), after)
        return build_connection(page, CreatorStatement.from_model, lambda: repository.own_count(db, self.user_id))


@register_node("CreatorStatement")
async def _statement_node(ctx: Context, id_: uuid.UUID) -> CreatorStatement | None:
    row = await repository.by_id(ctx.db, id_)
    if row is None or ctx.viewer.user_id is None \
            or not ctx.viewer.owns_or_can(row.user_id, Permission.PURCHASES_READ, row.organization_id):
        return None
    return CreatorStatement.from_model(row)


__all__ = ["CreatorStatement", "ViewerStatements"]
