/*
 * dns.c - the DNS subsystem on c-ares 1.18: one channel per session, a
 * source of the session's poll set (support/waiter.h) driven with
 * ares_getsock/ares_timeout/ares_process_fd, no fd_set: while a stage
 * waits for its answers, every other socket of the session moves too.
 *
 * Promises: every question goes out when asked (so a stage's questions run
 * in parallel), each gives up at its own deadline, a wait lasts as long as
 * the slowest question and no longer; answers reach callers only through
 * dns_parse(), bounded and sanitized.  c-ares is loaded with the first
 * resolver (support/dynlib.h): a process that asks nothing never maps it.
 */
#include <ares.h>
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dns.h"
#include "dynlib.h"
#include "waiter.h"

#define CARES_FNS(X)                                                                               \
    X(ares_library_init)                                                                           \
    X(ares_strerror) X(ares_init_options) X(ares_destroy) X(ares_set_servers_ports) X(ares_query)  \
        X(ares_timeout) X(ares_getsock) X(ares_process_fd)
static struct {
    CARES_FNS(DYNLIB_FN)
} ca;
#define CARES_SYM(f) DYNLIB_SYM(ca, f)
static const struct dynlib_sym ca_syms[] = {CARES_FNS(CARES_SYM)};
static struct dynlib ca_lib = DYNLIB_INIT(SONAME_CARES, ca_syms);
#define ares_library_init      (*ca.ares_library_init)
#define ares_strerror          (*ca.ares_strerror)
#define ares_init_options      (*ca.ares_init_options)
#define ares_destroy           (*ca.ares_destroy)
#define ares_set_servers_ports (*ca.ares_set_servers_ports)
#define ares_query             (*ca.ares_query)
#define ares_timeout           (*ca.ares_timeout)
#define ares_getsock           (*ca.ares_getsock)
#define ares_process_fd        (*ca.ares_process_fd)

struct dns_q {
    struct dns_q *next, *prev;
    struct dns *d;
    const void *group; /* NULL once released */
    enum dns_type type;
    size_t txt_max;
    double deadline;
    int in_ares; /* c-ares still holds a pointer to us */
    dns_cb cb;
    void *arg;
    struct dns_answer ans;
};

struct dns {
    struct wsource src; /* first: the waiter hands it back */
    struct waiter *w;
    ares_channel ch;
    unsigned timeout_ms;
    struct dns_q *qs; /* every question not yet freed */
    size_t nqs;       /* ... how many: at most DNS_MAX_QUESTIONS */
};

static const struct wsource_ops dns_ops;

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_status = ARES_SUCCESS;
static int init_loaded; /* c-ares was loaded (else ca_lib says why not) */

static void library_init(void)
{
    if ((init_loaded = dynlib_load(&ca_lib) == 0))
        init_status = ares_library_init(ARES_LIB_INIT_ALL);
}

double dns_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* server_word - one word of a server list (n bytes) as c-ares' address and
 * port: "IP", "IP:PORT", "[IP]", "[IP]:PORT" or a bare IPv6 address; the
 * port defaults to 53.  0, or -1 when the word is none of those. */
static int server_word(const char *w, size_t n, struct ares_addr_port_node *out)
{
    char buf[INET6_ADDRSTRLEN + 8], *host = buf, *port = NULL, *colon;
    unsigned long pn = 53;

    if (n >= sizeof(buf))
        return -1;
    memcpy(buf, w, n);
    buf[n] = '\0';
    if (buf[0] == '[') {
        char *rb = strchr(buf, ']');
        if (!rb || (rb[1] && rb[1] != ':'))
            return -1;
        *rb = '\0';
        host = buf + 1;
        port = rb[1] ? rb + 2 : NULL;
    } else if ((colon = strchr(buf, ':')) && colon == strrchr(buf, ':')) {
        *colon = '\0'; /* one colon: IPv4:PORT; more: a bare IPv6 address */
        port = colon + 1;
    }
    memset(out, 0, sizeof(*out));
    if (inet_pton(AF_INET, host, &out->addr.addr4) == 1)
        out->family = AF_INET;
    else if (inet_pton(AF_INET6, host, &out->addr.addr6) == 1)
        out->family = AF_INET6;
    else
        return -1;
    if (port) {
        char *end;
        if (*port < '0' || *port > '9')
            return -1;
        errno = 0;
        pn = strtoul(port, &end, 10);
        if (errno || *end || pn == 0 || pn > 65535)
            return -1;
    }
    out->udp_port = out->tcp_port = (int)pn;
    return 0;
}

