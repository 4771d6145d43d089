/*
 * dkim.c - DKIM (RFC 6376) with libopendkim and DMARC (RFC 7489) with
 * libopendmarc, as qmailtoaster's tcp.smtp means them today: customers'
 * mail is signed (qmail-dk's DKSIGN, qmail-dkim's DKIMSIGN, a key per
 * domain), everyone else's is verified, with an Authentication-Results
 * header (RFC 8601) and, where DKVERIFY / DKIMVERIFY letters say so, a
 * refusal; DMARC weighs the From domain's policy with the SPF fact of the
 * spf layer and the DKIM results.
 *
 * The message is read from the session's spool, byte for byte, while it
 * arrives; the keys and DMARC records are asked for through the
 * session's resolver as soon as the header block is known (libopendkim's
 * own DNS is replaced by ours), so they are answered while the body comes
 * and while other layers work at end of message.  A forged
 * Authentication-Results header carrying our authserv-id is removed.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <cdb.h>
#include <netinet/in.h>
#include <opendkim/dkim.h>
#include <opendmarc/dmarc.h>

#include "../core/layer.h"
#include "../support/dns.h"
#include "../support/mailauth.h"
#include "../support/psl.h"

extern const struct layer_desc layer_dkim;

#define KEY_MAX       (64 * 1024) /* a signing key file */
#define SELECTOR_MAX  63
#define SIGS_MAX      16 /* signatures reported; max_signatures is at most this */
#define FROMS_MAX     4  /* distinct From domains weighed by DMARC */
#define AR_MAX        6000
#define FEED_CHUNK    (32 * 1024)
#define DNS_T_TXT     16

static const char default_sign_headers[] =
    "From Reply-To Subject Date To Cc Resent-Date Resent-From Resent-Sender Resent-To "
    "Resent-Cc In-Reply-To References List-Id List-Help List-Unsubscribe List-Subscribe "
    "List-Post List-Owner List-Archive Message-ID MIME-Version Content-Type "
    "Content-Transfer-Encoding Content-ID Content-Description Sender";
static const char default_psl[] = "/usr/share/publicsuffix/public_suffix_list.dat";

/* ------------------------------------------------------------ libraries */

/* libopendkim and libopendmarc are loaded when a configuration with a
 * [dkim] section is first loaded: a process without one maps neither, nor
 * what they pull in (libdb, libbsd, libmd, libresolv).  Every call goes
 * through DL(name), the pointer dlsym found; the types are the headers'. */
#define DKIM_SONAME   "libopendkim.so.11"
#define DMARC_SONAME  "libopendmarc.so.2"
#define DKIM_FUNCS(X) \
    X(dkim_chunk) X(dkim_close) X(dkim_dns_set_close) X(dkim_dns_set_init) \
    X(dkim_dns_set_query_cancel) X(dkim_dns_set_query_service) X(dkim_dns_set_query_start) \
    X(dkim_dns_set_query_waitreply) X(dkim_eom) X(dkim_free) X(dkim_get_sigsubstring) \
    X(dkim_get_user_context) X(dkim_geterror) X(dkim_getresultstr) X(dkim_getsighdr_d) \
    X(dkim_getsiglist) X(dkim_init) X(dkim_options) X(dkim_set_prescreen) \
    X(dkim_set_user_context) X(dkim_sig_getalgorithm) X(dkim_sig_getbh) X(dkim_sig_getcanonlen) \
    X(dkim_sig_getcanons) X(dkim_sig_getdomain) X(dkim_sig_geterror) X(dkim_sig_getflags) \
    X(dkim_sig_getidentity) X(dkim_sig_getselector) X(dkim_sig_ignore) X(dkim_sign) \
    X(dkim_verify)
#define DMARC_FUNCS(X) \
    X(opendmarc_get_policy_to_enforce) X(opendmarc_policy_connect_init) \
    X(opendmarc_policy_connect_shutdown) X(opendmarc_policy_fetch_adkim) \
    X(opendmarc_policy_fetch_aspf) X(opendmarc_policy_fetch_p) X(opendmarc_policy_fetch_pct) \
    X(opendmarc_policy_fetch_rua) X(opendmarc_policy_fetch_sp) \
    X(opendmarc_policy_fetch_utilized_domain) X(opendmarc_policy_store_dkim) \
    X(opendmarc_policy_store_dmarc) X(opendmarc_policy_store_from_domain) \
    X(opendmarc_policy_store_spf)
#define DL_MEMBER(name) __typeof__(name) *name;
static struct {
    DKIM_FUNCS(DL_MEMBER)
    DMARC_FUNCS(DL_MEMBER)
    char err[POLICY_ERR_MAX]; /* empty when both are loaded */
} dl;
#define DL(name) (dl.name)
static pthread_once_t dl_once = PTHREAD_ONCE_INIT;

/* dl_open - open a library and find its functions; 0, or -1 with dl.err. */
static int dl_open(const char *soname, void **h)
{
    if (!(*h = dlopen(soname, RTLD_NOW | RTLD_LOCAL))) {
        const char *why = dlerror();
        snprintf(dl.err, sizeof(dl.err), "cannot load %s: %s", soname, why ? why : "?");
        return -1;
    }
    return 0;
}

