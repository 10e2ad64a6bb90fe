/*
 * ud_errgen.h - the one generator of error codes, names and messages for every module of the
 * project (UD_ in ultradict.h, KV_ in kv.h, RP_ in rp.h, SC_ in scenarios/).
 *
 * A module lists its codes once, as X-macro entries XX(NAME, VALUE, "message"), with NAME the
 * full name of the code (UD_ENOTFOUND) and VALUE negative and below -1000 in the module's own
 * range of a thousand; 0 is success and -errno stands for a failure of the operating system.
 * From that list:
 *
 *     #define KV_ERRNO_MAP(XX) XX(KV_ENOTFOUND, -2001, "key not found") ...
 *     UD_ERRGEN_ENUM(KV_ERRNO_MAP);                                   (in the public header)
 *     UD_ERRGEN_FUNCTIONS(KV_ERRNO_MAP, kv_strerror, kv_errname)      (in one .c file)
 *
 * makes the enum, `const char *kv_strerror(int rc)` (the message; "success" for 0, the C
 * library's text for -errno, "unknown error" otherwise) and `const char *kv_errname(int rc)`
 * (the name: "KV_ENOTFOUND", "OK" for 0, "ENOMEM" for -ENOMEM, "UNKNOWN" otherwise). Both return
 * static strings and never NULL, and are thread-safe. Two codes with one value do not compile
 * (duplicate case labels). The .c file that expands UD_ERRGEN_FUNCTIONS must be compiled with
 * _GNU_SOURCE and include <string.h> (strerrordesc_np, strerrorname_np: glibc 2.32 or newer).
 */
#ifndef UD_ERRGEN_H
#define UD_ERRGEN_H

#define UD_ERRGEN__ENUM(name, value, msg) name = (value),
#define UD_ERRGEN__MSG(name, value, msg)                                                           \
    case (value):                                                                                  \
        return (msg);
#define UD_ERRGEN__NAME(name, value, msg)                                                          \
    case (value):                                                                                  \
        return #name;

/* The enum of a module's codes. */
#define UD_ERRGEN_ENUM(MAP) enum { MAP(UD_ERRGEN__ENUM) }

/* One function of the pair: the text of 0, each code's text by ENTRY, the C library's by
 * os_fn for -errno, else `unknown`. */
#define UD_ERRGEN__FUNCTION(MAP, fn, ENTRY, zero, os_fn, unknown)                                  \
    const char *fn(int rc) {                                                                       \
        switch (rc) {                                                                              \
        case 0:                                                                                    \
            return (zero);                                                                         \
            MAP(ENTRY)                                                                             \
        default:                                                                                   \
            break;                                                                                 \
        }                                                                                          \
        const char *os = rc < 0 && rc > -1000 ? os_fn(-rc) : NULL;                                 \
        return os ? os : (unknown);                                                                \
    }

/* The definitions of the module's message and name functions. */
#define UD_ERRGEN_FUNCTIONS(MAP, strerror_fn, errname_fn)                                          \
    UD_ERRGEN__FUNCTION(MAP, strerror_fn, UD_ERRGEN__MSG, "success", strerrordesc_np,              \
                        "unknown error")                                                           \
    UD_ERRGEN__FUNCTION(MAP, errname_fn, UD_ERRGEN__NAME, "OK", strerrorname_np, "UNKNOWN")

#endif
