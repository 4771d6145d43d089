/*
 * spf.c - SPF (RFC 7208) at MAIL with libspf2, its DNS answered by the
 * session's c-ares resolver (libspf2's own resolver blocks and cannot be
 * pointed at a test server).  qmail-spf's SPFBEHAVIOR levels 0-6 decide
 * what is refused; a Received-SPF header is queued as an edit; fail is
 * 550 5.7.23 and temperror 451 4.7.24 (RFC 7372).  A refusal quotes the
 * sender domain's own explanation (exp=, RFC 7208 6.2), else the one
 * configured, else none: never libspf2's default, a link to a site long
 * gone.
 *
 * libspf2 calls SPF_error() on internal trouble and its default handler
 * aborts: ours jumps back to spf_check(), which reports an ERROR, so the
 * process never dies for a bad record.  Its warnings go to our log, not to
 * stderr.  libspf2 (and libresolv, which it links) is loaded with the first
 * check (../support/dynlib.h): a process whose configuration checks no SPF
 * never maps it.
 */
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../support/dns.h"
#include "../support/dynlib.h"
#include "spf.h"

#define SPF_FNS(X)                                                                                 \
    X(SPF_dns_rr_buf_realloc)                                                                      \
    X(SPF_dns_rr_free) X(SPF_dns_rr_new_init) X(SPF_macro_free) X(SPF_request_free)                \
        X(SPF_request_new) X(SPF_request_query_mailfrom) X(SPF_request_set_env_from)               \
            X(SPF_request_set_helo_dom) X(SPF_request_set_ipv4) X(SPF_request_set_ipv6)            \
                X(SPF_response_errcode) X(SPF_response_free) X(SPF_response_get_explanation)       \
                    X(SPF_response_get_received_spf_value) X(SPF_response_result)                  \
                        X(SPF_server_free) X(SPF_server_new_dns) X(SPF_server_set_explanation)     \
                            X(SPF_server_set_rec_dom) X(SPF_strerror) X(SPF_error_handler)         \
                                X(SPF_warning_handler) X(SPF_info_handler) X(SPF_debug_handler)
static struct {
    SPF_FNS(DYNLIB_FN)
} spff;
#define SPF_SYM(f) DYNLIB_SYM(spff, f)
static const struct dynlib_sym spf_syms[] = {SPF_FNS(SPF_SYM)};
static struct dynlib spf_lib = DYNLIB_INIT(SONAME_SPF2, spf_syms);
#define SPF_dns_rr_buf_realloc              (*spff.SPF_dns_rr_buf_realloc)
#define SPF_dns_rr_free                     (*spff.SPF_dns_rr_free)
#define SPF_dns_rr_new_init                 (*spff.SPF_dns_rr_new_init)
#define SPF_macro_free                      (*spff.SPF_macro_free)
#define SPF_request_free                    (*spff.SPF_request_free)
#define SPF_request_new                     (*spff.SPF_request_new)
#define SPF_request_query_mailfrom          (*spff.SPF_request_query_mailfrom)
#define SPF_request_set_env_from            (*spff.SPF_request_set_env_from)
#define SPF_request_set_helo_dom            (*spff.SPF_request_set_helo_dom)
#define SPF_request_set_ipv4                (*spff.SPF_request_set_ipv4)
#define SPF_request_set_ipv6                (*spff.SPF_request_set_ipv6)
#define SPF_response_errcode                (*spff.SPF_response_errcode)
#define SPF_response_free                   (*spff.SPF_response_free)
#define SPF_response_get_explanation        (*spff.SPF_response_get_explanation)
#define SPF_response_get_received_spf_value (*spff.SPF_response_get_received_spf_value)
#define SPF_response_result                 (*spff.SPF_response_result)
#define SPF_server_free                     (*spff.SPF_server_free)
#define SPF_server_new_dns                  (*spff.SPF_server_new_dns)
#define SPF_server_set_explanation          (*spff.SPF_server_set_explanation)
#define SPF_server_set_rec_dom              (*spff.SPF_server_set_rec_dom)
#define SPF_strerror                        (*spff.SPF_strerror)
#define SPF_error_handler                   (*spff.SPF_error_handler)
#define SPF_warning_handler                 (*spff.SPF_warning_handler)
#define SPF_info_handler                    (*spff.SPF_info_handler)
#define SPF_debug_handler                   (*spff.SPF_debug_handler)

extern const struct layer_desc layer_spf;

