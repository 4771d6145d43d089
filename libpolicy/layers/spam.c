/*
 * spam.c - layer 6, spam: the built-in statistical filter (support/spam/:
 * tokenizer on the one MIME parse, logistic regression, tokens in the
 * state service) and a SpamAssassin spamd client, alone or together, at
 * end of message.  One score in SpamAssassin points decides: tagged
 * (X-Spam-Flag, X-Spam-Status, X-Spam-Level, a subject tag) at tag_score,
 * refused (554 5.7.1) at reject_score, per recipient from a cdb map; the
 * filter learns from what it sees (learn = toe | teft) and from
 * policyctl train, which also takes a wrong verdict back.
 *
 * A spamd that fails and a store that fails are errors on_error decides:
 * with tempfail no message passes unchecked; with accept the part that
 * answered decides alone.  Customers' mail is not checked unless
 * scan_customers says so.
 */
#include <cdb.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../core/layer.h"
#include "../support/mime.h"
#include "../support/spam/spamclass.h"
#include "../support/spam/spamstore.h"
#include "../support/spam/spamtok.h"
#include "../support/spamd.h"
#include "../support/store.h"

extern const struct layer_desc layer_spam;

#define SPAM_NEVER       1e300 /* reject_score = off */
#define SPAM_EVEN        5.0   /* the built-in filter alone: even odds are 5 points */
#define SPAM_POINTS_MAX  50.0  /* the built-in filter's share, either way */
#define SPAM_SUBJECT_MAX 900   /* bytes of a subject kept for the subject tag */
#define SPAM_TAG_MAX     64
#define SPAM_PREFS_MAX   256 /* bytes of one map entry */
/* a batch of policy_spam_* may wait this long for Redis: outside SMTP a
 * write back of a whole training run on a busy server is slow, not wrong */
#define SPAM_TOOL_TIMEOUT_MS 10000u

enum spam_learn { LEARN_NONE, LEARN_TOE, LEARN_TEFT };
enum spam_headers { HEADERS_ALL, HEADERS_SPAM, HEADERS_NONE };

struct spam_cfg {
    int builtin;             /* the built-in filter runs */
    char *store_uri;         /* [spam] store; NULL: [general] store */
    struct store *own_store; /* opened from store_uri */
    struct store *store;     /* the one in use */
    char *spamd_servers;     /* NULL: no spamd */
    struct spamd *spamd;
    enum spamd_cmd spamd_cmd;
    unsigned long spamd_timeout_ms, spamd_connect_ms;
    uint64_t spamd_max_size;
    char spamd_user[SPAMD_USER_MAX]; /* "" none */
    int spamd_user_rcpt;             /* User: the recipient (one recipient only) */
    double weight;                   /* points per unit of the filter's log odds */
    double tag, reject;
    char subject_tag[SPAM_TAG_MAX]; /* "" none */
    enum spam_headers headers;
    char *map_path;
    struct cdb map;
    int has_map;
    int scan_customers;
    enum spam_learn learn;
    double learn_spam, learn_ham;
    uint64_t token_ttl, record_ttl;
    unsigned long max_features;
};

/* What the recipients of a message want (the most lenient of them). */
struct spam_prefs {
    int off;
    double tag, reject;
    int subject;
};

struct spam_state {
    /* the session's, made on first use */
    struct spamtok *tok;
    struct spamstore_kv *kv;
    struct spamclass *cls;
    struct spamd_scan *scan;
    /* the message's */
    int prepared, active, scanning, tok_failed;
    const char *skipped; /* why the message is not checked */
    struct spam_prefs prefs;
    char subject[SPAM_SUBJECT_MAX + 1];
    int has_subject;
};

/* ------------------------------------------------------------ configuration */

static void spam_defaults(void *cfg)
{
    struct spam_cfg *c = cfg;
    c->builtin = 1;
    c->spamd_cmd = SPAMD_SYMBOLS;
    c->weight = 2.0;
    c->tag = 5.0;
    c->reject = 15.0;
    snprintf(c->subject_tag, sizeof(c->subject_tag), "[SPAM]");
    c->headers = HEADERS_ALL;
    c->learn = LEARN_TOE;
    c->learn_spam = 12.0;
    c->learn_ham = 0.1;
    c->token_ttl = 180 * 86400ULL;
    c->record_ttl = 14 * 86400ULL;
    c->max_features = 4000;
}

/* parse_score - a score in points (may be negative), or "off" when off_ok. */
static int parse_score(const char *v, double *out, int off_ok, struct cfg_err *err)
{
    char *end;
    if (off_ok && (!strcmp(v, "off") || !strcmp(v, "never"))) {
        *out = SPAM_NEVER;
        return 0;
    }
    double d = strtod(v, &end);
    if (end == v || *end || !isfinite(d) || d < -1000 || d > 1000)
        return cfg_fail(err, "expected a score in points%s, got '%s'", off_ok ? " or off" : "", v);
    *out = d;
    return 0;
}

