/*
 * mimetext.c - charset conversion to UTF-8 and HTML to text, streaming, in
 * fixed buffers.  Never fails: an unknown charset reads as UTF-8 where the
 * bytes are valid UTF-8 and as windows-1252 elsewhere, a byte invalid in its
 * charset becomes U+FFFD, and both are reported as flags.  The output
 * depends only on the input bytes, never on how they were split.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "mimetext.h"

enum { CS_UTF8, CS_MIXED, CS_1252, CS_ICONV };

/* windows-1252 0x80..0x9f; the five holes map to the C1 code points */
static const unsigned short cp1252[32] = {
    0x20ac, 0x0081, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021, 0x02c6, 0x2030, 0x0160,
    0x2039, 0x0152, 0x008d, 0x017d, 0x008f, 0x0090, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022,
    0x2013, 0x2014, 0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0x009d, 0x017e, 0x0178,
};

/* Charset names mail clients use that iconv does not know, or knows as a
 * narrower set than the mail means. */
static const struct {
    const char *name, *as;
} cs_alias[] = {
    {"ks_c_5601-1987", "CP949"},
    {"ks_c_5601", "CP949"},
    {"euc-kr", "CP949"},
    {"gb2312", "GB18030"},
    {"gbk", "GB18030"},
    {"x-gbk", "GB18030"},
    {"cn-gb", "GB18030"},
    {"x-sjis", "SHIFT_JIS"},
    {"shift-jis", "SHIFT_JIS"},
    {"x-euc-jp", "EUC-JP"},
    {"iso-8859-8-i", "ISO-8859-8"},
    {"x-mac-roman", "MACINTOSH"},
    {"big5-hkscs", "BIG5-HKSCS"},
    {"x-mac-cyrillic", "MAC-CYRILLIC"},
    {"tis-620", "TIS-620"},
    {"windows-874", "CP874"},
    {"x-cp1251", "CP1251"},
    {"x-cp1250", "CP1250"},
};

/* charset_norm - lower-case name without quotes, blanks or an RFC 2231
 * language suffix ("utf-8*en"), into buf (64 bytes). */
static void charset_norm(const char *cs, char *buf, size_t size)
{
    size_t n = 0;
    if (!cs)
        cs = "";
    while (*cs == ' ' || *cs == '\t' || *cs == '"' || *cs == '\'')
        cs++;
    for (;
         *cs && *cs != '*' && *cs != '"' && *cs != '\'' && *cs != ' ' && *cs != ';' && n + 1 < size;
         cs++)
        buf[n++] = (*cs >= 'A' && *cs <= 'Z') ? (char)(*cs + 32) : *cs;
    buf[n] = '\0';
}

/* charset_kind - how text in this (normalized) charset converts; opens
 * *cd for CS_ICONV. */
static int charset_kind(const char *cs, iconv_t *cd, unsigned *flags)
{
    static const char *const utf8[] = {"utf-8", "utf8", "unicode-1-1-utf-8", "x-unicode20utf8"};
    static const char *const mixed[] = {
        "",        "us-ascii",     "ascii",     "ansi_x3.4-1968", "iso646-us",
        "us",      "unknown-8bit", "x-unknown", "x-user-defined", "default",
        "unknown", "8bit"};
    static const char *const w1252[] = {
        "iso-8859-1",   "iso8859-1", "iso_8859-1", "latin1", "latin-1", "l1",
        "windows-1252", "cp1252",    "x-cp1252",   "ibm819", "cp819",   "iso_8859-1:1987"};
    *cd = (iconv_t)-1;
    for (size_t i = 0; i < sizeof(utf8) / sizeof(*utf8); i++)
        if (!strcmp(cs, utf8[i]))
            return CS_UTF8;
    for (size_t i = 0; i < sizeof(mixed) / sizeof(*mixed); i++)
        if (!strcmp(cs, mixed[i]))
            return CS_MIXED;
    for (size_t i = 0; i < sizeof(w1252) / sizeof(*w1252); i++)
        if (!strcmp(cs, w1252[i]))
            return CS_1252;
    const char *as = cs;
    for (size_t i = 0; i < sizeof(cs_alias) / sizeof(*cs_alias); i++)
        if (!strcmp(cs, cs_alias[i].name))
            as = cs_alias[i].as;
    /* an iconv name never carries '/': "UTF-8//IGNORE" is no charset */
    if (!strchr(as, '/') && (*cd = iconv_open("UTF-8", as)) != (iconv_t)-1)
        return CS_ICONV;
    *flags |= MTEXT_F_CHARSET;
    return CS_MIXED;
}

