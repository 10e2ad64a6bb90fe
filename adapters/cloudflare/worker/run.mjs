#!/usr/bin/env node
/*
 * run.mjs - runs the Worker locally in workerd (Cloudflare's runtime) through miniflare.
 *
 *   node run.mjs --port PORT --persist DIR [--host 127.0.0.1] [--pid-file F] [--ready-file F]
 *                [--faults] [--log-requests]
 *
 * KV and D1 are persisted under DIR (DIR/kv, DIR/d1), so data survives a restart. Fully offline:
 * no `cf` data is fetched and telemetry is off. When the server answers, the PID is written to
 * --pid-file and the URL to --ready-file (each written atomically). SIGTERM or SIGINT disposes
 * of miniflare (which stops workerd) and exits 0.
 *
 * Environment: CLOUDFLARE_WORKER_TOKEN (optional) becomes the Worker's AUTH_TOKEN; it is never
 * printed. UD_CF_ACCOUNT_ID, UD_CF_KV_NAMESPACE_ID and UD_CF_D1_DATABASE_ID, when set, make the
 * REST-shaped routes accept only those ids.
 */
process.env.CLOUDFLARE_CF_FETCH_ENABLED = "false";
process.env.WRANGLER_SEND_METRICS = "false";

import { mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { workerOptions } from "./options.mjs";

function usage(msg) {
  if (msg) process.stderr.write(`run.mjs: ${msg}\n`);
  process.stderr.write(
    "usage: node run.mjs --port PORT --persist DIR [--host 127.0.0.1] [--pid-file F]\n" +
      "                    [--ready-file F] [--faults] [--log-requests]\n",
  );
  process.exit(2);
}

function parseArgs(argv) {
  const o = { host: "127.0.0.1", faults: false, logRequests: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => (i + 1 < argv.length ? argv[++i] : usage(`${a} needs a value`));
    if (a === "--port") o.port = Number(next());
    else if (a === "--persist") o.persist = resolve(next());
    else if (a === "--host") o.host = next();
    else if (a === "--pid-file") o.pidFile = resolve(next());
    else if (a === "--ready-file") o.readyFile = resolve(next());
    else if (a === "--faults") o.faults = true;
    else if (a === "--log-requests") o.logRequests = true;
    else if (a === "--help" || a === "-h") usage();
    else usage(`unknown argument ${a}`);
  }
  if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535) usage("--port is required");
  if (!o.persist) usage("--persist is required");
  return o;
}

function writeAtomic(file, text) {
  const tmp = `${file}.tmp.${process.pid}`;
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}

const opts = parseArgs(process.argv.slice(2));
/*
 * The signal handlers are installed before miniflare is imported: its own exit hook would
 * otherwise run first and leave the ready file behind.
 */
let mf = null;
let stopping = false;
async function stop(code) {
  if (stopping) return;
  stopping = true;
  if (opts.readyFile) rmSync(opts.readyFile, { force: true });
  try {
    if (mf) await mf.dispose();
  } catch (e) {
    process.stderr.write(`run.mjs: dispose: ${e.message}\n`);
  }
  if (opts.pidFile) rmSync(opts.pidFile, { force: true });
  process.exit(code);
}
for (const sig of ["SIGTERM", "SIGINT", "SIGHUP"]) process.on(sig, () => stop(0));
process.on("exit", () => {
  if (opts.readyFile) rmSync(opts.readyFile, { force: true });
  if (opts.pidFile) rmSync(opts.pidFile, { force: true });
});

const { Miniflare, Log, LogLevel } = await import("miniflare");

const bindings = { FAULTS: opts.faults ? "1" : "0" };
/* Without a token the local runtime is open on purpose (it listens on loopback for tests). */
if (process.env.CLOUDFLARE_WORKER_TOKEN) bindings.AUTH_TOKEN = process.env.CLOUDFLARE_WORKER_TOKEN;
else bindings.ALLOW_ANONYMOUS = "1";
for (const [env, name] of [
  ["UD_CF_ACCOUNT_ID", "ACCOUNT_ID"],
  ["UD_CF_KV_NAMESPACE_ID", "KV_NAMESPACE_ID"],
  ["UD_CF_D1_DATABASE_ID", "D1_DATABASE_ID"],
]) {
  if (process.env[env]) bindings[name] = process.env[env];
}

mkdirSync(join(opts.persist, "kv"), { recursive: true });
mkdirSync(join(opts.persist, "d1"), { recursive: true });

mf = new Miniflare({
  ...workerOptions("ud-kv", "ud-d1"),
  host: opts.host,
  port: opts.port,
  log: new Log(LogLevel.WARN),
  logRequests: opts.logRequests,
  kvPersist: join(opts.persist, "kv"),
  d1Persist: join(opts.persist, "d1"),
  bindings,
});


try {
  const url = await mf.ready;
  if (opts.pidFile) writeAtomic(opts.pidFile, `${process.pid}\n`);
  if (opts.readyFile) writeAtomic(opts.readyFile, `${url.href.replace(/\/$/, "")}\n`);
  process.stdout.write(`run.mjs: worker ready on ${url.href} (persist ${opts.persist})\n`);
} catch (e) {
  process.stderr.write(`run.mjs: cannot start: ${e.message}\n`);
  await stop(1);
}