static int spam_set(void *cfg, const char *key, const char *v, struct cfg_err *err)
{
    struct spam_cfg *c = cfg;
    if (!strcmp(key, "builtin"))
        return cfg_set_bool(v, &c->builtin, err);
    if (!strcmp(key, "store"))
        return cfg_set_string(&c->store_uri, v, err);
    if (!strcmp(key, "spamd")) {
        if (!*v) {
            free(c->spamd_servers);
            c->spamd_servers = NULL;
            return 0;
        }
        return cfg_set_string(&c->spamd_servers, v, err);
    }
    if (!strcmp(key, "spamd_command")) {
        if (!strcmp(v, "check"))
            c->spamd_cmd = SPAMD_CHECK;
        else if (!strcmp(v, "symbols"))
            c->spamd_cmd = SPAMD_SYMBOLS;
        else if (!strcmp(v, "report"))
            c->spamd_cmd = SPAMD_REPORT;
        else
            return cfg_fail(err, "expected check, symbols or report, got '%s'", v);
        return 0;
    }
    if (!strcmp(key, "spamd_timeout"))
        return cfg_set_ms(v, 100, 600000, &c->spamd_timeout_ms, err);
    if (!strcmp(key, "spamd_connect_timeout"))
        return cfg_set_ms(v, 10, 60000, &c->spamd_connect_ms, err);
    if (!strcmp(key, "spamd_max_size"))
        return cfg_parse_size(v, (uint64_t)1 << 30, &c->spamd_max_size) || !c->spamd_max_size
                   ? cfg_fail(err, "expected a size up to 1G (e.g. 500k), got '%s'", v)
                   : 0;
    if (!strcmp(key, "spamd_user")) {
        c->spamd_user_rcpt = !strcmp(v, "%recipient");
        if (c->spamd_user_rcpt || !*v) {
            c->spamd_user[0] = '\0';
            return 0;
        }
        size_t n = strlen(v);
        if (n >= sizeof(c->spamd_user))
            return cfg_fail(err, "a user name of at most %zu bytes", sizeof(c->spamd_user) - 1);
        for (size_t i = 0; i < n; i++)
            if (v[i] <= ' ' || v[i] > '~')
                return cfg_fail(err, "a user name is printable ASCII without blanks");
        memcpy(c->spamd_user, v, n + 1);
        return 0;
    }
    if (!strcmp(key, "builtin_weight")) {
        if (parse_score(v, &c->weight, 0, err) || c->weight <= 0 || c->weight > 100)
            return cfg_fail(err, "expected points per unit of log odds, above 0, got '%s'", v);
        return 0;
    }
    if (!strcmp(key, "tag_score"))
        return parse_score(v, &c->tag, 0, err);
    if (!strcmp(key, "reject_score"))
        return parse_score(v, &c->reject, 1, err);
    if (!strcmp(key, "subject_tag")) {
        size_t n = strlen(v);
        if (!strcmp(v, "none"))
            n = 0;
        if (n >= sizeof(c->subject_tag))
            return cfg_fail(err, "a subject tag of at most %zu bytes", sizeof(c->subject_tag) - 1);
        for (size_t i = 0; i < n; i++)
            if (v[i] < ' ' || v[i] > '~')
                return cfg_fail(err, "a subject tag is printable ASCII");
        memcpy(c->subject_tag, v, n);
        c->subject_tag[n] = '\0';
        return 0;
    }
    if (!strcmp(key, "headers")) {
        if (!strcmp(v, "all"))
            c->headers = HEADERS_ALL;
        else if (!strcmp(v, "spam"))
            c->headers = HEADERS_SPAM;
        else if (!strcmp(v, "none"))
            c->headers = HEADERS_NONE;
        else
            return cfg_fail(err, "expected all, spam or none, got '%s'", v);
        return 0;
    }
    if (!strcmp(key, "map"))
        return cfg_set_string(&c->map_path, v, err);
    if (!strcmp(key, "scan_customers"))
        return cfg_set_bool(v, &c->scan_customers, err);
    if (!strcmp(key, "learn")) {
        if (!strcmp(v, "toe"))
            c->learn = LEARN_TOE;
        else if (!strcmp(v, "teft"))
            c->learn = LEARN_TEFT;
        else if (!strcmp(v, "none"))
            c->learn = LEARN_NONE;
        else
            return cfg_fail(err, "expected toe, teft or none, got '%s'", v);
        return 0;
    }
    if (!strcmp(key, "learn_spam_score"))
        return parse_score(v, &c->learn_spam, 0, err);
    if (!strcmp(key, "learn_ham_score"))
        return parse_score(v, &c->learn_ham, 0, err);
    if (!strcmp(key, "token_ttl"))
        return cfg_parse_period(v, 3650 * 86400ULL, &c->token_ttl)
                   ? cfg_fail(err,
                              "expected a period up to 10 years (e.g. 180d, 0 for ever), got '%s'",
                              v)
                   : 0;
    if (!strcmp(key, "record_ttl"))
        return cfg_parse_period(v, 365 * 86400ULL, &c->record_ttl) || !c->record_ttl
                   ? cfg_fail(err, "expected a period from 1s to a year (e.g. 14d), got '%s'", v)
                   : 0;
    if (!strcmp(key, "max_features"))
        return cfg_parse_uint(v, 65536, &c->max_features) || c->max_features < 100
                   ? cfg_fail(err, "expected 100 to 65536, got '%s'", v)
                   : 0;
    return CFG_UNKNOWN_KEY;
}

static void spam_store_log(int level, const char *line, void *ctx)
{
    elog(ctx, level, "spam: store: %s", line);
}

