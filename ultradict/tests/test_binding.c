/*
 * test_binding.c - the calls a language binding needs: the change position, attaching with the
 * creator's options, small buffers rounded up, nested dicts by name and created filled, two
 * handles of one dict in one thread (sharing one hold, each seeing the other's writes, none
 * overwriting the other's records), and stealing the lock only from a given or dead holder.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "testutil.h"

static void test_change_position(const char *name) {
    ud_dict *a = ut_open(name, UD_CREATE_ONLY, UD_LOCK_MUTEX, 0);
    ud_dict *b = ut_open(name, UD_ATTACH_ONLY, UD_LOCK_MUTEX, 0);
    uint64_t p0 = ud_change_position(b);
    assert_int_equal(ud_change_position(a), p0);
    ud_buf v = UD_BUF_INIT;
    /* Reads do not move it. */
    assert_rc(ud_get(b, S("k"), &v), UD_ENOTFOUND);
    assert_int_equal(ud_change_position(b), p0);
    /* A write through either handle moves it for both, and never back. */
    assert_ok(ud_set(a, S("k"), S("1")));
    uint64_t p1 = ud_change_position(b);
    assert_true(p1 > p0);
    assert_ok(ud_dump(a));
    assert_true(ud_change_position(b) >= p1);
    uint64_t p2 = ud_change_position(b);
    assert_ok(ud_del(b, S("k")));
    assert_true(ud_change_position(a) > p2);
    /* Inside a section, the holder's own unpublished writes move it for the holder (a cache
     * keyed on it must not serve the value they replaced, as in `with d.lock: d[k] += 1`)... */
    assert_ok(ud_set(a, S("k"), S("1")));
    assert_ok(ud_lock(a, NULL));
    uint64_t p3 = ud_change_position(a);
    assert_ok(ud_set(a, S("k"), S("2")));
    uint64_t p4 = ud_change_position(a);
    assert_true(p4 > p3);
    assert_ok(ud_set(a, S("k"), S("3")));
    assert_true(ud_change_position(a) > p4);
    /* ...and for a second handle of this thread, which sees them. */
    assert_true(ud_change_position(b) > p4);
    assert_ok(ud_get(b, S("k"), &v));
    assert_buf_eq(&v, S("3"));
    assert_ok(ud_unlock(a));
    assert_int_equal(ud_change_position(NULL), 0);
    ud_buf_free(&v);
    assert_ok(ud_close(b));
    assert_ok(ud_close(a));
}

/* In a fork child of the holder: 0 if the copied handle does not claim the parent's lock. */
static int lock_held_in_child(void *arg) {
    return ud_lock_held(arg) ? 1 : 0;
}

static void test_lock_held(const char *name) {
    ud_dict *a = ut_open(name, UD_CREATE_ONLY, UD_LOCK_MUTEX, 0);
    assert_false(ud_lock_held(a));
    assert_false(ud_lock_held(NULL));
    assert_ok(ud_set(a, S("k"), S("1"))); /* an operation's own hold is not a section */
    assert_false(ud_lock_held(a));
    assert_ok(ud_lock(a, NULL));
    assert_true(ud_lock_held(a));
    assert_ok(ud_lock(a, NULL));
    assert_ok(ud_unlock(a));
    assert_true(ud_lock_held(a)); /* re-entered: still held until the outermost unlock */
    pid_t pid = ut_fork(lock_held_in_child, a);
    assert_true(pid > 0);
    assert_int_equal(ut_wait(pid, 10), 0);
    assert_ok(ud_unlock(a));
    assert_false(ud_lock_held(a));
    assert_ok(ud_close(a));
}

