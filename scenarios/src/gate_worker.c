/*
 * gate_worker.c - `udbench gate-worker`: one side of a lockstep pair of the regression gate.
 *
 *   udbench gate-worker --scenario read|write|lock --backend URI [--procs P] [--batch N]
 *                       [--keys K] [--value-size V] [--seed S]
 *
 * The gate starts one worker of each build at once and hands a token back and forth: it writes
 * one byte to a worker's stdin, the worker runs one batch of N operations and answers on stdout
 * with the batch's nanoseconds per operation (one native double), and only then does the other
 * worker get the token. So the two builds' batches alternate at the scale of milliseconds, and
 * a change of the machine's load between them is as small as it can be.
 *
 * Protocol, all on the worker's stdin and stdout:
 *   after the setup the worker writes one double, 0.0 ("ready");
 *   'g' -> one batch, then one double: ns per operation (> 0), or -1.0 after a failure;
 *   'q' or end of input -> the worker checks the result (lock: no lost update), cleans up and
 *   exits 0, or 1 with a message on stderr.
 *
 * read:  kv_get of keys of a fixed pseudo-random sequence over K seeded keys;
 * write: kv_set of those keys with V-byte values;
 * lock:  kv_lock, kv_get of a counter, kv_set of counter+1, kv_unlock, by P processes at once
 *        (the worker forks P-1 helpers that share its batches; a batch ends when all are done).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gate.h"
#include "gate_internal.h"
#include "kv.h"

#define GW_MAX_PROCS 8
#define GW_SEQ 4096 /* the key sequence; a batch walks it cyclically */

typedef struct gw {
    const char *scenario, *backend;
    int procs;
    unsigned long batch, keys, value_size;
    uint64_t seed;
    kv_conn *c;
    char *value;
    uint32_t seq[GW_SEQ];
    char (*names)[16]; /* the keys, made in the setup so that a batch holds only operations */
    size_t pos;
    uint64_t done; /* lock: increments made by this process */
    pid_t helper[GW_MAX_PROCS];
    int to_helper[GW_MAX_PROCS], from_helper[GW_MAX_PROCS];
} gw;

/* A batch of one process is timed by the process's CPU clock: time the scheduler gave to other
 * tenants is not the build's cost (it is what made whole-process trials swing). A batch of
 * several processes (lock) is timed by the wall clock, because waiting is what it measures. */
static double gw_now_ns(clockid_t clk) {
    struct timespec ts;
    clock_gettime(clk, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void gw_key(unsigned long i, char *k, size_t *klen) {
    *klen = (size_t)snprintf(k, 16, "gk:%08lu", i);
}

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

/* Set by SIGTERM, SIGINT or SIGHUP: the worker stops waiting for the token and cleans up (its
 * dict is unlinked at close), instead of dying with its segments left in /dev/shm. */
static volatile sig_atomic_t gw_stop;
/* The descriptor this process waits on for the token (stdin, or a helper's pipe). */
static volatile sig_atomic_t gw_token_fd;

/* Points the token descriptor at /dev/null, so the wait ends in end of input whether the signal
 * comes during the read (EINTR) or just before it; open, dup2 and close are async-signal-safe. */
static void gw_on_signal(int sig) {
    (void)sig;
    gw_stop = 1;
    int saved = errno, fd = open("/dev/null", O_RDONLY);
    if (fd >= 0) {
        dup2(fd, gw_token_fd);
        close(fd);
    }
    errno = saved;
}

/* Reads exactly n bytes; 1 on success, 0 at end of input (or after a stop signal in a worker),
 * -errno on error, -EPROTO when the input ends inside the n bytes. */
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
            return got ? -EPROTO : 0;
        got += (size_t)r;
    }
    return 1;
}

/* Says that `what` failed with rc on the backend; returns rc. */
static int gw_fail(const gw *w, const char *what, int rc) {
    fprintf(stderr, "udbench gate-worker: %s on %s: %s (%s)\n", what, w->backend, kv_strerror(rc),
            kv_errmsg(w->c));
    return rc;
}