static int spam_load(void *cfg, const policy_engine *e, struct cfg_err *err, const char **key)
{
    struct spam_cfg *c = cfg;
    char why[POLICY_ERR_MAX - 64];
    if (c->store_uri) {
        *key = "store";
        if (!(c->own_store = store_open(c->store_uri, why, sizeof(why))))
            return cfg_fail(err, "%s", why);
        store_set_log(c->own_store, spam_store_log, (void *)e);
        c->store = c->own_store;
    } else {
        c->store = engine_store(e);
    }
    if (!engine_layer_configured(e, &layer_spam) && !c->store && !c->spamd_servers) {
        c->builtin = 0; /* no section: off (a variable that turns it on finds nothing to do) */
        return 0;
    }
    if (c->builtin && !c->store) {
        *key = "builtin";
        return cfg_fail(err, "the built-in filter needs a token store: [spam] store or "
                             "[general] store (or builtin = no with spamd)");
    }
    if (!c->builtin && !c->spamd_servers) {
        *key = "spamd";
        return cfg_fail(err, "nothing to check with: builtin = no and no spamd servers");
    }
    if (c->spamd_servers) {
        struct spamd_settings set = {(unsigned)c->spamd_connect_ms, (unsigned)c->spamd_timeout_ms,
                                     c->spamd_max_size};
        *key = "spamd";
        if (!(c->spamd = spamd_new(c->spamd_servers, &set, why, sizeof(why))))
            return cfg_fail(err, "%s", why);
    }
    if (c->reject < c->tag) {
        *key = "reject_score";
        return cfg_fail(err, "reject_score is below tag_score");
    }
    if (c->learn_ham >= c->learn_spam) {
        *key = "learn_ham_score";
        return cfg_fail(err, "learn_ham_score must be below learn_spam_score");
    }
    if (c->map_path) {
        *key = "map";
        int fd = file_open(c->map_path, why, sizeof(why));
        if (fd < 0)
            return cfg_fail(err, "%s", why);
        int r = cdb_init(&c->map, fd);
        close(fd); /* the mapping stays */
        if (r != 0)
            return cfg_fail(err, "%s is not a cdb file (build it with cdb -c -m)", c->map_path);
        c->has_map = 1;
    }
    return 0;
}

static void spam_free(void *cfg)
{
    struct spam_cfg *c = cfg;
    store_close(c->own_store);
    spamd_free(c->spamd);
    if (c->has_map)
        cdb_free(&c->map);
    free(c->store_uri);
    free(c->spamd_servers);
    free(c->map_path);
}

static unsigned spam_needs(const void *cfg)
{
    const struct spam_cfg *c = cfg;
    unsigned n = 0;
    if (c->builtin)
        n |= NEED_MIME | NEED_MIME_HEADERS | NEED_BODY | NEED_TEXT;
    if (c->spamd)
        n |= NEED_SPOOL | NEED_MIME | NEED_MIME_HEADERS; /* the subject, for its tag */
    return n;
}

/* ------------------------------------------------------------ recipients' settings */

/* prefs_parse - a map entry: "off", or words tag=N reject=N|off subject=yes|no,
 * onto p.  0, or -1 when a word is not understood (the entry is ignored). */
static int prefs_parse(const char *v, size_t n, struct spam_prefs *p)
{
    char buf[SPAM_PREFS_MAX + 1], *save = NULL;
    struct spam_prefs q = *p;
    struct cfg_err err;
    if (n > SPAM_PREFS_MAX)
        return -1;
    memcpy(buf, v, n);
    buf[n] = '\0';
    for (char *w = strtok_r(buf, WORDS_SEP, &save); w; w = strtok_r(NULL, WORDS_SEP, &save)) {
        if (!strcmp(w, "off"))
            q.off = 1;
        else if (!strncmp(w, "tag=", 4) && parse_score(w + 4, &q.tag, 0, &err) == 0)
            ;
        else if (!strncmp(w, "reject=", 7) && parse_score(w + 7, &q.reject, 1, &err) == 0)
            ;
        else if (!strncmp(w, "subject=", 8) && cfg_parse_bool(w + 8, &q.subject) == 0)
            ;
        else
            return -1;
    }
    *p = q;
    return 0;
}

/* prefs_lookup - the settings of one recipient: "local@domain", else
 * "@domain", else "" in the map, else the configuration's. */
static void prefs_lookup(policy_session *s, const struct spam_cfg *c, const char *rcpt,
                         struct spam_prefs *p)
{
    char key[POLICY_ADDR_MAX + 2];
    *p = (struct spam_prefs){0, c->tag, c->reject, c->subject_tag[0] != '\0'};
    if (!c->has_map)
        return;
    snprintf(key, sizeof(key), "%s", rcpt);
    str_lower(key);
    const char *at = strrchr(key, '@');
    const char *keys[3] = {key, at ? at : NULL, ""};
    for (int i = 0; i < 3; i++) {
        if (!keys[i])
            continue;
        struct cdb db = c->map; /* cdb_find writes into it */
        int r = cdb_find(&db, keys[i], (unsigned)strlen(keys[i]));
        if (r < 0) {
            plog(s, POLICY_LOG_ERR, "spam: map %s is damaged", c->map_path);
            return;
        }
        if (r == 0)
            continue;
        const char *v = cdb_getdata(&db);
        if (!v || prefs_parse(v, cdb_datalen(&db), p) != 0)
            plog(s, POLICY_LOG_WARNING, "spam: map %s: entry for \"%s\" not understood",
                 c->map_path, keys[i]);
        return;
    }
}

