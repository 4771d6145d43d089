/*
 * spamtok.c - MIME events to spam filter features.  One pass, fixed memory
 * (allocated in spamtok_new): words and word pairs from the text stream,
 * URL hosts from text and from raw HTML, a whitelist of header fields, MIME
 * facts; every feature a 64-bit hash, each counted once per message, at
 * most max_features of them.  Header fields and structure facts have a
 * reserve of their own, so a long text never crowds them out.  libpsl (and
 * libidn2 and libunistring it links) is loaded with the first tokenizer
 * (../dynlib.h): a process that tokenizes nothing never maps them.
 */
#include <libpsl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../dynlib.h"
#include "spamtok.h"

#define PSL_FNS(X) X(psl_builtin) X(psl_latest) X(psl_free) X(psl_registrable_domain)
static struct {
    PSL_FNS(DYNLIB_FN)
} pslf;
#define PSL_SYM(f) DYNLIB_SYM(pslf, f)
static const struct dynlib_sym psl_syms[] = {PSL_FNS(PSL_SYM)};
static struct dynlib psl_lib = DYNLIB_INIT(SONAME_PSL, psl_syms);
#define psl_builtin            (*pslf.psl_builtin)
#define psl_latest             (*pslf.psl_latest)
#define psl_free               (*pslf.psl_free)
#define psl_registrable_domain (*pslf.psl_registrable_domain)

#define WORD_MAX       40   /* longer words become a "skip" shape */
#define LINE_MAX_      1024 /* footer detection reads lines up to this */
#define HOLD_MAX       2048 /* a possible footer block held back */
#define HOLD_LINES     12
#define HOST_MAX       255
#define SUBJ_MAX       1024
#define HDR_MAX        512
#define RESERVE        256 /* features kept for headers, URLs and facts */
#define WIN_MAX        8
#define PSL_CACHE      256 /* hosts whose registrable domain is remembered */
#define PSL_CACHE_HOST 64  /* up to this length */

/* namespaces: the seed of each feature family's hashes */
enum ns { NS_BODY, NS_SUBJ, NS_FROMNAME, NS_MAILER, NS_ORG, NS_FACT, NS_COUNT };
static const char *const ns_name[NS_COUNT] = {"b", "s", "fn", "xm", "org", "f"};

/* A stream of words: one for the body text, one for the subject, ... */
struct wstream {
    enum ns ns;
    int pairs; /* make OSB/bigram features */
    unsigned char w[WORD_MAX + 4];
    size_t wlen, wtotal;
    int has_at;
    unsigned char u8[4]; /* a UTF-8 sequence split between calls */
    size_t u8len;
    uint64_t ring[WIN_MAX];           /* hashes of the last words, newest at rpos-1 */
    char rstr[WIN_MAX][WORD_MAX + 8]; /* their text, for debug only */
    unsigned nring, rpos;
};

/* The URL and tag scanner over a byte stream (raw HTML or text). */
struct uscan {
    uint64_t hist; /* the last 8 bytes, lower case, newest lowest */
    int state;     /* US_NONE, US_HOST, US_TAG */
    int mailto;
    char scheme[8];
    char host[HOST_MAX + 1];
    size_t hlen;
    char tag[12];
    size_t taglen;
    int stopped; /* a list footer began (list mail, raw HTML) */
};
enum { US_NONE, US_HOST, US_TAG };

struct spamtok {
    struct spamtok_opts o;
    uint64_t seed[NS_COUNT];
    psl_ctx_t *psl_own; /* loaded here (no built-in list) */
    const psl_ctx_t *psl;
    /* the feature set: message features (headers, URLs, structure) and
     * text features apart, joined in feat at spamtok_end */
    uint64_t *feat, *mfeat, *tfeat;
    size_t nfeat, nmsg, ntext, dropped;
    uint64_t *set;
    uint32_t *used; /* the set's slots in use, to clear them for the next message */
    size_t setcap;
    /* registrable domains of recent hosts: offset into the host, or 255 */
    struct psl_cache {
        uint64_t h;
        unsigned char len, off;
        char host[PSL_CACHE_HOST];
    } pslc[PSL_CACHE];
    /* per message */
    int listmail;
    char subject[SUBJ_MAX];
    size_t subjlen;
    int subj_seen;
    char from[HDR_MAX], replyto[HDR_MAX];
    int have_to;
    unsigned rcpts;
    int undisclosed;
    int nplain, nhtml, nparts, nattach;
    unsigned nurls;
    uint64_t textbytes;
    /* the current text part */
    int in_text, in_html;
    unsigned text_index; /* the text part being read */
    struct wstream body;
    struct uscan us;
    /* footer detection (list mail) */
    char line[LINE_MAX_];
    size_t linelen;
    int line_long;
    char hold[HOLD_MAX];
    size_t holdlen;
    unsigned holdlines;
    int holding, dropping;
    char dbg[256];
};

/* ---- hashing and the feature set ---- */

static uint64_t rotl64(uint64_t x, int r)
{
    return (x << r) | (x >> (64 - r));
}

static uint64_t fmix64(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ULL;
    k ^= k >> 33;
    return k;
}

