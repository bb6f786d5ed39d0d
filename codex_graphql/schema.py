"""The strawberry schema assembled from the domains, with its limits, caches and error handling."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Annotated, Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import AddValidationRules, MaxTokensLimiter
from strawberry.extensions.max_aliases import create_validator as alias_validator
from strawberry.extensions.query_depth_limiter import create_validator as depth_validator
from strawberry.types import ExecutionContext

from codex_graphql import compiled_fields, tracing
from codex_graphql.accounts.mutations import AccountMutations
from codex_graphql.accounts.queries import AccountQueries
from codex_graphql.accounts.viewer import Viewer
from codex_graphql.analytics.organization_fields import OrganizationAnalytics
from codex_graphql.audit.organization_fields import OrganizationAudit
from codex_graphql.commerce import queries as _commerce_nodes  # noqa: F401  (registers Purchase, PendingGrant nodes)
from codex_graphql.commerce.mutations import CommerceMutations
from codex_graphql.commerce.organization_fields import OrganizationCommerce
from codex_graphql.commerce.subscriptions import CommerceSubscriptions
from codex_graphql.commerce.viewer_fields import ViewerCommerce
from codex_graphql.content.download_mutations import DownloadMutations
from codex_graphql.content.mutations import ContentMutations
from codex_graphql.content.queries import ContentQueries
from codex_graphql.content.subscriptions import ContentSubscriptions
from codex_graphql.context import Context
from codex_graphql.contributions import contribute
from codex_graphql.cost import CostCalculator
from codex_graphql.doccache import DocumentCaches
from codex_graphql.errors import VISIBLE_CODES, is_client_error  # noqa: F401  (re-exported)
from codex_graphql.execution import CodexExecutionContext
from codex_graphql.input_checks import UTC_DATETIME
from codex_graphql.input_checks import install as refuse_nul_input
from codex_graphql.org_settings.mutations import SettingsMutations
from codex_graphql.organizations.mutations import OrganizationMutations
from codex_graphql.organizations.queries import OrganizationQueries
from codex_graphql.organizations.team_mutations import TeamMutations
from codex_graphql.organizations.types import Organization
from codex_graphql.ratelimit import RequestLimits
from codex_graphql.relay import MAX_PAGE_SIZE, NODE_RESOLVERS, Node, from_global_id
from codex_graphql.reviews.mutations import ReviewMutations
from codex_graphql.settings import Settings
from codex_graphql.web_security import hide_suggestions

log = logging.getLogger("codex_graphql.graphql")

# Fields of one domain's type that another domain owns, each declared once in its owner and placed here in
# the order schema.graphql prints them (contributions.py).
contribute(Organization, OrganizationCommerce, OrganizationAnalytics, OrganizationAudit, before="members")
contribute(Viewer, ViewerCommerce, before="permissions")


@strawberry.type(description="Entry points for reading.")
class Query(AccountQueries, OrganizationQueries, ContentQueries):
    @strawberry.field(description="Any object by its global id, under the same visibility rules as its own fields.")
    async def node(self, info: strawberry.Info, id: Annotated[strawberry.ID, strawberry.argument(
            description="Global id of any object (its `id` field). A malformed or unknown id, or one the viewer may "
            "not see, returns null.")]) -> Node | None:
        return await _node(info.context, id)

    @strawberry.field(description=f"Several objects by their global ids (at most {MAX_PAGE_SIZE}), in the order "
                      "given: each position holds what `node` answers for that id, null when it is malformed, "
                      "unknown or not visible to the viewer.")
    async def nodes(self, info: strawberry.Info, ids: Annotated[list[strawberry.ID], strawberry.argument(
            description=f"Global ids of the objects (their `id` fields), at most {MAX_PAGE_SIZE}; more is a "
            "BAD_USER_INPUT error. The same id may appear more than once.")]) -> list[Node | None]:
        if len(ids) > MAX_PAGE_SIZE:
            raise GraphQLError(f"`ids` takes at most {MAX_PAGE_SIZE} ids.", extensions={"code": "BAD_USER_INPUT"})
        unique = list(dict.fromkeys(ids))
        found = dict(zip(unique, await asyncio.gather(*(_node(info.context, i) for i in unique)), strict=True))
        return [found[i] for i in ids]


async def _node(ctx: Context, global_id: str) -> Node | None:
    """What the registered resolver of the id's type answers (relay.register_node), null without one; run
    side by side for `nodes`, so each type's loaders batch their ids."""
    decoded = from_global_id(global_id)
    if decoded is None:
        return None
    resolver = NODE_RESOLVERS.get(decoded[0])
    return await resolver(ctx, decoded[1]) if resolver else None


