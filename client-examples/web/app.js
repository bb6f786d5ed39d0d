// A small storefront on Codex GraphQL: plain ES modules, no framework.
// ?api=https://api.example.com points it at another origin (the API must allow it with CORS);
// ?org=slug picks the storefront (default "demo").
import { createClient } from "graphql-ws";

const params = new URLSearchParams(location.search);
const API = (params.get("api") || location.origin).replace(/\/$/, "");
const ORG = params.get("org") || "demo";
const SPEEDS = [0.5, 1, 1.5, 2];
const $ = (id) => document.getElementById(id);

// Observable state for tests and curious developers.
const debug = (window.__codex = { uploadProgress: [], savedPositions: [], events: [], ready: false });

let token = localStorage.getItem("codex.token");
let organization = null; // { id, name }
let viewer = null; // AdminContext viewer
let current = null; // the item in the player
let events = null; // graphql-ws client

// ---- GraphQL over HTTP ------------------------------------------------------------------------
class GraphQLError extends Error {
  constructor(errors) {
    super(errors.map((e) => e.message).join("; "));
    this.code = errors[0]?.extensions?.code;
  }
}

async function graphql(query, variables = {}) {
  const headers = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(`${API}/graphql`, { method: "POST", headers, body: JSON.stringify({ query, variables }) });
  const body = await response.json();
  if (body.errors?.length) throw new GraphQLError(body.errors); // UNAUTHENTICATED, FORBIDDEN, limits...
  for (const value of Object.values(body.data ?? {})) {
    // Expected failures of mutations come as payload errors: [UserError!]!
    if (value && Array.isArray(value.errors) && value.errors.length) throw new Error(value.errors[0].message);
  }
  return body.data;
}

const Q = {
  storefront: `query Storefront($slug: String!, $first: Int, $after: String, $filter: ContentFilter) {
    organization(slug: $slug) { id name contents(first: $first, after: $after, filter: $filter) {
      totalCount pageInfo { hasNextPage endCursor }
      nodes { id kind title status priceCents currency tags durationSeconds thumbnailUrl viewerHasAccess } } } }`,
  login: `mutation Login($email: String!, $password: String!) {
    login(input: { email: $email, password: $password }) { errors { code message } token } }`,
  context: `query AdminContext { viewer { id email permissions activeOrganization { id }
    availableOrganizations { id slug } } }`,
  activate: `mutation SetActiveOrganization($id: ID!) { setActiveOrganization(input: { organizationId: $id }) {
    errors { code message } organization { id } } }`,
  checkout: `mutation StartCheckout($contentId: ID!, $successUrl: String!, $cancelUrl: String!, $key: String!) {
    startCheckout(input: { contentId: $contentId, successUrl: $successUrl, cancelUrl: $cancelUrl,
      idempotencyKey: $key }) { errors { code message } checkoutUrl } }`,
  article: `query ArticlePage($id: ID!) { content(id: $id) { id kind title priceCents currency readingTimeMinutes
    viewerHasAccess excerpt body } }`,
  playback: `query Playback($id: ID!) { content(id: $id) { id kind title playback { url expiresAt } playbackPosition } }`,
  save: `mutation SavePlaybackPosition($id: ID!, $seconds: Float!) {
    savePlaybackPosition(input: { contentId: $id, positionSeconds: $seconds }) { errors { code message } positionSeconds } }`,
  create: `mutation CreateContent($input: CreateContentInput!) { createContent(input: $input) {
    errors { code field message } content { id status } upload { url method headers { name value } partSize } } }`,
  complete: `mutation CompleteContentUpload($id: ID!) { completeContentUpload(input: { contentId: $id }) {
    errors { code message } content { id status } } }`,
  purchaseEvents: `subscription PurchaseEvents($organizationId: ID!) { purchaseEvents(organizationId: $organizationId) {
    eventId type purchase { id status amountCents currency contentTitle customerEmail } } }`,
};

