/*
 * rate.c - rate limits, SpamThrottle's idea for every MTA: connections,
 * messages and recipients per client address (and per /24 or /64) in a
 * time window for clients that are not customers, and outbound messages
 * and recipients per authenticated user (or per RELAYCLIENT address) for
 * customers, so that a stolen password cannot send a million mails.
 *
 * Counters live in the state store (LMDB shared by every process of a
 * host, or Redis shared by every MX): each count is one atomic increment
 * that returns the new value, so fifty processes counting at once let
 * exactly the limit through.  A window is fixed: it starts with its first
 * count and ends after its period.  Over a limit: 451 4.7.1 (421 when a
 * connection is refused at once), or with over_delay a client over a
 * connections limit is slowed down instead: the fact "greet_delay", which
 * [botnet]'s greeting delay honours; a store that does not answer is this
 * layer's ERROR (on_error).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/layer.h"
#include "../support/store.h"

extern const struct layer_desc layer_rate;

#define RATE_PERIOD_MAX (366UL * 86400) /* a window of at most a year */

/* The limits, in the order they are checked; each a key, a variable that
 * sets it for one client (tcp.smtp), and what it counts. */
enum {
    L_CONN,      /* connections per client address */
    L_NET_CONN,  /* ... per client network */
    L_MSG,       /* messages (transactions with a RCPT) per client address */
    L_NET_MSG,   /* ... per client network */
    L_RCPT,      /* recipients per client address */
    L_AUTH_MSG,  /* outbound messages per user (or customer address) */
    L_AUTH_RCPT, /* outbound recipients per user */
    L_COUNT
};

static const struct {
    const char *key, *var, *what, *whose;
    char suffix;
    int outbound, net, message;
} lim_info[L_COUNT] = {
    [L_CONN] = {"connections", "POLICY_RATE_CONNECTIONS", "connections", "your address", 'c', 0, 0, 0},
    [L_NET_CONN] = {"net_connections", "POLICY_RATE_NET_CONNECTIONS", "connections",
                    "your network", 'c', 0, 1, 0},
    [L_MSG] = {"messages", "POLICY_RATE_MESSAGES", "messages", "your address", 'm', 0, 0, 1},
    [L_NET_MSG] = {"net_messages", "POLICY_RATE_NET_MESSAGES", "messages", "your network", 'm', 0,
                   1, 1},
    [L_RCPT] = {"recipients", "POLICY_RATE_RECIPIENTS", "recipients", "your address", 'r', 0, 0, 0},
    [L_AUTH_MSG] = {"auth_messages", "POLICY_RATE_AUTH_MESSAGES", "messages", NULL, 'm', 1, 0, 1},
    [L_AUTH_RCPT] = {"auth_recipients", "POLICY_RATE_AUTH_RECIPIENTS", "recipients", NULL, 'r', 1,
                     0, 0},
};

struct limit {
    unsigned long count;  /* 0: no limit */
    unsigned long period; /* seconds */
};

#define RATE_DELAY_MAX 120000UL /* ms: a client waits 5 minutes for the greeting */

struct rate_cfg {
    struct limit lim[L_COUNT];
    unsigned long over_delay; /* ms: over a connections limit, greet late instead (0: refuse) */
    unsigned long prefix4, prefix6;
    struct store *own; /* store = in the section */
    struct store *st;  /* the store counted in: own, or [general] store */
};

struct rate_state {
    struct store_batch *b; /* the stage's batch: results until the stage ends */
    int idx[L_COUNT];      /* the operation of each limit counted this stage, -1 none */
    struct limit eff[L_COUNT];
    char who[POLICY_USER_MAX + 16]; /* outbound: whose limit ("user alice", "address 192.0.2.1") */
    char in[80], net[96];            /* the client's keys: "i/IP", "i/NET/PREFIX" ("": not yet) */
    /* the transaction */
    int msg_counted; /* its message was counted (at its first RCPT) */
    int msg_over;    /* ... and was over a limit: every RCPT of it is refused */
    int over_kind;
    int64_t over_value;
};

/* ------------------------------------------------------------ configuration */

