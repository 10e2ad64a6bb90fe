/*
 * rp_tool.c - a test helper: `rp_tool canon FILE` rewrites a results document in its canonical
 * form (needed after editing a fixture by hand, since the round-trip test compares bytes), and
 * `rp_tool report FILE FORMAT` prints a report of it.
 */
#include <stdio.h>
#include <string.h>

#include "rp.h"

int main(int argc, char **argv) {
    if (argc < 3 || (strcmp(argv[1], "canon") != 0 && strcmp(argv[1], "report") != 0)) {
        fprintf(stderr, "usage: rp_tool canon FILE | rp_tool report FILE text|md|csv|svg\n");
        return 2;
    }
    char err[512];
    rp_doc *d = NULL;
    int rc = rp_doc_read(argv[2], &d, err, sizeof err);
    if (rc) {
        fprintf(stderr, "rp_tool: %s: %s\n", argv[2], err[0] ? err : rp_strerror(rc));
        return 1;
    }
    if (strcmp(argv[1], "canon") == 0) {
        rc = rp_doc_write(d, argv[2]);
    } else {
        int format = rp_format_parse(argc > 3 ? argv[3] : "text");
        rc = format < 0 ? format : rp_report(d, format, stdout);
    }
    if (rc)
        fprintf(stderr, "rp_tool: %s\n", rp_strerror(rc));
    rp_doc_free(d);
    return rc ? 1 : 0;
}
