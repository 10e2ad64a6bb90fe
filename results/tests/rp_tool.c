/*
 * rp_tool.c - a test helper: `rp_tool canon FILE` rewrites a results document in its canonical
 * form (needed after editing a fixture by hand, since the round-trip test compares bytes),
 * `rp_tool report FILE FORMAT` prints a report of it, and `rp_tool big KIND N FILE` writes a
 * large udbench/1 document for the readers' size tests (KIND: reps, params, metrics, backends or
 * cells, N of them; with `hostile`, a machine name and labels full of control characters).
 */
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rp.h"

static int cmp_double(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

/* One metric named op with n repetitions whose ops/s differ a little, and its summary. */
static json_t *big_metric(const char *op, size_t n) {
    json_t *reps = json_array();
    double *v = malloc((n ? n : 1) * sizeof *v), lo = 0, hi = 0;
    for (size_t i = 0; i < n && v; i++) {
        double seconds = 0.001 * (1 + (double)((i * 7919) % 1000) / 10000);
        v[i] = 1000 / seconds;
        json_array_append_new(reps, json_pack("{s:i, s:f, s:f, s:i}", "ops", 1000, "seconds",
                                              seconds, "ops_per_sec", v[i], "errors", 0));
        lo = i == 0 || v[i] < lo ? v[i] : lo;
        hi = i == 0 || v[i] > hi ? v[i] : hi;
    }
    double median = 0;
    if (v && n) {
        qsort(v, n, sizeof *v, cmp_double);
        median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    }
    free(v);
    return json_pack("{s:s, s:o, s:f, s:f, s:f, s:f, s:b, s:f, s:f, s:n, s:n, s:[]}", "op", op,
                     "reps", reps, "median", median, "min", lo, "max", hi, "spread",
                     median > 0 ? (hi - lo) / median : 0, "noisy", 0, "fairness", 0.0,
                     "bytes_per_op", 8.0, "latency", "hist_scheme", "buckets");
}

static json_t *big_backend(const char *uri, const char *name) {
    return json_pack("{s:s, s:s, s:s, s:s, s:b, s:b, s:n}", "uri", uri, "name", name, "version",
                     "1", "caps", "incr", "local_runtime", 0, "reachable", 1, "error");
}

/* The text the hostile document puts in every string a report prints: a screen clear, an OSC
 * window title, a bell, a NUL-free C0 byte, DEL, a C1 CSI, Markdown and CSV and XML syntax. */
static const char hostile[] = "evil\x1b[2J\x1b]0;pwned\x07\x01|*<&>\"',\r\n\x7f\xc2\x9b"
                              "31m`_\\";

static json_t *big_cell(const char *scenario, const char *backend, json_t *params,
                        json_t *metrics) {
    return json_pack("{s:s, s:s, s:s, s:o, s:s, s:n, s:o, s:n}", "scenario", scenario, "backend",
                     backend, "backend_name", backend[0] == 'l' ? "local" : "x", "params", params,
                     "status", "ok", "reason", "metrics", metrics, "correctness");
}

/* The run of a big document: every string the hostile text when evil. */
static json_t *big_run(bool evil) {
    const char *name = evil ? hostile : "cpu";
    json_t *machine = json_pack("{s:s, s:i, s:s, s:i, s:s, s:[f,f,f], s:[f,f,f]}", "cpu", name,
                                "cores", 1, "kernel", name, "memory_bytes", 0, "compiler", name,
                                "load_before", 0.0, 0.0, 0.0, "load_after", 0.0, 0.0, 0.0);
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:[s,s], s:i, s:f, s:f, s:o}", "started",
                     "2026-01-01T00:00:00Z", "finished", "2026-01-01T00:00:01Z", "tool_version",
                     name, "git_commit", name, "build_type", name, "suite", name, "argv", "udbench",
                     name, "seed", 1, "timer_overhead_ns", 24.0, "noise_threshold", 1e9, "machine",
                     machine);
}

