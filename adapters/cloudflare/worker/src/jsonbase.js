/*
 * jsonbase.js - the routes of the jsonbase seed: the key is the URL path, the value JSON.
 *
 *   POST|PUT /bucket/name   JSON body: stored under "bucket/name", answered with the stored JSON
 *   GET      /bucket/name   the stored JSON, or a JSON 404 (jsonbase fetched an image instead)
 *   DELETE   /bucket/name   removes it (404 when absent)
 *
 * A body sent with a Content-Type other than JSON is stored as it is and answered with that type
 * (the seed's fork stores files this way). The same namespace is reachable as bytes under /_kv/.
 */
import { HttpError, json, readBytes, bytesToText } from "./http.js";
import { binding, getWithMetadata, putValue } from "./kv.js";

function keyOf(path) {
  try {
    return decodeURIComponent(path.slice(1));
  } catch {
    throw new HttpError("badBody", "the path is not valid percent-encoded UTF-8");
  }
}

export async function handleJsonbase(request, env, path) {
  const key = keyOf(path);
  const m = request.method;
  if (m === "POST" || m === "PUT") {
    const ct = (request.headers.get("content-type") || "application/json").toLowerCase();
    const bytes = await readBytes(request);
    const isJson = ct.includes("json") || ct.startsWith("application/x-www-form-urlencoded");
    if (isJson) {
      const text = bytesToText(bytes);
      try {
        JSON.parse(text ?? "");
      } catch {
        throw new HttpError("badBody", "the body is not JSON (send another Content-Type to store bytes)");
      }
      await putValue(env, key, bytes);
      return new Response(bytes, { headers: { "content-type": "application/json; charset=utf-8" } });
    }
    await putValue(env, key, bytes, { metadata: { content_type: ct } });
    return json({ status: 1, message: "storage ok", key });
  }
  if (m === "GET" || m === "HEAD") {
    const r = await getWithMetadata(env, key);
    if (r.value === null)
      return json({ error: "not found", key }, 404);
    const ct = (r.metadata && r.metadata.content_type) || "application/json; charset=utf-8";
    return new Response(m === "HEAD" ? null : r.value, { headers: { "content-type": ct } });
  }
  if (m === "DELETE") {
    const r = await getWithMetadata(env, key);
    if (r.value === null) return json({ error: "not found", key }, 404);
    await binding("delete", () => env.KV.delete(key));
    return json({ deleted: key });
  }
  throw new HttpError("method");
}
