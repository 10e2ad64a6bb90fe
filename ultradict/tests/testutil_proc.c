/*
 * testutil_proc.c - the tests' processes (see testutil.h): forking, exec'ing this binary,
 * waiting with a deadline, gates that release children together, and shared memory for their
 * reports.
 */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- Processes. ---- */

int64_t ut_get_i64(ud_dict *d, const char *key) {
    ud_buf v = UD_BUF_INIT;
    assert_ok(ud_get(d, key, strlen(key), &v));
    int64_t n = 0;
    assert_int_equal(ut_parse_i64(v.data, v.len, &n), 0);
    ud_buf_free(&v);
    return n;
}

ud_dict *ut_attach(const char *name) {
    ud_options o = UD_OPTIONS_INIT;
    o.name = name;
    o.create = UD_ATTACH_ONLY;
    ud_dict *d = NULL;
    return ud_open(&o, &d) == 0 ? d : NULL;
}

void ut_assert_children(const pid_t *pids, int n, double timeout, const char *what) {
    int *status = calloc((size_t)n, sizeof *status);
    assert_non_null(status);
    int bad = ut_wait_all(pids, n, timeout, status);
    for (int i = 0; i < n; i++) {
        if (status[i] != 0) {
            char buf[64];
            print_error("%s: child %d (pid %d): %s\n", what, i, (int)pids[i],
                        ut_status_str(status[i], buf, sizeof buf));
        }
    }
    free(status);
    if (bad != 0)
        fail_msg("%s: %d of %d children failed", what, bad, n);
}

pid_t ut_fork(int (*fn)(void *), void *arg) {
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        /* cmocka catches crashes to carry on with the next test: in a child, that would run
         * the rest of the suite a second time. A crash must end the child, visibly. */
        const int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
        for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
            signal(sigs[i], SIG_DFL);
        int rc = fn(arg);
        _exit(rc & 0xff);
    }
    return pid;
}

typedef struct ut_on_arg {
    const char *name;
    ut_dict_fn fn;
    void *arg;
} ut_on_arg;

static int ut_on_child(void *varg) {
    const ut_on_arg *on = varg;
    ud_dict *d = ut_attach(on->name);
    if (d == NULL)
        return 2;
    return on->fn(d, on->arg);
}

pid_t ut_fork_on(const char *name, ut_dict_fn fn, void *arg) {
    /* The child gets its own copy of this frame: `on` outlives the fork there. */
    ut_on_arg on = {name, fn, arg};
    return ut_fork(ut_on_child, &on);
}

void ut_fork_n_on(pid_t *pids, int n, const char *name, ut_dict_fn fn, void *arg) {
    for (int i = 0; i < n; i++) {
        pids[i] = ut_fork_on(name, fn, arg);
        assert_true(pids[i] > 0);
    }
}

pid_t ut_spawn_self(const char *const *args) {
    static char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return -1;
    self[n] = '\0';
    const char *argv[32];
    int argc = 0;
    argv[argc++] = self;
    for (int i = 0; args[i] != NULL && argc < 31; i++)
        argv[argc++] = args[i];
    argv[argc] = NULL;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        execv(self, (char *const *)argv);
        _exit(127);
    }
    return pid;
}

static int ut_decode_status(int st) {
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    if (WIFSIGNALED(st))
        return 128 + WTERMSIG(st);
    return 255;
}

int ut_wait(pid_t pid, double timeout) {
    int status = -1;
    ut_wait_all(&pid, 1, timeout, &status);
    return status;
}

/* The children ut_wait_all() is waiting for, and what it has learnt of them so far. */
typedef struct ut_reaper {
    const pid_t *pids;
    int n;
    int *status; /* may be NULL */
    bool *done;
    int left, bad;
} ut_reaper;

/* Notes child i's exit status s (255: it was not our child). */
static void ut_reaped(ut_reaper *r, int i, int s) {
    if (r->status != NULL)
        r->status[i] = s;
    if (s != 0)
        r->bad++;
    r->done[i] = true;
    r->left--;
}

/* Collects, without blocking, every child that has exited. True when there was one. */
static bool ut_reap_exited(ut_reaper *r) {
    bool progressed = false;
    for (int i = 0; i < r->n; i++) {
        if (r->done[i])
            continue;
        int st;
        pid_t got = waitpid(r->pids[i], &st, WNOHANG);
        if (got == r->pids[i] || (got < 0 && errno == ECHILD)) {
            ut_reaped(r, i, got == r->pids[i] ? ut_decode_status(st) : 255);
            progressed = true;
        }
    }
    return progressed;
}

/* The deadline passed: kills and reaps the children still running, each with status -1. */
static void ut_kill_remaining(ut_reaper *r) {
    for (int i = 0; i < r->n; i++) {
        if (r->done[i])
            continue;
        kill(r->pids[i], SIGKILL);
        waitpid(r->pids[i], NULL, 0);
        if (r->status != NULL)
            r->status[i] = -1;
        r->bad++;
    }
}

