/*
 * spamd.c - SpamAssassin's SPAMC/1.5 protocol over netreq: a request line,
 * Content-length and User headers, the message streamed from the caller's
 * reader; back a status line, headers (Spam: True ; 5.1 / 5.0) and for
 * SYMBOLS and REPORT a body.  The reply parser is pure and bounded; what it
 * passes on is sanitized (see spamd.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/util.h"
#include "spamd.h"

struct spamd {
    struct netreq_servers servers;
    struct spamd_settings set;
};

struct spamd_scan {
    struct netreq *req;
    const struct spamd *sd;
    enum spamd_cmd cmd;
    char user[SPAMD_USER_MAX + 1];
    netreq_read_fn reader;
    void *rctx;
    uint64_t size, off;
    int header_sent;
    int started, parsed;
    struct spamd_result res;
};

static const char *const cmd_names[] = {"CHECK", "SYMBOLS", "REPORT"};

struct spamd *spamd_new(const char *servers, const struct spamd_settings *set, char *err,
                        size_t errlen)
{
    struct spamd *sd = calloc(1, sizeof(*sd));
    if (!sd) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (netreq_parse_servers(servers, &sd->servers, err, errlen) < 0) {
        free(sd);
        return NULL;
    }
    if (set)
        sd->set = *set;
    if (!sd->set.connect_ms)
        sd->set.connect_ms = SPAMD_CONNECT_MS_DEF;
    if (!sd->set.timeout_ms)
        sd->set.timeout_ms = SPAMD_TIMEOUT_MS_DEF;
    if (!sd->set.max_size)
        sd->set.max_size = SPAMD_MAX_SIZE_DEF;
    return sd;
}

void spamd_free(struct spamd *sd)
{
    free(sd);
}

size_t spamd_server_count(const struct spamd *sd)
{
    return sd->servers.n;
}

const char *spamd_server_name(const struct spamd *sd, size_t i)
{
    return i < sd->servers.n ? sd->servers.s[i].name : "";
}

const char *spamd_status_name(enum spamd_status s)
{
    switch (s) {
    case SPAMD_HAM:
        return "ham";
    case SPAMD_SPAM:
        return "spam";
    case SPAMD_SKIPPED:
        return "skipped";
    case SPAMD_ERROR:
        return "error";
    default:
        return "pending";
    }
}

/* ---- the reply ---- */

/* result_set - r reset to status with a static reason. */
static void result_set(struct spamd_result *r, enum spamd_status status, const char *why)
{
    r->status = status;
    r->score = r->threshold = 0;
    r->code = -1;
    r->symbols[0] = r->report[0] = '\0';
    r->truncated = 0;
    r->why = why ? why : "";
}

/* word_is - the n bytes at s are the word w, ignoring case. */
static int word_is(const char *s, size_t n, const char *w)
{
    return strlen(w) == n && str_ieqn(s, w, n);
}

/* skip_blanks - past spaces and tabs from i, at most n. */
static size_t skip_blanks(const char *s, size_t i, size_t n)
{
    while (i < n && (s[i] == ' ' || s[i] == '\t'))
        i++;
    return i;
}

/* parse_number - a decimal number at s[*i] ("-2.3", "1000.0"), without the
 * locale: at most 9 integer digits, fraction digits after the sixth are
 * read and ignored.  0 with *i past it, -1 when there is none. */
static int parse_number(const char *s, size_t *i, size_t n, double *out)
{
    size_t p = *i;
    int neg = 0, digits = 0;
    if (p < n && (s[p] == '-' || s[p] == '+'))
        neg = s[p++] == '-';
    double v = 0;
    for (; p < n && s[p] >= '0' && s[p] <= '9'; p++)
        if (++digits <= 9)
            v = v * 10 + (s[p] - '0');
        else
            return -1; /* no spam score has ten digits */
    if (p < n && s[p] == '.') {
        double scale = 0.1;
        int frac = 0;
        for (p++; p < n && s[p] >= '0' && s[p] <= '9'; p++, frac++)
            if (frac < 6) {
                v += (s[p] - '0') * scale;
                scale /= 10;
            }
        digits += frac;
    }
    if (digits == 0)
        return -1;
    *out = neg ? -v : v;
    *i = p;
    return 0;
}

