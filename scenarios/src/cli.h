/* cli.h - the plan of a udbench run: options, suites, backends, cells. */
#ifndef SC_CLI_H
#define SC_CLI_H

#include <signal.h>
#include <stdbool.h>

#include "sc.h"

typedef struct sc_backend {
    char label[1024]; /* as the user gave it */
    char uri[1024];   /* what is opened: kv_shared_uri() of the label */
    kv_desc desc;     /* what the label's backend says about itself (kv_describe_uri()) */
    bool explicit_;   /* named with --backend: being unreachable is an error */
    bool in_tmpdir;   /* a default store in the plan's private temporary folder */
    bool reachable;
    char error[512];
    char name[64];
    char version[256];
    unsigned caps;
    double rtt_ns; /* median time of a small write when probed (round_trip_ns); 0 if unknown */
} sc_backend;

typedef struct sc_backends {
    sc_backend *v;
    size_t n;
    char tmpdir[256]; /* holds the default sqlite and lmdb stores; removed at the end */
} sc_backends;

typedef struct sc_plan {
    const char *suite;
    const char **scenarios; /* grown as needed (no limit but memory); freed by sc_plan_free() */
    int nscenarios, cap_scenarios;
    int procs[16];
    int nprocs;
    uint64_t entries[8];
    int nentries;
    size_t large_sizes[4];
    int nlarge;
    uint64_t large_bytes; /* working set of the large scenario: keys = this / value size */
    sc_params base;
    const char *out;
    int format;
    double noise_threshold;
    bool repeat_given; /* --repeat: a scenario's max_repeat caps only the suite's preset */
    sc_backends backends;
} sc_plan;

/* Parses `udbench run` options. Returns 0, SC_EHELP (the help was printed), SC_EUSAGE (the
 * message was printed) or -ENOMEM. */
int sc_plan_parse(int argc, char **argv, sc_plan *plan);
void sc_plan_free(sc_plan *plan);
/* Adds a backend by URI to the list (explicit: named on the command line). 0 or -ENOMEM. */
/* The harness floor every plan runs (a backend of role KV_ROLE_FLOOR), added when the
 * user named none. */
#define SC_FLOOR_URI "null:"

int sc_add_backend(sc_backends *bs, const char *label, bool explicit_);
/* The default backends (without probing them). */
int sc_default_backends(sc_backends *bs);
/*
 * Fills a result cell's backend fields from what backend b said about itself: name, role,
 * identity, stand-in. 0 or -ENOMEM.
 */
int sc_cell_describe(const sc_backend *b, rp_cell *out);
void sc_backends_free(sc_backends *bs);
/* Removes a folder and everything in it (best effort). */
void sc_rmtree(const char *dir);
/* Opens a backend once to learn its name, version and capabilities. */
void sc_probe(sc_backend *b);
/* Probes the plan's backends and records them in the document. 0, or 1 when an explicitly
 * named backend is unreachable (message printed). */
int sc_plan_backends(sc_plan *plan, rp_doc *doc);
/* The cells the plan's scenarios expand to (over its reachable backends), in group order, in a
 * new array (free it). 0, or -ENOMEM. */
int sc_plan_cells(sc_plan *p, sc_cell **cells, size_t *n);
/* Runs every cell. 0 when all ran, 1 when a cell failed. */
int sc_plan_execute(sc_plan *plan, rp_doc *doc, volatile sig_atomic_t *stop);

#endif /* SC_CLI_H */
