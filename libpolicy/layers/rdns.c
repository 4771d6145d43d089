/*
 * rdns.c - layer 1: reverse DNS.  A client without a PTR record is refused
 * (the classic check); optionally the PTR name must resolve back to the
 * client's address (A for IPv4, AAAA for IPv6), and names that carry the
 * address in them (generic dial-up names) can be refused too.
 *
 * The PTR lookup is the core's (client_ptr: once per session, the name
 * lands in the client facts for later layers and the log); this layer
 * judges it.  A host name the MTA already gave (milter hostname,
 * TCPREMOTEHOST) is taken as the PTR name without asking again; forward
 * confirmation still applies to it.
 * Questions go out at connect; with delay_reject the verdict is collected
 * at the first RCPT, so the lookups run while the client talks.  Every
 * PTR name of the answer counts: the client is confirmed when any of them
 * resolves back to it (resolvers rotate the names, so keeping only the
 * first few would make the verdict a matter of luck).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/layer.h"
#include "../support/dns.h"
#include "../support/hostname.h"

extern const struct layer_desc layer_rdns;

struct rdns_cfg {
    int forward_confirm;
    int reject_generic;
    unsigned long timeout_ms; /* the forward lookups; 0: [general] dns_timeout */
};

struct rdns_state {
    int started;
    struct dns *dns;    /* the resolver the forward questions went to */
    struct dns_q **fwd; /* one question per PTR name, NULL where none could be asked */
    size_t nfwd;
    char fwd_group;     /* its address tags the forward questions */
};

static int rdns_set(void *cfg, const char *key, const char *v, struct cfg_err *err)
{
    struct rdns_cfg *c = cfg;
    if (!strcmp(key, "forward_confirm"))
        return cfg_set_bool(v, &c->forward_confirm, err);
    if (!strcmp(key, "reject_generic"))
        return cfg_set_bool(v, &c->reject_generic, err);
    if (!strcmp(key, "timeout"))
        return cfg_set_dns_timeout(v, &c->timeout_ms, err);
    return CFG_UNKNOWN_KEY;
}

/* start_forward - the PTR names are known: ask for their addresses. */
static void start_forward(policy_session *s, void *arg)
{
    const struct rdns_cfg *c = arg;
    struct rdns_state *st = session_layer_state(s, &layer_rdns);
    const struct client *cl = session_client(s);
    const char *const *names, *why;
    size_t n;
    if (client_ptr_result(s, &names, &n, &why) != DNS_FOUND || !n ||
        !(st->dns = session_dns(s)) || !(st->fwd = calloc(n, sizeof(*st->fwd))))
        return; /* no questions: every name counts as a failed lookup */
    unsigned long t = c->timeout_ms ? c->timeout_ms : session_general(s)->dns_timeout_ms;
    double deadline = dns_now_ms() + (double)t;
    st->nfwd = n;
    for (size_t i = 0; i < n; i++)
        st->fwd[i] = dns_start(st->dns, &st->fwd_group, names[i],
                               cl->family == AF_INET ? DNS_A : DNS_AAAA, 0, deadline, NULL, NULL);
}

static enum check rdns_connect(policy_session *s, const void *cfg, struct finding *f)
{
    const struct rdns_cfg *c = cfg;
    struct rdns_state *st = session_layer_state(s, &layer_rdns);
    const struct client *cl = session_client(s);

    if (cl->ip_unknown)
        return CHECK_NOMATCH; /* no address, no PTR: nothing to check */
    if (!st->started) {
        st->started = 1;
        if (client_ptr(s, c->forward_confirm ? start_forward : NULL, (void *)c) != 0) {
            finding_set(f, 451, "4.7.25",
                        "Client host rejected: cannot look up your reverse hostname now, [%s]",
                        cl->ip);
            finding_reason(f, "no PTR lookup possible");
            session_error(s, &layer_rdns, "dns");
            return CHECK_ERROR;
        }
    }
    if (session_may_defer(s, &layer_rdns, STAGE_CONNECT))
        return CHECK_PENDING;
    client_ptr_wait(s);
    dns_wait(st->dns, &st->fwd_group);

    const char *const *names, *why;
    size_t n;
    int status = client_ptr_result(s, &names, &n, &why);
    if (status != DNS_FOUND && status != DNS_NOTFOUND) {
        finding_set(f, 451, "4.7.25",
                    "Client host rejected: temporary failure looking up your reverse hostname, "
                    "[%s]",
                    cl->ip);
        finding_reason(f, "PTR lookup failed: %s", why ? why : "timeout");
        session_error(s, &layer_rdns, "dns");
        return CHECK_ERROR;
    }
    if (status == DNS_NOTFOUND) {
        finding_set(f, 550, "5.7.25",
                    "Client host rejected: cannot find your reverse hostname, [%s]", cl->ip);
        finding_reason(f, "no PTR record (%s)", why ? why : "no such name");
        return CHECK_MATCH;
    }
    const char *name = names[0];
    if (c->forward_confirm) {
        int errors = 0, confirmed = -1;
        size_t alen = cl->family == AF_INET ? 4 : 16;
        for (size_t i = 0; i < n && confirmed < 0; i++) {
            const struct dns_answer *a =
                i < st->nfwd && st->fwd[i] ? dns_answer_of(st->fwd[i]) : NULL;
            if (!a && !dns_hostname_ok(names[i], strlen(names[i])))
                continue; /* an MTA-given name that is no host name: not confirmed */
            if (!a || a->status == DNS_ERROR || a->status == DNS_PENDING) {
                errors++;
                continue;
            }
            for (size_t k = 0; k < a->n; k++)
                if (!memcmp(a->rr[k].addr, cl->addr, alen))
                    confirmed = (int)i;
        }
        if (confirmed < 0 && errors) {
            finding_set(f, 451, "4.7.25",
                        "Client host rejected: temporary failure confirming your hostname %s, [%s]",
                        name, cl->ip);
            finding_reason(f, "forward lookup of %s failed", name);
            session_error(s, &layer_rdns, "dns");
            return CHECK_ERROR;
        }
        if (confirmed < 0) {
            finding_set(f, 550, "5.7.25", "Client host rejected: cannot find your hostname, [%s]",
                        cl->ip);
            finding_reason(f, "PTR name %s does not resolve to %s", name, cl->ip);
            return CHECK_MATCH;
        }
        name = names[confirmed];
    }
    if (c->reject_generic && (host_generic(name, cl->family, cl->addr) & HOST_IP_IN_NAME)) {
        finding_set(f, 550, "5.7.1",
                    "Client host rejected: your hostname %s looks like a dynamic address, "
                    "send through your provider's mail server, [%s]",
                    name, cl->ip);
        finding_reason(f, "generic PTR name %s", name);
        return CHECK_MATCH;
    }
    return CHECK_NOMATCH;
}

static void rdns_state_free(policy_session *s, void *state)
{
    struct rdns_state *st = state;
    (void)s;
    dns_release_group(st->dns, &st->fwd_group);
    free(st->fwd);
}

const struct layer_desc layer_rdns = {
    .name = "rdns",
    .flags = LAYER_INBOUND | LAYER_OPTIN,
    .default_action = LA_REJECT,
    .cfg_size = sizeof(struct rdns_cfg),
    .set = rdns_set,
    .state_size = sizeof(struct rdns_state),
    .state_free = rdns_state_free,
    .hooks = {[STAGE_CONNECT] = rdns_connect},
};
