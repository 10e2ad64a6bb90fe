/*
 * test_rp_json.c - the udbench/1 JSON form: the realistic fixture parses and round-trips byte
 * for byte; documents built in code survive awkward values; the writer refuses what the reader
 * would refuse; and every broken fixture is rejected with a message naming the field.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ut_cmocka.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rp.h"
#include "rp_testutil.h"

/* The canonical text of a document, through rp_doc_write_file. */
static char *to_text(const rp_doc *d, size_t *len) {
    char *buf = NULL;
    size_t n = 0;
    FILE *m = open_memstream(&buf, &n);
    assert_non_null(m);
    assert_int_equal(rp_doc_write_file(d, m), 0);
    fclose(m);
    *len = n;
    return buf;
}

static void test_good_parses(void **state) {
    (void)state;
    rp_doc *d = rpt_read_ok(RP_FIXTURES "/good.json");
    assert_string_equal(d->run.git_commit, "c46ca81");
    assert_int_equal(d->run.argc, 6);
    assert_string_equal(d->run.argv[5], "results/latest.json");
    assert_int_equal(d->run.machine.cores, 2);
    assert_true(d->run.machine.memory_bytes == 8331051008ull);
    assert_true(d->run.machine.load_before[2] == 0.52);
    assert_int_equal(d->nbackends, 10);
    assert_true(d->backends[7].local_runtime);
    assert_false(d->backends[9].reachable);
    assert_string_equal(d->backends[9].name, "");
    assert_null(d->backends[9].version);

    size_t ok = 0, na = 0, error = 0, corr = 0, noisy = 0;
    for (size_t i = 0; i < d->ncells; i++) {
        const rp_cell *c = &d->cells[i];
        ok += c->status == RP_STATUS_OK;
        na += c->status == RP_STATUS_NA;
        error += c->status == RP_STATUS_ERROR;
        corr += c->correctness.present;
        for (size_t j = 0; j < c->nmetrics; j++)
            noisy += c->metrics[j].noisy;
    }
    assert_true(ok > 20 && na >= 3 && error >= 3 && corr >= 6 && noisy >= 2);

    const rp_cell *seed = &d->cells[0];
    assert_string_equal(seed->scenario, "seed");
    assert_string_equal(rp_cell_param(seed, "procs"), "1");
    assert_int_equal(seed->nmetrics, 2);
    const rp_metric *w = &seed->metrics[0];
    assert_string_equal(w->op, "write");
    assert_int_equal(w->nreps, 3);
    assert_true(w->has_latency);
    assert_string_equal(w->hist_scheme, "log-linear/128");
    uint64_t sum = 0;
    for (size_t i = 0; i < w->nbuckets; i++)
        sum += w->buckets[i].count;
    assert_true(sum == w->latency.count);
    rp_doc_free(d);
}

/* Reads path and checks that writing it gives the bytes of the canonical file `as`; returns
 * the document, and as's text in *file (freed here when file is NULL). */
static rp_doc *read_as(const char *path, const char *as, char **file, size_t *flen) {
    size_t tlen, len;
    char *want = rpt_slurp(as, &len);
    rp_doc *d = rpt_read_ok(path);
    char *text = to_text(d, &tlen);
    assert_int_equal(tlen, len);
    assert_memory_equal(text, want, len);
    free(text);
    if (file) {
        *file = want;
        *flen = len;
    } else {
        free(want);
    }
    return d;
}

static rp_doc *read_canonical(const char *path, char **file, size_t *flen) {
    return read_as(path, path, file, flen);
}

/* Reading the fixture and writing it again gives the same bytes (the fixture is canonical). */
static void test_good_round_trip(void **state) {
    (void)state;
    size_t flen;
    char *file;
    rp_doc *d = read_canonical(RP_FIXTURES "/good.json", &file, &flen);

    /* And through a file written by rp_doc_write, which leaves no temporary file behind. */
    const char *path = RP_SCRATCH "/round_trip.json";
    unlink(path);
    assert_int_equal(rp_doc_write(d, path), 0);
    size_t wlen;
    char *written = rpt_slurp(path, &wlen);
    assert_int_equal(wlen, flen);
    assert_memory_equal(written, file, flen);
    char tmp[512];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    assert_int_equal(access(tmp, F_OK), -1);
    free(written);
    free(file);
    rp_doc_free(d);
}

