/*
 * cf_kv.c - Workers KV, through our Worker (cloudflare-kv://, routes under /_kv) or through the
 * official API (cloudflare-rest://...?store=kv, routes under /accounts/A/storage/kv/namespaces/N).
 * The two speak the same shapes except for bulk reads: the Worker's bulk/get answers base64, the
 * official bulk/get text only (values decoded as UTF-8, bytes that are not UTF-8 replaced by
 * U+FFFD, a leading byte order mark dropped). So a value a text read would change
 * (cf_kv_text_exact) is written with the metadata {"ud_bin":1}, which also carries the value as
 * "ud_b64" when it is small (CF_KV_META_VALUE_MAX); this adapter marks what it writes, the
 * Worker marks what its /_kv routes write, by the same rule. The official bulk read takes a
 * marked value from its metadata, or reads it alone when it is larger; an unmarked value whose
 * text holds U+FFFD (written by something else) is read alone too, as the text may be lossy.
 *
 * KV has no atomic primitive: kv_incr is a read-modify-write (concurrent increments can be
 * lost, and the capabilities say so), and there is no lock. kv_del reads before it deletes,
 * because KV's delete does not say whether the key existed. Listing is eventually consistent
 * on the real service (about 60 s), strongly consistent on the local runtime.
 */
#include "cf_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WORKER_BATCH 1000  /* keys per bulk request of our Worker (1000 KV ops per invocation) */
#define REST_GET_BATCH 100 /* the official bulk/get */
#define REST_SET_BATCH 5000
#define BODY_MAX ((size_t)32 << 20)

static bool is_rest(const cf_conn *c) {
    return c->kind == CF_REST_KV;
}

/* c->tmp = store + "/" + what + "/" + percent-encoded KV key of (key, klen). */
static int key_path(cf_conn *c, const char *what, const void *key, size_t klen) {
    kv_buf k = KV_BUF_INIT;
    int rc = cf_kv_key(c, &k, key, klen);
    if (rc == 0) {
        c->tmp.len = 0;
        rc = cf_buf_printf(&c->tmp, "%s/%s/", c->store, what);
        if (rc == 0)
            rc = cf_pct_append(&c->tmp, k.data, k.len);
    }
    kv_buf_free(&k);
    return rc;
}

static int check_value(cf_conn *c, size_t vlen) {
    if (vlen > CF_KV_VALUE_MAX)
        return kv__error(
            &c->base, KV_ETOOBIG,
            "%s: a value of %zu bytes exceeds the Workers KV limit of %zu bytes (25 MiB)",
            c->scheme, vlen, CF_KV_VALUE_MAX);
    return 0;
}

/* Appends the marker of a value that a text read would change (see the top of the file). */
static int marker_append(kv_buf *b, const void *val, size_t vlen) {
    int rc = cf_lit(b, "{\"ud_bin\":1");
    if (rc == 0 && vlen <= CF_KV_META_VALUE_MAX) {
        rc = cf_lit(b, ",\"ud_b64\":\"");
        if (rc == 0)
            rc = cf_b64_append(b, val, vlen);
        if (rc == 0)
            rc = cf_lit(b, "\"");
    }
    return rc == 0 ? cf_lit(b, "}") : rc;
}

static int kvc_get(kv_conn *base, const void *key, size_t klen, kv_buf *val) {
    cf_conn *c = (cf_conn *)base;
    int rc = key_path(c, "values", key, klen);
    return rc < 0 ? rc : cf_http_get_body(c, c->tmp.data, val);
}

static int kvc_set(kv_conn *base, const void *key, size_t klen, const void *val, size_t vlen) {
    cf_conn *c = (cf_conn *)base;
    int rc = check_value(c, vlen);
    if (rc == 0)
        rc = key_path(c, "values", key, klen);
    if (rc < 0)
        return rc;
    if (is_rest(c) && !cf_kv_text_exact(val, vlen)) {
        c->body.len = 0;
        rc = marker_append(&c->body, val, vlen);
        return rc < 0 ? rc : cf_http_put_multipart(c, c->tmp.data, val, vlen, c->body.data);
    }
    return cf_http_request(c, "PUT", c->tmp.data, val, vlen, CF_IDEMPOTENT);
}