/* prefs_of_message - the most lenient settings of the recipients: any
 * opted out exempts the message; the highest tag and reject scores; the
 * subject is tagged only when every recipient wants it. */
static void prefs_of_message(policy_session *s, const struct spam_cfg *c, struct spam_prefs *out)
{
    const struct txn *t = session_txn(s);
    *out = (struct spam_prefs){0, c->tag, c->reject, c->subject_tag[0] != '\0'};
    for (size_t i = 0; i < t->nrcpts; i++) {
        struct spam_prefs p;
        prefs_lookup(s, c, t->rcpts[i], &p);
        if (i == 0) {
            *out = p;
            continue;
        }
        out->off |= p.off;
        out->tag = p.tag > out->tag ? p.tag : out->tag;
        out->reject = p.reject > out->reject ? p.reject : out->reject;
        out->subject &= p.subject;
    }
    if (out->reject < out->tag)
        out->reject = out->tag;
}

/* ------------------------------------------------------------ the filter's pieces */

static struct spam_state *state(policy_session *s)
{
    return session_layer_state(s, &layer_spam);
}

static struct spamtok *new_tokenizer(const struct spam_cfg *c)
{
    struct spamtok_opts o = {0};
    o.max_features = (unsigned)c->max_features;
    return spamtok_new(&o);
}

/* classifier - the session's classifier on the store, made on first use;
 * NULL (why set) when it cannot be. */
static struct spamclass *classifier(policy_session *s, const struct spam_cfg *c, const char **why)
{
    struct spam_state *st = state(s);
    if (st->cls)
        return st->cls;
    struct store_conn *conn = session_store_conn(s, c->store);
    if (!conn) {
        *why = "no connection to the store";
        return NULL;
    }
    struct spamstore_kv_opts o = {(unsigned)c->token_ttl, (unsigned)c->record_ttl, 0};
    if (!st->kv && !(st->kv = spamstore_kv_new(conn, &o))) {
        *why = "out of memory";
        return NULL;
    }
    if (!(st->cls = spamclass_new(spamstore_kv_ops(), st->kv, NULL)))
        *why = "out of memory";
    return st->cls;
}

/* points - the built-in filter's share of the score for log odds z. */
static double points(const struct spam_cfg *c, double z)
{
    double p = c->weight * z;
    return p > SPAM_POINTS_MAX ? SPAM_POINTS_MAX : p < -SPAM_POINTS_MAX ? -SPAM_POINTS_MAX : p;
}

/* ------------------------------------------------------------ the message's content */

/* prepare - at the message's first event: is it checked, for whom. */
static void prepare(policy_session *s, const struct spam_cfg *c)
{
    struct spam_state *st = state(s);
    if (st->prepared)
        return;
    st->prepared = 1;
    st->active = 0;
    st->skipped = NULL;
    st->has_subject = 0;
    st->tok_failed = 0;
    if (session_client(s)->customer && !c->scan_customers) {
        st->skipped = "customer";
        return;
    }
    prefs_of_message(s, c, &st->prefs);
    if (st->prefs.off) {
        st->skipped = "recipient opted out";
        return;
    }
    st->active = 1;
    if (!c->builtin)
        return;
    if (!st->tok && !(st->tok = new_tokenizer(c))) {
        st->tok_failed = 1;
        return;
    }
    spamtok_begin(st->tok);
}

/* tokenizing - prepared, checked, and the built-in filter reads it. */
static struct spamtok *tokenizing(policy_session *s, const struct spam_cfg *c)
{
    struct spam_state *st = state(s);
    prepare(s, c);
    return st->active && c->builtin ? st->tok : NULL;
}

static void spam_header(policy_session *s, const void *cfg, const struct mime_part *p,
                        const struct mime_header *h)
{
    struct spam_state *st = state(s);
    struct spamtok *t = tokenizing(s, cfg);
    if (t)
        spamtok_header(t, p, h);
    if (st->active && p->index == 0 && !st->has_subject && h->name_len == 7 &&
        str_ieqn(h->name, "Subject", 7)) {
        size_t n = h->value_len < SPAM_SUBJECT_MAX ? h->value_len : SPAM_SUBJECT_MAX;
        memcpy(st->subject, h->value, n);
        st->subject[n] = '\0';
        st->has_subject = 1;
    }
}

static void spam_part_begin(policy_session *s, const void *cfg, const struct mime_part *p)
{
    struct spamtok *t = tokenizing(s, cfg);
    if (t)
        spamtok_part_begin(t, p);
}

static void spam_body(policy_session *s, const void *cfg, const struct mime_part *p,
                      const unsigned char *d, size_t n)
{
    struct spamtok *t = tokenizing(s, cfg);
    if (t)
        spamtok_body(t, p, d, n);
}

static void spam_text(policy_session *s, const void *cfg, const struct mime_part *p,
                      const char *utf8, size_t n)
{
    struct spamtok *t = tokenizing(s, cfg);
    if (t)
        spamtok_text(t, p, utf8, n);
}

static void spam_part_end(policy_session *s, const void *cfg, const struct mime_part *p)
{
    struct spamtok *t = tokenizing(s, cfg);
    if (t)
        spamtok_part_end(t, p);
}

/* ------------------------------------------------------------ end of message */

static ssize_t spool_reader(void *ctx, uint64_t off, void *buf, size_t len)
{
    return message_read(ctx, off, buf, len);
}

