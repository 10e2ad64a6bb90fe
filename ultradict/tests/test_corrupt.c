/*
 * test_corrupt.c - damaged or foreign control segments: a bad magic, an unknown layout version,
 * a truncated or empty control segment, a file in /dev/shm that is not a dict at all,
 * impossible sizes and positions, and a creator killed inside ud_open(). The library must
 * report a clear error, never crash, and never apply garbage (test_corrupt_data.c: the stream
 * and the dumps).
 *
 * Every scenario runs in a forked child (a crash becomes a test failure, not the end of the
 * run); the child reports the first failed check through shared memory and its exit status.
 */
#include "corrupt.h"

#include <fcntl.h>
#include <stdlib.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "layout.h"

/* ---- The control segment. ---- */

static int list_find_cb(void *ctx, const ud_dict_info *info) {
    if (strcmp(info->name, cr_sb->name) == 0) {
        *(int *)ctx = info->error;
        return 1;
    }
    return 0;
}

/* Opening `name` is refused: attaching (alone or as create-or-attach) with `want`, creating with
 * `create_want` (unless 0), and *out stays untouched. 0, or 1 after a failed CHECK. */
static int check_refused(const char *name, int want, int create_want) {
    ud_dict *d = NULL;
    CHECK_RC(cr_open_rc(name, UD_ATTACH_ONLY, &d), want);
    CHECK_RC(cr_open_rc(name, UD_CREATE_OR_ATTACH, &d), want);
    if (create_want)
        CHECK_RC(cr_open_rc(name, UD_CREATE_ONLY, &d), create_want);
    CHECK(d == NULL, "ud_open wrote *out on failure");
    return 0;
}

static int scenario_bad_magic(void *varg) {
    const char *name = varg;
    if (cr_make_dict(name) != 0)
        return 1;
    char path[512];
    unsigned char magic[8];
    size_t n;
    unsigned char *all = ut_file_read(ut_shm_path(path, name, ""), &n);
    CHECK(all != NULL && n >= 12, "cannot read %s", path);
    for (int i = 0; i < 8; i++)
        magic[i] = all[i] ^ 0xA5;
    CHECK(ut_file_pwrite(path, 0, magic, 8) == 0, "cannot write %s", path);

    if (check_refused(name, UD_EBADMAGIC, UD_EEXIST))
        return 1;
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
    CHECK_UNLINKED(name);
    return 0;
}

static int scenario_bad_version(void *varg) {
    const char *name = varg;
    if (cr_make_dict(name) != 0)
        return 1;
    char path[512];
    const unsigned char v[4] = {0xEE, 0xEE, 0xEE, 0x7E};
    CHECK(ut_file_pwrite(ut_shm_path(path, name, ""), 8, v, 4) == 0, "cannot write");
    if (check_refused(name, UD_EVERSION, 0))
        return 1;
    CHECK_UNLINKED(name);
    return 0;
}

static int scenario_truncated_control(void *varg) {
    const char *name = varg;
    char path[512];
    ut_shm_path(path, name, "");
    /* Each attach may wait up to the library's creator-initialisation grace period. */
    long long sizes[] = {10, 64, -2}; /* -2: half the real size */
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        if (cr_make_dict(name) != 0)
            return 1;
        long long full = ut_file_size(path);
        long long sz = sizes[i] == -2 ? full / 2 : sizes[i];
        CHECK(truncate(path, (off_t)sz) == 0, "cannot truncate");
        ud_dict *d = NULL;
        int rc = cr_open_rc(name, UD_ATTACH_ONLY, &d);
        CHECK(rc == UD_ECORRUPT || rc == UD_EBADMAGIC,
              "attaching to a control segment truncated to %lld of %lld bytes: %s", sz, full,
              ud_errname(rc));
        if (i == 0) {
            rc = cr_open_rc(name, UD_CREATE_OR_ATTACH, &d);
            CHECK(rc == UD_ECORRUPT || rc == UD_EBADMAGIC,
                  "create-or-attach on a control segment truncated to %lld bytes: %s", sz,
                  ud_errname(rc));
        }
        CHECK(d == NULL, "ud_open wrote *out on failure");
        CHECK_UNLINKED(name);
    }
    return 0;
}

/* ---- Not a dict at all. ---- */

/* Creates the control segment of `name` (its path in path[512]) holding the len bytes of data,
 * as something other than the library would. 0, or 1 after a failed CHECK. */
static int plant_control(const char *name, char *path, const void *data, size_t len) {
    ut_shm_path(path, name, "");
    int fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0600);
    CHECK(fd >= 0, "cannot create %s", path);
    ssize_t w = len ? write(fd, data, len) : 0;
    close(fd);
    CHECK(w == (ssize_t)len, "cannot write %s", path);
    return 0;
}

