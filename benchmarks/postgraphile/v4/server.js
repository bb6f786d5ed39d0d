"use strict";
/*
 * PostGraphile v4 in front of the Codex database, for benchmarks/ (see ../README.md).
 *
 *   DATABASE_URL=postgresql://postgres@127.0.0.1:5432/db PORT=5004 SECRET_KEY=... PUBLIC_BASE_URL=... node server.js
 *
 * Serves POST /graphql on HOST:PORT (default 127.0.0.1:5000) with node:http. The login role must be able to
 * `SET ROLE codex_app` (the migrations grant that to the migrating user) and ../schema.sql must have been
 * applied. Every request runs in one transaction with role codex_app and the viewer's codex.* settings, so
 * the migrations' row-level security decides what is visible, as for the Codex server.
 *
 * PGB_WORKERS=N (default 1) > 1: cluster mode. This process becomes the node:cluster primary, which only
 * forks and supervises N workers (../common.cjs superviseWorkers); each worker runs the server below with
 * its own pg pool (PGB_POOL_MAX connections) on the shared port. With 1 it is the single process it always was.
 */
const cluster = require("node:cluster");
const { config, makeViewerSettings, superviseWorkers, workerLabel, v4SmartTagRules } = require("../common.cjs");

const cfg = config();
if (cfg.workers > 1 && cluster.isPrimary) {
  superviseWorkers(cluster, cfg, "postgraphile v4");
} else {
  serve();
}

function serve() {
  // Required here, not at the top: a cluster primary never loads pg or PostGraphile.
  const http = require("node:http");
  const { Pool } = require("pg");
  const { postgraphile, makePgSmartTagsPlugin } = require("postgraphile");
  const PgSimplifyInflectorPlugin = require("@graphile-contrib/pg-simplify-inflector");

  const pool = new Pool({ connectionString: cfg.databaseUrl, max: cfg.poolMax });
  pool.on("error", (error) => console.error("idle pg client error:", error.message));
  const viewerSettings = makeViewerSettings(pool, cfg);

  const middleware = postgraphile(pool, ["public"], {
    // Production-ish: no GraphiQL, no query log, no watch, no explain, fail fast at start.
    graphiql: false,
    enhanceGraphiql: false,
    watchPg: false,
    disableQueryLog: true,
    retryOnInitFail: false,
    dynamicJson: true,
    setofFunctionsContainNulls: false,
    ignoreRBAC: false,
    ignoreIndexes: true,
    extendedErrors: [],
    showErrorStack: false,
    allowExplain: false,
    enableQueryBatching: false,
    disableDefaultMutations: true,
    legacyRelations: "omit",
    // Node ids as `id`, the uuid primary keys as `rowId`: the names v5's amber preset uses, so one set of
    // documents (../operations) serves both versions.
    classicIds: true,
    bodySizeLimit: "1MB",
    appendPlugins: [PgSimplifyInflectorPlugin, makePgSmartTagsPlugin(v4SmartTagRules())],
    graphileBuildOptions: { pgOmitListSuffix: false },
    pgSettings: (req) => viewerSettings(req.headers),
    ...(process.env.PGB_EXPORT_SCHEMA ? { exportGqlSchemaPath: process.env.PGB_EXPORT_SCHEMA, sortExport: true } : {}),
  });

  const server = http.createServer(middleware);
  server.keepAliveTimeout = 65000;
  server.listen(cfg.port, cfg.host, () => {
    console.log(`postgraphile v4 listening on http://${cfg.host}:${cfg.port}/graphql (node ${process.version})` +
                workerLabel(cluster, cfg));
  });

  let stopping = false; // a cluster worker may get SIGTERM twice: from the group and from its primary
  function shutdown() {
    if (stopping) return;
    stopping = true;
    server.close(() => pool.end().finally(() => process.exit(0)));
    setTimeout(() => process.exit(0), 3000).unref();
  }
  process.on("SIGTERM", shutdown);
  process.on("SIGINT", shutdown);
}
