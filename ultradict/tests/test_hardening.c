/*
 * test_hardening.c - promises that only hold under stress or abuse: lock sections that readers
 * see whole, waits that keep their timeout while the lock holder is stopped, counters a
 * killed process cannot leave wrong, and ud_list() while a control segment is truncated.
 *
 * Children never call cmocka: they _exit() with a status and the parent asserts.
 */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "internal.h"
#include "layout.h"

#define WAIT_LIMIT 60.0

/* ---- ud_lock sections are atomic for readers. ---- */

typedef struct section_arg {
    const char *name;
    double seconds;
    int dump_every; /* 0: never call ud_dump inside the section */
} section_arg;

/* Value for round n: the number, padded so that sections fill the small stream. */
static size_t section_value(char *buf, size_t cap, long n) {
    int len = snprintf(buf, cap, "%ld:", n);
    memset(buf + len, 'v', cap - (size_t)len - 1);
    buf[cap - 1] = '\0';
    return cap - 1;
}

static int section_writer(ud_dict *d, void *varg) {
    section_arg *a = varg;
    char v[300];
    double end = ut_now() + a->seconds;
    for (long n = 1; ut_now() < end; n++) {
        size_t len = section_value(v, sizeof v, n);
        if (ud_lock(d, NULL) != 0)
            return 3;
        if (ud_set(d, S("x"), v, len) != 0)
            return 4;
        if (a->dump_every && n % a->dump_every == 0 && ud_dump(d) != 0)
            return 5;
        if (ud_set(d, S("y"), v, len) != 0)
            return 6;
        if (ud_unlock(d) != 0)
            return 7;
    }
    ud_close(d);
    return 0;
}

static void run_section_atomic(int dump_every) {
    char name[64];
    ud_dict *d = ut_open(ut_name(name), UD_CREATE_ONLY, UD_LOCK_MUTEX, 4096);
    section_arg a = {name, 1.5, dump_every};
    pid_t pid = ut_fork_on(a.name, section_writer, &a);
    assert_true(pid > 0);
    ud_buf x = UD_BUF_INIT, y = UD_BUF_INIT;
    long snapshots = 0, torn = 0;
    double end = ut_now() + a.seconds + 0.5;
    while (ut_now() < end) {
        assert_ok(ud_apply_update(d));
        int rx = ud_get_local(d, S("x"), &x), ry = ud_get_local(d, S("y"), &y);
        if (rx == UD_ENOTFOUND && ry == UD_ENOTFOUND)
            continue;
        snapshots++;
        if (rx != 0 || ry != 0 || x.len != y.len || memcmp(x.data, y.data, x.len) != 0)
            torn++;
    }
    assert_int_equal(ut_wait(pid, WAIT_LIMIT), 0);
    printf("lock sections (ud_dump every %d): %ld snapshots, %ld with x != y\n", dump_every,
           snapshots, torn);
    assert_true(snapshots > 0);
    assert_int_equal(torn, 0);
    /* The last section is complete for a fresh reader too. */
    ud_dict *r = ut_attach(name);
    assert_non_null(r);
    ut_assert_same_dict(d, r);
    assert_ok(ud_close(r));
    ud_buf_free(&x);
    ud_buf_free(&y);
    assert_ok(ud_close(d));
}

static void test_section_atomic(void **state) {
    (void)state;
    run_section_atomic(0);
}

static void test_section_atomic_with_dumps(void **state) {
    (void)state;
    run_section_atomic(3);
}

/* Within a section the writer sees its own writes, a fork child does not inherit them, and a
 * writer killed inside the section leaves nothing of it. */
static int killed_in_section(ud_dict *d, void *varg) {
    (void)varg;
    if (ud_lock(d, NULL) != 0 || ud_set(d, S("half"), S("1")) != 0)
        return 2;
    _exit(0); /* dies with the section open */
}

static void test_section_killed(const char *name) {
    ud_dict *d = ut_open(name, UD_CREATE_ONLY, UD_LOCK_MUTEX, 0);
    assert_ok(ud_lock(d, NULL));
    assert_ok(ud_set(d, S("a"), S("1")));
    assert_ok(ud_dump(d));
    assert_ok(ud_set(d, S("b"), S("2")));
    assert_rc(ud_contains(d, S("a")), 1);
    assert_rc(ud_contains(d, S("b")), 1);
    assert_int_equal(ud_len(d), 2);
    assert_ok(ud_unlock(d));
    pid_t pid = ut_fork_on(name, killed_in_section, NULL);
    assert_int_equal(ut_wait(pid, WAIT_LIMIT), 0);
    ud_dict *r = ut_attach(name);
    assert_non_null(r);
    assert_rc(ud_contains(r, S("half")), 0);
    assert_int_equal(ud_len(r), 2);
    assert_ok(ud_set(r, S("c"), S("3")));
    assert_ok(ud_close(r));
    assert_int_equal(ud_len(d), 3);
    assert_ok(ud_close(d));
}