/* servers_parse - every word of list into nodes (when not NULL, room for
 * all of them); the number of servers, or -1 with the bad word in bad. */
static int servers_parse(const char *list, struct ares_addr_port_node *nodes, char *bad,
                         size_t badlen)
{
    int count = 0;
    for (const char *w = list; *w;) {
        w += strspn(w, " \t,");
        size_t n = strcspn(w, " \t,");
        if (!n)
            break;
        struct ares_addr_port_node one;
        if (server_word(w, n, nodes ? &nodes[count] : &one) != 0) {
            if (bad && badlen)
                snprintf(bad, badlen, "%.*s", (int)(n < 200 ? n : 200), w);
            return -1;
        }
        if (nodes && count > 0)
            nodes[count - 1].next = &nodes[count];
        if (count == INT_MAX)
            return -1;
        count++;
        w += n;
    }
    return count;
}

int dns_servers_check(const char *list, char *bad, size_t badlen)
{
    return servers_parse(list, NULL, bad, badlen);
}

struct dns *dns_new(struct waiter *w, const char *servers, unsigned timeout_ms, char *err,
                    size_t errlen)
{
    struct ares_options opt;
    int r;
    struct dns *d;

    pthread_once(&init_once, library_init);
    if (!init_loaded || init_status != ARES_SUCCESS) {
        snprintf(err, errlen, "c-ares: %s",
                 init_loaded ? ares_strerror(init_status) : dynlib_error(&ca_lib));
        return NULL;
    }
    d = calloc(1, sizeof(*d));
    if (!d) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    d->timeout_ms = timeout_ms ? timeout_ms : 5000;
    d->w = w;
    d->src.ops = &dns_ops;
    memset(&opt, 0, sizeof(opt));
    opt.lookups = (char *)"b"; /* DNS only: /etc/hosts would answer 127.0.0.1 as localhost */
    /* three tries per server inside our deadline: t, 2t, 4t */
    opt.timeout = (int)(d->timeout_ms / 4 > 50 ? d->timeout_ms / 4 : 50);
    opt.tries = 3;
    opt.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES;
    r = ares_init_options(&d->ch, &opt,
                          ARES_OPT_LOOKUPS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_FLAGS);
    if (r != ARES_SUCCESS) {
        snprintf(err, errlen, "c-ares: %s", ares_strerror(r));
        free(d);
        return NULL;
    }
    if (servers && *servers) {
        /* as many servers as the list holds: no text buffer to outgrow */
        char bad[256];
        int n = servers_parse(servers, NULL, bad, sizeof(bad));
        struct ares_addr_port_node *nodes = n > 0 ? calloc((size_t)n, sizeof(*nodes)) : NULL;
        if (!nodes || servers_parse(servers, nodes, bad, sizeof(bad)) != n) {
            if (n > 0)
                snprintf(err, errlen, "out of memory");
            else
                snprintf(err, errlen, "bad dns_servers list: %s", n < 0 ? bad : "empty");
            free(nodes);
            ares_destroy(d->ch);
            free(d);
            return NULL;
        }
        r = ares_set_servers_ports(d->ch, nodes);
        free(nodes); /* c-ares keeps its own copy */
        if (r != ARES_SUCCESS) {
            snprintf(err, errlen, "c-ares: dns_servers: %s", ares_strerror(r));
            ares_destroy(d->ch);
            free(d);
            return NULL;
        }
    }
    return d;
}

unsigned dns_timeout_ms(const struct dns *d)
{
    return d->timeout_ms;
}

size_t dns_questions(const struct dns *d)
{
    return d ? d->nqs : 0;
}

static void q_unlink_free(struct dns_q *q)
{
    struct dns *d = q->d;
    d->nqs--;
    if (q->prev)
        q->prev->next = q->next;
    else
        d->qs = q->next;
    if (q->next)
        q->next->prev = q->prev;
    dns_answer_clear(&q->ans);
    free(q);
}

