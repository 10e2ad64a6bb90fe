/*
 * test_open.c - opening, attaching, naming, options, auto-unlink, unlink and the segments a dict
 * leaves in /dev/shm.
 */
#include "testutil.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* A handle value that ud_open() must never write on failure. */
#define SENTINEL ((ud_dict *)(uintptr_t)0x5e7e1)

static int open_opts(const char *name, int create, ud_dict **out) {
    ud_options o = ut_options(name);
    o.create = create;
    return ud_open(&o, out);
}

static void test_create_modes(const char *name) {
    ud_dict *d = SENTINEL, *e = SENTINEL, *f = NULL, *g = NULL;

    assert_rc(ud_exists(name), 0);
    assert_rc(open_opts(name, UD_ATTACH_ONLY, &d), UD_ENOENT);
    assert_ptr_equal(d, SENTINEL);
    assert_int_equal(ut_count_segments(name), 0); /* a failed attach creates nothing */

    d = NULL;
    assert_ok(open_opts(name, UD_CREATE_ONLY, &d));
    assert_non_null(d);
    assert_string_equal(ud_name(d), name);
    assert_rc(ud_exists(name), 1);

    assert_rc(open_opts(name, UD_CREATE_ONLY, &e), UD_EEXIST);
    assert_ptr_equal(e, SENTINEL);

    assert_ok(open_opts(name, UD_CREATE_OR_ATTACH, &f));
    assert_ok(open_opts(name, UD_ATTACH_ONLY, &g));
    ud_status_info st;
    assert_ok(ud_status(d, &st));
    assert_true(st.creator);
    assert_int_equal(st.creator_pid, getpid());
    assert_string_equal(st.name, name);
    assert_ok(ud_status(f, &st));
    assert_false(st.creator);
    assert_ok(ud_status(g, &st));
    assert_false(st.creator);

    /* The three handles see one dict. */
    assert_ok(ud_set(f, S("k"), S("v")));
    ud_buf v = UD_BUF_INIT;
    assert_ok(ud_get(g, S("k"), &v));
    assert_buf_eq(&v, "v", 1);
    assert_ok(ud_get(d, S("k"), &v));
    assert_buf_eq(&v, "v", 1);
    ud_buf_free(&v);

    assert_ok(ud_close(g));
    assert_ok(ud_close(f));
    assert_ok(ud_close(d));
    assert_rc(ud_exists(name), 0);

    /* The default mode creates when the name is free. */
    assert_ok(open_opts(name, UD_CREATE_OR_ATTACH, &d));
    assert_ok(ud_status(d, &st));
    assert_true(st.creator);
    assert_ok(ud_close(d));
    assert_int_equal(ut_count_segments(name), 0);
}

static bool valid_name_chars(const char *n) {
    for (; *n; n++) {
        if (!((*n >= 'a' && *n <= 'z') || (*n >= 'A' && *n <= 'Z') || (*n >= '0' && *n <= '9') ||
              *n == '_' || *n == '-'))
            return false;
    }
    return true;
}

