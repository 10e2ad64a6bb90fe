/*
 * json_text.c - the canonical text of a document (json_write.c makes its tree): jansson's text
 * with arrays of plain numbers on one line, checked by reading it back, and the atomic file
 * write.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

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