void dns_free(struct dns *d)
{
    if (!d)
        return;
    waiter_del(d->w, &d->src);
    for (struct dns_q *q = d->qs; q; q = q->next)
        q->group = NULL; /* no callbacks while c-ares cancels */
    ares_destroy(d->ch); /* calls every pending callback with ARES_EDESTRUCTION */
    while (d->qs)
        q_unlink_free(d->qs);
    free(d);
}

/* finish - the question's outcome is known: tell its owner, once. */
static void finish(struct dns_q *q)
{
    if (q->group && q->cb)
        q->cb(q, q->arg);
}

static const char *ares_why(int status)
{
    switch (status) {
    case ARES_ETIMEOUT:
        return "timeout";
    case ARES_ECONNREFUSED:
    case ARES_ESERVFAIL:
    case ARES_EREFUSED:
        return "server failure or refused";
    case ARES_EBADRESP:
    case ARES_EFORMERR:
        return "malformed answer";
    case ARES_ENOTFOUND:
        return "no such name";
    case ARES_ENODATA:
        return "no data";
    default:
        return "lookup failed";
    }
}

static void on_answer(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
    struct dns_q *q = arg;
    (void)timeouts;
    q->in_ares = 0;
    if (status == ARES_EDESTRUCTION || status == ARES_ECANCELLED)
        return;
    if (q->ans.status != DNS_PENDING) { /* gave up already; nobody is waiting */
        if (!q->group)
            q_unlink_free(q);
        return;
    }
    if (status == ARES_SUCCESS) {
        dns_parse(q->type, abuf, alen, q->txt_max, &q->ans);
    } else {
        q->ans.status =
            status == ARES_ENOTFOUND || status == ARES_ENODATA ? DNS_NOTFOUND : DNS_ERROR;
        q->ans.why = ares_why(status);
    }
    finish(q);
    if (!q->group)
        q_unlink_free(q);
}

/* qname_ok - a name we may ask about: looser than a host name, because SPF
 * macros put local parts into names, but printable, unescaped, bounded. */
static int qname_ok(const char *name, size_t len)
{
    if (len == 0 || len > DNS_NAME_MAX || name[0] == '.')
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c <= ' ' || c > '~' || c == '\\' || (c == '.' && name[i + 1] == '.'))
            return 0;
    }
    return 1;
}

int dns_qname_ok(const char *name)
{
    size_t len = strnlen(name, DNS_NAME_MAX + 2);
    if (len && name[len - 1] == '.')
        len--;
    return qname_ok(name, len);
}

struct dns_q *dns_start(struct dns *d, const void *group, const char *name, enum dns_type type,
                        size_t txt_max, double deadline, dns_cb cb, void *arg)
{
    struct dns_q *q;

    if (!d || !name || !group || !dns_qname_ok(name))
        return NULL;
    /* a released question stays until c-ares lets go of it (its answer or
     * its own timeout, seen at the next poll of a stage): a client repeating
     * a stage (thousands of MAILs) must not pile them up.  No poll here: we
     * may be inside a callback of one. */
    if (d->nqs >= DNS_MAX_QUESTIONS)
        return NULL;
    q = calloc(1, sizeof(*q));
    if (!q)
        return NULL;
    q->d = d;
    q->group = group;
    q->type = type;
    q->txt_max = txt_max ? txt_max : DNS_TXT_MAX;
    q->deadline = deadline > 0 ? deadline : dns_now_ms() + d->timeout_ms;
    q->cb = cb;
    q->arg = arg;
    q->ans.type = type;
    q->next = d->qs;
    if (d->qs)
        d->qs->prev = q;
    d->qs = q;
    d->nqs++;
    q->in_ares = 1;
    waiter_add(d->w, &d->src);
    /* may call on_answer at once (e.g. no servers): q stays valid, it is
     * still grouped */
    ares_query(d->ch, name, 1 /* class IN */, (int)type, on_answer, q);
    return q;
}

const struct dns_answer *dns_answer_of(const struct dns_q *q)
{
    return &q->ans;
}

double dns_deadline_of(const struct dns_q *q)
{
    return q->deadline;
}