uint64_t spamtok_hash(const void *data, size_t len, uint64_t seed)
{
    const unsigned char *p = data;
    uint64_t h = seed ^ 0x9e3779b97f4a7c15ULL, v;
    size_t n = len;
    while (n >= 8) {
        memcpy(&v, p, 8);
        h ^= v * 0x87c37b91114253d5ULL;
        h = rotl64(h, 31) * 0x4cf5ad432745937fULL;
        p += 8;
        n -= 8;
    }
    v = 0;
    for (size_t i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    h ^= v * 0x87c37b91114253d5ULL;
    h = rotl64(h, 31) * 0x4cf5ad432745937fULL;
    h = fmix64(h ^ len);
    return h ? h : 1;
}

/* pair_hash - the feature of word a followed at distance d by word b. */
static uint64_t pair_hash(uint64_t a, uint64_t b, unsigned d)
{
    uint64_t h = fmix64(a * 0x9e3779b97f4a7c15ULL + rotl64(b, 23) + d * 0x632be59bd9b4e019ULL);
    h = (a & 0xffffffff00000000ULL) | (h & 0xffffffffULL);
    return h ? h : 1;
}

/* feat_add - count feature h once; msg: a message feature (header, URL,
 * structure), which may use the last RESERVE places; else a text feature. */
static void feat_add(struct spamtok *t, uint64_t h, int msg)
{
    size_t lim = t->o.max_features - (msg ? 0 : RESERVE);
    size_t j = (size_t)h & (t->setcap - 1);
    while (t->set[j]) {
        if (t->set[j] == h)
            return;
        j = (j + 1) & (t->setcap - 1);
    }
    if (t->nfeat >= lim) {
        t->dropped++;
        return;
    }
    t->set[j] = h;
    t->used[t->nfeat] = (uint32_t)j;
    t->nfeat++;
    if (msg)
        t->mfeat[t->nmsg++] = h;
    else
        t->tfeat[t->ntext++] = h;
}

/* debug - the feature's text, for the debug callback. */
static void debug(struct spamtok *t, uint64_t h, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void debug(struct spamtok *t, uint64_t h, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->dbg, sizeof(t->dbg), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof(t->dbg))
        n = sizeof(t->dbg) - 1;
    t->o.debug(t->o.debug_ctx, t->dbg, (size_t)n, h);
}

/* fact - a named feature in the fact namespace: "what:value". */
static void fact(struct spamtok *t, const char *what, const char *val, size_t vlen)
{
    char b[HDR_MAX];
    size_t wl = strlen(what);
    if (wl + 1 + vlen > sizeof(b))
        vlen = sizeof(b) - wl - 1;
    memcpy(b, what, wl);
    b[wl] = ':';
    memcpy(b + wl + 1, val, vlen);
    uint64_t h = spamtok_hash(b, wl + 1 + vlen, t->seed[NS_FACT]);
    if (t->o.debug)
        debug(t, h, "%.*s", (int)(wl + 1 + vlen), b);
    feat_add(t, h, 1);
}

static void fact_s(struct spamtok *t, const char *what, const char *val)
{
    fact(t, what, val, strlen(val));
}

/* bucket - a count as a coarse class: 0 1 2 3-4 5-8 9-16 ... */
static const char *bucket(uint64_t n, char *b, size_t size)
{
    if (n <= 2) {
        snprintf(b, size, "%u", (unsigned)n);
    } else {
        uint64_t lo = 3, hi = 4;
        while (n > hi)
            lo = hi + 1, hi *= 2;
        snprintf(b, size, "%llu-%llu", (unsigned long long)lo, (unsigned long long)hi);
    }
    return b;
}

/* ---- characters ---- */

enum { C_SEP, C_WORD, C_JOIN, C_AT };
/* ASCII classes, as digits: letters, digits, '$' and '%' are word
 * characters; ' . - _ join inside a word; '@' makes it an address. */
static const char ctab_s[129] = "00000000000000000000000000000000"
                                "00001102000002201111111111000000"
                                "31111111111111111111111111100002"
                                "01111111111111111111111111100000";
#define ctab(c) (ctab_s[(c)] - '0')

/* u8_decode - the code point of a complete, valid sequence of l bytes. */
static unsigned u8_decode(const unsigned char *p, int l)
{
    if (l == 2)
        return ((p[0] & 0x1fu) << 6) | (p[1] & 0x3fu);
    if (l == 3)
        return ((p[0] & 0x0fu) << 12) | ((p[1] & 0x3fu) << 6) | (p[2] & 0x3fu);
    return ((p[0] & 0x07u) << 18) | ((p[1] & 0x3fu) << 12) | ((p[2] & 0x3fu) << 6) | (p[3] & 0x3fu);
}

static size_t u8_encode(unsigned c, unsigned char *b)
{
    if (c < 0x80) {
        b[0] = (unsigned char)c;
        return 1;
    }
    if (c < 0x800) {
        b[0] = (unsigned char)(0xc0 | (c >> 6));
        b[1] = (unsigned char)(0x80 | (c & 0x3f));
        return 2;
    }
    if (c < 0x10000) {
        b[0] = (unsigned char)(0xe0 | (c >> 12));
        b[1] = (unsigned char)(0x80 | ((c >> 6) & 0x3f));
        b[2] = (unsigned char)(0x80 | (c & 0x3f));
        return 3;
    }
    b[0] = (unsigned char)(0xf0 | (c >> 18));
    b[1] = (unsigned char)(0x80 | ((c >> 12) & 0x3f));
    b[2] = (unsigned char)(0x80 | ((c >> 6) & 0x3f));
    b[3] = (unsigned char)(0x80 | (c & 0x3f));
    return 4;
}

/* lower_cp - lower case for the scripts spam is written in (Latin,
 * Greek, Cyrillic); fullwidth ASCII to ASCII. */
static unsigned lower_cp(unsigned c)
{
    if ((c >= 0xc0 && c <= 0xde && c != 0xd7) || (c >= 0x391 && c <= 0x3ab) ||
        (c >= 0x410 && c <= 0x42f))
        return c + 32;
    if (c >= 0x100 && c <= 0x17f && c != 0x130 && c != 0x131 && c != 0x138 && c != 0x149 &&
        c != 0x17f) {
        /* Latin Extended-A pairs: even upper, odd lower, except 0x139-0x148
         * and 0x179-0x17e where the pairs are odd/even */
        if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17e))
            return (c & 1) ? c + 1 : c;
        return c | 1;
    }
    if (c >= 0x400 && c <= 0x40f)
        return c + 80;
    if (c == 0x178)
        return 0xff;
    if (c >= 0xff10 && c <= 0xff19)
        return c - 0xff10 + '0';
    if (c >= 0xff21 && c <= 0xff3a)
        return c - 0xff21 + 'a';
    if (c >= 0xff41 && c <= 0xff5a)
        return c - 0xff41 + 'a';
    return c;
}

/* cp_class - C_SEP for punctuation and symbols, 2 for a script written
 * without spaces (each character a word), C_WORD otherwise. */
static int cp_class(unsigned c)
{
    if (c < 0xc0)
        return c == 0xaa || c == 0xb5 || c == 0xba ? C_WORD : C_SEP;
    if (c == 0xd7 || c == 0xf7)
        return C_SEP;
    if (c == 0x20ac || c == 0xa3)
        return C_WORD; /* euro, pound: like '$' */
    if ((c >= 0x2000 && c <= 0x2bff) || (c >= 0x3000 && c <= 0x303f) ||
        (c >= 0xfe30 && c <= 0xfe4f) || (c >= 0xff00 && c <= 0xff0f) ||
        (c >= 0xff1a && c <= 0xff20) || (c >= 0xff3b && c <= 0xff40) ||
        (c >= 0xff5b && c <= 0xff65) || c >= 0xfff0 || (c >= 0x1f000 && c <= 0x1faff) ||
        (c >= 0xe000 && c <= 0xf8ff))
        return C_SEP;
    if ((c >= 0x0e00 && c <= 0x0e7f) || (c >= 0x3040 && c <= 0x30ff) ||
        (c >= 0x3400 && c <= 0x4dbf) || (c >= 0x4e00 && c <= 0x9fff) ||
        (c >= 0xac00 && c <= 0xd7af) || (c >= 0xf900 && c <= 0xfaff) ||
        (c >= 0xff66 && c <= 0xff9f) || (c >= 0x20000 && c <= 0x2ffff))
        return 2;
    return C_WORD;
}