/* parse_spam - "True ; 1000.0 / 5.0" into r; -1 when malformed. */
static int parse_spam(const char *v, size_t n, struct spamd_result *r)
{
    size_t i = skip_blanks(v, 0, n), w = i;
    while (i < n && v[i] != ' ' && v[i] != '\t' && v[i] != ';')
        i++;
    int spam;
    if (word_is(v + w, i - w, "true") || word_is(v + w, i - w, "yes"))
        spam = 1;
    else if (word_is(v + w, i - w, "false") || word_is(v + w, i - w, "no"))
        spam = 0;
    else
        return -1;
    i = skip_blanks(v, i, n);
    if (i >= n || v[i] != ';')
        return -1;
    i = skip_blanks(v, i + 1, n);
    if (parse_number(v, &i, n, &r->score) < 0)
        return -1;
    i = skip_blanks(v, i, n);
    if (i >= n || v[i] != '/')
        return -1;
    i = skip_blanks(v, i + 1, n);
    if (parse_number(v, &i, n, &r->threshold) < 0)
        return -1;
    if (skip_blanks(v, i, n) != n)
        return -1;
    r->status = spam ? SPAMD_SPAM : SPAMD_HAM;
    return 0;
}

/* rule_char - what may appear in a rule name. */
static int rule_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
}

/* copy_symbols - a comma-separated list of rule names into r->symbols,
 * blanks dropped, odd bytes as '?', cut at a name when full. */
static void copy_symbols(const char *b, size_t n, struct spamd_result *r)
{
    size_t out = 0, i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && b[j] != ',')
            j++;
        size_t s = i, e = j;
        while (s < e && (b[s] == ' ' || b[s] == '\t' || b[s] == '\r' || b[s] == '\n'))
            s++;
        while (e > s &&
               (b[e - 1] == ' ' || b[e - 1] == '\t' || b[e - 1] == '\r' || b[e - 1] == '\n'))
            e--;
        if (e > s) {
            size_t need = (out ? 1 : 0) + (e - s);
            if (out + need >= SPAMD_SYMBOLS_MAX) {
                r->truncated = 1;
                break;
            }
            if (out)
                r->symbols[out++] = ',';
            for (size_t k = s; k < e; k++)
                r->symbols[out++] = rule_char((unsigned char)b[k]) ? b[k] : '?';
        }
        i = j + 1;
    }
    r->symbols[out] = '\0';
}

/* copy_report - the report text: lines kept ('\n'), CR dropped, tabs as
 * spaces, anything else not printable ASCII as '?'. */
static void copy_report(const char *b, size_t n, struct spamd_result *r)
{
    size_t out = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)b[i];
        if (c == '\r')
            continue;
        if (out >= SPAMD_REPORT_MAX - 1) {
            r->truncated = 1;
            break;
        }
        r->report[out++] = c == '\n'                 ? '\n'
                           : c == '\t'               ? ' '
                           : (c >= 0x20 && c < 0x7f) ? (char)c
                                                     : '?';
    }
    r->report[out] = '\0';
}

/* line_at - the line starting at *i: its length without the end of line,
 * *i moved past it; -1 when no end of line is in sight. */
static long line_at(const char *buf, size_t len, size_t *i)
{
    const char *nl = memchr(buf + *i, '\n', len - *i);
    if (!nl)
        return -1;
    size_t l = (size_t)(nl - (buf + *i));
    size_t start = *i;
    *i = start + l + 1;
    if (l > 0 && buf[start + l - 1] == '\r')
        l--;
    return (long)l;
}

