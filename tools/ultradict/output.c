/*
 * output.c - how the tool writes bytes that may be anything: escaped text for terminals and
 * line-oriented tools, JSON strings, and human-readable sizes.
 */
#include <inttypes.h>
#include <string.h>

#include "cli.h"

/*
 * Returns the length (2..4) of the valid UTF-8 sequence of a character at p, and its code point
 * in *cp; 0 if p does not start one. Overlong forms, surrogates and code points past U+10FFFF
 * are invalid, as RFC 3629 says.
 */
static size_t utf8_sequence(const unsigned char *p, size_t n, uint32_t *cp) {
    size_t len;
    uint32_t c, min;
    if (p[0] >= 0xc2 && p[0] <= 0xdf) {
        len = 2, c = p[0] & 0x1fu, min = 0x80;
    } else if (p[0] >= 0xe0 && p[0] <= 0xef) {
        len = 3, c = p[0] & 0x0fu, min = 0x800;
    } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
        len = 4, c = p[0] & 0x07u, min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0u) != 0x80u)
            return 0;
        c = (c << 6) | (p[i] & 0x3fu);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0;
    *cp = c;
    return len;
}

/*
 * The escaped form of the byte(s) at p into out (at least 5 bytes); returns how many input
 * bytes it consumed and writes the output length to *olen. Shared by the FILE and the buffer
 * writers so that both escape identically.
 */
static size_t escape_step(const unsigned char *p, size_t n, char *out, size_t *olen) {
    static const char hex[] = "0123456789abcdef";
    uint32_t cp;
    if (p[0] == '\\') {
        out[0] = '\\', out[1] = '\\', *olen = 2;
        return 1;
    }
    if (p[0] >= 0x20 && p[0] < 0x7f) {
        out[0] = (char)p[0], *olen = 1;
        return 1;
    }
    /* C1 controls (U+0080..U+009F) are kept escaped: terminals act on them. */
    size_t len = utf8_sequence(p, n, &cp);
    if (len > 0 && cp >= 0xa0) {
        memcpy(out, p, len);
        *olen = len;
        return len;
    }
    out[0] = '\\', out[1] = 'x', out[2] = hex[p[0] >> 4], out[3] = hex[p[0] & 0xfu], *olen = 4;
    return 1;
}

void cli_put_escaped(FILE *f, const void *data, size_t n) {
    const unsigned char *p = data;
    char out[8];
    size_t olen;
    while (n > 0) {
        size_t used = escape_step(p, n, out, &olen);
        fwrite(out, 1, olen, f);
        p += used;
        n -= used;
    }
}

void cli_escape_into(const char *s, char *buf, size_t cap) {
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s), pos = 0;
    char out[8];
    size_t olen;
    if (cap == 0)
        return;
    while (n > 0) {
        size_t used = escape_step(p, n, out, &olen);
        /* Keep room for "..." and the terminating NUL. */
        if (pos + olen + 4 > cap) {
            if (pos + 4 <= cap) {
                memcpy(buf + pos, "...", 3);
                pos += 3;
            }
            break;
        }
        memcpy(buf + pos, out, olen);
        pos += olen;
        p += used;
        n -= used;
    }
    buf[pos] = '\0';
}

void cli_put_json_string(FILE *f, const void *data, size_t n) {
    const unsigned char *p = data;
    uint32_t cp;
    fputc('"', f);
    while (n > 0) {
        size_t used = 1;
        unsigned char c = p[0];
        if (c == '"' || c == '\\') {
            fputc('\\', f);
            fputc(c, f);
        } else if (c == '\n') {
            fputs("\\n", f);
        } else if (c == '\t') {
            fputs("\\t", f);
        } else if (c == '\r') {
            fputs("\\r", f);
        } else if (c >= 0x20 && c < 0x7f) {
            fputc(c, f);
        } else if (c >= 0x80 && (used = utf8_sequence(p, n, &cp)) > 0) {
            fwrite(p, 1, used, f);
        } else {
            /* Control characters, DEL, and bytes that are not valid UTF-8. */
            used = 1;
            fprintf(f, "\\u%04x", (unsigned)c);
        }
        p += used;
        n -= used;
    }
    fputc('"', f);
}

void cli_human_bytes(uint64_t bytes, char *buf, size_t cap) {
    static const char units[] = "KMGTPE";
    if (bytes < 1024) {
        snprintf(buf, cap, "%" PRIu64 "B", bytes);
        return;
    }
    double v = (double)bytes / 1024.0;
    size_t unit = 0;
    while (v >= 1024.0 && unit + 1 < sizeof(units) - 1) {
        v /= 1024.0;
        unit++;
    }
    /* One decimal below 10 units, as ls -h does; 9.95 and above would round to "10.0". */
    if (v < 9.95)
        snprintf(buf, cap, "%.1f%c", v, units[unit]);
    else
        snprintf(buf, cap, "%.0f%c", v, units[unit]);
}
