/* scen.h - the scenario implementations, wired into the catalogue by catalogue.c. */
#ifndef SC_SCEN_H
#define SC_SCEN_H

#include "sc.h"

/* scen_kv.c: read, write, mixed-a, mixed-b, rmw, zipf, large. */
void sc_kv_ops(sc_cell *c);
int sc_kv_setup(const sc_cell *c, kv_conn *kv, char *err, size_t errlen);
int sc_kv_work(sc_worker *w);
int sc_kv_finish(const sc_cell *c, kv_conn *kv, sc_arena *a, rp_cell *out);

/* scen_kv.c: seed. */
void sc_seed_ops(sc_cell *c);
int sc_seed_setup(const sc_cell *c, kv_conn *kv, char *err, size_t errlen);
int sc_seed_work(sc_worker *w);

/* scen_lock.c: lock and visibility. */
const char *sc_lock_na(const sc_cell *c);
void sc_lock_ops(sc_cell *c);
int sc_lock_setup(const sc_cell *c, kv_conn *kv, char *err, size_t errlen);
int sc_lock_work(sc_worker *w);
int sc_lock_finish(const sc_cell *c, kv_conn *kv, sc_arena *a, rp_cell *out);
const char *sc_vis_na(const sc_cell *c);
void sc_vis_ops(sc_cell *c);
int sc_vis_setup(const sc_cell *c, kv_conn *kv, char *err, size_t errlen);
int sc_vis_work(sc_worker *w);

/* scen_rtt.c: the cross-core round trip between visibility's writer and its first reader. */
/* Whether worker w takes part (the writer and the first reader of a cell of two or more). */
bool sc_rtt_applies(const sc_worker *w);
/* The writer: one session of timed round trips, into s; gives up after 20 us without answer. */
void sc_rtt_session(sc_worker *w, sc_op_stats *s);
/* The first reader, between two polls: answers a session the writer opened, if any. */
void sc_rtt_answer(sc_worker *w);

/* scen_dump.c: dump. */
const char *sc_dump_na(const sc_cell *c);
void sc_dump_ops(sc_cell *c);
int sc_dump_setup(const sc_cell *c, kv_conn *kv, char *err, size_t errlen);
int sc_dump_work(sc_worker *w);

/* scen_failover.c, scen_failover_check.c: failover. */
const char *sc_failover_na(const sc_cell *c);
void sc_failover_ops(sc_cell *c);
int sc_failover_setup(const sc_cell *c, kv_conn *kv, char *err, size_t errlen);
int sc_failover_work(sc_worker *w);
int sc_failover_finish(const sc_cell *c, kv_conn *kv, sc_arena *a, rp_cell *out);

#endif /* SC_SCEN_H */