/* dl_load - both libraries, once per process. */
static void dl_load(void)
{
    void *hk, *hm;
    if (dl_open(DKIM_SONAME, &hk) != 0 || dl_open(DMARC_SONAME, &hm) != 0)
        return;
#define DL_SYM(h, name)                                                                            \
    if (!(*(void **)&dl.name = dlsym(h, #name))) {                                                 \
        snprintf(dl.err, sizeof(dl.err), "%s has no %s", h == hk ? DKIM_SONAME : DMARC_SONAME, #name); \
        return;                                                                                    \
    }
#define DL_SYM_K(name) DL_SYM(hk, name)
#define DL_SYM_M(name) DL_SYM(hm, name)
    DKIM_FUNCS(DL_SYM_K)
    DMARC_FUNCS(DL_SYM_M)
#undef DL_SYM
}

/* dl_ready - NULL when the libraries are there, else why not. */
static const char *dl_ready(void)
{
    pthread_once(&dl_once, dl_load);
    return dl.err[0] ? dl.err : NULL;
}

/* ------------------------------------------------------------ configuration */

/* What is made on first use, not at load: an engine whose [dkim] is off
 * (or a policy-queue run that never verifies) pays nothing for it. */
struct dkim_lazy {
    pthread_mutex_t lock;
    DKIM_LIB *_Atomic lib;
    struct pslist *_Atomic psl;
    int lib_failed, psl_failed;
    int lock_made;
};

struct dkim_cfg {
    struct dkim_lazy *lazy;
    char *sign_key; /* DKSIGN-style path ("%": the From domain); NULL none */
    char *key_map_path;
    int key_map_fd;
    struct cdb key_map;
    int key_map_open;
    dkim_canon_t hcanon, bcanon;
    char *sign_headers, *oversign_headers; /* word lists */
    char **sign_list, **oversign_list;     /* NULL-terminated, for libopendkim */
    unsigned long expire_ms;               /* x= after this, 0: none */
    char authserv_id[POLICY_HOST_MAX + 1]; /* "": [general] hostname */
    char dkverify[65], dkimverify[65];
    unsigned long timeout_ms; /* 0: [general] dns_timeout */
    unsigned long min_key_bits;
    unsigned long max_signatures;
    int dmarc, dmarc_enforce;
    char *psl;
    char *history;
};

static void dkim_defaults(void *cfg)
{
    struct dkim_cfg *c = cfg;
    c->key_map_fd = -1;
    c->hcanon = DKIM_CANON_RELAXED;
    c->bcanon = DKIM_CANON_RELAXED;
    c->min_key_bits = 1024;
    c->max_signatures = 5;
    c->dmarc = 1;
}

static int set_path(char **dst, const char *v, struct cfg_err *err)
{
    if (v[0] != '/')
        return cfg_fail(err, "expected an absolute path, got '%s'", v);
    return cfg_set_string(dst, v, err);
}

/* header_list_add - header names to a word list (list keys add up). */
static int header_list_add(char **dst, const char *v, struct cfg_err *err)
{
    size_t n;
    for (const char *p = v; (n = words_next(&p)) > 0; p += n)
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)p[i] <= ' ' || p[i] == ':' || (unsigned char)p[i] > '~')
                return cfg_fail(err, "not a header name: '%.*s'", (int)n, p);
    size_t old = *dst ? strlen(*dst) : 0;
    char *j = realloc(*dst, old + strlen(v) + 2);
    if (!j)
        return cfg_fail(err, "out of memory");
    if (old)
        j[old++] = ' ';
    strcpy(j + old, v);
    *dst = j;
    return 0;
}

static int canon_parse(const char *v, dkim_canon_t *out)
{
    if (!strcmp(v, "relaxed"))
        *out = DKIM_CANON_RELAXED;
    else if (!strcmp(v, "simple"))
        *out = DKIM_CANON_SIMPLE;
    else
        return -1;
    return 0;
}

static int dkim_set(void *cfg, const char *key, const char *v, struct cfg_err *err)
{
    struct dkim_cfg *c = cfg;
    unsigned long n;
    if (!strcmp(key, "sign_key"))
        return set_path(&c->sign_key, v, err);
    if (!strcmp(key, "key_map"))
        return set_path(&c->key_map_path, v, err);
    if (!strcmp(key, "canonicalization")) {
        char h[16], b[16];
        const char *slash = strchr(v, '/');
        size_t hl = slash ? (size_t)(slash - v) : strlen(v);
        if (hl >= sizeof(h) || (slash && strlen(slash + 1) >= sizeof(b)))
            return cfg_fail(err, "expected relaxed/relaxed, simple/simple, ... got '%s'", v);
        memcpy(h, v, hl);
        h[hl] = '\0';
        snprintf(b, sizeof(b), "%s", slash ? slash + 1 : "simple"); /* RFC 6376 3.5 c= */
        if (canon_parse(h, &c->hcanon) || canon_parse(b, &c->bcanon))
            return cfg_fail(err, "expected relaxed/relaxed, simple/simple, ... got '%s'", v);
        return 0;
    }
    if (!strcmp(key, "sign_headers"))
        return header_list_add(&c->sign_headers, v, err);
    if (!strcmp(key, "oversign_headers"))
        return header_list_add(&c->oversign_headers, v, err);
    if (!strcmp(key, "signature_expire"))
        return cfg_parse_duration(v, &c->expire_ms) || c->expire_ms > 366UL * 86400 * 1000
                   ? cfg_fail(err, "expected a duration up to a year (e.g. 7d as 604800), got '%s'", v)
                   : 0;
    if (!strcmp(key, "authserv_id")) {
        if (!*v || strlen(v) > POLICY_HOST_MAX || strpbrk(v, " \t;()\"\\"))
            return cfg_fail(err, "not an authserv-id (a host name): '%s'", v);
        snprintf(c->authserv_id, sizeof(c->authserv_id), "%s", v);
        return 0;
    }
    if (!strcmp(key, "dkverify") || !strcmp(key, "dkimverify")) {
        int dk = !strcmp(key, "dkverify");
        if (!mailauth_letters_ok(v, dk ? 'M' : 'X'))
            return cfg_fail(err, "expected letters A to %c (upper case: refuse, lower case: "
                                 "defer), got '%s'", dk ? 'M' : 'X', v);
        snprintf(dk ? c->dkverify : c->dkimverify, sizeof(c->dkverify), "%s", v);
        return 0;
    }
    if (!strcmp(key, "timeout"))
        return cfg_set_dns_timeout(v, &c->timeout_ms, err);
    if (!strcmp(key, "min_key_bits")) {
        if (cfg_parse_uint(v, 8192, &n) || n < 512)
            return cfg_fail(err, "expected 512 to 8192, got '%s'", v);
        c->min_key_bits = n;
        return 0;
    }
    if (!strcmp(key, "max_signatures")) {
        if (cfg_parse_uint(v, SIGS_MAX, &n) || !n)
            return cfg_fail(err, "expected 1 to %d, got '%s'", SIGS_MAX, v);
        c->max_signatures = n;
        return 0;
    }
    if (!strcmp(key, "dmarc"))
        return cfg_set_bool(v, &c->dmarc, err);
    if (!strcmp(key, "dmarc_enforce"))
        return cfg_set_bool(v, &c->dmarc_enforce, err);
    if (!strcmp(key, "public_suffix_list"))
        return set_path(&c->psl, v, err);
    if (!strcmp(key, "dmarc_history"))
        return set_path(&c->history, v, err);
    return CFG_UNKNOWN_KEY;
}

/* word_array - a word list as the NULL-terminated array libopendkim takes. */
static char **word_array(const char *list)
{
    size_t n = 0, k = 0, len;
    for (const char *p = list; (len = words_next(&p)) > 0; p += len)
        n++;
    char **a = calloc(n + 1, sizeof(*a));
    if (!a)
        return NULL;
    for (const char *p = list; (len = words_next(&p)) > 0; p += len)
        if (!(a[k++] = strndup(p, len))) {
            while (k--)
                free(a[k]);
            free(a);
            return NULL;
        }
    return a;
}

static void word_array_free(char **a)
{
    for (size_t i = 0; a && a[i]; i++)
        free(a[i]);
    free(a);
}

/* org_domain - the organizational domain of d (RFC 7489 3.2); d itself
 * without a public suffix list. */
static const struct pslist *psl_of(policy_session *s, const struct dkim_cfg *c);
static void org_domain(policy_session *s, const struct dkim_cfg *c, const char *d, char *out,
                       size_t outlen)
{
    const struct pslist *p = psl_of(s, c);
    if (!p || pslist_org_domain(p, d, out, outlen) != 0)
        snprintf(out, outlen, "%s", d);
}

/* ------------------------------------------------------------ per message */

enum mode { MODE_UNDECIDED = 0, MODE_OFF, MODE_SIGN, MODE_VERIFY };

/* A key question, shared by the signatures of one selector and domain. */
struct keyq {
    char name[DNS_NAME_MAX + 1];
    struct dns_q *q;
};

/* One From domain and its DMARC questions. */
struct fromq {
    char domain[MAILAUTH_DOMAIN_MAX + 1];
    char org[MAILAUTH_DOMAIN_MAX + 1];
    struct dns_q *q, *qorg;
};

/* What became of one signature. */
struct sigres {
    enum mailauth_dkim o;
    char d[MAILAUTH_DOMAIN_MAX + 1], s[SELECTOR_MAX + 1], i[300], a[32], b[16];
    const char *why; /* the DNS detail of a failed key lookup */
};

struct dkim_state {
    policy_session *s;
    enum mode mode;
    DKIM *dkim;
    uint64_t fed;         /* raw bytes given to libopendkim */
    DKIM_STAT feed_stat;  /* the first failure feeding it (signing) */
    int unsigned_msg;     /* verifying: the header block has no signature */
    int sign_error;       /* signing failed: why says it */
    int no_lib;           /* libopendkim or libopendmarc cannot be loaded */
    char why[POLICY_REASON_MAX + 1];
    char *key;            /* the signing key, PEM */
    char sign_domain[MAILAUTH_DOMAIN_MAX + 1], selector[SELECTOR_MAX + 1];
    /* the From headers */
    size_t from_headers;
    struct fromq from[FROMS_MAX];
    size_t nfrom;
    /* questions, on this resolver, in these groups */
    struct dns *dns;
    char keys_group, dmarc_group;
    struct keyq keys[SIGS_MAX];
    size_t nkeys;
    double deadline;
};

static void state_clear(void *state)
{
    struct dkim_state *st = state;
    if (st->dkim)
        DL(dkim_free)(st->dkim);
    free(st->key);
    if (st->dns) {
        dns_release_group(st->dns, &st->keys_group);
        dns_release_group(st->dns, &st->dmarc_group);
    }
    policy_session *s = st->s;
    memset(st, 0, sizeof(*st));
    st->s = s;
}

static void dkim_state_free(policy_session *s, void *state)
{
    (void)s;
    state_clear(state);
}

/* ------------------------------------------------------------ DNS for libopendkim */

/* The message whose DL(dkim_eom)() runs on this thread: libopendkim's resolver
 * hooks belong to the library handle, which every session shares. */
static _Thread_local struct dkim_state *dns_owner;
static char dns_service; /* the handle libopendkim hands back to us */

/* key_question - the question for name, asked now if it was not. */
static struct keyq *key_question(struct dkim_state *st, const char *name)
{
    for (size_t i = 0; i < st->nkeys; i++)
        if (str_ieq(st->keys[i].name, name))
            return &st->keys[i];
    if (st->nkeys >= SIGS_MAX || strlen(name) > DNS_NAME_MAX)
        return NULL;
    if (!st->dns && !(st->dns = session_dns(st->s)))
        return NULL;
    struct keyq *k = &st->keys[st->nkeys];
    snprintf(k->name, sizeof(k->name), "%s", name);
    k->q = dns_start(st->dns, &st->keys_group, name, DNS_TXT, DNS_TXT_MAX_SPF, st->deadline, NULL,
                     NULL);
    if (!k->q)
        return NULL;
    st->nkeys++;
    return k;
}

/* wire_reply - an answer as the DNS message libopendkim parses: the
 * question, then every TXT record in strings of at most 255 bytes.  The
 * length, or 0 when it does not fit. */
static size_t wire_reply(unsigned char *buf, size_t cap, const char *qname, int rcode,
                         const struct dns_answer *a)
{
    size_t n = 12, count = a ? a->n : 0;
    if (cap < 12 + DNS_NAME_MAX + 2 + 4)
        return 0;
    memset(buf, 0, 12);
    buf[2] = 0x81; /* QR, RD */
    buf[3] = (unsigned char)(0x80 | (rcode & 0x0f)); /* RA, RCODE */
    buf[5] = 1;
    buf[6] = (unsigned char)(count >> 8);
    buf[7] = (unsigned char)count;
    for (const char *p = qname; *p;) { /* labels */
        size_t l = strcspn(p, ".");
        if (l == 0 || l > 63 || n + l + 1 >= cap)
            return 0;
        buf[n++] = (unsigned char)l;
        memcpy(buf + n, p, l);
        n += l;
        p += l;
        if (*p == '.')
            p++;
    }
    buf[n++] = 0;
    memcpy(buf + n, "\0\x10\0\x01", 4); /* TXT IN */
    n += 4;
    for (size_t i = 0; i < count; i++) {
        const char *t = a->rr[i].text;
        size_t tl = strlen(t), rdlen = tl + (tl + 254) / 255 + (tl == 0);
        if (rdlen > 65535 || n + 12 + rdlen > cap)
            return 0;
        memcpy(buf + n, "\xc0\x0c\0\x10\0\x01", 6); /* the question's name, TXT IN */
        n += 6;
        buf[n++] = (unsigned char)(a->ttl >> 24);
        buf[n++] = (unsigned char)(a->ttl >> 16);
        buf[n++] = (unsigned char)(a->ttl >> 8);
        buf[n++] = (unsigned char)a->ttl;
        buf[n++] = (unsigned char)(rdlen >> 8);
        buf[n++] = (unsigned char)rdlen;
        do {
            size_t l = tl > 255 ? 255 : tl;
            buf[n++] = (unsigned char)l;
            memcpy(buf + n, t, l);
            n += l;
            t += l;
            tl -= l;
        } while (tl);
    }
    return n;
}

/* The query handle we give libopendkim: the question and its buffer. */
struct dkim_qh {
    struct keyq *k;
    unsigned char *buf;
    size_t buflen;
};
static _Thread_local struct dkim_qh dns_handle;

static int dns_query_start(void *srv, int type, unsigned char *query, unsigned char *buf,
                           size_t buflen, void **qh)
{
    (void)srv;
    struct dkim_state *st = dns_owner;
    struct keyq *k = st && type == DNS_T_TXT ? key_question(st, (const char *)query) : NULL;
    if (!k)
        return DKIM_DNS_ERROR;
    /* libopendkim asks one question at a time and waits for it */
    dns_handle.k = k;
    dns_handle.buf = buf;
    dns_handle.buflen = buflen;
    *qh = &dns_handle;
    return DKIM_DNS_SUCCESS;
}

static int dns_query_wait(void *srv, void *qh, struct timeval *to, size_t *bytes, int *error,
                          int *dnssec)
{
    (void)srv;
    (void)to; /* our own deadline, set when the question went out */
    struct dkim_state *st = dns_owner;
    struct dkim_qh *h = qh;
    if (error)
        *error = 0;
    if (dnssec)
        *dnssec = DKIM_DNSSEC_UNKNOWN;
    if (!st || !h || !h->k)
        return DKIM_DNS_ERROR;
    dns_wait(st->dns, &st->keys_group); /* all keys were asked at once: the slowest bounds it */
    const struct dns_answer *a = dns_answer_of(h->k->q);
    size_t n = 0;
    if (a->status == DNS_FOUND)
        n = wire_reply(h->buf, h->buflen, h->k->name, 0, a);
    else if (a->status == DNS_NOTFOUND)
        n = wire_reply(h->buf, h->buflen, h->k->name,
                       a->why && !strcmp(a->why, "no such name") ? 3 : 0, NULL);
    else
        return a->why && !strcmp(a->why, "timeout") ? DKIM_DNS_EXPIRED : DKIM_DNS_ERROR;
    if (!n)
        return DKIM_DNS_ERROR;
    *bytes = n;
    return DKIM_DNS_SUCCESS;
}

static int dns_query_cancel(void *srv, void *qh)
{
    (void)srv;
    (void)qh; /* released with the message */
    return 0;
}

static void dns_close(void *srv)
{
    (void)srv;
}

/* key_name - "selector._domainkey.domain" into out; -1 when too long. */
static int key_name(const char *sel, const char *dom, char *out, size_t outlen)
{
    int n = snprintf(out, outlen, "%s._domainkey.%s", sel, dom);
    return n < 0 || (size_t)n >= outlen || n > 253 ? -1 : 0;
}

/* on_prescreen - the header block is read: ask for every key now, so the
 * answers come while the body does.  Signatures past max_signatures are
 * ignored. */
static DKIM_CBSTAT on_prescreen(DKIM *dkim, DKIM_SIGINFO **sigs, int nsigs)
{
    struct dkim_state *st = DL(dkim_get_user_context)(dkim);
    if (!st)
        return DKIM_CBSTAT_CONTINUE;
    const struct dkim_cfg *c = session_layer_cfg(st->s, &layer_dkim);
    for (int i = 0; i < nsigs; i++) {
        if ((unsigned long)i >= c->max_signatures) {
            DL(dkim_sig_ignore)(sigs[i]);
            continue;
        }
        const char *d = (const char *)DL(dkim_sig_getdomain)(sigs[i]);
        const char *sel = (const char *)DL(dkim_sig_getselector)(sigs[i]);
        char name[DNS_NAME_MAX + 1];
        if (DL(dkim_sig_geterror)(sigs[i]) == DKIM_SIGERROR_UNKNOWN && d && sel &&
            key_name(sel, d, name, sizeof(name)) == 0)
            (void)key_question(st, name);
    }
    return DKIM_CBSTAT_CONTINUE;
}

/* ------------------------------------------------------------ load */

/* lib_setup - a libopendkim handle with our options and our resolver. */
static DKIM_LIB *lib_setup(const struct dkim_cfg *c)
{
    DKIM_LIB *lib = DL(dkim_init)(NULL, NULL);
    if (!lib)
        return NULL;
    /* lone LFs (qmail's messages) read as CRLF; keys are asked for at the
     * end of the header block (prescreen) and used at the end of message;
     * signatures with syntax errors are kept, to be reported */
    uint32_t flags = DKIM_LIBFLAGS_FIXCRLF | DKIM_LIBFLAGS_DELAYSIGPROC | DKIM_LIBFLAGS_BADSIGHANDLES;
    u_int bits = (u_int)c->min_key_bits, timeout = 30;
    uint64_t ttl = c->expire_ms / 1000;
    if (DL(dkim_options)(lib, DKIM_OP_SETOPT, DKIM_OPTS_SIGNHDRS, c->sign_list, sizeof(char **)) ||
        DL(dkim_options)(lib, DKIM_OP_SETOPT, DKIM_OPTS_OVERSIGNHDRS, c->oversign_list, sizeof(char **)) ||
        DL(dkim_options)(lib, DKIM_OP_SETOPT, DKIM_OPTS_FLAGS, &flags, sizeof(flags)) ||
        DL(dkim_options)(lib, DKIM_OP_SETOPT, DKIM_OPTS_MINKEYBITS, &bits, sizeof(bits)) ||
        DL(dkim_options)(lib, DKIM_OP_SETOPT, DKIM_OPTS_TIMEOUT, &timeout, sizeof(timeout)) ||
        (ttl && DL(dkim_options)(lib, DKIM_OP_SETOPT, DKIM_OPTS_SIGNATURETTL, &ttl, sizeof(ttl)))) {
        DL(dkim_close)(lib);
        return NULL;
    }
    DL(dkim_set_prescreen)(lib, on_prescreen);
    (void)DL(dkim_dns_set_query_service)(lib, &dns_service);
    DL(dkim_dns_set_query_start)(lib, dns_query_start);
    DL(dkim_dns_set_query_waitreply)(lib, dns_query_wait);
    DL(dkim_dns_set_query_cancel)(lib, dns_query_cancel);
    DL(dkim_dns_set_init)(lib, NULL);
    DL(dkim_dns_set_close)(lib, dns_close);
    return lib;
}

/* lib_of - the configuration's libopendkim handle, made on first use (any
 * thread); NULL (logged) when it cannot be. */
static DKIM_LIB *lib_of(policy_session *s, const struct dkim_cfg *c)
{
    struct dkim_lazy *z = c->lazy;
    DKIM_LIB *lib = atomic_load_explicit(&z->lib, memory_order_acquire);
    if (lib)
        return lib;
    pthread_mutex_lock(&z->lock);
    if (!(lib = atomic_load_explicit(&z->lib, memory_order_relaxed)) && !z->lib_failed) {
        if ((lib = lib_setup(c)))
            atomic_store_explicit(&z->lib, lib, memory_order_release);
        else
            z->lib_failed = 1;
    }
    pthread_mutex_unlock(&z->lock);
    if (!lib)
        plog(s, POLICY_LOG_ERR, "dkim: libopendkim cannot be set up (out of memory)");
    return lib;
}

/* psl_of - the public suffix list, read on first use. */
static const struct pslist *psl_of(policy_session *s, const struct dkim_cfg *c)
{
    struct dkim_lazy *z = c->lazy;
    struct pslist *p = atomic_load_explicit(&z->psl, memory_order_acquire);
    char err[POLICY_ERR_MAX];
    if (p)
        return p;
    pthread_mutex_lock(&z->lock);
    if (!(p = atomic_load_explicit(&z->psl, memory_order_relaxed)) && !z->psl_failed) {
        if ((p = pslist_load(c->psl ? c->psl : default_psl, err, sizeof(err))))
            atomic_store_explicit(&z->psl, p, memory_order_release);
        else
            z->psl_failed = 1;
    }
    pthread_mutex_unlock(&z->lock);
    if (!p)
        plog(s, POLICY_LOG_ERR, "dkim: no public suffix list: %s", err);
    return p;
}

static int dkim_load(void *cfg, const policy_engine *e, struct cfg_err *err, const char **key)
{
    struct dkim_cfg *c = cfg;
    /* the libraries with the section; a client's POLICY_DKIM alone loads
     * them with its first message */
    const char *missing = engine_layer_configured(e, &layer_dkim) ? dl_ready() : NULL;
    if (missing)
        return cfg_fail(err, "%s", missing);
    if (c->key_map_path) {
        char why[POLICY_ERR_MAX];
        *key = "key_map";
        if ((c->key_map_fd = file_open(c->key_map_path, why, sizeof(why))) < 0)
            return cfg_fail(err, "%s", why);
        if (cdb_init(&c->key_map, c->key_map_fd) != 0)
            return cfg_fail(err, "%s: not a cdb file", c->key_map_path);
        c->key_map_open = 1;
    }
    if (c->sign_key && !strchr(c->sign_key, '%')) {
        char why[POLICY_ERR_MAX];
        int fd = file_open(c->sign_key, why, sizeof(why));
        *key = "sign_key";
        if (fd < 0)
            return cfg_fail(err, "%s", why);
        close(fd);
    }
    if (c->history) { /* appended to by every process: checked now, opened per message */
        int fd = open(c->history, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NONBLOCK, 0640);
        *key = "dmarc_history";
        if (fd < 0)
            return cfg_fail(err, "cannot open %s: %s", c->history, strerror(errno));
        close(fd);
    }
    if (c->dmarc) { /* read when first needed; here only whether it can be */
        char why[POLICY_ERR_MAX];
        int fd = file_open(c->psl ? c->psl : default_psl, why, sizeof(why));
        *key = "public_suffix_list";
        if (fd < 0)
            return cfg_fail(err, "%s", why);
        close(fd);
    }
    *key = NULL;
    c->sign_list = word_array(c->sign_headers ? c->sign_headers : default_sign_headers);
    c->oversign_list = word_array(c->oversign_headers ? c->oversign_headers : "From");
    c->lazy = calloc(1, sizeof(*c->lazy));
    if (!c->sign_list || !c->oversign_list || !c->lazy || pthread_mutex_init(&c->lazy->lock, NULL))
        return cfg_fail(err, "out of memory");
    c->lazy->lock_made = 1;
    /* libopendkim joins the list into one regular expression of at most
     * about 1000 bytes; refused here rather than at the first message */
    size_t total = 0;
    for (char **h = c->sign_list; *h; h++)
        total += strlen(*h) + 1;
    if (total > 900) {
        *key = "sign_headers";
        return cfg_fail(err, "too long a list for libopendkim (%zu bytes, at most 900)", total);
    }
    return 0;
}

static void dkim_free_cfg(void *cfg)
{
    struct dkim_cfg *c = cfg;
    if (c->lazy) {
        if (c->lazy->lib)
            DL(dkim_close)(c->lazy->lib);
        pslist_free(c->lazy->psl);
        if (c->lazy->lock_made)
            pthread_mutex_destroy(&c->lazy->lock);
        free(c->lazy);
    }
    if (c->key_map_open)
        cdb_free(&c->key_map);
    if (c->key_map_fd >= 0)
        close(c->key_map_fd);
    word_array_free(c->sign_list);
    word_array_free(c->oversign_list);
    free(c->sign_key);
    free(c->key_map_path);
    free(c->sign_headers);
    free(c->oversign_headers);
    free(c->psl);
    free(c->history);
}

/* ------------------------------------------------------------ the start: sign or verify */

/* from_headers - count the From headers and keep their distinct domains. */
static void from_headers(policy_session *s, struct dkim_state *st)
{
    const struct msg_header *h;
    size_t n = message_headers(s, &h, NULL);
    for (size_t i = 0; i < n; i++) {
        if (!str_ieq(h[i].name, "From"))
            continue;
        st->from_headers++;
        char dom[FROMS_MAX][MAILAUTH_DOMAIN_MAX + 1];
        size_t bad, found = mailauth_from_domains(h[i].value, strlen(h[i].value), dom, FROMS_MAX, &bad);
        for (size_t k = 0; k < found && k < FROMS_MAX; k++) {
            if (!dom[k][0])
                continue;
            size_t j = 0;
            while (j < st->nfrom && strcmp(st->from[j].domain, dom[k]) != 0)
                j++;
            if (j == st->nfrom && st->nfrom < FROMS_MAX)
                memcpy(st->from[st->nfrom++].domain, dom[k], sizeof(dom[k]));
        }
    }
}

/* read_key - the key file at path into st->key.  0; 1 when it does not
 * exist; -1 when it cannot be used (why set). */
static int read_key(struct dkim_state *st, const char *path)
{
    char why[POLICY_ERR_MAX];
    int fd = file_open(path, why, sizeof(why));
    if (fd < 0) {
        if (errno == ENOENT)
            return 1;
        snprintf(st->why, sizeof(st->why), "%.300s", why);
        return -1;
    }
    char *buf = malloc(KEY_MAX + 1);
    ssize_t n = 0, r = 0;
    while (buf && n < KEY_MAX && (r = read(fd, buf + n, (size_t)(KEY_MAX - n))) > 0)
        n += r;
    close(fd);
    if (!buf || r < 0 || n == 0 || n >= KEY_MAX) {
        snprintf(st->why, sizeof(st->why), "%.300s: %s", path,
                 !buf ? "out of memory" : r < 0 ? strerror(errno) : "empty or too big for a key");
        free(buf);
        return -1;
    }
    buf[n] = '\0';
    st->key = buf;
    return 0;
}

/* b64_decode32 - 32 base64 characters (no padding) into 24 bytes; -1 on
 * any other character. */
static int b64_decode32(const char *in, unsigned char *out)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (int i = 0; i < 32; i += 4) {
        unsigned long v = 0;
        for (int j = 0; j < 4; j++) {
            const char *p = in[i + j] ? strchr(abc, in[i + j]) : NULL;
            if (!p)
                return -1;
            v = v << 6 | (unsigned long)(p - abc);
        }
        out[i / 4 * 3] = (unsigned char)(v >> 16);
        out[i / 4 * 3 + 1] = (unsigned char)(v >> 8);
        out[i / 4 * 3 + 2] = (unsigned char)v;
    }
    return 0;
}