/* ---- Timeouts hold while the lock holder is stopped. ---- */

static int lock_and_stop(ud_dict *d, void *varg) {
    (void)varg;
    if (ud_lock(d, NULL) != 0)
        return 2;
    raise(SIGSTOP);
    ud_unlock(d);
    return 0;
}

static void test_wait_timeout_holder_stopped(const char *name) {
    ud_dict *d = ut_open(name, UD_CREATE_ONLY, UD_LOCK_MUTEX, 0);
    pid_t pid = ut_fork_on(name, lock_and_stop, NULL);
    assert_true(pid > 0);
    int st;
    assert_int_equal(waitpid(pid, &st, WUNTRACED), pid);
    assert_true(WIFSTOPPED(st));
    assert_int_equal(ud_lock_holder(d), pid);
    /* Guarded in a child: before the fix this never returned. */
    double *took = ut_shared_alloc(sizeof *took);
    pid_t w = fork();
    if (w == 0) {
        double t0 = ut_now();
        int rc = ud_wait(d, 0.5);
        *took = ut_now() - t0;
        _exit(rc == UD_ETIMEDOUT ? 0 : 3);
    }
    int ws = ut_wait(w, 10.0);
    kill(pid, SIGCONT);
    assert_int_equal(ut_wait(pid, WAIT_LIMIT), 0);
    if (ws != 0)
        fail_msg("ud_wait(0.5) with a stopped lock holder: child status %d (-1: still waiting "
                 "after 10 s)",
                 ws);
    printf("ud_wait(0.5) with the holder stopped returned after %.3f s\n", *took);
    assert_true(*took < 3.0);
    ut_shared_free(took, sizeof *took);
    assert_ok(ud_close(d));
}

/* ---- A waiter killed inside ud_wait. ---- */

static int wait_forever(ud_dict *d, void *varg) {
    (void)varg;
    if (ud_apply_update(d) != 0)
        return 2;
    ud_wait(d, 0);
    return 3;
}

static uint32_t read_waiters(const char *name) {
    char path[512];
    uint32_t w = 0;
    size_t n;
    unsigned char *all = ut_file_read(ut_shm_path(path, name, ""), &n);
    if (all && n >= sizeof(ud__control))
        memcpy(&w, all + offsetof(ud__control, waiters), sizeof w);
    free(all);
    return w;
}

static void test_killed_waiters(const char *name) {
    ud_dict *d = ut_open(name, UD_CREATE_ONLY, UD_LOCK_MUTEX, 0);
    for (int i = 0; i < 5; i++) {
        pid_t pid = ut_fork_on(name, wait_forever, NULL);
        double t0 = ut_now();
        while (read_waiters(name) != (uint32_t)i + 1 && ut_now() - t0 < 10)
            ut_sleep(0.005);
        assert_int_equal(read_waiters(name), i + 1);
        kill(pid, SIGKILL);
        assert_int_equal(ut_wait(pid, WAIT_LIMIT), 128 + SIGKILL);
    }
    assert_int_equal(read_waiters(name), 5);
    /* The next write finds nobody alive behind the count and clears it. */
    assert_ok(ud_set(d, S("k"), S("v")));
    assert_int_equal(read_waiters(name), 0);
    /* A live waiter is still woken, and counted while it waits. */
    pid_t pid = ut_fork_on(name, wait_forever, NULL);
    double t0 = ut_now();
    while (read_waiters(name) != 1 && ut_now() - t0 < 10)
        ut_sleep(0.005);
    assert_int_equal(read_waiters(name), 1);
    assert_ok(ud_set(d, S("k"), S("w")));
    assert_int_equal(ut_wait(pid, WAIT_LIMIT), 3);
    assert_int_equal(read_waiters(name), 0);
    assert_ok(ud_close(d));
}

/* ---- Nested dicts orphaned by a crash are reclaimed; one still being filled is not. ---- */

static void check_value(ud_dict *d, const char *key, const char *val) {
    ud_buf b = {0};
    assert_ok(ud_get(d, S(key), &b));
    assert_buf_eq(&b, val, strlen(val));
    ud_buf_free(&b);
}

/* Creates a nested child of the dict and dies before publishing it, as a process killed
 * between creating a child and storing it under its key. Exits with 0 once the child exists. */
static int orphan_child(void *varg) {
    ud_options o = ut_options(varg);
    o.create = UD_ATTACH_ONLY;
    o.recurse = true;
    ud_dict *d = NULL, *c = NULL;
    if (ud_open(&o, &d) != 0 || ud_child_create(d, &c) != 0 || ud_set(c, S("x"), S("1")) != 0)
        _exit(2);
    _exit(0); /* no close: the child is left in /dev/shm, referenced by nobody */
}