/* u8_len - length of the sequence a lead byte starts (0: not a lead). */
static int u8_len(unsigned char c)
{
    if (c >= 0xc2 && c <= 0xdf)
        return 2;
    if (c >= 0xe0 && c <= 0xef)
        return 3;
    if (c >= 0xf0 && c <= 0xf4)
        return 4;
    return 0;
}

/* ---- registrable domains, host names ---- */

/* regdom_psl - the registrable domain of a lower-case host ("example.co.uk"
 * for "www.example.co.uk"); the host itself when it has none. */
static const char *regdom_psl(const struct spamtok *t, const char *host)
{
    const char *r = t->psl ? psl_registrable_domain(t->psl, host) : NULL;
    if (r)
        return r;
    if (!t->psl) { /* no list: the last two labels */
        const char *last = strrchr(host, '.');
        if (last) {
            const char *p = last;
            while (p > host && p[-1] != '.')
                p--;
            return p > host ? p : host;
        }
    }
    return host;
}

/* regdom - regdom_psl, through a small cache: a message names the same
 * hosts again and again, and the list lookup is the dearest step. */
static const char *regdom(struct spamtok *t, const char *host)
{
    size_t n = strlen(host);
    if (n >= PSL_CACHE_HOST)
        return regdom_psl(t, host);
    uint64_t h = spamtok_hash(host, n, 0);
    struct psl_cache *e = &t->pslc[h % PSL_CACHE];
    if (e->h != h || e->len != n || memcmp(e->host, host, n) != 0) {
        e->h = h;
        e->len = (unsigned char)n;
        memcpy(e->host, host, n + 1);
        e->off = (unsigned char)(regdom_psl(t, e->host) - e->host);
    }
    return host + e->off;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 32;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* host_norm - a raw host as found (escapes, user@, :port) to a lower-case
 * name in out (HOST_MAX+1); what it met goes to *fl: 1 escaped, 2 user@,
 * 4 port.  0 when nothing usable is left. */
static size_t host_norm(const char *raw, size_t n, char *out, unsigned *fl)
{
    char b[HOST_MAX + 1];
    size_t k = 0;
    for (size_t i = 0; i < n && k < HOST_MAX; i++) {
        int c = (unsigned char)raw[i];
        if (c == '%' && i + 2 < n && hexval(raw[i + 1]) >= 0 && hexval(raw[i + 2]) >= 0) {
            c = hexval(raw[i + 1]) * 16 + hexval(raw[i + 2]);
            i += 2;
            *fl |= 1;
        } else if (c == '&' && i + 1 < n && raw[i + 1] == '#') {
            size_t j = i + 2;
            int hex = j < n && (raw[j] | 32) == 'x';
            unsigned v = 0;
            j += (size_t)hex;
            size_t d0 = j;
            while (j < n && v < 0x110000 &&
                   (hex ? hexval(raw[j]) >= 0 : raw[j] >= '0' && raw[j] <= '9'))
                v = v * (hex ? 16u : 10u) + (unsigned)hexval(raw[j]), j++;
            if (j == d0)
                break;
            if (j < n && raw[j] == ';')
                j++;
            c = v < 128 ? (int)v : '?';
            i = j - 1;
            *fl |= 1;
        } else if (c == '&') {
            break; /* a query string glued to the host */
        }
        b[k++] = (char)c;
    }
    /* user@host: the host is after the last '@' */
    size_t s = 0;
    for (size_t i = 0; i < k; i++)
        if (b[i] == '@')
            s = i + 1, *fl |= 2;
    size_t m = 0;
    for (size_t i = s; i < k; i++) {
        unsigned char c = (unsigned char)b[i];
        if (c == ':') {
            if (i + 1 < k && b[i + 1] >= '0' && b[i + 1] <= '9')
                *fl |= 4;
            break;
        }
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-' || c == '_'))
            break;
        out[m++] = (char)((c >= 'A' && c <= 'Z') ? c + 32 : c);
    }
    while (m && out[m - 1] == '.')
        m--;
    size_t lead = 0;
    while (lead < m && out[lead] == '.')
        lead++;
    memmove(out, out + lead, m - lead);
    m -= lead;
    out[m] = '\0';
    return m;
}

/* url_host - a URL's host was found: its name, domain and facts. */
static void url_host(struct spamtok *t, const char *scheme, const char *raw, size_t n, int mailto)
{
    char h[HOST_MAX + 1];
    unsigned fl = 0;
    size_t m = host_norm(raw, n, h, &fl);
    if (!m)
        return;
    int dots = 0, digits = 1;
    for (size_t i = 0; i < m; i++) {
        dots += h[i] == '.';
        if (!(h[i] == '.' || (h[i] >= '0' && h[i] <= '9')))
            digits = 0;
    }
    if (!dots && !digits)
        return; /* "http://localhost", a word after www. */
    t->nurls++;
    if (mailto) {
        fact_s(t, "ue", h);
        fact_s(t, "ued", regdom(t, h));
        return;
    }
    if (*scheme)
        fact_s(t, "us", scheme);
    if (fl & 1)
        fact_s(t, "uf", "escaped");
    if (fl & 2)
        fact_s(t, "uf", "userinfo");
    if (fl & 4)
        fact_s(t, "uf", "port");
    if (digits) {
        fact_s(t, "uf", dots == 3 ? "ip" : "numeric");
        fact_s(t, "uh", h);
        return;
    }
    const char *host = h;
    if (!strncmp(host, "www.", 4) && host[4])
        host += 4;
    fact_s(t, "uh", host);
    fact_s(t, "ud", regdom(t, h));
}

/* ---- the URL scanner ---- */

#define H2(a, b)      (((uint64_t)(a) << 8) | (uint64_t)(b))
#define H3(a, b, c)   ((H2(a, b) << 8) | (uint64_t)(c))
#define LOW(x, bytes) ((x) & ((bytes) >= 8 ? ~0ULL : ((1ULL << (8 * (bytes))) - 1)))

static uint64_t word8(const char *s)
{
    uint64_t v = 0;
    for (; *s; s++)
        v = (v << 8) | (unsigned char)*s;
    return v;
}

static int host_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-' || c == '_' || c == '%' || c == '@' || c == '&' || c == '#' || c == ';' ||
           c == ':';
}

/* us_host_end - the host being collected is complete. */
static void us_host_end(struct spamtok *t, struct uscan *u)
{
    url_host(t, u->scheme, u->host, u->hlen, u->mailto);
    u->state = US_NONE;
    u->hlen = 0;
}

/* us_scheme - the letters before "://" (prev holds "xxxx:/", the bytes
 * before the second slash). */
static void us_scheme(struct uscan *u, uint64_t prev)
{
    uint64_t h = prev >> 16; /* drop ":/" */
    char s[8];
    int n = 0;
    while (n < 6 && (h & 0xff) >= 'a' && (h & 0xff) <= 'z') {
        s[n++] = (char)(h & 0xff);
        h >>= 8;
    }
    for (int i = 0; i < n; i++)
        u->scheme[i] = s[n - 1 - i];
    u->scheme[n] = '\0';
}

