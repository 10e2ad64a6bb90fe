/*
 * cf_kv.c - Workers KV, through our Worker (cloudflare-kv://, routes under /_kv) or through the
 * official API (cloudflare-rest://...?store=kv, routes under /accounts/A/storage/kv/namespaces/N).
 * The two speak the same shapes except for bulk reads: the official bulk/get returns text only,
 * so values that are not UTF-8 text are written with the metadata {"ud_bin":1} and read one by
 * one; the Worker's bulk/get answers base64.
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

static bool is_text(const void *p, size_t n) {
    return memchr(p, 0, n) == NULL && cf_utf8_valid(p, n);
}

static int kvc_get(kv_conn *base, const void *key, size_t klen, kv_buf *val) {
    cf_conn *c = (cf_conn *)base;
    int rc = key_path(c, "values", key, klen);
    if (rc == 0)
        rc = cf_http_request(c, "GET", c->tmp.data, NULL, 0, CF_IDEMPOTENT);
    if (rc == 0)
        rc = kv__buf_set(val, c->http.resp.data, c->http.resp.len);
    return rc;
}

static int kvc_set(kv_conn *base, const void *key, size_t klen, const void *val, size_t vlen) {
    cf_conn *c = (cf_conn *)base;
    int rc = check_value(c, vlen);
    if (rc == 0)
        rc = key_path(c, "values", key, klen);
    if (rc < 0)
        return rc;
    if (is_rest(c) && !is_text(val, vlen))
        return cf_http_put_multipart(c, c->tmp.data, val, vlen, "{\"ud_bin\":1}");
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

static int bulk_get_worker(cf_conn *c, const kv_key *keys, size_t n, kv_buf *vals, int *rcs) {
    kv_buf k = KV_BUF_INIT;
    json_t *res = NULL;
    int rc = 0;
    c->body.len = 0;
    rc = cf_lit(&c->body, "{\"keys\":[");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rc = cf_kv_key(c, &k, keys[i].key, keys[i].klen);
        if (rc == 0 && i)
            rc = cf_lit(&c->body, ",");
        if (rc == 0)
            rc = cf_json_str_append(&c->body, k.data, k.len);
    }
    if (rc == 0)
        rc = cf_lit(&c->body, "]}");
    kv_buf_free(&k);
    if (rc == 0) {
        char path[600];
        snprintf(path, sizeof(path), "%s/bulk/get", c->store);
        rc = cf_http_request(c, "POST", path, c->body.data, c->body.len,
                             CF_IDEMPOTENT | CF_JSON_BODY);
    }
    if (rc == 0)
        rc = cf_json_result(c, &res);
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
        if (json_is_null(v)) {
            rcs[i] = KV_ENOTFOUND;
            continue;
        }
        rc = cf_b64_decode(&vals[i], cf_jstr(v), json_string_length(v));
        rcs[i] = 0;
    }
    json_decref(res);
    if (rc == KV_EPROTO)
        return kv__error(&c->base, rc, "%s: bulk/get answered bad base64", c->scheme);
    return rc;
}

static int bulk_get_rest(cf_conn *c, const kv_key *keys, size_t n, kv_buf *vals, int *rcs) {
    kv_buf *names = calloc(n ? n : 1, sizeof(*names));
    json_t *res = NULL;
    int rc = names ? 0 : -ENOMEM;
    c->body.len = 0;
    if (rc == 0)
        rc = cf_lit(&c->body, "{\"type\":\"text\",\"withMetadata\":true,\"keys\":[");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rc = cf_kv_key(c, &names[i], keys[i].key, keys[i].klen);
        if (rc == 0 && i)
            rc = cf_lit(&c->body, ",");
        if (rc == 0)
            rc = cf_json_str_append(&c->body, names[i].data, names[i].len);
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
        rc = cf_json_result(c, &res);
    json_t *map = rc == 0 ? json_object_get(res, "values") : NULL;
    if (rc == 0 && !json_is_object(map))
        rc = kv__error(&c->base, KV_EPROTO, "%s: bulk/get answered no values object", c->scheme);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        json_t *e = json_object_getn(map, names[i].data, names[i].len);
        if (!e || json_is_null(e)) {
            rcs[i] = KV_ENOTFOUND;
            continue;
        }
        json_t *md = json_object_get(e, "metadata");
        if (json_integer_value(json_object_get(md, "ud_bin")) == 1) {
            /* Bytes that are not text: the text-only bulk read cannot carry them. */
            rc = kvc_get(&c->base, keys[i].key, keys[i].klen, &vals[i]);
            rcs[i] = rc == KV_ENOTFOUND ? KV_ENOTFOUND : 0;
            if (rc == KV_ENOTFOUND)
                rc = 0;
            continue;
        }
        json_t *v = json_object_get(e, "value");
        rc = kv__buf_set(&vals[i], cf_jstr(v), json_string_length(v));
        rcs[i] = 0;
    }
    json_decref(res);
    for (size_t i = 0; names && i < n; i++)
        kv_buf_free(&names[i]);
    free(names);
    return rc;
}

