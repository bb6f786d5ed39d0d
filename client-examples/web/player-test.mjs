// Drives player.html in headless Chromium (Debian's /usr/bin/chromium, no browser download).
// Run by tests/client_examples/test_client_examples_player.py with: PAGE_URL CUSTOMER_EMAIL PASSWORD API
// STAFF_TOKEN PURCHASE_ID THROTTLE_BPS SCREENSHOT [CHROMIUM]. Prints one JSON line of findings; exits non-zero on
// failure.
import { chromium } from "playwright-core";

const env = process.env;
const STEP_TIMEOUT = 15_000;
const findings = { seconds: {} };
const t0 = Date.now();
const mark = (phase) => (findings.seconds[phase] = (Date.now() - t0) / 1000);
const keyResponses = []; // every answer of the key route: { page, status }
const browser = await chromium.launch({
  executablePath: env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--autoplay-policy=no-user-gesture-required", "--mute-audio"],
});
const hardStop = setTimeout(() => { console.error("player test took too long"); process.exit(3); }, 55_000);
// The key route: /media/hls/<content>/<token>/key (with a short-lived stamp after it, where the server adds one).
const isKey = (url) => /^\/media\/hls\/[^/]+\/[^/]+\/key(\/[^/]+)?$/.test(new URL(url).pathname);

async function open(name) {
  const context = await browser.newContext({ viewport: { width: 900, height: 700 } });
  const page = await context.newPage();
  page.setDefaultTimeout(STEP_TIMEOUT);
  page.on("pageerror", (error) => console.error(`[${name}] page error: ${error.message}`));
  page.on("response", (response) => { if (isKey(response.url())) keyResponses.push({ page: name, status: response.status() }); });
  return { context, page };
}

async function signIn(page) {
  await page.goto(env.PAGE_URL);
  await page.waitForFunction(() => window.codexPlayer?.ready);
  await page.fill("#email", env.CUSTOMER_EMAIL);
  await page.fill("#password", env.PASSWORD);
  await page.click("#signin-button");
  await page.waitForSelector("#session:not([hidden])");
}

const video = (page) => page.$eval("#video", (v) => ({ currentTime: v.currentTime, readyState: v.readyState }));
const player = (page) => page.evaluate(() => window.codexPlayer);

try {
  findings.codecs = await (await browser.newPage()).evaluate(() => ({
    mse: MediaSource.isTypeSupported('video/mp4; codecs="avc1.4d401e,mp4a.40.2"'),
    native: document.createElement("video").canPlayType("application/vnd.apple.mpegurl"),
  }));

  // (a) An entitled viewer: hls.js starts, the key route answers 200.
  const { context, page } = await open("entitled");
  await signIn(page);
  await page.waitForFunction(() => {
    const v = document.querySelector("#video");
    return v.currentTime > 1 && v.readyState >= 2;
  });
  mark("started");
  findings.started = { ...(await video(page)), keys: keyResponses.filter((k) => k.page === "entitled") };

  // (b) Unthrottled, ABR climbs to the top rendition; throttled below its bandwidth, it comes down.
  await page.waitForFunction(() => {
    const p = window.codexPlayer;
    return p.levels.length > 1 && p.currentLevel === p.levels.length - 1;
  });
  mark("top");
  const top = await player(page);
  findings.beforeThrottle = { levels: top.levels, switches: top.levelSwitches, at: (await video(page)).currentTime };
  const cdp = await context.newCDPSession(page);
  await cdp.send("Network.enable");
  const bytesPerSecond = Number(env.THROTTLE_BPS) / 8;
  await cdp.send("Network.emulateNetworkConditions", {
    offline: false, latency: 20, downloadThroughput: bytesPerSecond, uploadThroughput: bytesPerSecond,
  });
  const seen = top.levelSwitches.length;
  await page.waitForFunction((mark) => {
    const p = window.codexPlayer;
    return p.levelSwitches.slice(mark).some((s) => s.level < p.levels.length - 1);
  }, seen, { timeout: 25_000 });
  mark("switched");
  const throttled = await player(page);
  findings.afterThrottle = { switches: throttled.levelSwitches.slice(seen), decisions: throttled.levelDecisions, at: (await video(page)).currentTime,
    rendition: await page.textContent("#rendition"), errors: throttled.errors };
  await cdp.send("Network.emulateNetworkConditions", { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
  await page.screenshot({ path: env.SCREENSHOT });
  await context.close();

  // (c) Access revoked after the page got its stream (master and media playlists, unexpired token): the key
  // route refuses the key, hls.js stops with a fatal key error, and nothing is ever decoded. The first key
  // request is held until the revocation is done.
  const revoked = await open("revoked");
  let release;
  const revocation = new Promise((resolve) => (release = resolve));
  let held = false;
  await revoked.page.route((url) => isKey(url.href), async (route) => {
    held = true;
    await revocation;
    await route.continue();
  });
  await signIn(revoked.page);
  for (let i = 0; !held; i++) {
    if (i > 150) throw new Error("the key was never requested");
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const answer = await fetch(`${env.API}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${env.STAFF_TOKEN}` },
    body: JSON.stringify({
      query: `mutation($i: RevokeContentAccessInput!) { revokeContentAccess(input: $i) { errors { code } purchase { status } } }`,
      variables: { i: { purchaseId: env.PURCHASE_ID } },
    }),
  });
  findings.revoke = (await answer.json()).data.revokeContentAccess;
  release();
  await revoked.page.waitForFunction(() => window.codexPlayer.errors.length > 0);
  await revoked.page.waitForTimeout(1_500); // give a wrongly playing video time to show it
  const refused = await player(revoked.page);
  findings.refused = { ...(await video(revoked.page)), errors: refused.errors, keyStatus: refused.keyStatus,
    shown: await revoked.page.textContent("#player-error"), engine: refused.engine,
    keys: keyResponses.filter((k) => k.page === "revoked") };
  await revoked.page.screenshot({ path: env.SCREENSHOT.replace(/\.png$/, "-revoked.png") });

  // Reloaded, the page gets no stream at all: `playback` is FORBIDDEN.
  mark("refused");
  const keysBefore = keyResponses.length;
  await revoked.page.reload();
  await revoked.page.waitForFunction(() => window.codexPlayer?.ready);
  const reloaded = await player(revoked.page);
  findings.reloaded = { engine: reloaded.engine, errors: reloaded.errors, newKeyRequests: keyResponses.length - keysBefore,
    shown: await revoked.page.textContent("#player-error"), ...(await video(revoked.page)) };
  mark("done");
  console.log(JSON.stringify(findings));
} catch (error) {
  console.error(error.stack || String(error));
  console.error(JSON.stringify(findings));
  process.exitCode = 1;
} finally {
  clearTimeout(hardStop);
  await browser.close();
}