/* us_feed - scan bytes for URLs ("scheme://host", "www.host",
 * "mailto:addr") and, in HTML, tag names. */
static void us_feed(struct spamtok *t, struct uscan *u, const unsigned char *p, size_t n, int html)
{
    const unsigned char *end = p + n;
    while (p < end) {
        unsigned char c = *p;
        if (u->state == US_HOST) {
            if (host_byte(c) && u->hlen < HOST_MAX) {
                u->host[u->hlen++] = (char)c;
                u->hist = (u->hist << 8) | (unsigned char)(c | ((c >= 'A' && c <= 'Z') ? 32 : 0));
                p++;
                continue;
            }
            us_host_end(t, u);
        } else if (u->state == US_TAG) {
            if (((c | 32) >= 'a' && (c | 32) <= 'z') || (u->taglen && c >= '0' && c <= '9')) {
                if (u->taglen < sizeof(u->tag) - 1)
                    u->tag[u->taglen++] = (char)(c | 32);
                u->hist = (u->hist << 8) | (unsigned char)(c | 32);
                p++;
                continue;
            }
            if (u->taglen)
                fact(t, "tag", u->tag, u->taglen);
            u->state = US_NONE;
        }
        if (u->state == US_NONE && !u->stopped) {
            /* fast skip to a byte that can matter */
            const unsigned char *q = p;
            int marks = t->listmail && html;
            while (q < end && *q != ':' && *q != '/' && *q != '.' && *q != '<' &&
                   !(marks && (*q == 'o' || *q == 'r' || *q == 's')))
                q++;
            if (q > p) {
                /* keep the last bytes skipped in the history */
                const unsigned char *r = q - (q - p > 8 ? 8 : q - p);
                for (; r < q; r++)
                    u->hist =
                        (u->hist << 8) | (unsigned char)(*r | ((*r >= 'A' && *r <= 'Z') ? 32 : 0));
                p = q;
                if (p == end)
                    return;
            }
            c = *p;
        }
        unsigned char lc = (unsigned char)(c | ((c >= 'A' && c <= 'Z') ? 32 : 0));
        uint64_t prev = u->hist;
        u->hist = (u->hist << 8) | lc;
        p++;
        if (u->stopped)
            continue;
        if (c == '/' && LOW(prev, 2) == H2(':', '/')) {
            us_scheme(u, prev);
            u->mailto = 0;
            u->state = US_HOST;
            u->hlen = 0;
        } else if (c == '.' && LOW(prev, 3) == H3('w', 'w', 'w') &&
                   !host_byte((unsigned char)((prev >> 24) & 0xff))) {
            memcpy(u->host, "www.", 4);
            u->hlen = 4;
            u->scheme[0] = '\0';
            u->mailto = 0;
            u->state = US_HOST;
        } else if (c == ':' && LOW(prev, 6) == word8("mailto")) {
            u->mailto = 1;
            u->scheme[0] = '\0';
            u->hlen = 0;
            u->state = US_HOST;
        } else if (c == '<' && html) {
            u->taglen = 0;
            u->state = US_TAG;
        } else if (t->listmail && html &&
                   (LOW(u->hist, 8) == word8("listinfo") || LOW(u->hist, 7) == word8("sponsor") ||
                    LOW(u->hist, 7) == word8("egroups"))) {
            u->stopped = 1; /* a list footer: its links are the list's */
        }
    }
}

static void us_finish(struct spamtok *t, struct uscan *u)
{
    if (u->state == US_HOST)
        us_host_end(t, u);
    else if (u->state == US_TAG && u->taglen)
        fact(t, "tag", u->tag, u->taglen);
    memset(u, 0, sizeof(*u));
}

/* ---- words ---- */

static void ws_reset(struct wstream *w, enum ns ns, int pairs)
{
    w->ns = ns;
    w->pairs = pairs;
    w->wlen = w->wtotal = 0;
    w->has_at = 0;
    w->u8len = 0;
    w->nring = w->rpos = 0;
}

/* email_word - "user@host" in text: the host and its domain. */
static void email_word(struct spamtok *t, const unsigned char *w, size_t n)
{
    const unsigned char *at = NULL;
    for (size_t i = 0; i < n; i++)
        if (w[i] == '@')
            at = w + i;
    if (!at || at + 1 == w + n)
        return;
    char h[HOST_MAX + 1];
    unsigned fl = 0;
    size_t m = host_norm((const char *)at + 1, (size_t)(w + n - at - 1), h, &fl);
    if (!m || !strchr(h, '.'))
        return;
    fact_s(t, "eh", h);
    fact_s(t, "ed", regdom(t, h));
}

/* word_done - the word in w is complete: its feature and its pairs with
 * the words before it. */
static void word_done(struct spamtok *t, struct wstream *w)
{
    size_t n = w->wlen;
    while (n && (w->w[n - 1] == '.' || w->w[n - 1] == '-' || w->w[n - 1] == '_' ||
                 w->w[n - 1] == '\'' || w->w[n - 1] == '@'))
        n--;
    size_t total = w->wtotal - (w->wlen - n);
    int has_at = w->has_at;
    w->wlen = w->wtotal = 0;
    w->has_at = 0;
    if (n == 0 || (n == 1 && w->w[0] < 0x80))
        return;
    if (has_at && total <= WORD_MAX && (t->o.features & SPAMTOK_URLS)) {
        email_word(t, w->w, n);
        return;
    }
    uint64_t h;
    char skip[16];
    const char *txt = (const char *)w->w;
    size_t tl = n;
    if (total > WORD_MAX) {
        tl = (size_t)snprintf(skip, sizeof(skip), "skip:%c:%zu", w->w[0] < 0x80 ? w->w[0] : '8',
                              total / 10 * 10);
        txt = skip;
    }
    h = spamtok_hash(txt, tl, t->seed[w->ns]);
    if (t->o.features & SPAMTOK_WORDS) {
        if (t->o.debug)
            debug(t, h, "%s:%.*s", ns_name[w->ns], (int)tl, txt);
        feat_add(t, h, w->ns != NS_BODY);
    }
    unsigned win = (t->o.features & SPAMTOK_OSB) ? t->o.window : 2;
    if (w->pairs && (t->o.features & (SPAMTOK_OSB | SPAMTOK_BIGRAMS))) {
        for (unsigned d = 1; d < win && d <= w->nring; d++) {
            unsigned k = (w->rpos + WIN_MAX - d) % WIN_MAX;
            uint64_t ph = pair_hash(w->ring[k], h, d);
            if (t->o.debug)
                debug(t, ph, "%s:%s %u %.*s", ns_name[w->ns], w->rstr[k], d, (int)tl, txt);
            feat_add(t, ph, w->ns != NS_BODY);
        }
    }
    w->ring[w->rpos] = h;
    if (t->o.debug) {
        memcpy(w->rstr[w->rpos], txt, tl);
        w->rstr[w->rpos][tl] = '\0';
    }
    w->rpos = (w->rpos + 1) % WIN_MAX;
    if (w->nring < WIN_MAX)
        w->nring++;
}

