/*
 * mailauth.c - From domains, Authentication-Results and the qmail-dk /
 * qmail-dkim letters (see mailauth.h).  Everything here reads untrusted
 * header text: one bounded pass, no allocation, every copy checked
 * against its buffer, and what we write is always a well-formed header
 * value whatever the input.
 */
#include <string.h>

#include "address.h"
#include "mailauth.h"

/* ------------------------------------------------------------ From */

/* The mailbox being read. */
struct mailbox {
    int any;        /* a token of it was seen */
    int in_angle;   /* inside <...> */
    int angle_done; /* its <...> ended: what follows is ignored */
    int at;         /* an '@' was seen (the domain follows the last one) */
    int dom_bad;    /* the domain has a quoted string, a literal or is too long */
    char dom[MAILAUTH_DOMAIN_MAX + 2];
    size_t dlen;
};

/* dom_add - text of the domain after the last '@'. */
static void dom_add(struct mailbox *mb, const char *p, size_t n)
{
    if (!mb->at || mb->angle_done)
        return;
    if (mb->dlen + n > MAILAUTH_DOMAIN_MAX + 1) {
        mb->dom_bad = 1;
        return;
    }
    memcpy(mb->dom + mb->dlen, p, n);
    mb->dlen += n;
}

/* mailbox_end - count the mailbox and keep its domain. */
static void mailbox_end(struct mailbox *mb, char (*out)[MAILAUTH_DOMAIN_MAX + 1], size_t max,
                        size_t *n, size_t *bad)
{
    if (mb->any) {
        char norm[ADDR_DOMAIN_MAX + 1];
        if (mb->at && !mb->dom_bad && mb->dlen && addr_domain_normalize(mb->dom, mb->dlen, norm) == 0) {
            if (*n < max)
                memcpy(out[*n], norm, strlen(norm) + 1);
        } else {
            if (*n < max)
                out[*n][0] = '\0'; /* its place stays, empty */
            (*bad)++;
        }
        (*n)++;
    }
    memset(mb, 0, sizeof(*mb));
}

/* skip_delimited - from p (at the opening byte) past the closing one,
 * with backslash escapes; comments nest.  Returns where it ended. */
static const char *skip_delimited(const char *p, const char *end, char open, char close)
{
    int depth = 1;
    for (p++; p < end; p++) {
        if (*p == '\\') {
            if (p + 1 < end)
                p++;
        } else if (open == '(' && *p == '(') {
            depth++;
        } else if (*p == close && --depth == 0) {
            return p + 1;
        }
    }
    return end;
}

static int is_special(char c)
{
    return strchr("()<>[]:;@\\,.\"", c) != NULL;
}

