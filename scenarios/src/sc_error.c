/*
 * sc_error.c - the messages and names of the codes that functions of scenarios/ return: their
 * own SC_E* codes, and the codes of the libraries under them, told apart by their ranges.
 */
#include <stdbool.h>
#include <string.h>

#include "sc.h"

/* The SC_E* codes (and 0 and -errno) alone; sc_strerror() and sc_errname() pick by range. */
const char *sc__own_strerror(int rc);
const char *sc__own_errname(int rc);
UD_ERRGEN_FUNCTIONS(SC_ERRNO_MAP, sc__own_strerror, sc__own_errname)

/* The message (name false) or the name of rc, by the library whose range of a thousand it lies
 * in: KV_E* from -2001, RP_E* from -3001, SC_E* from -4001; 0 and -errno here. */
static const char *describe(int rc, bool name) {
    switch (rc <= -1000 && rc > -10000 ? -rc / 1000 : 0) {
    case 2:
        return name ? kv_errname(rc) : kv_strerror(rc);
    case 3:
        return name ? rp_errname(rc) : rp_strerror(rc);
    default:
        return name ? sc__own_errname(rc) : sc__own_strerror(rc);
    }
}

const char *sc_strerror(int rc) {
    return describe(rc, false);
}

const char *sc_errname(int rc) {
    return describe(rc, true);
}
