"""client-examples/web/player.html in headless Chromium: protected HLS with hls.js (playwright-core driving
Debian's /usr/bin/chromium, as in test_client_examples_web.py).

A 16-second video is processed into a two-rung ladder (144p and 360p, 2-second segments) by the embedded
in-process worker; a customer is granted it and plays it: the video starts and the key route answers 200;
throttled (DevTools network emulation) below the top rung's bandwidth, hls.js comes down a rung; and once the
grant is revoked, the key route refuses the key of the customer's still unexpired token and nothing decodes.
Screenshots land in test-artifacts/web-player*.png.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.routing import Mount, Router
from starlette.staticfiles import StaticFiles

from codex_graphql.app import create_app
from tests.client_examples.test_client_examples_web import ARTIFACTS, CHROMIUM, WEB, web_dependencies  # noqa: F401
from tests.media.hls_support import DETAIL, uploaded
from tests.support import PASSWORD, Factory, GraphQLClient
from tests.support.content import PUBLISH, wait_for_status
from tests.support.live_server import free_port

PLAY = "query($id: ID!) { content(id: $id) { playback { url expiresAt hls { url expiresAt } } } }"
GRANT = """mutation($i: GrantContentAccessInput!) { grantContentAccess(input: $i) {
  errors { code field message } purchase { id } } }"""


def _source(path: Path) -> Path:
    """640x360 with moving noise (so the 360p rung costs several times the 144p one) and a tone."""
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y",
                    "-f", "lavfi", "-i", "testsrc2=duration=16:size=640x360:rate=15,noise=alls=12:allf=t",
                    "-f", "lavfi", "-i", "sine=frequency=440:duration=16",
                    "-c:v", "libx264", "-preset", "ultrafast", "-crf", "32", "-pix_fmt", "yuv420p",
                    "-c:a", "aac", "-b:a", "32k", "-shortest", str(path)], check=True, timeout=60)
    return path


async def _playback(gql: GraphQLClient, content_id: str, token: str) -> dict[str, Any]:
    return await gql(PLAY, {"id": content_id}, token)


@pytest.mark.timeout(120)
async def test_protected_hls_player_in_headless_chromium(web_dependencies, settings, db, tmp_path):  # noqa: F811
    source = await asyncio.to_thread(_source, tmp_path / "noise.mp4")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    # Embedded mode (no Redis): the in-process worker makes the ladder with these HLS_* settings.
    app = create_app(settings.model_copy(update={
        "public_base_url": base, "payments_provider": "local", "storage_backend": "local", "redis_url": None,
        "hls_enabled": True, "hls_ladder": "144,360", "hls_segment_seconds": 2, "hls_audio_bitrate": "32k"}))
    wrapper = Router(routes=[Mount("/web", StaticFiles(directory=WEB, html=True)), Mount("/", app)])
    async with (app.router.lifespan_context(app),
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base) as http):
        gql = GraphQLClient(http)
        factory = Factory(db, gql)
        owner = await factory.user(email="player-owner@example.com")
        await factory.organization(owner, slug="player-shop", name="Player Shop")
        customer = await factory.user(email="player-customer@example.com")
        stranger = await factory.user(email="player-stranger@example.com")

        content_id = await uploaded(gql, http, owner.token, source)
        assert await wait_for_status(gql, owner.token, content_id, "READY", within=60) == "READY"
        published = (await gql(PUBLISH, {"id": content_id}, owner.token))["data"]["publishContent"]
        assert published["errors"] == [], published
        renditions = (await gql.ok(DETAIL, {"id": content_id}, owner.token))["content"]["renditions"]
        assert [r["height"] for r in renditions] == [144, 360], renditions
        low, top = sorted(r["bandwidth"] for r in renditions)
        # Throttled well below the top rung and above the bottom one: hls.js must come down, and quickly
        # (a top segment then takes longer to fetch than the buffer holds).
        throttle = int(low * 1.75)
        assert throttle < top / 2, (low, top)

        # Without access there is no stream at all.
        for viewer in (customer, stranger):
            refused = await _playback(gql, content_id, viewer.token)
            assert [e["extensions"]["code"] for e in refused["errors"]] == ["FORBIDDEN"], refused
            assert refused["data"]["content"]["playback"] is None
        granted = (await gql.ok(GRANT, {"i": {"contentId": content_id, "userId": customer.global_id}},
                                owner.token))["grantContentAccess"]
        assert granted["errors"] == [], granted
        assert (await gql.ok(PLAY, {"id": content_id}, customer.token))["content"]["playback"]["hls"]["url"]

        server = uvicorn.Server(uvicorn.Config(wrapper, host="127.0.0.1", port=port, lifespan="off",
                                               log_level="warning"))
        task = asyncio.create_task(server.serve())
        try:
            for _ in range(200):
                if server.started:
                    break
                await asyncio.sleep(0.025)
            ARTIFACTS.mkdir(exist_ok=True)
            screenshot = ARTIFACTS / "web-player.png"
            env = {**os.environ, "PAGE_URL": f"{base}/web/player.html?content={content_id}&buffer=2",
                   "CUSTOMER_EMAIL": customer.email, "PASSWORD": PASSWORD, "API": base,
                   "STAFF_TOKEN": owner.token, "PURCHASE_ID": granted["purchase"]["id"],
                   "THROTTLE_BPS": str(throttle), "SCREENSHOT": str(screenshot), "CHROMIUM": CHROMIUM}
            process = await asyncio.create_subprocess_exec(
                "node", "player-test.mjs", cwd=WEB, env=env,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            try:
                stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=65)
            except TimeoutError:
                process.kill()
                await process.wait()
                raise
            assert process.returncode == 0, stderr.decode() + stdout.decode()
            findings = json.loads(stdout.decode().strip().splitlines()[-1])
        finally:
            server.should_exit = True
            await asyncio.wait_for(task, timeout=10)

        print(json.dumps(findings))  # shown with -s: phase times, level switches, key answers
        # Debian's Chromium decodes H.264/AAC through Media Source Extensions, so hls.js plays the ladder.
        assert findings["codecs"]["mse"] is True
        # (a) Started: past a second of decoded video, with the key route answering 200.
        started = findings["started"]
        assert started["currentTime"] > 1 and started["readyState"] >= 2
        assert started["keys"] and {k["status"] for k in started["keys"]} == {200}, started
        # (b) At the top rung unthrottled; below its bandwidth, hls.js switched down.
        before = findings["beforeThrottle"]
        assert [level["height"] for level in before["levels"]] == [144, 360]
        assert before["switches"][-1]["level"] == 1
        after = findings["afterThrottle"]
        assert after["switches"], after
        assert (after["switches"][-1]["level"], after["switches"][-1]["height"]) == (0, 144), after
        assert after["rendition"] == "144p" and after["errors"] == []
        # (c) Revoked while the page held an unexpired token: the key is refused, nothing is decoded.
        assert findings["revoke"] == {"errors": [], "purchase": {"status": "REFUNDED"}}
        refused = findings["refused"]
        assert refused["engine"] == "hls.js"
        assert [k["status"] for k in refused["keys"]] == [403], refused  # and the player stops asking
        assert refused["keyStatus"] == 403
        assert [(e["details"], e["status"]) for e in refused["errors"]] == [("keyLoadError", 403)], refused
        assert "key was refused" in refused["shown"]
        assert refused["currentTime"] == 0 and refused["readyState"] < 2
        # Reloaded: no stream is issued any more.
        reloaded = findings["reloaded"]
        assert reloaded["engine"] is None and reloaded["newKeyRequests"] == 0
        assert [e["code"] for e in reloaded["errors"]] == ["FORBIDDEN"]
        assert reloaded["shown"] == "You do not have access to this item." and reloaded["currentTime"] == 0
        assert screenshot.stat().st_size > 5_000

        # The page names its device (a UUID kept in localStorage): each of the driver's two browser contexts (the
        # playing one, then the fresh one of the revocation) registered one device, however often it reloaded.
        devices = (await gql.ok("query { viewer { devices { name } } }", None, customer.token))["viewer"]["devices"]
        assert [d["name"] for d in devices] == ["HeadlessChrome on Linux"] * 2, devices

        after_revoke = await _playback(gql, content_id, customer.token)
        assert [e["extensions"]["code"] for e in after_revoke["errors"]] == ["FORBIDDEN"]
        assert after_revoke["data"]["content"]["playback"] is None
