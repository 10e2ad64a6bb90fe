/*
 * uri.c - splits backend URIs (`scheme:body?name=value&...`) and reads typed parameters.
 *
 * Every parameter an adapter reads is marked as used; kv__uri_check_unused() then rejects the
 * rest, so that a misspelt option is an error instead of being silently ignored.
 */
#include "kv_internal.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

/* Decodes %XX escapes of the NUL-terminated s in place. Rejects %00: no field may hold NUL. */
static int percent_decode(char *s, const char *text, char *err, size_t errlen) {
    char *w = s;
    for (const char *r = s; *r; r++) {
        if (*r != '%') {
            *w++ = *r;
            continue;
        }
        int hi = kv__hexval((unsigned char)r[1]);
        int lo = hi < 0 ? -1 : kv__hexval((unsigned char)r[2]);
        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
            return kv__errbuf(err, errlen, KV_EURI, "bad percent-escape in URI '%s'", text);
        *w++ = (char)(hi * 16 + lo);
        r += 2;
    }
    *w = '\0';
    return 0;
}

/* The scheme: a letter, then letters, digits, '+', '-' or '.', up to the first ':'. */
static int check_scheme(const char *text, const char *colon, char *err, size_t errlen) {
    if (!colon || colon == text)
        return kv__errbuf(err, errlen, KV_EURI,
                          "URI '%s' has no scheme (expected e.g. 'sqlite:/path/db' or "
                          "'redis://127.0.0.1:6379')",
                          text);
    for (const char *p = text; p < colon; p++) {
        bool ok = isalpha((unsigned char)*p) ||
                  (p > text && (isdigit((unsigned char)*p) || *p == '+' || *p == '-' || *p == '.'));
        if (!ok)
            return kv__errbuf(err, errlen, KV_EURI, "URI '%s' has an invalid scheme", text);
    }
    return 0;
}

/* Adds the parameter NAME[=VALUE] at q (already cut at its '&'), percent-decoding the value. */
static int add_param(kv__uri *u, char *q, char *err, size_t errlen) {
    char *eq = strchr(q, '=');
    if (eq)
        *eq = '\0';
    if (*q == '\0')
        return kv__errbuf(err, errlen, KV_EURI, "empty parameter in the query of URI '%s'",
                          u->text);
    if (u->nparams == KV__URI_MAX_PARAMS)
        return kv__errbuf(err, errlen, KV_EURI, "too many parameters in URI '%s'", u->text);
    for (size_t i = 0; i < u->nparams; i++)
        if (strcmp(u->params[i].name, q) == 0)
            return kv__errbuf(err, errlen, KV_EURI, "parameter '%s' given twice in URI '%s'", q,
                              u->text);
    u->params[u->nparams].name = q;
    u->params[u->nparams].value = eq ? eq + 1 : q + strlen(q);
    if (percent_decode(u->params[u->nparams].value, u->text, err, errlen) < 0)
        return KV_EURI;
    u->nparams++;
    return 0;
}

/* The query after '?': NAME[=VALUE] pairs separated by '&', none of them empty. */
static int parse_query(kv__uri *u, char *q, char *err, size_t errlen) {
    for (;;) {
        char *amp = strchr(q, '&');
        if (amp)
            *amp = '\0';
        int rc = add_param(u, q, err, errlen);
        if (rc < 0 || !amp)
            return rc;
        q = amp + 1;
        if (*q == '\0')
            return kv__errbuf(err, errlen, KV_EURI, "empty parameter in the query of URI '%s'",
                              u->text);
    }
}

int kv__uri_parse(const char *text, kv__uri *u, char *err, size_t errlen) {
    memset(u, 0, sizeof(*u));
    u->text = text;
    const char *colon = strchr(text, ':');
    int rc = check_scheme(text, colon, err, errlen);
    if (rc < 0)
        return rc;

    u->storage = strdup(text);
    if (!u->storage)
        return -ENOMEM;
    char *s = u->storage;
    s[colon - text] = '\0';
    u->scheme = s;
    u->body = s + (colon - text) + 1;

    char *q = strchr(u->body, '?');
    if (q) {
        *q++ = '\0';
        if (*q && parse_query(u, q, err, errlen) < 0)
            goto fail;
    }
    if (percent_decode(u->body, text, err, errlen) < 0)
        goto fail;
    return 0;

fail:
    kv__uri_free(u);
    return KV_EURI;
}

void kv__uri_free(kv__uri *u) {
    free(u->storage);
    u->storage = NULL;
    u->scheme = NULL;
    u->body = NULL;
    u->nparams = 0;
}

const char *kv__uri_param(kv__uri *u, const char *name) {
    for (size_t i = 0; i < u->nparams; i++) {
        if (strcmp(u->params[i].name, name) == 0) {
            u->params[i].used = true;
            return u->params[i].value;
        }
    }
    return NULL;
}

int kv__uri_check_unused(const kv__uri *u, char *err, size_t errlen) {
    for (size_t i = 0; i < u->nparams; i++)
        if (!u->params[i].used)
            return kv__errbuf(err, errlen, KV_EURI, "unknown parameter '%s' for %s in URI '%s'",
                              u->params[i].name, u->scheme, u->text);
    return 0;
}

