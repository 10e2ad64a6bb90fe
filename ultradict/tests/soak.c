/*
 * soak.c - the crash soak: N trials, each starts a process doing one kind of work on a dict,
 * kills it with SIGKILL at a random moment, and then checks the dict from a fresh process
 * (this binary exec'ed again): it attaches, every value is intact, writes made together are
 * seen together, the counter never went back, the dict takes a write, and nested dicts the
 * killed process orphaned are all removed by ud_reclaim (counted: trials that left some).
 *   soak [--threads] [TRIALS] [SEED]  (scripts/soak runs it; prints counts, exit 1 on an anomaly)
 *   soak --check KIND NAME MINCTR     (the fresh checking process; exit 0 if all holds)
 * Kinds: write (set), dump (ud_dump between writes), update (ud_update + ud_clear), section
 * (two sets inside ud_lock), create (ud_open of new names), nested (replacing nested dicts),
 * threads and threads-spin (threads of one process, two sharing a handle and two with their
 * own, each doing locked read-modify-writes of a shared counter and its own; the check finds
 * the lock free and the shared counter equal to the sum of the threads' counters, so no update
 * was lost, and the section's two values equal, so none was torn). --threads runs only those.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ultradict.h"

enum {
    K_WRITE,
    K_DUMP,
    K_UPDATE,
    K_SECTION,
    K_CREATE,
    K_NESTED,
    K_THREADS,
    K_THREADS_SPIN,
    K_COUNT
};
static const char *const kind_name[K_COUNT] = {"write",  "dump",   "update",  "section",
                                               "create", "nested", "threads", "threads-spin"};
enum { SOAK_THREADS = 4, SHARING_THREADS = 2 }; /* threads kinds: the first two share a handle */

typedef struct shared {
    char current[128]; /* the create kind: the name being opened */
} shared;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A value for sequence number n: "n:" then a pattern derived from n. */
static size_t make_value(char *buf, size_t cap, uint64_t n) {
    int len = snprintf(buf, cap, "%" PRIu64 ":", n);
    size_t total = 16 + (size_t)(n % 200);
    if (total > cap)
        total = cap;
    for (size_t i = (size_t)len; i < total; i++)
        buf[i] = (char)('a' + (n + i) % 26);
    return total;
}

/* 0 and the sequence number if v is an intact value. */
static int check_value(const char *v, size_t len, uint64_t *n) {
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno || end == v || (size_t)(end - v) >= len || *end != ':')
        return -1;
    char buf[256];
    if (make_value(buf, sizeof buf, x) != len || memcmp(buf, v, len) != 0)
        return -1;
    *n = x;
    return 0;
}

static ud_dict *open_dict(const char *name, int create, int kind) {
    ud_options o = UD_OPTIONS_INIT;
    o.name = name;
    o.create = create;
    o.auto_unlink = UD_AUTO_UNLINK_OFF;
    o.buffer_size = 8192;
    o.recurse = kind == K_NESTED;
    o.lock = kind == K_THREADS_SPIN ? UD_LOCK_SPIN : UD_LOCK_MUTEX;
    ud_dict *d = NULL;
    return ud_open(&o, &d) == 0 ? d : NULL;
}

/* The decimal counter under key, 0 if missing or not a number. */
static long long get_counter(ud_dict *d, const char *key) {
    ud_buf b = UD_BUF_INIT;
    long long v = ud_get(d, key, strlen(key), &b) == 0 ? strtoll(b.data, NULL, 10) : 0;
    ud_buf_free(&b);
    return v;
}

static void set_counter(ud_dict *d, const char *key, long long v) {
    char buf[32];
    int len = snprintf(buf, sizeof buf, "%lld", v);
    ud_set(d, key, strlen(key), buf, (size_t)len);
}

typedef struct soak_thread {
    ud_dict *d;
    int index;
} soak_thread;

/* A thread of the threads kinds: locked read-modify-writes of the shared counter "ctr" and
 * its own "ct<index>", between the section's two values s0 and s1. */
