/*
 * dnsbl.c - layer 2: DNS blacklists and allowlists (DNSBL, DNSWL) for the
 * client address, RHSBLs for the HELO name, the sender domain and the
 * client's PTR name.
 *
 * Every zone is asked at once (IPv4: reversed octets, IPv6: nibbles); a
 * zone lists the client when an answer passes its return-code filter
 * (postscreen syntax: zone=127.0.0.[2..11]*2).  Weights add up as in
 * postscreen: a score >= threshold rejects, a score <= allowlist_threshold
 * (a DNSWL with a negative weight) skips the blacklist verdicts.  The reply
 * names the list and quotes its TXT record, sanitized.  RBLSMTPD works as
 * rblsmtpd defines it.  A zone that does not answer is an ERROR only when
 * its answer could have changed the verdict.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/layer.h"
#include "../support/dns.h"

extern const struct layer_desc layer_dnsbl;

#define DNSBL_MAX_ZONES 64

struct zone {
    char *name;
    int weight;
    int filtered;
    unsigned char allow[4][32]; /* per octet: a bitmap of accepted values */
};

struct zonelist {
    struct zone *v;
    size_t n;
};

enum { ZL_IP, ZL_HELO, ZL_SENDER, ZL_PTR, ZL_KINDS };
/* the zone lists, and the layer's list keys (each may be repeated) */
static const char *const zl_keys[ZL_KINDS + 1] = {"zones", "helo_zones", "sender_zones",
                                                  "ptr_zones", NULL};

struct dnsbl_cfg {
    struct zonelist zl[ZL_KINDS];
    long threshold;
    long allow_threshold;
    unsigned long timeout_ms;
};

/* One question to one zone, and the TXT question that follows a listing. */
struct lookup {
    const struct zone *z;
    struct dns *d;
    const void *group;
    char name[DNS_NAME_MAX + 1];
    struct dns_q *a, *txt;
    int failed_to_ask;
};

struct lookups {
    struct lookup *v;
    size_t n;
    int started;
    char subject[DNS_NAME_MAX + 1]; /* the name asked about (HELO, sender domain) */
    char group;                     /* its address tags the questions */
};

struct dnsbl_state {
    int skip;        /* RBLSMTPD set and empty */
    int allowlisted; /* a DNSWL score said so */
    struct lookups conn, ptr, helo, mail;
    double deadline;
};

/* ------------------------------------------------------------ config */

/* octet_filter - "2", "[2..11]", "[1;3;5..7]" into a bitmap. */
static int octet_filter(const char *s, size_t n, unsigned char bits[32])
{
    memset(bits, 0, 32);
    if (n && s[0] == '[') {
        if (s[n - 1] != ']')
            return -1;
        s++;
        n -= 2;
    }
    char buf[128];
    if (n == 0 || n >= sizeof(buf))
        return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    for (char *part = buf, *next; part; part = next) {
        next = strchr(part, ';');
        if (next)
            *next++ = '\0';
        char *dots = strstr(part, "..");
        unsigned long lo, hi;
        if (dots) {
            *dots = '\0';
            if (cfg_parse_uint(part, 255, &lo) || cfg_parse_uint(dots + 2, 255, &hi) || lo > hi)
                return -1;
        } else if (cfg_parse_uint(part, 255, &lo)) {
            return -1;
        } else {
            hi = lo;
        }
        for (unsigned long v = lo; v <= hi; v++)
            bits[v / 8] |= (unsigned char)(1u << (v % 8));
    }
    return 0;
}

