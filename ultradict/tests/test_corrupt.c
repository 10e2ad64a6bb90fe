/*
 * test_corrupt.c - damaged segments: a bad magic, an unknown layout version, a truncated control
 * segment, garbage in the stream (after the committed end and over committed records), garbage
 * over a dump, and a file in /dev/shm that is not a dict at all. The library must report a clear
 * error, never crash, and never apply garbage.
 *
 * Every scenario runs in a forked child (a crash becomes a test failure, not the end of the
 * run); the child reports the first failed check through shared memory and its exit status.
 */
#include "testutil.h"

#include <fcntl.h>
#include <stdlib.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "layout.h"

#define GUARD 20.0

typedef struct sandbox {
    int line;
    char msg[1024];
    char name[64];
    int rc[8]; /* codes a scenario reports for the parent to print */
} sandbox;

static sandbox *sb;

/* A failed check in the child: remember where and why, and exit. */
#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            sb->line = __LINE__;                                                                   \
            snprintf(sb->msg, sizeof sb->msg, __VA_ARGS__);                                        \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

#define CHECK_RC(expr, want)                                                                       \
    do {                                                                                           \
        int crc_ = (expr);                                                                         \
        CHECK(crc_ == (want), "%s returned %s, expected %s", #expr, ud_errname(crc_),              \
              ud_errname(want));                                                                   \
    } while (0)

/* Runs scenario(name) in a child and fails the test with the child's message. */
static void run_sandboxed(int (*scenario)(void *), const char *what) {
    memset(sb, 0, sizeof *sb);
    ut_name(sb->name);
    pid_t pid = ut_fork(scenario, sb->name);
    assert_true(pid > 0);
    int st = ut_wait(pid, GUARD);
    if (st != 0) {
        char buf[64];
        if (sb->line != 0)
            fail_msg("%s: line %d: %s", what, sb->line, sb->msg);
        fail_msg("%s: the child ended badly: %s (a crash or a hang in the library)", what,
                 ut_status_str(st, buf, sizeof buf));
    }
}

static int open_rc(const char *name, int create, ud_dict **out) {
    ud_options o = UD_OPTIONS_INIT;
    o.name = name;
    o.create = create;
    return ud_open(&o, out);
}

/* Creates a dict with a few entries and leaves it in /dev/shm (auto_unlink OFF). */
static int make_dict(const char *name) {
    ud_options o = UD_OPTIONS_INIT;
    o.name = name;
    o.create = UD_CREATE_ONLY;
    o.auto_unlink = UD_AUTO_UNLINK_OFF;
    ud_dict *d = NULL;
    CHECK_RC(ud_open(&o, &d), 0);
    CHECK_RC(ud_set(d, S("a"), S("1")), 0);
    CHECK_RC(ud_set(d, S("b"), S("2")), 0);
    CHECK_RC(ud_dump(d), 0);
    CHECK_RC(ud_set(d, S("c"), S("3")), 0);
    CHECK_RC(ud_close(d), 0);
    return 0;
}

static bool is_clear_error(int rc) {
    return rc == UD_EBADMAGIC || rc == UD_ECORRUPT || rc == UD_EVERSION;
}

/* ---- The control segment. ---- */

static int list_find_cb(void *ctx, const ud_dict_info *info) {
    if (strcmp(info->name, sb->name) == 0) {
        *(int *)ctx = info->error;
        return 1;
    }
    return 0;
}

static int scenario_bad_magic(void *varg) {
    const char *name = varg;
    if (make_dict(name) != 0)
        return 1;
    char path[512];
    unsigned char magic[8];
    size_t n;
    unsigned char *all = ut_file_read(ut_shm_path(path, name, ""), &n);
    CHECK(all != NULL && n >= 12, "cannot read %s", path);
    for (int i = 0; i < 8; i++)
        magic[i] = all[i] ^ 0xA5;
    CHECK(ut_file_pwrite(path, 0, magic, 8) == 0, "cannot write %s", path);

    ud_dict *d = NULL;
    CHECK_RC(open_rc(name, UD_ATTACH_ONLY, &d), UD_EBADMAGIC);
    CHECK_RC(open_rc(name, UD_CREATE_OR_ATTACH, &d), UD_EBADMAGIC);
    CHECK_RC(open_rc(name, UD_CREATE_ONLY, &d), UD_EEXIST);
    CHECK(d == NULL, "ud_open wrote *out on failure");
    /* Not repaired or overwritten behind our back. */
    size_t n2;
    unsigned char *now = ut_file_read(path, &n2);
    CHECK(now != NULL && n2 == n && memcmp(now, magic, 8) == 0 &&
              memcmp(now + 8, all + 8, n - 8) == 0,
          "the damaged control segment was modified");
    free(now);
    free(all);

    /* `ultradict ls` shows it as damaged, and it can be removed. */
    int err = 0;
    int lrc = ud_list(list_find_cb, &err);
    CHECK(lrc == 1, "ud_list did not report the damaged dict (returned %s)", ud_errname(lrc));
    CHECK(err == UD_EBADMAGIC, "ud_list reported error %s for a bad magic", ud_errname(err));
    CHECK_RC(ud_unlink_by_name(name), 0);
    CHECK(ut_count_segments(name) == 0, "segments left after ud_unlink_by_name");
    return 0;
}

