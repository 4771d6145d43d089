/*
 * recipients.c - layer 3: does the recipient exist (qmail's chkuser)?
 *
 * Unknown recipients of local domains are refused at RCPT, so that nothing
 * is accepted only to bounce later to a forged sender.  The sources (cdb
 * maps from policyctl makemap, a vpopmail tree, qmail's users/cdb) are read
 * in the configured order; a recipient exists when one of them says so.  A
 * client that guesses addresses is a mail bomb: after wrongrcpt_limit
 * unknown recipients every further RCPT of the session is refused.  The
 * counters belong to the connection: RSET and a new MAIL do not reset them.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cdb.h>

#include "../core/layer.h"
#include "../support/address.h"
#include "../support/dns.h"
#include "../support/recipmap.h"

extern const struct layer_desc layer_recipients;

#define RCPT_MAX_SOURCES   8
#define RCPT_REPLY_MAX     300  /* configured reply texts */
#define RCPT_QMAIL_DEFAULT 4096 /* bytes of a .qmail-default we look at */
#define RCPT_LIMIT_MAX     1000000UL

enum src_kind { SRC_MAP, SRC_VPOPMAIL, SRC_QMAIL_USERS };

/* What a source says about one recipient. */
enum answer { ANS_NOTFOUND = 0, ANS_FOUND, ANS_NODOMAIN, ANS_ERROR };

struct source {
    enum src_kind kind;
    char *path;
    struct recipmap map; /* SRC_MAP */
    int domains_fd;      /* SRC_VPOPMAIL: <path>/domains, -1 closed */
    struct cdb users;    /* SRC_QMAIL_USERS: users/cdb, searched through copies */
    int users_open;
    char wild[256]; /* the characters that may end a wildcard prefix */
    size_t nwild;
};

enum wrong_action { WA_REJECT, WA_DISCONNECT };

struct recipients_cfg {
    struct source src[RCPT_MAX_SOURCES];
    size_t nsrc;
    int fold_case;
    char ext_sep[16]; /* extension separators, "" none */
    char *default_domain;
    unsigned long rcpt_limit, wrong_limit; /* 0: no limit */
    enum wrong_action wrong_action;
    char reply_unknown[RCPT_REPLY_MAX + 1];
    char reply_rcptlimit[RCPT_REPLY_MAX + 1];
    char reply_wrongrcpt[RCPT_REPLY_MAX + 1];
    char reply_sender_mx[RCPT_REPLY_MAX + 1];
    int sender_mx; /* chkuser's CHKUSER_SENDER_MX for every client */
};

/* Per connection, never reset by RSET (chkuser counts per session). */
struct recipients_state {
    unsigned long rcpts; /* RCPTs counted against rcpt_limit */
    unsigned long wrong; /* unknown local recipients */
    int bomb;            /* wrong reached the limit */
    /* the sender MX check: MX, A and AAAA of one domain, asked at once */
    char mx_domain[DNS_NAME_MAX + 1];
    struct dns_q *mx_q[3];
    int mx_started;
    char mx_group; /* its address names the questions' group */
};

static void recipients_defaults(void *cfg)
{
    struct recipients_cfg *c = cfg;
    c->fold_case = 1;
    snprintf(c->ext_sep, sizeof(c->ext_sep), "-+");
    c->wrong_action = WA_REJECT;
    for (size_t i = 0; i < RCPT_MAX_SOURCES; i++)
        c->src[i].domains_fd = -1;
    snprintf(c->reply_unknown, sizeof(c->reply_unknown), "sorry, no mailbox here by that name");
    snprintf(c->reply_rcptlimit, sizeof(c->reply_rcptlimit),
             "sorry, reached maximum number of recipients for one session");
    snprintf(c->reply_wrongrcpt, sizeof(c->reply_wrongrcpt),
             "sorry, you are violating our security policies");
    snprintf(c->reply_sender_mx, sizeof(c->reply_sender_mx),
             "sorry, can't find a valid MX for sender domain");
}

