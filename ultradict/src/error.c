/* error.c - error names and messages, and the ud_buf helpers. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

const char *ud_strerror(int rc) {
    switch (rc) {
    case 0:
        return "success";
#define UD__ERRNO_MSG(code, val, msg)                                                              \
    case UD_##code:                                                                                \
        return msg;
        UD_ERRNO_MAP(UD__ERRNO_MSG)
#undef UD__ERRNO_MSG
    default:
        break;
    }
    if (rc < 0 && rc > -4096)
        return strerror(-rc);
    return "unknown error";
}

const char *ud_errname(int rc) {
    switch (rc) {
    case 0:
        return "OK";
#define UD__ERRNO_NAME(code, val, msg)                                                             \
    case UD_##code:                                                                                \
        return "UD_" #code;
        UD_ERRNO_MAP(UD__ERRNO_NAME)
#undef UD__ERRNO_NAME
    default:
        break;
    }
    if (rc < 0 && rc > -4096) {
        const char *n = strerrorname_np(-rc);
        if (n)
            return n;
    }
    return "UNKNOWN";
}

void ud_buf_free(ud_buf *b) {
    if (!b)
        return;
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

int ud__buf_reserve(ud_buf *b, size_t n) {
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
    int rc = ud__buf_reserve(b, n);
    if (rc)
        return rc;
    if (n)
        memcpy(b->data, p, n);
    return 0;
}
