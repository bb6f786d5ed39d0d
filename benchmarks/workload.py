"""The benchmark operations and how each is requested, shared by the harness, the raw-SQL server and
the equivalence tests.

A fixture (written by ``benchmarks/seed.py``) names the seeded organization, tokens and ids; each
operation turns it into the variables and the bearer token of one request.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

OPERATIONS_DIR = Path(__file__).parent / "operations"
DATA_DIR = Path(__file__).parent / ".data"


@dataclass(frozen=True)
class Operation:
    key: str  # file stem under operations/, and the raw server's path: POST /raw/<key>
    name: str  # the GraphQL operation name
    token: str | None  # which fixture token signs the request: "customer_token", "owner_token" or None
    folder: str = ""  # "varied" for the documents of operations/varied/

    @property
    def document(self) -> str:
        return (OPERATIONS_DIR / self.folder / f"{self.key}.graphql").read_text()

    def variables(self, fixture: dict[str, Any]) -> dict[str, Any]:
        if self.folder == "varied":
            return varied_variables(self.key, fixture)
        if self.key == "storefront":
            return {"slug": fixture["org_slug"], "first": 50}
        if self.key == "content_detail":
            return {"id": fixture["entitled_content_id"]}
        if self.key == "purchase_history":
            return {"first": 20}
        if self.key == "admin_dashboard":
            return {"slug": fixture["org_slug"], "range": fixture["dashboard_range"]}
        return {}

    def bearer(self, fixture: dict[str, Any]) -> str | None:
        return fixture[self.token] if self.token else None


OPERATIONS: tuple[Operation, ...] = (
    Operation("typename", "Typename", None),
    Operation("storefront", "StorefrontPage", "customer_token"),
    Operation("content_detail", "ContentDetail", "customer_token"),
    Operation("purchase_history", "PurchaseHistory", "customer_token"),
    Operation("admin_dashboard", "AdminDashboard", "owner_token"),
)
BY_KEY = {op.key: op for op in OPERATIONS}

# Documents a frontend sends that the compiled path was not written for (issue 22, item 7): the
# benchmark shapes plus a field, a root, an argument or a directive. Each has a raw-SQL twin
# (raw_varied.py) at POST /raw/<key>.
VARIED: tuple[Operation, ...] = (
    Operation("storefront_branding", "StorefrontBranding", "customer_token", "varied"),
    Operation("storefront_settings", "StorefrontSettings", "owner_token", "varied"),
    Operation("storefront_featured", "StorefrontFeatured", "customer_token", "varied"),
    Operation("storefront_filtered", "StorefrontFiltered", "customer_token", "varied"),
    Operation("storefront_thumbnails", "StorefrontThumbnails", "customer_token", "varied"),
    Operation("node_fragments", "NodeFragments", "customer_token", "varied"),
    Operation("viewer_library", "ViewerLibrary", "customer_token", "varied"),
    Operation("dashboard_home", "DashboardHome", "owner_token", "varied"),
    Operation("mixed_roots", "MixedRoots", "customer_token", "varied"),
    Operation("typename_everywhere", "TypenameEverywhere", "customer_token", "varied"),
)
VARIED_BY_KEY = {op.key: op for op in VARIED}
ALL_BY_KEY = {**BY_KEY, **VARIED_BY_KEY}
GROUPS = {"benchmark": OPERATIONS, "varied": VARIED}


def select_operations(keys: list[str]) -> tuple[list[Operation], bool, list[str]]:
    """The operations a comma list names (operation keys and the groups ``benchmark`` and ``varied``, in
    order, each once), whether it names ``mixed`` (the mixed workload), and the keys it does not know."""
    found: dict[str, Operation] = {}
    for key in keys:
        for op in GROUPS.get(key, (ALL_BY_KEY[key],) if key in ALL_BY_KEY else ()):
            found.setdefault(op.key, op)
    unknown = [key for key in keys if key not in GROUPS and key != "mixed" and key not in ALL_BY_KEY]
    return list(found.values()), "mixed" in keys, unknown


def varied_variables(key: str, fixture: dict[str, Any]) -> dict[str, Any]:
    slug, featured = fixture["org_slug"], fixture["entitled_content_id"]
    if key == "storefront_featured":
        return {"slug": slug, "featured": featured, "first": 50}
    if key == "storefront_filtered":
        return {"slug": slug, "first": 24, "kind": "VIDEO", "tag": None, "withCreator": True, "compact": True}
    if key == "node_fragments":
        return {"id": featured}
    if key == "viewer_library":
        return {"first": 20}
    if key == "dashboard_home":
        return {"slug": slug, "range": fixture["dashboard_range"]}
    if key == "mixed_roots":
        return {"slug": slug, "featured": featured, "first": 12}
    return {"slug": slug, "first": 50}


def load_fixture(scale: str) -> dict[str, Any]:
    return json.loads((DATA_DIR / f"fixture-{scale}.json").read_text())