static int kvc_del(kv_conn *base, const void *key, size_t klen) {
    cf_conn *c = (cf_conn *)base;
    int rc;
    if (is_rest(c)) {
        /* The official DELETE succeeds for absent keys: ask first (not atomic, as KV is not). */
        rc = key_path(c, "metadata", key, klen);
        if (rc == 0)
            rc = cf_http_request(c, "GET", c->tmp.data, NULL, 0, CF_IDEMPOTENT);
        if (rc < 0)
            return rc;
    }
    rc = key_path(c, "values", key, klen);
    if (rc == 0)
        rc = cf_http_request(c, "DELETE", c->tmp.data, NULL, 0, CF_IDEMPOTENT);
    return rc;
}

/* Read-modify-write: KV has no atomic primitive (the capabilities leave ATOMIC_INCR out). */
static int kvc_incr(kv_conn *base, const void *key, size_t klen, int64_t by, int64_t *result) {
    cf_conn *c = (cf_conn *)base;
    kv_buf v = KV_BUF_INIT;
    int64_t cur = 0;
    char num[24];
    int rc = kvc_get(base, key, klen, &v);
    if (rc == KV_ENOTFOUND) {
        rc = 0;
        c->base.errmsg[0] = '\0';
    } else if (rc == 0 && (rc = kv__parse_i64(v.data, v.len, &cur)) < 0) {
        kv__error(base, rc, "%s: the value is %s", c->scheme,
                  rc == KV_ENOTNUM ? "not a decimal integer" : "out of range");
    }
    kv_buf_free(&v);
    if (rc < 0)
        return rc;
    if (kv__add_i64(cur, by, &cur) < 0)
        return kv__error(base, KV_EOVERFLOW, "%s: %lld + %lld overflows", c->scheme, (long long)cur,
                         (long long)by);
    rc = kvc_set(base, key, klen, num, kv__format_i64(cur, num));
    if (rc == 0)
        *result = cur;
    return rc;
}

/* ---- Batches. ---- */

/*
 * POSTs {OPENING the KV keys of keys[0..n)]} to STORE/bulk/get (OPENING ends in "keys":[) and
 * returns the result object in *res.
 */
static int post_bulk_get(cf_conn *c, const char *opening, const kv_key *keys, size_t n,
                         json_t **res) {
    c->body.len = 0;
    int rc = cf_lit(&c->body, opening);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rc = cf_kv_key(c, &c->tmp, keys[i].key, keys[i].klen);
        if (rc == 0 && i)
            rc = cf_lit(&c->body, ",");
        if (rc == 0)
            rc = cf_json_str_append(&c->body, c->tmp.data, c->tmp.len);
    }
    if (rc == 0)
        rc = cf_lit(&c->body, "]}");
    if (rc == 0) {
        char path[600];
        snprintf(path, sizeof(path), "%s/bulk/get", c->store);
        rc = cf_http_request(c, "POST", path, c->body.data, c->body.len,
                             CF_IDEMPOTENT | CF_JSON_BODY);
    }
    if (rc == 0)
        rc = cf_json_result(c, res);
    return rc;
}

/* Our Worker answers {"values": [base64 or null, ...]} in the order of the keys. */
static int bulk_get_worker(cf_conn *c, const kv_key *keys, size_t n, kv_buf *vals, int *rcs) {
    json_t *res = NULL;
    int rc = post_bulk_get(c, "{\"keys\":[", keys, n, &res);
    if (rc < 0)
        return rc;
    json_t *arr = json_object_get(res, "values");
    if (!json_is_array(arr) || json_array_size(arr) != n) {
        json_decref(res);
        return kv__error(&c->base, KV_EPROTO, "%s: bulk/get answered %zu values for %zu keys",
                         c->scheme, json_array_size(arr), n);
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        json_t *v = json_array_get(arr, i);
        rcs[i] = json_is_null(v) ? KV_ENOTFOUND : 0;
        if (rcs[i] == 0)
            rc = cf_b64_decode(&vals[i], cf_jstr(v), json_string_length(v));
    }
    json_decref(res);
    if (rc == KV_EPROTO)
        return kv__error(&c->base, rc, "%s: bulk/get answered bad base64", c->scheme);
    return rc;
}

/*
 * One key of the official bulk/get, whose "values" object maps KV keys to {value, metadata}.
 * The text is the value when it is exact: a marked value (metadata ud_bin) comes from its
 * "ud_b64" or, when it has none (too large for metadata), is read alone; so is an unmarked
 * value whose text holds U+FFFD, which a text read puts for bytes that are not UTF-8.
 */
