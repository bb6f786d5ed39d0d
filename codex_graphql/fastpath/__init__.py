"""Compiled execution for the hottest read shapes.

A query's root fields with a compiled form (``organization(slug) { contents }``, ``viewer { purchases }``,
``content(id:)``, ``__typename``) are compiled once, on first sight, into one SQL statement per root field
plus a plain-Python shaper that builds the response straight from the rows. The core here is generic:
``selection`` (reading a validated selection), ``shapes`` (rows to JSON), ``connections`` (Relay
connections), ``tables`` (roots reading one row of a table), ``guards`` (the schema's permission rules as
checks) and ``registry`` (the declaration vocabulary, ``compile_root``). Each domain declares its fields in
its own ``compiled.py``; ``codex_graphql.compiled_fields`` gathers them. Row-level security applies to the
statements (same role and tenant settings), the access decisions are ``content.access``'s, and
``tests/fastpath/test_fastpath_equivalence.py`` compares the output with normal execution for every declared field.
"""