static void *thread_worker(void *varg) {
    soak_thread *t = varg;
    char v[256], key[8];
    snprintf(key, sizeof key, "ct%d", t->index);
    for (uint64_t n = (uint64_t)getpid() * 1000000 + (uint64_t)t->index * 100000;; n++) {
        if (ud_lock(t->d, NULL) != 0)
            continue;
        size_t len = make_value(v, sizeof v, n);
        ud_set(t->d, "s0", 2, v, len);
        long long total = get_counter(t->d, "ctr"), mine = get_counter(t->d, key);
        /* Another thread that wrongly got in now reads the same total: a lost update. */
        sched_yield();
        set_counter(t->d, "ctr", total + 1);
        set_counter(t->d, key, mine + 1);
        ud_set(t->d, "s1", 2, v, len);
        ud_unlock(t->d);
    }
    return NULL;
}

/* The worker of the threads kinds: SOAK_THREADS threads, the first SHARING_THREADS on one
 * handle. */
static void threads_worker(int kind, const char *name) {
    ud_dict *d = open_dict(name, UD_ATTACH_ONLY, kind);
    pthread_t th[SOAK_THREADS];
    soak_thread a[SOAK_THREADS];
    for (int i = 0; i < SOAK_THREADS; i++) {
        a[i].d = i < SHARING_THREADS ? d : open_dict(name, UD_ATTACH_ONLY, kind);
        a[i].index = i;
        if (!a[i].d || pthread_create(&th[i], NULL, thread_worker, &a[i]) != 0)
            _exit(2);
    }
    for (;;)
        pause();
}

/* The process that gets killed: works on the dict until it is. */
static void worker(int kind, const char *name, shared *sh) {
    ud_dict *d = kind == K_CREATE ? NULL : open_dict(name, UD_ATTACH_ONLY, kind);
    if (kind != K_CREATE && !d)
        _exit(2);
    char v[256];
    for (uint64_t n = (uint64_t)getpid() * 1000000;; n++) {
        size_t len = make_value(v, sizeof v, n);
        char key[16];
        snprintf(key, sizeof key, "k%" PRIu64, n % 64);
        switch (kind) {
        case K_WRITE:
            ud_set(d, key, strlen(key), v, len);
            ud_incr(d, "ctr", 3, 1, NULL);
            break;
        case K_DUMP:
            ud_set(d, key, strlen(key), v, len);
            if (n % 16 == 0)
                ud_dump(d);
            break;
        case K_UPDATE: {
            ud_item items[4] = {
                {"u0", 2, v, len}, {"u1", 2, v, len}, {"u2", 2, v, len}, {"u3", 2, v, len}};
            if (n % 32 == 0)
                ud_clear(d);
            ud_update(d, items, 4);
            break;
        }
        case K_SECTION:
            if (ud_lock(d, NULL) == 0) {
                ud_set(d, "s0", 2, v, len);
                if (n % 8 == 0)
                    ud_dump(d);
                ud_set(d, "s1", 2, v, len);
                ud_unlock(d);
            }
            break;
        case K_CREATE: {
            /* Only the last digit changes, with one byte store: a kill at any moment leaves
             * the parent a whole name (snprintf may clear the buffer before writing it). */
            size_t last = strlen(sh->current) - 1;
            sh->current[last] = (char)('0' + n % 4);
            ud_dict *c = open_dict(sh->current, UD_CREATE_OR_ATTACH, K_CREATE);
            if (c) {
                ud_set(c, "k", 1, v, len);
                ud_unlink(c);
                ud_close(c);
            }
            break;
        }
        case K_NESTED: {
            ud_dict *c = NULL;
            if (ud_set_dict(d, "child", 5, &c) == 0) {
                ud_set(c, "k", 1, v, len);
                ud_close(c);
            }
            break;
        }
        }
    }
}