static void test_random_names(void **state) {
    (void)state;
    ud_dict *a = NULL, *b = NULL, *c = NULL;
    assert_ok(ud_open(NULL, &a));
    ut_track(ud_name(a));
    ud_options o = UD_OPTIONS_INIT; /* name NULL */
    assert_ok(ud_open(&o, &b));
    ut_track(ud_name(b));
    ud_options z;
    memset(&z, 0, sizeof z); /* a zeroed struct gives the defaults too */
    assert_ok(ud_open(&z, &c));
    ut_track(ud_name(c));

    const char *na = ud_name(a), *nb = ud_name(b), *nc = ud_name(c);
    assert_true(strncmp(na, "ud_", 3) == 0);
    assert_true(strlen(na) > 3 && strlen(na) <= UD_NAME_MAX);
    assert_true(valid_name_chars(na));
    assert_true(valid_name_chars(nb));
    assert_string_not_equal(na, nb);
    assert_string_not_equal(na, nc);
    assert_string_not_equal(nb, nc);
    assert_rc(ud_exists(na), 1);

    /* Defaults: creator, auto-unlink, mutex, 1 MiB buffer, not recursive. */
    ud_status_info st;
    assert_ok(ud_status(a, &st));
    assert_true(st.creator);
    assert_true(st.auto_unlink);
    assert_int_equal(st.lock_mode, UD_LOCK_MUTEX);
    assert_int_equal(st.buffer_size, UD_DEFAULT_BUFFER_SIZE);
    assert_int_equal(st.full_dump_size, 0);
    assert_false(st.recurse);

    /* A random-named dict can be attached by its name. */
    ud_dict *a2 = NULL;
    assert_ok(open_opts(na, UD_ATTACH_ONLY, &a2));
    assert_ok(ud_set(a2, S("x"), S("y")));
    assert_rc(ud_contains(a, S("x")), 1);
    assert_ok(ud_close(a2));

    char saved[UD_NAME_MAX + 1];
    snprintf(saved, sizeof saved, "%s", na);
    assert_ok(ud_close(a));
    assert_rc(ud_exists(saved), 0);
    assert_int_equal(ut_count_segments(saved), 0);
    assert_ok(ud_close(b));
    assert_ok(ud_close(c));
}

static void test_invalid_names(void **state) {
    (void)state;
    char long_name[UD_NAME_MAX + 2];
    memset(long_name, 'n', sizeof long_name);
    long_name[UD_NAME_MAX + 1] = '\0'; /* 201 characters */
    const char *bad[] = {"",    "a/b",  ".x",          long_name, "a.b", "a b",
                         "x\n", "/abs", "caf\xc3\xa9", "..",      "a\\b"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ud_dict *d = SENTINEL;
        int rc = open_opts(bad[i], UD_CREATE_OR_ATTACH, &d);
        if (rc != UD_ENAME)
            fail_msg("ud_open(\"%s\") returned %s, expected UD_ENAME", bad[i], ud_errname(rc));
        assert_ptr_equal(d, SENTINEL);
        assert_rc(open_opts(bad[i], UD_CREATE_ONLY, &d), UD_ENAME);
        assert_rc(ud_exists(bad[i]), UD_ENAME);
        assert_rc(ud_unlink_by_name(bad[i]), UD_ENAME);
    }
    assert_rc_either(ud_unlink_by_name(NULL), UD_EINVAL, UD_ENAME);
    assert_rc_either(ud_exists(NULL), UD_EINVAL, UD_ENAME);

    /* Exactly UD_NAME_MAX characters is fine. */
    char max_name[UD_NAME_MAX + 1];
    char base[64];
    ut_name(base);
    memset(max_name, 'm', UD_NAME_MAX);
    memcpy(max_name, base, strlen(base));
    max_name[UD_NAME_MAX] = '\0';
    ut_track(max_name);
    ud_dict *d = NULL;
    assert_ok(open_opts(max_name, UD_CREATE_ONLY, &d));
    assert_ok(ud_set(d, S("k"), S("v")));
    assert_ok(ud_dump(d));
    assert_string_equal(ud_name(d), max_name);
    assert_rc(ud_exists(max_name), 1);
    assert_ok(ud_close(d));
    assert_int_equal(ut_count_segments(max_name), 0);

    /* Every allowed character class. */
    char mixed[64];
    snprintf(mixed, sizeof mixed, "%sAZaz09_-", ut_prefix());
    ut_track(mixed);
    assert_ok(open_opts(mixed, UD_CREATE_ONLY, &d));
    assert_ok(ud_close(d));
}

static void test_invalid_options(const char *name) {
    ud_dict *d = SENTINEL;
    ud_options o = ut_options(name);

    o.buffer_size = (size_t)1 << 41; /* beyond any stream */
    assert_rc(ud_open(&o, &d), UD_EINVAL);
    o.buffer_size = 0;
    o.lock = 7;
    assert_rc(ud_open(&o, &d), UD_EINVAL);
    o.lock = UD_LOCK_MUTEX;
    o.create = 9;
    assert_rc(ud_open(&o, &d), UD_EINVAL);
    o.create = UD_CREATE_OR_ATTACH;
    o.auto_unlink = 9;
    assert_rc(ud_open(&o, &d), UD_EINVAL);
    assert_ptr_equal(d, SENTINEL);
    assert_int_equal(ut_count_segments(name), 0);
}

