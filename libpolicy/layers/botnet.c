/*
 * botnet.c - layer 4, suspect connections: the greeting delay, the early
 * talker and the pipeliner, and the client's operating system as p0f
 * fingerprints it (OpenEFilter's layer 4: an infected Windows PC that no
 * DNSBL knows yet, often behind a dynamic-looking PTR name).
 *
 * A real MTA waits for the server's 220 greeting before it speaks; much
 * bulk-mail software does not.  An adapter that owns the greeting (the
 * qmail-smtpd glue) asks policy_greeting_delay() how long to hold it back,
 * watches the socket meanwhile, and reports input that arrives before the
 * greeting with policy_early_talker().  The delay follows smtp-delay: none
 * for customers, a short one for clients with a proper name, longer ones
 * for clients without a PTR name or with a generic (dial-up, DSL, cable)
 * one.  An early talker is this layer's MATCH: its action and delay_reject
 * decide what happens, like any other layer's.  So is a client that sends
 * a command before the reply to the last one where PIPELINING was not
 * offered (smtp-delay's antipipelining), reported by policy_pipelining().
 *
 * The greeting delay also honours the fact "greet_delay" (ms), set by a
 * layer that slows a client down ([rate] over_delay).
 *
 * The OS rules (os_reject, os_reject_dynamic, greet_delay_os) read the
 * core's client fact (client_os): p0f is asked at connect and its answer
 * collected with the DNS answers at the first RCPT.  p0f down, slow or
 * not knowing the address gives no verdict, only a log line.  The public
 * calls of the greeting and the connection limits live here, next to
 * their settings.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/layer.h"
#include "../support/hostname.h"
#include "../support/p0f.h"

extern const struct layer_desc layer_botnet;

/* RFC 5321 4.5.3.2.1: a client waits 5 minutes for the greeting. */
#define GREET_DELAY_MAX 120000UL

struct botnet_cfg {
    struct p0f_rules os_reject;         /* refused */
    struct p0f_rules os_reject_dynamic; /* refused with no or a generic PTR name */
    struct p0f_rules greet_delay_os;    /* get greet_delay_dynamic */
    int antipipelining;                /* a command before its reply is an early talker */
    unsigned long delay;         /* ms: a client with a proper name */
    unsigned long delay_unknown; /* ms: no PTR name */
    unsigned long delay_dynamic; /* ms: a generic PTR name */
    int early_drop;              /* refuse an early talker at once */
    unsigned long session_limit; /* ms a connection may last, 0 = no limit */
    unsigned long throttle;      /* bytes per second received, 0 = no limit */
};

/* os_rules_add - "Windows, Mac OS X, Windows:XP" into r. */
static int os_rules_add(struct p0f_rules *r, const char *v, struct cfg_err *err)
{
    int rc = p0f_rules_add(r, v, 0);
    if (rc == -2)
        return cfg_fail(err, "more than %d OS rules", P0F_RULES_MAX);
    if (rc)
        return cfg_fail(err, "expected OS names as p0f writes them, comma separated "
                             "(\"Windows, Mac OS X, Windows:XP\"), got '%s'",
                        v);
    return 0;
}

static int botnet_set(void *cfg, const char *key, const char *v, struct cfg_err *err)
{
    struct botnet_cfg *c = cfg;
    struct p0f_rules *rules = !strcmp(key, "os_reject")           ? &c->os_reject
                             : !strcmp(key, "os_reject_dynamic") ? &c->os_reject_dynamic
                             : !strcmp(key, "greet_delay_os")    ? &c->greet_delay_os
                                                                 : NULL;
    if (rules)
        return os_rules_add(rules, v, err);
    if (!strcmp(key, "antipipelining"))
        return cfg_set_bool(v, &c->antipipelining, err);
    unsigned long *ms = !strcmp(key, "greet_delay")           ? &c->delay
                        : !strcmp(key, "greet_delay_unknown") ? &c->delay_unknown
                        : !strcmp(key, "greet_delay_dynamic") ? &c->delay_dynamic
                                                              : NULL;
    if (ms) {
        if (cfg_parse_duration(v, ms) || *ms > GREET_DELAY_MAX)
            return cfg_fail(err, "expected a duration up to 120s (\"5s\", \"500ms\"), got '%s'", v);
        return 0;
    }
    if (!strcmp(key, "session_limit")) {
        if (cfg_parse_duration(v, &c->session_limit) || c->session_limit > 86400000UL)
            return cfg_fail(err, "expected a duration up to 24h (\"10m\", \"300s\"), got '%s'", v);
        return 0;
    }
    if (!strcmp(key, "throttle"))
        return cfg_parse_uint(v, 1000000000UL, &c->throttle)
                   ? cfg_fail(err, "expected bytes per second, got '%s'", v)
                   : 0;
    if (!strcmp(key, "early_talker_drop"))
        return cfg_set_bool(v, &c->early_drop, err);
    return CFG_UNKNOWN_KEY;
}

