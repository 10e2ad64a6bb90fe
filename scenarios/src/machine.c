/* machine.c - what the figures were measured on, and what the harness itself costs there. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "machine.h"
#include "sc.h"

static char *read_line_with(const char *path, const char *prefix) {
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char line[512];
    char *out = NULL;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, prefix, strlen(prefix)) == 0) {
            char *v = strchr(line, ':');
            v = v ? v + 1 : line + strlen(prefix);
            while (*v == ' ' || *v == '\t')
                v++;
            v[strcspn(v, "\n")] = '\0';
            out = strdup(v);
            break;
        }
    }
    fclose(f);
    return out;
}

void sc_loadavg(double load[3]) {
    load[0] = load[1] = load[2] = 0;
    FILE *f = fopen("/proc/loadavg", "re");
    if (!f)
        return;
    char line[256];
    bool got = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    if (!got)
        return;
    const char *p = line;
    double v[3];
    for (int i = 0; i < 3; i++) {
        char *end;
        errno = 0;
        v[i] = strtod(p, &end);
        if (end == p || errno)
            return; /* not three numbers: unknown */
        p = end;
    }
    memcpy(load, v, sizeof v);
}

int sc_machine(rp_machine *m) {
    char *cpu = read_line_with("/proc/cpuinfo", "model name");
    int rc = rp_set_string(&m->cpu, cpu ? cpu : "unknown");
    free(cpu);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    m->cores = n > 0 ? (int)n : 0;
    struct utsname u;
    char k[400] = "unknown";
    if (uname(&u) == 0)
        snprintf(k, sizeof k, "%s %s %s", u.sysname, u.release, u.machine);
    if (!rc)
        rc = rp_set_string(&m->kernel, k);
    char *mem = read_line_with("/proc/meminfo", "MemTotal");
    m->memory_bytes = mem ? strtoull(mem, NULL, 10) * 1024 : 0;
    free(mem);
#ifdef __VERSION__
    const char *compiler = "gcc-compatible " __VERSION__;
#else
    const char *compiler = "unknown";
#endif
    if (!rc)
        rc = rp_set_string(&m->compiler, compiler);
    sc_loadavg(m->load_before);
    return rc;
}

void sc_iso_time(char *buf, size_t len) {
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

double sc_timer_overhead(void) {
    enum { N = 2001 };
    static double cached = -1;
    if (cached >= 0)
        return cached;
    uint64_t d[N];
    for (int i = 0; i < N; i++) {
        uint64_t a = sc_now_ns();
        uint64_t b = sc_now_ns();
        d[i] = b - a;
    }
    /* Median by partial selection sort: N is small and this runs once. */
    for (int i = 0; i <= N / 2; i++)
        for (int j = i + 1; j < N; j++)
            if (d[j] < d[i]) {
                uint64_t t = d[i];
                d[i] = d[j];
                d[j] = t;
            }
    const size_t mid = N / 2; /* the median's index, N odd */
    cached = (double)d[mid];
    return cached;
}

static int cmp_u64(const void *x, const void *y) {
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return (a > b) - (a < b);
}

double sc_copy_ns(size_t size) {
    enum { N = 301 };
    char *a = malloc(size ? size : 1), *b = malloc(size ? size : 1);
    if (!a || !b) {
        free(a);
        free(b);
        return -1.0;
    }
    memset(a, 0x5a, size);
    memset(b, 0, size);
    /* Small copies are timed in batches, so the clock's cost does not swamp them. */
    int per = size >= 4096 ? 1 : 64;
    uint64_t d[N];
    for (int i = 0; i < N; i++) {
        uint64_t t0 = sc_now_ns();
        for (int j = 0; j < per; j++) {
            memcpy(b, a, size);
            __asm__ __volatile__("" : : "r"(b) : "memory");
        }
        d[i] = (sc_now_ns() - t0) / (uint64_t)per;
    }
    qsort(d, N, sizeof d[0], cmp_u64);
    free(a);
    free(b);
    const size_t mid = N / 2;
    return (double)d[mid];
}

void sc_cpu_ticks(uint64_t *total, uint64_t *steal) {
    *total = *steal = 0;
    FILE *f = fopen("/proc/stat", "re");
    if (!f)
        return;
    char line[512];
    bool got = fgets(line, sizeof line, f) != NULL && strncmp(line, "cpu ", 4) == 0;
    fclose(f);
    if (!got)
        return;
    /* user nice system idle iowait irq softirq steal: the eighth field is steal time. */
    const char *p = line + 4;
    uint64_t sum = 0;
    int i = 0;
    for (; i < 8; i++) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(p, &end, 10);
        if (end == p || errno)
            break;
        sum += v;
        if (i == 7)
            *steal = v;
        p = end;
    }
    if (i >= 4)
        *total = sum;
    else
        *steal = 0;
}
