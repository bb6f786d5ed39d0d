"""An article's body: a structured document in ProseMirror's JSON format, checked and rendered to HTML here.

The accepted schema (docs/api.md, "Articles") is ProseMirror's basic schema with lists, the node and mark names
either as prosemirror-schema-basic writes them (``bullet_list``) or as TipTap does (``bulletList``)::

    doc          {type: "doc", content: [block, ...]}
    block        paragraph {content: [inline]} | heading {attrs: {level: 1-4}, content: [inline]}
                 | blockquote {content: [block]} | bullet_list {content: [list_item]}
                 | ordered_list {attrs: {start?}, content: [list_item]} | list_item {content: [block]}
                 | code_block {content: [text]} | horizontal_rule | image {attrs: {key, alt?, title?}}
                 | paywall (top level, at most once: what comes before it is the public excerpt)
    inline       text {text, marks?: [bold | italic | strike | code | link {attrs: {href}}]} | hard_break

Anything else (an unknown node or mark, a ``link`` to anything but ``http(s):`` or ``mailto:``, an image key
that is not one of this article's uploads, a document too large or too deep) is refused with the path of the
offending node. Text is escaped as it is written; the HTML is then passed through nh3 (the Ammonia sanitizer)
with an allow-list of exactly the tags and attributes this renderer writes, a second, independent guard: no
script, no event handler and no ``javascript:`` URL survives either.

Images are written as ``<img src="codex-image:KEY">`` and signed for the reader when the body is served
(``service.body_for_reader``): stored HTML never holds an expiring URL.
"""

from __future__ import annotations

import html
import math
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import nh3
import orjson

MAX_BYTES = 512 * 1024  # the document's JSON
MAX_DEPTH = 16
MAX_NODES = 20_000
MAX_TEXT = 200_000  # characters of text in all
MAX_ALT = 300
EXCERPT_WORDS = 60
WORDS_PER_MINUTE = 230
IMAGE_SCHEME = "codex-image"

ALIASES = {"bulletList": "bullet_list", "orderedList": "ordered_list", "listItem": "list_item",
           "codeBlock": "code_block", "horizontalRule": "horizontal_rule", "hardBreak": "hard_break",
           "strong": "bold", "em": "italic", "strikethrough": "strike"}
BLOCK_TAGS = {"paragraph": "p", "blockquote": "blockquote", "bullet_list": "ul", "ordered_list": "ol",
              "list_item": "li"}
MARK_TAGS = {"bold": "strong", "italic": "em", "strike": "s", "code": "code"}
INLINE_PARENTS = {"paragraph", "heading"}
LINK_SCHEMES = {"http", "https", "mailto"}
ALLOWED_TAGS = {"p", "h1", "h2", "h3", "h4", "blockquote", "ul", "ol", "li", "pre", "code", "hr", "img", "br",
                "strong", "em", "s", "a"}
ALLOWED_ATTRIBUTES = {"a": {"href"}, "img": {"src", "alt", "title"}, "ol": {"start"}}
IMAGE_SOURCE = re.compile(r'src="codex-image:([^"]+)"')


class DocumentError(ValueError):
    """The body is refused: ``path`` names the offending node (``content[2].content[0]``)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{message} (at {path or 'the document'})")
        self.path = path


@dataclass
class Rendered:
    """What an article's body becomes on save."""

    document: dict[str, Any]  # as given, with names normalized
    html: str
    excerpt_html: str
    text: str  # plain text (search, word count)
    word_count: int
    image_keys: list[str] = field(default_factory=list)

    @property
    def reading_minutes(self) -> int:
        return max(1, math.ceil(self.word_count / WORDS_PER_MINUTE))


