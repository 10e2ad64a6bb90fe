/*
 * index.js - the Worker's entry: health, auth, the fault switch, then one router per concern.
 *
 *   GET /_health              always open: {"ok": true, ...}
 *   /_faults                  the fault switch (only with the FAULTS binding; see faults.js)
 *   /_kv/...                  binary-safe KV API (kv.js)        -> cloudflare-kv://
 *   /_d1/...                  D1 query route and kv table (d1.js) -> cloudflare-d1://
 *   /client/v4/...            the official REST API's shapes (rest.js) -> cloudflare-rest://
 *   /anything/else            jsonbase-compatible JSON by path (jsonbase.js)
 *
 * Bindings: KV (a KV namespace), DB (a D1 database); optional AUTH_TOKEN (secret), FAULTS,
 * ACCOUNT_ID, KV_NAMESPACE_ID, D1_DATABASE_ID, D1_TABLE.
 */
import { checkAuth } from "./auth.js";
import { faultsEnabled, handleFaults, maybeFault } from "./faults.js";
import { HttpError, errorResponse, json } from "./http.js";
import { handleKv } from "./kv.js";
import { handleD1 } from "./d1.js";
import { handleRest } from "./rest.js";
import { handleJsonbase } from "./jsonbase.js";

const VERSION = "1.0.0";

async function route(request, env) {
  const url = new URL(request.url);
  const path = url.pathname;
  if (path === "/_health")
    return json({ ok: true, worker: "ultradict-kv", version: VERSION, kv: !!env.KV, d1: !!env.DB });
  checkAuth(request, env);
  if (path === "/_faults") {
    if (!faultsEnabled(env)) throw new HttpError("noRoute");
    return handleFaults(request);
  }
  await maybeFault(env);
  if (path === "/_kv" || path.startsWith("/_kv/")) return handleKv(request, env, url, path);
  if (path === "/_d1" || path.startsWith("/_d1/")) return handleD1(request, env, url, path);
  if (path.startsWith("/client/v4/")) return handleRest(request, env, url, path);
  if (path.startsWith("/_")) throw new HttpError("noRoute", "paths starting with '/_' are reserved");
  if (path === "/") return json({ worker: "ultradict-kv", version: VERSION, see: "/_health" });
  return handleJsonbase(request, env, path);
}

export default {
  async fetch(request, env) {
    try {
      return await route(request, env);
    } catch (e) {
      return errorResponse(e);
    }
  },
};
