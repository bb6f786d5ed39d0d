"""Compiled execution for the hottest read shapes.

A document whose every selected field has a compiled form (the storefront's ``organization(slug) {
contents }``, the viewer's ``purchases``, ``__typename``) is compiled once, on first sight, into one SQL
statement per root field plus a plain-Python shaper that builds the response straight from the rows.
Anything else, and any request whose variables the plan does not cover, runs through strawberry as
usual. The compiled form keeps every rule of the normal resolvers: row-level security applies to its
statements (same role and tenant settings), the access decisions are ``content.access``'s, and
``tests/test_fastpath_equivalence.py`` compares its output with normal execution for every shape.
"""