static void word_put(struct wstream *w, const unsigned char *s, size_t k)
{
    if (w->wlen + k <= WORD_MAX) {
        memcpy(w->w + w->wlen, s, k);
        w->wlen += k;
    }
    w->wtotal += k;
}

/* word_cp - one non-ASCII character (a complete sequence). */
static void word_cp(struct spamtok *t, struct wstream *w, const unsigned char *s, int l)
{
    unsigned cp = u8_decode(s, l);
    int cls = cp_class(cp);
    if (cls == C_SEP) {
        word_done(t, w);
        return;
    }
    unsigned char b[4];
    size_t k = u8_encode(lower_cp(cp), b);
    if (cls == 2) { /* a word of its own */
        word_done(t, w);
        word_put(w, b, k);
        word_done(t, w);
        return;
    }
    word_put(w, b, k);
}

/* words_feed - UTF-8 text into words. */
static void words_feed(struct spamtok *t, struct wstream *w, const unsigned char *p, size_t n)
{
    const unsigned char *end = p + n;
    while (w->u8len && p < end) { /* a sequence begun in the last call */
        w->u8[w->u8len++] = *p++;
        int need = u8_len(w->u8[0]);
        if ((size_t)need == w->u8len) {
            word_cp(t, w, w->u8, need);
            w->u8len = 0;
        } else if (need == 0 || (*(p - 1) & 0xc0) != 0x80) {
            w->u8len = 0; /* invalid: a separator */
            word_done(t, w);
        }
    }
    while (p < end) {
        if (t->nfeat + RESERVE >= t->o.max_features && w->ns == NS_BODY) {
            t->dropped++;
            return; /* full: the rest of the text cannot add anything */
        }
        unsigned char c = *p;
        if (c < 0x80) {
            switch (ctab(c)) {
            case C_WORD:
                if (w->wlen < WORD_MAX) {
                    w->w[w->wlen++] = (unsigned char)((c >= 'A' && c <= 'Z') ? c + 32 : c);
                }
                w->wtotal++;
                break;
            case C_JOIN:
                if (w->wtotal)
                    word_put(w, &c, 1);
                break;
            case C_AT:
                if (w->wtotal)
                    word_put(w, &c, 1), w->has_at = 1;
                break;
            default:
                if (w->wtotal)
                    word_done(t, w);
            }
            p++;
            continue;
        }
        int l = u8_len(c);
        if (l == 0) {
            word_done(t, w);
            p++;
            continue;
        }
        if (p + l > end) {
            memcpy(w->u8, p, (size_t)(end - p));
            w->u8len = (size_t)(end - p);
            return;
        }
        int ok = 1;
        for (int i = 1; i < l; i++)
            ok &= (p[i] & 0xc0) == 0x80;
        if (ok)
            word_cp(t, w, p, l);
        else
            word_done(t, w);
        p += ok ? l : 1;
    }
}

static void words_end(struct spamtok *t, struct wstream *w)
{
    w->u8len = 0;
    word_done(t, w);
}

/* words_str - a whole string as words of stream ns (no pairs unless
 * asked). */
static void words_str(struct spamtok *t, enum ns ns, int pairs, const char *s, size_t n)
{
    struct wstream w;
    ws_reset(&w, ns, pairs);
    words_feed(t, &w, (const unsigned char *)s, n);
    words_end(t, &w);
}

/* ---- text, with list footers held back and dropped ---- */

/* text_out - text that is kept: words, and URLs of plain text. */
static void text_out(struct spamtok *t, const char *s, size_t n)
{
    t->textbytes += n;
    words_feed(t, &t->body, (const unsigned char *)s, n);
    if (!t->in_html && (t->o.features & SPAMTOK_URLS))
        us_feed(t, &t->us, (const unsigned char *)s, n, 0);
}

static int has_ci(const char *s, size_t n, const char *pat)
{
    size_t m = strlen(pat);
    for (size_t i = 0; i + m <= n; i++)
        if (!strncasecmp(s + i, pat, m))
            return 1;
    return 0;
}

/* footer_marker - 2: a line only a list writes; 1: a line a list footer
 * has, after a separator; 0: neither. */
static int footer_marker(const char *s, size_t n)
{
    static const char *const strong[] = {"listinfo",
                                         "(un)subscription",
                                         "yahoo! groups",
                                         "yahoogroups.com",
                                         "egroups.com",
                                         "sponsored by",
                                         "unsubscribe from this group",
                                         "list maintainer",
                                         0};
    static const char *const weak[] = {
        "mailing list", "unsubscribe", "subscription", "sf.net", "sourceforge", "mailman", 0};
    char low[LINE_MAX_ + 1];
    if (n > LINE_MAX_)
        n = LINE_MAX_;
    for (size_t i = 0; i < n; i++)
        low[i] = (char)((s[i] >= 'A' && s[i] <= 'Z') ? s[i] + 32 : (s[i] ? s[i] : ' '));
    low[n] = '\0';
    for (const char *const *m = strong; *m; m++)
        if (strstr(low, *m))
            return 2;
    for (const char *const *m = weak; *m; m++)
        if (strstr(low, *m))
            return 1;
    return 0;
}

/* separator - a line that may open a footer: "-- ", a rule of '-', '_',
 * '=' or '~' (text may follow it, as in Yahoo's "---- Yahoo! Groups ..."). */
static int separator(const char *s, size_t n)
{
    if ((n == 2 && !memcmp(s, "--", 2)) || (n == 3 && !memcmp(s, "-- ", 3)))
        return 1;
    size_t k = 0;
    while (k < n && (s[k] == '-' || s[k] == '_' || s[k] == '=' || s[k] == '~'))
        k++;
    return k >= 8;
}

static void hold_release(struct spamtok *t)
{
    if (t->holdlen)
        text_out(t, t->hold, t->holdlen);
    t->holdlen = 0;
    t->holdlines = 0;
    t->holding = 0;
}

