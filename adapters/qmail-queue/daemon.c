/*
 * daemon.c - policy-queue handing its check to a running policy-milter, so
 * that patterns, maps, scanner engines and stores are loaded once for the
 * host instead of once per message.  It speaks the MTA's side of the
 * milter protocol (version 6, as Postfix and Sendmail do) for one message:
 * options, the client with the per-client variables as the macro
 * {policy_env}, MAIL, each RCPT, DATA, the headers (split as libpolicy
 * splits them), the body, end of message; and reads back the verdict and
 * the header edits, which it applies as libpolicy would have here.
 *
 * Every wait is bounded by the timeout.  A daemon that is not there,
 * closes, stalls or says what this side does not understand gives no
 * verdict: PQ_DAEMON_DOWN, and the caller defers or checks locally - the
 * message is never passed unchecked, and never passed without an edit the
 * daemon asked for.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libmilter/mfapi.h>
#include <libmilter/mfdef.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "mproto.h"
#include "pq.h"

#define MILTER_VERSION   6
#define PACKET_MAX       65535      /* libmilter's default largest packet */
#define REPLY_MAX        (1 << 20)  /* the largest reply read */
#define HEADER_BLOCK_MAX (8u << 20) /* a header block held to split it */
#define ENV_MAX          60000      /* the {policy_env} macro value */
#define EDITS_MAX        1000
#define OUT_FLUSH        (256 * 1024) /* commands written at once, at most */

/* What this side can do: add and change headers; skip steps the filter
 * does not want, take a SKIP in the body, send header values verbatim. */
#define OFFER_ACTIONS (SMFIF_ADDHDRS | SMFIF_CHGHDRS)
#define OFFER_PROTOCOL                                                                             \
    (SMFIP_NOCONNECT | SMFIP_NOHELO | SMFIP_NOMAIL | SMFIP_NORCPT | SMFIP_NOBODY | SMFIP_NOHDRS |  \
     SMFIP_NOEOH | SMFIP_NOUNKNOWN | SMFIP_NODATA | SMFIP_SKIP | SMFIP_HDR_LEADSPC)

struct edit {
    char kind; /* SMFIR_ADDHEADER, SMFIR_INSHEADER, SMFIR_CHGHEADER */
    uint32_t index;
    char *name, *value;
};

/* A growing run of bytes. */
struct buf {
    char *p;
    size_t len, cap, head; /* head: what was consumed from the front */
};

/* One conversation. */
struct conv {
    int fd, timeout_ms;
    uint32_t protocol; /* the steps the filter declined, and HDR_LEADSPC */
    const struct blob *msg;
    char *hb; /* the header block (and, for a message in memory, all of it) */
    size_t hblen;
    int hb_owned;
    struct buf out;     /* commands not written yet */
    struct buf pending; /* the commands written whose answer is awaited, in order */
    struct buf in;      /* bytes read, not parsed yet */
    struct edit *edits;
    size_t nedits;
    policy_reply reply; /* a refusal: into the fields below */
    char xcode[16], text[MP_TEXT_MAX + 1];
    char err[300]; /* why the daemon gave no verdict */
    int discard;   /* the filter said discard: "queued" for the client, handed on to nobody */
};

/* Outcome of a phase of the conversation. */
enum step { STEP_ON, STEP_PASS, STEP_REFUSED, STEP_DOWN };

static enum step down(struct conv *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static enum step down(struct conv *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, sizeof(c->err), fmt, ap);
    va_end(ap);
    return STEP_DOWN;
}

/* buf_put - n more bytes at the end; 0 or -1 (no memory). */
static int buf_put(struct buf *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        size_t nc = b->cap ? b->cap : 4096;
        while (nc < b->len + n)
            nc *= 2;
        char *np = realloc(b->p, nc);
        if (!np)
            return -1;
        b->p = np;
        b->cap = nc;
    }
    if (n)
        memcpy(b->p + b->len, p, n);
    b->len += n;
    return 0;
}

/* ------------------------------------------------------------ socket */

