/*
 * testutil.c - helpers shared by the UltraDict tests (see testutil.h): assertions, names and
 * cleanup, counting resources, time and randomness, self-checking values, dict checksums.
 * Processes, gates and shared memory are in testutil_proc.c.
 */
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define UT_SHM_DIR "/dev/shm"

/* ---- Assertions. ---- */

/* Prints up to 48 bytes of a buffer, escaping what is not printable. */
static void ut_print_bytes(const char *what, const void *p, size_t n) {
    const unsigned char *c = p;
    print_error("  %s (%zu bytes): \"", what, n);
    for (size_t i = 0; i < n && i < 48; i++) {
        if (c[i] >= 32 && c[i] < 127 && c[i] != '"' && c[i] != '\\')
            print_error("%c", c[i]);
        else
            print_error("\\x%02x", c[i]);
    }
    print_error("%s\"\n", n > 48 ? "..." : "");
}

void ut_assert_buf_eq(const ud_buf *b, const void *p, size_t n, const char *file, int line) {
    if (b->len != n || (n > 0 && (b->data == NULL || memcmp(b->data, p, n) != 0))) {
        print_error("%s:%d: buffer differs\n", file, line);
        ut_print_bytes("got", b->data ? b->data : "", b->data ? b->len : 0);
        ut_print_bytes("expected", p, n);
        _fail(file, line);
    }
    if (b->data == NULL || ((const char *)b->data)[b->len] != '\0') {
        print_error("%s:%d: buffer is not NUL-terminated after len\n", file, line);
        _fail(file, line);
    }
}

/* ---- Names and cleanup. ---- */

static char **ut_names;
static size_t ut_names_len, ut_names_cap;
static unsigned long ut_counter;
static char ut_prefix_buf[32];

const char *ut_prefix(void) {
    snprintf(ut_prefix_buf, sizeof ut_prefix_buf, "t_%ld_", (long)getpid());
    return ut_prefix_buf;
}

void ut_track(const char *name) {
    if (ut_names_len == ut_names_cap) {
        size_t cap = ut_names_cap ? ut_names_cap * 2 : 64;
        char **n = realloc(ut_names, cap * sizeof *n);
        if (n == NULL)
            return;
        ut_names = n;
        ut_names_cap = cap;
    }
    char *copy = strdup(name);
    if (copy != NULL)
        ut_names[ut_names_len++] = copy;
}

char *ut_name(char *buf) {
    snprintf(buf, 64, "%s%lu", ut_prefix(), ++ut_counter);
    ut_track(buf);
    return buf;
}

/* Calls fn(name) for each /dev/shm entry that starts with prefix; returns how many. */
static int ut_scan_shm(const char *prefix, void (*fn)(const char *name, void *ctx), void *ctx) {
    DIR *dir = opendir(UT_SHM_DIR);
    if (dir == NULL)
        return -1;
    size_t plen = strlen(prefix);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(dir)) != NULL) {
        if (strncmp(e->d_name, prefix, plen) != 0)
            continue;
        n++;
        if (fn != NULL)
            fn(e->d_name, ctx);
    }
    closedir(dir);
    return n;
}

/* A /dev/shm entry belongs to dict `name` if it is `name` or starts with `name.`. */
static bool ut_belongs(const char *entry, const char *name) {
    size_t n = strlen(name);
    return strncmp(entry, name, n) == 0 && (entry[n] == '\0' || entry[n] == '.');
}

typedef struct ut_leftover_ctx {
    const char *name; /* NULL: every entry counts */
    int count;
} ut_leftover_ctx;

static void ut_remove_leftover(const char *entry, void *vctx) {
    ut_leftover_ctx *ctx = vctx;
    if (ctx->name != NULL && !ut_belongs(entry, ctx->name))
        return;
    fprintf(stderr, "  leftover segment /dev/shm/%s (removed by the test harness)\n", entry);
    char path[512];
    snprintf(path, sizeof path, UT_SHM_DIR "/%s", entry);
    unlink(path);
    ctx->count++;
}

int ut_cleanup(void) {
    int left = 0;
    for (size_t i = 0; i < ut_names_len; i++)
        (void)ud_unlink_by_name(ut_names[i]);
    for (size_t i = 0; i < ut_names_len; i++) {
        if (strncmp(ut_names[i], ut_prefix(), strlen(ut_prefix())) != 0) {
            ut_leftover_ctx ctx = {ut_names[i], 0};
            ut_scan_shm(ut_names[i], ut_remove_leftover, &ctx);
            left += ctx.count;
        }
        free(ut_names[i]);
    }
    ut_names_len = 0;
    ut_leftover_ctx ctx = {NULL, 0};
    ut_scan_shm(ut_prefix(), ut_remove_leftover, &ctx);
    return left + ctx.count;
}