size_t mailauth_from_domains(const char *value, size_t len, char (*out)[MAILAUTH_DOMAIN_MAX + 1],
                             size_t max, size_t *bad)
{
    struct mailbox mb;
    size_t n = 0;
    const char *p = value, *end = value + (len < MAILAUTH_INPUT_MAX ? len : MAILAUTH_INPUT_MAX);

    *bad = 0;
    memset(&mb, 0, sizeof(mb));
    while (p < end) {
        char c = *p;
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\0') {
            p++;
        } else if (c == '(') {
            p = skip_delimited(p, end, '(', ')');
        } else if (c == '"' || c == '[') {
            const char *q = skip_delimited(p, end, c, c == '"' ? '"' : ']');
            mb.any = 1;
            if (mb.at && !mb.angle_done)
                mb.dom_bad = 1; /* a quoted string or a literal is no domain name */
            p = q;
        } else if (c == '<') {
            if (!mb.in_angle && !mb.angle_done) { /* what came before was a display name */
                mb.in_angle = 1;
                mb.at = 0;
                mb.dom_bad = 0;
                mb.dlen = 0;
            }
            mb.any = 1;
            p++;
        } else if (c == '>') {
            if (mb.in_angle) {
                mb.in_angle = 0;
                mb.angle_done = 1;
            }
            p++;
        } else if (c == '@') {
            if (!mb.angle_done) {
                mb.at = 1;
                mb.dom_bad = 0;
                mb.dlen = 0;
            }
            mb.any = 1;
            p++;
        } else if (c == ':') {
            /* a group's name ends, or (inside <>) an obsolete route does */
            if (mb.in_angle || !mb.at) {
                int angle = mb.in_angle;
                memset(&mb, 0, sizeof(mb));
                mb.in_angle = angle;
                mb.any = angle;
            } else {
                mb.dom_bad = 1;
            }
            p++;
        } else if (c == ',' || c == ';') {
            if (!mb.in_angle) /* inside <>: a route's list */
                mailbox_end(&mb, out, max, &n, bad);
            p++;
        } else if (c == '.') {
            mb.any = 1;
            dom_add(&mb, p, 1);
            p++;
        } else if (c == '\\' || c == ')' || c == ']') {
            mb.any = 1;
            mb.dom_bad |= mb.at;
            p++;
        } else { /* an atom */
            const char *q = p;
            while (q < end && !is_special(*q) && *q != ' ' && *q != '\t' && *q != '\r' &&
                   *q != '\n' && *q != '\0')
                q++;
            mb.any = 1;
            dom_add(&mb, p, (size_t)(q - p));
            p = q;
        }
    }
    mailbox_end(&mb, out, max, &n, bad);
    return n;
}

/* ------------------------------------------------------------ Authentication-Results */

/* token_char - RFC 2045 token: printable ASCII but space and tspecials. */
static int token_char(unsigned char c)
{
    return c > ' ' && c < 0x7f && !strchr("()<>@,;:\\\"/[]?=", c);
}

int mailauth_authserv_id(const char *value, size_t len, char *out, size_t outlen)
{
    const char *p = value, *end = value + (len < MAILAUTH_INPUT_MAX ? len : MAILAUTH_INPUT_MAX);
    size_t n = 0;

    if (!outlen)
        return -1;
    for (;;) { /* CFWS */
        while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
            p++;
        if (p < end && *p == '(')
            p = skip_delimited(p, end, '(', ')');
        else
            break;
    }
    if (p < end && *p == '"') {
        for (p++; p < end && *p != '"'; p++) {
            if (*p == '\\' && p + 1 < end)
                p++;
            if (n + 1 >= outlen || *p == '\0')
                return -1; /* too long, or a NUL no id can hold */
            out[n++] = *p;
        }
    } else {
        for (; p < end && token_char((unsigned char)*p); p++) {
            if (n + 1 >= outlen)
                return -1;
            out[n++] = *p;
        }
    }
    out[n] = '\0';
    return n ? 0 : -1;
}

/* put - bytes into the value, or mark it full.  0 or -1. */
static int put(struct mailauth_ar *ar, const char *p, size_t n)
{
    if (ar->len + n >= ar->cap)
        return -1;
    memcpy(ar->buf + ar->len, p, n);
    ar->len += n;
    ar->buf[ar->len] = '\0';
    return 0;
}

static int puts_(struct mailauth_ar *ar, const char *s)
{
    return put(ar, s, strlen(s));
}

/* drop - the result being written does not fit: leave it out whole. */
static void drop(struct mailauth_ar *ar)
{
    ar->len = ar->mark;
    ar->buf[ar->len] = '\0';
    ar->truncated = 1;
    ar->open = 0;
    ar->nresults--;
}

void mailauth_ar_begin(struct mailauth_ar *ar, char *buf, size_t cap, const char *authserv_id)
{
    memset(ar, 0, sizeof(*ar));
    ar->buf = buf;
    ar->cap = cap;
    if (cap)
        buf[0] = '\0';
    for (const char *p = authserv_id ? authserv_id : ""; *p && ar->len < 255; p++)
        if (token_char((unsigned char)*p))
            (void)put(ar, p, 1);
    if (!ar->len)
        (void)puts_(ar, "localhost");
    ar->mark = ar->len;
}

