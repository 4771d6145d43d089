/* test_address.c - placeholder until the address module lands. */
#include <CUnit/CUnit.h>

#include "suites.h"

int suite_address(void)
{
    return 0;
}
