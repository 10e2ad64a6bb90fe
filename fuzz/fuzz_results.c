/*
 * fuzz_results.c - reading mutated results documents: rp_doc_read() on the input, then the
 * checks and every report format on what it accepted.
 */
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"
#include "rp.h"

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
            FILE *null = fopen("/dev/null", "w");
            for (int f = RP_FORMAT_TEXT; null && f <= RP_FORMAT_SVG; f++)
                (void)rp_report(doc, f, null);
            if (null)
                fclose(null);
            rp_doc_free(doc);
        }
    }
    close(fd);
    return 0;
}
