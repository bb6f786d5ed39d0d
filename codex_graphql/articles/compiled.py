"""Articles in the compiled read path: ``Content.excerpt``, ``wordCount`` and ``readingTimeMinutes``, read from the
item's ``article_body`` row in the item's own statement (null for media items, which have none), under the
body table's row-level security (visible exactly where its item is), as the resolvers read them.

``body`` is not compiled (it depends on the access rule, signs images and counts a view): a selection naming
it is grafted onto the resolvers. An excerpt holding images (to sign for the reader) is answered by the
resolvers too.
"""

from __future__ import annotations

from typing import Any

from graphql import FieldNode

from codex_graphql.articles.document import IMAGE_SCHEME
from codex_graphql.fastpath.registry import Composite, Scalar, declare
from codex_graphql.fastpath.selection import Fragments, leaf
from codex_graphql.fastpath.shapes import Emit, NeedsResolvers, Runtime, Shape

BODY_COLUMN = "(SELECT ab.{column} FROM article_body ab WHERE ab.content_id = {{t}}.id)"


def _excerpt(shape: Shape, field_node: FieldNode, fragments: Fragments) -> Emit:
    leaf(field_node)
    alias = shape.column("ab_excerpt", BODY_COLUMN.format(column="excerpt_html").format(t=shape.table))

    def emit(row: Any, rt: Runtime) -> str | None:
        value = row[alias]
        if value is not None and f'src="{IMAGE_SCHEME}:' in value:
            raise NeedsResolvers("an excerpt with images: the resolvers sign them")
        return value
    return emit


declare("Content", {
    "excerpt": Composite(_excerpt),
    "wordCount": Scalar("ab_word_count", sql=BODY_COLUMN.format(column="word_count")),
    "readingTimeMinutes": Scalar("ab_reading_minutes", sql=BODY_COLUMN.format(column="reading_minutes")),
})
