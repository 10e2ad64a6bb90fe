/*
 * d1.js - D1: the query route (official response shape) and a key-value table over D1.
 *
 *   POST /_d1/query   {"sql", "params"} or {"batch": [{"sql", "params"}...]}  rows as objects
 *   POST /_d1/raw     the same, rows as arrays with the column names beside them
 *
 * The key-value table (env.D1_TABLE, default "kv": k BLOB PRIMARY KEY, v BLOB); keys and values
 * are bytes, so everything that carries them in JSON uses base64:
 *
 *   GET|PUT|DELETE /_d1/kv/KEY       one value, raw bytes (also ?key=KEY for text keys)
 *   POST /_d1/incr/KEY?by=N          atomic add, one upsert ... RETURNING; answers {"value": "N"}
 *   POST /_d1/kv/bulk                [{"key","value","base64"}...] upsert up to 1000, atomically
 *   POST /_d1/kv/bulk/get            {"keys": [...], "base64": true}  up to 1000, in order
 *   POST /_d1/kv/bulk/delete         {"keys": [...], "base64": true}  up to 1000
 *   GET  /_d1/kv/entries?after=B64&limit=N&max_bytes=M   a page of [key, value] in key order
 *   GET  /_d1/kv/count               {"count": N}
 *   POST /_d1/kv/clear               removes every entry
 *
 * With "base64": true both keys and values of a bulk body are base64; without it they are text.
 */
import {
  HttpError,
  LIMITS,
  columnBytes,
  fromBase64,
  intParam,
  ok,
  percentDecodeBytes,
  readBytes,
  readJson,
  runtimeCall,
  toBase64,
  toBytes,
} from "./http.js";

/* ---- The query route. ---- */

/* Splits "a; b" into statements, leaving semicolons inside quotes and comments alone. */
export function splitStatements(sql) {
  const out = [];
  let cur = "";
  for (let i = 0; i < sql.length; i++) {
    const c = sql[i];
    if (c === "'" || c === '"' || c === "`" || c === "[") {
      const close = c === "[" ? "]" : c;
      let j = i + 1;
      while (j < sql.length && sql[j] !== close) j++;
      cur += sql.slice(i, j + 1);
      i = j;
    } else if (c === "-" && sql[i + 1] === "-") {
      let j = sql.indexOf("\n", i);
      if (j < 0) j = sql.length;
      i = j;
      cur += " ";
    } else if (c === "/" && sql[i + 1] === "*") {
      let j = sql.indexOf("*/", i + 2);
      i = j < 0 ? sql.length : j + 1;
      cur += " ";
    } else if (c === ";") {
      if (cur.trim()) out.push(cur.trim());
      cur = "";
    } else cur += c;
  }
  if (cur.trim()) out.push(cur.trim());
  return out;
}

function bindValue(p, i) {
  if (p === null || typeof p === "string" || typeof p === "number") return p;
  if (typeof p === "boolean") return p ? 1 : 0;
  /* An extension of ours: {"base64": "..."} binds a BLOB. */
  if (p && typeof p === "object" && typeof p.base64 === "string") return fromBase64(p.base64);
  throw new HttpError("badBody", `parameter ${i + 1} has an unsupported type`);
}