static void test_attach_creator_wins(const char *name) {
    ud_options o = ut_options(name);
    o.create = UD_CREATE_ONLY;
    o.buffer_size = 100; /* rounded up to 4096 */
    o.full_dump_size = 20000;
    o.lock = UD_LOCK_SPIN;
    ud_dict *a = NULL, *b = NULL;
    assert_ok(ud_open(&o, &a));
    ud_status_info st;
    assert_ok(ud_status(a, &st));
    assert_int_equal(st.buffer_size, 4096);

    /* Strict attach with other values fails... */
    ud_options p = ut_options(name);
    p.create = UD_ATTACH_ONLY;
    p.buffer_size = 1 << 20;
    p.full_dump_size = 1;
    p.lock = UD_LOCK_SPIN;
    assert_rc(ud_open(&p, &b), UD_EMISMATCH);
    /* ...and with UD_ATTACH_CREATOR the creator's values win. */
    p.attach = UD_ATTACH_CREATOR;
    p.lock = UD_LOCK_MUTEX;
    assert_ok(ud_open(&p, &b));
    assert_ok(ud_status(b, &st));
    assert_int_equal(st.buffer_size, 4096);
    assert_int_equal(st.full_dump_size, 20000);
    assert_int_equal(st.lock_mode, UD_LOCK_SPIN);
    p.attach = 5;
    ud_dict *c = NULL;
    assert_rc(ud_open(&p, &c), UD_EINVAL);
    assert_ok(ud_close(b));
    assert_ok(ud_close(a));
}

static void test_nested_by_name(void **state) {
    (void)state;
    char name[64];
    ud_dict *a = ut_open_recursive(ut_name(name), UD_CREATE_ONLY);
    ud_dict *b = ut_open_recursive(name, UD_ATTACH_ONLY);
    ud_dict *child = NULL, *seen = NULL;
    ud_buf cn = UD_BUF_INIT, v = UD_BUF_INIT;

    /* A new child is invisible until it is published, so it is never seen empty. */
    assert_ok(ud_child_create(a, &child));
    assert_ok(ud_set(child, S("x"), S("1")));
    assert_ok(ud_set(child, S("y"), S("2")));
    assert_rc(ud_child_name(b, S("kid"), &cn), UD_ENOTFOUND);
    assert_ok(ud_set_child(a, S("kid"), child));
    assert_ok(ud_child_name(b, S("kid"), &cn));
    assert_string_equal(cn.data, ud_name(child));
    assert_ok(ud_open_child(b, cn.data, &seen));
    assert_int_equal(ud_len(seen), 2);
    /* The handle stays valid for later writes: no reopening per access. */
    assert_ok(ud_set(child, S("z"), S("3")));
    assert_ok(ud_get(seen, S("z"), &v));
    assert_buf_eq(&v, S("3"));
    /* Storing the same child again keeps it alive. */
    assert_ok(ud_set_child(a, S("kid"), child));
    assert_ok(ud_get(seen, S("x"), &v));

    /* Errors: plain values, foreign names, non-recursive dicts. */
    assert_ok(ud_set(a, S("plain"), S("v")));
    assert_rc(ud_child_name(b, S("plain"), &cn), UD_EWRONGTYPE);
    ud_dict *bad = NULL;
    assert_rc(ud_open_child(b, "t_other.c12", &bad), UD_ECORRUPT);
    ud_dict *flat = ut_open(ut_name(name), UD_CREATE_ONLY, UD_LOCK_MUTEX, 0);
    assert_rc(ud_child_create(flat, &bad), UD_ENOTRECURSIVE);
    assert_rc(ud_set_child(flat, S("k"), child), UD_ENOTRECURSIVE);

    /* Replacing the child with a new one unlinks the old. */
    ud_dict *other = NULL;
    assert_ok(ud_child_create(a, &other));
    char old[UD_FULL_NAME_BUF];
    snprintf(old, sizeof old, "%s", ud_name(child));
    assert_ok(ud_set_child(a, S("kid"), other));
    assert_int_equal(ud_exists(old), 0);

    ud_buf_free(&cn);
    ud_buf_free(&v);
    assert_ok(ud_close(other));
    assert_ok(ud_close(seen));
    assert_ok(ud_close(child));
    assert_ok(ud_close(flat));
    assert_ok(ud_close(b));
    assert_ok(ud_close(a));
}

/* In a child: tries the lock without blocking, 0 if busy as expected. */
static int busy_elsewhere(void *arg) {
    ud_dict *d = ut_attach(arg);
    if (!d)
        return 10;
    ud_lock_options nb = UD_LOCK_OPTIONS_INIT;
    nb.nonblock = true;
    int rc = ud_lock(d, &nb);
    ud_close(d);
    return rc == UD_EBUSY ? 0 : 11;
}