/* KV_EURI: "parameter NAME=V in URI '...' is not WHAT". */
static int not_a(const kv__uri *u, const char *name, const char *v, const char *what, char *err,
                 size_t errlen) {
    return kv__errbuf(err, errlen, KV_EURI, "parameter %s=%s in URI '%s' is not %s", name, v,
                      u->text, what);
}

/* "4096", or with a binary unit in any of its usual spellings: 64K, 64KB, 64KiB (K M G T).
 * False for anything else, or past 2^64 - 1. */
static bool parse_size(const char *v, uint64_t *out) {
    static const char units[] = "KMGT";
    char *end;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (end == v || errno || *v == '-')
        return false;
    const char *unit = *end ? strchr(units, toupper((unsigned char)*end)) : NULL;
    if (*end && !unit)
        return false;
    unsigned shift = unit ? 10 * (unsigned)(unit - units + 1) : 0;
    if (shift) {
        end++;
        if (strcmp(end, "") != 0 && strcasecmp(end, "B") != 0 && strcasecmp(end, "iB") != 0)
            return false;
        if (n > (UINT64_MAX >> shift))
            return false;
    }
    *out = (uint64_t)n << shift;
    return true;
}

int kv__uri_size(kv__uri *u, const char *name, uint64_t def, uint64_t *out, char *err,
                 size_t errlen) {
    const char *v = kv__uri_param(u, name);
    uint64_t n = def;
    if (v && !parse_size(v, &n))
        return not_a(u, name, v, "a size (e.g. 4096, 64K, 1G)", err, errlen);
    *out = n;
    return 0;
}

int kv__uri_seconds(kv__uri *u, const char *name, double def, double *out, char *err,
                    size_t errlen) {
    const char *v = kv__uri_param(u, name);
    double d = def;
    if (v) {
        char *end;
        errno = 0;
        d = strtod(v, &end);
        if (end == v || *end || errno || !isfinite(d) || d < 0)
            return not_a(u, name, v, "a number of seconds", err, errlen);
    }
    *out = d;
    return 0;
}

int kv__uri_int(kv__uri *u, const char *name, long def, long min, long max, long *out, char *err,
                size_t errlen) {
    const char *v = kv__uri_param(u, name);
    long n = def;
    if (v) {
        char *end;
        errno = 0;
        n = strtol(v, &end, 10);
        if (end == v || *end || errno || n < min || n > max) {
            char what[64];
            snprintf(what, sizeof what, "an integer in [%ld, %ld]", min, max);
            return not_a(u, name, v, what, err, errlen);
        }
    }
    *out = n;
    return 0;
}

int kv__uri_choice(kv__uri *u, const char *name, const char *const *choices, int def, int *out,
                   char *err, size_t errlen) {
    const char *v = kv__uri_param(u, name);
    if (!v) {
        *out = def;
        return 0;
    }
    for (int i = 0; choices[i]; i++) {
        if (strcmp(choices[i], v) == 0) {
            *out = i;
            return 0;
        }
    }
    char list[128] = "";
    for (int i = 0; choices[i]; i++) {
        size_t used = strlen(list);
        snprintf(list + used, sizeof(list) - used, "%s%s", i ? "|" : "", choices[i]);
    }
    return kv__errbuf(err, errlen, KV_EURI, "parameter %s=%s in URI '%s' must be one of %s", name,
                      v, u->text, list);
}

/*
 * Splits s[0..len) into the host [hs, he) and the port text (ps, NULL without one): "[V6]:PORT"
 * or "HOST:PORT", each with an optional port. False for a shape that is neither.
 */
static bool split_hostport(const char *s, size_t len, const char **hs, const char **he,
                           const char **ps) {
    const char *end = s + len;
    *hs = s;
    *ps = NULL;
    if (len && s[0] == '[') {
        *he = memchr(s, ']', len);
        if (!*he)
            return false;
        *hs = s + 1;
        if (*he + 1 < end) {
            if ((*he)[1] != ':')
                return false;
            *ps = *he + 2;
        }
        return true;
    }
    *he = memchr(s, ':', len);
    if (!*he) {
        *he = end;
        return true;
    }
    *ps = *he + 1;
    /* An IPv6 address needs brackets. */
    return memchr(*ps, ':', (size_t)(end - *ps)) == NULL;
}

/* A port of 1 to 65535 written as [ps, end): decimal digits only. */
static bool parse_port(const char *ps, const char *end, int *port) {
    long p = 0;
    if (ps == end || end - ps > 5)
        return false;
    for (const char *q = ps; q < end; q++) {
        if (*q < '0' || *q > '9')
            return false;
        p = p * 10 + (*q - '0');
    }
    if (p < 1 || p > 65535)
        return false;
    *port = (int)p;
    return true;
}

int kv__parse_hostport(const char *s, size_t len, char *host, size_t hostlen, int def_port,
                       int *port, char *err, size_t errlen) {
    const char *hs, *he, *ps;
    bool ok = split_hostport(s, len, &hs, &he, &ps) && he != hs && (size_t)(he - hs) < hostlen;
    if (ok) {
        memcpy(host, hs, (size_t)(he - hs));
        host[he - hs] = '\0';
        *port = def_port;
        ok = !ps || parse_port(ps, s + len, port);
    }
    if (!ok)
        return kv__errbuf(err, errlen, KV_EURI, "'%.*s' is not HOST[:PORT] (port 1-65535)",
                          (int)len, s);
    return 0;
}