struct spf_cfg {
    int behavior; /* qmail-spf SPFBEHAVIOR, 0..6 */
    int check_helo;
    int received_spf;
    unsigned long timeout_ms;
    char explanation[POLICY_TEXT_MAX + 1]; /* SPF macro text; "" none */
};

/* Marks the explanation libspf2 expands from our configuration, so that
 * one from the sender domain can be told from ours. */
#define SPF_EXP_MARK "libpolicy-explanation:"

/* Per-thread: where SPF_error() jumps back to, and whose log gets libspf2's
 * messages, while spf_check() runs. */
static _Thread_local jmp_buf *spf_jump;
static _Thread_local policy_session *spf_session;
/* the response libspf2 is building: static storage survives the longjmp */
static _Thread_local SPF_response_t *spf_resp;
static void (*spf_prev_error)(const char *, int, const char *) __attribute__((noreturn));

__attribute__((noreturn)) static void on_spf_error(const char *file, int line, const char *msg)
{
    if (spf_session)
        plog(spf_session, POLICY_LOG_ERR, "spf: libspf2 internal error at %s:%d: %s",
             file ? file : "?", line, msg ? msg : "");
    if (spf_jump)
        longjmp(*spf_jump, 1);
    spf_prev_error(file, line, msg); /* not inside libpolicy: libspf2's own way */
}

static void on_spf_message(const char *file, int line, const char *msg)
{
    (void)file;
    (void)line;
    if (spf_session)
        plog(spf_session, POLICY_LOG_DEBUG, "spf: %s", msg ? msg : "");
}

static pthread_once_t handlers_once = PTHREAD_ONCE_INIT;

static void install_handlers(void)
{
    if (dynlib_load(&spf_lib) != 0)
        return; /* every check then says why (spf_lib) */
    spf_prev_error = SPF_error_handler;
    SPF_error_handler = on_spf_error;
    SPF_warning_handler = on_spf_message;
    SPF_info_handler = on_spf_message;
    SPF_debug_handler = on_spf_message;
}

/* ------------------------------------------------------------ DNS layer */

struct spf_dns_hook {
    policy_session *s;
    double deadline;
    unsigned lookups;
};

/* exp_spaces - text with every space as "%_": an explanation (RFC 7208 6.2)
 * is a macro string with spaces, but libspf2 ends a macro string at a
 * space and garbles the rest.  out may be NULL to measure; returns the
 * length of the result. */
static size_t exp_spaces(const char *text, char *out)
{
    size_t o = 0;
    for (const char *p = text; *p; p++) {
        if (*p == ' ') {
            if (out)
                memcpy(out + o, "%_", 2);
            o += 2;
        } else {
            if (out)
                out[o] = *p;
            o++;
        }
    }
    if (out)
        out[o] = '\0';
    return o;
}

/* is_spf_record - "v=spf1" alone or before a space (RFC 7208 4.5) */
static int is_spf_record(const char *t)
{
    return !strncasecmp(t, "v=spf1", 6) && (t[6] == ' ' || t[6] == '\0');
}

/* rr_fill - a libspf2 record set from our bounded, sanitized answer, every
 * record of it (an "a" mechanism must see the client's address wherever it
 * is in the set); TRY_AGAIN when memory runs out, never a shorter set. */
static SPF_dns_rr_t *rr_fill(SPF_dns_server_t *srv, const char *domain, ns_type type,
                             const struct dns_answer *a)
{
    SPF_dns_rr_t *rr = SPF_dns_rr_new_init(srv, domain, type, (int)a->ttl, NETDB_SUCCESS);
    if (!rr || a->n > INT_MAX)
        goto oom;
    for (size_t i = 0; i < a->n; i++) {
        int n = (int)i;
        /* a TXT record that is no SPF record can only be an explanation */
        int exp = type == ns_t_txt && !is_spf_record(a->rr[i].text);
        size_t len = type == ns_t_a      ? sizeof(struct in_addr)
                     : type == ns_t_aaaa ? sizeof(struct in6_addr)
                     : exp               ? exp_spaces(a->rr[i].text, NULL) + 1
                                         : strlen(a->rr[i].text) + 1;
        if (SPF_dns_rr_buf_realloc(rr, n, len) != SPF_E_SUCCESS)
            goto oom;
        if (type == ns_t_a)
            memcpy(&rr->rr[n]->a, a->rr[i].addr, 4);
        else if (type == ns_t_aaaa)
            memcpy(&rr->rr[n]->aaaa, a->rr[i].addr, 16);
        else if (exp)
            exp_spaces(a->rr[i].text, rr->rr[n]->txt);
        else
            memcpy(rr->rr[n]->txt, a->rr[i].text, len);
        rr->num_rr = n + 1;
    }
    return rr;
oom:
    if (rr)
        SPF_dns_rr_free(rr);
    return SPF_dns_rr_new_init(srv, domain, type, 0, TRY_AGAIN);
}

