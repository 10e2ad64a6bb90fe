/* machine.h - the machine and the time, for the results document. */
#ifndef SC_MACHINE_H
#define SC_MACHINE_H

#include <stddef.h>

#include "rp.h"

/* Fills CPU, cores, kernel, memory, compiler and the load average before the run. */
void sc_machine(rp_machine *m);
void sc_loadavg(double load[3]);
/* The current UTC time as ISO 8601. */
void sc_iso_time(char *buf, size_t len);

#endif /* SC_MACHINE_H */