/* BLOBs are answered as arrays of byte values, as the D1 HTTP API does. */
function jsonCell(v) {
  if (v instanceof ArrayBuffer) return Array.from(new Uint8Array(v));
  if (ArrayBuffer.isView(v)) return Array.from(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
  return v;
}

function shapeResult(r, raw) {
  const rows = (r.results || []).map((row) => {
    const o = {};
    for (const k of Object.keys(row)) o[k] = jsonCell(row[k]);
    return o;
  });
  const results = raw
    ? { columns: rows.length ? Object.keys(rows[0]) : [], rows: rows.map((o) => Object.values(o)) }
    : rows;
  return { results, success: true, meta: r.meta || {} };
}

function d1(what, fn) {
  return runtimeCall(what, fn, /too big|SQLITE_TOOBIG/i, "sql");
}

export async function runQuery(env, body, raw) {
  if (!body || typeof body !== "object") throw new HttpError("badBody", "expected an object");
  const list = Array.isArray(body.batch) ? body.batch : [body];
  if (list.length === 0) throw new HttpError("badBody", "empty batch");
  const stmts = [];
  for (const q of list) {
    if (!q || typeof q.sql !== "string" || !q.sql.trim())
      throw new HttpError("badBody", "every query needs a non-empty \"sql\" string");
    const params = q.params === undefined ? [] : q.params;
    if (!Array.isArray(params)) throw new HttpError("badBody", "\"params\" must be an array");
    const parts = splitStatements(q.sql);
    if (parts.length > 1 && params.length)
      throw new HttpError("badBody", "parameters are only allowed with a single statement");
    for (const s of parts) {
      const st = env.DB.prepare(s);
      stmts.push(params.length ? st.bind(...params.map(bindValue)) : st);
    }
  }
  const results =
    stmts.length === 1
      ? [await d1("query", () => stmts[0].all())]
      : await d1("batch", () => env.DB.batch(stmts));
  return ok(results.map((r) => shapeResult(r, raw)));
}

/* ---- The key-value table. ---- */

let tableReady = null;

function table(env) {
  const t = env.D1_TABLE || "kv";
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(t)) throw new HttpError("internal", "bad D1_TABLE");
  return t;
}

/* Creates the table once per isolate (CREATE ... IF NOT EXISTS is cheap but not free). */
export function ensureTable(env) {
  if (!tableReady) {
    const t = table(env);
    tableReady = d1("create table", () =>
      env.DB.prepare(`CREATE TABLE IF NOT EXISTS ${t} (k BLOB PRIMARY KEY NOT NULL, v BLOB NOT NULL)`).run(),
    ).catch((e) => {
      tableReady = null;
      throw e;
    });
  }
  return tableReady;
}

function checkD1(key, value) {
  if (key.length === 0) throw new HttpError("badBody", "empty key");
  if (value && key.length + value.length > LIMITS.d1ValueBytes)
    throw new HttpError(
      "valueTooBig",
      `a D1 row holds at most ${LIMITS.d1ValueBytes} bytes; this one has ${key.length + value.length}`,
    );
}

function decodeEntryPart(s, base64, what, i) {
  if (typeof s !== "string") throw new HttpError("badBody", `entry ${i}: ${what} must be a string`);
  return base64 ? fromBase64(s) : toBytes(s);
}