/* spam_eom_start - spamd gets the message now; it works while the other
 * layers start theirs and the built-in filter reads its store. */
static void spam_eom_start(policy_session *s, const void *cfg)
{
    const struct spam_cfg *c = cfg;
    struct spam_state *st = state(s);
    prepare(s, c);
    if (!st->active || !c->spamd || st->scanning)
        return;
    struct waiter *w = session_waiter(s);
    if (!st->scan)
        st->scan = spamd_scan_new();
    if (!w || !st->scan)
        return; /* collected as an error */
    const struct txn *t = session_txn(s);
    const char *user = c->spamd_user;
    char rcpt[SPAMD_USER_MAX];
    if (c->spamd_user_rcpt && t->nrcpts == 1) {
        sanitize_copy(rcpt, sizeof(rcpt), t->rcpts[0], SIZE_MAX);
        for (char *p = rcpt; *p; p++)
            if (*p == ' ')
                *p = '_';
        user = rcpt;
    }
    spamd_scan_start(st->scan, c->spamd, w, c->spamd_cmd, user, spool_reader, s, message_size(s));
    st->scanning = 1;
}

/* What the parts of the check said about one message. */
struct verdict_parts {
    int have_builtin, have_spamd;
    struct spamclass_result br; /* built-in */
    double bpoints;
    const struct spamd_result *sr;
    const char *builtin_err, *spamd_err;
    size_t nfeat;
    const uint64_t *feat;
    size_t nmsg;
};

/* run_builtin - classify the message with the built-in filter. */
static void run_builtin(policy_session *s, const struct spam_cfg *c, struct verdict_parts *v)
{
    struct spam_state *st = state(s);
    if (st->tok_failed || !st->tok) {
        v->builtin_err = "out of memory";
        return;
    }
    spamtok_end(st->tok, message_mime_flags(s));
    v->feat = spamtok_features(st->tok, &v->nfeat, &v->nmsg);
    struct spamclass *cls = classifier(s, c, &v->builtin_err);
    if (!cls)
        return;
    if (spamclass_classify(cls, v->feat, v->nfeat, v->nmsg, &v->br) != SPAMSTORE_OK) {
        v->builtin_err = spamstore_kv_error(st->kv);
        return;
    }
    v->have_builtin = 1;
    v->bpoints = points(c, v->br.rank);
}

/* run_spamd - collect spamd's answer. */
static void run_spamd(policy_session *s, const struct spam_cfg *c, struct verdict_parts *v)
{
    struct spam_state *st = state(s);
    if (!c->spamd)
        return;
    if (!st->scanning) {
        v->spamd_err = "could not start the scan (out of memory)";
        return;
    }
    st->scanning = 0;
    v->sr = spamd_scan_collect(st->scan);
    if (v->sr->status == SPAMD_HAM || v->sr->status == SPAMD_SPAM)
        v->have_spamd = 1;
    else if (v->sr->status == SPAMD_ERROR)
        v->spamd_err = v->sr->why;
    /* SKIPPED (over spamd_max_size) counts for nothing, as with spamc */
}

/* fold_append - a word onto a header value, folded before it when it would
 * pass column 78 (a header edit is one folded header; the blank a word
 * starts with becomes the fold's). */
static void fold_append(char *out, size_t cap, size_t *col, const char *word)
{
    size_t len = strlen(out), n = strlen(word);
    if (*col + n > 76 && *col > 8 && len + 3 < cap) {
        memcpy(out + len, "\r\n\t", 3);
        len += 3;
        out[len] = '\0';
        *col = 8;
        if (*word == ' ') {
            word++;
            n--;
        }
    }
    snprintf(out + len, cap - len, "%s", word);
    *col += n;
}

/* report_fold - spamd's report (printable lines, '\n' apart) as a header
 * value: blank lines dropped, each line a folded line of its own, cut so
 * that none passes column 78 ("X-Spam-Report: " before the first, a tab
 * of 8 before the others). */
static void report_fold(const char *report, char *out, size_t cap)
{
    size_t k = 0;
    out[0] = '\0';
    for (const char *l = report; *l;) {
        const char *e = strchr(l, '\n');
        size_t n = e ? (size_t)(e - l) : strlen(l);
        const char *next = e ? e + 1 : l + n;
        while (n && l[n - 1] == ' ')
            n--;
        while (n && *l == ' ')
            l++, n--;
        size_t room = k ? 78 - 8 : 78 - 15;
        if (n > room)
            n = room;
        if (n && k + n + 4 < cap) {
            if (k) {
                memcpy(out + k, "\r\n\t", 3);
                k += 3;
            }
            memcpy(out + k, l, n);
            k += n;
            out[k] = '\0';
        }
        l = next;
    }
}

/* add_headers - X-Spam-Status (and, for spam, X-Spam-Flag, X-Spam-Level,
 * the subject tag).  0, or -1 out of memory. */
