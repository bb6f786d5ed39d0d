"""GraphQL shapes of search: a hit and the filter."""

from __future__ import annotations

import strawberry

from codex_graphql.content.models import ContentKind, ContentStatus
from codex_graphql.content.types import Content
from codex_graphql.search.repository import SearchRow


@strawberry.type(description="A content item found by `Organization.search`, with how well it matches.")
class SearchHit:
    content: Content = strawberry.field(description="The item (what `Organization.contents` would list to the viewer).")
    rank: float = strawberry.field(
        description="Relevance, higher first; comparable within one search only. Word matches rank by PostgreSQL "
        "`ts_rank` of the weighted text (a title match outranks a tag or creator match, which outranks a "
        "description match, which outranks a match in an article's text); typo-tolerant matches rank by word "
        "similarity (0.4 to 1).")
    headline: str | None = strawberry.field(
        description="A snippet of the description (the title when there is none) as HTML: the text escaped, the "
        "matched words wrapped in `<mark>`, no other tag. Never taken from an article's text (which may be "
        "behind a paywall).")

    @classmethod
    def from_row(cls, row: SearchRow) -> SearchHit:
        return cls(content=Content.from_model(row.content), rank=row.rank, headline=row.headline)


@strawberry.input(description="Narrow a search; conditions combine with AND.")
class SearchFilter:
    kind: ContentKind | None = strawberry.field(default=None, description="Only this kind.")
    tag: str | None = strawberry.field(default=None, description="Only items with this tag (normalized like tags; "
                                       "a tag no item could carry is a BAD_USER_INPUT error).")
    category: strawberry.ID | None = strawberry.field(
        default=None, description="Only items in this category (a `Category` id); another organization's category "
        "matches no item, a malformed id is a BAD_USER_INPUT error.")
    free: bool | None = strawberry.field(
        default=None, description="true: only free items (price 0); false: only paid ones; null: both.")
    status: ContentStatus | None = strawberry.field(
        default=None, description="Staff only: only this status. Others always find PUBLISHED items only.")
