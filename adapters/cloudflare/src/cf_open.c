/*
 * cf_open.c - kv_open() for the Cloudflare schemes: splits the URI, reads the environment,
 * and hands the connection to the store's setup (which checks that the server answers).
 *
 *   cloudflare-kv://HOST[:PORT]            our Worker, KV routes        (+https: TLS)
 *   cloudflare-d1://HOST[:PORT]            our Worker, D1 routes        (+https: TLS)
 *   cloudflare-rest://HOST[:PORT][/PATH]   the official API, or anything that speaks it
 *   cloudflare-rest+https://HOST[/PATH]    (PATH defaults to /client/v4)
 *   cloudflare-rest:                       CLOUDFLARE_API_BASE_URL, else
 *                                          https://api.cloudflare.com/client/v4
 *
 * Parameters: timeout=S (per attempt, 30), connect_timeout=S (5), retries=N (4),
 * retry_max_wait=S (30); for cloudflare-rest: store=kv|d1 (kv), account=, namespace=,
 * database= (else CLOUDFLARE_ACCOUNT_ID, CLOUDFLARE_KV_NAMESPACE_ID, CLOUDFLARE_D1_DATABASE_ID),
 * table=NAME (kv). Tokens come only from the environment, never from the URI (URIs are printed
 * in results): CLOUDFLARE_WORKER_TOKEN for our Worker, CLOUDFLARE_API_TOKEN for the API.
 */
#include "cf_internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DEFAULT_API "https://api.cloudflare.com/client/v4"

int cf_close(kv_conn *base) {
    cf_conn *c = (cf_conn *)base;
    if (!c)
        return 0;
    cf_http_free(&c->http);
    kv_buf_free(&c->body);
    kv_buf_free(&c->tmp);
    free(c);
    return 0;
}

const char *cf_backend_version(kv_conn *base) {
    return ((cf_conn *)base)->version;
}

/* A value from the URI, else from the environment, else def. */
static const char *setting(kv__uri *u, const char *param, const char *env, const char *def) {
    const char *v = kv__uri_param(u, param);
    if (v && *v)
        return v;
    v = env ? getenv(env) : NULL;
    return v && *v ? v : def;
}

/* Ids are put into URL paths: letters, digits, '-' and '_' only. */
static bool good_id(const char *s) {
    if (!*s || strlen(s) > 64)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_')
            return false;
    return true;
}

/* Builds "scheme://host[:port][/path]" from the body "//HOST[:PORT][/PATH]" into base. */
static int base_url(kv__uri *u, bool https, const char *def_path, char *base, size_t len, char *err,
                    size_t errlen) {
    const char *b = u->body;
    if (strncmp(b, "//", 2) != 0)
        return kv__errbuf(err, errlen, KV_EURI, "'%s': expected %s://HOST[:PORT]", u->text,
                          u->scheme);
    b += 2;
    const char *slash = strchr(b, '/');
    size_t hl = slash ? (size_t)(slash - b) : strlen(b);
    char host[256];
    int port;
    int rc = kv__parse_hostport(b, hl, host, sizeof(host), https ? 443 : 80, &port, err, errlen);
    if (rc < 0)
        return rc;
    if (!host[0])
        return kv__errbuf(err, errlen, KV_EURI, "'%s' has no host", u->text);
    const char *path = slash && slash[1] ? slash : def_path;
    size_t pl = strlen(path);
    while (pl > 0 && path[pl - 1] == '/')
        pl--;
    bool v6 = strchr(host, ':') != NULL;
    int n = snprintf(base, len, "%s://%s%s%s:%d%.*s", https ? "https" : "http", v6 ? "[" : "", host,
                     v6 ? "]" : "", port, (int)pl, path);
    if (n < 0 || (size_t)n >= len)
        return kv__errbuf(err, errlen, KV_EURI, "'%s': the URL is too long", u->text);
    return 0;
}

/* Which of the four stores a scheme names (cloudflare-rest: store=kv|d1 decides later). */
static enum cf_kind scheme_kind(const char *scheme, bool *https) {
    size_t sl = strlen(scheme);
    *https = sl > 6 && strcasecmp(scheme + sl - 6, "+https") == 0;
    if (strncasecmp(scheme, "cloudflare-kv", 13) == 0)
        return CF_WORKER_KV;
    if (strncasecmp(scheme, "cloudflare-d1", 13) == 0)
        return CF_WORKER_D1;
    return CF_REST_KV;
}

