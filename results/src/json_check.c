/*
 * json_check.c - the typed getters of the reader (see json_check.h). Messages name the field by
 * its path and say what was expected; a value that is there but impossible says what it was.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#include "internal.h"
#include "json_check.h"

__attribute__((format(printf, 2, 0))) static int vbad(rp__jc *r, const char *fmt, va_list ap) {
    if (r->rc)
        return r->rc;
    r->rc = RP_ESCHEMA;
    if (r->err && r->errlen) {
        /* Problems with the document as a whole have no path to name. */
        int n = r->plen ? snprintf(r->err, r->errlen, "%s: ", r->path) : 0;
        if (n >= 0 && (size_t)n < r->errlen)
            vsnprintf(r->err + n, r->errlen - (size_t)n, fmt, ap);
    }
    return r->rc;
}

/* Records the first error, prefixed with the current path. Always returns the error code. */
int rp__jc_bad(rp__jc *r, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int rc = vbad(r, fmt, ap);
    va_end(ap);
    return rc;
}

int rp__jc_bad_at(rp__jc *r, const char *key, const char *fmt, ...) {
    size_t m = rp__jc_enter(r, key);
    va_list ap;
    va_start(ap, fmt);
    int rc = vbad(r, fmt, ap);
    va_end(ap);
    rp__jc_leave(r, m);
    return rc;
}

int rp__jc_each(rp__jc *r, const char *key, const json_t *a,
                int (*fn)(rp__jc *r, const json_t *v, void *ctx), void *ctx) {
    size_t m = rp__jc_enter(r, key);
    for (size_t i = 0; !r->rc && i < json_array_size(a); i++) {
        size_t mi = rp__jc_enter_index(r, i);
        fn(r, json_array_get(a, i), ctx);
        rp__jc_leave(r, mi);
    }
    rp__jc_leave(r, m);
    return r->rc;
}

bool rp__agree(double a, double b) {
    return fabs(a - b) <= 1e-9 * fmax(fabs(a), fabs(b));
}

int rp__jc_nomem(rp__jc *r) {
    if (!r->rc) {
        r->rc = -ENOMEM;
        if (r->err && r->errlen)
            snprintf(r->err, r->errlen, "out of memory");
    }
    return r->rc;
}

/* Appends ".key" (or "key" at the top) to the path; returns the length to restore. */
size_t rp__jc_enter(rp__jc *r, const char *key) {
    size_t mark = r->plen;
    int n = snprintf(r->path + r->plen, sizeof r->path - r->plen, "%s%s", r->plen ? "." : "", key);
    if (n > 0)
        r->plen += (size_t)n < sizeof r->path - r->plen ? (size_t)n : sizeof r->path - r->plen - 1;
    return mark;
}

size_t rp__jc_enter_index(rp__jc *r, size_t i) {
    size_t mark = r->plen;
    int n = snprintf(r->path + r->plen, sizeof r->path - r->plen, "[%zu]", i);
    if (n > 0)
        r->plen += (size_t)n < sizeof r->path - r->plen ? (size_t)n : sizeof r->path - r->plen - 1;
    return mark;
}

void rp__jc_leave(rp__jc *r, size_t mark) {
    r->plen = mark;
    r->path[mark] = '\0';
}

/* Refuses any member of obj that is neither in `known` (NULL-terminated) nor an "x_" field. */
/* Whether obj has only the first n names of known (NULL-terminated), or extension fields. */
static int only_known_n(rp__jc *r, const json_t *obj, const char *const *known, size_t n) {
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)obj, key, val) {
        bool ok = strncmp(key, "x_", 2) == 0;
        for (size_t i = 0; !ok && i < n && known[i]; i++)
            ok = strcmp(key, known[i]) == 0;
        if (!ok)
            return rp__jc_bad_at(r, key, "unknown field");
    }
    return 0;
}

int rp__jc_only_known(rp__jc *r, const json_t *obj, const char *const *known) {
    return only_known_n(r, obj, known, SIZE_MAX);
}

int rp__jc_only_known_v(rp__jc *r, const json_t *obj, const char *const *known,
                        const size_t upto[3]) {
    int v = r->version < 1 ? 1 : r->version > 3 ? 3 : r->version;
    return only_known_n(r, obj, known, upto[v - 1]);
}

/* The member `key` of obj; a missing member is an error (returns NULL with r->rc set). */
bool rp__jc_has(const json_t *obj, const char *key) {
    return json_object_get(obj, key) != NULL;
}