/* limit_parse - "100/1h", "30/60s", "0" (none) into *l; -1 when it is not. */
static int limit_parse(const char *v, struct limit *l)
{
    char num[24];
    const char *slash = strchr(v, '/');
    size_t n = slash ? (size_t)(slash - v) : strlen(v);
    unsigned long count, period = 0;
    if (n == 0 || n >= sizeof(num))
        return -1;
    memcpy(num, v, n);
    num[n] = '\0';
    if (cfg_parse_uint(num, 100000000UL, &count) != 0)
        return -1;
    if (!slash) {
        if (count != 0)
            return -1; /* a count needs its window */
    } else if (cfg_parse_seconds(slash + 1, RATE_PERIOD_MAX, &period) != 0 || period == 0) {
        return -1;
    }
    l->count = count;
    l->period = count ? period : 0;
    return 0;
}

static void rate_defaults(void *cfg)
{
    struct rate_cfg *c = cfg;
    c->lim[L_CONN] = (struct limit){100, 60};
    c->lim[L_MSG] = (struct limit){500, 3600};
    c->lim[L_AUTH_MSG] = (struct limit){500, 3600};
    c->lim[L_AUTH_RCPT] = (struct limit){2000, 3600};
    c->prefix4 = 24;
    c->prefix6 = 64;
}

static int rate_set(void *cfg, const char *key, const char *v, struct cfg_err *err)
{
    struct rate_cfg *c = cfg;
    for (int k = 0; k < L_COUNT; k++)
        if (!strcmp(key, lim_info[k].key))
            return limit_parse(v, &c->lim[k])
                       ? cfg_fail(err, "expected COUNT/PERIOD (\"100/1h\", \"30/1m\") or 0, got '%s'",
                                  v)
                       : 0;
    if (!strcmp(key, "over_delay"))
        return cfg_parse_duration(v, &c->over_delay) || c->over_delay > RATE_DELAY_MAX
                   ? cfg_fail(err, "expected a duration up to 120s (\"10s\", \"500ms\"), got '%s'",
                              v)
                   : 0;
    if (!strcmp(key, "net_prefix4"))
        return cfg_parse_uint(v, 32, &c->prefix4) || c->prefix4 < 8
                   ? cfg_fail(err, "expected a prefix length from 8 to 32, got '%s'", v)
                   : 0;
    if (!strcmp(key, "net_prefix6"))
        return cfg_parse_uint(v, 128, &c->prefix6) || c->prefix6 < 16
                   ? cfg_fail(err, "expected a prefix length from 16 to 128, got '%s'", v)
                   : 0;
    if (!strcmp(key, "store"))
        return layer_store_open(v, &c->own, err);
    return CFG_UNKNOWN_KEY;
}

static int rate_load(void *cfg, const policy_engine *e, struct cfg_err *err, const char **key)
{
    struct rate_cfg *c = cfg;
    c->st = layer_store(e, c->own);
    if (!c->st && engine_layer_configured(e, &layer_rate)) {
        *key = "store";
        return cfg_fail(err, "rate limits need a store: [general] store or store = here");
    }
    return 0;
}

static void rate_free(void *cfg)
{
    struct rate_cfg *c = cfg;
    store_close(c->own);
}

static struct store *rate_store_of(const void *cfg)
{
    return ((const struct rate_cfg *)cfg)->st;
}

/* ------------------------------------------------------------ counting */

static struct rate_state *state_of(policy_session *s)
{
    return session_layer_state(s, &layer_rate);
}

static void rate_txn_reset(void *state)
{
    struct rate_state *st = state;
    st->msg_counted = st->msg_over = 0;
}

/* effective - the limit k for this client: its variable, else the file. */
static struct limit effective(policy_session *s, const struct rate_cfg *c, int k)
{
    struct limit l = c->lim[k];
    const char *v = policy_session_getvar(s, lim_info[k].var);
    if (v && *v && limit_parse(v, &l) != 0) {
        plog(s, POLICY_LOG_WARNING, "ignored %s=%s: not COUNT/PERIOD", lim_info[k].var, v);
        l = c->lim[k];
    }
    return l;
}

