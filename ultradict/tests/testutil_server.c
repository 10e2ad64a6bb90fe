/*
 * testutil_server.c - the part of the test library for the tests of the backends: resolving
 * the backend a test is given, serialising runs on a shared server, private servers, numbered
 * children. See testutil.h.
 */
#include "testutil.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef UT_SERVICES_SCRIPT
#define UT_SERVICES_SCRIPT "scripts/services"
#endif

/* Looks NAME up in the output of `scripts/services status`. */
static bool from_services(const char *name, char *out, size_t len) {
    char line[1024];
    bool found = false;
    FILE *p = popen(UT_SERVICES_SCRIPT " status 2>/dev/null", "r");
    if (!p)
        return false;
    size_t nlen = strlen(name);
    while (fgets(line, sizeof(line), p)) {
        if (!found && strncmp(line, name, nlen) == 0 && line[nlen] == ' ') {
            line[strcspn(line, "\r\n")] = '\0';
            snprintf(out, len, "%s", line + nlen + 1);
            found = true;
        }
    }
    pclose(p);
    return found;
}

bool ut_resolve_uri(const char *arg, char *out, size_t len, bool *via_services) {
    *via_services = false;
    if (strncmp(arg, "service:", 8) == 0) {
        const char *name = arg + 8;
        char env[64] = "KV_TEST_";
        size_t n = strlen(env);
        for (const char *s = name; *s && n < sizeof(env) - 5; s++)
            env[n++] = (char)(*s == '-' ? '_' : toupper((unsigned char)*s));
        memcpy(env + n, "_URI", 5);
        const char *v = getenv(env);
        if (v && *v) {
            snprintf(out, len, "%s", v);
            return true;
        }
        /* A backend's fixture (adapters/tests/kv_fixture.h) adjusts what the services give. */
        if (from_services(name, out, len)) {
            *via_services = true;
            return true;
        }
        snprintf(out, len,
                 "service %s is not running (start it with scripts/services start, or set %s)",
                 name, env);
        return false;
    }
    /* Expand %p so that concurrent runs use different files and dict names. */
    size_t w = 0;
    for (const char *s = arg; *s && w + 1 < len; s++) {
        if (s[0] == '%' && s[1] == 'p') {
            w += (size_t)snprintf(out + w, len - w, "%ld", (long)getpid());
            s++;
            if (w >= len)
                w = len - 1;
        } else {
            out[w++] = *s;
        }
    }
    out[w] = '\0';
    return true;
}

bool ut_lock_server(const char *server, double timeout) {
    char path[256];
    snprintf(path, sizeof(path), "/tmp/kv-contract-%ld-%s.lock", (long)getuid(), server);
    /* Deliberately never closed: the lock lasts as long as the process. */
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return false;
    double deadline = ut_now() + timeout;
    bool told = false;
    while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        if (errno != EWOULDBLOCK && errno != EINTR)
            return false;
        if (ut_now() > deadline)
            return false;
        if (!told) {
            fprintf(stderr, "waiting for another test run on the %s server (%s)\n", server, path);
            told = true;
        }
        ut_sleep(50 / 1000.0);
    }
    return true;
}

/* What a numbered child runs: set before each ut_fork(), so each child sees its own index. */
typedef struct numbered_child {
    ut_child_fn fn;
    void *arg;
    int index;
} numbered_child;

static int run_numbered(void *p) {
    const numbered_child *c = p;
    return c->fn(c->index, c->arg);
}

int ut_run_children(int n, ut_child_fn fn, void *arg, double timeout) {
    pid_t pids[64] = {0};
    int status[64];
    if (n > 64)
        n = 64;
    numbered_child c = {fn, arg, 0};
    for (int i = 0; i < n; i++) {
        c.index = i;
        pids[i] = ut_fork(run_numbered, &c);
        if (pids[i] < 0) {
            fprintf(stderr, "fork: %s\n", strerror(errno));
            ut_wait_all(pids, i, 0, NULL); /* kills and reaps those already started */
            return n;
        }
    }
    int failed = ut_wait_all(pids, n, timeout, status);
    for (int i = 0; i < n; i++) {
        char why[32];
        if (status[i] != 0)
            fprintf(stderr, "child %d: %s\n", i, ut_status_str(status[i], why, sizeof(why)));
    }
    return failed;
}

