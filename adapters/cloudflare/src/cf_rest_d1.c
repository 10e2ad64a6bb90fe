/*
 * cf_rest_d1.c - D1 through the official API (cloudflare-rest://...?store=d1): SQL sent to
 * /accounts/A/d1/database/D/query, on a key-value table (k BLOB PRIMARY KEY, v BLOB) that is
 * the same as the one our Worker serves, so both adapters see the same entries.
 *
 * The official API binds parameters as text: keys and values travel as hex (unhex(?) in SQL,
 * hex() in results). A text parameter is limited like a row (about 2 MB), so a value above
 * CF_D1_HEX_PIECE bytes is written as one INSERT and appending UPDATEs in one batch, which D1
 * runs as one transaction. kv_incr is one atomic upsert ... RETURNING.
 */
#include "cf_internal.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEYS_PER_SELECT 99 /* D1 binds at most 100 parameters per statement */
#define ROWS_PER_INSERT 50
#define GET_BATCH 1000
#define BODY_MAX ((size_t)16 << 20)

/* Starts a statement object in c->body: {"sql":"...","params":[ */
static int stmt_open(cf_conn *c, const char *sql) {
    int rc = cf_lit(&c->body, "{\"sql\":");
    if (rc == 0)
        rc = cf_json_str_append(&c->body, sql, strlen(sql));
    if (rc == 0)
        rc = cf_lit(&c->body, ",\"params\":[");
    return rc;
}

/* Appends a hex parameter (comma first unless it is the first one). */
static int param_hex(cf_conn *c, bool first, const void *p, size_t n) {
    int rc = kv__buf_append(&c->body, first ? "\"" : ",\"", first ? 1 : 2);
    if (rc == 0)
        rc = cf_hex_append(&c->body, p, n);
    if (rc == 0)
        rc = cf_lit(&c->body, "\"");
    return rc;
}

/*
 * Appends one statement {"sql":SQL,"params":[hex(key) ...: a comma first unless `first`; the
 * caller appends more parameters, then "]}".
 */
static int stmt_key(cf_conn *c, bool first, const char *sql, const void *key, size_t klen) {
    int rc = first ? 0 : cf_lit(&c->body, ",");
    if (rc == 0)
        rc = stmt_open(c, sql);
    if (rc == 0)
        rc = param_hex(c, true, key, klen);
    return rc;
}

/* Sends c->body to /query and returns the "result" array (a new reference) in *out. */
static int send_query(cf_conn *c, unsigned flags, json_t **out) {
    char path[700];
    json_t *res = NULL;
    snprintf(path, sizeof(path), "%s/query", c->store);
    int rc = cf_http_request(c, "POST", path, c->body.data, c->body.len, flags | CF_JSON_BODY);
    if (rc == 0)
        rc = cf_json_result(c, &res);
    if (rc == 0 && !json_is_array(res))
        rc = kv__error(&c->base, KV_EPROTO, "%s: %s: the result is not an array", c->scheme,
                       c->http.url);
    if (rc < 0) {
        json_decref(res);
        return rc;
    }
    *out = res;
    return 0;
}

/* One statement with hex parameters; *out = the result array. */
static int query(cf_conn *c, const char *sql, const void *const *ps, const size_t *lens, size_t np,
                 unsigned flags, json_t **out) {
    c->body.len = 0;
    int rc = stmt_open(c, sql);
    for (size_t i = 0; rc == 0 && i < np; i++)
        rc = param_hex(c, i == 0, ps[i], lens[i]);
    if (rc == 0)
        rc = cf_lit(&c->body, "]}");
    return rc < 0 ? rc : send_query(c, flags, out);
}

static json_t *rows_of(json_t *result, size_t i) {
    return json_object_get(json_array_get(result, i), "results");
}

static long changes_of(json_t *result, size_t i) {
    return (long)json_integer_value(
        json_object_get(json_object_get(json_array_get(result, i), "meta"), "changes"));
}

static int hex_field(cf_conn *c, json_t *row, const char *name, kv_buf *out) {
    json_t *v = json_object_get(row, name);
    if (!json_is_string(v) || cf_hex_decode(out, json_string_value(v), json_string_length(v)) < 0)
        return kv__error(&c->base, KV_EPROTO, "%s: column %s is not hex", c->scheme, name);
    return 0;
}

