/*
 * py_keyform.c - classifying key and value bytes for the UltraDict module (see py_keyform.h):
 * what is the module's own canonical encoding, and what is foreign.
 */
#include "py_keyform.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

bool pyud_decimal_canonical(const char *p, size_t n, size_t max) {
    if (n > 0 && p[0] == '-') {
        p++;
        n--;
        if (n == 1 && p[0] == '0')
            return false; /* "-0" is written "0" */
    }
    if (n == 0 || n > max || (p[0] == '0' && n > 1))
        return false;
    for (size_t i = 0; i < n; i++)
        if (p[i] < '0' || p[i] > '9')
            return false;
    return true;
}

long long pyud_decimal_small(const char *p, size_t n) {
    bool neg = n > 0 && p[0] == '-';
    long long v = 0;
    for (size_t i = neg; i < n; i++)
        v = v * 10 + (p[i] - '0');
    return neg ? -v : v;
}

char *pyud_format_ll(char *end, long long v) {
    /* By hand, two digits a step: snprintf() costs more than the rest of a small write. */
    static const char pairs[201] = "00010203040506070809101112131415161718192021222324"
                                   "25262728293031323334353637383940414243444546474849"
                                   "50515253545556575859606162636465666768697071727374"
                                   "75767778798081828384858687888990919293949596979899";
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    while (u >= 100) {
        unsigned d = (unsigned)(u % 100) * 2;
        u /= 100;
        *--end = pairs[d + 1];
        *--end = pairs[d];
    }
    if (u >= 10) {
        *--end = pairs[u * 2 + 1];
        *--end = pairs[u * 2];
    } else {
        *--end = (char)('0' + u);
    }
    if (v < 0)
        *--end = '-';
    return end;
}

/* The length of the UTF-8 sequence starting at s[0] (at most n bytes available), or 0 if it is
 * not one that Python's strict decoder accepts (overlong, surrogate, beyond U+10FFFF). */
static size_t utf8_seq(const unsigned char *s, size_t n) {
    unsigned char c = s[0];
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF; /* the range of the second byte */
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        lo = c == 0xE0 ? 0xA0 : 0x80;
        hi = c == 0xED ? 0x9F : 0xBF;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        lo = c == 0xF0 ? 0x90 : 0x80;
        hi = c == 0xF4 ? 0x8F : 0xBF;
    } else
        return 0;
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return len;
}

bool pyud_utf8_valid(const char *p, size_t n) {
    const unsigned char *s = (const unsigned char *)p;
    size_t i = 0;
    while (i < n) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        size_t k = utf8_seq(s + i, n - i);
        if (k == 0)
            return false;
        i += k;
    }
    return true;
}

/* A pickle as pickle.dumps() writes it from protocol 2 on: PROTO, the protocol, ..., STOP. */
static bool pickle_framed(const char *p, size_t n) {
    return n >= 3 && (unsigned char)p[0] == 0x80 && p[1] >= 2 && p[1] <= 5 && p[n - 1] == '.';
}

bool pyud_tuple_next(const char *p, size_t n, size_t *at, size_t *off, size_t *len) {
    uint32_t l;
    if (*at >= n || n - *at < sizeof l)
        return false;
    memcpy(&l, p + *at, sizeof l);
    if (l > n - *at - sizeof l)
        return false;
    *off = *at + sizeof l;
    *len = l;
    *at = *off + l;
    return true;
}

static bool tuple_framed(const char *p, size_t n) {
    size_t at = 0, off, len;
    while (pyud_tuple_next(p, n, &at, &off, &len))
        ;
    return at == n;
}

static bool float_canonical(const char *p, size_t n) {
    double v;
    if (n != sizeof v)
        return false;
    memcpy(&v, p, sizeof v);
    return !(isfinite(v) && v == floor(v)); /* integral floats are written as ints */
}

/* The form of an own encoding's tag and payload, bytes escapes aside. */
static int tagged_form(char tag, const char *p, size_t n) {
    switch (tag) {
    case 'i':
        return pyud_decimal_canonical(p, n, PYUD_DECIMAL_MAX) ? PYUD_KEY_INT : PYUD_KEY_FOREIGN;
    case 's':
        return pyud_utf8_valid(p, n) ? PYUD_KEY_STR : PYUD_KEY_FOREIGN;
    case 'f':
        return float_canonical(p, n) ? PYUD_KEY_FLOAT : PYUD_KEY_FOREIGN;
    case 'n':
        return n == 0 ? PYUD_KEY_NONE : PYUD_KEY_FOREIGN;
    case 't':
        return tuple_framed(p, n) ? PYUD_KEY_TUPLE : PYUD_KEY_FOREIGN;
    case 'p':
        return pickle_framed(p, n) ? PYUD_KEY_PICKLE : PYUD_KEY_FOREIGN;
    default:
        return PYUD_KEY_FOREIGN;
    }
}

static bool has_head(const char *p, size_t n) {
    return n >= PYUD_KEY_HEAD && p[0] == PYUD_KEY_MARK0 && p[1] == PYUD_KEY_MARK1;
}

int pyud_key_form(const char *p, size_t n) {
    if (!has_head(p, n))
        return PYUD_KEY_FOREIGN;
    if (p[2] != 'b')
        return tagged_form(p[2], p + PYUD_KEY_HEAD, n - PYUD_KEY_HEAD);
    /* An escape is canonical only around bytes that need it, i.e. that read as an own
     * encoding; escapes of escapes are peeled in a loop, not by recursion. */
    size_t at = PYUD_KEY_HEAD;
    while (has_head(p + at, n - at) && p[at + 2] == 'b')
        at += PYUD_KEY_HEAD;
    if (!has_head(p + at, n - at))
        return PYUD_KEY_FOREIGN;
    int inner = tagged_form(p[at + 2], p + at + PYUD_KEY_HEAD, n - at - PYUD_KEY_HEAD);
    return inner == PYUD_KEY_FOREIGN ? PYUD_KEY_FOREIGN : PYUD_KEY_BYTES;
}

int pyud_value_form(const char *p, size_t n) {
    if (n > 0 && (p[0] == '-' || (p[0] >= '0' && p[0] <= '9')))
        return pyud_decimal_canonical(p, n, PYUD_DECIMAL_MAX) ? PYUD_VAL_INT : PYUD_VAL_FOREIGN;
    return pickle_framed(p, n) ? PYUD_VAL_PICKLE : PYUD_VAL_FOREIGN;
}