class _Renderer:
    def __init__(self, image_prefix: str) -> None:
        self.image_prefix = image_prefix
        self.nodes = 0
        self.text_length = 0
        self.images: list[str] = []
        self.text_parts: list[str] = []

    def count(self, path: str) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise DocumentError(path, f"The document has more than {MAX_NODES} nodes")

    def blocks(self, nodes: Any, path: str, depth: int) -> str:
        if not isinstance(nodes, list):
            raise DocumentError(path, "`content` must be a list of nodes")
        return "".join(self.block(node, f"{path}[{i}]", depth) for i, node in enumerate(nodes))

    def block(self, node: Any, path: str, depth: int) -> str:
        if depth > MAX_DEPTH:
            raise DocumentError(path, f"The document is nested more than {MAX_DEPTH} levels deep")
        kind = _kind(node, path)
        self.count(path)
        content = node.get("content", [])
        inner = f"{path}.content"
        if kind in ("paragraph", "heading"):
            tag = "p" if kind == "paragraph" else f"h{_level(node, path)}"
            rendered = f"<{tag}>{self.inlines(content, inner)}</{tag}>"
            self.text_parts.append("\n")
            return rendered
        if kind in ("blockquote", "list_item"):
            return f"<{BLOCK_TAGS[kind]}>{self.blocks(content, inner, depth + 1)}</{BLOCK_TAGS[kind]}>"
        if kind in ("bullet_list", "ordered_list"):
            if not isinstance(content, list) or any(_kind(item, f"{inner}[{i}]") != "list_item"
                                                    for i, item in enumerate(content)):
                raise DocumentError(path, "A list holds list items only")
            start = ""
            if kind == "ordered_list":
                value = (node.get("attrs") or {}).get("start", 1)
                if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 1_000_000:
                    raise DocumentError(path, "`attrs.start` must be a whole number from 0 to 1,000,000")
                start = f' start="{value}"' if value != 1 else ""
            return f"<{BLOCK_TAGS[kind]}{start}>{self.blocks(content, inner, depth + 1)}</{BLOCK_TAGS[kind]}>"
        if kind == "code_block":
            if not isinstance(content, list):
                raise DocumentError(path, "`content` must be a list of nodes")
            texts = []
            for i, child in enumerate(content):
                if _kind(child, f"{inner}[{i}]") != "text":
                    raise DocumentError(f"{inner}[{i}]", "A code block holds text only")
                self.count(f"{inner}[{i}]")
                texts.append(self.text_of(child, f"{inner}[{i}]"))
            self.text_parts.append("\n")
            return f"<pre><code>{html.escape(''.join(texts), quote=False)}</code></pre>"
        if kind == "horizontal_rule":
            return "<hr>"
        if kind == "image":
            return self.image(node, path)
        if kind == "paywall":
            raise DocumentError(path, "The paywall marker goes at the top level only")
        raise DocumentError(path, f"Unknown node type {kind!r}")

    def image(self, node: dict[str, Any], path: str) -> str:
        attrs = node.get("attrs") or {}
        key = attrs.get("key")
        if not isinstance(key, str) or not key.startswith(self.image_prefix) or not re.fullmatch(
                r"[A-Za-z0-9/._-]{1,400}", key) or ".." in key:
            raise DocumentError(path, "`attrs.key` must be an image uploaded for this article "
                                "(createArticleImageUpload)")
        alt, title = attrs.get("alt") or "", attrs.get("title")
        if not isinstance(alt, str) or len(alt) > MAX_ALT or (title is not None and (
                not isinstance(title, str) or len(title) > MAX_ALT)):
            raise DocumentError(path, f"`attrs.alt` and `attrs.title` are text of at most {MAX_ALT} characters")
        self.images.append(key)
        titled = f' title="{html.escape(title)}"' if title else ""
        return f'<img src="{IMAGE_SCHEME}:{key}" alt="{html.escape(alt)}"{titled}>'

    def inlines(self, nodes: Any, path: str) -> str:
        if not isinstance(nodes, list):
            raise DocumentError(path, "`content` must be a list of nodes")
        out = []
        for i, node in enumerate(nodes):
            where = f"{path}[{i}]"
            kind = _kind(node, where)
            self.count(where)
            if kind == "hard_break":
                out.append("<br>")
                self.text_parts.append("\n")
            elif kind == "text":
                out.append(self.marked(node, where))
            else:
                raise DocumentError(where, f"A paragraph or heading holds text and hard breaks, not {kind!r}")
        return "".join(out)

    def text_of(self, node: dict[str, Any], path: str) -> str:
        text = node.get("text")
        if not isinstance(text, str) or not text:
            raise DocumentError(path, "A text node needs a non-empty `text`")
        if "\x00" in text:
            raise DocumentError(path, "Text cannot contain NUL characters")
        self.text_length += len(text)
        if self.text_length > MAX_TEXT:
            raise DocumentError(path, f"The document has more than {MAX_TEXT} characters of text")
        self.text_parts.append(text)
        return text

    def marked(self, node: dict[str, Any], path: str) -> str:
        rendered = html.escape(self.text_of(node, path), quote=False)
        marks = node.get("marks") or []
        if not isinstance(marks, list) or len(marks) > 5:
            raise DocumentError(path, "`marks` must be a list of at most 5 marks")
        for i, mark in enumerate(marks):
            kind = _kind(mark, f"{path}.marks[{i}]")
            if kind in MARK_TAGS:
                rendered = f"<{MARK_TAGS[kind]}>{rendered}</{MARK_TAGS[kind]}>"
            elif kind == "link":
                href = (mark.get("attrs") or {}).get("href")
                rendered = f'<a href="{html.escape(_link(href, f"{path}.marks[{i}]"))}">{rendered}</a>'
            else:
                raise DocumentError(f"{path}.marks[{i}]", f"Unknown mark {kind!r}")
        return rendered