/* count - queue one increment of limit k under "base/suffix" (keys of one
 * client sort together, so one transaction touches few pages). */
static void count(struct rate_state *st, struct store_batch *b, int k, const char *base)
{
    char key[STORE_KEY_MAX + 1];
    size_t n = strlen(base);
    if (!st->eff[k].count || n + 2 > STORE_KEY_MAX)
        return;
    memcpy(key, base, n);
    key[n] = '/';
    key[n + 1] = lim_info[k].suffix;
    st->idx[k] = store_incr(b, key, n + 2, 1, (unsigned)st->eff[k].period);
}

/* client_keys - the client's key bases, made once per session (the
 * network only when a network limit needs it). */
static void client_keys(struct rate_state *st, const struct rate_cfg *c, const struct client *cl)
{
    if (!st->in[0])
        snprintf(st->in, sizeof(st->in), "i/%s", cl->ip);
    if (!st->net[0] && (st->eff[L_NET_CONN].count || st->eff[L_NET_MSG].count)) {
        char net[80];
        client_net(cl, (unsigned)c->prefix4, (unsigned)c->prefix6, net, sizeof(net));
        snprintf(st->net, sizeof(st->net), "i/%s", net);
    }
}

static void rate_queue(policy_session *s, const void *cfg, enum stage stg, struct store_batch *b)
{
    const struct rate_cfg *c = cfg;
    struct rate_state *st = state_of(s);
    const struct client *cl = session_client(s);
    char base[POLICY_USER_MAX + 80];
    for (int k = 0; k < L_COUNT; k++) {
        st->idx[k] = -1;
        st->eff[k] = effective(s, c, k);
    }
    st->b = b;
    if (!b || (!cl->ip_valid && !cl->authenticated))
        return; /* no store (the hook says so), or nobody to count */
    if (cl->ip_valid)
        client_keys(st, c, cl);
    if (stg == STAGE_CONNECT) {
        if (cl->customer)
            return; /* RELAYCLIENT or trusted: outbound limits count messages */
        count(st, b, L_CONN, st->in);
        count(st, b, L_NET_CONN, st->net);
        return;
    }
    int first = !st->msg_counted;
    st->msg_counted = 1;
    if (cl->customer) {
        if (cl->authenticated) { /* the user, wherever it sends from */
            snprintf(base, sizeof(base), "u/%s", cl->auth_user);
            snprintf(st->who, sizeof(st->who), "user %s", cl->auth_user);
        } else {
            snprintf(base, sizeof(base), "o/%s", cl->ip);
            snprintf(st->who, sizeof(st->who), "address %s", cl->ip);
        }
        if (first)
            count(st, b, L_AUTH_MSG, base);
        count(st, b, L_AUTH_RCPT, base);
        return;
    }
    if (!cl->ip_valid)
        return;
    if (first) {
        count(st, b, L_MSG, st->in);
        count(st, b, L_NET_MSG, st->net);
    }
    count(st, b, L_RCPT, st->in);
}

/* period_text - "1h", "30m", "2d", "90s". */
static void period_text(unsigned long p, char *out, size_t len)
{
    if (p % 86400 == 0)
        snprintf(out, len, "%lud", p / 86400);
    else if (p % 3600 == 0)
        snprintf(out, len, "%luh", p / 3600);
    else if (p % 60 == 0)
        snprintf(out, len, "%lum", p / 60);
    else
        snprintf(out, len, "%lus", p);
}

