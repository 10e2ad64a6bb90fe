/*
 * describe.c - what a backend says about itself (kv_describe(), kv_describe_uri(),
 * kv_shared_uri()) and the helpers the adapters' describe functions share.
 *
 * The one place that takes a backend URI apart for printing: the core hides the password of a
 * "//USER:PASSWORD@HOST" part, and each adapter then states what else is secret, which parts
 * change from run to run (a port, a temporary folder) and what the backend is (the baseline, the
 * floor, a stand-in for a remote service). Nothing above adapters/ looks inside a URI.
 */
#include "kv_internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Copies text into out (len bytes) with any "USER:PASSWORD@" or "USER@" after "//" as "***@". */
static void hide_userinfo(const char *text, char *out, size_t len) {
    const char *auth = strstr(text, "://");
    const char *start = auth ? auth + 3 : NULL;
    const char *end = start ? start + strcspn(start, "/?") : NULL;
    const char *at = start ? memchr(start, '@', (size_t)(end - start)) : NULL;
    if (at)
        snprintf(out, len, "%.*s***%s", (int)(start - text), text, at);
    else
        snprintf(out, len, "%s", text);
}

/* Where the query of s begins (its '?'), or NULL. */
static char *query_of(char *s) {
    return strchr(s, '?');
}

/* Replaces s[at, at+n) by rep in place (s holds cap bytes; the tail is cut if it must be). */
static void splice(char *s, size_t cap, size_t at, size_t n, const char *rep) {
    size_t len = strlen(s), r = strlen(rep);
    if (at + r >= cap)
        r = cap - at - 1;
    size_t tail = len - at - n;
    if (at + r + tail >= cap)
        tail = cap - at - r - 1;
    memmove(s + at + r, s + at + n, tail);
    memcpy(s + at, rep, r);
    s[at + r + tail] = '\0';
}

static void hide_param_in(char *s, size_t cap, const char *name) {
    char *q = query_of(s);
    size_t nl = strlen(name);
    for (char *p = q; p && *p;) {
        p++; /* past '?' or '&' */
        size_t field = strcspn(p, "&");
        if (field > nl && strncmp(p, name, nl) == 0 && p[nl] == '=') {
            splice(s, cap, (size_t)(p + nl + 1 - s), field - nl - 1, "***");
            field = nl + 4;
        }
        p += field;
    }
}

void kv__desc_hide_param(kv_desc *d, const char *name) {
    hide_param_in(d->uri, sizeof d->uri, name);
    hide_param_in(d->identity, sizeof d->identity, name);
}

void kv__desc_mask_ports(kv_desc *d) {
    char *s = d->identity;
    char *auth = strstr(s, "://");
    if (!auth)
        return;
    char *p = auth + 3;
    /* The host list ends at the path or the query; each host ends at ',' (IPv6 in brackets). */
    while (*p && *p != '/' && *p != '?') {
        if (*p == '[') {
            char *close = strchr(p, ']');
            p = close ? close + 1 : p + strlen(p);
            continue;
        }
        if (*p == ':' && isdigit((unsigned char)p[1])) {
            size_t n = 1;
            while (isdigit((unsigned char)p[n]))
                n++;
            splice(s, sizeof d->identity, (size_t)(p - s), n, ":*");
            p += 2;
            continue;
        }
        p++;
    }
}

/* A path component made by mkdtemp/mktemp: "NAME-XXXXXX", "NAME.XXXXXX" or "tmp.XXXXXXXXXX"
 * (the last 6 or more characters letters and digits, after '-' or '.'). */
static bool temporary_component(const char *s, size_t n) {
    size_t k = n;
    while (k > 0 && isalnum((unsigned char)s[k - 1]))
        k--;
    return k > 0 && n - k >= 6 && (s[k - 1] == '-' || s[k - 1] == '.');
}

