/*
 * run_unit.c - the CUnit runner: registers every suite, runs them, prints
 * CUnit's summary and exits non-zero when anything failed (CUnit's own
 * return value does not say).  An argument narrows the run to one suite.
 */
#include <CUnit/Basic.h>
#include <stdio.h>
#include <string.h>

#include "suites.h"

static const struct {
    const char *name;
    int (*add)(void);
} suites[] = {
    {"util", suite_util},
    {"engine", suite_engine},
    {"session", suite_session},
    {"address", suite_address},
    {"customers", suite_customers},
    {"regex", suite_regex},
    {"tcprules", suite_tcprules},
    {"recipients", suite_recipients},
    {"botnet", suite_botnet},
    {"dns", suite_dns},
    {"mime", suite_mime},
    {"spam", suite_spam},
    {"files", suite_files},
    {"message", suite_message},
    {"store", suite_store},
    {"p0f", suite_p0f},
    {"scanners", suite_scanners},
    {"metrics", suite_metrics},
};

int main(int argc, char **argv)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    for (size_t i = 0; i < sizeof(suites) / sizeof(*suites); i++) {
        if (argc > 1 && strcmp(argv[1], suites[i].name) != 0)
            continue;
        if (suites[i].add() != 0) {
            fprintf(stderr, "cannot register suite %s: %s\n", suites[i].name, CU_get_error_msg());
            CU_cleanup_registry();
            return 2;
        }
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    unsigned ran = CU_get_number_of_tests_run();
    CU_cleanup_registry();
    if (ran == 0) {
        fprintf(stderr, "no test ran\n");
        return 1;
    }
    return failed ? 1 : 0;
}