/* Counts /dev/shm control segments of nested children of name ("name.c<hex>"). */
static int count_children(const char *name) {
    char cmd[256];
    snprintf(cmd, sizeof cmd, "ls /dev/shm | grep -cE '^%s\\.c[0-9a-f]+$'", name);
    FILE *p = popen(cmd, "r");
    int n = 0;
    if (p) {
        if (fscanf(p, "%d", &n) != 1)
            n = 0;
        pclose(p);
    }
    return n;
}

#define FAIL(...)                                                                                  \
    do {                                                                                           \
        fprintf(stderr, "soak check (%s %s): ", kind_name[kind], name);                            \
        fprintf(stderr, __VA_ARGS__);                                                              \
        fprintf(stderr, "\n");                                                                     \
        return 1;                                                                                  \
    } while (0)

/* The create kind: whatever the creator left under the name, a new create or attach must work. */
static int check_create(int kind, const char *name, const char *current) {
    ud_options o = UD_OPTIONS_INIT;
    o.name = current;
    o.buffer_size = 8192;
    ud_dict *c = NULL;
    int orc = ud_open(&o, &c);
    if (orc)
        FAIL("cannot create or attach %s after the kill: %s", current, ud_errname(orc));
    if (ud_set(c, "z", 1, "1", 1) != 0)
        FAIL("cannot write to %s", current);
    ud_unlink(c);
    ud_close(c);
    return 0;
}

/* One entry: its value is intact, the ud_update items are of one update (useq), and the lock
 * section's two keys are remembered in seqs. */
static int check_entry(int kind, const char *name, const ud_buf *k, const ud_buf *v,
                       long long seqs[2], long long *useq) {
    const char *key = k->data;
    uint64_t n;
    if (check_value(v->data, v->len, &n) != 0)
        FAIL("invalid value under %s (%zu bytes)", key, v->len);
    if (key[0] == 'u') {
        if (*useq >= 0 && (long long)n != *useq)
            FAIL("ud_update items from different updates");
        *useq = (long long)n;
    }
    if (key[0] == 's')
        seqs[key[1] - '0'] = (long long)n;
    return 0;
}

/* Every value of d, through an iterator (k and v are the caller's buffers). */
static int check_entries(int kind, const char *name, ud_dict *d, ud_buf *k, ud_buf *v) {
    ud_iter *it = NULL;
    int type, rc;
    if (ud_iter_open(d, &it) != 0)
        FAIL("cannot iterate");
    long long seqs[2] = {-1, -1}, useq = -1;
    while ((rc = ud_iter_next(it, k, v, &type)) == 0) {
        if (type == UD_TYPE_DICT || strncmp(k->data, "ct", 2) == 0)
            continue; /* the counters */
        if (check_entry(kind, name, k, v, seqs, &useq)) {
            ud_iter_close(it);
            return 1;
        }
    }
    ud_iter_close(it);
    if (rc != UD_ENOTFOUND)
        FAIL("iteration ended with %s", ud_errname(rc));
    if (seqs[0] != seqs[1])
        FAIL("a lock section seen half: s0 %lld, s1 %lld", seqs[0], seqs[1]);
    return 0;
}

/* The nested kind: orphaned children are all removed by ud_reclaim; -1 on failure, else how
 * many orphans there were. */
static int check_orphans(int kind, const char *name, ud_dict *d) {
    int children = count_children(name);
    int orphans = children > 1 ? children - 1 : 0;
    int reclaimed = ud_reclaim(d);
    int left = count_children(name);
    if (left > 1 || (orphans > 0 && reclaimed < orphans)) {
        fprintf(stderr,
                "soak check (%s %s): %d orphaned children, ud_reclaim removed %d, %d left\n",
                kind_name[kind], name, orphans, reclaimed, left);
        return -1;
    }
    return orphans;
}

/* The threads kinds: the killed process's lock is recovered, and the shared counter is the sum
 * of the threads' own (every read-modify-write of both was one section). */