static void test_minimal_round_trip(void **state) {
    (void)state;
    rp_doc_free(read_canonical(RP_FIXTURES "/minimal.json", NULL, NULL));
}

/* A small valid document built in code, with values that are hard to print and read back. */
static rp_doc *awkward_doc(void) {
    rp_doc *d = rpt_doc_new();
    rp_run *r = &d->run;
    rp_set_string(&r->started, "2025-01-01T00:00:00Z");
    r->argv = calloc(3, sizeof *r->argv);
    rp_set_string(&r->argv[r->argc++], "udbench");
    rp_set_string(&r->argv[r->argc++], "quote \" backslash \\ tab \t newline \n [1, 2]");
    rp_set_string(&r->argv[r->argc++], "bad utf-8: \xff\xfe caf\xc3\xa9");
    r->seed = (uint64_t)INT64_MAX;
    r->timer_overhead_ns = 1.0 / 3;
    r->noise_threshold = 0.1;
    r->machine.memory_bytes = 1;
    r->machine.load_before[0] = 1e20;
    r->machine.load_after[1] = 2.5e-7;
    rp_backend *b = rp_doc_add_backend(d);
    rp_set_string(&b->uri, "local:");
    rp_set_string(&b->name, "local");
    b->reachable = true;
    rp_cell *c = rp_doc_add_cell(d);
    rp_set_string(&c->scenario, "read");
    rp_set_string(&c->backend, "local:");
    rp_set_string(&c->backend_name, "local");
    rp_cell_add_param(c, "procs", "4");
    rp_cell_add_param(c, "weird key \"x\"", "[1, 2]");
    rp_metric *m = rp_cell_add_metric(c, "read");
    const double v[] = {123456789.123456789, 0.1, 3.0};
    for (int i = 0; i < 3; i++) {
        uint64_t ops = UINT64_C(1) << 62;
        rp_rep rep = {.ops = ops, .seconds = (double)ops / v[i], .ops_per_sec = v[i], .errors = 0};
        rp_metric_add_rep(m, &rep);
    }
    rp_metric_summarise(m, r->noise_threshold);
    m->has_latency = true;
    m->latency =
        (rp_latency){.count = 3, .mean = 0.5, .p50 = 0, .p90 = 1, .p99 = 1, .p999 = 1, .max = 1};
    rp_set_string(&m->hist_scheme, "log-linear/128");
    m->buckets = calloc(2, sizeof *m->buckets);
    m->buckets[m->nbuckets++] = (rp_bucket){0, 1};
    m->buckets[m->nbuckets++] = (rp_bucket){7423, 2};
    c->correctness = (rp_correctness){.present = true,
                                      .expected = INT64_MIN,
                                      .observed = -1,
                                      .lost_updates = INT64_MAX,
                                      .torn_reads = 0};
    return d;
}