int ut_wait_all(const pid_t *pids, int n, double timeout, int *status) {
    double deadline = ut_now() + timeout;
    ut_reaper r = {pids, n, status, calloc((size_t)n, sizeof(bool)), n, 0};
    if (r.done == NULL)
        return n;
    /* Polling naps start short and double while nothing exits, up to 5 ms. */
    double nap = 0.0002;
    while (r.left > 0) {
        bool progressed = ut_reap_exited(&r);
        if (r.left == 0)
            break;
        if (ut_now() > deadline) {
            ut_kill_remaining(&r);
            break;
        }
        if (progressed)
            nap = 0.0002;
        else if (nap < 0.005)
            nap *= 2;
        ut_sleep(nap);
    }
    free(r.done);
    return r.bad;
}

const char *ut_status_str(int status, char *buf, size_t cap) {
    if (status < 0)
        snprintf(buf, cap, "timeout (killed)");
    else if (status >= 128 && status < 128 + 65)
        snprintf(buf, cap, "killed by signal %d (%s)", status - 128, strsignal(status - 128));
    else
        snprintf(buf, cap, "exit %d", status);
    return buf;
}

int ut_gate_open(int gate[2]) {
    if (pipe(gate) != 0)
        return -1;
    return fcntl(gate[1], F_SETFD, FD_CLOEXEC) == 0 ? 0 : -1;
}

int ut_gate_wait(int gate[2]) {
    if (gate[1] >= 0) {
        close(gate[1]);
        gate[1] = -1;
    }
    char c;
    ssize_t r;
    do {
        r = read(gate[0], &c, 1);
    } while (r < 0 && errno == EINTR);
    return r == 0 ? 0 : -1;
}

void ut_gate_release(int gate[2]) {
    if (gate[1] >= 0)
        close(gate[1]);
    gate[1] = -1;
}

void ut_gate_close(int gate[2]) {
    ut_gate_release(gate);
    if (gate[0] >= 0)
        close(gate[0]);
    gate[0] = -1;
}

typedef struct ut_gated_arg {
    int *gate;
    int (*fn)(void *);
    void *arg;
} ut_gated_arg;

static int ut_gated_child(void *varg) {
    const ut_gated_arg *g = varg;
    if (ut_gate_wait(g->gate) != 0)
        return 2;
    return g->fn(g->arg);
}

pid_t ut_fork_gated(int gate[2], int (*fn)(void *), void *arg) {
    ut_gated_arg g = {gate, fn, arg}; /* the child has its own copy of this frame */
    return ut_fork(ut_gated_child, &g);
}

double ut_gate_run(int gate[2], const pid_t *pids, int n, double timeout, const char *what) {
    double t0 = ut_now();
    ut_gate_release(gate);
    ut_assert_children(pids, n, timeout, what);
    double el = ut_now() - t0;
    ut_gate_close(gate);
    return el;
}

pid_t ut_fork_ready(const char *name, ut_dict_fn fn, void *arg, int ready[2]) {
    assert_int_equal(pipe(ready), 0);
    pid_t pid = ut_fork_on(name, fn, arg);
    assert_true(pid > 0);
    close(ready[1]);
    char c;
    assert_int_equal(read(ready[0], &c, 1), 1);
    close(ready[0]);
    return pid;
}

int ut_ready(int ready[2]) {
    close(ready[0]);
    return write(ready[1], "x", 1) == 1 ? 0 : -1;
}

static int ut_holder_child(ud_dict *d, void *varg) {
    ut_holder *h = varg;
    if (ud_lock(d, NULL) != 0)
        return 3;
    if (ut_ready(h->ready) != 0)
        return 4;
    if (h->die_after >= 0) {
        ut_sleep(h->die_after);
        _exit(0); /* holding the lock */
    }
    ut_gate_wait(h->release);
    (void)ud_unlock(d); /* may fail if the lock was stolen: not the point here */
    ud_close(d);
    return 0;
}

pid_t ut_holder_start(ut_holder *h, const char *name, double die_after) {
    h->die_after = die_after;
    h->release[0] = h->release[1] = -1;
    if (die_after < 0)
        assert_int_equal(ut_gate_open(h->release), 0);
    h->pid = ut_fork_ready(name, ut_holder_child, h, h->ready);
    return h->pid;
}

void ut_holder_release(ut_holder *h, double timeout) {
    ut_gate_release(h->release);
    assert_int_equal(ut_wait(h->pid, timeout), 0);
    ut_gate_close(h->release);
}

void *ut_shared_alloc(size_t n) {
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void ut_shared_free(void *p, size_t n) {
    if (p != NULL)
        munmap(p, n);
}
