/*
 * sc_mpi.c - the MPI side of udbench (see sc_mpi.h): initialisation, hosts, the barrier, the
 * agreement on failures, and the gather of every rank's worker slots into rank 0.
 *
 * Built with UD_HAVE_MPI when CMake found MPI (option UD_MPI, AUTO); otherwise every function
 * behaves as rank 0 of 1 and sc_mpi_init() says the build has no MPI.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <kv.h>

#include "nodes.h"
#include "sc_mpi.h"

#ifdef UD_HAVE_MPI
#include <mpi.h>
#endif

static bool active;
static int rank, size = 1;
static char (*hosts)[SC_MPI_HOST_MAX];
static char own_host[SC_MPI_HOST_MAX];

bool sc_mpi_built(void) {
#ifdef UD_HAVE_MPI
    return true;
#else
    return false;
#endif
}

bool sc_mpi_active(void) {
    return active;
}

int sc_mpi_rank(void) {
    return rank;
}

int sc_mpi_size(void) {
    return size;
}

const char *sc_mpi_host(int r) {
    /* UDBENCH_MPI_HOST names this rank's host where the host name does not tell the hosts
     * apart (containers that all call themselves the same), and lets a test on one machine
     * play ranks on several hosts. */
    const char *env = getenv("UDBENCH_MPI_HOST");
    if (!own_host[0] && env && *env)
        snprintf(own_host, sizeof own_host, "%s", env);
    if (!own_host[0] && gethostname(own_host, sizeof own_host - 1) != 0)
        snprintf(own_host, sizeof own_host, "localhost");
    if (!active)
        return r == 0 ? own_host : "";
    return r >= 0 && r < size ? hosts[r] : "";
}

bool sc_mpi_multi_host(void) {
    for (int r = 1; active && r < size; r++)
        if (strcmp(hosts[r], hosts[0]) != 0)
            return true;
    return false;
}

const char *sc_mpi_refuse(const char *uri) {
    kv_desc d;
    if (size < 2 || !uri || kv_describe_uri(uri, &d) != 0 || d.role == KV_ROLE_FLOOR)
        return NULL;
    if (d.on_host && sc_mpi_multi_host())
        return "lives in one host's memory or files, and the ranks run on several hosts";
    if (d.unnamed)
        return "has no name: each rank would make a store of its own (give it a name)";
    return NULL;
}

#ifdef UD_HAVE_MPI

int sc_mpi_init(int *argc, char ***argv, char *err, size_t errlen) {
    if (MPI_Init(argc, argv) != MPI_SUCCESS) {
        snprintf(err, errlen, "--mpi: MPI_Init failed");
        return SC_EMPI;
    }
    if (MPI_Comm_rank(MPI_COMM_WORLD, &rank) != MPI_SUCCESS ||
        MPI_Comm_size(MPI_COMM_WORLD, &size) != MPI_SUCCESS) {
        snprintf(err, errlen, "--mpi: cannot learn this process's rank");
        MPI_Abort(MPI_COMM_WORLD, 1);
        return SC_EMPI;
    }
    hosts = calloc((size_t)size, sizeof *hosts);
    if (!hosts) {
        snprintf(err, errlen, "--mpi: out of memory");
        MPI_Abort(MPI_COMM_WORLD, 1);
        return -ENOMEM;
    }
    sc_mpi_host(0);
    if (MPI_Allgather(own_host, SC_MPI_HOST_MAX, MPI_CHAR, hosts, SC_MPI_HOST_MAX, MPI_CHAR,
                      MPI_COMM_WORLD) != MPI_SUCCESS) {
        snprintf(err, errlen, "--mpi: cannot gather the ranks' host names");
        MPI_Abort(MPI_COMM_WORLD, 1);
        return SC_EMPI;
    }
    active = true;
    return 0;
}

void sc_mpi_finalize(void) {
    if (!active)
        return;
    MPI_Finalize();
    free(hosts);
    hosts = NULL;
    active = false;
}

int sc_mpi_barrier(void) {
    if (size > 1 && MPI_Barrier(MPI_COMM_WORLD) != MPI_SUCCESS)
        return SC_EMPI;
    return 0;
}

int sc_mpi_agree(int rc) {
    int all = rc;
    if (size > 1 && MPI_Allreduce(&rc, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD) != MPI_SUCCESS)
        return rc ? rc : SC_EMPI;
    return all;
}

int sc_mpi_bcast(void *buf, size_t len, int root) {
    if (size > 1 && MPI_Bcast(buf, (int)len, MPI_BYTE, root, MPI_COMM_WORLD) != MPI_SUCCESS)
        return SC_EMPI;
    return 0;
}

