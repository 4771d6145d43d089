/*
 * rdns.c - layer 1: reverse DNS.  A client without a PTR record is refused
 * (the classic check); optionally the PTR name must resolve back to the
 * client's address (A for IPv4, AAAA for IPv6), and names that carry the
 * address in them (generic dial-up names) can be refused too.
 *
 * The lookup is shared: rdns_client_name() starts it once per session and
 * the name lands in s->host for later layers and the log.  A host name the
 * MTA already gave (milter hostname, TCPREMOTEHOST) is taken as the PTR
 * name without asking again; forward confirmation still applies to it.
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

#include "../core/internal.h"
#include "../support/dns.h"
#include "../support/hostname.h"

struct rdns_cfg {
    int forward_confirm;
    int reject_generic;
    unsigned long timeout_ms; /* 0: [general] dns_timeout */
};

struct rdns_listener {
    void (*fn)(policy_session *s, void *arg);
    void *arg;
};

struct rdns_state {
    /* the client's PTR name, shared with other layers */
    int ptr_started;
    int ptr_status; /* enum dns_status */
    const char *ptr_why;
    const char **names; /* every PTR name: texts of the answer, or given */
    size_t nnames;
    char given[DNS_NAME_MAX + 1]; /* the MTA's name for the client */
    double deadline;
    struct dns_q *ptr_q;
    struct rdns_listener listeners[4];
    size_t nlisteners;
    char ptr_group; /* its address tags the PTR question */
    /* this layer: forward confirmation */
    int fwd_started;
    struct dns_q **fwd; /* one question per name, NULL where none could be asked */
    char fwd_group;
};

static void rdns_defaults(void *cfg)
{
    struct rdns_cfg *c = cfg;
    c->forward_confirm = 0;
    c->reject_generic = 0;
}

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

static struct rdns_state *state_of(policy_session *s)
{
    return session_layer_state(s, &layer_rdns);
}

static const struct rdns_cfg *cfg_of(const policy_session *s)
{
    return engine_layer_cfg(s->e, &layer_rdns);
}

/* ptr_known - the name is known (or known to be missing): tell listeners. */
static void ptr_known(policy_session *s, struct rdns_state *st)
{
    if (st->ptr_status == DNS_FOUND && !*s->host)
        snprintf(s->host, sizeof(s->host), "%s", st->names[0]);
    for (size_t i = 0; i < st->nlisteners; i++)
        st->listeners[i].fn(s, st->listeners[i].arg);
    st->nlisteners = 0;
}

static void on_ptr(struct dns_q *q, void *arg)
{
    policy_session *s = arg;
    struct rdns_state *st = state_of(s);
    const struct dns_answer *a = dns_answer_of(q);
    st->ptr_status = a->status;
    st->ptr_why = a->why;
    /* the texts stay with the question, which is ours until state_free */
    if (a->status == DNS_FOUND && !(st->names = malloc(a->n * sizeof(*st->names)))) {
        st->ptr_status = DNS_ERROR;
        st->ptr_why = "out of memory";
    } else if (a->status == DNS_FOUND) {
        for (size_t i = 0; i < a->n; i++)
            st->names[i] = a->rr[i].text;
        st->nnames = a->n;
    }
    ptr_known(s, st);
}

int rdns_client_name(policy_session *s, void (*fn)(policy_session *s, void *arg), void *arg)
{
    struct rdns_state *st = state_of(s);
    if (!st || !s->ip_valid)
        return -1;
    if (st->ptr_started && st->ptr_status != DNS_PENDING) {
        if (fn)
            fn(s, arg);
        return 0;
    }
    if (fn) {
        if (st->nlisteners >= sizeof(st->listeners) / sizeof(*st->listeners))
            return -1;
        st->listeners[st->nlisteners].fn = fn;
        st->listeners[st->nlisteners].arg = arg;
        st->nlisteners++;
    }
    if (st->ptr_started)
        return 0;
    st->ptr_started = 1;
    const struct rdns_cfg *c = cfg_of(s);
    unsigned long t = c && c->timeout_ms ? c->timeout_ms : s->e->general.dns_timeout_ms;
    st->deadline = dns_now_ms() + (double)t;
    if (*s->host) { /* the MTA knows the name: no question to ask */
        snprintf(st->given, sizeof(st->given), "%s", s->host);
        str_lower(st->given);
        st->names = malloc(sizeof(*st->names));
        st->ptr_status = st->names ? DNS_FOUND : DNS_ERROR;
        st->ptr_why = st->names ? NULL : "out of memory";
        if (st->names) {
            st->names[0] = st->given;
            st->nnames = 1;
        }
        ptr_known(s, st);
        return 0;
    }
    char name[DNS_NAME_MAX + 1];
    struct dns *d = session_dns(s);
    if (!d || dns_reverse_name(s->family, s->addr, NULL, name, sizeof(name)) != 0 ||
        !(st->ptr_q = dns_start(d, &st->ptr_group, name, DNS_PTR, 0, st->deadline, on_ptr, s))) {
        st->ptr_status = DNS_ERROR;
        st->ptr_why = "cannot ask the resolver";
        ptr_known(s, st);
    }
    return 0;
}