static SPF_dns_rr_t *spf_dns_lookup(SPF_dns_server_t *srv, const char *domain, ns_type type,
                                    int should_cache)
{
    struct spf_dns_hook *h = srv->hook;
    struct dns *d = session_dns(h->s);
    enum dns_type t;
    (void)should_cache;

    switch (type) {
    case ns_t_a:
        t = DNS_A;
        break;
    case ns_t_aaaa:
        t = DNS_AAAA;
        break;
    case ns_t_ptr:
        t = DNS_PTR;
        break;
    case ns_t_mx:
        t = DNS_MX;
        break;
    case ns_t_txt:
        t = DNS_TXT;
        break;
    default: /* type SPF (99) is obsolete (RFC 7208 3.1): nothing there */
        return SPF_dns_rr_new_init(srv, domain, type, 0, NO_DATA);
    }
    /* libspf2 counts mechanisms itself; this bounds everything else */
    if (!d || ++h->lookups > 100 || dns_now_ms() >= h->deadline)
        return SPF_dns_rr_new_init(srv, domain, type, 0, TRY_AGAIN);
    struct dns_q *q = dns_start(d, h, domain, t, DNS_TXT_MAX_SPF, h->deadline, NULL, NULL);
    if (!q) /* a name that cannot be asked about does not exist; no memory is no answer */
        return SPF_dns_rr_new_init(srv, domain, type, 0,
                                   dns_qname_ok(domain) ? TRY_AGAIN : HOST_NOT_FOUND);
    dns_wait(d, h);
    const struct dns_answer *a = dns_answer_of(q);
    SPF_dns_rr_t *rr;
    if (a->status == DNS_FOUND)
        rr = rr_fill(srv, domain, type, a);
    else if (a->status == DNS_NOTFOUND)
        rr = SPF_dns_rr_new_init(srv, domain, type, 0,
                                 a->why && !strcmp(a->why, "no such name") ? HOST_NOT_FOUND
                                                                           : NO_DATA);
    else
        rr = SPF_dns_rr_new_init(srv, domain, type, 0, TRY_AGAIN);
    dns_release_group(d, h);
    return rr;
}

SPF_dns_server_t *spf_dns_new(policy_session *s, double deadline_ms)
{
    SPF_dns_server_t *d = calloc(1, sizeof(*d));
    struct spf_dns_hook *h = calloc(1, sizeof(*h));
    if (!d || !h) {
        free(d);
        free(h);
        return NULL;
    }
    h->s = s;
    h->deadline = deadline_ms;
    d->destroy = NULL; /* ours: spf_dns_free() */
    d->lookup = spf_dns_lookup;
    d->name = "libpolicy-c-ares";
    d->hook = h;
    return d;
}

void spf_dns_free(SPF_dns_server_t *d)
{
    if (!d)
        return;
    struct spf_dns_hook *h = d->hook;
    dns_release_group(session_dns_peek(h->s), h);
    free(h);
    free(d);
}

/* ------------------------------------------------------------ the check */

static const char *result_name(SPF_result_t r)
{
    switch (r) {
    case SPF_RESULT_PASS:
        return "pass";
    case SPF_RESULT_FAIL:
        return "fail";
    case SPF_RESULT_SOFTFAIL:
        return "softfail";
    case SPF_RESULT_NEUTRAL:
        return "neutral";
    case SPF_RESULT_NONE:
        return "none";
    case SPF_RESULT_TEMPERROR:
        return "temperror";
    default:
        return "permerror";
    }
}

/* received_spf - the header libspf2 wrote, cleaned: its comment quotes the
 * DNS, which is not to be trusted. */
static void add_received_spf(policy_session *s, SPF_response_t *resp, SPF_result_t r,
                             const char *identity)
{
    char value[1024];
    const char *v = resp ? SPF_response_get_received_spf_value(resp) : NULL;
    if (v && *v)
        sanitize_copy(value, sizeof(value), v, strlen(v));
    else
        snprintf(value, sizeof(value), "%s (%s: cannot evaluate SPF for %s) client-ip=%s;",
                 result_name(r), session_general(s)->hostname, identity, session_client(s)->ip);
    if (session_add_edit(s, POLICY_EDIT_ADD_HEADER, "Received-SPF", value) != 0)
        plog(s, POLICY_LOG_ERR, "spf: out of memory for Received-SPF");
}

