/*
 * report_header.c - the facts about a run that every report opens with: the machine, its load,
 * the build, the command, and the warnings a reader needs before trusting any figure (a busy
 * machine, backends that were not reachable, figures from a local stand-in of a service).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void rp__header_free(rp__header *h) {
    if (!h)
        return;
    for (size_t i = 0; i < h->n; i++)
        free(h->items[i].value);
    free(h->items);
    memset(h, 0, sizeof *h);
}

/*
 * Adds one item whose value is the text written to the memstream `f`; closes f. The buffer is
 * read only after fclose(), which is when the memstream sets it.
 */
static int add_item(rp__header *h, const char *key, FILE *f, char **bufp) {
    if (fclose(f) != 0) {
        free(*bufp);
        return -ENOMEM;
    }
    /* Every value holds document text: made safe once here, for every report. */
    char *buf = rp__safe_dup(*bufp);
    free(*bufp);
    rp__header_item *it = rp__array_push_owner((void **)&h->items, &h->n, sizeof *it, buf);
    if (!it)
        return -ENOMEM;
    it->key = key;
    it->value = buf;
    return 0;
}

/* Writes s as one part of a comma-separated list; NULL or empty parts are skipped. */
static void part(FILE *f, bool *first, const char *s) {
    if (!s || !*s)
        return;
    if (!*first)
        fputs(", ", f);
    *first = false;
    fputs(s, f);
}

static void machine_text(FILE *f, const rp_doc *d) {
    const rp_machine *m = &d->run.machine;
    bool first = true;
    rp__num n;
    char cores[32] = "";
    if (m->cores)
        snprintf(cores, sizeof cores, "%d core%s", m->cores, m->cores == 1 ? "" : "s");
    part(f, &first, m->cpu);
    part(f, &first, cores);
    part(f, &first, m->memory_bytes ? rp__fmt_bytes(&n, m->memory_bytes) : NULL);
    part(f, &first, m->kernel);
    part(f, &first, m->compiler);
    if (first)
        fputs("unknown", f);
}

/* An argument as a shell would need it, so the command can be pasted back. */
static void shell_word(FILE *f, const char *s) {
    bool plain = *s != '\0';
    for (const char *p = s; *p && plain; p++)
        plain = strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                       "-_./:=,+@%",
                       *p) != NULL;
    if (plain) {
        fputs(s, f);
        return;
    }
    fputc('\'', f);
    for (const char *p = s; *p; p++) {
        if (*p == '\'')
            fputs("'\\''", f);
        else
            fputc(*p, f);
    }
    fputc('\'', f);
}

/* Writes the value of one header item; arg is the item's own (a backend, or NULL). */
typedef void (*item_fn)(FILE *f, const rp_doc *d, const void *arg);

/* Adds the item `key` whose value item() writes. 0 or -ENOMEM. */
static int emit(rp__header *h, const char *key, item_fn item, const rp_doc *d, const void *arg) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return -ENOMEM;
    item(f, d, arg);
    return add_item(h, key, f, &buf);
}

static void machine_item(FILE *f, const rp_doc *d, const void *arg) {
    (void)arg;
    machine_text(f, d);
}

static void load_item(FILE *f, const rp_doc *d, const void *arg) {
    (void)arg;
    const rp_machine *m = &d->run.machine;
    fprintf(f, "%.2f %.2f %.2f before, %.2f %.2f %.2f after (1, 5, 15 min)", m->load_before[0],
            m->load_before[1], m->load_before[2], m->load_after[0], m->load_after[1],
            m->load_after[2]);
}

static void run_item(FILE *f, const rp_doc *d, const void *arg) {
    (void)arg;
    const rp_run *r = &d->run;
    fprintf(f, "%s to %s, suite %s, seed %llu", rp__or(r->started, "?"),
            rp__or(r->finished, "(unfinished)"), rp__or(r->suite, "(none)"),
            (unsigned long long)r->seed);
}

static void build_item(FILE *f, const rp_doc *d, const void *arg) {
    (void)arg;
    const rp_run *r = &d->run;
    rp__num n;
    fprintf(f, "commit %s, %s, udbench %s, timer overhead %s", rp__or(r->git_commit, "unknown"),
            rp__or(r->build_type, "unknown build type"), rp__or(r->tool_version, "?"),
            rp__fmt_ns(&n, r->timer_overhead_ns));
}