static int scenario_bad_version(void *varg) {
    const char *name = varg;
    if (make_dict(name) != 0)
        return 1;
    char path[512];
    const unsigned char v[4] = {0xEE, 0xEE, 0xEE, 0x7E};
    CHECK(ut_file_pwrite(ut_shm_path(path, name, ""), 8, v, 4) == 0, "cannot write");
    ud_dict *d = NULL;
    CHECK_RC(open_rc(name, UD_ATTACH_ONLY, &d), UD_EVERSION);
    CHECK_RC(open_rc(name, UD_CREATE_OR_ATTACH, &d), UD_EVERSION);
    CHECK(d == NULL, "ud_open wrote *out on failure");
    CHECK_RC(ud_unlink_by_name(name), 0);
    CHECK(ut_count_segments(name) == 0, "segments left after ud_unlink_by_name");
    return 0;
}

static int scenario_truncated_control(void *varg) {
    const char *name = varg;
    char path[512];
    ut_shm_path(path, name, "");
    /* Each attach may wait up to the library's creator-initialisation grace period. */
    long long sizes[] = {10, 64, -2}; /* -2: half the real size */
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        if (make_dict(name) != 0)
            return 1;
        long long full = ut_file_size(path);
        long long sz = sizes[i] == -2 ? full / 2 : sizes[i];
        CHECK(truncate(path, (off_t)sz) == 0, "cannot truncate");
        ud_dict *d = NULL;
        int rc = open_rc(name, UD_ATTACH_ONLY, &d);
        CHECK(rc == UD_ECORRUPT || rc == UD_EBADMAGIC,
              "attaching to a control segment truncated to %lld of %lld bytes: %s", sz, full,
              ud_errname(rc));
        if (i == 0) {
            rc = open_rc(name, UD_CREATE_OR_ATTACH, &d);
            CHECK(rc == UD_ECORRUPT || rc == UD_EBADMAGIC,
                  "create-or-attach on a control segment truncated to %lld bytes: %s", sz,
                  ud_errname(rc));
        }
        CHECK(d == NULL, "ud_open wrote *out on failure");
        CHECK_RC(ud_unlink_by_name(name), 0);
        CHECK(ut_count_segments(name) == 0, "segments left after ud_unlink_by_name");
    }
    return 0;
}

/* ---- The stream. ---- */

/* Compares two handles' views of the dict. */
static int same_dict(ud_dict *a, ud_dict *b, const char *what) {
    uint64_t ha = 0, hb = 1;
    size_t na = 0, nb = 1;
    int ra = ut_dict_checksum(a, &ha, &na);
    int rb = ut_dict_checksum(b, &hb, &nb);
    CHECK(ra == 0 && rb == 0, "%s: checksum failed: %s / %s", what, ud_errname(ra), ud_errname(rb));
    CHECK(na == nb && ha == hb, "%s: the handles differ (%zu vs %zu items)", what, na, nb);
    return 0;
}

