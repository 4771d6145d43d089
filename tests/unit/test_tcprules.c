/* test_tcprules.c - placeholder until the tcprules module lands. */
#include <CUnit/CUnit.h>

#include "suites.h"

int suite_tcprules(void)
{
    return 0;
}