@strawberry.type(description="Entry points for changing things. Each takes one `input` and returns a payload with `errors`.")
class Mutation(AccountMutations, OrganizationMutations, TeamMutations, ContentMutations, CommerceMutations, SettingsMutations,
               DownloadMutations, ReviewMutations):
    pass


@strawberry.type(description="Live events over WebSocket (`graphql-transport-ws` at /graphql).")
class Subscription(ContentSubscriptions, CommerceSubscriptions):
    pass


# Which errors clients see verbatim (VISIBLE_CODES, is_client_error) is decided in errors.py, shared by
# the transports; both names stay importable from here.


class CodexSchema(strawberry.Schema):
    cost_calculator: CostCalculator
    document_caches: DocumentCaches
    validation_rules: list[Any]
    hide_suggestions = False

    def process_errors(self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None) -> None:
        if self.hide_suggestions:
            hide_suggestions(errors)
        context = execution_context.context if execution_context else None
        request_id = getattr(context, "request_id", None)
        for error in errors:
            if not is_client_error(error):
                log.error(
                    "unexpected error in resolver",
                    exc_info=error.original_error,
                    extra={"request_id": request_id, "path": error.path},
                )


def build_schema(settings: Settings) -> CodexSchema:
    refuse_nul_input()  # String and ID refuse NUL while coercing input (input_checks.py)
    # Validation rules are built once: the validation cache is keyed on the rule classes, so a
    # limiter constructed per request would never hit it.
    rules = [depth_validator(settings.max_query_depth, None, None), alias_validator(settings.max_aliases)]

    class Limits(AddValidationRules):
        def __init__(self) -> None:
            super().__init__(rules)

    max_tokens = settings.max_tokens
    # Parsing and validation behind caches keyed by the document's SHA-256 and bounded by bytes, this
    # schema's own; documents over MAX_DOCUMENT_BYTES are refused before parsing (doccache.py).
    caches = DocumentCaches(settings.max_document_bytes, settings.parser_cache_bytes, settings.validation_cache_bytes)
    cached_parse, cached_validation = caches.extensions()
    extensions: list[Any] = [
        lambda: MaxTokensLimiter(max_token_count=max_tokens),
        Limits,
        cached_parse,
        cached_validation,
        # After validation, before execution: introspection policy, mutation count, cost, rate limit.
        lambda: RequestLimits(cost_calculator),
        *tracing.schema_extensions(),  # the operation's type on its span, only while tracing is on
    ]
    cost_calculator = CostCalculator(settings.cost_cache_bytes)
    schema = CodexSchema(query=Query, mutation=Mutation, subscription=Subscription, extensions=extensions,
                         scalar_overrides={datetime: UTC_DATETIME}, execution_context_class=CodexExecutionContext)
    schema.hide_suggestions = bool(settings.hide_field_suggestions)
    schema.cost_calculator = cost_calculator
    schema.document_caches = caches
    schema.validation_rules = rules  # the fast path validates with the same limits
    compiled_fields.register(schema)  # the compiled path's declarations read their guards from this schema
    return schema


def printed_schema() -> str:
    return build_schema(Settings(database_url=None)).as_str() + "\n"


__all__ = ["CodexSchema", "Context", "build_schema", "printed_schema"]