static int scenario_garbage_after_end(void *varg) {
    const char *name = varg;
    ud_options o = UD_OPTIONS_INIT;
    o.name = name;
    o.buffer_size = 65536;
    ud_dict *a = NULL, *b = NULL, *c = NULL;
    CHECK_RC(ud_open(&o, &a), 0);
    CHECK_RC(open_rc(name, UD_ATTACH_ONLY, &b), 0);
    for (int i = 0; i < 5; i++) {
        char k[8];
        snprintf(k, sizeof k, "k%d", i);
        CHECK_RC(ud_set(a, S(k), S("value")), 0);
    }
    CHECK_RC(ud_apply_update(b), 0);
    ud_status_info st;
    CHECK_RC(ud_status(a, &st), 0);
    char path[512];
    long long fsize = ut_file_size(ut_shm_path(path, name, ".stream"));
    CHECK(fsize >= (long long)st.stream_capacity, "stream file smaller than its capacity");
    /* The record area ends the file; the committed records take its first stream_used bytes. */
    long long from = fsize - (long long)st.stream_capacity + (long long)st.stream_used;
    size_t n = (size_t)(fsize - from);
    unsigned char *junk = malloc(n);
    CHECK(junk != NULL, "malloc");
    ut_rng r;
    ut_rng_seed(&r, 7);
    for (size_t i = 0; i < n; i++)
        junk[i] = (unsigned char)ut_rng_next(&r);
    /* Make the first bytes look like a plausible small record length. */
    junk[0] = 64;
    memset(junk + 1, 0, 7);
    CHECK(ut_file_pwrite(path, from, junk, n) == 0, "cannot write the stream");

    /* Nothing committed after the end: nothing to apply, nothing changes. */
    ud_status_info sb0, sb1;
    CHECK_RC(ud_status(b, &sb0), 0);
    CHECK_RC(ud_apply_update(b), 0);
    CHECK_RC(ud_status(b, &sb1), 0);
    CHECK(sb1.local_records_applied == sb0.local_records_applied,
          "garbage after the end was applied as records");
    if (same_dict(a, b, "after garbage") != 0)
        return 1;
    CHECK(ud_len(b) == 5, "b has %zu entries", ud_len(b));

    /* New writes go over the garbage and are read correctly; a fresh handle agrees. */
    for (int i = 0; i < 50; i++) {
        char k[8];
        snprintf(k, sizeof k, "n%d", i);
        CHECK_RC(ud_set(a, S(k), S("new value")), 0);
    }
    CHECK_RC(ud_apply_update(b), 0);
    if (same_dict(a, b, "after new writes") != 0)
        return 1;
    CHECK(ud_len(b) == 55, "b has %zu entries", ud_len(b));
    CHECK_RC(open_rc(name, UD_ATTACH_ONLY, &c), 0);
    if (same_dict(a, c, "fresh handle") != 0)
        return 1;
    free(junk);
    ud_close(c);
    ud_close(b);
    ud_close(a);
    return 0;
}

#define MARKER "MARKER-VALUE-0123456789-abcdefghij"

/* Checks that `d` holds either nothing or the true value under "marker". */
static int marker_not_garbage(ud_dict *d, const char *what) {
    ud_buf v = UD_BUF_INIT;
    int rc = ud_get_local(d, S("marker"), &v);
    CHECK(rc == UD_ENOTFOUND || rc == UD_ECORRUPT ||
              (rc == 0 && v.len == strlen(MARKER) && memcmp(v.data, MARKER, v.len) == 0),
          "%s: garbage was applied (rc %s, %zu bytes)", what, ud_errname(rc), v.len);
    ud_buf_free(&v);
    return 0;
}

static int corrupt_records(const char *name, bool headers) {
    ud_options o = UD_OPTIONS_INIT;
    o.name = name;
    o.buffer_size = 65536;
    ud_dict *a = NULL, *b = NULL;
    CHECK_RC(ud_open(&o, &a), 0);
    CHECK_RC(open_rc(name, UD_ATTACH_ONLY, &b), 0);
    CHECK_RC(ud_set(a, S("before"), S("1")), 0);
    CHECK_RC(ud_apply_update(b), 0);
    CHECK_RC(ud_set(a, S("marker"), S(MARKER)), 0);
    CHECK_RC(ud_set(a, S("after"), S("2")), 0);

    char path[512];
    long long at = ut_file_find(ut_shm_path(path, name, ".stream"), S(MARKER), 0);
    CHECK(at > 0, "the marker is not in the stream segment");
    if (headers) {
        /* Everything before the value (item and record headers, the key) becomes 0xFF:
         * lengths near 2^64. */
        unsigned char ff[48];
        memset(ff, 0xFF, sizeof ff);
        long long from = at >= 48 ? at - 48 : 0;
        CHECK(ut_file_pwrite(path, from, ff, (size_t)(at - from)) == 0, "write");
    } else {
        unsigned char x = 'X';
        CHECK(ut_file_pwrite(path, at + 7, &x, 1) == 0, "write"); /* "MARKER-X..." */
    }

    /* b must not apply the damaged record: UD_ECORRUPT, or an exact recovery. */
    for (int i = 0; i < 3; i++) {
        int rc = ud_apply_update(b);
        sb->rc[0] = rc;
        if (marker_not_garbage(b, "after ud_apply_update") != 0)
            return 1;
        if (rc == 0) {
            if (same_dict(a, b, "apply_update returned 0 over a damaged record") != 0)
                return 1;
        } else {
            CHECK(rc == UD_ECORRUPT, "ud_apply_update over a damaged record returned %s",
                  ud_errname(rc));
        }
    }
    ud_buf v = UD_BUF_INIT;
    int rc = ud_get(b, S("marker"), &v);
    CHECK(rc == UD_ECORRUPT || rc == UD_ENOTFOUND ||
              (rc == 0 && v.len == strlen(MARKER) && memcmp(v.data, MARKER, v.len) == 0),
          "ud_get over a damaged record: %s, %zu bytes", ud_errname(rc), v.len);
    ud_buf_free(&v);

    /* A fresh handle must not take the damaged record either. */
    ud_dict *c = NULL;
    rc = open_rc(name, UD_ATTACH_ONLY, &c);
    CHECK(rc == 0 || rc == UD_ECORRUPT, "attaching with a damaged stream: %s", ud_errname(rc));
    if (rc == 0) {
        int arc = ud_apply_update(c);
        CHECK(arc == 0 || arc == UD_ECORRUPT, "fresh apply: %s", ud_errname(arc));
        if (marker_not_garbage(c, "fresh handle") != 0)
            return 1;
        ud_close(c);
    }

    /* Recovery: the writer, whose own copy is intact, dumps; readers converge from the dump. */
    CHECK_RC(ud_dump(a), 0);
    CHECK_RC(ud_apply_update(b), 0);
    if (same_dict(a, b, "after a new dump") != 0)
        return 1;
    CHECK_RC(ud_get(b, S("marker"), &v), 0);
    CHECK(v.len == strlen(MARKER) && memcmp(v.data, MARKER, v.len) == 0, "marker after dump");
    ud_buf_free(&v);
    CHECK_RC(ud_set(b, S("later"), S("3")), 0);
    CHECK_RC(ud_get(a, S("later"), &v), 0);
    ud_buf_free(&v);
    ud_close(b);
    ud_close(a);
    return 0;
}