/* zone_parse - "name[=filter][*weight]". */
static int zone_parse(const char *w, size_t n, struct zone *z, int kind, struct cfg_err *err)
{
    char buf[512];
    if (n >= sizeof(buf))
        return cfg_fail(err, "zone too long: %.40s...", w);
    memcpy(buf, w, n);
    buf[n] = '\0';
    memset(z, 0, sizeof(*z));
    z->weight = 1;
    char *star = strrchr(buf, '*');
    if (star) {
        char *end;
        long wt = strtol(star + 1, &end, 10);
        if (star[1] == '\0' || *end || wt < -1000 || wt > 1000 || wt == 0)
            return cfg_fail(err, "bad weight in %s (expected *N, N a non-zero integer)", buf);
        if (kind != ZL_IP)
            return cfg_fail(err, "%s: weights apply to the IP zones only", buf);
        z->weight = (int)wt;
        *star = '\0';
    }
    char *eq = strchr(buf, '=');
    if (eq) {
        *eq++ = '\0';
        const char *p = eq;
        for (int o = 0; o < 4; o++) {
            size_t len = o < 3 ? strcspn(p, ".") : strlen(p);
            /* a bracketed list may hold ".." itself */
            if (*p == '[') {
                const char *rb = strchr(p, ']');
                if (!rb)
                    return cfg_fail(err, "bad return-code filter in %s=%s", buf, eq);
                len = (size_t)(rb - p + 1);
            }
            if (octet_filter(p, len, z->allow[o]) || (o < 3 && p[len] != '.') ||
                (o == 3 && p[len] != '\0'))
                return cfg_fail(err, "bad return-code filter in %s=%s", buf, eq);
            p += len + 1;
        }
        z->filtered = 1;
    }
    size_t nl = strlen(buf);
    if (nl && buf[nl - 1] == '.')
        buf[--nl] = '\0';
    if (!dns_hostname_ok(buf, nl) || nl > 200)
        return cfg_fail(err, "not a DNS zone: %s", buf);
    str_lower(buf);
    z->name = strdup(buf);
    return z->name ? 0 : cfg_fail(err, "out of memory");
}

static int zonelist_add(struct zonelist *zl, const char *v, int kind, struct cfg_err *err)
{
    for (const char *w = v; *w;) {
        w += strspn(w, " \t,");
        size_t n = strcspn(w, " \t,");
        if (!n)
            break;
        if (zl->n >= DNSBL_MAX_ZONES)
            return cfg_fail(err, "more than %d zones", DNSBL_MAX_ZONES);
        struct zone *nv = realloc(zl->v, (zl->n + 1) * sizeof(*nv));
        if (!nv)
            return cfg_fail(err, "out of memory");
        zl->v = nv;
        if (zone_parse(w, n, &zl->v[zl->n], kind, err))
            return -1;
        zl->n++;
        w += n;
    }
    return 0;
}

static void dnsbl_defaults(void *cfg)
{
    struct dnsbl_cfg *c = cfg;
    c->threshold = 1;
    c->allow_threshold = -1;
}

static int parse_long(const char *v, long *out)
{
    char *end;
    long n = strtol(v, &end, 10);
    if (!*v || *end || n < -100000 || n > 100000)
        return -1;
    *out = n;
    return 0;
}

static int dnsbl_set(void *cfg, const char *key, const char *v, struct cfg_err *err)
{
    struct dnsbl_cfg *c = cfg;
    for (int k = 0; k < ZL_KINDS; k++)
        if (!strcmp(key, zl_keys[k]))
            return zonelist_add(&c->zl[k], v, k, err);
    if (!strcmp(key, "threshold"))
        return parse_long(v, &c->threshold) ? cfg_fail(err, "expected an integer, got '%s'", v) : 0;
    if (!strcmp(key, "allowlist_threshold"))
        return parse_long(v, &c->allow_threshold)
                   ? cfg_fail(err, "expected an integer, got '%s'", v)
                   : 0;
    if (!strcmp(key, "timeout"))
        return cfg_set_dns_timeout(v, &c->timeout_ms, err);
    return CFG_UNKNOWN_KEY;
}

static int dnsbl_load(void *cfg, const policy_engine *e, struct cfg_err *err, const char **key)
{
    struct dnsbl_cfg *c = cfg;
    (void)e;
    if (c->allow_threshold >= c->threshold) {
        *key = "allowlist_threshold";
        return cfg_fail(err, "must be below threshold (%ld)", c->threshold);
    }
    return 0;
}

static void dnsbl_free(void *cfg)
{
    struct dnsbl_cfg *c = cfg;
    for (int k = 0; k < ZL_KINDS; k++) {
        for (size_t i = 0; i < c->zl[k].n; i++)
            free(c->zl[k].v[i].name);
        free(c->zl[k].v);
    }
}

static unsigned dnsbl_stages(const void *cfg)
{
    const struct dnsbl_cfg *c = cfg;
    /* RBLSMTPD works with no zones at all: connect always */
    unsigned m = 1u << STAGE_CONNECT;
    if (c->zl[ZL_HELO].n)
        m |= 1u << STAGE_HELO;
    if (c->zl[ZL_SENDER].n)
        m |= 1u << STAGE_MAIL;
    return m;
}

/* ------------------------------------------------------------ lookups */

static struct dnsbl_state *state_of(policy_session *s);

/* listed_by - does this A answer list the client for zone z?  -1: the
 * list refuses to answer (127.255.255.x, Spamhaus' error codes). */