static int add_headers(policy_session *s, const struct spam_cfg *c, const struct verdict_parts *v,
                       double score, int spam, const char *learned)
{
    struct spam_state *st = state(s);
    char status[2048], word[SPAMD_SYMBOLS_MAX + 64];
    size_t col = 15; /* "X-Spam-Status: " */
    if (c->headers == HEADERS_NONE || (c->headers == HEADERS_SPAM && !spam))
        return 0;
    snprintf(status, sizeof(status), "%s, score=%.1f required=%.1f", spam ? "Yes" : "No", score,
             st->prefs.tag);
    col += strlen(status);
    strcpy(word, " tests=");
    if (v->have_spamd && v->sr->symbols[0])
        snprintf(word + 7, sizeof(word) - 7, "%s", v->sr->symbols);
    else
        strcat(word, "none");
    /* the list is folded at its commas */
    char *save = NULL, *tok = strtok_r(word + 7, ",", &save);
    fold_append(status, sizeof(status), &col, " tests=");
    for (int first = 1; tok; tok = strtok_r(NULL, ",", &save), first = 0) {
        char item[SPAMD_SYMBOLS_MAX + 2];
        snprintf(item, sizeof(item), "%s%s", first ? "" : ",", tok);
        fold_append(status, sizeof(status), &col, item);
    }
    if (v->have_builtin) {
        snprintf(word, sizeof(word), " builtin=%.4f", v->br.score);
        fold_append(status, sizeof(status), &col, word);
    }
    if (v->have_spamd) {
        snprintf(word, sizeof(word), " spamd=%.1f", v->sr->score);
        fold_append(status, sizeof(status), &col, word);
    }
    snprintf(word, sizeof(word), " autolearn=%s", learned);
    fold_append(status, sizeof(status), &col, word);
    if (session_add_edit(s, POLICY_EDIT_ADD_HEADER, "X-Spam-Status", status) != 0)
        return -1;
    if (!spam)
        return 0;
    if (session_add_edit(s, POLICY_EDIT_ADD_HEADER, "X-Spam-Flag", "YES") != 0)
        return -1;
    if (v->have_spamd && v->sr->report[0]) {
        char report[SPAMD_REPORT_MAX * 2];
        report_fold(v->sr->report, report, sizeof(report));
        if (report[0] && session_add_edit(s, POLICY_EDIT_ADD_HEADER, "X-Spam-Report", report) != 0)
            return -1;
    }
    if (score >= 1) {
        char stars[51];
        size_t n = score >= 50 ? 50 : (size_t)score;
        memset(stars, '*', n);
        stars[n] = '\0';
        if (session_add_edit(s, POLICY_EDIT_ADD_HEADER, "X-Spam-Level", stars) != 0)
            return -1;
    }
    if (st->prefs.subject && c->subject_tag[0]) {
        size_t tl = strlen(c->subject_tag);
        if (st->has_subject && !strncmp(st->subject, c->subject_tag, tl))
            return 0; /* tagged already (a second pass, a forward) */
        char subject[SPAM_TAG_MAX + SPAM_SUBJECT_MAX + 2];
        snprintf(subject, sizeof(subject), "%s%s%s", c->subject_tag,
                 st->has_subject && st->subject[0] ? " " : "", st->has_subject ? st->subject : "");
        if (session_add_edit(s, POLICY_EDIT_CHANGE_HEADER, "Subject", subject) != 0)
            return -1;
    }
    return 0;
}

/* autolearn - train the built-in filter with what the check concluded:
 * as spam at learn_spam_score or more, as ham at learn_ham_score or less,
 * on the evidence of spamd when it answered (as SpamAssassin's own
 * auto-learning leaves its Bayes rules out), else of the filter itself.
 * toe trains only when the filter was not sure of that label already.
 * Returns what the header says: "spam", "ham", "no", "failed". */
static const char *autolearn(policy_session *s, const struct spam_cfg *c,
                             const struct verdict_parts *v, double score)
{
    struct spam_state *st = state(s);
    if (c->learn == LEARN_NONE || !v->have_builtin)
        return "no";
    double evidence = v->have_spamd ? v->sr->score : score;
    int label = evidence >= c->learn_spam ? 1 : evidence <= c->learn_ham ? 0 : -1;
    if (label < 0)
        return "no";
    enum spamclass_trained what;
    int mode = c->learn == LEARN_TEFT ? SPAMCLASS_TRAIN_ALL : SPAMCLASS_TRAIN_ON_ERROR;
    if (spamclass_train(st->cls, v->feat, v->nfeat, v->nmsg, label, mode, &what) != SPAMSTORE_OK) {
        plog(s, POLICY_LOG_WARNING, "spam: learning failed: %s", spamstore_kv_error(st->kv));
        return "failed";
    }
    if (what == SPAMCLASS_LEARNED || what == SPAMCLASS_CORRECTED) {
        spamstore_kv_forget_touches(st->kv); /* the training renewed them */
        return label ? "spam" : "ham";
    }
    return "no";
}

