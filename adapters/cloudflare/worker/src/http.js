/*
 * http.js - responses, request bodies and the encodings every route shares.
 *
 * JSON routes answer in the Cloudflare API envelope {success, errors, messages, result}; errors
 * carry Cloudflare's own codes where one exists (see ERR) and codes of ours (19xxx) otherwise.
 */

/* Error codes: [HTTP status, code, message]. */
export const ERR = {
  auth: [401, 10000, "Authentication error"],
  notFound: [404, 10009, "get: 'key not found'"],
  noNamespace: [404, 10013, "namespace not found"],
  noRoute: [404, 7000, "No route for that URI"],
  noObject: [404, 7003, "Could not route to this path, perhaps your object identifier is invalid?"],
  method: [405, 10405, "Method not allowed"],
  sql: [400, 7500, "D1 query error"],
  rateLimited: [429, 971, "Please wait and consider throttling your request speed"],
  badBody: [400, 19001, "invalid request body"],
  valueTooBig: [413, 19002, "value too large"],
  keyTooLong: [414, 19003, "key too long"],
  notNumber: [409, 19004, "the value is not a decimal integer"],
  overflow: [409, 19005, "integer overflow"],
  fault: [503, 19006, "injected fault"],
  tooMany: [413, 19007, "too many entries in one request"],
  internal: [500, 19099, "internal error"],
};

/* Limits of the real service, enforced here so that the local runtime fails like production. */
export const LIMITS = {
  kvKeyBytes: 512,
  kvValueBytes: 25 * 1024 * 1024,
  kvBulkWrite: 10000, // official REST bulk write
  kvBulkGet: 100, // official REST bulk get
  workerOps: 1000, // KV or D1 operations one Worker invocation may make (paid plan)
  kvMetadataBytes: 1024, // serialized JSON metadata of one KV entry
  kvMetaValueBytes: 720, // a value this small travels in its marker (base64: 960 characters)
  d1ValueBytes: 2000000,
  d1Params: 100,
};

export class HttpError extends Error {
  constructor(kind, detail, extraHeaders) {
    const [status, code, message] = ERR[kind] || ERR.internal;
    super(detail ? `${message}: ${detail}` : message);
    this.status = status;
    this.code = code;
    this.headers = extraHeaders || {};
  }
}

/*
 * Runs a call into the runtime (a binding, a D1 statement) and turns its exceptions into clear
 * API errors: a message that tooBig matches becomes valueTooBig, any other becomes `code`.
 */
export async function runtimeCall(what, fn, tooBig, code) {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof HttpError) throw e;
    const msg = String(e && e.message ? e.message : e);
    throw new HttpError(tooBig.test(msg) ? "valueTooBig" : code, `${what}: ${msg}`);
  }
}

export function envelope(result, extra) {
  return { success: true, errors: [], messages: [], result, ...(extra || {}) };
}

export function json(body, status = 200, headers = {}) {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", ...headers },
  });
}

export function ok(result, extra) {
  return json(envelope(result, extra));
}

export function errorResponse(err) {
  if (!(err instanceof HttpError)) {
    const e = new HttpError("internal", String(err && err.message ? err.message : err));
    return errorResponse(e);
  }
  const body = {
    success: false,
    errors: [{ code: err.code, message: err.message }],
    messages: [],
    result: null,
  };
  return json(body, err.status, err.headers);
}

/* ---- Bodies. ---- */

export async function readJson(request) {
  const text = await request.text();
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new HttpError("badBody", `not JSON (${e.message})`);
  }
}

export async function readBytes(request) {
  return new Uint8Array(await request.arrayBuffer());
}

/* ---- Encodings. ---- */

const utf8 = new TextEncoder();
const utf8strict = new TextDecoder("utf-8", { fatal: true });

export function toBytes(s) {
  return utf8.encode(s);
}

/* Decodes UTF-8, or returns null when the bytes are not valid UTF-8. */
export function bytesToText(b) {
  try {
    return utf8strict.decode(b);
  } catch {
    return null;
  }
}

/*
 * Whether a text-only read (the official bulk/get, which decodes values as UTF-8) returns these
 * bytes exactly: valid UTF-8, no NUL, and no leading byte order mark (a decoder drops it). The
 * C adapters apply the same rule (cf_kv_text_exact in cf_util.c).
 */
export function isExactText(b) {
  if (b.indexOf(0) >= 0) return false;
  if (b.length >= 3 && b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf) return false;
  return bytesToText(b) !== null;
}

export function utf8Length(s) {
  return utf8.encode(s).length;
}

export function toBase64(bytes) {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000)
    s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

export function fromBase64(s) {
  if (typeof s !== "string") throw new HttpError("badBody", "base64 value must be a string");
  let bin;
  try {
    bin = atob(s);
  } catch {
    throw new HttpError("badBody", "bad base64");
  }
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/*
 * Percent-decodes a path segment to bytes (keys of the D1 table are bytes, not text). Unlike
 * decodeURIComponent it accepts escapes that are not UTF-8.
 */
export function percentDecodeBytes(s) {
  const out = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x25 && i + 2 < s.length && /^[0-9a-fA-F]{2}$/.test(s.substr(i + 1, 2))) {
      out.push(parseInt(s.substr(i + 1, 2), 16));
      i += 2;
    } else if (c < 0x80) {
      out.push(c);
    } else {
      for (const b of utf8.encode(s[i])) out.push(b);
    }
  }
  return new Uint8Array(out);
}

export function percentDecodeText(s) {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new HttpError("badBody", "the key is not valid percent-encoded UTF-8");
  }
}

/* A D1 column value as bytes: BLOBs come back as ArrayBuffer (or arrays), TEXT as strings. */
export function columnBytes(v) {
  if (v === null || v === undefined) return null;
  if (v instanceof ArrayBuffer) return new Uint8Array(v);
  if (ArrayBuffer.isView(v)) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  if (Array.isArray(v)) return Uint8Array.from(v);
  return utf8.encode(String(v));
}

export function intParam(url, name, def, min, max) {
  const v = url.searchParams.get(name);
  if (v === null || v === "") return def;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new HttpError("badBody", `${name} must be an integer in [${min}, ${max}]`);
  return n;
}
