/*
 * netreq.c - a request and its reply over a non-blocking stream socket, as
 * a waiter source.  Servers are tried in order until one accepts; the
 * request is sent while the reply is read (a server may answer before it
 * has read everything, clamd over its size limit does), and every state
 * has a deadline, so a server that accepts and never answers costs at most
 * the I/O timeout.  SIGPIPE is never raised (MSG_NOSIGNAL).
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "../util/util.h"
#include "netreq.h"

enum phase { PH_IDLE, PH_CONNECTING, PH_TALKING, PH_DONE, PH_FAILED };

struct netreq {
    struct wsource src; /* first: the waiter hands it back */
    struct waiter *w;   /* while added to it */
    struct waiter *run; /* the waiter of the last start, for netreq_wait */
    const struct netreq_servers *servers;
    const struct netreq_ops *ops;
    void *ctx;
    unsigned connect_ms, io_ms;
    enum phase phase;
    int fd;
    int server; /* index being tried or used, -1 before any */
    double deadline, started, finished;
    const char *why;
    /* the request: out[out_off..out_len) still to send */
    unsigned char *out;
    size_t out_cap, out_len, out_off;
    int out_end;  /* produce() said the request is complete */
    int out_dead; /* the server stopped reading: send no more, read its answer */
    /* the reply */
    char *in;
    size_t in_cap, in_len;
};

/* ---- server lists ---- */

/* add_unix - a unix socket server at path. */
static int add_unix(struct netreq_servers *out, const char *path, size_t len, char *err,
                    size_t errlen)
{
    struct sockaddr_un *sun;
    if (len == 0 || len >= sizeof(sun->sun_path)) {
        if (len == 0)
            snprintf(err, errlen, "unix: without a socket path");
        else
            snprintf(err, errlen, "unix socket path longer than %zu bytes: %.40s...",
                     sizeof(sun->sun_path) - 1, path);
        return -1;
    }
    if (out->n >= NETREQ_MAX_SERVERS) {
        snprintf(err, errlen, "more than %d servers", NETREQ_MAX_SERVERS);
        return -1;
    }
    struct netreq_server *s = &out->s[out->n++];
    memset(s, 0, sizeof(*s));
    sun = (struct sockaddr_un *)&s->addr;
    sun->sun_family = AF_UNIX;
    memcpy(sun->sun_path, path, len);
    s->addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
    snprintf(s->name, sizeof(s->name), "unix:%.*s", (int)len, path);
    return 0;
}

/* add_inet - every address of host:port, in the resolver's order. */
static int add_inet(struct netreq_servers *out, const char *host, const char *port, char *err,
                    size_t errlen)
{
    char *end;
    long p = strtol(port, &end, 10);
    if (!*port || *end || p < 1 || p > 65535) {
        snprintf(err, errlen, "bad port \"%.20s\" (1-65535)", port);
        return -1;
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV | AI_NUMERICHOST};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc == EAI_NONAME) { /* not a literal address: resolve the name, once */
        hints.ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG;
        rc = getaddrinfo(host, port, &hints, &res);
    }
    if (rc != 0) {
        snprintf(err, errlen, "cannot resolve %.80s: %s", host, gai_strerror(rc));
        return -1;
    }
    int r = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        if (out->n >= NETREQ_MAX_SERVERS) {
            snprintf(err, errlen, "more than %d servers", NETREQ_MAX_SERVERS);
            r = -1;
            break;
        }
        if (ai->ai_addrlen > sizeof(out->s[0].addr))
            continue;
        struct netreq_server *s = &out->s[out->n++];
        memset(s, 0, sizeof(*s));
        memcpy(&s->addr, ai->ai_addr, ai->ai_addrlen);
        s->addrlen = ai->ai_addrlen;
        char ip[64] = "?";
        getnameinfo(ai->ai_addr, ai->ai_addrlen, ip, sizeof(ip), NULL, 0, NI_NUMERICHOST);
        snprintf(s->name, sizeof(s->name),
                 ai->ai_family == AF_INET6 ? "inet:[%s]:%s" : "inet:%s:%s", ip, port);
    }
    freeaddrinfo(res);
    return r;
}

/* add_one - one token of a server list. */
static int add_one(struct netreq_servers *out, const char *tok, size_t len, char *err,
                   size_t errlen)
{
    char buf[300];
    if (len >= sizeof(buf)) {
        snprintf(err, errlen, "server \"%.40s...\" too long", tok);
        return -1;
    }
    memcpy(buf, tok, len);
    buf[len] = '\0';
    if (strncmp(buf, "unix:", 5) == 0)
        return add_unix(out, buf + 5, len - 5, err, errlen);
    if (buf[0] == '/')
        return add_unix(out, buf, len, err, errlen);
    char *host = strncmp(buf, "inet:", 5) == 0 ? buf + 5 : buf;
    char *port;
    if (*host == '[') {
        char *close = strchr(host, ']');
        if (!close || close[1] != ':') {
            snprintf(err, errlen, "bad server \"%s\": [IPv6]:PORT expected", buf);
            return -1;
        }
        *close = '\0';
        host++;
        port = close + 2;
    } else {
        port = strrchr(host, ':');
        if (!port || port == host || memchr(host, ':', (size_t)(port - host))) {
            snprintf(err, errlen,
                     "bad server \"%s\": unix:PATH, inet:HOST:PORT or [IPv6]:PORT expected", buf);
            return -1;
        }
        *port++ = '\0';
    }
    return add_inet(out, host, port, err, errlen);
}