static int check_threads(int kind, const char *name, ud_dict *d) {
    ud_lock_options o = UD_LOCK_OPTIONS_INIT;
    o.timeout = 5;
    int rc = ud_lock(d, &o);
    if (rc)
        FAIL("the lock is not recovered: %s", ud_errname(rc));
    long long total = get_counter(d, "ctr"), sum = 0;
    for (int i = 0; i < SOAK_THREADS; i++) {
        char key[8];
        snprintf(key, sizeof key, "ct%d", i);
        sum += get_counter(d, key);
    }
    ud_unlock(d);
    if (total != sum)
        FAIL("updates lost: the shared counter is %lld, the threads counted %lld", total, sum);
    return 0;
}

/* After the values: the counter never went back, and the dict takes a write. */
static int check_writes(int kind, const char *name, ud_dict *d, long long minctr) {
    if ((kind == K_THREADS || kind == K_THREADS_SPIN) && check_threads(kind, name, d))
        return 1;
    if (kind == K_WRITE) {
        int64_t ctr = 0;
        if (ud_incr(d, "ctr", 3, 0, &ctr) != 0 || ctr < minctr)
            FAIL("the counter went back (%" PRId64 " < %lld)", ctr, minctr);
        printf("%" PRId64 "\n", ctr);
    }
    if (ud_set(d, "after", 5, "0:", 2) != 0 && ud_set(d, "after", 5, "x", 1) != 0)
        FAIL("the dict takes no write");
    ud_del(d, "after", 5);
    return 0;
}

/* The fresh process: exit 0 if everything holds; 3 if only orphaned children were found. */
static int check(int kind, const char *name, long long minctr, const char *current) {
    if (kind == K_CREATE)
        return check_create(kind, name, current);
    ud_dict *d = open_dict(name, UD_ATTACH_ONLY, kind);
    if (!d)
        FAIL("cannot attach");
    ud_buf k = UD_BUF_INIT, v = UD_BUF_INIT;
    if (check_entries(kind, name, d, &k, &v) || check_writes(kind, name, d, minctr))
        return 1;
    int orphans = kind == K_NESTED ? check_orphans(kind, name, d) : 0;
    if (orphans < 0)
        return 1;
    ud_buf_free(&k);
    ud_buf_free(&v);
    ud_close(d);
    return orphans ? 3 : 0; /* 3: orphans were found (and reclaimed) */
}

/* A seeded xorshift64* generator: the kill moments of a run follow from its seed. */
static uint64_t next_random(uint64_t *state) {
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545f4914f6cdd1dull;
}

