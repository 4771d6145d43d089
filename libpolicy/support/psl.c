/*
 * psl.c - the Public Suffix List: rules read once into one hash table
 * (open addressing, the rule texts in one buffer), looked up label by
 * label from the right.  The algorithm is publicsuffix.org's: the longest
 * matching rule prevails, an exception rule over any other, and "*" when
 * none matches.  Bounded: the file, each rule and each domain.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../util/util.h"
#include "psl.h"

#define PSL_FILE_MAX  (16 * 1024 * 1024)
#define PSL_RULE_MAX  PSL_DOMAIN_MAX
#define F_NORMAL 1
#define F_WILD   2 /* "*.KEY" */
#define F_EXCEPT 4 /* "!KEY" */

struct slot {
    uint64_t hash;
    uint32_t off; /* into text; 0: empty (text starts with a NUL) */
    uint16_t len;
    uint8_t flags;
};

struct psl {
    struct slot *slots;
    size_t nslots, nrules;
    char *text; /* the keys, NUL-separated */
    size_t textlen, textcap;
};

static uint64_t fnv(const char *p, size_t n)
{
    uint64_t h = 14695981039346656037ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 1099511628211ULL;
    return h;
}

/* find - the slot of key, or the empty one where it would go. */
static struct slot *find(const struct psl *p, const char *key, size_t n, uint64_t h)
{
    for (size_t i = (size_t)h & (p->nslots - 1);; i = (i + 1) & (p->nslots - 1)) {
        struct slot *s = &p->slots[i];
        if (!s->off || (s->hash == h && s->len == n && !memcmp(p->text + s->off, key, n)))
            return s;
    }
}

/* grow - double the table when it is half full.  0 or -1. */
static int grow(struct psl *p)
{
    if (p->nslots && p->nrules * 2 < p->nslots)
        return 0;
    size_t n = p->nslots ? p->nslots * 2 : 4096;
    struct slot *old = p->slots, *s = calloc(n, sizeof(*s));
    size_t oldn = p->nslots;
    if (!s)
        return -1;
    p->slots = s;
    p->nslots = n;
    for (size_t i = 0; i < oldn; i++)
        if (old[i].off)
            *find(p, p->text + old[i].off, old[i].len, old[i].hash) = old[i];
    free(old);
    return 0;
}

/* add - key (lower case, no wildcard or '!') with a rule flag. */
static int add(struct psl *p, const char *key, size_t n, uint8_t flag)
{
    if (!n || n > PSL_RULE_MAX || grow(p) != 0)
        return -1;
    uint64_t h = fnv(key, n);
    struct slot *s = find(p, key, n, h);
    if (s->off) {
        s->flags |= flag;
        return 0;
    }
    if (array_grow(&p->text, &p->textcap, p->textlen + n + 1, 1, 65536) != 0)
        return -1;
    memcpy(p->text + p->textlen, key, n);
    p->text[p->textlen + n] = '\0';
    *s = (struct slot){h, (uint32_t)p->textlen, (uint16_t)n, flag};
    p->textlen += n + 1;
    p->nrules++;
    return 0;
}

/* ------------------------------------------------------------ punycode (RFC 3492) */

/* utf8_next - the code point at *p (advanced), or -1 for a bad sequence. */
static long utf8_next(const unsigned char **p, const unsigned char *end)
{
    const unsigned char *s = *p;
    long c;
    int more;
    if (s >= end)
        return -1;
    if (*s < 0x80)
        c = *s, more = 0;
    else if ((*s & 0xe0) == 0xc0)
        c = *s & 0x1f, more = 1;
    else if ((*s & 0xf0) == 0xe0)
        c = *s & 0x0f, more = 2;
    else if ((*s & 0xf8) == 0xf0)
        c = *s & 0x07, more = 3;
    else
        return -1;
    for (s++; more--; s++) {
        if (s >= end || (*s & 0xc0) != 0x80)
            return -1;
        c = (c << 6) | (*s & 0x3f);
    }
    *p = s;
    return c > 0x10ffff ? -1 : c;
}

static size_t adapt(size_t delta, size_t npoints, int first)
{
    size_t k = 0;
    delta = first ? delta / 700 : delta / 2;
    delta += delta / npoints;
    while (delta > ((36 - 1) * 26) / 2) {
        delta /= 36 - 1;
        k += 36;
    }
    return k + (36 - 1 + 1) * delta / (delta + 38);
}