static int rest_bulk_value(cf_conn *c, json_t *map, const kv_key *key, kv_buf *val, int *rcs) {
    int rc = cf_kv_key(c, &c->tmp, key->key, key->klen);
    json_t *e = rc == 0 ? json_object_getn(map, c->tmp.data, c->tmp.len) : NULL;
    *rcs = KV_ENOTFOUND;
    if (rc < 0 || !e || json_is_null(e))
        return rc;
    json_t *md = json_object_get(e, "metadata");
    json_t *v = json_object_get(e, "value");
    bool alone;
    if (json_integer_value(json_object_get(md, "ud_bin")) == 1) {
        json_t *b64 = json_object_get(md, "ud_b64");
        alone = !json_is_string(b64);
        if (!alone && cf_b64_decode(val, cf_jstr(b64), json_string_length(b64)) < 0)
            return kv__error(&c->base, KV_EPROTO,
                             "%s: bulk/get: the metadata of '%s' holds bad base64", c->scheme,
                             (const char *)c->tmp.data);
    } else {
        if (!json_is_string(v))
            return kv__error(&c->base, KV_EPROTO, "%s: bulk/get: the value of '%s' is not text",
                             c->scheme, (const char *)c->tmp.data);
        alone = memmem(cf_jstr(v), json_string_length(v), "\xef\xbf\xbd", 3) != NULL;
        if (!alone)
            rc = kv__buf_set(val, cf_jstr(v), json_string_length(v));
    }
    if (alone) {
        rc = kvc_get(&c->base, key->key, key->klen, val);
        if (rc == KV_ENOTFOUND) /* deleted since the bulk read */
            return 0;
    }
    *rcs = 0;
    return rc;
}

static int bulk_get_rest(cf_conn *c, const kv_key *keys, size_t n, kv_buf *vals, int *rcs) {
    json_t *res = NULL;
    int rc = post_bulk_get(c, "{\"type\":\"text\",\"withMetadata\":true,\"keys\":[", keys, n, &res);
    json_t *map = rc == 0 ? json_object_get(res, "values") : NULL;
    if (rc == 0 && !json_is_object(map))
        rc = kv__error(&c->base, KV_EPROTO, "%s: bulk/get answered no values object", c->scheme);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = rest_bulk_value(c, map, &keys[i], &vals[i], &rcs[i]);
    json_decref(res);
    return rc;
}

static int kvc_get_many(kv_conn *base, const kv_key *keys, size_t n, kv_buf *vals, int *rcs) {
    cf_conn *c = (cf_conn *)base;
    int rc = is_rest(c) ? cf_get_chunks(c, keys, n, vals, rcs, REST_GET_BATCH, bulk_get_rest)
                        : cf_get_chunks(c, keys, n, vals, rcs, WORKER_BATCH, bulk_get_worker);
    if (rc == 0)
        c->base.errmsg[0] = '\0';
    return rc;
}

static int send_bulk_write(cf_conn *c) {
    char path[600];
    snprintf(path, sizeof(path), "%s/bulk", c->store);
    if (cf_lit(&c->body, "]") < 0)
        return -ENOMEM;
    return cf_http_request(c, is_rest(c) ? "PUT" : "POST", path, c->body.data, c->body.len,
                           CF_IDEMPOTENT | CF_JSON_BODY);
}

/* Checks the value's size and leaves the item's KV key in c->tmp for add_bulk_entry(). */
static int check_bulk_entry(cf_conn *c, const kv_item *it) {
    int rc = check_value(c, it->vlen);
    return rc < 0 ? rc : cf_kv_key(c, &c->tmp, it->key, it->klen);
}

/* {"key":K,"base64":true,"value":B64[,"metadata":MARKER]}, in a JSON array. */
static int add_bulk_entry(cf_conn *c, const kv_item *it, size_t avail, size_t in_body,
                          size_t *used) {
    (void)avail;
    (void)used; /* one item per entry */
    int rc = cf_lit(&c->body, in_body ? ",{\"key\":" : "[{\"key\":");
    if (rc == 0)
        rc = cf_json_str_append(&c->body, c->tmp.data, c->tmp.len);
    if (rc == 0)
        rc = cf_lit(&c->body, ",\"base64\":true,\"value\":\"");
    if (rc == 0)
        rc = cf_b64_append(&c->body, it->val, it->vlen);
    if (rc == 0)
        rc = cf_lit(&c->body, "\"");
    /* The Worker marks what /_kv/bulk writes; the official API is told. */
    if (rc == 0 && is_rest(c) && !cf_kv_text_exact(it->val, it->vlen)) {
        rc = cf_lit(&c->body, ",\"metadata\":");
        if (rc == 0)
            rc = marker_append(&c->body, it->val, it->vlen);
    }
    return rc == 0 ? cf_lit(&c->body, "}") : rc;
}