static void test_options_mismatch(void **state) {
    (void)state;
    char name[64], name2[64];
    ut_name(name);
    ud_dict *d = NULL, *e = SENTINEL, *f = NULL;
    ud_options o = ut_options(name);
    o.buffer_size = 8192;
    assert_ok(ud_open(&o, &d));

    ud_options a = ut_options(name);
    a.buffer_size = 16384;
    assert_rc(ud_open(&a, &e), UD_EMISMATCH);
    assert_ptr_equal(e, SENTINEL);
    a.create = UD_ATTACH_ONLY;
    assert_rc(ud_open(&a, &e), UD_EMISMATCH);
    a.buffer_size = 8192;
    assert_ok(ud_open(&a, &f));
    assert_ok(ud_close(f));
    a.buffer_size = 0;
    assert_ok(ud_open(&a, &f));
    ud_status_info st;
    assert_ok(ud_status(f, &st));
    assert_int_equal(st.buffer_size, 8192);
    assert_ok(ud_close(f));

    /* The dict uses the mutex: attaching with the spin lock must fail. */
    a.lock = UD_LOCK_SPIN;
    assert_rc(ud_open(&a, &e), UD_EMISMATCH);
    assert_ptr_equal(e, SENTINEL);
    assert_ok(ud_close(d));

    /* A spin-lock dict: attaching with 0 (the default) takes the creator's lock mode. */
    ut_name(name2);
    o.name = name2;
    o.lock = UD_LOCK_SPIN;
    assert_ok(ud_open(&o, &d));
    a.name = name2;
    a.lock = 0;
    assert_ok(ud_open(&a, &f));
    assert_ok(ud_status(f, &st));
    assert_int_equal(st.lock_mode, UD_LOCK_SPIN);
    assert_ok(ud_close(f));
    a.lock = UD_LOCK_SPIN;
    assert_ok(ud_open(&a, &f));
    assert_ok(ud_close(f));
    assert_ok(ud_close(d));
}

/* Asserts what ud_status() says of `d`: whether it created the dict and unlinks it at close. */
static void assert_roles(ud_dict *d, bool creator, bool auto_unlink) {
    ud_status_info st;
    assert_ok(ud_status(d, &st));
    assert_int_equal(st.creator, creator);
    assert_int_equal(st.auto_unlink, auto_unlink);
}

