/*
 * nodes.h - which nodes of a server backend the failover scenario may kill, and how (nodes.c):
 * the list comes from the service layer (UDBENCH_NODES_CMD, lines "PID HOST:PORT ROLE"), a node
 * is killed by a pidfd after checking that it listens on its port, and restarted by
 * UDBENCH_RESTART_CMD. See scenarios/README.md, "failover".
 */
#ifndef SC_NODES_H
#define SC_NODES_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct sc_node {
    pid_t pid;
    int port;
    char hostport[64]; /* "127.0.0.1:6379", as the URI names it */
    char role[16];     /* primary, member or server (replicas are never candidates) */
} sc_node;

/* Whether the backend of uri lives in this host's memory or files (its adapter says so:
 * kv_desc.on_host): its processes, not a server, are what a fault can kill. */
bool sc_backend_on_host(const char *uri);

/* Runs UDBENCH_NODES_CMD and writes to out (at most max) the nodes that serve uri: their
 * HOST:PORT is one of its endpoints and their role is not replica. *n = 0 without the
 * variable. 0, or a negative code with `err` set (the command failed or printed a line of
 * another shape). */
int sc_nodes_list(const char *uri, sc_node *out, int max, int *n, char *err, size_t errlen);

/* Pins the node's process with a pidfd (to *pidfd) after checking that it listens on its port,
 * with the same start time before and after the check: a PID reused by another program, or a
 * node that does not serve this backend, is refused. 0, or a negative code with `err` set
 * (-EPERM: refused). */
int sc_node_pin(const sc_node *node, int *pidfd, char *err, size_t errlen);

/* Sends SIGKILL through the pidfd of sc_node_pin(), waits until the process has exited, and
 * closes the pidfd. 0, or a negative code with `err` set. */
int sc_node_kill(const sc_node *node, int pidfd, char *err, size_t errlen);

/* Runs UDBENCH_RESTART_CMD (sh -c) with UDBENCH_NODE=HOST:PORT and waits for it. 0 restarted,
 * 1 no restart command, or a negative code with `err` set. */
int sc_node_restart(const sc_node *node, char *err, size_t errlen);

#endif /* SC_NODES_H */