/* An official bulk entry: base64, twice for a small value (its marker may carry it too). */
static size_t rest_entry_cost(const kv_item *it) {
    return cf_b64_cost(it) * (it->vlen <= CF_KV_META_VALUE_MAX ? 2 : 1);
}

static int kvc_set_many(kv_conn *base, const kv_item *items, size_t n) {
    cf_conn *c = (cf_conn *)base;
    const cf_bulk bulk = {
        .max_entries = is_rest(c) ? REST_SET_BATCH : WORKER_BATCH,
        .body_max = BODY_MAX,
        .cost = is_rest(c) ? rest_entry_cost : cf_b64_cost,
        .check = check_bulk_entry,
        .add = add_bulk_entry,
        .send = send_bulk_write,
    };
    return cf_bulk_write(c, items, n, &bulk);
}

/* ---- Listing: count, clear, export. ---- */

#define LIST_PAGE 1000
#define CURSOR_MAX 4096

/* One page of key names after `cursor` ("" for the first); *next is "" after the last page. */
static int list_page(cf_conn *c, const char *cursor, json_t **names, char *next, size_t nextlen) {
    json_t *res = NULL;
    c->tmp.len = 0;
    int rc = cf_buf_printf(&c->tmp, "%s/keys?limit=%d", c->store, LIST_PAGE);
    if (rc == 0 && cursor[0]) {
        rc = cf_lit(&c->tmp, "&cursor=");
        if (rc == 0)
            rc = cf_pct_append(&c->tmp, cursor, strlen(cursor));
    }
    if (rc == 0)
        rc = cf_http_request(c, "GET", c->tmp.data, NULL, 0, CF_IDEMPOTENT);
    if (rc < 0)
        return rc;
    /* result_info sits beside result in the envelope. */
    json_error_t jerr;
    json_t *root = json_loadb(c->http.resp.data, c->http.resp.len, 0, &jerr);
    res = root ? json_object_get(root, "result") : NULL;
    if (!json_is_array(res)) {
        json_decref(root);
        return kv__error(&c->base, KV_EPROTO, "%s: %s: no list of keys in the answer", c->scheme,
                         c->http.url);
    }
    const char *cur =
        json_string_value(json_object_get(json_object_get(root, "result_info"), "cursor"));
    snprintf(next, nextlen, "%s", cur && json_array_size(res) ? cur : "");
    *names = json_incref(res);
    json_decref(root);
    return 0;
}

/*
 * Calls each(c, names, ctx) for every page of the listing, in order, until the last page or
 * until each returns non-zero; returns 0, a listing error, or that value.
 */
static int walk_listing(cf_conn *c, int (*each)(cf_conn *c, json_t *names, void *ctx), void *ctx) {
    char cursor[CURSOR_MAX] = "", next[CURSOR_MAX];
    int rc;
    do {
        json_t *names;
        rc = list_page(c, cursor, &names, next, sizeof(next));
        if (rc < 0)
            return rc;
        rc = each(c, names, ctx);
        json_decref(names);
        memcpy(cursor, next, sizeof(cursor));
    } while (rc == 0 && cursor[0]);
    return rc;
}

static int count_names(cf_conn *c, json_t *names, void *ctx) {
    (void)c;
    *(uint64_t *)ctx += json_array_size(names);
    return 0;
}

static int kvc_count(kv_conn *base, uint64_t *n) {
    uint64_t total = 0;
    int rc = walk_listing((cf_conn *)base, count_names, &total);
    if (rc == 0)
        *n = total;
    return rc;
}

/* Deletes the keys of one page with one bulk/delete. */
static int delete_names(cf_conn *c, json_t *names, void *ctx) {
    size_t i;
    json_t *e;
    int rc = 0;
    c->body.len = 0;
    cf_lit(&c->body, "[");
    json_array_foreach(names, i, e) {
        json_t *name = json_object_get(e, "name");
        if (i)
            cf_lit(&c->body, ",");
        rc = cf_json_str_append(&c->body, cf_jstr(name), json_string_length(name));
        if (rc < 0)
            return rc;
    }
    if (cf_lit(&c->body, "]") < 0)
        return -ENOMEM;
    if (json_array_size(names) == 0)
        return 0;
    return cf_http_request(c, "POST", (const char *)ctx, c->body.data, c->body.len,
                           CF_IDEMPOTENT | CF_JSON_BODY);
}