/* Cell number i of a big document, on one of its two backends. */
static json_t *big_one_cell(const char *kind, size_t n, bool evil, size_t i, int b) {
    bool many_params = !strcmp(kind, "params"), many_metrics = !strcmp(kind, "metrics");
    const char *name = evil ? hostile : "cpu";
    json_t *params = json_object();
    char v[32];
    snprintf(v, sizeof v, "%zu", i + 1);
    json_object_set_new(params, "procs", json_string(v));
    json_object_set_new(params, evil ? hostile : "keys", json_string(name));
    for (size_t p = 0; many_params && p < n; p++) {
        snprintf(v, sizeof v, "p%zu", p);
        json_object_set_new(params, v, json_string(v));
    }
    json_t *metrics = json_array();
    size_t nm = many_metrics ? n : 1;
    for (size_t m = 0; m < nm; m++) {
        snprintf(v, sizeof v, "op%zu", m);
        json_array_append_new(metrics,
                              big_metric(evil ? hostile : v, !strcmp(kind, "reps") ? n : 3));
    }
    return big_cell(evil ? hostile : "read", b ? (evil ? hostile : "x:") : "local:", params,
                    metrics);
}

/* A document with n of `kind`, or NULL for an unknown kind. */
static json_t *big_doc(const char *kind, size_t n, bool evil) {
    static const char *const kinds[] = {"reps", "params", "metrics", "backends", "cells", NULL};
    size_t known = 0;
    while (kinds[known] && strcmp(kinds[known], kind) != 0)
        known++;
    if (!kinds[known])
        return NULL;
    json_t *backends = json_array(), *cells = json_array();
    json_array_append_new(backends, big_backend("local:", "local"));
    json_array_append_new(backends, big_backend(evil ? hostile : "x:", evil ? hostile : "x"));
    for (size_t i = 0; !strcmp(kind, "backends") && i < n; i++) {
        char uri[32];
        snprintf(uri, sizeof uri, "b%zu:", i);
        json_array_append_new(backends, big_backend(uri, "b"));
    }
    size_t ncells = !strcmp(kind, "cells") ? n : 1;
    for (size_t i = 0; i < ncells; i++)
        for (int b = 0; b < 2; b++)
            json_array_append_new(cells, big_one_cell(kind, n, evil, i, b));
    return json_pack("{s:s, s:o, s:o, s:o}", "schema", RP_SCHEMA_V1, "run", big_run(evil),
                     "backends", backends, "results", cells);
}

static int big_main(int argc, char **argv) {
    bool evil = argc > 5 && !strcmp(argv[5], "hostile");
    json_t *doc = argc > 4 ? big_doc(argv[2], strtoul(argv[3], NULL, 10), evil) : NULL;
    if (!doc) {
        fprintf(stderr, "usage: rp_tool big reps|params|metrics|backends|cells N FILE [hostile]\n");
        return 2;
    }
    int rc = json_dump_file(doc, argv[4], JSON_INDENT(1) | JSON_REAL_PRECISION(17));
    json_decref(doc);
    return rc ? 1 : 0;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "big") == 0)
        return big_main(argc, argv);
    if (argc < 3 || (strcmp(argv[1], "canon") != 0 && strcmp(argv[1], "report") != 0)) {
        fprintf(stderr, "usage: rp_tool canon FILE | rp_tool report FILE text|md|csv|svg\n");
        return 2;
    }
    char err[512];
    rp_doc *d = NULL;
    int rc = rp_doc_read(argv[2], &d, err, sizeof err);
    if (rc) {
        fprintf(stderr, "rp_tool: %s: %s\n", argv[2], err[0] ? err : rp_strerror(rc));
        return 1;
    }
    if (strcmp(argv[1], "canon") == 0) {
        rc = rp_doc_write(d, argv[2]);
    } else {
        int format = rp_format_parse(argc > 3 ? argv[3] : "text");
        rc = format < 0 ? format : rp_report(d, format, stdout);
    }
    if (rc)
        fprintf(stderr, "rp_tool: %s\n", rp_strerror(rc));
    rp_doc_free(d);
    return rc ? 1 : 0;
}