static int scenario_garbage_over_record(void *varg) {
    return corrupt_records(varg, false);
}

static int scenario_garbage_over_record_headers(void *varg) {
    return corrupt_records(varg, true);
}

static int scenario_stream_header(void *varg) {
    const char *name = varg;
    ud_dict *a = NULL, *b = NULL;
    CHECK_RC(open_rc(name, UD_CREATE_ONLY, &a), 0);
    CHECK_RC(ud_set(a, S("k"), S("v")), 0);
    char path[512];
    unsigned char junk[64];
    memset(junk, 0x5A, sizeof junk);
    CHECK(ut_file_pwrite(ut_shm_path(path, name, ".stream"), 0, junk, sizeof junk) == 0, "w");
    int rc = open_rc(name, UD_ATTACH_ONLY, &b);
    CHECK(rc == 0 || is_clear_error(rc), "attach with a damaged stream header: %s", ud_errname(rc));
    if (rc == 0) {
        ud_buf v = UD_BUF_INIT;
        rc = ud_get(b, S("k"), &v);
        CHECK(rc == 0 || is_clear_error(rc), "get: %s", ud_errname(rc));
        if (rc == 0)
            CHECK(v.len == 1 && memcmp(v.data, "v", 1) == 0, "garbage value");
        ud_buf_free(&v);
        ud_close(b);
    }
    ud_close(a);
    return 0;
}

/* ---- Dumps. ---- */

/* Finds the dump segment holding the marker; writes its suffix. */
static long long find_in_dumps(const char *name, char *suffix) {
    for (int i = 0; i < 2; i++) {
        char path[512];
        snprintf(suffix, 8, ".dump%d", i);
        ut_shm_path(path, name, suffix);
        if (ut_file_size(path) <= 0)
            continue;
        long long at = ut_file_find(path, S(MARKER), 0);
        if (at >= 0)
            return at;
    }
    return -1;
}

