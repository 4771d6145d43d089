/*
 * mime.c - the streaming MIME parser (see mime.h for the contract).  One
 * pass over the message, line by line through a bounded line buffer; a
 * stack of open parts bounded by the depth limit; decoders that keep a few
 * bytes of state.  Events depend only on the message bytes, never on how
 * they were split: lines are cut at MIME_LINE_MAX and decoded output is
 * handed on per line or per full buffer.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "mime.h"
#include "mimetext.h"

#define MIME_DEF_DEPTH    32
#define MIME_MAX_DEPTH    256
#define MIME_DEF_PARTS    1000
#define MIME_DEF_HEADER   (64 * 1024)
#define MIME_MIN_HEADER   1024
#define MIME_DEF_BOUNDARY 256
#define MIME_MAX_BOUNDARY 998 /* RFC 5322 line length: no longer boundary can be matched */
#define MIME_LEVELS       4   /* the raw message and three decoded containers inside it */
#define MIME_OBUF         8192
#define MIME_SECTIONS     64 /* RFC 2231 sections per parameter */
#define UU_LINE_MAX       1024

/* What an open part is doing with the lines that reach it. */
enum pstate_st {
    ST_HEADERS,   /* reading its header block */
    ST_BODY,      /* a leaf: decode the lines */
    ST_PREAMBLE,  /* multipart before its first boundary (or without a boundary) */
    ST_PARTS,     /* multipart between boundaries; a child is open above it */
    ST_SKIP,      /* multipart whose next child exceeded the part limit */
    ST_EPILOGUE,  /* multipart after its final boundary */
    ST_MESSAGE,   /* message/rfc822: the message inside is open above it */
    ST_CONTAINER, /* encoded message/rfc822: decoded lines feed the next level */
    ST_UU,        /* a uuencoded file inside a text part (fed by its carrier) */
};

enum uu_st { UU_NONE, UU_BEGIN, UU_DATA, UU_TAIL, UU_DONE };

/* An open part. */
struct pstate {
    struct mime_part pub;
    enum pstate_st st;
    int level;     /* the input level its lines come from */
    int nheaders;  /* headers seen in its block */
    int seen_line; /* a line was seen in its header block */
    int have_ct, have_cte, have_cd;
    int digest;                  /* multipart/digest: children default to message/rfc822 */
    char ct_name[MIME_NAME_MAX]; /* Content-Type name, until the block ends */
    char boundary[MIME_MAX_BOUNDARY + 1];
    size_t blen;
    int bprefix; /* boundary over the limit: lines match on its prefix */
    /* decoding */
    int decode;       /* decode the body */
    int want_text;    /* feed mtext */
    int scan_uu;      /* look for uuencoded files in the decoded text */
    unsigned b64q;    /* base64 quantum */
    int b64n;         /* sextets in it */
    char qp_carry[3]; /* "=" or "=X" held at the end of a piece of a long line */
    size_t qp_carry_len;
    enum uu_st uu;        /* a x-uuencode body: where it is */
    unsigned char eol[2]; /* the line end held back: it may belong to a boundary */
    size_t eol_len;
    size_t raw_eol; /* the line end of the last body line, for body_end */
    /* uuencode inside a text part */
    enum uu_st scan;
    char uu_name[MIME_NAME_MAX];
    uint64_t uu_off;  /* decoded offset of the line being assembled */
    uint64_t uu_boff; /* decoded offset of the "begin" line */
    size_t ulen;
    int ucont;
    struct pstate *uu_child;
    unsigned char uline[UU_LINE_MAX]; /* last: new_part clears what is before it */
};

/* An input level: the raw message, or the decoded body of an encoded
 * message/rfc822 part. */
struct level {
    unsigned char *line; /* MIME_LINE_MAX bytes */
    size_t len;
    int cont;     /* the next bytes continue a line longer than the buffer */
    uint64_t off; /* stream offset of line[0] / of the next line */
    int active;
    int base; /* stack index of the container feeding it (-1 for level 0) */
};

/* A parameter being collected (RFC 2045 plain value and RFC 2231 sections). */
struct param {
    const char *plain;
    size_t plain_len;
    int have_plain;
    struct {
        const char *s;
        size_t len;
        int enc;
        int set;
    } sec[MIME_SECTIONS];
    int nsec; /* highest section + 1 */
};

struct mime_parser {
    struct mime_handler h;
    unsigned depth_max, parts_max;
    size_t header_max, boundary_max;
    unsigned flags;
    unsigned nparts;
    int done;
    int nomem;
    struct pstate *stack; /* depth_max + 2 entries */
    int top;              /* index of the innermost open part, -1 when none */
    struct level lv[MIME_LEVELS];
    /* the header being collected */
    char *hbuf;
    size_t hlen, hcap;
    int htrunc;
    uint64_t hoff;
    char *vbuf; /* its unfolded value */
    char *pbuf; /* unquoted parameter values */
    size_t pcap;
    size_t olen;
    struct pstate *oown;
    struct pstate *town;
    /* large buffers last: mime_reset clears what is before them */
    unsigned char obuf[MIME_OBUF]; /* decoded body bytes, for one part at a time */
    struct mtext text;             /* the text pipeline, for one part at a time */
};

static void lvl_feed(struct mime_parser *m, int L, const unsigned char *p, size_t n);
static void lvl_finish(struct mime_parser *m, int L);
static void close_above(struct mime_parser *m, int k, uint64_t end, int keep_eol);

/* ---------------------------------------------------------------- helpers */

static int lc(int c)
{
    return (c >= 'A' && c <= 'Z') ? c + 32 : c;
}

static int is_blank(int c)
{
    return c == ' ' || c == '\t';
}

static int ci_eq(const char *a, size_t alen, const char *b)
{
    size_t bl = strlen(b);
    if (alen != bl)
        return 0;
    for (size_t i = 0; i < alen; i++)
        if (lc((unsigned char)a[i]) != b[i])
            return 0;
    return 1;
}

static void set_flag(struct mime_parser *m, struct pstate *ps, unsigned f)
{
    m->flags |= f;
    if (ps)
        ps->pub.flags |= f;
}

/* copy_lower - bounded lower-case copy of n bytes into dst (size bytes). */
static void copy_lower(char *dst, size_t size, const char *s, size_t n)
{
    size_t k = n < size - 1 ? n : size - 1;
    for (size_t i = 0; i < k; i++)
        dst[i] = (char)lc((unsigned char)s[i]);
    dst[k] = '\0';
}

static const signed char b64v[256] = {
    ['A'] = 1,  ['B'] = 2,  ['C'] = 3,  ['D'] = 4,   ['E'] = 5,   ['F'] = 6,   ['G'] = 7,
    ['H'] = 8,  ['I'] = 9,  ['J'] = 10, ['K'] = 11,  ['L'] = 12,  ['M'] = 13,  ['N'] = 14,
    ['O'] = 15, ['P'] = 16, ['Q'] = 17, ['R'] = 18,  ['S'] = 19,  ['T'] = 20,  ['U'] = 21,
    ['V'] = 22, ['W'] = 23, ['X'] = 24, ['Y'] = 25,  ['Z'] = 26,  ['a'] = 27,  ['b'] = 28,
    ['c'] = 29, ['d'] = 30, ['e'] = 31, ['f'] = 32,  ['g'] = 33,  ['h'] = 34,  ['i'] = 35,
    ['j'] = 36, ['k'] = 37, ['l'] = 38, ['m'] = 39,  ['n'] = 40,  ['o'] = 41,  ['p'] = 42,
    ['q'] = 43, ['r'] = 44, ['s'] = 45, ['t'] = 46,  ['u'] = 47,  ['v'] = 48,  ['w'] = 49,
    ['x'] = 50, ['y'] = 51, ['z'] = 52, ['0'] = 53,  ['1'] = 54,  ['2'] = 55,  ['3'] = 56,
    ['4'] = 57, ['5'] = 58, ['6'] = 59, ['7'] = 60,  ['8'] = 61,  ['9'] = 62,  ['+'] = 63,
    ['/'] = 64, ['='] = -1, [' '] = -2, ['\t'] = -2, ['\r'] = -2, ['\n'] = -2,
}; /* value + 1; -1 padding; -2 white space; 0 garbage */

/* b64_final - the bytes of an unpadded last quantum. */
static size_t b64_final(unsigned q, int nq, unsigned char *out)
{
    if (nq == 2) {
        out[0] = (unsigned char)(q >> 4);
        return 1;
    }
    if (nq == 3) {
        out[0] = (unsigned char)(q >> 10);
        out[1] = (unsigned char)(q >> 2);
        return 2;
    }
    return 0;
}

#define B64_DONE 4 /* *nq after the final padding: the rest is not data */

/* b64_decode - base64 into out (room for n * 3 / 4 + 3 bytes), state in
 * *q / *nq; garbage is skipped, padding ends the data (a list footer after
 * it is no data: Python's email and GMime agree).  Returns the bytes
 * written; *bad is set on garbage, misplaced padding or text after it. */