static void test_auto_unlink(const char *name) {
    ud_dict *c = NULL, *a = NULL;
    ud_buf v = UD_BUF_INIT;

    /* The attacher does not unlink; the creator does. */
    assert_ok(open_opts(name, UD_CREATE_ONLY, &c));
    assert_ok(open_opts(name, UD_ATTACH_ONLY, &a));
    assert_roles(c, true, true);
    assert_roles(a, false, false);
    assert_ok(ud_close(a));
    assert_rc(ud_exists(name), 1);
    assert_ok(ud_close(c));
    assert_rc(ud_exists(name), 0);
    assert_int_equal(ut_count_segments(name), 0);

    /* The creator closes first: the attacher keeps working, nobody new can attach. */
    assert_ok(open_opts(name, UD_CREATE_ONLY, &c));
    assert_ok(open_opts(name, UD_ATTACH_ONLY, &a));
    assert_ok(ud_set(c, S("k"), S("v")));
    assert_ok(ud_close(c));
    assert_rc(ud_exists(name), 0);
    assert_ok(ud_get(a, S("k"), &v));
    assert_buf_eq(&v, "v", 1);
    assert_ok(ud_set(a, S("k2"), S("v2")));
    assert_ok(ud_get(a, S("k2"), &v));
    assert_buf_eq(&v, "v2", 2);
    ud_dict *x = SENTINEL;
    assert_rc(open_opts(name, UD_ATTACH_ONLY, &x), UD_ENOENT);
    assert_ok(ud_close(a));
    assert_int_equal(ut_count_segments(name), 0);

    /* OFF on the creator: the dict survives its close, with its data. */
    ud_options o = ut_options(name);
    o.create = UD_CREATE_ONLY;
    o.auto_unlink = UD_AUTO_UNLINK_OFF;
    assert_ok(ud_open(&o, &c));
    assert_roles(c, true, false);
    assert_ok(ud_set(c, S("keep"), S("me")));
    assert_ok(ud_close(c));
    assert_rc(ud_exists(name), 1);
    assert_ok(open_opts(name, UD_ATTACH_ONLY, &a));
    assert_ok(ud_get(a, S("keep"), &v));
    assert_buf_eq(&v, "me", 2);
    assert_ok(ud_close(a));
    assert_rc(ud_exists(name), 1);

    /* ON on an attacher: it unlinks when it closes, even though the creator is gone. */
    o.create = UD_ATTACH_ONLY;
    o.auto_unlink = UD_AUTO_UNLINK_ON;
    assert_ok(ud_open(&o, &a));
    assert_roles(a, false, true);
    assert_ok(ud_close(a));
    assert_rc(ud_exists(name), 0);
    assert_int_equal(ut_count_segments(name), 0);

    /* ON on an attacher while the creator is open; the creator's own close still succeeds. */
    assert_ok(open_opts(name, UD_CREATE_ONLY, &c));
    assert_ok(ud_open(&o, &a));
    assert_ok(ud_close(a));
    assert_rc(ud_exists(name), 0);
    assert_ok(ud_set(c, S("still"), S("works")));
    int rc = ud_close(c);
    if (rc != 0 && rc != UD_ENOENT)
        fail_msg("closing the creator of an unlinked dict: %s", ud_errname(rc));
    assert_int_equal(ut_count_segments(name), 0);

    ud_buf_free(&v);
}

static void test_unlink(const char *name) {
    ud_dict *c = NULL, *a = NULL;
    ud_buf v = UD_BUF_INIT;

    assert_rc(ud_unlink_by_name(name), UD_ENOENT);

    /* ud_unlink_by_name with live handles: they keep working. */
    assert_ok(open_opts(name, UD_CREATE_ONLY, &c));
    assert_ok(open_opts(name, UD_ATTACH_ONLY, &a));
    assert_ok(ud_set(c, S("k"), S("v")));
    assert_ok(ud_dump(c));
    assert_ok(ud_set(c, S("k"), S("v2")));
    assert_true(ut_count_segments(name) >= 2);
    assert_ok(ud_unlink_by_name(name));
    assert_rc(ud_exists(name), 0);
    assert_int_equal(ut_count_segments(name), 0);
    assert_rc(ud_unlink_by_name(name), UD_ENOENT);
    assert_ok(ud_get(a, S("k"), &v));
    assert_buf_eq(&v, "v2", 2);
    assert_ok(ud_set(a, S("k"), S("v3")));
    assert_ok(ud_get(c, S("k"), &v));
    assert_buf_eq(&v, "v3", 2);
    /* A dump after the unlink must not bring names back. */
    assert_ok(ud_dump(a));
    assert_ok(ud_apply_update(c));
    assert_int_equal(ut_count_segments(name), 0);
    assert_ok(ud_close(a));
    int rc = ud_close(c);
    if (rc != 0 && rc != UD_ENOENT)
        fail_msg("closing the creator of an unlinked dict: %s", ud_errname(rc));
    assert_int_equal(ut_count_segments(name), 0);

    /* ud_unlink through a handle: the handle stays usable; the name is free again. */
    assert_ok(open_opts(name, UD_CREATE_ONLY, &c));
    assert_ok(ud_unlink(c));
    assert_rc(ud_exists(name), 0);
    assert_ok(ud_set(c, S("a"), S("b")));
    assert_ok(ud_get(c, S("a"), &v));
    assert_buf_eq(&v, "b", 1);
    ud_dict *n = NULL;
    assert_ok(open_opts(name, UD_CREATE_ONLY, &n)); /* a new dict with the same name */
    assert_rc(ud_contains(n, S("a")), 0);
    rc = ud_close(c); /* must not unlink the new dict */
    if (rc != 0 && rc != UD_ENOENT)
        fail_msg("closing an unlinked handle: %s", ud_errname(rc));
    assert_rc(ud_exists(name), 1);
    assert_rc(ud_contains(n, S("a")), 0);
    assert_ok(ud_close(n));
    assert_int_equal(ut_count_segments(name), 0);

    /* The same when somebody else unlinked the name (by name) and reused it. */
    assert_ok(open_opts(name, UD_CREATE_ONLY, &c));
    assert_ok(ud_set(c, S("old"), S("1")));
    assert_ok(ud_unlink_by_name(name));
    assert_ok(open_opts(name, UD_CREATE_ONLY, &n));
    assert_ok(ud_set(n, S("new"), S("2")));
    rc = ud_close(c);
    if (rc != 0 && rc != UD_ENOENT)
        fail_msg("closing the creator of a dict unlinked by name: %s", ud_errname(rc));
    assert_rc(ud_exists(name), 1);
    ud_dict *check = NULL;
    assert_ok(open_opts(name, UD_ATTACH_ONLY, &check));
    assert_rc(ud_contains(check, S("new")), 1);
    assert_ok(ud_close(check));
    assert_ok(ud_close(n));
    assert_int_equal(ut_count_segments(name), 0);

    ud_buf_free(&v);
}

