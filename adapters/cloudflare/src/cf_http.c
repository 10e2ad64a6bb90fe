/*
 * cf_http.c - the HTTP client of the Cloudflare adapters: one reused libcurl easy handle per
 * connection (so the TCP/TLS connection is kept alive), connect and total timeouts, bounded
 * retries with exponential backoff and jitter on 429 and 5xx honouring Retry-After, TLS
 * verification always on, no redirects (they could carry the token elsewhere).
 *
 * The token lives only in the header lists handed to libcurl, which are wiped before they are
 * freed. Messages name the method, the URL (base + path, which never holds the token) and
 * what the server said; verbose output is never enabled.
 */
#include "cf_internal.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* A response larger than this is refused (a runaway answer must not exhaust memory). */
#define CF_RESP_MAX ((size_t)512 << 20)
#define CF_BACKOFF_BASE 0.1

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_global_rc = CURLE_OK;

static void curl_global(void) {
    curl_global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static size_t on_body(char *p, size_t size, size_t n, void *ctx) {
    kv_buf *b = ctx;
    size_t len = size * n;
    if (b->len + len > CF_RESP_MAX || kv__buf_append(b, p, len) < 0)
        return 0; /* libcurl then fails the transfer with CURLE_WRITE_ERROR */
    return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *ctx) {
    cf_http *h = ctx;
    size_t len = size * n;
    static const char name[] = "retry-after:";
    if (len > sizeof(name) && strncasecmp(p, name, sizeof(name) - 1) == 0) {
        char v[64];
        size_t vl = len - (sizeof(name) - 1);
        if (vl >= sizeof(v))
            vl = sizeof(v) - 1;
        memcpy(v, p + sizeof(name) - 1, vl);
        v[vl] = '\0';
        char *end;
        double s = strtod(v, &end);
        if (end != v && s >= 0) {
            h->retry_after = s;
        } else {
            /* An HTTP date. */
            time_t t = curl_getdate(v, NULL);
            if (t > 0)
                h->retry_after = difftime(t, time(NULL)) > 0 ? difftime(t, time(NULL)) : 0;
        }
    }
    return len;
}

static struct curl_slist *headers(const char *auth, const char *ctype) {
    struct curl_slist *l = NULL, *t;
    /* "Expect:" turns off 100-continue, which costs a round trip per large body. */
    const char *lines[] = {auth, ctype, "Expect:", "Accept: application/json, */*"};
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        if (!lines[i])
            continue;
        t = curl_slist_append(l, lines[i]);
        if (!t) {
            curl_slist_free_all(l);
            return NULL;
        }
        l = t;
    }
    return l;
}

/* Wipes the strings (the token is in one of them) before libcurl frees them. */
static void free_headers(struct curl_slist *l) {
    for (struct curl_slist *p = l; p; p = p->next)
        explicit_bzero(p->data, strlen(p->data));
    curl_slist_free_all(l);
}

