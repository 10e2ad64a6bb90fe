/* machine.c - what the figures were measured on. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "machine.h"

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

void sc_machine(rp_machine *m) {
    char *cpu = read_line_with("/proc/cpuinfo", "model name");
    rp_set_string(&m->cpu, cpu ? cpu : "unknown");
    free(cpu);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    m->cores = n > 0 ? (int)n : 0;
    struct utsname u;
    if (uname(&u) == 0) {
        char k[400];
        snprintf(k, sizeof k, "%s %s %s", u.sysname, u.release, u.machine);
        rp_set_string(&m->kernel, k);
    } else {
        rp_set_string(&m->kernel, "unknown");
    }
    char *mem = read_line_with("/proc/meminfo", "MemTotal");
    m->memory_bytes = mem ? strtoull(mem, NULL, 10) * 1024 : 0;
    free(mem);
#ifdef __VERSION__
    rp_set_string(&m->compiler, "gcc-compatible " __VERSION__);
#else
    rp_set_string(&m->compiler, "unknown");
#endif
    sc_loadavg(m->load_before);
}

void sc_iso_time(char *buf, size_t len) {
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}