static void command_item(FILE *f, const rp_doc *d, const void *arg) {
    (void)arg;
    for (size_t i = 0; i < d->run.argc; i++) {
        if (i)
            fputc(' ', f);
        shell_word(f, rp__or(d->run.argv[i], ""));
    }
}

static void warning_item(FILE *f, const rp_doc *d, const void *arg) {
    (void)arg;
    const rp_machine *m = &d->run.machine;
    fprintf(f,
            "the machine was busy before the run (load %.2f on %d cores): figures may be low "
            "and noisy",
            m->load_before[0], m->cores);
}

static void unreachable_item(FILE *f, const rp_doc *d, const void *arg) {
    (void)d;
    const rp_backend *b = arg;
    if (b->name && *b->name)
        fprintf(f, "%s (%s): ", b->name, rp__or(b->uri, "?"));
    else
        fprintf(f, "%s: ", rp__or(b->uri, "?"));
    fputs(rp__or(b->error, "not reachable"), f);
}

static bool on_local_runtime(const rp_backend *b) {
    return b->local_runtime && b->reachable;
}

static void note_item(FILE *f, const rp_doc *d, const void *arg) {
    (void)arg;
    bool first = true;
    for (size_t i = 0; i < d->nbackends; i++) {
        const rp_backend *b = &d->backends[i];
        if (!on_local_runtime(b))
            continue;
        fprintf(f, "%s%s (%s)", first ? "" : ", ", rp__or(b->name, "?"), rp__or(b->uri, "?"));
        first = false;
    }
    fputs(" ran against a local runtime, not the real service: it is strongly consistent and "
          "not rate limited, so these figures do not predict the service's",
          f);
}

static void ranks_item(FILE *f, const rp_doc *d, const void *arg) {
    (void)arg;
    fprintf(f, "%zu MPI ranks, every worker count per rank; hosts by rank:", d->run.nhosts);
    for (size_t i = 0; i < d->run.nhosts; i++)
        fprintf(f, " %s", rp__or(d->run.hosts[i], "?"));
}

/* The items that depend on the run: command, ranks, warning, unreachable backends, the note. */
static int optional_items(rp__header *h, const rp_doc *d) {
    const rp_machine *m = &d->run.machine;
    if (d->run.argc && emit(h, "command", command_item, d, NULL))
        return -ENOMEM;
    if (d->run.nhosts && emit(h, "ranks", ranks_item, d, NULL))
        return -ENOMEM;
    /* The benchmark itself raises the load afterwards; only the load before says whether
     * something else was competing for the machine. */
    if (m->cores > 0 && m->load_before[0] >= m->cores && emit(h, "warning", warning_item, d, NULL))
        return -ENOMEM;
    bool any = false;
    for (size_t i = 0; i < d->nbackends; i++) {
        const rp_backend *b = &d->backends[i];
        any = any || on_local_runtime(b);
        if (!b->reachable && emit(h, "unreachable", unreachable_item, d, b))
            return -ENOMEM;
    }
    if (any && emit(h, "note", note_item, d, NULL))
        return -ENOMEM;
    return 0;
}

int rp__header_build(const rp_doc *d, rp__header *h) {
    memset(h, 0, sizeof *h);
    if (emit(h, "machine", machine_item, d, NULL) || emit(h, "load", load_item, d, NULL) ||
        emit(h, "run", run_item, d, NULL) || emit(h, "build", build_item, d, NULL) ||
        optional_items(h, d)) {
        rp__header_free(h);
        return -ENOMEM;
    }
    return 0;
}

int rp__report_with(const rp_doc *d, FILE *f, rp__report_body body) {
    rp__header h;
    rp__ranking r;
    int rc = rp__header_build(d, &h);
    if (rc)
        return rc;
    rc = rp__ranking_build(d, &r);
    if (rc == 0) {
        rc = body(d, &h, &r, f);
        rp__ranking_free(&r);
    }
    rp__header_free(&h);
    return rc;
}