static int add_source(struct recipients_cfg *c, enum src_kind kind, const char *v,
                      struct cfg_err *err)
{
    if (c->nsrc == RCPT_MAX_SOURCES)
        return cfg_fail(err, "more than %d recipient sources", RCPT_MAX_SOURCES);
    if (!*v || strlen(v) > PATH_MAX)
        return cfg_fail(err, "expected a path");
    struct source *s = &c->src[c->nsrc];
    if (!(s->path = strdup(v)))
        return cfg_fail(err, "out of memory");
    s->kind = kind;
    c->nsrc++;
    return 0;
}

static int recipients_set(void *cfg, const char *key, const char *v, struct cfg_err *err)
{
    struct recipients_cfg *c = cfg;

    if (!strcmp(key, "map"))
        return add_source(c, SRC_MAP, v, err);
    if (!strcmp(key, "vpopmail_dir"))
        return add_source(c, SRC_VPOPMAIL, v, err);
    if (!strcmp(key, "qmail_users"))
        return add_source(c, SRC_QMAIL_USERS, v, err);
    if (!strcmp(key, "fold_case")) {
        return cfg_set_bool(v, &c->fold_case, err);
    }
    if (!strcmp(key, "extension_separator")) {
        if (!strcmp(v, "none")) {
            c->ext_sep[0] = '\0';
            return 0;
        }
        if (strlen(v) >= sizeof(c->ext_sep))
            return cfg_fail(err, "expected a few separator characters, such as - or +");
        for (const char *p = v; *p; p++)
            if (*p <= ' ' || *p > '~' || *p == '@' || *p == '"' || *p == '\\')
                return cfg_fail(err, "'%c' cannot separate an extension", *p);
        snprintf(c->ext_sep, sizeof(c->ext_sep), "%s", v);
        return 0;
    }
    if (!strcmp(key, "default_domain")) {
        char dom[ADDR_DOMAIN_MAX + 1];
        if (strlen(v) > ADDR_DOMAIN_MAX || addr_domain_normalize(v, strlen(v), dom) ||
            dom[0] == '[')
            return cfg_fail(err, "not a domain: %s", v);
        free(c->default_domain);
        return (c->default_domain = strdup(dom)) ? 0 : cfg_fail(err, "out of memory");
    }
    if (!strcmp(key, "rcpt_limit") || !strcmp(key, "wrongrcpt_limit")) {
        unsigned long n;
        if (cfg_parse_uint(v, RCPT_LIMIT_MAX, &n))
            return cfg_fail(err, "expected a number from 0 (no limit) to %lu", RCPT_LIMIT_MAX);
        *(key[0] == 'r' ? &c->rcpt_limit : &c->wrong_limit) = n;
        return 0;
    }
    if (!strcmp(key, "wrongrcpt_action")) {
        if (!strcmp(v, "reject"))
            c->wrong_action = WA_REJECT;
        else if (!strcmp(v, "disconnect"))
            c->wrong_action = WA_DISCONNECT;
        else
            return cfg_fail(err, "expected reject or disconnect, got '%s'", v);
        return 0;
    }
    if (!strcmp(key, "sender_mx")) {
        return cfg_set_bool(v, &c->sender_mx, err);
    }
    if (!strcmp(key, "reply_unknown"))
        return cfg_set_text(c->reply_unknown, sizeof(c->reply_unknown), v, err);
    if (!strcmp(key, "reply_rcptlimit"))
        return cfg_set_text(c->reply_rcptlimit, sizeof(c->reply_rcptlimit), v, err);
    if (!strcmp(key, "reply_wrongrcpt"))
        return cfg_set_text(c->reply_wrongrcpt, sizeof(c->reply_wrongrcpt), v, err);
    if (!strcmp(key, "reply_sender_mx"))
        return cfg_set_text(c->reply_sender_mx, sizeof(c->reply_sender_mx), v, err);
    return CFG_UNKNOWN_KEY;
}

/* open_qmail_users - map users/cdb and read its wildcard characters (the
 * value of the empty key, as qmail-newu writes it). */