/* One operation of the scenario; 0, or a negative code. */
static int gw_op(gw *w, kv_buf *buf) {
    if (w->scenario[0] == 'l') {
        int rc = kv_lock(w->c, KV_WAIT_FOREVER);
        if (rc)
            return rc;
        uint64_t v = 0;
        rc = kv_get(w->c, "gk:counter", 10, buf);
        if (rc == 0 && buf->len == sizeof v)
            memcpy(&v, buf->data, sizeof v);
        else if (rc == 0 || rc == KV_ENOTFOUND)
            rc = 0;
        v++;
        if (rc == 0)
            rc = kv_set(w->c, "gk:counter", 10, &v, sizeof v);
        int urc = kv_unlock(w->c);
        w->done += rc == 0;
        return rc ? rc : urc;
    }
    const char *key = w->names[w->seq[w->pos++ % GW_SEQ]];
    if (w->scenario[0] == 'r')
        return kv_get(w->c, key, 11, buf);
    return kv_set(w->c, key, 11, w->value, w->value_size);
}

/* n operations; 0, or a negative code (with a message). */
static int gw_ops(gw *w, unsigned long n) {
    kv_buf buf = KV_BUF_INIT;
    int rc = 0;
    for (unsigned long i = 0; i < n && rc == 0; i++)
        rc = gw_op(w, &buf);
    kv_buf_free(&buf);
    if (rc)
        gw_fail(w, w->scenario, rc);
    return rc;
}

/* The loop of a helper of the lock scenario: a byte in, its share of the batch, a byte out. */
static void gw_helper_loop(gw *w, int in, int out, unsigned long share) {
    gw_token_fd = in;
    char cmd;
    int rc = 0;
    while (rc == 0 && sc_gw_read_full(in, &cmd, 1) == 1 && cmd == 'g') {
        rc = gw_ops(w, share);
        char ok = rc ? 'x' : 'd';
        int wrc = gw_write(out, &ok, 1);
        rc = rc ? rc : wrc;
    }
    kv_close(w->c);
    w->c = NULL;
    /* The helper reports its increments through its exit: 0 when all of them succeeded. */
    _exit(rc ? 1 : 0);
}

/* Forks the helpers of the lock scenario (each opens its own connection). 0, or -errno. */
static int gw_start_helpers(gw *w, unsigned long share) {
    for (int i = 1; i < w->procs; i++) {
        int a[2], b[2];
        if (pipe(a) || pipe(b))
            return -errno;
        pid_t pid = fork();
        if (pid < 0)
            return -errno;
        if (pid == 0) {
            close(a[1]);
            close(b[0]);
            /* The parent's connection is left alone (closing it here would unlink the dict the
             * parent created); the helper opens its own and leaves by _exit. */
            w->c = NULL;
            int rc = kv_open(w->backend, &w->c);
            if (rc) {
                fprintf(stderr, "udbench gate-worker: helper cannot open %s: %s\n", w->backend,
                        kv_errmsg(NULL));
                _exit(1);
            }
            gw_helper_loop(w, a[0], b[1], share);
        }
        close(a[0]);
        close(b[1]);
        w->helper[i] = pid;
        w->to_helper[i] = a[1];
        w->from_helper[i] = b[0];
    }
    return 0;
}

/* Seeds the keys (read, write) or the counter (lock), and warms up. 0, or the code of what
 * failed, with a message. */
