/*
 * plan.c - from a parsed plan (options.c) to the cells: backends, the cells of each scenario, and
 * the loop that runs every cell with progress on stderr.
 */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "lockstep.h"
#include "sc_mpi.h"

int sc_add_backend(sc_backends *bs, const char *label, bool explicit_) {
    sc_backend *v = realloc(bs->v, (bs->n + 1) * sizeof *v);
    if (!v)
        return -ENOMEM;
    bs->v = v;
    sc_backend *b = &v[bs->n++];
    memset(b, 0, sizeof *b);
    snprintf(b->label, sizeof b->label, "%s", label);
    b->explicit_ = explicit_;
    /* A store whose unnamed URI would give every process a private one gets one shared name,
     * the run's own (sc_run_nonce): with the pid alone, a run that reuses the pid of a killed
     * one would attach to the store it left behind. */
    char tag[64];
    snprintf(tag, sizeof tag, "udbench_%d_%08x", (int)getpid(),
             (unsigned)(sc_run_nonce() & 0xffffffffu));
    if (kv_shared_uri(label, tag, b->uri, sizeof b->uri) != 0)
        snprintf(b->uri, sizeof b->uri, "%s", label); /* kv_open() will say what is wrong */
    if (kv_describe_uri(label, &b->desc) != 0) {
        /* Not a URI kv_open() can take: shown without its secrets, and found unreachable. */
        kv_redact_uri(label, b->desc.uri, sizeof b->desc.uri);
        memcpy(b->desc.identity, b->desc.uri, sizeof b->desc.identity);
        b->desc.role = KV_ROLE_STORE;
    }
    return 0;
}

static int make_tmpdir(sc_backends *bs) {
    if (bs->tmpdir[0])
        return 0;
    const char *t = getenv("TMPDIR");
    snprintf(bs->tmpdir, sizeof bs->tmpdir, "%s/udbench-XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(bs->tmpdir)) {
        int e = errno;
        fprintf(stderr, "udbench: cannot create a temporary folder: %s\n", strerror(e));
        bs->tmpdir[0] = '\0';
        return -e;
    }
    return 0;
}

static int add_env_backends(sc_backends *bs) {
    const char *env = getenv("UDBENCH_BACKENDS");
    if (!env)
        return 0;
    char *copy = strdup(env);
    if (!copy)
        return -ENOMEM;
    int rc = 0;
    for (char *save, *tok = strtok_r(copy, " \t\n", &save); tok && !rc;
         tok = strtok_r(NULL, " \t\n", &save))
        rc = sc_add_backend(bs, tok, false);
    free(copy);
    return rc;
}