/* key_alg - the signing algorithm of a PEM private key, from its label
 * and, for PKCS#8, the algorithm identifier in its first bytes: RSA or
 * Ed25519; -1 for anything else.  (libopendkim parses the key when it
 * signs; a second full parse here would cost as much again.) */
static int key_alg(const char *pem)
{
    static const unsigned char rsa_oid[] = {0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01};
    static const unsigned char ed_oid[] = {0x06, 0x03, 0x2b, 0x65, 0x70};
    const char *b = strstr(pem, "-----BEGIN ");
    if (!b)
        return -1;
    if (!strncmp(b, "-----BEGIN RSA PRIVATE KEY-----", 31))
        return DKIM_SIGN_RSASHA256;
    if (strncmp(b, "-----BEGIN PRIVATE KEY-----", 27) != 0)
        return -1;
    char b64[33];
    size_t n = 0;
    for (const char *p = b + 27; *p && n < 32; p++) /* the first 24 bytes, where the OID is */
        if (*p != '\r' && *p != '\n')
            b64[n++] = *p;
    b64[n] = '\0';
    unsigned char der[24];
    if (n != 32 || b64_decode32(b64, der) != 0)
        return -1;
    if (memmem(der, sizeof(der), rsa_oid, sizeof(rsa_oid)))
        return DKIM_SIGN_RSASHA256;
    if (memmem(der, sizeof(der), ed_oid, sizeof(ed_oid)))
        return DKIM_SIGN_ED25519SHA256;
    return -1;
}

