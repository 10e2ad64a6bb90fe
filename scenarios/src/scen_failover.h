/*
 * scen_failover.h - the state the failover scenario shares between the parent, the workers and
 * the writer processes of one repetition (scen_failover.c runs them, scen_failover_check.c reads
 * the store back and makes the figures).
 *
 * The state lives in an anonymous shared mapping made by the parent in setup, before it forks
 * the workers; every process of the repetition sees it. Key k belongs to worker k mod P, which
 * is its only writer, so "the last acknowledged version of key k" is well defined: a version
 * is recorded here only after the backend acknowledged it, and the next write of that key uses
 * the next version only after that. A write that failed is retried with the same version.
 */
#ifndef SC_SCEN_FAILOVER_H
#define SC_SCEN_FAILOVER_H

#include <stdatomic.h>
#include <stdint.h>

#include "nodes.h"
#include "sc.h"

/* Kinds of error one worker keeps apart (the rest are counted under the last slot, code 0). */
#define FO_KINDS 12

typedef struct fo_kind {
    int code; /* KV_E*, SC_E* or -errno; 0: other kinds */
    uint64_t count;
} fo_kind;

/* One worker's availability record (written by its writer process, across restarts). */
typedef struct fo_wstate {
    uint64_t first_fail; /* ns, CLOCK_MONOTONIC; 0: no operation failed */
    uint64_t last_fail;
    uint64_t recover; /* the first success after last_fail (<= last_fail: still failing) */
    uint64_t cursor;  /* how many writes were acknowledged: the next of its keys to write */
    fo_kind kinds[FO_KINDS];
} fo_wstate;

/* One key: its last acknowledged version + 1 (0: none), and the same as of the kill. */
typedef struct fo_key {
    _Atomic uint64_t acked;
    _Atomic uint64_t acked_pre;
} fo_key;

typedef struct fo_shared {
    _Atomic uint64_t kill_ns; /* when the kill was sent (UINT64_MAX: not yet) */
    uint64_t restart_ns;      /* when the node or writer was back (0: not restarted) */
    char victim[160];         /* what was killed */
    sc_node node;             /* a server's node to kill, chosen in setup (pid 0: none) */
    uint64_t nkeys;
    int procs;
    fo_wstate w[SC_MAX_PROCS];
    fo_key keys[];
} fo_shared;

/* The state of the current repetition (made by sc_failover_setup). */
extern fo_shared *sc_fo;

/* Whether worker state s is failing: an operation failed and none succeeded since. */
static inline int fo_failing(const fo_wstate *s) {
    return s->last_fail != 0 && s->recover <= s->last_fail;
}

/* The name of an error code of any layer (KV_E*, SC_E*, or an errno name). */
const char *sc_fo_errname(int code);

#endif /* SC_SCEN_FAILOVER_H */
