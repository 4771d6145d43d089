/*
 * botnet.c - layer 4, suspect connections: the greeting delay and the
 * early talker.
 *
 * A real MTA waits for the server's 220 greeting before it speaks; much
 * bulk-mail software does not.  An adapter that owns the greeting (the
 * qmail-smtpd glue) asks policy_greeting_delay() how long to hold it back,
 * watches the socket meanwhile, and reports input that arrives before the
 * greeting with policy_early_talker().  The delay follows smtp-delay: none
 * for customers, a short one for clients with a proper name, longer ones
 * for clients without a PTR name or with a generic (dial-up, DSL, cable)
 * one.  An early talker is this layer's MATCH: its action and delay_reject
 * decide what happens, like any other layer's.  The public calls of the
 * greeting and the connection limits live here, next to their settings.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/layer.h"
#include "../support/hostname.h"

extern const struct layer_desc layer_botnet;

/* RFC 5321 4.5.3.2.1: a client waits 5 minutes for the greeting. */
#define GREET_DELAY_MAX 120000UL

struct botnet_cfg {
    unsigned long delay;         /* ms: a client with a proper name */
    unsigned long delay_unknown; /* ms: no PTR name */
    unsigned long delay_dynamic; /* ms: a generic PTR name */
    int early_drop;              /* refuse an early talker at once */
    unsigned long session_limit; /* ms a connection may last, 0 = no limit */
    unsigned long throttle;      /* bytes per second received, 0 = no limit */
};

static int botnet_set(void *cfg, const char *key, const char *v, struct cfg_err *err)
{
    struct botnet_cfg *c = cfg;
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
    unsigned long ms = greet_delay(s, c, &why);
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

static enum check botnet_connect(policy_session *s, const void *cfg, struct finding *f)
{
    const struct botnet_cfg *c = cfg;
    const char *drop = policy_session_getvar(s, "DROP_PRE_GREET");

    if (!session_client(s)->early_talker)
        return CHECK_NOMATCH;
    finding_set(f, 550, "5.5.1", "protocol error: talked before the greeting");
    finding_reason(f, "early talker");
    f->no_delay = c->early_drop || (drop && *drop && strcmp(drop, "0") != 0);
    return CHECK_MATCH;
}

/* The connect hook only has work when an adapter reports an early talker,
 * which no stage call does: a milter need not ask for anything on its
 * account. */
static unsigned botnet_stages(const void *cfg)
{
    (void)cfg;
    return 0;
}

static const char *const botnet_vars[] = {"SMTPD_GREETDELAY", "DROP_PRE_GREET", NULL};

const struct layer_desc layer_botnet = {
    .name = "botnet",
    .vars = botnet_vars,
    .flags = LAYER_INBOUND,
    .default_action = LA_REJECT,
    .cfg_size = sizeof(struct botnet_cfg),
    .set = botnet_set,
    .stages = botnet_stages,
    .hooks = {[STAGE_CONNECT] = botnet_connect},
};
