// PostGraphile v5 configuration for the Codex benchmark (see ../README.md and server.mjs).
// The pg pool is shared with the session lookup, so the config is built by a function.
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";
import { makePgService } from "postgraphile/adaptors/pg";
import { pgSmartTags } from "postgraphile/utils";
import { PgSimplifyInflectionPreset } from "@graphile/simplify-inflection";
import common from "../common.cjs";

/** @returns {GraphileConfig.Preset} */
export function makePreset({ pool, cfg, viewerSettings }) {
  return {
    extends: [PostGraphileAmberPreset, PgSimplifyInflectionPreset],
    plugins: [pgSmartTags(common.v5SmartTagRules(), null, { name: "CodexBenchExposePlugin" })],
    pgServices: [
      makePgService({
        pool,
        schemas: ["public"],
        pubsub: false, // no subscriptions: no LISTEN connection
      }),
    ],
    gather: {
      pgFakeConstraintsAutofixForeignKeyUniqueness: true,
    },
    schema: {
      pgForbidSetofFunctionsToReturnNull: true, // v4's setofFunctionsContainNulls: false
      jsonScalarAsString: false, // v4's dynamicJson: true
      // Read-only, like the v4 server's disableDefaultMutations (function mutations are omitted by the tags).
      defaultBehavior: "-insert -update -delete",
      ...(process.env.PGB_EXPORT_SCHEMA ? { exportSchemaSDLPath: process.env.PGB_EXPORT_SCHEMA, sortExport: true } : {}),
    },
    grafast: {
      explain: false,
      // pgSettings may need a database round trip, so they come from the (async) context callback.
      async context(requestContext) {
        const req = requestContext.node?.req;
        return { pgSettings: await viewerSettings(req ? req.headers : {}) };
      },
    },
    grafserv: {
      host: cfg.host,
      port: cfg.port,
      graphqlPath: "/graphql",
      graphiql: false,
      graphiqlOnGraphQLGET: false,
      watch: false,
      websockets: false,
      maxRequestLength: 1_000_000,
    },
  };
}