static size_t b64_decode(const unsigned char *s, size_t n, unsigned char *out, unsigned *q, int *nq,
                         int *bad)
{
    unsigned char *o = out;
    unsigned v = *q;
    int k = *nq;
    if (k == B64_DONE) {
        for (size_t i = 0; i < n && !*bad; i++)
            if (b64v[s[i]] != -2 && s[i] != '=')
                *bad = 1;
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        int d = b64v[s[i]];
        if (d > 0) {
            v = (v << 6) | (unsigned)(d - 1);
            if (++k == 4) {
                o[0] = (unsigned char)(v >> 16);
                o[1] = (unsigned char)(v >> 8);
                o[2] = (unsigned char)v;
                o += 3;
                k = 0;
                v = 0;
            }
        } else if (d == -1) {
            if (k >= 2) {
                o += b64_final(v, k, o);
                *q = 0;
                *nq = B64_DONE;
                for (i++; i < n && !*bad; i++)
                    if (b64v[s[i]] != -2 && s[i] != '=')
                        *bad = 1;
                return (size_t)(o - out);
            }
            *bad = 1; /* padding where no quantum can end: skipped */
        } else if (d == 0) {
            *bad = 1;
        }
    }
    *q = v;
    *nq = k;
    return (size_t)(o - out);
}