int sc_default_backends(sc_backends *bs) {
    memset(bs, 0, sizeof *bs);
    int rc = make_tmpdir(bs);
    if (rc)
        return rc;
    /* The default list: the baseline, UltraDict, and the embedded stores in the run's own
     * temporary folder (those with a file name). */
    static const struct {
        const char *scheme, *file;
    } defaults[] = {{"local:", NULL},
                    {"ultradict:", NULL},
                    {"sqlite:", "udbench.sqlite"},
                    {"lmdb:", "udbench.lmdb"}};
    for (size_t i = 0; i < sizeof defaults / sizeof defaults[0] && !rc; i++) {
        char uri[600];
        if (defaults[i].file)
            snprintf(uri, sizeof uri, "%s%s/%s", defaults[i].scheme, bs->tmpdir, defaults[i].file);
        else
            snprintf(uri, sizeof uri, "%s", defaults[i].scheme);
        rc = sc_add_backend(bs, uri, false);
        if (!rc)
            bs->v[bs->n - 1].in_tmpdir = defaults[i].file != NULL;
    }
    if (!rc)
        rc = add_env_backends(bs);
    return rc;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void sc_rmtree(const char *dir) {
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

void sc_backends_free(sc_backends *bs) {
    if (bs->tmpdir[0])
        sc_rmtree(bs->tmpdir);
    free(bs->v);
    memset(bs, 0, sizeof *bs);
}

static int cmp_u64(const void *x, const void *y) {
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return (a > b) - (a < b);
}

/* What one round trip to the backend costs: the median of five writes of a small key, each
 * removed again. A write, because a store may answer a read of a missing key from a cache. */
static double round_trip_ns(kv_conn *kv) {
    enum { N = 5 };
    static const char key[] = "udbench:probe";
    uint64_t d[N];
    for (int i = 0; i < N; i++) {
        uint64_t t0 = sc_now_ns();
        (void)kv_set(kv, key, sizeof key - 1, "1", 1);
        d[i] = sc_now_ns() - t0;
        (void)kv_del(kv, key, sizeof key - 1);
    }
    qsort(d, N, sizeof d[0], cmp_u64);
    const int mid = N / 2;
    return (double)d[mid];
}

void sc_probe(sc_backend *b) {
    kv_conn *kv;
    int rc = kv_open(b->uri, &kv);
    if (rc) {
        b->reachable = false;
        snprintf(b->error, sizeof b->error, "%s", kv_errmsg(NULL));
        return;
    }
    b->reachable = true;
    b->rtt_ns = round_trip_ns(kv);
    b->caps = kv_caps(kv);
    snprintf(b->name, sizeof b->name, "%s", kv_backend_name(kv));
    snprintf(b->version, sizeof b->version, "%s", kv_backend_version(kv));
    kv_close(kv);
}

void sc_plan_free(sc_plan *p) {
    sc_backends_free(&p->backends);
    free(p->scenarios);
    p->scenarios = NULL;
    p->nscenarios = p->cap_scenarios = 0;
}

int sc_plan_backends(sc_plan *p, rp_doc *doc) {
    int status = 0;
    for (size_t i = 0; i < p->backends.n; i++) {
        sc_backend *b = &p->backends.v[i];
        sc_probe(b);
        /* Under MPI each rank probes for itself; a store one rank cannot reach is unreachable for
         * all, so that every rank runs the same cells and their collectives pair up. */
        if (sc_mpi_agree(b->reachable ? 1 : 0) == 0 && b->reachable) {
            b->reachable = false;
            snprintf(b->error, sizeof b->error, "unreachable from another rank");
        }
        rp_backend *rb = rp_doc_add_backend(doc);
        if (!rb)
            return 1;
        const char *shown = b->desc.uri;
        rp_set_string(&rb->uri, shown);
        rp_set_string(&rb->name, b->reachable ? b->name : "");
        rp_set_string(&rb->version, b->reachable ? b->version : "");
        char caps[256] = "";
        if (b->reachable)
            kv_caps_string(b->caps, caps, sizeof caps);
        rp_set_string(&rb->caps, caps);
        rb->reachable = b->reachable;
        rb->local_runtime = b->desc.stand_in;
        if (!b->reachable) {
            rp_set_string(&rb->error, b->error);
            fprintf(stderr, "udbench: %s: unreachable: %s\n", shown, b->error);
            if (b->explicit_)
                status = 1;
        }
    }
    return status;
}

/* ---- the cells ---- */

/* The cells of a run; cells of one group differ only by their backend. */
typedef struct cell_list {
    sc_cell *v;
    size_t n, cap;
    size_t ngroups;
} cell_list;

static int push(cell_list *l, const sc_cell *c) {
    int rc = sc_grow((void **)&l->v, l->n, &l->cap, sizeof *l->v, 64);
    if (rc)
        return rc;
    l->v[l->n++] = *c;
    return 0;
}

/* The parameters of variant v of scenario s: the suite's, with what the entry fixes. */
static sc_params variant_params(const sc_plan *p, const sc_scenario *s, size_t v) {
    sc_params q = p->base;
    if (s->keys)
        q.keys = s->keys;
    if (s->value_size)
        q.value_size = s->value_size;
    if (s->zipf_theta > 0 && q.zipf_theta == 0)
        q.zipf_theta = s->zipf_theta;
    if (s->max_ops && q.ops > s->max_ops)
        q.ops = s->max_ops;
    if (s->max_repeat && !p->repeat_given && q.repeat > s->max_repeat)
        q.repeat = s->max_repeat;
    if (s->vary == SC_VARY_VALUE_SIZE) {
        q.value_size = p->large_sizes[v];
        /* Keep the working set near the suite's size whatever the value size. */
        uint64_t cap = p->large_bytes / (q.value_size ? q.value_size : 1);
        q.keys = q.keys < cap ? q.keys : (cap < 8 ? 8 : cap);
    } else if (s->vary == SC_VARY_ENTRIES) {
        q.entries = p->entries[v];
        q.keys = q.entries;
        q.ops = 0; /* timed one by one for the duration, at least once */
    }
    return q;
}

/* The process counts scenario s runs with, by its rule; returns how many (at most 16). */
static int procs_of(const sc_plan *p, const sc_scenario *s, int *procs) {
    int np = 0;
    if (s->procs == SC_PROCS_ONE) {
        procs[np++] = 1;
    } else if (s->procs == SC_PROCS_TWO_PLUS) {
        for (int i = 0; i < p->nprocs; i++)
            if (p->procs[i] >= 2)
                procs[np++] = p->procs[i];
        if (np == 0)
            procs[np++] = 2;
    } else {
        for (int i = 0; i < p->nprocs; i++)
            procs[np++] = p->procs[i];
    }
    return np;
}

/* Whether backend b is slow for scenario s (its slow_rtt_ns rule). */
static bool is_slow(const sc_scenario *s, const sc_backend *b) {
    return s->slow_rtt_ns > 0 && s->slow_divisor > 1 && b->rtt_ns >= s->slow_rtt_ns;
}

/* Which backends a group holds: all, those that are not slow, or the slow ones with the floor
 * and the baseline (the "x local" reference). */
enum { ALL_BACKENDS, FAST_BACKENDS, SLOW_BACKENDS, SLOW_ONLY };

static bool in_group(const sc_scenario *s, const sc_backend *b, int which) {
    if (which == ALL_BACKENDS)
        return true;
    if (which == FAST_BACKENDS)
        return !is_slow(s, b);
    if (which == SLOW_ONLY)
        return is_slow(s, b);
    return is_slow(s, b) || b->desc.role != KV_ROLE_STORE;
}

/* One group: a cell of scenario s with parameters q for every reachable backend of `which`. */
static int push_group(sc_plan *p, const sc_scenario *s, const sc_params *q, int which,
                      cell_list *out) {
    for (size_t b = 0; b < p->backends.n; b++) {
        sc_backend *be = &p->backends.v[b];
        if (!be->reachable || !in_group(s, be, which))
            continue;
        sc_cell c;
        memset(&c, 0, sizeof c);
        c.scenario = s;
        snprintf(c.uri, sizeof c.uri, "%s", be->uri);
        snprintf(c.label, sizeof c.label, "%s", be->desc.uri);
        c.role = be->desc.role;
        c.caps = be->caps;
        c.p = *q;
        c.timer_overhead_ns = sc_timer_overhead();
        c.group = out->ngroups;
        c.backend_index = (int)b;
        if (push(out, &c))
            return -ENOMEM;
    }
    out->ngroups++;
    return 0;
}

/* Whether a reachable backend is slow for scenario s. */
static bool any_slow(const sc_plan *p, const sc_scenario *s) {
    for (size_t b = 0; b < p->backends.n; b++)
        if (p->backends.v[b].reachable && is_slow(s, &p->backends.v[b]))
            return true;
    return false;
}

/* The groups of one variant and process count: one of every backend, or with a slow rule the
 * fast backends at the variant's entries and the slow ones at a fraction of them. */
static int push_groups(sc_plan *p, const sc_scenario *s, sc_params q, cell_list *out) {
    if (s->vary != SC_VARY_ENTRIES || !any_slow(p, s))
        return push_group(p, s, &q, ALL_BACKENDS, out);
    if (push_group(p, s, &q, FAST_BACKENDS, out))
        return -ENOMEM;
    q.entries = q.entries / s->slow_divisor ? q.entries / s->slow_divisor : 1;
    q.keys = q.entries;
    /* When another variant has these entries, its group has null: and local: already, and the
     * reports put both groups in one section (same parameters). */
    int which = SLOW_BACKENDS;
    for (int v = 0; v < p->nentries; v++)
        if (p->entries[v] == q.entries)
            which = SLOW_ONLY;
    return push_group(p, s, &q, which, out);
}

/* Every cell of one scenario: its variants x processes x backends, by its catalogue entry. */
static int expand(sc_plan *p, const sc_scenario *s, cell_list *out) {
    size_t variants = 1;
    if (s->vary == SC_VARY_VALUE_SIZE)
        variants = (size_t)p->nlarge;
    else if (s->vary == SC_VARY_ENTRIES)
        variants = (size_t)p->nentries;
    for (size_t v = 0; v < variants; v++) {
        sc_params q = variant_params(p, s, v);
        int procs[16];
        int np = procs_of(p, s, procs);
        for (int i = 0; i < np; i++) {
            q.procs = procs[i];
            if (push_groups(p, s, q, out))
                return -ENOMEM;
        }
    }
    return 0;
}

/* A short description of a cell's parameters for the progress line. */
static void cell_title(const sc_cell *c, char *buf, size_t len) {
    int n = snprintf(buf, len, "%s procs=%d", c->scenario->id, c->p.procs);
    if (c->scenario->vary == SC_VARY_ENTRIES)
        n += snprintf(buf + n, len - (size_t)n, " entries=%llu", (unsigned long long)c->p.entries);
    else if (c->scenario->vary == SC_VARY_VALUE_SIZE)
        n += snprintf(buf + n, len - (size_t)n, " value=%zu", c->p.value_size);
    snprintf(buf + n, len - (size_t)n, " %s", c->label);
}

/* The progress line of a finished cell. */
static void report_cell(const sc_cell *c, const rp_cell *out, size_t i, size_t n, double took,
                        bool tty) {
    char title[512], result[700];
    cell_title(c, title, sizeof title);
    if (out->status == RP_STATUS_OK && out->nmetrics > 0)
        snprintf(result, sizeof result, "%.0f %s/s (%.1f s)", out->metrics[0].median,
                 out->metrics[0].op, took);
    else
        snprintf(result, sizeof result, "%s%s (%.1f s)",
                 out->status == RP_STATUS_NA ? "n/a: " : "ERROR: ", out->reason ? out->reason : "",
                 took);
    if (tty && out->status != RP_STATUS_ERROR)
        fprintf(stderr, "\r\033[K[%zu/%zu] %s: %s", i + 1, n, title, result);
    else
        fprintf(stderr, "%s[%zu/%zu] %s: %s\n", tty ? "\r\033[K" : "", i + 1, n, title, result);
}

int sc_cell_describe(const sc_backend *b, rp_cell *out) {
    out->backend_role = RP_ROLE_STORE + b->desc.role; /* KV_ROLE_* + 1 */
    out->stand_in = b->desc.stand_in;
    int rc = rp_set_string(&out->backend_name, b->name);
    return rc ? rc : rp_set_string(&out->backend_id, b->desc.identity);
}

/* Appends the group's n result cells to the document, each with what its backend says about
 * itself. */
static int add_result_cells(const sc_plan *p, rp_doc *doc, const sc_cell *cells, size_t n) {
    for (size_t i = 0; i < n; i++) {
        rp_cell *out = rp_doc_add_cell(doc);
        if (!out || sc_cell_describe(&p->backends.v[cells[i].backend_index], out))
            return -ENOMEM;
    }
    return 0;
}

/* The figure of the floor's cell of a group: the p50 of its figure of merit's operation, or -1.0
 * (unknown: a value, not an error code). */
static double null_floor(const sc_cell *c, const rp_cell *out) {
    if (c->role != KV_ROLE_FLOOR || !rp_cell_merit(out))
        return -1.0;
    for (size_t o = 0; o < out->nmetrics; o++)
        if (!strcmp(out->metrics[o].op, out->merit.metric) && out->metrics[o].has_latency)
            return out->metrics[o].latency.p50;
    return -1.0;
}

/* What running one group needs besides its cells. */
typedef struct group_run {
    sc_cell_state *st;
    size_t *order;
    double *took; /* seconds each cell ran, over all rounds */
} group_run;

static void group_run_free(group_run *g) {
    free(g->st);
    free(g->order);
    free(g->took);
}

/* The rounds: round r runs every cell once, in an order shuffled per round from the seed. */
static void run_rounds(const sc_plan *p, rp_doc *doc, sc_cell *cells, size_t n, size_t base,
                       group_run *g, volatile sig_atomic_t *stop) {
    sc_rng rng;
    sc_rng_seed(&rng, p->base.seed ^ sc_mix64(0x726f756e64ull + cells[0].group));
    for (int r = 0; r < cells[0].p.repeat && !*stop; r++) {
        sc_rng_shuffle(&rng, g->order, n);
        for (size_t k = 0; k < n && !*stop; k++) {
            size_t i = g->order[k];
            uint64_t t0 = sc_now_ns();
            sc_cell_round(&cells[i], &doc->cells[base + i], &g->st[i], r, (int)k, stop);
            g->took[i] += (double)(sc_now_ns() - t0) / 1e9;
        }
    }
}

/*
 * Runs one group of cells (same scenario and parameters, one per backend) in interleaved
 * rounds, then puts the harness floor (the null: cell's figure) and the cost of one value copy
 * into every cell of the group.
 */
static int run_group(sc_plan *p, rp_doc *doc, sc_cell *cells, size_t n, size_t first_index,
                     size_t total, volatile sig_atomic_t *stop, bool tty) {
    size_t base = doc->ncells;
    group_run g = {calloc(n, sizeof *g.st), calloc(n, sizeof *g.order), calloc(n, sizeof *g.took)};
    if (!g.st || !g.order || !g.took || add_result_cells(p, doc, cells, n)) {
        group_run_free(&g);
        return -ENOMEM;
    }
    if (tty) {
        char title[512];
        cell_title(&cells[0], title, sizeof title);
        fprintf(stderr, "\r\033[K[%zu/%zu] %s ...", first_index + 1, total, title);
    }
    for (size_t i = 0; i < n; i++)
        sc_cell_begin(&cells[i], &doc->cells[base + i], &g.st[i]);
    bool lockstep = cells[0].p.lockstep && !cells[0].scenario->outside_lockstep;
    if (lockstep)
        sc_lockstep_run(cells, &doc->cells[base], g.st, n,
                        p->base.seed ^ sc_mix64(0x726f756e64ull + cells[0].group), g.took, stop);
    else
        run_rounds(p, doc, cells, n, base, &g, stop);
    int status = 0;
    double floor = -1;
    for (size_t i = 0; i < n; i++) {
        rp_cell *out = &doc->cells[base + i];
        if (*stop && !g.st[i].done && out->status != RP_STATUS_NA) {
            sc__set_error(out, RP_STATUS_ERROR, "interrupted");
            g.st[i].rc = -EINTR;
        }
        sc_cell_end(&cells[i], out, doc, &g.st[i]);
    }
    if (lockstep)
        sc_pair_ratios(cells, &doc->cells[base], n);
    for (size_t i = 0; i < n; i++) {
        rp_cell *out = &doc->cells[base + i];
        if (out->status == RP_STATUS_ERROR)
            status = 1;
        double f = null_floor(&cells[i], out);
        if (f >= 0)
            floor = f;
        report_cell(&cells[i], out, first_index + i, total, g.took[i], tty);
    }
    double copy =
        cells[0].scenario->payload == SC_PAYLOAD_VALUE ? sc_copy_ns(cells[0].p.value_size) : -1;
    for (size_t i = 0; i < n; i++) {
        doc->cells[base + i].harness_floor_ns = floor;
        doc->cells[base + i].value_copy_ns = copy;
    }
    group_run_free(&g);
    return status;
}

int sc_plan_cells(sc_plan *p, sc_cell **cells, size_t *n) {
    cell_list l = {0};
    for (int i = 0; i < p->nscenarios; i++) {
        if (expand(p, sc_find_scenario(p->scenarios[i]), &l)) {
            free(l.v);
            return -ENOMEM;
        }
    }
    *cells = l.v;
    *n = l.n;
    return 0;
}

int sc_plan_execute(sc_plan *p, rp_doc *doc, volatile sig_atomic_t *stop) {
    cell_list cells = {0};
    for (int i = 0; i < p->nscenarios; i++) {
        if (expand(p, sc_find_scenario(p->scenarios[i]), &cells)) {
            free(cells.v);
            fprintf(stderr, "udbench: out of memory\n");
            return 1;
        }
    }
    bool tty = isatty(STDERR_FILENO);
    int status = 0;
    size_t done = 0;
    for (size_t i = 0; i < cells.n && !*stop;) {
        size_t j = i;
        while (j < cells.n && cells.v[j].group == cells.v[i].group)
            j++;
        int rc = run_group(p, doc, &cells.v[i], j - i, i, cells.n, stop, tty);
        if (rc < 0) {
            fprintf(stderr, "udbench: out of memory\n");
            status = 1;
            break;
        }
        if (rc)
            status = 1;
        done += j - i;
        i = j;
    }
    if (tty)
        fprintf(stderr, "\r\033[K%zu of %zu cells ran\n", done, cells.n);
    free(cells.v);
    return status;
}
