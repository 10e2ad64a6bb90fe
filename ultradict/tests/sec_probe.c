/*
 * sec_probe.c - one library call, its result printed by name, for test_security.sh (which runs
 * it as root and as a second local user).
 *   sec_probe unlink NAME           ud_unlink_by_name(NAME)
 *   sec_probe attach NAME [MODE]    ud_open(NAME, UD_ATTACH_ONLY), with an explicit octal mode
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ultradict.h"

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: sec_probe unlink|attach NAME [MODE]\n");
        return 2;
    }
    int rc;
    if (strcmp(argv[1], "unlink") == 0) {
        rc = ud_unlink_by_name(argv[2]);
    } else if (strcmp(argv[1], "attach") == 0) {
        ud_options o = UD_OPTIONS_INIT;
        o.name = argv[2];
        o.create = UD_ATTACH_ONLY;
        if (argc > 3)
            o.mode = (unsigned)strtoul(argv[3], NULL, 8);
        ud_dict *d = NULL;
        rc = ud_open(&o, &d);
        ud_close(d);
    } else {
        fprintf(stderr, "sec_probe: unknown call %s\n", argv[1]);
        return 2;
    }
    printf("%s\n", ud_errname(rc));
    return 0;
}