int netreq_parse_servers(const char *spec, struct netreq_servers *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    size_t len;
    for (const char *p = spec ? spec : ""; (len = words_next(&p)) > 0; p += len)
        if (add_one(out, p, len, err, errlen) < 0)
            return -1;
    if (out->n == 0) {
        snprintf(err, errlen, "no server given");
        return -1;
    }
    return 0;
}

/* ---- requests ---- */

static int src_fds(struct wsource *src, struct pollfd *pfd, int max, double *deadline);
static void src_process(struct wsource *src, const struct pollfd *pfd, int n, double now);
static const struct wsource_ops netreq_wops = {src_fds, src_process};

struct netreq *netreq_new(size_t out_cap, size_t in_cap)
{
    struct netreq *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->out = malloc(out_cap ? out_cap : 1);
    r->in = malloc(in_cap > 1 ? in_cap : 2);
    if (!r->out || !r->in) {
        free(r->out);
        free(r->in);
        free(r);
        return NULL;
    }
    r->out_cap = out_cap ? out_cap : 1;
    r->in_cap = in_cap > 1 ? in_cap : 2;
    r->src.ops = &netreq_wops;
    r->fd = -1;
    r->server = -1;
    r->in[0] = '\0';
    return r;
}

void netreq_free(struct netreq *r)
{
    if (!r)
        return;
    netreq_cancel(r);
    free(r->out);
    free(r->in);
    free(r);
}

/* finish - the request is over: close, leave the waiter, keep the outcome. */
static void finish(struct netreq *r, enum phase ph, const char *why)
{
    if (r->fd >= 0)
        close(r->fd);
    r->fd = -1;
    if (r->w)
        waiter_del(r->w, &r->src);
    r->w = NULL;
    r->phase = ph;
    r->why = why;
    r->finished = waiter_now_ms();
}

void netreq_cancel(struct netreq *r)
{
    if (r->phase == PH_CONNECTING || r->phase == PH_TALKING)
        finish(r, PH_IDLE, "cancelled");
}

/* connect_why - the log text for a failed connect. */
static const char *connect_why(int err)
{
    switch (err) {
    case ECONNREFUSED:
    case ENOENT:
        return "connection refused";
    case EAGAIN: /* a unix socket whose backlog is full */
        return "server busy";
    case ETIMEDOUT:
        return "connect timed out";
    case ENETUNREACH:
    case EHOSTUNREACH:
        return "server unreachable";
    default:
        return "connect failed";
    }
}

/* talk - connected: the I/O deadline starts now. */
static void talk(struct netreq *r, double now)
{
    r->phase = PH_TALKING;
    r->deadline = now + r->io_ms;
}

/* connect_next - start connecting to the next server; when every server
 * failed at once, the request fails with the last reason. */
static void connect_next(struct netreq *r, const char *why)
{
    if (r->fd >= 0)
        close(r->fd);
    r->fd = -1;
    while ((size_t)(r->server + 1) < r->servers->n) {
        const struct netreq_server *s = &r->servers->s[++r->server];
        int fd = socket(s->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            why = "cannot create a socket";
            continue;
        }
        double now = waiter_now_ms();
        if (connect(fd, (const struct sockaddr *)&s->addr, s->addrlen) == 0) {
            r->fd = fd;
            talk(r, now);
            return;
        }
        if (errno == EINPROGRESS || errno == EINTR) { /* EINTR: it goes on regardless */
            r->fd = fd;
            r->phase = PH_CONNECTING;
            r->deadline = now + r->connect_ms;
            return;
        }
        why = connect_why(errno);
        close(fd);
    }
    finish(r, PH_FAILED, why ? why : "no server");
}

int netreq_start(struct netreq *r, struct waiter *w, const struct netreq_servers *servers,
                 unsigned connect_ms, unsigned io_ms, const struct netreq_ops *ops, void *ctx)
{
    netreq_cancel(r);
    r->w = r->run = w;
    r->servers = servers;
    r->ops = ops;
    r->ctx = ctx;
    r->connect_ms = connect_ms ? connect_ms : 1;
    r->io_ms = io_ms ? io_ms : 1;
    r->server = -1;
    r->out_len = r->out_off = 0;
    r->out_end = r->out_dead = 0;
    r->in_len = 0;
    r->in[0] = '\0';
    r->why = NULL;
    r->started = waiter_now_ms();
    r->finished = 0;
    waiter_add(w, &r->src);
    connect_next(r, "no server");
    return r->phase == PH_FAILED ? -1 : 0;
}

/* do_send - send what is pending, producing more as the socket takes it.
 * Returns 0, or -1 when the request failed (finished). */
