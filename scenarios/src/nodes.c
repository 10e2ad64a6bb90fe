/*
 * nodes.c - the nodes of a server backend that the failover scenario may kill, and the killing
 * and restarting of one.
 *
 * udbench never guesses a PID. The service layer lists the nodes it started: the command in
 * UDBENCH_NODES_CMD (scripts/bench and the tests set it to `scripts/services pids ...`) prints
 * one line per node, "PID HOST:PORT ROLE" (ROLE: primary, replica, member or server). A node is
 * a candidate for a cell only when its HOST:PORT is one of the endpoints of the cell's URI and
 * its role is not replica. Before the kill, the process is pinned with a pidfd and checked: its
 * start time is read, it must hold a listening socket on that port, and its start time must be
 * the same afterwards - so a PID reused by another program, or a node the list names but that
 * does not serve this backend, is refused rather than killed. The command in
 * UDBENCH_RESTART_CMD (`scripts/services start ...`, which restarts a dead node) brings it back,
 * with UDBENCH_NODE=HOST:PORT in its environment.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <kv.h>

#include "nodes.h"

bool sc_backend_on_host(const char *uri) {
    kv_desc d;
    return uri && kv_describe_uri(uri, &d) == 0 && d.on_host;
}

/* Whether "host:port" is one of the endpoints of uri: the comma-separated list between "://"
 * (after any "user@") and the first '/' or '?'. */
static bool uri_has_endpoint(const char *uri, const char *hostport) {
    const char *p = strstr(uri, "://");
    if (!p)
        return false;
    p += 3;
    const char *end = p + strcspn(p, "/?");
    const char *at = memchr(p, '@', (size_t)(end - p));
    if (at)
        p = at + 1;
    size_t want = strlen(hostport);
    while (p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *stop = comma ? comma : end;
        if ((size_t)(stop - p) == want && memcmp(p, hostport, want) == 0)
            return true;
        p = stop + (comma != NULL);
    }
    return false;
}

/* The next blank-separated word of *p (at most cap - 1 bytes) into out; false at the end. */
static bool next_word(const char **p, char *out, size_t cap) {
    const char *s = *p + strspn(*p, " \t\n");
    size_t n = strcspn(s, " \t\n");
    if (n == 0 || n >= cap)
        return false;
    memcpy(out, s, n);
    out[n] = '\0';
    *p = s + n;
    return true;
}

static bool is_role(const char *r) {
    return strcmp(r, "primary") == 0 || strcmp(r, "replica") == 0 || strcmp(r, "member") == 0 ||
           strcmp(r, "server") == 0;
}

/* Parses "PID HOST:PORT ROLE"; 0, or -EINVAL for a line of another shape. */
static int parse_node(const char *line, sc_node *n) {
    char pid_s[24], hp[sizeof n->hostport], role[sizeof n->role], extra[2];
    const char *p = line;
    if (!next_word(&p, pid_s, sizeof pid_s) || !next_word(&p, hp, sizeof hp) ||
        !next_word(&p, role, sizeof role) || next_word(&p, extra, sizeof extra) || !is_role(role))
        return -EINVAL;
    char *end;
    errno = 0;
    long long pid = strtoll(pid_s, &end, 10);
    const char *colon = strrchr(hp, ':');
    long port = colon ? strtol(colon + 1, NULL, 10) : 0;
    if (errno || *end || pid <= 1 || pid > INT32_MAX || port <= 0 || port > 65535)
        return -EINVAL;
    n->pid = (pid_t)pid;
    n->port = (int)port;
    snprintf(n->hostport, sizeof n->hostport, "%s", hp);
    snprintf(n->role, sizeof n->role, "%s", role);
    return 0;
}

/* Runs `sh -c cmd` with its standard output to a pipe; 0 with *pid and *out (read end). */
static int spawn_sh(const char *cmd, pid_t *pid, FILE **out) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        return -errno;
    fflush(stdout);
    fflush(stderr);
    pid_t child = fork();
    if (child < 0) {
        int e = errno;
        close(fds[0]);
        close(fds[1]);
        return -e;
    }
    if (child == 0) {
        dup2(fds[1], STDOUT_FILENO);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    *out = fdopen(fds[0], "r");
    if (!*out) {
        close(fds[0]);
        waitpid(child, NULL, 0);
        return -ENOMEM;
    }
    *pid = child;
    return 0;
}

/* Waits for child pid; 0 when it exited 0, else -ECHILD. */
static int wait_ok(pid_t pid) {
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -errno;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -ECHILD;
}

int sc_nodes_list(const char *uri, sc_node *out, int max, int *n, char *err, size_t errlen) {
    const char *cmd = getenv("UDBENCH_NODES_CMD");
    *n = 0;
    if (!cmd || !*cmd)
        return 0;
    pid_t pid = 0;
    FILE *f = NULL;
    int rc = spawn_sh(cmd, &pid, &f);
    if (rc) {
        snprintf(err, errlen, "cannot run UDBENCH_NODES_CMD (%s): %s", cmd, strerror(-rc));
        return rc;
    }
    char line[256];
    while (fgets(line, sizeof line, f)) {
        sc_node node;
        if (parse_node(line, &node)) {
            line[strcspn(line, "\n")] = '\0';
            snprintf(err, errlen, "UDBENCH_NODES_CMD printed \"%.80s\", not \"PID HOST:PORT ROLE\"",
                     line);
            rc = -EINVAL;
            continue;
        }
        if (*n < max && strcmp(node.role, "replica") != 0 && uri_has_endpoint(uri, node.hostport))
            out[(*n)++] = node;
    }
    fclose(f);
    if (wait_ok(pid) && !rc) {
        snprintf(err, errlen, "UDBENCH_NODES_CMD (%s) failed", cmd);
        rc = -ECHILD;
    }
    if (rc)
        *n = 0;
    return rc;
}