static int check_row(cf_conn *c, size_t klen, size_t vlen) {
    if (klen + vlen > CF_D1_ROW_MAX)
        return kv__error(&c->base, KV_ETOOBIG,
                         "%s: a key and value of %zu bytes exceed the D1 row limit of %u bytes",
                         c->scheme, klen + vlen, CF_D1_ROW_MAX);
    if (klen > CF_D1_HEX_PIECE)
        return kv__error(&c->base, KV_ETOOBIG, "%s: keys are at most %u bytes here", c->scheme,
                         CF_D1_HEX_PIECE);
    return 0;
}

/*
 * hex() of a value above 1 MB would pass D1's 2 MB limit on strings, so values are read as
 * length(v) plus the hex of pieces of CF_D1_HEX_PIECE bytes. The first piece comes with the
 * row; rest() fetches the others in one batch (one transaction) that also checks the length.
 */
#define PIECE_COLS(t) "length(v) AS n, hex(substr(v, 1, " CF_D1_HEX_PIECE_STR ")) AS v"

static int rest_of_value(cf_conn *c, const void *key, size_t klen, size_t total, kv_buf *val);

/* Decodes a row of PIECE_COLS into val, fetching the pieces after the first when needed. */
static int value_of_row(cf_conn *c, json_t *row, const void *key, size_t klen, kv_buf *val) {
    json_t *n = json_object_get(row, "n");
    if (!json_is_integer(n))
        return kv__error(&c->base, KV_EPROTO, "%s: no length in the answer", c->scheme);
    size_t total = (size_t)json_integer_value(n);
    int rc = hex_field(c, row, "v", val);
    if (rc == 0 && total > val->len)
        rc = rest_of_value(c, key, klen, total, val);
    return rc;
}

static int rd_get(kv_conn *base, const void *key, size_t klen, kv_buf *val) {
    cf_conn *c = (cf_conn *)base;
    char sql[200];
    json_t *res = NULL;
    snprintf(sql, sizeof(sql), "SELECT %s FROM %s WHERE k = unhex(?1)", PIECE_COLS(), c->table);
    int rc = query(c, sql, (const void *[]){key}, (size_t[]){klen}, 1, CF_IDEMPOTENT, &res);
    if (rc < 0)
        return rc;
    json_t *row = json_array_get(rows_of(res, 0), 0);
    rc = row ? value_of_row(c, json_incref(row), key, klen, val)
             : kv__error(base, KV_ENOTFOUND, "%s: key not found", c->scheme);
    if (row)
        json_decref(row);
    json_decref(res);
    return rc;
}

/* c->body = one batch of SELECTs of the pieces of the value from byte `from` to `total`. */
static int piece_batch(cf_conn *c, const void *key, size_t klen, size_t from, size_t total,
                       size_t *nstmt) {
    char sql[200];
    c->body.len = 0;
    int rc = cf_lit(&c->body, "{\"batch\":[");
    *nstmt = 0;
    for (size_t off = from; rc == 0 && off < total; off += CF_D1_HEX_PIECE, (*nstmt)++) {
        snprintf(sql, sizeof(sql),
                 "SELECT length(v) AS n, hex(substr(v, %zu, %u)) AS v FROM %s WHERE k = unhex(?1)",
                 off + 1, CF_D1_HEX_PIECE, c->table);
        rc = stmt_key(c, *nstmt == 0, sql, key, klen);
        if (rc == 0)
            rc = cf_lit(&c->body, "]}");
    }
    if (rc == 0)
        rc = cf_lit(&c->body, "]}");
    return rc;
}

/*
 * Appends the pieces of the answer to val; *changed when a piece is missing or the length is
 * no longer `total` (the value was written meanwhile).
 */
static int append_pieces(cf_conn *c, json_t *res, size_t nstmt, size_t total, kv_buf *val,
                         bool *changed) {
    kv_buf piece = KV_BUF_INIT;
    int rc = 0;
    *changed = false;
    for (size_t i = 0; rc == 0 && i < nstmt; i++) {
        json_t *row = json_array_get(rows_of(res, i), 0);
        if (!row || (size_t)json_integer_value(json_object_get(row, "n")) != total) {
            *changed = true;
            break;
        }
        rc = hex_field(c, row, "v", &piece);
        if (rc == 0)
            rc = kv__buf_append(val, piece.data, piece.len);
    }
    kv_buf_free(&piece);
    return rc;
}