static int botnet_load(void *cfg, const policy_engine *e, struct cfg_err *err, const char **key)
{
    const struct botnet_cfg *c = cfg;
    *key = c->os_reject.n           ? "os_reject"
           : c->os_reject_dynamic.n ? "os_reject_dynamic"
           : c->greet_delay_os.n    ? "greet_delay_os"
                                    : NULL;
    if (*key && !engine_general(e)->p0f)
        return cfg_fail(err, "OS rules need p0f: [general] p0f = its API socket (p0f -s)");
    return 0;
}

/* os_text - "Windows 7 or 8" for the log and the reply. */
static void os_text(const struct p0f_answer *a, char *out, size_t len)
{
    snprintf(out, len, "%s%s%s", a->os_name, a->os_flavor[0] ? " " : "", a->os_flavor);
}

/* var_delay - a per-client time from a variable, in ms, at most max: a
 * duration ("500ms", "2m"), or plain seconds as the qmail patches write
 * them (SMTPD_GREETDELAY=5), which the same parser reads.  1 when set and
 * valid. */
static int var_delay(const policy_session *s, const char *name, unsigned long *ms,
                     unsigned long max)
{
    const char *v = policy_session_getvar(s, name);
    if (!v || !*v)
        return 0;
    if (cfg_parse_duration(v, ms)) {
        plog(s, POLICY_LOG_WARNING, "ignored %s=%s: not a duration", name, v);
        return 0;
    }
    if (*ms > max)
        *ms = max;
    return 1;
}

/* greet_delay - the greeting delay for this client in ms; *why says why. */
static unsigned long greet_delay(policy_session *s, const struct botnet_cfg *c, const char **why)
{
    const struct client *cl = session_client(s);
    unsigned long ms;
    unsigned generic;

    if (cl->customer) {
        *why = cl->customer_why ? cl->customer_why : "customer";
        return 0;
    }
    if (var_delay(s, "POLICY_GREETDELAY", &ms, GREET_DELAY_MAX)) {
        *why = "POLICY_GREETDELAY";
        return ms;
    }
    if (var_delay(s, "SMTPD_GREETDELAY", &ms, GREET_DELAY_MAX)) {
        *why = "SMTPD_GREETDELAY";
        return ms;
    }
    if (c->greet_delay_os.n) { /* waits for p0f, never beyond p0f_timeout */
        const struct p0f_answer *a = client_os(s);
        if (a && a->status == P0F_KNOWN && p0f_rules_match(&c->greet_delay_os, a)) {
            *why = "OS in greet_delay_os";
            return c->delay_dynamic;
        }
    }
    if (!cl->host[0] && (c->delay_unknown != c->delay || c->delay_dynamic != c->delay)) {
        /* the MTA did not look the name up (tcpserver -H): the delay depends
         * on it, so ask (the shared lookup, bounded by dns_timeout) */
        if (client_ptr(s, NULL, NULL) == 0)
            client_ptr_wait(s);
    }
    if (!cl->host[0]) {
        *why = "no rDNS name";
        return c->delay_unknown;
    }
    generic = host_generic(cl->host, cl->family, cl->addr);
    if (generic) {
        *why = generic & HOST_IP_IN_NAME ? "IP address in rDNS name" : "dynamic-looking rDNS name";
        return c->delay_dynamic;
    }
    *why = "rDNS name";
    return c->delay;
}

/* cfg_for - the [botnet] configuration when the layer is on for this
 * connected client, else NULL. */
static const struct botnet_cfg *cfg_for(const policy_session *s)
{
    if (!s || !session_open(s) || session_layer_action(s, &layer_botnet) == LA_OFF)
        return NULL;
    return session_layer_cfg(s, &layer_botnet);
}

unsigned long policy_greeting_delay(policy_session *s)
{
    const struct botnet_cfg *c = cfg_for(s);
    const char *why = "";
    if (!c || !session_at_greeting(s))
        return 0;
    unsigned long ms = greet_delay(s, c, &why), slow;
    /* a client over a [rate] connections limit with its over_delay */
    const char *f = session_client(s)->customer ? NULL : session_fact(s, "greet_delay");
    if (f && !cfg_parse_uint(f, GREET_DELAY_MAX, &slow) && slow > ms) {
        ms = slow;
        why = "over a connections limit ([rate] over_delay)";
    }
    if (ms)
        plog(s, POLICY_LOG_INFO, "greeting delay %lums: %s", ms, why);
    return ms;
}

unsigned long policy_session_limit(policy_session *s)
{
    const struct botnet_cfg *c = cfg_for(s);
    unsigned long ms;
    if (!c)
        return 0;
    if (var_delay(s, "POLICY_SESSION_LIMIT", &ms, 86400000UL))
        return (ms + 999) / 1000;
    return session_client(s)->customer ? 0 : (c->session_limit + 999) / 1000;
}

unsigned long policy_receive_throttle(policy_session *s)
{
    const struct botnet_cfg *c = cfg_for(s);
    if (!c)
        return 0;
    const char *v = policy_session_getvar(s, "POLICY_THROTTLE");
    unsigned long n;
    if (v && *v) {
        if (!cfg_parse_uint(v, 1000000000UL, &n))
            return n;
        plog(s, POLICY_LOG_WARNING, "ignored POLICY_THROTTLE=%s: not bytes per second", v);
    }
    return session_client(s)->customer ? 0 : c->throttle;
}

