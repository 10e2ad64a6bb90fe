/*
 * cf_d1.c - D1 through our Worker (cloudflare-d1://): a key-value table (k BLOB PRIMARY KEY,
 * v BLOB) behind the /_d1/kv routes. Keys and values are bytes end to end (raw bodies, base64 in
 * JSON). kv_incr is atomic: the Worker runs one upsert ... RETURNING that adds in SQL. D1 has no
 * transaction that spans requests, so there is no lock.
 */
#include "cf_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCH 1000 /* entries per bulk request (1000 D1 queries per Worker invocation) */
#define BODY_MAX ((size_t)16 << 20)

static int check_row(cf_conn *c, size_t klen, size_t vlen) {
    if (klen + vlen > CF_D1_ROW_MAX)
        return kv__error(&c->base, KV_ETOOBIG,
                         "%s: a key and value of %zu bytes exceed the D1 row limit of %u bytes",
                         c->scheme, klen + vlen, CF_D1_ROW_MAX);
    return 0;
}

/* c->tmp = "/_d1/" what "/" key; "." and ".." go in the query (URL paths resolve them away). */
static int key_path(cf_conn *c, const char *what, const void *key, size_t klen, const char *q) {
    c->tmp.len = 0;
    bool dots = (klen == 1 && memcmp(key, ".", 1) == 0) || (klen == 2 && memcmp(key, "..", 2) == 0);
    int rc = cf_buf_printf(&c->tmp, "%s/%s%s", c->store, what, dots ? "?key=" : "/");
    if (rc == 0)
        rc = cf_pct_append(&c->tmp, key, klen);
    if (rc == 0 && q)
        rc = cf_buf_printf(&c->tmp, "%s%s", dots ? "&" : "?", q);
    return rc;
}

static int d1_get(kv_conn *base, const void *key, size_t klen, kv_buf *val) {
    cf_conn *c = (cf_conn *)base;
    int rc = key_path(c, "kv", key, klen, NULL);
    return rc < 0 ? rc : cf_http_get_body(c, c->tmp.data, val);
}

static int d1_set(kv_conn *base, const void *key, size_t klen, const void *val, size_t vlen) {
    cf_conn *c = (cf_conn *)base;
    int rc = check_row(c, klen, vlen);
    if (rc == 0)
        rc = key_path(c, "kv", key, klen, NULL);
    if (rc == 0)
        rc = cf_http_request(c, "PUT", c->tmp.data, val, vlen, CF_IDEMPOTENT);
    return rc;
}

static int d1_del(kv_conn *base, const void *key, size_t klen) {
    cf_conn *c = (cf_conn *)base;
    int rc = key_path(c, "kv", key, klen, NULL);
    if (rc == 0)
        rc = cf_http_request(c, "DELETE", c->tmp.data, NULL, 0, CF_IDEMPOTENT);
    return rc;
}

/* Parses the decimal string of a JSON result field into *out. */
static int result_i64(cf_conn *c, json_t *res, const char *field, int64_t *out) {
    json_t *v = json_object_get(res, field);
    int rc = json_is_string(v)    ? kv__parse_i64(json_string_value(v), json_string_length(v), out)
             : json_is_integer(v) ? (*out = json_integer_value(v), 0)
                                  : KV_EPROTO;
    if (rc < 0)
        return kv__error(&c->base, KV_EPROTO, "%s: %s: no integer '%s' in the answer", c->scheme,
                         c->http.url, field);
    return 0;
}

static int d1_incr(kv_conn *base, const void *key, size_t klen, int64_t by, int64_t *result) {
    cf_conn *c = (cf_conn *)base;
    char q[40];
    json_t *res = NULL;
    snprintf(q, sizeof(q), "by=%lld", (long long)by);
    int rc = key_path(c, "incr", key, klen, q);
    /* Not idempotent: retried only when the server surely did not run it (429, refused). */
    if (rc == 0)
        rc = cf_http_request(c, "POST", c->tmp.data, NULL, 0, 0);
    if (rc == 0)
        rc = cf_json_result(c, &res);
    if (rc == 0)
        rc = result_i64(c, res, "value", result);
    json_decref(res);
    return rc;
}