/* expire - questions past their deadline give up now, as DNS_ERROR. */
static void expire(struct dns *d, double now)
{
    int again = 1;
    while (again) { /* a callback may start (and so insert) questions: rescan */
        again = 0;
        for (struct dns_q *q = d->qs; q; q = q->next)
            if (q->group && q->ans.status == DNS_PENDING && q->deadline <= now) {
                q->ans.status = DNS_ERROR;
                q->ans.why = "timeout";
                finish(q);
                again = 1;
                break;
            }
    }
}

size_t dns_pending(struct dns *d, const void *group)
{
    size_t n = 0;
    if (!d)
        return 0;
    for (struct dns_q *q = d->qs; q; q = q->next)
        if (q->group == group && q->ans.status == DNS_PENDING)
            n++;
    return n;
}

/* waiting - the earliest deadline of a question someone waits for, 0 when
 * none (released questions are not waited for: c-ares ends them in time). */
static double waiting(const struct dns *d)
{
    double until = 0;
    for (const struct dns_q *q = d->qs; q; q = q->next)
        if (q->group && q->ans.status == DNS_PENDING && (!until || q->deadline < until))
            until = q->deadline;
    return until;
}

/* dns_fds - the waiter asks: c-ares' sockets and the next deadline (its own
 * retry timer or a question's), or nothing when no question is waited for. */
static int dns_fds(struct wsource *src, struct pollfd *pfd, int max, double *deadline)
{
    struct dns *d = (struct dns *)src;
    ares_socket_t socks[ARES_GETSOCK_MAXNUM];
    struct timeval tv, *tvp;
    int n = 0;

    double until = waiting(d);
    if (!until)
        return 0;
    tvp = ares_timeout(d->ch, NULL, &tv);
    *deadline = until;
    if (tvp) {
        double t = dns_now_ms() + (double)tvp->tv_sec * 1000.0 + (double)tvp->tv_usec / 1000.0;
        if (t < until)
            *deadline = t;
    }
    /* c-ares' ARES_GETSOCK_WRITABLE shifts a signed 1 into the sign bit:
     * test the same bits unsigned */
    unsigned bits = (unsigned)ares_getsock(d->ch, socks, ARES_GETSOCK_MAXNUM);
    for (unsigned i = 0; i < ARES_GETSOCK_MAXNUM && n < max; i++) {
        short ev = 0;
        if (bits & (1u << i))
            ev |= POLLIN;
        if (bits & (1u << (i + ARES_GETSOCK_MAXNUM)))
            ev |= POLLOUT;
        if (!ev)
            continue;
        pfd[n].fd = socks[i];
        pfd[n].events = ev;
        pfd[n].revents = 0;
        n++;
    }
    return n;
}

/* dns_process - the poll came back: hand what arrived to c-ares (answers
 * reach their owners), let its timers run, then give up on what is late.
 * What has arrived is read before anything is given up: answers that came
 * in while the client talked count even past their deadline. */
static void dns_process(struct wsource *src, const struct pollfd *pfd, int n, double now)
{
    struct dns *d = (struct dns *)src;
    int any = 0;
    for (int i = 0; i < n; i++) {
        if (!pfd[i].revents)
            continue;
        ares_socket_t rd =
            pfd[i].revents & (POLLIN | POLLERR | POLLHUP) ? pfd[i].fd : ARES_SOCKET_BAD;
        ares_socket_t wr = pfd[i].revents & POLLOUT ? pfd[i].fd : ARES_SOCKET_BAD;
        ares_process_fd(d->ch, rd, wr);
        any = 1;
    }
    if (!any) /* nothing to read: let c-ares run its timers */
        ares_process_fd(d->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    expire(d, now);
}

static const struct wsource_ops dns_ops = {dns_fds, dns_process};

void dns_poll(struct dns *d)
{
    if (d)
        waiter_poll(d->w);
}

struct wait_group {
    struct dns *d;
    const void *group;
};

static int group_done(void *arg)
{
    struct wait_group *g = arg;
    return dns_pending(g->d, g->group) == 0;
}

void dns_wait(struct dns *d, const void *group)
{
    if (!d)
        return;
    struct wait_group g = {d, group};
    (void)waiter_run(d->w, group_done, &g, 0);
    expire(d, dns_now_ms()); /* the waiter gave up (no source left): nothing may hang */
}

void dns_release_group(struct dns *d, const void *group)
{
    if (!d || !group)
        return;
    struct dns_q *q = d->qs;
    while (q) {
        struct dns_q *next = q->next;
        if (q->group == group) {
            q->group = NULL;
            if (!q->in_ares)
                q_unlink_free(q);
        }
        q = next;
    }
}

/* ------------------------------------------------------------ parsing */

int dns_hostname_ok(const char *name, size_t len)
{
    size_t label = 0;
    if (len == 0 || len > DNS_NAME_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c == '.') {
            if (label == 0)
                return 0;
            label = 0;
            continue;
        }
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return 0;
        if (++label > 63)
            return 0;
    }
    return 1;
}