policy_action policy_early_talker(policy_session *s)
{
    if (!s)
        return POLICY_TEMPFAIL;
    return session_early_talker(s, &layer_botnet);
}

policy_action policy_pipelining(policy_session *s)
{
    if (!s)
        return POLICY_TEMPFAIL;
    return session_pipelined(s, &layer_botnet);
}

/* os_check - the OS rules, on p0f's answer (and the PTR name). */
static enum check os_check(policy_session *s, const struct botnet_cfg *c, struct finding *f)
{
    const struct client *cl = session_client(s);
    const struct p0f_answer *a = client_os(s);
    const struct p0f_rule *r;
    char os[2 * P0F_STR_LEN + 1];
    if (!a || a->status != P0F_KNOWN)
        return CHECK_NOMATCH; /* no verdict from p0f: client_os logged why */
    os_text(a, os, sizeof(os));
    if ((r = p0f_rules_match(&c->os_reject, a)) != NULL) {
        finding_set(f, 550, "5.7.1",
                    "Service unavailable; client host [%s] looks like an end-user PC (%s), "
                    "send through your provider's mail server",
                    cl->ip, a->os_name);
        finding_reason(f, "p0f: OS %s matches os_reject %s%s%s", os, r->genre,
                       r->flavor[0] ? ":" : "", r->flavor);
        return CHECK_MATCH;
    }
    if ((r = p0f_rules_match(&c->os_reject_dynamic, a)) != NULL) {
        client_ptr_wait(s);
        unsigned generic = cl->host[0] ? host_generic(cl->host, cl->family, cl->addr) : 0;
        if (cl->host[0] && !generic)
            return CHECK_NOMATCH; /* a proper server name: a server that runs it */
        finding_set(f, 550, "5.7.1",
                    "Service unavailable; client host [%s] looks like an infected PC (%s, %s), "
                    "send through your provider's mail server",
                    cl->ip, a->os_name, cl->host[0] ? "dynamic-looking name" : "no rDNS name");
        finding_reason(f, "p0f: OS %s with %s (os_reject_dynamic %s%s%s)", os,
                       cl->host[0] ? "a dynamic-looking rDNS name" : "no rDNS name", r->genre,
                       r->flavor[0] ? ":" : "", r->flavor);
        return CHECK_MATCH;
    }
    return CHECK_NOMATCH;
}

static enum check botnet_connect(policy_session *s, const void *cfg, struct finding *f)
{
    const struct botnet_cfg *c = cfg;
    const struct client *cl = session_client(s);
    const char *drop = policy_session_getvar(s, "DROP_PRE_GREET");
    int dropping = c->early_drop || (drop && *drop && strcmp(drop, "0") != 0);

    if (cl->early_talker) {
        finding_set(f, 550, "5.5.1", "protocol error: talked before the greeting");
        finding_reason(f, "early talker");
        f->no_delay = dropping;
        return CHECK_MATCH;
    }
    if (cl->pipelined && c->antipipelining) {
        finding_set(f, 550, "5.5.1", "protocol error: command sent before the reply");
        finding_reason(f, "pipelining without PIPELINING");
        /* once recipients are accepted no RCPT is left to refuse it at
         * (the client sent DATA and its message in one go): close now */
        f->no_delay = f->disconnect = dropping || session_txn(s)->nrcpts > 0;
        return CHECK_MATCH;
    }
    if (!c->os_reject.n && !c->os_reject_dynamic.n)
        return CHECK_NOMATCH;
    if (c->os_reject_dynamic.n && !cl->host[0])
        (void)client_ptr(s, NULL, NULL); /* asked beside p0f, read at RCPT */
    if (session_may_defer(s, &layer_botnet, STAGE_CONNECT))
        return CHECK_PENDING; /* p0f's answer comes with the others */
    return os_check(s, c, f);
}

/* The connect hook has work at connect when OS rules are configured;
 * otherwise only when an adapter reports an early talker or a pipeliner,
 * which no stage call does: a milter need not ask for anything on its
 * account. */
static unsigned botnet_stages(const void *cfg)
{
    const struct botnet_cfg *c = cfg;
    return c->os_reject.n || c->os_reject_dynamic.n ? 1u << STAGE_CONNECT : 0;
}

static const char *const botnet_vars[] = {"SMTPD_GREETDELAY", "DROP_PRE_GREET", NULL};
static const char *const botnet_lists[] = {"os_reject", "os_reject_dynamic", "greet_delay_os",
                                           NULL};

const struct layer_desc layer_botnet = {
    .name = "botnet",
    .vars = botnet_vars,
    .list_keys = botnet_lists,
    .load = botnet_load,
    .flags = LAYER_INBOUND,
    .default_action = LA_REJECT,
    .cfg_size = sizeof(struct botnet_cfg),
    .set = botnet_set,
    .stages = botnet_stages,
    .hooks = {[STAGE_CONNECT] = botnet_connect},
};
