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

    @property
    def document(self) -> str:
        return (OPERATIONS_DIR / f"{self.key}.graphql").read_text()

    def variables(self, fixture: dict[str, Any]) -> dict[str, Any]:
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


def load_fixture(scale: str) -> dict[str, Any]:
    return json.loads((DATA_DIR / f"fixture-{scale}.json").read_text())
