"""Every SECURITY DEFINER function of the schema pins its search_path with ``pg_temp`` named (last), so a session's
temporary tables can never shadow the tables a function reads while it runs as its owner (migration 0047)."""

from __future__ import annotations

from typing import Any


async def test_every_definer_function_names_pg_temp_last(admin_db: Any) -> None:
    rows = await admin_db.fetch(
        "select p.oid::regprocedure::text as name, p.proconfig from pg_proc p join pg_namespace n on "
        "n.oid = p.pronamespace where n.nspname = 'public' and p.prosecdef order by 1")
    assert len(rows) >= 10  # the schema's functions really were found
    unpinned = []
    for row in rows:
        paths = [c.split("=", 1)[1] for c in row["proconfig"] or [] if c.startswith("search_path=")]
        if not paths or paths[0].replace(" ", "").split(",")[-1] != "pg_temp":
            unpinned.append((row["name"], paths))
    assert not unpinned, unpinned