static int open_qmail_users(struct source *s, struct cfg_err *err)
{
    char why[POLICY_ERR_MAX - 64];
    int fd = file_open(s->path, why, sizeof(why));
    if (fd < 0)
        return cfg_fail(err, "%s", why);
    int r = cdb_init(&s->users, fd);
    close(fd);
    if (r != 0)
        return cfg_fail(err, "%s is not a cdb file (qmail-newu writes users/cdb)", s->path);
    s->users_open = 1;
    struct cdb c = s->users;
    r = cdb_find(&c, "", 0);
    if (r < 0)
        return cfg_fail(err, "%s is damaged", s->path);
    if (r > 0) {
        unsigned n = cdb_datalen(&c);
        const char *d = n ? cdb_getdata(&c) : NULL;
        if (n && !d)
            return cfg_fail(err, "%s is damaged", s->path);
        s->nwild = n < sizeof(s->wild) ? n : sizeof(s->wild);
        if (n)
            memcpy(s->wild, d, s->nwild);
    }
    return 0;
}

static int recipients_load(void *cfg, const policy_engine *e, struct cfg_err *err, const char **key)
{
    struct recipients_cfg *c = cfg;
    char why[POLICY_ERR_MAX - 64];

    if (!c->default_domain) { /* qmail's envnoathost: this host */
        char dom[ADDR_DOMAIN_MAX + 1];
        const char *h = engine_general(e)->hostname;
        if (h && strlen(h) <= ADDR_DOMAIN_MAX && !addr_domain_normalize(h, strlen(h), dom) &&
            !(c->default_domain = strdup(dom))) {
            *key = "default_domain";
            return cfg_fail(err, "out of memory");
        }
    }
    for (size_t i = 0; i < c->nsrc; i++) {
        struct source *s = &c->src[i];
        switch (s->kind) {
        case SRC_MAP:
            *key = "map";
            if (recipmap_open(&s->map, s->path, why, sizeof(why)))
                return cfg_fail(err, "%s: %s", s->path, why);
            if (s->map.fold != c->fold_case)
                return cfg_fail(err,
                                "%s was built %s but fold_case = %s: rebuild it with "
                                "policyctl makemap%s",
                                s->path,
                                s->map.fold ? "with lowercased local parts" : "case-sensitive",
                                c->fold_case ? "yes" : "no", c->fold_case ? "" : " -k");
            break;
        case SRC_VPOPMAIL: {
            char dir[PATH_MAX + 16];
            *key = "vpopmail_dir";
            snprintf(dir, sizeof(dir), "%s/domains", s->path);
            s->domains_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (s->domains_fd < 0)
                return cfg_fail(err, "cannot open %s: %s", dir, strerror(errno));
            break;
        }
        case SRC_QMAIL_USERS:
            *key = "qmail_users";
            if (open_qmail_users(s, err))
                return -1;
            break;
        }
    }
    return 0;
}

static void recipients_free(void *cfg)
{
    struct recipients_cfg *c = cfg;
    for (size_t i = 0; i < c->nsrc; i++) {
        struct source *s = &c->src[i];
        recipmap_close(&s->map);
        if (s->domains_fd >= 0)
            close(s->domains_fd);
        if (s->users_open)
            cdb_free(&s->users);
        free(s->path);
    }
    free(c->default_domain);
}

static unsigned recipients_stages(const void *cfg)
{
    const struct recipients_cfg *c = cfg;
    unsigned mask = c->nsrc || c->rcpt_limit || c->wrong_limit ? 1u << STAGE_RCPT : 0;
    return c->sender_mx ? mask | 1u << STAGE_MAIL | 1u << STAGE_RCPT : mask;
}

/* ------------------------------------------------------------ sources */

/* map_lookup - recipmap's answer in the layer's terms. */
static enum answer map_lookup(const struct source *s, const struct recipmap_query *k,
                              const char *domain)
{
    switch (recipmap_lookup(&s->map, k, domain)) {
    case 1:
        return ANS_FOUND;
    case 0:
        return ANS_NOTFOUND;
    case 2:
        return ANS_NODOMAIN;
    default:
        return ANS_ERROR;
    }
}