/* punycode_label - "xn--" and the punycode of one UTF-8 label into out.
 * The length, or 0 when it does not fit or is not UTF-8. */
static size_t punycode_label(const char *label, size_t len, char *out, size_t cap)
{
    long cp[64];
    size_t ncp = 0, o = 0, h, b = 0;
    const unsigned char *p = (const unsigned char *)label, *end = p + len;
    while (p < end) {
        long c = utf8_next(&p, end);
        if (c < 0 || ncp >= 64)
            return 0;
        cp[ncp++] = c;
    }
    if (cap < 5)
        return 0;
    memcpy(out, "xn--", 4);
    o = 4;
    for (size_t i = 0; i < ncp; i++)
        if (cp[i] < 0x80) {
            if (o + 1 >= cap)
                return 0;
            out[o++] = (char)cp[i];
            b++;
        }
    h = b;
    if (b) {
        if (o + 1 >= cap)
            return 0;
        out[o++] = '-';
    }
    size_t n = 128, delta = 0, bias = 72;
    while (h < ncp) {
        size_t m = SIZE_MAX;
        for (size_t i = 0; i < ncp; i++)
            if ((size_t)cp[i] >= n && (size_t)cp[i] < m)
                m = (size_t)cp[i];
        delta += (m - n) * (h + 1);
        n = m;
        for (size_t i = 0; i < ncp; i++) {
            if ((size_t)cp[i] < n)
                delta++;
            if ((size_t)cp[i] != n)
                continue;
            size_t q = delta;
            for (size_t k = 36;; k += 36) {
                size_t t = k <= bias ? 1 : k >= bias + 26 ? 26 : k - bias;
                if (q < t)
                    break;
                size_t d = t + (q - t) % (36 - t);
                if (o + 1 >= cap)
                    return 0;
                out[o++] = (char)(d < 26 ? 'a' + d : '0' + d - 26);
                q = (q - t) / (36 - t);
            }
            if (o + 1 >= cap)
                return 0;
            out[o++] = (char)(q < 26 ? 'a' + q : '0' + q - 26);
            bias = adapt(delta, h + 1, h == b);
            delta = 0;
            h++;
        }
        delta++;
        n++;
    }
    out[o] = '\0';
    return o;
}

/* ascii_form - a rule with every non-ASCII label as its A-label; 0 when
 * it has none (or cannot be converted), else the length. */
static size_t ascii_form(const char *rule, size_t len, char *out, size_t cap)
{
    size_t o = 0;
    int converted = 0;
    for (size_t i = 0; i < len;) {
        size_t l = 0;
        while (i + l < len && rule[i + l] != '.')
            l++;
        int ascii = 1;
        for (size_t k = 0; k < l; k++)
            ascii &= (unsigned char)rule[i + k] < 0x80;
        if (ascii) {
            if (o + l + 1 >= cap)
                return 0;
            memcpy(out + o, rule + i, l);
            o += l;
        } else {
            size_t n = punycode_label(rule + i, l, out + o, cap - o);
            if (!n)
                return 0;
            o += n;
            converted = 1;
        }
        i += l;
        if (i < len) {
            if (o + 1 >= cap)
                return 0;
            out[o++] = '.';
            i++;
        }
    }
    return converted ? o : 0;
}

/* ------------------------------------------------------------ loading */

/* rule - one line of the list: its first word, "*." or "!" in front. */
static int rule(struct psl *p, const char *line, size_t len)
{
    size_t n = 0;
    while (n < len && line[n] != ' ' && line[n] != '\t' && line[n] != '\r')
        n++;
    if (!n || n > PSL_RULE_MAX + 2)
        return 0; /* nothing, or nothing a domain can match */
    char key[PSL_RULE_MAX + 3];
    uint8_t flag = F_NORMAL;
    const char *k = line;
    if (k[0] == '!')
        flag = F_EXCEPT, k++, n--;
    else if (n > 2 && k[0] == '*' && k[1] == '.')
        flag = F_WILD, k += 2, n -= 2;
    if (!n || memchr(k, '*', n) || memchr(k, '!', n))
        return 0; /* a wildcard elsewhere is not in the format */
    unsigned char high = 0;
    for (size_t i = 0; i < n; i++) {
        key[i] = (char)(k[i] >= 'A' && k[i] <= 'Z' ? k[i] - 'A' + 'a' : k[i]);
        high |= (unsigned char)k[i];
    }
    if (add(p, key, n, flag) != 0)
        return -1;
    if (!(high & 0x80))
        return 0;
    char ace[PSL_RULE_MAX + 1];
    size_t an = ascii_form(key, n, ace, sizeof(ace));
    return an ? add(p, ace, an, flag) : 0;
}

