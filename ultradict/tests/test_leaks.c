/*
 * test_leaks.c - resources do not grow: 5,000 dicts opened and closed, 5,000 attach/close cycles
 * on one dict, nested children created and replaced 1,000 times, and 64 processes attached to
 * one dict at once.
 */
#include "testutil.h"

#include <stdatomic.h>
#include <stdlib.h>

static void test_5000_dicts(void **state) {
    (void)state;
    enum { N = 5000 };
    int fds0 = ut_count_fds();
    int segs0 = ut_count_shm_prefix(ut_prefix());
    double t0 = ut_now();
    for (int i = 0; i < N; i++) {
        char name[64];
        ud_options o = ut_options(ut_name(name));
        o.create = UD_CREATE_ONLY;
        o.buffer_size = 4096;
        ud_dict *d = NULL;
        int rc = ud_open(&o, &d);
        if (rc != 0)
            fail_msg("dict %d: ud_open: %s", i, ud_errname(rc));
        assert_ok(ud_set(d, S("a"), S("1")));
        assert_ok(ud_set(d, S("b"), S("2")));
        assert_ok(ud_incr(d, S("c"), 3, NULL));
        if (i % 10 == 0)
            assert_ok(ud_dump(d));
        if (i % 500 == 0) {
            assert_true(ut_count_segments(name) <= 4);
            assert_int_equal(ut_unexpected_segments(name), 0);
        }
        assert_ok(ud_close(d));
        if (i % 1000 == 999) {
            int fds = ut_count_fds(), segs = ut_count_shm_prefix(ut_prefix());
            if (fds != fds0 || segs != segs0)
                fail_msg("after %d dicts: %d fds (started with %d), %d segments (started with %d)",
                         i + 1, fds, fds0, segs, segs0);
        }
    }
    printf("%d dicts created, written and closed in %.2f s\n", N, ut_now() - t0);
    assert_int_equal(ut_count_fds(), fds0);
    assert_int_equal(ut_count_shm_prefix(ut_prefix()), segs0);
    /* Forget the 5,000 names: they are gone already (checked above). */
    ut_cleanup();
}

static void test_5000_attachments(const char *name) {
    enum { N = 5000 };
    ud_options o = ut_options(name);
    ud_dict *d = NULL;
    assert_ok(ud_open(&o, &d));
    int fds0 = ut_count_fds();
    int segs0 = ut_count_segments(name);
    ud_options a = ut_options(name);
    a.create = UD_ATTACH_ONLY;
    for (int i = 0; i < N; i++) {
        ud_dict *h = NULL;
        int rc = ud_open(&a, &h);
        if (rc != 0)
            fail_msg("attachment %d: %s", i, ud_errname(rc));
        assert_ok(ud_incr(h, S("n"), 1, NULL));
        if (i % 100 == 0)
            assert_ok(ud_dump(h));
        assert_ok(ud_close(h));
    }
    assert_int_equal(ut_count_fds(), fds0);
    assert_int_equal(ut_count_segments(name), segs0);
    ud_status_info st;
    assert_ok(ud_status(d, &st));
    assert_true(st.attached <= 1);
    ud_buf v = UD_BUF_INIT;
    assert_ok(ud_get(d, S("n"), &v));
    assert_buf_eq(&v, "5000", 4);
    ud_buf_free(&v);
    assert_ok(ud_close(d));
}

static void test_nested_replaced(const char *name) {
    enum { N = 1000 };
    ud_options o = ut_options(name);
    o.recurse = true;
    o.buffer_size = 4096;
    ud_dict *root = NULL, *other = NULL;
    assert_ok(ud_open(&o, &root));
    o.create = UD_ATTACH_ONLY;
    assert_ok(ud_open(&o, &other));
    int fds_ref = -1, segs_ref = -1;
    double t0 = ut_now();
    for (int i = 0; i < N; i++) {
        ud_dict *child = NULL;
        switch (i % 4) {
        case 0: /* replace the child under "n" */
            assert_ok(ud_set_dict(root, S("n"), &child));
            assert_ok(ud_set(child, S("k"), S("v")));
            assert_ok(ud_close(child));
            break;
        case 1: /* read it through the other handle */
            assert_ok(ud_get_dict(other, S("n"), &child));
            assert_rc(ud_contains(child, S("k")), 1);
            assert_ok(ud_close(child));
            break;
        case 2: /* replace it with bytes, and add and delete another child */
            assert_ok(ud_set(other, S("n"), S("bytes")));
            assert_ok(ud_set_dict(other, S("m"), NULL));
            assert_ok(ud_del(root, S("m")));
            break;
        default: /* a child again, dumped */
            assert_ok(ud_set_dict(root, S("n"), &child));
            assert_ok(ud_set(child, S("k"), S("v")));
            assert_ok(ud_dump(child));
            assert_ok(ud_close(child));
            assert_ok(ud_dump(root));
            if (fds_ref < 0 && i >= 7) {
                fds_ref = ut_count_fds();
                segs_ref = ut_count_segments(name);
            }
            break;
        }
    }
    int fds = ut_count_fds(), segs = ut_count_segments(name);
    printf("%d nested replacements in %.2f s: %d segments, %d fds\n", N, ut_now() - t0, segs, fds);
    assert_int_equal(ut_unexpected_segments(name), 0);
    if (fds != fds_ref || segs != segs_ref)
        fail_msg("after %d replacements: %d segments (was %d), %d fds (was %d)", N, segs, segs_ref,
                 fds, fds_ref);
    assert_int_equal(ud_len(root), 1);
    assert_ok(ud_close(other));
    assert_ok(ud_close(root));
    assert_int_equal(ut_count_segments(name), 0);
}