static enum check spam_eom(policy_session *s, const void *cfg, struct finding *f)
{
    const struct spam_cfg *c = cfg;
    struct spam_state *st = state(s);
    struct verdict_parts v = {0};
    prepare(s, c);
    if (!st->active) {
        plog(s, POLICY_LOG_DEBUG, "spam: not checked: %s", st->skipped ? st->skipped : "off");
        return CHECK_NOMATCH;
    }
    if (c->spamd && !st->scanning)
        spam_eom_start(s, cfg); /* the core starts every layer first; be safe */
    if (c->builtin)
        run_builtin(s, c, &v);
    run_spamd(s, c, &v);
    if (v.builtin_err || v.spamd_err) {
        char why[POLICY_REASON_MAX + 1];
        snprintf(why, sizeof(why), "%s%s%s%s%s", v.builtin_err ? "token store: " : "",
                 v.builtin_err ? v.builtin_err : "", v.builtin_err && v.spamd_err ? "; " : "",
                 v.spamd_err ? "spamd: " : "", v.spamd_err ? v.spamd_err : "");
        if (v.builtin_err)
            session_error(s, &layer_spam, "store");
        if (v.spamd_err)
            session_error(s, &layer_spam, "spamd");
        if (session_layer_on_error(s, &layer_spam) == OE_TEMPFAIL ||
            (!v.have_builtin && !v.have_spamd)) {
            finding_set(f, 451, "4.3.0", "temporary failure of the spam check, try again later");
            finding_reason(f, "%s", why);
            if (st->kv)
                spamstore_kv_forget_touches(st->kv);
            return CHECK_ERROR;
        }
        plog(s, POLICY_LOG_WARNING, "spam: %s (on_error = accept: the rest decides)", why);
    }
    double score = (v.have_spamd ? v.sr->score : 0) +
                   (v.have_builtin ? v.bpoints + (v.have_spamd ? 0 : SPAM_EVEN) : 0);
    if (!v.have_builtin && !v.have_spamd) /* spamd skipped a big message, nothing else */
        return CHECK_NOMATCH;
    int spam = score >= st->prefs.tag, reject = score >= st->prefs.reject;
    enum layer_action act = session_layer_action(s, &layer_spam);
    const char *learned = autolearn(s, c, &v, score);
    if (v.have_builtin && spamstore_kv_touch(st->kv) != SPAMSTORE_OK)
        plog(s, POLICY_LOG_WARNING, "spam: renewing tokens failed: %s", spamstore_kv_error(st->kv));
    char spamd_part[64] = "";
    char builtin_part[64] = "";
    if (v.have_spamd)
        snprintf(spamd_part, sizeof(spamd_part), " spamd=%.1f", v.sr->score);
    if (v.have_builtin)
        snprintf(builtin_part, sizeof(builtin_part), " builtin=%.4f(%+.1f)", v.br.score, v.bpoints);
    plog(s, POLICY_LOG_INFO, "spam: score=%.1f tag=%.1f reject=%.1f%s%s verdict=%s autolearn=%s",
         score, st->prefs.tag, st->prefs.reject >= SPAM_NEVER ? 0.0 : st->prefs.reject,
         builtin_part, spamd_part,
         reject ? "reject"
         : spam ? "tag"
                : "ham",
         learned);
    if (act == LA_WARN || act == LA_OFF)
        return spam ? (finding_set(f, 554, "5.7.1", "message looks like spam"),
                       finding_reason(f, "score %.1f", score), CHECK_MATCH)
                    : CHECK_NOMATCH; /* the core logs what would have happened */
    if (reject && (act == LA_REJECT || act == LA_TEMPFAIL)) {
        finding_set(f, 554, "5.7.1", "message rejected as spam");
        finding_reason(f, "score %.1f at or above %.1f%s%s", score, st->prefs.reject, builtin_part,
                       spamd_part);
        return CHECK_MATCH;
    }
    if (add_headers(s, c, &v, score, spam, learned) != 0) {
        finding_set(f, 451, "4.3.0", "internal error: out of memory");
        finding_reason(f, "cannot add the spam headers");
        return CHECK_ERROR;
    }
    return CHECK_NOMATCH;
}

static void spam_txn_reset(void *state_)
{
    struct spam_state *st = state_;
    if (st->scanning && st->scan)
        spamd_scan_cancel(st->scan);
    st->scanning = 0;
    st->prepared = 0;
    st->active = 0;
}

static void spam_state_free(policy_session *s, void *state_)
{
    struct spam_state *st = state_;
    (void)s;
    spamd_scan_free(st->scan);
    spamclass_free(st->cls);
    spamstore_kv_free(st->kv);
    spamtok_free(st->tok);
}

const struct layer_desc layer_spam = {
    .name = "spam",
    .flags = LAYER_OPTIN,
    .default_action = LA_REJECT,
    .cfg_size = sizeof(struct spam_cfg),
    .defaults = spam_defaults,
    .set = spam_set,
    .load = spam_load,
    .free = spam_free,
    .state_size = sizeof(struct spam_state),
    .txn_reset = spam_txn_reset,
    .state_free = spam_state_free,
    .hooks = {[STAGE_EOM] = spam_eom},
    .eom_start = spam_eom_start,
    .content = {.header = spam_header,
                .part_begin = spam_part_begin,
                .body = spam_body,
                .text = spam_text,
                .part_end = spam_part_end},
    .needs = NEED_SPOOL | NEED_MIME | NEED_MIME_HEADERS | NEED_BODY | NEED_TEXT,
    .needs_of = spam_needs,
};

/* ------------------------------------------------------------ outside SMTP: policyctl */

struct policy_spam {
    policy_engine *e;
    const struct spam_cfg *c;
    struct store_conn *conn;
    struct spamstore_kv *kv;
    struct spamstore_cache *cache; /* POLICY_SPAM_BULK */
    struct spamclass *cls;
    struct spamtok *tok;
    struct mime_parser *mp;
    char err[256];
};

