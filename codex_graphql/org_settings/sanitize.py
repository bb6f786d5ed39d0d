"""Rich text policies stored as sanitized HTML (nh3, the Rust ``ammonia`` sanitizer).

Allowed: paragraphs, line breaks, strong/em, lists, h2-h4, blockquote and links with an
http(s) or mailto ``href`` (each gets ``rel="noopener noreferrer"``). Everything else is removed:
``<script>``/``<style>`` with their content, event-handler attributes, ``javascript:`` URLs, images,
iframes, inline styles.
"""

from __future__ import annotations

import nh3

MAX_HTML_BYTES = 50 * 1024
TAGS = {"p", "br", "strong", "em", "ul", "ol", "li", "a", "h2", "h3", "h4", "blockquote"}
ATTRIBUTES = {"a": {"href"}}
URL_SCHEMES = {"http", "https", "mailto"}


def sanitize_html(html: str) -> str:
    return nh3.clean(html, tags=TAGS, attributes=ATTRIBUTES, url_schemes=URL_SCHEMES,
                     link_rel="noopener noreferrer", strip_comments=True).strip()