const say = (text) => ($("message").textContent = text);
const money = (cents, currency) => (cents === 0 ? "Free" : `${(cents / 100).toFixed(2)} ${currency}`);

// ---- catalogue --------------------------------------------------------------------------------
let after = null;
async function loadCatalogue(reset = true) {
  if (reset) { after = null; $("contents").replaceChildren(); }
  const search = $("search-text").value.trim();
  const data = await graphql(Q.storefront, { slug: ORG, first: 12, after, filter: search ? { search } : null });
  if (!data.organization) return say(`No storefront named "${ORG}".`);
  organization = data.organization;
  $("shop-name").textContent = organization.name;
  const { nodes, pageInfo } = organization.contents;
  for (const item of nodes) $("contents").append(card(item));
  after = pageInfo.endCursor;
  $("more").hidden = !pageInfo.hasNextPage;
}

function card(item) {
  const li = document.createElement("li");
  li.dataset.id = item.id;
  li.className = "content";
  const img = document.createElement("img");
  img.alt = "";
  if (item.thumbnailUrl) img.src = item.thumbnailUrl;
  const title = document.createElement("h3");
  title.textContent = item.title;
  const meta = document.createElement("p");
  const minutes = item.durationSeconds ? ` · ${Math.round(item.durationSeconds)} s` : "";
  meta.innerHTML = `<span class="price"></span> · ${item.kind.toLowerCase()}${minutes}`;
  meta.querySelector(".price").textContent = money(item.priceCents, item.currency);
  const button = document.createElement("button");
  if (item.kind === "ARTICLE" && item.status === "PUBLISHED") {
    // Everyone may open an article: the excerpt is public, the body comes with access.
    button.textContent = "Read";
    button.className = "read";
    button.onclick = () => read(item.id).catch((e) => say(e.message));
  } else if (item.viewerHasAccess) {
    button.textContent = "Play";
    button.className = "play";
    button.onclick = () => play(item.id).catch((e) => say(e.message));
  } else if (item.status !== "PUBLISHED") {
    button.textContent = item.status.toLowerCase();
    button.disabled = true;
  } else {
    button.textContent = item.priceCents ? "Buy" : "Get";
    button.className = "buy";
    button.onclick = () => buy(item).catch((e) => say(e.message));
  }
  li.append(img, title, meta, button);
  return li;
}

// ---- signing in -------------------------------------------------------------------------------
async function signIn(event) {
  event.preventDefault();
  const data = await graphql(Q.login, { email: $("email").value, password: $("password").value });
  token = data.login.token;
  localStorage.setItem("codex.token", token);
  await afterSignIn();
  await loadCatalogue();
}

async function afterSignIn() {
  try {
    viewer = (await graphql(Q.context)).viewer;
  } catch (error) {
    if (error.code !== "UNAUTHENTICATED") throw error;
    viewer = null;
  }
  if (!viewer) { token = null; localStorage.removeItem("codex.token"); }
  $("signin").hidden = !!viewer;
  $("session").hidden = !viewer;
  $("viewer-email").textContent = viewer?.email ?? "";
  // Staff of this storefront's organization: make it the active one, then read the permissions.
  if (viewer && organization && viewer.availableOrganizations.some((o) => o.id === organization.id)) {
    if (viewer.activeOrganization?.id !== organization.id) {
      await graphql(Q.activate, { id: organization.id });
      viewer = (await graphql(Q.context)).viewer;
    }
  }
  const staff = !!viewer && viewer.activeOrganization?.id === organization?.id;
  $("staff").hidden = !(staff && viewer.permissions.includes("CONTENT_CREATE"));
  if (staff && viewer.permissions.includes("PURCHASES_READ")) listen();
  else stopListening();
}

function signOut() {
  token = null;
  localStorage.removeItem("codex.token");
  stopListening();
  location.reload();
}

