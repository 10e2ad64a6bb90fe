/*
 * sc_mpi.h - udbench across hosts: `mpirun … udbench run --mpi …` runs the same plan on every
 * rank; each rank forks the cell's workers on its own host, and the few points where the ranks
 * must act as one go through MPI collectives behind this interface (sc_mpi.c):
 *
 *  - sc_mpi_agree(): every rank learns whether any rank failed (opening a backend, a setup), so
 *    that all of them skip the same repetition and stay in step;
 *  - sc_mpi_barrier(): the start of the measured phase (the runner's barrier releases the
 *    workers of every rank together), and the end of a repetition;
 *  - sc_mpi_gather_arena(): the merge - rank 0 receives every worker's slot of every rank (its
 *    counters and its histogram, plain data), with the times moved onto its own clock, and the
 *    runner merges them as if they were its own workers;
 *  - sc_mpi_bcast(): for whatever one rank decides for all (the lockstep engine's token).
 *
 * Rank 0 writes the document; it names every rank's host (run.hosts). Without MPI in the
 * build, or without --mpi, every function is a no-op for a single rank: rank 0 of 1.
 */
#ifndef SC_MPI_H
#define SC_MPI_H

#include <stdbool.h>
#include <stddef.h>

#include "sc.h"

#define SC_MPI_HOST_MAX 256

/* Whether this build has MPI (the development package was found when it was configured). */
bool sc_mpi_built(void);
/* Initialises MPI (MPI_Init), learns the rank, the size and every rank's host. 0, or
 * SC_EUSAGE with `err` set (built without MPI, or MPI failed to start). Call once, before any
 * worker is forked. */
int sc_mpi_init(int *argc, char ***argv, char *err, size_t errlen);
/* MPI_Finalize, once, when sc_mpi_init succeeded. */
void sc_mpi_finalize(void);
/* Whether --mpi is in effect (sc_mpi_init succeeded). */
bool sc_mpi_active(void);
int sc_mpi_rank(void); /* 0 without MPI */
int sc_mpi_size(void); /* 1 without MPI */
/* The host name of a rank ("" for a rank out of range); this host's without MPI. */
const char *sc_mpi_host(int rank);
/* Whether the ranks run on more than one host. */
bool sc_mpi_multi_host(void);
/* Why a backend cannot be used by these ranks, or NULL: one that lives in one host's memory or
 * files (local:, ultradict:, sqlite:, lmdb:) when the ranks span hosts; an unnamed ultradict:
 * (each rank would make its own dict) when there are several ranks. */
const char *sc_mpi_refuse(const char *uri);

/* A barrier of every rank (0; no-op with one rank). */
int sc_mpi_barrier(void);
/* Every rank passes its rc; every rank gets the same answer: 0 when all passed 0, else the
 * lowest (most negative) code passed. */
int sc_mpi_agree(int rc);
/* MPI_Bcast of len bytes from root. 0, or SC_EUSAGE on an MPI failure. */
int sc_mpi_bcast(void *buf, size_t len, int root);
/*
 * The merge of one repetition. Every rank calls it with its arena of c->p.procs slots. On rank
 * 0, *all gets a new arena (free() it) with c->p.procs × size slots - rank r's slot i at
 * r × procs + i - whose times (t_start, t_end) are moved onto rank 0's clock by the difference
 * of the ranks' first starts (the workers of all ranks start at one barrier); on other ranks,
 * *all = a. Each rank prints one line to stderr with its own operation counts, "udbench: rank
 * R of S (HOST): SCENARIO on BACKEND, procs P, round N: OP COUNT …", which the tests check against
 * the merged document. 0, -ENOMEM, or SC_EUSAGE (more than SC_MAX_PROCS workers in all, or an MPI
 * failure).
 */
int sc_mpi_gather_arena(const sc_cell *c, sc_arena *a, sc_arena **all);

#endif /* SC_MPI_H */
