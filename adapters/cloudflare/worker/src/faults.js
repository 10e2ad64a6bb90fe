/*
 * faults.js - a switch that makes the next N requests fail, for testing clients' retries.
 *
 * Only present when the FAULTS binding is "1" (the local launcher sets it for tests; a deployed
 * Worker never has it). The state lives in the isolate: the local runtime has one isolate, so
 * the switch is seen by every following request.
 *
 *   POST   /_faults  {"count": N, "status": 429|500|502|503|504, "retry_after": S, "delay_ms": MS}
 *   GET    /_faults  the current state
 *   DELETE /_faults  clears it
 *
 * With delay_ms the request is held that long before it is answered (or failed), so a client's
 * timeout can be tested.
 */
import { HttpError, ok, readJson } from "./http.js";

const state = { count: 0, status: 503, retryAfter: null, delayMs: 0, served: 0 };

export function faultsEnabled(env) {
  return env.FAULTS === "1" || env.FAULTS === "true";
}

export async function handleFaults(request) {
  if (request.method === "GET") return ok({ ...state });
  if (request.method === "DELETE") {
    Object.assign(state, { count: 0, status: 503, retryAfter: null, delayMs: 0 });
    return ok({ ...state });
  }
  if (request.method !== "POST") throw new HttpError("method");
  const b = await readJson(request);
  const count = b.count ?? 1;
  const status = b.status ?? 503;
  if (!Number.isInteger(count) || count < 0) throw new HttpError("badBody", "count");
  if (![0, 429, 500, 502, 503, 504].includes(status)) throw new HttpError("badBody", "status");
  state.count = count;
  state.status = status;
  state.retryAfter = b.retry_after ?? (status === 429 ? 1 : null);
  state.delayMs = b.delay_ms ?? 0;
  state.served = 0;
  return ok({ ...state });
}

/* Called before every routed request: throws the injected error while the counter lasts. */
export async function maybeFault(env) {
  if (!faultsEnabled(env) || state.count <= 0) return;
  state.count--;
  state.served++;
  if (state.delayMs > 0) await new Promise((r) => setTimeout(r, state.delayMs));
  if (state.status === 0) return; // a pure delay
  const headers = state.retryAfter !== null ? { "retry-after": String(state.retryAfter) } : {};
  const e = new HttpError(state.status === 429 ? "rateLimited" : "fault", null, headers);
  e.status = state.status;
  throw e;
}