/* explain - ": TEXT" for a refusal, in out: the explanation the sender
 * domain published (exp=), labelled as the domain's, or else the one
 * configured, which libspf2 expanded behind our mark; "" for none.  Both
 * come from libspf2's macro expansion (RFC 7208 7); both are sanitized. */
static void explain(SPF_response_t *resp, const char *domain, char *out, size_t outlen)
{
    char text[POLICY_TEXT_MAX + 1];
    const char *x = SPF_response_get_explanation(resp);
    size_t mark = strlen(SPF_EXP_MARK);
    int ours = x && !strncmp(x, SPF_EXP_MARK, mark);
    out[0] = '\0';
    if (ours)
        x += mark;
    if (!x || !*x)
        return;
    sanitize_copy(text, sizeof(text), x, strlen(x));
    /* cut to the reply's bound when longer */
    if ((ours ? snprintf(out, outlen, ": %s", text)
              : snprintf(out, outlen, ": %s explains: %s", domain, text)) < 0)
        out[0] = '\0';
}

/* exp_compile - make our mark and the configured text (at most
 * POLICY_TEXT_MAX bytes, NULL for none) libspf2's default explanation,
 * the one it expands when the record has no exp=. */
static SPF_errcode_t exp_compile(SPF_server_t *server, const char *configured)
{
    char exp[sizeof(SPF_EXP_MARK) + 2 * POLICY_TEXT_MAX];
    SPF_response_t *errs = NULL;
    memcpy(exp, SPF_EXP_MARK, sizeof(SPF_EXP_MARK));
    if (configured && strlen(configured) <= POLICY_TEXT_MAX)
        exp_spaces(configured, exp + strlen(SPF_EXP_MARK));
    SPF_errcode_t r = SPF_server_set_explanation(server, exp, &errs);
    if (errs)
        SPF_response_free(errs);
    return r;
}

/* set_explanation - exp_compile(), or at least the mark.  0, or -1 when not
 * even the mark could be set (then no explanation may be quoted). */
static int set_explanation(SPF_server_t *server, const char *configured)
{
    SPF_errcode_t r = exp_compile(server, configured);
    if (r != SPF_E_SUCCESS && configured && *configured)
        return set_explanation(server, NULL);
    if (r != SPF_E_SUCCESS) { /* never libspf2's default in a reply */
        SPF_macro_free(server->explanation);
        server->explanation = NULL;
        return -1;
    }
    return 0;
}