/* how: 0 flip one byte of the marker, 1 garbage over the whole payload, 2 over the header. */
static int corrupt_dump(const char *name, int how) {
    ud_dict *a = NULL, *c = NULL;
    CHECK_RC(open_rc(name, UD_CREATE_ONLY, &a), 0);
    for (int i = 0; i < 20; i++) {
        char k[8];
        snprintf(k, sizeof k, "k%d", i);
        CHECK_RC(ud_set(a, S(k), S("value")), 0);
    }
    CHECK_RC(ud_set(a, S("marker"), S(MARKER)), 0);
    CHECK_RC(ud_dump(a), 0);

    char suffix[8], path[512];
    long long at = find_in_dumps(name, suffix);
    CHECK(at > 0, "the marker is in no dump segment");
    ut_shm_path(path, name, suffix);
    long long size = ut_file_size(path);
    if (how == 0) {
        unsigned char x = 'X';
        CHECK(ut_file_pwrite(path, at + 7, &x, 1) == 0, "write");
    } else {
        long long from = how == 1 ? 64 : 0;
        long long to = how == 1 ? size : 64;
        size_t n = (size_t)(to - from);
        unsigned char *junk = malloc(n);
        CHECK(junk != NULL, "malloc");
        ut_rng r;
        ut_rng_seed(&r, (uint64_t)how);
        for (size_t i = 0; i < n; i++)
            junk[i] = (unsigned char)ut_rng_next(&r);
        CHECK(ut_file_pwrite(path, from, junk, n) == 0, "write");
        free(junk);
    }

    /* A fresh handle must load nothing false. */
    int rc = open_rc(name, UD_ATTACH_ONLY, &c);
    sb->rc[0] = rc;
    CHECK(rc == 0 || is_clear_error(rc), "attaching with a damaged dump: %s", ud_errname(rc));
    if (rc == 0) {
        int arc = ud_apply_update(c);
        sb->rc[1] = arc;
        CHECK(arc == 0 || is_clear_error(arc), "apply with a damaged dump: %s", ud_errname(arc));
        if (marker_not_garbage(c, "a fresh handle with a damaged dump") != 0)
            return 1;
        if (arc == 0 && ud_contains(c, S("marker")) == 1) {
            /* It claims success: then it must have everything. */
            if (same_dict(a, c, "fresh handle over a damaged dump") != 0)
                return 1;
        }
        ud_close(c);
        c = NULL;
    }

    /* Recovery: a new dump (into the other segment) makes the dict readable again. */
    CHECK_RC(ud_set(a, S("more"), S("x")), 0);
    CHECK_RC(ud_dump(a), 0);
    rc = open_rc(name, UD_ATTACH_ONLY, &c);
    sb->rc[2] = rc;
    CHECK(rc == 0, "attaching after the writer published a new, valid dump: %s", ud_errname(rc));
    if (same_dict(a, c, "fresh handle after a new dump") != 0)
        return 1;
    ud_close(c);
    /* The writer's handle goes on working whatever happened to the damaged segment. */
    CHECK_RC(ud_set(a, S("still"), S("writes")), 0);
    CHECK_RC(ud_dump(a), 0);
    ud_close(a);
    return 0;
}

static int scenario_dump_byte(void *varg) {
    return corrupt_dump(varg, 0);
}

static int scenario_dump_payload(void *varg) {
    return corrupt_dump(varg, 1);
}

static int scenario_dump_header(void *varg) {
    return corrupt_dump(varg, 2);
}

/* ---- Not a dict at all. ---- */

static int scenario_foreign_file(void *varg) {
    const char *name = varg;
    char path[512];
    ut_shm_path(path, name, "");
    unsigned char junk[4096];
    ut_rng r;
    ut_rng_seed(&r, 99);
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (unsigned char)ut_rng_next(&r);
    int fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0600);
    CHECK(fd >= 0, "cannot create %s", path);
    CHECK(write(fd, junk, sizeof junk) == (ssize_t)sizeof junk, "write");
    close(fd);

    ud_dict *d = NULL;
    CHECK_RC(open_rc(name, UD_ATTACH_ONLY, &d), UD_EBADMAGIC);
    CHECK_RC(open_rc(name, UD_CREATE_OR_ATTACH, &d), UD_EBADMAGIC);
    CHECK_RC(open_rc(name, UD_CREATE_ONLY, &d), UD_EEXIST);
    CHECK(d == NULL, "ud_open wrote *out on failure");
    size_t n;
    unsigned char *now = ut_file_read(path, &n);
    CHECK(now != NULL && n == sizeof junk && memcmp(now, junk, n) == 0,
          "the foreign file was modified");
    free(now);
    CHECK(ut_count_segments(name) == 1, "segments were created next to the foreign file");

    /* A tiny foreign file. */
    CHECK(truncate(path, 3) == 0, "truncate");
    int rc = open_rc(name, UD_ATTACH_ONLY, &d);
    CHECK(rc == UD_EBADMAGIC || rc == UD_ECORRUPT, "a 3-byte foreign file: %s", ud_errname(rc));
    CHECK(ut_file_size(path) == 3, "the foreign file was modified");
    /* Somebody else's file is not ours to remove. */
    CHECK_RC(ud_unlink_by_name(name), UD_EBADMAGIC);
    CHECK(ut_file_size(path) == 3, "ud_unlink_by_name removed or changed a foreign file");
    unlink(path);
    return 0;
}