void mailauth_ar_result(struct mailauth_ar *ar, const char *method, const char *result,
                        const char *comment)
{
    ar->mark = ar->len;
    ar->open = 1;
    ar->nresults++;
    if (puts_(ar, ";\r\n\t") || puts_(ar, method) || puts_(ar, "=") || puts_(ar, result)) {
        drop(ar);
        return;
    }
    if (!comment || !*comment)
        return;
    if (puts_(ar, " (")) {
        drop(ar);
        return;
    }
    for (const char *p = comment; *p; p++) {
        char c = (unsigned char)*p < ' ' || (unsigned char)*p > '~' ? '?' : *p;
        if (((c == '(' || c == ')' || c == '\\') && put(ar, "\\", 1)) || put(ar, &c, 1)) {
            drop(ar);
            return;
        }
    }
    if (puts_(ar, ")"))
        drop(ar);
}

/* plain_value - a value written bare: a token, or local-part@domain of
 * tokens (RFC 8601 pvalue). */
static int plain_value(const char *v)
{
    const char *at = strchr(v, '@');
    if (!*v || (at && strchr(at + 1, '@')))
        return 0;
    for (const char *p = v; *p; p++)
        if (p != at && !token_char((unsigned char)*p))
            return 0;
    return !at || at[1] != '\0';
}

void mailauth_ar_prop(struct mailauth_ar *ar, const char *prop, const char *value)
{
    if (!ar->open)
        return;
    if (puts_(ar, " ") || puts_(ar, prop) || puts_(ar, "=")) {
        drop(ar);
        return;
    }
    if (plain_value(value)) {
        if (puts_(ar, value))
            drop(ar);
        return;
    }
    if (puts_(ar, "\"")) {
        drop(ar);
        return;
    }
    for (const char *p = value; *p; p++) {
        char c = (unsigned char)*p < ' ' || (unsigned char)*p > '~' ? '?' : *p;
        if (((c == '"' || c == '\\') && put(ar, "\\", 1)) || put(ar, &c, 1)) {
            drop(ar);
            return;
        }
    }
    if (puts_(ar, "\""))
        drop(ar);
}

const char *mailauth_ar_end(struct mailauth_ar *ar)
{
    ar->open = 0;
    if (ar->nresults <= 0)
        (void)puts_(ar, "; none");
    return ar->buf;
}

/* ------------------------------------------------------------ DKIM outcomes and letters */

static const struct {
    const char *result, *reason;
    char dk, dkim;
} outcomes[MA_DKIM_COUNT] = {
    [MA_DKIM_PASS] = {"pass", NULL, 'A', 'A'},
    [MA_DKIM_PARTIAL] = {"policy", "body length tag: part of the body is not signed", 'B', 'E'},
    [MA_DKIM_NONE] = {"none", NULL, 'C', 'S'},
    [MA_DKIM_BADSIG] = {"fail", "signature did not verify", 'B', 'I'},
    [MA_DKIM_BODYHASH] = {"fail", "body hash did not verify", 'B', 'U'},
    [MA_DKIM_TESTING] = {"neutral", "failed, key in testing mode", 'C', 'J'},
    [MA_DKIM_NOKEY] = {"permerror", "no key for signature", 'D', 'Q'},
    [MA_DKIM_BADKEY] = {"permerror", "key unusable", 'E', 'R'},
    [MA_DKIM_KEYALG] = {"permerror", "key does not allow the signature's algorithm", 'E', 'V'},
    [MA_DKIM_DNS] = {"temperror", "key lookup failed", 'F', 'P'},
    [MA_DKIM_SYNTAX] = {"neutral", "signature syntax error", 'G', 'H'},
    [MA_DKIM_RESOURCE] = {"temperror", "out of resources", 'H', 'G'},
    [MA_DKIM_UNSUPPORTED] = {"neutral", "unsupported version, algorithm or canonicalization", 'I',
                             'W'},
    [MA_DKIM_REVOKED] = {"permerror", "key revoked", 'J', 'N'},
    [MA_DKIM_INTERNAL] = {"temperror", "internal error", 'K', 'G'},
    [MA_DKIM_IDENTITY] = {"permerror", "identity outside the signing domain", 'L', 'M'},
    [MA_DKIM_FROM] = {"policy", "From header not signed once", 'M', 'X'},
    [MA_DKIM_EXPIRED] = {"fail", "signature expired", 'B', 'K'},
    [MA_DKIM_NAMELONG] = {"permerror", "key name too long", 'D', 'O'},
};

