/*
 * callbacks.c - milter events to libpolicy stages, verdicts to milter replies.
 *
 * Thin on purpose: every decision is the library's.  This file only
 * translates.  Its promises:
 *  - a verdict reaches the MTA with the library's own code, enhanced code
 *    and text, at the scope libmilter gives the callback (a rejected
 *    recipient does not end the transaction); Sendmail, which writes the
 *    MAIL or RCPT address before the reply itself, gets the text without
 *    the library's copy of that address;
 *  - anything that goes wrong here (no memory, no session, a callback the
 *    MTA sends out of order) is a temporary failure for that message, never
 *    an unchecked accept;
 *  - header edits are applied at end of message, and a message whose edits
 *    cannot be applied is deferred, not passed on without them;
 *  - a client that brings its per-client variables (policy-queue: the
 *    macro {policy_env} at connect) gets exactly those, as a local
 *    policy-queue run would, instead of this daemon's tcprules lookup.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <syslog.h>

#include "../qmail-queue/mproto.h"
#include "milter.h"

/* One MTA connection. */
struct conn {
    policy_engine *e;  /* the engine this connection started with */
    policy_session *s; /* from connect to close */
    unsigned stages;   /* policy_engine_stages(e) */
    int authed;        /* policy_auth was called */
    int in_data;       /* policy_data was called for this transaction */
    int sendmail;      /* the MTA is Sendmail: it names the address before a reply */
    int leadspc;       /* SMFIP_HDR_LEADSPC: header values keep their leading blanks */
};

static atomic_int active;

int milter_active(void)
{
    return atomic_load(&active);
}

static struct conn *conn_get(SMFICTX *ctx)
{
    return smfi_getpriv(ctx);
}

/* conn_new - the per-connection state, holding a reference to the engine
 * that is current now; later reloads do not change it. */
static struct conn *conn_new(SMFICTX *ctx)
{
    struct conn *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->e = milter_engine();
    c->stages = policy_engine_stages(c->e);
    if (smfi_setpriv(ctx, c) != MI_SUCCESS) {
        policy_engine_unref(c->e);
        free(c);
        return NULL;
    }
    return c;
}

/*
 * set_reply - hand the library's reply to the MTA.  libmilter refuses CR,
 * LF and a code class that differs from the enhanced code's; sendmail reads
 * a single '%' as a format character, so it is doubled (Postfix undoes it).
 */
static void set_reply(SMFICTX *ctx, int code, const char *xcode, const char *text)
{
    char rcode[8], xc[16], msg[2 * 400 + 1];
    size_t n = 0;

    snprintf(rcode, sizeof(rcode), "%d", code);
    if (xcode && xcode[0] == rcode[0] && xcode[1] == '.')
        snprintf(xc, sizeof(xc), "%s", xcode);
    else
        snprintf(xc, sizeof(xc), "%c.7.1", rcode[0]);
    for (const char *p = text ? text : ""; *p && n + 2 < sizeof(msg) && n < 2 * 400; p++) {
        char ch = (*p < ' ' || *p > '~') ? ' ' : *p;
        if (ch == '%')
            msg[n++] = '%';
        msg[n++] = ch;
    }
    msg[n] = '\0';
    if (smfi_setreply(ctx, rcode, xc, n ? msg : NULL) != MI_SUCCESS)
        milter_log(LOG_WARNING, "cannot set reply %s %s %s", rcode, xc, msg);
}

/* internal - a failure of the adapter itself: defer this message. */
static sfsistat internal(SMFICTX *ctx, const char *what)
{
    char text[200];
    snprintf(text, sizeof(text), "internal error in the policy filter (%s), try again later", what);
    milter_log(LOG_ERR, "%s: deferring", what);
    set_reply(ctx, 451, "4.3.0", text);
    return SMFIS_TEMPFAIL;
}

/*
 * unechoed - text without a leading "<addr>: " when the MTA itself puts
 * "<addr>... " before the reply (Sendmail at MAIL and RCPT), so that the
 * client does not read the address twice.  echoed: the address as the MTA
 * gave it (argv[0], brackets optional), or NULL.
 */