policy_spam *policy_spam_open(policy_engine *e, unsigned flags, char *err, size_t errlen)
{
    const struct spam_cfg *c = e ? engine_layer_cfg(e, &layer_spam) : NULL;
    if (c && !c->builtin && c->spamd_servers) {
        snprintf(err, errlen, "the built-in spam filter is off ([spam] builtin = no)");
        return NULL;
    }
    if (!c || !c->store || !c->builtin) {
        snprintf(
            err, errlen, "%s",
            !c ? "no engine"
               : "the built-in spam filter is not configured ([spam] store or [general] store)");
        return NULL;
    }
    policy_spam *sp = calloc(1, sizeof(*sp));
    struct spamstore_kv_opts o = {(unsigned)c->token_ttl, (unsigned)c->record_ttl, 0};
    struct mime_handler h;
    if (!sp || !(sp->conn = store_conn_new(c->store, NULL)) ||
        !(sp->kv = spamstore_kv_new(sp->conn, &o)) ||
        ((flags & POLICY_SPAM_BULK) &&
         !(sp->cache = spamstore_cache_new(spamstore_kv_ops(), sp->kv, 0))) ||
        !(sp->cls = sp->cache ? spamclass_new(spamstore_cache_ops(), sp->cache, NULL)
                              : spamclass_new(spamstore_kv_ops(), sp->kv, NULL)) ||
        !(sp->tok = new_tokenizer(c))) {
        snprintf(err, errlen, "out of memory");
        policy_spam_close(sp);
        return NULL;
    }
    store_conn_set_timeout(sp->conn, SPAM_TOOL_TIMEOUT_MS);
    spamtok_mime_handler(sp->tok, &h);
    if (!(sp->mp = mime_new(&h, NULL))) {
        snprintf(err, errlen, "out of memory");
        policy_spam_close(sp);
        return NULL;
    }
    sp->e = policy_engine_ref(e);
    sp->c = c;
    return sp;
}

int policy_spam_flush(policy_spam *sp)
{
    if (!sp)
        return -1;
    if ((sp->cache && spamstore_cache_flush(sp->cache) != SPAMSTORE_OK) ||
        spamstore_kv_touch(sp->kv) != SPAMSTORE_OK) {
        snprintf(sp->err, sizeof(sp->err), "token store: %s", spamstore_kv_error(sp->kv));
        return -1;
    }
    return 0;
}

void policy_spam_close(policy_spam *sp)
{
    if (!sp)
        return;
    if (sp->cache && spamstore_cache_pending(sp->cache))
        (void)policy_spam_flush(sp);
    spamstore_cache_free(sp->cache);
    mime_free(sp->mp);
    spamtok_free(sp->tok);
    spamclass_free(sp->cls);
    spamstore_kv_free(sp->kv);
    store_conn_free(sp->conn);
    policy_engine_unref(sp->e);
    free(sp);
}

const char *policy_spam_error(const policy_spam *sp)
{
    return sp ? sp->err : "no filter";
}

/* features - the message's features; NULL with sp->err on bad input. */
static const uint64_t *features(policy_spam *sp, const void *msg, size_t len, size_t *n,
                                size_t *nmsg)
{
    if (!msg && len) {
        snprintf(sp->err, sizeof(sp->err), "no message");
        return NULL;
    }
    spamtok_message(sp->tok, sp->mp, msg ? msg : "", len);
    return spamtok_features(sp->tok, n, nmsg);
}

int policy_spam_classify(policy_spam *sp, const void *msg, size_t len, double *score, int *is_spam)
{
    size_t n, nmsg;
    struct spamclass_result r;
    if (!sp)
        return -1;
    const uint64_t *f = features(sp, msg, len, &n, &nmsg);
    if (!f)
        return -1;
    if (spamclass_classify(sp->cls, f, n, nmsg, &r) != SPAMSTORE_OK) {
        snprintf(sp->err, sizeof(sp->err), "token store: %s", spamstore_kv_error(sp->kv));
        spamstore_kv_forget_touches(sp->kv);
        return -1;
    }
    if (score)
        *score = r.score;
    if (is_spam)
        *is_spam = points(sp->c, r.rank) + SPAM_EVEN >= sp->c->tag;
    if (!sp->cache && spamstore_kv_touch(sp->kv) != SPAMSTORE_OK) {
        snprintf(sp->err, sizeof(sp->err), "token store: %s", spamstore_kv_error(sp->kv));
        return -1;
    }
    return 0;
}

int policy_spam_train(policy_spam *sp, const void *msg, size_t len, int is_spam, unsigned flags,
                      policy_spam_trained *what)
{
    size_t n, nmsg;
    enum spamclass_trained t;
    if (!sp)
        return -1;
    const uint64_t *f = features(sp, msg, len, &n, &nmsg);
    if (!f)
        return -1;
    int mode = flags & POLICY_SPAM_TRAIN_ALL ? SPAMCLASS_TRAIN_ALL : SPAMCLASS_TRAIN_ON_ERROR;
    if (spamclass_train(sp->cls, f, n, nmsg, is_spam != 0, mode, &t) != SPAMSTORE_OK) {
        snprintf(sp->err, sizeof(sp->err), "token store: %s", spamstore_kv_error(sp->kv));
        spamstore_kv_forget_touches(sp->kv);
        return -1;
    }
    if (!sp->cache)
        spamstore_kv_forget_touches(sp->kv);
    if (what)
        *what = t == SPAMCLASS_LEARNED     ? POLICY_SPAM_LEARNED
                : t == SPAMCLASS_CORRECTED ? POLICY_SPAM_CORRECTED
                : t == SPAMCLASS_KNOWN     ? POLICY_SPAM_KNOWN
                                           : POLICY_SPAM_SKIPPED;
    return 0;
}