/* safe_name - may name (n bytes) be looked up as one directory entry?  No
 * '/', no NUL, no leading dot ("." ".." and hidden files), not overlong. */
static int safe_name(const char *name, size_t n)
{
    if (n == 0 || n > 200 || name[0] == '.')
        return 0;
    for (size_t i = 0; i < n; i++)
        if (name[i] == '/' || name[i] == '\0' || (unsigned char)name[i] < ' ')
            return 0;
    return 1;
}

/* entry_exists - 1 when dfd/name exists (a directory if want_dir), 0 when
 * not, -1 on any other error. */
static int entry_exists(int dfd, const char *name, int want_dir)
{
    struct stat st;
    if (fstatat(dfd, name, &st, 0) == 0)
        return want_dir ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode);
    return errno == ENOENT || errno == ENOTDIR || errno == ENAMETOOLONG ? 0 : -1;
}

/* dot_qmail - 1 when .qmail-<local> exists (dots written as ':', as
 * qmail-local does), with "-default" appended when deflt. */
static int dot_qmail(int dfd, const char *local, size_t n, int deflt)
{
    char name[7 + ADDR_LOCAL_MAX + 9 + 1];
    memcpy(name, ".qmail-", 7);
    for (size_t i = 0; i < n; i++)
        name[7 + i] = local[i] == '.' ? ':' : local[i];
    snprintf(name + 7 + n, sizeof(name) - 7 - n, "%s", deflt ? "-default" : "");
    return entry_exists(dfd, name, 0);
}

/* vpasswd_has - is user (n bytes, lowercase) a key of the domain's
 * vpasswd.cdb, vpopmail's index of its users (it also finds the users that
 * big domains keep in hashed subdirectories)?  1, 0 (or no index), -1. */
static int vpasswd_has(int dfd, const char *user, size_t n)
{
    unsigned dlen;
    int fd = file_openat(dfd, "vpasswd.cdb", NULL, 0); /* a FIFO there is an error, not a wait */
    if (fd < 0)
        return errno == ENOENT ? 0 : -1;
    int r = cdb_seek(fd, user, (unsigned)n, &dlen);
    close(fd);
    return r > 0 ? 1 : r == 0 ? 0 : -1;
}

/* qmail_default_catches - does the domain's .qmail-default deliver (a
 * catch-all), rather than bounce as vpopmail's "bounce-no-mailbox" does? */
static int qmail_default_catches(int dfd)
{
    char buf[RCPT_QMAIL_DEFAULT + 1];
    int fd = file_openat(dfd, ".qmail-default", NULL, 0);
    if (fd < 0) /* missing, or not a regular file: qmail-local would not use it */
        return errno == ENOENT || errno == EINVAL ? 0 : -1;
    ssize_t got = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (got < 0)
        return -1;
    buf[got] = '\0';
    for (ssize_t i = 0; i < got; i++)
        if (!buf[i])
            buf[i] = ' ';
    return strstr(buf, "bounce-no-mailbox") == NULL;
}

/* vpop_lookup - domains/<domain>/<user>/ or vpasswd.cdb, .qmail-<user>, .qmail-<ext>-default
 * files, then a delivering .qmail-default.  Names are checked to be one
 * directory entry each, so "../" and "/" lead nowhere. */