/* A control segment of zero bytes: what a creator killed before ftruncate() leaves behind. */
static int scenario_empty_control(void *varg) {
    const char *name = varg;
    char path[512];
    ut_shm_path(path, name, "");
    int fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0600);
    CHECK(fd >= 0, "cannot create the empty control segment");
    close(fd);
    ud_dict *d = NULL;
    double t0 = ut_now();
    int rc = open_rc(name, UD_ATTACH_ONLY, &d);
    /* Nobody finished it within the creator's window: a half-created dict. */
    CHECK(rc == UD_ECORRUPT || rc == UD_EBADMAGIC || rc == UD_EINCOMPLETE,
          "attaching to an empty control segment: %s", ud_errname(rc));
    rc = open_rc(name, UD_CREATE_OR_ATTACH, &d);
    CHECK(rc == UD_ECORRUPT || rc == UD_EBADMAGIC || rc == 0,
          "create-or-attach over an empty control segment: %s", ud_errname(rc));
    sb->rc[0] = rc;
    if (rc == 0) {
        /* It took the name over: then it must be a working dict. */
        CHECK_RC(ud_set(d, S("k"), S("v")), 0);
        ud_close(d);
    }
    sb->rc[1] = (int)((ut_now() - t0) * 1000);
    unlink(path);
    return 0;
}

/* ---- Impossible sizes and positions. ---- */

/* Lengths no buffer can have: refused before anything is reserved or copied. */
static int scenario_impossible_sizes(void *varg) {
    const char *name = varg;
    ud_dict *d = NULL;
    CHECK_RC(open_rc(name, UD_CREATE_ONLY, &d), 0);
    static const char byte = 'x';
    const size_t huge[] = {SIZE_MAX, SIZE_MAX - 8, SIZE_MAX - 40, SIZE_MAX / 2, (size_t)1 << 62};
    for (size_t i = 0; i < sizeof huge / sizeof *huge; i++) {
        CHECK_RC(ud_set(d, S("k"), &byte, huge[i]), UD_ETOOBIG);
        CHECK_RC(ud_setdefault(d, S("k"), &byte, huge[i], NULL), UD_ETOOBIG);
        ud_buf snap = UD_BUF_INIT;
        CHECK_RC(ud_snapshot_add(&snap, S("k"), &byte, 1, UD_TYPE_BYTES), 0);
        CHECK_RC(ud_snapshot_add(&snap, S("k2"), &byte, huge[i], UD_TYPE_BYTES), UD_ETOOBIG);
        ud_buf_free(&snap);
    }
    /* Lengths whose sum wraps around: each alone is "small", together they are not. */
    ud_item items[3] = {
        {"a", 1, &byte, SIZE_MAX / 2}, {"b", 1, &byte, SIZE_MAX / 2}, {"c", 1, &byte, 64}};
    CHECK_RC(ud_update(d, items, 3), UD_ETOOBIG);
    items[0].vlen = SIZE_MAX - 100;
    items[1].vlen = 200;
    CHECK_RC(ud_update(d, items, 2), UD_ETOOBIG);
    CHECK(ud_len(d) == 0, "a refused write left %zu entries", ud_len(d));
    CHECK_RC(ud_set(d, S("k"), S("v")), 0);
    CHECK(ud_len(d) == 1, "the dict is not usable after refusals");
    CHECK_RC(ud_close(d), 0);
    return 0;
}

/* Writes one 64-bit field of the control segment. */
static int poke_control(const char *name, size_t off, uint64_t v) {
    char path[512];
    return ut_file_pwrite(ut_shm_path(path, name, ""), (long long)off, &v, sizeof v);
}

/* Positions that contradict each other (base past end, end past the stream, base past the
 * dumps) are UD_ECORRUPT for readers and writers alike, at once: never a loop. */
static int scenario_bad_positions(void *varg) {
    const char *name = varg;
    if (make_dict(name) != 0)
        return 1;
    ud_dict *d = NULL;
    CHECK_RC(open_rc(name, UD_ATTACH_ONLY, &d), 0);
    CHECK_RC(ud_close(d), 0);
    char path[512];
    size_t n;
    unsigned char *orig = ut_file_read(ut_shm_path(path, name, ""), &n);
    CHECK(orig != NULL, "cannot read the control segment");
    uint64_t end, base;
    memcpy(&end, orig + offsetof(ud__control, end), 8);
    memcpy(&base, orig + offsetof(ud__control, base), 8);
    const struct {
        uint64_t end, base;
    } cases[] = {{end, end + 8},         {end, end + (1ull << 40)}, {base + (1ull << 40), base},
                 {UINT64_MAX - 7, base}, {end, UINT64_MAX - 7},     {0, 8}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        CHECK(ut_file_pwrite(path, 0, orig, n) == 0, "cannot restore the control segment");
        CHECK(poke_control(name, offsetof(ud__control, end), cases[i].end) == 0 &&
                  poke_control(name, offsetof(ud__control, base), cases[i].base) == 0,
              "cannot write positions");
        int rc = open_rc(name, UD_ATTACH_ONLY, &d);
        if (rc == 0) {
            int g = ud_get(d, S("a"), NULL);
            CHECK(g == UD_ECORRUPT, "case %zu: ud_get returned %s", i, ud_errname(g));
            int w = ud_set(d, S("z"), S("1"));
            CHECK(w == UD_ECORRUPT, "case %zu: ud_set returned %s", i, ud_errname(w));
            CHECK_RC(ud_apply_update(d), UD_ECORRUPT);
            CHECK_RC(ud_close(d), 0);
        } else {
            CHECK(rc == UD_ECORRUPT, "case %zu: ud_open returned %s", i, ud_errname(rc));
        }
    }
    free(orig);
    return 0;
}

