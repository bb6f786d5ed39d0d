"""Articles' fields on ``Content`` (``body``, ``excerpt``, ``document``, ``wordCount``, ``readingTimeMinutes``),
declared here and attached by schema assembly (codex_graphql/contributions.py). Null on media items."""

from __future__ import annotations

import strawberry
from strawberry.scalars import JSON

from codex_graphql.analytics import stats as analytics_stats
from codex_graphql.articles import loaders, service
from codex_graphql.articles.models import ArticleBody
from codex_graphql.authz import Permission
from codex_graphql.content import loaders as content_loaders
from codex_graphql.content import service as content_service
from codex_graphql.content.models import Content as ContentModel
from codex_graphql.content.models import ContentKind
from codex_graphql.context import Context
from codex_graphql.permissions import HasOrgPermission, guarded


async def _body(row: ContentModel, info: strawberry.Info) -> ArticleBody | None:
    if row.kind is not ContentKind.ARTICLE:
        return None
    return await loaders.bodies(info.context).load(row.id)


@strawberry.type(description="Articles' fields of `Content` (never served as a type of its own).")
class ContentArticle:
    row: strawberry.Private[ContentModel]  # ``self`` is the Content object being resolved

    @strawberry.field(description="An article's text as sanitized HTML (its images signed for an hour), for viewers "
                      "with access (a purchase, grant or free claim, a subscription covering it, or staff); null for "
                      "everyone else (show `excerpt`) and for media items. Serving it to a signed-in viewer counts a "
                      "view, as issuing a playback URL does.")
    async def body(self, info: strawberry.Info) -> str | None:
        ctx: Context = info.context
        found = await _body(self.row, info)
        if found is None:
            return None
        entitled = await content_loaders.entitlements(ctx).load(self.row.id)
        if not content_service.can_play(ctx.viewer, self.row, entitled):
            return None
        await analytics_stats.record_view(ctx, self.row.id, self.row.organization_id)
        return await service.html_for_reader(ctx.services.storage, found, found.html)

    @strawberry.field(description="An article's public part as sanitized HTML, for everyone: what comes before its "
                      "paywall marker, or else its first 60 words. Null for media items.")
    async def excerpt(self, info: strawberry.Info) -> str | None:
        found = await _body(self.row, info)
        return await service.html_for_reader(info.context.services.storage, found, found.excerpt_html) if found else None

    @strawberry.field(description="Words in an article's text; null for media items.")
    async def word_count(self, info: strawberry.Info) -> int | None:
        found = await _body(self.row, info)
        return found.word_count if found else None

    @strawberry.field(description="Minutes an article takes to read (230 words a minute, at least 1); null for media "
                      "items.")
    async def reading_time_minutes(self, info: strawberry.Info) -> int | None:
        found = await _body(self.row, info)
        return found.reading_minutes if found else None

    @guarded(HasOrgPermission(Permission.CONTENT_READ),
             description="An article's body as its editor saved it (ProseMirror JSON, docs/api.md \"Articles\"), to "
             "edit it again; null for media items.")
    async def body_document(self, info: strawberry.Info) -> JSON | None:
        found = await _body(self.row, info)
        return found.document if found else None
