/* test_regex.c - placeholder until the regex module lands. */
#include <CUnit/CUnit.h>

#include "suites.h"

int suite_regex(void)
{
    return 0;
}
