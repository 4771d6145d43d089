/*
 * mproto.c - the bytes of policy-queue's milter conversation: the header
 * block split exactly as libpolicy splits a message (so the daemon sees
 * the headers the library would have seen here), the per-client variables
 * packed losslessly into one macro value, and the filter's replies parsed.
 * Input comes from the network (the message) or from the daemon (the
 * replies): nothing is assumed terminated, every read is bounded.
 */
#include <libmilter/mfdef.h>
#include <string.h>

#include "mproto.h"

/* ------------------------------------------------------------ headers */

/* line_end - the end of the line at p (past its LF), or end. */
static size_t line_end(const char *p, size_t len, size_t off)
{
    const char *nl = memchr(p + off, '\n', len - off);
    return nl ? (size_t)(nl - p) + 1 : len;
}

/* blank_line - the line [off, e) is "\n" or "\r\n": 1 or 2 for which. */
static int blank_line(const char *p, size_t off, size_t e)
{
    if (e - off == 1 && p[off] == '\n')
        return 1;
    if (e - off == 2 && p[off] == '\r' && p[off + 1] == '\n')
        return 2;
    return 0;
}

int mp_header_next(const char *p, size_t len, size_t *off, struct mp_header *h, int *crlf)
{
    size_t o = *off;
    if (o >= len) {
        *off = len;
        *crlf = 1;
        return 0;
    }
    size_t e = line_end(p, len, o);
    int b = blank_line(p, o, e);
    if (b) {
        *off = e;
        *crlf = b == 2;
        return 0;
    }
    /* the lines after it that start with a blank are its folds */
    while (e < len && (p[e] == ' ' || p[e] == '\t'))
        e = line_end(p, len, e);
    memset(h, 0, sizeof(*h));
    h->off = o;
    h->len = e - o;
    size_t end = e; /* without the line end(s), as libpolicy trims them */
    while (end > o && (p[end - 1] == '\n' || p[end - 1] == '\r'))
        end--;
    const char *colon = memchr(p + o, ':', end - o);
    if (!colon) {
        h->value_off = o;
        h->value_len = end - o;
    } else {
        size_t n = (size_t)(colon - (p + o));
        while (n && (p[o + n - 1] == ' ' || p[o + n - 1] == '\t'))
            n--;
        h->name_len = n;
        h->value_off = (size_t)(colon - p) + 1;
        h->value_len = end - h->value_off;
        while (h->blank < h->value_len &&
               (p[h->value_off + h->blank] == ' ' || p[h->value_off + h->blank] == '\t'))
            h->blank++;
    }
    *off = e;
    return 1;
}

size_t mp_header_block_end(const char *p, size_t len)
{
    for (size_t o = 0; o < len;) {
        size_t e = line_end(p, len, o);
        if (e == len && p[len - 1] != '\n')
            return 0; /* a line not ended yet */
        if (blank_line(p, o, e))
            return e;
        o = e;
    }
    return 0;
}

/* ------------------------------------------------------------ variables */

/* var_name - the length of entry's name when it is one we pass: upper-case
 * letters, digits and '_', starting with a letter; 0 otherwise. */
static size_t var_name(const char *entry)
{
    size_t n = 0;
    if (!(entry[0] >= 'A' && entry[0] <= 'Z'))
        return 0;
    for (; entry[n] && entry[n] != '='; n++)
        if (!((entry[n] >= 'A' && entry[n] <= 'Z') || (entry[n] >= '0' && entry[n] <= '9') ||
              entry[n] == '_'))
            return 0;
    return entry[n] == '=' ? n : 0;
}

/* put - one entry, escaped; 0, or -1 when out would overflow. */
static int put(const char *entry, char *out, size_t cap, size_t *n)
{
    if (*n && *n + 1 < cap)
        out[(*n)++] = '\n';
    else if (*n)
        return -1;
    for (const char *c = entry; *c; c++) {
        int esc = *c == '\\' || *c == '\n';
        if (*n + 1 + (size_t)esc >= cap)
            return -1;
        if (esc)
            out[(*n)++] = '\\';
        out[(*n)++] = *c == '\n' ? 'n' : *c;
    }
    return 0;
}

long mp_env_pack(char *const *envp, const char *extra, char *out, size_t cap)
{
    size_t n = 0, extra_name = extra ? var_name(extra) : 0;
    int have_extra = 0;
    if (!cap)
        return -1;
    for (size_t i = 0; envp && envp[i]; i++) {
        size_t nl = var_name(envp[i]);
        if (!nl)
            continue;
        if (extra_name == nl && !strncmp(envp[i], extra, nl))
            have_extra = 1;
        if (put(envp[i], out, cap, &n) != 0)
            return -1;
    }
    if (extra_name && !have_extra && put(extra, out, cap, &n) != 0)
        return -1;
    out[n] = '\0';
    return (long)n;
}

