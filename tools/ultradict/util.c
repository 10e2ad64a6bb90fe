/*
 * util.c - error reporting, opening dicts the way every command must, and reading input.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

int cli_fail(const char *context, int rc) {
    char text[256];
    /* An empty context (an empty name on the command line) is shown as '' to stay visible. */
    cli_escape_into(context[0] != '\0' ? context : "''", text, sizeof(text));
    fprintf(stderr, "ultradict: %s: %s\n", text, ud_strerror(rc));
    return CLI_EXIT_FAILURE;
}

int cli_fail_key(const char *name, const char *key, int rc) {
    switch (rc) {
    case UD_ENOTFOUND:
    case UD_ENOTNUM:
    case UD_EOVERFLOW:
    case UD_EWRONGTYPE:
    case UD_ETOOBIG:
        return cli_fail(key, rc);
    default:
        return cli_fail(name, rc);
    }
}

int cli_failf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("ultradict: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return CLI_EXIT_FAILURE;
}

int cli_attach(const char *name, ud_dict **out) {
    /* An empty name would ask the library for a random one, which cannot exist yet. */
    if (name[0] == '\0')
        return cli_fail(name, UD_ENAME);
    ud_options o = UD_OPTIONS_INIT;
    o.name = name;
    o.create = UD_ATTACH_ONLY;
    o.auto_unlink = UD_AUTO_UNLINK_OFF;
    int rc = ud_open(&o, out);
    if (rc < 0)
        return cli_fail(name, rc);
    return 0;
}

int cli_close(ud_dict *d, int status) {
    if (d == NULL)
        return status;
    /* Copy the name first: it lives in the handle that ud_close frees. */
    char name[UD_NAME_MAX + 16];
    snprintf(name, sizeof(name), "%s", ud_name(d));
    int rc = ud_close(d);
    if (rc < 0 && status == CLI_EXIT_OK)
        return cli_fail(name, rc);
    return status;
}

int cli_read_fd(int fd, ud_buf *out) {
    out->len = 0;
    for (;;) {
        if (out->cap - out->len < 4096 + 1) {
            if (out->cap > SIZE_MAX / 2)
                return -ENOMEM;
            size_t cap = out->cap < 65536 ? 65536 : out->cap * 2;
            void *p = realloc(out->data, cap);
            if (p == NULL)
                return -ENOMEM;
            out->data = p;
            out->cap = cap;
        }
        /* Leave one byte for the terminating NUL that ud_buf promises. */
        ssize_t n = read(fd, (char *)out->data + out->len, out->cap - out->len - 1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            break;
        out->len += (size_t)n;
    }
    ((char *)out->data)[out->len] = '\0';
    return 0;
}

int cli_read_file(const char *path, ud_buf *out) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = cli_read_fd(fd, out);
    close(fd);
    return rc;
}

double cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