/* sockaddr_of - the address of spec, libmilter's syntax: unix:PATH,
 * local:PATH or a plain PATH; inet:PORT@ADDRESS, inet6:PORT@ADDRESS (a
 * numeric address: no DNS for every message).  0, or -1. */
static int sockaddr_of(const char *spec, struct sockaddr_storage *ss, socklen_t *sl)
{
    memset(ss, 0, sizeof(*ss));
    const char *colon = strchr(spec, ':');
    size_t pl = colon ? (size_t)(colon - spec) : 0;
    if (!colon || (pl == 4 && !strncmp(spec, "unix", 4)) ||
        (pl == 5 && !strncmp(spec, "local", 5))) {
        const char *path = colon ? colon + 1 : spec;
        struct sockaddr_un *un = (struct sockaddr_un *)ss;
        if (!*path || strlen(path) >= sizeof(un->sun_path))
            return -1;
        un->sun_family = AF_UNIX;
        memcpy(un->sun_path, path, strlen(path) + 1);
        *sl = sizeof(*un);
        return 0;
    }
    int v6 = pl == 5 && !strncmp(spec, "inet6", 5);
    if (!v6 && !(pl == 4 && !strncmp(spec, "inet", 4)))
        return -1;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (end == colon + 1 || *end != '@' || port < 1 || port > 65535)
        return -1;
    if (v6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        *sl = sizeof(*in6);
        return inet_pton(AF_INET6, end + 1, &in6->sin6_addr) == 1 ? 0 : -1;
    }
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    in->sin_family = AF_INET;
    in->sin_port = htons((uint16_t)port);
    *sl = sizeof(*in);
    return inet_pton(AF_INET, end + 1, &in->sin_addr) == 1 ? 0 : -1;
}

/* dial - a connection to the daemon within the timeout, then blocking
 * with the timeout on every read and write; STEP_ON or STEP_DOWN. */
static enum step dial(struct conv *c, const char *spec)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    if (sockaddr_of(spec, &ss, &sl) != 0)
        return down(c, "not a socket address (unix:PATH or inet:PORT@ADDRESS)");
    c->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (c->fd < 0)
        return down(c, "socket: %s", strerror(errno));
    if (connect(c->fd, (struct sockaddr *)&ss, sl) != 0) {
        if (errno != EINPROGRESS && errno != EAGAIN)
            return down(c, "cannot connect: %s", strerror(errno));
        struct pollfd p = {.fd = c->fd, .events = POLLOUT};
        int e = 0, r;
        socklen_t el = sizeof(e);
        while ((r = poll(&p, 1, c->timeout_ms)) < 0 && errno == EINTR)
            ;
        if (r <= 0)
            return down(c, "cannot connect: %s", r == 0 ? "timed out" : strerror(errno));
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &e, &el) != 0 || e)
            return down(c, "cannot connect: %s", strerror(e ? e : errno));
    }
    struct timeval tv = {c->timeout_ms / 1000, (c->timeout_ms % 1000) * 1000};
    if (fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) & ~O_NONBLOCK) != 0 ||
        setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
        setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) != 0)
        return down(c, "socket options: %s", strerror(errno));
    return STEP_ON;
}

/* queue - one command (length, command byte, two pieces of data) for the
 * next flush; commands but the macros and QUIT await an answer. */
static enum step queue(struct conv *c, char cmd, const void *a, size_t alen, const void *b,
                       size_t blen)
{
    unsigned char head[5];
    uint32_t len = (uint32_t)(1 + alen + blen);
    head[0] = (unsigned char)(len >> 24);
    head[1] = (unsigned char)(len >> 16);
    head[2] = (unsigned char)(len >> 8);
    head[3] = (unsigned char)len;
    head[4] = (unsigned char)cmd;
    int answered = cmd != SMFIC_MACRO && cmd != SMFIC_QUIT;
    if (buf_put(&c->out, head, 5) || buf_put(&c->out, a, alen) || buf_put(&c->out, b, blen) ||
        (answered && buf_put(&c->pending, &cmd, 1)))
        return down(c, "out of memory");
    return STEP_ON;
}