/* Fetches the pieces of a value of `total` bytes after the val->len bytes already read. */
static int rest_of_value(cf_conn *c, const void *key, size_t klen, size_t total, kv_buf *val) {
    json_t *res = NULL;
    size_t nstmt;
    bool changed = false;
    int rc = piece_batch(c, key, klen, val->len, total, &nstmt);
    if (rc == 0)
        rc = send_query(c, CF_IDEMPOTENT, &res);
    if (rc == 0)
        rc = append_pieces(c, res, nstmt, total, val, &changed);
    json_decref(res);
    if (rc < 0 || !changed)
        return rc;
    /* Written meanwhile: read it again from the start. */
    kv_buf again = KV_BUF_INIT;
    rc = rd_get(&c->base, key, klen, &again);
    if (rc == 0)
        rc = kv__buf_set(val, again.data, again.len);
    kv_buf_free(&again);
    return rc;
}

/*
 * Appends to c->body the statements that write one entry: an upsert with the first piece of
 * the value and, for a value above CF_D1_HEX_PIECE, appending UPDATEs with the rest.
 */
static int append_entry(cf_conn *c, bool first, const void *key, size_t klen, const void *val,
                        size_t vlen) {
    char sql[256];
    size_t piece = vlen < CF_D1_HEX_PIECE ? vlen : CF_D1_HEX_PIECE;
    snprintf(sql, sizeof(sql),
             "INSERT INTO %s (k, v) VALUES (unhex(?1), unhex(?2)) "
             "ON CONFLICT (k) DO UPDATE SET v = excluded.v",
             c->table);
    int rc = stmt_key(c, first, sql, key, klen);
    if (rc == 0)
        rc = param_hex(c, false, val, piece);
    if (rc == 0)
        rc = cf_lit(&c->body, "]}");
    snprintf(sql, sizeof(sql), "UPDATE %s SET v = CAST(v || unhex(?2) AS BLOB) WHERE k = unhex(?1)",
             c->table);
    for (size_t off = piece; rc == 0 && off < vlen; off += piece) {
        piece = vlen - off < CF_D1_HEX_PIECE ? vlen - off : CF_D1_HEX_PIECE;
        rc = stmt_key(c, false, sql, key, klen);
        if (rc == 0)
            rc = param_hex(c, false, (const char *)val + off, piece);
        if (rc == 0)
            rc = cf_lit(&c->body, "]}");
    }
    return rc;
}

static int rd_set(kv_conn *base, const void *key, size_t klen, const void *val, size_t vlen) {
    cf_conn *c = (cf_conn *)base;
    json_t *res = NULL;
    int rc = check_row(c, klen, vlen);
    if (rc < 0)
        return rc;
    c->body.len = 0;
    rc = cf_lit(&c->body, "{\"batch\":[");
    if (rc == 0)
        rc = append_entry(c, true, key, klen, val, vlen);
    if (rc == 0)
        rc = cf_lit(&c->body, "]}");
    if (rc == 0)
        rc = send_query(c, CF_IDEMPOTENT, &res);
    json_decref(res);
    return rc;
}

static int rd_del(kv_conn *base, const void *key, size_t klen) {
    cf_conn *c = (cf_conn *)base;
    char sql[128];
    json_t *res = NULL;
    snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE k = unhex(?1)", c->table);
    int rc = query(c, sql, (const void *[]){key}, (size_t[]){klen}, 1, CF_IDEMPOTENT, &res);
    if (rc == 0 && changes_of(res, 0) == 0)
        rc = kv__error(base, KV_ENOTFOUND, "%s: key not found", c->scheme);
    json_decref(res);
    return rc;
}

