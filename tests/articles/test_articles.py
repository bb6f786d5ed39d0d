"""Articles (issue 16 item 1): created READY with a ProseMirror body, published, sold and granted like media;
`body` only for viewers with access, `excerpt` for everyone; refused documents change nothing; images uploaded
through the storage protocol and signed per reader; answers equal in both execution paths."""

from __future__ import annotations

from typing import Any

import httpx

from codex_graphql.app import create_app
from codex_graphql.authz import OrgRole
from codex_graphql.relay import decode_id, to_global_id
from tests.support import GraphQLClient, assert_authz_matrix, make_actors
from tests.support import commerce as commerce_support
from tests.support.commerce import WEBHOOK_SECRET
from tests.support.content import PUBLISH

shop = commerce_support.shop

CREATE = """mutation($input: CreateArticleInput!) { createArticle(input: $input) {
  errors { code field message } content { id kind status title priceCents wordCount readingTimeMinutes } } }"""
UPDATE = """mutation($input: UpdateContentInput!) { updateContent(input: $input) {
  errors { code field message } content { id body excerpt wordCount } } }"""
IMAGE = """mutation($input: CreateArticleImageUploadInput!) { createArticleImageUpload(input: $input) {
  errors { code field message } upload { key url headers { name value } expiresAt } } }"""
COMPLETE = """mutation($input: CompleteArticleImageUploadInput!) { completeArticleImageUpload(input: $input) {
  errors { code field message } key } }"""
READ = """query($id: ID!) { content(id: $id) { kind title viewerHasAccess excerpt body wordCount
  readingTimeMinutes playback { url } } }"""
STAFF_READ = "query($id: ID!) { content(id: $id) { bodyDocument } }"
GRANT = """mutation($input: GrantContentAccessInput!) { grantContentAccess(input: $input) { errors { code } } }"""


def text(value: str, *marks: dict[str, Any]) -> dict[str, Any]:
    node: dict[str, Any] = {"type": "text", "text": value}
    if marks:
        node["marks"] = list(marks)
    return node


def paragraph(*inline: dict[str, Any]) -> dict[str, Any]:
    return {"type": "paragraph", "content": list(inline)}


def doc(*blocks: dict[str, Any]) -> dict[str, Any]:
    return {"type": "doc", "content": list(blocks)}


ESSAY = doc(
    {"type": "heading", "attrs": {"level": 2}, "content": [text("Breathing")]},
    paragraph(text("Free to read: the first part.")),
    {"type": "paywall"},
    paragraph(text("Only for readers with access, "), text("bold", {"type": "bold"}), text(" and a "),
              text("link", {"type": "link", "attrs": {"href": "https://example.org/a?b=1"}})),
    {"type": "bulletList", "content": [{"type": "listItem", "content": [paragraph(text("one"))]}]},
)


async def _article(gql: Any, token: str, body: dict[str, Any] = ESSAY, **fields: Any) -> dict[str, Any]:
    result = (await gql.ok(CREATE, {"input": {"title": "Breathing", "body": body, "priceCents": 900, **fields}},
                           token))["createArticle"]
    assert result["errors"] == [], result
    return result["content"]


async def _published(gql: Any, token: str, **fields: Any) -> str:
    created = await _article(gql, token, **fields)
    published = (await gql.ok(PUBLISH, {"id": created["id"]}, token))["publishContent"]
    assert published["errors"] == [], published
    return created["id"]


