/*
 * fuzz_results.c - reading mutated results documents: rp_doc_read() on the input, then the
 * checks and every report format on what it accepted. Whatever the input, neither a report
 * nor the reader's message may carry a control character (C0 but the line feed, DEL, C1): a
 * terminal would act on it (rp_fputs_safe()). A violation aborts, which the fuzzer reports.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"
#include "rp.h"

static void check_printable(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        /* 0xC2 is only ever a lead byte: with 0x80..0x9F after it, a C1 control. */
        bool c1 = c == 0xc2 && i + 1 < n && (unsigned char)s[i + 1] >= 0x80 &&
                  (unsigned char)s[i + 1] <= 0x9f;
        if ((c < 0x20 && c != '\n') || c == 0x7f || c1)
            abort();
    }
}

static void reports(const rp_doc *doc) {
    for (int f = RP_FORMAT_TEXT; f <= RP_FORMAT_SVG; f++) {
        char *out = NULL;
        size_t len = 0;
        FILE *m = open_memstream(&out, &len);
        if (!m)
            return;
        (void)rp_report(doc, f, m);
        if (fclose(m) == 0)
            check_printable(out, len);
        free(out);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int fd = memfd_create("fuzz_results", MFD_CLOEXEC);
    if (fd < 0)
        return 0;
    if (write(fd, data, size) == (ssize_t)size) {
        char path[64], err[256];
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        rp_doc *doc = NULL;
        if (rp_doc_read(path, &doc, err, sizeof err) == 0 && doc) {
            (void)rp_doc_check(doc, err, sizeof err);
            reports(doc);
            rp_doc_free(doc);
        } else {
            check_printable(err, strlen(err));
        }
    }
    close(fd);
    return 0;
}