void rdns_client_wait(policy_session *s)
{
    struct rdns_state *st = state_of(s);
    if (st && st->ptr_started && st->ptr_status == DNS_PENDING)
        dns_wait(session_dns(s), &st->ptr_group);
}

/* start_forward - the PTR names are known: ask for their addresses. */
static void start_forward(policy_session *s, void *arg)
{
    struct rdns_state *st = state_of(s);
    struct dns *d = session_dns(s);
    (void)arg;
    if (st->ptr_status != DNS_FOUND || !d || !(st->fwd = calloc(st->nnames, sizeof(*st->fwd))))
        return; /* no questions: every name counts as a failed lookup */
    for (size_t i = 0; i < st->nnames; i++)
        st->fwd[i] =
            dns_start(d, &st->fwd_group, st->names[i], s->family == AF_INET ? DNS_A : DNS_AAAA, 0,
                      st->deadline, NULL, NULL);
}

static enum check rdns_connect(policy_session *s, const void *cfg, struct finding *f)
{
    const struct rdns_cfg *c = cfg;
    struct rdns_state *st = state_of(s);

    if (s->ip_unknown)
        return CHECK_NOMATCH; /* no address, no PTR: nothing to check */
    if (!st->fwd_started) {
        st->fwd_started = 1;
        if (rdns_client_name(s, c->forward_confirm ? start_forward : NULL, NULL) != 0) {
            finding_set(f, 451, "4.7.25",
                        "Client host rejected: cannot look up your reverse hostname now, [%s]",
                        s->ip);
            finding_reason(f, "no PTR lookup possible");
            return CHECK_ERROR;
        }
    }
    if (session_may_defer(s, &layer_rdns, STAGE_CONNECT))
        return CHECK_PENDING;
    rdns_client_wait(s);
    dns_wait(session_dns(s), &st->fwd_group);

    if (st->ptr_status != DNS_FOUND && st->ptr_status != DNS_NOTFOUND) {
        finding_set(f, 451, "4.7.25",
                    "Client host rejected: temporary failure looking up your reverse hostname, "
                    "[%s]",
                    s->ip);
        finding_reason(f, "PTR lookup failed: %s", st->ptr_why ? st->ptr_why : "timeout");
        return CHECK_ERROR;
    }
    if (st->ptr_status == DNS_NOTFOUND) {
        finding_set(f, 550, "5.7.25",
                    "Client host rejected: cannot find your reverse hostname, [%s]", s->ip);
        finding_reason(f, "no PTR record (%s)", st->ptr_why ? st->ptr_why : "no such name");
        return CHECK_MATCH;
    }
    const char *name = st->names[0];
    if (c->forward_confirm) {
        int errors = 0, confirmed = -1;
        size_t alen = s->family == AF_INET ? 4 : 16;
        for (size_t i = 0; i < st->nnames && confirmed < 0; i++) {
            const struct dns_answer *a = st->fwd && st->fwd[i] ? dns_answer_of(st->fwd[i]) : NULL;
            if (!a && !dns_hostname_ok(st->names[i], strlen(st->names[i])))
                continue; /* an MTA-given name that is no host name: not confirmed */
            if (!a || a->status == DNS_ERROR || a->status == DNS_PENDING) {
                errors++;
                continue;
            }
            for (size_t k = 0; k < a->n; k++)
                if (!memcmp(a->rr[k].addr, s->addr, alen))
                    confirmed = (int)i;
        }
        if (confirmed < 0 && errors) {
            finding_set(f, 451, "4.7.25",
                        "Client host rejected: temporary failure confirming your hostname %s, [%s]",
                        name, s->ip);
            finding_reason(f, "forward lookup of %s failed", name);
            return CHECK_ERROR;
        }
        if (confirmed < 0) {
            finding_set(f, 550, "5.7.25", "Client host rejected: cannot find your hostname, [%s]",
                        s->ip);
            finding_reason(f, "PTR name %s does not resolve to %s", name, s->ip);
            return CHECK_MATCH;
        }
        name = st->names[confirmed];
    }
    if (c->reject_generic && (host_generic(name, s->family, s->addr) & HOST_IP_IN_NAME)) {
        finding_set(f, 550, "5.7.1",
                    "Client host rejected: your hostname %s looks like a dynamic address, "
                    "send through your provider's mail server, [%s]",
                    name, s->ip);
        finding_reason(f, "generic PTR name %s", name);
        return CHECK_MATCH;
    }
    return CHECK_NOMATCH;
}

static void rdns_state_free(policy_session *s, void *state)
{
    struct rdns_state *st = state;
    dns_release_group(s->dns, &st->ptr_group);
    dns_release_group(s->dns, &st->fwd_group);
    free(st->names);
    free(st->fwd);
}

const struct layer_desc layer_rdns = {
    .name = "rdns",
    .flags = LAYER_INBOUND | LAYER_OPTIN,
    .default_action = LA_REJECT,
    .cfg_size = sizeof(struct rdns_cfg),
    .defaults = rdns_defaults,
    .set = rdns_set,
    .state_size = sizeof(struct rdns_state),
    .state_free = rdns_state_free,
    .hooks = {[STAGE_CONNECT] = rdns_connect},
};
