/*
 * test_corrupt_data.c - damaged data segments: garbage in the stream (after the committed end,
 * over committed records and their headers, over the stream header) and over a dump (one byte,
 * the payload, the header). The library must report a clear error, never crash, and never
 * apply garbage. Every scenario runs in a forked child (corrupt.h).
 */
#include "corrupt.h"

#include <fcntl.h>
#include <stdlib.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "layout.h"

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
    ud_options o = ut_options(name);
    o.buffer_size = 65536;
    ud_dict *a = NULL, *b = NULL, *c = NULL;
    CHECK_RC(ud_open(&o, &a), 0);
    CHECK_RC(cr_open_rc(name, UD_ATTACH_ONLY, &b), 0);
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
    CHECK_RC(cr_open_rc(name, UD_ATTACH_ONLY, &c), 0);
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
    ud_options o = ut_options(name);
    o.buffer_size = 65536;
    ud_dict *a = NULL, *b = NULL;
    CHECK_RC(ud_open(&o, &a), 0);
    CHECK_RC(cr_open_rc(name, UD_ATTACH_ONLY, &b), 0);
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
        cr_sb->rc[0] = rc;
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
    rc = cr_open_rc(name, UD_ATTACH_ONLY, &c);
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
    CHECK_RC(cr_open_rc(name, UD_CREATE_ONLY, &a), 0);
    CHECK_RC(ud_set(a, S("k"), S("v")), 0);
    char path[512];
    unsigned char junk[64];
    memset(junk, 0x5A, sizeof junk);
    CHECK(ut_file_pwrite(ut_shm_path(path, name, ".stream"), 0, junk, sizeof junk) == 0, "w");
    int rc = cr_open_rc(name, UD_ATTACH_ONLY, &b);
    CHECK(rc == 0 || cr_is_clear_error(rc), "attach with a damaged stream header: %s",
          ud_errname(rc));
    if (rc == 0) {
        ud_buf v = UD_BUF_INIT;
        rc = ud_get(b, S("k"), &v);
        CHECK(rc == 0 || cr_is_clear_error(rc), "get: %s", ud_errname(rc));
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
    CHECK_RC(cr_open_rc(name, UD_CREATE_ONLY, &a), 0);
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
    int rc = cr_open_rc(name, UD_ATTACH_ONLY, &c);
    cr_sb->rc[0] = rc;
    CHECK(rc == 0 || cr_is_clear_error(rc), "attaching with a damaged dump: %s", ud_errname(rc));
    if (rc == 0) {
        int arc = ud_apply_update(c);
        cr_sb->rc[1] = arc;
        CHECK(arc == 0 || cr_is_clear_error(arc), "apply with a damaged dump: %s", ud_errname(arc));
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
    rc = cr_open_rc(name, UD_ATTACH_ONLY, &c);
    cr_sb->rc[2] = rc;
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

int main(void) {
    if (cr_sandbox_init() != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        CR_TEST(test_garbage_after_end, scenario_garbage_after_end,
                "garbage after the committed end"),
        CR_TEST_REPORT(test_garbage_over_record, scenario_garbage_over_record,
                       "garbage over a committed record",
                       "damaged record: ud_apply_update returned "),
        CR_TEST_REPORT(test_garbage_over_record_headers, scenario_garbage_over_record_headers,
                       "0xFF over record and item headers",
                       "damaged headers: ud_apply_update returned "),
        CR_TEST(test_stream_header, scenario_stream_header, "damaged stream header"),
        CR_TEST_REPORT(test_dump_byte, scenario_dump_byte, "one byte of a dump",
                       "damaged dump byte: open ", ", apply "),
        CR_TEST_REPORT(test_dump_payload, scenario_dump_payload, "garbage over a dump payload",
                       "damaged dump payload: open ", ", apply "),
        CR_TEST_REPORT(test_dump_header, scenario_dump_header, "garbage over a dump header",
                       "damaged dump header: open ", ", apply ", "; attach after a new dump: "),
    };
    return cmocka_run_group_tests(tests, NULL, ut_teardown);
}