/* A whole decimal number in [lo, hi] from s: 0, or -1 when s is not one. */
static int parse_ll(const char *s, long long lo, long long hi, long long *out) {
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* Runs the checking process for the dict dname of kind, raising *minctr to the counter it saw;
 * its exit code. */
static int run_check(int kind, const char *dname, const char *current, long long *minctr) {
    char ctrbuf[32], kbuf[8];
    snprintf(ctrbuf, sizeof ctrbuf, "%lld", *minctr);
    snprintf(kbuf, sizeof kbuf, "%d", kind);
    int out[2];
    if (pipe(out) != 0) {
        perror("soak: pipe");
        return 2;
    }
    pid_t c = fork();
    if (c == 0) {
        dup2(out[1], 1);
        close(out[0]);
        execl("/proc/self/exe", "soak", "--check", kbuf, dname, ctrbuf, current, (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    char line[64] = "";
    ssize_t got = read(out[0], line, sizeof line - 1);
    long long v;
    if (got > 0) {
        line[got] = '\0';
        line[strcspn(line, "\n")] = '\0';
        if (parse_ll(line, 0, INT64_MAX, &v) == 0 && v > *minctr)
            *minctr = v;
    }
    close(out[0]);
    int st = 0;
    waitpid(c, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* One trial of kind on dname: start the worker, kill it, check. The check's exit code, -1 when
 * the trial could not start. */
static int trial(int kind, const char *dname, shared *sh, uint64_t *rng, long long *minctr) {
    if (kind != K_CREATE) {
        ud_dict *d = open_dict(dname, UD_CREATE_OR_ATTACH, kind);
        if (!d) {
            fprintf(stderr, "soak: cannot open %s\n", dname);
            return -1;
        }
        ud_close(d);
    }
    memset(sh, 0, sizeof *sh);
    snprintf(sh->current, sizeof sh->current, "%s_n0", dname);
    pid_t pid = fork();
    if (pid == 0) {
        if (kind == K_THREADS || kind == K_THREADS_SPIN)
            threads_worker(kind, dname);
        worker(kind, dname, sh);
        _exit(0);
    }
    /* Kill at a random moment: anywhere from its first instructions to 30 ms of work. */
    struct timespec ts = {0, (long)(next_random(rng) % 30000) * 1000};
    nanosleep(&ts, NULL);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    char cur[128];
    snprintf(cur, sizeof cur, "%s", sh->current);
    return run_check(kind, dname, cur, minctr);
}

/* Removes the dicts of the run (unless SOAK_KEEP is set). */
static void remove_dicts(const char *name) {
    for (int k = 0; k < K_COUNT && !getenv("SOAK_KEEP"); k++) {
        char dname[80];
        snprintf(dname, sizeof dname, "%s_%s", name, kind_name[k]);
        ud_unlink_by_name(dname);
        for (int i = 0; i < 4; i++) {
            snprintf(dname, sizeof dname, "%s_create_n%d", name, i);
            ud_unlink_by_name(dname);
        }
    }
}

static int usage(void) {
    fprintf(stderr, "usage: soak [--threads] [TRIALS] [SEED]\n");
    return 2;
}

int main(int argc, char **argv) {
    long long kind, minctr, trials = 100, seed = (long long)time(NULL);
    if (argc == 6 && strcmp(argv[1], "--check") == 0) {
        if (parse_ll(argv[2], 0, K_COUNT - 1, &kind) || parse_ll(argv[4], 0, INT64_MAX, &minctr))
            return usage();
        return check((int)kind, argv[3], minctr, argv[5]);
    }
    /* --threads: only the threads kinds. */
    int first = 0;
    if (argc > 1 && strcmp(argv[1], "--threads") == 0) {
        first = K_THREADS;
        argv++;
        argc--;
    }
    if (argc > 3 || (argc > 1 && parse_ll(argv[1], 1, LONG_MAX, &trials)) ||
        (argc > 2 && parse_ll(argv[2], 0, UINT_MAX, &seed)))
        return usage();
    uint64_t rng = (uint64_t)seed * 0x9e3779b97f4a7c15ull + 1; /* never 0 */
    shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED)
        return 2;
    long tried[K_COUNT] = {0}, bad[K_COUNT] = {0}, orphaned[K_COUNT] = {0};
    minctr = 0;
    char name[64];
    snprintf(name, sizeof name, "soak_%d", (int)getpid());
    double t0 = now();
    for (long t = 0; t < trials; t++) {
        int k = first + (int)(t % (K_COUNT - first));
        char dname[80];
        snprintf(dname, sizeof dname, "%s_%s", name, kind_name[k]);
        int code = trial(k, dname, sh, &rng, &minctr);
        tried[k] += code >= 0;
        orphaned[k] += code == 3;
        bad[k] += code != 0 && code != 3;
    }
    long total_bad = 0;
    printf("soak: %lld trials in %.1f s (seed %u)\n", trials, now() - t0, (unsigned)seed);
    printf("%-12s %7s %9s %18s\n", "kind", "trials", "anomalies", "orphans-reclaimed");
    for (int k = first; k < K_COUNT; k++) {
        printf("%-12s %7ld %9ld %18ld\n", kind_name[k], tried[k], bad[k], orphaned[k]);
        total_bad += bad[k];
    }
    remove_dicts(name);
    return total_bad ? 1 : 0;
}
