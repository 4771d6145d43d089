/*
 * customers.c - layer 5: who is a customer, and relay control.
 *
 * A client is a customer when RELAYCLIENT is set, it authenticated, or its
 * address is in trusted_networks (or, with trust_unknown_address, the MTA
 * does not know its address): the core works that out for every layer
 * (core/client.c), whatever this layer's action.  Customers may send
 * anywhere; everybody else only to local domains (rcpthosts semantics),
 * judged on the address the mail would really go to after source routes,
 * percent hacks, bang paths and quoted '@' are resolved (support/address.h).  Optionally an
 * authenticated user may only use its own addresses in MAIL FROM.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/layer.h"
#include "../support/address.h"

extern const struct layer_desc layer_customers;

enum sender_login { SL_OFF, SL_ADDRESS, SL_DOMAIN };

/* The layer's own keys; local_domains, morercpthosts, trusted_networks and
 * trust_unknown_address in [customers] are the core's (core/client.c):
 * who is a customer and which domains are ours hold for every layer. */
struct customers_cfg {
    enum sender_login sender_login;
};

static int customers_set(void *cfg, const char *key, const char *v, struct cfg_err *err)
{
    struct customers_cfg *c = cfg;
    if (!strcmp(key, "sender_login")) {
        if (!strcmp(v, "off"))
            c->sender_login = SL_OFF;
        else if (!strcmp(v, "address"))
            c->sender_login = SL_ADDRESS;
        else if (!strcmp(v, "domain"))
            c->sender_login = SL_DOMAIN;
        else
            return cfg_fail(err, "expected off, address or domain, got '%s'", v);
        return 0;
    }
    return CFG_UNKNOWN_KEY;
}

/* relay check at RCPT */
static enum check customers_rcpt(policy_session *s, const void *cfg, struct finding *f)
{
    int st;
    const struct addr *a = session_rcpt_addr(s, &st);
    const char *rcpt = session_txn(s)->rcpt;
    (void)cfg;

    if (st != ADDR_OK) {
        finding_set(f, 553, "5.1.3", "<%s>: Recipient address rejected: %s", rcpt,
                    addr_status_text((enum addr_status)st));
        finding_reason(f, "%s", addr_status_text((enum addr_status)st));
        f->no_delay = 1;
        return CHECK_MATCH;
    }
    if (session_client(s)->customer || client_domain_is_local(s, a->domain))
        return CHECK_NOMATCH;
    finding_set(f, 553, "5.7.1", "<%s>: Relay access denied", rcpt);
    finding_reason(f, "relay to %s denied%s", a->domain,
                   a->routed ? " (sender-specified routing)" : "");
    return CHECK_MATCH;
}

/* sender login match at MAIL, for authenticated clients */
static enum check customers_mail(policy_session *s, const void *cfg, struct finding *f)
{
    const struct customers_cfg *c = cfg;
    const struct client *cl = session_client(s);
    const char *from = session_txn(s)->sender;
    struct addr sender, login;
    int owned;

    if (c->sender_login == SL_OFF || !cl->authenticated || !*from)
        return CHECK_NOMATCH;
    if (addr_parse(from, &sender) != ADDR_OK || sender.routed) {
        owned = 0;
    } else if (strchr(cl->auth_user, '@')) {
        if (addr_parse(cl->auth_user, &login) != ADDR_OK)
            owned = 0;
        else if (c->sender_login == SL_DOMAIN)
            owned = !strcmp(sender.domain, login.domain);
        else
            owned = !strcmp(sender.domain, login.domain) && str_ieq(sender.local, login.local);
    } else { /* a bare login owns its name at every local domain */
        owned = sender.domain[0] && client_domain_is_local(s, sender.domain) &&
                (c->sender_login == SL_DOMAIN || str_ieq(sender.local, cl->auth_user));
    }
    if (owned)
        return CHECK_NOMATCH;
    finding_set(f, 553, "5.7.1", "<%s>: Sender address rejected: not owned by user %s", from,
                cl->auth_user);
    finding_reason(f, "sender not owned by user %s (sender_login=%s)", cl->auth_user,
                   c->sender_login == SL_DOMAIN ? "domain" : "address");
    f->no_delay = 1; /* the customer's own mistake: say so at MAIL */
    return CHECK_MATCH;
}

const struct layer_desc layer_customers = {
    .name = "customers",
    .default_action = LA_REJECT,
    .cfg_size = sizeof(struct customers_cfg),
    .set = customers_set,
    .hooks = {[STAGE_MAIL] = customers_mail, [STAGE_RCPT] = customers_rcpt},
};