static void test_orphans_reclaimed(const char *name) {
    ud_dict *d = ut_open_recursive(name, UD_CREATE_ONLY);
    int empty = ut_count_segments(name);
    ud_dict *kept = NULL;
    assert_ok(ud_set_dict(d, S("kept"), &kept));
    assert_ok(ud_set(kept, S("k"), S("v")));
    assert_ok(ud_close(kept));
    int before = ut_count_segments(name);
    for (int i = 0; i < 3; i++) {
        pid_t pid = ut_fork(orphan_child, (void *)name);
        assert_int_equal(ut_wait(pid, WAIT_LIMIT), 0);
    }
    assert_int_equal(ut_count_segments(name), before + 3 * 4);
    /* Recovery removes the three dead creators' children and keeps the referenced one. */
    assert_int_equal(ud_reclaim(d), 3);
    assert_int_equal(ut_count_segments(name), before);
    assert_ok(ud_get_dict(d, S("kept"), &kept));
    check_value(kept, "k", "v");
    assert_ok(ud_close(kept));
    /* ud_clear() reclaims them too. */
    pid_t pid = ut_fork(orphan_child, (void *)name);
    assert_int_equal(ut_wait(pid, WAIT_LIMIT), 0);
    assert_ok(ud_clear(d));
    assert_int_equal(ut_count_segments(name), empty);
    assert_ok(ud_close(d));
}

/* A child that a live process has created but not yet published survives the parent's
 * ud_clear() and ud_reclaim() in another process, and can still be published. */
static int clear_parent(void *varg) {
    ud_options o = ut_options(varg);
    o.create = UD_ATTACH_ONLY;
    o.recurse = true;
    ud_dict *d = NULL;
    if (ud_open(&o, &d) != 0 || ud_clear(d) != 0 || ud_reclaim(d) != 0)
        _exit(2);
    _exit(ud_close(d) == 0 ? 0 : 3);
}

static void test_child_being_filled_kept(const char *name) {
    ud_dict *d = ut_open_recursive(name, UD_CREATE_ONLY);
    ud_dict *c = NULL;
    assert_ok(ud_child_create(d, &c));
    assert_ok(ud_set(c, S("x"), S("1")));
    pid_t pid = ut_fork(clear_parent, (void *)name);
    assert_int_equal(ut_wait(pid, WAIT_LIMIT), 0);
    assert_ok(ud_set(c, S("y"), S("2")));
    assert_ok(ud_set_child(d, S("child"), c));
    assert_ok(ud_close(c));
    ud_dict *r = NULL;
    assert_ok(ud_get_dict(d, S("child"), &r));
    check_value(r, "x", "1");
    check_value(r, "y", "2");
    assert_ok(ud_close(r));
    assert_ok(ud_close(d));
}

/* ---- ud_list while another process truncates a dict's control segment. ---- */

typedef struct truncator_arg {
    const char *path;
    double seconds;
} truncator_arg;

/* Shrinks the control segment to nothing and grows it back, again and again. */
static int truncator_child(void *varg) {
    const truncator_arg *a = varg;
    int fd = open(a->path, O_RDWR);
    if (fd < 0)
        return 2;
    off_t size = (off_t)ud__control_size();
    double end = ut_now() + a->seconds;
    while (ut_now() < end)
        if (ftruncate(fd, 0) != 0 || ftruncate(fd, size) != 0)
            return 3;
    close(fd);
    return 0;
}

static int count_cb(void *ctx, const ud_dict_info *info) {
    (void)info;
    ++*(long *)ctx;
    return 0;
}

/* Lists the dicts again and again; a read past a file's end would kill it with SIGBUS. */
static int lister_child(void *varg) {
    double end = ut_now() + *(const double *)varg;
    long seen = 0;
    while (ut_now() < end)
        if (ud_list(count_cb, &seen) != 0)
            return 2;
    return seen > 0 ? 0 : 3;
}

/* ud_list() reads every control segment in /dev/shm, including ones other processes are
 * damaging or truncating at that moment: it must report them, never die of SIGBUS. */
static void test_list_while_truncated(void **state) {
    (void)state;
    char name[64], path[512];
    ud_options o = ut_options(ut_name(name));
    o.create = UD_CREATE_ONLY;
    ud_dict *d = NULL;
    assert_ok(ud_open(&o, &d));
    double seconds = 1.0;
    truncator_arg ta = {ut_shm_path(path, name, ""), seconds};
    pid_t pids[2] = {ut_fork(truncator_child, &ta), ut_fork(lister_child, &seconds)};
    ut_assert_children(pids, 2, WAIT_LIMIT, "list while truncated");
    ud_unlink(d);
    ud_close(d);
}

UT_MAIN(UT_TEST(test_section_atomic), UT_TEST(test_section_atomic_with_dumps),
        UT_NAMED_TEST(test_section_killed), UT_NAMED_TEST(test_wait_timeout_holder_stopped),
        UT_NAMED_TEST(test_killed_waiters), UT_NAMED_TEST(test_orphans_reclaimed),
        UT_NAMED_TEST(test_child_being_filled_kept), UT_TEST(test_list_while_truncated))