/*
 * The reply is read here, not by c-ares' ares_parse_*_reply: those cannot
 * tell a broken message from a PTR whose name is not a host name (both are
 * ARES_EBADRESP), and they hand over lists we would copy again.  One walk
 * over the answer section serves every type: it follows the CNAME chain
 * from the question name, as c-ares does, and keeps the records of the
 * asked type owned by the current name.  It runs twice, once to count
 * records and text bytes and once to fill one block of exactly that size.
 */

#define WIRE_NAME_MAX 255 /* RFC 1035 2.3.4: octets of a name on the wire */

struct walk {
    const unsigned char *m;
    size_t len;
    int type;
    size_t txt_max;
    struct dns_rr *fill; /* NULL: counting pass */
    char *text;          /* filling pass: where the next text goes */
    size_t n, bytes;     /* records kept, text bytes (with their NULs) */
    size_t bad;          /* names skipped because they are no host names */
    unsigned ttl;
    int null_mx;
};

static unsigned be16(const unsigned char *p)
{
    return (unsigned)p[0] << 8 | p[1];
}

/* wire_name - the name at *off, decompressed, lower-cased, in wire form
 * (length-prefixed labels, root byte included); *off moves past it.  -1
 * when it runs off the message, loops, is longer than 255 octets or uses
 * a label type other than plain and pointer. */
static int wire_name(const unsigned char *m, size_t len, size_t *off,
                     unsigned char out[WIRE_NAME_MAX], size_t *outlen)
{
    size_t p = *off, o = 0, after = 0;
    unsigned hops = 0;
    for (;;) {
        if (p >= len)
            return -1;
        unsigned c = m[p];
        if ((c & 0xC0) == 0xC0) {
            if (p + 1 >= len || ++hops > 128)
                return -1;
            if (!after)
                after = p + 2;
            p = (c & 0x3F) << 8 | m[p + 1];
            continue;
        }
        if (c & 0xC0)
            return -1;
        if (o + 1 + c > WIRE_NAME_MAX || p + 1 + c > len)
            return -1;
        out[o++] = (unsigned char)c;
        if (c == 0) {
            p++;
            break;
        }
        for (size_t i = 1; i <= c; i++) {
            unsigned char ch = m[p + i];
            out[o++] = ch >= 'A' && ch <= 'Z' ? (unsigned char)(ch - 'A' + 'a') : ch;
        }
        p += 1 + c;
    }
    *off = after ? after : p;
    *outlen = o;
    return 0;
}

/* wire_host - the wire-form name as dotted text (out has room for 256);
 * its length, or -1 when it is no host name (LDH labels and '_'; a dot
 * inside a label would pass for two labels). */
static int wire_host(const unsigned char *w, size_t wlen, char *out)
{
    size_t o = 0;
    for (size_t p = 0; p < wlen && w[p]; p += 1 + w[p]) {
        if (o)
            out[o++] = '.';
        for (size_t i = 1; i <= w[p]; i++) {
            if (w[p + i] == '.')
                return -1;
            out[o++] = (char)w[p + i];
        }
    }
    out[o] = '\0';
    return dns_hostname_ok(out, o) ? (int)o : -1;
}

/* keep - one record, with room for a text of textlen bytes unless it is
 * an address: counted (NULL), or its place in the block (filling pass). */
