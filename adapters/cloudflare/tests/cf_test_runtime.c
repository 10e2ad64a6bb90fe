/*
 * cf_test_runtime.c - starts and stops a private local Cloudflare runtime for the tests.
 */
#include "cf_test_runtime.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

bool cft_available(char *why, size_t len) {
    char path[1024];
    snprintf(path, sizeof(path), "%s/node_modules/miniflare/package.json", CF_WORKER_DIR);
    if (access(path, R_OK) != 0) {
        snprintf(why, len, "miniflare is not installed (scripts/cloudflare-service install)");
        return false;
    }
    if (system("node --version >/dev/null 2>&1") != 0) {
        snprintf(why, len, "node is not installed");
        return false;
    }
    return true;
}

static cft_runtime *guarded[4];

/* Async-signal-safe: kill() and _exit() only. */
static void on_fatal(int sig) {
    for (size_t i = 0; i < sizeof(guarded) / sizeof(guarded[0]); i++)
        if (guarded[i] && guarded[i]->pid > 0)
            kill(-guarded[i]->pid, SIGKILL);
    signal(sig, SIG_DFL);
    raise(sig);
}

void cft_guard(cft_runtime *rt) {
    static const int sigs[] = {SIGALRM, SIGTERM, SIGINT, SIGHUP, SIGABRT, SIGSEGV, SIGBUS};
    for (size_t i = 0; i < sizeof(guarded) / sizeof(guarded[0]); i++) {
        if (guarded[i] == rt)
            return;
        if (!guarded[i]) {
            guarded[i] = rt;
            break;
        }
    }
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        signal(sigs[i], on_fatal);
}

int cft_start(cft_runtime *rt) {
    char ready[600], log[600], port[16];
    if (rt->dir[0] == '\0') {
        /* tmpfs when there is one: the local KV fsyncs every write. */
        const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        snprintf(rt->dir, sizeof(rt->dir), "%s/cftest-XXXXXX", base);
        if (!mkdtemp(rt->dir)) {
            perror("mkdtemp");
            return -1;
        }
    }
    if (rt->port == 0 && (rt->port = ut_free_port()) < 0)
        return -1;
    snprintf(ready, sizeof(ready), "%s/ready", rt->dir);
    snprintf(log, sizeof(log), "%s/log", rt->dir);
    snprintf(port, sizeof(port), "%d", rt->port);
    unlink(ready);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        setsid();
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        if (rt->token[0])
            setenv("CLOUDFLARE_WORKER_TOKEN", rt->token, 1);
        else
            unsetenv("CLOUDFLARE_WORKER_TOKEN");
        char script[600], data[600];
        snprintf(script, sizeof(script), "%s/run.mjs", CF_WORKER_DIR);
        snprintf(data, sizeof(data), "%s/data", rt->dir);
        execlp("node", "node", script, "--host", "127.0.0.1", "--port", port, "--persist", data,
               "--ready-file", ready, "--faults", (char *)NULL);
        _exit(127);
    }
    rt->pid = pid;
    cft_guard(rt);
    double deadline = ut_now() + 60;
    while (ut_now() < deadline) {
        if (access(ready, F_OK) == 0 && cft_http(rt, "GET", "/_health", NULL, NULL) == 200)
            return 0;
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            fprintf(stderr, "the runtime exited during start-up; see %s\n", log);
            rt->pid = 0;
            return -1;
        }
        ut_sleep(0.05);
    }
    fprintf(stderr, "the runtime did not start within 60 s; see %s\n", log);
    cft_kill(rt);
    return -1;
}

int cft_setup(cft_runtime *rt, bool *up, char *why, size_t len) {
    *up = false;
    /* The developer's own account and tokens must not reach a private runtime's tests. */
    unsetenv("CLOUDFLARE_WORKER_TOKEN");
    unsetenv("CLOUDFLARE_API_TOKEN");
    unsetenv("CLOUDFLARE_ACCOUNT_ID");
    unsetenv("CLOUDFLARE_KV_NAMESPACE_ID");
    unsetenv("CLOUDFLARE_D1_DATABASE_ID");
    if (!cft_available(why, len)) {
        printf("%s %s\n", UT_SKIP_MARK, why);
        return 0;
    }
    if (cft_start(rt) != 0) {
        snprintf(why, len, "the local runtime does not start");
        return -1;
    }
    *up = true;
    return 0;
}

static void reap(cft_runtime *rt, double wait) {
    double deadline = ut_now() + wait;
    int st;
    while (ut_now() < deadline) {
        if (waitpid(rt->pid, &st, WNOHANG) == rt->pid)
            break;
        ut_sleep(0.02);
    }
    /* Whatever is left of the group (workerd) goes now. */
    kill(-rt->pid, SIGKILL);
    waitpid(rt->pid, &st, WNOHANG);
    rt->pid = 0;
}

void cft_stop(cft_runtime *rt) {
    if (rt->pid <= 0)
        return;
    kill(-rt->pid, SIGTERM);
    reap(rt, 10);
}

void cft_kill(cft_runtime *rt) {
    if (rt->pid <= 0)
        return;
    kill(-rt->pid, SIGKILL);
    reap(rt, 5);
}

void cft_remove(cft_runtime *rt) {
    if (rt->dir[0] && (strncmp(rt->dir, "/dev/shm/cftest-", 16) == 0 ||
                       strncmp(rt->dir, "/tmp/cftest-", 12) == 0)) {
        char cmd[700];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", rt->dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", rt->dir);
    }
}

void cft_uri(const cft_runtime *rt, const char *scheme, const char *query, char *out, size_t len) {
    snprintf(out, len, "%s://127.0.0.1:%d%s", scheme, rt->port, query ? query : "");
}

static size_t discard(char *p, size_t s, size_t n, void *ctx) {
    (void)p;
    (void)ctx;
    return s * n;
}

long cft_http(const cft_runtime *rt, const char *method, const char *path, const char *json,
              const char *auth) {
    char url[600], hdr[300];
    long status = -1;
    CURL *k = curl_easy_init();
    struct curl_slist *h = NULL;
    if (!k)
        return -1;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", rt->port, path);
    h = curl_slist_append(h, "Content-Type: application/json");
    if (auth) {
        snprintf(hdr, sizeof(hdr), "Authorization: %s", auth);
        h = curl_slist_append(h, hdr);
    }
    curl_easy_setopt(k, CURLOPT_URL, url);
    curl_easy_setopt(k, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(k, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(k, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(k, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(k, CURLOPT_WRITEFUNCTION, discard);
    if (json)
        curl_easy_setopt(k, CURLOPT_POSTFIELDS, json);
    if (curl_easy_perform(k) == CURLE_OK)
        curl_easy_getinfo(k, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(k);
    return status;
}

int cft_faults(const cft_runtime *rt, int count, int status, int retry_after, int delay_ms) {
    char body[200], ra[16] = "null", auth[100];
    if (retry_after >= 0)
        snprintf(ra, sizeof(ra), "%d", retry_after);
    snprintf(body, sizeof(body), "{\"count\":%d,\"status\":%d,\"retry_after\":%s,\"delay_ms\":%d}",
             count, status, ra, delay_ms);
    snprintf(auth, sizeof(auth), "Bearer %s", rt->token);
    return cft_http(rt, "POST", "/_faults", body, rt->token[0] ? auth : NULL) == 200 ? 0 : -1;
}