static void test_awkward_round_trip(void **state) {
    (void)state;
    rp_doc *d = awkward_doc();
    size_t n1, n2, n3;
    char *t1 = to_text(d, &n1);
    const char *path = RP_SCRATCH "/awkward.json";
    assert_int_equal(rp_doc_write(d, path), 0);
    rp_doc *back = rpt_read_ok(path);
    char *t2 = to_text(back, &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(t1, t2, n1);
    /* Integers are exact; the invalid UTF-8 became U+FFFD; the rest of the text is kept. */
    assert_true(back->run.seed == (uint64_t)INT64_MAX);
    assert_true(back->cells[0].metrics[0].reps[0].ops == UINT64_C(1) << 62);
    assert_true(back->cells[0].correctness.expected == INT64_MIN);
    assert_string_equal(back->run.argv[1], "quote \" backslash \\ tab \t newline \n [1, 2]");
    assert_string_equal(back->run.argv[2], "bad utf-8: \xef\xbf\xbd\xef\xbf\xbd caf\xc3\xa9");
    assert_string_equal(rp_cell_param(&back->cells[0], "weird key \"x\""), "[1, 2]");
    /* Doubles keep 15 significant digits. */
    assert_true(fabs(back->run.timer_overhead_ns - 1.0 / 3) < 1e-15);
    assert_true(back->cells[0].metrics[0].reps[1].ops_per_sec == 0.1);
    /* Once read, the values are those of the text: a third pass changes nothing. */
    rp_doc *again = NULL;
    assert_int_equal(rp_doc_write(back, path), 0);
    again = rpt_read_ok(path);
    char *t3 = to_text(again, &n3);
    assert_int_equal(n3, n1);
    assert_memory_equal(t3, t1, n1);
    free(t1);
    free(t2);
    free(t3);
    rp_doc_free(again);
    rp_doc_free(back);
    rp_doc_free(d);
}

/* Whatever the writer would produce that the reader refuses, it refuses to write. */
static void test_write_refuses(void **state) {
    (void)state;
    char err[512];
    FILE *null = fopen("/dev/null", "w");
    assert_non_null(null);

    rp_doc *d = awkward_doc();
    d->run.seed = (uint64_t)INT64_MAX + 1;
    assert_int_equal(rp_doc_write_file(d, null), RP_EINVAL);
    assert_int_equal(rp_doc_check(d, err, sizeof err), RP_EINVAL);
    assert_non_null(strstr(err, "2^63-1"));
    d->run.seed = 1;
    d->cells[0].metrics[0].median = NAN;
    assert_int_equal(rp_doc_write_file(d, null), RP_EINVAL);
    rp_metric_summarise(&d->cells[0].metrics[0], 0.1);
    assert_int_equal(rp_doc_check(d, err, sizeof err), 0);

    /* An ok cell whose repetitions are missing. */
    free(d->cells[0].metrics[0].reps);
    d->cells[0].metrics[0].reps = NULL;
    d->cells[0].metrics[0].nreps = 0;
    assert_int_equal(rp_doc_check(d, err, sizeof err), RP_ESCHEMA);
    assert_string_equal(err,
                        "results[0].metrics[0].reps: an ok cell needs at least one repetition");
    const char *path = RP_SCRATCH "/refused.json";
    unlink(path);
    assert_int_equal(rp_doc_write(d, path), RP_ESCHEMA);
    assert_int_equal(access(path, F_OK), -1);
    rp_doc_free(d);

    /* A cell naming a backend the document does not list (e.g. an unredacted URI). */
    d = awkward_doc();
    rp_set_string(&d->cells[0].backend, "redis://:secret@127.0.0.1:1");
    assert_int_equal(rp_doc_check(d, err, sizeof err), RP_ESCHEMA);
    assert_string_equal(
        err, "results[0].backend: \"redis://:secret@127.0.0.1:1\" is not listed in backends");
    rp_doc_free(d);

    /* A required string left NULL. */
    d = awkward_doc();
    rp_set_string(&d->cells[0].backend_name, NULL);
    assert_int_equal(rp_doc_check(d, err, sizeof err), RP_ESCHEMA);
    assert_string_equal(err, "results[0].backend_name: expected a string");
    d->cells[0].status = 7;
    assert_int_equal(rp_doc_check(d, err, sizeof err), RP_EINVAL);
    rp_doc_free(d);

    assert_int_equal(rp_doc_write(NULL, path), RP_EINVAL);
    d = awkward_doc();
    assert_int_equal(rp_doc_write(d, RP_SCRATCH "/no/such/dir/x.json"), -ENOENT);
    rp_doc_free(d);
    fclose(null);
}

/* Fields named x_* are the documented extension point: accepted, skipped, not kept. */
static void test_extension_fields(void **state) {
    (void)state;
    rp_doc *d = rpt_read_ok(RP_FIXTURES "/extension.json");
    assert_int_equal(d->ncells, 1);
    size_t n;
    char *t = to_text(d, &n);
    assert_null(strstr(t, "\"x_"));
    free(t);
    rp_doc_free(d);
}

/* A failover document (udbench/3) is read, ranked by lost writes, and written back as it was. */
static void test_failover_round_trip(void **state) {
    (void)state;
    size_t flen, tlen;
    char *file = rpt_slurp(RP_FIXTURES "/failover.json", &flen);
    rp_doc *d = rpt_read_ok(RP_FIXTURES "/failover.json");
    size_t n = 0;
    for (size_t i = 0; i < d->ncells; i++) {
        const rp_cell *c = &d->cells[i];
        if (!c->failover.nreps)
            continue;
        n++;
        assert_int_equal(c->merit.figure, RP_FIGURE_LOST);
        assert_int_equal(c->merit.direction, RP_LOWER_IS_BETTER);
        assert_int_equal(c->failover.nreps, c->metrics[0].nreps);
        for (size_t r = 0; r < c->failover.nreps; r++) {
            const rp_failover_rep *x = &c->failover.reps[r];
            assert_true(x->lost_writes <= x->acked_writes);
            assert_true(x->victim && *x->victim);
            assert_int_equal(x->nworkers, 2);
        }
        assert_true(rp_merit_rep_value(c, 0) == (double)c->failover.reps[0].lost_writes);
    }
    assert_int_equal(n, 2);
    char *text = to_text(d, &tlen);
    assert_int_equal(tlen, flen);
    assert_memory_equal(text, file, flen);
    free(text);
    free(file);
    rp_doc_free(d);
}

/* Each broken fixture, the code it must give and a piece of the message. */
static const struct broken {
    const char *file;
    int rc;
    const char *message;
} broken[] = {
    {"not_json.txt", RP_EPARSE, "not valid JSON: line 1, column 4"},
    {"failover_share.json", RP_ESCHEMA,
     "results[0].failover.reps[0].lost_share: 0.5, but lost_writes / acked_writes is 0"},
    {"failover_before.json", RP_ESCHEMA,
     "results[0].failover.reps[0].lost_before_kill: 1 is more than the 0 lost"},
    {"failover_window.json", RP_ESCHEMA,
     "results[0].failover.reps[0].worker_window_s[0]: 1 s is longer than the merged window_s"},
    {"failover_reps.json", RP_ESCHEMA,
     "results[0].failover.reps: 1 repetitions, but metric \"write\" has 2"},
    {"truncated.json", RP_EPARSE, "(the file ends early: truncated?)"},
    {"duplicate_key.json", RP_EPARSE, "duplicate object key"},
    {"huge_integer.json", RP_EPARSE, "too big integer"},
    {"top_array.json", RP_ESCHEMA, "expected a JSON object at the top level"},
    {"no_schema.json", RP_ESCHEMA, "no \"schema\" field: not a udbench results document"},
    {"wrong_schema.json", RP_ESCHEMA,
     "unsupported schema \"udbench/4\" (this udbench reads udbench/1, udbench/2 and udbench/3)"},
    {"schema_type.json", RP_ESCHEMA, "schema: expected a string"},
    {"lockstep_regime.json", RP_ESCHEMA,
     "results[0].metrics[0].reps[0].regime: is not the probes'"},
    {"lockstep_paired.json", RP_ESCHEMA,
     "results[1].merit.paired.ratio: does not follow from the repetitions' ratios"},
    {"lockstep_probe.json", RP_ESCHEMA,
     "results[0].metrics[0].reps[1].probe_after.llc_ns: must not be negative"},
    {"lockstep_ratio.json", RP_ESCHEMA,
     "results[0].metrics[0].reps[1].ratio: a paired ratio is positive"},
    {"unknown_field.json", RP_ESCHEMA, "results[0].colour: unknown field"},
    {"unknown_top_field.json", RP_ESCHEMA, "comment: unknown field"},
    {"missing_run.json", RP_ESCHEMA, "run: missing"},
    {"missing_field.json", RP_ESCHEMA, "results[1].metrics[0].median: missing"},
    {"missing_started.json", RP_ESCHEMA, "run.started: missing"},
    {"wrong_type.json", RP_ESCHEMA, "results[1].metrics[0].latency.p99: expected a number"},
    {"wrong_type_argv.json", RP_ESCHEMA, "run.argv[1]: expected a string"},
    {"wrong_type_bool.json", RP_ESCHEMA, "backends[0].reachable: expected true or false"},
    {"wrong_type_params.json", RP_ESCHEMA,
     "results[0].params.procs: expected a string (parameters are text"},
    {"negative_ops.json", RP_ESCHEMA,
     "results[1].metrics[0].reps[0].ops: expected a non-negative integer (got -5)"},
    {"float_ops.json", RP_ESCHEMA,
     "results[1].metrics[0].reps[0].ops: expected a non-negative integer"},
    {"negative_ops_per_sec.json", RP_ESCHEMA,
     "results[1].metrics[0].reps[0].ops_per_sec: must not be negative (got -1)"},
    {"negative_spread.json", RP_ESCHEMA,
     "results[1].metrics[0].spread: must not be negative (got -0.1)"},
    {"median_outside.json", RP_ESCHEMA,
     "results[1].metrics[0].median: must lie between min and max"},
    {"fairness_range.json", RP_ESCHEMA, "results[1].metrics[0].fairness: must lie between 0 and 1"},
    {"median_not_median.json", RP_ESCHEMA,
     "results[1].metrics[0].median: is not the median of the repetitions' ops_per_sec"},
    {"ops_per_sec_mismatch.json", RP_ESCHEMA,
     "results[1].metrics[0].reps[0].ops_per_sec: is not ops / seconds (1000000, not 2000)"},
    {"noisy_wrong.json", RP_ESCHEMA,
     "results[1].metrics[0].noisy: must be false: the spread 0.20202 is not above "
     "run.noise_threshold 0.25"},
    {"p999_above_max.json", RP_ESCHEMA,
     "results[1].metrics[0].latency.p999: must not be above max (301 > 300)"},
    {"bad_status.json", RP_ESCHEMA,
     "results[1].status: expected \"ok\", \"n/a\" or \"error\", got \"skipped\""},
    {"ok_with_reason.json", RP_ESCHEMA, "results[1].reason: must be null when status is \"ok\""},
    {"na_without_reason.json", RP_ESCHEMA,
     "results[2].reason: must say why when status is \"n/a\""},
    {"ok_no_metrics.json", RP_ESCHEMA, "results[1].metrics: an ok cell needs at least one metric"},
    {"ok_no_reps.json", RP_ESCHEMA,
     "results[1].metrics[0].reps: an ok cell needs at least one repetition"},
    {"duplicate_op.json", RP_ESCHEMA, "results[0].metrics[1].op: \"write\" appears twice"},
    {"unknown_backend.json", RP_ESCHEMA,
     "results[0].backend: \"redis://10.0.0.1:6379\" is not listed in backends"},
    {"duplicate_backend.json", RP_ESCHEMA, "backends[1].uri: \"local:\" is listed twice"},
    {"empty_name.json", RP_ESCHEMA, "backends[0].name: must not be empty for a reachable backend"},
    {"empty_scenario.json", RP_ESCHEMA, "results[0].scenario: must not be empty"},
    {"percentiles_decrease.json", RP_ESCHEMA,
     "results[1].metrics[0].latency.p99: must not be below p90"},
    {"hist_scheme.json", RP_ESCHEMA,
     "results[1].metrics[0].hist_scheme: unsupported histogram scheme \"hdr/3\""},
    {"bucket_order.json", RP_ESCHEMA,
     "results[1].metrics[0].buckets[1]: bucket indexes must increase"},
    {"bucket_index.json", RP_ESCHEMA,
     "results[1].metrics[0].buckets[0]: bucket index 9000 outside"},
    {"bucket_shape.json", RP_ESCHEMA,
     "results[1].metrics[0].buckets[0]: expected [index, count] (two integers)"},
    {"bucket_sum.json", RP_ESCHEMA,
     "results[1].metrics[0].buckets: the bucket counts add up to 41, latency.count is 40"},
    {"buckets_without_scheme.json", RP_ESCHEMA,
     "results[1].metrics[0].buckets: must be empty when hist_scheme is null"},
    {"negative_torn.json", RP_ESCHEMA,
     "results[1].correctness.torn_reads: expected a non-negative integer (got -1)"},
    {"load_count.json", RP_ESCHEMA,
     "run.machine.load_before: expected 3 load averages (1, 5 and 15 minutes), got 2"},
    {"no_such_file.json", -ENOENT, "cannot open: No such file or directory"},
};

static void test_broken(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof broken / sizeof broken[0]; i++) {
        char path[512], err[512];
        snprintf(path, sizeof path, "%s/broken/%s", RP_FIXTURES, broken[i].file);
        rp_doc *d = (rp_doc *)0x1;
        int rc = rp_doc_read(path, &d, err, sizeof err);
        if (rc != broken[i].rc || !strstr(err, broken[i].message)) {
            fail_msg("%s: got %d \"%s\", expected %d with \"%s\"", broken[i].file, rc, err,
                     broken[i].rc, broken[i].message);
        }
        /* The out-parameter is written only on success. */
        assert_ptr_equal(d, (rp_doc *)0x1);
    }
    /* A NULL err is allowed. */
    rp_doc *d = NULL;
    assert_int_equal(rp_doc_read(RP_FIXTURES "/broken/wrong_schema.json", &d, NULL, 0), RP_ESCHEMA);
    assert_int_equal(rp_doc_read(NULL, &d, NULL, 0), RP_EINVAL);
}