const json_t *rp__jc_member(rp__jc *r, const json_t *obj, const char *key) {
    const json_t *v = json_object_get(obj, key);
    if (!v) {
        size_t m = rp__jc_enter(r, key);
        rp__jc_bad(r, "missing");
        rp__jc_leave(r, m);
    }
    return v;
}

int rp__jc_str(rp__jc *r, const json_t *obj, const char *key, char **out, int flags) {
    const json_t *v = rp__jc_member(r, obj, key);
    if (!v)
        return r->rc;
    size_t m = rp__jc_enter(r, key);
    if (json_is_null(v) && (flags & RP__JC_NULLABLE)) {
        *out = NULL;
    } else if (!json_is_string(v)) {
        rp__jc_bad(r,
                   (flags & RP__JC_NULLABLE) ? "expected a string or null" : "expected a string");
    } else if (!(flags & (RP__JC_NULLABLE | RP__JC_EMPTY_OK)) && json_string_length(v) == 0) {
        rp__jc_bad(r, "must not be empty");
    } else if (!(*out = strdup(json_string_value(v)))) {
        rp__jc_nomem(r);
    }
    rp__jc_leave(r, m);
    return r->rc;
}

/* An integer of at least `min`. */
int rp__jc_int(rp__jc *r, const json_t *obj, const char *key, int64_t min, int64_t *out) {
    const json_t *v = rp__jc_member(r, obj, key);
    if (!v)
        return r->rc;
    size_t m = rp__jc_enter(r, key);
    if (!json_is_integer(v))
        rp__jc_bad(r, min >= 0 ? "expected a non-negative integer" : "expected an integer");
    else if (json_integer_value(v) < min && min == 0)
        rp__jc_bad(r, "expected a non-negative integer (got %lld)",
                   (long long)json_integer_value(v));
    else if (json_integer_value(v) < min)
        rp__jc_bad(r, "must be at least %lld (got %lld)", (long long)min,
                   (long long)json_integer_value(v));
    else
        *out = json_integer_value(v);
    rp__jc_leave(r, m);
    return r->rc;
}

int rp__jc_uint(rp__jc *r, const json_t *obj, const char *key, uint64_t *out) {
    int64_t v = 0;
    if (rp__jc_int(r, obj, key, 0, &v))
        return r->rc;
    *out = (uint64_t)v;
    return 0;
}

int rp__jc_nonneg(rp__jc *r, const json_t *v, double *out) {
    if (!json_is_number(v))
        return rp__jc_bad(r, "expected a number");
    if (json_number_value(v) < 0)
        return rp__jc_bad(r, "must not be negative (got %g)", json_number_value(v));
    *out = json_number_value(v);
    return 0;
}

/* A number (an integer is accepted too) that is not negative. */
int rp__jc_num(rp__jc *r, const json_t *obj, const char *key, double *out) {
    const json_t *v = rp__jc_member(r, obj, key);
    if (!v)
        return r->rc;
    size_t m = rp__jc_enter(r, key);
    rp__jc_nonneg(r, v, out);
    rp__jc_leave(r, m);
    return r->rc;
}

int rp__jc_bool(rp__jc *r, const json_t *obj, const char *key, bool *out) {
    const json_t *v = rp__jc_member(r, obj, key);
    if (!v)
        return r->rc;
    size_t m = rp__jc_enter(r, key);
    if (!json_is_boolean(v))
        rp__jc_bad(r, "expected true or false");
    else
        *out = json_is_true(v);
    rp__jc_leave(r, m);
    return r->rc;
}

/* The member `key`, which must be an object (or null when nullable: then *out is NULL). */
int rp__jc_obj(rp__jc *r, const json_t *obj, const char *key, bool nullable, const json_t **out) {
    const json_t *v = rp__jc_member(r, obj, key);
    if (!v)
        return r->rc;
    *out = NULL;
    if (json_is_object(v)) {
        *out = v;
        return 0;
    }
    if (nullable && json_is_null(v))
        return 0;
    size_t m = rp__jc_enter(r, key);
    rp__jc_bad(r, nullable ? "expected an object or null" : "expected an object");
    rp__jc_leave(r, m);
    return r->rc;
}

int rp__jc_arr(rp__jc *r, const json_t *obj, const char *key, const json_t **out) {
    const json_t *v = rp__jc_member(r, obj, key);
    if (!v)
        return r->rc;
    if (json_is_array(v)) {
        *out = v;
        return 0;
    }
    size_t m = rp__jc_enter(r, key);
    rp__jc_bad(r, "expected an array");
    rp__jc_leave(r, m);
    return r->rc;
}