static int scenario_foreign_file(void *varg) {
    const char *name = varg;
    char path[512];
    unsigned char junk[4096];
    ut_rng r;
    ut_rng_seed(&r, 99);
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (unsigned char)ut_rng_next(&r);
    if (plant_control(name, path, junk, sizeof junk))
        return 1;

    if (check_refused(name, UD_EBADMAGIC, UD_EEXIST))
        return 1;
    size_t n;
    unsigned char *now = ut_file_read(path, &n);
    CHECK(now != NULL && n == sizeof junk && memcmp(now, junk, n) == 0,
          "the foreign file was modified");
    free(now);
    CHECK(ut_count_segments(name) == 1, "segments were created next to the foreign file");

    /* A tiny foreign file. */
    CHECK(truncate(path, 3) == 0, "truncate");
    ud_dict *d = NULL;
    int rc = cr_open_rc(name, UD_ATTACH_ONLY, &d);
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
    if (plant_control(name, path, NULL, 0))
        return 1;
    ud_dict *d = NULL;
    double t0 = ut_now();
    int rc = cr_open_rc(name, UD_ATTACH_ONLY, &d);
    /* Nobody finished it within the creator's window: a half-created dict. */
    CHECK(rc == UD_ECORRUPT || rc == UD_EBADMAGIC || rc == UD_EINCOMPLETE,
          "attaching to an empty control segment: %s", ud_errname(rc));
    rc = cr_open_rc(name, UD_CREATE_OR_ATTACH, &d);
    CHECK(rc == UD_ECORRUPT || rc == UD_EBADMAGIC || rc == 0,
          "create-or-attach over an empty control segment: %s", ud_errname(rc));
    cr_sb->rc[0] = rc;
    if (rc == 0) {
        /* It took the name over: then it must be a working dict. */
        CHECK_RC(ud_set(d, S("k"), S("v")), 0);
        ud_close(d);
    }
    cr_sb->rc[1] = (int)((ut_now() - t0) * 1000);
    unlink(path);
    return 0;
}

/* ---- Impossible sizes and positions. ---- */

/* Lengths no buffer can have: refused before anything is reserved or copied. */
static int scenario_impossible_sizes(void *varg) {
    const char *name = varg;
    ud_dict *d = NULL;
    CHECK_RC(cr_open_rc(name, UD_CREATE_ONLY, &d), 0);
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
    if (cr_make_dict(name) != 0)
        return 1;
    ud_dict *d = NULL;
    CHECK_RC(cr_open_rc(name, UD_ATTACH_ONLY, &d), 0);
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
        int rc = cr_open_rc(name, UD_ATTACH_ONLY, &d);
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
    if (strcmp(info->name, cr_sb->name) == 0)
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
        CHECK_RC(cr_open_rc(name, UD_ATTACH_ONLY, &d), UD_EINCOMPLETE);
        CHECK(ut_now() - t0 < 0.5, "case %zu: attach waited %.2f s", i, ut_now() - t0);
        CHECK_RC(ud_unlink_by_name(name), 0);
        CHECK(ut_count_segments(name) == 0, "case %zu: unlink left segments", i);
        /* Planted again: the next create takes the name over. */
        CHECK(plant_half_created(name, cases[i].size, cases[i].creator, cases[i].old) == 0,
              "cannot plant");
        CHECK_RC(cr_open_rc(name, UD_CREATE_ONLY, &d), 0);
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
    CHECK_RC(cr_open_rc(name, UD_CREATE_ONLY, &d), UD_ECREATING);
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
    CHECK_RC(cr_open_rc(name, UD_CREATE_ONLY, &d), UD_ECREATING);
    unlink(path);
    return 0;
}

static void test_empty_control(void **state) {
    (void)state;
    cr_run_sandboxed(scenario_empty_control, "an empty control segment");
    printf("empty control segment: create-or-attach returned %s; both opens took %d ms\n",
           ud_errname(cr_sb->rc[0]), cr_sb->rc[1]);
}

int main(void) {
    if (cr_sandbox_init() != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        CR_TEST(test_bad_magic, scenario_bad_magic, "bad magic"),
        CR_TEST(test_bad_version, scenario_bad_version, "bad version"),
        CR_TEST(test_truncated_control, scenario_truncated_control, "truncated control segment"),
        cmocka_unit_test_teardown(test_empty_control, ut_teardown),
        CR_TEST(test_foreign_file, scenario_foreign_file, "a foreign file in /dev/shm"),
        CR_TEST(test_impossible_sizes, scenario_impossible_sizes, "lengths near SIZE_MAX"),
        CR_TEST(test_half_created, scenario_half_created, "a creator killed inside ud_open"),
        CR_TEST(test_bad_positions, scenario_bad_positions,
                "contradictory positions in the control segment"),
    };
    return cmocka_run_group_tests(tests, NULL, ut_teardown);
}