enum check spf_check(policy_session *s, SPF_dns_server_t *dns, int behavior, int received_spf,
                     int helo_identity, struct finding *f)
{
    SPF_server_t *volatile server = NULL;
    SPF_request_t *volatile req = NULL;
    SPF_response_t *volatile resp = NULL;
    jmp_buf jb;
    volatile SPF_result_t result = SPF_RESULT_TEMPERROR;
    volatile SPF_errcode_t err = SPF_E_SUCCESS;
    const char *domain;
    char identity[POLICY_ADDR_MAX + 16];
    char comment[POLICY_TEXT_MAX + 1] = "";
    const struct spf_cfg *c = session_layer_cfg(s, &layer_spf);
    volatile int explained = 0;

    pthread_once(&handlers_once, install_handlers);
    if (dynlib_load(&spf_lib) != 0) {
        finding_reason(f, "spf: %s", dynlib_error(&spf_lib));
        return CHECK_ERROR;
    }
    int use_from = *session_txn(s)->sender && !helo_identity;
    if (use_from) {
        snprintf(identity, sizeof(identity), "%s", session_txn(s)->sender);
    } else { /* the null sender: the HELO identity (RFC 7208 2.4) */
        snprintf(identity, sizeof(identity), "postmaster@%s",
                 session_client(s)->helo_given ? session_client(s)->helo : "");
    }
    domain = strrchr(identity, '@');
    domain = domain ? domain + 1 : identity;

    if (!*domain) { /* null sender and no HELO: nothing to check */
        result = SPF_RESULT_NONE;
        goto out;
    }
    spf_session = s;
    if (setjmp(jb) == 0) {
        spf_jump = &jb;
        server = SPF_server_new_dns(dns, 0);
        if (!server)
            goto out;
        SPF_server_set_rec_dom(server, session_general(s)->hostname);
        explained = set_explanation(server, c ? c->explanation : NULL) == 0;
        req = SPF_request_new(server);
        if (!req)
            goto out;
        if (session_client(s)->family == AF_INET)
            SPF_request_set_ipv4(req, *(struct in_addr *)(void *)session_client(s)->addr);
        else
            SPF_request_set_ipv6(req, *(struct in6_addr *)(void *)session_client(s)->addr);
        SPF_request_set_helo_dom(req, session_client(s)->helo_given && *session_client(s)->helo
                                          ? session_client(s)->helo
                                          : domain);
        if (use_from && SPF_request_set_env_from(req, session_txn(s)->sender) != 0) {
            result = SPF_RESULT_PERMERROR; /* not an address libspf2 can use */
            err = SPF_E_INVALID_CHAR;
            goto out;
        }
        spf_resp = NULL;
        err = SPF_request_query_mailfrom(req, &spf_resp);
        resp = spf_resp;
        if (resp) {
            result = SPF_response_result(resp);
            if (err == SPF_E_SUCCESS)
                err = SPF_response_errcode(resp);
            if (explained)
                explain(resp, domain, comment, sizeof(comment));
        }
    } else {
        /* libspf2 gave up halfway; its objects are whole (it builds them
         * before it uses them), so they are freed below */
        result = SPF_RESULT_TEMPERROR;
        err = SPF_E_INTERNAL_ERROR;
        resp = spf_resp;
    }
out:
    spf_jump = NULL;
    /* Debian's 1.2.10 leaves INVALID when a record could not be fetched:
     * a DNS error is temporary, anything else permanent */
    if (result == SPF_RESULT_INVALID)
        result = err == SPF_E_DNS_ERROR ? SPF_RESULT_TEMPERROR : SPF_RESULT_PERMERROR;
    if (received_spf && behavior >= 1)
        add_received_spf(s, resp, result, identity);
    if (!helo_identity) { /* for DMARC and greylisting: the sender's result */
        (void)session_fact_set(s, FACT_TRANSACTION, "spf", result_name(result));
        (void)session_fact_set(s, FACT_TRANSACTION, "spf_domain", domain);
    }
    if (resp)
        SPF_response_free(resp);
    spf_resp = NULL;
    if (req)
        SPF_request_free(req);
    if (server) {
        server->resolver = NULL; /* the caller's: SPF_server_free() would destroy it */
        SPF_server_free(server);
    }
    spf_session = NULL;

    finding_reason(f, "SPF %s for %s from %s (level %d%s%s)", result_name(result), identity,
                   session_client(s)->ip, behavior, err ? ", " : "", err ? SPF_strerror(err) : "");
    switch (result) {
    case SPF_RESULT_TEMPERROR:
        if (behavior < 2)
            return CHECK_NOMATCH;
        finding_set(f, 451, "4.7.24",
                    "<%s>: Sender address rejected: SPF validation error (temperror) for %s, "
                    "try again later",
                    session_txn(s)->sender, domain);
        session_error(s, &layer_spf, "dns");
        return CHECK_ERROR;
    case SPF_RESULT_FAIL:
        if (behavior < 3)
            return CHECK_NOMATCH;
        break;
    case SPF_RESULT_SOFTFAIL:
        if (behavior < 4)
            return CHECK_NOMATCH;
        break;
    case SPF_RESULT_NEUTRAL:
        if (behavior < 5)
            return CHECK_NOMATCH;
        break;
    case SPF_RESULT_PASS:
        return CHECK_NOMATCH;
    case SPF_RESULT_NONE:
    case SPF_RESULT_PERMERROR:
    default:
        if (behavior < 6)
            return CHECK_NOMATCH;
        break;
    }
    int perm = result == SPF_RESULT_PERMERROR;
    if (helo_identity) {
        finding_set(f, 550, perm ? "5.7.24" : "5.7.23",
                    "Helo command [%s] rejected: SPF %s (%s) from [%s]%s", session_client(s)->helo,
                    perm ? "validation error" : "validation failed", result_name(result),
                    session_client(s)->ip, comment);
        return CHECK_MATCH;
    }
    finding_set(f, 550, perm ? "5.7.24" : "5.7.23",
                "<%s>: Sender address rejected: SPF %s (%s) for %s from [%s]%s",
                session_txn(s)->sender, perm ? "validation error" : "validation failed",
                result_name(result), domain, session_client(s)->ip, comment);
    return CHECK_MATCH;
}

