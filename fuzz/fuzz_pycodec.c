/*
 * fuzz_pycodec.c - the Python module's classification of key and value bytes
 * (ultradict/python/src/py_keyform.c), which decides what it decodes as its own and what it
 * hands back as bytes. The input is a key (and a value) as any program could write it; with
 * bit 0 of the first byte set, the rest gets the module's mark in front, so that the fuzzer
 * reaches the own forms at once. Beyond memory safety, each form's promise is checked: the
 * payload is exactly what the encoder writes, and escaping raw bytes is reversible.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "py_keyform.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

/* A canonical decimal that fits a long long prints back as itself. */
static void check_small_decimal(const char *p, size_t n) {
    if (n > PYUD_DECIMAL_SMALL)
        return;
    char tmp[24];
    char *s = pyud_format_ll(tmp + sizeof tmp, pyud_decimal_small(p, n));
    CHECK((size_t)(tmp + sizeof tmp - s) == n && memcmp(s, p, n) == 0);
}

/* The key bytes prefixed with an escape: what the module stores for the raw bytes p[0..n). */
static int escaped_form(const char *p, size_t n) {
    char *e = malloc(n + PYUD_KEY_HEAD);
    if (!e)
        return -1;
    e[0] = PYUD_KEY_MARK0;
    e[1] = PYUD_KEY_MARK1;
    e[2] = 'b';
    if (n)
        memcpy(e + PYUD_KEY_HEAD, p, n);
    int form = pyud_key_form(e, n + PYUD_KEY_HEAD);
    free(e);
    return form;
}

static void check_key(const char *p, size_t n, int depth) {
    int form = pyud_key_form(p, n);
    CHECK(form >= PYUD_KEY_FOREIGN && form <= PYUD_KEY_PICKLE);
    CHECK(form == pyud_key_form(p, n));
    /* Raw bytes are escaped exactly when they would read as an own encoding. */
    int esc = escaped_form(p, n);
    CHECK(esc < 0 || (form == PYUD_KEY_FOREIGN ? esc == PYUD_KEY_FOREIGN : esc == PYUD_KEY_BYTES));
    if (form == PYUD_KEY_FOREIGN)
        return;
    const char *q = p + PYUD_KEY_HEAD;
    size_t m = n - PYUD_KEY_HEAD;
    switch (form) {
    case PYUD_KEY_INT:
        CHECK(pyud_decimal_canonical(q, m, PYUD_DECIMAL_MAX));
        check_small_decimal(q, m);
        break;
    case PYUD_KEY_STR:
        CHECK(pyud_utf8_valid(q, m));
        break;
    case PYUD_KEY_FLOAT: {
        double v;
        CHECK(m == sizeof v);
        memcpy(&v, q, sizeof v);
        CHECK(!isfinite(v) || v != floor(v));
        break;
    }
    case PYUD_KEY_BYTES:
        CHECK(pyud_key_form(q, m) != PYUD_KEY_FOREIGN);
        break;
    case PYUD_KEY_NONE:
        CHECK(m == 0);
        break;
    case PYUD_KEY_TUPLE: {
        size_t at = 0, off, len;
        while (pyud_tuple_next(q, m, &at, &off, &len)) {
            CHECK(off + len <= m);
            if (depth < 8)
                check_key(q + off, len, depth + 1);
        }
        CHECK(at == m);
        break;
    }
    default:
        CHECK(m >= 3 && (unsigned char)q[0] == 0x80 && q[m - 1] == '.');
        break;
    }
}

static void check_value(const char *p, size_t n) {
    int form = pyud_value_form(p, n);
    CHECK(form >= PYUD_VAL_FOREIGN && form <= PYUD_VAL_PICKLE);
    if (form == PYUD_VAL_INT) {
        CHECK(pyud_decimal_canonical(p, n, PYUD_DECIMAL_MAX));
        check_small_decimal(p, n);
    } else if (form == PYUD_VAL_PICKLE) {
        CHECK(n >= 3 && (unsigned char)p[0] == 0x80 && p[n - 1] == '.');
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || size > 1 << 16)
        return 0;
    size_t n = size - 1, at = 0;
    char *buf = malloc(n + 2);
    if (!buf)
        return 0;
    if (data[0] & 1) {
        buf[at++] = PYUD_KEY_MARK0;
        buf[at++] = PYUD_KEY_MARK1;
    }
    if (n)
        memcpy(buf + at, data + 1, n);
    check_key(buf, n + at, 0);
    check_value(buf + at, n);
    free(buf);
    return 0;
}
