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

int kv__cloudflare_open(kv__uri *u, kv_conn **out, char *err, size_t errlen) {
    const char *scheme = u->scheme;
    size_t sl = strlen(scheme);
    bool https = sl > 6 && strcasecmp(scheme + sl - 6, "+https") == 0;
    enum cf_kind kind;
    if (strncasecmp(scheme, "cloudflare-kv", 13) == 0)
        kind = CF_WORKER_KV;
    else if (strncasecmp(scheme, "cloudflare-d1", 13) == 0)
        kind = CF_WORKER_D1;
    else
        kind = CF_REST_KV;

    cf_conn *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->kind = kind;
    int rc = 0;
    char base[1024];
    double timeout, ctimeout, maxwait;
    long retries;
    if ((rc = kv__uri_seconds(u, "timeout", 30.0, &timeout, err, errlen)) < 0 ||
        (rc = kv__uri_seconds(u, "connect_timeout", 5.0, &ctimeout, err, errlen)) < 0 ||
        (rc = kv__uri_seconds(u, "retry_max_wait", 30.0, &maxwait, err, errlen)) < 0 ||
        (rc = kv__uri_int(u, "retries", 4, 0, 20, &retries, err, errlen)) < 0)
        goto fail;
    if (timeout <= 0 || ctimeout <= 0) {
        rc = kv__errbuf(err, errlen, KV_EURI, "'%s': timeouts must be above 0", u->text);
        goto fail;
    }
    c->http.timeout = timeout;
    c->http.connect_timeout = ctimeout;
    c->http.retry_max_wait = maxwait;
    c->http.retries = (int)retries;

    const char *token;
    if (kind == CF_REST_KV) {
        static const char *const stores[] = {"kv", "d1", NULL};
        int store;
        if ((rc = kv__uri_choice(u, "store", stores, 0, &store, err, errlen)) < 0)
            goto fail;
        if (store == 1)
            c->kind = kind = CF_REST_D1;
        if (u->body[0] == '\0') {
            const char *env = getenv("CLOUDFLARE_API_BASE_URL");
            snprintf(base, sizeof(base), "%s", env && *env ? env : DEFAULT_API);
            size_t bl = strlen(base);
            while (bl > 0 && base[bl - 1] == '/')
                base[--bl] = '\0';
            if (strncmp(base, "https://", 8) != 0 && strncmp(base, "http://", 7) != 0) {
                rc = kv__errbuf(err, errlen, KV_EURI,
                                "CLOUDFLARE_API_BASE_URL must be an http(s) URL");
                goto fail;
            }
            https = strncmp(base, "https://", 8) == 0;
        } else if ((rc = base_url(u, https, "/client/v4", base, sizeof(base), err, errlen)) < 0) {
            goto fail;
        }
        /* Plain http only reaches a local stand-in (our Worker): its ids may be anything. */
        const char *acct = setting(u, "account", "CLOUDFLARE_ACCOUNT_ID", https ? NULL : "local");
        const char *id =
            kind == CF_REST_KV
                ? setting(u, "namespace", "CLOUDFLARE_KV_NAMESPACE_ID", https ? NULL : "local")
                : setting(u, "database", "CLOUDFLARE_D1_DATABASE_ID", https ? NULL : "local");
        const char *table = kv__uri_param(u, "table");
        if (kind == CF_REST_KV && table) {
            rc = kv__errbuf(err, errlen, KV_EURI, "'%s': table= is for store=d1", u->text);
            goto fail;
        }
        if (!acct || !id) {
            rc = kv__errbuf(
                err, errlen, KV_EINVAL,
                "%s: set CLOUDFLARE_ACCOUNT_ID and %s (or account= and %s= in the URI)", scheme,
                kind == CF_REST_KV ? "CLOUDFLARE_KV_NAMESPACE_ID" : "CLOUDFLARE_D1_DATABASE_ID",
                kind == CF_REST_KV ? "namespace" : "database");
            goto fail;
        }
        if (!good_id(acct) || !good_id(id)) {
            rc = kv__errbuf(err, errlen, KV_EINVAL,
                            "%s: account and store ids may hold only "
                            "letters, digits, '-' and '_'",
                            scheme);
            goto fail;
        }
        snprintf(c->table, sizeof(c->table), "%s", table ? table : "kv");
        if (!good_id(c->table) || isdigit((unsigned char)c->table[0]) || strchr(c->table, '-')) {
            rc = kv__errbuf(err, errlen, KV_EURI, "'%s': table must be an SQL name", u->text);
            goto fail;
        }
        if (kind == CF_REST_KV)
            snprintf(c->store, sizeof(c->store), "/accounts/%s/storage/kv/namespaces/%s", acct, id);
        else
            snprintf(c->store, sizeof(c->store), "/accounts/%s/d1/database/%s", acct, id);
        token = getenv("CLOUDFLARE_API_TOKEN");
        if (https && !(token && *token)) {
            rc = kv__errbuf(err, errlen, KV_EINVAL, "%s: set CLOUDFLARE_API_TOKEN", scheme);
            goto fail;
        }
        c->scheme = kind == CF_REST_KV ? "cloudflare-rest (kv)" : "cloudflare-rest (d1)";
    } else {
        if ((rc = base_url(u, https, "", base, sizeof(base), err, errlen)) < 0)
            goto fail;
        snprintf(c->store, sizeof(c->store), "%s", kind == CF_WORKER_KV ? "/_kv" : "/_d1");
        token = getenv("CLOUDFLARE_WORKER_TOKEN");
        c->scheme = kind == CF_WORKER_KV ? "cloudflare-kv" : "cloudflare-d1";
    }
    if ((rc = kv__uri_check_unused(u, err, errlen)) < 0)
        goto fail;
    if ((rc = cf_http_init(&c->http, base, token, err, errlen)) < 0)
        goto fail;

    switch (kind) {
    case CF_WORKER_KV:
    case CF_REST_KV:
        rc = cf_kv_setup(c, err, errlen);
        break;
    case CF_WORKER_D1:
        rc = cf_d1_setup(c, err, errlen);
        break;
    case CF_REST_D1:
        rc = cf_rest_d1_setup(c, err, errlen);
        break;
    }
    if (rc < 0)
        goto fail;
    *out = &c->base;
    return 0;

fail:
    cf_close(&c->base);
    return rc;
}