int ut_teardown(void **state) {
    (void)state;
    int left = ut_cleanup();
    if (left != 0) {
        print_error("ud_unlink_by_name() left %d segment(s) behind\n", left);
        return -1;
    }
    return 0;
}

/* ---- Counting resources. ---- */

typedef struct ut_find_ctx {
    const char *name;
    int found;
    ud_dict_info *info;
} ut_find_ctx;

static int ut_find_cb(void *vctx, const ud_dict_info *info) {
    ut_find_ctx *c = vctx;
    if (strcmp(info->name, c->name) == 0) {
        c->found++;
        *c->info = *info;
    }
    return 0;
}

int ut_list_find(const char *name, ud_dict_info *info) {
    memset(info, 0, sizeof *info);
    ut_find_ctx c = {name, 0, info};
    assert_ok(ud_list(ut_find_cb, &c));
    return c.found;
}

int ut_count_fds(void) {
    DIR *dir = opendir("/proc/self/fd");
    if (dir == NULL)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(dir)) != NULL) {
        if (e->d_name[0] != '.')
            n++;
    }
    closedir(dir);
    return n - 1; /* the directory's own descriptor */
}

int ut_count_shm_prefix(const char *prefix) {
    return ut_scan_shm(prefix, NULL, NULL);
}

typedef struct ut_seg_ctx {
    const char *name;
    int count;
    int unexpected;
} ut_seg_ctx;

static void ut_count_seg(const char *entry, void *vctx) {
    ut_seg_ctx *ctx = vctx;
    if (ut_belongs(entry, ctx->name))
        ctx->count++;
}

int ut_count_segments(const char *name) {
    ut_seg_ctx ctx = {name, 0, 0};
    ut_scan_shm(name, ut_count_seg, &ctx);
    return ctx.count;
}

/* True if s is "", ".stream", ".dump0" or ".dump1": the segments of one dict. */
static bool ut_is_dict_suffix(const char *s) {
    return strcmp(s, "") == 0 || strcmp(s, ".stream") == 0 || strcmp(s, ".dump0") == 0 ||
           strcmp(s, ".dump1") == 0;
}

static void ut_check_seg(const char *entry, void *vctx) {
    ut_seg_ctx *ctx = vctx;
    if (!ut_belongs(entry, ctx->name))
        return;
    const char *rest = entry + strlen(ctx->name);
    bool ok = ut_is_dict_suffix(rest);
    if (!ok && strncmp(rest, ".reg", 4) == 0)
        ok = ut_is_dict_suffix(rest + 4);
    /* Nested children, at any depth: (".c<hex>")+ then a dict suffix. */
    while (!ok && strncmp(rest, ".c", 2) == 0) {
        const char *h = rest + 2;
        size_t nhex = strspn(h, "0123456789abcdef");
        if (nhex == 0)
            break;
        rest = h + nhex;
        ok = ut_is_dict_suffix(rest);
    }
    if (!ok) {
        fprintf(stderr, "  unexpected segment /dev/shm/%s\n", entry);
        ctx->unexpected++;
    }
}

int ut_unexpected_segments(const char *name) {
    ut_seg_ctx ctx = {name, 0, 0};
    ut_scan_shm(name, ut_check_seg, &ctx);
    return ctx.unexpected;
}

char *ut_shm_path(char *buf, const char *name, const char *suffix) {
    snprintf(buf, 512, UT_SHM_DIR "/%s%s", name, suffix ? suffix : "");
    return buf;
}

long long ut_file_size(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0)
        return -1;
    return (long long)st.st_size;
}

unsigned char *ut_file_read(const char *path, size_t *len) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return NULL;
    }
    size_t n = (size_t)st.st_size;
    unsigned char *p = malloc(n + 1);
    size_t got = 0;
    while (p != NULL && got < n) {
        ssize_t r = pread(fd, p + got, n - got, (off_t)got);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    if (p != NULL && got != n) {
        free(p);
        return NULL;
    }
    if (len != NULL)
        *len = n;
    return p;
}

int ut_file_pwrite(const char *path, long long off, const void *p, size_t n) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t w = pwrite(fd, p, n, (off_t)off);
    close(fd);
    return w == (ssize_t)n ? 0 : -1;
}

long long ut_file_find(const char *path, const void *needle, size_t n, long long from) {
    size_t len;
    unsigned char *p = ut_file_read(path, &len);
    if (p == NULL)
        return -1;
    long long at = -1;
    if (from >= 0 && (size_t)from < len) {
        unsigned char *hit = memmem(p + from, len - (size_t)from, needle, n);
        if (hit != NULL)
            at = (long long)(hit - p);
    }
    free(p);
    return at;
}

