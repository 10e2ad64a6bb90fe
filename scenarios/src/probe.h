/*
 * probe.h - the probe of the machine's state that every worker runs on its CPU around each
 * measured stretch.
 *
 * On a shared VM the speed of a memory-bound process changes with the last-level cache the
 * co-tenants leave it, from one process to the next and within a tenth of a second. The probe
 * measures that state directly, so that a report can tell a backend that changed from a
 * machine that did: a pointer chase through a 4 MiB set just read in address order (did the
 * last-level cache keep what this worker touched a fraction of a millisecond ago?), one over a
 * set that fits in L2 (128 KiB), and a dependent floating-point loop (the clock speed and the
 * share of the CPU). Each takes a fixed number of steps; the whole probe costs about 0.3 ms.
 *
 * The working sets are built once per run, in the parent, before the workers are forked: the
 * workers only read them, so they share the same pages.
 */
#ifndef SC_PROBE_H
#define SC_PROBE_H

#include <stddef.h>
#include <stdint.h>

#include "rp.h"

#define SC_PROBE_LLC_BYTES (4u << 20)
#define SC_PROBE_L2_BYTES (128u << 10)
#define SC_PROBE_STEPS 2048

/* One worker's place in the two chases (each probe continues where the last one stopped, so
 * that successive probes visit different lines of the large set). */
typedef struct sc_prober {
    uint32_t llc_pos, l2_pos;
} sc_prober;

/* Builds the working sets (once; later calls do nothing). 0, or -ENOMEM. */
int sc_probe_init(void);
/* Runs one probe; *out gets its figures (all 0 when sc_probe_init() failed or was not called). */
void sc_probe_run(sc_prober *p, rp_probe *out);
/* The mean of n probes' figures, skipping those not measured; all 0 when none was. */
void sc_probe_mean(const rp_probe *v, size_t n, rp_probe *out);

#endif /* SC_PROBE_H */