/* ---- A creator killed inside ud_open(). ---- */

/* Leaves what a creator killed after creating the control segment leaves: the segment with
 * no magic, and (when size > 0) the creator's identity - of a process that is gone. */
static int plant_half_created(const char *name, size_t size, bool with_creator, bool old) {
    char path[512];
    ut_shm_path(path, name, "");
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
    if (fd < 0 || ftruncate(fd, (off_t)size) != 0)
        return -1;
    if (with_creator && size > 0) {
        pid_t dead = fork();
        if (dead == 0)
            _exit(0);
        ut_wait(dead, 10);
        int32_t pid = dead;
        if (pwrite(fd, &pid, sizeof pid, offsetof(ud__control, creator_pid)) != sizeof pid)
            return -1;
    }
    if (old) {
        struct timespec t[2] = {{1000, 0}, {1000, 0}};
        futimens(fd, t);
    }
    close(fd);
    return 0;
}

static int half_created_cb(void *ctx, const ud_dict_info *info) {
    if (strcmp(info->name, sb->name) == 0)
        *(int *)ctx = info->error == 0 ? 1 : info->error;
    return 0;
}

static int scenario_half_created(void *varg) {
    const char *name = varg;
    long page = sysconf(_SC_PAGESIZE);
    size_t csize = (sizeof(ud__control) + (size_t)page - 1) / (size_t)page * (size_t)page;
    /* Killed after ftruncate (identity written), and before it (size 0, an old file). */
    const struct {
        size_t size;
        bool creator, old;
    } cases[] = {{csize, true, false}, {csize, false, true}, {0, false, true}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        CHECK(plant_half_created(name, cases[i].size, cases[i].creator, cases[i].old) == 0,
              "cannot plant");
        int err = 0;
        CHECK_RC(ud_list(half_created_cb, &err), 0);
        CHECK(err == UD_EINCOMPLETE, "case %zu: ud_list reported %s", i, ud_errname(err));
        ud_dict *d = NULL;
        double t0 = ut_now();
        CHECK_RC(open_rc(name, UD_ATTACH_ONLY, &d), UD_EINCOMPLETE);
        CHECK(ut_now() - t0 < 0.5, "case %zu: attach waited %.2f s", i, ut_now() - t0);
        CHECK_RC(ud_unlink_by_name(name), 0);
        CHECK(ut_count_segments(name) == 0, "case %zu: unlink left segments", i);
        /* Planted again: the next create takes the name over. */
        CHECK(plant_half_created(name, cases[i].size, cases[i].creator, cases[i].old) == 0,
              "cannot plant");
        CHECK_RC(open_rc(name, UD_CREATE_ONLY, &d), 0);
        CHECK_RC(ud_set(d, S("k"), S("v")), 0);
        CHECK_RC(ud_close(d), 0);
        CHECK(ut_count_segments(name) == 0, "case %zu: close left segments", i);
    }
    /* A creator that has just started (no identity written yet, a fresh file) is not robbed
     * of its name. */
    char path[512];
    int fd = open(ut_shm_path(path, name, ""), O_RDWR | O_CREAT | O_EXCL, 0600);
    CHECK(fd >= 0 && ftruncate(fd, (off_t)csize) == 0, "cannot plant");
    close(fd);
    ud_dict *d = NULL;
    CHECK_RC(open_rc(name, UD_CREATE_ONLY, &d), UD_ECREATING);
    CHECK_RC(ud_unlink_by_name(name), UD_ECREATING);
    unlink(path);
    /* Nor is one whose pid is read before its start time: a live pid with no start time is a
     * creator in the middle of writing its identity, not a reused pid. */
    fd = open(ut_shm_path(path, name, ""), O_RDWR | O_CREAT | O_EXCL, 0600);
    int32_t live = getppid();
    CHECK(fd >= 0 && ftruncate(fd, (off_t)csize) == 0 &&
              pwrite(fd, &live, sizeof live, offsetof(ud__control, creator_pid)) == sizeof live,
          "cannot plant");
    close(fd);
    CHECK_RC(open_rc(name, UD_CREATE_ONLY, &d), UD_ECREATING);
    unlink(path);
    return 0;
}

