// Protected HLS playback of one item: player.html?content=<Content id>[&buffer=<seconds>][&api=<url>]
//
// `Content.playback.hls.url` is a signed master playlist: the playback token is part of its path, and of the
// paths of the media playlists and of the AES-128 key (`#EXT-X-KEY` URI) the server writes into them, so the
// player needs no header or cookie. Segments are short-lived signed storage URLs. The key route checks the
// viewer's access again on every request: once access ends (revoked, refunded), the key is refused (403).
//
// hls.js plays it wherever Media Source Extensions exist (Chrome, Edge, Firefox); elsewhere the browser's own
// HLS (Safari, iOS); without a ladder, the original file (`playback.url`).
import Hls from "hls.js";

const params = new URLSearchParams(location.search);
const API = (params.get("api") || location.origin).replace(/\/$/, "");
const CONTENT = params.get("content");
const BUFFER_SECONDS = Number(params.get("buffer")) || 30; // how far ahead hls.js fetches
const $ = (id) => document.getElementById(id);

// Observable state, for tests and curious developers.
const state = (window.codexPlayer = {
  engine: null, levels: [], currentLevel: -1, levelDecisions: [], levelSwitches: [], errors: [], keyStatus: null, ready: false,
});

let token = localStorage.getItem("codex.token"); // shared with the storefront page (index.html)

// One id per browser, kept across visits: playback registers it as a device of the customer, and an
// organization with `maxDevicesPerCustomer` refuses new devices over its limit (DEVICE_LIMIT_REACHED).
let deviceId = localStorage.getItem("codex-device-id");
if (!deviceId) {
  deviceId = crypto.randomUUID();
  localStorage.setItem("codex-device-id", deviceId);
}

const Q = {
  login: `mutation Login($email: String!, $password: String!) {
    login(input: { email: $email, password: $password }) { errors { code message } token } }`,
  viewer: `query Viewer { viewer { email } }`,
  playback: `query Playback($id: ID!, $deviceId: String!) { content(id: $id) { id title
    playback(deviceId: $deviceId) { url expiresAt hls { url expiresAt } } } }`,
};

async function graphql(query, variables = {}) {
  const headers = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(`${API}/graphql`, { method: "POST", headers, body: JSON.stringify({ query, variables }) });
  return response.json(); // { data, errors }: errors carry extensions.code (FORBIDDEN, UNAUTHENTICATED, ...)
}

const say = (text) => ($("message").textContent = text);

function fail(error) {
  state.errors.push(error);
  $("player-error").textContent = error.message;
}

// ---- choosing how to play ---------------------------------------------------------------------
async function start() {
  if (!CONTENT) return say("Open this page with ?content=<Content id>.");
  const { data, errors } = await graphql(Q.playback, { id: CONTENT, deviceId });
  if (errors?.length) {
    const code = errors[0].extensions?.code;
    const devices = (errors[0].extensions?.devices || []).map((d) => d.name).join(", ");
    const message = code === "FORBIDDEN" ? "You do not have access to this item."
      : code === "UNAUTHENTICATED" ? "Sign in to play this item."
      : code === "DEVICE_LIMIT_REACHED" ? `Too many devices (${devices}): remove one to play here.`
      : errors[0].message;
    return fail({ type: "playback", code, message });
  }
  if (!data.content) return fail({ type: "playback", code: "NOT_FOUND", message: "No such item." });
  const { title, playback } = data.content;
  $("player-title").textContent = title;
  const video = $("video");
  if (playback.hls && Hls.isSupported()) {
    playWithHlsJs(video, playback.hls.url);
  } else if (playback.hls && video.canPlayType("application/vnd.apple.mpegurl")) {
    state.engine = "native"; // Safari/iOS: the browser fetches the playlists and the key itself
    video.src = playback.hls.url;
  } else {
    state.engine = "progressive"; // no ladder (or no HLS at all): the original file's signed URL
    video.src = playback.url;
  }
  $("engine").textContent = state.engine;
  // Autoplay may be refused until the viewer interacts with the page.
  await video.play().catch((error) => { if (error.name === "NotAllowedError") say("Press play to start."); });
}

function playWithHlsJs(video, url) {
  state.engine = "hls.js";
  const hls = new Hls({ maxBufferLength: BUFFER_SECONDS, maxMaxBufferLength: BUFFER_SECONDS });
  hls.on(Hls.Events.MANIFEST_PARSED, (_, { levels }) => {
    state.levels = levels.map((l) => ({ height: l.height, width: l.width, bitrate: l.bitrate }));
  });
  // The rendition now playing (LEVEL_SWITCHING is the decision; LEVEL_SWITCHED is when it reaches the screen).
  hls.on(Hls.Events.LEVEL_SWITCHING, (_, { level }) => state.levelDecisions.push({ level, at: video.currentTime }));
  hls.on(Hls.Events.LEVEL_SWITCHED, (_, { level }) => {
    const { height } = hls.levels[level];
    state.currentLevel = level;
    state.levelSwitches.push({ level, height, at: video.currentTime });
    $("rendition").textContent = `${height}p`;
  });
  hls.on(Hls.Events.KEY_LOADED, () => ($("key-status").textContent = String((state.keyStatus = 200))));
  hls.on(Hls.Events.ERROR, (_, data) => {
    const status = data.response?.code ?? data.networkDetails?.status;
    if (data.details === Hls.ErrorDetails.KEY_LOAD_ERROR) {
      state.keyStatus = status ?? "error";
      $("key-status").textContent = `refused (${state.keyStatus})`;
    }
    // A refused key means access has ended: stop, rather than let hls.js try the key for every rendition.
    const keyRefused = data.details === Hls.ErrorDetails.KEY_LOAD_ERROR && (status === 401 || status === 403);
    if (!data.fatal && !keyRefused) return; // hls.js retries or switches rendition by itself
    const message = data.details === Hls.ErrorDetails.KEY_LOAD_ERROR
      ? "Playback stopped: the decryption key was refused (your access to this item may have ended)."
      : `Playback stopped: ${data.details}`;
    fail({ type: data.type, details: data.details, status, message });
    hls.destroy();
  });
  hls.loadSource(url);
  hls.attachMedia(video);
}

// ---- signing in -------------------------------------------------------------------------------
async function showSession() {
  const viewer = token ? (await graphql(Q.viewer)).data?.viewer : null;
  if (!viewer) { token = null; localStorage.removeItem("codex.token"); }
  $("signin").hidden = !!viewer;
  $("session").hidden = !viewer;
  $("viewer-email").textContent = viewer?.email ?? "";
  return !!viewer;
}

async function signIn(event) {
  event.preventDefault();
  const { data, errors } = await graphql(Q.login, { email: $("email").value, password: $("password").value });
  const failure = errors?.[0]?.message ?? data?.login?.errors?.[0]?.message;
  if (failure) return say(failure);
  token = data.login.token;
  localStorage.setItem("codex.token", token);
  say("");
  await showSession();
  await start();
}

$("signin").addEventListener("submit", (e) => signIn(e).catch((error) => say(error.message)));
$("signout").addEventListener("click", () => { localStorage.removeItem("codex.token"); location.reload(); });

(async () => {
  if (await showSession()) await start();
  else say("Sign in to play.");
})().catch((error) => say(error.message)).finally(() => (state.ready = true));