static int d1_count(kv_conn *base, uint64_t *n) {
    cf_conn *c = (cf_conn *)base;
    json_t *res = NULL;
    int64_t v = 0;
    char path[600];
    snprintf(path, sizeof(path), "%s/kv/count", c->store);
    int rc = cf_http_request(c, "GET", path, NULL, 0, CF_IDEMPOTENT);
    if (rc == 0)
        rc = cf_json_result(c, &res);
    if (rc == 0)
        rc = result_i64(c, res, "count", &v);
    json_decref(res);
    if (rc == 0)
        *n = (uint64_t)v;
    return rc;
}

static int d1_clear(kv_conn *base) {
    cf_conn *c = (cf_conn *)base;
    char path[600];
    snprintf(path, sizeof(path), "%s/kv/clear", c->store);
    return cf_http_request(c, "POST", path, NULL, 0, CF_IDEMPOTENT);
}

static int bulk_get(cf_conn *c, const kv_key *keys, size_t n, kv_buf *vals, int *rcs) {
    json_t *res = NULL;
    char path[600];
    c->body.len = 0;
    int rc = cf_lit(&c->body, "{\"base64\":true,\"keys\":[");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rc = kv__buf_append(&c->body, i ? ",\"" : "\"", i ? 2 : 1);
        if (rc == 0)
            rc = cf_b64_append(&c->body, keys[i].key, keys[i].klen);
        if (rc == 0)
            rc = cf_lit(&c->body, "\"");
    }
    if (rc == 0)
        rc = cf_lit(&c->body, "]}");
    snprintf(path, sizeof(path), "%s/kv/bulk/get", c->store);
    if (rc == 0)
        rc = cf_http_request(c, "POST", path, c->body.data, c->body.len,
                             CF_IDEMPOTENT | CF_JSON_BODY);
    if (rc == 0)
        rc = cf_json_result(c, &res);
    if (rc < 0)
        return rc;
    json_t *arr = json_object_get(res, "values");
    if (!json_is_array(arr) || json_array_size(arr) != n)
        rc = kv__error(&c->base, KV_EPROTO, "%s: bulk/get answered %zu values for %zu keys",
                       c->scheme, json_array_size(arr), n);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        json_t *v = json_array_get(arr, i);
        rcs[i] = json_is_null(v) ? KV_ENOTFOUND : 0;
        if (rcs[i] == 0 && cf_b64_decode(&vals[i], cf_jstr(v), json_string_length(v)) < 0)
            rc = kv__error(&c->base, KV_EPROTO, "%s: bulk/get answered bad base64", c->scheme);
    }
    json_decref(res);
    return rc;
}

static int d1_get_many(kv_conn *base, const kv_key *keys, size_t n, kv_buf *vals, int *rcs) {
    return cf_get_chunks((cf_conn *)base, keys, n, vals, rcs, BATCH, bulk_get);
}

static int send_bulk(cf_conn *c) {
    char path[600];
    snprintf(path, sizeof(path), "%s/kv/bulk", c->store);
    if (cf_lit(&c->body, "]") < 0)
        return -ENOMEM;
    return cf_http_request(c, "POST", path, c->body.data, c->body.len,
                           CF_IDEMPOTENT | CF_JSON_BODY);
}

static int check_item(cf_conn *c, const kv_item *it) {
    return check_row(c, it->klen, it->vlen);
}

/* {"base64":true,"key":B64,"value":B64}, in a JSON array. */
static int add_item(cf_conn *c, const kv_item *it, size_t avail, size_t in_body, size_t *used) {
    (void)avail;
    (void)used; /* one item per entry */
    int rc = cf_lit(&c->body, in_body ? "," : "[");
    if (rc == 0)
        rc = cf_lit(&c->body, "{\"base64\":true,\"key\":\"");
    if (rc == 0)
        rc = cf_b64_append(&c->body, it->key, it->klen);
    if (rc == 0)
        rc = cf_lit(&c->body, "\",\"value\":\"");
    if (rc == 0)
        rc = cf_b64_append(&c->body, it->val, it->vlen);
    if (rc == 0)
        rc = cf_lit(&c->body, "\"}");
    return rc;
}