/* key_spec - where the key comes from, qmail-dk's way: a key_map entry for
 * the domain ("selector:path" or "path"), else DKIMSIGN or DKSIGN from the
 * client's variables, else sign_key.  Into path (with '%' made the
 * domain) and selector (the file's base name unless the map named one);
 * *pct says a '%' was there.  0, or -1 when there is no key to use. */
static int key_spec(policy_session *s, const struct dkim_cfg *c, const char *domain, char *path,
                    size_t pathlen, char *selector, size_t sellen, int *pct)
{
    char spec[4096] = "";
    selector[0] = '\0';
    if (c->key_map_open && *domain) {
        struct cdb map = c->key_map; /* cdb_find writes into it */
        if (cdb_find(&map, domain, (unsigned)strlen(domain)) > 0 && cdb_datalen(&map) < sizeof(spec)) {
            const char *d = cdb_getdata(&map);
            unsigned dl = cdb_datalen(&map);
            if (d) {
                memcpy(spec, d, dl);
                spec[dl] = '\0';
            }
            char *colon = spec[0] != '/' ? strchr(spec, ':') : NULL;
            if (colon) {
                *colon = '\0';
                snprintf(selector, sellen, "%s", spec);
                memmove(spec, colon + 1, strlen(colon + 1) + 1);
            }
        }
    }
    if (!spec[0]) {
        const char *v = policy_session_getvar(s, "DKIMSIGN");
        if (!v || !*v)
            v = policy_session_getvar(s, "DKSIGN");
        if (!v || !*v)
            v = c->sign_key;
        if (!v || !*v)
            return -1;
        snprintf(spec, sizeof(spec), "%s", v);
    }
    *pct = strchr(spec, '%') != NULL;
    size_t n = 0;
    for (const char *p = spec; *p && n + 1 < pathlen; p++) {
        if (*p == '%') {
            size_t dl = strlen(domain);
            if (n + dl + 1 >= pathlen)
                return -1;
            memcpy(path + n, domain, dl);
            n += dl;
        } else {
            path[n++] = *p;
        }
    }
    path[n] = '\0';
    if (!selector[0]) {
        const char *base = strrchr(path, '/');
        snprintf(selector, sellen, "%.*s", (int)sellen - 1, base ? base + 1 : path);
    }
    return 0;
}

/* begin_sign - a customer's message: find its key and open a signing
 * handle.  Without a key (none configured, or "%" and no such file) the
 * message goes unsigned; a key named without "%" that is missing or bad
 * is a temporary failure (sign_error). */
static void begin_sign(policy_session *s, const struct dkim_cfg *c, struct dkim_state *st)
{
    char path[4096];
    int pct = 0;
    st->mode = MODE_OFF;
    const char *domain = st->nfrom ? st->from[0].domain : "";
    if (key_spec(s, c, domain, path, sizeof(path), st->selector, sizeof(st->selector), &pct) != 0)
        return; /* no key for this client */
    if (!*domain) {
        plog(s, POLICY_LOG_INFO, "dkim: not signed: no domain in a From header");
        return;
    }
    st->mode = MODE_SIGN;
    int r = read_key(st, path);
    if (r == 1 && pct) {
        st->mode = MODE_OFF;
        plog(s, POLICY_LOG_INFO, "dkim: not signed: no key %s for %s", path, domain);
        return;
    }
    if (r == 1)
        snprintf(st->why, sizeof(st->why), "signing key %.300s does not exist", path);
    int alg = r == 0 ? key_alg(st->key) : -1;
    if (r == 0 && alg < 0)
        snprintf(st->why, sizeof(st->why), "%.300s is no RSA or Ed25519 private key in PEM", path);
    if (r != 0 || alg < 0) {
        st->sign_error = 1;
        return;
    }
    snprintf(st->sign_domain, sizeof(st->sign_domain), "%s", domain);
    DKIM_STAT stat;
    DKIM_LIB *lib = lib_of(s, c);
    st->dkim = !lib ? NULL : DL(dkim_sign)(lib, (const u_char *)"libpolicy", NULL, (dkim_sigkey_t)st->key,
                         (const u_char *)st->selector, (const u_char *)domain, c->hcanon, c->bcanon,
                         alg, -1, &stat);
    if (!st->dkim) {
        st->sign_error = 1;
        snprintf(st->why, sizeof(st->why), "libopendkim cannot sign: %s", DL(dkim_getresultstr)(stat));
    }
}