static int kvc_get_many(kv_conn *base, const kv_key *keys, size_t n, kv_buf *vals, int *rcs) {
    cf_conn *c = (cf_conn *)base;
    size_t step = is_rest(c) ? REST_GET_BATCH : WORKER_BATCH;
    for (size_t i = 0; i < n; i += step) {
        size_t m = n - i < step ? n - i : step;
        int rc = is_rest(c) ? bulk_get_rest(c, keys + i, m, vals + i, rcs + i)
                            : bulk_get_worker(c, keys + i, m, vals + i, rcs + i);
        if (rc < 0)
            return rc;
    }
    c->base.errmsg[0] = '\0';
    return 0;
}

static int send_bulk_write(cf_conn *c) {
    char path[600];
    snprintf(path, sizeof(path), "%s/bulk", c->store);
    if (cf_lit(&c->body, "]") < 0)
        return -ENOMEM;
    return cf_http_request(c, is_rest(c) ? "PUT" : "POST", path, c->body.data, c->body.len,
                           CF_IDEMPOTENT | CF_JSON_BODY);
}

static int kvc_set_many(kv_conn *base, const kv_item *items, size_t n) {
    cf_conn *c = (cf_conn *)base;
    size_t max_items = is_rest(c) ? REST_SET_BATCH : WORKER_BATCH;
    kv_buf k = KV_BUF_INIT;
    size_t in_body = 0;
    int rc = 0;
    c->body.len = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rc = check_value(c, items[i].vlen);
        if (rc == 0)
            rc = cf_kv_key(c, &k, items[i].key, items[i].klen);
        if (rc < 0)
            break;
        if (in_body && (in_body == max_items || c->body.len + items[i].vlen / 3 * 4 > BODY_MAX)) {
            if ((rc = send_bulk_write(c)) < 0)
                break;
            c->body.len = 0;
            in_body = 0;
        }
        rc = kv__buf_append(&c->body, in_body ? "," : "[", 1);
        if (rc == 0)
            rc = cf_lit(&c->body, "{\"key\":");
        if (rc == 0)
            rc = cf_json_str_append(&c->body, k.data, k.len);
        if (rc == 0)
            rc = cf_lit(&c->body, ",\"base64\":true,\"value\":\"");
        if (rc == 0)
            rc = cf_b64_append(&c->body, items[i].val, items[i].vlen);
        if (rc == 0 && is_rest(c) && !is_text(items[i].val, items[i].vlen))
            rc = cf_lit(&c->body, "\",\"metadata\":{\"ud_bin\":1}}");
        else if (rc == 0)
            rc = cf_lit(&c->body, "\"}");
        in_body++;
    }
    if (rc == 0 && in_body)
        rc = send_bulk_write(c);
    kv_buf_free(&k);
    return rc;
}

/* ---- Listing: count, clear, export. ---- */