static struct dns_rr *keep(struct walk *w, size_t textlen, unsigned ttl)
{
    int has_text = w->type != DNS_A && w->type != DNS_AAAA;
    struct dns_rr *r = NULL;
    if (w->fill) {
        r = &w->fill[w->n];
        memset(r, 0, sizeof(*r));
        if (has_text) {
            r->text = w->text;
            w->text += textlen + 1;
        }
    }
    w->n++;
    w->bytes += has_text ? textlen + 1 : 0;
    if (ttl > 0x7fffffffu) /* RFC 2181 8: a TTL with the top bit set means 0 */
        ttl = 0;
    if (ttl < w->ttl)
        w->ttl = ttl;
    return r;
}

/* rr_name - a host name in rdata [rd, end): 0 and its text in host, 1 when
 * it is the root (MX 0 .), 2 when it is no host name, -1 malformed. */
static int rr_name(const struct walk *w, size_t rd, size_t end, char host[WIRE_NAME_MAX + 1],
                   size_t *hlen)
{
    unsigned char wn[WIRE_NAME_MAX];
    size_t wl, p = rd;
    if (wire_name(w->m, w->len, &p, wn, &wl) || p > end)
        return -1;
    if (wl == 1)
        return 1;
    int n = wire_host(wn, wl, host);
    if (n < 0)
        return 2;
    *hlen = (size_t)n;
    return 0;
}

/* record - one record of the asked type; -1 when its data is malformed. */
static int record(struct walk *w, size_t rd, size_t rdlen, unsigned ttl)
{
    char host[WIRE_NAME_MAX + 1];
    size_t hlen = 0;
    struct dns_rr *r;
    int k;

    switch (w->type) {
    case DNS_A:
    case DNS_AAAA: {
        size_t alen = w->type == DNS_A ? 4 : 16;
        if (rdlen != alen)
            return -1;
        if ((r = keep(w, 0, ttl)))
            memcpy(r->addr, w->m + rd, alen);
        return 0;
    }
    case DNS_PTR:
    case DNS_MX: {
        size_t at = rd;
        unsigned pref = 0;
        if (w->type == DNS_MX) {
            if (rdlen < 3)
                return -1;
            pref = be16(w->m + rd);
            at += 2;
        }
        k = rr_name(w, at, rd + rdlen, host, &hlen);
        if (k < 0)
            return -1;
        if (k == 1 && w->type == DNS_MX) /* the root as exchange: RFC 7505's null MX */
            w->null_mx = 1;
        else if (k) /* like Postfix: a name that is not a host name is no name at all */
            w->bad++;
        else if ((r = keep(w, hlen, ttl))) {
            memcpy(r->text, host, hlen + 1);
            r->pref = pref;
        }
        return 0;
    }
    case DNS_TXT: {
        size_t total = 0, p = rd, end = rd + rdlen;
        while (p < end) { /* character-strings, each length-prefixed */
            if (p + 1 + w->m[p] > end)
                return -1;
            total += w->m[p];
            p += 1 + w->m[p];
        }
        if (!rdlen)
            return 0; /* no string at all: nothing to keep */
        size_t tl = total < w->txt_max ? total : w->txt_max;
        if (!(r = keep(w, tl, ttl)))
            return 0;
        size_t o = 0;
        for (p = rd; p < end && o < tl; p += 1 + w->m[p])
            for (size_t i = 1; i <= w->m[p] && o < tl; i++) {
                unsigned char c = w->m[p + i];
                r->text[o++] = (char)(c >= 0x20 && c <= 0x7e ? c : c == '\t' ? ' ' : '?');
            }
        r->text[o] = '\0';
        return 0;
    }
    default:
        return -1;
    }
}