/* ------------------------------------------------------------ the layer */

static void spf_defaults(void *cfg)
{
    struct spf_cfg *c = cfg;
    c->behavior = 3;
    c->received_spf = 1;
}

/* explanation_check - 0 when libspf2 compiles text as an explanation (its
 * macro syntax), else -1 with err set. */
static int explanation_check(const char *text, struct cfg_err *err)
{
    SPF_server_t *volatile server = NULL;
    volatile SPF_errcode_t r = SPF_E_INTERNAL_ERROR;
    jmp_buf jb, *volatile outer = spf_jump;

    pthread_once(&handlers_once, install_handlers);
    if (dynlib_load(&spf_lib) != 0)
        return cfg_fail(err, "cannot check the explanation: %s", dynlib_error(&spf_lib));
    if (setjmp(jb) == 0) {
        spf_jump = &jb;
        server = SPF_server_new_dns(NULL, 0);
        if (server)
            r = exp_compile(server, text);
    }
    spf_jump = outer;
    if (server)
        SPF_server_free(server);
    if (r != SPF_E_SUCCESS)
        return cfg_fail(err, "not an SPF explanation (%s): '%s'", SPF_strerror(r), text);
    return 0;
}

static int spf_set(void *cfg, const char *key, const char *v, struct cfg_err *err)
{
    struct spf_cfg *c = cfg;
    unsigned long n;
    if (!strcmp(key, "behavior")) {
        if (cfg_parse_uint(v, 6, &n))
            return cfg_fail(err, "expected a level from 0 to 6 (qmail-spf SPFBEHAVIOR), got '%s'",
                            v);
        c->behavior = (int)n;
        return 0;
    }
    if (!strcmp(key, "check_helo"))
        return cfg_set_bool(v, &c->check_helo, err);
    if (!strcmp(key, "received_spf"))
        return cfg_set_bool(v, &c->received_spf, err);
    if (!strcmp(key, "timeout"))
        return cfg_set_dns_timeout(v, &c->timeout_ms, err);
    if (!strcmp(key, "explanation")) {
        if (!strcmp(v, "none")) {
            c->explanation[0] = '\0';
            return 0;
        }
        if (cfg_set_text(c->explanation, sizeof(c->explanation), v, err))
            return -1;
        return explanation_check(c->explanation, err);
    }
    return CFG_UNKNOWN_KEY;
}

static enum check spf_mail(policy_session *s, const void *cfg, struct finding *f)
{
    const struct spf_cfg *c = cfg;
    int behavior = c->behavior;
    const char *v = policy_session_getvar(s, "SPFBEHAVIOR");
    unsigned long n;

    if (v && *v) {
        if (cfg_parse_uint(v, 6, &n) == 0)
            behavior = (int)n;
        else
            plog(s, POLICY_LOG_WARNING, "spf: ignored SPFBEHAVIOR=%s (expected 0 to 6)", v);
    }
    if (behavior == 0 || !session_client(s)->ip_valid)
        return CHECK_NOMATCH;
    unsigned long t = c->timeout_ms ? c->timeout_ms : session_general(s)->dns_timeout_ms;
    SPF_dns_server_t *dns = spf_dns_new(s, dns_now_ms() + (double)t);
    if (!dns) {
        finding_reason(f, "out of memory");
        return CHECK_ERROR;
    }
    enum check r = CHECK_NOMATCH;
    /* RFC 7208 2.3: the HELO identity first; only its refusal counts (a
     * HELO name without SPF, or DNS trouble there, leaves MAIL FROM to decide) */
    if (c->check_helo && *session_txn(s)->sender && strchr(session_client(s)->helo, '.') &&
        dns_hostname_ok(session_client(s)->helo, strlen(session_client(s)->helo)))
        r = spf_check(s, dns, behavior, 0, 1, f);
    if (r != CHECK_MATCH) {
        memset(f, 0, sizeof(*f));
        r = spf_check(s, dns, behavior, c->received_spf, 0, f);
    }
    spf_dns_free(dns);
    return r;
}

static const char *const spf_vars[] = {"SPFBEHAVIOR", NULL};

const struct layer_desc layer_spf = {
    .name = "spf",
    .vars = spf_vars,
    .flags = LAYER_INBOUND | LAYER_OPTIN,
    .default_action = LA_REJECT,
    .cfg_size = sizeof(struct spf_cfg),
    .defaults = spf_defaults,
    .set = spf_set,
    .hooks = {[STAGE_MAIL] = spf_mail},
};