async def test_an_article_is_sold_like_media_and_its_body_follows_access(shop, admin_db):
    created = await _article(shop.gql, shop.owner.token)
    assert (created["kind"], created["status"], created["priceCents"]) == ("ARTICLE", "READY", 900)
    assert created["wordCount"] == 17 and created["readingTimeMinutes"] == 1
    await shop.gql.ok(PUBLISH, {"id": created["id"]}, shop.owner.token)
    article = created["id"]

    reader = await shop.factory.user(name="Rita")
    for token in (None, reader.token):
        seen = (await shop.gql.ok(READ, {"id": article}, token))["content"]
        assert seen["viewerHasAccess"] is False and seen["body"] is None and seen["playback"] is None
        assert seen["excerpt"] == "<h2>Breathing</h2><p>Free to read: the first part.</p>"
    assert await admin_db.fetchval("select count(*) from content_view") == 0

    await shop.buy(reader, article)  # the purchase path of any item: checkout, webhook, entitlement
    seen = (await shop.gql.ok(READ, {"id": article}, reader.token))["content"]
    assert seen["viewerHasAccess"] is True and seen["playback"] is None  # no media
    assert seen["body"] == (
        "<h2>Breathing</h2><p>Free to read: the first part.</p><p>Only for readers with access, <strong>bold</strong>"
        ' and a <a href="https://example.org/a?b=1" rel="nofollow noopener noreferrer">link</a></p>'
        "<ul><li><p>one</p></li></ul>")
    assert await admin_db.fetchval("select count(*) from content_view") == 1  # the body counts a view
    assert await admin_db.fetchval("select size_bytes from content where kind = 'ARTICLE'") == len(seen["body"])

    staff = (await shop.gql.ok(STAFF_READ, {"id": article}, shop.owner.token))["content"]
    assert staff["bodyDocument"]["content"][0]["type"] == "heading"


async def test_a_grant_opens_the_body_and_an_excerpt_without_a_paywall_is_the_first_words(shop):
    words = " ".join(f"w{i}" for i in range(80))
    article = await _published(shop.gql, shop.owner.token, body=doc(paragraph(text(words))), priceCents=500)
    reader = await shop.factory.user(name="Gus")
    seen = (await shop.gql.ok(READ, {"id": article}, reader.token))["content"]
    assert seen["excerpt"] == "<p>" + " ".join(f"w{i}" for i in range(60)) + "…</p>" and seen["body"] is None
    granted = await shop.gql.ok(GRANT, {"input": {"contentId": article, "userId": to_global_id("User", reader.user_id)}}, shop.owner.token)
    assert granted["grantContentAccess"]["errors"] == []
    assert (await shop.gql.ok(READ, {"id": article}, reader.token))["content"]["body"] == f"<p>{words}</p>"


async def test_the_body_is_edited_through_update_content_and_never_on_media(shop, admin_db):
    article = await _article(shop.gql, shop.owner.token)
    changed = (await shop.gql.ok(UPDATE, {"input": {"contentId": article["id"], "body": doc(paragraph(text("New.")))}},
                                 shop.owner.token))["updateContent"]
    assert changed["errors"] == [] and changed["content"]["body"] == "<p>New.</p>"
    assert changed["content"]["wordCount"] == 1
    refused = (await shop.gql(UPDATE, {"input": {"contentId": shop.paid, "body": doc(paragraph(text("x")))}},
                              shop.owner.token))["data"]["updateContent"]
    assert [(e["code"], e["field"]) for e in refused["errors"]] == [("INVALID_STATE", ["input", "body"])]
    assert await admin_db.fetchval("select count(*) from article_body") == 1


XSS_TEXT = ['<script>alert(1)</script>', '"><img src=x onerror=alert(1)>', "<svg/onload=alert(1)>",
            "javascript:alert(1)", "<a href=\"javascript:alert(1)\">x</a>", "<iframe src=//evil>", "&lt;script&gt;",
            "<style>*{}</style>", "<!--<script>-->", "\u202e<script>"]
XSS_LINKS = ["javascript:alert(1)", "JaVaScRiPt:alert(1)", " javascript:alert(1)", "java\tscript:alert(1)",
             "data:text/html,<script>alert(1)</script>", "vbscript:msgbox(1)", "//evil.example", "/relative",
             "https://ok.example/\u0000", "file:///etc/passwd"]


