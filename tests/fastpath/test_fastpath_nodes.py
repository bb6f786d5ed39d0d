"""`node(id:)` and `nodes(ids:)` in the compiled path: for every declared node type, with fragments on the
Node interface, on the concrete type and on other types, both executors answer alike for every kind of
viewer (invisible, unknown and malformed ids included), compiled without any fallback; ids of types the
compiled path does not declare are answered by the resolvers; `nodes` reads each type with one statement
whatever the number of ids, and refuses more than 100 ids."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from codex_graphql.fastpath import nodes
from codex_graphql.fastpath.nodes import NodeRoot, NodesRoot
from codex_graphql.fastpath.selection import NotCompilable
from codex_graphql.relay import to_global_id
from tests.fastpath import test_fastpath_equivalence as equivalence
from tests.fastpath.test_fastpath_equivalence import fast_path, unsigned, viewers
from tests.support import bare, statements

world = equivalence.world  # fixtures shared with the equivalence tests
resolvers_only = equivalence.resolvers_only

VARIED = Path(__file__).resolve().parents[2] / "benchmarks" / "operations" / "varied"
NODE_FRAGMENTS = (VARIED / "node_fragments.graphql").read_text()
STOREFRONT_FEATURED = (VARIED / "storefront_featured.graphql").read_text()

EVERY_TYPE = """
fragment Key on Node { __typename id }
fragment Item on Content { title status priceCents viewerHasAccess thumbnailUrl tags
  creator { ... on Node { id } name __typename } }
fragment Shop on Organization { slug name createdAt }
fragment Bought on Purchase { purchaseStatus: status amountCents currency contentTitle createdAt receiptUrl
  content { id title viewerHasAccess } organization { ...Key slug } }
"""
NODE = """query N($id: ID!) { node(id: $id) { ...Key ...Item ...Shop ...Bought
  ... on Review { rating } ... on Node { id } } }""" + EVERY_TYPE
NODE_INLINE = """query I($id: ID!) { thing: node(id: $id) { id ... on Content { __typename t: title kind }
  ... on Organization { name } ... on Purchase { purchaseKind: kind } ... on OrganizationMember { role } } }"""
NODES = """query M($ids: [ID!]!) { nodes(ids: $ids) { ...Key ...Item ...Shop ...Bought
  ... on PendingGrant { email } } }""" + EVERY_TYPE


def unwrapped(root: Any) -> Any:
    """The root inside a GraftedRoot (fastpath.grafts), or the root itself."""
    return getattr(root, "root", root)


def fallbacks(app: Any, reason: str) -> float:
    registry = app.state.runtime["graphql"].metrics.registry
    return registry.get_sample_value("codex_fastpath_fallback_total", {"reason": reason}) or 0.0


def fallback_total(app: Any) -> float:
    registry = app.state.runtime["graphql"].metrics.registry
    return sum(sample.value for metric in registry.collect() if metric.name == "codex_fastpath_fallback"
               for sample in metric.samples if sample.name == "codex_fastpath_fallback_total")


async def same(app: Any, gql: Any, reference: Any, document: str, variables: dict[str, Any], token: str | None,
               *, compiled: bool = True) -> dict[str, Any]:
    """Both executors' answers, equal; ``compiled``: the fast one counted no fallback."""
    before = fallback_total(app)
    fast = await gql.raw(document, variables, token)
    after = fallback_total(app)
    slow = await reference.raw(document, variables, token)
    assert fast.status_code == slow.status_code == 200
    storage = app.state.runtime["services"].storage
    fast_body, slow_body = fast.json(), slow.json()
    assert unsigned(bare(fast_body), storage) == unsigned(bare(slow_body), storage), (document, variables)
    assert fast_body["extensions"]["cost"]["requestedQueryCost"] == slow_body["extensions"]["cost"]["requestedQueryCost"]
    if compiled:
        assert after == before, ("fell back", document, variables)
    return fast_body


