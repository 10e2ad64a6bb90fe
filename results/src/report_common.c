/*
 * report_common.c - what every report shares: the ranking (ok cells grouped by scenario,
 * parameters and operation, fastest first), the labels of backends and groups, and
 * rp_report() itself (numbers are formatted in report_format.c).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

const rp_backend *rp__find_backend(const rp_doc *d, const char *uri) {
    if (!uri)
        return NULL;
    for (size_t i = 0; i < d->nbackends; i++)
        if (d->backends[i].uri && strcmp(d->backends[i].uri, uri) == 0)
            return &d->backends[i];
    return NULL;
}

double rp__factor(const rp__group *g, double best, double value) {
    return g->direction == RP_LOWER_IS_BETTER ? value / best : best / value;
}

const char *rp__fmt_value(rp__num *buf, const rp__group *g, double v) {
    if (g->figure == RP_FIGURE_P50_NS)
        return rp__fmt_ns(buf, v);
    if (g->figure == RP_FIGURE_LOST) {
        snprintf(buf->s, sizeof buf->s, "%.15g lost", v);
        return buf->s;
    }
    if (g->figure == RP_FIGURE_BYTES_SEC) {
        static const char *const units[] = {"B/s", "KB/s", "MB/s", "GB/s", "TB/s"};
        int u = 0;
        while (u < 4 && v >= 1000) {
            v /= 1000;
            u++;
        }
        snprintf(buf->s, sizeof buf->s, "%.3g %s", v, units[u]);
        return buf->s;
    }
    return rp__fmt_ops(buf, v);
}

uint64_t rp__metric_errors(const rp_metric *m) {
    uint64_t n = 0;
    for (size_t i = 0; i < m->nreps; i++)
        n += m->reps[i].errors;
    return n;
}

/* Labels and titles hold document text: each is made safe where it is made (takes s). */
static char *safe_text(char *s) {
    char *safe = rp__safe_dup(s);
    free(s);
    return safe;
}

/*
 * Two configurations of one backend (ultradict with a mutex and with a spin lock) share a
 * name; the URI is what tells them apart, so it is added only then, keeping the common case
 * short.
 */
char *rp__backend_label(const rp_doc *d, const rp_cell *c) {
    const rp_backend *b = rp__find_backend(d, c->backend);
    const char *name = rp__or(c->backend_name, rp__or(b ? b->name : NULL, rp__or(c->backend, "?")));
    size_t same = 0;
    for (size_t i = 0; i < d->nbackends; i++)
        if (d->backends[i].name && strcmp(d->backends[i].name, name) == 0)
            same++;
    char *s = NULL;
    int n = same > 1 && c->backend ? asprintf(&s, "%s (%s)", name, c->backend)
                                   : asprintf(&s, "%s", name);
    return n < 0 ? NULL : safe_text(s);
}

static bool all_digits(const char *s) {
    if (!s || !*s)
        return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n > m && strcmp(s + n - m, suffix) == 0;
}

/* Writes one parameter: sizes ("value_size" = "65536") read better as "value=64 KiB". */
static void param_text(FILE *f, const rp_param *p) {
    const char *key = rp__or(p->key, "?"), *val = rp__or(p->value, "");
    const char *suffix = ends_with(key, "_size")    ? "_size"
                         : ends_with(key, "_bytes") ? "_bytes"
                                                    : NULL;
    if (suffix && all_digits(val)) {
        unsigned long long v = strtoull(val, NULL, 10);
        static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
        int u = 0;
        while (u < 4 && v >= 1024 && v % 1024 == 0) {
            v /= 1024;
            u++;
        }
        fprintf(f, "%.*s=%llu %s", (int)(strlen(key) - strlen(suffix)), key, v, units[u]);
        return;
    }
    fprintf(f, "%s=%s", key, val);
}

/*
 * Parameters that say how long or how often a cell was measured, or that hold a default
 * (a uniform distribution, primitive "auto"), rather than what it measured: titles leave them out
 * (the CSV and the JSON keep them), unless they are what tells two cells apart.
 */
