/*
 * report_format.c - how the reports print numbers: thousands separators, factors as Python's
 * round(f, 2) printed them, durations, percentages, byte counts, and exact reals for the CSV.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>

#include "internal.h"

const char *rp__fmt_int(rp__num *buf, int64_t v) {
    char digits[32];
    /* Through unsigned, so that INT64_MIN has a magnitude. */
    uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    int n = snprintf(digits, sizeof digits, "%llu", (unsigned long long)mag);
    size_t o = 0;
    if (v < 0)
        buf->s[o++] = '-';
    for (int i = 0; i < n; i++) {
        if (i && (n - i) % 3 == 0)
            buf->s[o++] = ',';
        buf->s[o++] = digits[i];
    }
    buf->s[o] = '\0';
    return buf->s;
}

const char *rp__fmt_ops(rp__num *buf, double v) {
    if (!isfinite(v))
        snprintf(buf->s, sizeof buf->s, "-");
    else if (v >= 99.95 && v < 9.2e18)
        rp__fmt_int(buf, llround(v));
    else
        snprintf(buf->s, sizeof buf->s, "%.1f", v);
    return buf->s;
}

const char *rp__fmt_factor(rp__num *buf, double fastest, double value) {
    double f = fastest / value;
    if (!(value > 0) || !isfinite(f)) {
        snprintf(buf->s, sizeof buf->s, "-");
        return buf->s;
    }
    int n = snprintf(buf->s, sizeof buf->s, "%.2f", f);
    /* Python's round(f, 2) as the original printed it: "1.0", "34.2", "398.62". */
    if (n > 0 && buf->s[n - 1] == '0')
        buf->s[--n] = '\0';
    if (n > 1 && buf->s[n - 1] == '0' && buf->s[n - 2] != '.')
        buf->s[--n] = '\0';
    return buf->s;
}

/* Three significant digits of v (below 1000). */
static void sig3(rp__num *buf, double v, const char *unit) {
    int decimals = v < 9.995 ? 2 : v < 99.95 ? 1 : 0;
    snprintf(buf->s, sizeof buf->s, "%.*f %s", decimals, v, unit);
}

const char *rp__fmt_ns(rp__num *buf, double ns) {
    if (!isfinite(ns) || ns < 0)
        snprintf(buf->s, sizeof buf->s, "-");
    else if (ns < 999.5)
        snprintf(buf->s, sizeof buf->s, "%.0f ns", ns);
    else if (ns < 999.5e3)
        sig3(buf, ns / 1e3, "\xc2\xb5s");
    else if (ns < 999.5e6)
        sig3(buf, ns / 1e6, "ms");
    else
        snprintf(buf->s, sizeof buf->s, ns < 999.5e9 ? "%.2f s" : "%.0f s", ns / 1e9);
    return buf->s;
}

const char *rp__fmt_pct(rp__num *buf, double ratio) {
    double p = ratio * 100;
    if (!isfinite(p))
        snprintf(buf->s, sizeof buf->s, "-");
    else
        snprintf(buf->s, sizeof buf->s, p < 9.95 ? "%.1f%%" : "%.0f%%", p);
    return buf->s;
}

const char *rp__fmt_bytes(rp__num *buf, uint64_t bytes) {
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    if (bytes < 1024) {
        snprintf(buf->s, sizeof buf->s, "%llu B", (unsigned long long)bytes);
        return buf->s;
    }
    double v = (double)bytes / 1024;
    int u = 0;
    while (v >= 1024 && u < 5) {
        v /= 1024;
        u++;
    }
    snprintf(buf->s, sizeof buf->s, "%.1f %s", v, units[u]);
    return buf->s;
}

const char *rp__fmt_real(rp__num *buf, double v) {
    snprintf(buf->s, sizeof buf->s, "%.15g", v);
    return buf->s;
}