static enum answer vpop_lookup(const struct source *s, const struct recipmap_query *k,
                               const char *domain)
{
    char user[ADDR_LOCAL_MAX + 1];
    enum answer ans = ANS_NOTFOUND;
    int r;

    if (!safe_name(domain, strlen(domain)) || domain[0] == '[')
        return ANS_NODOMAIN;
    int dfd = openat(s->domains_fd, domain, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return errno == ENOENT || errno == ENOTDIR ? ANS_NODOMAIN : ANS_ERROR;
    for (size_t i = 0; i < k->n && ans == ANS_NOTFOUND; i++) {
        size_t n = k->len[i];
        if (!safe_name(k->local, n))
            continue;
        memcpy(user, k->local, n);
        user[n] = '\0';
        recipmap_fold(user, n); /* vpopmail and qmail-local lowercase */
        if ((r = entry_exists(dfd, user, 1)) == 0 && (r = vpasswd_has(dfd, user, n)) == 0)
            r = dot_qmail(dfd, user, n, 0);
        for (size_t j = n; r == 0 && i == 0 && j-- > 1;) /* list-sub -> .qmail-list-default */
            if (user[j] == '-')
                r = dot_qmail(dfd, user, j, 1);
        ans = r > 0 ? ANS_FOUND : r < 0 ? ANS_ERROR : ANS_NOTFOUND;
    }
    if (ans == ANS_NOTFOUND && (r = qmail_default_catches(dfd)) != 0)
        ans = r > 0 ? ANS_FOUND : ANS_ERROR;
    close(dfd);
    return ans;
}

/* users_find - qmail-lspawn's walk over users/cdb for one local part: the
 * exact key "!local\0", then "!prefix" wildcards whose last character is
 * one of the wildcard characters, down to "!" alone. */
static enum answer users_find(const struct source *s, const char *local, size_t n)
{
    char key[1 + ADDR_LOCAL_MAX + 1];
    key[0] = '!';
    memcpy(key + 1, local, n);
    recipmap_fold(key + 1, n);
    key[1 + n] = '\0';
    size_t i = n + 2;
    int wild = 0;
    do {
        if (!wild || i == 1 || memchr(s->wild, key[i - 1], s->nwild)) {
            struct cdb c = s->users;
            int r = cdb_find(&c, key, (unsigned)i);
            if (r < 0)
                return ANS_ERROR;
            if (r > 0)
                return ANS_FOUND;
        }
        --i;
        wild = 1;
    } while (i);
    return ANS_NOTFOUND;
}

static enum answer users_lookup(const struct source *s, const struct recipmap_query *k)
{
    for (size_t i = 0; i < k->n; i++) {
        enum answer a = users_find(s, k->local, k->len[i]);
        if (a != ANS_NOTFOUND)
            return a;
    }
    return ANS_NOTFOUND;
}

/* lookup - ask every source in order; the first that knows the address
 * wins.  An error counts only when no other source found it. */
static enum answer lookup(const struct recipients_cfg *c, const struct recipmap_query *k,
                          const char *domain, const char **which)
{
    enum answer best = ANS_NODOMAIN;
    for (size_t i = 0; i < c->nsrc; i++) {
        const struct source *s = &c->src[i];
        enum answer a = s->kind == SRC_MAP        ? map_lookup(s, k, domain)
                        : s->kind == SRC_VPOPMAIL ? vpop_lookup(s, k, domain)
                                                  : users_lookup(s, k);
        if (a == ANS_FOUND)
            return ANS_FOUND;
        if (a == ANS_ERROR || (a == ANS_NOTFOUND && best == ANS_NODOMAIN)) {
            best = a == ANS_ERROR ? ANS_ERROR : ANS_NOTFOUND;
            *which = s->path;
        }
    }
    return best;
}

/* ------------------------------------------------------------ hooks */

/* limit_of - a limit from the client's variable (tcprules or environment,
 * chkuser's names) or else the configuration; 0 is no limit. */
static unsigned long limit_of(policy_session *s, const char *var, unsigned long configured)
{
    const char *v = policy_session_getvar(s, var);
    unsigned long n;
    if (!v || !*v)
        return configured;
    if (cfg_parse_uint(v, RCPT_LIMIT_MAX, &n)) {
        plog(s, POLICY_LOG_WARNING, "recipients: ignored %s=\"%.20s\": not a number", var, v);
        return configured;
    }
    return n;
}

static enum check recipients_rcpt(policy_session *s, const void *cfg, struct finding *f)
{
    const struct recipients_cfg *c = cfg;
    struct recipients_state *st = session_layer_state(s, &layer_recipients);
    struct recipmap_query k;
    const char *which = "";

    unsigned long rcpt_limit = limit_of(s, "CHKUSER_RCPTLIMIT", c->rcpt_limit);
    unsigned long wrong_limit = limit_of(s, "CHKUSER_WRONGRCPTLIMIT", c->wrong_limit);
    if (!st || (!c->nsrc && !rcpt_limit && !wrong_limit))
        return CHECK_NOMATCH; /* nothing to do: cost nothing */
    int status;
    const struct addr *a = session_rcpt_addr(s, &status);
    if (status != ADDR_OK)
        return CHECK_NOMATCH; /* syntax is the customers layer's business */
    const char *domain = a->domain[0] ? a->domain : c->default_domain;
    int local = domain && client_domain_is_local(s, domain);
    if ((local || !a->domain[0]) && str_ieq(a->local, "postmaster"))
        return CHECK_NOMATCH; /* RFC 5321 4.5.1: always accepted */

    st->rcpts++;
    /* a customer's remote recipients are not the mail bomb's */
    if (wrong_limit && st->wrong >= wrong_limit && (local || !session_client(s)->customer)) {
        finding_set(f, 550, "5.7.1", "%s", c->reply_wrongrcpt);
        finding_reason(f, "mail bomb: %lu unknown recipients (limit %lu)", st->wrong, wrong_limit);
        f->disconnect = c->wrong_action == WA_DISCONNECT;
        return CHECK_MATCH;
    }
    if (rcpt_limit && st->rcpts > rcpt_limit) {
        finding_set(f, 452, "4.5.3", "%s", c->reply_rcptlimit);
        finding_reason(f, "recipient %lu of the session over the limit of %lu", st->rcpts,
                       rcpt_limit);
        return CHECK_MATCH;
    }
    if (!local || !c->nsrc)
        return CHECK_NOMATCH; /* remote: the relay rule's business */

    recipmap_query_make(&k, a->local, c->ext_sep);
    switch (lookup(c, &k, domain, &which)) {
    case ANS_FOUND:
        return CHECK_NOMATCH;
    case ANS_NODOMAIN:
        plog(s, POLICY_LOG_DEBUG, "recipients: domain %s is in no recipient source: not checked",
             domain);
        return CHECK_NOMATCH;
    case ANS_ERROR:
        finding_set(f, 451, "4.3.0", "temporary failure checking the recipient, try again later");
        finding_reason(f, "cannot read %s", which);
        session_error(s, &layer_recipients, "map");
        return CHECK_ERROR;
    case ANS_NOTFOUND:
        break;
    }
    st->wrong++;
    if (wrong_limit && st->wrong == wrong_limit && !st->bomb) {
        st->bomb = 1;
        plog(s, POLICY_LOG_WARNING,
             "recipients: %lu unknown recipients, session marked as a mail bomb: every further "
             "RCPT is refused",
             st->wrong);
    }
    finding_set(f, 550, "5.1.1", "%s", c->reply_unknown);
    finding_reason(f, "no mailbox %s@%s (unknown recipient %lu of the session)", a->local, domain,
                   st->wrong);
    return CHECK_MATCH;
}

/* mx_drop - forget the questions of the last sender domain. */
static void mx_drop(policy_session *s, struct recipients_state *st)
{
    if (st->mx_started && session_dns_peek(s))
        dns_release_group(session_dns_peek(s), &st->mx_group);
    memset(st->mx_q, 0, sizeof(st->mx_q));
    st->mx_started = 0;
    st->mx_domain[0] = '\0';
}

/*
 * sender_domain_check - chkuser's CHKUSER_SENDER_MX: the sender's domain
 * must be able to receive mail, i.e. have an MX or (RFC 5321 5.1, the
 * implicit MX) an A or AAAA record.  The three questions go out together at
 * MAIL; with delay_reject the answers are collected at the first RCPT.
 * NXDOMAIN or no record of any kind: MATCH (553 5.1.8).  No answer for a
 * question whose answer could have saved the sender: ERROR.
 */
static enum check sender_domain_check(policy_session *s, const struct recipients_cfg *c,
                                      const char *domain, struct finding *f)
{
    static const enum dns_type types[3] = {DNS_MX, DNS_A, DNS_AAAA};
    struct recipients_state *st = session_layer_state(s, &layer_recipients);
    struct dns *d = session_dns(s);

    if (!st || !d) {
        finding_set(f, 451, "4.4.3",
                    "temporary failure checking the sender domain, try again later");
        finding_reason(f, "sender MX check: no resolver");
        return CHECK_ERROR;
    }
    if (!st->mx_started || strcmp(st->mx_domain, domain) != 0) { /* same domain: same answers */
        mx_drop(s, st);
        snprintf(st->mx_domain, sizeof(st->mx_domain), "%s", domain);
        str_lower(st->mx_domain);
        st->mx_started = 1;
        for (int i = 0; i < 3; i++)
            st->mx_q[i] = dns_start(d, &st->mx_group, st->mx_domain, types[i], 0, 0, NULL, NULL);
    }
    if (session_may_defer(s, &layer_recipients, STAGE_MAIL))
        return CHECK_PENDING;
    dns_wait(d, &st->mx_group);

    const struct dns_answer *mx = st->mx_q[0] ? dns_answer_of(st->mx_q[0]) : NULL;
    if (mx && mx->null_mx && mx->n == 0) {
        finding_set(f, 553, "5.1.8", "%s", c->reply_sender_mx);
        finding_reason(f, "sender domain %s has a null MX (RFC 7505): it takes no mail",
                       st->mx_domain);
        return CHECK_MATCH;
    }
    const char *why = NULL;
    for (int i = 0; i < 3; i++) {
        const struct dns_answer *a = st->mx_q[i] ? dns_answer_of(st->mx_q[i]) : NULL;
        if (a && a->status == DNS_FOUND)
            return CHECK_NOMATCH;
        if (!a || a->status != DNS_NOTFOUND)
            why = a && a->why ? a->why : "no answer";
    }
    if (why) {
        finding_set(f, 451, "4.4.3",
                    "temporary failure looking up the sender domain %s, try again later",
                    st->mx_domain);
        finding_reason(f, "sender MX check of %s: %s", st->mx_domain, why);
        session_error(s, &layer_recipients, "dns");
        return CHECK_ERROR;
    }
    finding_set(f, 553, "5.1.8", "%s", c->reply_sender_mx);
    finding_reason(f, "sender domain %s has no MX, A or AAAA record", st->mx_domain);
    return CHECK_MATCH;
}

static enum check recipients_mail(policy_session *s, const void *cfg, struct finding *f)
{
    const struct recipients_cfg *c = cfg;
    const char *v = policy_session_getvar(s, "CHKUSER_SENDER_MX");
    struct addr a;
    int on = v ? strcmp(v, "0") != 0 : c->sender_mx; /* set (even empty), as chkuser reads it */
    if (!on || session_client(s)->customer || !*session_txn(s)->sender)           /* the null sender is always allowed */
        return CHECK_NOMATCH;
    if (addr_parse(session_txn(s)->sender, &a) != ADDR_OK || !a.domain[0] || a.literal ||
        !dns_hostname_ok(a.domain, strlen(a.domain)))
        return CHECK_NOMATCH; /* syntax is the customers layer's business */
    return sender_domain_check(s, c, a.domain, f);
}

static void recipients_state_free(policy_session *s, void *state)
{
    mx_drop(s, state);
}

/* every source key adds one more source, asked in the order given */
static const char *const recipients_list_keys[] = {"map", "vpopmail_dir", "qmail_users", NULL};

static const char *const recipients_vars[] = {"CHKUSER_RCPTLIMIT", "CHKUSER_WRONGRCPTLIMIT", "CHKUSER_SENDER_MX", NULL};

const struct layer_desc layer_recipients = {
    .name = "recipients",
    .vars = recipients_vars,
    .list_keys = recipients_list_keys,
    .default_action = LA_REJECT,
    .cfg_size = sizeof(struct recipients_cfg),
    .defaults = recipients_defaults,
    .set = recipients_set,
    .load = recipients_load,
    .free = recipients_free,
    .state_size = sizeof(struct recipients_state),
    .state_free = recipients_state_free,
    .hooks = {[STAGE_MAIL] = recipients_mail, [STAGE_RCPT] = recipients_rcpt},
    .stages = recipients_stages,
};