def _unsafe(html_text: str) -> list[str]:
    """What an allow-list check finds in rendered HTML: any tag outside the renderer's, any on* attribute, any
    URL that is not http(s), mailto or a signed image."""
    from html.parser import HTMLParser

    from codex_graphql.articles.document import ALLOWED_TAGS

    found: list[str] = []

    class Check(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            if tag not in ALLOWED_TAGS:
                found.append(tag)
            for name, value in attrs:
                if name.startswith("on") or (name in ("href", "src") and not (value or "").startswith(
                        ("https://", "http://", "mailto:", "http://testserver/"))):
                    found.append(f"{tag}[{name}={value}]")

    Check().feed(html_text)
    return found


async def test_an_xss_corpus_never_survives(shop, admin_db):
    blocks = [paragraph(text(payload)) for payload in XSS_TEXT]
    blocks.append({"type": "codeBlock", "content": [text(payload) for payload in XSS_TEXT]})
    blocks.append({"type": "heading", "attrs": {"level": 1}, "content": [text(XSS_TEXT[1], {"type": "italic"})]})
    article = await _published(shop.gql, shop.owner.token, body=doc(*blocks))
    body = (await shop.gql.ok(READ, {"id": article}, shop.owner.token))["content"]["body"]
    assert _unsafe(body) == [] and "<script" not in body.lower() and "<svg" not in body.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body  # the payloads are there, as text
    before = await admin_db.fetchval("select count(*) from content")
    for href in XSS_LINKS:
        result = (await shop.gql(CREATE, {"input": {"title": "x", "body": doc(paragraph(
            text("click", {"type": "link", "attrs": {"href": href}})))}}, shop.owner.token))["data"]["createArticle"]
        assert [(e["code"], e["field"]) for e in result["errors"]] == [("INVALID_INPUT", ["input", "body"])], href
        assert "content[0].content[0].marks[0]" in result["errors"][0]["message"]
    assert await admin_db.fetchval("select count(*) from content") == before


async def test_refused_documents_change_nothing(shop, admin_db):
    deep: dict[str, Any] = paragraph(text("x"))
    for _ in range(20):
        deep = {"type": "blockquote", "content": [deep]}
    huge = doc(*[paragraph(text("x" * 1000)) for _ in range(600)])
    refused = {
        "unknown node": doc({"type": "script", "content": []}),
        "not a doc": {"type": "paragraph"},
        "a list as body": [1, 2],
        "heading level": doc({"type": "heading", "attrs": {"level": 9}, "content": [text("x")]}),
        "two paywalls": doc({"type": "paywall"}, {"type": "paywall"}),
        "nested paywall": doc({"type": "blockquote", "content": [{"type": "paywall"}]}),
        "unknown mark": doc(paragraph(text("x", {"type": "onclick"}))),
        "empty text": doc(paragraph({"type": "text", "text": ""})),
        "foreign image": doc({"type": "image", "attrs": {"key": "orgs/other/content/x/images/a.png"}}),
        "image traversal": doc({"type": "image", "attrs": {"key": "../../etc/passwd"}}),
        "too deep": doc(deep),
        "too large": huge,
        "list of text": doc({"type": "bulletList", "content": [text("x")]}),
    }
    before = await admin_db.fetchval("select count(*) from content")
    for name, body in refused.items():
        answer = await shop.gql(CREATE, {"input": {"title": "x", "body": body}}, shop.owner.token)
        assert "errors" not in answer, (name, answer)
        errors = answer["data"]["createArticle"]["errors"]
        assert [(e["code"], e["field"]) for e in errors] == [("INVALID_INPUT", ["input", "body"])], (name, errors)
    assert await admin_db.fetchval("select count(*) from content") == before
    assert await admin_db.fetchval("select count(*) from article_body") == 0
    media = await shop.gql(
        """mutation { createContent(input: {kind: ARTICLE, title: "x", filename: "a.html", mimeType: "text/html",
        sizeBytes: 10}) { errors { code field } } }""", {}, shop.owner.token)
    assert media["data"]["createContent"]["errors"] == [{"code": "INVALID_INPUT", "field": ["input", "kind"]}]


async def test_images_are_uploaded_through_storage_and_signed_for_each_reader(shop):
    article = await _article(shop.gql, shop.owner.token)
    upload = (await shop.gql.ok(IMAGE, {"input": {"contentId": article["id"], "contentType": "image/png",
                                                  "sizeBytes": 8}}, shop.owner.token))["createArticleImageUpload"]
    assert upload["errors"] == []
    put = await shop.http.put(upload["upload"]["url"], content=b"\x89PNG\r\n\x1a\n",
                              headers={h["name"]: h["value"] for h in upload["upload"]["headers"]})
    assert put.status_code in (200, 201, 204), put.text
    key = upload["upload"]["key"]
    for _ in range(2):  # safe to repeat
        completed = (await shop.gql.ok(COMPLETE, {"input": {"contentId": article["id"], "key": key}},
                                       shop.owner.token))["completeArticleImageUpload"]
        assert completed == {"errors": [], "key": key}
    body = doc(paragraph(text("Look:")), {"type": "image", "attrs": {"key": key, "alt": 'a "cat"'}})
    changed = (await shop.gql.ok(UPDATE, {"input": {"contentId": article["id"], "body": body}},
                                 shop.owner.token))["updateContent"]
    assert changed["errors"] == []
    html_body = changed["content"]["body"]
    assert 'alt="a &quot;cat&quot;"' in html_body and "codex-image:" not in html_body
    src = html_body.split('src="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    got = await shop.http.get(src)
    assert got.status_code == 200 and got.content == b"\x89PNG\r\n\x1a\n"
    for content_type, size, field in (("text/html", 8, "contentType"), ("image/png", 0, "sizeBytes"),
                                      ("image/png", 11 * 2**20, "sizeBytes")):
        refused = (await shop.gql(IMAGE, {"input": {"contentId": article["id"], "contentType": content_type,
                                                    "sizeBytes": size}}, shop.owner.token))["data"]
        errors = refused["createArticleImageUpload"]["errors"]
        assert [(e["code"], e["field"]) for e in errors] == [("INVALID_INPUT", ["input", field])]
    media = (await shop.gql(IMAGE, {"input": {"contentId": shop.paid, "contentType": "image/png", "sizeBytes": 8}},
                            shop.owner.token))["data"]["createArticleImageUpload"]
    assert [e["code"] for e in media["errors"]] == ["INVALID_STATE"]
    # A disguised file is refused and deleted; a key of another article or nothing uploaded is refused too.
    fake = (await shop.gql.ok(IMAGE, {"input": {"contentId": article["id"], "contentType": "image/png",
                                                "sizeBytes": 20}}, shop.owner.token))["createArticleImageUpload"]
    await shop.http.put(fake["upload"]["url"], content=b"<script>alert(1)</script>"[:20],
                        headers={h["name"]: h["value"] for h in fake["upload"]["headers"]})
    for wrong, code in ((fake["upload"]["key"], "INVALID_INPUT"), (fake["upload"]["key"], "INVALID_STATE"),
                        (key.replace("/images/", "/other/"), "NOT_FOUND")):
        answer = (await shop.gql(COMPLETE, {"input": {"contentId": article["id"], "key": wrong}},
                                 shop.owner.token))["data"]["completeArticleImageUpload"]
        assert [e["code"] for e in answer["errors"]] == [code], (wrong, answer)


async def test_article_mutations_and_fields_by_every_caller(factory, db, gql, admin_db):
    actors = await make_actors(factory, without_role=OrgRole.MEMBER)  # MEMBER: no CONTENT_CREATE
    count = lambda: admin_db.fetchval("select count(*) from content")  # noqa: E731
    variables = {"input": {"title": "Matrix", "body": doc(paragraph(text("secret words"))), "priceCents": 300}}
    results = await assert_authz_matrix(gql, actors, CREATE, variables, path=["createArticle"],
                                        allowed={"staff_with_permission", "other_org_staff"}, snapshot=count)
    article = results["staff_with_permission"]["data"]["createArticle"]["content"]["id"]
    theirs = results["other_org_staff"]["data"]["createArticle"]["content"]["id"]  # made in their own organization
    assert await admin_db.fetchval("select organization_id from content where id = $1",
                                   decode_id(theirs, "Content")) == actors.other_org
    await gql.ok(PUBLISH, {"id": article}, actors.staff_with.token)
    results = await assert_authz_matrix(gql, actors, STAFF_READ, {"id": article}, path=["content", "bodyDocument"],
                                        allowed={"staff_with_permission", "staff_without_permission"})
    assert "secret" not in str(results["customer"]) and "secret" not in str(results["other_org_staff"])
    for name, token in actors.tokens().items():
        seen = (await gql.ok(READ, {"id": article}, token))["content"]
        staff = name in ("staff_with_permission", "staff_without_permission")  # CONTENT_READ plays every item
        assert (seen["body"] is not None) == staff, name
        assert seen["excerpt"] == "<p>secret words</p>"  # no paywall marker, under 60 words: the excerpt is it all
    upload = {"input": {"contentId": article, "contentType": "image/png", "sizeBytes": 8}}
    for name, token in actors.tokens().items():
        body = await gql(IMAGE, upload, token)
        if name == "staff_with_permission":
            assert body["data"]["createArticleImageUpload"]["errors"] == []
        elif name == "other_org_staff":  # the item is not in their organization
            assert [e["code"] for e in body["data"]["createArticleImageUpload"]["errors"]] == ["NOT_FOUND"]
        else:
            assert {e["extensions"]["code"] for e in body["errors"]} == {
                "UNAUTHENTICATED" if token is None else "FORBIDDEN"} and body["data"] is None, name


async def test_both_execution_paths_answer_alike(shop, settings):
    article = await _published(shop.gql, shop.owner.token)
    reader = await shop.factory.user(name="Ada")
    await shop.buy(reader, article)
    document = """query($id: ID!, $slug: String!) { content(id: $id) { id title kind excerpt body wordCount
      readingTimeMinutes viewerHasAccess playback { url } }
      organization(slug: $slug) { contents(first: 10) { nodes { id kind title excerpt readingTimeMinutes } } } }"""
    variables = {"id": article, "slug": "shop"}
    configured = settings.model_copy(update={
        "payments_provider": "stripe", "stripe_secret_key": "sk_test_codex", "stripe_webhook_secret": WEBHOOK_SECRET,
        "stripe_api_base": shop.stripe.base_url, "fast_path_enabled": False})
    app = create_app(configured)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("198.51.100.11", 5555))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            reference = GraphQLClient(http)
            for token in (None, reader.token, shop.owner.token):
                fast = await shop.gql.ok(document, variables, token)
                slow = await reference.ok(document, variables, token)
                assert fast == slow, token


async def test_a_catalogue_of_articles_compiles_into_one_statement(shop):
    from tests.fastpath.test_fastpath_equivalence import fast_path
    from tests.support import statements

    for number in range(3):
        await _published(shop.gql, shop.owner.token, title=f"Essay {number}")
    document = """query($slug: String!) { organization(slug: $slug) { contents(first: 20) {
      nodes { id kind title excerpt wordCount readingTimeMinutes } } } }"""
    assert fast_path(shop.app).plan(document, None) is not None
    await shop.gql.ok(document, {"slug": "shop"})
    async with statements(shop.app) as seen:
        nodes = (await shop.gql.ok(document, {"slug": "shop"}))["organization"]["contents"]["nodes"]
    assert len(seen) == 1, seen
    essays = [n for n in nodes if n["kind"] == "ARTICLE"]
    assert len(essays) == 3 and all(n["excerpt"].startswith("<h2>Breathing</h2>") for n in essays)
    assert all(n["excerpt"] is None and n["wordCount"] is None for n in nodes if n["kind"] == "VIDEO")