/* line_done - one line of list mail text (with its '\n' when it had one). */
static void line_done(struct spamtok *t, const char *s, size_t n)
{
    if (t->dropping)
        return;
    const char *q = s;
    size_t qn = n;
    while (qn && (*q == '>' || *q == ' ' || *q == '\t' || *q == '|'))
        q++, qn--;
    while (qn && (q[qn - 1] == '\n' || q[qn - 1] == '\r'))
        qn--;
    int sep = separator(q, qn);
    /* outside a footer block only a list's own link page marks a line */
    int mark = t->holding || sep ? footer_marker(q, qn) : memmem(q, qn, "listinfo", 8) ? 2 : 0;
    if (mark && (t->holding || sep)) {
        t->holdlen = 0;
        t->holding = 0;
        t->dropping = 1; /* the list footer runs to the end of the part */
        return;
    }
    if (mark == 2)
        return; /* a lone list line */
    if (sep) {
        hold_release(t);
        t->holding = 1;
    }
    if (t->holding) {
        if (t->holdlen + n > HOLD_MAX || t->holdlines >= HOLD_LINES) {
            hold_release(t);
            text_out(t, s, n);
            return;
        }
        memcpy(t->hold + t->holdlen, s, n);
        t->holdlen += n;
        t->holdlines++;
        return;
    }
    text_out(t, s, n);
}

/* text_feed - text of the current part: straight to words, or line by
 * line for list mail. */
static void text_feed(struct spamtok *t, const char *s, size_t n)
{
    if (!t->listmail || !(t->o.features & SPAMTOK_NOLISTS)) {
        text_out(t, s, n);
        return;
    }
    while (n) {
        const char *nl = memchr(s, '\n', n);
        size_t k = nl ? (size_t)(nl - s) + 1 : n;
        if (t->linelen + k > sizeof(t->line)) {
            /* an over-long line is never a footer line */
            if (!t->dropping) {
                if (t->holding)
                    hold_release(t);
                text_out(t, t->line, t->linelen);
                text_out(t, s, k);
            }
            t->linelen = 0;
            t->line_long = !nl;
        } else if (t->line_long) {
            if (!t->dropping)
                text_out(t, s, k);
            t->line_long = !nl;
        } else {
            memcpy(t->line + t->linelen, s, k);
            t->linelen += k;
            if (nl) {
                line_done(t, t->line, t->linelen);
                t->linelen = 0;
            }
        }
        s += k;
        n -= k;
    }
}

static void text_end(struct spamtok *t)
{
    if (t->linelen && !t->line_long)
        line_done(t, t->line, t->linelen);
    t->linelen = 0;
    t->line_long = 0;
    if (t->holding)
        hold_release(t);
    t->dropping = 0;
    words_end(t, &t->body);
    us_finish(t, &t->us);
}

/* ---- headers ---- */

static int name_is(const struct mime_header *h, const char *name)
{
    return h->name_len == strlen(name) && !strncasecmp(h->name, name, h->name_len);
}

/* copy_value - a header value into a bounded buffer. */
static void copy_value(char *dst, size_t size, const struct mime_header *h)
{
    size_t n = h->value_len < size - 1 ? h->value_len : size - 1;
    memcpy(dst, h->value, n);
    dst[n] = '\0';
}

/* charsets_of - "=?charset?" of encoded words: a fact each. */
static void charsets_of(struct spamtok *t, const char *what, const char *v, size_t n)
{
    for (size_t i = 0; i + 2 < n; i++) {
        if (v[i] != '=' || v[i + 1] != '?')
            continue;
        size_t j = i + 2, k = 0;
        char cs[32];
        while (j < n && v[j] != '?' && v[j] != '*' && k < sizeof(cs) - 1) {
            char c = v[j++];
            cs[k++] = (char)((c >= 'A' && c <= 'Z') ? c + 32 : c);
        }
        if (k)
            fact(t, what, cs, k);
        i = j;
    }
}

/* addr_split - "Name <user@host>" / "user@host (Name)" / "user@host": the
 * display name (raw) and the host, lower case (host NUL-terminated). */
static void addr_split(const char *v, const char **name, size_t *nlen, char *host, size_t hmax,
                       const char **local, size_t *llen)
{
    const char *lt = strchr(v, '<'), *a, *ae;
    *name = v;
    *nlen = 0;
    if (lt) {
        *nlen = (size_t)(lt - v);
        a = lt + 1;
        ae = strchr(a, '>');
        if (!ae)
            ae = a + strlen(a);
    } else {
        a = v;
        while (*a == ' ')
            a++;
        ae = a;
        while (*ae && *ae != ' ' && *ae != '(')
            ae++;
        const char *paren = strchr(ae, '(');
        if (paren) {
            *name = paren + 1;
            const char *pe = strchr(*name, ')');
            *nlen = pe ? (size_t)(pe - *name) : strlen(*name);
        }
    }
    const char *at = memchr(a, '@', (size_t)(ae - a));
    *local = a;
    *llen = at ? (size_t)(at - a) : 0;
    size_t k = 0;
    if (at)
        for (const char *p = at + 1; p < ae && k + 1 < hmax; p++)
            host[k++] = (char)((*p >= 'A' && *p <= 'Z') ? *p + 32 : *p);
    while (k && (host[k - 1] == '.' || host[k - 1] == ' '))
        k--;
    host[k] = '\0';
}

/* subject_strip - without the [tag]s a list puts in front (after any
 * "Re:"/"Fwd:"); the prefixes stay. */
static size_t subject_strip(char *s, size_t n)
{
    size_t i = 0;
    for (;;) {
        while (i < n && s[i] == ' ')
            i++;
        if (i + 3 <= n && (!strncasecmp(s + i, "re:", 3) || !strncasecmp(s + i, "fw:", 3))) {
            i += 3;
            continue;
        }
        if (i + 4 <= n && !strncasecmp(s + i, "fwd:", 4)) {
            i += 4;
            continue;
        }
        if (i < n && s[i] == '[') {
            const char *e = memchr(s + i, ']', n - i);
            if (e && (size_t)(e - (s + i)) <= 40) {
                size_t cut = (size_t)(e - s) + 1 - i;
                memmove(s + i, s + i + cut, n - i - cut);
                n -= cut;
                continue;
            }
        }
        return n;
    }
}

/* subject_features - the Subject: words, pairs and shape. */
static void subject_features(struct spamtok *t)
{
    char d[SUBJ_MAX];
    unsigned fl = 0;
    charsets_of(t, "sc", t->subject, t->subjlen);
    size_t n = mime_decode_words(t->subject, t->subjlen, d, sizeof(d), &fl);
    if (t->listmail && (t->o.features & SPAMTOK_NOLISTS))
        n = subject_strip(d, n);
    size_t i = 0;
    while (i < n && d[i] == ' ')
        i++;
    if (i + 3 <= n && !strncasecmp(d + i, "re:", 3))
        fact_s(t, "sf", "re");
    else if (i + 3 <= n && (!strncasecmp(d + i, "fw:", 3) || !strncasecmp(d + i, "fwd:", 4)))
        fact_s(t, "sf", "fwd");
    int upper = 0, lower = 0, bang = 0;
    for (size_t k = 0; k < n; k++) {
        upper += d[k] >= 'A' && d[k] <= 'Z';
        lower += d[k] >= 'a' && d[k] <= 'z';
        bang += d[k] == '!';
    }
    if (upper >= 4 && lower == 0)
        fact_s(t, "sf", "caps");
    if (bang)
        fact_s(t, "sf", "bang");
    if (n - i == 0)
        fact_s(t, "sf", "empty");
    words_str(t, NS_SUBJ, 1, d, n);
}