bool ut_wait_flag(const int *flag, double timeout) {
    double deadline = ut_now() + timeout;
    while (!__atomic_load_n(flag, __ATOMIC_SEQ_CST)) {
        if (ut_now() > deadline)
            return false;
        ut_sleep(1 / 1000.0);
    }
    return true;
}

int ut_free_port(void) {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    socklen_t alen = sizeof(a);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &alen) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

bool ut_have_program(const char *name) {
    const char *path = getenv("PATH");
    char buf[1024];
    if (!path)
        path = "/usr/bin:/bin";
    while (*path) {
        size_t n = strcspn(path, ":");
        snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, path, name);
        if (access(buf, X_OK) == 0)
            return true;
        path += n;
        if (*path == ':')
            path++;
    }
    return false;
}

static bool port_accepts(int port) {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    bool ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    close(fd);
    return ok;
}

pid_t ut_start_server(const char *kind, int port) {
    char portstr[16];
    snprintf(portstr, sizeof(portstr), "%d", port);
    bool redis = strcmp(kind, "redis") == 0;
    const char *prog = redis ? "redis-server" : "memcached";
    if (!ut_have_program(prog)) {
        fprintf(stderr, "%s not found\n", prog);
        return -1;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        /* Quiet the server; a start-up failure shows up as "did not start" below. */
        /*
         * Nothing of the server may hold the test's output pipes: CTest waits for every writer
         * of the pipe to exit, so a stray server would turn a failure into a timeout.
         */
        int fd = open("/dev/null", O_RDWR);
        if (fd >= 0) {
            dup2(fd, 0);
            dup2(fd, 1);
            dup2(fd, 2);
            if (fd > 2)
                close(fd);
        }
        if (redis) {
            execlp(prog, prog, "--port", portstr, "--bind", "127.0.0.1", "--save", "",
                   "--appendonly", "no", "--daemonize", "no", "--dir", "/tmp", "--logfile", "",
                   (char *)NULL);
        } else {
            if (geteuid() == 0)
                execlp(prog, prog, "-l", "127.0.0.1", "-p", portstr, "-U", "0", "-m", "64", "-I",
                       "2m", "-u", "root", (char *)NULL);
            else
                execlp(prog, prog, "-l", "127.0.0.1", "-p", portstr, "-U", "0", "-m", "64", "-I",
                       "2m", (char *)NULL);
        }
        _exit(127);
    }
    for (int i = 0; i < 500; i++) {
        if (port_accepts(port))
            return pid;
        if (waitpid(pid, NULL, WNOHANG) == pid) {
            fprintf(stderr, "%s on port %d exited at start-up\n", prog, port);
            return -1;
        }
        ut_sleep(10 / 1000.0);
    }
    fprintf(stderr, "%s on port %d did not start within 5 s\n", prog, port);
    ut_kill_server(pid);
    return -1;
}

void ut_kill_server(pid_t pid) {
    if (pid <= 0)
        return;
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

bool ut_wait_stopped(pid_t pid, double timeout) {
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
    double deadline = ut_now() + timeout;
    do {
        FILE *f = fopen(path, "r");
        if (!f)
            return false;
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = '\0';
        /* The state follows the command name, which is in parentheses. */
        const char *p = strrchr(buf, ')');
        if (p && p[1] == ' ' && (p[2] == 'T' || p[2] == 't'))
            return true;
        ut_sleep(2 / 1000.0);
    } while (ut_now() < deadline);
    return false;
}