static bool quiet_param(const rp_param *p) {
    static const char *const quiet[] = {"ops", "duration_s", "repeat", "seed"};
    if (!p->key)
        return false;
    for (size_t i = 0; i < sizeof quiet / sizeof quiet[0]; i++)
        if (strcmp(p->key, quiet[i]) == 0)
            return true;
    /* Defaults: a uniform key distribution, the backend's own choice of primitive. */
    if (!p->value)
        return false;
    return (strcmp(p->key, "distribution") == 0 && strcmp(p->value, "uniform") == 0) ||
           (strcmp(p->key, "primitive") == 0 && strcmp(p->value, "auto") == 0);
}

char *rp__params_text(const rp_cell *c, bool full) {
    char *s = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&s, &n);
    if (!f)
        return NULL;
    bool first = true;
    for (size_t i = 0; i < c->nparams; i++) {
        if (!full && quiet_param(&c->params[i]))
            continue;
        if (!first)
            fputs(", ", f);
        first = false;
        param_text(f, &c->params[i]);
    }
    if (fclose(f) != 0) {
        free(s);
        return NULL;
    }
    return safe_text(s);
}

char *rp__group_title(const rp_cell *c, const char *op, bool full) {
    char *params = rp__params_text(c, full), *s = NULL;
    if (!params)
        return NULL;
    const char *scenario = rp__or(c->scenario, "?");
    int n;
    if (!op || strcmp(op, scenario) == 0)
        n = asprintf(&s, "%s%s%s%s", scenario, *params ? " (" : "", params, *params ? ")" : "");
    else
        n = asprintf(&s, "%s %s%s%s%s", scenario, op, *params ? " (" : "", params,
                     *params ? ")" : "");
    free(params);
    return n < 0 ? NULL : safe_text(s);
}

/* Failover cells that lost as many writes are ranked by their window: the shorter first. */
static int window_cmp(const rp__row *a, const rp__row *b) {
    if (!a->cell->failover.nreps || !b->cell->failover.nreps)
        return 0;
    double ma, xa, mb, xb;
    rp_failover_window(a->cell, &ma, &xa);
    rp_failover_window(b->cell, &mb, &xb);
    return (ma > mb) - (ma < mb);
}

static int row_cmp(const void *pa, const void *pb) {
    const rp__row *a = pa, *b = pb;
    /* Paired rows rank by their paired ratio, the figure the lockstep rounds support. */
    double va = a->paired && b->paired ? a->ratio : a->value;
    double vb = a->paired && b->paired ? b->ratio : b->value;
    if (va == vb && window_cmp(a, b))
        return window_cmp(a, b);
    if (va != vb) {
        bool a_first = va > vb;
        if (a->metric && a->cell->merit.metric && a->cell->merit.direction == RP_LOWER_IS_BETTER &&
            strcmp(a->cell->merit.metric, a->metric->op) == 0)
            a_first = !a_first;
        return a_first ? -1 : 1;
    }
    int c = strcmp(a->label, b->label);
    return c ? c : strcmp(rp__or(a->cell->backend, ""), rp__or(b->cell->backend, ""));
}

void rp__ranking_free(rp__ranking *r) {
    if (!r)
        return;
    for (size_t i = 0; i < r->ngroups; i++) {
        free(r->groups[i].title);
        free(r->groups[i].rows);
    }
    free(r->groups);
    for (size_t i = 0; i < r->nlabels; i++) {
        free(r->labels ? r->labels[i] : NULL);
        free(r->titles ? r->titles[i] : NULL);
    }
    free(r->labels);
    free(r->titles);
    free(r->full);
    rp__kidx_free(&r->floors);
    memset(r, 0, sizeof *r);
}

/* A new group for metric op of cell c (the first of its scenario, parameters and op). */
static rp__group *new_group(rp__ranking *r, const rp_cell *c, const char *op) {
    rp__group *g = rp__array_push((void **)&r->groups, &r->ngroups, sizeof *g);
    if (!g)
        return NULL;
    g->scenario = c->scenario;
    g->op = op;
    g->first = c;
    g->merit = c->merit.metric && op && strcmp(c->merit.metric, op) == 0;
    g->figure = g->merit ? c->merit.figure : RP_FIGURE_OPS;
    g->direction = g->merit ? c->merit.direction : RP_HIGHER_IS_BETTER;
    g->floor_ns = -1;
    g->copy_ns = c->value_copy_ns;
    g->title = rp__group_title(c, op, r->full[c - r->cells]);
    if (!g->title) {
        r->ngroups--;
        return NULL;
    }
    return g;
}

