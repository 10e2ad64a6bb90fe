/*
 * contract.h - what the files of the contract suite (test_kv_contract) share: the connection
 * under test, its URI, and the assertion helpers.
 */
#ifndef KV_CONTRACT_H
#define KV_CONTRACT_H

#include "kv.h"
#include "kv_fixture.h"
#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

/* The backend under test (NULL when its service is not running), and why it is missing. */
extern char contract_uri[1024];
extern char contract_skip_reason[1024];
extern kv_conn *conn;

#define NEED_CONN()                                                                                \
    do {                                                                                           \
        if (!conn) {                                                                               \
            print_message("%s %s\n", UT_SKIP_MARK, contract_skip_reason);                          \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

/* Children and forks: generous limits so a slow machine does not fail, a hang still does. */
#define CHILD_TIMEOUT 60.0
#define NPROC 4

/* True if the backend under test has the capability bit `cap`. */
bool contract_has(unsigned cap);

/* Asserts rc == want and prints the connection's detail when it is not. */
#define CHECK_RC(rc, want) KVT_CHECK(conn, rc, want)

/* The multi-process tests (contract_procs.c). */
void test_incr_processes(void **state);
void test_lock_processes(void **state);
void test_lock_basics(void **state);

/* The snapshot tests (contract_snapshot.c). */
void test_snapshot_round_trip(void **state);
void test_snapshot_format1(void **state);
/* The crash test of an overwrite (contract_overwrite.c). */
void test_snapshot_overwrite_killed(void **state);
#ifdef KV_TEST_HAVE_ULTRADICT
void test_snapshot_ultradict(void **state);
void test_snapshot_nested(void **state);
int teardown_dicts(void **state);
#endif

#endif /* KV_CONTRACT_H */