static const char *unechoed(const char *text, const char *echoed)
{
    if (!text || !echoed)
        return text;
    size_t n = strlen(echoed);
    if (n && echoed[0] == '<')
        echoed++, n--;
    if (n && echoed[n - 1] == '>')
        n--;
    if (n && text[0] == '<' && strncasecmp(text + 1, echoed, n) == 0 && text[n + 1] == '>' &&
        text[n + 2] == ':' && text[n + 3] == ' ')
        return text + n + 4;
    return text;
}

/*
 * verdict - a library verdict as a milter status.  message_scope: the
 * callback may discard the message (MAIL and later); DISCARD elsewhere
 * carries on and the library repeats it at a stage that can.  addr: the
 * MAIL or RCPT address, which Sendmail repeats before the reply itself.
 */
static sfsistat verdict(SMFICTX *ctx, struct conn *c, policy_action a, int message_scope,
                        const char *addr)
{
    const policy_reply *r = policy_last_reply(c->s);
    const char *text = unechoed(r->text, c->sendmail ? addr : NULL);

    switch (a) {
    case POLICY_CONTINUE:
    case POLICY_ACCEPT: /* the library skips its own remaining checks */
        return SMFIS_CONTINUE;
    case POLICY_DISCARD:
        return message_scope ? SMFIS_DISCARD : SMFIS_CONTINUE;
    case POLICY_REJECT:
        set_reply(ctx, r->code >= 500 && r->code < 600 ? r->code : 550, r->xcode, text);
        return SMFIS_REJECT;
    case POLICY_DISCONNECT:
        /* a 421 reply makes both Postfix and Sendmail close the session */
        set_reply(ctx, 421, r->xcode && r->xcode[0] == '4' ? r->xcode : "4.7.0", text);
        return SMFIS_TEMPFAIL;
    case POLICY_TEMPFAIL:
    default:
        set_reply(ctx, r->code >= 400 && r->code < 500 ? r->code : 451, r->xcode, text);
        return SMFIS_TEMPFAIL;
    }
}

/* ------------------------------------------------------------ callbacks */

/*
 * The macros each stage needs, for smfi_setsymlist: {auth_authen} at MAIL
 * (the authenticated user) and Sendmail's {opMode}, which only Sendmail
 * defines (it puts "<address>... " before MAIL and RCPT replies), and
 * nothing elsewhere.  An empty list matters to Sendmail: it writes a
 * stage's macros and its command separately, and over TCP the command then
 * waits for the filter's delayed ACK of the macros (about 40 ms, per stage);
 * without a list of ours it sends its default macros at every stage.
 * Postfix writes both at once and reads an empty list as "its defaults".
 * EOH is listed because Sendmail 8.17 looks at the EOH entry to decide
 * whether the EOM one was given.
 */
static const struct {
    int stage;
    const char *names;
} wanted_macros[] = {
    {SMFIM_CONNECT, ""}, {SMFIM_HELO, ""}, {SMFIM_ENVFROM, "{auth_authen} {opMode}"},
    {SMFIM_ENVRCPT, ""}, {SMFIM_DATA, ""}, {SMFIM_EOH, ""},
    {SMFIM_EOM, ""},
};

static sfsistat on_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1, unsigned long f2,
                             unsigned long f3, unsigned long *pf0, unsigned long *pf1,
                             unsigned long *pf2, unsigned long *pf3)
{
    (void)f2;
    (void)f3;
    struct conn *c = conn_get(ctx) ? conn_get(ctx) : conn_new(ctx);
    unsigned long skip = SMFIP_NOUNKNOWN | SMFIP_NOEOH;

    *pf0 = (SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_SETSYMLIST) & f0;
    if (c && !(c->stages & POLICY_STAGE_HEADER))
        skip |= SMFIP_NOHDRS;
    if (c && !(c->stages & POLICY_STAGE_BODY))
        skip |= SMFIP_NOBODY;
    *pf1 = skip & f1;
    /* header values as they are in the message, blanks after the colon
     * included: DKIM signs and verifies the exact bytes */
    if (c && (f1 & SMFIP_HDR_LEADSPC)) {
        *pf1 |= SMFIP_HDR_LEADSPC;
        c->leadspc = 1;
    }
    *pf2 = 0;
    *pf3 = 0;
    if (f0 & SMFIF_SETSYMLIST)
        for (size_t i = 0; i < sizeof(wanted_macros) / sizeof(wanted_macros[0]); i++)
            (void)smfi_setsymlist(ctx, wanted_macros[i].stage, (char *)wanted_macros[i].names);
    return SMFIS_CONTINUE;
}