static bool ok_null_cell(const rp_cell *c) {
    return c->status == RP_STATUS_OK && rp_cell_role(c) == RP_ROLE_FLOOR;
}

int rp__floor_index(const rp_doc *d, rp__kidx *x) {
    memset(x, 0, sizeof *x);
    for (size_t i = 0; i < d->ncells; i++) {
        const rp_cell *n = &d->cells[i];
        for (size_t j = 0; ok_null_cell(n) && j < n->nmetrics; j++) {
            if (!n->metrics[j].has_latency)
                continue;
            size_t len = 0;
            char *key = rp__cell_key(n, RP__KEY_OP, n->metrics[j].op, NULL, &len);
            if (rp__kidx_add(x, key, len, i, j)) {
                rp__kidx_free(x);
                return -ENOMEM;
            }
        }
    }
    rp__kidx_sort(x);
    return 0;
}

/* The harness floor of a section: the null: cell of the same scenario and parameters, p50 of
 * the same operation (the first such cell, through floors: rp__floor_index()); else what the
 * cell recorded for its figure of merit; < 0 unknown. */
double rp__section_floor(const rp_doc *d, const rp__kidx *floors, const rp_cell *c, const char *op,
                         bool merit) {
    size_t len = 0;
    char *key = rp__cell_key(c, RP__KEY_OP, op, NULL, &len);
    const rp__kent *e = key ? rp__kidx_find(floors, key, len) : NULL;
    free(key);
    if (e)
        return d->cells[e->pos].metrics[e->sub].latency.p50;
    return merit ? c->harness_floor_ns : -1;
}

/* In an index sorted by key, the number of each entry's run of equal keys, by entry. */
static size_t *run_numbers(const rp__kidx *x) {
    size_t *run = malloc((x->n ? x->n : 1) * sizeof *run), k = 0;
    for (size_t i = 0; run && i < x->n; i++) {
        if (i && !rp__kent_same(&x->e[i - 1], &x->e[i]))
            k++;
        run[i] = k;
    }
    return run;
}

/* Marks full[i] for each cell whose short title another cell of its scenario with other
 * parameters shares: the cells sorted by (scenario, short title), and within each run of equal
 * titles, whether the cells' parameters (their run in an index by parameters) differ. */
static int mark_full_titles(const rp_doc *d, rp__ranking *r) {
    rp__kidx by_title = {0}, by_params = {0};
    int rc = 0;
    for (size_t i = 0; i < d->ncells && !rc; i++) {
        const rp_cell *c = &d->cells[i];
        char *key = NULL;
        int n = asprintf(&key, "%zu:%s%s", strlen(rp__or(c->scenario, "")), rp__or(c->scenario, ""),
                         r->titles[i]);
        rc = rp__kidx_add(&by_title, n < 0 ? NULL : key, n < 0 ? 0 : (size_t)n, i, 0);
        size_t len = 0;
        rc = rc ? rc : rp__kidx_add(&by_params, rp__cell_key(c, 0, NULL, NULL, &len), len, i, 0);
    }
    rp__kidx_sort(&by_title);
    rp__kidx_sort(&by_params);
    size_t *prun = rc ? NULL : run_numbers(&by_params), *cls = NULL;
    if (prun)
        cls = malloc((d->ncells ? d->ncells : 1) * sizeof *cls);
    for (size_t i = 0; cls && i < by_params.n; i++)
        cls[by_params.e[i].pos] = prun[i];
    for (size_t a = 0, b; cls && a < by_title.n; a = b) {
        bool differ = false;
        for (b = a + 1; b < by_title.n && rp__kent_same(&by_title.e[a], &by_title.e[b]); b++)
            differ = differ || cls[by_title.e[b].pos] != cls[by_title.e[a].pos];
        for (size_t k = a; differ && k < b; k++)
            r->full[by_title.e[k].pos] = true;
    }
    if (!rc && !cls)
        rc = -ENOMEM;
    free(prun);
    free(cls);
    rp__kidx_free(&by_title);
    rp__kidx_free(&by_params);
    return rc;
}