int spamd_parse_reply(const char *buf, size_t len, enum spamd_cmd cmd, int final,
                      struct spamd_result *r)
{
    size_t i = 0;
    if (memcmp(buf, "SPAMD/", len < 6 ? len : 6) != 0) {
        result_set(r, SPAMD_ERROR, "unrecognised spamd reply");
        return 1;
    }
    long l = line_at(buf, len, &i);
    if (l < 0) {
        if (!final)
            return 0;
        result_set(r, SPAMD_ERROR, len ? "truncated spamd reply" : "empty spamd reply");
        return 1;
    }
    /* SPAMD/1.1 0 EX_OK */
    const char *s = buf;
    size_t p = 6;
    if ((size_t)l < 8 || memcmp(s, "SPAMD/", 6) != 0) {
        result_set(r, SPAMD_ERROR, "unrecognised spamd reply");
        return 1;
    }
    while (p < (size_t)l && ((s[p] >= '0' && s[p] <= '9') || s[p] == '.'))
        p++;
    if (p == 6 || p >= (size_t)l || s[p] != ' ') {
        result_set(r, SPAMD_ERROR, "unrecognised spamd reply");
        return 1;
    }
    p = skip_blanks(s, p, (size_t)l);
    int code = 0, cd = 0;
    for (; p < (size_t)l && s[p] >= '0' && s[p] <= '9' && cd < 4; p++, cd++)
        code = code * 10 + (s[p] - '0');
    if (cd == 0 || (p < (size_t)l && s[p] != ' ')) {
        result_set(r, SPAMD_ERROR, "unrecognised spamd reply");
        return 1;
    }
    if (code != 0) {
        result_set(r, SPAMD_ERROR, "spamd refused the request");
        r->code = code;
        return 1;
    }
    /* headers, to the empty line */
    long clen = -1;
    int have_spam = 0, bad_spam = 0;
    struct spamd_result tmp;
    result_set(&tmp, SPAMD_ERROR, NULL);
    for (;;) {
        size_t start = i;
        l = line_at(buf, len, &i);
        if (l < 0) {
            if (!final)
                return 0;
            result_set(r, SPAMD_ERROR, "truncated spamd reply");
            r->code = 0;
            return 1;
        }
        if (l == 0)
            break;
        const char *h = buf + start;
        const char *colon = memchr(h, ':', (size_t)l);
        if (!colon)
            continue; /* not a header: nothing we need */
        size_t nl = (size_t)(colon - h), vs = nl + 1;
        while (nl > 0 && (h[nl - 1] == ' ' || h[nl - 1] == '\t'))
            nl--;
        if (word_is(h, nl, "spam")) {
            have_spam = 1;
            if (parse_spam(h + vs, (size_t)l - vs, &tmp) < 0)
                bad_spam = 1;
        } else if (word_is(h, nl, "content-length")) {
            size_t k = skip_blanks(h, vs, (size_t)l), digits = 0;
            long v = 0;
            for (; k < (size_t)l && h[k] >= '0' && h[k] <= '9'; k++)
                if (++digits <= 9)
                    v = v * 10 + (h[k] - '0');
            if (digits == 0 || digits > 9 || skip_blanks(h, k, (size_t)l) != (size_t)l) {
                result_set(r, SPAMD_ERROR, "bad Content-length in spamd reply");
                r->code = 0;
                return 1;
            }
            clen = v;
        }
    }
    /* the body: Content-length bytes, or up to the end of the connection */
    size_t avail = len - i;
    if (cmd != SPAMD_CHECK && !final) {
        if (clen < 0 || avail < (size_t)clen)
            return 0;
    }
    if (!have_spam || bad_spam) {
        result_set(r, SPAMD_ERROR,
                   have_spam ? "bad Spam header in spamd reply"
                             : "spamd reply without a Spam header");
        r->code = 0;
        return 1;
    }
    *r = tmp;
    r->code = 0;
    r->why = "";
    size_t blen = clen >= 0 && (size_t)clen < avail ? (size_t)clen : avail;
    if (clen >= 0 && avail < (size_t)clen)
        r->truncated = 1;
    if (cmd == SPAMD_SYMBOLS)
        copy_symbols(buf + i, blen, r);
    else if (cmd == SPAMD_REPORT)
        copy_report(buf + i, blen, r);
    return 1;
}

/* ---- the request ---- */

/* produce_request - the request line and headers, then the message. */
static ssize_t produce_request(void *ctx, unsigned char *buf, size_t cap, const char **why)
{
    struct spamd_scan *s = ctx;
    size_t n = 0;
    if (!s->header_sent) {
        int k = snprintf((char *)buf, cap, "%s SPAMC/1.5\r\nContent-length: %llu\r\n%s%s%s\r\n",
                         cmd_names[s->cmd], (unsigned long long)s->size, *s->user ? "User: " : "",
                         s->user, *s->user ? "\r\n" : "");
        if (k < 0 || (size_t)k >= cap) {
            *why = "spamd request too long";
            return -1;
        }
        n = (size_t)k;
        s->header_sent = 1;
    }
    if (s->off < s->size && n < cap) {
        size_t want = cap - n;
        if (want > s->size - s->off)
            want = (size_t)(s->size - s->off);
        ssize_t k = s->reader(s->rctx, s->off, buf + n, want);
        if (k < 0 || (size_t)k > want) {
            *why = "cannot read the message";
            return -1;
        }
        if (k == 0) {
            *why = "message shorter than its size";
            return -1;
        }
        n += (size_t)k;
        s->off += (uint64_t)k;
    }
    return (ssize_t)n;
}