/* The earliest start of the slots (the rank's barrier), 0 when none started. */
static uint64_t first_start(const sc_slot *s, int n) {
    uint64_t t = 0;
    for (int i = 0; i < n; i++)
        if (s[i].t_start && (!t || s[i].t_start < t))
            t = s[i].t_start;
    return t;
}

/* This rank's own counts, for the tests and for a reader of the log. */
static void say_counts(const sc_cell *c, const sc_arena *a) {
    char line[512];
    int n = snprintf(line, sizeof line,
                     "udbench: rank %d of %d (%s): %s on %s, procs %d, round %d:", rank, size,
                     hosts[rank], c->scenario->id, c->label, c->p.procs, c->rep);
    for (int o = 0; o < c->nops && n > 0 && (size_t)n < sizeof line; o++) {
        unsigned long long ops = 0;
        for (int i = 0; i < c->p.procs; i++)
            ops += a->slots[i].op[o].ops;
        n += snprintf(line + n, sizeof line - (size_t)n, " %s %llu", c->op_names[o], ops);
    }
    fprintf(stderr, "%s\n", line);
}

/* The arena rank 0 merges: rank r's slot i (gathered at m->slots[i * size + r]) at r * P + i,
 * its times moved onto rank 0's clock (t0: rank 0's first start; starts: every rank's). */
static sc_arena *arrange(const sc_arena *a, const sc_arena *m, const uint64_t *starts, uint64_t t0,
                         int P) {
    sc_arena *out = calloc(1, sizeof(sc_arena) + (size_t)P * (size_t)size * sizeof(sc_slot));
    if (!out)
        return NULL;
    memcpy(out, a, sizeof(sc_arena));
    for (size_t k = 0; k < (size_t)P * (size_t)size; k++) {
        size_t i = k / (size_t)size, r = k % (size_t)size;
        sc_slot *s = &out->slots[r * (size_t)P + i];
        memcpy(s, &m->slots[k], sizeof *s);
        /* The workers of all ranks started at one barrier. */
        int64_t shift = starts[r] && t0 ? (int64_t)(t0 - starts[r]) : 0;
        if (s->t_start)
            s->t_start = (uint64_t)((int64_t)s->t_start + shift);
        if (s->t_end)
            s->t_end = (uint64_t)((int64_t)s->t_end + shift);
    }
    return out;
}

int sc_mpi_gather_arena(const sc_cell *c, sc_arena *a, sc_arena **all) {
    *all = a;
    if (size < 2)
        return 0;
    say_counts(c, a);
    int P = c->p.procs;
    if ((long)P * size > SC_MAX_PROCS)
        return SC_EUSAGE;
    uint64_t t0 = first_start(a->slots, P), *starts = NULL;
    sc_arena *m = NULL;
    if (rank == 0) {
        starts = calloc((size_t)size, sizeof *starts);
        m = calloc(1, sizeof(sc_arena) + (size_t)P * (size_t)size * sizeof(sc_slot));
    }
    int rc = sc_mpi_agree(rank != 0 || (starts && m) ? 0 : -ENOMEM);
    if (rc == 0 &&
        MPI_Gather(&t0, 1, MPI_UINT64_T, starts, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD) != MPI_SUCCESS)
        rc = SC_EMPI;
    /* Slot by slot: a slot (with its histograms) is larger than one MPI count can say. */
    for (int i = 0; rc == 0 && i < P; i++)
        if (MPI_Gather(&a->slots[i], (int)sizeof(sc_slot), MPI_BYTE,
                       m ? &m->slots[(size_t)i * (size_t)size] : NULL, (int)sizeof(sc_slot),
                       MPI_BYTE, 0, MPI_COMM_WORLD) != MPI_SUCCESS)
            rc = SC_EMPI;
    if (rc == 0 && rank == 0 && !(*all = arrange(a, m, starts, t0, P))) {
        *all = a;
        rc = -ENOMEM;
    }
    free(starts);
    free(m);
    return rc;
}

#else /* no MPI in this build: one rank */

int sc_mpi_init(int *argc, char ***argv, char *err, size_t errlen) {
    (void)argc;
    (void)argv;
    snprintf(err, errlen,
             "--mpi: this udbench was built without MPI (install libopenmpi-dev, run "
             "scripts/bootstrap, and build again)");
    return SC_EUSAGE;
}

void sc_mpi_finalize(void) {}

int sc_mpi_barrier(void) {
    return 0;
}

int sc_mpi_agree(int rc) {
    return rc;
}

int sc_mpi_bcast(void *buf, size_t len, int root) {
    (void)buf;
    (void)len;
    (void)root;
    return 0;
}

int sc_mpi_gather_arena(const sc_cell *c, sc_arena *a, sc_arena **all) {
    (void)c;
    *all = a;
    return 0;
}

#endif
