"use strict";
/*
 * Shared by the PostGraphile v4 (server.js, CommonJS) and v5 (server.mjs, ESM) benchmark servers:
 *
 *  - viewerSettings(): the bearer token -> the pgSettings of the request transaction, with one indexed
 *    lookup of the session per request (like the Codex server, which confirms even a cached session
 *    with one query); an optional in-process cache (PGB_SESSION_CACHE_MS, default 0 = off).
 *  - the smart-tag rules that expose only what expose.json lists, in each version's dialect
 *    (v4: `omit` / `simpleCollections` tags; v5: `behavior` strings).
 *  - cluster mode (PGB_WORKERS > 1): superviseWorkers() runs in the primary of node:cluster, which forks
 *    the workers (each one runs the whole server with its own pg pool on the shared port) and does
 *    nothing else; workerLabel() names a process in the servers' log lines.
 *
 * Only node: built-ins here; the pg pool is passed in by each server.
 */
const crypto = require("node:crypto");
const fs = require("node:fs");
const path = require("node:path");

const EXPOSE = JSON.parse(fs.readFileSync(path.join(__dirname, "expose.json"), "utf8"));
const SCHEMA = "public";

// ---- configuration from the environment ----------------------------------------------------------------

function positiveInteger(raw, fallback, name) {
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer, not ${raw}`);
  return value;
}

function config(env = process.env) {
  const databaseUrl = env.DATABASE_URL;
  if (!databaseUrl) throw new Error("DATABASE_URL is required");
  const secretKey = env.SECRET_KEY || "";
  return {
    databaseUrl,
    host: env.HOST || "127.0.0.1",
    port: Number(env.PORT || 5000),
    poolMax: Number(env.PGB_POOL_MAX || 10),
    workers: positiveInteger(env.PGB_WORKERS, 1, "PGB_WORKERS"),
    sessionCacheMs: Number(env.PGB_SESSION_CACHE_MS || 0),
    publicBaseUrl: (env.PUBLIC_BASE_URL || "http://127.0.0.1:8000").replace(/\/+$/, ""),
    // Derived exactly like codex_graphql/storage/local.py (LocalStorage._key) and
    // codex_graphql/commerce/routes.py (receipt_signature); SECRET_KEY itself never reaches Postgres.
    storageUrlKey: secretKey
      ? crypto.createHmac("sha256", secretKey).update("codex-storage-url-v1").digest("hex")
      : "",
    receiptKey: secretKey
      ? crypto.createHash("sha256").update("codex-receipt:" + secretKey).digest("hex")
      : "",
  };
}

// ---- cluster mode (PGB_WORKERS > 1) ----------------------------------------------------------------------

/**
 * The primary of node:cluster: fork `cfg.workers` workers (node:cluster re-runs the entry script in each,
 * where cluster.isPrimary is false, so they start the server) and supervise them. The primary loads
 * neither pg nor PostGraphile and serves nothing itself; node:cluster's default round-robin scheduling
 * (every platform but Windows) has it accept connections on the port and hand each to the next worker.
 *
 * It prints `<label> cluster ready: N workers listening ...` once every worker is listening (the benchmark
 * harness waits for that line), exits 1 as soon as a worker exits without being asked to (after stopping
 * the others), and on SIGTERM/SIGINT passes SIGTERM to its workers and exits 0 once they are gone
 * (SIGKILL for a worker still there after `graceMs`). A worker whose primary is gone exits by itself
 * (node:cluster does that when the IPC channel closes).
 */
function superviseWorkers(cluster, cfg, label, { graceMs = 5000 } = {}) {
  const listening = new Set();
  let alive = 0;
  let stopping = false;
  let exitCode = 0;

  function stopAll(code) {
    if (!stopping) {
      stopping = true;
      exitCode = code;
      for (const worker of Object.values(cluster.workers)) {
        if (worker && !worker.isDead()) worker.process.kill("SIGTERM");
      }
      setTimeout(() => {
        for (const worker of Object.values(cluster.workers)) {
          if (worker && !worker.isDead()) worker.process.kill("SIGKILL");
        }
        process.exit(exitCode);
      }, graceMs).unref();
    }
    if (alive === 0) process.exit(exitCode);
  }

  cluster.on("listening", (worker, address) => {
    listening.add(worker.id);
    if (listening.size === cfg.workers) {
      console.log(`${label} cluster ready: ${cfg.workers} workers listening on ` +
                  `http://${address.address || cfg.host}:${address.port}/graphql (primary pid ${process.pid})`);
    }
  });
  cluster.on("exit", (worker, code, signal) => {
    alive -= 1;
    listening.delete(worker.id);
    if (stopping) {
      stopAll(exitCode); // exits once the last worker is gone
      return;
    }
    console.error(`${label}: worker ${worker.id} (pid ${worker.process.pid}) exited unexpectedly ` +
                  `(${signal ? "signal " + signal : "code " + code}); stopping the cluster`);
    stopAll(1);
  });
  process.on("SIGTERM", () => stopAll(exitCode));
  process.on("SIGINT", () => stopAll(exitCode));

  console.log(`${label} primary ${process.pid} (node ${process.version}): forking ${cfg.workers} workers`);
  for (let i = 0; i < cfg.workers; i += 1) {
    cluster.fork();
    alive += 1;
  }
}

