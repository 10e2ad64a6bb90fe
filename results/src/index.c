/*
 * index.c - sorted indexes over the cells of a document, so that the readers find a cell's
 * siblings (same scenario and parameters), its null: floor or its match in another document
 * by binary search: n log n over the cells instead of a scan of every cell for every cell.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "rp_compare.h"

/* Appends one length-prefixed field: no string can make two different keys equal. */
static void key_field(FILE *f, const char *s) {
    s = s ? s : "";
    fprintf(f, "%zu:", strlen(s));
    fputs(s, f);
}

/* The parameters are sorted through pointers to them. */
typedef const rp_param *param_ref;

static int param_cmp(const void *x, const void *y) {
    const rp_param *a = *(const param_ref *)x, *b = *(const param_ref *)y;
    int c = strcmp(a->key ? a->key : "", b->key ? b->key : "");
    return c ? c : strcmp(a->value ? a->value : "", b->value ? b->value : "");
}

char *rp__cell_key(const rp_cell *c, unsigned what, const char *op, bool (*skip)(const char *),
                   size_t *len) {
    param_ref ps[RP_MAX_PARAMS];
    size_t n = 0;
    /* A document made in memory may hold more parameters than a read one: never more than
     * the array, and the reader refuses such a document anyway. */
    for (size_t i = 0; i < c->nparams && n < RP_MAX_PARAMS; i++)
        if (!skip || !c->params[i].key || !skip(c->params[i].key))
            ps[n++] = &c->params[i];
    qsort(ps, n, sizeof(param_ref), param_cmp);
    char *s = NULL;
    size_t slen = 0;
    FILE *f = open_memstream(&s, &slen);
    if (!f)
        return NULL;
    key_field(f, c->scenario);
    if (what & RP__KEY_BACKEND)
        key_field(f, c->backend);
    fprintf(f, "%zu;", n);
    for (size_t i = 0; i < n; i++) {
        key_field(f, ps[i]->key);
        key_field(f, ps[i]->value);
    }
    if (what & RP__KEY_OP)
        key_field(f, op);
    if (fclose(f) != 0) {
        free(s);
        return NULL;
    }
    *len = slen;
    return s;
}

int rp__kidx_add(rp__kidx *x, char *key, size_t len, size_t pos, size_t sub) {
    rp__kent *e = rp__array_push_owner((void **)&x->e, &x->n, sizeof *e, key);
    if (!e)
        return -ENOMEM;
    e->key = key;
    e->len = len;
    e->pos = pos;
    e->sub = sub;
    return 0;
}

static int kent_key_cmp(const rp__kent *a, const char *key, size_t len) {
    size_t m = a->len < len ? a->len : len;
    int c = memcmp(a->key, key, m);
    return c ? c : (a->len > len) - (a->len < len);
}

static int kent_cmp(const void *x, const void *y) {
    const rp__kent *a = x, *b = y;
    int c = kent_key_cmp(a, b->key, b->len);
    if (c)
        return c;
    if (a->pos != b->pos)
        return a->pos > b->pos ? 1 : -1;
    return (a->sub > b->sub) - (a->sub < b->sub);
}

void rp__kidx_sort(rp__kidx *x) {
    if (x->n)
        qsort(x->e, x->n, sizeof *x->e, kent_cmp);
}

