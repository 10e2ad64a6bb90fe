/*
 * cf_internal.h - what the Cloudflare adapters share: one HTTP client per connection (libcurl),
 * the connection struct, encodings, and the open functions of the four stores.
 *
 *   cloudflare-kv://HOST:PORT      our Worker's KV routes (/_kv/...)            cf_kv.c
 *   cloudflare-d1://HOST:PORT      our Worker's D1 key-value routes (/_d1/...)  cf_d1.c
 *   cloudflare-rest://...?store=kv the official API for Workers KV              cf_kv.c
 *   cloudflare-rest://...?store=d1 the official API for D1 (SQL over /query)    cf_rest_d1.c
 *
 * Each scheme also has a "+https" form (cloudflare-kv+https://NAME.workers.dev, ...).
 */
#ifndef CF_INTERNAL_H
#define CF_INTERNAL_H

#include "kv_internal.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Limits of the real service, checked before a request is sent. */
#define CF_KV_KEY_MAX 512
#define CF_KV_VALUE_MAX ((size_t)25 * 1024 * 1024)
/*
 * A KV value that a text read would change is marked with the metadata {"ud_bin":1}, which
 * carries the value too ("ud_b64": base64) when it has at most this many bytes: 960 characters
 * of base64, inside the 1024 bytes of metadata KV allows. The Worker uses the same bound.
 */
#define CF_KV_META_VALUE_MAX 720u
#define CF_D1_ROW_MAX 2000000u
/* A REST D1 parameter is text: hex doubles a value, so values go in pieces of this many bytes. */
#define CF_D1_HEX_PIECE 900000u
#define CF_D1_HEX_PIECE_STR "900000"

enum cf_kind { CF_WORKER_KV, CF_WORKER_D1, CF_REST_KV, CF_REST_D1 };

/* One HTTP client: a reused easy handle (keep-alive) and its retry policy. */
typedef struct cf_http {
    CURL *curl;
    struct curl_slist *hdr_bytes; /* auth + Content-Type: application/octet-stream */
    struct curl_slist *hdr_json;  /* auth + Content-Type: application/json */
    struct curl_slist *hdr_plain; /* auth only (multipart sets its own type) */
    char base[1024];              /* scheme://host[:port][/path], no trailing slash */
    char url[8192];               /* the URL of the current request (never holds the token) */
    double timeout;               /* seconds per attempt */
    double connect_timeout;
    int retries;           /* attempts after the first one */
    double retry_max_wait; /* longest single wait between attempts */
    bool broken;           /* a lost connection or timeout: later calls fail fast */
    long status;           /* HTTP status of the last response */
    double retry_after;    /* seconds from the Retry-After header, or -1 */
    kv_buf resp;           /* the body of the last response */
    unsigned attempts;     /* attempts made by the last request */
} cf_http;

/* Flags of cf_http_request(). */
enum {
    CF_IDEMPOTENT = 1, /* may be retried after a 5xx (the server may have done it already) */
    CF_JSON_BODY = 2,  /* the body is JSON (else raw bytes) */
    CF_ALLOW_404 = 4,  /* a 404 is an answer, not an error: returns KV_ENOTFOUND quietly */
};

typedef struct cf_conn {
    kv_conn base;
    cf_http http;
    enum cf_kind kind;
    const char *scheme; /* for messages: "cloudflare-kv", ... */
    char store[512];    /* path of the store below the base URL, e.g. "/_kv" */
    char table[64];     /* REST D1: the key-value table */
    char version[192];
    kv_buf body; /* scratch: request bodies */
    kv_buf tmp;  /* scratch: keys, URLs */
} cf_conn;

/* The text of a JSON string, or "" for anything else. */
static inline const char *cf_jstr(const json_t *v) {
    const char *s = json_string_value(v);
    return s ? s : "";
}

/* ---- cf_http.c ---- */

/*
 * Sets up h for base URL `base`; `token` (may be NULL) becomes an Authorization: Bearer header
 * and is not kept anywhere else. 0 or an error written to err.
 */
int cf_http_init(cf_http *h, const char *base, const char *token, char *err, size_t errlen);
void cf_http_free(cf_http *h);

/*
 * Sends METHOD base+path with an optional body and retries 429 and 5xx (and refused
 * connections) with exponential backoff and jitter, honouring Retry-After, at most h->retries
 * times. The response is in h->resp. Returns 0 for a 2xx; KV_ENOTFOUND for a 404 whose code
 * is 10009 (or any 404 with CF_ALLOW_404); otherwise a KV_E* code with the detail on c.
 */
int cf_http_request(cf_conn *c, const char *method, const char *path, const void *body, size_t blen,
                    unsigned flags);

/* GETs path (idempotent) and copies the body of a 2xx into out; the codes of cf_http_request. */
int cf_http_get_body(cf_conn *c, const char *path, kv_buf *out);

/* The same as cf_http_request with a multipart/form-data body (value + metadata) for the official
 * KV write. */
int cf_http_put_multipart(cf_conn *c, const char *path, const void *val, size_t vlen,
                          const char *metadata_json);