/* u8_seq - length of the valid UTF-8 sequence at p (1-4), 0 when the n
 * bytes are a valid but incomplete start, -1 when invalid. */
static int u8_seq(const unsigned char *p, size_t n)
{
    unsigned c = p[0];
    int len;
    unsigned lo = 0x80, hi = 0xbf;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;
    } else
        return -1;
    for (int i = 1; i < len; i++) {
        if ((size_t)i >= n)
            return 0;
        if (p[i] < lo || p[i] > hi)
            return -1;
        lo = 0x80, hi = 0xbf;
    }
    return len;
}

int mtext_utf8_seq(const unsigned char *p, size_t n)
{
    return n ? u8_seq(p, n) : 0;
}

int mtext_utf8_valid(const unsigned char *in, size_t len)
{
    size_t i = 0;
    while (i < len) {
        int l = u8_seq(in + i, len - i);
        if (l <= 0)
            return 0;
        i += (size_t)l;
    }
    return 1;
}

/* u8_put - encode code point c as UTF-8 into b; returns its length. */
static size_t u8_put(unsigned c, char *b)
{
    if (c < 0x80) {
        b[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        b[0] = (char)(0xc0 | (c >> 6));
        b[1] = (char)(0x80 | (c & 0x3f));
        return 2;
    }
    if (c < 0x10000) {
        b[0] = (char)(0xe0 | (c >> 12));
        b[1] = (char)(0x80 | ((c >> 6) & 0x3f));
        b[2] = (char)(0x80 | (c & 0x3f));
        return 3;
    }
    b[0] = (char)(0xf0 | (c >> 18));
    b[1] = (char)(0x80 | ((c >> 12) & 0x3f));
    b[2] = (char)(0x80 | ((c >> 6) & 0x3f));
    b[3] = (char)(0x80 | (c & 0x3f));
    return 4;
}

/* ---- the last stage: zero-width characters out, then the buffer ---- */

static void out_flush(struct mtext *t)
{
    if (t->outlen) {
        t->sink(t->ctx, t->out, t->outlen);
        t->outlen = 0;
    }
}

static void out_bytes(struct mtext *t, const char *s, size_t n)
{
    while (n) {
        size_t room = MTEXT_OUT_MAX - t->outlen;
        if (room == 0) {
            out_flush(t);
            continue;
        }
        /* never split a UTF-8 sequence between two sink calls */
        size_t k = n < room ? n : room;
        if (k < n)
            while (k > 0 && ((unsigned char)s[k] & 0xc0) == 0x80)
                k--;
        if (k == 0) {
            out_flush(t);
            continue;
        }
        memcpy(t->out + t->outlen, s, k);
        t->outlen += k;
        s += k;
        n -= k;
    }
}

/* invisible - U+00AD soft hyphen, U+200B-U+200D, U+2060, U+FEFF: characters
 * that render as nothing and are put between letters to split words. */
static int invisible(const unsigned char *p, size_t l)
{
    if (l == 2)
        return p[0] == 0xc2 && p[1] == 0xad;
    if (l == 3)
        return (p[0] == 0xe2 && p[1] == 0x80 && p[2] >= 0x8b && p[2] <= 0x8d) ||
               (p[0] == 0xe2 && p[1] == 0x81 && p[2] == 0xa0) ||
               (p[0] == 0xef && p[1] == 0xbb && p[2] == 0xbf);
    return 0;
}

/* out_text - UTF-8 (whole characters, possibly across calls) to the buffer,
 * dropping invisible characters. */
static void out_text(struct mtext *t, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    while (t->u8len && p < end) { /* finish a sequence begun in the last call */
        t->u8[t->u8len++] = *p++;
        int l = u8_seq(t->u8, t->u8len);
        if (l == 0 && t->u8len < 4)
            continue;
        if (l > 0 && !invisible(t->u8, (size_t)l))
            out_bytes(t, (const char *)t->u8, (size_t)l);
        else if (l < 0)
            out_bytes(t, "\xef\xbf\xbd", 3);
        t->u8len = 0;
    }
    while (p < end) {
        const unsigned char *run = p;
        while (p < end && *p < 0xc2)
            p++;
        if (p > run)
            out_bytes(t, (const char *)run, (size_t)(p - run));
        if (p == end)
            break;
        int l = u8_seq(p, (size_t)(end - p));
        if (l == 0) {
            memcpy(t->u8, p, (size_t)(end - p));
            t->u8len = (size_t)(end - p);
            return;
        }
        if (l < 0)
            l = 1, out_bytes(t, (const char *)p, 1);
        else if (!invisible(p, (size_t)l))
            out_bytes(t, (const char *)p, (size_t)l);
        p += l;
    }
}

/* ---- HTML to text ---- */

enum {
    H_TEXT,
    H_LT,
    H_LT_SLASH,
    H_TAGNAME,
    H_ATTR,
    H_BANG,
    H_BANG_DASH,
    H_COMMENT,
    H_DECL,
    H_ENT,
    H_RAW,
};

/* Named character references: the Latin-1 set (code points 160-255, in
 * order, also honoured without ';' as browsers do) and common others. */
static const char *const latin1_names[96] = {
    "nbsp",   "iexcl",  "cent",   "pound",  "curren", "yen",    "brvbar", "sect",   "uml",
    "copy",   "ordf",   "laquo",  "not",    "shy",    "reg",    "macr",   "deg",    "plusmn",
    "sup2",   "sup3",   "acute",  "micro",  "para",   "middot", "cedil",  "sup1",   "ordm",
    "raquo",  "frac14", "frac12", "frac34", "iquest", "Agrave", "Aacute", "Acirc",  "Atilde",
    "Auml",   "Aring",  "AElig",  "Ccedil", "Egrave", "Eacute", "Ecirc",  "Euml",   "Igrave",
    "Iacute", "Icirc",  "Iuml",   "ETH",    "Ntilde", "Ograve", "Oacute", "Ocirc",  "Otilde",
    "Ouml",   "times",  "Oslash", "Ugrave", "Uacute", "Ucirc",  "Uuml",   "Yacute", "THORN",
    "szlig",  "agrave", "aacute", "acirc",  "atilde", "auml",   "aring",  "aelig",  "ccedil",
    "egrave", "eacute", "ecirc",  "euml",   "igrave", "iacute", "icirc",  "iuml",   "eth",
    "ntilde", "ograve", "oacute", "ocirc",  "otilde", "ouml",   "divide", "oslash", "ugrave",
    "uacute", "ucirc",  "uuml",   "yacute", "thorn",  "yuml",
};
static const struct {
    const char *name;
    unsigned cp;
    int legacy; /* recognised without ';' */
} other_names[] = {
    {"amp", '&', 1},      {"lt", '<', 1},      {"gt", '>', 1},
    {"quot", '"', 1},     {"apos", '\'', 0},   {"Tab", 9, 0},
    {"NewLine", 10, 0},   {"OElig", 338, 0},   {"oelig", 339, 0},
    {"Scaron", 352, 0},   {"scaron", 353, 0},  {"Yuml", 376, 0},
    {"fnof", 402, 0},     {"circ", 710, 0},    {"tilde", 732, 0},
    {"ensp", 8194, 0},    {"emsp", 8195, 0},   {"thinsp", 8201, 0},
    {"zwnj", 8204, 0},    {"zwj", 8205, 0},    {"lrm", 8206, 0},
    {"rlm", 8207, 0},     {"ndash", 8211, 0},  {"mdash", 8212, 0},
    {"lsquo", 8216, 0},   {"rsquo", 8217, 0},  {"sbquo", 8218, 0},
    {"ldquo", 8220, 0},   {"rdquo", 8221, 0},  {"bdquo", 8222, 0},
    {"dagger", 8224, 0},  {"Dagger", 8225, 0}, {"bull", 8226, 0},
    {"hellip", 8230, 0},  {"permil", 8240, 0}, {"prime", 8242, 0},
    {"Prime", 8243, 0},   {"lsaquo", 8249, 0}, {"rsaquo", 8250, 0},
    {"euro", 8364, 0},    {"trade", 8482, 0},  {"larr", 8592, 0},
    {"uarr", 8593, 0},    {"rarr", 8594, 0},   {"darr", 8595, 0},
    {"spades", 9824, 0},  {"clubs", 9827, 0},  {"hearts", 9829, 0},
    {"diams", 9830, 0},   {"check", 10003, 0}, {"ZeroWidthSpace", 8203, 0},
    {"NoBreak", 8288, 0}, {"ensp", 8194, 0},   {"alpha", 945, 0},
    {"beta", 946, 0},     {"pi", 960, 0},      {"mu", 956, 0},
    {"infin", 8734, 0},   {"ne", 8800, 0},     {"le", 8804, 0},
    {"ge", 8805, 0},      {"minus", 8722, 0},  {"frasl", 8260, 0},
};

/* entity_lookup - code point of a named reference, or 0; with_semi says
 * whether ';' ended it (the legacy names need none). */
static unsigned entity_lookup(const char *name, int with_semi)
{
    for (unsigned i = 0; i < 96; i++)
        if (!strcmp(name, latin1_names[i]))
            return 160 + i;
    for (size_t i = 0; i < sizeof(other_names) / sizeof(*other_names); i++)
        if (!strcmp(name, other_names[i].name))
            return with_semi || other_names[i].legacy ? other_names[i].cp : 0;
    return 0;
}

/* entity_numeric - "#65" / "#x41" to a code point, as browsers repair it;
 * 0 when it is no number. */
static unsigned entity_numeric(const char *e)
{
    unsigned long v = 0;
    int hex = e[1] == 'x' || e[1] == 'X';
    const char *p = e + 1 + hex;
    if (!*p)
        return 0;
    for (; *p; p++) {
        int d;
        if (*p >= '0' && *p <= '9')
            d = *p - '0';
        else if (hex && *p >= 'a' && *p <= 'f')
            d = *p - 'a' + 10;
        else if (hex && *p >= 'A' && *p <= 'F')
            d = *p - 'A' + 10;
        else
            return 0;
        v = v * (hex ? 16 : 10) + (unsigned long)d;
        if (v > 0x10ffff)
            v = 0x110000;
    }
    if (v == 0 || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return 0xfffd;
    if (v >= 0x80 && v <= 0x9f)
        return cp1252[v - 0x80];
    return (unsigned)v;
}

/* html_char - a character of visible text (or whitespace) goes out,
 * whitespace collapsed, unless inside a hidden element. */
static void html_text(struct mtext *t, const char *s, size_t n)
{
    if (t->hide_depth)
        return;
    if (t->space && t->started) {
        if (t->space == 2) {
            if (t->newlines < 2) {
                out_text(t, "\n", 1);
                t->newlines++;
            }
        } else {
            out_text(t, " ", 1);
        }
    }
    t->space = 0;
    t->started = 1;
    t->newlines = 0;
    out_text(t, s, n);
}

static void html_space(struct mtext *t, int kind)
{
    if (!t->hide_depth && kind > t->space)
        t->space = kind;
}

static void html_codepoint(struct mtext *t, unsigned cp)
{
    char b[4];
    if (cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r')
        html_space(t, cp == '\n' ? 2 : 1);
    else
        html_text(t, b, u8_put(cp, b));
}

/* html_entity_end - the reference in t->ent is complete (semi: ended by
 * ';'); write what it stands for, or the literal text. */
static void html_entity_end(struct mtext *t, int semi)
{
    unsigned cp;
    t->ent[t->entlen] = '\0';
    cp = t->ent[0] == '#' ? entity_numeric(t->ent) : entity_lookup(t->ent, semi);
    if (cp) {
        html_codepoint(t, cp);
        return;
    }
    html_text(t, "&", 1);
    if (t->entlen)
        html_text(t, t->ent, t->entlen);
    if (semi)
        html_text(t, ";", 1);
}

/* css_number - a CSS number at *v (digits, a point, digits), *v moved past
 * it; -1 when there is none. */
static double css_number(const char **v)
{
    double x = 0, div = 1;
    int digits = 0;
    const char *p = *v;
    for (; *p >= '0' && *p <= '9' && digits < 12; p++, digits++)
        x = x * 10 + (*p - '0');
    if (*p == '.')
        for (p++; *p >= '0' && *p <= '9'; p++)
            if (digits++ < 12)
                x += (*p - '0') / (div *= 10);
    *v = p;
    return digits ? x : -1;
}

/* style_small - a CSS length after "font-size:" that renders nothing
 * readable: under 2px (0, 1px, 0.1em, 1pt, 0.5mm...).  A number without
 * a unit is read as pixels, as mail clients in quirks mode read it;
 * viewport units count only when they are 0. */
static int style_small(const char *v)
{
    static const struct {
        const char *unit;
        double px;
    } units[] = {{"px", 1},    {"pt", 4.0 / 3}, {"pc", 16},    {"in", 96},
                 {"cm", 37.8}, {"mm", 3.78},    {"q", 0.945},  {"rem", 16},
                 {"em", 16},   {"ex", 8},       {"ch", 8},     {"%", 0.16},
                 {"vw", 1e9},  {"vh", 1e9},     {"vmin", 1e9}, {"vmax", 1e9}};
    double x = css_number(&v);
    if (x < 0)
        return 0;
    for (size_t i = 0; i < sizeof(units) / sizeof(*units); i++)
        if (!strncmp(v, units[i].unit, strlen(units[i].unit))) {
            x *= units[i].px;
            break;
        }
    return x < 2;
}

/* style_faint - an opacity after "opacity:" under 0.1 (or 10%). */
static int style_faint(const char *v)
{
    double x = css_number(&v);
    if (x >= 0 && *v == '%')
        x /= 100;
    return x >= 0 && x < 0.1;
}

/* style_hides - does the tag make its content invisible: the hidden
 * attribute, or a style with display:none, visibility:hidden, a font
 * size under 2px or an opacity under 0.1? */
static int style_hides(const struct mtext *t)
{
    const char *a = t->attr, *f;
    if (t->ahidden || strstr(a, "display:none") || strstr(a, "visibility:hidden"))
        return 1;
    for (f = a; (f = strstr(f, "font-size:")) != NULL; f++)
        if (style_small(f + 10))
            return 1;
    for (f = a; (f = strstr(f, "opacity:")) != NULL; f++)
        if (style_faint(f + 8))
            return 1;
    return 0;
}

static int tag_is(const struct mtext *t, const char *const *list)
{
    for (; *list; list++)
        if (!strcmp(t->tag, *list))
            return 1;
    return 0;
}

/* html_tag_end - a tag is complete: line breaks for block elements, raw
 * mode for script and style, hiding for elements styled invisible. */
static void html_tag_end(struct mtext *t)
{
    static const char *const blocks[] = {
        "br",      "p",      "div",    "tr",    "li",      "h1",     "h2",   "h3",
        "h4",      "h5",     "h6",     "ul",    "ol",      "table",  "hr",   "blockquote",
        "pre",     "dd",     "dt",     "title", "address", "center", "form", "section",
        "article", "header", "footer", "dl",    0};
    static const char *const cells[] = {"td", "th", 0};
    static const char *const voids[] = {"br",   "img",  "hr",    "meta", "link",   "input", "col",
                                        "area", "base", "embed", "wbr",  "source", 0};
    int selfclose = t->aslash;

    t->hstate = H_TEXT;
    if (t->hide_depth) {
        if (!strcmp(t->tag, t->hide_tag)) {
            if (t->closing)
                t->hide_depth--;
            else if (!selfclose && t->hide_depth < 1000)
                t->hide_depth++;
        }
        if (!t->closing && (!strcmp(t->tag, "script") || !strcmp(t->tag, "style"))) {
            strcpy(t->raw_end, t->tag);
            t->raw_match = 0;
            t->hstate = H_RAW;
        }
        return;
    }
    if (!t->closing && (!strcmp(t->tag, "script") || !strcmp(t->tag, "style"))) {
        strcpy(t->raw_end, t->tag);
        t->raw_match = 0;
        t->hstate = H_RAW;
        return;
    }
    if (tag_is(t, blocks))
        html_space(t, 2);
    else if (tag_is(t, cells))
        html_space(t, 1);
    if (!t->closing && !selfclose && !tag_is(t, voids) && style_hides(t)) {
        strcpy(t->hide_tag, t->tag);
        t->hide_depth = 1;
    }
}

static int is_alpha(unsigned char c)
{
    return (c | 32) >= 'a' && (c | 32) <= 'z';
}

static int is_ws(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

/* attr_reset - a new tag: nothing of its attributes known yet. */
static void attr_reset(struct mtext *t)
{
    t->attrlen = t->anamelen = 0;
    t->attr[0] = '\0';
    t->aval = t->ahidden = t->aslash = 0;
    t->quote = 0;
}

/* attr_put - one byte of the kept style text. */
static void attr_put(struct mtext *t, unsigned char c)
{
    if (t->attrlen + 1 < sizeof(t->attr)) {
        t->attr[t->attrlen++] = (char)((c >= 'A' && c <= 'Z') ? c + 32 : c);
        t->attr[t->attrlen] = '\0';
    }
}

/* attr_name_end - the attribute name being read is complete: "hidden"
 * counts now, whatever its value; a style waits for its '='. */
static void attr_name_end(struct mtext *t)
{
    if (t->anamelen == 6 && !memcmp(t->aname, "hidden", 6))
        t->ahidden = 1;
    t->aval = t->anamelen ? 5 : 0;
}

/* html_attr_byte - one byte of a tag's attributes.  Only the value of
 * style is kept (and whether the tag has the hidden attribute): other
 * names and values, however long, cannot push it out of the bounded
 * buffer.  t->aval: 0 between names or reading one (t->aname), 5 after a
 * complete name, 1/2 after '=' of style/another attribute, 3/4 inside
 * that value (quoted when t->quote). */
static void html_attr_byte(struct mtext *t, unsigned char c)
{
    if (t->aval == 1 || t->aval == 2) {
        if (is_ws(c))
            return;
        if (c == '>') {
            t->aval = 0;
            html_tag_end(t);
            return;
        }
        t->aval += 2;
        if (c == '"' || c == '\'') {
            t->quote = (char)c;
            return;
        }
    }
    if (t->aval == 3 || t->aval == 4) {
        if (t->quote ? c == (unsigned char)t->quote : (is_ws(c) || c == '>')) {
            if (t->aval == 3)
                attr_put(t, ';'); /* several style attributes stay apart */
            t->quote = 0;
            t->aval = 0;
            t->anamelen = 0;
            if (c == '>')
                html_tag_end(t);
        } else if (t->aval == 3 && !is_ws(c)) {
            attr_put(t, c);
        }
        return;
    }
    if (c == '>') {
        attr_name_end(t);
        html_tag_end(t);
    } else if (c == '=') {
        if (t->aval == 0)
            attr_name_end(t);
        t->aval = t->anamelen == 5 && !memcmp(t->aname, "style", 5) ? 1 : 2;
        t->aslash = 0;
    } else if (is_ws(c)) {
        if (t->aval == 0)
            attr_name_end(t);
    } else if (c == '/') {
        attr_name_end(t);
        t->aval = 0;
        t->anamelen = 0;
        t->aslash = 1;
    } else {
        if (t->aval == 5) { /* a new name */
            t->aval = 0;
            t->anamelen = 0;
        }
        if (t->anamelen < sizeof(t->aname))
            t->aname[t->anamelen] = (char)((c >= 'A' && c <= 'Z') ? c + 32 : c);
        if (t->anamelen <= sizeof(t->aname))
            t->anamelen++; /* past sizeof: a long name, never one that counts */
        t->aslash = 0;
    }
}

/* html_feed - UTF-8 through the HTML state machine. */
static void html_feed(struct mtext *t, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    while (p < end) {
        unsigned char c = *p;
        switch (t->hstate) {
        case H_TEXT: {
            const unsigned char *run = p;
            while (p < end && *p != '<' && *p != '&' && !is_ws(*p))
                p++;
            if (p > run)
                html_text(t, (const char *)run, (size_t)(p - run));
            if (p == end)
                return;
            c = *p++;
            if (c == '<')
                t->hstate = H_LT;
            else if (c == '&')
                t->hstate = H_ENT, t->entlen = 0;
            else
                html_space(t, 1);
            continue;
        }
        case H_LT:
            if (is_alpha(c)) {
                t->closing = 0;
                t->taglen = 0;
                attr_reset(t);
                t->hstate = H_TAGNAME;
                continue; /* the letter is read as part of the name */
            }
            p++;
            if (c == '/')
                t->hstate = H_LT_SLASH;
            else if (c == '!')
                t->hstate = H_BANG;
            else if (c == '?')
                t->hstate = H_DECL;
            else {
                t->hstate = H_TEXT;
                html_text(t, "<", 1);
                p--;
            }
            continue;
        case H_LT_SLASH:
            if (is_alpha(c)) {
                t->closing = 1;
                t->taglen = 0;
                attr_reset(t);
                t->hstate = H_TAGNAME;
            } else {
                t->hstate = c == '>' ? H_TEXT : H_DECL;
                p++;
            }
            continue;
        case H_TAGNAME:
            p++;
            if (c == '>') {
                t->tag[t->taglen] = '\0';
                html_tag_end(t);
            } else if (is_ws(c) || c == '/') {
                t->tag[t->taglen] = '\0';
                t->hstate = H_ATTR;
                if (c == '/')
                    t->aslash = 1;
            } else if (t->taglen + 1 < sizeof(t->tag)) {
                t->tag[t->taglen++] = (char)((c >= 'A' && c <= 'Z') ? c + 32 : c);
            }
            continue;
        case H_ATTR:
            p++;
            html_attr_byte(t, c);
            continue;
        case H_BANG:
            p++;
            t->hstate = c == '-' ? H_BANG_DASH : (c == '>' ? H_TEXT : H_DECL);
            continue;
        case H_BANG_DASH:
            p++;
            if (c == '-')
                t->hstate = H_COMMENT, t->dashes = 0;
            else
                t->hstate = c == '>' ? H_TEXT : H_DECL;
            continue;
        case H_COMMENT: {
            /* skip fast to the next '-' or '>' */
            const unsigned char *q = p;
            while (q < end && *q != '-' && *q != '>')
                q++;
            if (q > p)
                t->dashes = 0;
            p = q;
            if (p == end)
                return;
            c = *p++;
            if (c == '-')
                t->dashes++;
            else if (t->dashes >= 2)
                t->hstate = H_TEXT;
            else
                t->dashes = 0;
            continue;
        }
        case H_DECL: {
            const unsigned char *q = memchr(p, '>', (size_t)(end - p));
            if (!q)
                return;
            p = q + 1;
            t->hstate = H_TEXT;
            continue;
        }
        case H_ENT:
            if ((is_alpha(c) || (c >= '0' && c <= '9') || (c == '#' && t->entlen == 0)) &&
                t->entlen + 1 < sizeof(t->ent)) {
                t->ent[t->entlen++] = (char)c;
                p++;
                continue;
            }
            t->hstate = H_TEXT;
            if (c == ';') {
                p++;
                html_entity_end(t, 1);
            } else {
                html_entity_end(t, 0); /* c is read again as text */
            }
            continue;
        case H_RAW: {
            /* inside script or style: look for "</name" */
            size_t rl = strlen(t->raw_end);
            p++;
            if (t->raw_match == 0) {
                if (c == '<')
                    t->raw_match = 1;
            } else if (t->raw_match == 1) {
                t->raw_match = c == '/' ? 2 : (c == '<');
            } else if ((c | 32) == (unsigned char)t->raw_end[t->raw_match - 2]) {
                if (++t->raw_match == rl + 2) {
                    memcpy(t->tag, t->raw_end, rl + 1);
                    t->taglen = rl;
                    t->closing = 1;
                    attr_reset(t);
                    t->hstate = H_ATTR;
                }
            } else {
                t->raw_match = c == '<';
            }
            continue;
        }
        }
    }
}

/* ---- charset conversion ---- */

/* conv_emit - converted UTF-8 on to the next stage. */
static void conv_emit(struct mtext *t, const char *s, size_t n)
{
    if (t->html)
        html_feed(t, s, n);
    else
        out_text(t, s, n);
}

/* conv_bytes - bytes that are valid UTF-8 where they can be; an invalid
 * byte becomes U+FFFD (CS_UTF8) or its windows-1252 character. */
static size_t conv_utf8(struct mtext *t, const unsigned char *p, size_t n, int final)
{
    const unsigned char *end = p + n, *start = p;
    while (p < end) {
        const unsigned char *run = p;
        while (p < end && *p < 0x80)
            p++;
        while (p < end) {
            int l = u8_seq(p, (size_t)(end - p));
            if (l <= 0)
                break;
            p += l;
        }
        if (p > run)
            conv_emit(t, (const char *)run, (size_t)(p - run));
        if (p == end)
            break;
        int l = u8_seq(p, (size_t)(end - p));
        if (l == 0 && !final)
            break; /* incomplete: carried to the next call */
        char b[4];
        if (t->kind == CS_UTF8) {
            t->flags |= MTEXT_F_INVALID;
            conv_emit(t, "\xef\xbf\xbd", 3);
        } else {
            unsigned cp = *p >= 0xa0 ? *p : (*p >= 0x80 ? cp1252[*p - 0x80] : *p);
            conv_emit(t, b, u8_put(cp, b));
        }
        p++;
    }
    return (size_t)(p - start);
}

static size_t conv_1252(struct mtext *t, const unsigned char *p, size_t n)
{
    const unsigned char *end = p + n;
    while (p < end) {
        const unsigned char *run = p;
        while (p < end && *p < 0x80)
            p++;
        if (p > run)
            conv_emit(t, (const char *)run, (size_t)(p - run));
        if (p == end)
            break;
        char b[4];
        unsigned cp = *p >= 0xa0 ? *p : cp1252[*p - 0x80];
        conv_emit(t, b, u8_put(cp, b));
        p++;
    }
    return n;
}

/* conv_emit_valid - iconv's output, checked: glibc passes some invalid
 * sequences through (from a "UTF-8" spelled oddly); they become U+FFFD. */
static void conv_emit_valid(struct mtext *t, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    while (p < end) {
        const unsigned char *run = p;
        int l = 0;
        while (p < end && (l = u8_seq(p, (size_t)(end - p))) > 0)
            p += l;
        if (p > run)
            conv_emit(t, (const char *)run, (size_t)(p - run));
        if (p < end) {
            t->flags |= MTEXT_F_INVALID;
            conv_emit(t, "\xef\xbf\xbd", 3);
            p++;
        }
    }
}

static size_t conv_iconv(struct mtext *t, const unsigned char *p, size_t n, int final)
{
    char buf[1024];
    char *in = (char *)p;
    size_t left = n;
    while (left) {
        char *o = buf;
        size_t ol = sizeof(buf);
        size_t r = iconv(t->cd, &in, &left, &o, &ol);
        int err = r == (size_t)-1 ? errno : 0;
        if (o > buf)
            conv_emit_valid(t, buf, (size_t)(o - buf));
        if (!err || err == E2BIG)
            continue;
        if (err == EINVAL && !final && left < sizeof(t->in))
            break; /* incomplete sequence at the end: carried */
        /* invalid (or incomplete at the very end): U+FFFD, skip a byte */
        t->flags |= MTEXT_F_INVALID;
        conv_emit(t, "\xef\xbf\xbd", 3);
        in++;
        left--;
        iconv(t->cd, NULL, NULL, NULL, NULL);
    }
    return n - left;
}

/* conv_run - convert as much of p as can be; returns bytes used. */
static size_t conv_run(struct mtext *t, const unsigned char *p, size_t n, int final)
{
    switch (t->kind) {
    case CS_1252:
        return conv_1252(t, p, n);
    case CS_ICONV:
        return conv_iconv(t, p, n, final);
    default:
        return conv_utf8(t, p, n, final);
    }
}

void mtext_open(struct mtext *t, const char *charset, int html, mtext_sink sink, void *ctx)
{
    char cs[64];
    memset(t, 0, offsetof(struct mtext, out));
    t->outlen = 0;
    t->html = html;
    t->sink = sink;
    t->ctx = ctx;
    t->hstate = H_TEXT;
    charset_norm(charset, cs, sizeof(cs));
    t->kind = charset_kind(cs, &t->cd, &t->flags);
}

void mtext_feed(struct mtext *t, const unsigned char *in, size_t len)
{
    /* first complete a sequence carried from the last call, byte by byte */
    while (t->inlen && len) {
        t->in[t->inlen++] = *in++;
        len--;
        size_t used = conv_run(t, t->in, t->inlen, 0);
        if (used == t->inlen) {
            t->inlen = 0;
        } else if (used) {
            memmove(t->in, t->in + used, t->inlen - used);
            t->inlen -= used;
        } else if (t->inlen == sizeof(t->in)) {
            conv_run(t, t->in, t->inlen, 1); /* cannot be completed */
            t->inlen = 0;
        }
    }
    if (!len)
        return;
    size_t used = conv_run(t, in, len, 0);
    if (used < len) {
        size_t rest = len - used;
        if (rest > sizeof(t->in)) { /* cannot happen: converters carry < 16 bytes */
            conv_run(t, in + used, rest, 1);
            rest = 0;
        }
        memcpy(t->in, in + used, rest);
        t->inlen = rest;
    }
}

unsigned mtext_finish(struct mtext *t)
{
    if (t->inlen)
        conv_run(t, t->in, t->inlen, 1);
    t->inlen = 0;
    if (t->html) {
        if (t->hstate == H_ENT) {
            t->hstate = H_TEXT;
            html_entity_end(t, 0);
        } else if (t->hstate == H_LT) {
            html_text(t, "<", 1);
        }
        t->hstate = H_TEXT;
    }
    if (t->u8len) {
        out_bytes(t, "\xef\xbf\xbd", 3);
        t->u8len = 0;
    }
    out_flush(t);
    return t->flags;
}

void mtext_close(struct mtext *t)
{
    if (t->kind == CS_ICONV && t->cd != (iconv_t)-1)
        iconv_close(t->cd);
    t->cd = (iconv_t)-1;
    t->kind = CS_MIXED;
}

struct conv_buf {
    char *out;
    size_t len, max;
};

/* conv_sink - append to a bounded string, whole characters only. */
static void conv_sink(void *ctx, const char *s, size_t n)
{
    struct conv_buf *b = ctx;
    if (b->len + n >= b->max) {
        size_t k = b->max - 1 - b->len;
        while (k > 0 && ((unsigned char)s[k] & 0xc0) == 0x80)
            k--;
        n = k;
    }
    memcpy(b->out + b->len, s, n);
    b->len += n;
    b->out[b->len] = '\0';
}

size_t mtext_convert(const char *charset, const unsigned char *in, size_t len, char *out,
                     size_t outmax, unsigned *flags)
{
    struct mtext t;
    struct conv_buf b = {out, 0, outmax};
    if (outmax == 0)
        return 0;
    out[0] = '\0';
    mtext_open(&t, charset, 0, conv_sink, &b);
    mtext_feed(&t, in, len);
    *flags |= mtext_finish(&t);
    mtext_close(&t);
    return b.len;
}
