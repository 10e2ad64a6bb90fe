/* error.c - error names and messages, and the ud_buf helpers. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

UD_ERRGEN_FUNCTIONS(UD_ERRNO_MAP, ud_strerror, ud_errname)

void ud_buf_free(ud_buf *b) {
    if (!b)
        return;
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

int ud__buf_resize(ud_buf *b, size_t n) {
    if (n + 1 < n)
        return -ENOMEM;
    if (n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < n + 1)
            cap = cap * 2 > cap ? cap * 2 : n + 1;
        void *p = realloc(b->data, cap);
        if (!p)
            return -ENOMEM;
        b->data = p;
        b->cap = cap;
    }
    ((char *)b->data)[n] = '\0';
    b->len = n;
    return 0;
}

int ud__buf_set(ud_buf *b, const void *p, size_t n) {
    int rc = ud__buf_resize(b, n);
    if (rc)
        return rc;
    if (n)
        memcpy(b->data, p, n);
    return 0;
}
