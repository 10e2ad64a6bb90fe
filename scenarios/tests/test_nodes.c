/*
 * test_nodes.c - the nodes the failover scenario may kill (scenarios/src/nodes.c): the list from
 * UDBENCH_NODES_CMD filtered by the URI's endpoints and roles, its malformed lines and failing
 * commands, and the kill itself - refused for a process that does not listen on the node's
 * port, done (and waited for) for one that does.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "ut_cmocka.h"

#include "nodes.h"

/* Lists the nodes of uri with UDBENCH_NODES_CMD set to cmd. */
static int list(const char *cmd, const char *uri, sc_node *out, int *n, char *err) {
    setenv("UDBENCH_NODES_CMD", cmd, 1);
    int rc = sc_nodes_list(uri, out, 8, n, err, 256);
    unsetenv("UDBENCH_NODES_CMD");
    return rc;
}

static void test_list_filters(void **state) {
    (void)state;
    sc_node v[8];
    int n = -1;
    char err[256] = "";
    const char *cmd = "printf '101 127.0.0.1:7000 primary\\n102 127.0.0.1:7001 replica\\n"
                      "103 127.0.0.1:7002 primary\\n104 127.0.0.1:9999 server\\n'";
    assert_int_equal(
        list(cmd, "redis-cluster://127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002", v, &n, err), 0);
    /* The replica is never a candidate; 9999 is not an endpoint of the URI. */
    assert_int_equal(n, 2);
    assert_int_equal(v[0].pid, 101);
    assert_string_equal(v[0].hostport, "127.0.0.1:7000");
    assert_int_equal(v[0].port, 7000);
    assert_string_equal(v[1].role, "primary");
    assert_int_equal(v[1].pid, 103);
    /* A user and a query do not hide the endpoints; a port that only starts like one is not one. */
    assert_int_equal(list(cmd, "redis://u:p@127.0.0.1:9999/15?timeout=1", v, &n, err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(v[0].pid, 104);
    assert_int_equal(list(cmd, "redis://127.0.0.1:99990", v, &n, err), 0);
    assert_int_equal(n, 0);
}

static void test_list_errors(void **state) {
    (void)state;
    sc_node v[8];
    int n = -1;
    char err[256] = "";
    /* Without the variable: nothing may be killed. */
    unsetenv("UDBENCH_NODES_CMD");
    assert_int_equal(sc_nodes_list("redis://127.0.0.1:1", v, 8, &n, err, sizeof err), 0);
    assert_int_equal(n, 0);
    assert_int_not_equal(list("echo 12 127.0.0.1:1 leader", "redis://127.0.0.1:1", v, &n, err), 0);
    assert_non_null(strstr(err, "not \"PID HOST:PORT ROLE\""));
    assert_int_equal(n, 0);
    assert_int_not_equal(list("echo 1 127.0.0.1:1 server", "redis://127.0.0.1:1", v, &n, err), 0);
    assert_int_not_equal(list("echo x127 127.0.0.1:1 server", "redis://127.0.0.1:1", v, &n, err),
                         0);
    assert_int_not_equal(
        list("echo 12 127.0.0.1:1 server; exit 3", "redis://127.0.0.1:1", v, &n, err), 0);
    assert_non_null(strstr(err, "failed"));
    assert_int_equal(n, 0);
}

/* A child that listens on a TCP port of 127.0.0.1 (written to *port) until it is killed. */
static pid_t listener(int *port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 1), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        for (;;)
            pause();
    }
    close(fd);
    return pid;
}

static void test_kill_checks_the_port(void **state) {
    (void)state;
    int port;
    pid_t pid = listener(&port);
    char err[256] = "";
    /* Named with a port it does not listen on: refused, and still alive. */
    sc_node wrong = {.pid = pid, .port = port == 65535 ? 1 : port + 1, .role = "server"};
    snprintf(wrong.hostport, sizeof wrong.hostport, "127.0.0.1:%d", wrong.port);
    int fd = -1;
    assert_int_equal(sc_node_pin(&wrong, &fd, err, sizeof err), -EPERM);
    assert_non_null(strstr(err, "refusing to kill"));
    assert_int_equal(kill(pid, 0), 0);
    /* This process does not listen on the port either. */
    sc_node self = {.pid = getpid(), .port = port, .role = "server"};
    snprintf(self.hostport, sizeof self.hostport, "127.0.0.1:%d", port);
    assert_int_equal(sc_node_pin(&self, &fd, err, sizeof err), -EPERM);
    /* The listener itself: pinned, killed, gone. */
    sc_node right = {.pid = pid, .port = port, .role = "server"};
    snprintf(right.hostport, sizeof right.hostport, "127.0.0.1:%d", port);
    assert_int_equal(sc_node_pin(&right, &fd, err, sizeof err), 0);
    assert_int_equal(sc_node_kill(&right, fd, err, sizeof err), 0);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    /* A PID that is gone cannot be pinned. */
    assert_int_equal(sc_node_pin(&right, &fd, err, sizeof err), -ESRCH);
}

static void test_restart_command(void **state) {
    (void)state;
    sc_node n = {.pid = 2, .port = 7, .hostport = "127.0.0.1:7", .role = "server"};
    char err[256] = "", path[64];
    unsetenv("UDBENCH_RESTART_CMD");
    assert_int_equal(sc_node_restart(&n, err, sizeof err), 1);
    snprintf(path, sizeof path, "/tmp/test_nodes.%d", (int)getpid());
    char cmd[160];
    snprintf(cmd, sizeof cmd, "echo \"$UDBENCH_NODE\" > %s", path);
    setenv("UDBENCH_RESTART_CMD", cmd, 1);
    assert_int_equal(sc_node_restart(&n, err, sizeof err), 0);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[64] = "";
    assert_non_null(fgets(line, sizeof line, f));
    fclose(f);
    unlink(path);
    assert_string_equal(line, "127.0.0.1:7\n");
    setenv("UDBENCH_RESTART_CMD", "exit 4", 1);
    assert_int_equal(sc_node_restart(&n, err, sizeof err), -ECHILD);
    unsetenv("UDBENCH_RESTART_CMD");
}

static void test_on_host(void **state) {
    (void)state;
    assert_true(sc_backend_on_host("ultradict:x"));
    assert_true(sc_backend_on_host("sqlite:/tmp/a.db"));
    assert_true(sc_backend_on_host("lmdb:/tmp/l"));
    assert_true(sc_backend_on_host("local:"));
    assert_false(sc_backend_on_host("redis://127.0.0.1:1"));
    assert_false(sc_backend_on_host("memcached://127.0.0.1:1,127.0.0.1:2"));
}

UT_CMOCKA_MAIN(NULL, NULL, cmocka_unit_test(test_list_filters), cmocka_unit_test(test_list_errors),
               cmocka_unit_test(test_kill_checks_the_port), cmocka_unit_test(test_restart_command),
               cmocka_unit_test(test_on_host))