/*
 * A control segment with no size and no magic yet: a creator between shm_open() and
 * ftruncate(), alive or killed there a moment ago. Until its initialisation window has passed
 * nobody can tell which, so create and unlink say "try again", not "exists" or "not ours".
 */
static void test_name_being_created(void **state) {
    (void)state;
    char name[64], path[80];
    ut_name(name);
    snprintf(path, sizeof path, "/%s", name);
    int fd = shm_open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    ud_dict *d = SENTINEL;
    assert_rc(open_opts(name, UD_CREATE_ONLY, &d), UD_ECREATING);
    assert_ptr_equal(d, SENTINEL);
    assert_rc(ud_unlink_by_name(name), UD_ECREATING);
    assert_non_null(strstr(ud_strerror(UD_ECREATING), "try again in a second"));
    assert_int_equal(ut_count_segments(name), 1);

    /* Past the window it is debris: create takes the name over, unlink removes it. */
    struct timespec old[2] = {{time(NULL) - 5, 0}, {time(NULL) - 5, 0}};
    assert_int_equal(futimens(fd, old), 0);
    assert_ok(ud_unlink_by_name(name));
    assert_int_equal(ut_count_segments(name), 0);
    close(fd);
    fd = shm_open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    assert_int_equal(futimens(fd, old), 0);
    close(fd);
    d = NULL;
    assert_ok(open_opts(name, UD_CREATE_ONLY, &d));
    assert_ok(ud_unlink(d));
    ud_close(d);
}

static void check_modes(const char *name, unsigned want) {
    const char *suffixes[] = {"", ".stream", ".dump0", ".dump1"};
    int seen = 0;
    for (int i = 0; i < 4; i++) {
        char path[512];
        struct stat st;
        if (stat(ut_shm_path(path, name, suffixes[i]), &st) != 0)
            continue;
        seen++;
        if ((st.st_mode & 07777) != want)
            fail_msg("%s has mode %04o, expected %04o", path, (unsigned)(st.st_mode & 07777), want);
        assert_int_equal(st.st_uid, geteuid());
    }
    assert_true(seen >= 3); /* control, stream and at least one dump */
}