/* client_ip - the client address as text; IPv4-mapped IPv6 as IPv4.
 * Returns 0 for a network client; 1 for a local submission, given as the
 * loopback client it is (a unix socket client, or no address with the host
 * name "localhost": Sendmail's own submission on standard input, which has
 * no peer); 2 when the MTA does not know the address of an SMTP client (no
 * address, any other name; ip is then ""); -1 for a family we cannot read. */
static int client_ip(const struct sockaddr *sa, const char *hostname, char *ip, size_t len)
{
    if (sa ? sa->sa_family == AF_UNIX : hostname && !strcmp(hostname, "localhost")) {
        snprintf(ip, len, "127.0.0.1");
        return 1;
    }
    if (!sa) {
        ip[0] = '\0';
        return 2;
    }
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        return inet_ntop(AF_INET, &in->sin_addr, ip, (socklen_t)len) ? 0 : -1;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
            return inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], ip, (socklen_t)len) ? 0 : -1;
        return inet_ntop(AF_INET6, &in6->sin6_addr, ip, (socklen_t)len) ? 0 : -1;
    }
    return -1;
}

/* import_policy_env - the per-client variables policy-queue sends as the
 * macro {policy_env} (qmail-queue/mproto.h), taken as a local run takes
 * its environment: those the library knows.  0, or -1 (no memory). */
static int import_policy_env(policy_session *s, const char *packed)
{
    enum { ENTRIES_MAX = 4096 };
    char *copy = strdup(packed), **envp = calloc(ENTRIES_MAX + 1, sizeof(*envp));
    if (copy && envp) {
        (void)mp_env_unpack(copy, envp, ENTRIES_MAX);
        (void)policy_session_import_env(s, envp);
    }
    int r = copy && envp ? 0 : -1;
    free(envp);
    free(copy);
    return r;
}

static sfsistat on_connect(SMFICTX *ctx, char *hostname, struct sockaddr *hostaddr)
{
    struct conn *c = conn_get(ctx) ? conn_get(ctx) : conn_new(ctx);
    char ip[INET6_ADDRSTRLEN];
    const char *host = NULL;

    if (!c)
        return internal(ctx, "out of memory");
    if (c->s)
        return internal(ctx, "second connect on one connection");
    if (!c->e)
        return internal(ctx, "no configuration loaded");
    int kind = client_ip(hostaddr, hostname, ip, sizeof(ip));
    if (kind < 0)
        return internal(ctx, "unknown address family");
    /* Sendmail says "[ip]" and Postfix "unknown" when the client has no name */
    if (kind == 1)
        host = "localhost";
    else if (hostname && hostname[0] && hostname[0] != '[' && strcmp(hostname, "unknown") != 0)
        host = hostname;
    /* no address: the library's "unknown" (a customer only where
     * [customers] trust_unknown_address says so), never a made-up 127.0.0.1 */
    c->s = policy_session_new(c->e, kind == 2 ? NULL : ip, host);
    if (!c->s)
        return internal(ctx, "cannot start a session");
    atomic_fetch_add(&active, 1);
    if (c->leadspc)
        (void)policy_session_exact_headers(c->s);
    const char *env = smfi_getsymval(ctx, "{policy_env}");
    if (env) {
        /* policy-queue: tcpserver looked the client up already */
        if (import_policy_env(c->s, env) != 0)
            return internal(ctx, "out of memory");
    } else {
        /* 1 (deny) and -1 (unreadable) are enforced by the connect stage */
        (void)policy_session_tcprules(c->s, NULL);
    }
    return verdict(ctx, c, policy_connect(c->s), 0, NULL);
}

/* session - the connection's session, or NULL (the caller then defers). */
static struct conn *session(SMFICTX *ctx)
{
    struct conn *c = conn_get(ctx);
    return c && c->s ? c : NULL;
}