static int rd_incr(kv_conn *base, const void *key, size_t klen, int64_t by, int64_t *result) {
    cf_conn *c = (cf_conn *)base;
    char sql[700], num[24];
    json_t *res = NULL;
    const char *t = c->table;
    /* The guard refuses values that are not canonical integers, and sums that overflow. */
    snprintf(sql, sizeof(sql),
             "INSERT INTO %s (k, v) VALUES (unhex(?1), CAST(CAST(?2 AS INTEGER) AS TEXT)) "
             "ON CONFLICT (k) DO UPDATE SET v = CAST(CAST(CAST(v AS TEXT) AS INTEGER) + "
             "CAST(?2 AS INTEGER) AS TEXT) "
             "WHERE CAST(CAST(CAST(v AS TEXT) AS INTEGER) AS TEXT) = CAST(v AS TEXT) AND "
             "typeof(CAST(CAST(v AS TEXT) AS INTEGER) + CAST(?2 AS INTEGER)) = 'integer' "
             "RETURNING CAST(v AS TEXT) AS v",
             t);
    kv__format_i64(by, num);
    c->body.len = 0;
    int rc = stmt_key(c, true, sql, key, klen);
    if (rc == 0)
        rc = cf_buf_printf(&c->body, ",\"%s\"]}", num);
    /* Not idempotent: no retry after a 5xx. */
    if (rc == 0)
        rc = send_query(c, 0, &res);
    if (rc < 0)
        return rc;
    json_t *row = json_array_get(rows_of(res, 0), 0);
    json_t *v = json_object_get(row, "v");
    if (row)
        rc = kv__parse_i64(cf_jstr(v), json_string_length(v), result);
    json_decref(res);
    if (row)
        return rc < 0 ? kv__error(base, KV_EPROTO, "%s: incr answered no integer", c->scheme) : 0;
    /* The guard refused: a second read says why (for the message only). */
    kv_buf cur = KV_BUF_INIT;
    int64_t n;
    rc = rd_get(base, key, klen, &cur);
    if (rc == 0)
        rc = kv__parse_i64(cur.data, cur.len, &n) == KV_ENOTNUM
                 ? kv__error(base, KV_ENOTNUM, "%s: the value is not a decimal integer", c->scheme)
                 : kv__error(base, KV_EOVERFLOW, "%s: the sum overflows 64 bits", c->scheme);
    kv_buf_free(&cur);
    return rc;
}

static int rd_scalar(cf_conn *c, const char *sql, json_t **res) {
    return query(c, sql, NULL, NULL, 0, CF_IDEMPOTENT, res);
}

static int rd_count(kv_conn *base, uint64_t *n) {
    cf_conn *c = (cf_conn *)base;
    char sql[128];
    json_t *res = NULL;
    snprintf(sql, sizeof(sql), "SELECT count(*) AS n FROM %s", c->table);
    int rc = rd_scalar(c, sql, &res);
    if (rc < 0)
        return rc;
    json_t *v = json_object_get(json_array_get(rows_of(res, 0), 0), "n");
    if (!json_is_integer(v))
        rc = kv__error(base, KV_EPROTO, "%s: count answered no integer", c->scheme);
    else
        *n = (uint64_t)json_integer_value(v);
    json_decref(res);
    return rc;
}

static int rd_clear(kv_conn *base) {
    cf_conn *c = (cf_conn *)base;
    char sql[128];
    json_t *res = NULL;
    snprintf(sql, sizeof(sql), "DELETE FROM %s", c->table);
    int rc = rd_scalar(c, sql, &res);
    json_decref(res);
    return rc;
}

/* c->body = one batch of SELECTs ... WHERE k IN (...) of KEYS_PER_SELECT keys each. */
static int select_batch(cf_conn *c, const kv_key *keys, size_t n) {
    c->body.len = 0;
    int rc = cf_lit(&c->body, "{\"batch\":[");
    for (size_t s = 0; rc == 0 && s < n; s += KEYS_PER_SELECT) {
        size_t m = n - s < KEYS_PER_SELECT ? n - s : KEYS_PER_SELECT;
        c->tmp.len = 0;
        rc = cf_buf_printf(&c->tmp, "SELECT hex(k) AS k, %s FROM %s WHERE k IN (", PIECE_COLS(),
                           c->table);
        for (size_t i = 0; rc == 0 && i < m; i++)
            rc = cf_buf_printf(&c->tmp, "%sunhex(?%zu)", i ? ", " : "", i + 1);
        if (rc == 0)
            rc = cf_lit(&c->tmp, ")");
        if (rc == 0 && s)
            rc = cf_lit(&c->body, ",");
        if (rc == 0)
            rc = stmt_open(c, c->tmp.data);
        for (size_t i = 0; rc == 0 && i < m; i++)
            rc = param_hex(c, i == 0, keys[s + i].key, keys[s + i].klen);
        if (rc == 0)
            rc = cf_lit(&c->body, "]}");
    }
    if (rc == 0)
        rc = cf_lit(&c->body, "]}");
    return rc;
}

