/*
 * regex.c - qmail's qregex as a layer: badhelo, badmailfrom, badrcptto and
 * their *norelay variants (not applied to customers), in qmail's control
 * file format, compiled once at engine load (or, for an engine opened
 * lazily, each pattern when it first has to run); plus header policy
 * blocks in the spirit of qmail-scanner ("Header-Name: pattern"), checked
 * as each header arrives.  A pattern that hits PCRE2's match limit, or a
 * lazily compiled one that does not compile, is a temporary error
 * (on_error decides), never a hang and never a pass.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/layer.h"
#include "../support/patterns.h"

extern const struct layer_desc layer_regex;

enum { RX_HELO, RX_MAIL, RX_RCPT, RX_KINDS };

struct header_rule {
    char name[128];
    struct patternset set; /* one pattern */
};

struct regex_cfg {
    struct patternset sets[RX_KINDS][2]; /* [kind][norelay] */
    struct header_rule *rules;
    size_t nrules;
};

/* The file keys, by kind and norelay; each may be given again (one more
 * file for the same check), and header_block (one more rule): the list keys. */
static const char *const list_keys[] = {
    "badhelo",   "badhelonorelay",   "badmailfrom",  "badmailfromnorelay",
    "badrcptto", "badrcpttonorelay", "header_block", NULL};
#define FILE_KEY(kind, norelay) list_keys[(kind)*2 + (norelay)]

/* Patterns are read as the keys come and compiled in regex_load(), which
 * knows whether the engine compiles at load or on first use. */
static void regex_defaults(void *cfg)
{
    struct regex_cfg *c = cfg;
    for (int k = 0; k < RX_KINDS; k++)
        for (int nr = 0; nr < 2; nr++) {
            patternset_init(&c->sets[k][nr]);
            patternset_defer(&c->sets[k][nr]);
        }
}

/* add_header_rule - "Name: pattern" (the pattern may start with '!'). */
static int add_header_rule(struct regex_cfg *c, const char *v, struct cfg_err *err)
{
    const char *colon = strchr(v, ':');
    size_t nl = colon ? (size_t)(colon - v) : 0;
    char origin[200];

    while (nl && (v[nl - 1] == ' ' || v[nl - 1] == '\t'))
        nl--;
    if (!colon || nl == 0 || nl >= sizeof(c->rules->name))
        return cfg_fail(err, "expected 'Header-Name: pattern', got '%s'", v);
    for (size_t i = 0; i < nl; i++)
        if (v[i] <= ' ' || v[i] > '~')
            return cfg_fail(err, "not a header name: '%.*s'", (int)nl, v);
    const char *pat = colon + 1 + strspn(colon + 1, " \t");
    if (!*pat)
        return cfg_fail(err, "no pattern after '%.*s:'", (int)nl, v);
    struct header_rule *nr = realloc(c->rules, (c->nrules + 1) * sizeof(*nr));
    if (!nr)
        return cfg_fail(err, "out of memory");
    c->rules = nr;
    struct header_rule *r = &c->rules[c->nrules];
    memcpy(r->name, v, nl);
    r->name[nl] = '\0';
    patternset_init(&r->set);
    patternset_defer(&r->set);
    snprintf(origin, sizeof(origin), "header_block %s", r->name);
    if (patternset_add(&r->set, pat, origin, err->msg, sizeof(err->msg)) ||
        patternset_finish(&r->set)) {
        patternset_free(&r->set);
        return -1;
    }
    c->nrules++;
    return 0;
}

static int regex_set(void *cfg, const char *key, const char *v, struct cfg_err *err)
{
    struct regex_cfg *c = cfg;
    if (!strcmp(key, "header_block"))
        return add_header_rule(c, v, err);
    for (int k = 0; k < RX_KINDS; k++)
        for (int nr = 0; nr < 2; nr++)
            if (!strcmp(key, FILE_KEY(k, nr))) {
                /* given again: one more file for the same check */
                if (patternset_add_file(&c->sets[k][nr], v, err->msg, sizeof(err->msg)))
                    return -1;
                if (patternset_finish(&c->sets[k][nr]))
                    return cfg_fail(err, "out of memory");
                return 0;
            }
    return CFG_UNKNOWN_KEY;
}

/* regex_load - compile every pattern now, and find every bad one, unless
 * the engine compiles on first use (a process that checks one message). */
static int regex_load(void *cfg, const policy_engine *e, struct cfg_err *err, const char **key)
{
    struct regex_cfg *c = cfg;
    if (engine_general(e)->lazy)
        return 0;
    for (int k = 0; k < RX_KINDS; k++)
        for (int nr = 0; nr < 2; nr++)
            if (patternset_compile(&c->sets[k][nr], err->msg, sizeof(err->msg))) {
                *key = FILE_KEY(k, nr);
                return -1;
            }
    for (size_t i = 0; i < c->nrules; i++)
        if (patternset_compile(&c->rules[i].set, err->msg, sizeof(err->msg))) {
            *key = "header_block";
            return -1;
        }
    return 0;
}