static int gw_setup(gw *w) {
    int rc = kv_open(w->backend, &w->c);
    if (rc) {
        fprintf(stderr, "udbench gate-worker: cannot open %s: %s\n", w->backend, kv_errmsg(NULL));
        return rc;
    }
    w->value = malloc(w->value_size ? w->value_size : 1);
    w->names = calloc(w->keys, sizeof *w->names);
    if (!w->value || !w->names) {
        fprintf(stderr, "udbench gate-worker: out of memory\n");
        return -ENOMEM;
    }
    memset(w->value, 'v', w->value_size);
    uint64_t x = w->seed * 0x9e3779b97f4a7c15ull + 1;
    for (size_t i = 0; i < GW_SEQ; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        w->seq[i] = (uint32_t)(x % w->keys);
    }
    size_t klen;
    for (unsigned long i = 0; i < w->keys && rc == 0; i++) {
        gw_key(i, w->names[i], &klen);
        rc = kv_set(w->c, w->names[i], klen, w->value, w->value_size);
    }
    if (rc == 0 && w->scenario[0] == 'l') {
        rc = kv_del(w->c, "gk:counter", 10);
        rc = rc == KV_ENOTFOUND ? 0 : rc;
    }
    if (rc)
        return gw_fail(w, "seeding", rc);
    if (w->scenario[0] == 'l' &&
        (rc = gw_start_helpers(w, w->batch / (unsigned long)w->procs)) != 0) {
        fprintf(stderr, "udbench gate-worker: cannot start helpers: %s\n", sc_strerror(rc));
        return rc;
    }
    return w->scenario[0] == 'l' ? 0 : gw_ops(w, w->batch);
}

/* One batch: ns per operation, or -1.0 (a value, not an error code) when it failed. */
static double gw_batch(gw *w) {
    unsigned long share = w->scenario[0] == 'l' ? w->batch / (unsigned long)w->procs : w->batch;
    clockid_t clk = w->procs > 1 ? CLOCK_MONOTONIC : CLOCK_PROCESS_CPUTIME_ID;
    double t0 = gw_now_ns(clk);
    for (int i = 1; i < w->procs && w->scenario[0] == 'l'; i++)
        if (gw_write(w->to_helper[i], "g", 1))
            return -1.0;
    int rc = gw_ops(w, share);
    for (int i = 1; i < w->procs && w->scenario[0] == 'l'; i++) {
        char ok = 0;
        if (sc_gw_read_full(w->from_helper[i], &ok, 1) != 1 || ok != 'd')
            rc = SC_EWORKER;
    }
    double t = gw_now_ns(clk) - t0;
    unsigned long n = w->scenario[0] == 'l' ? share * (unsigned long)w->procs : w->batch;
    return rc ? -1.0 : t / (double)n;
}

/* Stops the helpers and checks the lock scenario's counter. 0, or SC_EWORKER (a helper failed)
 * or SC_ELOST (the counter lost increments, said on stderr). */
