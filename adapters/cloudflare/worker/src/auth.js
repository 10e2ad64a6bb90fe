/*
 * auth.js - the token. When the AUTH_TOKEN secret is set, every route but the health route
 * needs `Authorization: Bearer TOKEN` (the official API's form) or `Authorization: TOKEN` (the
 * raw form of the Cloudflare-RESTful-D1 seed). The token is never echoed or logged.
 * Without a token the Worker is closed: every route but health answers 401, unless anonymous
 * access was asked for explicitly with ALLOW_ANONYMOUS = "1" (the local runtime, run.mjs, sets
 * it when it runs without a token). A deployment that forgot its secret is not open to anyone.
 */
import { HttpError } from "./http.js";

const enc = new TextEncoder();

/* Compares in constant time (for equal lengths) so the token cannot be guessed byte by byte. */
function sameSecret(a, b) {
  const x = enc.encode(a);
  const y = enc.encode(b);
  if (x.length !== y.length) return false;
  if (crypto.subtle.timingSafeEqual) return crypto.subtle.timingSafeEqual(x, y);
  let d = 0;
  for (let i = 0; i < x.length; i++) d |= x[i] ^ y[i];
  return d === 0;
}

export function checkAuth(request, env) {
  const token = env.AUTH_TOKEN;
  if (!token) {
    if (env.ALLOW_ANONYMOUS === "1") return;
    throw new HttpError(
      "auth",
      "this Worker has no AUTH_TOKEN secret and anonymous access is not allowed " +
        "(set the secret, or ALLOW_ANONYMOUS = \"1\" for an open Worker)",
      { "www-authenticate": 'Bearer realm="ultradict-worker"' },
    );
  }
  const header = request.headers.get("authorization") || "";
  const given = /^bearer\s+/i.test(header) ? header.replace(/^bearer\s+/i, "") : header;
  if (!given || !sameSecret(given.trim(), token))
    throw new HttpError("auth", "missing or wrong token in the Authorization header", {
      "www-authenticate": 'Bearer realm="ultradict-worker"',
    });
}
