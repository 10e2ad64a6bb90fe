/*
 * gate_worker.c - `udbench gate-worker`: one build's side of a lockstep pair of the gate.
 *
 *   udbench gate-worker [udbench run options: --scenario ID --backend URI... --procs P
 *                        --duration S --keys K --value-size V --seed N ...]
 *   udbench gate-worker [--token FD,BASE] [--namespace NS] [udbench run options...]
 *   udbench gate-worker --protocol    prints the protocol's version (3) and exits
 *
 * The worker is `udbench run`'s own lockstep engine (lockstep.c) with the token held outside:
 * it expands its options into cells exactly as `udbench run` does (plan.c), one per backend
 * named with --backend, starts every cell's workers through the catalogue's setup() and work(),
 * and then runs one batch of one cell whenever the gate asks. The gate starts one worker of
 * each build and hands the token from batch to batch over the members of both, in an order
 * shuffled per round, so the two builds' batches of a cell are milliseconds apart. One code
 * path measures the tables of `udbench run` and the gate's pairs.
 *
 * Protocol, on the worker's stdin and stdout (native doubles):
 *   after the setup (and one warm-up batch of every live cell) the worker writes n, the number
 *   of its cells, then one status per cell: 0 ready, 1 not applicable, -1 failed (the reason
 *   on stderr); n = -1 when nothing could be set up;
 *   'g' and one byte, a cell index -> one batch of that cell, then one double: the batch's
 *   figure of merit (the catalogue's: ops/s, bytes/s or a p50 in ns), or -1 after a failure;
 *   'q' or end of input -> the workers end, each cell's finish() checks the outcome (lock: no
 *   lost update, and no increment the worker did not make: a counter shared with the other
 *   build), and the worker exits 0, or 1 with a message on stderr.
 *
 * Protocol 3 adds two leading options. `--token FD,BASE`: FD (inherited) is the gate's token
 * (an sc_lockstep, sc.h), shared by both builds' workers, and cell i is its member BASE + i.
 * The gate then grants every batch itself, straight to the cell's workers, and reads the
 * batch's figure from the token: two wake-ups a batch instead of four (the gate, this worker,
 * the cell's workers and back). This worker only warms its cells up on the token before its
 * ready answer (the gate starts the two builds one after the other), then watches its cells
 * (a failed one: its `failed` word) until 'q' or end of input; 'g' is not used.
 * `--namespace NS`: a prefix of the cells' own keys (lock's counter, visibility's stamp), so
 * that two builds on one server never count on one key.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cli.h"
#include "gate.h"
#include "gate_internal.h"
#include "lockstep.h"

#define GW_PROTOCOL 3
#define GW_TRIES 16

/* Writes all of buf to fd; 0, or -errno (-EIO when write wrote nothing). */
static int gw_write(int fd, const void *buf, size_t n) {
    const char *p = buf;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return w < 0 ? -errno : -EIO;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int gw_answer(double v) {
    return gw_write(1, &v, sizeof v);
}

/* Set by SIGTERM, SIGINT or SIGHUP: the worker stops waiting for the token and cleans up (its
 * dicts are unlinked at close), instead of dying with its segments left in /dev/shm. */
static volatile sig_atomic_t gw_stop;

/* Points stdin at /dev/null, so the wait for the token ends in end of input whether the signal
 * comes during the read (EINTR) or just before it; open, dup2 and close are async-signal-safe. */
static void gw_on_signal(int sig) {
    (void)sig;
    gw_stop = 1;
    int saved = errno, fd = open("/dev/null", O_RDONLY);
    if (fd >= 0) {
        dup2(fd, 0);
        close(fd);
    }
    errno = saved;
}

/* Reads exactly n bytes; 1 on success, 0 at end of input (or after a stop signal in a worker),
 * -errno (-EIO: input ended inside the n bytes) on error. */
int sc_gw_read_full(int fd, void *buf, size_t n) {
    char *p = buf;
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, p + got, n - got);
        if (r < 0 && errno == EINTR && gw_stop)
            return 0;
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -errno;
        if (r == 0)
            return got ? -EIO : 0;
        got += (size_t)r;
    }
    return 1;
}

/* The cells of one worker: the plan's cells on the backends named on its command line. */
typedef struct gw {
    sc_plan plan;
    rp_doc *doc;
    sc_cell *cells;
    size_t n;
    sc_cell_state *st;
    sc_ls_group *group;
    int *batches;       /* recorded batches per cell */
    sc_lockstep *token; /* the gate's (--token), or NULL */
    uint32_t base;      /* cell i is member base + i of the token */
    const char *ns;     /* --namespace, or NULL */
} gw;

static void gw_help(void) {
    printf("Usage: udbench gate-worker [udbench run options]\n"
           "One build's side of a lockstep pair of `udbench gate`: the cells of `udbench run`\n"
           "on the backends named with --backend, one batch at a time when the gate asks\n"
           "(token protocol on stdin and stdout; see scenarios/src/gate_worker.c). Not for\n"
           "use by hand. --protocol prints the protocol's version.\n");
}