/* A message longer than the caller's buffer is cut, never overflowed. */
static void test_short_err_buffer(void **state) {
    (void)state;
    char err[16];
    memset(err, 'z', sizeof err);
    rp_doc *d = NULL;
    assert_int_equal(rp_doc_read(RP_FIXTURES "/broken/wrong_type.json", &d, err, 12), RP_ESCHEMA);
    assert_int_equal(strlen(err), 11);
    assert_int_equal(err[12], 'z');
}

/* A udbench/1 or udbench/2 document is still read: it becomes the udbench/3 document of the
 * same run (intervals computed from its repetitions, ops/s of the first metric as its figure;
 * no probes, no paired figures). */
static void test_v1_upgrade(void **state) {
    (void)state;
    const char *pairs[][2] = {{RP_FIXTURES "/good-v1.json", RP_FIXTURES "/good.json"},
                              {RP_FIXTURES "/minimal-v1.json", RP_FIXTURES "/minimal.json"},
                              {RP_FIXTURES "/good-v2.json", RP_FIXTURES "/good.json"},
                              {RP_FIXTURES "/minimal-v2.json", RP_FIXTURES "/minimal.json"}};
    for (size_t i = 0; i < 4; i++) {
        rp_doc *d = read_as(pairs[i][0], pairs[i][1], NULL, NULL);
        for (size_t c = 0; i < 2 && c < d->ncells; c++) {
            if (d->cells[c].nmetrics == 0)
                continue;
            assert_string_equal(d->cells[c].merit.metric, d->cells[c].metrics[0].op);
            assert_int_equal(d->cells[c].merit.figure, RP_FIGURE_OPS);
            assert_int_equal(d->cells[c].merit.direction, RP_HIGHER_IS_BETTER);
            assert_true(d->cells[c].harness_floor_ns < 0);
        }
        rp_doc_free(d);
    }
}