/* The labels and short titles of every cell; the full parameters where a short title would
 * be shared by two different cells of a scenario. */
static int ranking_titles(const rp_doc *d, rp__ranking *r) {
    for (size_t i = 0; i < d->ncells; i++) {
        r->labels[i] = rp__backend_label(d, &d->cells[i]);
        r->titles[i] = rp__group_title(&d->cells[i], NULL, false);
        if (!r->labels[i] || !r->titles[i])
            return -ENOMEM;
    }
    if (mark_full_titles(d, r))
        return -ENOMEM;
    for (size_t i = 0; i < d->ncells; i++) {
        if (!r->full[i])
            continue;
        free(r->titles[i]);
        r->titles[i] = rp__group_title(&d->cells[i], NULL, true);
        if (!r->titles[i])
            return -ENOMEM;
    }
    return 0;
}

/* A row's value and interval: the figure of merit in its own section, else the median. */
static void row_value(rp__row *row, const rp__group *g) {
    const rp_cell *c = row->cell;
    if (g->merit) {
        row->value = c->merit.value;
        row->ci_low = c->merit.ci_level > 0 ? c->merit.ci_low : row->value;
        row->ci_high = c->merit.ci_level > 0 ? c->merit.ci_high : row->value;
    } else {
        row->value = row->metric->median;
        row->ci_low = row->metric->ci_level > 0 ? row->metric->ci_low : row->value;
        row->ci_high = row->metric->ci_level > 0 ? row->metric->ci_high : row->value;
    }
    rp__row_paired(row, g);
}

static bool ranked_cell(const rp_cell *c) {
    return c->status == RP_STATUS_OK && rp_cell_role(c) != RP_ROLE_FLOOR;
}

/* Adds the row of metric j of cell i to group g. */
static int add_row(const rp_doc *d, rp__ranking *r, rp__group *g, size_t i, size_t j) {
    const rp_cell *c = &d->cells[i];
    if (g->floor_ns < 0)
        g->floor_ns = rp__section_floor(d, &r->floors, c, c->metrics[j].op, g->merit);
    rp__row *row = rp__array_push((void **)&g->rows, &g->nrows, sizeof *row);
    if (!row)
        return -ENOMEM;
    row->cell = c;
    row->metric = &c->metrics[j];
    row->backend = rp__find_backend(d, c->backend);
    row->label = r->labels[i];
    row_value(row, g);
    return 0;
}

/* For the index x of the ranked metrics: first[i], the number of ranked metrics before cell i
 * in document order, and run_of[first[i] + j], the run of equal keys metric j of cell i is in. */
static int metric_runs(const rp_doc *d, const rp__kidx *x, size_t *first, size_t *run_of) {
    size_t *run = run_numbers(x);
    if (!run)
        return -ENOMEM;
    for (size_t i = 0; i < d->ncells; i++)
        first[i + 1] = first[i] + (ranked_cell(&d->cells[i]) ? d->cells[i].nmetrics : 0);
    for (size_t k = 0; k < x->n; k++)
        run_of[first[x->e[k].pos] + x->e[k].sub] = run[k];
    free(run);
    return 0;
}

/* One row per measured metric of every cell that ran (null: is the floor, not a row), in
 * groups by (scenario, parameters, op) in the order the groups first appear: the metrics
 * sorted by that key give each its group's number, then a walk in document order makes the
 * groups. */
static int ranking_rows(const rp_doc *d, rp__ranking *r) {
    rp__kidx x;
    if (rp__metric_index(d, 0, NULL, ranked_cell, &x))
        return -ENOMEM;
    size_t *first = calloc(d->ncells + 1, sizeof *first);
    size_t *run_of = malloc((x.n ? x.n : 1) * sizeof *run_of);
    size_t *group_of = malloc((x.n ? x.n : 1) * sizeof *group_of);
    int rc = first && run_of && group_of ? metric_runs(d, &x, first, run_of) : -ENOMEM;
    for (size_t k = 0; !rc && k < x.n; k++)
        group_of[k] = SIZE_MAX;
    for (size_t i = 0; !rc && i < d->ncells; i++) {
        const rp_cell *c = &d->cells[i];
        for (size_t j = 0; ranked_cell(c) && j < c->nmetrics && !rc; j++) {
            size_t *gi = &group_of[run_of[first[i] + j]];
            if (*gi == SIZE_MAX) {
                rc = new_group(r, c, c->metrics[j].op) ? 0 : -ENOMEM;
                *gi = r->ngroups - 1;
            }
            rc = rc ? rc : add_row(d, r, &r->groups[*gi], i, j);
        }
    }
    free(first);
    free(run_of);
    free(group_of);
    rp__kidx_free(&x);
    return rc;
}