void kv__desc_mask_temporary(kv_desc *d) {
    char *s = d->identity;
    char *q = query_of(s);
    size_t stop = q ? (size_t)(q - s) : strlen(s);
    /* Only the path: a host list ("scheme://HOST...") is no folder. */
    char *auth = strstr(s, "://");
    size_t from = auth && (size_t)(auth - s) < stop ? (size_t)(auth + 3 - s) : 0;
    if (from)
        from += strcspn(s + from, "/?");
    for (size_t i = from; i < stop; i++) {
        if (s[i] != '/')
            continue;
        size_t n = strcspn(s + i + 1, "/?");
        /* A folder: followed by '/'; the file itself keeps its name. */
        if (s[i + 1 + n] == '/' && temporary_component(s + i + 1, n)) {
            splice(s, sizeof d->identity, i + 1, n, "*");
            stop = stop - n + 1;
        }
    }
}

void kv__desc_path_on_host(kv_desc *d) {
    d->on_host = true;
    kv__desc_mask_temporary(d);
}

bool kv__host_is_loopback(const char *host, size_t len) {
    static const char *const names[] = {"localhost", "[::1]", "::1"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (len == strlen(names[i]) && strncasecmp(host, names[i], len) == 0)
            return true;
    return len >= 4 && strncmp(host, "127.", 4) == 0;
}

/* The defaults of every description, before the adapter's own describe function. */
static void desc_init(const kv__uri *u, kv_desc *d) {
    memset(d, 0, sizeof *d);
    snprintf(d->name, sizeof d->name, "%s", u->scheme);
    for (char *p = d->name; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    hide_userinfo(u->text, d->uri, sizeof d->uri);
    memcpy(d->identity, d->uri, sizeof d->identity);
    d->role = KV_ROLE_STORE;
}

char *kv_redact_uri(const char *uri, char *out, size_t len) {
    if (!out || !len)
        return out;
    hide_userinfo(uri ? uri : "", out, len);
    hide_param_in(out, len, "password");
    return out;
}

int kv_describe_uri(const char *uri, kv_desc *out) {
    if (!uri || !out)
        return KV_EINVAL;
    kv__uri u;
    char err[KV_ERRMSG_MAX];
    int rc = kv__uri_parse(uri, &u, err, sizeof err);
    if (rc < 0)
        return rc;
    kv__describe_fn fn = NULL;
    rc = kv__scheme_describe(u.scheme, &fn);
    if (rc == 0) {
        kv_desc *d = malloc(sizeof *d);
        if (!d) {
            rc = -ENOMEM;
        } else {
            desc_init(&u, d);
            if (fn)
                fn(&u, d);
            *out = *d;
            free(d);
        }
    }
    kv__uri_free(&u);
    return rc;
}

int kv_describe(const kv_conn *c, kv_desc *out) {
    if (!c || !out)
        return KV_EINVAL;
    kv_desc d;
    if (!c->uri || kv_describe_uri(c->uri, &d) != 0) {
        /* A connection an adapter made for itself (not through kv_open()) has no URI. */
        memset(&d, 0, sizeof d);
        d.role = KV_ROLE_STORE;
    }
    snprintf(d.name, sizeof d.name, "%s", c->methods->name);
    *out = d;
    return 0;
}

int kv_shared_uri(const char *uri, const char *tag, char *out, size_t len) {
    if (!uri || !tag || !out || !len)
        return KV_EINVAL;
    kv_desc d;
    int rc = kv_describe_uri(uri, &d);
    if (rc < 0)
        return rc;
    int n;
    if (!d.unnamed) {
        n = snprintf(out, len, "%s", uri);
    } else {
        /* The scheme's letters and digits tell the stores of two schemes apart when both keep
         * their names in one namespace (/dev/shm). */
        const char *colon = strchr(uri, ':');
        char suffix[64];
        size_t k = 0;
        for (const char *p = uri; p < colon && k + 1 < sizeof suffix; p++)
            if (isalnum((unsigned char)*p))
                suffix[k++] = (char)tolower((unsigned char)*p);
        suffix[k] = '\0';
        n = snprintf(out, len, "%.*s:%s_%s%s", (int)(colon - uri), uri, tag, suffix, colon + 1);
    }
    return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}