/* A lockstep run (udbench/3) reads back to the same bytes; its probes, regimes and paired
 * figures are what the model derives; the reference's own ratio is 1. */
static void test_lockstep_round_trip(void **state) {
    (void)state;
    size_t flen;
    char *file;
    rp_doc *d = read_canonical(RP_FIXTURES "/lockstep.json", &file, &flen);
    assert_true(d->run.lockstep);
    size_t paired = 0;
    for (size_t i = 0; i < d->ncells; i++) {
        const rp_cell *c = &d->cells[i];
        if (!c->merit.reference)
            continue;
        paired++;
        if (!strcmp(c->merit.reference, c->backend)) {
            assert_true(c->merit.ratio == 1.0);
            assert_true(c->merit.ratio_low == 1.0 && c->merit.ratio_high == 1.0);
        }
        assert_true(c->merit.ratio_low <= c->merit.ratio && c->merit.ratio <= c->merit.ratio_high);
        const rp_rep *r = &c->metrics[0].reps[0];
        assert_int_not_equal(rp_rep_regime(r), RP_REGIME_NONE);
    }
    assert_true(paired >= 2);
    free(file);
    rp_doc_free(d);
}

static void test_merit_checked(void **state) {
    (void)state;
    char err[512];
    rp_doc *d = rpt_read_ok(RP_FIXTURES "/good.json");
    rp_cell *c = NULL;
    for (size_t i = 0; i < d->ncells && !c; i++)
        if (rp_cell_merit(&d->cells[i]))
            c = &d->cells[i];
    assert_non_null(c);
    assert_int_equal(rp_doc_check(d, err, sizeof err), 0);
    c->merit.value *= 2;
    assert_int_equal(rp_doc_check(d, err, sizeof err), RP_ESCHEMA);
    assert_non_null(strstr(err, ".merit.value: does not follow from the repetitions"));
    rp_cell_summarise_merit(c);
    c->merit.direction = 7;
    assert_int_equal(rp_doc_check(d, err, sizeof err), RP_EINVAL);
    rp_doc_free(d);
}