function bulkKeys(body) {
  const keys = Array.isArray(body) ? body : body && body.keys;
  const b64 = !Array.isArray(body) && body && body.base64;
  if (!Array.isArray(keys)) throw new HttpError("badBody", "expected {\"keys\": [...]}");
  if (keys.length > LIMITS.workerOps)
    throw new HttpError("tooMany", `${keys.length} keys, at most ${LIMITS.workerOps} per request`);
  return keys.map((k, i) => decodeEntryPart(k, b64, "key", i));
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

function toHex(bytes) {
  let s = "";
  for (let i = 0; i < bytes.length; i++) s += HEX[bytes[i]];
  return s;
}

function chunks(arr, n) {
  const out = [];
  for (let i = 0; i < arr.length; i += n) out.push(arr.slice(i, i + n));
  return out;
}

async function bulkUpsert(env, body) {
  if (!Array.isArray(body)) throw new HttpError("badBody", "expected an array of entries");
  if (body.length > LIMITS.workerOps)
    throw new HttpError("tooMany", `${body.length} entries, at most ${LIMITS.workerOps} per request`);
  if (body.length === 0) return ok({ successful_key_count: 0, unsuccessful_keys: [] });
  const t = table(env);
  const rows = body.map((e, i) => {
    if (!e || typeof e !== "object") throw new HttpError("badBody", `entry ${i} is not an object`);
    const k = decodeEntryPart(e.key, e.base64, "key", i);
    const v = decodeEntryPart(e.value, e.base64, "value", i);
    checkD1(k, v);
    return [k, v];
  });
  /* 50 rows of 2 parameters per statement (D1 allows 100); one batch = one transaction. */
  /* Bound as hex text and unhex()ed in SQL: several times faster than binding byte arrays. */
  const stmts = chunks(rows, LIMITS.d1Params / 2).map((c) =>
    env.DB.prepare(
      `INSERT INTO ${t} (k, v) VALUES ${c.map(() => "(unhex(?), unhex(?))").join(", ")} ` +
        `ON CONFLICT (k) DO UPDATE SET v = excluded.v`,
    ).bind(...c.flat().map(toHex)),
  );
  await d1("bulk write", () => env.DB.batch(stmts));
  return ok({ successful_key_count: rows.length, unsuccessful_keys: [] });
}

async function bulkGet(env, body) {
  const keys = bulkKeys(body);
  const t = table(env);
  const parts = chunks(keys, LIMITS.d1Params);
  const stmts = parts.map((c) =>
    env.DB.prepare(`SELECT k, v FROM ${t} WHERE k IN (${c.map(() => "unhex(?)").join(", ")})`).bind(
      ...c.map(toHex),
    ),
  );
  const found = new Map();
  if (stmts.length) {
    const res = await d1("bulk get", () => env.DB.batch(stmts));
    for (const r of res)
      for (const row of r.results) found.set(toBase64(columnBytes(row.k)), columnBytes(row.v));
  }
  const values = keys.map((k) => {
    const v = found.get(toBase64(k));
    return v === undefined ? null : toBase64(v);
  });
  return ok({ values });
}

async function bulkDelete(env, body) {
  const keys = bulkKeys(body);
  const t = table(env);
  const stmts = chunks(keys, LIMITS.d1Params).map((c) =>
    env.DB.prepare(`DELETE FROM ${t} WHERE k IN (${c.map(() => "?").join(", ")})`).bind(...c),
  );
  let n = 0;
  if (stmts.length)
    for (const r of await d1("bulk delete", () => env.DB.batch(stmts))) n += r.meta.changes || 0;
  return ok({ successful_key_count: keys.length, deleted: n, unsuccessful_keys: [] });
}

/*
 * A page of entries in key order after the key `after`, at most `limit` rows and about
 * `max_bytes` bytes (always at least one row), so one page never grows without bound.
 */
async function entries(env, url) {
  const t = table(env);
  const limit = intParam(url, "limit", 1000, 1, 10000);
  const maxBytes = intParam(url, "max_bytes", 8 << 20, 1, 64 << 20);
  const after = url.searchParams.get("after");
  const afterKey = after ? fromBase64(after) : new Uint8Array(0);
  const r = await d1("entries", () =>
    env.DB.prepare(
      `SELECT k, v FROM (SELECT k, v, sum(length(k) + length(v)) OVER (ORDER BY k) AS run ` +
        `FROM (SELECT k, v FROM ${t} WHERE k > ? ORDER BY k LIMIT ?)) ` +
        `WHERE run - (length(k) + length(v)) < ? ORDER BY k`,
    )
      .bind(afterKey, limit, maxBytes)
      .all(),
  );
  const rows = r.results.map((row) => [toBase64(columnBytes(row.k)), toBase64(columnBytes(row.v))]);
  /* A short page can be the last one or one cut by max_bytes: the client asks again until empty. */
  const cursor = rows.length ? rows[rows.length - 1][0] : "";
  return ok({ entries: rows, cursor });
}

const INCR_SQL = (t) =>
  `INSERT INTO ${t} (k, v) VALUES (?1, CAST(CAST(?2 AS INTEGER) AS TEXT)) ` +
  `ON CONFLICT (k) DO UPDATE SET v = CAST(CAST(CAST(v AS TEXT) AS INTEGER) + CAST(?2 AS INTEGER) AS TEXT) ` +
  `WHERE CAST(CAST(CAST(v AS TEXT) AS INTEGER) AS TEXT) = CAST(v AS TEXT) ` +
  `AND typeof(CAST(CAST(v AS TEXT) AS INTEGER) + CAST(?2 AS INTEGER)) = 'integer' ` +
  `RETURNING CAST(v AS TEXT) AS v`;

async function incr(env, key, by) {
  const t = table(env);
  if (!/^[+-]?[0-9]{1,19}$/.test(by)) throw new HttpError("badBody", "by must be a 64-bit integer");
  const r = await d1("incr", () => env.DB.prepare(INCR_SQL(t)).bind(key, by).all());
  if (r.results.length === 1) return ok({ value: String(r.results[0].v) });
  /* The guard refused: say why (this second read is for the message only). */
  const cur = await d1("incr", () =>
    env.DB.prepare(`SELECT CAST(v AS TEXT) AS v FROM ${t} WHERE k = ?`).bind(key).first(),
  );
  const text = cur ? String(cur.v) : "";
  if (/^-?[0-9]+$/.test(text)) throw new HttpError("overflow", `${text} + ${by}`);
  throw new HttpError("notNumber");
}

function keyFrom(url, rest) {
  const q = url.searchParams.get("key");
  const k = q !== null ? toBytes(q) : percentDecodeBytes(rest);
  checkD1(k, null);
  return k;
}

export async function handleD1(request, env, url, path) {
  const m = request.method;
  if (path === "/_d1/query" || path === "/_d1/raw") {
    if (m !== "POST") throw new HttpError("method");
    return runQuery(env, await readJson(request), path === "/_d1/raw");
  }
  await ensureTable(env);
  const t = table(env);
  if (path === "/_d1/kv/bulk" && (m === "POST" || m === "PUT"))
    return bulkUpsert(env, await readJson(request));
  if (path === "/_d1/kv/bulk/get" && m === "POST") return bulkGet(env, await readJson(request));
  if (path === "/_d1/kv/bulk/delete" && m === "POST")
    return bulkDelete(env, await readJson(request));
  if (path === "/_d1/kv/entries" && m === "GET") return entries(env, url);
  if (path === "/_d1/kv/count" && m === "GET") {
    const r = await d1("count", () => env.DB.prepare(`SELECT count(*) AS n FROM ${t}`).first());
    return ok({ count: r.n });
  }
  if (path === "/_d1/kv/clear" && m === "POST") {
    const r = await d1("clear", () => env.DB.prepare(`DELETE FROM ${t}`).run());
    return ok({ deleted: r.meta.changes || 0 });
  }
  if (path.startsWith("/_d1/incr/") || path === "/_d1/incr") {
    if (m !== "POST") throw new HttpError("method");
    const key = keyFrom(url, path.slice("/_d1/incr/".length));
    return incr(env, key, url.searchParams.get("by") || "1");
  }
  if (path === "/_d1/kv" || path.startsWith("/_d1/kv/")) {
    const key = keyFrom(url, path.slice("/_d1/kv/".length));
    if (m === "GET" || m === "HEAD") {
      const row = await d1("get", () =>
        env.DB.prepare(`SELECT v FROM ${t} WHERE k = ?`).bind(key).first(),
      );
      if (!row) throw new HttpError("notFound");
      const v = columnBytes(row.v);
      return new Response(m === "HEAD" ? null : v, {
        headers: { "content-type": "application/octet-stream", "content-length": String(v.length) },
      });
    }
    if (m === "PUT" || m === "POST") {
      const v = await readBytes(request);
      checkD1(key, v);
      await d1("put", () =>
        env.DB.prepare(
          `INSERT INTO ${t} (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v`,
        )
          .bind(key, v)
          .run(),
      );
      return ok({});
    }
    if (m === "DELETE") {
      const r = await d1("delete", () =>
        env.DB.prepare(`DELETE FROM ${t} WHERE k = ?`).bind(key).run(),
      );
      if (!r.meta.changes) throw new HttpError("notFound");
      return ok({});
    }
    throw new HttpError("method");
  }
  throw new HttpError("noRoute");
}