static int gw_finish(gw *w, uint64_t batches) {
    int rc = 0;
    for (int i = 1; i < w->procs && w->scenario[0] == 'l'; i++) {
        close(w->to_helper[i]);
        int st;
        if (waitpid(w->helper[i], &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
            rc = SC_EWORKER;
        close(w->from_helper[i]);
    }
    if (rc == 0 && w->scenario[0] == 'l') {
        kv_buf buf = KV_BUF_INIT;
        uint64_t v = 0, want = batches * (w->batch / (unsigned long)w->procs) * (uint64_t)w->procs;
        int grc = kv_get(w->c, "gk:counter", 10, &buf);
        if (grc == 0 && buf.len == sizeof v)
            memcpy(&v, buf.data, sizeof v);
        kv_buf_free(&buf);
        if ((grc && grc != KV_ENOTFOUND) || v != want) {
            fprintf(stderr,
                    "udbench gate-worker: lost updates on %s: counter %" PRIu64
                    ", expected %" PRIu64 "\n",
                    w->backend, v, want);
            rc = SC_ELOST;
        }
    }
    kv_close(w->c);
    free(w->value);
    free(w->names);
    return rc;
}

static int gw_number(const char *opt, const char *arg, unsigned long lo, unsigned long hi,
                     unsigned long *v) {
    char *end = NULL;
    errno = 0;
    unsigned long long x = strtoull(arg, &end, 10);
    if (errno || !*arg || *end || x < lo || x > hi) {
        fprintf(stderr, "udbench gate-worker: %s takes %lu..%lu, not '%s'\n", opt, lo, hi, arg);
        return 2;
    }
    *v = (unsigned long)x;
    return 0;
}

static int gw_parse(gw *w, int argc, char **argv) {
    static const struct option opts[] = {{"scenario", required_argument, NULL, 's'},
                                         {"backend", required_argument, NULL, 'b'},
                                         {"procs", required_argument, NULL, 'p'},
                                         {"batch", required_argument, NULL, 'n'},
                                         {"keys", required_argument, NULL, 'k'},
                                         {"value-size", required_argument, NULL, 'v'},
                                         {"seed", required_argument, NULL, 'S'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    unsigned long procs = 1, seed = 1;
    int c, rc = 0;
    optind = 1;
    while (rc == 0 && (c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            w->scenario = optarg;
            break;
        case 'b':
            w->backend = optarg;
            break;
        case 'p':
            rc = gw_number("--procs", optarg, 1, GW_MAX_PROCS, &procs);
            break;
        case 'n':
            rc = gw_number("--batch", optarg, 1, 100000000, &w->batch);
            break;
        case 'k':
            rc = gw_number("--keys", optarg, 1, 10000000, &w->keys);
            break;
        case 'v':
            rc = gw_number("--value-size", optarg, 0, 1 << 20, &w->value_size);
            break;
        case 'S':
            rc = gw_number("--seed", optarg, 0, ~0ul, &seed);
            break;
        case 'h':
            printf("Usage: udbench gate-worker --scenario read|write|lock --backend URI\n"
                   "         [--procs P] [--batch N] [--keys K] [--value-size V] [--seed S]\n"
                   "One side of a lockstep pair of `udbench gate` (token protocol on stdin and\n"
                   "stdout; see scenarios/src/gate_worker.c). Not for use by hand.\n");
            return SC_EHELP;
        default:
            return 2;
        }
    }
    w->procs = (int)procs;
    w->seed = seed;
    if (rc == 0 && (optind != argc || !w->scenario || !w->backend)) {
        fprintf(stderr, "udbench gate-worker: needs --scenario and --backend and nothing else\n");
        rc = 2;
    }
    if (rc == 0 && strcmp(w->scenario, "read") != 0 && strcmp(w->scenario, "write") != 0 &&
        strcmp(w->scenario, "lock") != 0) {
        fprintf(stderr, "udbench gate-worker: the scenario is read, write or lock, not '%s'\n",
                w->scenario);
        rc = 2;
    }
    if (rc == 0 && w->procs > 1 && strcmp(w->scenario, "lock") != 0) {
        fprintf(stderr, "udbench gate-worker: only the lock scenario runs several processes\n");
        rc = 2;
    }
    return rc;
}

int sc_gate_worker_main(int argc, char **argv) {
    static gw w;
    memset(&w, 0, sizeof w);
    w.batch = 2000;
    w.keys = 1000;
    w.value_size = 100;
    int rc = gw_parse(&w, argc, argv);
    if (rc)
        return rc == SC_EHELP ? 0 : rc;
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = gw_on_signal; /* no SA_RESTART: a blocked read returns EINTR */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    double ready = 0;
    if (gw_setup(&w)) {
        double bad = -1.0;
        gw_write(1, &bad, sizeof bad);
        return 1;
    }
    if (gw_write(1, &ready, sizeof ready))
        return 1;
    char cmd;
    uint64_t batches = 0;
    int r;
    while ((r = sc_gw_read_full(0, &cmd, 1)) == 1 && cmd == 'g') {
        double ns = gw_batch(&w);
        batches += ns > 0;
        if (gw_write(1, &ns, sizeof ns) || ns < 0)
            break;
    }
    return gw_finish(&w, batches) ? 1 : 0;
}
