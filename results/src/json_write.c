/*
 * json_write.c - the document as JSON (schema "udbench/3"): the tree, its canonical text, and
 * the atomic file write.
 *
 * The canonical text is jansson's, indented by two, with numbers printed to 15 significant
 * digits, and with arrays of plain numbers (histogram buckets, load averages) kept on one line
 * so that a histogram costs a line per bucket rather than four. Fifteen digits is what a double
 * carries exactly through decimal (DBL_DIG), so reading a written document and writing it
 * again gives the same bytes; it also spares readers "0.10000000000000001".
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

/* A tree under construction: the first failure is kept and every later step is skipped. */
typedef struct wctx {
    int rc;
} wctx;

static void fail(wctx *w, int rc) {
    if (!w->rc)
        w->rc = rc;
}

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0 when it is not valid. */
static size_t utf8_seq(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    size_t len;
    unsigned min;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4, min = 0x10000;
    else
        return 0;
    if (len > n)
        return 0;
    unsigned cp = c & (0x3f >> (len - 1));
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

/*
 * A JSON string for s, or null for NULL. Text that is not UTF-8 (a command line or a CPU name
 * can hold any bytes) has each invalid byte replaced by U+FFFD: JSON cannot carry raw bytes,
 * and dropping a whole run over one bad byte would be worse.
 */
static json_t *jstr(wctx *w, const char *s) {
    if (!s)
        return json_null();
    json_t *j = json_string(s);
    if (j)
        return j;
    size_t n = strlen(s);
    char *clean = malloc(n * 3 + 1);
    if (!clean) {
        fail(w, -ENOMEM);
        return NULL;
    }
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        size_t len = utf8_seq((const unsigned char *)s + i, n - i);
        if (len) {
            memcpy(clean + o, s + i, len);
            o += len;
            i += len;
        } else {
            memcpy(clean + o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
        }
    }
    clean[o] = '\0';
    j = json_string(clean);
    free(clean);
    return j;
}

/* jansson's integers are signed 64-bit: larger unsigned values cannot be written exactly. */
static json_t *juint(wctx *w, uint64_t v) {
    if (v > (uint64_t)INT64_MAX) {
        fail(w, RP_EINVAL);
        return NULL;
    }
    return json_integer((json_int_t)v);
}

static json_t *jreal(wctx *w, double v) {
    if (!isfinite(v)) {
        fail(w, RP_EINVAL);
        return NULL;
    }
    return json_real(v);
}

/* Sets obj[key] = val, taking the reference; a NULL val is a failure already recorded or ENOMEM. */
static void put(wctx *w, json_t *obj, const char *key, json_t *val) {
    if (!val) {
        fail(w, -ENOMEM);
        return;
    }
    if (json_object_set_new(obj, key, val))
        fail(w, -ENOMEM);
}

static void push(wctx *w, json_t *arr, json_t *val) {
    if (!val) {
        fail(w, -ENOMEM);
        return;
    }
    if (json_array_append_new(arr, val))
        fail(w, -ENOMEM);
}

static json_t *loads(wctx *w, const double v[3]) {
    json_t *a = json_array();
    if (!a)
        return NULL;
    for (int i = 0; i < 3; i++)
        push(w, a, jreal(w, v[i]));
    return a;
}

static json_t *run_json(wctx *w, const rp_run *r) {
    json_t *o = json_object(), *argv = NULL, *m = NULL;
    if (!o)
        return NULL;
    put(w, o, "started", jstr(w, r->started));
    put(w, o, "finished", jstr(w, r->finished));
    put(w, o, "tool_version", jstr(w, r->tool_version));
    put(w, o, "git_commit", jstr(w, r->git_commit));
    put(w, o, "build_type", jstr(w, r->build_type));
    put(w, o, "suite", jstr(w, r->suite));
    put(w, o, "argv", argv = json_array());
    for (size_t i = 0; argv && i < r->argc; i++)
        push(w, argv, r->argv[i] ? jstr(w, r->argv[i]) : json_string(""));
    put(w, o, "seed", juint(w, r->seed));
    put(w, o, "timer_overhead_ns", jreal(w, r->timer_overhead_ns));
    put(w, o, "noise_threshold", jreal(w, r->noise_threshold));
    put(w, o, "rounds", json_integer(r->rounds));
    put(w, o, "pinned", json_boolean(r->pinned));
    json_t *hosts = json_array();
    put(w, o, "hosts", hosts);
    for (size_t i = 0; hosts && i < r->nhosts; i++)
        push(w, hosts, r->hosts[i] ? jstr(w, r->hosts[i]) : json_string(""));
    put(w, o, "lockstep", json_boolean(r->lockstep));
    put(w, o, "machine", m = json_object());
    if (m) {
        const rp_machine *mc = &r->machine;
        put(w, m, "cpu", jstr(w, mc->cpu));
        put(w, m, "cores", json_integer(mc->cores));
        put(w, m, "kernel", jstr(w, mc->kernel));
        put(w, m, "memory_bytes", juint(w, mc->memory_bytes));
        put(w, m, "compiler", jstr(w, mc->compiler));
        put(w, m, "load_before", loads(w, mc->load_before));
        put(w, m, "load_after", loads(w, mc->load_after));
    }
    return o;
}

static json_t *backend_json(wctx *w, const rp_backend *b) {
    json_t *o = json_object();
    if (!o)
        return NULL;
    put(w, o, "uri", jstr(w, b->uri));
    put(w, o, "name", jstr(w, b->name));
    put(w, o, "version", jstr(w, b->version));
    put(w, o, "caps", jstr(w, b->caps));
    put(w, o, "local_runtime", json_boolean(b->local_runtime));
    put(w, o, "reachable", json_boolean(b->reachable));
    put(w, o, "error", jstr(w, b->error));
    return o;
}

static json_t *latency_json(wctx *w, const rp_latency *l) {
    json_t *o = json_object();
    if (!o)
        return NULL;
    put(w, o, "count", juint(w, l->count));
    put(w, o, "mean", jreal(w, l->mean));
    put(w, o, "p50", jreal(w, l->p50));
    put(w, o, "p90", jreal(w, l->p90));
    put(w, o, "p99", jreal(w, l->p99));
    put(w, o, "p999", jreal(w, l->p999));
    put(w, o, "max", jreal(w, l->max));
    return o;
}

/* One probe's figures, or null when it was not measured. */
static json_t *probe_json(wctx *w, const rp_probe *p) {
    if (rp_probe_regime(p) == RP_REGIME_NONE)
        return json_null();
    json_t *o = json_object();
    put(w, o, "llc_ns", jreal(w, p->llc_ns));
    put(w, o, "l2_ns", jreal(w, p->l2_ns));
    put(w, o, "compute_ns", jreal(w, p->compute_ns));
    return o;
}

/* The udbench/3 fields of a repetition: its probes, their regime, its paired ratio. */
static void rep_v3_json(wctx *w, json_t *ro, const rp_rep *r) {
    const char *regime = rp_regime_name(rp_rep_regime(r));
    put(w, ro, "probe_before", probe_json(w, &r->probe_before));
    put(w, ro, "probe_after", probe_json(w, &r->probe_after));
    put(w, ro, "regime", regime ? json_string(regime) : json_null());
    put(w, ro, "ratio", r->ratio > 0 ? jreal(w, r->ratio) : json_null());
}

static json_t *metric_json(wctx *w, const rp_metric *m) {
    json_t *o = json_object(), *reps = NULL, *buckets = NULL;
    if (!o)
        return NULL;
    put(w, o, "op", jstr(w, m->op));
    put(w, o, "reps", reps = json_array());
    for (size_t i = 0; reps && i < m->nreps; i++) {
        const rp_rep *r = &m->reps[i];
        json_t *ro = json_object();
        push(w, reps, ro);
        if (!ro)
            break;
        put(w, ro, "ops", juint(w, r->ops));
        put(w, ro, "seconds", jreal(w, r->seconds));
        put(w, ro, "ops_per_sec", jreal(w, r->ops_per_sec));
        put(w, ro, "errors", juint(w, r->errors));
        put(w, ro, "p50_ns", jreal(w, r->p50_ns));
        put(w, ro, "round", json_integer(r->round));
        put(w, ro, "position", json_integer(r->position));
        put(w, ro, "steal_share", jreal(w, r->steal_share));
        put(w, ro, "nivcsw", juint(w, r->nivcsw));
        put(w, ro, "load1", jreal(w, r->load1));
        rep_v3_json(w, ro, r);
    }
    put(w, o, "median", jreal(w, m->median));
    put(w, o, "min", jreal(w, m->min));
    put(w, o, "max", jreal(w, m->max));
    put(w, o, "spread", jreal(w, m->spread));
    put(w, o, "noisy", json_boolean(m->noisy));
    put(w, o, "ci_low", jreal(w, m->ci_low));
    put(w, o, "ci_high", jreal(w, m->ci_high));
    put(w, o, "ci_level", jreal(w, m->ci_level));
    put(w, o, "fairness", jreal(w, m->fairness));
    put(w, o, "bytes_per_op", jreal(w, m->bytes_per_op));
    put(w, o, "latency", m->has_latency ? latency_json(w, &m->latency) : json_null());
    put(w, o, "hist_scheme", jstr(w, m->hist_scheme));
    put(w, o, "buckets", buckets = json_array());
    for (size_t i = 0; buckets && i < m->nbuckets; i++) {
        json_t *pair = json_array();
        push(w, buckets, pair);
        if (!pair)
            break;
        push(w, pair, json_integer(m->buckets[i].index));
        push(w, pair, juint(w, m->buckets[i].count));
    }
    return o;
}

static json_t *correctness_json(wctx *w, const rp_correctness *c) {
    if (!c->present)
        return json_null();
    json_t *o = json_object();
    if (!o)
        return NULL;
    put(w, o, "expected", json_integer(c->expected));
    put(w, o, "observed", json_integer(c->observed));
    put(w, o, "lost_updates", json_integer(c->lost_updates));
    put(w, o, "torn_reads", json_integer(c->torn_reads));
    return o;
}

/* udbench/3: the failover figures of a cell, or null for a cell of another scenario. */
static json_t *failover_json(wctx *w, const rp_failover *f) {
    json_t *o = f->nreps ? json_object() : json_null(), *reps = NULL;
    if (!o || !f->nreps)
        return o;
    put(w, o, "reps", reps = json_array());
    for (size_t i = 0; reps && i < f->nreps; i++) {
        const rp_failover_rep *r = &f->reps[i];
        json_t *x = json_object(), *win = NULL, *errs = NULL;
        push(w, reps, x);
        if (!x)
            break;
        put(w, x, "victim", jstr(w, r->victim));
        put(w, x, "kill_s", jreal(w, r->kill_s));
        put(w, x, "restart_s", r->restart_s >= 0 ? jreal(w, r->restart_s) : json_null());
        put(w, x, "window_s", jreal(w, r->window_s));
        put(w, x, "recovered", json_boolean(r->recovered));
        put(w, x, "worker_window_s", win = json_array());
        for (size_t j = 0; win && j < r->nworkers; j++)
            push(w, win, jreal(w, r->worker_window_s[j]));
        put(w, x, "acked_writes", juint(w, r->acked_writes));
        put(w, x, "lost_writes", juint(w, r->lost_writes));
        put(w, x, "lost_before_kill", juint(w, r->lost_before_kill));
        put(w, x, "lost_share", jreal(w, r->lost_share));
        put(w, x, "keys", juint(w, r->keys));
        put(w, x, "missing_keys", juint(w, r->missing_keys));
        put(w, x, "older_keys", juint(w, r->older_keys));
        put(w, x, "errors", errs = json_object());
        for (size_t j = 0; errs && j < r->nerrors; j++)
            put(w, errs, r->errors[j].kind ? r->errors[j].kind : "", juint(w, r->errors[j].count));
    }
    return o;
}

/* What the backend said about itself; written only when the cell was told (role known). */
static json_t *backend_desc_json(wctx *w, const rp_cell *c) {
    json_t *bd = json_object();
    const char *role = rp_role_name(c->backend_role);
    if (!role || !c->backend_id)
        fail(w, RP_EINVAL);
    if (bd) {
        put(w, bd, "role", role ? json_string(role) : json_null());
        put(w, bd, "id", jstr(w, c->backend_id));
        put(w, bd, "stand_in", json_boolean(c->stand_in));
    }
    return bd;
}

static json_t *cell_json(wctx *w, const rp_cell *c) {
    json_t *o = json_object(), *params = NULL, *metrics = NULL;
    if (!o)
        return NULL;
    put(w, o, "scenario", jstr(w, c->scenario));
    put(w, o, "backend", jstr(w, c->backend));
    put(w, o, "backend_name", jstr(w, c->backend_name));
    put(w, o, "params", params = json_object());
    for (size_t i = 0; params && i < c->nparams; i++) {
        /* A NULL key cannot be stored; the reader would refuse the document anyway. */
        if (!c->params[i].key) {
            fail(w, RP_EINVAL);
            break;
        }
        put(w, params, c->params[i].key, jstr(w, c->params[i].value));
    }
    const char *status = rp__status_name(c->status);
    if (!status)
        fail(w, RP_EINVAL);
    put(w, o, "status", status ? json_string(status) : json_null());
    put(w, o, "reason", jstr(w, c->reason));
    put(w, o, "metrics", metrics = json_array());
    for (size_t i = 0; metrics && i < c->nmetrics; i++)
        push(w, metrics, metric_json(w, &c->metrics[i]));
    put(w, o, "correctness", correctness_json(w, &c->correctness));
    json_t *mo = json_object();
    put(w, o, "merit", mo);
    if (mo) {
        const rp_merit *m = &c->merit;
        const char *fig = rp_figure_name(m->figure), *dir = rp_direction_name(m->direction);
        if (!fig || !dir)
            fail(w, RP_EINVAL);
        put(w, mo, "metric", jstr(w, m->metric));
        put(w, mo, "figure", fig ? json_string(fig) : json_null());
        put(w, mo, "direction", dir ? json_string(dir) : json_null());
        put(w, mo, "value", jreal(w, m->value));
        put(w, mo, "ci_low", jreal(w, m->ci_low));
        put(w, mo, "ci_high", jreal(w, m->ci_high));
        put(w, mo, "ci_level", jreal(w, m->ci_level));
        json_t *po = m->reference ? json_object() : json_null();
        put(w, mo, "paired", po);
        if (po && m->reference) {
            put(w, po, "reference", jstr(w, m->reference));
            put(w, po, "ratio", jreal(w, m->ratio));
            put(w, po, "ci_low", jreal(w, m->ratio_low));
            put(w, po, "ci_high", jreal(w, m->ratio_high));
            put(w, po, "ci_level", jreal(w, m->ratio_level));
        }
    }
    put(w, o, "harness_floor_ns",
        c->harness_floor_ns >= 0 ? jreal(w, c->harness_floor_ns) : json_null());
    put(w, o, "value_copy_ns", c->value_copy_ns >= 0 ? jreal(w, c->value_copy_ns) : json_null());
    put(w, o, "failover", failover_json(w, &c->failover));
    if (c->backend_role != RP_ROLE_UNKNOWN)
        put(w, o, "backend_desc", backend_desc_json(w, c));
    return o;
}

int rp__doc_to_json(const rp_doc *d, json_t **out) {
    if (!d || !out)
        return RP_EINVAL;
    wctx w = {0};
    json_t *root = json_object(), *backends = NULL, *results = NULL;
    if (!root)
        return -ENOMEM;
    put(&w, root, "schema", json_string(RP_SCHEMA));
    put(&w, root, "run", run_json(&w, &d->run));
    put(&w, root, "backends", backends = json_array());
    for (size_t i = 0; backends && i < d->nbackends; i++)
        push(&w, backends, backend_json(&w, &d->backends[i]));
    put(&w, root, "results", results = json_array());
    for (size_t i = 0; results && i < d->ncells; i++)
        push(&w, results, cell_json(&w, &d->cells[i]));
    if (w.rc) {
        json_decref(root);
        return w.rc;
    }
    *out = root;
    return 0;
}

static bool is_number_char(char c) {
    return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
}

/* The index of the ']' that closes a numbers-only array opening at s[i], or 0 for another. */
static size_t number_array_end(const char *s, size_t n, size_t i) {
    for (size_t j = i + 1; j < n; j++) {
        char x = s[j];
        if (x == ']')
            return j;
        if (!(is_number_char(x) || x == ',' || x == ' ' || x == '\n'))
            return 0;
    }
    return 0;
}

/*
 * Writes the array s[i..j] at s + o as "[a, b, ...]" and returns the new o; o <= i, so nothing
 * unread is overwritten.
 */
static size_t write_number_array(char *s, size_t i, size_t j, size_t o) {
    bool first = true, in_num = false;
    s[o++] = '[';
    for (size_t k = i + 1; k < j; k++) {
        if (!is_number_char(s[k])) {
            in_num = false;
            continue;
        }
        if (!in_num && !first) {
            s[o++] = ',';
            s[o++] = ' ';
        }
        s[o++] = s[k];
        in_num = true;
        first = false;
    }
    s[o++] = ']';
    return o;
}

/*
 * Copies the string whose opening quote is s[*i] to s + *o, escapes included; *i is left on its
 * closing quote (on the last byte when there is none).
 */
static void copy_string(char *s, size_t n, size_t *i, size_t *o) {
    s[(*o)++] = s[*i];
    for (size_t k = *i + 1; k < n; k++) {
        char c = s[k];
        s[(*o)++] = c;
        if (c == '\\' && k + 1 < n) {
            s[(*o)++] = s[++k];
        } else if (c == '"') {
            *i = k;
            return;
        }
    }
    *i = n - 1;
}

/*
 * Rewrites jansson's indented text in place, putting every array that holds only numbers on
 * one line ("[12, 5]"). The text only shrinks, so the buffer is reused. Strings are skipped
 * whole, so a '[' inside one is never taken for an array.
 */
static size_t compact_number_arrays(char *s, size_t n) {
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        size_t j;
        if (s[i] == '"') {
            copy_string(s, n, &i, &o);
        } else if (s[i] == '[' && (j = number_array_end(s, n, i)) != 0) {
            o = write_number_array(s, i, j, o);
            i = j;
        } else {
            s[o++] = s[i];
        }
    }
    return o;
}

