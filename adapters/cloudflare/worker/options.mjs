/*
 * options.mjs - the miniflare options that describe this Worker: its script, module rules,
 * compatibility date and binding names. The local runtime (run.mjs) and the route tests
 * (test/routes.test.mjs) both start from them, so the tests run the Worker the runtime runs.
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));

/* Offline (no `cf` data, no telemetry); `kv` and `d1` name the KV namespace and D1 database
 * bound as KV and DB. */
export function workerOptions(kv, d1) {
  return {
    cf: false,
    telemetry: { enabled: false },
    modules: true,
    scriptPath: join(here, "src", "index.js"),
    modulesRoot: join(here, "src"),
    modulesRules: [{ type: "ESModule", include: ["**/*.js"] }],
    compatibilityDate: "2026-04-20",
    kvNamespaces: { KV: kv },
    d1Databases: { DB: d1 },
  };
}