/* ---- Time and randomness. ---- */

double ut_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void ut_sleep(double s) {
    if (s <= 0)
        return;
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

void ut_rng_seed(ut_rng *r, uint64_t seed) {
    r->s = seed ^ 0x9e3779b97f4a7c15ULL;
}

/* splitmix64: small, fast, good enough for choosing test operations. */
uint64_t ut_rng_next(ut_rng *r) {
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

uint64_t ut_rng_below(ut_rng *r, uint64_t n) {
    return n == 0 ? 0 : ut_rng_next(r) % n;
}

/* ---- Self-checking values. ---- */

uint64_t ut_fnv(uint64_t h, const void *p, size_t n) {
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++) {
        h ^= c[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

static void ut_put64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t ut_get64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* The value's magic: 4 bytes, no NUL. */
static const unsigned char ut_value_magic[4] = {'U', 'T', 'V', '1'};

/* The payload byte at position i of a value written with sequence number seq. */
static unsigned char ut_payload_byte(uint64_t seq, size_t i) {
    return (unsigned char)(seq * 131 + i * 7 + (i >> 8));
}

/*
 * Layout: "UTV1" | u32 len | u64 seq | u64 fnv(key) | u64 checksum | payload. The checksum
 * covers every byte except its own field; the payload is a function of (seq, position).
 */
void ut_value_make(void *out, size_t len, const void *key, size_t klen, uint64_t seq) {
    unsigned char *p = out;
    memcpy(p, ut_value_magic, sizeof ut_value_magic);
    p[4] = (unsigned char)len;
    p[5] = (unsigned char)(len >> 8);
    p[6] = (unsigned char)(len >> 16);
    p[7] = (unsigned char)(len >> 24);
    ut_put64(p + 8, seq);
    ut_put64(p + 16, ut_fnv(UT_FNV_INIT, key, klen));
    for (size_t i = UT_VALUE_MIN; i < len; i++)
        p[i] = ut_payload_byte(seq, i);
    uint64_t h = ut_fnv(UT_FNV_INIT, p, 24);
    h = ut_fnv(h, p + UT_VALUE_MIN, len - UT_VALUE_MIN);
    ut_put64(p + 24, h);
}

int ut_value_check(const void *key, size_t klen, const void *val, size_t vlen, uint64_t *seq) {
    const unsigned char *p = val;
    if (vlen < UT_VALUE_MIN || memcmp(p, ut_value_magic, sizeof ut_value_magic) != 0)
        return -1;
    size_t len = (size_t)p[4] | (size_t)p[5] << 8 | (size_t)p[6] << 16 | (size_t)p[7] << 24;
    if (len != vlen)
        return -1;
    if (ut_get64(p + 16) != ut_fnv(UT_FNV_INIT, key, klen))
        return -1;
    uint64_t h = ut_fnv(UT_FNV_INIT, p, 24);
    h = ut_fnv(h, p + UT_VALUE_MIN, len - UT_VALUE_MIN);
    if (ut_get64(p + 24) != h)
        return -1;
    uint64_t s = ut_get64(p + 8);
    for (size_t i = UT_VALUE_MIN; i < len; i++) {
        if (p[i] != ut_payload_byte(s, i))
            return -1;
    }
    if (seq != NULL)
        *seq = s;
    return 0;
}

/* ---- Dict checksums. ---- */

static int ut_kv_cmp(const void *a, const void *b) {
    const ut_kv *x = a, *y = b;
    size_t n = x->klen < y->klen ? x->klen : y->klen;
    int c = n ? memcmp(x->key, y->key, n) : 0;
    if (c != 0)
        return c;
    return (x->klen > y->klen) - (x->klen < y->klen);
}

uint64_t ut_items_checksum(ut_kv *items, size_t n) {
    if (n > 1)
        qsort(items, n, sizeof *items, ut_kv_cmp);
    uint64_t h = UT_FNV_INIT;
    for (size_t i = 0; i < n; i++) {
        uint64_t klen = items[i].klen, vlen = items[i].type == UD_TYPE_DICT ? 0 : items[i].vlen;
        int32_t type = items[i].type;
        h = ut_fnv(h, &klen, sizeof klen);
        h = ut_fnv(h, items[i].key, items[i].klen);
        h = ut_fnv(h, &type, sizeof type);
        h = ut_fnv(h, &vlen, sizeof vlen);
        if (items[i].type != UD_TYPE_DICT)
            h = ut_fnv(h, items[i].val, items[i].vlen);
    }
    return h;
}

int ut_dict_checksum(ud_dict *d, uint64_t *sum, size_t *count) {
    ud_iter *it = NULL;
    int rc = ud_iter_open(d, &it);
    if (rc != 0)
        return rc;
    size_t n = 0, cap = 0;
    ut_kv *items = NULL;
    for (;;) {
        ud_buf k = UD_BUF_INIT, v = UD_BUF_INIT;
        int type = -1;
        rc = ud_iter_next(it, &k, &v, &type);
        if (rc != 0) {
            ud_buf_free(&k);
            ud_buf_free(&v);
            break;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            ut_kv *ni = realloc(items, cap * sizeof *ni);
            if (ni == NULL) {
                rc = -ENOMEM;
                ud_buf_free(&k);
                ud_buf_free(&v);
                break;
            }
            items = ni;
        }
        /* ud_buf data may be NULL for an empty key or value: keep a valid pointer. */
        items[n].key = k.data ? k.data : calloc(1, 1);
        items[n].klen = k.len;
        items[n].val = v.data ? v.data : calloc(1, 1);
        items[n].vlen = v.len;
        items[n].type = type;
        n++;
    }
    ud_iter_close(it);
    if (rc == UD_ENOTFOUND) {
        rc = 0;
        *sum = ut_items_checksum(items, n);
        *count = n;
    }
    for (size_t i = 0; i < n; i++) {
        free((void *)items[i].key);
        free((void *)items[i].val);
    }
    free(items);
    return rc;
}

int ut_parse_i64(const void *p, size_t n, int64_t *out) {
    char tmp[32];
    if (n == 0 || n >= sizeof tmp)
        return -1;
    memcpy(tmp, p, n);
    tmp[n] = '\0';
    char *end;
    errno = 0;
    long long v = strtoll(tmp, &end, 10);
    if (errno != 0 || *end != '\0')
        return -1;
    *out = (int64_t)v;
    return 0;
}

/* Opens with `o`, asserting success. */
static ud_dict *ut_open_with(const ud_options *o) {
    ud_dict *d = NULL;
    assert_ok(ud_open(o, &d));
    return d;
}

ud_dict *ut_open(const char *name, int create, int lock, size_t buffer_size) {
    ud_options o = UD_OPTIONS_INIT;
    o.name = name;
    o.create = create;
    o.lock = lock;
    o.buffer_size = buffer_size;
    return ut_open_with(&o);
}

ud_dict *ut_open_recursive(const char *name, int create) {
    ud_options o = UD_OPTIONS_INIT;
    o.name = name;
    o.create = create;
    o.recurse = true;
    return ut_open_with(&o);
}

void ut_assert_same_dict(ud_dict *a, ud_dict *b) {
    uint64_t ha = 0, hb = 1;
    size_t na = 0, nb = 1;
    assert_ok(ut_dict_checksum(a, &ha, &na));
    assert_ok(ut_dict_checksum(b, &hb, &nb));
    assert_int_equal(na, nb);
    assert_int_equal(ha, hb);
}

ut_pair ut_pair_open(void) {
    ut_pair p;
    p.d = ut_open(ut_name(p.name), UD_CREATE_ONLY, UD_LOCK_MUTEX, 0);
    p.o = ut_attach(p.name);
    assert_non_null(p.o);
    return p;
}

void ut_pair_close(ut_pair *p) {
    assert_ok(ud_close(p->o));
    assert_ok(ud_close(p->d));
}

int ut_incr_rising(ud_dict *d, const char *key, long k, int64_t *first, int64_t *last) {
    int64_t prev = INT64_MIN, r = 0;
    for (long i = 0; i < k; i++) {
        if (ud_incr(d, S(key), 1, &r) != 0)
            return 1;
        if (r <= prev)
            return 2;
        if (i == 0 && first != NULL)
            *first = r;
        prev = r;
    }
    if (last != NULL)
        *last = prev;
    return 0;
}

void ut_run_named_test(void **state) {
    const ut_named_test *t = *state;
    char name[64];
    t->fn(ut_name(name));
}

ud_options ut_options(const char *name) {
    ud_options o = UD_OPTIONS_INIT;
    o.name = name;
    return o;
}

void ut_run_pair_test(void **state) {
    const ut_pair_test *t = *state;
    ut_pair p = ut_pair_open();
    ud_buf v = UD_BUF_INIT;
    t->fn(p.d, p.o, &v);
    ud_buf_free(&v);
    ut_pair_close(&p);
}

void ut_run_lock_test(void **state) {
    const ut_lock_test *t = *state;
    t->fn(t->lock);
}
