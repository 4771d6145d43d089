#include <CUnit/CUnit.h>
#include "suites.h"
int suite_util(void) { return 0; }
