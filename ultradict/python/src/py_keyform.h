/*
 * py_keyform.h - the byte forms of the UltraDict module's keys and values, classified in plain
 * C (no Python), so that the fuzz target (fuzz/fuzz_pycodec.c) links the very code that the
 * module trusts.
 *
 * Keys. The module's own encodings start with a mark of two bytes, 0xC1 0xFE, that never
 * occur in UTF-8 text, then a tag letter and a payload that must be exactly what the encoder
 * writes (canonical). Any other bytes - a key written by the CLI or a C program - are foreign
 * and come back to Python as `bytes`, whole; a Python `bytes` key is stored as its raw bytes, so
 * `d[b'name']` is the key `name` that `ultradict set` wrote. The one exception: raw bytes that
 * would themselves read as an own encoding are escaped as mark + 'b' + the bytes. So every byte
 * string decodes, and decoding then encoding gives the same bytes back.
 *
 *   mark 'i' DECIMAL      int (also bool and integral float): "0" or -?[1-9][0-9]*, at most
 *                         PYUD_DECIMAL_MAX digits (larger ints take the pickle form)
 *   mark 's' UTF-8        str (strict UTF-8: no surrogates, no overlong forms)
 *   mark 'f' 8 bytes      float that is not integral (the double's bytes, native order)
 *   mark 'b' BYTES        bytes that would otherwise read as an own encoding
 *   mark 'n'              None
 *   mark 't' (u32 LEN, ELEMENT)*   tuple; LEN native order, each ELEMENT any key's bytes
 *   mark 'p' PICKLE       any other hashable key: pickle protocol 2..5, ending with STOP
 *
 * Values (default pickle only). A canonical decimal of at most PYUD_DECIMAL_MAX digits is an
 * int (so `ud_incr()` and the CLI share counters with Python); a pickle (0x80, protocol 2..5,
 * ..., STOP) is unpickled; anything else is foreign and comes back as `bytes`, whole.
 */
#ifndef PY_KEYFORM_H
#define PY_KEYFORM_H

#include <stdbool.h>
#include <stddef.h>

#define PYUD_KEY_MARK0 '\xC1'
#define PYUD_KEY_MARK1 '\xFE'
/* The mark and the tag letter. */
#define PYUD_KEY_HEAD 3
/* The most digits of an int stored as a decimal: Python converts 640 digits whatever
 * sys.set_int_max_str_digits() says (its smallest setting), in any process. */
#define PYUD_DECIMAL_MAX 640
/* Decimals of at most this many characters (sign included) fit in a long long. */
#define PYUD_DECIMAL_SMALL 18

enum {
    PYUD_KEY_FOREIGN = 0,
    PYUD_KEY_INT,
    PYUD_KEY_STR,
    PYUD_KEY_FLOAT,
    PYUD_KEY_BYTES,
    PYUD_KEY_NONE,
    PYUD_KEY_TUPLE,
    PYUD_KEY_PICKLE,
};

enum { PYUD_VAL_FOREIGN = 0, PYUD_VAL_INT, PYUD_VAL_PICKLE };

/* The form of the key bytes p[0..n): one of PYUD_KEY_*; the payload starts at PYUD_KEY_HEAD. */
int pyud_key_form(const char *p, size_t n);
/* The form of a value's bytes under the default pickle: one of PYUD_VAL_*. */
int pyud_value_form(const char *p, size_t n);
/* The next element of a tuple payload (after the head): its offset and length in *off, *len,
 * and *at moved past it. False at the end; call only on a payload pyud_key_form() accepted. */
bool pyud_tuple_next(const char *p, size_t n, size_t *at, size_t *off, size_t *len);
/* True if p[0..n) is a canonical decimal ("0" or -?[1-9][0-9]*) of at most `max` digits. */
bool pyud_decimal_canonical(const char *p, size_t n, size_t max);
/* The value of a canonical decimal of at most PYUD_DECIMAL_SMALL characters. */
long long pyud_decimal_small(const char *p, size_t n);
/* Writes v in decimal so that it ends at `end`; returns where it starts (at most 20 bytes). */
char *pyud_format_ll(char *end, long long v);
/* True if p[0..n) is strict UTF-8, as Python's "strict" decoder accepts it. */
bool pyud_utf8_valid(const char *p, size_t n);

#endif
