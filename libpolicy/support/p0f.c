/*
 * p0f.c - one question to p0f's API socket per client, as a waiter
 * source: connect (non-blocking), send 21 bytes, read 232, each step
 * bounded by the question's deadline.  Replies are parsed by p0f_parse
 * only: fixed size, strings bounded and made printable.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "../util/util.h"
#include "p0f.h"
#include "waiter.h"

#define QUERY_MAGIC 0x50304601u
#define REPLY_MAGIC 0x50304602u
#define ST_BADQUERY 0x00
#define ST_OK       0x10
#define ST_NOMATCH  0x20

struct p0f_q {
    struct wsource src; /* first: the waiter hands us this pointer */
    struct waiter *w;
    int own_waiter;
    int fd;
    int connecting; /* waiting for the connect to complete */
    size_t sent;
    unsigned char query[P0F_QUERY_LEN];
    unsigned char reply[P0F_REPLY_LEN];
    size_t got;
    double deadline;
    unsigned retry_ms;
    double resend_at; /* not seen yet: ask again then (0: not waiting to) */
    struct p0f_answer ans;
};

int p0f_query_encode(const char *ip, unsigned char out[P0F_QUERY_LEN])
{
    unsigned char a[16];
    uint32_t magic = QUERY_MAGIC;
    memset(out, 0, P0F_QUERY_LEN);
    memcpy(out, &magic, 4); /* host order: p0f reads a native u32 */
    if (inet_pton(AF_INET, ip, a) == 1) {
        out[4] = 4;
        memcpy(out + 5, a, 4);
        return 0;
    }
    if (inet_pton(AF_INET6, ip, a) == 1) {
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (!memcmp(a, mapped, 12)) { /* p0f saw the IPv4 packets */
            out[4] = 4;
            memcpy(out + 5, a + 12, 4);
        } else {
            out[4] = 6;
            memcpy(out + 5, a, 16);
        }
        return 0;
    }
    return -1;
}

