/*
 * kv.js - Workers KV: the checks and operations every KV route shares, and the Worker's own
 * binary-safe KV API under /_kv/ (the routes the cloudflare-kv:// adapter uses):
 *
 *   GET|PUT|DELETE /_kv/values/KEY   one value, raw bytes (also ?key=KEY instead of /KEY)
 *   GET  /_kv/keys?prefix=&cursor=&limit=   names, 1000 at most per page, with a cursor
 *   POST /_kv/bulk          [{"key","value","base64"}...]  write up to 1000 entries
 *   POST /_kv/bulk/get      {"keys": [...]}                up to 1000 values, base64, in order
 *   POST /_kv/bulk/delete   ["key", ...]                   delete up to 1000 keys
 *
 * Keys are text (KV keys are strings): at most 512 bytes of UTF-8, not "." or "..".
 *
 * A value these routes write that a text-only read would not return exactly (see isExactText)
 * gets the metadata {"ud_bin": 1}, plus {"ud_b64": its base64} when it is at most 720 bytes:
 * the official bulk/get (text only) then tells the cloudflare-rest:// adapter to read it by
 * itself, or carries it in the metadata. The adapter marks what it writes the same way.
 */
import {
  HttpError,
  LIMITS,
  fromBase64,
  intParam,
  isExactText,
  ok,
  percentDecodeText,
  readBytes,
  readJson,
  runtimeCall,
  toBase64,
  toBytes,
  utf8Length,
} from "./http.js";

/* Runs fn over items with at most `width` calls in flight (a thousand at once only queue up). */
export async function inParallel(items, width, fn) {
  const out = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
  return out;
}

export function checkKey(key) {
  if (typeof key !== "string" || key.length === 0) throw new HttpError("badBody", "empty key");
  if (key === "." || key === "..") throw new HttpError("badBody", `illegal key name '${key}'`);
  const n = utf8Length(key);
  if (n > LIMITS.kvKeyBytes)
    throw new HttpError("keyTooLong", `UTF-8 encoded length of ${n} exceeds key length limit of 512`);
}

export function checkValue(bytes) {
  if (bytes.length > LIMITS.kvValueBytes)
    throw new HttpError(
      "valueTooBig",
      `${bytes.length} bytes exceeds the value size limit of ${LIMITS.kvValueBytes}`,
    );
}

/* The body of a bulk/get, {"keys": [...], ...}, with at most `max` keys. */
export async function bulkGetBody(request, max) {
  const body = await readJson(request);
  const keys = body && body.keys;
  if (!Array.isArray(keys)) throw new HttpError("badBody", "expected {\"keys\": [...]}");
  if (keys.length > max)
    throw new HttpError("tooMany", `${keys.length} keys, at most ${max} per request`);
  return body;
}

/* Runs a binding call and turns the runtime's exceptions into clear API errors. */
export function binding(what, fn) {
  return runtimeCall(what, fn, /too large|exceeds/i, "badBody");
}

/* The metadata that marks bytes a text read would change, or undefined for exact text. */
export function binaryMarker(bytes) {
  if (isExactText(bytes)) return undefined;
  return bytes.length <= LIMITS.kvMetaValueBytes ? { ud_bin: 1, ud_b64: toBase64(bytes) } : { ud_bin: 1 };
}

export async function putValue(env, key, bytes, opts) {
  checkKey(key);
  checkValue(bytes);
  await binding("put", () => env.KV.put(key, bytes, opts || {}));
}

export async function getValue(env, key) {
  checkKey(key);
  const v = await binding("get", () => env.KV.get(key, "arrayBuffer"));
  return v === null ? null : new Uint8Array(v);
}

export async function getWithMetadata(env, key) {
  checkKey(key);
  return binding("get", () => env.KV.getWithMetadata(key, "arrayBuffer"));
}

export async function listKeys(env, url, minLimit) {
  const limit = intParam(url, "limit", 1000, minLimit, 1000);
  const prefix = url.searchParams.get("prefix") || undefined;
  const cursor = url.searchParams.get("cursor") || undefined;
  const r = await binding("list", () => env.KV.list({ prefix, cursor, limit }));
  const keys = r.keys.map((k) => {
    const o = { name: k.name };
    if (k.expiration) o.expiration = k.expiration;
    if (k.metadata !== undefined && k.metadata !== null) o.metadata = k.metadata;
    return o;
  });
  const next = r.list_complete ? "" : r.cursor;
  return ok(keys, { result_info: { count: keys.length, cursor: next } });
}