/** "" for a single process (its log lines stay as they were), else " [worker i/N, pid P]". */
function workerLabel(cluster, cfg) {
  return cluster.isWorker ? ` [worker ${cluster.worker.id}/${cfg.workers}, pid ${process.pid}]` : "";
}

// ---- who is asking ----------------------------------------------------------------------------------------

// A live session (not revoked, not expired) of an existing user, and the organization the Codex server
// would scope the request to (codex_graphql/accounts/sessions.py _viewer_from + authz.Viewer.scope): the
// membership named by the X-Codex-Organization header (id or slug), else the session's active
// organization if the user is a member of it, else the first membership; none for non-members.
const SESSION_SQL = {
  name: "codex_bench_session",
  text: `select s.user_id::text as user_id, m.organization_id::text as organization_id, m.role
from public.user_session s
join public.user_account u on u.id = s.user_id
left join lateral (
  select om.organization_id, om.role
  from public.organization_membership om
  join public.organization o on o.id = om.organization_id
  where om.user_id = s.user_id
  order by coalesce(om.organization_id::text = $2 or o.slug = $2, false) desc,
           coalesce(om.organization_id = s.active_organization_id, false) desc,
           om.created_at, om.id
  limit 1
) m on true
where s.token_hash = $1 and s.revoked_at is null and s.expires_at > now()`,
};

function bearerToken(headers) {
  const header = headers.authorization || "";
  if (header.slice(0, 7).toLowerCase() !== "bearer ") return null;
  const token = header.slice(7).trim();
  return token || null;
}

function organizationHint(headers) {
  const raw = String(headers["x-codex-organization"] || "").trim();
  if (!raw) return null;
  // A global id "Organization:<uuid>" (urlsafe base64, unpadded) or a slug.
  try {
    const decoded = Buffer.from(raw.replace(/-/g, "+").replace(/_/g, "/"), "base64").toString("utf8");
    const match = /^Organization:([0-9a-f-]{36})$/.exec(decoded);
    if (match) return match[1];
  } catch (_) {
    // not base64: a slug
  }
  return raw.toLowerCase();
}

function makeViewerSettings(pool, cfg) {
  const fixed = {
    role: "codex_bench_app", // codex_app's grants, reading the plain settings (see ../schema.sql)
    "codex.public_base_url": cfg.publicBaseUrl,
    "codex.storage_url_key": cfg.storageUrlKey,
    "codex.receipt_key": cfg.receiptKey,
  };
  const anonymous = Object.freeze({
    ...fixed,
    "codex.user_id": "",
    "codex.organization_id": "",
    "codex.organization_role": "",
  });
  const cache = new Map(); // key -> {settings, until}; insertion order = LRU order
  const CACHE_MAX = 10000;

  async function lookup(hashed, hint) {
    const { rows } = await pool.query({ ...SESSION_SQL, values: [hashed, hint] });
    if (rows.length === 0) return anonymous;
    const row = rows[0];
    return Object.freeze({
      ...fixed,
      "codex.user_id": row.user_id,
      "codex.organization_id": row.organization_id || "",
      "codex.organization_role": row.role || "",
    });
  }

  return async function viewerSettings(headers) {
    const token = bearerToken(headers);
    if (!token || token.length > 200) return anonymous;
    const hashed = crypto.createHash("sha256").update(token).digest("hex");
    const hint = organizationHint(headers);
    if (cfg.sessionCacheMs <= 0) return lookup(hashed, hint);
    const key = hint ? hashed + "|" + hint : hashed;
    const now = Date.now();
    const hit = cache.get(key);
    if (hit && hit.until > now) {
      cache.delete(key);
      cache.set(key, hit);
      return hit.settings;
    }
    const settings = await lookup(hashed, hint);
    cache.set(key, { settings, until: now + cfg.sessionCacheMs });
    if (cache.size > CACHE_MAX) cache.delete(cache.keys().next().value);
    return settings;
  };
}