/* from_features - From's display name words and domain. */
static void from_features(struct spamtok *t)
{
    const char *name, *local;
    size_t nlen, llen;
    char host[HOST_MAX + 1], dn[HDR_MAX];
    unsigned fl = 0;
    addr_split(t->from, &name, &nlen, host, sizeof(host), &local, &llen);
    charsets_of(t, "fc", name, nlen);
    size_t dl = mime_decode_words(name, nlen, dn, sizeof(dn), &fl);
    int words = 0;
    for (size_t i = 0; i < dl; i++)
        words += (dn[i] | 32) >= 'a' && (dn[i] | 32) <= 'z';
    if (!words)
        fact_s(t, "ff", "noname");
    words_str(t, NS_FROMNAME, 0, dn, dl);
    if (*host) {
        fact_s(t, "fd", host);
        fact_s(t, "fr", regdom(t, host));
    } else {
        fact_s(t, "ff", "nohost");
    }
    unsigned digits = 0;
    for (size_t i = 0; i < llen; i++)
        digits += local[i] >= '0' && local[i] <= '9';
    if (digits >= 3)
        fact_s(t, "ff", "localdigits");
    if (*t->replyto) {
        char rh[HOST_MAX + 1];
        addr_split(t->replyto, &name, &nlen, rh, sizeof(rh), &local, &llen);
        if (*rh) {
            const char *rr = regdom(t, rh);
            fact_s(t, "rr", rr);
            char fr[HOST_MAX + 1];
            snprintf(fr, sizeof(fr), "%s", *host ? regdom(t, host) : "");
            if (strcmp(fr, rr))
                fact_s(t, "ff", "replyto-elsewhere");
        }
    }
}

void spamtok_header(struct spamtok *t, const struct mime_part *p, const struct mime_header *h)
{
    if (p->index != 0)
        return;
    if (name_is(h, "list-id") || name_is(h, "list-post") || name_is(h, "list-unsubscribe") ||
        name_is(h, "mailing-list") || name_is(h, "x-mailing-list") || name_is(h, "x-beenthere") ||
        name_is(h, "x-mailman-version") || name_is(h, "list-help")) {
        t->listmail = 1;
        return;
    }
    if (!(t->o.features & SPAMTOK_HEADERS))
        return;
    char b[HDR_MAX];
    if (name_is(h, "subject")) {
        if (!t->subj_seen) {
            size_t n = h->value_len < SUBJ_MAX - 1 ? h->value_len : SUBJ_MAX - 1;
            memcpy(t->subject, h->value, n);
            t->subject[n] = '\0';
            t->subjlen = n;
            t->subj_seen = 1;
        }
    } else if (name_is(h, "from")) {
        copy_value(t->from, sizeof(t->from), h);
    } else if (name_is(h, "reply-to")) {
        copy_value(t->replyto, sizeof(t->replyto), h);
    } else if (name_is(h, "to") || name_is(h, "cc")) {
        t->have_to |= name_is(h, "to");
        for (size_t i = 0; i < h->value_len && t->rcpts < 1000; i++)
            t->rcpts += h->value[i] == '@';
        if (has_ci(h->value, h->value_len, "undisclosed"))
            t->undisclosed = 1;
    } else if (name_is(h, "x-mailer") || name_is(h, "user-agent") || name_is(h, "x-mimeole") ||
               name_is(h, "x-newsreader")) {
        words_str(t, NS_MAILER, 0, h->value, h->value_len);
    } else if (name_is(h, "organization")) {
        words_str(t, NS_ORG, 0, h->value, h->value_len);
    } else if (name_is(h, "x-priority") || name_is(h, "x-msmail-priority") ||
               name_is(h, "importance")) {
        size_t k = 0;
        while (k < h->value_len && k < 16 && h->value[k] != ' ' && h->value[k] != '(')
            b[k] =
                (char)((h->value[k] >= 'A' && h->value[k] <= 'Z') ? h->value[k] + 32 : h->value[k]),
            k++;
        char what[24];
        snprintf(what, sizeof(what), "p-%.*s", (int)(h->name_len < 20 ? h->name_len : 20), h->name);
        for (char *c = what; *c; c++)
            *c = (char)((*c >= 'A' && *c <= 'Z') ? *c + 32 : *c);
        fact(t, what, b, k);
    }
}

/* top_headers - the top-level header block is complete. */
static void top_headers(struct spamtok *t)
{
    char b[32];
    if (!(t->o.features & SPAMTOK_HEADERS))
        return;
    subject_features(t);
    from_features(t);
    fact_s(t, "rcpt", bucket(t->rcpts, b, sizeof(b)));
    if (!t->have_to)
        fact_s(t, "rcpt", "no-to");
    if (t->undisclosed)
        fact_s(t, "rcpt", "undisclosed");
}

/* ---- parts ---- */

void spamtok_part_begin(struct spamtok *t, const struct mime_part *p)
{
    char b[2 * MIME_TYPE_MAX + 2];
    if (p->index == 0)
        top_headers(t);
    t->nparts++;
    if (t->o.features & SPAMTOK_MIME) {
        snprintf(b, sizeof(b), "%s/%s", p->type, p->subtype);
        fact_s(t, p->index == 0 ? "mt0" : "mt", b);
        if (*p->charset)
            fact_s(t, "mcs", p->charset);
        if (p->kind == MIME_LEAF && !strcmp(p->type, "text") && *p->encoding)
            fact_s(t, "mte", p->encoding);
        if (!strcmp(p->disposition, "attachment"))
            fact_s(t, "mdisp", "attachment");
        const char *dot = strrchr(p->filename, '.');
        if (*p->filename) {
            t->nattach++;
            if (dot && dot[1] && strlen(dot + 1) <= 8) {
                char e[10];
                size_t k = 0;
                for (const char *c = dot + 1; *c && k < 9; c++)
                    e[k++] = (char)((*c >= 'A' && *c <= 'Z') ? *c + 32 : *c);
                fact(t, "mext", e, k);
            } else {
                fact_s(t, "mext", "none");
            }
        }
    }
    int plain = !strcmp(p->type, "text") && !strcmp(p->subtype, "plain");
    int html = !strcmp(p->type, "text") && !strcmp(p->subtype, "html");
    if (p->kind == MIME_LEAF && (plain || html) && !t->in_text) {
        t->nplain += plain;
        t->nhtml += html;
        t->in_text = 1;
        t->in_html = html;
        t->text_index = p->index;
        ws_reset(&t->body, NS_BODY, 1);
        memset(&t->us, 0, sizeof(t->us));
        t->linelen = t->holdlen = t->holdlines = 0;
        t->holding = t->dropping = t->line_long = 0;
    }
}