static int listed_by(const struct zone *z, const struct dns_answer *a)
{
    int refused = 0;
    for (size_t i = 0; i < a->n; i++) {
        const unsigned char *ip = a->rr[i].addr;
        if (ip[0] != 127)
            continue; /* RFC 5782 2.1: answers are in 127/8; others are hijacks */
        if (z->filtered) {
            int ok = 1;
            for (int o = 0; o < 4; o++)
                if (!(z->allow[o][ip[o] / 8] & (1u << (ip[o] % 8))))
                    ok = 0;
            if (ok)
                return 1;
        } else if (ip[1] == 255 && ip[2] == 255) {
            refused = 1;
        } else {
            return 1;
        }
    }
    return refused ? -1 : 0;
}

static void on_a(struct dns_q *q, void *arg)
{
    struct lookup *l = arg;
    const struct dns_answer *a = dns_answer_of(q);
    if (a->status == DNS_FOUND && listed_by(l->z, a) == 1)
        l->txt = dns_start(l->d, l->group, l->name, DNS_TXT, DNS_TXT_MAX, dns_deadline_of(q), NULL,
                           NULL);
}

/* ask - one question per zone for "prefix.zone"; prefix "" = reversed IP. */
static void ask(policy_session *s, struct lookups *ls, const struct zonelist *zl,
                const char *prefix, double deadline)
{
    struct dns *d = session_dns(s);
    ls->started = 1;
    if (!zl->n)
        return;
    ls->v = calloc(zl->n, sizeof(*ls->v));
    if (!ls->v)
        return; /* evaluated as "could not ask": ERROR */
    ls->n = zl->n;
    for (size_t i = 0; i < zl->n; i++) {
        struct lookup *l = &ls->v[i];
        l->z = &zl->v[i];
        l->d = d;
        l->group = &ls->group;
        int r = prefix ? snprintf(l->name, sizeof(l->name), "%s.%s", prefix, l->z->name)
                       : dns_reverse_name(session_client(s)->family, session_client(s)->addr, l->z->name, l->name, sizeof(l->name));
        if (r < 0 || (prefix && (size_t)r >= sizeof(l->name)) || !d ||
            !(l->a = dns_start(d, &ls->group, l->name, DNS_A, 0, deadline, on_a, l)))
            l->failed_to_ask = 1;
    }
}

static void drop(policy_session *s, struct lookups *ls)
{
    dns_release_group(session_dns_peek(s), &ls->group);
    free(ls->v);
    ls->v = NULL;
    ls->n = 0;
    ls->started = 0;
}

/* outcome - 1 listed, 0 not listed, -1 no answer; *txt the reason if any. */
static int outcome(const struct lookup *l, const char **txt)
{
    *txt = NULL;
    if (l->failed_to_ask || !l->a)
        return -1;
    const struct dns_answer *a = dns_answer_of(l->a);
    if (a->status == DNS_NOTFOUND)
        return 0;
    if (a->status != DNS_FOUND)
        return -1;
    int r = listed_by(l->z, a);
    if (r == 1 && l->txt) {
        const struct dns_answer *t = dns_answer_of(l->txt);
        if (t->status == DNS_FOUND && t->n)
            *txt = t->rr[0].text;
    }
    return r;
}

static void reply_listed(struct finding *f, const char *what, const char *zone, const char *txt)
{
    finding_set(f, 554, "5.7.1", "Service unavailable; %s blocked using %s%s%s", what, zone,
                txt ? "; " : "", txt ? txt : "");
}

/* rhsbl - evaluate one RHSBL set: MATCH, ERROR or NOMATCH. */
static enum check rhsbl(policy_session *s, struct lookups *ls, const char *what,
                        const char *subject, struct finding *f)
{
    struct dns *d = session_dns(s);
    dns_wait(d, &ls->group);
    const char *failed = NULL;
    for (size_t i = 0; i < ls->n; i++) {
        const char *txt;
        int r = outcome(&ls->v[i], &txt);
        if (r == 1) {
            reply_listed(f, what, ls->v[i].z->name, txt);
            finding_reason(f, "%s %s listed in %s", what, subject, ls->v[i].z->name);
            return CHECK_MATCH;
        }
        if (r < 0 && !failed)
            failed = ls->v[i].z->name;
    }
    if (failed) {
        session_error(s, &layer_dnsbl, "dns");
        finding_set(f, 451, "4.7.1", "Service temporarily unavailable; cannot check %s against %s",
                    what, failed);
        finding_reason(f, "no answer from %s for %s %s", failed, what, subject);
        return CHECK_ERROR;
    }
    return CHECK_NOMATCH;
}

