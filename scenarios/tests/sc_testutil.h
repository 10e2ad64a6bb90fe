/*
 * sc_testutil.h - what the harness tests share: the fake scenario their cells run.
 */
#ifndef SC_TESTUTIL_H
#define SC_TESTUTIL_H

#include "sc.h"

/* A test scenario "read" (ops per second, higher is better) with the given ops and work. */
#define SCT_SCENARIO(ops_fn, work_fn)                                                              \
    {                                                                                              \
        .id = "read", .summary = "test", .merit = {"read", RP_FIGURE_OPS, RP_HIGHER_IS_BETTER},    \
        .ops = (ops_fn), .work = (work_fn)                                                         \
    }

#endif /* SC_TESTUTIL_H */