static sfsistat on_helo(SMFICTX *ctx, char *helo)
{
    struct conn *c = session(ctx);
    if (!c)
        return internal(ctx, "HELO before connect");
    return verdict(ctx, c, policy_helo(c->s, helo ? helo : ""), 0, NULL);
}

static sfsistat on_envfrom(SMFICTX *ctx, char **argv)
{
    struct conn *c = session(ctx);
    if (!c)
        return internal(ctx, "MAIL before connect");
    if (!argv || !argv[0])
        return internal(ctx, "MAIL without an address");
    /* ESMTP parameters (argv[1...]) carry nothing the policy reads */
    c->sendmail = smfi_getsymval(ctx, "{opMode}") != NULL;
    const char *user = smfi_getsymval(ctx, "{auth_authen}");
    if (user && *user && !c->authed) {
        c->authed = 1;
        policy_action a = policy_auth(c->s, user);
        if (a != POLICY_CONTINUE && a != POLICY_ACCEPT)
            return verdict(ctx, c, a, 1, argv[0]);
    }
    c->in_data = 0;
    return verdict(ctx, c, policy_mail(c->s, argv[0]), 1, argv[0]);
}

static sfsistat on_envrcpt(SMFICTX *ctx, char **argv)
{
    struct conn *c = session(ctx);
    if (!c)
        return internal(ctx, "RCPT before connect");
    if (!argv || !argv[0])
        return internal(ctx, "RCPT without an address");
    return verdict(ctx, c, policy_rcpt(c->s, argv[0]), 1, argv[0]);
}

/* enter_data - the DATA stage, once per transaction: from the data callback,
 * or from the first content callback of an MTA that has no data step. */
static sfsistat enter_data(SMFICTX *ctx, struct conn *c)
{
    if (c->in_data)
        return SMFIS_CONTINUE;
    c->in_data = 1;
    return verdict(ctx, c, policy_data(c->s), 1, NULL);
}

static sfsistat on_data(SMFICTX *ctx)
{
    struct conn *c = session(ctx);
    if (!c)
        return internal(ctx, "DATA before connect");
    return enter_data(ctx, c);
}

static sfsistat on_header(SMFICTX *ctx, char *name, char *value)
{
    struct conn *c = session(ctx);
    if (!c)
        return internal(ctx, "header before connect");
    sfsistat st = enter_data(ctx, c);
    if (st != SMFIS_CONTINUE)
        return st;
    return verdict(ctx, c, policy_header(c->s, name ? name : "", value ? value : ""), 1, NULL);
}

static sfsistat on_eoh(SMFICTX *ctx)
{
    (void)ctx;
    return SMFIS_CONTINUE;
}

static sfsistat on_body(SMFICTX *ctx, unsigned char *chunk, size_t len)
{
    struct conn *c = session(ctx);
    if (!c)
        return internal(ctx, "body before connect");
    sfsistat st = enter_data(ctx, c);
    if (st != SMFIS_CONTINUE)
        return st;
    return verdict(ctx, c, policy_body(c->s, chunk, chunk ? len : 0), 1, NULL);
}

/* header_value - an edit's value for libmilter: folded with "\n" + WSP,
 * the CRs of a CRLF fold dropped; with SMFIP_HDR_LEADSPC the MTA adds no
 * blank after the colon, so the value brings its own.  Returns NULL when
 * it does not fit. */
static char *header_value(const char *v, int leadspc, char *buf, size_t len)
{
    size_t n = 0;
    if (leadspc && *v != ' ' && *v != '\t')
        buf[n++] = ' ';
    for (; *v; v++) {
        if (*v == '\r')
            continue;
        if (n + 1 >= len)
            return NULL;
        buf[n++] = *v;
    }
    buf[n] = '\0';
    return buf;
}