// ---- what is exposed --------------------------------------------------------------------------------------

const TABLES = EXPOSE.tables;
const FUNCTIONS = new Set(EXPOSE.functions);
const LIST_FUNCTIONS = new Set(EXPOSE.listFunctions);
const COMPOSITES = new Set(EXPOSE.compositeTypes);
const UNINDEXED_FILTERS = EXPOSE.unindexedFilters;

/** Rules for graphile-utils v4 makePgSmartTagsPlugin (entities: class, attribute, procedure). */
function v4SmartTagRules() {
  const classOf = (attr, build) => build.pgIntrospectionResultsByKind.classById[attr.classId];
  return [
    {
      kind: "class",
      match: (c) => c.namespaceName === SCHEMA && !(c.name in TABLES) && !COMPOSITES.has(c.name),
      tags: { omit: true },
    },
    {
      kind: "class",
      match: (c) => c.namespaceName === SCHEMA && c.name in TABLES,
      tags: { omit: "create,update,delete,all" },
    },
    {
      kind: "attribute",
      match: (a, build) => {
        const c = classOf(a, build);
        return Boolean(c && c.namespaceName === SCHEMA && c.name in TABLES && !TABLES[c.name].includes(a.name));
      },
      tags: { omit: true },
    },
    {
      kind: "procedure",
      match: (p) => p.namespaceName === SCHEMA && !FUNCTIONS.has(p.name),
      tags: { omit: true },
    },
    {
      kind: "procedure",
      match: (p) => p.namespaceName === SCHEMA && LIST_FUNCTIONS.has(p.name),
      tags: { simpleCollections: "only" },
    },
  ];
}

/** Rules for graphile-utils v5 pgSmartTags (pg-introspection entities). */
function v5SmartTagRules() {
  const nsp = (entity) => entity.getNamespace && entity.getNamespace()?.nspname;
  return [
    {
      kind: "class",
      match: (c) => nsp(c) === SCHEMA && !(c.relname in TABLES) && !COMPOSITES.has(c.relname),
      tags: { behavior: ["-*"] },
    },
    {
      kind: "class",
      match: (c) => nsp(c) === SCHEMA && c.relname in TABLES,
      tags: { behavior: ["-query:resource:list", "-query:resource:connection"] },
    },
    {
      kind: "attribute",
      match: (a) => {
        const c = a.getClass();
        return Boolean(c && nsp(c) === SCHEMA && c.relname in TABLES && !TABLES[c.relname].includes(a.attname));
      },
      tags: { behavior: ["-*"] },
    },
    {
      // v5 (unlike v4) only lets indexed columns filter; these filters match partial or no indexes.
      kind: "attribute",
      match: (a) => {
        const c = a.getClass();
        return Boolean(c && nsp(c) === SCHEMA && (UNINDEXED_FILTERS[c.relname] || []).includes(a.attname));
      },
      tags: { behavior: ["+filterBy"] },
    },
    {
      // Unique keys and foreign keys over hidden columns (v4 drops those by itself): no
      // userAccountByEmail lookup, no Purchase.creator relation, ...
      kind: "constraint",
      match: (con) => {
        const c = con.getClass();
        if (!c || nsp(c) !== SCHEMA || !(c.relname in TABLES)) return false;
        return (con.getAttributes() || []).some((a) => !TABLES[c.relname].includes(a.attname));
      },
      tags: { behavior: ["-*"] },
    },
    {
      kind: "procedure",
      match: (p) => nsp(p) === SCHEMA && !FUNCTIONS.has(p.proname),
      tags: { behavior: ["-*"] },
    },
    {
      kind: "procedure",
      match: (p) => nsp(p) === SCHEMA && LIST_FUNCTIONS.has(p.proname),
      tags: { behavior: ["-connection", "+list"] },
    },
  ];
}

module.exports = {
  config, makeViewerSettings, superviseWorkers, workerLabel, v4SmartTagRules, v5SmartTagRules, EXPOSE,
};
