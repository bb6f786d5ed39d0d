"""client-examples/web in headless Chromium (playwright-core driving Debian's /usr/bin/chromium).

The page is served from the API's own origin by a test-only wrapper (StaticFiles at /web, the app
everywhere else) on a real uvicorn, so no CORS setting is needed. The screenshot lands in
test-artifacts/web-storefront.png.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
import uvicorn
from starlette.routing import Mount, Router
from starlette.staticfiles import StaticFiles

from codex_graphql.app import create_app
from codex_graphql.authz import OrgRole
from tests.support import PASSWORD, Factory, GraphQLClient
from tests.support.client_examples import EXAMPLES, ROOT
from tests.support.content import PUBLISH, ready_content
from tests.support.live_server import free_port
from tests.support.locks import exclusive

WEB = EXAMPLES / "web"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"
PLAYBACK = "query($id: ID!) { content(id: $id) { playbackPosition viewerHasAccess } }"
ARTICLE = """mutation($input: CreateArticleInput!) { createArticle(input: $input) { errors { code } content { id } } }"""


def npm_install() -> None:
    """Vendor playwright-core, graphql-ws and hls.js into client-examples/web/node_modules (gitignored); one
    process at a time."""
    with exclusive(WEB):
        if all((WEB / "node_modules" / name).is_dir() for name in ("playwright-core", "graphql-ws", "hls.js")):
            return
        command = ["npm", "ci"] if (WEB / "package-lock.json").exists() else ["npm", "install"]
        subprocess.run([*command, "--no-audit", "--no-fund"], cwd=WEB, check=True, timeout=120, capture_output=True)


@pytest.fixture(scope="module")
def web_dependencies() -> None:
    missing = [name for name, present in (("chromium", Path(CHROMIUM).exists()), ("node", shutil.which("node")),
                                          ("npm", shutil.which("npm"))) if not present]
    assert not missing, f"the browser test needs {', '.join(missing)}: run .ci/run (apt-get install -y chromium nodejs npm)"
    npm_install()


@pytest.mark.timeout(110)
async def test_storefront_page_in_headless_chromium(web_dependencies, settings, db, media_dir, tmp_path):
    long_audio = tmp_path / "evening.mp3"
    await asyncio.to_thread(subprocess.run, ["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", "sine=frequency=330:duration=40",
                    "-c:a", "libmp3lame", "-b:a", "32k", str(long_audio)], check=True, timeout=60)

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    # Embedded mode as `codex-graphql dev` runs it: local storage and payments, and no Redis (in-process
    # jobs and pub/sub), on this test's own database.
    app = create_app(settings.model_copy(update={"public_base_url": base, "payments_provider": "local",
                                                 "storage_backend": "local", "redis_url": None}))
    wrapper = Router(routes=[Mount("/web", StaticFiles(directory=WEB, html=True)), Mount("/", app)])
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=base) as http:
            gql = GraphQLClient(http)
            factory = Factory(db, gql)
            owner = await factory.user(email="web-owner@example.com")
            org = await factory.organization(owner, slug="web-shop", name="Web Shop")
            creator = await factory.user(email="web-creator@example.com")
            await factory.member(org, creator, OrgRole.CREATOR)
            customer = await factory.user(email="web-customer@example.com")
            item = await ready_content(app, gql, http, owner.token, org, long_audio, title="Evening tone", price=900)
            await ready_content(app, gql, http, owner.token, org, media_dir / "clip.mp4", title="Test pattern",
                                price=0)
            article = (await gql.ok(ARTICLE, {"input": {"title": "Field notes", "priceCents": 300, "body": {
                "type": "doc", "content": [
                    {"type": "paragraph", "content": [{"type": "text", "text": "Free opening <img src=x onerror=alert(1)>"}]},
                    {"type": "paywall"},
                    {"type": "paragraph", "content": [{"type": "text", "text": "Paid ending."}]}]}}},
                owner.token))["createArticle"]["content"]["id"]
            await gql.ok(PUBLISH, {"id": article}, owner.token)

            server = uvicorn.Server(uvicorn.Config(wrapper, host="127.0.0.1", port=port, lifespan="off",
                                                   log_level="warning"))
            task = asyncio.create_task(server.serve())
            try:
                for _ in range(200):
                    if server.started:
                        break
                    await asyncio.sleep(0.025)
                ARTIFACTS.mkdir(exist_ok=True)
                screenshot = ARTIFACTS / "web-storefront.png"
                env = {**os.environ, "PAGE_URL": f"{base}/web/?org=web-shop", "STAFF_EMAIL": owner.email,
                       "CUSTOMER_EMAIL": customer.email, "PASSWORD": PASSWORD, "ITEM_TITLE": "Evening tone",
                       "ARTICLE_TITLE": "Field notes",
                       "UPLOAD_FILE": str(media_dir / "tone.mp3"), "SCREENSHOT": str(screenshot),
                       "CHROMIUM": CHROMIUM}
                process = await asyncio.create_subprocess_exec(
                    "node", "browser-test.mjs", cwd=WEB, env=env,
                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
                try:
                    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
                except TimeoutError:
                    process.kill()
                    await process.wait()
                    raise
                assert process.returncode == 0, stderr.decode() + stdout.decode()
                findings = json.loads(stdout.decode().strip().splitlines()[-1])
            finally:
                server.should_exit = True
                await asyncio.wait_for(task, timeout=10)

            assert set(findings["listed"]) == {"Evening tone", "Test pattern", "Field notes"}
            # The article page: the excerpt and the paywall for the customer, the whole text for staff; the
            # hostile text stays text.
            assert findings["customerArticle"] == {
                "text": "Free opening <img src=x onerror=alert(1)>", "paywall": True, "scripts": 0}
            assert findings["staffArticle"] == {
                "text": "Free opening <img src=x onerror=alert(1)>Paid ending.", "paywall": False, "scripts": 0}
            assert findings["progressBar"] == 100 and findings["uploadProgress"][-1] == 100
            assert "Thank you" in findings["message"]
            assert any(line.startswith("COMPLETED Evening tone 9.00 USD web-customer@example.com")
                       for line in findings["events"]), findings["events"]
            assert findings["rateAfterSelect"] == 1.5 and findings["rateAfterArrowUp"] == 2
            assert findings["rate0.5"] == 0.5 and findings["rate1"] == 1
            assert findings["seekedForward"] >= 4
            saved = findings["savedPositions"][-1]
            assert saved >= 5
            assert f"Resuming at {saved:.1f} s" == findings["resumeNote"]
            assert abs(findings["resumedAfterReload"] - saved) < 1.5
            assert screenshot.stat().st_size > 10_000

            content = (await gql.ok(PLAYBACK, {"id": item}, customer.token))["content"]
            assert content["viewerHasAccess"] and abs(content["playbackPosition"] - saved) < 1.5  # pagehide saves too
            # The browser's upload reached storage and the in-process worker of embedded mode processed it.
            nodes = []
            for _ in range(100):
                staff_view = await gql.ok("""query { organization(slug: "web-shop") { contents(filter: {search: "Fresh"})
                    { nodes { title status } } } }""", token=owner.token)
                nodes = staff_view["organization"]["contents"]["nodes"]
                if nodes and nodes[0]["status"] != "PROCESSING":
                    break
                await asyncio.sleep(0.1)
            assert nodes == [{"title": "Fresh upload", "status": "READY"}]