/* ask_dmarc - the DMARC records of the From domains, and of their
 * organizational domains, all at once. */
static void ask_dmarc(policy_session *s, struct dkim_state *st)
{
    char name[DNS_NAME_MAX + 1];
    if (!st->dns && !(st->dns = session_dns(s)))
        return;
    for (size_t i = 0; i < st->nfrom; i++) {
        struct fromq *f = &st->from[i];
        org_domain(s, session_layer_cfg(s, &layer_dkim), f->domain, f->org, sizeof(f->org));
        if (snprintf(name, sizeof(name), "_dmarc.%s", f->domain) < (int)sizeof(name))
            f->q = dns_start(st->dns, &st->dmarc_group, name, DNS_TXT, DNS_TXT_MAX_SPF, st->deadline,
                             NULL, NULL);
        if (strcmp(f->org, f->domain) != 0 &&
            snprintf(name, sizeof(name), "_dmarc.%s", f->org) < (int)sizeof(name))
            f->qorg = dns_start(st->dns, &st->dmarc_group, name, DNS_TXT, DNS_TXT_MAX_SPF,
                                st->deadline, NULL, NULL);
    }
}

/* begin - the header block is complete: sign or verify from here on. */
static void begin(policy_session *s, const struct dkim_cfg *c, struct dkim_state *st)
{
    st->s = s;
    if (dl_ready()) {
        st->no_lib = 1;
        st->mode = MODE_OFF;
        return;
    }
    unsigned long t = c->timeout_ms ? c->timeout_ms : session_general(s)->dns_timeout_ms;
    st->deadline = dns_now_ms() + (double)t;
    from_headers(s, st);
    if (session_client(s)->customer) {
        begin_sign(s, c, st);
        return;
    }
    DKIM_STAT stat;
    st->mode = MODE_VERIFY;
    DKIM_LIB *lib = lib_of(s, c);
    st->dkim = lib ? DL(dkim_verify)(lib, (const u_char *)"libpolicy", NULL, &stat) : NULL;
    if (st->dkim)
        DL(dkim_set_user_context)(st->dkim, st);
    if (c->dmarc)
        ask_dmarc(s, st);
}

/* feed - the raw bytes that arrived since the last call. */
static void feed(policy_session *s, struct dkim_state *st)
{
    char buf[FEED_CHUNK];
    uint64_t end = message_size(s);
    while (st->dkim && !st->unsigned_msg && !st->feed_stat && st->fed < end) {
        size_t want = end - st->fed < sizeof(buf) ? (size_t)(end - st->fed) : sizeof(buf);
        long n = message_read(s, st->fed, buf, want);
        if (n <= 0) {
            st->feed_stat = DKIM_STAT_NORESOURCE;
            break;
        }
        DKIM_STAT r = DL(dkim_chunk)(st->dkim, (u_char *)buf, (size_t)n);
        if (r == DKIM_STAT_NOSIG && st->mode == MODE_VERIFY)
            st->unsigned_msg = 1; /* nothing to verify: the rest need not be read */
        else if (r != DKIM_STAT_OK)
            st->feed_stat = r;
        st->fed += (uint64_t)n;
    }
}

static struct dkim_state *state_of(policy_session *s, const struct dkim_cfg *c)
{
    struct dkim_state *st = session_layer_state(s, &layer_dkim);
    if (st->mode == MODE_UNDECIDED)
        begin(s, c, st);
    return st;
}

static enum check dkim_on_body(policy_session *s, const void *cfg, struct finding *f)
{
    (void)f;
    feed(s, state_of(s, cfg));
    return CHECK_NOMATCH;
}

static void dkim_eom_start(policy_session *s, const void *cfg)
{
    struct dkim_state *st = state_of(s, cfg);
    feed(s, st);
    if (st->dkim && !st->unsigned_msg && !st->feed_stat) {
        DKIM_STAT r = DL(dkim_chunk)(st->dkim, NULL, 0); /* the end: a header block without body too */
        if (r == DKIM_STAT_NOSIG && st->mode == MODE_VERIFY)
            st->unsigned_msg = 1;
        else if (r != DKIM_STAT_OK)
            st->feed_stat = r;
    }
}

/* ------------------------------------------------------------ end of message: signing */

static enum check finish_sign(policy_session *s, struct dkim_state *st, struct finding *f)
{
    u_char *hdr = NULL;
    size_t len = 0;
    DKIM_STAT r = st->feed_stat;
    if (!st->sign_error && r == DKIM_STAT_OK && (r = DL(dkim_eom)(st->dkim, NULL)) == DKIM_STAT_OK)
        r = DL(dkim_getsighdr_d)(st->dkim, strlen("DKIM-Signature: "), &hdr, &len);
    if (!st->sign_error && r != DKIM_STAT_OK)
        snprintf(st->why, sizeof(st->why), "libopendkim cannot sign: %s (%s)",
                 DL(dkim_getresultstr)(r), DL(dkim_geterror)(st->dkim) ? DL(dkim_geterror)(st->dkim) : "");
    if (st->sign_error || r != DKIM_STAT_OK || !hdr) {
        finding_set(f, 451, "4.3.0", "temporary failure signing the message, try again later");
        finding_reason(f, "dkim: %s", st->why);
        return CHECK_ERROR;
    }
    if (session_add_edit(s, POLICY_EDIT_INSERT_HEADER, "DKIM-Signature", (const char *)hdr) != 0) {
        finding_set(f, 451, "4.3.0", "temporary failure signing the message, try again later");
        finding_reason(f, "dkim: out of memory for DKIM-Signature");
        return CHECK_ERROR;
    }
    plog(s, POLICY_LOG_INFO, "dkim: signed d=%s s=%s", st->sign_domain, st->selector);
    return CHECK_NOMATCH;
}

/* ------------------------------------------------------------ end of message: verifying */

/* outcome_of - what libopendkim made of one signature. */
static enum mailauth_dkim outcome_of(DKIM_SIGINFO *sig)
{
    unsigned flags = DL(dkim_sig_getflags)(sig);
    int err = DL(dkim_sig_geterror)(sig), bh = DL(dkim_sig_getbh)(sig);
    if ((flags & DKIM_SIGFLAG_PASSED) && bh == DKIM_SIGBH_MATCH &&
        (err == DKIM_SIGERROR_OK || err == DKIM_SIGERROR_UNKNOWN))
        return MA_DKIM_PASS;
    enum mailauth_dkim o;
    switch (err) {
    case DKIM_SIGERROR_OK:
    case DKIM_SIGERROR_UNKNOWN:
        if (!(flags & DKIM_SIGFLAG_PROCESSED))
            return MA_DKIM_INTERNAL;
        o = bh == DKIM_SIGBH_MISMATCH ? MA_DKIM_BODYHASH : MA_DKIM_BADSIG;
        break;
    case DKIM_SIGERROR_BADSIG: /* the headers' signature, or (it passed) the body hash */
        o = bh == DKIM_SIGBH_MISMATCH ? MA_DKIM_BODYHASH : MA_DKIM_BADSIG;
        break;
    case DKIM_SIGERROR_TOOLARGE_L: /* l= longer than the body: some of it was taken away */
        o = MA_DKIM_BODYHASH;
        break;
    case DKIM_SIGERROR_EXPIRED:
        o = MA_DKIM_EXPIRED;
        break;
    case DKIM_SIGERROR_VERSION:
    case DKIM_SIGERROR_INVALID_HC:
    case DKIM_SIGERROR_INVALID_BC:
    case DKIM_SIGERROR_INVALID_A:
    case DKIM_SIGERROR_INVALID_Q:
    case DKIM_SIGERROR_INVALID_QO:
    case DKIM_SIGERROR_CONDITIONAL:
    case DKIM_SIGERROR_CONDLOOP:
        o = MA_DKIM_UNSUPPORTED;
        break;
    case DKIM_SIGERROR_DOMAIN:
    case DKIM_SIGERROR_SUBDOMAIN:
        o = MA_DKIM_IDENTITY;
        break;
    case DKIM_SIGERROR_INVALID_H:
    case DKIM_SIGERROR_MBSFAILED:
        o = MA_DKIM_FROM;
        break;
    case DKIM_SIGERROR_NOKEY:
        o = MA_DKIM_NOKEY;
        break;
    case DKIM_SIGERROR_KEYFAIL:
        o = MA_DKIM_DNS;
        break;
    case DKIM_SIGERROR_KEYREVOKED:
        o = MA_DKIM_REVOKED;
        break;
    case DKIM_SIGERROR_KEYHASHMISMATCH:
        o = MA_DKIM_KEYALG;
        break;
    case DKIM_SIGERROR_DNSSYNTAX:
    case DKIM_SIGERROR_MULTIREPLY:
    case DKIM_SIGERROR_KEYVERSION:
    case DKIM_SIGERROR_KEYUNKNOWNHASH:
    case DKIM_SIGERROR_NOTEMAILKEY:
    case DKIM_SIGERROR_KEYTYPEMISSING:
    case DKIM_SIGERROR_KEYTYPEUNKNOWN:
    case DKIM_SIGERROR_KEYDECODE:
    case DKIM_SIGERROR_KEYTOOSMALL:
        o = MA_DKIM_BADKEY;
        break;
    case DKIM_SIGERROR_FUTURE:
    case DKIM_SIGERROR_TIMESTAMPS:
    default: /* the tags themselves: missing, empty or corrupt */
        o = MA_DKIM_SYNTAX;
        break;
    }
    /* a failure under a key in testing mode counts as no signature (RFC 6376 3.6.1 t=y) */
    if ((flags & DKIM_SIGFLAG_TESTKEY) &&
        (o == MA_DKIM_BADSIG || o == MA_DKIM_BODYHASH || o == MA_DKIM_EXPIRED))
        return MA_DKIM_TESTING;
    return o;
}