def _kind(node: Any, path: str) -> str:
    if not isinstance(node, dict) or not isinstance(node.get("type"), str):
        raise DocumentError(path, "Every node is an object with a `type`")
    return ALIASES.get(node["type"], node["type"])


def _level(node: dict[str, Any], path: str) -> int:
    level = (node.get("attrs") or {}).get("level", 1)
    if not isinstance(level, int) or isinstance(level, bool) or not 1 <= level <= 4:
        raise DocumentError(path, "`attrs.level` of a heading is 1 to 4")
    return level


def _link(href: Any, path: str) -> str:
    if not isinstance(href, str) or len(href) > 2000 or any(ord(c) < 33 or c == "\x7f" for c in href):
        raise DocumentError(path, "A link needs an `attrs.href` of at most 2,000 characters without spaces")
    scheme = urlsplit(href).scheme.lower()
    if scheme not in LINK_SCHEMES:
        raise DocumentError(path, "A link must go to an http, https or mailto address")
    return href


def sanitize(fragment: str) -> str:
    """nh3 with exactly what the renderer writes: the second guard."""
    return nh3.clean(fragment, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES,
                     url_schemes=LINK_SCHEMES | {IMAGE_SCHEME}, link_rel="nofollow noopener noreferrer",
                     strip_comments=True)


def render(document: Any, image_prefix: str) -> Rendered:
    """Check ``document`` and render it (DocumentError when refused). ``image_prefix``: the storage prefix of
    this article's image uploads."""
    try:
        size = len(orjson.dumps(document))
    except (TypeError, orjson.JSONEncodeError) as error:
        raise DocumentError("", "The body must be a JSON document") from error
    if size > MAX_BYTES:
        raise DocumentError("", f"The document is larger than {MAX_BYTES // 1024} KB")
    if not isinstance(document, dict) or _kind(document, "") != "doc":
        raise DocumentError("", 'The body is a ProseMirror document: {"type": "doc", "content": [...]}')
    top = document.get("content", [])
    if not isinstance(top, list):
        raise DocumentError("content", "`content` must be a list of nodes")
    walls = [i for i, node in enumerate(top) if isinstance(node, dict) and ALIASES.get(
        node.get("type"), node.get("type")) == "paywall"]
    if len(walls) > 1:
        raise DocumentError(f"content[{walls[1]}]", "At most one paywall marker")
    renderer = _Renderer(image_prefix)
    parts = []
    for i, node in enumerate(top):
        if walls and i == walls[0]:
            renderer.count(f"content[{i}]")
            parts.append("")
            continue
        parts.append(renderer.block(node, f"content[{i}]", 1))
    body = sanitize("".join(parts))
    text = re.sub(r"[ \t]*\n[\s]*", "\n", "".join(renderer.text_parts)).strip()
    words = text.split()
    if walls:
        excerpt = sanitize("".join(parts[:walls[0]]))
    else:
        shown = words[:EXCERPT_WORDS]
        excerpt = f"<p>{html.escape(' '.join(shown), quote=False)}{'…' if len(words) > EXCERPT_WORDS else ''}</p>" \
            if shown else ""
    return Rendered(document=document, html=body, excerpt_html=excerpt, text=text, word_count=len(words),
                    image_keys=list(dict.fromkeys(renderer.images)))


def image_keys_in(fragment: str) -> list[str]:
    return list(dict.fromkeys(IMAGE_SOURCE.findall(fragment)))


def with_image_urls(fragment: str, urls: dict[str, str]) -> str:
    """The stored HTML with each ``codex-image:KEY`` replaced by its signed URL (an unknown key: removed)."""
    return IMAGE_SOURCE.sub(lambda m: f'src="{html.escape(urls.get(m.group(1), ""))}"', fragment)