/* udbench/3 was written in two forms before its two sets of fields were one schema: a document
 * with only the failover's (run.hosts, cells[].failover) or only the lockstep engine's
 * (run.lockstep, probes, regime, ratio, merit.paired) reads with the other set at its defaults,
 * and is written as the canonical document with both. */
static void test_v3_halves(void **state) {
    (void)state;
    static const char *const pairs[2][2] = {
        {RP_FIXTURES "/v3-failover-only.json", RP_FIXTURES "/failover.json"},
        {RP_FIXTURES "/v3-lockstep-only.json", RP_FIXTURES "/lockstep.json"},
    };
    for (int i = 0; i < 2; i++) {
        rp_doc *d = read_as(pairs[i][0], pairs[i][1], NULL, NULL);
        assert_int_equal(d->schema_version, 3);
        rp_doc_free(d);
    }
    rp_doc *f = rpt_read_ok(RP_FIXTURES "/v3-failover-only.json");
    assert_false(f->run.lockstep);
    assert_null(f->cells[0].merit.reference);
    rp_doc_free(f);
    rp_doc *l = rpt_read_ok(RP_FIXTURES "/v3-lockstep-only.json");
    assert_true(l->run.lockstep);
    assert_int_equal(l->run.nhosts, 0);
    for (size_t i = 0; i < l->ncells; i++)
        assert_int_equal(l->cells[i].failover.nreps, 0);
    rp_doc_free(l);
}

UT_CMOCKA_MAIN(NULL, NULL, cmocka_unit_test(test_v1_upgrade), cmocka_unit_test(test_merit_checked),
               cmocka_unit_test(test_good_parses), cmocka_unit_test(test_good_round_trip),
               cmocka_unit_test(test_minimal_round_trip), cmocka_unit_test(test_awkward_round_trip),
               cmocka_unit_test(test_write_refuses), cmocka_unit_test(test_extension_fields),
               cmocka_unit_test(test_failover_round_trip), cmocka_unit_test(test_broken),
               cmocka_unit_test(test_lockstep_round_trip), cmocka_unit_test(test_v3_halves),
               cmocka_unit_test(test_short_err_buffer))