static uint32_t u32_at(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* text - a 32-byte field as a printable, NUL-terminated string. */
static void text(char *dst, const unsigned char *src)
{
    size_t i;
    for (i = 0; i < P0F_STR_LEN - 1 && src[i]; i++)
        dst[i] = src[i] >= 0x20 && src[i] < 0x7f ? (char)src[i] : '?';
    dst[i] = '\0';
}

void p0f_parse(const void *buf, size_t len, struct p0f_answer *a)
{
    const unsigned char *p = buf;
    memset(a, 0, sizeof(*a));
    a->status = P0F_UNKNOWN;
    if (len != P0F_REPLY_LEN) {
        a->why = "malformed reply from p0f (wrong size)";
        return;
    }
    uint32_t magic = u32_at(p), status = u32_at(p + 4);
    if (magic == 0 && status == ST_BADQUERY) { /* p0f leaves the magic out then */
        a->why = "p0f refused the query";
        return;
    }
    if (magic != REPLY_MAGIC) {
        a->why = "malformed reply from p0f (bad magic)";
        return;
    }
    switch (status) {
    case ST_OK:
        break;
    case ST_NOMATCH:
        a->why = "p0f has not seen this address";
        return;
    case ST_BADQUERY:
        a->why = "p0f refused the query";
        return;
    default:
        a->why = "malformed reply from p0f (bad status)";
        return;
    }
    a->first_seen = u32_at(p + 8);
    a->last_seen = u32_at(p + 12);
    a->total_conn = u32_at(p + 16);
    a->uptime_min = u32_at(p + 20);
    a->up_mod_days = u32_at(p + 24);
    a->last_nat = u32_at(p + 28);
    a->last_chg = u32_at(p + 32);
    memcpy(&a->distance, p + 36, 2);
    a->bad_sw = p[38];
    a->os_match_q = p[39];
    text(a->os_name, p + 40);
    text(a->os_flavor, p + 72);
    text(a->http_name, p + 104);
    text(a->http_flavor, p + 136);
    text(a->link_type, p + 168);
    text(a->language, p + 200);
    if (a->os_name[0]) {
        a->status = P0F_KNOWN;
    } else {
        a->why = "p0f has no OS match for this address";
    }
}

/* ------------------------------------------------------------ the client */

/* finish - the answer is known: stop polling, close the socket. */
static void finish(struct p0f_q *q, const char *why)
{
    if (why) {
        memset(&q->ans, 0, sizeof(q->ans));
        q->ans.status = P0F_UNKNOWN;
        q->ans.why = why;
    }
    if (q->fd >= 0) {
        close(q->fd);
        q->fd = -1;
    }
    if (q->w)
        waiter_del(q->w, &q->src);
}

/* pump - send what is left of the query, read what has arrived. */
static void pump(struct p0f_q *q)
{
    while (q->sent < P0F_QUERY_LEN) {
        ssize_t n =
            send(q->fd, q->query + q->sent, P0F_QUERY_LEN - q->sent, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            q->sent += (size_t)n;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        finish(q, "p0f closed the connection");
        return;
    }
    while (q->got < P0F_REPLY_LEN) {
        ssize_t n = recv(q->fd, q->reply + q->got, P0F_REPLY_LEN - q->got, MSG_DONTWAIT);
        if (n > 0) {
            q->got += (size_t)n;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        finish(q, n == 0 ? "p0f closed the connection" : "p0f socket error");
        return;
    }
    p0f_parse(q->reply, q->got, &q->ans);
    if (q->ans.status == P0F_UNKNOWN && q->retry_ms && q->ans.why &&
        !strcmp(q->ans.why, "p0f has not seen this address") &&
        waiter_now_ms() + q->retry_ms < q->deadline) {
        /* p0f keeps the connection for more queries: ask again later */
        q->ans.status = P0F_PENDING;
        q->resend_at = waiter_now_ms() + q->retry_ms;
        q->sent = q->got = 0;
        return;
    }
    finish(q, NULL);
}

static int src_fds(struct wsource *s, struct pollfd *pfd, int max, double *deadline)
{
    struct p0f_q *q = (struct p0f_q *)s;
    *deadline = 0;
    if (q->fd < 0 || max < 1)
        return 0;
    *deadline = q->deadline;
    if (q->resend_at > 0) { /* only time to wait for */
        *deadline = q->resend_at;
        return 0;
    }
    pfd[0].fd = q->fd;
    pfd[0].events = q->connecting || q->sent < P0F_QUERY_LEN ? POLLOUT : POLLIN;
    pfd[0].revents = 0;
    return 1;
}

static void src_process(struct wsource *s, const struct pollfd *pfd, int n, double now)
{
    struct p0f_q *q = (struct p0f_q *)s;
    if (q->fd < 0)
        return;
    if (q->resend_at > 0) {
        if (now < q->resend_at)
            return;
        q->resend_at = 0;
        pump(q);
        return;
    }
    if (n > 0 && pfd[0].revents) {
        if (q->connecting) {
            int err = 0;
            socklen_t el = sizeof(err);
            if (getsockopt(q->fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err) {
                finish(q, "p0f is not running");
                return;
            }
            q->connecting = 0;
        }
        pump(q);
        if (q->fd < 0)
            return;
    }
    if (now >= q->deadline)
        finish(q, "p0f timed out");
}

static const struct wsource_ops src_ops = {src_fds, src_process};

struct p0f_q *p0f_start(struct waiter *w, const char *socket_path, const char *ip,
                        unsigned timeout_ms, unsigned retry_ms)
{
    struct p0f_q *q = calloc(1, sizeof(*q));
    if (!q)
        return NULL;
    q->fd = -1;
    q->src.ops = &src_ops;
    q->w = w;
    if (!w) {
        if (!(q->w = waiter_new())) {
            free(q);
            return NULL;
        }
        q->own_waiter = 1;
    }
    q->deadline = waiter_now_ms() + timeout_ms;
    q->retry_ms = retry_ms;
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    if (!socket_path || !*socket_path || strlen(socket_path) >= sizeof(sun.sun_path)) {
        finish(q, "p0f socket path missing or too long");
        return q;
    }
    if (!ip || p0f_query_encode(ip, q->query) < 0) {
        finish(q, "not an IP address");
        return q;
    }
    memcpy(sun.sun_path, socket_path, strlen(socket_path));
    q->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (q->fd < 0) {
        finish(q, "no socket for p0f");
        return q;
    }
    if (connect(q->fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
        if (errno == EINPROGRESS) {
            q->connecting = 1;
        } else {
            /* ENOENT, ECONNREFUSED: nobody listens; EAGAIN: p0f's backlog is
             * full - either way no answer in time */
            finish(q, errno == EAGAIN ? "p0f is busy" : "p0f is not running");
            return q;
        }
    }
    if (!q->connecting)
        pump(q);
    if (q->fd >= 0)
        waiter_add(q->w, &q->src);
    return q;
}

int p0f_done(const struct p0f_q *q)
{
    return q->ans.status != P0F_PENDING;
}

static int done_cb(void *arg)
{
    return p0f_done(arg);
}

void p0f_wait(struct p0f_q *q)
{
    if (!p0f_done(q))
        waiter_run(q->w, done_cb, q, q->deadline + 100);
    if (!p0f_done(q))
        finish(q, "p0f timed out");
}

const struct p0f_answer *p0f_answer_of(const struct p0f_q *q)
{
    return &q->ans;
}

void p0f_free(struct p0f_q *q)
{
    if (!q)
        return;
    if (q->fd >= 0)
        close(q->fd);
    if (q->w)
        waiter_del(q->w, &q->src);
    if (q->own_waiter)
        waiter_free(q->w);
    free(q);
}

/* ------------------------------------------------------------ OS rules */

/* rule_parse - one rule from p..e, blanks around it trimmed; 0 or -1. */
static int rule_parse(const char *p, const char *e, int weighted, struct p0f_rule *r)
{
    memset(r, 0, sizeof(*r));
    if (weighted) { /* "NAME*N" */
        const char *star = e;
        while (star > p && star[-1] != '*')
            star--;
        if (star == p)
            return -1;
        char num[8], *end;
        size_t nl = (size_t)(e - star);
        if (nl == 0 || nl >= sizeof(num))
            return -1;
        memcpy(num, star, nl);
        num[nl] = '\0';
        long w = strtol(num, &end, 10);
        if (*end || w == 0 || w < -100 || w > 100)
            return -1;
        r->weight = (int)w;
        e = star - 1;
        while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
    }
    const char *colon = memchr(p, ':', (size_t)(e - p));
    size_t gl = colon ? (size_t)(colon - p) : (size_t)(e - p);
    size_t fl = colon ? (size_t)(e - colon - 1) : 0;
    if (gl == 0 || gl >= P0F_STR_LEN || fl >= P0F_STR_LEN || (colon && fl == 0))
        return -1;
    memcpy(r->genre, p, gl);
    if (colon)
        memcpy(r->flavor, colon + 1, fl);
    return 0;
}

int p0f_rules_add(struct p0f_rules *r, const char *text, int weighted)
{
    for (const char *p = text; *p;) {
        const char *end = p + strcspn(p, ",");
        const char *e = end;
        while (p < e && (*p == ' ' || *p == '\t'))
            p++;
        while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if (e > p) {
            if (r->n >= P0F_RULES_MAX)
                return -2;
            if (rule_parse(p, e, weighted, &r->v[r->n]) != 0)
                return -1;
            r->n++;
        }
        p = *end ? end + 1 : end;
    }
    return 0;
}

const struct p0f_rule *p0f_rules_match(const struct p0f_rules *r, const struct p0f_answer *a)
{
    if (!a || a->status != P0F_KNOWN)
        return NULL;
    for (size_t i = 0; i < r->n; i++)
        if (str_ieq(r->v[i].genre, a->os_name) &&
            str_ieqn(r->v[i].flavor, a->os_flavor, strlen(r->v[i].flavor)))
            return &r->v[i];
    return NULL;
}

void p0f_rule_text(const struct p0f_rule *r, char *out, size_t len)
{
    snprintf(out, len, "%s%s%s", r->genre, r->flavor[0] ? ":" : "", r->flavor);
}