/* timeout, connect_timeout, retry_max_wait and retries, into the HTTP client's settings. */
static int http_params(kv__uri *u, cf_conn *c, char *err, size_t errlen) {
    double timeout, ctimeout, maxwait;
    long retries;
    int rc;
    if ((rc = kv__uri_seconds(u, "timeout", 30.0, &timeout, err, errlen)) < 0 ||
        (rc = kv__uri_seconds(u, "connect_timeout", 5.0, &ctimeout, err, errlen)) < 0 ||
        (rc = kv__uri_seconds(u, "retry_max_wait", 30.0, &maxwait, err, errlen)) < 0 ||
        (rc = kv__uri_int(u, "retries", 4, 0, 20, &retries, err, errlen)) < 0)
        return rc;
    if (timeout <= 0 || ctimeout <= 0)
        return kv__errbuf(err, errlen, KV_EURI, "'%s': timeouts must be above 0", u->text);
    c->http.timeout = timeout;
    c->http.connect_timeout = ctimeout;
    c->http.retry_max_wait = maxwait;
    c->http.retries = (int)retries;
    return 0;
}

/* The API's base URL: from the URI's authority, else CLOUDFLARE_API_BASE_URL, else the real one. */
static int rest_base(kv__uri *u, bool *https, char *base, size_t len, char *err, size_t errlen) {
    if (u->body[0] != '\0')
        return base_url(u, *https, "/client/v4", base, len, err, errlen);
    const char *env = getenv("CLOUDFLARE_API_BASE_URL");
    snprintf(base, len, "%s", env && *env ? env : DEFAULT_API);
    size_t bl = strlen(base);
    while (bl > 0 && base[bl - 1] == '/')
        base[--bl] = '\0';
    if (strncmp(base, "https://", 8) != 0 && strncmp(base, "http://", 7) != 0)
        return kv__errbuf(err, errlen, KV_EURI, "CLOUDFLARE_API_BASE_URL must be an http(s) URL");
    *https = strncmp(base, "https://", 8) == 0;
    return 0;
}

/* The account and namespace (KV) or database (D1) ids, and the D1 table, into c->store. */
static int rest_store(kv__uri *u, cf_conn *c, bool https, char *err, size_t errlen) {
    bool kv = c->kind == CF_REST_KV;
    /* Plain http only reaches a local stand-in (our Worker): its ids may be anything. */
    const char *local = https ? NULL : "local";
    const char *acct = setting(u, "account", "CLOUDFLARE_ACCOUNT_ID", local);
    const char *id = kv ? setting(u, "namespace", "CLOUDFLARE_KV_NAMESPACE_ID", local)
                        : setting(u, "database", "CLOUDFLARE_D1_DATABASE_ID", local);
    const char *table = kv__uri_param(u, "table");
    if (kv && table)
        return kv__errbuf(err, errlen, KV_EURI, "'%s': table= is for store=d1", u->text);
    if (!acct || !id)
        return kv__errbuf(err, errlen, KV_EINVAL,
                          "%s: set CLOUDFLARE_ACCOUNT_ID and %s (or account= and %s= in the URI)",
                          u->scheme,
                          kv ? "CLOUDFLARE_KV_NAMESPACE_ID" : "CLOUDFLARE_D1_DATABASE_ID",
                          kv ? "namespace" : "database");
    if (!good_id(acct) || !good_id(id))
        return kv__errbuf(err, errlen, KV_EINVAL,
                          "%s: account and store ids may hold only letters, digits, '-' and '_'",
                          u->scheme);
    snprintf(c->table, sizeof(c->table), "%s", table ? table : "kv");
    if (!good_id(c->table) || isdigit((unsigned char)c->table[0]) || strchr(c->table, '-'))
        return kv__errbuf(err, errlen, KV_EURI, "'%s': table must be an SQL name", u->text);
    if (kv)
        snprintf(c->store, sizeof(c->store), "/accounts/%s/storage/kv/namespaces/%s", acct, id);
    else
        snprintf(c->store, sizeof(c->store), "/accounts/%s/d1/database/%s", acct, id);
    return 0;
}