static void run_two_handles(int lock) {
    char name[64];
    ud_dict *a = ut_open(ut_name(name), UD_CREATE_ONLY, lock, 0);
    ud_dict *b = ut_open(name, UD_ATTACH_ONLY, lock, 0);
    /* `with a.lock: b[k] = v`: the second handle shares the hold of the first. */
    assert_ok(ud_lock(a, NULL));
    assert_ok(ud_set(b, S("k"), S("1")));
    assert_ok(ud_lock(b, NULL));
    assert_ok(ud_incr(b, S("k"), 1, NULL));
    /* Other processes are still excluded while both are held... */
    pid_t pid = ut_fork(busy_elsewhere, name);
    ut_assert_children(&pid, 1, 10, "lock busy while shared");
    assert_ok(ud_unlock(b));
    /* ...and after the sharer let go. */
    pid = ut_fork(busy_elsewhere, name);
    ut_assert_children(&pid, 1, 10, "lock busy after the sharer let go");
    assert_ok(ud_unlock(a));
    assert_int_equal(ud_lock_holder(a), 0);
    ud_lock_options nb = UD_LOCK_OPTIONS_INIT;
    nb.nonblock = true;
    assert_ok(ud_lock(b, &nb));
    assert_ok(ud_unlock(b));
    assert_ok(ud_close(b));
    assert_ok(ud_close(a));
}

#define IL_VLEN 300

/* Shared with the checking child. */
struct il_shared {
    int n;
    char name[64];
};

/* The key of the i-th write of kind `which` ('x' and 'z' through the owner, 'y' through the
 * sharer). */
static size_t il_key(char *buf, char which, int i) {
    return (size_t)snprintf(buf, 16, "%c%d", which, i);
}

/* 0 if d holds exactly the 3 * n intact values of an interleaved section, else a code. */
static int il_check(ud_dict *d, int n) {
    if (ud_len(d) != (size_t)(3 * n))
        return 20;
    ud_buf v = UD_BUF_INIT;
    int bad = 0;
    for (int i = 0; i < n && !bad; i++) {
        for (const char *w = "xyz"; *w && !bad; w++) {
            char k[16];
            size_t kl = il_key(k, *w, i);
            uint64_t seq;
            if (ud_get(d, k, kl, &v) != 0 || v.len != IL_VLEN ||
                ut_value_check(k, kl, v.data, v.len, &seq) != 0 || seq != (uint64_t)i)
                bad = 21;
        }
    }
    ud_buf_free(&v);
    return bad;
}

static int il_child(void *arg) {
    const struct il_shared *sh = arg;
    ud_dict *d = ut_attach(sh->name);
    if (!d)
        return 10;
    int rc = il_check(d, sh->n);
    ud_close(d);
    return rc;
}

static void il_set(ud_dict *d, char which, int i) {
    char k[16], v[IL_VLEN];
    size_t kl = il_key(k, which, i);
    ut_value_make(v, sizeof v, k, kl, (uint64_t)i);
    assert_ok(ud_set(d, k, kl, v, sizeof v));
}

/* A sees what B wrote and B what A wrote, inside the section. */
static void il_assert_sees(ud_dict *d, char which, int i) {
    char k[16];
    size_t kl = il_key(k, which, i);
    ud_buf v = UD_BUF_INIT;
    assert_ok(ud_get(d, k, kl, &v));
    assert_int_equal(ut_value_check(k, kl, v.data, v.len, NULL), 0);
    ud_buf_free(&v);
}

/*
 * `with a.lock:` A writes x, B writes y, A writes z - n times, with dumps inside the section when
 * `dumps` (the stream of a small buffer fills, and both handles ask for one), each handle
 * reading the other's writes in between when `peek`. B must neither
 * write over A's unpublished records nor have its own written over; afterwards a third handle
 * and another process see every value intact.
 */
static void run_interleaved(int lock, int n, bool dumps, bool peek) {
    struct il_shared *sh = ut_shared_alloc(sizeof *sh);
    sh->n = n;
    ud_dict *a = ut_open(ut_name(sh->name), UD_CREATE_ONLY, lock, dumps ? 4096 : 0);
    ud_dict *b = ut_open(sh->name, UD_ATTACH_ONLY, lock, 0);
    ud_dict *c = ut_open(sh->name, UD_ATTACH_ONLY, lock, 0);
    assert_ok(ud_lock(a, NULL));
    for (int i = 0; i < n; i++) {
        il_set(a, 'x', i);
        il_set(b, 'y', i);
        if (peek)
            il_assert_sees(a, 'y', i);
        il_set(a, 'z', i);
        if (peek) {
            il_assert_sees(b, 'x', i);
            il_assert_sees(b, 'z', i);
        }
        if (dumps && i % 7 == 3)
            assert_ok(ud_dump(i % 2 ? a : b));
    }
    assert_ok(ud_unlock(a));
    assert_int_equal(ud_lock_holder(a), 0);
    assert_int_equal(il_check(c, n), 0);
    assert_int_equal(il_check(a, n), 0);
    assert_int_equal(il_check(b, n), 0);
    pid_t pid = ut_fork(il_child, sh);
    ut_assert_children(&pid, 1, 10, "a child sees the interleaved writes");
    assert_ok(ud_close(c));
    assert_ok(ud_close(b));
    assert_ok(ud_close(a));
    ut_shared_free(sh, sizeof *sh);
}