// ---- buying (the local provider's checkout page, or Stripe Checkout: same code) ---------------
async function buy(item) {
  if (!token) return say("Sign in to buy.");
  const back = new URL(location.href);
  back.searchParams.set("paid", item.id);
  const data = await graphql(Q.checkout, {
    contentId: item.id, successUrl: back.href, cancelUrl: location.href, key: crypto.randomUUID(),
  });
  location.assign(data.startCheckout.checkoutUrl);
}

// ---- reading an article: the excerpt for everyone, the whole text once the reader has access ---
async function read(id) {
  const { content } = await graphql(Q.article, { id });
  $("article-panel").hidden = false;
  $("article-title").textContent = content.title;
  $("article-meta").textContent = `${content.readingTimeMinutes} min read`;
  // Sanitized HTML from the server (`body` or `excerpt`); never build it from user input in the page.
  $("article-text").innerHTML = content.body ?? content.excerpt ?? "";
  $("paywall").hidden = content.body !== null;
  $("article-buy").onclick = () => buy(content).catch((e) => say(e.message));
  debug.article = { id, full: content.body !== null };
}

// ---- playing ----------------------------------------------------------------------------------
let lastSaved = 0;
async function play(id) {
  const { content } = await graphql(Q.playback, { id });
  const other = content.kind === "AUDIO" ? $("video") : $("audio");
  other.pause();
  other.hidden = true;
  const media = player(content.kind);
  current = { id, media };
  media.hidden = false;
  $("player-panel").hidden = false;
  $("player-title").textContent = content.title;
  media.src = content.playback.url;
  media.playbackRate = Number($("speed").value);
  const resumeAt = content.playbackPosition || 0;
  $("resume-note").textContent = resumeAt ? `Resuming at ${resumeAt.toFixed(1)} s` : "";
  await new Promise((resolve) => media.addEventListener("loadedmetadata", resolve, { once: true }));
  if (resumeAt && resumeAt < (media.duration || Infinity) - 1) media.currentTime = resumeAt;
  media.playbackRate = Number($("speed").value); // loading a source resets the rate in some browsers
  await media.play().catch(() => say("Press play to start."));
}

function player(kind) {
  return kind === "AUDIO" ? $("audio") : $("video");
}

async function savePosition() {
  if (!current || !token) return;
  const seconds = Math.round(current.media.currentTime * 10) / 10;
  if (seconds === lastSaved) return;
  lastSaved = seconds;
  const data = await graphql(Q.save, { id: current.id, seconds });
  debug.savedPositions.push(data.savePlaybackPosition.positionSeconds);
}

for (const media of [$("video"), $("audio")]) {
  media.addEventListener("pause", () => savePosition().catch(() => {}));
  let lastTick = 0;
  media.addEventListener("timeupdate", () => {
    if (Math.abs(media.currentTime - lastTick) >= 10) { lastTick = media.currentTime; savePosition().catch(() => {}); }
  });
  media.addEventListener("ratechange", () => ($("speed").value = String(media.playbackRate)));
}
$("speed").addEventListener("change", () => { if (current) current.media.playbackRate = Number($("speed").value); });
addEventListener("pagehide", () => {
  if (!current || !token) return;
  // keepalive lets the request outlive the page.
  fetch(`${API}/graphql`, {
    method: "POST", keepalive: true,
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({ query: Q.save, variables: { id: current.id, seconds: current.media.currentTime } }),
  });
});

// Keyboard shortcuts, unless the user is typing in a field.
addEventListener("keydown", (event) => {
  if (!current || event.target.closest("input, select, textarea, button") || event.altKey || event.ctrlKey || event.metaKey) return;
  const media = current.media;
  const rate = SPEEDS.indexOf(media.playbackRate);
  switch (event.key) {
    case " ": media.paused ? media.play() : media.pause(); break;
    case "ArrowRight": media.currentTime = Math.min(media.duration || Infinity, media.currentTime + 5); break;
    case "ArrowLeft": media.currentTime = Math.max(0, media.currentTime - 5); break;
    case "ArrowUp": media.playbackRate = SPEEDS[Math.min(SPEEDS.length - 1, rate + 1)]; break;
    case "ArrowDown": media.playbackRate = SPEEDS[Math.max(0, rate - 1)]; break;
    default: return;
  }
  event.preventDefault();
});

