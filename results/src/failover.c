/*
 * failover.c - the failover figures of a cell (udbench/3): building them, freeing them, and
 * the summaries the reports and the ranking use (the window's median and maximum over the
 * repetitions).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

rp_failover_rep *rp_cell_add_failover_rep(rp_cell *c) {
    if (!c)
        return NULL;
    rp_failover_rep *r =
        rp__array_push((void **)&c->failover.reps, &c->failover.nreps, sizeof(rp_failover_rep));
    if (r)
        r->restart_s = -1;
    return r;
}

int rp_failover_set_windows(rp_failover_rep *r, const double *window_s, size_t n) {
    if (!r || (n && !window_s))
        return RP_EINVAL;
    double *copy = NULL;
    if (n) {
        copy = malloc(n * sizeof *copy);
        if (!copy)
            return -ENOMEM;
        memcpy(copy, window_s, n * sizeof *copy);
    }
    free(r->worker_window_s);
    r->worker_window_s = copy;
    r->nworkers = n;
    return 0;
}

int rp_failover_add_error(rp_failover_rep *r, const char *kind, uint64_t count) {
    if (!r || !kind)
        return RP_EINVAL;
    for (size_t i = 0; i < r->nerrors; i++) {
        if (strcmp(r->errors[i].kind, kind) == 0) {
            r->errors[i].count += count;
            return 0;
        }
    }
    char *copy = strdup(kind);
    rp_error_kind *e = rp__array_push_owner((void **)&r->errors, &r->nerrors, sizeof *e, copy);
    if (!e)
        return -ENOMEM;
    e->kind = copy;
    e->count = count;
    return 0;
}

void rp__failover_clear(rp_failover *f) {
    for (size_t i = 0; i < f->nreps; i++) {
        rp_failover_rep *r = &f->reps[i];
        free(r->victim);
        free(r->worker_window_s);
        for (size_t j = 0; j < r->nerrors; j++)
            free(r->errors[j].kind);
        free(r->errors);
    }
    free(f->reps);
    memset(f, 0, sizeof *f);
}

static int cmp_double(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

void rp_failover_window(const rp_cell *c, double *median_s, double *max_s) {
    *median_s = *max_s = 0;
    size_t n = c ? c->failover.nreps : 0;
    double *v = n ? malloc(n * sizeof *v) : NULL;
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        v[i] = c->failover.reps[i].window_s;
    qsort(v, n, sizeof *v, cmp_double);
    *median_s = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    *max_s = v[n - 1];
    free(v);
}