/* body_offset - where the body starts in the raw message (after the empty
 * line), or the message size when there is none. */
static uint64_t body_offset(policy_session *s)
{
    char buf[4096];
    uint64_t off = 0, end = message_size(s);
    int nl = 0; /* the last byte was LF (possibly after CR) */
    while (off < end) {
        long n = message_read(s, off, buf, sizeof(buf));
        if (n <= 0)
            break;
        for (long i = 0; i < n; i++) {
            if (buf[i] == '\n') {
                if (nl || off + (uint64_t)i == 0)
                    return off + (uint64_t)i + 1;
                nl = 1;
            } else if (buf[i] != '\r') {
                nl = 0;
            }
        }
        off += (uint64_t)n;
    }
    return end;
}

/* partial - a passing signature with l= that leaves part of the body
 * unsigned (what follows l= can be anything). */
static int partial(policy_session *s, DKIM *dkim, DKIM_SIGINFO *sig)
{
    ssize_t msglen, canonlen, signlen;
    dkim_canon_t hc, bc;
    if (DL(dkim_sig_getcanonlen)(dkim, sig, &msglen, &canonlen, &signlen) != DKIM_STAT_OK ||
        signlen == (ssize_t)-1 || DL(dkim_sig_getcanons)(sig, &hc, &bc) != DKIM_STAT_OK)
        return 0;
    struct mailauth_canon c;
    char buf[FEED_CHUNK];
    mailauth_canon_init(&c, bc == DKIM_CANON_RELAXED);
    for (uint64_t off = body_offset(s), end = message_size(s); off < end;) {
        long n = message_read(s, off, buf, sizeof(buf));
        if (n <= 0)
            return 1; /* cannot tell: not a whole pass */
        mailauth_canon_feed(&c, buf, (size_t)n);
        off += (uint64_t)n;
    }
    return mailauth_canon_end(&c) > (unsigned long long)signlen;
}

/* key_why - the resolver's reason when the key of d, s could not be had. */
static const char *key_why(const struct dkim_state *st, const char *d, const char *sel)
{
    char name[DNS_NAME_MAX + 1];
    if (key_name(sel, d, name, sizeof(name)) != 0)
        return NULL;
    for (size_t i = 0; i < st->nkeys; i++)
        if (str_ieq(st->keys[i].name, name) && st->keys[i].q)
            return dns_answer_of(st->keys[i].q)->why;
    return NULL;
}

/* results - every signature that was looked at, top first. */
static size_t results(policy_session *s, struct dkim_state *st, struct sigres *out)
{
    DKIM_SIGINFO **sigs = NULL;
    int nsigs = 0;
    size_t n = 0;
    if (DL(dkim_getsiglist)(st->dkim, &sigs, &nsigs) != DKIM_STAT_OK)
        return 0;
    for (int i = 0; i < nsigs && n < SIGS_MAX; i++) {
        DKIM_SIGINFO *sig = sigs[i];
        if (DL(dkim_sig_getflags)(sig) & DKIM_SIGFLAG_IGNORE)
            continue;
        struct sigres *r = &out[n++];
        memset(r, 0, sizeof(*r));
        const char *d = (const char *)DL(dkim_sig_getdomain)(sig);
        const char *sel = (const char *)DL(dkim_sig_getselector)(sig);
        const char *alg = (const char *)DL(dkim_sig_getalgorithm)(sig);
        sanitize_copy(r->d, sizeof(r->d), d ? d : "", d ? strlen(d) : 0);
        sanitize_copy(r->s, sizeof(r->s), sel ? sel : "", sel ? strlen(sel) : 0);
        sanitize_copy(r->a, sizeof(r->a), alg ? alg : "", alg ? strlen(alg) : 0);
        u_char ident[300];
        if (DL(dkim_sig_getidentity)(st->dkim, sig, ident, sizeof(ident)) == DKIM_STAT_OK)
            sanitize_copy(r->i, sizeof(r->i), (char *)ident, strlen((char *)ident));
        char b[16];
        size_t bl = sizeof(b) - 1; /* the shortest prefix that tells the signatures apart */
        if (DL(dkim_get_sigsubstring)(st->dkim, sig, b, &bl) == DKIM_STAT_OK && bl < sizeof(b)) {
            b[bl] = '\0';
            sanitize_copy(r->b, sizeof(r->b), b, bl);
        }
        char name[DNS_NAME_MAX + 1];
        r->o = outcome_of(sig);
        if (d && sel && key_name(sel, d, name, sizeof(name)) != 0)
            r->o = MA_DKIM_NAMELONG;
        if (r->o == MA_DKIM_PASS && partial(s, st->dkim, sig))
            r->o = MA_DKIM_PARTIAL;
        /* several From headers: which one the signature vouches for is
         * anybody's guess (RFC 6376 8.15) */
        if (st->from_headers > 1 && r->o != MA_DKIM_SYNTAX)
            r->o = MA_DKIM_FROM;
        if (r->o == MA_DKIM_DNS && d && sel)
            r->why = key_why(st, d, sel);
    }
    return n;
}

/* message_outcome - the one outcome the letters weigh (qmail-dkim's rule):
 * none without signatures, pass when one verifies, else the first. */
static enum mailauth_dkim message_outcome(const struct sigres *r, size_t n)
{
    if (!n)
        return MA_DKIM_NONE;
    for (size_t i = 0; i < n; i++)
        if (r[i].o == MA_DKIM_PASS)
            return MA_DKIM_PASS;
    return r[0].o;
}

/* ARES numbers of results, as opendmarc's history file has them. */
static int ares_of(const char *result)
{
    static const char *const names[] = {"pass", "", "softfail", "neutral", "temperror",
                                        "permerror", "none", "fail", "policy"};
    for (int i = 0; i < (int)(sizeof(names) / sizeof(*names)); i++)
        if (names[i][0] && !strcmp(result, names[i]))
            return i;
    return -1;
}

/* aligned - is domain d aligned with the From domain (RFC 7489 3.1):
 * the same name (strict), or the same organizational domain (relaxed). */
static int aligned(policy_session *s, const struct dkim_cfg *c, const char *d, const char *from,
                   int mode)
{
    if (str_ieq(d, from))
        return 1;
    if (mode == DMARC_RECORD_A_STRICT)
        return 0;
    char od[MAILAUTH_DOMAIN_MAX + 1], of[MAILAUTH_DOMAIN_MAX + 1];
    org_domain(s, c, d, od, sizeof(od));
    org_domain(s, c, from, of, sizeof(of));
    return str_ieq(od, of);
}

/* The DMARC verdict on one From domain. */
struct dmarc_res {
    const char *result;      /* pass, fail, none, temperror, permerror */
    char p, sp;              /* the record's policies ('r', 'q', 'n') */
    int pct;                 /* the record's pct */
    const char *disposition; /* none, quarantine, reject */
    int policy;              /* DMARC_POLICY_* */
    int align_dkim, align_spf, adkim, aspf;
    char pdomain[MAILAUTH_DOMAIN_MAX + 1];
    char rua[1024];
};

/* dmarc_record - the one DMARC record of an answer (RFC 7489 6.6.3):
 * NULL when there is none, or more than one. */
static const char *dmarc_record(const struct dns_q *q)
{
    const struct dns_answer *a = q ? dns_answer_of(q) : NULL;
    const char *rec = NULL;
    if (!a || a->status != DNS_FOUND)
        return NULL;
    for (size_t i = 0; i < a->n; i++)
        if (!strncmp(a->rr[i].text, "v=DMARC1", 8) &&
            (a->rr[i].text[8] == ';' || a->rr[i].text[8] == ' ' || a->rr[i].text[8] == '\0')) {
            if (rec)
                return NULL;
            rec = a->rr[i].text;
        }
    return rec;
}

static int dns_failed(const struct dns_q *q)
{
    return q && dns_answer_of(q)->status == DNS_ERROR;
}