static int kvc_clear(kv_conn *base) {
    cf_conn *c = (cf_conn *)base;
    char path[600];
    snprintf(path, sizeof(path), "%s/bulk/delete", c->store);
    return walk_listing(c, delete_names, path);
}

/* An export's buffers for one page of keys and values, reused from page to page. */
typedef struct export_page {
    kv_entry_fn fn;
    void *ctx;
    kv_key keys[LIST_PAGE];
    kv_buf orig[LIST_PAGE], vals[LIST_PAGE];
    int rcs[LIST_PAGE];
} export_page;

/* Reads the values of one page of names and hands each entry to the export's function. */
static int export_names(cf_conn *c, json_t *names, void *ctx) {
    export_page *e = ctx;
    size_t n = json_array_size(names);
    int rc = 0;
    if (n > LIST_PAGE)
        n = LIST_PAGE;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        json_t *name = json_object_get(json_array_get(names, i), "name");
        rc = cf_kv_unkey(&e->orig[i], cf_jstr(name), json_string_length(name));
        e->keys[i] = (kv_key){e->orig[i].data, e->orig[i].len};
    }
    if (rc == 0 && n)
        rc = kvc_get_many(&c->base, e->keys, n, e->vals, e->rcs);
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (e->rcs[i] == 0) /* a key deleted since the listing is skipped */
            rc = e->fn(e->ctx, e->keys[i].key, e->keys[i].klen,
                       e->vals[i].data ? e->vals[i].data : "", e->vals[i].len);
    return rc;
}

static int kvc_export(kv_conn *base, kv_entry_fn fn, void *ctx) {
    export_page *e = calloc(1, sizeof(*e));
    if (!e)
        return -ENOMEM;
    e->fn = fn;
    e->ctx = ctx;
    int rc = walk_listing((cf_conn *)base, export_names, e);
    for (size_t i = 0; i < LIST_PAGE; i++) {
        kv_buf_free(&e->orig[i]);
        kv_buf_free(&e->vals[i]);
    }
    free(e);
    return rc;
}

/* The Worker's and the official API's tables differ only in their name. */
#define KVC_METHODS(NAME)                                                                          \
    {                                                                                              \
        .version = 2, .name = (NAME), .close = cf_close, .backend_version = cf_backend_version,    \
        .get = kvc_get, .set = kvc_set, .del = kvc_del, .incr = kvc_incr, .count = kvc_count,      \
        .clear = kvc_clear, .export_all = kvc_export, .get_many = kvc_get_many,                    \
        .set_many = kvc_set_many,                                                                  \
    }

static const kv_methods cf_kv_methods = KVC_METHODS("cloudflare-kv");
static const kv_methods cf_rest_kv_methods = KVC_METHODS("cloudflare-rest-kv");

int cf_kv_setup(cf_conn *c, char *err, size_t errlen) {
    int rc;
    c->base.methods = is_rest(c) ? &cf_rest_kv_methods : &cf_kv_methods;
    /* No ATOMIC_INCR, no LOCK, no SNAPSHOT: KV has none of them. */
    c->base.caps =
        KV_CAP_ENUMERATE | KV_CAP_COUNT | KV_CAP_CROSS_PROCESS | KV_CAP_PERSISTENT | KV_CAP_BATCH;
    /* One small listing checks that it answers, the token, and (REST) the account and namespace. */
    char path[600];
    snprintf(path, sizeof(path), "%s/keys?limit=%d", c->store, is_rest(c) ? 10 : 1);
    rc = cf_http_request(c, "GET", path, NULL, 0, CF_IDEMPOTENT);
    if (rc < 0)
        return kv__errbuf(err, errlen, rc == KV_ECONN ? KV_ECONNECT : rc, "%s", c->base.errmsg);
    snprintf(c->version, sizeof(c->version), "%s (libcurl %s)",
             is_rest(c) ? "Cloudflare API v4, Workers KV" : "ultradict-kv Worker, Workers KV",
             curl_version_info(CURLVERSION_NOW)->version);
    return 0;
}