/* Keeps the cells of backends named with --backend (null: joins every plan by itself). */
static void gw_keep_named(gw *w) {
    size_t kept = 0;
    for (size_t i = 0; i < w->n; i++)
        if (w->plan.backends.v[w->cells[i].backend_index].explicit_)
            w->cells[kept++] = w->cells[i];
    w->n = kept;
}

/* Parses, probes the backends and makes the cells. 0, 2 (usage), SC_EHELP (help printed) or 1. */
static int gw_plan(gw *w, int argc, char **argv) {
    int rc = sc_plan_parse(argc, argv, &w->plan);
    if (rc == SC_EHELP) {
        gw_help();
        return SC_EHELP;
    }
    if (rc)
        return 2;
    w->plan.base.lockstep = true;
    if (rp_doc_new(&w->doc))
        return 1;
    if (sc_plan_backends(&w->plan, w->doc))
        return 1; /* a named backend does not answer (said on stderr) */
    if (sc_plan_cells(&w->plan, &w->cells, &w->n))
        return 1;
    gw_keep_named(w);
    for (size_t i = 0; w->ns && i < w->n; i++)
        snprintf(w->cells[i].ns, sizeof w->cells[i].ns, "%s", w->ns);
    if (w->n == 0 || w->n >= 256) {
        fprintf(stderr,
                "udbench gate-worker: %zu cells; 1 to 255 expected (name backends with "
                "--backend)\n",
                w->n);
        return 2;
    }
    for (size_t i = 0; i < w->n; i++)
        if (!rp_doc_add_cell(w->doc))
            return 1;
    w->st = calloc(w->n, sizeof *w->st);
    w->batches = calloc(w->n, sizeof *w->batches);
    return w->st && w->batches ? 0 : 1;
}

/* Starts the cells, warms each live one up with one batch, and says which are ready. 0, or
 * -1 when the answer could not be written. */
static int gw_start(gw *w, volatile sig_atomic_t *stop) {
    for (size_t i = 0; i < w->n; i++)
        sc_cell_begin(&w->cells[i], &w->doc->cells[i], &w->st[i]);
    w->group = sc_ls_open(w->cells, w->doc->cells, w->st, w->n, stop, w->token, w->base);
    if (!w->group) {
        fprintf(stderr, "udbench gate-worker: out of memory\n");
        return gw_answer(-1) ? -1 : 0;
    }
    for (size_t i = 0; i < w->n; i++)
        if (sc_ls_live(w->group, i))
            (void)sc_ls_batch(w->group, i, -1, 0);
    if (gw_answer((double)w->n))
        return -EPIPE;
    for (size_t i = 0; i < w->n; i++) {
        const rp_cell *o = &w->doc->cells[i];
        double s = sc_ls_live(w->group, i) ? 0 : o->status == RP_STATUS_NA ? 1 : -1;
        if (s != 0)
            fprintf(stderr, "%s on %s: %s%s\n", o->scenario, o->backend, s > 0 ? "n/a: " : "",
                    o->reason ? o->reason : "failed");
        if (gw_answer(s))
            return -EPIPE;
    }
    return 0;
}

/* The figure of merit of cell i's last recorded batch, or -1. */
static double gw_last_merit(const gw *w, size_t i) {
    const rp_cell *o = &w->doc->cells[i];
    for (size_t m = 0; o->merit.metric && m < o->nmetrics; m++)
        if (!strcmp(o->metrics[m].op, o->merit.metric) && o->metrics[m].nreps > 0) {
            size_t last = o->metrics[m].nreps - 1;
            /* bytes/s is ops/s times the dump's fixed size, known only once the cell ends:
             * the ratios are the same. */
            double v = o->merit.figure == RP_FIGURE_BYTES_SEC ? o->metrics[m].reps[last].ops_per_sec
                                                              : rp_merit_rep_value(o, last);
            return v > 0 ? v : -1;
        }
    return -1.0;
}

/* Serves batches until 'q' or end of input. */
static void gw_serve(gw *w) {
    unsigned char cmd[2];
    while (sc_gw_read_full(0, cmd, 1) == 1 && cmd[0] == 'g') {
        double v = -1;
        bool ok = sc_gw_read_full(0, cmd + 1, 1) == 1 && cmd[1] < w->n;
        /* A short batch of a slow store may hold none of the figure's operations (four
         * updates of a 50/50 mix): it runs again, as one longer turn of the same member. */
        for (int k = 0; ok && v <= 0 && k < GW_TRIES; k++) {
            ok = sc_ls_batch(w->group, cmd[1], w->batches[cmd[1]], 0) == 0;
            w->batches[cmd[1]] += ok;
            v = ok ? gw_last_merit(w, cmd[1]) : -1;
        }
        if (v < 0 && cmd[1] < w->n)
            fprintf(stderr, "udbench gate-worker: a batch of %s on %s failed: %s\n",
                    w->doc->cells[cmd[1]].scenario, w->doc->cells[cmd[1]].backend,
                    w->doc->cells[cmd[1]].reason ? w->doc->cells[cmd[1]].reason : "no figure");
        else if (v < 0)
            fprintf(stderr, "udbench gate-worker: no cell %u\n", cmd[1]);
        if (gw_answer(v) || v < 0)
            break;
    }
}