static int hexv(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = lc(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* uu_line_valid - does this line (without its line end) look like a line
 * of uuencoded data?  Returns the byte count it encodes, or -1. */
static int uu_line_valid(const unsigned char *s, size_t n)
{
    /* a space encodes zero bits, and transports strip trailing spaces: a
     * line shorter than its count says is padded with zeros (as Python's
     * binascii and uudecode read it), never refused for it */
    while (n && (s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    if (n == 0 || s[0] < 0x20 || s[0] > 0x60)
        return -1;
    int count = (s[0] - 0x20) & 0x3f;
    size_t full = ((size_t)count + 2) / 3 * 4;
    if (n - 1 > full + 2) /* some encoders add a checksum character */
        return -1;
    for (size_t i = 1; i < n; i++)
        if (s[i] < 0x20 || s[i] > 0x60)
            return -1;
    return count;
}

/* uu_line_decode - decode one valid data line; returns the bytes written. */
static size_t uu_line_decode(const unsigned char *s, size_t n, int count, unsigned char *out)
{
    size_t o = 0;
    const unsigned char *p = s + 1, *end = s + n;
    while (o < (size_t)count) {
        unsigned c[4];
        for (int i = 0; i < 4; i++)
            c[i] = p + i < end ? (unsigned)((p[i] - 0x20) & 0x3f) : 0;
        unsigned char b[3] = {(unsigned char)(c[0] << 2 | c[1] >> 4),
                              (unsigned char)(c[1] << 4 | c[2] >> 2),
                              (unsigned char)(c[2] << 6 | c[3])};
        for (int i = 0; i < 3 && o < (size_t)count; i++)
            out[o++] = b[i];
        p += 4;
    }
    return o;
}

/* uu_begin - "begin 644 name": the name (raw bytes) into name, or -1. */
static int uu_begin(const unsigned char *s, size_t n, char *name, size_t size, unsigned *flags)
{
    while (n && (s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    if (n < 8 || memcmp(s, "begin ", 6) != 0)
        return -1;
    size_t i = 6, d = 0;
    while (i < n && s[i] >= '0' && s[i] <= '7' && d < 5)
        i++, d++;
    if (d < 3 || d > 4 || i >= n || !is_blank(s[i]))
        return -1;
    while (i < n && is_blank(s[i]))
        i++;
    if (i >= n)
        return -1;
    mtext_convert(NULL, s + i, n - i, name, size, flags);
    return 0;
}

/* ------------------------------------------------------------- sanitizing */

int mime_sanitize(char *s, size_t max)
{
    unsigned char *p = (unsigned char *)s, *o = p;
    int changed = 0;
    while (*p) {
        int l = mtext_utf8_seq(p, strnlen((const char *)p, 4));
        int bad = l <= 0 || *p < 0x20 || *p == 0x7f;
        if (l == 2 && p[0] == 0xc2 && p[1] < 0xa0)
            bad = 1; /* C1 controls */
        if (l == 3 && p[0] == 0xe2 &&
            ((p[1] == 0x80 && ((p[2] >= 0xaa && p[2] <= 0xae) || p[2] == 0x8e || p[2] == 0x8f)) ||
             (p[1] == 0x81 && p[2] >= 0xa6 && p[2] <= 0xa9)))
            bad = 1; /* bidirectional controls: "txt.exe" shown as "exe.txt" */
        if (l <= 0)
            l = 1;
        if (bad) {
            *o++ = '?';
            changed = 1;
        } else {
            memmove(o, p, (size_t)l);
            o += l;
        }
        p += l;
    }
    *o = '\0';
    /* trim blanks around */
    size_t n = (size_t)(o - (unsigned char *)s);
    size_t a = 0;
    while (a < n && s[a] == ' ')
        a++;
    while (n > a && s[n - 1] == ' ')
        n--;
    if (a || s[n] != '\0') {
        memmove(s, s + a, n - a);
        changed = 1;
    }
    n -= a;
    s[n] = '\0';
    if (max && n >= max) {
        size_t k = max - 1;
        while (k > 0 && ((unsigned char)s[k] & 0xc0) == 0x80)
            k--;
        s[k] = '\0';
        changed = 1;
    }
    return changed;
}

size_t mime_flag_names(unsigned flags, char *buf, size_t size)
{
    static const char *const names[] = {"depth",         "parts",       "header_long",
                                        "boundary_long", "line_long",   "bad_header",
                                        "8bit_header",   "no_boundary", "unclosed",
                                        "epilogue",      "bad_base64",  "bad_qp",
                                        "bad_uu",        "unknown_cte", "charset",
                                        "bad_text",      "bad_words",   "bad_params",
                                        "name_changed",  "dup_header",  "encoded_container",
                                        "no_headers",    "nul"};
    size_t n = 0;
    if (size)
        buf[0] = '\0';
    for (unsigned i = 0; i < sizeof(names) / sizeof(*names); i++) {
        if (!(flags & (1u << i)))
            continue;
        size_t l = strlen(names[i]) + (n > 0);
        if (n + l + 1 > size)
            break;
        if (n)
            buf[n++] = ',';
        memcpy(buf + n, names[i], strlen(names[i]) + 1);
        n += strlen(names[i]);
    }
    return n;
}

/* --------------------------------------------------------- RFC 2047 words */

struct wout {
    char *out;
    size_t len, max;
};

static void wout_put(struct wout *w, const char *s, size_t n)
{
    if (w->len + n >= w->max) {
        size_t k = w->max - 1 - w->len;
        while (k > 0 && k < n && ((unsigned char)s[k] & 0xc0) == 0x80)
            k--;
        n = k;
    }
    for (size_t i = 0; i < n; i++) /* the result is a C string: no NUL inside */
        w->out[w->len + i] = s[i] ? s[i] : '?';
    w->len += n;
    w->out[w->len] = '\0';
}

/* wout_convert - bytes in charset cs to UTF-8 on the output. */
static void wout_convert(struct wout *w, const char *cs, const unsigned char *s, size_t n,
                         unsigned *flags)
{
    char tmp[2048];
    unsigned f = 0;
    while (n) {
        size_t k = n < 600 ? n : 600;
        size_t l = mtext_convert(cs, s, k, tmp, sizeof(tmp), &f);
        wout_put(w, tmp, l);
        s += k;
        n -= k;
    }
    if (f & MTEXT_F_CHARSET)
        *flags |= MIME_F_CHARSET;
    if (f & MTEXT_F_INVALID)
        *flags |= MIME_F_BAD_TEXT;
}

/* encoded_word - parse "=?cs?E?text?=" at s (n bytes); on success the
 * charset, encoding and text are set and the length consumed returned. */
static size_t encoded_word(const char *s, size_t n, const char **cs, size_t *cslen, char *enc,
                           const char **txt, size_t *txtlen, int *unterminated)
{
    size_t i = 2;
    *unterminated = 0;
    if (n < 6 || s[0] != '=' || s[1] != '?')
        return 0;
    while (i < n && s[i] != '?' && i < 2 + 64) {
        if (is_blank((unsigned char)s[i]) || s[i] == '=' || (unsigned char)s[i] < 0x21)
            return 0;
        i++;
    }
    if (i == 2 || i + 2 >= n || s[i] != '?')
        return 0;
    *cs = s + 2;
    *cslen = i - 2;
    *enc = (char)lc((unsigned char)s[i + 1]);
    if ((*enc != 'b' && *enc != 'q') || s[i + 2] != '?')
        return 0;
    size_t t = i + 3, j = t;
    while (j + 1 < n && !(s[j] == '?' && s[j + 1] == '='))
        j++;
    if (j + 1 >= n) {
        /* no "?=": accepted when the word runs to the end without blanks */
        for (size_t k = t; k < n; k++)
            if (is_blank((unsigned char)s[k]))
                return 0;
        *unterminated = 1;
        *txt = s + t;
        *txtlen = n - t;
        return n;
    }
    *txt = s + t;
    *txtlen = j - t;
    return j + 2;
}

size_t mime_decode_words(const char *in, size_t len, char *out, size_t outmax, unsigned *flags)
{
    struct wout w = {out, 0, outmax};
    unsigned char run[1024]; /* bytes of adjacent words in one charset */
    size_t rlen = 0;
    char rcs[65] = "";
    size_t i = 0, lit = 0; /* literal text from lit to i */
    int after_word = 0;

    if (!outmax)
        return 0;
    out[0] = '\0';
    while (i < len) {
        const char *cs, *txt;
        size_t cslen, txtlen;
        char enc;
        int unterminated;
        size_t wl = 0;
        if (in[i] == '=' && i + 1 < len && in[i + 1] == '?')
            wl = encoded_word(in + i, len - i, &cs, &cslen, &enc, &txt, &txtlen, &unterminated);
        if (!wl) {
            i++;
            continue;
        }
        /* literal text before the word: dropped when only blanks between words */
        int blanks = 1;
        for (size_t k = lit; k < i; k++)
            if (!is_blank((unsigned char)in[k]) && in[k] != '\r' && in[k] != '\n')
                blanks = 0;
        char cbuf[65];
        copy_lower(cbuf, sizeof(cbuf), cs, cslen);
        if (!(after_word && blanks) && i > lit) {
            if (rlen)
                wout_convert(&w, rcs, run, rlen, flags), rlen = 0;
            wout_convert(&w, NULL, (const unsigned char *)in + lit, i - lit, flags);
        }
        if (rlen && strcmp(cbuf, rcs) != 0)
            wout_convert(&w, rcs, run, rlen, flags), rlen = 0;
        strcpy(rcs, cbuf);
        if (unterminated)
            *flags |= MIME_F_BAD_WORDS;
        /* decode the word's text into run */
        unsigned char tmp[1024];
        size_t tl = 0;
        if (enc == 'b') {
            unsigned q = 0;
            int nq = 0, bad = 0;
            size_t k = 0;
            while (k < txtlen) {
                size_t c = txtlen - k < 600 ? txtlen - k : 600;
                tl = b64_decode((const unsigned char *)txt + k, c, tmp, &q, &nq, &bad);
                k += c;
                if (k >= txtlen && nq != B64_DONE)
                    tl += b64_final(q, nq, tmp + tl), bad |= nq == 1;
                for (size_t x = 0; x < tl; x++) {
                    if (rlen == sizeof(run))
                        wout_convert(&w, rcs, run, rlen, flags), rlen = 0;
                    run[rlen++] = tmp[x];
                }
            }
            if (bad || (nq && nq != B64_DONE))
                *flags |= MIME_F_BAD_WORDS;
        } else {
            for (size_t k = 0; k < txtlen; k++) {
                unsigned char c = (unsigned char)txt[k];
                int h1, h2;
                if (c == '_')
                    c = ' ';
                else if (c == '=' && k + 2 < txtlen &&
                         (h1 = hexv((unsigned char)txt[k + 1])) >= 0 &&
                         (h2 = hexv((unsigned char)txt[k + 2])) >= 0) {
                    c = (unsigned char)(h1 << 4 | h2);
                    k += 2;
                }
                if (rlen == sizeof(run))
                    wout_convert(&w, rcs, run, rlen, flags), rlen = 0;
                run[rlen++] = c;
            }
        }
        i += wl;
        lit = i;
        after_word = 1;
    }
    if (rlen)
        wout_convert(&w, rcs, run, rlen, flags);
    if (len > lit)
        wout_convert(&w, NULL, (const unsigned char *)in + lit, len - lit, flags);
    return w.len;
}

/* ------------------------------------------------------ header parameters */

/* skip_cfws - blanks and (nested) comments. */
static size_t skip_cfws(const char *s, size_t n, size_t i)
{
    while (i < n) {
        if (is_blank((unsigned char)s[i]) || s[i] == '\r' || s[i] == '\n') {
            i++;
        } else if (s[i] == '(') {
            int depth = 0;
            while (i < n) {
                if (s[i] == '\\' && i + 1 < n)
                    i++;
                else if (s[i] == '(')
                    depth++;
                else if (s[i] == ')' && --depth == 0) {
                    i++;
                    break;
                }
                i++;
            }
        } else {
            break;
        }
    }
    return i;
}

static int is_tspecial(int c)
{
    return c <= ' ' || c == 0x7f || strchr("()<>@,;:\\\"/[]?=", c) != NULL;
}

/* token_end - the end of an RFC 2045 token starting at i. */
static size_t token_end(const char *s, size_t n, size_t i)
{
    while (i < n && !is_tspecial((unsigned char)s[i]))
        i++;
    return i;
}

/* The parameters the parser reads. */
enum { P_CHARSET, P_BOUNDARY, P_NAME, P_FILENAME, P_COUNT };

/* parse_params - "; a=b; c*0*=..." from i: collect the wanted parameters
 * (names[k] into ps[k]), unquoting into m->pbuf. */
static void parse_params(struct mime_parser *m, struct pstate *cur, const char *s, size_t n,
                         size_t i, const char *const *names, struct param *ps, int np)
{
    size_t pout = 0;
    while (i < n) { /* every round takes at least one byte */
        i = skip_cfws(s, n, i);
        if (i < n && s[i] == ';') {
            i++;
            continue;
        }
        if (i >= n)
            break;
        size_t a = i;
        while (i < n && s[i] != '=' && s[i] != ';' && !is_blank((unsigned char)s[i]))
            i++;
        size_t alen = i - a;
        i = skip_cfws(s, n, i);
        if (i >= n || s[i] != '=') {
            if (alen)
                set_flag(m, cur, MIME_F_BAD_PARAMS);
            while (i < n && s[i] != ';')
                i++;
            continue;
        }
        i = skip_cfws(s, n, i + 1);
        /* the value: quoted string, or a token (leniently: up to ';') */
        const char *val = m->pbuf + pout;
        size_t vlen = 0;
        if (i < n && s[i] == '"') {
            i++;
            while (i < n && s[i] != '"') {
                if (s[i] == '\\' && i + 1 < n)
                    i++;
                if (pout < m->pcap)
                    m->pbuf[pout++] = s[i], vlen++;
                i++;
            }
            if (i < n)
                i++;
            else
                set_flag(m, cur, MIME_F_BAD_PARAMS); /* no closing quote */
        } else {
            size_t v = i, e;
            while (i < n && s[i] != ';')
                i++;
            e = i;
            while (e > v && is_blank((unsigned char)s[e - 1]))
                e--;
            /* blanks in an unquoted value: clients take it whole, up to ';' */
            if (memchr(s + v, ' ', e - v) || memchr(s + v, '\t', e - v))
                set_flag(m, cur, MIME_F_BAD_PARAMS);
            for (size_t k = v; k < e && pout < m->pcap; k++)
                m->pbuf[pout++] = s[k], vlen++;
        }
        /* which parameter, which RFC 2231 section */
        const char *star = memchr(s + a, '*', alen);
        size_t blen = star ? (size_t)(star - (s + a)) : alen;
        for (int k = 0; k < np; k++) {
            if (!ci_eq(s + a, blen, names[k]))
                continue;
            struct param *p = &ps[k];
            if (!star) {
                if (!p->have_plain) {
                    p->plain = val;
                    p->plain_len = vlen;
                    p->have_plain = 1;
                }
                break;
            }
            /* "*", "*N", "*N*" */
            const char *q = star + 1, *qe = s + a + alen;
            int sec = 0, enc = 0, digits = 0;
            while (q < qe && *q >= '0' && *q <= '9' && digits < 4)
                sec = sec * 10 + (*q++ - '0'), digits++;
            if (q < qe && *q == '*')
                enc = 1, q++;
            if (!digits)
                enc = 1; /* "name*=" is one encoded section */
            if (q != qe || sec >= MIME_SECTIONS) {
                set_flag(m, cur, MIME_F_BAD_PARAMS);
                break;
            }
            if (!p->sec[sec].set) {
                p->sec[sec].s = val;
                p->sec[sec].len = vlen;
                p->sec[sec].enc = enc;
                p->sec[sec].set = 1;
                if (sec + 1 > p->nsec)
                    p->nsec = sec + 1;
            }
            break;
        }
    }
}

/* param_value - the decoded UTF-8 value of a parameter into out:
 * RFC 2231 sections when there are any, else the plain value with its
 * RFC 2047 words decoded (the broken form every client accepts).
 * raw: no charset conversion (boundary).  Returns 1 when it had one. */
static int param_value(struct mime_parser *m, struct pstate *cur, const struct param *p, char *out,
                       size_t outmax, int raw)
{
    unsigned f = 0;
    out[0] = '\0';
    if (p->nsec) {
        unsigned char bytes[2048];
        size_t bl = 0;
        char cs[65] = "";
        for (int i = 0; i < p->nsec; i++) {
            if (!p->sec[i].set) {
                set_flag(m, cur, MIME_F_BAD_PARAMS); /* a gap: take what is there */
                continue;
            }
            const char *s = p->sec[i].s;
            size_t n = p->sec[i].len, k = 0;
            if (i == 0 && p->sec[i].enc) {
                /* charset'language'value */
                const char *q1 = memchr(s, '\'', n);
                const char *q2 = q1 ? memchr(q1 + 1, '\'', n - (size_t)(q1 + 1 - s)) : NULL;
                if (q1 && q2) {
                    copy_lower(cs, sizeof(cs), s, (size_t)(q1 - s));
                    k = (size_t)(q2 + 1 - s);
                } else {
                    set_flag(m, cur, MIME_F_BAD_PARAMS);
                }
            }
            for (; k < n && bl < sizeof(bytes); k++) {
                int h1, h2;
                if (p->sec[i].enc && s[k] == '%' && k + 2 < n &&
                    (h1 = hexv((unsigned char)s[k + 1])) >= 0 &&
                    (h2 = hexv((unsigned char)s[k + 2])) >= 0) {
                    bytes[bl++] = (unsigned char)(h1 << 4 | h2);
                    k += 2;
                } else {
                    bytes[bl++] = (unsigned char)s[k];
                }
            }
        }
        if (raw) {
            size_t k = bl < outmax - 1 ? bl : outmax - 1;
            memcpy(out, bytes, k);
            out[k] = '\0';
        } else {
            mtext_convert(cs, bytes, bl, out, outmax, &f);
        }
    } else if (p->have_plain) {
        if (raw) {
            size_t k = p->plain_len < outmax - 1 ? p->plain_len : outmax - 1;
            memcpy(out, p->plain, k);
            out[k] = '\0';
        } else {
            unsigned wf = 0;
            mime_decode_words(p->plain, p->plain_len, out, outmax, &wf);
            set_flag(m, cur, wf);
        }
    } else {
        return 0;
    }
    if (f & MTEXT_F_CHARSET)
        set_flag(m, cur, MIME_F_CHARSET);
    if (f & MTEXT_F_INVALID)
        set_flag(m, cur, MIME_F_BAD_TEXT);
    return 1;
}

/* set_name - a decoded file name into dst, sanitized for logs. */
static void set_name(struct mime_parser *m, struct pstate *cur, char *dst, const char *src)
{
    size_t n = strlen(src);
    if (n >= MIME_NAME_MAX) {
        size_t k = MIME_NAME_MAX - 1;
        while (k > 0 && ((unsigned char)src[k] & 0xc0) == 0x80)
            k--;
        n = k;
        set_flag(m, cur, MIME_F_NAME_CHANGED);
    }
    memcpy(dst, src, n);
    dst[n] = '\0';
    if (mime_sanitize(dst, MIME_NAME_MAX))
        set_flag(m, cur, MIME_F_NAME_CHANGED);
}

/* header_content_type - type/subtype and the parameters the parser uses. */
static void header_content_type(struct mime_parser *m, struct pstate *cur, const char *v, size_t n)
{
    static const char *const names[] = {"charset", "boundary", "name"};
    struct param ps[3];
    size_t i = skip_cfws(v, n, 0), t = token_end(v, n, i), st, se;
    if (t == i)
        return; /* no type: the default stays */
    st = skip_cfws(v, n, t);
    if (st >= n || v[st] != '/')
        return;
    st = skip_cfws(v, n, st + 1);
    se = token_end(v, n, st);
    if (se == st)
        return;
    copy_lower(cur->pub.type, sizeof(cur->pub.type), v + i, t - i);
    copy_lower(cur->pub.subtype, sizeof(cur->pub.subtype), v + st, se - st);
    cur->pub.type_given = 1;
    memset(ps, 0, sizeof(ps));
    parse_params(m, cur, v, n, se, names, ps, 3);
    char tmp[MIME_NAME_MAX * 4];
    if (param_value(m, cur, &ps[0], tmp, sizeof(tmp), 1)) {
        size_t a = 0, l = strlen(tmp);
        while (a < l && is_blank((unsigned char)tmp[a]))
            a++;
        copy_lower(cur->pub.charset, sizeof(cur->pub.charset), tmp + a, l - a);
    }
    char bnd[MIME_MAX_BOUNDARY + 2];
    if (param_value(m, cur, &ps[1], bnd, sizeof(bnd), 1)) {
        size_t l = strlen(bnd);
        cur->bprefix = 0;
        if (l > m->boundary_max) {
            l = m->boundary_max;
            cur->bprefix = 1;
            set_flag(m, cur, MIME_F_BOUNDARY_LONG);
        }
        memcpy(cur->boundary, bnd, l);
        cur->boundary[l] = '\0';
        cur->blen = l;
    }
    if (param_value(m, cur, &ps[2], tmp, sizeof(tmp), 0))
        set_name(m, cur, cur->ct_name, tmp);
}

static void header_disposition(struct mime_parser *m, struct pstate *cur, const char *v, size_t n)
{
    static const char *const names[] = {"filename"};
    struct param ps[1];
    size_t i = skip_cfws(v, n, 0), t = token_end(v, n, i);
    copy_lower(cur->pub.disposition, sizeof(cur->pub.disposition), v + i, t - i);
    memset(ps, 0, sizeof(ps));
    parse_params(m, cur, v, n, t, names, ps, 1);
    char tmp[MIME_NAME_MAX * 4];
    if (param_value(m, cur, &ps[0], tmp, sizeof(tmp), 0) && tmp[0])
        set_name(m, cur, cur->pub.filename, tmp);
}

static void header_cte(struct mime_parser *m, struct pstate *cur, const char *v, size_t n)
{
    size_t i = skip_cfws(v, n, 0), t = token_end(v, n, i);
    char *e = cur->pub.encoding;
    copy_lower(e, sizeof(cur->pub.encoding), v + i, t - i);
    if (!*e || !strcmp(e, "7bit") || !strcmp(e, "8bit") || !strcmp(e, "binary"))
        cur->pub.cte = MIME_CTE_NONE;
    else if (!strcmp(e, "base64"))
        cur->pub.cte = MIME_CTE_BASE64;
    else if (!strcmp(e, "quoted-printable"))
        cur->pub.cte = MIME_CTE_QP;
    else if (!strcmp(e, "x-uuencode") || !strcmp(e, "uuencode") || !strcmp(e, "x-uue") ||
             !strcmp(e, "uue"))
        cur->pub.cte = MIME_CTE_UUENCODE;
    else {
        cur->pub.cte = MIME_CTE_OTHER;
        set_flag(m, cur, MIME_F_UNKNOWN_CTE);
    }
}

/* header_done - the header in m->hbuf is complete: unfold it, report it,
 * read it when it is one of the three MIME headers. */
static void header_done(struct mime_parser *m, struct pstate *cur)
{
    const char *h = m->hbuf;
    size_t n = m->hlen, c = 0;
    if (!n)
        return;
    while (c < n && h[c] != ':')
        c++;
    size_t ne = c;
    while (ne > 0 && is_blank((unsigned char)h[ne - 1]))
        ne--;
    unsigned seen = 0;
    for (size_t i = 0; i < n && seen != (MIME_F_NUL | MIME_F_8BIT_HEADER); i++)
        if (!h[i])
            seen |= MIME_F_NUL;
        else if ((unsigned char)h[i] >= 0x80)
            seen |= MIME_F_8BIT_HEADER;
    set_flag(m, cur, seen);
    cur->nheaders++;
    int report = (m->h.want & MIME_WANT_HEADERS) && m->h.header;
    int mime_header = ne > 8 && ci_eq(h, 8, "content-");
    if (!report && !mime_header) {
        m->hlen = 0;
        m->htrunc = 0;
        return; /* nobody reads its value */
    }
    /* unfold: line breaks out, the blanks after them stay */
    size_t vl = 0;
    for (size_t i = c + 1; i < n; i++) {
        if (h[i] == '\n' || (h[i] == '\r' && i + 1 < n && h[i + 1] == '\n'))
            continue;
        if (h[i] == '\r' && i + 1 == n)
            continue;
        m->vbuf[vl++] = h[i];
    }
    size_t vs = 0;
    while (vs < vl && is_blank((unsigned char)m->vbuf[vs]))
        vs++;
    while (vl > vs && is_blank((unsigned char)m->vbuf[vl - 1]))
        vl--;
    const char *v = m->vbuf + vs;
    size_t vlen = vl - vs;
    if (report) {
        struct mime_header hd = {h, ne, v, vlen, h, n, m->hoff, m->htrunc};
        m->h.header(m->h.ctx, &cur->pub, &hd);
    }
    if (mime_header) {
        if (ci_eq(h, ne, "content-type")) {
            if (cur->have_ct++)
                set_flag(m, cur, MIME_F_DUP_HEADER);
            else
                header_content_type(m, cur, v, vlen);
        } else if (ci_eq(h, ne, "content-transfer-encoding")) {
            if (cur->have_cte++)
                set_flag(m, cur, MIME_F_DUP_HEADER);
            else
                header_cte(m, cur, v, vlen);
        } else if (ci_eq(h, ne, "content-disposition")) {
            if (cur->have_cd++)
                set_flag(m, cur, MIME_F_DUP_HEADER);
            else
                header_disposition(m, cur, v, vlen);
        }
    }
    m->hlen = 0;
    m->htrunc = 0;
}

/* header_add - append to the header being collected, within the limit. */
static void header_add(struct mime_parser *m, struct pstate *cur, const unsigned char *s, size_t n)
{
    if (m->hlen + n > m->hcap && m->hcap < m->header_max) {
        size_t cap = m->hcap;
        while (cap < m->hlen + n && cap < m->header_max)
            cap *= 2;
        if (cap > m->header_max)
            cap = m->header_max;
        char *hb = realloc(m->hbuf, cap);
        char *vb = hb ? realloc(m->vbuf, cap) : NULL;
        char *pb = vb ? realloc(m->pbuf, cap) : NULL;
        if (hb)
            m->hbuf = hb;
        if (vb)
            m->vbuf = vb;
        if (pb) {
            m->pbuf = pb;
            m->hcap = m->pcap = cap;
        } else {
            m->nomem = 1;
        }
    }
    if (m->hlen + n > m->hcap) {
        n = m->hcap - m->hlen;
        if (!m->htrunc)
            set_flag(m, cur, MIME_F_HEADER_LONG);
        m->htrunc = 1;
    }
    memcpy(m->hbuf + m->hlen, s, n);
    m->hlen += n;
}

/* ------------------------------------------------------------ part events */

static void obuf_flush(struct mime_parser *m)
{
    if (m->olen && m->oown && m->h.body)
        m->h.body(m->h.ctx, &m->oown->pub, m->obuf, m->olen);
    m->olen = 0;
}

static void text_sink(void *ctx, const char *s, size_t n)
{
    struct mime_parser *m = ctx;
    if (m->town && m->h.text)
        m->h.text(m->h.ctx, &m->town->pub, s, n);
}

/* new_part - push a part at level L under the current top; NULL when the
 * part limit is reached (flagged on parent). */
static struct pstate *new_part(struct mime_parser *m, int L, uint64_t hoff)
{
    struct pstate *up = m->top >= 0 ? &m->stack[m->top] : NULL;
    if (m->nparts >= m->parts_max) {
        set_flag(m, up, MIME_F_PARTS);
        return NULL;
    }
    if (m->top + 1 >= (int)m->depth_max + 2) {
        set_flag(m, up, MIME_F_DEPTH);
        return NULL;
    }
    struct pstate *ps = &m->stack[++m->top];
    memset(ps, 0, offsetof(struct pstate, uline));
    ps->level = L;
    ps->st = ST_HEADERS;
    ps->pub.index = m->nparts++;
    ps->pub.depth = up ? up->pub.depth + 1 : 0;
    ps->pub.parent = up ? (int)up->pub.index : -1;
    ps->pub.up = up ? &up->pub : NULL;
    ps->pub.raw_offsets = L == 0;
    ps->pub.header_off = ps->pub.body_off = ps->pub.body_end = hoff;
    if (up && up->digest) {
        strcpy(ps->pub.type, "message");
        strcpy(ps->pub.subtype, "rfc822");
    } else {
        strcpy(ps->pub.type, "text");
        strcpy(ps->pub.subtype, "plain");
    }
    return ps;
}

/* out_bytes - decoded body bytes of a leaf: to the body buffer, the text
 * pipeline and the uuencode scanner. */
static void uu_scan(struct mime_parser *m, struct pstate *ps, const unsigned char *s, size_t n,
                    int final);

static void out_bytes(struct mime_parser *m, struct pstate *ps, const unsigned char *s, size_t n)
{
    if (!n)
        return;
    ps->pub.decoded_len += n;
    if ((m->h.want & MIME_WANT_BODY) && m->h.body) {
        if (m->oown != ps) {
            obuf_flush(m);
            m->oown = ps;
        }
        while (n) {
            size_t k = MIME_OBUF - m->olen;
            if (k > n)
                k = n;
            memcpy(m->obuf + m->olen, s, k);
            m->olen += k;
            if (m->olen == MIME_OBUF)
                obuf_flush(m);
            if (ps->scan_uu)
                uu_scan(m, ps, s, k, 0);
            if (ps->want_text && m->town == ps)
                mtext_feed(&m->text, s, k);
            s += k;
            n -= k;
        }
        return;
    }
    if (ps->scan_uu)
        uu_scan(m, ps, s, n, 0);
    if (ps->want_text && m->town == ps)
        mtext_feed(&m->text, s, n);
}

/* uu_child_end - the uuencoded file inside ps is complete. */
static void uu_child_end(struct mime_parser *m, struct pstate *ps, int bad, uint64_t end)
{
    struct pstate *u = ps->uu_child;
    if (!u)
        return;
    if (bad)
        set_flag(m, u, MIME_F_BAD_UU);
    u->pub.body_end = end;
    if (m->h.part_end)
        m->h.part_end(m->h.ctx, &u->pub);
    ps->uu_child = NULL;
    m->top--;
}

/* uu_line - one decoded line of a text/plain part, looking for
 * "begin 644 name" followed by uuencoded lines. */
static void uu_line(struct mime_parser *m, struct pstate *ps, const unsigned char *s, size_t n)
{
    uint64_t at = ps->uu_off;
    ps->uu_off += n;
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r'))
        n--;
    switch (ps->scan) {
    case UU_NONE:
    begin:
        if (n >= 8 && s[0] == 'b') {
            unsigned f = 0;
            if (uu_begin(s, n, ps->uu_name, sizeof(ps->uu_name), &f) == 0) {
                ps->scan = UU_BEGIN;
                ps->uu_boff = at;
            }
        }
        return;
    case UU_BEGIN: {
        int cnt = uu_line_valid(s, n);
        if (cnt <= 0) {
            ps->scan = UU_NONE;
            goto begin;
        }
        /* confirmed: a part of its own, after the text written so far */
        if (m->oown == ps)
            obuf_flush(m);
        struct pstate *u = new_part(m, ps->level, ps->uu_boff);
        ps->scan = UU_DATA;
        if (!u) {
            ps->scan = UU_DONE;
            return;
        }
        u->st = ST_UU;
        u->pub.origin = MIME_ORIGIN_UUENCODE;
        u->pub.raw_offsets = 0;
        u->pub.body_off = at;
        strcpy(u->pub.type, "application");
        strcpy(u->pub.subtype, "octet-stream");
        strcpy(u->pub.encoding, "x-uuencode");
        u->pub.cte = MIME_CTE_UUENCODE;
        u->pub.decoded = 1;
        set_name(m, u, u->pub.filename, ps->uu_name);
        ps->uu_child = u;
        if (m->h.part_begin)
            m->h.part_begin(m->h.ctx, &u->pub);
    }
    /* fall through */
    case UU_DATA: {
        struct pstate *u = ps->uu_child;
        int cnt = uu_line_valid(s, n);
        if (n == 3 && !memcmp(s, "end", 3)) {
            ps->scan = UU_NONE;
            uu_child_end(m, ps, 0, at);
            return;
        }
        if (cnt < 0) {
            /* the block ended without "end" */
            uu_child_end(m, ps, 1, at);
            ps->scan = UU_NONE;
            goto begin;
        }
        if (u && cnt > 0) {
            unsigned char out[64];
            size_t o = uu_line_decode(s, n, cnt, out);
            u->pub.decoded_len += o;
            if ((m->h.want & MIME_WANT_BODY) && m->h.body)
                m->h.body(m->h.ctx, &u->pub, out, o);
        }
        return;
    }
    default:
        return;
    }
}

/* uu_scan - split the decoded text of ps into lines for uu_line. */
static void uu_scan(struct mime_parser *m, struct pstate *ps, const unsigned char *s, size_t n,
                    int final)
{
    while (n) {
        const unsigned char *nl = memchr(s, '\n', n);
        size_t k = nl ? (size_t)(nl - s) + 1 : n;
        if (ps->ucont) {
            /* the rest of a line too long to matter */
            ps->uu_off += k;
            if (nl)
                ps->ucont = 0;
        } else if (ps->ulen == 0 && nl) {
            if (ps->scan != UU_NONE || (k >= 8 && s[0] == 'b'))
                uu_line(m, ps, s, k);
            else
                ps->uu_off += k;
        } else {
            size_t room = UU_LINE_MAX - ps->ulen;
            if (k > room) {
                /* too long for a begin or data line: it ends any block */
                if (ps->uu_child)
                    uu_child_end(m, ps, 1, ps->uu_off);
                ps->scan = UU_NONE;
                ps->uu_off += ps->ulen + k;
                ps->ulen = 0;
                ps->ucont = !nl;
            } else {
                memcpy(ps->uline + ps->ulen, s, k);
                ps->ulen += k;
                if (nl) {
                    uu_line(m, ps, ps->uline, ps->ulen);
                    ps->ulen = 0;
                }
            }
        }
        s += k;
        n -= k;
    }
    if (final) {
        if (ps->ulen)
            uu_line(m, ps, ps->uline, ps->ulen);
        ps->ulen = 0;
        if (ps->uu_child)
            uu_child_end(m, ps, 1, ps->uu_off);
        ps->scan = UU_NONE;
    }
}

/* ------------------------------------------------------------- decoding */

/* emit - decoded bytes of ps: the body of a leaf, or the input of the next
 * level for an encoded message/rfc822. */
static void emit(struct mime_parser *m, struct pstate *ps, const unsigned char *s, size_t n)
{
    if (ps->st == ST_CONTAINER)
        lvl_feed(m, ps->level + 1, s, n);
    else
        out_bytes(m, ps, s, n);
}

/* body_line - one line (or piece of a long line) of a body to decode; eol
 * is its line end (held back: a boundary may claim it). */
static void body_line(struct mime_parser *m, struct pstate *ps, const unsigned char *s, size_t n,
                      const unsigned char *eol, size_t eol_len, int start)
{
    if (!ps->decode)
        return; /* nobody reads it */
    switch (ps->pub.cte) {
    case MIME_CTE_BASE64: {
        unsigned char out[MIME_LINE_MAX / 4 * 3 + 8];
        int bad = 0;
        size_t o = b64_decode(s, n, out, &ps->b64q, &ps->b64n, &bad);
        if (bad)
            set_flag(m, ps, MIME_F_BAD_BASE64);
        emit(m, ps, out, o);
        return;
    }
    case MIME_CTE_QP: {
        unsigned char out[MIME_LINE_MAX + 8];
        size_t o = 0;
        int soft = 0;
        if (ps->eol_len) {
            emit(m, ps, ps->eol, ps->eol_len);
            ps->eol_len = 0;
        }
        if (eol_len) {
            /* trailing blanks are transport padding (RFC 2045 6.7) */
            while (n && is_blank(s[n - 1]))
                n--;
            if (n && s[n - 1] == '=')
                soft = 1, n--;
        }
        /* a carried "=" or "=X" from the previous piece */
        size_t i = 0;
        if (ps->qp_carry_len) {
            char c[3];
            size_t cl = ps->qp_carry_len;
            memcpy(c, ps->qp_carry, cl);
            while (cl < 3 && i < n)
                c[cl++] = (char)s[i++];
            ps->qp_carry_len = 0;
            if (cl == 3 && hexv((unsigned char)c[1]) >= 0 && hexv((unsigned char)c[2]) >= 0) {
                out[o++] =
                    (unsigned char)(hexv((unsigned char)c[1]) << 4 | hexv((unsigned char)c[2]));
            } else if (cl < 3 && !eol_len && !soft) {
                memcpy(ps->qp_carry, c, cl);
                ps->qp_carry_len = cl;
            } else {
                memcpy(out + o, c, cl);
                o += cl;
                set_flag(m, ps, MIME_F_BAD_QP);
            }
        }
        while (i < n) {
            const unsigned char *eq = memchr(s + i, '=', n - i);
            size_t run = eq ? (size_t)(eq - (s + i)) : n - i;
            memcpy(out + o, s + i, run);
            o += run;
            i += run;
            if (!eq)
                break;
            if (i + 2 < n && hexv(s[i + 1]) >= 0 && hexv(s[i + 2]) >= 0) {
                out[o++] = (unsigned char)(hexv(s[i + 1]) << 4 | hexv(s[i + 2]));
                i += 3;
            } else if (!eol_len && !soft && n - i < 3) {
                /* "=" or "=X" at the end of a piece: the rest comes next */
                memcpy(ps->qp_carry, s + i, n - i);
                ps->qp_carry_len = n - i;
                i = n;
            } else {
                out[o++] = '=';
                i++;
                set_flag(m, ps, MIME_F_BAD_QP);
            }
        }
        emit(m, ps, out, o);
        if (eol_len && !soft) {
            memcpy(ps->eol, eol, eol_len);
            ps->eol_len = eol_len;
        }
        return;
    }
    case MIME_CTE_UUENCODE: {
        size_t l = n;
        while (l && (s[l - 1] == '\r' || is_blank(s[l - 1])))
            l--;
        if (!start)
            return;
        if (ps->uu == UU_NONE) {
            char name[MIME_NAME_MAX];
            unsigned f = 0;
            if (uu_begin(s, l, name, sizeof(name), &f) == 0)
                ps->uu = UU_DATA;
            return;
        }
        if (ps->uu != UU_DATA)
            return;
        if (l == 3 && !memcmp(s, "end", 3)) {
            ps->uu = UU_DONE;
            return;
        }
        int cnt = uu_line_valid(s, l);
        if (cnt < 0) {
            set_flag(m, ps, MIME_F_BAD_UU);
            return;
        }
        unsigned char out[MIME_LINE_MAX];
        if (cnt)
            emit(m, ps, out, uu_line_decode(s, l, cnt, out));
        return;
    }
    default:
        if (ps->eol_len) {
            emit(m, ps, ps->eol, ps->eol_len);
            ps->eol_len = 0;
        }
        emit(m, ps, s, n);
        if (eol_len) {
            memcpy(ps->eol, eol, eol_len);
            ps->eol_len = eol_len;
        }
        return;
    }
}

/* body_flush - the body is complete: what the decoders hold. */
static void body_flush(struct mime_parser *m, struct pstate *ps, int keep_eol)
{
    if (!ps->decode) {
        ps->eol_len = 0;
        return;
    }
    if (ps->pub.cte == MIME_CTE_BASE64) {
        unsigned char out[4];
        size_t o = ps->b64n == B64_DONE ? 0 : b64_final(ps->b64q, ps->b64n, out);
        if (ps->b64n && ps->b64n != B64_DONE)
            set_flag(m, ps, MIME_F_BAD_BASE64); /* no padding */
        ps->b64n = 0;
        emit(m, ps, out, o);
    } else if (ps->pub.cte == MIME_CTE_QP && ps->qp_carry_len) {
        /* a lone "=" at the very end is a soft break; "=X" is literal */
        if (ps->qp_carry_len > 1) {
            emit(m, ps, (const unsigned char *)ps->qp_carry, ps->qp_carry_len);
            set_flag(m, ps, MIME_F_BAD_QP);
        }
        ps->qp_carry_len = 0;
    } else if (ps->pub.cte == MIME_CTE_UUENCODE && ps->uu == UU_DATA) {
        set_flag(m, ps, MIME_F_BAD_UU);
    }
    if (ps->eol_len && keep_eol)
        emit(m, ps, ps->eol, ps->eol_len);
    ps->eol_len = 0;
}

/* ----------------------------------------------------------- part states */

/* is_message_subtype - message subtypes that contain a whole message. */
static int is_message_subtype(const char *s)
{
    return !strcmp(s, "rfc822") || !strcmp(s, "rfc2822") || !strcmp(s, "news") ||
           !strcmp(s, "global");
}

/* level_ready - can input level L be used (its line buffer allocated)? */
static int level_ready(struct mime_parser *m, int L)
{
    if (L >= MIME_LEVELS)
        return 0;
    if (!m->lv[L].line && !(m->lv[L].line = malloc(MIME_LINE_MAX))) {
        m->nomem = 1;
        return 0;
    }
    return 1;
}

/* start_level - an encoded message/rfc822 part: its decoded body is read
 * as a message at the next level (level_ready and the part limit were
 * checked before its part_begin). */
static void start_level(struct mime_parser *m, struct pstate *ps)
{
    struct level *lv = &m->lv[ps->level + 1];
    lv->len = 0;
    lv->cont = 0;
    lv->off = 0;
    lv->active = 1;
    lv->base = m->top;
    if (!new_part(m, ps->level + 1, 0))
        lv->active = 0;
}

/* headers_end - the header block of ps is complete: settle its facts,
 * report part_begin and choose how its body is read. */
static void headers_end(struct mime_parser *m, struct pstate *ps, uint64_t body_off)
{
    if (m->hlen)
        header_done(m, ps);
    ps->pub.body_off = ps->pub.body_end = body_off;
    if (!ps->pub.filename[0] && ps->ct_name[0])
        strcpy(ps->pub.filename, ps->ct_name);
    const char *t = ps->pub.type, *st = ps->pub.subtype;
    int container = 0;
    if (!strcmp(t, "multipart")) {
        ps->pub.kind = MIME_MULTIPART;
        container = 1;
    } else if (!strcmp(t, "message") && is_message_subtype(st)) {
        ps->pub.kind = MIME_MESSAGE;
        container = 1;
    } else {
        ps->pub.kind = MIME_LEAF;
    }
    if (container && ps->pub.depth >= m->depth_max) {
        set_flag(m, ps, MIME_F_DEPTH);
        ps->pub.kind = MIME_LEAF;
        container = 0;
    }
    int encoded = ps->pub.cte == MIME_CTE_BASE64 || ps->pub.cte == MIME_CTE_QP ||
                  ps->pub.cte == MIME_CTE_UUENCODE;
    if (ps->pub.kind == MIME_MESSAGE) {
        /* the message inside needs a part (and, encoded, an input level):
         * when there is none, the body is delivered as a leaf */
        if (m->nparts >= m->parts_max) {
            set_flag(m, ps, MIME_F_PARTS);
            ps->pub.kind = MIME_LEAF;
        } else if (encoded && !level_ready(m, ps->level + 1)) {
            set_flag(m, ps, MIME_F_DEPTH);
            ps->pub.kind = MIME_LEAF;
        }
        if (encoded)
            set_flag(m, ps, MIME_F_ENCODED_CONTAINER);
    }
    if (ps->pub.kind == MIME_MULTIPART) {
        ps->digest = !strcmp(st, "digest");
        if (ps->pub.cte != MIME_CTE_NONE)
            set_flag(m, ps, MIME_F_ENCODED_CONTAINER); /* read as is, as GMime and Postfix do */
        if (!ps->blen)
            set_flag(m, ps, MIME_F_NO_BOUNDARY);
        ps->pub.cte = MIME_CTE_NONE;
        ps->st = ST_PREAMBLE;
        ps->decode = (m->h.want & MIME_WANT_BODY) != 0;
    } else if (ps->pub.kind == MIME_LEAF) {
        ps->st = ST_BODY;
        int textual = !strcmp(t, "text") && (!strcmp(st, "plain") || !strcmp(st, "html"));
        ps->want_text = textual && (m->h.want & MIME_WANT_TEXT) && m->h.text;
        ps->scan_uu = !strcmp(t, "text") && !strcmp(st, "plain") &&
                      ps->pub.cte != MIME_CTE_UUENCODE && ps->pub.origin == MIME_ORIGIN_HEADERS;
        ps->decode = (m->h.want & MIME_WANT_BODY) || ps->want_text || ps->scan_uu;
    } else {
        ps->st = encoded ? ST_CONTAINER : ST_MESSAGE;
        ps->decode = encoded; /* into the next level, never as body events */
    }
    ps->pub.decoded = ps->pub.kind != MIME_MESSAGE && ps->decode;
    if (m->h.part_begin)
        m->h.part_begin(m->h.ctx, &ps->pub);
    if (ps->want_text) {
        if (m->town) {
            mtext_finish(&m->text);
            mtext_close(&m->text);
        }
        mtext_open(&m->text, ps->pub.charset, !strcmp(st, "html"), text_sink, m);
        m->town = ps;
    }
    /* message/rfc822: the message inside is the next part (room checked above) */
    if (ps->st == ST_CONTAINER)
        start_level(m, ps);
    else if (ps->st == ST_MESSAGE)
        new_part(m, ps->level, body_off);
}

/* container_drain - the encoded body of a message/rfc822 part has ended:
 * the decoder's last bytes to the next level, which then ends. */
static void container_drain(struct mime_parser *m, struct pstate *ps, int keep_eol)
{
    int L = ps->level + 1;
    if (L >= MIME_LEVELS || !m->lv[L].active)
        return;
    body_flush(m, ps, keep_eol);
    lvl_finish(m, L);
}

/* close_one - part_end for the innermost open part. */
static void close_one(struct mime_parser *m, uint64_t end, int keep_eol)
{
    struct pstate *ps = &m->stack[m->top];
    if (ps->st == ST_UU && m->top > 0) {
        /* a uuencoded file is closed by its carrier */
        ps = &m->stack[m->top - 1];
    }
    switch (ps->st) {
    case ST_HEADERS:
        headers_end(m, ps, end);
        if (&m->stack[m->top] != ps)
            return; /* a message/rfc822 opened its message: closed next */
        if (ps->st == ST_CONTAINER)
            return;
        body_flush(m, ps, keep_eol);
        break;
    case ST_BODY:
    case ST_PREAMBLE:
        if (ps->st == ST_PREAMBLE && ps->blen)
            set_flag(m, ps, MIME_F_UNCLOSED);
        body_flush(m, ps, keep_eol);
        break;
    case ST_PARTS:
    case ST_SKIP:
        set_flag(m, ps, MIME_F_UNCLOSED);
        break;
    case ST_CONTAINER:
        container_drain(m, ps, keep_eol);
        if (&m->stack[m->top] != ps)
            return;
        break;
    default:
        break;
    }
    if (ps->scan_uu) {
        uu_scan(m, ps, NULL, 0, 1);
        ps->scan_uu = 0;
    }
    if (m->town == ps) {
        unsigned f = mtext_finish(&m->text);
        mtext_close(&m->text);
        m->town = NULL;
        if (f & MTEXT_F_CHARSET)
            set_flag(m, ps, MIME_F_CHARSET);
        if (f & MTEXT_F_INVALID)
            set_flag(m, ps, MIME_F_BAD_TEXT);
    }
    if (m->oown == ps) {
        obuf_flush(m);
        m->oown = NULL;
    }
    ps->pub.body_end = end;
    if (m->h.part_end)
        m->h.part_end(m->h.ctx, &ps->pub);
    m->top = (int)(ps - m->stack) - 1;
}

/* close_above - close every part above stack index k (innermost first);
 * the body of each ends at end, the held line end dropped unless keep_eol.
 * An encoded container is drained first: its decoded stream has ended. */
static void close_above(struct mime_parser *m, int k, uint64_t end, int keep_eol)
{
    for (int i = k + 1; i <= m->top; i++) {
        struct pstate *ps = &m->stack[i];
        if (ps->st == ST_CONTAINER && ps->level + 1 < MIME_LEVELS && m->lv[ps->level + 1].active) {
            container_drain(m, ps, keep_eol);
            break;
        }
    }
    while (m->top > k)
        close_one(m, end, keep_eol);
}

/* boundary_match - is this line a boundary of an open multipart of level
 * L?  Returns its stack index (*final for "--b--"), or -1. */
static int boundary_match(struct mime_parser *m, int L, const unsigned char *s, size_t n,
                          int *final)
{
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || is_blank(s[n - 1])))
        n--;
    if (n < 3)
        return -1;
    s += 2;
    n -= 2;
    for (int i = m->top; i >= 0; i--) {
        struct pstate *ps = &m->stack[i];
        if (ps->st == ST_UU)
            continue;
        if (ps->level != L)
            break;
        if (ps->pub.kind != MIME_MULTIPART || !ps->blen ||
            (ps->st != ST_PREAMBLE && ps->st != ST_PARTS && ps->st != ST_SKIP))
            continue;
        if (n < ps->blen || memcmp(s, ps->boundary, ps->blen) != 0)
            continue;
        if (n == ps->blen) {
            *final = 0;
            return i;
        }
        if (n == ps->blen + 2 && s[n - 1] == '-' && s[n - 2] == '-') {
            *final = 1;
            return i;
        }
        if (ps->bprefix) {
            *final = n >= ps->blen + 2 && s[n - 1] == '-' && s[n - 2] == '-';
            return i;
        }
    }
    return -1;
}

/* header_line - a line of a header block. */
static void header_line(struct mime_parser *m, int L, struct pstate *ps, const unsigned char *s,
                        size_t n, int start, int complete);

/* lvl_line - one line (complete, or a piece of a long one) of level L. */
static void lvl_line(struct mime_parser *m, int L, const unsigned char *s, size_t n, int start,
                     int complete)
{
    struct level *lv = &m->lv[L];
    int cur_i = m->top;
    while (cur_i >= 0 && (m->stack[cur_i].level > L || m->stack[cur_i].st == ST_UU))
        cur_i--;
    if (cur_i < 0 || m->stack[cur_i].level != L)
        return; /* nothing open at this level any more: trailing data */
    struct pstate *cur = &m->stack[cur_i];
    size_t el = complete ? 1 + (n >= 2 && s[n - 2] == '\r') : 0;

    /* a boundary line ends whatever it appears in */
    if (start && n >= 3 && s[0] == '-' && s[1] == '-') {
        int final = 0, k = boundary_match(m, L, s, n, &final);
        if (k >= 0) {
            struct pstate *mp = &m->stack[k];
            /* the line end before the boundary belongs to the boundary */
            uint64_t end = lv->off - cur->raw_eol;
            close_above(m, k, end, 0);
            if (mp->st == ST_PREAMBLE) {
                body_flush(m, mp, 0);
                if (m->oown == mp) {
                    obuf_flush(m);
                    m->oown = NULL;
                }
            }
            if (final) {
                mp->st = ST_EPILOGUE;
                mp->raw_eol = el; /* an outer boundary next claims this line end */
            } else {
                mp->st = ST_PARTS;
                if (!new_part(m, L, lv->off + n))
                    mp->st = ST_SKIP;
            }
            return;
        }
    }
    cur->raw_eol = cur->st == ST_HEADERS ? 0 : el;
    switch (cur->st) {
    case ST_HEADERS:
        header_line(m, L, cur, s, n, start, complete);
        return;
    case ST_BODY:
    case ST_PREAMBLE:
    case ST_CONTAINER:
        body_line(m, cur, s, n - el, s + n - el, el, start);
        return;
    case ST_EPILOGUE:
        for (size_t i = 0; i < n; i++)
            if (!is_blank(s[i]) && s[i] != '\r' && s[i] != '\n') {
                set_flag(m, cur, MIME_F_EPILOGUE);
                break;
            }
        return;
    default:
        return; /* ST_PARTS / ST_SKIP / ST_MESSAGE: lines nobody owns */
    }
}

/* header_name_ok - "Name:" or "Name :" at the start of s (RFC 5322 field
 * name: printable, no blank inside); returns 1 when it is a header. */
static int header_name_ok(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n && s[i] != ':' && s[i] > ' ' && s[i] != 0x7f)
        i++;
    if (i == 0)
        return 0;
    while (i < n && is_blank(s[i]))
        i++;
    return i < n && s[i] == ':';
}

/* body_without_headers - the header block starts with a line that is no
 * header: the block is empty and this line is the first of the body. */
static void body_without_headers(struct mime_parser *m, int L, struct pstate *ps,
                                 const unsigned char *s, size_t n, int complete)
{
    set_flag(m, ps, MIME_F_NO_HEADERS);
    headers_end(m, ps, m->lv[L].off);
    lvl_line(m, L, s, n, 1, complete);
}

static void header_line(struct mime_parser *m, int L, struct pstate *ps, const unsigned char *s,
                        size_t n, int start, int complete)
{
    struct level *lv = &m->lv[L];
    size_t c = n;
    if (complete)
        c = n - 1 - (n >= 2 && s[n - 2] == '\r');
    if (!start) {
        /* the rest of a long line: belongs to the header being collected */
        if (m->hlen)
            header_add(m, ps, s, n);
        return;
    }
    size_t cr = 0;
    while (cr < c && s[cr] == '\r')
        cr++;
    if (cr == c && complete) {
        /* the empty line (bare CRs count as blank): end of the header block */
        headers_end(m, ps, lv->off + n);
        return;
    }
    if (is_blank(s[0])) {
        if (m->hlen) {
            header_add(m, ps, s, n);
            return;
        }
        if (!ps->nheaders) {
            body_without_headers(m, L, ps, s, n, complete);
            return;
        }
        set_flag(m, ps, MIME_F_BAD_HEADER);
        ps->seen_line = 1;
        return;
    }
    if (ps->pub.index == 0 && L == 0 && !ps->seen_line && !ps->nheaders && !m->hlen && c >= 5 &&
        !memcmp(s, "From ", 5)) {
        /* an mbox separator before the message */
        ps->seen_line = 1;
        ps->pub.header_off = lv->off + n;
        return;
    }
    if (header_name_ok(s, c)) {
        if (m->hlen)
            header_done(m, ps);
        m->hoff = lv->off;
        m->htrunc = 0;
        header_add(m, ps, s, n);
        ps->seen_line = 1;
        return;
    }
    if (!ps->nheaders && !m->hlen) {
        body_without_headers(m, L, ps, s, n, complete);
        return;
    }
    /* a line without a colon among headers: skipped, as mail clients do */
    if (m->hlen)
        header_done(m, ps);
    set_flag(m, ps, MIME_F_BAD_HEADER);
    ps->seen_line = 1;
}

/* ------------------------------------------------------------ line input */

/* lvl_feed - bytes of level L, split into lines of at most MIME_LINE_MAX. */
static void lvl_feed(struct mime_parser *m, int L, const unsigned char *p, size_t n)
{
    struct level *lv = &m->lv[L];
    while (n && lv->active) {
        if (lv->len == 0) {
            size_t lim = n < MIME_LINE_MAX ? n : MIME_LINE_MAX;
            const unsigned char *nl = memchr(p, '\n', lim);
            if (nl) {
                size_t k = (size_t)(nl - p) + 1;
                int start = !lv->cont;
                lv->cont = 0;
                lvl_line(m, L, p, k, start, 1);
                lv->off += k;
                p += k;
                n -= k;
                continue;
            }
            if (n >= MIME_LINE_MAX) {
                int start = !lv->cont;
                set_flag(m, m->top >= 0 ? &m->stack[m->top] : NULL, MIME_F_LINE_LONG);
                lv->cont = 1;
                lvl_line(m, L, p, MIME_LINE_MAX, start, 0);
                lv->off += MIME_LINE_MAX;
                p += MIME_LINE_MAX;
                n -= MIME_LINE_MAX;
                continue;
            }
            memcpy(lv->line, p, n);
            lv->len = n;
            return;
        }
        size_t take = MIME_LINE_MAX - lv->len;
        if (take > n)
            take = n;
        const unsigned char *nl = memchr(p, '\n', take);
        if (nl)
            take = (size_t)(nl - p) + 1;
        memcpy(lv->line + lv->len, p, take);
        lv->len += take;
        p += take;
        n -= take;
        if (nl || lv->len == MIME_LINE_MAX) {
            int start = !lv->cont;
            if (!nl)
                set_flag(m, m->top >= 0 ? &m->stack[m->top] : NULL, MIME_F_LINE_LONG);
            size_t len = lv->len;
            lv->cont = !nl;
            lv->len = 0;
            lvl_line(m, L, lv->line, len, start, nl != NULL);
            lv->off += len;
        }
    }
}

/* lvl_finish - the end of level L's stream: its last line, then every
 * part of the level is closed with its last line end kept. */
static void lvl_finish(struct mime_parser *m, int L)
{
    struct level *lv = &m->lv[L];
    if (!lv->active)
        return;
    if (lv->len) {
        size_t len = lv->len;
        int start = !lv->cont;
        lv->len = 0;
        lvl_line(m, L, lv->line, len, start, 0);
        lv->off += len;
    }
    lv->active = 0;
    close_above(m, lv->base, lv->off, 1);
}

/* ------------------------------------------------------------- interface */

/* parser_start - the state of a parser before the first byte. */
static void parser_start(struct mime_parser *m)
{
    m->flags = 0;
    m->nparts = 0;
    m->done = 0;
    m->nomem = 0;
    m->top = -1;
    m->hlen = 0;
    m->htrunc = 0;
    m->olen = 0;
    m->oown = m->town = NULL;
    for (int i = 0; i < MIME_LEVELS; i++) {
        m->lv[i].len = 0;
        m->lv[i].cont = 0;
        m->lv[i].off = 0;
        m->lv[i].active = 0;
    }
    m->lv[0].active = 1;
    m->lv[0].base = -1;
    new_part(m, 0, 0);
}

struct mime_parser *mime_new(const struct mime_handler *h, const struct mime_limits *lim)
{
    struct mime_parser *m = malloc(sizeof(*m));
    if (!m)
        return NULL;
    memset(m, 0, offsetof(struct mime_parser, obuf)); /* the buffers need no clearing */
    m->h = *h;
    m->depth_max = lim && lim->depth ? lim->depth : MIME_DEF_DEPTH;
    if (m->depth_max > MIME_MAX_DEPTH)
        m->depth_max = MIME_MAX_DEPTH;
    m->parts_max = lim && lim->parts ? lim->parts : MIME_DEF_PARTS;
    m->header_max = lim && lim->header ? lim->header : MIME_DEF_HEADER;
    if (m->header_max < MIME_MIN_HEADER)
        m->header_max = MIME_MIN_HEADER;
    m->boundary_max = lim && lim->boundary ? lim->boundary : MIME_DEF_BOUNDARY;
    if (m->boundary_max > MIME_MAX_BOUNDARY)
        m->boundary_max = MIME_MAX_BOUNDARY;
    m->hcap = m->pcap = MIME_MIN_HEADER;
    m->stack = malloc((m->depth_max + 2) * sizeof(*m->stack)); /* new_part clears an entry */
    m->hbuf = malloc(m->hcap);
    m->vbuf = malloc(m->hcap);
    m->pbuf = malloc(m->hcap);
    m->lv[0].line = malloc(MIME_LINE_MAX);
    if (!m->stack || !m->hbuf || !m->vbuf || !m->pbuf || !m->lv[0].line) {
        mime_free(m);
        return NULL;
    }
    parser_start(m);
    return m;
}

void mime_reset(struct mime_parser *m)
{
    if (m->town)
        mtext_close(&m->text);
    parser_start(m);
}

int mime_feed(struct mime_parser *m, const void *data, size_t len)
{
    if (m->done)
        return 0;
    lvl_feed(m, 0, data, len);
    if (m->nomem) {
        m->nomem = 0;
        set_flag(m, NULL, MIME_F_PARTS);
        return -1;
    }
    return 0;
}

unsigned mime_finish(struct mime_parser *m)
{
    if (!m->done) {
        lvl_finish(m, 0);
        m->done = 1;
    }
    return m->flags;
}

unsigned mime_flags(const struct mime_parser *m)
{
    return m->flags;
}

unsigned mime_parts(const struct mime_parser *m)
{
    return m->nparts;
}

void mime_free(struct mime_parser *m)
{
    if (!m)
        return;
    if (m->town)
        mtext_close(&m->text);
    for (int i = 0; i < MIME_LEVELS; i++)
        free(m->lv[i].line);
    free(m->stack);
    free(m->hbuf);
    free(m->vbuf);
    free(m->pbuf);
    free(m);
}