/* apply_one - one edit through libmilter; -1 if the MTA refused it. */
static int apply_one(SMFICTX *ctx, struct conn *c, const policy_edit *ed)
{
    static const char *const what[] = {"add", "change", "insert", "delete"};
    static char empty[] = "";
    char name[130], value[8200];
    snprintf(name, sizeof(name), "%s", ed->name);
    char *v = header_value(ed->value, c->leadspc, value, sizeof(value));
    int idx = ed->index ? (int)ed->index : 1, r;
    if (!v)
        v = empty;
    switch (ed->kind) {
    case POLICY_EDIT_CHANGE_HEADER:
        r = smfi_chgheader(ctx, name, idx, v);
        break;
    case POLICY_EDIT_DELETE_HEADER:
        r = smfi_chgheader(ctx, name, idx, NULL);
        break;
    case POLICY_EDIT_INSERT_HEADER:
        r = smfi_insheader(ctx, 0, name, v);
        break;
    default:
        r = smfi_addheader(ctx, name, v);
        break;
    }
    if (r != MI_SUCCESS) {
        milter_log(LOG_ERR, "the MTA refused to %s header %s",
                   what[(unsigned)ed->kind < 4 ? ed->kind : 0], name);
        return -1;
    }
    return 0;
}

/* apply_edits - the session's header edits; -1 if the MTA refused one.
 * Changes and deletions first, deletions from the highest index down, so
 * that every index names the header of the message as received; then the
 * added and inserted headers, in order. */
static int apply_edits(SMFICTX *ctx, struct conn *c)
{
    const policy_edit *ed;
    size_t n = policy_edits(c->s, &ed);
    unsigned char done[128] = {0}; /* at most 100 edits (policy.h) */

    if (n > sizeof(done))
        n = sizeof(done);
    for (size_t i = 0; i < n; i++)
        if (ed[i].kind == POLICY_EDIT_CHANGE_HEADER) {
            done[i] = 1;
            if (apply_one(ctx, c, &ed[i]) != 0)
                return -1;
        }
    for (;;) { /* the deletion with the highest index left */
        size_t best = n;
        for (size_t i = 0; i < n; i++)
            if (!done[i] && ed[i].kind == POLICY_EDIT_DELETE_HEADER &&
                (best == n || ed[i].index > ed[best].index))
                best = i;
        if (best == n)
            break;
        done[best] = 1;
        if (apply_one(ctx, c, &ed[best]) != 0)
            return -1;
    }
    for (size_t i = 0; i < n; i++)
        if (!done[i] && apply_one(ctx, c, &ed[i]) != 0)
            return -1;
    return 0;
}

static sfsistat on_eom(SMFICTX *ctx)
{
    struct conn *c = session(ctx);
    if (!c)
        return internal(ctx, "end of message before connect");
    sfsistat st = enter_data(ctx, c);
    if (st == SMFIS_CONTINUE) {
        policy_action a = policy_eom(c->s);
        st = verdict(ctx, c, a, 1, NULL);
        if (st == SMFIS_CONTINUE && apply_edits(ctx, c) != 0)
            st = internal(ctx, "cannot apply header edits");
    }
    policy_reset(c->s);
    c->in_data = 0;
    return st;
}

static sfsistat on_abort(SMFICTX *ctx)
{
    struct conn *c = session(ctx);
    if (c) {
        policy_reset(c->s);
        c->in_data = 0;
    }
    return SMFIS_CONTINUE;
}

static sfsistat on_close(SMFICTX *ctx)
{
    struct conn *c = conn_get(ctx);
    if (!c)
        return SMFIS_CONTINUE;
    (void)smfi_setpriv(ctx, NULL);
    if (c->s) {
        policy_session_free(c->s);
        atomic_fetch_sub(&active, 1);
    }
    policy_engine_unref(c->e);
    free(c);
    return SMFIS_CONTINUE;
}

struct smfiDesc milter_desc = {
    .xxfi_name = "policy-milter",
    .xxfi_version = SMFI_VERSION,
    .xxfi_flags = SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_SETSYMLIST,
    .xxfi_connect = on_connect,
    .xxfi_helo = on_helo,
    .xxfi_envfrom = on_envfrom,
    .xxfi_envrcpt = on_envrcpt,
    .xxfi_header = on_header,
    .xxfi_eoh = on_eoh,
    .xxfi_body = on_body,
    .xxfi_eom = on_eom,
    .xxfi_abort = on_abort,
    .xxfi_close = on_close,
    .xxfi_unknown = NULL,
    .xxfi_data = on_data,
    .xxfi_negotiate = on_negotiate,
};
