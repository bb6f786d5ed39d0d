// Drives the storefront page in headless Chromium (Debian's /usr/bin/chromium, no browser download).
// Run by tests/client_examples/test_client_examples_web.py with: PAGE_URL STAFF_EMAIL CUSTOMER_EMAIL PASSWORD UPLOAD_FILE
// ITEM_TITLE SCREENSHOT [CHROMIUM]. Prints one JSON line of findings; exits non-zero on failure.
import { chromium } from "playwright-core";

const env = process.env;
const STEP_TIMEOUT = 15_000;
const findings = {};
const browser = await chromium.launch({
  executablePath: env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--autoplay-policy=no-user-gesture-required", "--mute-audio"],
});
const hardStop = setTimeout(() => { console.error("browser test took too long"); process.exit(3); }, 50_000);

async function open(name) {
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(STEP_TIMEOUT);
  page.on("pageerror", (error) => console.error(`[${name}] page error: ${error.message}`));
  await page.goto(env.PAGE_URL);
  await page.waitForFunction(() => window.__codex?.ready);
  return page;
}

async function signIn(page, email) {
  await page.fill("#email", email);
  await page.fill("#password", env.PASSWORD);
  await page.click("#signin-button");
  await page.waitForSelector("#session:not([hidden])");
}

try {
  // Staff: sign in, see the staff panel, upload with progress, follow live purchases.
  const staff = await open("staff");
  findings.listed = await staff.$$eval("#contents li h3", (nodes) => nodes.map((n) => n.textContent));
  await signIn(staff, env.STAFF_EMAIL);
  await staff.waitForSelector("#staff:not([hidden])");
  await staff.waitForFunction(() => document.querySelector("#events-status").textContent === "live");
  await staff.fill("#upload-title", "Fresh upload");
  await staff.setInputFiles("#upload-file", env.UPLOAD_FILE);
  await staff.click("#upload-button");
  await staff.waitForFunction(() => document.querySelector("#upload-status").textContent === "PROCESSING");
  findings.uploadProgress = await staff.evaluate(() => window.__codex.uploadProgress);
  findings.progressBar = await staff.$eval("#upload-progress", (el) => el.value);

  // Customer: sign in, buy through the local provider's checkout page, come back and play.
  const customer = await open("customer");
  await signIn(customer, env.CUSTOMER_EMAIL);
  const card = customer.locator("#contents li", { hasText: env.ITEM_TITLE });
  await card.locator("button.buy").click();
  await customer.waitForURL(/\/checkout\/local\//);
  await customer.click("#pay");
  await customer.waitForURL(/paid=/);
  await customer.waitForFunction(() => window.__codex?.ready);
  findings.message = await customer.textContent("#message");

  // Staff sees the purchase live.
  await staff.waitForFunction(() => window.__codex.events.length > 0);
  findings.events = await staff.$$eval("#events li", (nodes) => nodes.map((n) => n.textContent));

  await card.locator("button.play").click();
  const audio = customer.locator("#audio");
  await customer.waitForFunction(() => {
    const a = document.querySelector("#audio");
    return a.readyState >= 1 && !a.paused;
  });
  findings.resumedAt = await audio.evaluate((a) => a.currentTime);
  await customer.selectOption("#speed", "1.5");
  findings.rateAfterSelect = await audio.evaluate((a) => a.playbackRate);
  await customer.locator("body").click({ position: { x: 5, y: 5 } }); // focus out of the select
  await customer.keyboard.press("ArrowUp");
  findings.rateAfterArrowUp = await audio.evaluate((a) => a.playbackRate);
  for (const speed of ["0.5", "1"]) {
    await customer.selectOption("#speed", speed);
    findings[`rate${speed}`] = await audio.evaluate((a) => a.playbackRate);
  }
  await customer.locator("body").click({ position: { x: 5, y: 5 } });
  const before = await audio.evaluate((a) => a.currentTime);
  await customer.keyboard.press("ArrowRight");
  findings.seekedForward = (await audio.evaluate((a) => a.currentTime)) - before;
  await customer.keyboard.press(" "); // pause: saves the position
  await customer.waitForFunction(() => document.querySelector("#audio").paused && window.__codex.savedPositions.length > 0);
  findings.savedPositions = await customer.evaluate(() => window.__codex.savedPositions);

  // Reload and play again: the player resumes from the saved position.
  await customer.reload();
  await customer.waitForFunction(() => window.__codex?.ready);
  await card.locator("button.play").click();
  await customer.waitForFunction(() => document.querySelector("#audio").readyState >= 1);
  findings.resumeNote = await customer.textContent("#resume-note");
  findings.resumedAfterReload = await audio.evaluate((a) => a.currentTime);
  await audio.evaluate((a) => a.pause());

  // An article: the customer reads the excerpt behind a paywall; staff read the whole text.
  if (env.ARTICLE_TITLE) {
    const reading = async (page) => {
      await page.locator("#contents li", { hasText: env.ARTICLE_TITLE }).locator("button.read").click();
      await page.waitForSelector("#article-panel:not([hidden])");
      return {
        text: await page.textContent("#article-text"),
        paywall: await page.isVisible("#paywall"),
        scripts: await page.$$eval("#article-text script, #article-text [onerror]", (n) => n.length),
      };
    };
    findings.customerArticle = await reading(customer);
    findings.staffArticle = await reading(staff);
  }

  await customer.screenshot({ path: env.SCREENSHOT, fullPage: true });
  await staff.screenshot({ path: env.SCREENSHOT.replace(/\.png$/, "-staff.png"), fullPage: true });
  console.log(JSON.stringify(findings));
} catch (error) {
  console.error(error.stack || String(error));
  console.error(JSON.stringify(findings));
  process.exitCode = 1;
} finally {
  clearTimeout(hardStop);
  await browser.close();
}