static void test_segment_modes(void **state) {
    (void)state;
    char name[64], name2[64];
    ud_dict *d = NULL;
    mode_t old = umask(022);

    assert_ok(open_opts(ut_name(name), UD_CREATE_ONLY, &d));
    assert_ok(ud_set(d, S("k"), S("v")));
    assert_ok(ud_dump(d));
    check_modes(name, 0600);
    assert_ok(ud_close(d));

    ud_options o = ut_options(ut_name(name2));
    o.mode = 0640;
    assert_ok(ud_open(&o, &d));
    assert_ok(ud_set(d, S("k"), S("v")));
    assert_ok(ud_dump(d));
    check_modes(name2, 0640);
    assert_ok(ud_close(d));
    umask(old);
}

static void test_segment_set(void **state) {
    (void)state;
    char name[64], name2[64];
    ud_dict *d = NULL, *e = NULL;
    assert_ok(open_opts(ut_name(name), UD_CREATE_ONLY, &d));
    assert_ok(open_opts(ut_name(name2), UD_CREATE_ONLY, &e));
    char path[512];
    assert_true(ut_file_size(ut_shm_path(path, name, "")) >= 12);
    assert_true(ut_file_size(ut_shm_path(path, name, ".stream")) > 0);
    for (int i = 0; i < 20; i++) {
        char k[16];
        snprintf(k, sizeof k, "k%d", i);
        assert_ok(ud_set(d, S(k), S("value")));
        assert_ok(ud_dump(d));
    }
    assert_int_equal(ut_unexpected_segments(name), 0);
    assert_true(ut_count_segments(name) <= 4);
    assert_ok(ud_dump(e));

    /* Both control segments start with the same magic and layout version. */
    size_t la, lb;
    unsigned char *ca = ut_file_read(ut_shm_path(path, name, ""), &la);
    unsigned char *cb = ut_file_read(ut_shm_path(path, name2, ""), &lb);
    assert_non_null(ca);
    assert_non_null(cb);
    assert_memory_equal(ca, cb, 12);
    static const unsigned char zero[8];
    assert_memory_not_equal(ca, zero, 8);
    free(ca);
    free(cb);

    assert_ok(ud_close(e));
    assert_ok(ud_close(d));
    assert_int_equal(ut_count_segments(name), 0);
    assert_int_equal(ut_count_segments(name2), 0);
}

static int list_stop_cb(void *vctx, const ud_dict_info *info) {
    (void)info;
    (*(int *)vctx)++;
    return 42;
}

static void test_list(const char *name) {
    ud_dict *d = NULL;
    assert_ok(open_opts(name, UD_CREATE_ONLY, &d));
    assert_ok(ud_set(d, S("a"), S("1")));
    assert_ok(ud_set(d, S("b"), S("2")));
    assert_ok(ud_dump(d));

    ud_dict_info info;
    assert_int_equal(ut_list_find(name, &info), 1);
    assert_int_equal(info.error, 0);
    assert_true(info.segments >= 3 && info.segments <= 4);
    assert_true(info.bytes > 0);
    assert_int_equal(info.len, 2);
    assert_int_equal(info.creator_pid, getpid());
    assert_true(info.creator_alive);
    assert_false(info.orphaned);
    assert_false(info.is_child);

    int calls = 0;
    assert_rc(ud_list(list_stop_cb, &calls), 42);
    assert_int_equal(calls, 1);

    assert_ok(ud_close(d));
    assert_int_equal(ut_list_find(name, &info), 0);
}

static void test_close_null(void **state) {
    (void)state;
    assert_ok(ud_close(NULL));
    ud_buf b = UD_BUF_INIT;
    assert_rc_either(ud_close_save(NULL, &b), 0, UD_EINVAL);
    ud_buf_free(&b);
    ud_iter_close(NULL);
    ud_buf_free(NULL);
}

UT_MAIN(UT_NAMED_TEST(test_create_modes), UT_TEST(test_random_names), UT_TEST(test_invalid_names),
        UT_NAMED_TEST(test_invalid_options), UT_TEST(test_options_mismatch),
        UT_NAMED_TEST(test_auto_unlink), UT_NAMED_TEST(test_unlink),
        UT_TEST(test_name_being_created), UT_TEST(test_segment_modes), UT_TEST(test_segment_set),
        UT_NAMED_TEST(test_list), cmocka_unit_test(test_close_null))