const char *mailauth_dkim_result(enum mailauth_dkim o)
{
    return (unsigned)o < MA_DKIM_COUNT ? outcomes[o].result : "temperror";
}

const char *mailauth_dkim_reason(enum mailauth_dkim o)
{
    return (unsigned)o < MA_DKIM_COUNT ? outcomes[o].reason : "internal error";
}

char mailauth_dk_letter(enum mailauth_dkim o)
{
    return (unsigned)o < MA_DKIM_COUNT ? outcomes[o].dk : 'K';
}

char mailauth_dkim_letter(enum mailauth_dkim o)
{
    return (unsigned)o < MA_DKIM_COUNT ? outcomes[o].dkim : 'G';
}

enum mailauth_act mailauth_letters_act(const char *set, char letter)
{
    int lower = 0;
    if (!set || letter < 'A' || letter > 'Z')
        return MA_ACT_NONE;
    for (size_t i = 0; set[i] && i < 256; i++) {
        if (set[i] == letter)
            return MA_ACT_PERMANENT;
        if (set[i] == letter - 'A' + 'a')
            lower = 1;
    }
    return lower ? MA_ACT_TEMPORARY : MA_ACT_NONE;
}

int mailauth_letters_ok(const char *set, char last)
{
    size_t i;
    for (i = 0; set[i]; i++) {
        char c = set[i];
        if (!((c >= 'A' && c <= last) || (c >= 'a' && c <= last - 'A' + 'a')) || i >= 64)
            return 0;
    }
    return 1;
}

/* ------------------------------------------------------------ body length */

void mailauth_canon_init(struct mailauth_canon *c, int relaxed)
{
    memset(c, 0, sizeof(*c));
    c->relaxed = relaxed;
}

/* canon_char - one byte of a line that is not its line end. */
static void canon_char(struct mailauth_canon *c, char ch)
{
    if (c->relaxed && (ch == ' ' || ch == '\t')) {
        c->ws = 1; /* a run of blanks is one space, and none at the end */
        return;
    }
    if (c->ws)
        c->line++;
    c->ws = 0;
    c->line++;
}

/* canon_eol - a line ends: empty lines count only when text follows. */
static void canon_eol(struct mailauth_canon *c)
{
    if (c->line) {
        c->total += c->empty * 2 + c->line + 2;
        c->empty = 0;
    } else {
        c->empty++;
    }
    c->line = 0;
    c->ws = 0;
}

void mailauth_canon_feed(struct mailauth_canon *c, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (c->cr) {
            c->cr = 0;
            if (p[i] == '\n') {
                canon_eol(c);
                continue;
            }
            canon_char(c, '\r');
        }
        if (p[i] == '\r')
            c->cr = 1;
        else if (p[i] == '\n')
            canon_eol(c);
        else
            canon_char(c, p[i]);
    }
}

unsigned long long mailauth_canon_end(struct mailauth_canon *c)
{
    if (c->cr)
        canon_char(c, '\r');
    c->cr = 0;
    if (c->line) /* a last line without its line end gets one */
        canon_eol(c);
    if (!c->relaxed && !c->total)
        return 2; /* simple: an empty body is one CRLF */
    return c->total;
}