int rp__doc_to_text(const rp_doc *d, char **out, size_t *outlen, char *err, size_t errlen) {
    json_t *root = NULL, *back = NULL;
    char *text = NULL;
    rp_doc *check = NULL;
    if (err && errlen)
        err[0] = '\0';
    int rc = rp__doc_to_json(d, &root);
    if (rc) {
        if (err && errlen)
            snprintf(err, errlen, "%s",
                     rc == RP_EINVAL ? "a number is not finite, an unsigned integer is above "
                                       "2^63-1, a status is unknown or a parameter has no name"
                                     : rp_strerror(rc));
        return rc;
    }
    text = json_dumps(root, JSON_INDENT(2) | JSON_REAL_PRECISION(15));
    if (!text) {
        rc = -ENOMEM;
        goto fail;
    }
    size_t n = compact_number_arrays(text, strlen(text));
    /* json_dumps allocated at least n + 1 bytes; the text shrank, so the newline fits. */
    char *grown = realloc(text, n + 2);
    if (!grown) {
        rc = -ENOMEM;
        goto fail;
    }
    text = grown;
    text[n++] = '\n';
    text[n] = '\0';

    /* Check the exact bytes a reader will see, not the tree they came from. */
    json_error_t jerr;
    back = json_loadb(text, n, JSON_REJECT_DUPLICATES, &jerr);
    if (!back) {
        if (err && errlen)
            snprintf(err, errlen, "the written text does not parse: %s", jerr.text);
        rc = RP_ESCHEMA;
        goto fail;
    }
    rc = rp__doc_from_json(back, &check, err, errlen);
    if (rc)
        goto fail;
    rp_doc_free(check);
    json_decref(back);
    json_decref(root);
    *out = text;
    if (outlen)
        *outlen = n;
    return 0;
fail:
    json_decref(back);
    free(text);
    json_decref(root);
    return rc;
}