static int do_send(struct netreq *r)
{
    while (!r->out_dead) {
        if (r->out_off == r->out_len) {
            if (r->out_end)
                return 0;
            const char *why = "cannot read the message";
            ssize_t k = r->ops->produce(r->ctx, r->out, r->out_cap, &why);
            if (k < 0) {
                finish(r, PH_FAILED, why);
                return -1;
            }
            r->out_off = 0;
            r->out_len = (size_t)k;
            if (k == 0) {
                r->out_end = 1;
                return 0;
            }
        }
        ssize_t k = send(r->fd, r->out + r->out_off, r->out_len - r->out_off, MSG_NOSIGNAL);
        if (k > 0) {
            r->out_off += (size_t)k;
            continue;
        }
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        if (k < 0 && errno == EINTR)
            continue;
        r->out_dead = 1; /* EPIPE, ECONNRESET: the server may have said why; read it */
    }
    return 0;
}

/* do_recv - read what the server sent.  Returns 1 when the reply is over
 * (finished), 0 to wait for more. */
static int do_recv(struct netreq *r)
{
    for (;;) {
        size_t room = r->in_cap - 1 - r->in_len;
        if (room == 0) {
            finish(r, PH_DONE, NULL); /* bounded: the parser reads what fits */
            return 1;
        }
        ssize_t k = recv(r->fd, r->in + r->in_len, room, 0);
        if (k > 0) {
            r->in_len += (size_t)k;
            r->in[r->in_len] = '\0';
            if (r->ops->complete(r->ctx, r->in, r->in_len)) {
                finish(r, PH_DONE, NULL);
                return 1;
            }
            continue;
        }
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        /* end of the connection (0) or an error: the reply, if any, is what came */
        if (r->in_len > 0)
            finish(r, PH_DONE, NULL);
        else
            finish(r, PH_FAILED, k == 0 ? "connection closed without a reply" : "connection reset");
        return 1;
    }
}

static int src_fds(struct wsource *src, struct pollfd *pfd, int max, double *deadline)
{
    struct netreq *r = (struct netreq *)src;
    if (r->fd < 0 || max < 1)
        return 0;
    *deadline = r->deadline;
    pfd[0].fd = r->fd;
    pfd[0].revents = 0;
    if (r->phase == PH_CONNECTING)
        pfd[0].events = POLLOUT;
    else
        pfd[0].events =
            POLLIN | (r->out_dead || (r->out_end && r->out_off == r->out_len) ? 0 : POLLOUT);
    return 1;
}

static void src_process(struct wsource *src, const struct pollfd *pfd, int n, double now)
{
    struct netreq *r = (struct netreq *)src;
    short ev = n > 0 && pfd[0].fd == r->fd ? pfd[0].revents : 0;
    if (r->phase == PH_CONNECTING) {
        if (ev) {
            int err = 0;
            socklen_t len = sizeof(err);
            if (getsockopt(r->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
                err = errno;
            if (err == 0) {
                talk(r, now);
                ev = POLLOUT; /* a fresh connection takes the first bytes at once */
            } else {
                connect_next(r, connect_why(err));
                return;
            }
        } else if (now >= r->deadline) {
            connect_next(r, "connect timed out");
            return;
        } else {
            return;
        }
    }
    if (r->phase != PH_TALKING)
        return;
    if ((ev & POLLOUT) && do_send(r) < 0)
        return;
    if ((ev & (POLLIN | POLLHUP | POLLERR)) && do_recv(r))
        return;
    if (now >= r->deadline)
        finish(r, PH_FAILED, "timed out");
}

enum netreq_state netreq_state(const struct netreq *r)
{
    switch (r->phase) {
    case PH_CONNECTING:
    case PH_TALKING:
        return NETREQ_BUSY;
    case PH_DONE:
        return NETREQ_DONE;
    case PH_FAILED:
        return NETREQ_FAILED;
    default:
        return NETREQ_IDLE;
    }
}

int netreq_wait(struct netreq *r, double deadline)
{
    if (r->phase != PH_CONNECTING && r->phase != PH_TALKING)
        return 0;
    waiter_run(r->run, netreq_finished, r, deadline);
    if (r->phase == PH_CONNECTING || r->phase == PH_TALKING) {
        finish(r, PH_FAILED, "timed out"); /* the caller's deadline, or the waiter lost us */
        return -1;
    }
    return 0;
}

int netreq_finished(void *r)
{
    enum phase ph = ((struct netreq *)r)->phase;
    return ph == PH_DONE || ph == PH_FAILED;
}

const char *netreq_reply(const struct netreq *r, size_t *len)
{
    if (len)
        *len = r->in_len;
    return r->in;
}

int netreq_sent(const struct netreq *r)
{
    return r->out_end && r->out_off == r->out_len && !r->out_dead;
}

const char *netreq_why(const struct netreq *r)
{
    return r->why ? r->why : "";
}

int netreq_server(const struct netreq *r)
{
    return r->server;
}

double netreq_elapsed_ms(const struct netreq *r)
{
    if (r->started == 0)
        return 0;
    return (r->finished ? r->finished : waiter_now_ms()) - r->started;
}