/* dmarc_eval - RFC 7489 for one From domain, with libopendmarc. */
static void dmarc_eval(policy_session *s, const struct dkim_cfg *c, const struct fromq *f,
                       const struct sigres *sr, size_t nsr, struct dmarc_res *out)
{
    memset(out, 0, sizeof(*out));
    out->result = "none";
    out->disposition = "none";
    out->policy = DMARC_POLICY_ABSENT;
    const char *rec = dmarc_record(f->q), *org = NULL;
    if (!rec && dns_failed(f->q)) {
        out->result = "temperror";
        return;
    }
    if (!rec && f->qorg) {
        rec = dmarc_record(f->qorg);
        org = f->org;
        if (!rec && dns_failed(f->qorg)) {
            out->result = "temperror";
            return;
        }
    }
    if (!rec)
        return; /* no policy: dmarc=none */
    const struct client *cl = session_client(s);
    DMARC_POLICY_T *p = DL(opendmarc_policy_connect_init)((u_char *)cl->ip, cl->family == AF_INET6 ? 6 : 4);
    if (!p) {
        out->result = "temperror";
        return;
    }
    if (DL(opendmarc_policy_store_from_domain)(p, (u_char *)f->domain) != DMARC_PARSE_OKAY ||
        DL(opendmarc_policy_store_dmarc)(p, (u_char *)rec, (u_char *)f->domain, (u_char *)org) !=
            DMARC_PARSE_OKAY) {
        out->result = "permerror";
        DL(opendmarc_policy_connect_shutdown)(p);
        return;
    }
    /* Alignment (RFC 7489 3.1) is ours: libopendmarc 1.4.2 calls a
     * subdomain aligned in strict mode when the From domain is its
     * organizational domain, and a public suffix aligned with any name
     * under it in relaxed mode.  It gets each result with the From domain
     * when it is aligned, and as a failure when it is not; what it decides
     * from there is the policy (p=, sp=) of the record it parsed. */
    (void)DL(opendmarc_policy_fetch_adkim)(p, &out->adkim);
    (void)DL(opendmarc_policy_fetch_aspf)(p, &out->aspf);
    out->align_dkim = out->align_spf = DMARC_POLICY_DKIM_ALIGNMENT_FAIL;
    const char *spf = session_fact(s, "spf"), *spf_domain = session_fact(s, "spf_domain");
    if (spf && spf_domain && *spf_domain) {
        int outcome = !strcmp(spf, "pass")        ? DMARC_POLICY_SPF_OUTCOME_PASS
                      : !strcmp(spf, "temperror") ? DMARC_POLICY_SPF_OUTCOME_TMPFAIL
                      : !strcmp(spf, "none")      ? DMARC_POLICY_SPF_OUTCOME_NONE
                                                  : DMARC_POLICY_SPF_OUTCOME_FAIL;
        const char *sender = session_txn(s)->sender;
        int origin = sender && *sender ? DMARC_POLICY_SPF_ORIGIN_MAILFROM : DMARC_POLICY_SPF_ORIGIN_HELO;
        int ok = outcome == DMARC_POLICY_SPF_OUTCOME_PASS && aligned(s, c, spf_domain, f->domain, out->aspf);
        if (ok)
            out->align_spf = DMARC_POLICY_SPF_ALIGNMENT_PASS;
        else if (outcome == DMARC_POLICY_SPF_OUTCOME_PASS)
            outcome = DMARC_POLICY_SPF_OUTCOME_FAIL;
        (void)DL(opendmarc_policy_store_spf)(p, (u_char *)(ok ? f->domain : spf_domain), outcome, origin,
                                         NULL);
    }
    for (size_t i = 0; i < nsr; i++) {
        if (!sr[i].d[0])
            continue;
        int ok = sr[i].o == MA_DKIM_PASS && aligned(s, c, sr[i].d, f->domain, out->adkim);
        int outcome = ok ? DMARC_POLICY_DKIM_OUTCOME_PASS
                      : !strcmp(mailauth_dkim_result(sr[i].o), "temperror")
                          ? DMARC_POLICY_DKIM_OUTCOME_TMPFAIL
                          : DMARC_POLICY_DKIM_OUTCOME_FAIL;
        if (ok)
            out->align_dkim = DMARC_POLICY_DKIM_ALIGNMENT_PASS;
        (void)DL(opendmarc_policy_store_dkim)(p, (u_char *)(ok ? f->domain : sr[i].d), (u_char *)sr[i].s,
                                          outcome, NULL);
    }
    out->policy = DL(opendmarc_get_policy_to_enforce)(p);
    int v;
    out->p = DL(opendmarc_policy_fetch_p)(p, &v) == DMARC_PARSE_OKAY ? (char)v : 0;
    out->sp = DL(opendmarc_policy_fetch_sp)(p, &v) == DMARC_PARSE_OKAY ? (char)v : 0;
    out->pct = DL(opendmarc_policy_fetch_pct)(p, &v) == DMARC_PARSE_OKAY ? v : -1;
    if (DL(opendmarc_policy_fetch_utilized_domain)(p, (u_char *)out->pdomain, sizeof(out->pdomain)) !=
        DMARC_PARSE_OKAY)
        snprintf(out->pdomain, sizeof(out->pdomain), "%s", org ? org : f->domain);
    u_char **rua = DL(opendmarc_policy_fetch_rua)(p, NULL, 0, 1);
    for (size_t i = 0, n = 0; rua && rua[i]; i++) {
        int w = snprintf(out->rua + n, sizeof(out->rua) - n, "%s%s", n ? "\n" : "", (char *)rua[i]);
        if (w < 0 || (size_t)w >= sizeof(out->rua) - n)
            break;
        n += (size_t)w;
    }
    DL(opendmarc_policy_connect_shutdown)(p);
    switch (out->policy) {
    case DMARC_POLICY_PASS:
        out->result = "pass";
        return;
    case DMARC_POLICY_REJECT:
    case DMARC_POLICY_QUARANTINE:
    case DMARC_POLICY_NONE:
        out->result = "fail";
        break;
    default:
        out->result = out->policy == DMARC_POLICY_ABSENT ? "none" : "permerror";
        return;
    }
    /* pct (RFC 7489 6.6.4): a message not sampled gets the next milder
     * policy; libopendmarc leaves the sampling to its caller */
    int pol = out->policy;
    if (out->pct >= 0 && out->pct < 100 && (int)arc4random_uniform(100) >= out->pct)
        pol = pol == DMARC_POLICY_REJECT ? DMARC_POLICY_QUARANTINE : DMARC_POLICY_NONE;
    if (c->dmarc_enforce)
        out->disposition = pol == DMARC_POLICY_REJECT       ? "reject"
                           : pol == DMARC_POLICY_QUARANTINE ? "quarantine"
                                                            : "none";
}

/* policy_name - a record's p= or sp= in words. */
static const char *policy_name(char p)
{
    return p == DMARC_RECORD_P_REJECT       ? "reject"
           : p == DMARC_RECORD_P_QUARANTINE ? "quarantine"
           : p == DMARC_RECORD_P_NONE       ? "none"
                                            : "unspecified";
}

/* history - opendmarc's history file lines for one evaluation (what
 * opendmarc-import reads to make aggregate reports). */
static void history(policy_session *s, const struct dkim_cfg *c, const struct fromq *f,
                    const struct sigres *sr, size_t nsr, const struct dmarc_res *d)
{
    static _Atomic unsigned long seq;
    char buf[8192];
    size_t n = 0;
    const char *spf = session_fact(s, "spf"), *spf_domain = session_fact(s, "spf_domain");
    const char *authserv = c->authserv_id[0] ? c->authserv_id : session_general(s)->hostname;
#define H(...)                                                                                     \
    do {                                                                                           \
        int w_ = snprintf(buf + n, sizeof(buf) - n, __VA_ARGS__);                                  \
        if (w_ < 0 || (size_t)w_ >= sizeof(buf) - n)                                               \
            return;                                                                                \
        n += (size_t)w_;                                                                           \
    } while (0)
    H("job %lx.%lx.%lu\n", (unsigned long)time(NULL), (unsigned long)getpid(), ++seq);
    H("reporter %s\n", authserv);
    H("received %ld\n", (long)time(NULL));
    H("ipaddr %s\n", session_client(s)->ip);
    H("from %s\n", f->domain);
    H("mfrom %s\n", spf_domain && *spf_domain ? spf_domain : "-");
    H("spf %d\n", spf ? ares_of(spf) : -1);
    for (size_t i = 0; i < nsr; i++)
        if (sr[i].d[0])
            H("dkim %s %s %d\n", sr[i].d, sr[i].s[0] ? sr[i].s : "-",
              ares_of(mailauth_dkim_result(sr[i].o)));
    H("pdomain %s\n", d->pdomain);
    H("policy %d\n", d->policy);
    if (d->rua[0]) {
        for (const char *p = d->rua; *p;) {
            size_t l = strcspn(p, "\n");
            H("rua %.*s\n", (int)l, p);
            p += l + (p[l] == '\n');
        }
    } else {
        H("rua -\n");
    }
    H("pct %d\n", d->pct);
    H("adkim %d\n", d->adkim);
    H("aspf %d\n", d->aspf);
    H("p %d\n", d->p);
    H("sp %d\n", d->sp);
    H("align_dkim %d\n", d->align_dkim);
    H("align_spf %d\n", d->align_spf);
    H("arc 7\narc_policy 2 json:[]\n"); /* no ARC here: what opendmarc writes then */
    H("action %d\n", !strcmp(d->disposition, "reject")       ? 0
                     : !strcmp(d->disposition, "quarantine") ? 4
                                                             : 2);
#undef H
    int fd = open(c->history, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NONBLOCK, 0640);
    if (fd < 0) {
        plog(s, POLICY_LOG_ERR, "dkim: cannot open %s: %s", c->history, strerror(errno));
        return;
    }
    (void)flock(fd, LOCK_EX); /* one record after another, as opendmarc does */
    ssize_t w = write(fd, buf, n);
    if (w != (ssize_t)n)
        plog(s, POLICY_LOG_ERR, "dkim: cannot write %s: %s", c->history,
             w < 0 ? strerror(errno) : "short write");
    (void)flock(fd, LOCK_UN);
    close(fd);
}

/* drop_forged - delete every Authentication-Results header that claims
 * our authserv-id (RFC 8601 5): from the highest number down. */
static void drop_forged(policy_session *s, const char *authserv)
{
    const struct msg_header *h;
    size_t n = message_headers(s, &h, NULL);
    unsigned idx = 0, forged[64];
    size_t nf = 0;
    for (size_t i = 0; i < n; i++) {
        if (!str_ieq(h[i].name, "Authentication-Results"))
            continue;
        idx++;
        char id[POLICY_HOST_MAX + 1];
        if (mailauth_authserv_id(h[i].value, strlen(h[i].value), id, sizeof(id)) == 0 &&
            str_ieq(id, authserv) && nf < sizeof(forged) / sizeof(*forged))
            forged[nf++] = idx;
    }
    while (nf--) {
        plog(s, POLICY_LOG_NOTICE, "dkim: removed a forged Authentication-Results header (#%u) "
                                   "claiming to be ours (%s)", forged[nf], authserv);
        (void)session_add_edit_at(s, POLICY_EDIT_DELETE_HEADER, "Authentication-Results",
                                  forged[nf], "");
    }
}