/* The row of `rows` whose hex(k) is `want`, or NULL (the rows of an IN come in any order). */
static json_t *row_of_key(json_t *rows, const kv_buf *want) {
    for (size_t j = 0; j < json_array_size(rows); j++) {
        json_t *row = json_array_get(rows, j);
        json_t *k = json_object_get(row, "k");
        if (json_string_length(k) == want->len &&
            memcmp(json_string_value(k), want->data, want->len) == 0)
            return row;
    }
    return NULL;
}

/* Reads up to GET_BATCH keys with one batch of SELECTs. */
static int get_batch(cf_conn *c, const kv_key *keys, size_t n, kv_buf *vals, int *rcs) {
    kv_buf want = KV_BUF_INIT;
    json_t *res = NULL;
    int rc = select_batch(c, keys, n);
    if (rc == 0)
        rc = send_query(c, CF_IDEMPOTENT, &res);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rcs[i] = KV_ENOTFOUND;
        want.len = 0;
        if ((rc = cf_hex_append(&want, keys[i].key, keys[i].klen)) < 0)
            break;
        json_t *row = row_of_key(rows_of(res, i / KEYS_PER_SELECT), &want);
        if (row) {
            rc = value_of_row(c, row, keys[i].key, keys[i].klen, &vals[i]);
            rcs[i] = 0;
        }
    }
    json_decref(res);
    kv_buf_free(&want);
    return rc;
}

static int rd_get_many(kv_conn *base, const kv_key *keys, size_t n, kv_buf *vals, int *rcs) {
    return cf_get_chunks((cf_conn *)base, keys, n, vals, rcs, GET_BATCH, get_batch);
}

static int flush_batch(cf_conn *c) {
    json_t *res = NULL;
    int rc = cf_lit(&c->body, "]}");
    if (rc == 0)
        rc = send_query(c, CF_IDEMPOTENT, &res);
    json_decref(res);
    return rc;
}

static bool small_value(const kv_item *it) {
    return it->vlen <= CF_D1_HEX_PIECE / 8;
}

/* One INSERT of up to ROWS_PER_INSERT small entries from items[0] on; *used = how many. */
static int append_run(cf_conn *c, bool first, const kv_item *items, size_t avail, size_t *used) {
    size_t m = 0;
    while (m < avail && m < ROWS_PER_INSERT && small_value(&items[m]) &&
           check_row(c, items[m].klen, items[m].vlen) == 0)
        m++;
    c->tmp.len = 0;
    int rc = cf_buf_printf(&c->tmp, "INSERT INTO %s (k, v) VALUES ", c->table);
    for (size_t j = 0; rc == 0 && j < m; j++)
        rc = cf_lit(&c->tmp, j ? ", (unhex(?), unhex(?))" : "(unhex(?), unhex(?))");
    if (rc == 0)
        rc = cf_lit(&c->tmp, " ON CONFLICT (k) DO UPDATE SET v = excluded.v");
    if (rc == 0 && !first)
        rc = cf_lit(&c->body, ",");
    if (rc == 0)
        rc = stmt_open(c, c->tmp.data);
    for (size_t j = 0; rc == 0 && j < m; j++) {
        rc = param_hex(c, j == 0, items[j].key, items[j].klen);
        if (rc == 0)
            rc = param_hex(c, false, items[j].val, items[j].vlen);
    }
    if (rc == 0)
        rc = cf_lit(&c->body, "]}");
    *used = m;
    return rc;
}

