/*
 * greylist.c - greylisting at RCPT, postgrey's rules: the first attempt of
 * a triplet (client network, sender, recipient) is deferred with 451 4.7.1
 * saying when to retry; a retry after the delay and within the retry
 * window passes, and the triplet then passes for its lifetime after its
 * last delivery; a client whose triplets passed auto_allowlist times (in
 * different hours) passes without waiting.  Customers, clients a DNS
 * allowlist lists (the fact "dnswl"), senders whose domain is in
 * spf_domains and passed SPF (the facts "spf" and "spf_domain") and
 * POLICY_GREYLIST=off skip it.
 *
 * Triplets live in the state store.  Whether the client is allowlisted is
 * read at connect, with the connection's other store questions; at RCPT
 * the triplet is read and, if absent, added in the batch the core gathers
 * (one transaction with the rate counters).  Another write follows only
 * on a first pass (and a daily refresh of a passed triplet).  A store that
 * does not answer is this layer's ERROR (on_error).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/layer.h"
#include "../support/domains.h"
#include "../support/store.h"

extern const struct layer_desc layer_greylist;

#define GL_SPAN_MAX (366UL * 86400)
#define GL_REFRESH  86400UL /* a passed triplet's lifetime restarts at most daily */
#define GL_AWL_HOUR 3600    /* one pass per hour counts towards the allowlist */

struct greylist_cfg {
    unsigned long delay, retry_window, lifetime; /* seconds */
    unsigned long auto_allowlist;                /* passes; 0: off */
    unsigned long prefix4, prefix6;
    struct domainset spf_domains;
    int spf_given;
    struct store *own;
    struct store *st;
};

struct greylist_state {
    struct store_batch *b; /* the core's batch of this stage */
    int ia, it, iadd;      /* its operations: the client's passes, the triplet, its add */
    int queued;            /* the triplet was asked about */
    enum { AWL_UNKNOWN = 0, AWL_NO, AWL_YES } awl; /* the client is allowlisted */
    struct store_batch *own; /* our writes */
    char net[80];          /* the client's network, "192.0.2.0/24" ("": not yet) */
    char key[STORE_KEY_MAX + 1];
    size_t klen;
    char why[96]; /* an exemption, for the log */
};

/* ------------------------------------------------------------ configuration */

static void greylist_defaults(void *cfg)
{
    struct greylist_cfg *c = cfg;
    c->delay = 300;
    c->retry_window = 2 * 86400;
    c->lifetime = 35 * 86400;
    c->auto_allowlist = 5;
    c->prefix4 = 24;
    c->prefix6 = 64;
    domainset_init(&c->spf_domains);
}

static int span(const char *v, unsigned long *out, unsigned long min, struct cfg_err *err)
{
    if (cfg_parse_seconds(v, GL_SPAN_MAX, out) || *out < min)
        return cfg_fail(err, "expected a time span (\"300\", \"5m\", \"2d\") of at least %lus, got '%s'",
                        min, v);
    return 0;
}

static int greylist_set(void *cfg, const char *key, const char *v, struct cfg_err *err)
{
    struct greylist_cfg *c = cfg;
    char bad[256];
    if (!strcmp(key, "delay"))
        return span(v, &c->delay, 1, err);
    if (!strcmp(key, "retry_window"))
        return span(v, &c->retry_window, 60, err);
    if (!strcmp(key, "lifetime"))
        return span(v, &c->lifetime, 3600, err);
    if (!strcmp(key, "auto_allowlist"))
        return cfg_parse_uint(v, 1000, &c->auto_allowlist)
                   ? cfg_fail(err, "expected a number of passes (0: off), got '%s'", v)
                   : 0;
    if (!strcmp(key, "client_prefix4"))
        return cfg_parse_uint(v, 32, &c->prefix4) || c->prefix4 < 8
                   ? cfg_fail(err, "expected a prefix length from 8 to 32, got '%s'", v)
                   : 0;
    if (!strcmp(key, "client_prefix6"))
        return cfg_parse_uint(v, 128, &c->prefix6) || c->prefix6 < 16
                   ? cfg_fail(err, "expected a prefix length from 16 to 128, got '%s'", v)
                   : 0;
    if (!strcmp(key, "spf_domains")) {
        c->spf_given = 1;
        if (v[0] == '/')
            return domainset_add_file(&c->spf_domains, v, bad, sizeof(bad))
                       ? cfg_fail(err, "%s", bad)
                       : 0;
        return domainset_add_words(&c->spf_domains, v, bad, sizeof(bad))
                   ? cfg_fail(err, "not a domain: %s", bad)
                   : 0;
    }
    if (!strcmp(key, "store"))
        return layer_store_open(v, &c->own, err);
    return CFG_UNKNOWN_KEY;
}