/*
 * The shape of the official bulk write: {key, value, base64?, metadata?, expiration?, ...}.
 * With `mark` (our /_kv routes) an entry without metadata gets binaryMarker()'s.
 */
export async function bulkWrite(env, entries, max, mark) {
  if (!Array.isArray(entries)) throw new HttpError("badBody", "expected an array of entries");
  if (entries.length > max)
    throw new HttpError("tooMany", `${entries.length} entries, at most ${max} per request`);
  const prepared = entries.map((e, i) => {
    if (!e || typeof e !== "object") throw new HttpError("badBody", `entry ${i} is not an object`);
    checkKey(e.key);
    if (typeof e.value !== "string")
      throw new HttpError("badBody", `entry ${i}: value must be a string`);
    const bytes = e.base64 ? fromBase64(e.value) : toBytes(e.value);
    checkValue(bytes);
    const opts = {};
    const md = e.metadata !== undefined ? e.metadata : mark ? binaryMarker(bytes) : undefined;
    if (md !== undefined) opts.metadata = md;
    if (e.expiration !== undefined) opts.expiration = e.expiration;
    if (e.expiration_ttl !== undefined) opts.expirationTtl = e.expiration_ttl;
    return [e.key, bytes, opts];
  });
  await inParallel(prepared, 32, ([k, b, o]) => binding("put", () => env.KV.put(k, b, o)));
  return { successful_key_count: prepared.length, unsuccessful_keys: [] };
}

export async function bulkDelete(env, keys, max) {
  if (!Array.isArray(keys)) throw new HttpError("badBody", "expected an array of keys");
  if (keys.length > max)
    throw new HttpError("tooMany", `${keys.length} keys, at most ${max} per request`);
  keys.forEach(checkKey);
  await Promise.all(keys.map((k) => binding("delete", () => env.KV.delete(k))));
  return { successful_key_count: keys.length, unsuccessful_keys: [] };
}

/* A key taken from the rest of the path, or from ?key= (needed for keys such as ".."). */
function keyFrom(url, rest) {
  const q = url.searchParams.get("key");
  if (q !== null) return q;
  return percentDecodeText(rest);
}

export async function handleKv(request, env, url, path) {
  const m = request.method;
  if (path === "/_kv/keys" && m === "GET") return listKeys(env, url, 1);
  if (path === "/_kv/bulk" && (m === "POST" || m === "PUT"))
    return ok(await bulkWrite(env, await readJson(request), LIMITS.workerOps, true));
  if (path === "/_kv/bulk/delete" && m === "POST")
    return ok(await bulkDelete(env, await readJson(request), LIMITS.workerOps));
  if (path === "/_kv/bulk/get" && m === "POST") {
    const { keys } = await bulkGetBody(request, LIMITS.workerOps);
    const values = await Promise.all(keys.map((k) => getValue(env, k)));
    return ok({ values: values.map((v) => (v === null ? null : toBase64(v))) });
  }
  if (path === "/_kv/values" || path.startsWith("/_kv/values/")) {
    const key = keyFrom(url, path.slice("/_kv/values/".length));
    if (m === "GET" || m === "HEAD") {
      const v = await getValue(env, key);
      if (v === null) throw new HttpError("notFound");
      return new Response(m === "HEAD" ? null : v, {
        headers: { "content-type": "application/octet-stream", "content-length": String(v.length) },
      });
    }
    if (m === "PUT" || m === "POST") {
      const bytes = await readBytes(request);
      const md = binaryMarker(bytes);
      await putValue(env, key, bytes, md ? { metadata: md } : {});
      return ok({});
    }
    if (m === "DELETE") {
      /* KV's delete does not say whether the key existed; a read first lets us answer 404. */
      if ((await getValue(env, key)) === null) throw new HttpError("notFound");
      await binding("delete", () => env.KV.delete(key));
      return ok({});
    }
    throw new HttpError("method");
  }
  throw new HttpError("noRoute");
}