/* One statement of a batch: the entry alone when its value is large, else a run of entries. */
static int add_stmt(cf_conn *c, const kv_item *items, size_t avail, size_t in_body, size_t *used) {
    int rc = in_body ? 0 : cf_lit(&c->body, "{\"batch\":[");
    if (rc == 0)
        rc = check_row(c, items[0].klen, items[0].vlen);
    if (rc < 0)
        return rc;
    if (!small_value(&items[0]))
        return append_entry(c, in_body == 0, items[0].key, items[0].klen, items[0].val,
                            items[0].vlen);
    return append_run(c, in_body == 0, items, avail, used);
}

/* Multi-row upserts of ROWS_PER_INSERT rows; one request (one D1 batch) per ~16 MB. */
static int rd_set_many(kv_conn *base, const kv_item *items, size_t n) {
    static const cf_bulk bulk = {
        .max_entries = SIZE_MAX,
        .body_max = BODY_MAX,
        .add = add_stmt,
        .send = flush_batch,
    };
    return cf_bulk_write((cf_conn *)base, items, n, &bulk);
}

/* One page of the table in key order, after p->after: up to 1000 rows or 8 MiB. */
static int rd_page(cf_conn *c, cf_pager *p) {
    json_t *res = NULL;
    int rc = query(c, p->sql, (const void *[]){p->after.data ? p->after.data : ""},
                   (size_t[]){p->after.len}, 1, CF_IDEMPOTENT, &res);
    if (rc < 0)
        return rc;
    json_t *rows = rows_of(res, 0);
    size_t n = json_array_size(rows);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        json_t *row = json_array_get(rows, i);
        rc = hex_field(c, row, "k", &p->k);
        if (rc == 0)
            rc = value_of_row(c, row, p->k.data, p->k.len, &p->v);
        if (rc == 0)
            rc = p->fn(p->ctx, p->k.data, p->k.len, p->v.data, p->v.len);
        if (rc == 0 && i == n - 1)
            rc = kv__buf_set(&p->after, p->k.data, p->k.len);
    }
    json_decref(res);
    p->n = n;
    return rc;
}

static int rd_export(kv_conn *base, kv_entry_fn fn, void *ctx) {
    cf_conn *c = (cf_conn *)base;
    char sql[512];
    snprintf(sql, sizeof(sql),
             "SELECT hex(k) AS k, " PIECE_COLS() " FROM (SELECT k, v, "
                                                 "sum(length(k) + length(v)) OVER (ORDER BY k) AS "
                                                 "run FROM "
                                                 "(SELECT k, v FROM %s WHERE k > unhex(?1) ORDER "
                                                 "BY k LIMIT 1000)) "
                                                 "WHERE run - (length(k) + length(v)) < 8388608 "
                                                 "ORDER BY k",
             c->table);
    cf_pager p = {.fn = fn, .ctx = ctx, .sql = sql};
    return cf_export_pages(c, &p, rd_page);
}

static const kv_methods cf_rest_d1_methods = {
    .version = 2,
    .name = "cloudflare-rest-d1",
    .close = cf_close,
    .backend_version = cf_backend_version,
    .get = rd_get,
    .set = rd_set,
    .del = rd_del,
    .incr = rd_incr,
    .count = rd_count,
    .clear = rd_clear,
    .export_all = rd_export,
    .get_many = rd_get_many,
    .set_many = rd_set_many,
};

int cf_rest_d1_setup(cf_conn *c, char *err, size_t errlen) {
    char sql[160];
    json_t *res = NULL;
    c->base.methods = &cf_rest_d1_methods;
    c->base.caps = KV_CAP_ATOMIC_INCR | KV_CAP_ENUMERATE | KV_CAP_COUNT | KV_CAP_CROSS_PROCESS |
                   KV_CAP_PERSISTENT | KV_CAP_BATCH;
    /* Creating the table (if needed) also checks the token, the account and the database. */
    snprintf(sql, sizeof(sql),
             "CREATE TABLE IF NOT EXISTS %s (k BLOB PRIMARY KEY NOT NULL, v BLOB NOT NULL)",
             c->table);
    int rc = rd_scalar(c, sql, &res);
    json_decref(res);
    if (rc < 0)
        return kv__errbuf(err, errlen, rc == KV_ECONN ? KV_ECONNECT : rc, "%s", c->base.errmsg);
    snprintf(c->version, sizeof(c->version), "Cloudflare API v4, D1 (libcurl %s)",
             curl_version_info(CURLVERSION_NOW)->version);
    return 0;
}
