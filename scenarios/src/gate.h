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

/*
 * The options gate and compare share (cmd names the command in messages, opt the option): an
 * integer in lo..hi, the margin ("3%" or "0.03"), alpha in (0, 1), the format of a comparison
 * (text, md, json: RP_CMP_*). Each writes *out and returns 0, or says on stderr what is wrong
 * and returns 2 (the exit status of a usage error).
 */
int sc_opt_int(const char *cmd, const char *opt, const char *arg, int lo, int hi, int *out);
int sc_opt_margin(const char *cmd, const char *arg, double *out);
int sc_opt_alpha(const char *cmd, const char *arg, double *out);
int sc_opt_format(const char *cmd, const char *arg, int *out);

#endif /* SC_GATE_H */
