/*
 * customers.c - layer 5: who is a customer, and relay control.
 *
 * A client is a customer when RELAYCLIENT is set, it authenticated, or its
 * address is in trusted_networks (or, with trust_unknown_address, the MTA
 * does not know its address).  Customers may send anywhere; everybody
 * else only to local domains (rcpthosts semantics), judged on the address
 * the mail would really go to after source routes, percent hacks, bang
 * paths and quoted '@' are resolved (support/address.h).  Optionally an
 * authenticated user may only use its own addresses in MAIL FROM.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/internal.h"
#include "../support/address.h"
#include "../support/domains.h"
#include "../support/netlist.h"

enum sender_login { SL_OFF, SL_ADDRESS, SL_DOMAIN };

struct customers_cfg {
    struct domainset local;
    int local_given; /* local_domains appeared: no built-in defaults */
    char *morercpthosts;
    struct netlist trusted;
    int trusted_given;
    int trust_unknown; /* a client whose address the MTA does not know is a customer */
    enum sender_login sender_login;
};

static void customers_defaults(void *cfg)
{
    struct customers_cfg *c = cfg;
    domainset_init(&c->local);
}

static int customers_set(void *cfg, const char *key, const char *v, struct cfg_err *err)
{
    struct customers_cfg *c = cfg;
    char bad[256] = "";

    if (!strcmp(key, "local_domains")) { /* repeated or continued: more of them */
        c->local_given = 1;
        if (v[0] == '/') {
            if (domainset_add_file(&c->local, v, bad, sizeof(bad)))
                return cfg_fail(err, "%s", bad);
            return 0;
        }
        if (domainset_add_words(&c->local, v, bad, sizeof(bad)))
            return cfg_fail(err, "not a domain: %s", bad);
        return 0;
    }
    if (!strcmp(key, "morercpthosts")) {
        if (domainset_open_cdb(&c->local, v, bad, sizeof(bad)))
            return cfg_fail(err, "%s", bad);
        c->morercpthosts = strdup(v);
        return c->morercpthosts ? 0 : cfg_fail(err, "out of memory");
    }
    if (!strcmp(key, "trusted_networks")) {
        c->trusted_given = 1;
        if (netlist_add_words(&c->trusted, v, bad, sizeof(bad)))
            return cfg_fail(err, "not a network (address or address/prefix with no host bits): %s",
                            bad);
        return 0;
    }
    if (!strcmp(key, "trust_unknown_address"))
        return cfg_set_bool(v, &c->trust_unknown, err);
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

/* customers_load - the defaults that depend on the engine: localhost and
 * this host's name are local, loopback is trusted (Postfix's choices). */
static int customers_load(void *cfg, const policy_engine *e, struct cfg_err *err, const char **key)
{
    struct customers_cfg *c = cfg;
    if (!c->local_given) {
        *key = "local_domains";
        if (domainset_add(&c->local, "localhost", 9) ||
            domainset_add(&c->local, e->general.hostname, strlen(e->general.hostname)))
            return cfg_fail(err, "cannot add the default local domains");
    }
    if (!c->trusted_given && netlist_add_words(&c->trusted, "127.0.0.0/8 ::1/128", NULL, 0)) {
        *key = "trusted_networks";
        return cfg_fail(err, "out of memory");
    }
    return 0;
}

static void customers_free(void *cfg)
{
    struct customers_cfg *c = cfg;
    domainset_free(&c->local);
    netlist_clear(&c->trusted);
    free(c->morercpthosts);
}

static const struct customers_cfg *cfg_of(const policy_engine *e)
{
    return engine_layer_cfg(e, &layer_customers);
}

void customers_classify(policy_session *s)
{
    const struct customers_cfg *c = cfg_of(s->e);
    if (s->customer)
        return;
    if (policy_session_getvar(s, "RELAYCLIENT")) {
        s->customer = 1;
        s->customer_why = "relayclient";
    } else if (s->authenticated) {
        s->customer = 1;
        s->customer_why = "auth";
    } else if (s->ip_valid && netlist_match(&c->trusted, s->family, s->addr)) {
        s->customer = 1;
        s->customer_why = "trusted";
    } else if (s->ip_unknown && c->trust_unknown) {
        s->customer = 1;
        s->customer_why = "unknown address trusted";
    }
}

/* is_local - "" (no domain: qmail's envnoathost) or a listed domain. */
static int is_local(const struct customers_cfg *c, const struct addr *a)
{
    return a->domain[0] == '\0' || domainset_match(&c->local, a->domain);
}

int customers_domain_is_local(const policy_engine *e, const char *domain)
{
    return domain[0] == '\0' || domainset_match(&cfg_of(e)->local, domain);
}

int customers_rcpt_is_local(policy_session *s)
{
    int st;
    const struct addr *a = session_rcpt_addr(s, &st);
    return st == ADDR_OK && is_local(cfg_of(s->e), a);
}

/* relay check at RCPT */
static enum check customers_rcpt(policy_session *s, const void *cfg, struct finding *f)
{
    const struct customers_cfg *c = cfg;
    int st;
    const struct addr *a = session_rcpt_addr(s, &st);

    if (st != ADDR_OK) {
        finding_set(f, 553, "5.1.3", "<%s>: Recipient address rejected: %s", s->rcpt,
                    addr_status_text((enum addr_status)st));
        finding_reason(f, "%s", addr_status_text((enum addr_status)st));
        f->no_delay = 1;
        return CHECK_MATCH;
    }
    if (s->customer || is_local(c, a))
        return CHECK_NOMATCH;
    finding_set(f, 553, "5.7.1", "<%s>: Relay access denied", s->rcpt);
    finding_reason(f, "relay to %s denied%s", a->domain,
                   a->routed ? " (sender-specified routing)" : "");
    return CHECK_MATCH;
}

/* sender login match at MAIL, for authenticated clients */
static enum check customers_mail(policy_session *s, const void *cfg, struct finding *f)
{
    const struct customers_cfg *c = cfg;
    struct addr sender, login;
    int owned;

    if (c->sender_login == SL_OFF || !s->authenticated || !*s->sender)
        return CHECK_NOMATCH;
    if (addr_parse(s->sender, &sender) != ADDR_OK || sender.routed) {
        owned = 0;
    } else if (strchr(s->auth_user, '@')) {
        if (addr_parse(s->auth_user, &login) != ADDR_OK)
            owned = 0;
        else if (c->sender_login == SL_DOMAIN)
            owned = !strcmp(sender.domain, login.domain);
        else
            owned = !strcmp(sender.domain, login.domain) && str_ieq(sender.local, login.local);
    } else { /* a bare login owns its name at every local domain */
        owned = sender.domain[0] && domainset_match(&c->local, sender.domain) &&
                (c->sender_login == SL_DOMAIN || str_ieq(sender.local, s->auth_user));
    }
    if (owned)
        return CHECK_NOMATCH;
    finding_set(f, 553, "5.7.1", "<%s>: Sender address rejected: not owned by user %s", s->sender,
                s->auth_user);
    finding_reason(f, "sender not owned by user %s (sender_login=%s)", s->auth_user,
                   c->sender_login == SL_DOMAIN ? "domain" : "address");
    f->no_delay = 1; /* the customer's own mistake: say so at MAIL */
    return CHECK_MATCH;
}

static const char *const customers_list_keys[] = {"local_domains", "trusted_networks", NULL};

const struct layer_desc layer_customers = {
    .name = "customers",
    .list_keys = customers_list_keys,
    .default_action = LA_REJECT,
    .cfg_size = sizeof(struct customers_cfg),
    .defaults = customers_defaults,
    .set = customers_set,
    .load = customers_load,
    .free = customers_free,
    .hooks = {[STAGE_MAIL] = customers_mail, [STAGE_RCPT] = customers_rcpt},
};
