/*
 * gate_cells.c - the cells of a gate run: the catalogue scenarios and backends the command
 * line names (`udbench gate --scenario ID... --backend URI...`), or the default suite.
 *
 * Every scenario of the catalogue can be gated but those that run outside the lockstep rounds
 * (failover: a kill and a restart per repetition). A server of the default suite that does
 * not answer is skipped with a line on stderr; a backend named on the command line that does
 * not answer stops the gate (status 4), as `udbench run` fails on it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gate_internal.h"
#include "kv.h"
#include "sc.h"

/* Adds one cell; its group is the first cell's of the same scenario, procs and batch length:
 * servers take turns among themselves, with batches long enough for a few hundred round trips
 * (a 3 ms batch holds about a hundred, too few on a loaded machine). 0, or 2. */
static int add_cell(gate *g, const char *scenario, const char *backend, int procs) {
    if (g->ncells >= GATE_MAX_CELLS) {
        fprintf(stderr, "udbench gate: at most %d cells (scenarios times backends)\n",
                GATE_MAX_CELLS);
        return 2;
    }
    gate_cell *c = &g->cells[g->ncells];
    c->scenario = scenario;
    snprintf(c->backend, sizeof c->backend, "%s", backend);
    c->procs = procs;
    /* The adapter says whether the store lives in this host's memory or files; a backend it
     * cannot describe fails when it opens, and until then counts as embedded. */
    kv_desc d;
    c->server = kv_describe_uri(backend, &d) == 0 && !d.on_host;
    c->batch = c->server ? g->server_batch : g->batch;
    c->group = g->ngroups;
    for (size_t i = 0; i < g->ncells; i++)
        if (!strcmp(g->cells[i].scenario, scenario) && g->cells[i].procs == procs &&
            g->cells[i].batch == c->batch)
            c->group = g->cells[i].group;
    if (c->group == g->ngroups)
        g->ngroups++;
    g->ncells++;
    return 0;
}

/* Whether a server answers: it opens, and a read of a missing key returns. */
static bool answers(const char *uri, char *why, size_t len) {
    kv_conn *c;
    int rc = kv_open(uri, &c);
    if (rc) {
        snprintf(why, len, "%s", kv_errmsg(NULL));
        return false;
    }
    kv_buf b = KV_BUF_INIT;
    rc = kv_get(c, "udbench:gate-probe", 18, &b);
    kv_buf_free(&b);
    if (rc && rc != KV_ENOTFOUND)
        snprintf(why, len, "%s", kv_errmsg(c));
    kv_close(c);
    return rc == 0 || rc == KV_ENOTFOUND;
}

/* The scenario by id, when it can be gated; else NULL with a message. */
static const sc_scenario *gateable(const char *id) {
    const sc_scenario *s = sc_find_scenario(id);
    if (!s)
        fprintf(stderr, "udbench gate: no scenario '%s' in the catalogue (udbench list)\n", id);
    else if (s->outside_lockstep)
        fprintf(stderr,
                "udbench gate: %s runs whole repetitions, not lockstep batches: it cannot be "
                "gated\n",
                id);
    return s && !s->outside_lockstep ? s : NULL;
}

/* The server cells of the default suite, for each of redis and memcached that answers. */
static int default_servers(gate *g) {
    static char uris[2][128];
    const char *port = getenv("UD_REDIS_PORT");
    snprintf(uris[0], sizeof uris[0], "redis://127.0.0.1:%s", port && *port ? port : "56379");
    port = getenv("UD_MEMCACHED_PORT");
    snprintf(uris[1], sizeof uris[1], "memcached://127.0.0.1:%s", port && *port ? port : "51211");
    for (int k = 0; k < 2; k++) {
        char why[300] = "";
        if (!answers(uris[k], why, sizeof why)) {
            fprintf(stderr, "udbench gate: %s does not answer (%s): its cells are skipped\n",
                    uris[k], why);
            continue;
        }
        for (size_t i = 0; i < 2; i++)
            if (add_cell(g, i ? "write" : "read", uris[k], 1))
                return 2;
    }
    return 0;
}

static int default_suite(gate *g, bool smoke) {
    /* The disk is out of the picture (sync=off): the gate measures the code, and a disk shared
     * with other tenants only adds noise. */
    static const char *const embedded[] = {"local:", "ultradict:", "sqlite:@/gate.sqlite?sync=off",
                                           "lmdb:@/gate.lmdb?sync=off"};
    static const struct {
        const char *scenario;
        int procs;
    } scenarios[] = {{"read", 1}, {"write", 1}, {"zipf", 1}, {"large", 1}, {"lock", 2}};
    if (smoke)
        return add_cell(g, "read", "ultradict:", 1) || add_cell(g, "read", "local:", 1) ? 2 : 0;
    for (size_t s = 0; s < sizeof scenarios / sizeof *scenarios; s++)
        for (size_t b = 0; b < sizeof embedded / sizeof *embedded; b++)
            if (add_cell(g, scenarios[s].scenario, embedded[b], scenarios[s].procs))
                return 2;
    return default_servers(g);
}

/* Whether every backend named on the command line answers (those with the scratch-folder
 * placeholder are files the workers make). 0, or 4 with a message. */
static int named_backends_answer(const gate_plan *p) {
    for (int b = 0; b < p->nbackends; b++) {
        char why[300] = "";
        if (!sc_gate_placeholder(p->backends[b]) && !answers(p->backends[b], why, sizeof why)) {
            fprintf(stderr, "udbench gate: %s does not answer: %s\n", p->backends[b], why);
            return 4;
        }
    }
    return 0;
}

int sc_gate_cells(gate *g, const gate_plan *p) {
    g->ncells = g->ngroups = 0;
    if (p->nscenarios == 0 && p->nbackends == 0 && !p->procs)
        return default_suite(g, p->smoke);
    static const char *const read_write[] = {"read", "write"};
    static const char *const embedded[] = {"local:", "ultradict:"};
    int ns = p->nscenarios ? p->nscenarios : 2, nb = p->nbackends ? p->nbackends : 2;
    int rc = named_backends_answer(p);
    for (int i = 0; i < ns && !rc; i++) {
        const char *id = p->nscenarios ? p->scenarios[i] : read_write[i];
        const sc_scenario *s = gateable(id);
        if (!s)
            return 2;
        int procs = p->procs ? p->procs : s->procs == SC_PROCS_TWO_PLUS ? 2 : 1;
        for (int b = 0; b < nb && !rc; b++)
            rc = add_cell(g, s->id, p->nbackends ? p->backends[b] : embedded[b], procs);
    }
    return rc;
}
