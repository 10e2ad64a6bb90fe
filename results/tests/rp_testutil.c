/*
 * rp_testutil.c - the helpers the results library's tests share (rp_testutil.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rp_testutil.h"

char *rpt_slurp(const char *path, size_t *len) {
    if (len)
        *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        fail_msg("cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t n = 0;
    FILE *m = open_memstream(&buf, &n);
    assert_non_null(m);
    char chunk[65536];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0)
        fwrite(chunk, 1, got, m);
    fclose(f);
    fclose(m);
    if (len)
        *len = n;
    return buf;
}

char *rpt_report(const rp_doc *d, int format) {
    char *buf = NULL;
    size_t n = 0;
    FILE *m = open_memstream(&buf, &n);
    assert_non_null(m);
    int rc = rp_report(d, format, m);
    fclose(m);
    if (rc)
        fail_msg("rp_report(%d): %s", format, rp_strerror(rc));
    return buf;
}

void rpt_report_has(const rp_doc *d, int format, ...) {
    char *t = rpt_report(d, format);
    va_list ap;
    va_start(ap, format);
    for (const char *s = va_arg(ap, const char *); s != NULL; s = va_arg(ap, const char *)) {
        if (strstr(t, s) == NULL) {
            va_end(ap);
            fail_msg("the report (format %d) lacks \"%s\":\n%s", format, s, t);
        }
    }
    va_end(ap);
    free(t);
}

rp_doc *rpt_doc_new(void) {
    rp_doc *d = NULL;
    assert_int_equal(rp_doc_new(&d), 0);
    return d;
}

rp_doc *rpt_dated_doc(void) {
    rp_doc *d = rpt_doc_new();
    d->run.noise_threshold = 0.25;
    assert_int_equal(rp_set_string(&d->run.started, "2025-01-01T00:00:00Z"), 0);
    return d;
}

rp_doc *rpt_read_ok(const char *path) {
    char err[512];
    rp_doc *d = NULL;
    int rc = rp_doc_read(path, &d, err, sizeof err);
    if (rc)
        fail_msg("%s: %s (%s)", path, err, rp_strerror(rc));
    return d;
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (!f) {
        fail_msg("cannot write %s: %s", path, strerror(errno));
        return;
    }
    fputs(text, f);
    fclose(f);
}

void rpt_golden(const char *name, const char *text) {
    char path[512], actual[512];
    snprintf(path, sizeof path, "%s/%s", RP_EXPECTED, name);
    snprintf(actual, sizeof actual, "%s/%s", RP_SCRATCH, name);
    const char *update = getenv("UPDATE_GOLDEN");
    if (update && strcmp(update, "1") == 0) {
        write_file(path, text);
        print_message("updated %s\n", path);
        return;
    }
    if (access(path, R_OK) != 0) {
        fail_msg("no golden file %s (run with UPDATE_GOLDEN=1 to create it)", path);
        return;
    }
    char *want = rpt_slurp(path, NULL);
    if (strcmp(want, text) != 0) {
        write_file(actual, text);
        free(want);
        fail_msg("%s differs from the golden file: diff -u %s %s", name, path, actual);
        return;
    }
    free(want);
}

rp_cell *rpt_read_cell(rp_doc *d, const char *uri, int procs, rp_metric **m) {
    rp_cell *c = rp_doc_add_cell(d);
    assert_non_null(c);
    char p[16];
    snprintf(p, sizeof p, "%d", procs);
    assert_int_equal(rp_set_string(&c->scenario, "read"), 0);
    assert_int_equal(rp_set_string(&c->backend, uri), 0);
    assert_int_equal(rp_set_string(&c->backend_name, uri), 0);
    assert_int_equal(rp_cell_add_param(c, "procs", p), 0);
    assert_int_equal(rp_set_string(&c->merit.metric, "read"), 0);
    c->merit.figure = RP_FIGURE_OPS;
    c->merit.direction = RP_HIGHER_IS_BETTER;
    c->status = RP_STATUS_OK;
    *m = rp_cell_add_metric(c, "read");
    assert_non_null(*m);
    return c;
}

double rpt_wobble(uint64_t *seed) {
    *seed = *seed * 6364136223846793005ull + 1442695040888963407ull;
    return 1 + ((double)(*seed >> 40) / (double)(1ull << 24) - 0.5) * 0.02;
}

rp_cmp *rpt_compare_all(const rp_doc *b, const rp_doc *h) {
    rp_cmp *c = NULL;
    size_t ob = 9, oh = 9;
    char err[256] = "";
    if (rp_compare_docs(b, h, 0.03, 0.05, &c, &ob, &oh, err, sizeof err))
        fail_msg("rp_compare_docs: %s", err);
    assert_int_equal(ob, 0);
    assert_int_equal(oh, 0);
    return c;
}

rp_cmp *rpt_cmp_round_trip(const rp_cmp *c, const char *name) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", RP_SCRATCH, name);
    assert_int_equal(rp_cmp_write(c, path), 0);
    rp_cmp *r = NULL;
    char err[256] = "";
    if (rp_cmp_read(path, &r, err, sizeof err))
        fail_msg("rp_cmp_read %s: %s", path, err);
    remove(path);
    return r;
}

void rpt_check_ok(const rp_doc *d) {
    char err[512];
    if (rp_doc_check(d, err, sizeof err))
        fail_msg("%s", err);
}