/* over - the finding for limit k exceeded (value counted so far). */
static enum check over(policy_session *s, struct rate_state *st, int k, int64_t value,
                       struct finding *f)
{
    const struct limit *l = &st->eff[k];
    char per[24];
    period_text(l->period, per, sizeof(per));
    if (lim_info[k].outbound) {
        finding_set(f, 451, "4.7.1", "Sending limit reached: %lu %s in %s, try again later",
                    l->count, lim_info[k].what, per);
        finding_reason(f, "outbound %s limit %lu/%s reached by %s (%lld)", lim_info[k].what,
                       l->count, per, st->who, (long long)value);
        /* loudly: a customer sending this much is usually a stolen password */
        plog(s, POLICY_LOG_WARNING,
             "rate: OUTBOUND LIMIT REACHED by %s: %lld %s in %s (limit %lu) - compromised "
             "account?",
             st->who, (long long)value, lim_info[k].what, per, l->count);
    } else {
        finding_set(f, 451, "4.7.1", "Too many %s from %s, try again later", lim_info[k].what,
                    lim_info[k].whose);
        finding_reason(f, "%s limit %lu/%s reached by %s (%lld)", lim_info[k].key, l->count, per,
                       lim_info[k].net ? "the client's network" : session_client(s)->ip,
                       (long long)value);
        f->customer_exempt = 1; /* a later AUTH lifts it */
    }
    if (lim_info[k].message) {
        st->msg_over = 1;
        st->over_kind = k;
        st->over_value = value;
    }
    return CHECK_MATCH;
}

/* slow_down - SpamThrottle's way for a client over a connections limit:
 * no refusal, its greeting waits over_delay (the fact "greet_delay", which
 * [botnet] applies; adapters that send the greeting do). */
static enum check slow_down(policy_session *s, const struct rate_cfg *c, struct rate_state *st,
                            int k, int64_t value)
{
    char ms[24];
    snprintf(ms, sizeof(ms), "%lu", c->over_delay);
    (void)session_fact_set(s, FACT_CONNECTION, "greet_delay", ms);
    plog(s, POLICY_LOG_INFO, "rate: %s limit %lu reached by %s (%lld): greeting delayed %lums",
         lim_info[k].key, st->eff[k].count,
         lim_info[k].net ? "the client's network" : session_client(s)->ip, (long long)value,
         c->over_delay);
    return CHECK_NOMATCH;
}

/* rate_check - the results of this stage's increments. */
static enum check rate_check(policy_session *s, const void *cfg, struct finding *f)
{
    const struct rate_cfg *c = cfg;
    struct rate_state *st = state_of(s);
    if (st->msg_over && session_txn(s)->sender) /* the message was refused already */
        return over(s, st, st->over_kind, st->over_value, f);
    for (int k = 0; k < L_COUNT; k++) {
        if (st->idx[k] < 0)
            continue;
        const struct store_result *r = store_result(st->b, st->idx[k]);
        if (!r || r->status == STORE_ERROR) {
            finding_set(f, 451, "4.3.0", "temporary failure checking sending limits, try again later");
            finding_reason(f, "rate: store: %s", r && r->why ? r->why : "no answer");
            return CHECK_ERROR;
        }
        if (r->value > (int64_t)st->eff[k].count)
            return c->over_delay && (k == L_CONN || k == L_NET_CONN) &&
                           session_layer_action(s, &layer_rate) != LA_WARN
                       ? slow_down(s, c, st, k, r->value)
                       : over(s, st, k, r->value, f);
    }
    if (!st->b) {
        finding_set(f, 451, "4.3.0", "temporary failure checking sending limits, try again later");
        finding_reason(f, "rate: no connection to the store");
        return CHECK_ERROR;
    }
    return CHECK_NOMATCH;
}

static const char *const rate_vars[] = {"POLICY_RATE_CONNECTIONS", "POLICY_RATE_NET_CONNECTIONS",
                                        "POLICY_RATE_MESSAGES",    "POLICY_RATE_NET_MESSAGES",
                                        "POLICY_RATE_RECIPIENTS",  "POLICY_RATE_AUTH_MESSAGES",
                                        "POLICY_RATE_AUTH_RECIPIENTS", NULL};

const struct layer_desc layer_rate = {
    .name = "rate",
    .vars = rate_vars,
    .flags = LAYER_OPTIN, /* customers too: their limits are the outbound ones */
    .default_action = LA_TEMPFAIL,
    .cfg_size = sizeof(struct rate_cfg),
    .defaults = rate_defaults,
    .set = rate_set,
    .load = rate_load,
    .free = rate_free,
    .state_size = sizeof(struct rate_state),
    .txn_reset = rate_txn_reset,
    .hooks = {[STAGE_CONNECT] = rate_check, [STAGE_RCPT] = rate_check},
    .store_of = rate_store_of,
    .store_queue = rate_queue,
};
