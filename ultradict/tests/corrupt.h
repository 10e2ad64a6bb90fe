/*
 * corrupt.h - what the damaged-segment tests (test_corrupt.c, test_corrupt_data.c) share: a
 * sandbox in shared memory through which a forked scenario reports its first failed check, the
 * CHECK macros that fill it, and a dict to damage.
 */
#ifndef UD_TESTS_CORRUPT_H
#define UD_TESTS_CORRUPT_H

#include "testutil.h"

#include <stdbool.h>

#define GUARD 20.0

typedef struct sandbox {
    int line;
    char msg[1024];
    char name[64];
    int rc[8]; /* codes a scenario reports for the parent to print */
} sandbox;

/* In shared memory: main() allocates it with cr_sandbox_init(). */
extern sandbox *cr_sb;

/* A failed check in the child: remember where and why, and exit. */
#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            cr_sb->line = __LINE__;                                                                \
            snprintf(cr_sb->msg, sizeof cr_sb->msg, __VA_ARGS__);                                  \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

#define CHECK_RC(expr, want)                                                                       \
    do {                                                                                           \
        int crc_ = (expr);                                                                         \
        CHECK(crc_ == (want), "%s returned %s, expected %s", #expr, ud_errname(crc_),              \
              ud_errname(want));                                                                   \
    } while (0)

/* ud_unlink_by_name(name) succeeds and leaves no segment of the dict behind. */
#define CHECK_UNLINKED(name)                                                                       \
    do {                                                                                           \
        CHECK_RC(ud_unlink_by_name(name), 0);                                                      \
        CHECK(ut_count_segments(name) == 0, "segments left after ud_unlink_by_name");              \
    } while (0)

/* Allocates the shared sandbox; 0, or -1 if it cannot be. */
int cr_sandbox_init(void);
/* Runs scenario(name) in a child and fails the test with the child's message. */
void cr_run_sandboxed(int (*scenario)(void *), const char *what);
int cr_open_rc(const char *name, int create, ud_dict **out);
/* Creates a dict with a few entries and leaves it in /dev/shm (auto_unlink OFF). */
int cr_make_dict(const char *name);
/*
 * One sandboxed test: its scenario, what it damages (for the failure message) and, optionally,
 * up to three labels, each printed before the name of the code the scenario left in rc[i].
 */
typedef struct cr_case {
    int (*scenario)(void *);
    const char *what;
    const char *labels[3];
} cr_case;
/* The test function of every cr_case (its initial state). */
void cr_test(void **state);
/* A cmocka test row named `name` that runs `scenario`; _REPORT adds the labels. */
/* (clang-format cannot lay out a compound literal inside a braced row.) */
/* clang-format off */
#define CR_TEST(name, scenario, what) CR_TEST_REPORT(name, scenario, what, NULL, NULL, NULL)
#define CR_TEST_REPORT(name, scenario, what, ...) \
    {#name, cr_test, NULL, ut_teardown, &(cr_case){scenario, what, {__VA_ARGS__}}}
/* clang-format on */

/* True for the errors a damaged segment may give: UD_EBADMAGIC, UD_ECORRUPT, UD_EVERSION. */
bool cr_is_clear_error(int rc);

#endif /* UD_TESTS_CORRUPT_H */