/* walk - one pass over the answer section; -1 when the message is malformed. */
static int walk(struct walk *w)
{
    const unsigned char *m = w->m;
    unsigned char cur[WIRE_NAME_MAX], owner[WIRE_NAME_MAX];
    size_t curlen, ownlen, off = 12;

    w->n = w->bytes = w->bad = 0;
    w->ttl = ~0u;
    w->null_mx = 0;
    if (w->len < 12 || be16(m + 4) != 1)
        return -1;
    if (wire_name(m, w->len, &off, cur, &curlen) || off + 4 > w->len)
        return -1;
    off += 4;
    for (unsigned i = 0, an = be16(m + 6); i < an; i++) {
        if (wire_name(m, w->len, &off, owner, &ownlen) || off + 10 > w->len)
            return -1;
        unsigned type = be16(m + off), cls = be16(m + off + 2);
        unsigned ttl = (unsigned)m[off + 4] << 24 | (unsigned)m[off + 5] << 16 |
                       (unsigned)m[off + 6] << 8 | m[off + 7];
        size_t rd = off + 10, rdlen = be16(m + off + 8);
        if (rd + rdlen > w->len)
            return -1;
        off = rd + rdlen;
        if (cls != 1 || ownlen != curlen || memcmp(owner, cur, curlen) != 0)
            continue;    /* another class, or not on our chain: not ours */
        if (type == 5) { /* CNAME: the chain goes on at its target */
            size_t p = rd;
            if (wire_name(m, w->len, &p, cur, &curlen) || p > rd + rdlen)
                return -1;
        } else if (type == (unsigned)w->type && record(w, rd, rdlen, ttl)) {
            return -1;
        }
    }
    return 0;
}

void dns_parse(int type, const unsigned char *buf, int len, size_t txt_max, struct dns_answer *a)
{
    dns_answer_clear(a);
    a->type = type;
    if (!buf || len <= 0) {
        a->status = DNS_ERROR;
        a->why = "empty answer";
        return;
    }
    if (type != DNS_A && type != DNS_AAAA && type != DNS_PTR && type != DNS_MX && type != DNS_TXT) {
        a->status = DNS_ERROR;
        a->why = "unsupported type";
        return;
    }
    struct walk w = {
        .m = buf, .len = (size_t)len, .type = type, .txt_max = txt_max ? txt_max : DNS_TXT_MAX};
    unsigned rcode = w.len >= 4 ? buf[3] & 15u : 0;
    if (rcode == 3 || (rcode == 0 && w.len >= 12 && be16(buf + 6) == 0)) {
        a->status = DNS_NOTFOUND; /* what c-ares reports as ENOTFOUND / ENODATA */
        a->why = rcode == 3 ? "no such name" : "no data";
        return;
    }
    if (rcode) {
        a->status = DNS_ERROR;
        a->why = "server failure or refused";
        return;
    }
    if (walk(&w)) {
        a->status = DNS_ERROR;
        a->why = "malformed answer";
        return;
    }
    if (w.n) { /* one block sized to what arrived: the records, then their texts */
        size_t n = w.n, bytes = w.bytes;
        if (n > (SIZE_MAX - bytes) / sizeof(struct dns_rr) ||
            !(w.fill = malloc(n * sizeof(struct dns_rr) + bytes))) {
            a->status = DNS_ERROR;
            a->why = "out of memory";
            return;
        }
        w.text = (char *)(w.fill + n);
        walk(&w); /* the same bytes again: the same records */
        a->rr = w.fill;
        a->n = w.n;
        a->ttl = w.ttl;
    }
    a->null_mx = w.null_mx;
    a->status = a->n ? DNS_FOUND : DNS_NOTFOUND;
    if (!a->n)
        a->why = w.bad ? (type == DNS_PTR ? "PTR is not a valid host name"
                                          : "MX is not a valid host name")
                       : "no data";
}

void dns_answer_clear(struct dns_answer *a)
{
    free(a->rr); /* the records and their texts are one block */
    memset(a, 0, sizeof(*a));
}

int dns_reverse_name(int family, const unsigned char *addr, const char *zone, char *out,
                     size_t outlen)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    int r;
    if (family == AF_INET) {
        r = snprintf(out, outlen, "%u.%u.%u.%u.%s", addr[3], addr[2], addr[1], addr[0],
                     zone && *zone ? zone : "in-addr.arpa");
        return r < 0 || (size_t)r >= outlen ? -1 : 0;
    }
    if (outlen < 65)
        return -1;
    for (int i = 15; i >= 0; i--) {
        out[o++] = hex[addr[i] & 15];
        out[o++] = '.';
        out[o++] = hex[addr[i] >> 4];
        out[o++] = '.';
    }
    r = snprintf(out + o, outlen - o, "%s", zone && *zone ? zone : "ip6.arpa");
    return r < 0 || (size_t)r >= outlen - o ? -1 : 0;
}