static int greylist_load(void *cfg, const policy_engine *e, struct cfg_err *err, const char **key)
{
    struct greylist_cfg *c = cfg;
    if (c->retry_window <= c->delay) {
        *key = "retry_window";
        return cfg_fail(err, "must be longer than the delay (%lus)", c->delay);
    }
    c->st = layer_store(e, c->own);
    if (!c->st && engine_layer_configured(e, &layer_greylist)) {
        *key = "store";
        return cfg_fail(err, "greylisting needs a store: [general] store or store = here");
    }
    return 0;
}

static void greylist_free(void *cfg)
{
    struct greylist_cfg *c = cfg;
    domainset_free(&c->spf_domains);
    store_close(c->own);
}

static struct store *greylist_store_of(const void *cfg)
{
    return ((const struct greylist_cfg *)cfg)->st;
}

/* ------------------------------------------------------------ keys and records */

static struct greylist_state *state_of(policy_session *s)
{
    return session_layer_state(s, &layer_greylist);
}

/* fnv - 64-bit FNV-1a of p, from seed. */
static uint64_t fnv(const char *p, size_t n, uint64_t h)
{
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* triplet_key - "t/NET/sender/recipient", lower case; a triplet too long
 * for a key is named by two hashes of it instead. */
static size_t triplet_key(const char *net, const char *sender, const char *rcpt, char *out,
                          size_t len)
{
    char buf[2 * POLICY_ADDR_MAX + 100];
    const char *parts[3] = {net, *sender ? sender : "<>", rcpt};
    size_t bn = 0;
    for (int i = 0; i < 3; i++) { /* NET/sender/recipient, each bounded */
        size_t n = strnlen(parts[i], POLICY_ADDR_MAX);
        if (i)
            buf[bn++] = '/';
        memcpy(buf + bn, parts[i], n);
        bn += n;
    }
    buf[bn] = '\0';
    str_lower(buf);
    if (bn + 2 < len && bn + 2 <= STORE_KEY_MAX) {
        memcpy(out, "t/", 2);
        memcpy(out + 2, buf, bn + 1);
        return bn + 2;
    }
    int n = snprintf(out, len, "t/%s/#%016llx%016llx", net,
                 (unsigned long long)fnv(buf, bn, 0xcbf29ce484222325ULL),
                 (unsigned long long)fnv(buf, bn, 0x84222325cbf29ce4ULL));
    return n > 0 && (size_t)n < len ? (size_t)n : 0;
}

/* A triplet: first seen, and when it passed last (0: not yet).  Stored as
 * "FIRST" or "FIRST LAST" in decimal. */
struct triplet {
    int64_t first, passed;
};

/* triplet_parse - 0, or -1 when the record is none of ours. */
static int triplet_parse(const unsigned char *p, size_t n, struct triplet *t)
{
    const unsigned char *sp = memchr(p, ' ', n);
    t->passed = 0;
    if (!sp)
        return store_parse_int(p, n, &t->first);
    size_t a = (size_t)(sp - p);
    if (store_parse_int(p, a, &t->first) || store_parse_int(sp + 1, n - a - 1, &t->passed) ||
        t->passed <= 0)
        return -1;
    return 0;
}

/* ------------------------------------------------------------ the check */

static void greylist_txn_reset(void *state)
{
    struct greylist_state *st = state;
    st->queued = 0;
}

/* awl_key - "a/IP": how many times the client's triplets passed. */
static int awl_key(const struct client *cl, char *out, size_t len)
{
    return snprintf(out, len, "a/%s", cl->ip);
}

/* exempt - why this RCPT skips greylisting, or NULL. */
static const char *exempt(policy_session *s, const struct greylist_cfg *c)
{
    const char *wl = session_fact(s, "dnswl");
    if (wl)
        return "client listed by a DNS allowlist";
    const char *spf = session_fact(s, "spf"), *dom = session_fact(s, "spf_domain");
    if (c->spf_given && spf && !strcmp(spf, "pass") && dom && *dom) {
        char d[256];
        snprintf(d, sizeof(d), "%s", dom);
        str_lower(d);
        if (domainset_match(&c->spf_domains, d))
            return "sender domain passed SPF";
    }
    return NULL;
}

static void greylist_queue(policy_session *s, const void *cfg, enum stage stg,
                           struct store_batch *b)
{
    const struct greylist_cfg *c = cfg;
    struct greylist_state *st = state_of(s);
    const struct client *cl = session_client(s);
    const struct txn *t = session_txn(s);
    char k[80];
    st->b = b;
    st->queued = 0;
    st->ia = st->it = st->iadd = -1;
    st->why[0] = '\0';
    if (!cl->ip_valid)
        return;
    if (!c->auto_allowlist)
        st->awl = AWL_NO;
    if (stg == STAGE_CONNECT) { /* the session's first question: allowlisted? */
        if (b && st->awl == AWL_UNKNOWN)
            st->ia = store_get(b, k, (size_t)awl_key(cl, k, sizeof(k)));
        return;
    }
    if (!t->sender)
        return;
    const char *why = exempt(s, c);
    if (why) {
        snprintf(st->why, sizeof(st->why), "%s", why);
        return;
    }
    st->queued = 1;
    if (st->awl == AWL_YES)
        return; /* nothing to ask */
    if (!st->net[0])
        client_net(cl, (unsigned)c->prefix4, (unsigned)c->prefix6, st->net, sizeof(st->net));
    st->klen = triplet_key(st->net, t->sender, t->rcpt ? t->rcpt : "", st->key, sizeof(st->key));
    if (!b || !st->klen)
        return;
    if (st->awl == AWL_UNKNOWN) /* not known from connect (a store error then): ask now */
        st->ia = store_get(b, k, (size_t)awl_key(cl, k, sizeof(k)));
    st->it = store_get(b, st->key, st->klen);
    if (st->awl == AWL_NO) { /* a new triplet is added in the same transaction */
        char v[24];
        int64_t now = (int64_t)store_now(c->st);
        st->iadd = store_add(b, st->key, st->klen, v, store_format_int(now, v),
                             (unsigned)c->retry_window);
    }
}

/* greylist_connect - what connect learnt: is the client allowlisted? */
static enum check greylist_connect(policy_session *s, const void *cfg, struct finding *f)
{
    const struct greylist_cfg *c = cfg;
    struct greylist_state *st = state_of(s);
    const struct store_result *r = st->b && st->ia >= 0 ? store_result(st->b, st->ia) : NULL;
    (void)f;
    if (r && r->status != STORE_ERROR)
        st->awl = r->status == STORE_FOUND && r->numeric && r->value >= (int64_t)c->auto_allowlist
                      ? AWL_YES
                      : AWL_NO;
    return CHECK_NOMATCH; /* an error here is asked again at RCPT */
}

/* own_batch - our batch for the writes, emptied; NULL (no memory). */
static struct store_batch *own_batch(policy_session *s, const struct greylist_cfg *c,
                                     struct greylist_state *st)
{
    if (!st->own) {
        struct store_conn *conn = session_store_conn(s, c->st);
        if (conn)
            st->own = store_batch_new(conn, layer_greylist.name);
    }
    if (st->own)
        store_batch_reset(st->own);
    return st->own;
}

static enum check store_error(struct finding *f, const char *why)
{
    finding_set(f, 451, "4.3.0", "temporary failure checking the greylist, try again later");
    finding_reason(f, "greylist: store: %s", why ? why : "no answer");
    return CHECK_ERROR;
}

/* greylisted - the 451 that says when to come back. */
static enum check greylisted(policy_session *s, int64_t wait, int fresh, struct finding *f)
{
    if (wait < 1)
        wait = 1;
    finding_set(f, 451, "4.7.1", "Greylisted, please try again in %lld seconds", (long long)wait);
    finding_reason(f, "greylisted (%s), %llds to wait", fresh ? "new" : "early retry",
                   (long long)wait);
    (void)s;
    return CHECK_MATCH;
}

/* passed - the triplet passes now for the first time: it lives for its
 * lifetime, and the client is one pass (an hour) closer to the allowlist. */
static enum check passed(policy_session *s, const struct greylist_cfg *c,
                         struct greylist_state *st, const struct triplet *tr, int64_t now,
                         struct finding *f)
{
    char v[48], k[80];
    struct store_batch *b = own_batch(s, c, st);
    if (!b)
        return store_error(f, "out of memory");
    int n = snprintf(v, sizeof(v), "%lld %lld", (long long)tr->first, (long long)now);
    int iset = store_set(b, st->key, st->klen, v, (size_t)n, (unsigned)c->lifetime), ihour = -1;
    if (c->auto_allowlist) {
        n = snprintf(k, sizeof(k), "h/%s", session_client(s)->ip);
        ihour = store_add(b, k, (size_t)n, "1", 1, GL_AWL_HOUR);
    }
    store_run(b);
    const struct store_result *r = store_result(b, iset);
    if (!r || r->status == STORE_ERROR)
        return store_error(f, r ? r->why : NULL);
    plog(s, POLICY_LOG_INFO, "greylist: passed after %llds", (long long)(now - tr->first));
    r = ihour >= 0 ? store_result(b, ihour) : NULL;
    if (r && r->status == STORE_NOTFOUND) { /* absent until now: this hour counts */
        store_batch_reset(b);
        n = awl_key(session_client(s), k, sizeof(k));
        int ia = store_incr_renew(b, k, (size_t)n, 1, (unsigned)c->lifetime);
        store_run(b);
        r = store_result(b, ia);
        if (r && r->status == STORE_FOUND && r->value >= (int64_t)c->auto_allowlist) {
            if (r->value == (int64_t)c->auto_allowlist)
                plog(s, POLICY_LOG_INFO, "greylist: client allowlisted after %lld passes",
                     (long long)r->value);
            st->awl = AWL_YES;
        }
    }
    return CHECK_NOMATCH;
}

static enum check greylist_rcpt(policy_session *s, const void *cfg, struct finding *f)
{
    const struct greylist_cfg *c = cfg;
    struct greylist_state *st = state_of(s);
    if (!st->queued) {
        if (st->why[0])
            plog(s, POLICY_LOG_DEBUG, "greylist: skipped: %s", st->why);
        return CHECK_NOMATCH;
    }
    if (st->awl == AWL_YES)
        return CHECK_NOMATCH;
    if (!st->b || !st->klen)
        return store_error(f, !st->b ? "no connection to the store" : "no key");
    const struct store_result *r;
    if (st->ia >= 0) {
        r = store_result(st->b, st->ia);
        if (!r || r->status == STORE_ERROR)
            return store_error(f, r ? r->why : NULL);
        st->awl = r->status == STORE_FOUND && r->numeric && r->value >= (int64_t)c->auto_allowlist
                      ? AWL_YES
                      : AWL_NO;
        if (st->awl == AWL_YES)
            return CHECK_NOMATCH;
    }
    r = store_result(st->b, st->it);
    if (!r || r->status == STORE_ERROR)
        return store_error(f, r ? r->why : NULL);
    int64_t now = (int64_t)store_now(c->st);
    struct triplet tr;
    int fresh = r->status == STORE_NOTFOUND;
    if (fresh && st->iadd >= 0) { /* added in the same transaction */
        r = store_result(st->b, st->iadd);
        if (!r || r->status == STORE_ERROR)
            return store_error(f, r ? r->why : NULL);
        return greylisted(s, (int64_t)c->delay, 1, f);
    }
    if (!fresh && triplet_parse(r->data, r->len, &tr) != 0) {
        plog(s, POLICY_LOG_WARNING, "greylist: a record that is no triplet: starting afresh");
        fresh = 2;
    }
    if (!fresh && tr.first > now)
        tr.first = now; /* a clock that went back: wait from now */
    if (fresh || (!tr.passed && now - tr.first > (int64_t)c->retry_window)) {
        struct store_batch *b = own_batch(s, c, st);
        char v[24];
        if (!b)
            return store_error(f, "out of memory");
        size_t n = store_format_int(now, v);
        /* add: two clients retrying at once keep the first one's time */
        int i = fresh == 1 ? store_add(b, st->key, st->klen, v, n, (unsigned)c->retry_window)
                           : store_set(b, st->key, st->klen, v, n, (unsigned)c->retry_window);
        store_run(b);
        r = store_result(b, i);
        if (!r || r->status == STORE_ERROR)
            return store_error(f, r ? r->why : NULL);
        return greylisted(s, (int64_t)c->delay, 1, f);
    }
    if (tr.passed) {
        if (now - tr.passed >= (int64_t)GL_REFRESH) { /* its lifetime starts again */
            struct store_batch *b = own_batch(s, c, st);
            char v[48];
            if (b) {
                int n = snprintf(v, sizeof(v), "%lld %lld", (long long)tr.first, (long long)now);
                store_set(b, st->key, st->klen, v, (size_t)n, (unsigned)c->lifetime);
                store_run(b); /* a failed refresh only shortens the lifetime */
            }
        }
        return CHECK_NOMATCH;
    }
    if (now - tr.first < (int64_t)c->delay)
        return greylisted(s, (int64_t)c->delay - (now - tr.first), 0, f);
    return passed(s, c, st, &tr, now, f);
}

static void greylist_state_free(policy_session *s, void *state)
{
    struct greylist_state *st = state;
    (void)s;
    store_batch_free(st->own);
    st->own = NULL;
}

const struct layer_desc layer_greylist = {
    .name = "greylist",
    .flags = LAYER_INBOUND | LAYER_OPTIN,
    .default_action = LA_TEMPFAIL,
    .cfg_size = sizeof(struct greylist_cfg),
    .defaults = greylist_defaults,
    .set = greylist_set,
    .load = greylist_load,
    .free = greylist_free,
    .state_size = sizeof(struct greylist_state),
    .txn_reset = greylist_txn_reset,
    .state_free = greylist_state_free,
    .hooks = {[STAGE_CONNECT] = greylist_connect, [STAGE_RCPT] = greylist_rcpt},
    .list_keys = (const char *const[]){"spf_domains", NULL},
    .store_of = greylist_store_of,
    .store_queue = greylist_queue,
};
