/*
 * merit.c - what a figure of merit is: its name in a results document, its key and unit in a
 * compare document, its direction; and which figure a comparison uses for an operation. The
 * figure comes from the document (the catalogue's entry, recorded in every cell since
 * udbench/2); the table of older documents' figures below is the only place in results that
 * knows a scenario by name.
 */
#include <math.h>
#include <string.h>

#include "internal.h"
#include "rp_compare.h"

/* Per RP_FIGURE_*: the name in a results document (NULL: not a figure of a cell), the key of
 * a compare document's "merit" field, and the unit. */
static const struct figure {
    const char *name, *key, *unit;
} figures[] = {
    [RP_FIGURE_OPS] = {"ops/s", "ops_per_sec", "ops/s"},
    [RP_FIGURE_P50_NS] = {"p50 ns", "latency_p50", "ns"},
    [RP_FIGURE_BYTES_SEC] = {"bytes/s", "bytes_per_sec", "bytes/s"},
    [RP_FIGURE_LOST] = {"lost writes", "lost_writes", "writes"},
    [RP_FIGURE_INSTRUCTIONS] = {NULL, "instructions", "instr/op"},
};
#define NFIGURES (sizeof figures / sizeof figures[0])

static const struct figure *figure_of(int figure) {
    return figure >= 0 && (size_t)figure < NFIGURES ? &figures[figure] : NULL;
}

const char *rp_figure_name(int figure) {
    const struct figure *f = figure_of(figure);
    return f ? f->name : NULL;
}

int rp_figure_parse(const char *name) {
    for (size_t f = 0; name && f < NFIGURES; f++)
        if (figures[f].name && strcmp(name, figures[f].name) == 0)
            return (int)f;
    return RP_EINVAL;
}

const char *rp_figure_key(int figure) {
    const struct figure *f = figure_of(figure);
    return f ? f->key : NULL;
}

int rp_figure_parse_key(const char *key) {
    for (size_t f = 0; key && f < NFIGURES; f++)
        if (strcmp(key, figures[f].key) == 0)
            return (int)f;
    return RP_EINVAL;
}

const char *rp_figure_unit(int figure) {
    const struct figure *f = figure_of(figure);
    return f ? f->unit : NULL;
}

const char *rp_direction_name(int direction) {
    return direction == RP_HIGHER_IS_BETTER  ? "higher"
           : direction == RP_LOWER_IS_BETTER ? "lower"
                                             : NULL;
}

const char *rp_merit_unit(const rp_merit *m) {
    const char *u = rp_figure_unit(m->figure);
    return u ? u : "";
}

/*
 * Documents that do not name a figure for an operation (udbench/1, whose cells read as ops/s of
 * their first metric; another operation of a cell; a compare document without "merit") get the
 * figure their scenario had in the catalogue when it first named one, and the gate's
 * instruction channel ("count") its own. Every other operation is a throughput.
 */
static const struct fallback {
    const char *scenario, *op; /* op NULL: every operation of the scenario */
    int figure, direction;
} fallbacks[] = {
    {"count", NULL, RP_FIGURE_INSTRUCTIONS, RP_LOWER_IS_BETTER},
    {"visibility", "visible", RP_FIGURE_P50_NS, RP_LOWER_IS_BETTER},
};

static rp_merit merit_for(int figure, int direction) {
    return (rp_merit){.figure = figure, .direction = direction};
}

rp_merit rp_merit_of(const char *scenario, const char *op) {
    for (size_t i = 0; scenario && i < sizeof fallbacks / sizeof fallbacks[0]; i++) {
        const struct fallback *f = &fallbacks[i];
        if (!strcmp(scenario, f->scenario) && (!f->op || (op && !strcmp(op, f->op))))
            return merit_for(f->figure, f->direction);
    }
    return merit_for(RP_FIGURE_OPS, RP_HIGHER_IS_BETTER);
}

rp_merit rp_cmp_merit_of_cell(const rp_cell *c, const char *op) {
    /* The document's figure when it names one for this operation: a latency as itself, a
     * throughput (bytes/s is ops/s times a fixed payload: the same ratios) as ops/s. */
    if (c->merit.metric && op && !strcmp(c->merit.metric, op)) {
        if (c->merit.figure == RP_FIGURE_P50_NS)
            return merit_for(RP_FIGURE_P50_NS, c->merit.direction);
        if (c->merit.direction == RP_HIGHER_IS_BETTER)
            return merit_for(RP_FIGURE_OPS, RP_HIGHER_IS_BETTER);
    }
    return rp_merit_of(c->scenario, op);
}

double rp_merit_value(const rp_merit *m, const rp_metric *metric, int rep) {
    if (m->figure == RP_FIGURE_P50_NS) /* latencies come from the merged histogram only */
        return metric->has_latency ? metric->latency.p50 : 0;
    if (rep < 0)
        return metric->median;
    return (size_t)rep < metric->nreps ? metric->reps[rep].ops_per_sec : 0;
}

double rp_merit_cost(const rp_merit *m, double value) {
    if (m->direction == RP_LOWER_IS_BETTER)
        return value;
    return value > 0 ? 1.0 / value : INFINITY;
}