// ---- staff: upload with a real progress bar ---------------------------------------------------
async function upload(event) {
  event.preventDefault();
  const file = $("upload-file").files[0];
  const kind = file.type.startsWith("audio/") ? "AUDIO" : "VIDEO";
  const data = await graphql(Q.create, { input: {
    kind, title: $("upload-title").value, filename: file.name, mimeType: file.type, sizeBytes: file.size,
    priceCents: Number($("upload-price").value), tags: [],
  } });
  const { content, upload: target } = data.createContent;
  if (target.partSize) throw new Error("Files over 64 MB use a multipart plan; this example sends one PUT.");
  $("upload-status").textContent = "uploading";
  await new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(target.method, target.url);
    for (const { name, value } of target.headers) xhr.setRequestHeader(name, value);
    xhr.upload.onprogress = (e) => {
      if (!e.lengthComputable) return;
      const percent = Math.round((e.loaded / e.total) * 100);
      $("upload-progress").value = percent;
      debug.uploadProgress.push(percent);
    };
    xhr.onload = () => (xhr.status < 300 ? resolve() : reject(new Error(`upload failed: HTTP ${xhr.status}`)));
    xhr.onerror = () => reject(new Error("upload failed: network error"));
    xhr.send(file);
  });
  $("upload-progress").value = 100;
  const done = await graphql(Q.complete, { id: content.id });
  $("upload-status").textContent = `${done.completeContentUpload.content.status}`;
  say(`Uploaded "${$("upload-title").value}": processing.`);
}

// ---- staff: live purchase events over graphql-transport-ws -----------------------------------
function listen() {
  if (events) return;
  const url = API.replace(/^http/, "ws") + "/graphql";
  events = createClient({
    url,
    connectionParams: () => ({ authorization: `Bearer ${token}` }), // cookies are not used on WebSockets
    retryAttempts: Infinity, // graphql-ws reconnects with randomised exponential backoff
    shouldRetry: () => true,
    on: {
      connected: () => ($("events-status").textContent = "live"),
      closed: () => ($("events-status").textContent = "reconnecting"),
    },
  });
  events.subscribe({ query: Q.purchaseEvents, variables: { organizationId: organization.id } }, {
    next: ({ data, errors }) => {
      if (errors) return say(errors[0].message);
      const { type, purchase } = data.purchaseEvents;
      debug.events.push(data.purchaseEvents);
      const li = document.createElement("li");
      li.textContent = `${type} ${purchase.contentTitle} ${money(purchase.amountCents, purchase.currency)} ${purchase.customerEmail ?? ""}`;
      $("events").prepend(li);
    },
    error: (error) => say(`Live events stopped: ${error.message ?? error.reason ?? error}`),
    complete: () => {},
  });
}

function stopListening() {
  events?.dispose();
  events = null;
  $("events-status").textContent = "offline";
}

// ---- start ------------------------------------------------------------------------------------
$("signin").addEventListener("submit", (e) => signIn(e).catch((error) => say(error.message)));
$("signout").addEventListener("click", signOut);
$("upload").addEventListener("submit", (e) => upload(e).catch((error) => say(error.message)));
$("search").addEventListener("submit", (e) => { e.preventDefault(); loadCatalogue().catch((error) => say(error.message)); });
$("more").addEventListener("click", () => loadCatalogue(false).catch((error) => say(error.message)));

(async () => {
  await loadCatalogue();
  if (token) await afterSignIn();
  if (params.get("paid")) say("Thank you! Your purchase is ready to play.");
  debug.ready = true;
})().catch((error) => say(error.message));