size_t mp_env_unpack(char *packed, char **envp, size_t max)
{
    size_t n = 0;
    for (char *p = packed; *p && n < max;) {
        char *w = p;
        envp[n++] = w;
        for (; *p && *p != '\n'; p++) {
            if (*p == '\\' && (p[1] == '\\' || p[1] == 'n'))
                *w++ = *++p == 'n' ? '\n' : '\\';
            else
                *w++ = *p;
        }
        if (*p)
            p++;
        *w = '\0';
    }
    envp[n] = NULL;
    return n;
}

/* ------------------------------------------------------------ replies */

static uint32_t be32(const char *p)
{
    const unsigned char *u = (const unsigned char *)p;
    return (uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 | (uint32_t)u[2] << 8 | u[3];
}

/* two_strings - "name\0value\0" at data[0, len): 0, or -1. */
static int two_strings(const char *data, size_t len, struct mp_reply *r)
{
    const char *z1 = memchr(data, '\0', len);
    if (!z1)
        return -1;
    const char *z2 = memchr(z1 + 1, '\0', len - (size_t)(z1 + 1 - data));
    if (!z2)
        return -1;
    r->name = data;
    r->value = z1 + 1;
    return 0;
}

/* xcode_len - the length of an enhanced status code "c.s.d" at p (up to
 * n bytes), followed by a blank or the end; 0 when there is none. */
static size_t xcode_len(const char *p, size_t n)
{
    size_t i = 0;
    for (int part = 0; part < 3; part++) {
        size_t d = 0;
        while (i < n && p[i] >= '0' && p[i] <= '9' && d < 3)
            i++, d++;
        if (!d || (part == 0 && d != 1))
            return 0;
        if (part < 2) {
            if (i >= n || p[i] != '.')
                return 0;
            i++;
        }
    }
    return i == n || p[i] == ' ' ? i : 0;
}

/* reply_code - "DDD[ -][c.s.d ]text": code, enhanced code and first line. */
static int reply_code(const char *data, size_t len, struct mp_reply *r)
{
    const char *z = memchr(data, '\0', len);
    size_t n = z ? (size_t)(z - data) : len;
    if (n < 3 || (data[0] != '4' && data[0] != '5') || data[1] < '0' || data[1] > '9' ||
        data[2] < '0' || data[2] > '9' || (n > 3 && data[3] != ' ' && data[3] != '-'))
        return -1;
    r->code = (data[0] - '0') * 100 + (data[1] - '0') * 10 + (data[2] - '0');
    size_t i = n > 3 ? 4 : 3;
    size_t x = xcode_len(data + i, n - i);
    if (x && data[i] == data[0]) { /* the class must be the code's */
        memcpy(r->xcode, data + i, x);
        r->xcode[x] = '\0';
        i += x;
        while (i < n && data[i] == ' ')
            i++;
    }
    size_t t = 0;
    for (; i < n && t < MP_TEXT_MAX; i++) {
        char c = data[i];
        if (c == '\r' || c == '\n')
            break; /* a multi-line reply: its first line */
        if (c == '%' && i + 1 < n && data[i + 1] == '%')
            i++;
        r->text[t++] = (c < ' ' || c > '~') ? ' ' : c;
    }
    r->text[t] = '\0';
    return 0;
}

int mp_reply_parse(char cmd, const char *data, size_t len, struct mp_reply *r)
{
    memset(r, 0, sizeof(*r));
    r->cmd = cmd;
    switch (cmd) {
    case SMFIC_OPTNEG:
        if (len < MILTER_OPTLEN)
            return -1;
        r->version = be32(data);
        r->actions = be32(data + 4);
        r->protocol = be32(data + 8);
        return 0; /* macro lists may follow: not for us */
    case SMFIR_REPLYCODE:
        return reply_code(data, len, r);
    case SMFIR_ADDHEADER:
        return two_strings(data, len, r);
    case SMFIR_INSHEADER:
    case SMFIR_CHGHEADER:
        if (len < 4)
            return -1;
        r->index = be32(data);
        return two_strings(data + 4, len - 4, r);
    case SMFIR_CONTINUE:
    case SMFIR_ACCEPT:
    case SMFIR_REJECT:
    case SMFIR_TEMPFAIL:
    case SMFIR_DISCARD:
    case SMFIR_PROGRESS:
    case SMFIR_SKIP:
    case SMFIR_CONN_FAIL:
    case SMFIR_SHUTDOWN:
    /* changes this side never offers to make: the caller refuses them */
    case SMFIR_ADDRCPT:
    case SMFIR_DELRCPT:
    case SMFIR_ADDRCPT_PAR:
    case SMFIR_CHGFROM:
    case SMFIR_REPLBODY:
    case SMFIR_QUARANTINE:
    case SMFIR_SETSYMLIST:
        return 0;
    default:
        return -1;
    }
}