/* Field 22 of /proc/PID/stat: the start time in clock ticks since boot; 0 when unknown. */
static uint64_t start_time(pid_t pid) {
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[len] = '\0';
    /* The command name may hold spaces and parentheses: count fields after the last ')'. */
    char *p = strrchr(buf, ')');
    for (int field = 2; p && field < 22; field++)
        p = strchr(p + 1, ' ');
    return p ? strtoull(p + 1, NULL, 10) : 0;
}

/* Collects the inodes of the listening TCP sockets on `port` from one /proc/net table, whose
 * lines read "sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode", the
 * addresses as HEXADDR:HEXPORT and the state in hex (0A: listening). */
static void listening_inodes(const char *table, int port, unsigned long *inodes, int *n, int max) {
    FILE *f = fopen(table, "re");
    if (!f)
        return;
    char line[512];
    while (fgets(line, sizeof line, f) && *n < max) {
        char word[10][72];
        const char *p = line;
        int w = 0;
        while (w < 10 && next_word(&p, word[w], sizeof word[w]))
            w++;
        const char *colon = w == 10 ? strrchr(word[1], ':') : NULL;
        if (!colon)
            continue;
        unsigned long lport = strtoul(colon + 1, NULL, 16), state = strtoul(word[3], NULL, 16);
        if (lport == (unsigned long)port && state == 0x0A)
            inodes[(*n)++] = strtoul(word[9], NULL, 10);
    }
    fclose(f);
}

/* Whether process pid holds a socket listening on TCP `port`. */
static bool listens_on(pid_t pid, int port) {
    unsigned long inodes[16];
    int n = 0;
    listening_inodes("/proc/net/tcp", port, inodes, &n, 16);
    listening_inodes("/proc/net/tcp6", port, inodes, &n, 16);
    char dir[64];
    snprintf(dir, sizeof dir, "/proc/%d/fd", (int)pid);
    DIR *d = n ? opendir(dir) : NULL;
    bool found = false;
    for (struct dirent *e; d && !found && (e = readdir(d));) {
        char path[320], target[64];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        ssize_t len = readlink(path, target, sizeof target - 1);
        if (len <= 8)
            continue;
        target[len] = '\0';
        if (strncmp(target, "socket:[", 8) != 0)
            continue;
        unsigned long inode = strtoul(target + 8, NULL, 10);
        for (int i = 0; i < n && !found; i++)
            found = inodes[i] == inode;
    }
    if (d)
        closedir(d);
    return found;
}

int sc_node_pin(const sc_node *node, int *pidfd, char *err, size_t errlen) {
    int fd = (int)syscall(SYS_pidfd_open, node->pid, 0);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "node pid %d (%s): %s", (int)node->pid, node->hostport, strerror(e));
        return -e;
    }
    uint64_t t0 = start_time(node->pid);
    bool serves = t0 && listens_on(node->pid, node->port);
    if (!serves || start_time(node->pid) != t0) {
        snprintf(err, errlen, "refusing to kill pid %d: it does not listen on %s", (int)node->pid,
                 node->hostport);
        close(fd);
        return -EPERM;
    }
    *pidfd = fd;
    return 0;
}

int sc_node_kill(const sc_node *node, int pidfd, char *err, size_t errlen) {
    int rc = 0;
    if (syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0) != 0) {
        rc = -errno;
        snprintf(err, errlen, "kill -9 %d (%s): %s", (int)node->pid, node->hostport,
                 strerror(errno));
    } else {
        /* The pidfd becomes readable when the process has exited. */
        struct pollfd p = {.fd = pidfd, .events = POLLIN};
        if (poll(&p, 1, 10000) != 1) {
            snprintf(err, errlen, "pid %d (%s) did not exit within 10 s of SIGKILL", (int)node->pid,
                     node->hostport);
            rc = -ETIMEDOUT;
        }
    }
    close(pidfd);
    return rc;
}

int sc_node_restart(const sc_node *node, char *err, size_t errlen) {
    const char *cmd = getenv("UDBENCH_RESTART_CMD");
    if (!cmd || !*cmd)
        return 1;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, errlen, "cannot fork for UDBENCH_RESTART_CMD: %s", strerror(errno));
        return -errno;
    }
    if (pid == 0) {
        /* Its messages go with udbench's progress (stderr), never into the ranking. */
        dup2(STDERR_FILENO, STDOUT_FILENO);
        setenv("UDBENCH_NODE", node->hostport, 1);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    if (wait_ok(pid)) {
        snprintf(err, errlen, "UDBENCH_RESTART_CMD (%s) failed", cmd);
        return -ECHILD;
    }
    return 0;
}
