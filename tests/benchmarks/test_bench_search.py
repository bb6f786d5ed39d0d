"""The search benchmark (benchmarks/search_bench.py) at a few hundred items: its seed indexes every item (in bulk
and through the triggers) and its cases run through the real app with the hits the README's table reports."""

from __future__ import annotations

from benchmarks import search_bench


async def test_search_bench_seeds_and_measures_a_small_catalogue(admin_db, database_url):
    seeded = await search_bench.seed(admin_db, 400, trigger_items=40)
    counts = seeded["counts"]
    assert counts["items"] == 440 and counts["articles"] == 44
    assert counts["public_rows"] + counts["staff_rows"] == 440  # every item (none deleted) has one vector row
    assert counts["staff_rows"] == 44  # 5% drafts and 5% unlisted
    assert seeded["timings"]["trigger_ms_per_item"] > 0
    cases = tuple(case for case in search_bench.CASES
                  if case[0] in ("selective word (1%)", "one item", "typo, fallback", "staff, broad word",
                                 "broad + totalCount"))
    results = {r["case"]: r for r in await search_bench.measure(database_url, runs=2, cases=cases, warmup=1)}
    assert results["selective word (1%)"]["hits_on_page"] == 4  # items 100, 200, 300, 400 ("Morning yoga")
    assert results["one item"]["hits_on_page"] == 1
    assert results["typo, fallback"]["hits_on_page"] == 4
    broad = results["broad + totalCount"]
    assert broad["hits_on_page"] == 20 and broad["total"] > 100
    assert results["staff, broad word"]["hits_on_page"] == 20
    assert all(r["p95_ms"] >= r["p50_ms"] > 0 for r in results.values())