static void test_bad_magic(void **state) {
    (void)state;
    run_sandboxed(scenario_bad_magic, "bad magic");
}

static void test_bad_version(void **state) {
    (void)state;
    run_sandboxed(scenario_bad_version, "bad version");
}

static void test_truncated_control(void **state) {
    (void)state;
    run_sandboxed(scenario_truncated_control, "truncated control segment");
}

static void test_garbage_after_end(void **state) {
    (void)state;
    run_sandboxed(scenario_garbage_after_end, "garbage after the committed end");
}

static void test_garbage_over_record(void **state) {
    (void)state;
    run_sandboxed(scenario_garbage_over_record, "garbage over a committed record");
    printf("damaged record: ud_apply_update returned %s\n", ud_errname(sb->rc[0]));
}

static void test_garbage_over_record_headers(void **state) {
    (void)state;
    run_sandboxed(scenario_garbage_over_record_headers, "0xFF over record and item headers");
    printf("damaged headers: ud_apply_update returned %s\n", ud_errname(sb->rc[0]));
}

static void test_stream_header(void **state) {
    (void)state;
    run_sandboxed(scenario_stream_header, "damaged stream header");
}

static void test_dump_byte(void **state) {
    (void)state;
    run_sandboxed(scenario_dump_byte, "one byte of a dump");
    printf("damaged dump byte: open %s, apply %s\n", ud_errname(sb->rc[0]), ud_errname(sb->rc[1]));
}

static void test_dump_payload(void **state) {
    (void)state;
    run_sandboxed(scenario_dump_payload, "garbage over a dump payload");
    printf("damaged dump payload: open %s, apply %s\n", ud_errname(sb->rc[0]),
           ud_errname(sb->rc[1]));
}

static void test_dump_header(void **state) {
    (void)state;
    run_sandboxed(scenario_dump_header, "garbage over a dump header");
    printf("damaged dump header: open %s, apply %s; attach after a new dump: %s\n",
           ud_errname(sb->rc[0]), ud_errname(sb->rc[1]), ud_errname(sb->rc[2]));
}

static void test_empty_control(void **state) {
    (void)state;
    run_sandboxed(scenario_empty_control, "an empty control segment");
    printf("empty control segment: create-or-attach returned %s; both opens took %d ms\n",
           ud_errname(sb->rc[0]), sb->rc[1]);
}

static void test_foreign_file(void **state) {
    (void)state;
    run_sandboxed(scenario_foreign_file, "a foreign file in /dev/shm");
}

static void test_half_created(void **state) {
    (void)state;
    run_sandboxed(scenario_half_created, "a creator killed inside ud_open");
}

static void test_impossible_sizes(void **state) {
    (void)state;
    run_sandboxed(scenario_impossible_sizes, "lengths near SIZE_MAX");
}

static void test_bad_positions(void **state) {
    (void)state;
    run_sandboxed(scenario_bad_positions, "contradictory positions in the control segment");
}

int main(void) {
    sb = ut_shared_alloc(sizeof *sb);
    if (sb == NULL)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_bad_magic, ut_teardown),
        cmocka_unit_test_teardown(test_bad_version, ut_teardown),
        cmocka_unit_test_teardown(test_truncated_control, ut_teardown),
        cmocka_unit_test_teardown(test_garbage_after_end, ut_teardown),
        cmocka_unit_test_teardown(test_garbage_over_record, ut_teardown),
        cmocka_unit_test_teardown(test_garbage_over_record_headers, ut_teardown),
        cmocka_unit_test_teardown(test_stream_header, ut_teardown),
        cmocka_unit_test_teardown(test_dump_byte, ut_teardown),
        cmocka_unit_test_teardown(test_dump_payload, ut_teardown),
        cmocka_unit_test_teardown(test_dump_header, ut_teardown),
        cmocka_unit_test_teardown(test_empty_control, ut_teardown),
        cmocka_unit_test_teardown(test_foreign_file, ut_teardown),
        cmocka_unit_test_teardown(test_impossible_sizes, ut_teardown),
        cmocka_unit_test_teardown(test_half_created, ut_teardown),
        cmocka_unit_test_teardown(test_bad_positions, ut_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, ut_teardown);
}
