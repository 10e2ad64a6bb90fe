/*
 * routes.test.mjs - the Worker's HTTP API in workerd (miniflare in-process, in-memory storage):
 * the jsonbase routes, the KV and D1 routes, the official REST shapes and codes, auth, faults.
 *
 *   node --test adapters/cloudflare/worker/test/
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { workerOptions } from "../options.mjs";

process.env.CLOUDFLARE_CF_FETCH_ENABLED = "false";
const { Miniflare, Log, LogLevel } = await import("miniflare");

function worker(bindings) {
  return new Miniflare({
    ...workerOptions("test-kv", "test-d1"),
    log: new Log(LogLevel.ERROR),
    bindings: { FAULTS: "1", ALLOW_ANONYMOUS: "1", ...bindings },
  });
}

const J = { "content-type": "application/json" };

describe("worker routes", () => {
  let mf;
  const req = (path, init) => mf.dispatchFetch(`http://w${path}`, init);
  const json = async (path, init) => {
    const r = await req(path, init);
    return { status: r.status, body: await r.json(), headers: r.headers };
  };
  before(async () => {
    mf = worker({});
    await mf.ready;
  });
  after(() => mf.dispose());

  it("health is open", async () => {
    const r = await json("/_health");
    assert.equal(r.status, 200);
    assert.equal(r.body.ok, true);
  });

  it("jsonbase: POST then GET by path, JSON 404, DELETE", async () => {
    let r = await json("/bucket/one", { method: "POST", headers: J, body: '{"a":[1,2]}' });
    assert.deepEqual(r.body, { a: [1, 2] });
    r = await json("/bucket/one");
    assert.deepEqual(r.body, { a: [1, 2] });
    r = await json("/bucket/none");
    assert.equal(r.status, 404);
    assert.equal(r.body.error, "not found");
    r = await json("/bucket/bad", { method: "POST", headers: J, body: "{nope" });
    assert.equal(r.status, 400);
    r = await json("/bucket/one", { method: "DELETE" });
    assert.equal(r.status, 200);
    assert.equal((await req("/bucket/one")).status, 404);
    const bin = await req("/files/x.bin", {
      method: "PUT",
      headers: { "content-type": "application/octet-stream" },
      body: new Uint8Array([0, 255, 1]),
    });
    assert.equal(bin.status, 200);
    const got = await req("/files/x.bin");
    assert.equal(got.headers.get("content-type"), "application/octet-stream");
    assert.deepEqual(new Uint8Array(await got.arrayBuffer()), new Uint8Array([0, 255, 1]));
  });

  it("kv: bytes, bulk, list with cursor, 404 code 10009", async () => {
    await req("/_kv/values/k%2F1", { method: "PUT", body: new Uint8Array([0, 1, 2]) });
    const v = await req("/_kv/values/k%2F1");
    assert.deepEqual(new Uint8Array(await v.arrayBuffer()), new Uint8Array([0, 1, 2]));
    const miss = await json("/_kv/values/none");
    assert.equal(miss.status, 404);
    assert.equal(miss.body.errors[0].code, 10009);
    const entries = Array.from({ length: 25 }, (_, i) => ({ key: `list/${i}`, value: btoa(`v${i}`), base64: true }));
    let r = await json("/_kv/bulk", { method: "POST", body: JSON.stringify(entries) });
    assert.equal(r.body.result.successful_key_count, 25);
    r = await json("/_kv/bulk/get", { method: "POST", body: JSON.stringify({ keys: ["list/3", "nope"] }) });
    assert.deepEqual(r.body.result.values, [btoa("v3"), null]);
    const names = [];
    let cursor = "";
    do {
      r = await json(`/_kv/keys?prefix=list/&limit=10${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
      names.push(...r.body.result.map((k) => k.name));
      cursor = r.body.result_info.cursor;
    } while (cursor);
    assert.equal(names.length, 25);
    r = await json("/_kv/bulk/delete", { method: "POST", body: JSON.stringify(names) });
    assert.equal(r.body.result.successful_key_count, 25);
    /* Values a text read would change carry the marker the REST adapter reads (ud_bin). */
    const rest = (keys) =>
      json("/client/v4/accounts/a/storage/kv/namespaces/n/bulk/get", {
        method: "POST",
        body: JSON.stringify({ keys, withMetadata: true }),
      });
    const big = new Uint8Array(721).fill(0xff);
    await req("/_kv/values/m-big", { method: "PUT", body: big });
    await req("/_kv/values/m-bom", { method: "PUT", body: new Uint8Array([0xef, 0xbb, 0xbf, 0x68]) });
    await req("/_kv/values/m-text", { method: "PUT", body: "plain \u00e9" });
    r = await json("/_kv/bulk", {
      method: "POST",
      body: JSON.stringify([
        { key: "m-bulk", value: btoa("\x80"), base64: true },
        { key: "m-own", value: btoa("\x80"), base64: true, metadata: { mine: 1 } },
      ]),
    });
    assert.equal(r.body.result.successful_key_count, 2);
    r = await rest(["k/1", "m-big", "m-bom", "m-text", "m-bulk", "m-own"]);
    const md = (k) => r.body.result.values[k].metadata;
    assert.deepEqual(md("k/1"), { ud_bin: 1, ud_b64: btoa("\x00\x01\x02") });
    assert.deepEqual(md("m-big"), { ud_bin: 1 });
    assert.deepEqual(md("m-bom"), { ud_bin: 1, ud_b64: btoa("\xef\xbb\xbfh") });
    assert.equal(md("m-text"), null);
    assert.deepEqual(md("m-bulk"), { ud_bin: 1, ud_b64: btoa("\x80") });
    assert.deepEqual(md("m-own"), { mine: 1 });
    /* The official bulk/get is text only: it decodes as UTF-8, as the real one does. */
    assert.equal(r.body.result.values["m-bom"].value, "h");
    assert.equal(r.body.result.values["m-bulk"].value, "\ufffd");
    r = await json("/_kv/values/" + "x".repeat(513), { method: "PUT", body: "v" });
    assert.equal(r.status, 414);
    r = await json("/_kv/values/del-missing", { method: "DELETE" });
    assert.equal(r.status, 404);
  });

  it("d1: query shape, batch, kv table, atomic incr", async () => {
    let r = await json("/_d1/query", { method: "POST", body: JSON.stringify({ sql: "SELECT 1 AS one, ? AS p", params: ["x"] }) });
    assert.equal(r.body.success, true);
    assert.deepEqual(r.body.result[0].results, [{ one: 1, p: "x" }]);
    assert.equal(typeof r.body.result[0].meta.duration, "number");
    r = await json("/_d1/raw", { method: "POST", body: JSON.stringify({ sql: "SELECT 1 AS a, 2 AS b" }) });
    assert.deepEqual(r.body.result[0].results, { columns: ["a", "b"], rows: [[1, 2]] });
    r = await json("/_d1/query", {
      method: "POST",
      body: JSON.stringify({ batch: [{ sql: "CREATE TABLE t (x)" }, { sql: "INSERT INTO t VALUES (?)", params: [5] }, { sql: "SELECT x FROM t" }] }),
    });
    assert.equal(r.body.result.length, 3);
    assert.deepEqual(r.body.result[2].results, [{ x: 5 }]);
    r = await json("/_d1/query", { method: "POST", body: JSON.stringify({ sql: "SELEC nonsense" }) });
    assert.equal(r.status, 400);
    assert.equal(r.body.errors[0].code, 7500);

    await req("/_d1/kv/c", { method: "PUT", body: "41" });
    r = await json("/_d1/incr/c?by=1", { method: "POST" });
    assert.equal(r.body.result.value, "42");
    r = await json("/_d1/incr/new?by=-3", { method: "POST" });
    assert.equal(r.body.result.value, "-3");
    await req("/_d1/kv/s", { method: "PUT", body: "abc" });
    r = await json("/_d1/incr/s", { method: "POST" });
    assert.equal(r.body.errors[0].code, 19004);
    await req("/_d1/kv/max", { method: "PUT", body: "9223372036854775807" });
    r = await json("/_d1/incr/max?by=1", { method: "POST" });
    assert.equal(r.body.errors[0].code, 19005);
    r = await json("/_d1/kv/count");
    assert.equal(r.body.result.count, 4);
  });

  it("rest: official KV and D1 paths, shapes and codes", async () => {
    const base = "/client/v4/accounts/acct/storage/kv/namespaces/ns";
    let r = await json(`${base}/values/nope`);
    assert.equal(r.status, 404);
    assert.deepEqual(r.body.errors, [{ code: 10009, message: "get: 'key not found'" }]);
    const form = new FormData();
    form.set("value", new Blob([new Uint8Array([0, 200])]));
    form.set("metadata", JSON.stringify({ ud_bin: 1 }));
    /* Encoded here: the multipart type must reach the Worker with its boundary. */
    const encoded = new Response(form);
    r = await json(`${base}/values/bin`, {
      method: "PUT",
      headers: { "content-type": encoded.headers.get("content-type") },
      body: await encoded.arrayBuffer(),
    });
    assert.equal(r.body.success, true);
    r = await json(`${base}/metadata/bin`);
    assert.deepEqual(r.body.result, { ud_bin: 1 });
    r = await json(`${base}/bulk`, { method: "PUT", body: JSON.stringify([{ key: "t", value: "text" }]) });
    assert.equal(r.body.result.successful_key_count, 1);
    r = await json(`${base}/bulk/get`, { method: "POST", body: JSON.stringify({ keys: ["t", "x"], withMetadata: true }) });
    assert.deepEqual(r.body.result.values, { t: { value: "text", metadata: null }, x: null });
    r = await json(`${base}/keys?limit=10`);
    assert.ok(r.body.result_info);
    r = await json(`${base}/values/t`, { method: "DELETE" });
    assert.equal(r.body.success, true);
    r = await json("/client/v4/accounts/a/d1/database/d/query", { method: "POST", body: JSON.stringify({ sql: "SELECT 2 AS two" }) });
    assert.deepEqual(r.body.result[0].results, [{ two: 2 }]);
    r = await json("/client/v4/nothing");
    assert.equal(r.body.errors[0].code, 7000);
  });

  it("faults: 429 with retry-after, then normal", async () => {
    let r = await json("/_faults", { method: "POST", body: JSON.stringify({ count: 1, status: 429, retry_after: 3 }) });
    assert.equal(r.status, 200);
    r = await json("/_kv/keys");
    assert.equal(r.status, 429);
    assert.equal(r.headers.get("retry-after"), "3");
    assert.equal((await json("/_health")).status, 200);
    r = await json("/_kv/keys");
    assert.equal(r.status, 200);
  });
});