/* Each request is one D1 batch, so one transaction: all of its entries or none. */
static int d1_set_many(kv_conn *base, const kv_item *items, size_t n) {
    static const cf_bulk bulk = {
        .max_entries = BATCH,
        .body_max = BODY_MAX,
        .cost = cf_b64_cost,
        .check = check_item,
        .add = add_item,
        .send = send_bulk,
    };
    return cf_bulk_write((cf_conn *)base, items, n, &bulk);
}

/* One page of /kv/entries: up to 1000 entries or 8 MiB, base64 pairs, and the next cursor. */
static int d1_page(cf_conn *c, cf_pager *p) {
    json_t *res = NULL;
    c->tmp.len = 0;
    int rc = cf_buf_printf(&c->tmp, "%s/kv/entries?limit=1000&max_bytes=8388608&after=", c->store);
    if (rc == 0)
        rc = cf_pct_append(&c->tmp, p->after.data ? p->after.data : "", p->after.len);
    if (rc == 0)
        rc = cf_http_request(c, "GET", c->tmp.data, NULL, 0, CF_IDEMPOTENT);
    if (rc == 0)
        rc = cf_json_result(c, &res);
    if (rc < 0)
        return rc;
    json_t *entries = json_object_get(res, "entries");
    size_t n = json_array_size(entries);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        json_t *e = json_array_get(entries, i);
        json_t *ks = json_array_get(e, 0), *vs = json_array_get(e, 1);
        if (cf_b64_decode(&p->k, cf_jstr(ks), json_string_length(ks)) < 0 ||
            cf_b64_decode(&p->v, cf_jstr(vs), json_string_length(vs)) < 0)
            rc = kv__error(&c->base, KV_EPROTO, "%s: entries: bad base64", c->scheme);
        else
            rc = p->fn(p->ctx, p->k.data, p->k.len, p->v.data, p->v.len);
    }
    if (rc == 0 && n) {
        json_t *cur = json_object_get(res, "cursor");
        rc = kv__buf_set(&p->after, cf_jstr(cur), json_string_length(cur));
    }
    json_decref(res);
    p->n = n;
    return rc;
}

static int d1_export(kv_conn *base, kv_entry_fn fn, void *ctx) {
    cf_pager p = {.fn = fn, .ctx = ctx};
    return cf_export_pages((cf_conn *)base, &p, d1_page);
}

static const kv_methods cf_d1_methods = {
    .version = 2,
    .name = "cloudflare-d1",
    .close = cf_close,
    .backend_version = cf_backend_version,
    .get = d1_get,
    .set = d1_set,
    .del = d1_del,
    .incr = d1_incr,
    .count = d1_count,
    .clear = d1_clear,
    .export_all = d1_export,
    .get_many = d1_get_many,
    .set_many = d1_set_many,
};

int cf_d1_setup(cf_conn *c, char *err, size_t errlen) {
    c->base.methods = &cf_d1_methods;
    c->base.caps = KV_CAP_ATOMIC_INCR | KV_CAP_ENUMERATE | KV_CAP_COUNT | KV_CAP_CROSS_PROCESS |
                   KV_CAP_PERSISTENT | KV_CAP_BATCH;
    /* One row at most: checks that it answers, the token, and creates the table if needed. */
    char path[600];
    snprintf(path, sizeof(path), "%s/kv/entries?limit=1", c->store);
    int rc = cf_http_request(c, "GET", path, NULL, 0, CF_IDEMPOTENT);
    if (rc < 0)
        return kv__errbuf(err, errlen, rc == KV_ECONN ? KV_ECONNECT : rc, "%s", c->base.errmsg);
    snprintf(c->version, sizeof(c->version), "ultradict-kv Worker, D1 (libcurl %s)",
             curl_version_info(CURLVERSION_NOW)->version);
    return 0;
}