/* flush - write what is queued, at once; STEP_ON or STEP_DOWN. */
static enum step flush(struct conv *c)
{
    for (size_t off = 0; off < c->out.len;) {
        ssize_t w = send(c->fd, c->out.p + off, c->out.len - off, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return errno == EAGAIN ? down(c, "not reading for %d s", c->timeout_ms / 1000)
                                   : down(c, "cannot send: %s", strerror(errno));
        off += (size_t)w;
    }
    c->out.len = 0;
    return STEP_ON;
}

/* read_reply - the next reply packet, parsed into r; STEP_ON or STEP_DOWN. */
static enum step read_reply(struct conv *c, struct mp_reply *r)
{
    struct buf *in = &c->in;
    for (;;) {
        size_t have = in->len - in->head;
        const unsigned char *h = (const unsigned char *)in->p + in->head;
        if (have >= 5) {
            uint32_t len = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
            if (len < 1 || len > REPLY_MAX)
                return down(c, "a reply of %u bytes", (unsigned)len);
            if (have >= 4 + (size_t)len) {
                in->head += 4 + len;
                if (mp_reply_parse((char)h[4], (const char *)h + 5, len - 1, r) != 0)
                    return down(c, "a reply this side does not understand ('%c')", h[4]);
                return STEP_ON;
            }
        }
        if (in->head) { /* keep what is left at the front */
            memmove(in->p, in->p + in->head, have);
            in->len = have;
            in->head = 0;
        }
        if (in->cap - in->len < 65536) {
            size_t nc = in->cap ? in->cap * 2 : 65536 * 2;
            char *np = nc <= 2 * (size_t)REPLY_MAX ? realloc(in->p, nc) : NULL;
            if (!np)
                return down(c, "out of memory");
            in->p = np;
            in->cap = nc;
        }
        ssize_t n = recv(c->fd, in->p + in->len, in->cap - in->len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0)
            return down(c, have ? "closed in the middle of a reply" : "closed the connection");
        if (n < 0)
            return errno == EAGAIN ? down(c, "no answer within %d s", c->timeout_ms / 1000)
                                   : down(c, "read: %s", strerror(errno));
        in->len += (size_t)n;
    }
}

/* ------------------------------------------------------------ answers */

/* refused - a verdict that stops the message: the reply for qmail-smtpd. */
static enum step refused(struct conv *c, policy_action a, int code, const char *xcode,
                         const char *text)
{
    snprintf(c->xcode, sizeof(c->xcode), "%s", xcode);
    snprintf(c->text, sizeof(c->text), "%s", text);
    c->reply = (policy_reply){a, code, c->xcode, c->text, "policy-milter", NULL};
    return STEP_REFUSED;
}

/* keep_edit - a header edit for the end of the message. */
static enum step keep_edit(struct conv *c, const struct mp_reply *r)
{
    if (c->nedits == EDITS_MAX)
        return down(c, "more than %d header edits", EDITS_MAX);
    struct edit *ne = realloc(c->edits, (c->nedits + 1) * sizeof(*ne));
    if (!ne)
        return down(c, "out of memory");
    c->edits = ne;
    struct edit *e = &c->edits[c->nedits];
    e->kind = r->cmd;
    e->index = r->index;
    e->name = strdup(r->name);
    e->value = strdup(r->value);
    if (!e->name || !e->value) {
        free(e->name);
        free(e->value);
        return down(c, "out of memory");
    }
    c->nedits++;
    return STEP_ON;
}

/*
 * collect - flush, then read the answers to every command written, in
 * order.  STEP_ON when each said continue (or SKIP, in the body);
 * STEP_PASS (accept: the message goes on as it is, with the edits of the
 * end of message), STEP_REFUSED or STEP_DOWN at the first that did not.
 * Commands written after one that stops are dropped unanswered by the
 * filter (libmilter ignores them), so nothing more is read then.
 */
static enum step collect(struct conv *c)
{
    enum step st = flush(c);
    struct mp_reply r;
    while (st == STEP_ON && c->pending.head < c->pending.len) {
        char cmd = c->pending.p[c->pending.head];
        if ((st = read_reply(c, &r)) != STEP_ON)
            break;
        switch (r.cmd) {
        case SMFIR_CONTINUE:
            c->pending.head++;
            continue;
        case SMFIR_SKIP: /* the rest of the body, already written, is answered too */
            if (cmd != SMFIC_BODY)
                return down(c, "SKIP outside the body");
            c->pending.head++;
            continue;
        case SMFIR_PROGRESS: /* the filter is still at it: the wait starts again */
            continue;
        case SMFIR_DISCARD: /* as locally: only where configured */
            c->discard = 1;
            return STEP_PASS;
        case SMFIR_ACCEPT:
            return STEP_PASS;
        case SMFIR_REJECT:
            return refused(c, POLICY_REJECT, 554, "5.7.1", "message rejected");
        case SMFIR_TEMPFAIL:
        case SMFIR_CONN_FAIL:
        case SMFIR_SHUTDOWN:
            return refused(c, POLICY_TEMPFAIL, 451, "4.7.1", "message deferred, try again later");
        case SMFIR_REPLYCODE:
            return refused(c, r.code >= 500 ? POLICY_REJECT : POLICY_TEMPFAIL, r.code,
                           r.xcode[0]      ? r.xcode
                           : r.code >= 500 ? "5.7.1"
                                           : "4.7.1",
                           r.text);
        case SMFIR_ADDHEADER:
        case SMFIR_INSHEADER:
        case SMFIR_CHGHEADER:
            if (cmd != SMFIC_BODYEOB)
                return down(c, "a header edit before the end of the message");
            st = keep_edit(c, &r);
            continue;
        default: /* a change this side never offered to make */
            return down(c, "asks for a change this side cannot make ('%c')", r.cmd);
        }
    }
    c->pending.len = c->pending.head = 0;
    return st;
}

/* ------------------------------------------------------------ commands */

/* negotiate - the options: what we offer, what the filter wants. */
static enum step negotiate(struct conv *c)
{
    unsigned char o[MILTER_OPTLEN];
    uint32_t v[3] = {MILTER_VERSION, OFFER_ACTIONS, OFFER_PROTOCOL};
    for (int i = 0; i < 3; i++) {
        o[4 * i] = (unsigned char)(v[i] >> 24);
        o[4 * i + 1] = (unsigned char)(v[i] >> 16);
        o[4 * i + 2] = (unsigned char)(v[i] >> 8);
        o[4 * i + 3] = (unsigned char)v[i];
    }
    struct mp_reply r;
    enum step st;
    if ((st = queue(c, SMFIC_OPTNEG, o, sizeof(o), NULL, 0)) != STEP_ON ||
        (st = flush(c)) != STEP_ON || (st = read_reply(c, &r)) != STEP_ON)
        return st;
    c->pending.len = 0;
    if (r.cmd != SMFIC_OPTNEG || r.version < 2 || (r.actions & ~(uint32_t)OFFER_ACTIONS) ||
        (r.protocol & ~(uint32_t)OFFER_PROTOCOL))
        return down(c, "options this side cannot meet (version %u, actions 0x%x, protocol 0x%x)",
                    (unsigned)r.version, (unsigned)r.actions, (unsigned)r.protocol);
    c->protocol = r.protocol;
    return STEP_ON;
}

/* client - the per-client variables as {policy_env}, then the client. */
static enum step client(struct conv *c)
{
    extern char **environ;
    static char env[ENV_MAX];
    /* the daemon's session runs what a local one would: the content stages
     * unless the environment says otherwise */
    long n = mp_env_pack(environ, "POLICY_STAGES=content", env, sizeof(env));
    if (n < 0)
        return down(c, "the environment is larger than %d bytes", ENV_MAX);
    static const char name[] = "C{policy_env}";
    enum step st = queue(c, SMFIC_MACRO, name, sizeof(name), env, (size_t)n + 1);
    if (st != STEP_ON || (c->protocol & SMFIP_NOCONNECT))
        return st;
    /* as a local run: no TCPREMOTEIP is a local submission */
    const char *ip = getenv("TCPREMOTEIP"), *host = getenv("TCPREMOTEHOST");
    const char *port = getenv("TCPREMOTEPORT");
    unsigned char a6[16];
    char pkt[600];
    if (!ip || !*ip)
        ip = "127.0.0.1";
    int family = inet_pton(AF_INET6, ip, a6) == 1 ? SMFIA_INET6 : SMFIA_INET;
    /* the host name as the milter reads it: "[ip]" when it is not known */
    if (host && *host)
        snprintf(pkt, 256, "%s", host);
    else
        snprintf(pkt, 256, "[%s]", ip);
    size_t off = strlen(pkt) + 1;
    long pn = port ? strtol(port, NULL, 10) : 0;
    pkt[off++] = (char)family;
    pkt[off++] = (char)((pn >> 8) & 0xff);
    pkt[off++] = (char)(pn & 0xff);
    snprintf(pkt + off, sizeof(pkt) - off, "%.63s", ip);
    off += strlen(pkt + off) + 1;
    return queue(c, SMFIC_CONNECT, pkt, off, NULL, 0);
}

/* address - "<addr>" as MTAs pass it, with its NUL. */
static enum step address(struct conv *c, char cmd, const char *addr)
{
    size_t n = strlen(addr);
    if (n + 3 > PACKET_MAX)
        return down(c, "an address of %zu bytes", n);
    char *p = malloc(n + 3);
    if (!p)
        return down(c, "out of memory");
    p[0] = '<';
    memcpy(p + 1, addr, n);
    p[n + 1] = '>';
    p[n + 2] = '\0';
    enum step st = queue(c, cmd, p, n + 3, NULL, 0);
    free(p);
    return st;
}

/* header - one header as the milter has it: "name\0value\0"; NUL bytes
 * read as blanks (as libpolicy reads them); a value longer than a packet
 * is cut (libpolicy checks 64 KB of a header). */
static enum step header(struct conv *c, const struct mp_header *h)
{
    static char pkt[PACKET_MAX];
    size_t nl = h->name_len < 1000 ? h->name_len : 1000;
    size_t skip = c->protocol & SMFIP_HDR_LEADSPC ? 0 : h->blank;
    size_t vl = h->value_len - skip;
    if (nl + 2 + vl > PACKET_MAX)
        vl = PACKET_MAX - nl - 2;
    memcpy(pkt, c->hb + h->off, nl);
    pkt[nl] = '\0';
    memcpy(pkt + nl + 1, c->hb + h->value_off + skip, vl);
    for (size_t i = 0; i < nl + 1 + vl; i++)
        if (!pkt[i] && i != nl)
            pkt[i] = ' ';
    pkt[nl + 1 + vl] = '\0';
    return queue(c, SMFIC_HEADER, pkt, nl + vl + 2, NULL, 0);
}

/* envelope - the client, the sender, each recipient, DATA, the headers and
 * the end of the header block; *body is where the body starts. */
static enum step envelope(struct conv *c, const struct qq_envelope *env, size_t *body)
{
    enum step st = client(c);
    if (st == STEP_ON && !(c->protocol & SMFIP_NOMAIL))
        st = address(c, SMFIC_MAIL, env->sender);
    for (size_t i = 0; st == STEP_ON && i < env->nrcpts && !(c->protocol & SMFIP_NORCPT); i++)
        st = address(c, SMFIC_RCPT, env->rcpts[i]);
    if (st == STEP_ON && !(c->protocol & SMFIP_NODATA))
        st = queue(c, SMFIC_DATA, NULL, 0, NULL, 0);
    size_t off = 0;
    int crlf, headers = 0;
    struct mp_header h;
    while (st == STEP_ON && mp_header_next(c->hb, c->hblen, &off, &h, &crlf))
        if (!(c->protocol & SMFIP_NOHDRS) && (headers = 1))
            st = header(c, &h);
    /* libmilter leaves DATA for the body or the end only through a header
     * or EOH (or steps the filter declined): a message without headers
     * gets EOH, even from a filter that declined it */
    int eoh = !(c->protocol & SMFIP_NOEOH) || (!headers && !(c->protocol & SMFIP_NOHDRS));
    if (st == STEP_ON && eoh)
        st = queue(c, SMFIC_EOH, NULL, 0, NULL, 0);
    *body = off;
    return st;
}

/* body - the body as it came, in chunks, then the end of the message;
 * written as it goes, a quarter of a megabyte at a time. */
static enum step body(struct conv *c, size_t at)
{
    static char chunk[MILTER_CHUNK_SIZE];
    enum step st = STEP_ON;
    while (st == STEP_ON && at < c->msg->len && !(c->protocol & SMFIP_NOBODY)) {
        ssize_t r = blob_read(c->msg, at, chunk, sizeof(chunk));
        if (r <= 0)
            return down(c, "cannot read the message back");
        st = queue(c, SMFIC_BODY, chunk, (size_t)r, NULL, 0);
        if (st == STEP_ON && c->out.len >= OUT_FLUSH)
            st = flush(c);
        at += (size_t)r;
    }
    return st == STEP_ON ? queue(c, SMFIC_BODYEOB, NULL, 0, NULL, 0) : st;
}

/*
 * converse - the whole conversation for one message, in three round trips
 * where an MTA makes one per command: the options; everything up to the
 * end of the header block, written at once; the body and the end of the
 * message.  The filter answers the commands in order, as it would one by
 * one (libmilter reads a command only after it answered the one before);
 * a refusal of the envelope keeps the body from being sent at all.
 */
static enum step converse(struct conv *c, const char *spec, const struct qq_envelope *env)
{
    size_t at = 0;
    enum step st = dial(c, spec);
    if (st == STEP_ON)
        st = negotiate(c);
    if (st == STEP_ON && (st = envelope(c, env, &at)) == STEP_ON)
        st = collect(c);
    if (st == STEP_ON && (st = body(c, at)) == STEP_ON && (st = collect(c)) == STEP_ON)
        st = STEP_PASS;
    if (st != STEP_DOWN && queue(c, SMFIC_QUIT, NULL, 0, NULL, 0) == STEP_ON)
        (void)flush(c);
    return st;
}

/* ------------------------------------------------------------ handing on */

/* write_edit - "Name: value" with the message's own line ends (the value's
 * folds too); with HDR_LEADSPC the value brings its blank. */
static int write_edit(int fd, const struct edit *e, int leadspc, const char *eol)
{
    if (write_fd(fd, e->name, strlen(e->name)) ||
        write_fd(fd, leadspc ? ":" : ": ", leadspc ? 1 : 2))
        return -1;
    for (const char *v = e->value; *v;) {
        size_t n = strcspn(v, "\r\n");
        if (write_fd(fd, v, n))
            return -1;
        v += n;
        if (!*v)
            break;
        v += v[0] == '\r' && v[1] == '\n' ? 2 : 1;
        if (write_fd(fd, eol, strlen(eol)))
            return -1;
    }
    return write_fd(fd, eol, strlen(eol));
}

/* changed_header - the number (from 0) of the header a change edit names:
 * its index-th header of that name (from 1); -1 when the message has none. */
static long changed_header(const struct conv *c, const struct edit *e)
{
    size_t off = 0, nl = strlen(e->name);
    uint32_t seen = 0;
    long k = 0;
    int crlf;
    struct mp_header h;
    for (; mp_header_next(c->hb, c->hblen, &off, &h, &crlf); k++)
        if (h.name_len == nl && !strncasecmp(c->hb + h.off, e->name, nl) &&
            ++seen >= (e->index ? e->index : 1))
            return k;
    return -1;
}

/*
 * edited_write - the hand-on writer, with the milter's meaning of the
 * edits: added headers on top, in order (where policy-queue puts them when
 * it checks locally); a change replaces the header it names where it
 * stands (an empty value removes it), or, when the message has no such
 * header, is added on top; then the rest, byte for byte.
 */
static int edited_write(void *ctx, int fd)
{
    struct conv *c = ctx;
    long *target = calloc(c->nedits + 1, sizeof(*target));
    size_t off = 0, end = 0;
    int crlf = 1, leadspc = (c->protocol & SMFIP_HDR_LEADSPC) != 0, rc = -1;
    struct mp_header h;
    if (!target)
        return -1;
    while (mp_header_next(c->hb, c->hblen, &off, &h, &crlf))
        end = h.off + h.len;
    const char *eol = crlf ? "\r\n" : "\n";
    for (size_t i = 0; i < c->nedits; i++) {
        const struct edit *e = &c->edits[i];
        target[i] = e->kind == SMFIR_CHGHEADER ? changed_header(c, e) : -1;
        if (target[i] < 0 && *e->value && write_edit(fd, e, leadspc, eol))
            goto out;
    }
    off = 0;
    for (long k = 0; mp_header_next(c->hb, c->hblen, &off, &h, &crlf); k++) {
        const struct edit *e = NULL;
        for (size_t i = 0; i < c->nedits; i++)
            if (target[i] == k)
                e = &c->edits[i]; /* the last change of a header wins */
        if (e ? *e->value && write_edit(fd, e, leadspc, eol) : write_fd(fd, c->hb + h.off, h.len))
            goto out;
    }
    if (write_fd(fd, c->hb + end, c->hblen - end))
        goto out;
    char buf[65536];
    for (size_t o = c->hblen; o < c->msg->len;) {
        ssize_t r = blob_read(c->msg, o, buf, sizeof(buf));
        if (r <= 0 || write_fd(fd, buf, (size_t)r))
            goto out;
        o += (size_t)r;
    }
    rc = 0;
out:
    free(target);
    return rc;
}

/* header_block - the message's header block in memory: the message itself
 * when it is in memory, else read back from the spool up to the empty
 * line.  0, or an exit code. */
static int header_block(struct conv *c)
{
    const struct blob *m = c->msg;
    if (m->fd < 0) {
        c->hb = m->data ? m->data : (char *)"";
        size_t end = mp_header_block_end(c->hb, m->len);
        c->hblen = end ? end : m->len;
        return 0;
    }
    size_t cap = 0, n = 0, end = 0;
    while (!end && n < m->len) {
        if (n == HEADER_BLOCK_MAX)
            return QQ_TEMP; /* 8 MB of headers: refused as a local problem */
        if (n + 65536 > cap) {
            size_t nc = cap ? cap * 2 : 65536;
            char *nb = realloc(c->hb_owned ? c->hb : NULL, nc);
            if (!nb)
                return QQ_NOMEM;
            c->hb = nb;
            c->hb_owned = 1;
            cap = nc;
        }
        size_t want = cap - n < HEADER_BLOCK_MAX - n ? cap - n : HEADER_BLOCK_MAX - n;
        ssize_t r = blob_read(m, n, c->hb + n, want);
        if (r <= 0)
            return QQ_READ;
        n += (size_t)r;
        end = mp_header_block_end(c->hb, n);
    }
    c->hblen = end ? end : n;
    return 0;
}

int check_daemon(const char *spec, int timeout_ms, const struct qq_envelope *env,
                 const struct blob *msg, const struct blob *envb)
{
    struct conv c = {.fd = -1, .timeout_ms = timeout_ms, .msg = msg};
    int rc = header_block(&c);
    if (rc == 0) {
        enum step st = converse(&c, spec, env);
        if (c.fd >= 0)
            close(c.fd);
        if (st == STEP_DOWN) {
            fprintf(stderr, "policy-queue: policy daemon %s: %s\n", spec, c.err);
            rc = PQ_DAEMON_DOWN;
        } else if (st == STEP_REFUSED) {
            rc = refuse(c.reply.action == POLICY_REJECT, &c.reply);
        } else if (c.discard) {
            rc = QQ_OK;
        } else {
            rc = hand_on(edited_write, &c, envb);
        }
    }
    for (size_t i = 0; i < c.nedits; i++) {
        free(c.edits[i].name);
        free(c.edits[i].value);
    }
    free(c.edits);
    free(c.in.p);
    free(c.out.p);
    free(c.pending.p);
    if (c.hb_owned)
        free(c.hb);
    return rc;
}