/* on_ptr - the PTR name is known: ask the RHSBLs about it. */
static void on_ptr(policy_session *s, void *arg)
{
    struct dnsbl_state *st = state_of(s);
    const struct dnsbl_cfg *c = arg;
    if (*session_client(s)->host)
        ask(s, &st->ptr, &c->zl[ZL_PTR], session_client(s)->host, st->deadline);
    else
        st->ptr.started = 1;
}

static unsigned long timeout_of(const policy_session *s, const struct dnsbl_cfg *c)
{
    return c->timeout_ms ? c->timeout_ms : session_general(s)->dns_timeout_ms;
}

/* ------------------------------------------------------------ hooks */

static struct dnsbl_state *state_of(policy_session *s)
{
    return session_layer_state(s, &layer_dnsbl);
}

static enum check dnsbl_connect(policy_session *s, const void *cfg, struct finding *f)
{
    const struct dnsbl_cfg *c = cfg;
    struct dnsbl_state *st = state_of(s);
    const char *rbl = policy_session_getvar(s, "RBLSMTPD");

    if (rbl) { /* rblsmtpd(1): empty = no check; "-text" = 553; "text" = 451 */
        if (!*rbl) {
            st->skip = 1;
            finding_reason(f, "RBLSMTPD is empty");
            return CHECK_NOMATCH;
        }
        if (*rbl == '-')
            finding_set(f, 553, "5.7.1", "%s", rbl + 1);
        else
            finding_set(f, 451, "4.7.1", "%s", rbl);
        finding_reason(f, "RBLSMTPD");
        return CHECK_MATCH;
    }
    if (session_client(s)->ip_unknown)
        return CHECK_NOMATCH; /* no address to look up (nor a PTR name) */
    if (!st->conn.started) {
        st->deadline = dns_now_ms() + (double)timeout_of(s, c);
        ask(s, &st->conn, &c->zl[ZL_IP], NULL, st->deadline);
        if (c->zl[ZL_PTR].n && client_ptr(s, on_ptr, (void *)c) != 0)
            st->ptr.started = 1; /* no PTR name to ask about */
    }
    if (session_may_defer(s, &layer_dnsbl, STAGE_CONNECT))
        return CHECK_PENDING;

    struct dns *d = session_dns(s);
    dns_wait(d, &st->conn.group);
    long score = 0, maybe_up = 0, maybe_down = 0;
    const struct lookup *top = NULL;
    const char *top_txt = NULL, *failed = NULL;
    for (size_t i = 0; i < st->conn.n; i++) {
        const struct lookup *l = &st->conn.v[i];
        const char *txt;
        int r = outcome(l, &txt);
        if (r == 1) {
            score += l->z->weight;
            if (l->z->weight > 0 && (!top || l->z->weight > top->z->weight)) {
                top = l;
                top_txt = txt;
            }
        } else if (r < 0) {
            if (l->z->weight > 0)
                maybe_up += l->z->weight;
            else
                maybe_down += l->z->weight;
            if (!failed)
                failed = l->z->name;
        }
    }
    if (c->zl[ZL_IP].n && st->conn.v == NULL)
        failed = "(no memory)", maybe_up = 1;
    else if (failed)
        session_error(s, &layer_dnsbl, "dns"); /* a zone did not answer, whatever the verdict */
    if (score + maybe_up <= c->allow_threshold) {
        st->allowlisted = 1;
        (void)session_fact_set(s, FACT_CONNECTION, "dnswl", "listed"); /* for greylisting */
        plog(s, POLICY_LOG_INFO, "stage=connect layer=dnsbl action=allowlist score=%ld", score);
        return CHECK_NOMATCH;
    }
    if (score + maybe_down >= c->threshold && top) {
        finding_set(f, 554, "5.7.1", "Service unavailable; Client host [%s] blocked using %s%s%s",
                    session_client(s)->ip, top->z->name, top_txt ? "; " : "", top_txt ? top_txt : "");
        finding_reason(f, "%s listed in %s (score %ld, threshold %ld)", session_client(s)->ip, top->z->name, score,
                       c->threshold);
        return CHECK_MATCH;
    }
    if (failed && (score + maybe_up >= c->threshold || score + maybe_down <= c->allow_threshold)) {
        finding_set(f, 451, "4.7.1",
                    "Service temporarily unavailable; Client host [%s]: cannot check %s, try "
                    "again later",
                    session_client(s)->ip, failed);
        finding_reason(f, "no answer from %s (score %ld so far)", failed, score);
        return CHECK_ERROR;
    }
    if (c->zl[ZL_PTR].n) {
        client_ptr_wait(s);
        if (st->ptr.n) {
            char what[DNS_NAME_MAX + 80];
            snprintf(what, sizeof(what), "Client host %s [%s]", session_client(s)->host, session_client(s)->ip);
            return rhsbl(s, &st->ptr, what, session_client(s)->host, f);
        }
    }
    return CHECK_NOMATCH;
}