async def ids_of(admin_db: Any, world: dict[str, Any]) -> dict[str, str]:
    """Global ids by label: items (bought, not bought, unlisted, unpublished, deleted, another shop's),
    both shops, purchases (in the shop, refunded, elsewhere), and ids nobody can see or decode."""
    async def content(title: str, org: Any = world["org"]) -> str:
        found = await admin_db.fetchval("select id from content where title = $1 and organization_id = $2", title, org)
        return to_global_id("Content", found)

    async def purchase(title: str) -> str:
        return to_global_id("Purchase", await admin_db.fetchval("select id from purchase where content_title = $1", title))

    other_org = await admin_db.fetchval("select id from organization where slug = 'elsewhere'")
    return {
        "bought": await content("Item 0"), "not_bought": await content("Item 13"), "unlisted": await content("Item 20"),
        "unpublished": await content("Item 21"), "deleted": await content("Item 22"),
        "elsewhere": await content("Item 1", other_org),
        "shop": to_global_id("Organization", world["org"]), "other_shop": to_global_id("Organization", other_org),
        "purchase": await purchase("Bought 0"), "refunded": await purchase("Bought 2"),
        "purchase_elsewhere": await purchase("Bought 20"),
        "no_such_item": to_global_id("Content", uuid.uuid4()), "no_such_shop": to_global_id("Organization", uuid.uuid4()),
        "no_such_purchase": to_global_id("Purchase", uuid.uuid4()), "malformed": "not-an-id",
        "wrong_uuid": to_global_id("Content", "x"),
    }


async def test_node_matches_the_resolvers_for_every_type_and_viewer_without_fallback(app, gql, resolvers_only,
                                                                                  world, admin_db):
    fast = fast_path(app)
    for document in (NODE, NODE_INLINE, NODE_FRAGMENTS):
        plan = fast.plan(document, None)
        assert plan is not None and isinstance(unwrapped(plan.slots[0].root), NodeRoot)
    assert set(unwrapped(fast.plan(NODE, None).slots[0].root).plans) == {"Content", "Organization", "Purchase",
                                                                           "Category", "SubscriptionTier"}
    ids = await ids_of(admin_db, world)
    answered: dict[tuple[str, str], Any] = {}
    for who, token in viewers(world).items():
        for label, global_id in ids.items():
            for document in (NODE, NODE_INLINE, NODE_FRAGMENTS):
                body = await same(app, gql, resolvers_only, document, {"id": global_id}, token)
                assert "errors" not in body
                if document is NODE:
                    answered[(who, label)] = body["data"]["node"]
    # Equal is not enough: the visibility rules themselves.
    assert answered[("anonymous", "bought")]["title"] == "Item 0"
    assert answered[("anonymous", "bought")]["viewerHasAccess"] is False
    assert answered[("customer", "bought")]["viewerHasAccess"] is True
    assert answered[("customer", "deleted")]["title"] == "Item 22"  # the buyer keeps what they bought
    assert answered[("anonymous", "deleted")] is None and answered[("anonymous", "unpublished")] is None
    assert answered[("owner", "unpublished")]["status"] == "READY"
    assert answered[("other_org_owner", "unpublished")] is None
    assert answered[("anonymous", "shop")]["__typename"] == "Organization"
    assert answered[("anonymous", "shop")]["slug"] == "shop" and "title" not in answered[("anonymous", "shop")]
    assert answered[("customer", "purchase")]["content"]["title"] == "Item 0"
    assert answered[("owner", "purchase")]["purchaseStatus"] == "COMPLETED"  # staff with PURCHASES_READ
    for who in ("anonymous", "other_org_owner"):
        assert answered[(who, "purchase")] is None and answered[(who, "refunded")] is None
    assert answered[("owner", "purchase_elsewhere")] is None and answered[("customer", "purchase_elsewhere")]
    for label in ("no_such_item", "no_such_shop", "no_such_purchase", "malformed", "wrong_uuid"):
        assert all(answered[(who, label)] is None for who in viewers(world))


