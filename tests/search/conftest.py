"""The search tests' shop: an owner, a read-only member, a customer, and staff of another organization."""

from __future__ import annotations

from typing import Any

import pytest

from codex_graphql.authz import OrgRole


@pytest.fixture
async def shop(factory: Any) -> dict[str, Any]:
    owner = await factory.user(name="Olive Owner")
    org = await factory.organization(owner, slug="shop")
    member = await factory.user()
    await factory.member(org, member, OrgRole.MEMBER)
    customer = await factory.user()
    elsewhere = await factory.user()
    other_org = await factory.organization(elsewhere, slug="elsewhere")
    return {"owner": owner, "org": org, "member": member, "customer": customer, "elsewhere": elsewhere,
            "other_org": other_org}