/* cloudflare-rest: the store, the base URL, the ids and the API token. */
static int rest_target(kv__uri *u, cf_conn *c, bool https, char *base, size_t len,
                       const char **token, char *err, size_t errlen) {
    static const char *const stores[] = {"kv", "d1", NULL};
    int store, rc;
    if ((rc = kv__uri_choice(u, "store", stores, 0, &store, err, errlen)) < 0)
        return rc;
    if (store == 1)
        c->kind = CF_REST_D1;
    if ((rc = rest_base(u, &https, base, len, err, errlen)) < 0 ||
        (rc = rest_store(u, c, https, err, errlen)) < 0)
        return rc;
    *token = getenv("CLOUDFLARE_API_TOKEN");
    if (https && !(*token && **token))
        return kv__errbuf(err, errlen, KV_EINVAL, "%s: set CLOUDFLARE_API_TOKEN", u->scheme);
    c->scheme = c->kind == CF_REST_KV ? "cloudflare-rest (kv)" : "cloudflare-rest (d1)";
    return 0;
}

/* Our Worker: its base URL, its route prefix and its optional token. */
static int worker_target(kv__uri *u, cf_conn *c, bool https, char *base, size_t len,
                         const char **token, char *err, size_t errlen) {
    int rc = base_url(u, https, "", base, len, err, errlen);
    if (rc < 0)
        return rc;
    bool kv = c->kind == CF_WORKER_KV;
    snprintf(c->store, sizeof(c->store), "%s", kv ? "/_kv" : "/_d1");
    *token = getenv("CLOUDFLARE_WORKER_TOKEN");
    c->scheme = kv ? "cloudflare-kv" : "cloudflare-d1";
    return 0;
}

/* The store's own setup, which checks that the server answers. */
static int setup_store(cf_conn *c, char *err, size_t errlen) {
    switch (c->kind) {
    case CF_WORKER_D1:
        return cf_d1_setup(c, err, errlen);
    case CF_REST_D1:
        return cf_rest_d1_setup(c, err, errlen);
    case CF_WORKER_KV:
    case CF_REST_KV:
    default:
        return cf_kv_setup(c, err, errlen);
    }
}

int kv__cloudflare_open(kv__uri *u, kv_conn **out, char *err, size_t errlen) {
    bool https;
    enum cf_kind kind = scheme_kind(u->scheme, &https);
    cf_conn *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->kind = kind;
    char base[1024];
    const char *token = NULL;
    int rc = http_params(u, c, err, errlen);
    if (rc == 0)
        rc = kind == CF_REST_KV
                 ? rest_target(u, c, https, base, sizeof(base), &token, err, errlen)
                 : worker_target(u, c, https, base, sizeof(base), &token, err, errlen);
    if (rc == 0)
        rc = kv__uri_check_unused(u, err, errlen);
    if (rc == 0)
        rc = cf_http_init(&c->http, base, token, err, errlen);
    if (rc == 0)
        rc = setup_store(c, err, errlen);
    if (rc < 0) {
        cf_close(&c->base);
        return rc;
    }
    *out = &c->base;
    return 0;
}

/* Whether the authority of url ("//HOST[:PORT]..." after any scheme) names this machine. */
static bool loopback_url(const char *url) {
    const char *p = strstr(url, "//");
    if (!p)
        return false;
    p += 2;
    size_t n = *p == '[' ? strcspn(p, "]") + 1 : strcspn(p, ":/?");
    return kv__host_is_loopback(p, n);
}

/*
 * On this machine, the server is the local runtime (workerd through miniflare) standing in for
 * Cloudflare: its figures say little about the service. cloudflare-rest: without a host takes
 * its base URL from the environment, as kv_open() does.
 */
void kv__cloudflare_describe(kv__uri *u, kv_desc *d) {
    const char *env = getenv("CLOUDFLARE_API_BASE_URL");
    d->stand_in = loopback_url(u->text) || (u->body[0] == '\0' && env && loopback_url(env));
    kv__desc_mask_ports(d);
}
