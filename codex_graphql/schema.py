"""The strawberry schema assembled from the domains, with its limits, caches and error handling."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from datetime import datetime
from functools import partial
from typing import Annotated, Any
from weakref import WeakKeyDictionary

import strawberry
from graphql import GraphQLError
from strawberry.extensions import AddValidationRules, MaxTokensLimiter, SchemaExtension
from strawberry.extensions.context import (
    ExecutingContextManager,
    ExtensionContextManagerBase,
    OperationContextManager,
    ParsingContextManager,
    ValidationContextManager,
    WrappedHook,
)
from strawberry.extensions.max_aliases import create_validator as alias_validator
from strawberry.extensions.query_depth_limiter import create_validator as depth_validator
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.types import ExecutionContext

from codex_graphql import compiled_fields, tracing
from codex_graphql.accounts.mutations import AccountMutations
from codex_graphql.accounts.queries import AccountQueries
from codex_graphql.accounts.viewer import Viewer
from codex_graphql.analytics.organization_fields import OrganizationAnalytics
from codex_graphql.analytics.types import Customer
from codex_graphql.articles.mutations import ArticleMutations
from codex_graphql.articles.queries import ContentArticle
from codex_graphql.audit.organization_fields import OrganizationAudit
from codex_graphql.categories.mutations import CategoryMutations
from codex_graphql.categories.queries import ContentCategories, OrganizationCategories
from codex_graphql.commerce import queries as _commerce_nodes  # noqa: F401  (registers Purchase, PendingGrant nodes)
from codex_graphql.commerce.mutations import CommerceMutations
from codex_graphql.commerce.organization_fields import OrganizationCommerce
from codex_graphql.commerce.subscriptions import CommerceSubscriptions
from codex_graphql.commerce.viewer_fields import ViewerCommerce
from codex_graphql.conferencing.mutations import ConferencingMutations
from codex_graphql.conferencing.types import OrganizationConferencing, SessionConferencing
from codex_graphql.content.bulk_mutations import BulkContentMutations
from codex_graphql.content.download_mutations import DownloadMutations
from codex_graphql.content.mutations import ContentMutations
from codex_graphql.content.queries import ContentQueries
from codex_graphql.content.scheduling_mutations import SchedulingMutations
from codex_graphql.content.scheduling_types import ContentScheduling
from codex_graphql.content.subscriptions import ContentSubscriptions
from codex_graphql.content.types import Content
from codex_graphql.context import Context
from codex_graphql.contributions import contribute
from codex_graphql.cost import CostCalculator
from codex_graphql.credits import types as _credit_nodes  # noqa: F401  (registers the CreditTransaction node)
from codex_graphql.credits.mutations import CreditMutations
from codex_graphql.credits.organization_fields import OrganizationCredits
from codex_graphql.credits.viewer_fields import ViewerCredits
from codex_graphql.devices.types import CustomerDevices, DeviceMutations, ViewerDevices
from codex_graphql.doccache import DocumentCaches
from codex_graphql.earnings.dashboard_types import ViewerCreatorDashboard
from codex_graphql.earnings.mutations import EarningsMutations
from codex_graphql.earnings.payout_mutations import PayoutMutations
from codex_graphql.earnings.payout_types import OrganizationPayouts, ViewerPayouts
from codex_graphql.earnings.statement_mutations import StatementMutations
from codex_graphql.earnings.statement_types import ViewerStatements
from codex_graphql.earnings.types import ContentEarnings
from codex_graphql.errors import VISIBLE_CODES, is_client_error  # noqa: F401  (re-exported)
from codex_graphql.execution import CodexExecutionContext
from codex_graphql.input_checks import UTC_DATETIME
from codex_graphql.input_checks import install as refuse_nul_input
from codex_graphql.media.subscriptions import MediaSubscriptions
from codex_graphql.media.types import ContentMedia
from codex_graphql.offerings.availability_types import AvailabilityMutations, OfferingAvailabilityFields
from codex_graphql.offerings.booking_types import BookingMutations, OfferingParticipants, ViewerBookings
from codex_graphql.offerings.calendar_types import CalendarMutations, OfferingCalendar, ViewerCalendar
from codex_graphql.offerings.live import BookingsLive
from codex_graphql.offerings.mutations import OfferingMutations
from codex_graphql.offerings.portal_types import OfferingPortalFields, PortalMutations
from codex_graphql.offerings.stats_types import OfferingStatsFields
from codex_graphql.offerings.types import Offering, OfferingSession, OrganizationOfferings
from codex_graphql.org_settings.mutations import SettingsMutations
from codex_graphql.organizations.mutations import OrganizationMutations
from codex_graphql.organizations.queries import OrganizationQueries
from codex_graphql.organizations.team_mutations import TeamMutations
from codex_graphql.organizations.types import Organization
from codex_graphql.previews.mutations import PreviewMutations
from codex_graphql.previews.queries import ContentPreviewLinks, PreviewQueries
from codex_graphql.ratelimit import RequestLimits
from codex_graphql.relay import MAX_PAGE_SIZE, NODE_RESOLVERS, Node, from_global_id
from codex_graphql.reviews.mutations import ReviewMutations
from codex_graphql.revisions.mutations import RevisionMutations
from codex_graphql.revisions.types import ContentRevisions
from codex_graphql.search.organization_fields import OrganizationSearch
from codex_graphql.series.mutations import SeriesMutations
from codex_graphql.series.types import ContentSeries, OrganizationSeries
from codex_graphql.settings import Settings
from codex_graphql.subscriptions import types as _tier_nodes  # noqa: F401  (registers the SubscriptionTier node)
from codex_graphql.subscriptions.customer_mutations import CustomerSubscriptionMutations
from codex_graphql.subscriptions.live import SubscriptionsLive
from codex_graphql.subscriptions.mutations import SubscriptionMutations
from codex_graphql.subscriptions.organization_fields import OrganizationSubscriptions
from codex_graphql.subscriptions.viewer_fields import ViewerSubscriptions
from codex_graphql.web_security import hide_suggestions

log = logging.getLogger("codex_graphql.graphql")

# Fields of one domain's type that another domain owns, each declared once in its owner and placed here in
# the order schema.graphql prints them (contributions.py).
contribute(Organization, OrganizationCommerce, OrganizationAnalytics, OrganizationAudit, OrganizationCredits,
           before="members")
contribute(Viewer, ViewerCommerce, ViewerCredits, ViewerSubscriptions, before="permissions")
contribute(Viewer, ViewerCreatorDashboard, before="permissions")
contribute(Organization, OrganizationCategories, before="members")
contribute(Organization, OrganizationSubscriptions, before="members")
contribute(Organization, OrganizationSearch, before="members")
contribute(Content, ContentCategories)
contribute(Content, ContentPreviewLinks)
contribute(Content, ContentScheduling, before="listed")
contribute(Content, ContentArticle, before="creator")
contribute(Content, ContentRevisions)
contribute(Content, ContentMedia)
contribute(Content, ContentSeries)
contribute(Content, ContentEarnings)
contribute(Viewer, ViewerPayouts, before="permissions")
contribute(Viewer, ViewerStatements, before="permissions")
contribute(Organization, OrganizationPayouts, before="members")
contribute(Organization, OrganizationSeries, before="members")
contribute(Viewer, ViewerDevices, before="permissions")
contribute(Customer, CustomerDevices)
contribute(Organization, OrganizationOfferings, before="members")
contribute(Viewer, ViewerBookings, before="permissions")
contribute(Offering, OfferingParticipants)
contribute(Offering, OfferingStatsFields)
contribute(Offering, OfferingCalendar)
contribute(Viewer, ViewerCalendar, before="permissions")
contribute(Offering, OfferingAvailabilityFields)
contribute(Organization, OrganizationConferencing, before="members")
contribute(OfferingSession, SessionConferencing)
contribute(Offering, OfferingPortalFields)


@strawberry.type(description="Entry points for reading.")
class Query(AccountQueries, OrganizationQueries, ContentQueries, PreviewQueries):
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
               DownloadMutations, ReviewMutations, CategoryMutations, CreditMutations, SubscriptionMutations,
               CustomerSubscriptionMutations, ArticleMutations, SchedulingMutations,
               PreviewMutations, RevisionMutations, BulkContentMutations,
               SeriesMutations, EarningsMutations, PayoutMutations, StatementMutations, DeviceMutations,
               OfferingMutations, BookingMutations, AvailabilityMutations, ConferencingMutations, PortalMutations, CalendarMutations):
    pass


@strawberry.type(description="Live events over WebSocket (`graphql-transport-ws` at /graphql).")
class Subscription(ContentSubscriptions, CommerceSubscriptions, SubscriptionsLive, MediaSubscriptions, BookingsLive):
    pass


# Which errors clients see verbatim (VISIBLE_CODES, is_client_error) is decided in errors.py, shared by
# the transports; both names stay importable from here.


# Which of an extension class's hooks strawberry must wrap, and how, decided once per class (strawberry's
# ``get_hook`` inspects each hook of each extension again for every request): per class, per hook name, None
# (the default hook: nothing to run), the context-manager factory of the class's generator hook and whether it
# is asynchronous, or a plain callable hook (wrapped per request by strawberry's ``from_callable``).
_hook_factories: WeakKeyDictionary[type, dict[str, Any]] = WeakKeyDictionary()
_OTHER = object()  # not a hook strawberry accepts: its own get_hook raises its error


def _lean_get_hook(self: Any, extension: SchemaExtension) -> WrappedHook | None:
    cls = type(extension)
    factories = _hook_factories.get(cls)
    if factories is None:
        factories = _hook_factories[cls] = {}
    factory = factories.get(self.HOOK_NAME, _OTHER)
    if factory is _OTHER and self.HOOK_NAME not in factories:
        hook_fn = getattr(cls, self.HOOK_NAME)
        if hook_fn is self.default_hook:
            factory = None
        elif inspect.isgeneratorfunction(hook_fn):
            factory = (contextlib.contextmanager(hook_fn), False)
        elif inspect.isasyncgenfunction(hook_fn):
            factory = (contextlib.asynccontextmanager(hook_fn), True)
        elif callable(hook_fn):
            factory = hook_fn
        factories[self.HOOK_NAME] = factory
    if factory is None:
        return None
    if factory is _OTHER:  # not callable: strawberry's own error
        return ExtensionContextManagerBase.get_hook(self, extension)
    if not isinstance(factory, tuple):  # a plain or async callable, run before the stage
        return self.from_callable(extension, factory)  # type: ignore[no-any-return]
    return WrappedHook(extension=extension, hook=partial(factory[0], extension), is_async=factory[1])


def _lean(manager: type) -> type:
    return type(manager.__name__, (manager,), {"get_hook": _lean_get_hook, "__slots__": ()})


_LeanOperation, _LeanValidation, _LeanParsing, _LeanExecuting = map(
    _lean, (OperationContextManager, ValidationContextManager, ParsingContextManager, ExecutingContextManager))


class _LeanExtensionsRunner(SchemaExtensionsRunner):
    """strawberry's runner with each hook's kind looked up instead of inspected per request."""

    def operation(self) -> Any:
        return _LeanOperation(self.extensions)

    def validation(self) -> Any:
        return _LeanValidation(self.extensions)

    def parsing(self) -> Any:
        return _LeanParsing(self.extensions)

    def executing(self) -> Any:
        return _LeanExecuting(self.extensions)


class CodexSchema(strawberry.Schema):
    cost_calculator: CostCalculator
    document_caches: DocumentCaches
    validation_rules: list[Any]
    hide_suggestions = False

    def create_extensions_runner(self, execution_context: ExecutionContext,
                                 extensions: list[SchemaExtension]) -> SchemaExtensionsRunner:
        return _LeanExtensionsRunner(execution_context=execution_context, extensions=extensions)

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