/* With the gate's token: watches the cells (a failed one is marked on the token) until 'q',
 * end of input or a stop signal (which points stdin at /dev/null). */
static void gw_watch(gw *w) {
    for (;;) {
        (void)sc_ls_watch(w->group);
        struct pollfd p = {.fd = 0, .events = POLLIN};
        int r = poll(&p, 1, 50);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 || gw_stop)
            return;
        unsigned char cmd;
        if (r > 0 && (sc_gw_read_full(0, &cmd, 1) != 1 || cmd == 'q'))
            return;
    }
}

/* The cell's lock counter counted increments this worker did not make: another process (the
 * other build of a gate on one server) counted on the same key. */
static bool gw_counter_shared(const rp_cell *o) {
    return o->correctness.present && o->correctness.lost_updates < 0;
}

/* Ends the workers and checks every cell that ran. 0, or 1 with the reasons on stderr. */
static int gw_finish(gw *w) {
    int rc = 0;
    sc_ls_close(w->group);
    for (size_t i = 0; i < w->n; i++) {
        rp_cell *o = &w->doc->cells[i];
        bool ran = w->batches[i] > 0 || w->token;
        sc_cell_end(&w->cells[i], o, w->doc, &w->st[i]);
        if (ran && o->status == RP_STATUS_ERROR) {
            fprintf(stderr, "udbench gate-worker: %s on %s: %s\n", o->scenario, o->backend,
                    o->reason ? o->reason : "failed");
            rc = 1;
        } else if (ran && gw_counter_shared(o)) {
            fprintf(stderr,
                    "udbench gate-worker: %s on %s: the counter holds %lld more increments "
                    "than this build made: its key is shared with another run\n",
                    o->scenario, o->backend, (long long)-o->correctness.lost_updates);
            rc = 1;
        }
    }
    return rc;
}

static void gw_free(gw *w) {
    free(w->cells);
    free(w->st);
    free(w->batches);
    rp_doc_free(w->doc);
    sc_plan_free(&w->plan);
    if (w->token)
        munmap(w->token, sizeof *w->token);
}

/* Maps the gate's token "FD,BASE" into w. 0, or 2 with a message. */
static int gw_token(gw *w, const char *arg) {
    char *end;
    long fd = strtol(arg, &end, 10);
    long base = *end == ',' ? strtol(end + 1, &end, 10) : -1;
    if (*end || fd < 0 || base < 0 || base >= (long)SC_LS_END) {
        fprintf(stderr, "udbench gate-worker: --token FD,BASE expected, not '%s'\n", arg);
        return 2;
    }
    void *p = mmap(NULL, sizeof *w->token, PROT_READ | PROT_WRITE, MAP_SHARED, (int)fd, 0);
    if (p == MAP_FAILED) {
        fprintf(stderr, "udbench gate-worker: the token: %s\n", strerror(errno));
        return 2;
    }
    close((int)fd); /* the mapping stays; the cells' workers inherit it */
    w->token = p;
    w->base = (uint32_t)base;
    return 0;
}

/* The leading options of protocol 3 (--token, --namespace): how many arguments they took, or
 * -2 with a message. */
static int gw_leading(gw *w, int argc, char **argv) {
    int k = 1;
    while (k + 1 < argc) {
        if (!strcmp(argv[k], "--token")) {
            if (gw_token(w, argv[k + 1]))
                return -2;
        } else if (!strcmp(argv[k], "--namespace")) {
            w->ns = argv[k + 1];
            if (strlen(w->ns) >= sizeof w->cells[0].ns) {
                fprintf(stderr, "udbench gate-worker: --namespace: at most %zu characters\n",
                        sizeof w->cells[0].ns - 1);
                return -2;
            }
        } else
            break;
        k += 2;
    }
    return k - 1;
}

int sc_gate_worker_main(int argc, char **argv) {
    if (argc == 2 && !strcmp(argv[1], "--protocol")) {
        printf("%d\n", GW_PROTOCOL);
        return 0;
    }
    static gw w;
    memset(&w, 0, sizeof w);
    int lead = gw_leading(&w, argc, argv);
    if (lead < 0)
        return 2;
    /* The run options follow, as `udbench run` parses them (argv[0] kept). */
    argv[lead] = argv[0];
    argc -= lead;
    argv += lead;
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = gw_on_signal; /* no SA_RESTART: a blocked read returns EINTR */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    int rc = gw_plan(&w, argc, argv);
    if (rc) {
        if (rc > 0)
            (void)gw_answer(-1);
        gw_free(&w);
        return rc < 0 ? 0 : rc;
    }
    if (gw_start(&w, &gw_stop) == 0 && w.group) {
        if (w.token)
            gw_watch(&w);
        else
            gw_serve(&w);
    }
    rc = w.group ? gw_finish(&w) : 1;
    gw_free(&w);
    return rc;
}