/* letters - the client's letter set: its variable, else the configuration. */
static const char *letters(policy_session *s, const char *var, const char *conf)
{
    const char *v = policy_session_getvar(s, var);
    return v ? v : conf;
}

static enum check finish_verify(policy_session *s, const struct dkim_cfg *c, struct dkim_state *st,
                                struct finding *f)
{
    struct sigres sr[SIGS_MAX];
    size_t nsr = 0;
    const char *authserv = c->authserv_id[0] ? c->authserv_id : session_general(s)->hostname;
    int broken = 0; /* libopendkim could not look at the message at all */

    if (st->dkim && !st->unsigned_msg) {
        dns_owner = st;
        DKIM_STAT r = DL(dkim_eom)(st->dkim, NULL);
        dns_owner = NULL;
        nsr = results(s, st, sr);
        broken = !nsr && r != DKIM_STAT_NOSIG && r != DKIM_STAT_CANTVRFY && r != DKIM_STAT_OK &&
                 r != DKIM_STAT_BADSIG;
        if (broken)
            plog(s, POLICY_LOG_WARNING, "dkim: libopendkim: %s (%s)", DL(dkim_getresultstr)(r),
                 DL(dkim_geterror)(st->dkim) ? DL(dkim_geterror)(st->dkim) : "");
    } else if (!st->dkim) {
        broken = 1;
    }
    /* the Authentication-Results header */
    char ar_buf[AR_MAX];
    struct mailauth_ar ar;
    mailauth_ar_begin(&ar, ar_buf, sizeof(ar_buf), authserv);
    for (size_t i = 0; i < nsr; i++) {
        char why[200];
        const char *reason = mailauth_dkim_reason(sr[i].o);
        if (sr[i].why)
            snprintf(why, sizeof(why), "%s: %s", reason, sr[i].why);
        mailauth_ar_result(&ar, "dkim", mailauth_dkim_result(sr[i].o), sr[i].why ? why : reason);
        if (sr[i].d[0])
            mailauth_ar_prop(&ar, "header.d", sr[i].d);
        if (sr[i].i[0])
            mailauth_ar_prop(&ar, "header.i", sr[i].i);
        if (sr[i].s[0])
            mailauth_ar_prop(&ar, "header.s", sr[i].s);
        if (sr[i].a[0])
            mailauth_ar_prop(&ar, "header.a", sr[i].a);
        if (sr[i].b[0])
            mailauth_ar_prop(&ar, "header.b", sr[i].b);
    }
    enum mailauth_dkim mo = broken ? MA_DKIM_RESOURCE : message_outcome(sr, nsr);
    if (!nsr)
        mailauth_ar_result(&ar, "dkim", mailauth_dkim_result(mo),
                           broken ? mailauth_dkim_reason(mo) : NULL);
    const char *spf = session_fact(s, "spf"), *spf_domain = session_fact(s, "spf_domain");
    if (spf && *spf) {
        mailauth_ar_result(&ar, "spf", spf, NULL);
        if (spf_domain && *spf_domain)
            mailauth_ar_prop(&ar, session_txn(s)->sender && *session_txn(s)->sender ? "smtp.mailfrom"
                                                                                     : "smtp.helo",
                             spf_domain);
    }
    /* DMARC, for each From domain */
    struct dmarc_res dr[FROMS_MAX];
    const char *dmarc_result = NULL;
    size_t reject = FROMS_MAX, quarantine = FROMS_MAX;
    if (c->dmarc && st->nfrom) {
        dns_wait(st->dns, &st->dmarc_group);
        for (size_t i = 0; i < st->nfrom; i++) {
            char comment[100];
            dmarc_eval(s, c, &st->from[i], sr, nsr, &dr[i]);
            if (dr[i].policy >= DMARC_POLICY_PASS && dr[i].policy <= DMARC_POLICY_NONE) {
                snprintf(comment, sizeof(comment), "p=%s sp=%s dis=%s", policy_name(dr[i].p),
                         policy_name(dr[i].sp ? dr[i].sp : dr[i].p), dr[i].disposition);
                mailauth_ar_result(&ar, "dmarc", dr[i].result, comment);
            } else {
                mailauth_ar_result(&ar, "dmarc", dr[i].result, NULL);
            }
            mailauth_ar_prop(&ar, "header.from", st->from[i].domain);
            if (!dmarc_result || strcmp(dr[i].result, "fail") == 0)
                dmarc_result = dr[i].result;
            if (!strcmp(dr[i].disposition, "reject") && reject == FROMS_MAX)
                reject = i;
            if (!strcmp(dr[i].disposition, "quarantine") && quarantine == FROMS_MAX)
                quarantine = i;
            if (c->history && dr[i].policy != DMARC_POLICY_ABSENT && strcmp(dr[i].result, "temperror"))
                history(s, c, &st->from[i], sr, nsr, &dr[i]);
        }
    }
    const char *value = mailauth_ar_end(&ar);
    if (ar.truncated)
        plog(s, POLICY_LOG_WARNING, "dkim: Authentication-Results cut to %zu bytes", strlen(value));
    if (session_add_edit(s, POLICY_EDIT_INSERT_HEADER, "Authentication-Results", value) != 0) {
        finding_set(f, 451, "4.3.0", "temporary failure, please try again later");
        finding_reason(f, "dkim: out of memory for Authentication-Results");
        return CHECK_ERROR;
    }
    (void)session_fact_set(s, FACT_TRANSACTION, "dkim", mailauth_dkim_result(mo));
    if (dmarc_result)
        (void)session_fact_set(s, FACT_TRANSACTION, "dmarc", dmarc_result);

    /* the verdict: the letters first, then DMARC */
    const char *dkset = letters(s, "DKVERIFY", c->dkverify), *dkimset = letters(s, "DKIMVERIFY", c->dkimverify);
    char dkl = mailauth_dk_letter(mo), dkiml = mailauth_dkim_letter(mo);
    enum mailauth_act a1 = mailauth_letters_act(dkset, dkl), a2 = mailauth_letters_act(dkimset, dkiml);
    enum mailauth_act act = a1 > a2 ? a1 : a2;
    const char *dom = nsr ? (sr[0].d[0] ? sr[0].d : "?") : NULL;
    plog(s, POLICY_LOG_INFO, "dkim: dkim=%s%s%s letters=%c/%c dmarc=%s", mailauth_dkim_result(mo),
         dom ? " d=" : "", dom ? dom : "", dkl, dkiml, dmarc_result ? dmarc_result : "-");
    if (act != MA_ACT_NONE) {
        const char *what = nsr ? mailauth_dkim_reason(mo) : "message not signed";
        if (act == MA_ACT_PERMANENT)
            finding_set(f, 550, "5.7.20", "DKIM: %s%s%s", what, dom ? " for " : "", dom ? dom : "");
        else
            finding_set(f, 451, "4.7.5", "DKIM: %s%s%s, try again later", what, dom ? " for " : "",
                        dom ? dom : "");
        finding_reason(f, "dkim=%s%s%s letter %c (%s=%s)", mailauth_dkim_result(mo),
                       dom ? " d=" : "", dom ? dom : "", a1 >= a2 ? dkl : dkiml,
                       a1 >= a2 ? "DKVERIFY" : "DKIMVERIFY", a1 >= a2 ? dkset : dkimset);
        return CHECK_MATCH;
    }
    if (reject < FROMS_MAX) {
        finding_set(f, 550, "5.7.1", "message rejected by the DMARC policy of %s",
                    st->from[reject].domain);
        finding_reason(f, "dmarc=fail p=%s sp=%s pct=%d header.from=%s", policy_name(dr[reject].p),
                       policy_name(dr[reject].sp ? dr[reject].sp : dr[reject].p), dr[reject].pct,
                       st->from[reject].domain);
        return CHECK_MATCH;
    }
    if (quarantine < FROMS_MAX) {
        char tag[POLICY_TEXT_MAX];
        snprintf(tag, sizeof(tag), "dkim; DMARC quarantine policy of %s", st->from[quarantine].domain);
        if (session_add_edit(s, POLICY_EDIT_ADD_HEADER, "X-Policy-Tag", tag) != 0)
            plog(s, POLICY_LOG_ERR, "dkim: out of memory for the quarantine tag");
    }
    return CHECK_NOMATCH;
}

static enum check dkim_on_eom(policy_session *s, const void *cfg, struct finding *f)
{
    const struct dkim_cfg *c = cfg;
    struct dkim_state *st = state_of(s, c);
    drop_forged(s, c->authserv_id[0] ? c->authserv_id : session_general(s)->hostname);
    if (st->no_lib) {
        finding_set(f, 451, "4.3.0", "temporary failure, please try again later");
        finding_reason(f, "dkim: %s", dl_ready());
        return CHECK_ERROR;
    }
    if (st->mode == MODE_SIGN)
        return finish_sign(s, st, f);
    if (st->mode == MODE_VERIFY)
        return finish_verify(s, c, st, f);
    return CHECK_NOMATCH;
}

static const char *const dkim_vars[] = {"DKSIGN", "DKIMSIGN", "DKVERIFY", "DKIMVERIFY", NULL};
static const char *const dkim_list_keys[] = {"sign_headers", "oversign_headers", NULL};

const struct layer_desc layer_dkim = {
    .name = "dkim",
    .flags = LAYER_OPTIN,
    .default_action = LA_REJECT,
    .cfg_size = sizeof(struct dkim_cfg),
    .defaults = dkim_defaults,
    .set = dkim_set,
    .load = dkim_load,
    .free = dkim_free_cfg,
    .state_size = sizeof(struct dkim_state),
    .txn_reset = state_clear,
    .state_free = dkim_state_free,
    .hooks = {[STAGE_BODY] = dkim_on_body, [STAGE_EOM] = dkim_on_eom},
    .eom_start = dkim_eom_start,
    .needs = NEED_SPOOL,
    .list_keys = dkim_list_keys,
    .vars = dkim_vars,
};
