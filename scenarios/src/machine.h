/* machine.h - the machine and the time, for the results document. */
#ifndef SC_MACHINE_H
#define SC_MACHINE_H

#include <stddef.h>
#include <stdint.h>

#include "rp.h"

/* Fills CPU, cores, kernel, memory, compiler and the load average before the run. 0, or
 * -ENOMEM (some strings are then missing). */
int sc_machine(rp_machine *m);
void sc_loadavg(double load[3]);
/* The current UTC time as ISO 8601. */
void sc_iso_time(char *buf, size_t len);
/* The machine's total and stolen CPU time so far, in ticks (the first line of /proc/stat:
 * "cpu user nice system idle iowait irq softirq steal ..."); 0, 0 if it cannot be read. */
void sc_cpu_ticks(uint64_t *total, uint64_t *steal);

#endif /* SC_MACHINE_H */