async def test_nodes_answer_in_the_ids_order_for_every_viewer_without_fallback(app, gql, resolvers_only, world,
                                                                              admin_db):
    plan = fast_path(app).plan(NODES, None)
    assert plan is not None and isinstance(unwrapped(plan.slots[0].root), NodesRoot)
    ids = await ids_of(admin_db, world)
    labels = list(ids)
    mixes = [labels, list(reversed(labels)), [labels[0], labels[6], labels[0], labels[8], labels[6]], [], ["malformed"]]
    for who, token in viewers(world).items():
        for mix in mixes:
            body = await same(app, gql, resolvers_only, NODES, {"ids": [ids[label] for label in mix]}, token)
            answer = body["data"]["nodes"]
            assert len(answer) == len(mix)
            for label, node in zip(mix, answer, strict=True):
                assert node is None or node["id"] == ids[label]
        # A literal list, and a single literal coerced to a list of one.
        literal = f'{{ nodes(ids: ["{ids["bought"]}", "{ids["shop"]}"]) {{ id ... on Content {{ title }} }} }}'
        assert (await same(app, gql, resolvers_only, literal, {}, token))["data"]["nodes"][1] == {"id": ids["shop"]}
        single = f'{{ nodes(ids: "{ids["bought"]}") {{ id }} }}'
        assert (await same(app, gql, resolvers_only, single, {}, token))["data"]["nodes"] == [{"id": ids["bought"]}]


async def test_ids_of_types_left_to_the_resolvers_are_answered_by_them(app, gql, resolvers_only, world,
                                                                       admin_db):
    ids = await ids_of(admin_db, world)
    member = await admin_db.fetchval("select id from organization_membership where user_id = $1",
                                     world["creator"].user_id)
    member_id = to_global_id("OrganizationMember", member)
    # No node resolver for users, none for unknown types: the resolvers' null. A member: its own resolver.
    others = {"user": to_global_id("User", world["customer"].user_id), "unknown": to_global_id("Nope", uuid.uuid4()),
              "member": member_id}
    for who, token in viewers(world).items():
        for global_id in others.values():
            await same(app, gql, resolvers_only, NODE_INLINE, {"id": global_id}, token, compiled=False)
            body = await same(app, gql, resolvers_only, NODES, {"ids": [ids["bought"], global_id, ids["shop"]]},
                              token, compiled=False)
            assert body["data"]["nodes"][0]["title"] == "Item 0"
        member_answer = (await same(app, gql, resolvers_only, NODE_INLINE, {"id": member_id}, token,
                                    compiled=False))["data"]["thing"]
        assert (member_answer is not None) == (who in ("owner", "creator")), who


async def test_ids_of_a_type_whose_selection_did_not_compile_go_to_the_resolvers(app, gql, resolvers_only, world,
                                                                                admin_db, monkeypatch):
    """The other types' ids stay compiled; the resolvers answer that type's (their errors placed as usual)."""
    def refuse(field: Any, fragments: Any, *, many: bool) -> Any:
        raise NotCompilable("Content.notHere")

    monkeypatch.setitem(nodes.NODE_TYPES, "Content", refuse)
    ids = await ids_of(admin_db, world)
    document = "query G($id: ID!) { node(id: $id) { id ... on Content { title } ... on Organization { name } } }"
    plan = fast_path(app).plan(document, None)
    assert plan is not None and unwrapped(plan.slots[0].root).refused == {"Content": "Content.notHere"}
    for token in viewers(world).values():
        await same(app, gql, resolvers_only, document, {"id": ids["shop"]}, token)
        await same(app, gql, resolvers_only, document, {"id": ids["malformed"]}, token)
        before = fallbacks(app, "Content.notHere")
        body = await same(app, gql, resolvers_only, document, {"id": ids["bought"]}, token, compiled=False)
        assert body["data"]["node"]["title"] == "Item 0" and fallbacks(app, "Content.notHere") == before + 1
        listed = await same(app, gql, resolvers_only, document.replace("node(id: $id)", "nodes(ids: [$id, $id])"),
                            {"id": ids["bought"]}, token, compiled=False)
        assert [node["title"] for node in listed["data"]["nodes"]] == ["Item 0", "Item 0"]
    # No declared type compiles the selection: the root itself is left to the resolvers, at plan time.
    monkeypatch.setattr(nodes, "NODE_TYPES", {"Content": refuse})
    assert fast_path(app).plan("{ node(id: \"x\") { id } }", None) is None


