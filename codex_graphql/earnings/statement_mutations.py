"""creatorStatement: a creator asks for their monthly statement of an organization (earnings/statements.py)."""

from __future__ import annotations

import strawberry

from codex_graphql.context import Context
from codex_graphql.earnings import statements
from codex_graphql.earnings.statement_types import CreatorStatement
from codex_graphql.payloads import mutation_field
from codex_graphql.permissions import IsAuthenticated
from codex_graphql.relay import decode_id


@strawberry.input(description="Which statement: an organization and a month.")
class CreatorStatementInput:
    organization_id: strawberry.ID = strawberry.field(
        description="The organization (global id) where the viewer is a CREATOR, ADMIN or OWNER member, or ever "
        "earned as a creator; it need not be the active one.")
    month: str = strawberry.field(description="The month, `YYYY-MM` (UTC): the current one or an earlier one.")


@strawberry.type
class StatementMutations:
    @mutation_field(IsAuthenticated(), payload={"statement": (CreatorStatement, "The statement: PENDING while a job "
                                                              "writes it, or READY when it was written already.")},
                    description="Ask for the viewer's own statement (a CSV of every earning entry recorded for them in "
                    "the organization that month, with totals per currency). A job writes the file and emails a "
                    "signed link; `statement.url` downloads it once READY. Asking again returns the same statement: "
                    "as it is while PENDING or when it was written after its month ended, written again when it "
                    "FAILED or was written while its month was still running. NOT_FOUND for an unknown "
                    "organization; INVALID_INPUT for a malformed month or one that has not started; FORBIDDEN (a "
                    "GraphQL error) in an organization where the viewer is not a creator.",
                    input_description="The organization and the month.")
    async def creator_statement(ctx: Context, input: CreatorStatementInput) -> dict:
        statement = await statements.request_statement(ctx.db, ctx.viewer, decode_id(input.organization_id,
                                                                                      "Organization"), input.month)
        return {"statement": CreatorStatement.from_model(statement)}