const rp__kent *rp__kidx_find(const rp__kidx *x, const char *key, size_t len) {
    size_t lo = 0, hi = x->n; /* the first entry whose key is not below key */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (kent_key_cmp(&x->e[mid], key, len) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < x->n && kent_key_cmp(&x->e[lo], key, len) == 0 ? &x->e[lo] : NULL;
}

bool rp__kent_same(const rp__kent *a, const rp__kent *b) {
    return kent_key_cmp(a, b->key, b->len) == 0;
}

void rp__kidx_free(rp__kidx *x) {
    for (size_t i = 0; x && i < x->n; i++)
        free(x->e[i].key);
    if (x) {
        free(x->e);
        memset(x, 0, sizeof *x);
    }
}

int rp__metric_index(const rp_doc *d, unsigned what, bool (*skip)(const char *),
                     bool (*want)(const rp_cell *), rp__kidx *x) {
    memset(x, 0, sizeof *x);
    for (size_t i = 0; i < d->ncells; i++) {
        const rp_cell *c = &d->cells[i];
        if (want && !want(c))
            continue;
        for (size_t j = 0; j < c->nmetrics; j++) {
            size_t len = 0;
            char *key = rp__cell_key(c, what | RP__KEY_OP, c->metrics[j].op, skip, &len);
            if (rp__kidx_add(x, key, len, i, j)) {
                rp__kidx_free(x);
                return -ENOMEM;
            }
        }
    }
    rp__kidx_sort(x);
    return 0;
}

/* ---- Matching two documents (rp_compare.h). ---- */

bool rp__cmp_ignored_param(const char *key) {
    return !strcmp(key, "repeat") || !strcmp(key, "seed");
}

/* The metrics indexed twice: with the backend (exact), and without it (loose), to find a
 * backend with the same identity: one that differs only in a port or a temporary folder
 * (rp__same_cell_backend). */
struct rp_match_index {
    const rp_doc *d;
    rp__kidx x, loose;
};

static bool ok_cell(const rp_cell *c) {
    return c->status == RP_STATUS_OK;
}

int rp_match_index_new(const rp_doc *d, rp_match_index **out) {
    rp_match_index *m = calloc(1, sizeof *m);
    if (!m)
        return -ENOMEM;
    m->d = d;
    if (rp__metric_index(d, RP__KEY_BACKEND, rp__cmp_ignored_param, ok_cell, &m->x) ||
        rp__metric_index(d, 0, rp__cmp_ignored_param, ok_cell, &m->loose)) {
        rp_match_index_free(m);
        return -ENOMEM;
    }
    *out = m;
    return 0;
}

/* The entry of x with like's key (made with `what`); with `same`, the first of those whose
 * cell's backend is like's up to a port or a temporary folder. */
static const rp__kent *match_lookup(const rp_match_index *m, const rp__kidx *x, unsigned what,
                                    const rp_cell *like, const char *op, bool same, int *rc) {
    size_t len = 0;
    char *key = rp__cell_key(like, what | RP__KEY_OP, op, rp__cmp_ignored_param, &len);
    if (!key) {
        *rc = -ENOMEM;
        return NULL;
    }
    const rp__kent *e = rp__kidx_find(x, key, len);
    free(key);
    for (const rp__kent *f = e; same && f && f < x->e + x->n && rp__kent_same(f, e); f++)
        if (rp__same_cell_backend(&m->d->cells[f->pos], like))
            return f;
    return same ? NULL : e;
}

const rp_metric *rp__match_find(const rp_match_index *m, const rp_cell *like, const char *op,
                                const rp_cell **cell, int *rc) {
    const rp__kent *e = match_lookup(m, &m->x, RP__KEY_BACKEND, like, op, false, rc);
    if (!e && !*rc)
        e = match_lookup(m, &m->loose, 0, like, op, true, rc);
    if (!e)
        return NULL;
    if (cell)
        *cell = &m->d->cells[e->pos];
    return &m->d->cells[e->pos].metrics[e->sub];
}

const rp_metric *rp_match_find(const rp_match_index *m, const rp_cell *like, const char *op,
                               const rp_cell **cell) {
    int rc = 0;
    return rp__match_find(m, like, op, cell, &rc);
}

void rp_match_index_free(rp_match_index *m) {
    if (!m)
        return;
    rp__kidx_free(&m->x);
    rp__kidx_free(&m->loose);
    free(m);
}

int rp_cell_groups(const rp_doc *d, size_t *group) {
    rp__kidx x = {0};
    for (size_t i = 0; i < d->ncells; i++) {
        size_t len = 0;
        char *key = rp__cell_key(&d->cells[i], 0, NULL, rp__cmp_ignored_param, &len);
        if (rp__kidx_add(&x, key, len, i, 0)) {
            rp__kidx_free(&x);
            return -ENOMEM;
        }
    }
    rp__kidx_sort(&x);
    for (size_t k = 0, run = 0; k < x.n; k++) {
        if (k && !rp__kent_same(&x.e[k - 1], &x.e[k]))
            run++;
        group[x.e[k].pos] = run;
    }
    rp__kidx_free(&x);
    return 0;
}