/* ---- 64 processes on one dict at once. ---- */

enum { NPROC = 64, NINCR = 1000 };

typedef struct swarm {
    _Atomic int attached;
    _Atomic unsigned max_attached_seen;
} swarm;

typedef struct swarm_arg {
    swarm *sh;
    int *gate;
} swarm_arg;

static int swarm_child(ud_dict *d, void *varg) {
    swarm_arg *a = varg;
    atomic_fetch_add(&a->sh->attached, 1);
    if (ut_gate_wait(a->gate) != 0)
        return 3;
    ud_status_info st;
    if (ud_status(d, &st) != 0)
        return 4;
    unsigned seen = atomic_load(&a->sh->max_attached_seen);
    while (st.attached > seen &&
           !atomic_compare_exchange_weak(&a->sh->max_attached_seen, &seen, st.attached)) {
    }
    int rc = ut_incr_rising(d, "n", NINCR, NULL, NULL);
    if (rc != 0)
        return 4 + rc;
    return ud_close(d) == 0 ? 0 : 7;
}

static void test_64_processes(const char *name) {
    int fds0 = ut_count_fds();
    ud_options o = ut_options(name);
    ud_dict *d = NULL;
    assert_ok(ud_open(&o, &d));
    int segs0 = ut_count_segments(name);
    swarm *sh = ut_shared_alloc(sizeof *sh);
    assert_non_null(sh);
    int gate[2];
    assert_int_equal(ut_gate_open(gate), 0);
    swarm_arg a = {sh, gate};
    pid_t pids[NPROC];
    ut_fork_n_on(pids, NPROC, name, swarm_child, &a);
    double t0 = ut_now();
    while (atomic_load(&sh->attached) < NPROC && ut_now() - t0 < 30)
        ut_sleep(0.002);
    int attached = atomic_load(&sh->attached);
    ud_status_info st;
    assert_ok(ud_status(d, &st));
    double el = ut_gate_run(gate, pids, NPROC, 60, "64 processes");
    assert_int_equal(attached, NPROC);
    printf("%d processes attached at once (status says %u, children saw up to %u); "
           "%d x %d incr in %.2f s\n",
           NPROC, st.attached, atomic_load(&sh->max_attached_seen), NPROC, NINCR, el);
    assert_true(st.attached >= NPROC + 1);

    assert_int_equal(ut_get_i64(d, "n"), (int64_t)NPROC * NINCR);
    assert_int_equal(ut_count_segments(name), segs0);
    assert_int_equal(ut_unexpected_segments(name), 0);
    assert_ok(ud_status(d, &st));
    assert_int_equal(st.attached, 1);
    assert_ok(ud_close(d));
    ut_shared_free(sh, sizeof *sh);
    assert_int_equal(ut_count_segments(name), 0);
    assert_int_equal(ut_count_fds(), fds0);
}

/* ---- Processes that die attached (no ud_close): their registrations must not pile up. ---- */

static int die_attached(ud_dict *d, void *varg) {
    (void)varg;
    if (ud_incr(d, S("n"), 1, NULL) != 0)
        return 3;
    return 0; /* _exit() without ud_close(), like a crash */
}

static void test_dead_attachers(const char *name) {
    enum { DEAD = 400, BATCH = 40 };
    ud_options o = ut_options(name);
    ud_dict *d = NULL;
    assert_ok(ud_open(&o, &d));
    for (int done = 0; done < DEAD; done += BATCH) {
        pid_t pids[BATCH];
        for (int i = 0; i < BATCH; i++)
            pids[i] = ut_fork_on(name, die_attached, NULL);
        int status[BATCH];
        int bad = ut_wait_all(pids, BATCH, 60, status);
        if (bad != 0)
            fail_msg("after %d dead attachers, %d of the next %d could not attach and write "
                     "(first status %d)",
                     done, bad, BATCH, status[0]);
    }
    ud_buf v = UD_BUF_INIT;
    assert_ok(ud_get(d, S("n"), &v));
    assert_buf_eq(&v, "400", 3);
    ud_buf_free(&v);
    ud_status_info st;
    assert_ok(ud_status(d, &st));
    ud_dict_info info;
    int found = ut_list_find(name, &info);
    printf("%d processes died attached: status.attached %u, ls: attached_alive %u\n", DEAD,
           st.attached, info.attached_alive);
    assert_int_equal(found, 1);
    assert_int_equal(info.attached_alive, 1);
    assert_false(info.orphaned);
    assert_ok(ud_close(d));
    assert_int_equal(ut_count_segments(name), 0);
}

UT_MAIN(UT_TEST(test_5000_dicts), UT_NAMED_TEST(test_5000_attachments),
        UT_NAMED_TEST(test_nested_replaced), UT_NAMED_TEST(test_64_processes),
        UT_NAMED_TEST(test_dead_attachers))
