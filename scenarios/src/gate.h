/*
 * gate.h - `udbench gate`: paired, interleaved trials of two udbench builds and the three-way
 * verdict (gate.c), and `udbench history` (history.c).
 */
#ifndef SC_GATE_H
#define SC_GATE_H

/* Both return the process exit status. */
int sc_gate_main(int argc, char **argv);
int sc_history_main(int argc, char **argv);
int sc_compare_main(int argc, char **argv);
int sc_export_main(int argc, char **argv);
/* `udbench gate-worker`: one side of a lockstep pair (gate_worker.c). */
int sc_gate_worker_main(int argc, char **argv);

#endif /* SC_GATE_H */