static enum check dnsbl_helo(policy_session *s, const void *cfg, struct finding *f)
{
    const struct dnsbl_cfg *c = cfg;
    struct dnsbl_state *st = state_of(s);
    size_t n = strlen(session_client(s)->helo);
    if (st->skip || !c->zl[ZL_HELO].n || !strchr(session_client(s)->helo, '.') || !dns_hostname_ok(session_client(s)->helo, n))
        return CHECK_NOMATCH; /* address literals and bare words have no domain to ask about */
    char name[DNS_NAME_MAX + 1];
    snprintf(name, sizeof(name), "%s", session_client(s)->helo);
    str_lower(name);
    if (name[n - 1] == '.')
        name[n - 1] = '\0';
    if (!st->helo.started || strcmp(st->helo.subject, name)) { /* a new HELO: ask again */
        drop(s, &st->helo);
        ask(s, &st->helo, &c->zl[ZL_HELO], name, dns_now_ms() + (double)timeout_of(s, c));
        snprintf(st->helo.subject, sizeof(st->helo.subject), "%s", name);
    }
    if (session_may_defer(s, &layer_dnsbl, STAGE_HELO))
        return CHECK_PENDING;
    if (st->allowlisted)
        return CHECK_NOMATCH;
    char what[POLICY_HELO_MAX + 32];
    snprintf(what, sizeof(what), "Helo command [%s]", session_client(s)->helo);
    return rhsbl(s, &st->helo, what, session_client(s)->helo, f);
}

static enum check dnsbl_mail(policy_session *s, const void *cfg, struct finding *f)
{
    const struct dnsbl_cfg *c = cfg;
    struct dnsbl_state *st = state_of(s);
    const char *at = session_txn(s)->sender ? strrchr(session_txn(s)->sender, '@') : NULL;
    if (st->skip || !c->zl[ZL_SENDER].n || !at || !dns_hostname_ok(at + 1, strlen(at + 1)))
        return CHECK_NOMATCH; /* the null sender has no domain */
    char name[DNS_NAME_MAX + 1];
    snprintf(name, sizeof(name), "%s", at + 1);
    str_lower(name);
    if (!st->mail.started || strcmp(st->mail.subject, name)) { /* same domain: same answers */
        drop(s, &st->mail);
        ask(s, &st->mail, &c->zl[ZL_SENDER], name, dns_now_ms() + (double)timeout_of(s, c));
        snprintf(st->mail.subject, sizeof(st->mail.subject), "%s", name);
    }
    if (session_may_defer(s, &layer_dnsbl, STAGE_MAIL))
        return CHECK_PENDING;
    if (st->allowlisted)
        return CHECK_NOMATCH;
    char what[POLICY_ADDR_MAX + 64];
    snprintf(what, sizeof(what), "Sender address <%s> domain", session_txn(s)->sender);
    return rhsbl(s, &st->mail, what, at + 1, f);
}

static void dnsbl_state_free(policy_session *s, void *state)
{
    struct dnsbl_state *st = state;
    drop(s, &st->conn);
    drop(s, &st->ptr);
    drop(s, &st->helo);
    drop(s, &st->mail);
}

static const char *const dnsbl_vars[] = {"RBLSMTPD", NULL};

const struct layer_desc layer_dnsbl = {
    .name = "dnsbl",
    .vars = dnsbl_vars,
    .list_keys = zl_keys,
    .flags = LAYER_INBOUND | LAYER_OPTIN,
    .default_action = LA_REJECT,
    .cfg_size = sizeof(struct dnsbl_cfg),
    .defaults = dnsbl_defaults,
    .set = dnsbl_set,
    .load = dnsbl_load,
    .free = dnsbl_free,
    .state_size = sizeof(struct dnsbl_state),
    .state_free = dnsbl_state_free,
    .stages = dnsbl_stages,
    .hooks =
        {[STAGE_CONNECT] = dnsbl_connect, [STAGE_HELO] = dnsbl_helo, [STAGE_MAIL] = dnsbl_mail},
};