static void regex_free(void *cfg)
{
    struct regex_cfg *c = cfg;
    for (int k = 0; k < RX_KINDS; k++)
        for (int nr = 0; nr < 2; nr++)
            patternset_free(&c->sets[k][nr]);
    for (size_t i = 0; i < c->nrules; i++)
        patternset_free(&c->rules[i].set);
    free(c->rules);
}

static const char *const texts[RX_KINDS] = {
    "sorry, your HELO/EHLO greeting has been denied",
    "sorry, your envelope sender has been denied",
    "sorry, your envelope recipient has been denied",
};

/* check - the plain set, then (for non-customers) the norelay one. */
static enum check check(policy_session *s, const struct regex_cfg *c, int kind, const char *subject,
                        struct finding *f)
{
    for (int nr = 0; nr < 2; nr++) {
        const char *origin = NULL;
        if (nr && session_client(s)->customer)
            break;
        enum pat_result r = patternset_match(&c->sets[kind][nr], subject, strlen(subject), &origin);
        if (r == PAT_NOMATCH)
            continue;
        if (r == PAT_ERROR || r == PAT_BAD) {
            finding_reason(f, r == PAT_BAD ? "%s: %s" : "%s: %s gave up (match limit)",
                           FILE_KEY(kind, nr), origin);
            session_error(s, &layer_regex, "pcre");
            return CHECK_ERROR;
        }
        finding_set(f, 553, "5.7.1", "%s", texts[kind]);
        finding_reason(f, "%s %s", FILE_KEY(kind, nr), origin);
        f->customer_exempt = nr; /* a later AUTH lifts a norelay verdict */
        return CHECK_MATCH;
    }
    return CHECK_NOMATCH;
}

static enum check regex_helo(policy_session *s, const void *cfg, struct finding *f)
{
    return check(s, cfg, RX_HELO, session_client(s)->helo, f);
}

static enum check regex_mail(policy_session *s, const void *cfg, struct finding *f)
{
    return check(s, cfg, RX_MAIL, session_txn(s)->sender, f);
}

static enum check regex_rcpt(policy_session *s, const void *cfg, struct finding *f)
{
    return check(s, cfg, RX_RCPT, session_txn(s)->rcpt, f);
}

/* unfold - a header value without its line breaks (RFC 5322 2.2.3). */
static char *unfold(const char *v, char *buf, size_t buflen, size_t *outlen)
{
    size_t n = strlen(v), o = 0;
    char *out = n < buflen ? buf : malloc(n + 1);
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (v[i] != '\r' && v[i] != '\n')
            out[o++] = v[i];
    out[o] = '\0';
    *outlen = o;
    return out;
}

static enum check regex_header(policy_session *s, const void *cfg, struct finding *f)
{
    const struct regex_cfg *c = cfg;
    char buf[4096], *value = NULL;
    size_t len = 0;
    enum check res = CHECK_NOMATCH;

    for (size_t i = 0; i < c->nrules && res == CHECK_NOMATCH; i++) {
        const char *origin;
        if (!str_ieq(c->rules[i].name, session_header(s)->name))
            continue;
        if (!value && !(value = unfold(session_header(s)->value, buf, sizeof(buf), &len))) {
            finding_reason(f, "out of memory");
            return CHECK_ERROR;
        }
        enum pat_result r = patternset_match(&c->rules[i].set, value, len, &origin);
        if (r == PAT_MATCH) {
            finding_set(f, 554, "5.7.1", "message rejected: header %s blocked by policy",
                        c->rules[i].name);
            finding_reason(f, "header_block %s", c->rules[i].name);
            res = CHECK_MATCH;
        } else if (r == PAT_ERROR) {
            finding_reason(f, "header_block %s gave up (match limit)", c->rules[i].name);
            session_error(s, &layer_regex, "pcre");
            res = CHECK_ERROR;
        } else if (r == PAT_BAD) {
            finding_reason(f, "%s", origin);
            session_error(s, &layer_regex, "pcre");
            res = CHECK_ERROR;
        }
    }
    if (value && value != buf)
        free(value);
    return res;
}

static unsigned regex_stages(const void *cfg)
{
    const struct regex_cfg *c = cfg;
    static const enum stage at[RX_KINDS] = {STAGE_HELO, STAGE_MAIL, STAGE_RCPT};
    unsigned mask = c->nrules ? 1u << STAGE_HEADER : 0;
    for (int k = 0; k < RX_KINDS; k++)
        if (c->sets[k][0].n || c->sets[k][1].n)
            mask |= 1u << at[k];
    return mask;
}

const struct layer_desc layer_regex = {
    .name = "regex",
    .list_keys = list_keys,
    .default_action = LA_REJECT,
    .cfg_size = sizeof(struct regex_cfg),
    .defaults = regex_defaults,
    .set = regex_set,
    .load = regex_load,
    .free = regex_free,
    .stages = regex_stages,
    .hooks = {[STAGE_HELO] = regex_helo,
              [STAGE_MAIL] = regex_mail,
              [STAGE_RCPT] = regex_rcpt,
              [STAGE_HEADER] = regex_header},
};