describe("worker auth", () => {
  let mf;
  before(async () => {
    mf = worker({ AUTH_TOKEN: "tok-123", FAULTS: "0", ALLOW_ANONYMOUS: "0" });
    await mf.ready;
  });
  after(() => mf.dispose());

  it("needs the token in either form, health stays open, faults are off", async () => {
    const get = (h) => mf.dispatchFetch("http://w/_kv/keys", { headers: h });
    assert.equal((await get({})).status, 401);
    assert.equal((await get({ authorization: "Bearer wrong" })).status, 401);
    assert.equal((await get({ authorization: "Bearer tok-123" })).status, 200);
    assert.equal((await get({ authorization: "tok-123" })).status, 200);
    const r = await mf.dispatchFetch("http://w/_kv/keys");
    assert.ok(!(await r.text()).includes("tok-123"));
    assert.equal((await mf.dispatchFetch("http://w/_health")).status, 200);
    const f = await mf.dispatchFetch("http://w/_faults", { headers: { authorization: "tok-123" } });
    assert.equal(f.status, 404);
  });
});

describe("worker without a token", () => {
  let mf;
  before(async () => {
    mf = worker({ FAULTS: "0", ALLOW_ANONYMOUS: "0" });
    await mf.ready;
  });
  after(() => mf.dispose());

  it("refuses every route but health unless anonymous access is allowed", async () => {
    const routes = [
      ["GET", "/_kv/keys"],
      ["POST", "/_kv/clear"],
      ["POST", "/_d1/query"],
      ["POST", "/_d1/clear"],
      ["GET", "/bucket/one"],
      ["POST", "/bucket/one"],
      ["GET", "/"],
      ["GET", "/_faults"],
      ["GET", "/client/v4/accounts/a/storage/kv/namespaces/n/keys"],
      ["POST", "/client/v4/accounts/a/d1/database/d/query"],
    ];
    for (const [method, path] of routes) {
      const body = method === "POST" ? '{"sql":"SELECT 1"}' : undefined;
      const r = await mf.dispatchFetch(`http://w${path}`, { method, headers: J, body });
      assert.equal(r.status, 401, `${method} ${path} answered ${r.status}`);
      const text = await r.text();
      assert.match(text, /AUTH_TOKEN/, `${method} ${path} does not say why`);
    }
    assert.equal((await mf.dispatchFetch("http://w/_health")).status, 200);
  });
});