struct psl *psl_parse(const char *text, size_t len, char *err, size_t errlen)
{
    struct psl *p = calloc(1, sizeof(*p));
    if (!p || array_grow(&p->text, &p->textcap, 1, 1, 65536) != 0 || grow(p) != 0) {
        snprintf(err, errlen, "out of memory");
        psl_free(p);
        return NULL;
    }
    p->text[0] = '\0'; /* offset 0 marks an empty slot */
    p->textlen = 1;
    for (size_t i = 0; i < len;) {
        const char *nl = memchr(text + i, '\n', len - i);
        size_t l = nl ? (size_t)(nl - (text + i)) : len - i;
        const char *line = text + i;
        while (l && (*line == ' ' || *line == '\t'))
            line++, l--;
        if (l && !(l >= 2 && line[0] == '/' && line[1] == '/') && rule(p, line, l) != 0) {
            snprintf(err, errlen, "out of memory");
            psl_free(p);
            return NULL;
        }
        i += l + (size_t)(line - (text + i)) + 1;
    }
    if (!p->nrules) {
        snprintf(err, errlen, "no rules: not a public suffix list");
        psl_free(p);
        return NULL;
    }
    return p;
}

struct psl *psl_load(const char *path, char *err, size_t errlen)
{
    char why[POLICY_ERR_MAX];
    int fd = file_open(path, why, sizeof(why));
    if (fd < 0) {
        snprintf(err, errlen, "%s", why);
        return NULL;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    ssize_t r = 1;
    while (r > 0 && len < PSL_FILE_MAX) {
        if (array_grow(&buf, &cap, len + 65536, 1, 262144) != 0)
            break;
        r = read(fd, buf + len, cap - len);
        if (r > 0)
            len += (size_t)r;
    }
    close(fd);
    if (r != 0 || !buf) {
        snprintf(err, errlen, "%s: %s", path, !buf || r > 0 ? "too big for a list" : "read error");
        free(buf);
        return NULL;
    }
    struct psl *p = psl_parse(buf, len, err, errlen);
    free(buf);
    return p;
}

void psl_free(struct psl *p)
{
    if (!p)
        return;
    free(p->slots);
    free(p->text);
    free(p);
}

size_t psl_rules(const struct psl *p)
{
    return p->nrules;
}

static uint8_t flags_of(const struct psl *p, const char *key, size_t n)
{
    const struct slot *s = find(p, key, n, fnv(key, n));
    return s->off ? s->flags : 0;
}

int psl_org_domain(const struct psl *p, const char *domain, char *out, size_t outlen)
{
    char d[PSL_DOMAIN_MAX + 2];
    size_t n = strnlen(domain, PSL_DOMAIN_MAX + 2);
    if (n && domain[n - 1] == '.')
        n--;
    if (!n || n > PSL_DOMAIN_MAX || n >= outlen)
        return -1;
    size_t starts[128], nl = 0; /* where each label starts */
    for (size_t i = 0; i < n; i++) {
        char c = domain[i];
        d[i] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
        if (i == 0 || domain[i - 1] == '.') {
            if (c == '.' || nl >= 128)
                return -1; /* an empty label */
            starts[nl++] = i;
        }
    }
    d[n] = '\0';
    /* from the right: the suffix of the last i labels starts at starts[nl - i] */
    size_t ps = 1, exception = 0;
    for (size_t i = 1; i <= nl; i++) {
        const char *s = d + starts[nl - i];
        uint8_t f = flags_of(p, s, (size_t)(d + n - s));
        if (f & F_EXCEPT) {
            exception = i; /* an exception prevails: one label less is the suffix */
            break;
        }
        if ((f & F_NORMAL) && i > ps)
            ps = i;
        if ((f & F_WILD) && i < nl && i + 1 > ps)
            ps = i + 1;
    }
    if (exception)
        ps = exception - 1;
    size_t keep = ps + 1 <= nl ? ps + 1 : nl;
    const char *org = d + starts[nl - keep];
    memcpy(out, org, (size_t)(d + n - org) + 1);
    return 0;
}
