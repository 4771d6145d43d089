/*
 * clamd.c - clamd's INSTREAM protocol over netreq: "zINSTREAM\0", chunks
 * of a 4-byte big-endian length and data read from the caller's reader,
 * a zero length, then one NUL-terminated line back.  A reply is trusted
 * only as far as clamd_parse_reply() sanitizes it, and "clean" is never
 * reported for a message that did not go out whole.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clamd.h"

struct clamd {
    struct netreq_servers servers;
    struct clamd_settings set;
};

enum stage { ST_COMMAND, ST_DATA, ST_END };

struct clamd_scan {
    struct netreq *req;
    const struct clamd *cd;
    netreq_read_fn reader;
    void *rctx;
    uint64_t size, off;
    enum stage stage;
    int started; /* a request went out: the answer comes from netreq */
    int parsed;
    struct virus_result res;
};

struct clamd *clamd_new(const char *servers, const struct clamd_settings *set, char *err,
                        size_t errlen)
{
    struct clamd *cd = calloc(1, sizeof(*cd));
    if (!cd) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (netreq_parse_servers(servers, &cd->servers, err, errlen) < 0) {
        free(cd);
        return NULL;
    }
    if (set)
        cd->set = *set;
    if (!cd->set.connect_ms)
        cd->set.connect_ms = CLAMD_CONNECT_MS_DEF;
    if (!cd->set.timeout_ms)
        cd->set.timeout_ms = CLAMD_TIMEOUT_MS_DEF;
    return cd;
}

void clamd_free(struct clamd *cd)
{
    free(cd);
}

size_t clamd_server_count(const struct clamd *cd)
{
    return cd->servers.n;
}

const char *clamd_server_name(const struct clamd *cd, size_t i)
{
    return i < cd->servers.n ? cd->servers.s[i].name : "";
}

/* ---- the reply ---- */

/* first_line - the first line of a reply, without its end and trailing blanks. */
static size_t first_line(const char *buf, size_t len)
{
    size_t n = 0;
    while (n < len && buf[n] != '\0' && buf[n] != '\n')
        n++;
    while (n > 0 && (buf[n - 1] == '\r' || buf[n - 1] == ' ' || buf[n - 1] == '\t'))
        n--;
    return n;
}

/* ends_with - the n bytes at s end with the text t. */
static int ends_with(const char *s, size_t n, const char *t)
{
    size_t k = strlen(t);
    return n >= k && memcmp(s + n - k, t, k) == 0;
}

/* starts_with - the n bytes at s begin with the text t. */
static int starts_with(const char *s, size_t n, const char *t)
{
    size_t k = strlen(t);
    return n >= k && memcmp(s, t, k) == 0;
}

/* strip_hash - "Name(md5:size)" as ExtendedDetectionInfo writes it: the
 * length of Name alone, so both scanners give the same name. */
