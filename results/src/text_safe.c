/*
 * text_safe.c - text from a document made safe to print. A results document can come from
 * anywhere (a CI artifact, a pull request), and its strings reach terminals, Markdown pages,
 * spreadsheets and SVG viewers: a machine name holding ESC[2J or an OSC title sequence would
 * rewrite the reader's terminal. Every report writes document strings through these functions,
 * which make each control character visible instead of passing it on.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* The length (1..4) of the well-formed UTF-8 sequence at s, its code point in *cp; 0 when the
 * bytes are not one (an overlong form, a surrogate, a stray or missing continuation byte). */
static size_t utf8_char(const unsigned char *s, uint32_t *cp) {
    static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
    size_t n = s[0] < 0x80             ? 1
               : (s[0] & 0xe0) == 0xc0 ? 2
               : (s[0] & 0xf0) == 0xe0 ? 3
               : (s[0] & 0xf8) == 0xf0 ? 4
                                       : 0;
    if (n == 0)
        return 0;
    uint32_t c = n == 1 ? s[0] : s[0] & (0x7fu >> n);
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        c = c << 6 | (s[i] & 0x3fu);
    }
    if (c < min[n] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0;
    *cp = c;
    return n;
}

/* Characters that control a terminal or reorder text rather than show a glyph: C0 and DEL,
 * C1 (U+0080..U+009F: 0x9B is a one-byte CSI), the line and paragraph separators, the bidi
 * controls ("Trojan Source"), and the two non-characters XML 1.0 forbids. */
static bool unsafe(uint32_t c) {
    return c < 0x20 || (c >= 0x7f && c <= 0x9f) || c == 0x61c || c == 0x200e || c == 0x200f ||
           (c >= 0x2028 && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069) || c == 0xfffe ||
           c == 0xffff;
}

void rp_fputs_safe(const char *s, FILE *f) {
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    while (*p) {
        uint32_t c = 0;
        size_t n = utf8_char(p, &c);
        if (n == 0) {
            fprintf(f, "\\x%02x", *p); /* a byte that is not UTF-8 */
            p++;
        } else if (unsafe(c)) {
            fprintf(f, c < 0x80 ? "\\x%02x" : "\\u%04x", (unsigned)c);
            p += n;
        } else {
            fwrite(p, 1, n, f);
            p += n;
        }
    }
}

char *rp__safe_dup(const char *s) {
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    if (!f)
        return NULL;
    rp_fputs_safe(s, f);
    if (fclose(f) != 0) {
        free(out);
        return NULL;
    }
    return out;
}

void rp__safe_inplace(char *buf, size_t cap) {
    if (!buf || cap == 0)
        return;
    char *safe = rp__safe_dup(buf);
    if (!safe) { /* no memory: blank what is unsafe rather than print it */
        for (char *p = buf; *p; p++)
            if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
                *p = '?';
        return;
    }
    size_t n = strlen(safe);
    if (n >= cap) {
        n = cap - 1;
        while (n > 0 && ((unsigned char)safe[n] & 0xc0) == 0x80)
            n--; /* never cut a character in two */
    }
    memcpy(buf, safe, n);
    buf[n] = '\0';
    free(safe);
}

void rp_fputs_md(const char *text, FILE *f) {
    char *safe = rp__safe_dup(text);
    for (const char *s = safe; s && *s; s++) {
        if (strchr("\\|`*[]<>", *s))
            fputc('\\', f);
        fputc(*s, f);
    }
    free(safe);
}