/* One page of key names after `cursor` ("" for the first); *next is "" after the last page. */
static int list_page(cf_conn *c, const char *cursor, json_t **names, char *next, size_t nextlen) {
    json_t *res = NULL;
    c->tmp.len = 0;
    int rc = cf_buf_printf(&c->tmp, "%s/keys?limit=1000", c->store);
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

#define CURSOR_MAX 4096

static int kvc_count(kv_conn *base, uint64_t *n) {
    cf_conn *c = (cf_conn *)base;
    char cursor[CURSOR_MAX] = "", next[CURSOR_MAX];
    uint64_t total = 0;
    do {
        json_t *names;
        int rc = list_page(c, cursor, &names, next, sizeof(next));
        if (rc < 0)
            return rc;
        total += json_array_size(names);
        json_decref(names);
        memcpy(cursor, next, sizeof(cursor));
    } while (cursor[0]);
    *n = total;
    return 0;
}

static int kvc_clear(kv_conn *base) {
    cf_conn *c = (cf_conn *)base;
    char cursor[CURSOR_MAX] = "", next[CURSOR_MAX], path[600];
    snprintf(path, sizeof(path), "%s/bulk/delete", c->store);
    do {
        json_t *names;
        int rc = list_page(c, cursor, &names, next, sizeof(next));
        if (rc < 0)
            return rc;
        size_t i;
        json_t *e;
        c->body.len = 0;
        cf_lit(&c->body, "[");
        json_array_foreach(names, i, e) {
            json_t *name = json_object_get(e, "name");
            if (i)
                cf_lit(&c->body, ",");
            rc = cf_json_str_append(&c->body, cf_jstr(name), json_string_length(name));
            if (rc < 0)
                break;
        }
        size_t count = json_array_size(names);
        json_decref(names);
        if (rc == 0 && cf_lit(&c->body, "]") < 0)
            rc = -ENOMEM;
        if (rc == 0 && count)
            rc = cf_http_request(c, "POST", path, c->body.data, c->body.len,
                                 CF_IDEMPOTENT | CF_JSON_BODY);
        if (rc < 0)
            return rc;
        memcpy(cursor, next, sizeof(cursor));
    } while (cursor[0]);
    return 0;
}

static int kvc_export(kv_conn *base, kv_entry_fn fn, void *ctx) {
    cf_conn *c = (cf_conn *)base;
    char cursor[CURSOR_MAX] = "", next[CURSOR_MAX];
    kv_key *keys = calloc(1000, sizeof(*keys));
    kv_buf *orig = calloc(1000, sizeof(*orig)), *vals = calloc(1000, sizeof(*vals));
    int *rcs = calloc(1000, sizeof(*rcs));
    int rc = keys && orig && vals && rcs ? 0 : -ENOMEM;
    while (rc == 0) {
        json_t *names;
        rc = list_page(c, cursor, &names, next, sizeof(next));
        if (rc < 0)
            break;
        size_t n = json_array_size(names);
        for (size_t i = 0; rc == 0 && i < n && i < 1000; i++) {
            json_t *name = json_object_get(json_array_get(names, i), "name");
            rc = cf_kv_unkey(&orig[i], cf_jstr(name), json_string_length(name));
            keys[i] = (kv_key){orig[i].data, orig[i].len};
        }
        json_decref(names);
        if (rc == 0 && n)
            rc = kvc_get_many(base, keys, n, vals, rcs);
        for (size_t i = 0; rc == 0 && i < n; i++)
            if (rcs[i] == 0) /* a key deleted since the listing is skipped */
                rc = fn(ctx, keys[i].key, keys[i].klen, vals[i].data ? vals[i].data : "",
                        vals[i].len);
        if (rc != 0 || !next[0])
            break;
        memcpy(cursor, next, sizeof(cursor));
    }
    for (size_t i = 0; i < 1000 && orig && vals; i++) {
        kv_buf_free(&orig[i]);
        kv_buf_free(&vals[i]);
    }
    free(keys);
    free(orig);
    free(vals);
    free(rcs);
    return rc;
}

static const kv_methods cf_kv_methods = {
    .version = 2,
    .name = "cloudflare-kv",
    .close = cf_close,
    .backend_version = cf_backend_version,
    .get = kvc_get,
    .set = kvc_set,
    .del = kvc_del,
    .incr = kvc_incr,
    .count = kvc_count,
    .clear = kvc_clear,
    .export_all = kvc_export,
    .get_many = kvc_get_many,
    .set_many = kvc_set_many,
};

static const kv_methods cf_rest_kv_methods = {
    .version = 2,
    .name = "cloudflare-rest-kv",
    .close = cf_close,
    .backend_version = cf_backend_version,
    .get = kvc_get,
    .set = kvc_set,
    .del = kvc_del,
    .incr = kvc_incr,
    .count = kvc_count,
    .clear = kvc_clear,
    .export_all = kvc_export,
    .get_many = kvc_get_many,
    .set_many = kvc_set_many,
};

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
