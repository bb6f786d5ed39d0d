"""The varied benchmark documents (benchmarks/operations/varied/, issue 22 item 7): the raw-SQL server's
twin of each (benchmarks/raw_varied.py) answers exactly as our GraphQL server does on the same seeded
data (ids, order, values and key order, once signed URLs are normalized), for several viewers and
variables, so that the harness's ratios compare like with like."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from benchmarks.compare import normalize
from benchmarks.workload import VARIED, VARIED_BY_KEY, varied_variables
from codex_graphql.relay import to_global_id
from tests.benchmarks.test_bench_equivalence import Bench, bench  # noqa: F401 (the shared fixture)

BRANDING = {"platform_name": "Bench TV", "primary_color": "#3355aa", "logo_key": "orgs/logo/logo.png"}


async def compare(bench: Bench, key: str, variables: dict[str, Any], token: str | None = None,  # noqa: F811
                  headers: dict[str, str] | None = None) -> dict[str, Any]:
    """Both answers to one varied request, normalized; asserts they are equal, key order included."""
    operation = VARIED_BY_KEY[key]
    body = {"query": operation.document, "variables": variables, "operationName": operation.name}
    sent = dict(headers or {})
    if token:
        sent["authorization"] = f"Bearer {token}"
    bench.ours.cookies.clear()
    ours = await bench.ours.post("/graphql", json=body, headers=sent)
    raw = await bench.raw.post(f"/raw/{key}", json=body, headers=sent)
    assert ours.status_code == raw.status_code == 200, (ours.text, raw.text)
    expected, got = normalize(ours, bench.storage), normalize(raw, bench.storage)
    assert got == expected, (key, variables)
    assert orjson.dumps(got) == orjson.dumps(expected), "same values, different key order"
    for error in expected.get("errors", []):
        assert error["extensions"]["code"] != "INTERNAL_SERVER_ERROR", expected
    return expected


def contents(body: dict[str, Any]) -> list[dict[str, Any]]:
    connection = body["data"]["organization"]["contents"]
    return connection["nodes"] if "nodes" in connection else [e["node"] for e in connection["edges"]]


@pytest.fixture
async def branded(bench: Bench) -> Bench:  # noqa: F811
    await bench.admin_db.execute("update organization set settings = settings || $2::jsonb where id = $1",
                                 bench.org, orjson.dumps(BRANDING).decode())
    return bench


async def test_every_varied_document_has_a_raw_twin(branded: Bench) -> None:
    assert set(branded.raw_server.varied) == {op.key for op in VARIED}
    assert len(VARIED) >= 8
    fixture = {"org_slug": branded.slug, "entitled_content_id": branded.gid("Alpha"),
               "dashboard_range": None, "customer_token": branded.customer.token, "owner_token": branded.owner.token}
    for op in VARIED:  # the harness's own variables and tokens
        body = await compare(branded, op.key, varied_variables(op.key, fixture), op.bearer(fixture))
        assert body.get("data") and "errors" not in body, (op.key, body)
    # A raw answer that differs is caught (the comparison can fail).
    raw = (await branded.raw.post("/raw/storefront_branding", json={"variables": {"slug": branded.slug}})).json()
    raw["data"]["organization"]["contents"]["edges"].reverse()
    ours = (await branded.ours.post("/graphql", json={"query": VARIED_BY_KEY["storefront_branding"].document,
                                                      "variables": {"slug": branded.slug}})).json()
    assert normalize(raw, branded.storage) != normalize(ours, branded.storage)


async def test_storefront_with_branding_settings_and_role(branded: Bench) -> None:
    b = branded
    body = await compare(b, "storefront_branding", {"slug": b.slug}, b.customer.token)
    organization = body["data"]["organization"]
    assert organization["viewerRole"] is None and organization["branding"]["platformName"] == "Bench TV"
    assert len(organization["branding"]["palette"]) == 11 and organization["branding"]["logoUrl"]
    assert len(contents(body)) == 8
    for token in (None, b.owner.token, b.creator.token, b.other_owner.token):
        await compare(b, "storefront_branding", {"slug": b.slug, "first": 3}, token)
    plain = await compare(b, "storefront_branding", {"slug": b.other_slug}, b.other_owner.token)
    assert plain["data"]["organization"]["branding"]["palette"] == []
    assert plain["data"]["organization"]["viewerRole"] == "OWNER"
    await compare(b, "storefront_branding", {"slug": "no-such-shop"}, b.customer.token)
    await compare(b, "storefront_branding", {"slug": b.slug, "first": 101}, b.customer.token)

    owner = await compare(b, "storefront_settings", {"slug": b.slug}, b.owner.token)
    assert owner["data"]["organization"]["settings"]["platformName"] == "Bench TV"
    assert "Draft" in {n["title"] for n in contents(owner)}
    for token, headers in ((b.creator.token, None), (b.customer.token, None), (None, None),
                           (b.other_owner.token, {"x-codex-organization": b.slug})):
        refused = await compare(b, "storefront_settings", {"slug": b.slug}, token, headers)
        assert refused["data"]["organization"]["settings"] is None and refused["errors"]
    await compare(b, "storefront_settings", {"slug": b.other_slug, "first": 2}, b.other_owner.token)


async def test_featured_node_filters_directives_and_thumbnails(branded: Bench) -> None:
    b = branded
    for title in ("Alpha", "Beta", "Draft", "Deleted", "Withdrawn", "Elsewhere"):
        for token in (None, b.customer.token, b.owner.token):
            body = await compare(b, "storefront_featured", {"slug": b.slug, "featured": b.gid(title), "first": 4},
                                 token)
    assert body["data"]["featured"]["__typename"] == "Content"
    for featured in ("garbage", to_global_id("User", b.customer.user_id)):
        await compare(b, "storefront_featured", {"slug": b.slug, "featured": featured}, b.customer.token)
    await compare(b, "storefront_featured", {"slug": "no-such-shop", "featured": b.gid("Alpha")}, None)

    audio = await compare(b, "storefront_filtered", {"slug": b.slug, "kind": "AUDIO"}, b.customer.token)
    assert {n["title"] for n in contents(audio)} == {"Beta", "Epsilon"}
    tagged = await compare(b, "storefront_filtered", {"slug": b.slug, "tag": " Short Film ", "compact": True,
                                                      "withCreator": False}, b.customer.token)
    assert [n["title"] for n in contents(tagged)] == ["Alpha"]
    assert set(contents(tagged)[0]) == {"id", "title", "kind", "priceCents", "currency", "thumbnailUrl",
                                        "viewerHasAccess"}
    for variables in ({"kind": "VIDEO", "first": 3}, {"tag": "music"}, {"tag": "none-such"}, {}):
        for token in (None, b.owner.token):
            await compare(b, "storefront_filtered", {"slug": b.slug, **variables}, token)
    bad = await compare(b, "storefront_filtered", {"slug": b.slug, "tag": "no/slashes"}, b.customer.token)
    assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"

    grid = await compare(b, "storefront_thumbnails", {"slug": b.slug}, b.customer.token)
    alpha = next(n for n in contents(grid) if n["title"] == "Alpha")
    assert [t["width"] for t in alpha["thumbnails"]] == [320, 1280]
    await compare(b, "storefront_thumbnails", {"slug": b.slug, "first": 2}, b.owner.token)
    await compare(b, "storefront_thumbnails", {"slug": b.slug, "first": 0}, None)

    body = await compare(b, "typename_everywhere", {"slug": b.slug}, b.customer.token)
    assert body["data"]["organization"]["contents"]["pageInfo"]["__typename"] == "PageInfo"
    await compare(b, "typename_everywhere", {"slug": b.slug, "first": 2}, None)
    await compare(b, "typename_everywhere", {"slug": "no-such-shop"}, None)


async def test_node_library_dashboard_and_mixed_roots(branded: Bench) -> None:
    b = branded
    for title in ("Alpha", "Beta", "Gamma", "Draft", "Deleted", "Withdrawn", "Elsewhere"):
        for token in (None, b.customer.token, b.creator.token):
            await compare(b, "node_fragments", {"id": b.gid(title)}, token)
    node = (await compare(b, "node_fragments", {"id": b.gid("Alpha")}, b.customer.token))["data"]["node"]
    assert node["__typename"] == "Content" and node["creator"]["__typename"] == "User"
    for bad in ("garbage", to_global_id("Content", b.org)):
        assert (await compare(b, "node_fragments", {"id": bad}, b.customer.token))["data"]["node"] is None

    library = await compare(b, "viewer_library", {"first": 20}, b.customer.token)
    assert len(library["data"]["viewer"]["purchases"]["nodes"]) == 6
    await compare(b, "viewer_library", {"first": 2}, b.customer.token)
    await compare(b, "viewer_library", {}, b.creator.token)
    assert await compare(b, "viewer_library", {}, None) == {"data": {"viewer": None}}
    await compare(b, "viewer_library", {"first": 101}, b.customer.token)

    home = await compare(b, "dashboard_home", {"slug": b.slug}, b.owner.token)
    analytics = home["data"]["organization"]["analytics"]
    assert home["data"]["organization"]["viewerRole"] == "OWNER" and len(analytics["topContent"]) == 3
    assert len(analytics["revenueByDay"]) == 30
    for token in (None, b.customer.token, b.creator.token, b.other_owner.token):
        refused = await compare(b, "dashboard_home", {"slug": b.slug}, token)
        assert refused["data"]["organization"]["analytics"] is None and refused["errors"]
    await compare(b, "dashboard_home", {"slug": b.slug, "range": {"from": "2020-01-01", "to": "2026-01-01"}},
                  b.owner.token)
    await compare(b, "dashboard_home", {"slug": "no-such-shop"}, b.owner.token)

    for token in (None, b.customer.token, b.owner.token):
        for title in ("Alpha", "Draft"):
            body = await compare(b, "mixed_roots", {"slug": b.slug, "featured": b.gid(title), "first": 5}, token)
    assert body["data"]["viewer"]["name"] == "Olive Owner" and body["data"]["content"]["title"] == "Draft"
    await compare(b, "mixed_roots", {"slug": "no-such-shop", "featured": "garbage"}, b.customer.token)


def test_mixed_cycle_and_its_request_file(tmp_path: Any) -> None:
    from benchmarks import mix

    ops = mix.cycle()
    keys = [op.key for op in ops]
    assert len(ops) == mix.CYCLE == 50
    assert sum(op.folder == "varied" for op in ops) == 10  # 20 %
    assert {k: keys.count(k) for k in mix.MIX_SHAPES} == dict.fromkeys(mix.MIX_SHAPES, 10)
    assert {op.key for op in ops if op.folder} == {op.key for op in VARIED}
    assert keys == [op.key for op in mix.cycle()] and keys != sorted(keys)  # fixed, shuffled
    path = mix.write_requests(tmp_path / "mix.lua", [
        ("/graphql", b'{"query":"{ a }","x":"]=] ]==]"}', {"Authorization": "Bearer t"})])
    text = path.read_text()
    # Long brackets deeper than anything in the body, and `[ [=[` never written as `[[` (a Lua long string).
    assert "body = [===[" in text and '"]=] ]==]"}]===]' in text and "[[" not in text
    assert text.startswith("return {\n") and "[ [=[Authorization]=] ] = [=[Bearer t]=]" in text


def test_report_rows_for_varied_mixed_and_noise() -> None:
    from benchmarks import report

    def run(op: str, variant: str, rps: float, kind: str = "closed") -> dict[str, Any]:
        return {"op": op, "variant": variant, "server": variant.split("-")[0], "kind": kind, "rps": rps,
                "errors": 0, "app_cpu_ms_per_req": 1.0, "pg_cpu_ms_per_req": 1.0, "statements_per_req": 1.0,
                "rss_total_peak_mb": 300.0, "rss_max_process_peak_mb": 120.0, "latency_ms": {}}

    runs = [run("storefront", "raw", 1000.0), run("storefront", "codex-adhoc", 800.0),
            run("storefront_branding", "raw", 900.0), run("storefront_branding", "codex-adhoc", 400.0),
            run("node_fragments", "raw", 2000.0), run("node_fragments", "codex-adhoc", 700.0),
            run("mixed", "raw", 1000.0), run("mixed", "codex-adhoc", 650.0), run("storefront", "raw", 900.0, "noise")]
    out = {"meta": {"ops": ["storefront", "storefront_branding", "node_fragments", "mixed"],
                    "varied": [op.key for op in VARIED], "open_fractions": [], "rates": {}},
           "runs": runs, "page_size": [], "noise": {"op": "storefront", "variant": "raw", "rps": [1000.0, 900.0],
                                                    "spread": 0.1053}}
    table = "\n".join(report.varied_table(out))
    assert "| storefront_branding | codex ad hoc | 400.0 | **0.50** | 0.44 |" in table
    assert "| node_fragments | codex ad hoc | 700.0 | 0.88 | 0.35 |" in table
    assert "| mixed | codex ad hoc | 650.0 | 0.65 |" in "\n".join(report.results_table(out))
    targets = {name: (value, ok) for name, value, ok in report.targets({**out, "meta": {**out["meta"], "workers": 2}})}
    assert targets["mixed workload (80 % shapes, 20 % varied), codex ad hoc ≥ 0.6× raw"] == ("0.65×", True)
    worst = targets["every varied document, codex ad hoc ≥ 0.7× its storefront req/s"]
    assert worst == ("lowest 0.50× (storefront_branding); 1 of 2 met", False)
    assert "a spread of 10.5%" in "\n".join(report.noise_line(out))
