/*
 * snapshot_soak.c - the snapshot-overwrite soak: for every backend URI given, TRIALS times,
 * snapshot A of a dict is saved whole under a prefix, then `ultradict save` of dict B to the
 * same prefix (the real command-line tool, exec'ed) is killed with SIGKILL at a random moment
 * of its run, and the snapshot is restored: it must be A or B, whole. The next trial's save of
 * A must leave nothing of the killed save behind (checked where the backend can count).
 *
 *   snapshot_soak ULTRADICT_CLI TRIALS SEED ENTRIES URI...   (B has ENTRIES, A two thirds)
 *
 * Prints per backend: trials, restored A, restored B; exit 1 on any anomaly, 2 on bad usage.
 */
#include "kv.h"
#include "snapshot_sides.h"
#include "ultradict.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PREFIX "soak/"

static snap_side side_a = {'A', 0, 0, SIZE_MAX};
static snap_side side_b = {'B', 0, 0, SIZE_MAX};

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_s(double s) {
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* Makes dict `name` (kept until unlinked) with the entries of side s, and its ud_save bytes. */
static int make_dict(const char *name, const snap_side *s, ud_dict **out, ud_buf *snap) {
    ud_options o = UD_OPTIONS_INIT;
    o.name = name;
    o.create = UD_CREATE_ONLY;
    o.auto_unlink = false;
    int rc = ud_open(&o, out);
    char k[32], v[96];
    for (size_t i = 0; rc == 0 && i < s->n; i++) {
        size_t vl = snap_side_entry(s, i, k, v);
        rc = ud_set(*out, k, strlen(k), v, vl);
    }
    if (rc == 0)
        rc = ud_save(*out, snap);
    if (rc)
        fprintf(stderr, "snapshot_soak: dict %s: %s\n", name, ud_strerror(rc));
    return rc;
}

/* 'A' or 'B' if the snapshot under PREFIX is one of them whole; 0 (and a message) otherwise. */
static int restored(kv_conn *c) {
    return snap_restored(c, PREFIX, &side_a, &side_b, NULL);
}

struct under {
    uint64_t n;
};

static int count_under(void *ctx, const void *key, size_t klen, const void *val, size_t vlen) {
    (void)val;
    (void)vlen;
    if (klen >= sizeof(PREFIX) - 1 && memcmp(key, PREFIX, sizeof(PREFIX) - 1) == 0)
        ((struct under *)ctx)->n++;
    return 0;
}

/* The number of keys under PREFIX, where the backend can list them (servers are shared). */
static int keys_under(kv_conn *c, uint64_t *n) {
    struct under u = {0};
    if (!(kv_caps(c) & KV_CAP_ENUMERATE))
        return KV_ENOTSUP;
    int rc = kv_export(c, count_under, &u);
    if (rc == 0)
        *n = u.n;
    return rc;
}

static int no_entries(const void *src, size_t len, kv_snapshot_fn fn, void *ctx) {
    (void)src;
    (void)len;
    (void)fn;
    (void)ctx;
    return 0;
}

/* Runs `ultradict save NAME URI --prefix PREFIX`, killed after `delay` s (< 0: not killed). */
static int run_save(const char *cli, const char *name, const char *uri, double delay) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (!freopen("/dev/null", "w", stdout))
            _exit(127);
        execl(cli, cli, "save", name, uri, "--prefix", PREFIX, (char *)NULL);
        _exit(127);
    }
    if (delay >= 0) {
        sleep_s(delay);
        kill(pid, SIGKILL);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

struct run {
    const char *cli, *a_name, *b_name;
    const ud_buf *a_snap;
    unsigned seed;
};

/* One backend: TRIALS kills; returns the number of anomalies. */
static int soak_backend(const struct run *r, const char *uri, int trials) {
    kv_conn *c;
    if (kv_open(uri, &c) < 0) {
        fprintf(stderr, "snapshot_soak: %s: %s\n", uri, kv_errmsg(NULL));
        return 1;
    }
    int bad = 0, got[2] = {0, 0};
    unsigned rng = r->seed;
    /* The kills spread over one whole `ultradict save` of B over A, timed here. */
    double t0 = 0, whole = 0;
    if (kv_save_entries(c, PREFIX, r->a_snap->data, r->a_snap->len, NULL) != 0 ||
        (t0 = now(), run_save(r->cli, r->b_name, uri, -1)) != 0 || (whole = now() - t0) < 0 ||
        restored(c) != 'B') {
        fprintf(stderr, "snapshot_soak: %s: a whole overwrite failed: %s\n", uri, kv_errmsg(c));
        kv_close(c);
        return 1;
    }
    for (int t = 0; t < trials; t++) {
        kv_manifest m;
        int rc = kv_save_entries(c, PREFIX, r->a_snap->data, r->a_snap->len, &m);
        uint64_t count;
        /* Entries, index chunks and the manifest: a killed save left nothing else. */
        if (rc == 0 && keys_under(c, &count) == 0 && count != m.count + m.chunks + 1) {
            fprintf(stderr, "  trial %d: %" PRIu64 " keys after a whole save, want %" PRIu64 "\n",
                    t, count, m.count + m.chunks + 1);
            bad++;
        }
        double delay = whole * 1.2 * (double)(rand_r(&rng) % 1000) / 1000.0;
        int st = rc == 0 ? run_save(r->cli, r->b_name, uri, delay) : -1;
        int got_side = st == 0 || st == 128 + SIGKILL ? restored(c) : 0;
        if (!got_side) {
            fprintf(stderr, "  trial %d: save exit %d, killed after %.4f s: neither A nor B (%s)\n",
                    t, st, delay, rc ? kv_errmsg(c) : "");
            bad++;
        } else {
            got[got_side - 'A']++;
        }
    }
    printf("  %-48s %4d trials (whole save %.3f s): restored A %d, B %d, anomalies %d\n", uri,
           trials, whole, got[0], got[1], bad);
    /* An empty snapshot removes the last one; then its manifest goes. */
    if (kv_save_entries_from(c, PREFIX, no_entries, NULL, 0, NULL) == 0)
        kv_del(c, PREFIX "manifest", sizeof(PREFIX "manifest") - 1);
    kv_close(c);
    return bad;
}

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: snapshot_soak ULTRADICT_CLI TRIALS SEED ENTRIES URI...\n");
        return 2;
    }
    int trials = atoi(argv[2]), entries = atoi(argv[4]);
    unsigned seed = (unsigned)strtoul(argv[3], NULL, 10);
    if (trials <= 0 || entries < 6) {
        fprintf(stderr, "snapshot_soak: TRIALS must be positive and ENTRIES at least 6\n");
        return 2;
    }
    side_a.n = (size_t)entries * 2 / 3;
    side_b.first = (size_t)entries / 3;
    side_b.n = (size_t)entries;
    char a_name[64], b_name[64];
    snprintf(a_name, sizeof a_name, "snapsoak_a_%d", (int)getpid());
    snprintf(b_name, sizeof b_name, "snapsoak_b_%d", (int)getpid());
    ud_dict *a = NULL, *b = NULL;
    ud_buf a_snap = UD_BUF_INIT, b_snap = UD_BUF_INIT;
    int bad = make_dict(a_name, &side_a, &a, &a_snap) || make_dict(b_name, &side_b, &b, &b_snap);
    printf("snapshot overwrite soak: `ultradict save` of %d entries killed at random, seed %u\n",
           entries, seed);
    struct run r = {argv[1], a_name, b_name, &a_snap, seed};
    for (int i = 5; !bad && i < argc; i++)
        bad += soak_backend(&r, argv[i], trials);
    ud_unlink_by_name(a_name);
    ud_unlink_by_name(b_name);
    ud_close(a);
    ud_close(b);
    ud_buf_free(&a_snap);
    ud_buf_free(&b_snap);
    printf(bad ? "snapshot soak: %d anomalies\n" : "snapshot soak: ok\n", bad);
    return bad ? 1 : 0;
}
