/*
 * ut_cmocka.h - the main() of a cmocka test file, for every test folder of the project (it needs
 * only cmocka; testutil.h builds UT_MAIN on it).
 *
 * UT_CMOCKA_MAIN(setup, teardown, rows...) runs the cmocka rows given (cmocka_unit_test(fn),
 * ...) as one group with the group setup and teardown given (NULL for none).
 */
#ifndef UD_UT_CMOCKA_H
#define UD_UT_CMOCKA_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#define UT_CMOCKA_MAIN(setup, teardown, ...)                                                       \
    int main(void) {                                                                               \
        const struct CMUnitTest tests[] = {__VA_ARGS__};                                           \
        return cmocka_run_group_tests(tests, setup, teardown);                                     \
    }

#endif /* UD_UT_CMOCKA_H */
