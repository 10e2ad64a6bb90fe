/*
 * cf_util.c - encodings the Cloudflare adapters need: percent-encoding for URLs, base64 and hex
 * for bytes inside JSON, UTF-8 validation, JSON string literals, and the escaping of keys that
 * Workers KV (whose keys are strings) cannot hold as they are.
 */
#include "cf_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int cf_buf_printf(kv_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || kv__buf_reserve(b, b->len + (size_t)n) < 0)
        return -ENOMEM;
    va_start(ap, fmt);
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

/*
 * Appends the n bytes of p as upper-case hex pairs: every byte, or with `pct` (percent-encoding)
 * only those other than letters, digits, '-', '_' and '~', each as "%XX".
 */
static int hex_append(kv_buf *b, const void *p, size_t n, bool pct) {
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *s = p;
    if (n > SIZE_MAX / 4 || kv__buf_reserve(b, b->len + (pct ? 3 : 2) * n) < 0)
        return -ENOMEM;
    char *w = (char *)b->data + b->len;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = s[i];
        bool plain = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
                     (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '~';
        if (pct && plain) {
            *w++ = (char)ch;
            continue;
        }
        if (pct)
            *w++ = '%';
        *w++ = hex[ch >> 4];
        *w++ = hex[ch & 15];
    }
    b->len = (size_t)(w - (char *)b->data);
    ((char *)b->data)[b->len] = '\0';
    return 0;
}

int cf_pct_append(kv_buf *b, const void *p, size_t n) {
    return hex_append(b, p, n, true);
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int cf_b64_append(kv_buf *b, const void *p, size_t n) {
    const unsigned char *s = p;
    size_t out = (n + 2) / 3 * 4;
    if (n > SIZE_MAX / 2 || kv__buf_reserve(b, b->len + out) < 0)
        return -ENOMEM;
    char *w = (char *)b->data + b->len;
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
        *w++ = b64[v >> 18];
        *w++ = b64[(v >> 12) & 63];
        *w++ = b64[(v >> 6) & 63];
        *w++ = b64[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)s[i] << 16;
        *w++ = b64[v >> 18];
        *w++ = b64[(v >> 12) & 63];
        *w++ = '=';
        *w++ = '=';
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8;
        *w++ = b64[v >> 18];
        *w++ = b64[(v >> 12) & 63];
        *w++ = b64[(v >> 6) & 63];
        *w++ = '=';
    }
    b->len += out;
    ((char *)b->data)[b->len] = '\0';
    return 0;
}

static int b64val(unsigned char ch) {
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    if (ch == '+' || ch == '-')
        return 62;
    if (ch == '/' || ch == '_')
        return 63;
    return -1;
}

int cf_b64_decode(kv_buf *out, const char *s, size_t n) {
    while (n > 0 && s[n - 1] == '=')
        n--;
    if (n % 4 == 1 || kv__buf_reserve(out, n / 4 * 3 + 3) < 0)
        return n % 4 == 1 ? KV_EPROTO : -ENOMEM;
    unsigned char *w = out->data;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64val((unsigned char)s[i]);
        if (v < 0)
            return KV_EPROTO;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            *w++ = (unsigned char)(acc >> bits);
        }
    }
    out->len = (size_t)(w - (unsigned char *)out->data);
    ((char *)out->data)[out->len] = '\0';
    return 0;
}

int cf_hex_append(kv_buf *b, const void *p, size_t n) {
    return hex_append(b, p, n, false);
}

int cf_hex_decode(kv_buf *out, const char *s, size_t n) {
    if (n % 2)
        return KV_EPROTO;
    if (kv__buf_reserve(out, n / 2) < 0)
        return -ENOMEM;
    unsigned char *w = out->data;
    for (size_t i = 0; i < n; i += 2) {
        int hi = kv__hexval((unsigned char)s[i]), lo = kv__hexval((unsigned char)s[i + 1]);
        if (hi < 0 || lo < 0)
            return KV_EPROTO;
        *w++ = (unsigned char)(hi << 4 | lo);
    }
    out->len = n / 2;
    ((char *)out->data)[out->len] = '\0';
    return 0;
}

/* Strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF. */
bool cf_utf8_valid(const void *p, size_t n) {
    const unsigned char *s = p;
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        uint32_t cp, min;
        if ((c & 0xe0) == 0xc0) {
            len = 2, cp = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            len = 3, cp = c & 0x0f, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            len = 4, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (i + len > n)
            return false;
        for (size_t j = 1; j < len; j++) {
            if ((s[i + j] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + j] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += len;
    }
    return true;
}

bool cf_kv_text_exact(const void *p, size_t n) {
    if (n >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
        return false;
    return memchr(p, 0, n) == NULL && cf_utf8_valid(p, n);
}

int cf_json_str_append(kv_buf *b, const void *p, size_t n) {
    const unsigned char *s = p;
    if (kv__buf_append(b, "\"", 1) < 0)
        return -ENOMEM;
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = s[i];
        if (ch >= 0x20 && ch != '"' && ch != '\\')
            continue;
        if (kv__buf_append(b, s + start, i - start) < 0)
            return -ENOMEM;
        char esc[8];
        if (ch == '"' || ch == '\\')
            snprintf(esc, sizeof(esc), "\\%c", ch);
        else
            snprintf(esc, sizeof(esc), "\\u%04x", ch);
        if (kv__buf_append(b, esc, strlen(esc)) < 0)
            return -ENOMEM;
        start = i + 1;
    }
    if (kv__buf_append(b, s + start, n - start) < 0 || kv__buf_append(b, "\"", 1) < 0)
        return -ENOMEM;
    return 0;
}

int cf_kv_key(cf_conn *c, kv_buf *out, const void *key, size_t klen) {
    const size_t plen = sizeof(CF_KEY_ESCAPE) - 1;
    bool escape = !cf_utf8_valid(key, klen) || memchr(key, 0, klen) != NULL ||
                  (klen == 1 && memcmp(key, ".", 1) == 0) ||
                  (klen == 2 && memcmp(key, "..", 2) == 0) ||
                  (klen >= plen && memcmp(key, CF_KEY_ESCAPE, plen) == 0);
    int rc;
    out->len = 0;
    if (escape) {
        rc = kv__buf_append(out, CF_KEY_ESCAPE, plen);
        if (rc == 0)
            rc = cf_b64_append(out, key, klen);
    } else {
        rc = kv__buf_set(out, key, klen);
    }
    if (rc < 0)
        return rc;
    if (out->len > CF_KV_KEY_MAX)
        return kv__error(&c->base, KV_ETOOBIG,
                         "%s: a key of %zu bytes is %zu bytes as a KV key%s; Workers KV keys are "
                         "at most %d bytes",
                         c->scheme, klen, out->len,
                         escape ? " (escaped: it is not plain UTF-8 text)" : "", CF_KV_KEY_MAX);
    return 0;
}

int cf_kv_unkey(kv_buf *out, const char *s, size_t n) {
    const size_t plen = sizeof(CF_KEY_ESCAPE) - 1;
    if (n >= plen && memcmp(s, CF_KEY_ESCAPE, plen) == 0)
        return cf_b64_decode(out, s + plen, n - plen);
    return kv__buf_set(out, s, n);
}