void spamtok_body(struct spamtok *t, const struct mime_part *p, const unsigned char *d, size_t n)
{
    if (t->in_text && t->in_html && p->index == t->text_index &&
        (t->o.features & (SPAMTOK_URLS | SPAMTOK_MIME)))
        us_feed(t, &t->us, d, n, 1);
}

void spamtok_text(struct spamtok *t, const struct mime_part *p, const char *utf8, size_t n)
{
    if (t->in_text && p->index == t->text_index)
        text_feed(t, utf8, n);
}

void spamtok_part_end(struct spamtok *t, const struct mime_part *p)
{
    if (t->in_text && p->index == t->text_index) {
        text_end(t);
        t->in_text = t->in_html = 0;
    }
}

/* join - the message features, then the text features. */
static void join(struct spamtok *t)
{
    memcpy(t->feat, t->mfeat, t->nmsg * sizeof(*t->feat));
    memcpy(t->feat + t->nmsg, t->tfeat, t->ntext * sizeof(*t->feat));
}

void spamtok_end(struct spamtok *t, unsigned mime_flags)
{
    char b[32];
    if (!(t->o.features & SPAMTOK_MIME)) {
        join(t);
        return;
    }
    if (t->nhtml && !t->nplain)
        fact_s(t, "m", "html-only");
    if (!t->nhtml && !t->nplain)
        fact_s(t, "m", "no-text");
    fact_s(t, "mparts", bucket((uint64_t)t->nparts, b, sizeof(b)));
    fact_s(t, "murls", bucket(t->nurls, b, sizeof(b)));
    uint64_t kb = 0;
    for (uint64_t x = t->textbytes; x > 1; x >>= 1)
        kb++;
    fact_s(t, "mtext", bucket(kb, b, sizeof(b)));
    /* the parser's repairs; "bad_header" left out: an mbox "From " line sets it */
    char names[512];
    mime_flag_names(mime_flags & ~(unsigned)MIME_F_BAD_HEADER, names, sizeof(names));
    for (char *s = names, *e; *s; s = e) {
        e = strchr(s, ',');
        size_t k = e ? (size_t)(e - s) : strlen(s);
        if (k)
            fact(t, "mflag", s, k);
        e = e ? e + 1 : s + k;
    }
    join(t);
}

/* ---- the handler, life cycle ---- */

static void h_header(void *c, const struct mime_part *p, const struct mime_header *h)
{
    spamtok_header(c, p, h);
}
static void h_begin(void *c, const struct mime_part *p)
{
    spamtok_part_begin(c, p);
}
static void h_body(void *c, const struct mime_part *p, const unsigned char *d, size_t n)
{
    spamtok_body(c, p, d, n);
}
static void h_text(void *c, const struct mime_part *p, const char *s, size_t n)
{
    spamtok_text(c, p, s, n);
}
static void h_end(void *c, const struct mime_part *p)
{
    spamtok_part_end(c, p);
}

void spamtok_mime_handler(struct spamtok *t, struct mime_handler *h)
{
    memset(h, 0, sizeof(*h));
    h->want = MIME_WANT_HEADERS | MIME_WANT_BODY | MIME_WANT_TEXT;
    h->ctx = t;
    h->header = h_header;
    h->part_begin = h_begin;
    h->body = h_body;
    h->text = h_text;
    h->part_end = h_end;
}

int spamtok_message(struct spamtok *t, struct mime_parser *m, const void *msg, size_t len)
{
    mime_reset(m);
    spamtok_begin(t);
    mime_feed(m, msg, len);
    spamtok_end(t, mime_finish(m));
    return 0;
}

void spamtok_begin(struct spamtok *t)
{
    for (size_t i = 0; i < t->nfeat; i++)
        t->set[t->used[i]] = 0;
    t->nfeat = t->nmsg = t->ntext = t->dropped = 0;
    t->listmail = 0;
    t->subjlen = 0;
    t->subject[0] = '\0';
    t->subj_seen = 0;
    t->from[0] = t->replyto[0] = '\0';
    t->have_to = 0;
    t->rcpts = 0;
    t->undisclosed = 0;
    t->nplain = t->nhtml = t->nparts = t->nattach = 0;
    t->nurls = 0;
    t->textbytes = 0;
    t->in_text = t->in_html = 0;
}

struct spamtok *spamtok_new(const struct spamtok_opts *opts)
{
    struct spamtok *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    if (opts)
        t->o = *opts;
    if (!t->o.features)
        t->o.features = SPAMTOK_ALL;
    if (!t->o.max_features)
        t->o.max_features = 4000;
    if (t->o.max_features < 2 * RESERVE)
        t->o.max_features = 2 * RESERVE;
    if (t->o.max_features > 65536)
        t->o.max_features = 65536;
    if (!t->o.window)
        t->o.window = 4;
    if (t->o.window < 2)
        t->o.window = 2;
    if (t->o.window > WIN_MAX)
        t->o.window = WIN_MAX;
    for (t->setcap = 1024; t->setcap < 2 * (size_t)t->o.max_features; t->setcap *= 2)
        ;
    t->feat = malloc(t->o.max_features * sizeof(*t->feat));
    t->mfeat = malloc(t->o.max_features * sizeof(*t->feat));
    t->tfeat = malloc(t->o.max_features * sizeof(*t->feat));
    t->set = calloc(t->setcap, sizeof(*t->set));
    t->used = malloc(t->o.max_features * sizeof(*t->used));
    if (!t->feat || !t->mfeat || !t->tfeat || !t->set || !t->used) {
        spamtok_free(t);
        return NULL;
    }
    for (int i = 0; i < NS_COUNT; i++)
        t->seed[i] = spamtok_hash(ns_name[i], strlen(ns_name[i]), 0x5350414d544f4bULL);
    /* without libpsl: the last two labels, as without a list */
    if (dynlib_load(&psl_lib) == 0) {
        t->psl = psl_builtin();
        if (!t->psl)
            t->psl = t->psl_own = psl_latest(NULL);
    }
    return t;
}

void spamtok_free(struct spamtok *t)
{
    if (!t)
        return;
    if (t->psl_own)
        psl_free(t->psl_own);
    free(t->feat);
    free(t->mfeat);
    free(t->tfeat);
    free(t->set);
    free(t->used);
    free(t);
}

const uint64_t *spamtok_features(const struct spamtok *t, size_t *n, size_t *nmsg)
{
    *n = t->nfeat;
    if (nmsg)
        *nmsg = t->nmsg;
    return t->feat;
}

size_t spamtok_dropped(const struct spamtok *t)
{
    return t->dropped;
}

int spamtok_listmail(const struct spamtok *t)
{
    return t->listmail;
}
