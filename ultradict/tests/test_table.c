/*
 * test_table.c - the private table (src/table.c) against a plain model: keys and values on both
 * sides of the inline limit, values that grow out of an entry and shrink back, deletions that
 * leave holes, growth and compaction that move the entries (an inline entry's bytes move with
 * it), and a table rebuilt from its own dump payload (borrowed and inline entries).
 */
#include "testutil.h"

#include <stdlib.h>

#include "hash.h"
#include "internal.h"

enum { MODEL_KEYS = 600, OPS = 40000, MAX_VLEN = 48 };

typedef struct model {
    bool live[MODEL_KEYS];
    size_t vlen[MODEL_KEYS];
    char val[MODEL_KEYS][MAX_VLEN];
} model;

/* Key i: lengths 0 to 19 bytes (key 0 is the empty key; keys 1 and 2 the only short ones), so that
 * some keys are longer than an entry's inline room and some key-value pairs straddle it. */
static size_t key_of(unsigned i, char *k) {
    size_t len = i % 20;
    if (len < 3 && i >= 20)
        len += 3; /* the first bytes of a longer key are i itself: every key differs */
    for (size_t j = 0; j < len; j++)
        k[j] = (char)('a' + (i * 7 + j * 13) % 26);
    if (len >= 3)
        memcpy(k, &i, sizeof(uint16_t));
    return len;
}

static uint64_t hash_of(const char *k, size_t len) {
    return ud__hash(k, len, 0);
}

/* Every model key is found with its value, every absent one is not, and inline entries point at
 * their own bytes. */
static void check_table(const ud__table *t, const model *m) {
    size_t live = 0;
    for (unsigned i = 0; i < MODEL_KEYS; i++) {
        char k[32];
        size_t klen = key_of(i, k);
        const ud__entry *e = ud__table_find(t, k, klen, hash_of(k, klen));
        if (!m->live[i]) {
            assert_null(e);
            continue;
        }
        live++;
        assert_non_null(e);
        assert_int_equal(e->vlen, m->vlen[i]);
        assert_memory_equal(ud__entry_val(e), m->val[i], m->vlen[i]);
        if (e->flags & UD__ENTRY_INLINE)
            assert_ptr_equal(e->kv, e->inl);
    }
    assert_int_equal(t->count, live);
}

static void random_ops(ud__table *t, model *m, unsigned seed) {
    srand(seed);
    for (int op = 0; op < OPS; op++) {
        unsigned i = (unsigned)rand() % MODEL_KEYS;
        char k[32];
        size_t klen = key_of(i, k);
        uint64_t h = hash_of(k, klen);
        if (rand() % 3 == 0) {
            int rc = ud__table_del(t, k, klen, h);
            assert_int_equal(rc, m->live[i] ? 0 : UD_ENOTFOUND);
            m->live[i] = false;
        } else {
            size_t vlen = (size_t)rand() % MAX_VLEN;
            for (size_t j = 0; j < vlen; j++)
                m->val[i][j] = (char)(op + (int)j);
            assert_int_equal(ud__table_put(t, k, klen, h, m->val[i], vlen, UD_TYPE_BYTES), 0);
            m->live[i] = true;
            m->vlen[i] = vlen;
        }
        if (op % 4000 == 0)
            check_table(t, m);
    }
    check_table(t, m);
}

static void test_table_model(void **state) {
    (void)state;
    static model m;
    memset(&m, 0, sizeof m);
    ud__table t;
    ud__table_init(&t);
    random_ops(&t, &m, 1);
    /* Rebuilt from its dump payload: small entries inline, the others borrowed from the arena. */
    ud__table copy;
    ud__table_init(&copy);
    char *payload = ud__table_arena(&copy, t.bytes);
    assert_non_null(payload);
    ud__table_encode(&t, payload);
    assert_int_equal(ud__table_decode(&copy, t.bytes, t.count), 0);
    check_table(&copy, &m);
    /* Borrowed and inline entries take new values, grow out of their room and are deleted. */
    random_ops(&copy, &m, 2);
    ud__table_free(&copy);
    ud__table_free(&t);
}

/* An entry that grows out of its inline room and is then moved by growth keeps its value. */
static void test_table_grow_out_of_line(void **state) {
    (void)state;
    ud__table t;
    ud__table_init(&t);
    char big[40];
    memset(big, 'b', sizeof big);
    assert_int_equal(ud__table_put(&t, "k", 1, hash_of("k", 1), "v", 1, UD_TYPE_BYTES), 0);
    assert_true(t.entries[0].flags & UD__ENTRY_INLINE);
    assert_int_equal(ud__table_put(&t, "k", 1, hash_of("k", 1), big, sizeof big, UD_TYPE_BYTES), 0);
    assert_false(t.entries[0].flags & UD__ENTRY_INLINE);
    for (unsigned i = 0; i < 1000; i++) {
        char k[16];
        int n = snprintf(k, sizeof k, "n%u", i);
        assert_int_equal(
            ud__table_put(&t, k, (size_t)n, hash_of(k, (size_t)n), k, (size_t)n, UD_TYPE_BYTES), 0);
    }
    const ud__entry *e = ud__table_find(&t, "k", 1, hash_of("k", 1));
    assert_non_null(e);
    assert_int_equal(e->vlen, sizeof big);
    assert_memory_equal(ud__entry_val(e), big, sizeof big);
    e = ud__table_find(&t, "n999", 4, hash_of("n999", 4));
    assert_non_null(e);
    assert_ptr_equal(e->kv, e->inl);
    assert_memory_equal(ud__entry_val(e), "n999", 4);
    assert_int_equal((uintptr_t)t.entries % 64, 0);
    ud__table_free(&t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_model),
        cmocka_unit_test(test_table_grow_out_of_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
