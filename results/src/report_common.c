/*
 * report_common.c - what every report shares: the ranking (ok cells grouped by scenario,
 * parameters and operation, fastest first), the labels of backends and groups, number
 * formatting, and rp_report() itself.
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

bool rp__is_local(const char *uri) {
    return uri && strncmp(uri, "local:", 6) == 0;
}

bool rp__is_null(const char *uri) {
    return uri && strncmp(uri, "null:", 5) == 0;
}

double rp__factor(const rp__group *g, double best, double value) {
    return g->direction == RP_LOWER_IS_BETTER ? value / best : best / value;
}

const char *rp__fmt_value(rp__num *buf, const rp__group *g, double v) {
    if (g->figure == RP_FIGURE_P50_NS)
        return rp__fmt_ns(buf, v);
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
    return n < 0 ? NULL : s;
}

static bool same_str(const char *a, const char *b) {
    return a && b ? strcmp(a, b) == 0 : a == b;
}

/* The same parameters, whatever their order. */
static bool same_params(const rp_cell *a, const rp_cell *b) {
    if (a->nparams != b->nparams)
        return false;
    for (size_t i = 0; i < a->nparams; i++)
        if (!same_str(rp_cell_param(b, a->params[i].key), a->params[i].value))
            return false;
    return true;
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
    return s;
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
    return n < 0 ? NULL : s;
}

static int row_cmp(const void *pa, const void *pb) {
    const rp__row *a = pa, *b = pb;
    /* Paired rows rank by their paired ratio, the figure the lockstep rounds support. */
    double va = a->paired && b->paired ? a->ratio : a->value;
    double vb = a->paired && b->paired ? b->ratio : b->value;
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
    memset(r, 0, sizeof *r);
}

static rp__group *find_group(rp__ranking *r, const rp_cell *c, const char *op) {
    for (size_t i = 0; i < r->ngroups; i++) {
        rp__group *g = &r->groups[i];
        if (same_str(g->scenario, c->scenario) && same_str(g->op, op) && same_params(g->first, c))
            return g;
    }
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

/* The harness floor of a section: the null: cell of the same scenario and parameters, p50 of
 * the same operation; else what the cell recorded for its figure of merit; < 0 unknown. */
double rp__section_floor(const rp_doc *d, const rp_cell *c, const char *op, bool merit) {
    for (size_t i = 0; i < d->ncells; i++) {
        const rp_cell *n = &d->cells[i];
        if (n->status != RP_STATUS_OK || !rp__is_null(n->backend) ||
            !same_str(n->scenario, c->scenario) || !same_params(n, c))
            continue;
        for (size_t j = 0; j < n->nmetrics; j++)
            if (same_str(n->metrics[j].op, op) && n->metrics[j].has_latency)
                return n->metrics[j].latency.p50;
    }
    return merit ? c->harness_floor_ns : -1;
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
    for (size_t i = 0; i < d->ncells; i++) {
        for (size_t j = 0; j < d->ncells && !r->full[i]; j++) {
            const rp_cell *a = &d->cells[i], *b = &d->cells[j];
            if (i != j && same_str(a->scenario, b->scenario) && !same_params(a, b) &&
                strcmp(r->titles[i], r->titles[j]) == 0)
                r->full[i] = true;
        }
    }
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

/* One row per measured metric of every cell that ran (null: is the floor, not a row). */
static int ranking_rows(const rp_doc *d, rp__ranking *r) {
    for (size_t i = 0; i < d->ncells; i++) {
        const rp_cell *c = &d->cells[i];
        if (c->status != RP_STATUS_OK || rp__is_null(c->backend))
            continue;
        for (size_t j = 0; j < c->nmetrics; j++) {
            rp__group *g = find_group(r, c, c->metrics[j].op);
            if (!g)
                return -ENOMEM;
            if (g->floor_ns < 0)
                g->floor_ns = rp__section_floor(d, c, c->metrics[j].op, g->merit);
            rp__row *row = rp__array_push((void **)&g->rows, &g->nrows, sizeof *row);
            if (!row)
                return -ENOMEM;
            row->cell = c;
            row->metric = &c->metrics[j];
            row->backend = rp__find_backend(d, c->backend);
            row->label = r->labels[i];
            row_value(row, g);
        }
    }
    return 0;
}

/* Sorts a section, finds its best and local: figures, and marks the rows that cannot be told
 * apart from the row above (their intervals overlap). */
static void ranking_order(rp__group *g) {
    qsort(g->rows, g->nrows, sizeof *g->rows, row_cmp);
    g->fastest = g->nrows ? g->rows[0].value : 0;
    for (size_t j = 0; j < g->nrows; j++) {
        if (rp__is_local(g->rows[j].cell->backend)) {
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

/* Whether a null: cell ran in a scenario whose other cells have a correctness verdict. */
bool rp__null_beside_verdicts(const rp_doc *d) {
    for (size_t i = 0; i < d->ncells; i++) {
        const rp_cell *n = &d->cells[i];
        if (n->status != RP_STATUS_OK || !rp__is_null(n->backend))
            continue;
        for (size_t j = 0; j < d->ncells; j++)
            if (d->cells[j].correctness.present && n->scenario && d->cells[j].scenario &&
                strcmp(n->scenario, d->cells[j].scenario) == 0)
                return true;
    }
    return false;
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
    if (!r->labels || !r->titles || !r->full || ranking_titles(d, r) || ranking_rows(d, r)) {
        rp__ranking_free(r);
        return -ENOMEM;
    }
    for (size_t i = 0; i < r->ngroups; i++)
        ranking_order(&r->groups[i]);
    return 0;
}

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

int rp_report(const rp_doc *d, int format, FILE *f) {
    if (!d || !f)
        return RP_EINVAL;
    int rc;
    errno = 0;
    switch (format) {
    case RP_FORMAT_TEXT:
        rc = rp__report_text(d, f);
        break;
    case RP_FORMAT_MD:
        rc = rp__report_md(d, f);
        break;
    case RP_FORMAT_CSV:
        rc = rp__report_csv(d, f);
        break;
    case RP_FORMAT_SVG:
        rc = rp__report_svg(d, f);
        break;
    default:
        return RP_EFORMAT;
    }
    if (!rc && (fflush(f) != 0 || ferror(f)))
        rc = errno ? -errno : -EIO;
    return rc;
}