/* Sorts a section, finds its best and local: figures, and marks the rows that cannot be told
 * apart from the row above (their intervals overlap). */
static void ranking_order(rp__group *g) {
    qsort(g->rows, g->nrows, sizeof *g->rows, row_cmp);
    g->fastest = g->nrows ? g->rows[0].value : 0;
    for (size_t j = 0; j < g->nrows; j++) {
        if (rp_cell_role(g->rows[j].cell) == RP_ROLE_BASELINE) {
            g->local = g->rows[j].value;
            break;
        }
    }
    for (size_t j = 1; j < g->nrows; j++) {
        const rp__row *up = &g->rows[j - 1];
        rp__row *row = &g->rows[j];
        row->tied = row->ci_low <= up->ci_high && up->ci_low <= row->ci_high &&
                    (row->ci_low != row->ci_high || up->ci_low != up->ci_high);
        /* Paired rows are told apart by their paired intervals, which the machine's changes
         * between batches do not widen. */
        if (row->paired && up->paired)
            row->tied = rp__paired_tied(row, up);
    }
}

/* Whether a null: cell ran in a scenario whose other cells have a correctness verdict: the
 * scenarios with a verdict sorted, then one search per null: cell. */
bool rp__null_beside_verdicts(const rp_doc *d) {
    rp__kidx x = {0};
    bool found = false, failed = false;
    for (size_t i = 0; i < d->ncells && !failed; i++) {
        const char *s = d->cells[i].scenario;
        if (d->cells[i].correctness.present && s)
            failed = rp__kidx_add(&x, strdup(s), strlen(s), i, 0) != 0;
    }
    rp__kidx_sort(&x);
    for (size_t i = 0; i < d->ncells && !found && !failed; i++) {
        const rp_cell *n = &d->cells[i];
        found =
            ok_null_cell(n) && n->scenario && rp__kidx_find(&x, n->scenario, strlen(n->scenario));
    }
    rp__kidx_free(&x);
    return found;
}

int rp__ranking_build(const rp_doc *d, rp__ranking *r) {
    memset(r, 0, sizeof *r);
    r->cells = d->cells;
    size_t n = d->ncells ? d->ncells : 1;
    r->labels = calloc(n, sizeof *r->labels);
    r->titles = calloc(n, sizeof *r->titles);
    r->full = calloc(n, sizeof *r->full);
    /* The arrays are zeroed: from here on, freeing every slot is right whatever fails. */
    if (r->labels && r->titles && r->full)
        r->nlabels = d->ncells;
    if (!r->labels || !r->titles || !r->full || rp__floor_index(d, &r->floors) ||
        ranking_titles(d, r) || ranking_rows(d, r)) {
        rp__ranking_free(r);
        return -ENOMEM;
    }
    for (size_t i = 0; i < r->ngroups; i++)
        ranking_order(&r->groups[i]);
    return 0;
}

int rp_report(const rp_doc *d, int format, FILE *f) {
    static int (*const writers[])(const rp_doc *, FILE *) = {
        [RP_FORMAT_TEXT] = rp__report_text,
        [RP_FORMAT_MD] = rp__report_md,
        [RP_FORMAT_CSV] = rp__report_csv,
        [RP_FORMAT_SVG] = rp__report_svg,
    };
    if (!d || !f)
        return RP_EINVAL;
    if (format < 0 || (size_t)format >= sizeof writers / sizeof writers[0] || !writers[format])
        return RP_EFORMAT;
    errno = 0;
    int rc = writers[format](d, f);
    if (!rc && (fflush(f) != 0 || ferror(f)))
        rc = errno ? -errno : -EIO;
    return rc;
}
