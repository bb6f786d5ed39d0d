"""client-examples/python/storefront.py (gql) against a live `codex-graphql serve` on loopback."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import httpx
import pytest

from tests.support import Factory, GraphQLClient
from tests.support.client_examples import EXAMPLES, serve
from tests.support.commerce import insert_content
from tests.support.live_server import free_port


@pytest.mark.timeout(90)
async def test_python_storefront_example_signs_up_buys_plays_and_saves(settings, db):
    port = free_port()
    with serve(settings, port) as base:
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            factory = Factory(db, GraphQLClient(http))
            owner = await factory.user()
            org = await factory.organization(owner, slug="gql-shop", name="GQL Shop")
            await insert_content(db, org, owner.user_id, "Free teaser", 0)
            paid = await insert_content(db, org, owner.user_id, "Feature film", 1250)

        result = await asyncio.to_thread(subprocess.run, [
            sys.executable, str(EXAMPLES / "python" / "storefront.py"), "--url", base, "--org", "gql-shop",
            "--email", "gql-buyer@example.com", "--position", "21.5",
        ], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        summary = json.loads(result.stdout)
        assert summary["organization"] == "GQL Shop" and summary["catalogueSize"] == 2
        assert summary["bought"] == {"id": paid, "title": "Feature film", "priceCents": 1250, "currency": "USD"}
        assert summary["playbackUrl"].startswith(f"{base}/storage/")
        assert summary["savedPosition"] == 21.5 and summary["resumeFrom"] == 21.5
        assert summary["purchases"] == [{"title": "Feature film", "status": "COMPLETED", "amountCents": 1250}]

        # Run again with the same account: it signs in instead, and has nothing left to buy.
        again = await asyncio.to_thread(subprocess.run, [
            sys.executable, str(EXAMPLES / "python" / "storefront.py"), "--url", base, "--org", "gql-shop",
            "--email", "gql-buyer@example.com",
        ], capture_output=True, text=True, timeout=60)
        assert again.returncode == 1 and "nothing to buy" in again.stderr, again.stderr