/* reply_complete - the parser can decide without more bytes. */
static int reply_complete(void *ctx, const char *reply, size_t len)
{
    struct spamd_scan *s = ctx;
    return spamd_parse_reply(reply, len, s->cmd, 0, &s->res);
}

static const struct netreq_ops spamd_ops = {produce_request, reply_complete};

struct spamd_scan *spamd_scan_new(void)
{
    struct spamd_scan *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->req = netreq_new(65536, SPAMD_REPLY_MAX);
    if (!s->req) {
        free(s);
        return NULL;
    }
    return s;
}

void spamd_scan_free(struct spamd_scan *s)
{
    if (!s)
        return;
    netreq_free(s->req);
    free(s);
}

/* user_ok - a User: value that cannot break the request. */
static int user_ok(const char *u)
{
    size_t n = strlen(u);
    if (n > SPAMD_USER_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)u[i] <= 0x20 || (unsigned char)u[i] >= 0x7f)
            return 0;
    return 1;
}

void spamd_scan_start(struct spamd_scan *s, const struct spamd *sd, struct waiter *w,
                      enum spamd_cmd cmd, const char *user, netreq_read_fn reader, void *ctx,
                      uint64_t size)
{
    netreq_cancel(s->req);
    s->sd = sd;
    s->cmd = cmd <= SPAMD_REPORT ? cmd : SPAMD_CHECK;
    s->reader = reader;
    s->rctx = ctx;
    s->size = size;
    s->off = 0;
    s->header_sent = 0;
    s->started = s->parsed = 0;
    s->user[0] = '\0';
    result_set(&s->res, SPAMD_PENDING, NULL);
    if (user && !user_ok(user)) {
        result_set(&s->res, SPAMD_ERROR, "bad spamd user name");
        s->parsed = 1;
        return;
    }
    if (user)
        snprintf(s->user, sizeof(s->user), "%s", user);
    if (size > sd->set.max_size) {
        result_set(&s->res, SPAMD_SKIPPED, "over the spamd size limit: not checked");
        s->parsed = 1;
        return;
    }
    s->started = 1;
    netreq_start(s->req, w, &sd->servers, sd->set.connect_ms, sd->set.timeout_ms, &spamd_ops, s);
}

/* settle - once the request is finished, its answer as a result. */
static void settle(struct spamd_scan *s)
{
    if (s->parsed || !s->started)
        return;
    switch (netreq_state(s->req)) {
    case NETREQ_DONE: {
        size_t len;
        const char *reply = netreq_reply(s->req, &len);
        spamd_parse_reply(reply, len, s->cmd, 1, &s->res);
        if (s->res.status != SPAMD_ERROR && !netreq_sent(s->req))
            result_set(&s->res, SPAMD_ERROR, "spamd answered before the end of the message");
        break;
    }
    case NETREQ_FAILED:
        result_set(&s->res, SPAMD_ERROR, netreq_why(s->req));
        break;
    case NETREQ_IDLE:
        result_set(&s->res, SPAMD_ERROR, "check cancelled");
        break;
    default:
        return;
    }
    s->parsed = 1;
}

int spamd_scan_done(const struct spamd_scan *s)
{
    return s->parsed || !s->started || netreq_finished(s->req);
}

const struct spamd_result *spamd_scan_collect(struct spamd_scan *s)
{
    if (!s->parsed && s->started)
        netreq_wait(s->req, 0);
    settle(s);
    if (!s->parsed)
        result_set(&s->res, SPAMD_ERROR, "no check started");
    return &s->res;
}

void spamd_scan_cancel(struct spamd_scan *s)
{
    netreq_cancel(s->req);
    settle(s);
}

const char *spamd_scan_server(const struct spamd_scan *s)
{
    int i = netreq_server(s->req);
    return s->sd && i >= 0 ? spamd_server_name(s->sd, (size_t)i) : "";
}

double spamd_scan_elapsed_ms(const struct spamd_scan *s)
{
    return s->started ? netreq_elapsed_ms(s->req) : 0;
}