int rp_doc_check(const rp_doc *d, char *err, size_t errlen) {
    char *text = NULL;
    int rc = rp__doc_to_text(d, &text, NULL, err, errlen);
    free(text);
    return rc;
}

int rp_doc_write_file(const rp_doc *d, FILE *f) {
    if (!d || !f)
        return RP_EINVAL;
    char *text = NULL;
    size_t n = 0;
    int rc = rp__doc_to_text(d, &text, &n, NULL, 0);
    if (rc)
        return rc;
    errno = 0;
    if (fwrite(text, 1, n, f) != n || fflush(f) != 0)
        rc = errno ? -errno : -EIO;
    free(text);
    return rc;
}

static int write_all(int fd, const char *p, size_t n) {
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/*
 * The document goes to "<path>.tmp.<pid>" beside the target, is synced, and is renamed over
 * the target, so a reader (or a crash) never sees half a document.
 */
int rp_doc_write(const rp_doc *d, const char *path) {
    if (!d || !path)
        return RP_EINVAL;
    char *text = NULL, *tmp = NULL;
    size_t n = 0;
    int fd = -1;
    int rc = rp__doc_to_text(d, &text, &n, NULL, 0);
    if (rc)
        return rc;
    if (asprintf(&tmp, "%s.tmp.%ld", path, (long)getpid()) < 0) {
        tmp = NULL;
        rc = -ENOMEM;
        goto fail;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0666);
    if (fd < 0) {
        rc = -errno;
        goto fail;
    }
    rc = write_all(fd, text, n);
    if (rc)
        goto fail_unlink;
    if (fsync(fd) != 0) {
        rc = -errno;
        goto fail_unlink;
    }
    if (close(fd) != 0) {
        fd = -1;
        rc = -errno;
        goto fail_unlink;
    }
    fd = -1;
    if (rename(tmp, path) != 0) {
        rc = -errno;
        goto fail_unlink;
    }
    free(tmp);
    free(text);
    return 0;
fail_unlink:
    if (fd >= 0)
        close(fd);
    unlink(tmp);
fail:
    free(tmp);
    free(text);
    return rc;
}