int cf_http_init(cf_http *h, const char *base, const char *token, char *err, size_t errlen) {
    char *auth = NULL;
    int rc = 0;

    pthread_once(&curl_once, curl_global);
    if (curl_global_rc != CURLE_OK)
        return kv__errbuf(err, errlen, KV_EBACKEND, "curl_global_init: %s",
                          curl_easy_strerror(curl_global_rc));
    if (strlen(base) >= sizeof(h->base))
        return kv__errbuf(err, errlen, KV_EURI, "the base URL is too long");
    snprintf(h->base, sizeof(h->base), "%s", base);
    h->retry_after = -1;
    h->curl = curl_easy_init();
    if (!h->curl)
        return kv__errbuf(err, errlen, -ENOMEM, "curl_easy_init failed");
    if (token && *token) {
        size_t n = strlen(token) + 32;
        auth = malloc(n);
        if (!auth)
            return -ENOMEM;
        snprintf(auth, n, "Authorization: Bearer %s", token);
    }
    h->hdr_bytes = headers(auth, "Content-Type: application/octet-stream");
    h->hdr_json = headers(auth, "Content-Type: application/json");
    h->hdr_plain = headers(auth, NULL);
    if (auth) {
        explicit_bzero(auth, strlen(auth));
        free(auth);
    }
    if (!h->hdr_bytes || !h->hdr_json || !h->hdr_plain)
        return -ENOMEM;

    CURL *k = h->curl;
    bool https = strncmp(base, "https://", 8) == 0;
    curl_easy_setopt(k, CURLOPT_PROTOCOLS_STR, https ? "https" : "http");
    curl_easy_setopt(k, CURLOPT_REDIR_PROTOCOLS_STR, https ? "https" : "http");
    curl_easy_setopt(k, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(k, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(k, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(k, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(k, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(k, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(k, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(k, CURLOPT_USERAGENT, "ultradict-kv/" KV_VERSION_STRING " libcurl");
    curl_easy_setopt(k, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(k, CURLOPT_WRITEDATA, &h->resp);
    curl_easy_setopt(k, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(k, CURLOPT_HEADERDATA, h);
    curl_easy_setopt(k, CURLOPT_CONNECTTIMEOUT_MS, (long)(h->connect_timeout * 1000));
    curl_easy_setopt(k, CURLOPT_TIMEOUT_MS, (long)(h->timeout * 1000));
    return rc;
}

void cf_http_free(cf_http *h) {
    if (h->curl)
        curl_easy_cleanup(h->curl);
    free_headers(h->hdr_bytes);
    free_headers(h->hdr_json);
    free_headers(h->hdr_plain);
    kv_buf_free(&h->resp);
    memset(h, 0, sizeof(*h));
}

static double rand_unit(void) {
    char hex[9];
    if (kv__random_hex(hex, 4) < 0)
        return 0.5;
    return (double)strtoul(hex, NULL, 16) / 4294967296.0;
}

/* Sleeps before attempt `attempt` (1, 2, ...): full jitter over an exponential, or Retry-After. */
static void backoff(cf_http *h, unsigned attempt) {
    double cap = h->retry_max_wait;
    double d = CF_BACKOFF_BASE * pow(2.0, (double)(attempt - 1));
    if (d > cap)
        d = cap;
    d = d / 2 + rand_unit() * d / 2;
    if (h->retry_after >= 0)
        d = h->retry_after > cap ? cap : (h->retry_after > d ? h->retry_after : d);
    struct timespec ts = {(time_t)d, (long)((d - floor(d)) * 1e9)};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/*
 * The first error of the answer's envelope: its code (0 when there is none) and its message,
 * or else the start of the body (BODY_EXCERPT bytes) with control bytes blanked; msglen must
 * be larger than BODY_EXCERPT.
 */
#define BODY_EXCERPT 120
static int answer_detail(const cf_http *h, char *msg, size_t msglen) {
    int code = 0;
    json_error_t jerr;
    json_t *root = h->resp.len ? json_loadb(h->resp.data, h->resp.len, 0, &jerr) : NULL;
    json_t *e0 = root ? json_array_get(json_object_get(root, "errors"), 0) : NULL;
    msg[0] = '\0';
    if (e0) {
        code = (int)json_integer_value(json_object_get(e0, "code"));
        snprintf(msg, msglen, "%s", cf_jstr(json_object_get(e0, "message")));
    } else if (h->resp.len && h->resp.data) {
        size_t n = h->resp.len < BODY_EXCERPT ? h->resp.len : BODY_EXCERPT;
        for (size_t i = 0; i < n; i++) {
            char ch = ((char *)h->resp.data)[i];
            if (ch < 32 || ch >= 127)
                ch = ' ';
            msg[i] = ch;
        }
        msg[n] = '\0';
    }
    json_decref(root);
    return code;
}

/* The KV_E* code of HTTP status s with the envelope's code and message. */
static int answer_code(long s, int code, const char *msg) {
    /* An authentication failure is the server's refusal, whatever code comes with it. */
    if (s == 404 && code == 10009)
        return KV_ENOTFOUND;
    if (s == 401 || s == 403)
        return KV_ESERVER;
    if (s == 413 || s == 414 || code == 19002 || code == 19003 ||
        (s == 400 && (strstr(msg, "TOOBIG") || strstr(msg, "too big"))))
        return KV_ETOOBIG;
    if (code == 19004)
        return KV_ENOTNUM;
    if (code == 19005)
        return KV_EOVERFLOW;
    return KV_ESERVER;
}

/* What to try, for a status that has a usual cause. */
static const char *answer_hint(const cf_http *h) {
    long s = h->status;
    if (s == 401 || s == 403)
        return " (check the token: CLOUDFLARE_API_TOKEN or CLOUDFLARE_WORKER_TOKEN)";
    if ((s == 429 || s >= 500) && h->attempts > 1)
        return " (still failing after the retries)";
    return "";
}

/* The error of a non-2xx answer, from the envelope when there is one. */
static int http_error(cf_conn *c, const char *method) {
    cf_http *h = &c->http;
    char msg[160];
    int code = answer_detail(h, msg, sizeof(msg));
    int rc = answer_code(h->status, code, msg);
    if (code)
        return kv__error(&c->base, rc, "%s: %s %s: HTTP %ld, code %d: %s%s", c->scheme, method,
                         h->url, h->status, code, msg, answer_hint(h));
    return kv__error(&c->base, rc, "%s: %s %s: HTTP %ld %s%s", c->scheme, method, h->url, h->status,
                     msg, answer_hint(h));
}

static bool retryable_curl(CURLcode e) {
    return e == CURLE_COULDNT_CONNECT || e == CURLE_GOT_NOTHING || e == CURLE_SEND_ERROR ||
           e == CURLE_RECV_ERROR;
}

/* Runs the prepared transfer with the retry policy. */
/* Whether a finished attempt is worth another one. */
static bool should_retry(const cf_http *h, CURLcode e, unsigned flags) {
    bool idempotent = (flags & CF_IDEMPOTENT) != 0;
    if (e != CURLE_OK)
        /* A refused connection never reached the server: safe to retry. */
        return e == CURLE_COULDNT_CONNECT || (idempotent && retryable_curl(e));
    /* 429 means "not done"; a 5xx may come after the work, so only idempotent ones. */
    long s = h->status;
    return s == 429 || (idempotent && (s == 500 || s == 502 || s == 503 || s == 504));
}

/* Runs the prepared request, with bounded retries and back-off. */
static CURLcode attempts(cf_http *h, unsigned flags) {
    CURLcode e;
    for (unsigned attempt = 0;; attempt++) {
        h->attempts = attempt + 1;
        h->resp.len = 0;
        h->status = 0;
        h->retry_after = -1;
        e = curl_easy_perform(h->curl);
        if (e == CURLE_OK)
            curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &h->status);
        bool ok = e == CURLE_OK && h->status >= 200 && h->status < 300;
        if (ok || !should_retry(h, e, flags) || (int)attempt >= h->retries)
            return e;
        backoff(h, attempt + 1);
    }
}

/* A transport failure: the interface's code, and a broken connection where the link is gone. */
static int curl_failure(cf_conn *c, const char *method, CURLcode e) {
    cf_http *h = &c->http;
    int rc = e == CURLE_OPERATION_TIMEDOUT                                         ? KV_ETIMEDOUT
             : e == CURLE_COULDNT_CONNECT || e == CURLE_COULDNT_RESOLVE_HOST       ? KV_ECONNECT
             : e == CURLE_WRITE_ERROR                                              ? KV_EPROTO
             : e == CURLE_PEER_FAILED_VERIFICATION || e == CURLE_SSL_CONNECT_ERROR ? KV_ECONNECT
                                                                                   : KV_ECONN;
    if (rc == KV_ETIMEDOUT || rc == KV_ECONN || rc == KV_ECONNECT)
        h->broken = true;
    return kv__error(&c->base, rc,
                     "%s: %s %s: %s (after %u attempt%s; timeout %.1f s, connect timeout %.1f s)",
                     c->scheme, method, h->url, curl_easy_strerror(e), h->attempts,
                     h->attempts == 1 ? "" : "s", h->timeout, h->connect_timeout);
}

static int perform(cf_conn *c, const char *method, unsigned flags) {
    cf_http *h = &c->http;
    if (h->broken)
        return kv__error(&c->base, KV_ECONN,
                         "%s: the connection was lost or timed out earlier; open a new one",
                         c->scheme);
    curl_easy_setopt(h->curl, CURLOPT_URL, h->url);
    CURLcode e = attempts(h, flags);
    if (h->resp.len == 0)
        kv__buf_reserve(&h->resp, 0); /* data is never NULL after a request */
    if (h->resp.data)
        ((char *)h->resp.data)[h->resp.len] = '\0';
    if (e != CURLE_OK)
        return curl_failure(c, method, e);
    if (h->status >= 200 && h->status < 300)
        return 0;
    if (h->status == 404 && (flags & CF_ALLOW_404))
        return KV_ENOTFOUND;
    return http_error(c, method);
}

static int set_url(cf_conn *c, const char *path) {
    int n = snprintf(c->http.url, sizeof(c->http.url), "%s%s", c->http.base, path);
    if (n < 0 || (size_t)n >= sizeof(c->http.url))
        return kv__error(&c->base, KV_ETOOBIG, "%s: the request URL is longer than %zu bytes",
                         c->scheme, sizeof(c->http.url));
    return 0;
}

int cf_http_request(cf_conn *c, const char *method, const char *path, const void *body, size_t blen,
                    unsigned flags) {
    cf_http *h = &c->http;
    CURL *k = h->curl;
    int rc = set_url(c, path);
    if (rc < 0)
        return rc;
    curl_easy_setopt(k, CURLOPT_MIMEPOST, NULL);
    curl_easy_setopt(k, CURLOPT_NOBODY, 0L);
    if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(k, CURLOPT_CUSTOMREQUEST, NULL);
        curl_easy_setopt(k, CURLOPT_HTTPGET, 1L);
    } else {
        /* An empty body is still sent as "Content-Length: 0" (an empty value is a value). */
        curl_easy_setopt(k, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? blen : 0));
        curl_easy_setopt(k, CURLOPT_POSTFIELDS, body ? body : "");
        curl_easy_setopt(k, CURLOPT_CUSTOMREQUEST, method);
    }
    curl_easy_setopt(k, CURLOPT_HTTPHEADER, (flags & CF_JSON_BODY) ? h->hdr_json : h->hdr_bytes);
    return perform(c, method, flags);
}

int cf_http_get_body(cf_conn *c, const char *path, kv_buf *out) {
    int rc = cf_http_request(c, "GET", path, NULL, 0, CF_IDEMPOTENT);
    return rc < 0 ? rc : kv__buf_set(out, c->http.resp.data, c->http.resp.len);
}

int cf_http_put_multipart(cf_conn *c, const char *path, const void *val, size_t vlen,
                          const char *metadata_json) {
    cf_http *h = &c->http;
    int rc = set_url(c, path);
    if (rc < 0)
        return rc;
    curl_mime *mime = curl_mime_init(h->curl);
    if (!mime)
        return -ENOMEM;
    curl_mimepart *part = curl_mime_addpart(mime);
    curl_mime_name(part, "value");
    curl_mime_data(part, val, vlen);
    curl_mime_type(part, "application/octet-stream");
    curl_mime_filename(part, "value");
    part = curl_mime_addpart(mime);
    curl_mime_name(part, "metadata");
    curl_mime_data(part, metadata_json, CURL_ZERO_TERMINATED);
    curl_easy_setopt(h->curl, CURLOPT_NOBODY, 0L);
    curl_easy_setopt(h->curl, CURLOPT_MIMEPOST, mime);
    curl_easy_setopt(h->curl, CURLOPT_CUSTOMREQUEST, "PUT");
    curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, h->hdr_plain);
    rc = perform(c, "PUT", CF_IDEMPOTENT);
    curl_easy_setopt(h->curl, CURLOPT_MIMEPOST, NULL);
    curl_mime_free(mime);
    return rc;
}

int cf_json_result(cf_conn *c, json_t **out) {
    json_error_t jerr;
    json_t *root = json_loadb(c->http.resp.data, c->http.resp.len, JSON_ALLOW_NUL, &jerr);
    if (!root || !json_is_object(root)) {
        json_decref(root);
        return kv__error(&c->base, KV_EPROTO, "%s: %s: the answer is not a JSON object (%s)",
                         c->scheme, c->http.url, root ? "not an object" : jerr.text);
    }
    json_t *ok = json_object_get(root, "success");
    if (!json_is_true(ok)) {
        json_decref(root);
        return kv__error(&c->base, KV_ESERVER, "%s: %s: the answer says success=false", c->scheme,
                         c->http.url);
    }
    json_t *r = json_object_get(root, "result");
    *out = json_incref(r ? r : json_null());
    json_decref(root);
    return 0;
}
