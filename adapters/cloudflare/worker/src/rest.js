/*
 * rest.js - the official Cloudflare API's paths and response shapes for Workers KV and D1, so
 * that one client (cloudflare-rest://) talks to the real API and to this Worker alike:
 *
 *   /client/v4/accounts/ACCT/storage/kv/namespaces/NS/values/KEY     GET raw | PUT | DELETE
 *   /client/v4/accounts/ACCT/storage/kv/namespaces/NS/metadata/KEY   GET
 *   /client/v4/accounts/ACCT/storage/kv/namespaces/NS/keys           GET ?prefix&cursor&limit
 *   /client/v4/accounts/ACCT/storage/kv/namespaces/NS/bulk           PUT (write) | DELETE
 *   /client/v4/accounts/ACCT/storage/kv/namespaces/NS/bulk/get       POST
 *   /client/v4/accounts/ACCT/storage/kv/namespaces/NS/bulk/delete    POST
 *   /client/v4/accounts/ACCT/d1/database/DB/query                    POST
 *   /client/v4/accounts/ACCT/d1/database/DB/raw                      POST
 *
 * This Worker has one namespace and one database: ACCT, NS and DB must equal the ACCOUNT_ID,
 * KV_NAMESPACE_ID and D1_DATABASE_ID bindings when those are set, and may be anything otherwise.
 */
import { HttpError, LIMITS, ok, readBytes, readJson, toBytes } from "./http.js";
import {
  binding,
  bulkDelete,
  bulkGetBody,
  bulkWrite,
  checkKey,
  getWithMetadata,
  listKeys,
  putValue,
} from "./kv.js";
import { runQuery } from "./d1.js";

const KV_RE = /^\/client\/v4\/accounts\/([^/]+)\/storage\/kv\/namespaces\/([^/]+)\/(.+)$/;
const D1_RE = /^\/client\/v4\/accounts\/([^/]+)\/d1\/database\/([^/]+)\/(query|raw)$/;

function checkId(env, name, given, kind) {
  const want = env[name];
  if (want && want !== given) throw new HttpError(kind, `unknown id '${given}'`);
}

function decodeKey(s) {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new HttpError("badBody", "the key is not valid percent-encoded UTF-8");
  }
}

async function putFromRequest(request, env, key, url) {
  const opts = {};
  const exp = url.searchParams.get("expiration");
  const ttl = url.searchParams.get("expiration_ttl");
  if (exp) opts.expiration = Number(exp);
  if (ttl) opts.expirationTtl = Number(ttl);
  const ct = request.headers.get("content-type") || "";
  let bytes;
  if (ct.startsWith("multipart/form-data")) {
    const form = await request.formData();
    const v = form.get("value");
    if (v === null) throw new HttpError("badBody", "multipart body without a 'value' part");
    bytes = typeof v === "string" ? toBytes(v) : new Uint8Array(await v.arrayBuffer());
    const md = form.get("metadata");
    if (md !== null) {
      try {
        opts.metadata = JSON.parse(typeof md === "string" ? md : await md.text());
      } catch {
        throw new HttpError("badBody", "metadata is not JSON");
      }
    }
  } else {
    bytes = await readBytes(request);
  }
  await putValue(env, key, bytes, opts);
}

async function handleKvRest(request, env, url, rest) {
  const m = request.method;
  if (rest.startsWith("values/")) {
    const key = decodeKey(rest.slice("values/".length));
    if (m === "GET") {
      const r = await getWithMetadata(env, key);
      if (r.value === null) throw new HttpError("notFound");
      const v = new Uint8Array(r.value);
      return new Response(v, {
        headers: { "content-type": "application/octet-stream", "content-length": String(v.length) },
      });
    }
    if (m === "PUT") {
      await putFromRequest(request, env, key, url);
      return ok({});
    }
    if (m === "DELETE") {
      checkKey(key);
      await binding("delete", () => env.KV.delete(key));
      return ok({});
    }
    throw new HttpError("method");
  }
  if (rest.startsWith("metadata/") && m === "GET") {
    const r = await getWithMetadata(env, decodeKey(rest.slice("metadata/".length)));
    if (r.value === null) throw new HttpError("notFound");
    return ok(r.metadata ?? null);
  }
  if (rest === "keys" && m === "GET") return listKeys(env, url, 10);
  if (rest === "bulk" && m === "PUT")
    return ok(await bulkWrite(env, await readJson(request), LIMITS.kvBulkWrite));
  if ((rest === "bulk" && m === "DELETE") || (rest === "bulk/delete" && m === "POST"))
    return ok(await bulkDelete(env, await readJson(request), LIMITS.kvBulkWrite));
  if (rest === "bulk/get" && m === "POST") {
    const body = await bulkGetBody(request, LIMITS.kvBulkGet);
    const keys = body.keys;
    const asJson = body.type === "json";
    const dec = new TextDecoder();
    const values = {};
    await Promise.all(
      keys.map(async (k) => {
        const r = await getWithMetadata(env, k);
        let v = r.value === null ? null : dec.decode(r.value);
        if (v !== null && asJson) {
          try {
            v = JSON.parse(v);
          } catch {
            throw new HttpError("badBody", `the value of '${k}' is not JSON`);
          }
        }
        values[k] = body.withMetadata
          ? v === null
            ? null
            : { value: v, metadata: r.metadata ?? null }
          : v;
      }),
    );
    return ok({ values });
  }
  throw new HttpError("noRoute");
}

export async function handleRest(request, env, url, path) {
  let m = KV_RE.exec(path);
  if (m) {
    checkId(env, "ACCOUNT_ID", m[1], "noObject");
    checkId(env, "KV_NAMESPACE_ID", m[2], "noNamespace");
    return handleKvRest(request, env, url, m[3]);
  }
  m = D1_RE.exec(path);
  if (m) {
    checkId(env, "ACCOUNT_ID", m[1], "noObject");
    checkId(env, "D1_DATABASE_ID", m[2], "noObject");
    if (request.method !== "POST") throw new HttpError("method");
    return runQuery(env, await readJson(request), m[3] === "raw");
  }
  throw new HttpError("noRoute");
}