/*
 * Parses h->resp as the {success, errors, result} envelope and returns a new reference to
 * "result" in *out (json_null() when absent). KV_EPROTO with a detail if it is not one.
 */
int cf_json_result(cf_conn *c, json_t **out);

/* ---- cf_util.c ---- */

/* Appends the percent-encoding of n bytes (every byte but A-Z a-z 0-9 - _ ~ is escaped). */
int cf_pct_append(kv_buf *b, const void *p, size_t n);
int cf_b64_append(kv_buf *b, const void *p, size_t n);
/* Decodes base64 into out (replacing its contents): 0 or KV_EPROTO. */
int cf_b64_decode(kv_buf *out, const char *s, size_t n);
int cf_hex_append(kv_buf *b, const void *p, size_t n);
int cf_hex_decode(kv_buf *out, const char *s, size_t n);
bool cf_utf8_valid(const void *p, size_t n);
/*
 * Whether a text-only read (the official KV bulk/get, which decodes values as UTF-8) returns
 * these bytes exactly: valid UTF-8, no NUL, no leading byte order mark (a decoder drops it).
 * The Worker applies the same rule (isExactText in worker/src/http.js).
 */
bool cf_kv_text_exact(const void *p, size_t n);
/* Appends a JSON string literal of n bytes of valid UTF-8 (quotes included). */
int cf_json_str_append(kv_buf *b, const void *p, size_t n);
int cf_buf_printf(kv_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends a NUL-terminated string (literals mostly: the compiler folds their strlen). */
#define cf_lit(b, s) kv__buf_append((b), (s), strlen(s))

/*
 * KV keys are strings: a key that is not valid UTF-8, holds a NUL, is "." or "..", or starts
 * with the escape prefix is stored as CF_KEY_ESCAPE + base64(key). Writes the KV key into out;
 * KV_ETOOBIG (with a detail on c) when it exceeds 512 bytes.
 */
#define CF_KEY_ESCAPE "~b64:"
int cf_kv_key(cf_conn *c, kv_buf *out, const void *key, size_t klen);
/* The inverse: the original key of a stored KV key. */
int cf_kv_unkey(kv_buf *out, const char *s, size_t n);

/* ---- the stores ---- */

int cf_kv_setup(cf_conn *c, char *err, size_t errlen);
int cf_d1_setup(cf_conn *c, char *err, size_t errlen);
int cf_rest_d1_setup(cf_conn *c, char *err, size_t errlen);

/* The backend_version slot shared by all four. */
const char *cf_backend_version(kv_conn *c);
int cf_close(kv_conn *c);

/* ---- cf_batch.c: the loops over batches and pages ---- */

/* Reads up to n keys with one request (or one batch of statements); the shape of get_many. */
typedef int (*cf_get_fn)(cf_conn *c, const kv_key *keys, size_t n, kv_buf *vals, int *rcs);

/* Calls get on consecutive chunks of at most `step` keys; stops at the first error. */
int cf_get_chunks(cf_conn *c, const kv_key *keys, size_t n, kv_buf *vals, int *rcs, size_t step,
                  cf_get_fn get);

/*
 * How a store writes entries in bulk requests built in c->body. For each item, check (may be
 * NULL) vets it; then, when the body already holds max_entries additions or its length plus
 * cost(item) (NULL: 0) passes body_max, send() finishes and sends the body, which starts again
 * empty; then add() appends the item (in_body: the additions already in this body, 0 for the
 * first) and may take a run of the following items too (*used, 1 on entry; avail counts the
 * items from this one on). The last body is sent at the end.
 */
typedef struct cf_bulk {
    size_t max_entries;
    size_t body_max;
    size_t (*cost)(const kv_item *it);
    int (*check)(cf_conn *c, const kv_item *it);
    int (*add)(cf_conn *c, const kv_item *items, size_t avail, size_t in_body, size_t *used);
    int (*send)(cf_conn *c);
} cf_bulk;

/* The cost of an entry whose value travels as base64: about 4/3 of the value. */
size_t cf_b64_cost(const kv_item *it);

/* Writes the n items as b says: 0, or the first error of check, add or send. */
int cf_bulk_write(cf_conn *c, const kv_item *items, size_t n, const cf_bulk *b);

/*
 * A walk over a listing that comes in pages. `page` fetches the page after p->after (empty: the
 * first), calls p->fn for each of its entries (decoding into p->k and p->v), stores the cursor
 * of the next page in p->after and the number of entries of the page in p->n (0 at the end), and
 * returns 0, an error, or the non-zero value of p->fn that stopped it. cf_export_pages() runs it
 * until the listing or p->fn stops, frees the buffers, and returns what the last page returned.
 */
typedef struct cf_pager {
    kv_buf after, k, v;
    kv_entry_fn fn;
    void *ctx;
    const char *sql; /* for pages fetched by a query */
    size_t n;        /* entries of the last page */
} cf_pager;
int cf_export_pages(cf_conn *c, cf_pager *p, int (*page)(cf_conn *c, cf_pager *p));

#endif /* CF_INTERNAL_H */
