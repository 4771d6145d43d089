/*
 * customers.c - layer 5: who is a customer, and relay control.
 * STUB: replaced by the real implementation (trusted networks, rcpthosts,
 * relay-trick-proof address resolution, sender login match).
 */
#include <string.h>

#include "../core/internal.h"

void customers_classify(policy_session *s)
{
    if (policy_session_getvar(s, "RELAYCLIENT")) {
        s->customer = 1;
        s->customer_why = "relayclient";
    } else if (s->authenticated) {
        s->customer = 1;
        s->customer_why = "auth";
    }
}

int customers_addr_is_local(const policy_engine *e, const char *addr)
{
    (void)e;
    (void)addr;
    return 0;
}

const struct layer_desc layer_customers = {
    .name = "customers",
    .default_action = LA_REJECT,
};