static void test_two_handles_interleaved(void **state) {
    (void)state;
    for (int peek = 0; peek < 2; peek++) {
        run_interleaved(UD_LOCK_MUTEX, 1, false, peek);
        run_interleaved(UD_LOCK_SPIN, 1, false, peek);
        run_interleaved(UD_LOCK_MUTEX, 40, true, peek);
        run_interleaved(UD_LOCK_SPIN, 40, true, peek);
    }
}

/* In a child: takes the lock, reports through the pipe, then sleeps until killed or told. */
static int hold_lock(void *arg) {
    char **a = arg;
    ud_dict *d = ut_attach(a[0]);
    if (!d || ud_lock(d, NULL) != 0)
        return 10;
    int fd = atoi(a[1]);
    if (write(fd, "x", 1) != 1)
        return 11;
    ut_sleep(2.0);
    ud_unlock(d);
    ud_close(d);
    return 0;
}

static pid_t start_holder(const char *name, char fdbuf[16], int fds[2]) {
    if (pipe(fds) != 0)
        fail();
    snprintf(fdbuf, 16, "%d", fds[1]);
    static char *args[2];
    args[0] = (char *)name;
    args[1] = fdbuf;
    pid_t pid = ut_fork(hold_lock, args);
    char c;
    assert_int_equal(read(fds[0], &c, 1), 1);
    close(fds[0]);
    close(fds[1]);
    return pid;
}

static void test_steal(void **state) {
    (void)state;
    char name[64], fdbuf[16];
    int fds[2];
    ud_dict *d = ut_open(ut_name(name), UD_CREATE_ONLY, UD_LOCK_SPIN, 0);
    pid_t holder = start_holder(name, fdbuf, fds);

    /* steal_after_timeout never robs a live holder. */
    ud_lock_options lo = UD_LOCK_OPTIONS_INIT;
    lo.timeout = 0.05;
    lo.steal_after_timeout = true;
    assert_rc(ud_lock(d, &lo), UD_ETIMEDOUT);
    assert_int_equal(ud_lock_holder(d), holder);
    /* Stealing from a pid that does not hold it changes nothing. */
    assert_rc(ud_lock_steal_from(d, holder + 100000), UD_EBUSY);
    assert_rc(ud_lock_steal_from(d, 0), UD_EINVAL);
    assert_int_equal(ud_lock_holder(d), holder);
    /* Stealing from the holder it names takes it at once. */
    assert_ok(ud_lock_steal_from(d, holder));
    assert_int_equal(ud_lock_holder(d), getpid());
    assert_ok(ud_unlock(d));
    kill(holder, SIGKILL);
    ut_wait(holder, 10);

    /* steal_after_timeout takes it from a dead holder. */
    holder = start_holder(name, fdbuf, fds);
    kill(holder, SIGKILL);
    ut_wait(holder, 10);
    assert_ok(ud_lock(d, &lo));
    assert_int_equal(ud_lock_holder(d), getpid());
    assert_ok(ud_unlock(d));

    ud_dict *m = ut_open(ut_name(name), UD_CREATE_ONLY, UD_LOCK_MUTEX, 0);
    assert_rc(ud_lock_steal_from(m, 1), -ENOTSUP);
    assert_ok(ud_close(m));
    assert_ok(ud_close(d));
}

UT_MAIN(UT_NAMED_TEST(test_change_position), UT_NAMED_TEST(test_lock_held),
        UT_NAMED_TEST(test_attach_creator_wins), UT_TEST(test_nested_by_name),
        UT_LOCK_TESTS(test_two_handles, run_two_handles), UT_TEST(test_two_handles_interleaved),
        UT_TEST(test_steal))