static size_t strip_hash(const char *s, size_t n)
{
    if (n < 5 || s[n - 1] != ')')
        return n;
    size_t open = n - 1;
    while (open > 0 && s[open] != '(')
        open--;
    if (s[open] != '(' || open == 0)
        return n;
    size_t i = open + 1, hex = 0, digits = 0;
    while (i < n - 1 && ((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
                         (s[i] >= 'A' && s[i] <= 'F')))
        i++, hex++;
    if (hex == 0 || s[i] != ':')
        return n;
    for (i++; i < n - 1 && s[i] >= '0' && s[i] <= '9'; i++)
        digits++;
    return digits && i == n - 1 ? open : n;
}

void clamd_parse_reply(const char *buf, size_t len, struct virus_result *r)
{
    size_t n = first_line(buf, len);
    const char *s = buf;
    /* an IDSESSION reply starts with the request number: "12: " */
    size_t i = 0;
    while (i < n && i < 10 && s[i] >= '0' && s[i] <= '9')
        i++;
    if (i > 0 && i + 1 < n && s[i] == ':' && s[i + 1] == ' ') {
        s += i + 2;
        n -= i + 2;
    }
    if (n == 0) {
        size_t k = 0;
        while (k < len && (buf[k] == '\0' || buf[k] == '\r' || buf[k] == '\n' || buf[k] == ' '))
            k++;
        virus_set(r, VIRUS_ERROR, k == len ? "empty clamd reply" : "unrecognised clamd reply");
        return;
    }
    if (starts_with(s, n, "stream: ")) {
        const char *v = s + 8;
        size_t vn = n - 8;
        if (vn == 2 && memcmp(v, "OK", 2) == 0) {
            virus_set(r, VIRUS_CLEAN, NULL);
            return;
        }
        if (ends_with(v, vn, " FOUND") && vn > 6) {
            size_t nn = vn - 6;
            while (nn > 0 && v[nn - 1] == ' ')
                nn--;
            if (nn > 0) {
                virus_found(r, v, strip_hash(v, nn));
                return;
            }
        }
    }
    if (ends_with(s, n, "ERROR")) {
        if (starts_with(s, n, "INSTREAM size limit exceeded"))
            virus_set(r, VIRUS_TOO_BIG, "over clamd's StreamMaxLength");
        else
            virus_set(r, VIRUS_ERROR, "clamd reported an error");
        return;
    }
    virus_set(r, VIRUS_ERROR, "unrecognised clamd reply");
}

int clamd_parse_pong(const char *buf, size_t len)
{
    size_t n = first_line(buf, len);
    return n == 4 && memcmp(buf, "PONG", 4) == 0 ? 0 : -1;
}

/* ---- the request ---- */

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* produce_instream - the command, then as many chunks as fit, then the end. */
static ssize_t produce_instream(void *ctx, unsigned char *buf, size_t cap, const char **why)
{
    struct clamd_scan *s = ctx;
    size_t n = 0;
    if (s->stage == ST_COMMAND) {
        memcpy(buf, "zINSTREAM", 10); /* with its NUL */
        n = 10;
        s->stage = ST_DATA;
    }
    if (s->stage != ST_DATA)
        return 0;
    while (s->off < s->size && cap - n > 4) {
        size_t want = cap - n - 4;
        if (want > CLAMD_CHUNK)
            want = CLAMD_CHUNK;
        if (want > s->size - s->off)
            want = (size_t)(s->size - s->off);
        ssize_t k = s->reader(s->rctx, s->off, buf + n + 4, want);
        if (k < 0 || (size_t)k > want) {
            *why = "cannot read the message";
            return -1;
        }
        if (k == 0) {
            *why = "message shorter than its size";
            return -1;
        }
        put_be32(buf + n, (uint32_t)k);
        n += 4 + (size_t)k;
        s->off += (uint64_t)k;
    }
    if (s->off >= s->size && cap - n >= 4) {
        put_be32(buf + n, 0);
        n += 4;
        s->stage = ST_END;
    }
    return (ssize_t)n;
}

/* line_complete - clamd ends its answer with NUL (z commands) or a newline. */
static int line_complete(void *ctx, const char *reply, size_t len)
{
    (void)ctx;
    return memchr(reply, '\0', len) != NULL || memchr(reply, '\n', len) != NULL;
}

static const struct netreq_ops instream_ops = {produce_instream, line_complete};

struct clamd_scan *clamd_scan_new(void)
{
    struct clamd_scan *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->req = netreq_new(CLAMD_CHUNK + 16, CLAMD_REPLY_MAX);
    if (!s->req) {
        free(s);
        return NULL;
    }
    return s;
}

void clamd_scan_free(struct clamd_scan *s)
{
    if (!s)
        return;
    netreq_free(s->req);
    free(s);
}

void clamd_scan_start(struct clamd_scan *s, const struct clamd *cd, struct waiter *w,
                      netreq_read_fn reader, void *ctx, uint64_t size)
{
    netreq_cancel(s->req);
    s->cd = cd;
    s->reader = reader;
    s->rctx = ctx;
    s->size = size;
    s->off = 0;
    s->stage = ST_COMMAND;
    s->started = 0;
    s->parsed = 0;
    virus_set(&s->res, VIRUS_PENDING, NULL);
    if (cd->set.max_size && size > cd->set.max_size) {
        virus_set(&s->res, VIRUS_TOO_BIG, "over the configured clamd size limit");
        s->parsed = 1;
        return;
    }
    s->started = 1;
    netreq_start(s->req, w, &cd->servers, cd->set.connect_ms, cd->set.timeout_ms, &instream_ops, s);
}

/* settle - once the request is finished, its answer as a result. */
static void settle(struct clamd_scan *s)
{
    if (s->parsed || !s->started)
        return;
    switch (netreq_state(s->req)) {
    case NETREQ_DONE: {
        size_t len;
        const char *reply = netreq_reply(s->req, &len);
        clamd_parse_reply(reply, len, &s->res);
        if ((s->res.status == VIRUS_CLEAN) && !netreq_sent(s->req))
            virus_set(&s->res, VIRUS_ERROR, "clamd answered before the end of the message");
        break;
    }
    case NETREQ_FAILED:
        virus_set(&s->res, VIRUS_ERROR, netreq_why(s->req));
        break;
    case NETREQ_IDLE:
        virus_set(&s->res, VIRUS_ERROR, "scan cancelled");
        break;
    default:
        return;
    }
    s->parsed = 1;
}

int clamd_scan_done(const struct clamd_scan *s)
{
    return s->parsed || !s->started || netreq_finished(s->req);
}

const struct virus_result *clamd_scan_collect(struct clamd_scan *s)
{
    if (!s->parsed && s->started)
        netreq_wait(s->req, 0);
    settle(s);
    if (!s->parsed)
        virus_set(&s->res, VIRUS_ERROR, "no scan started");
    return &s->res;
}

void clamd_scan_cancel(struct clamd_scan *s)
{
    netreq_cancel(s->req);
    settle(s);
}

const char *clamd_scan_server(const struct clamd_scan *s)
{
    int i = netreq_server(s->req);
    return s->cd && i >= 0 ? clamd_server_name(s->cd, (size_t)i) : "";
}

double clamd_scan_elapsed_ms(const struct clamd_scan *s)
{
    return s->started ? netreq_elapsed_ms(s->req) : 0;
}

/* ---- zPING ---- */

struct ping {
    int sent;
};

static ssize_t produce_ping(void *ctx, unsigned char *buf, size_t cap, const char **why)
{
    struct ping *p = ctx;
    (void)why;
    if (p->sent || cap < 6)
        return 0;
    memcpy(buf, "zPING", 6);
    p->sent = 1;
    return 6;
}

static const struct netreq_ops ping_ops = {produce_ping, line_complete};

int clamd_ping(const struct clamd *cd, size_t i, unsigned timeout_ms, const char **why)
{
    *why = "no such server";
    if (i >= cd->servers.n)
        return -1;
    struct netreq_servers one = {.n = 1};
    one.s[0] = cd->servers.s[i];
    struct waiter *w = waiter_new();
    struct netreq *req = netreq_new(16, 64);
    struct ping p = {0};
    int rc = -1;
    *why = "out of memory";
    if (w && req) {
        netreq_start(req, w, &one, timeout_ms, timeout_ms, &ping_ops, &p);
        netreq_wait(req, waiter_now_ms() + timeout_ms);
        size_t len;
        const char *reply = netreq_reply(req, &len);
        if (netreq_state(req) == NETREQ_DONE && clamd_parse_pong(reply, len) == 0) {
            rc = 0;
            *why = "";
        } else {
            *why = netreq_state(req) == NETREQ_FAILED ? netreq_why(req) : "no PONG";
        }
    }
    netreq_free(req);
    waiter_free(w);
    return rc;
}
