/* policyctl.c - placeholder until the command line lands. */
#include <stdio.h>
#include <libpolicy/policy.h>

int main(void)
{
    printf("policyctl (libpolicy %s)\n", policy_version());
    return 64;
}