async def test_nodes_refuses_more_than_100_ids_and_costs_one_statement_per_type(app, gql, resolvers_only, world,
                                                                               admin_db):
    ids = await ids_of(admin_db, world)
    token = world["owner"].token
    too_many = [ids["bought"]] * 101
    for client in (gql, resolvers_only):
        body = await client(NODES, {"ids": too_many}, token)
        assert body["data"] is None and body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        assert body["errors"][0]["path"] == ["nodes"]
    await same(app, gql, resolvers_only, NODES, {"ids": too_many}, token, compiled=False)
    hundred = await same(app, gql, resolvers_only, NODES, {"ids": [ids["bought"]] * 100}, token)
    assert len(hundred["data"]["nodes"]) == 100

    contents = [to_global_id("Content", row["id"]) for row in await admin_db.fetch("select id from content")]
    purchases = [to_global_id("Purchase", row["id"]) for row in await admin_db.fetch("select id from purchase")]
    few = [contents[0], ids["shop"], purchases[0]]
    many = [*contents, ids["shop"], ids["other_shop"], *purchases]
    assert len(many) > 30
    await gql.ok(NODES, {"ids": few}, token)  # warm: the viewer's session and the connection's scope
    counts = []
    for batch in (few, many):
        async with statements(app) as seen:
            data = await gql.ok(NODES, {"ids": batch}, token)
        assert sum(node is not None for node in data["nodes"]) >= len(batch) // 2  # the owner sees the shop's
        counts.append(len(seen))
    assert counts == [3, 3], counts  # one statement per type present, whatever the number of ids
    async with statements(app) as seen:
        await gql.ok(NODE, {"id": ids["bought"]}, token)
    assert len(seen) == 1, seen


async def test_the_benchmark_node_documents_compile_and_match_the_resolvers(app, gql, resolvers_only, world,
                                                                           admin_db):
    fast = fast_path(app)
    for document in (NODE_FRAGMENTS, STOREFRONT_FEATURED):
        plan = fast.plan(document, None)
        assert plan is not None and all(slot.root is not None for slot in plan.slots), document
    ids = await ids_of(admin_db, world)
    for who, token in viewers(world).items():
        for label in ("bought", "not_bought", "unpublished", "shop", "malformed"):
            await same(app, gql, resolvers_only, NODE_FRAGMENTS, {"id": ids[label]}, token)
            body = await same(app, gql, resolvers_only, STOREFRONT_FEATURED,
                              {"slug": "shop", "featured": ids[label], "first": 4}, token)
            assert len(body["data"]["organization"]["contents"]["edges"]) == 4
    featured = (await gql.ok(STOREFRONT_FEATURED, {"slug": "shop", "featured": ids["bought"]},
                             world["customer"].token))["featured"]
    assert featured["title"] == "Item 0" and featured["viewerHasAccess"] is True
    token = world["customer"].token
    async with statements(app) as seen:
        await gql.ok(STOREFRONT_FEATURED, {"slug": "shop", "featured": ids["bought"]}, token)
    assert len(seen) == 2, seen  # the featured item and the storefront, one statement each


async def test_a_played_node_records_the_view_like_content(app, gql, resolvers_only, world, admin_db):
    """`node` on an item reads its page like `content(id:)`: playback signed and the view recorded in the
    same statement, or the resolvers' FORBIDDEN when it may not be played."""
    document = """query P($id: ID!) { node(id: $id) { id ... on Content { title playbackPosition
      playback { url expiresAt } } } }"""
    ids = await ids_of(admin_db, world)
    token = world["customer"].token
    await same(app, gql, resolvers_only, document, {"id": ids["bought"]}, token)
    assert await admin_db.fetchval("select count(*) from content_view where user_id = $1",
                                   world["customer"].user_id) == 1  # both plays in the same hour: one view
    refused = await same(app, gql, resolvers_only, document, {"id": ids["not_bought"]}, token, compiled=False)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    # Playback is an item page's field: in a list of ids the resolvers answer it.
    listed = document.replace("node(id: $id)", "nodes(ids: [$id])")
    await same(app, gql, resolvers_only, listed, {"id": ids["bought"]}, token, compiled=False)
