/*
 * recipmap.c - compile recipients.txt into a cdb and look addresses up in
 * it.  The compiler refuses what it does not understand (file:line: why)
 * rather than guessing; the reader trusts nothing in the file, never reads
 * outside the mapping, and copies the struct cdb for every lookup so that
 * threads share one mapping without locks.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../util/util.h"
#include "address.h"
#include "recipmap.h"

void recipmap_fold(char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] >= 'A' && s[i] <= 'Z')
            s[i] = (char)(s[i] - 'A' + 'a');
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int fail(char *why, size_t whylen, const char *msg)
{
    if (why && whylen)
        snprintf(why, whylen, "%s", msg);
    return -1;
}

/* cut_comment - the length of line before a '#' that starts a comment: at
 * the start, or after white space, and never inside a quoted local part. */
static size_t cut_comment(const char *line, size_t len)
{
    int quoted = 0;
    for (size_t i = 0; i < len; i++) {
        char c = line[i];
        if (quoted && c == '\\' && i + 1 < len) {
            i++;
            continue;
        }
        if (c == '"')
            quoted = !quoted;
        else if (c == '#' && !quoted && (i == 0 || is_space(line[i - 1])))
            return i;
    }
    return len;
}

/* find_colon - the ':' that separates an alias from its targets: outside
 * quotes and address literals.  len when there is none. */
static size_t find_colon(const char *line, size_t len)
{
    int quoted = 0, bracket = 0;
    for (size_t i = 0; i < len; i++) {
        char c = line[i];
        if (quoted && c == '\\' && i + 1 < len) {
            i++;
            continue;
        }
        if (c == '"' && !bracket)
            quoted = !quoted;
        else if (c == '[' && !quoted)
            bracket = 1;
        else if (c == ']' && !quoted)
            bracket = 0;
        else if (c == ':' && !quoted && !bracket)
            return i;
    }
    return len;
}

int recipmap_parse_line(const char *line, size_t len, int fold, struct recipmap_entry *out,
                        char *why, size_t whylen)
{
    char buf[ADDR_INPUT_MAX + 1];
    size_t i = 0, n, colon;

    memset(out, 0, sizeof(*out));
    if (memchr(line, '\0', len))
        return fail(why, whylen, "NUL byte in line");
    len = cut_comment(line, len);
    while (i < len && is_space(line[i]))
        i++;
    while (len > i && is_space(line[len - 1]))
        len--;
    if (i == len)
        return 0; /* RML_BLANK */
    line += i;
    len -= i;

    colon = find_colon(line, len);
    n = colon;
    while (n && is_space(line[n - 1]))
        n--;
    if (colon < len) {
        const char *t = line + colon + 1;
        size_t tl = len - colon - 1;
        while (tl && is_space(*t))
            t++, tl--;
        if (!tl)
            return fail(why, whylen, "alias without targets after ':'");
        for (size_t k = 0; k < tl; k++)
            if ((unsigned char)t[k] < ' ' && t[k] != '\t')
                return fail(why, whylen, "control character in the targets");
        out->targets = t;
        out->targets_len = tl;
    }
    if (!n)
        return fail(why, whylen, "no address before ':'");
    if (n > ADDR_INPUT_MAX)
        return fail(why, whylen, "address too long");

    if (line[0] == '@') { /* @domain: every address of the domain */
        char dom[ADDR_DOMAIN_MAX + 1];
        if (n - 1 > ADDR_DOMAIN_MAX || addr_domain_normalize(line + 1, n - 1, dom))
            return fail(why, whylen, "not a domain after '@'");
        size_t dl = strlen(dom);
        out->key[0] = '@';
        memcpy(out->key + 1, dom, dl + 1);
        out->klen = dl + 1;
        out->domain_off = 1;
        out->kind = RML_CATCHALL;
        return 0;
    }

    struct addr a;
    memcpy(buf, line, n);
    buf[n] = '\0';
    enum addr_status st = addr_parse(buf, &a);
    if (st != ADDR_OK)
        return fail(why, whylen, addr_status_text(st));
    if (a.routed || a.source_route)
        return fail(why, whylen, "not a plain address (%, ! or source route)");
    if (!a.domain[0])
        return fail(why, whylen, "address without a domain");
    size_t ll = strlen(a.local), dl = strlen(a.domain);
    if (ll + 1 + dl > RECIPMAP_KEY_MAX)
        return fail(why, whylen, "address too long");
    memcpy(out->key, a.local, ll);
    if (fold)
        recipmap_fold(out->key, ll);
    out->key[ll] = '@';
    memcpy(out->key + ll + 1, a.domain, dl + 1);
    out->klen = ll + 1 + dl;
    out->domain_off = ll + 1;
    out->kind = out->targets ? RML_ALIAS : RML_ADDRESS;
    return 0;
}

/* ------------------------------------------------------------ building */

/* The domains seen while building: each gets an "@domain" key at the end. */
struct domtab {
    char **name;
    unsigned char *catchall;
    size_t cap, n;
};

static uint32_t fnv(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

static int domtab_grow(struct domtab *t)
{
    size_t nc = t->cap ? t->cap * 2 : 256;
    char **nn = calloc(nc, sizeof(*nn));
    unsigned char *nf = calloc(nc, 1);
    if (!nn || !nf) {
        free(nn);
        free(nf);
        return -1;
    }
    for (size_t i = 0; i < t->cap; i++) {
        if (!t->name[i])
            continue;
        size_t j = fnv(t->name[i], strlen(t->name[i])) & (nc - 1);
        while (nn[j])
            j = (j + 1) & (nc - 1);
        nn[j] = t->name[i];
        nf[j] = t->catchall[i];
    }
    free(t->name);
    free(t->catchall);
    t->name = nn;
    t->catchall = nf;
    t->cap = nc;
    return 0;
}

/* domtab_note - remember domain d (n bytes); catch-all once seen sticks. */
static int domtab_note(struct domtab *t, const char *d, size_t n, int catchall)
{
    if ((t->n + 1) * 2 > t->cap && domtab_grow(t))
        return -1;
    size_t j = fnv(d, n) & (t->cap - 1);
    for (; t->name[j]; j = (j + 1) & (t->cap - 1))
        if (!strncmp(t->name[j], d, n) && t->name[j][n] == '\0') {
            t->catchall[j] |= (unsigned char)catchall;
            return 0;
        }
    if (!(t->name[j] = strndup(d, n)))
        return -1;
    t->catchall[j] = (unsigned char)catchall;
    t->n++;
    return 0;
}

static void domtab_free(struct domtab *t)
{
    for (size_t i = 0; i < t->cap; i++)
        free(t->name[i]);
    free(t->name);
    free(t->catchall);
}

int recipmap_build(FILE *in, const char *name, int fd, int fold, char *err, size_t errlen)
{
    struct cdb_make cm;
    struct domtab dt = {0};
    char why[160], *line = malloc(RECIPMAP_LINE_MAX + 2), *val = malloc(RECIPMAP_LINE_MAX + 2);
    unsigned long lineno = 0;
    int r, rc = -1;
    size_t len;

    if (!line || !val) {
        snprintf(err, errlen, "%s: out of memory", name);
        goto out;
    }
    if (cdb_make_start(&cm, fd) != 0) {
        snprintf(err, errlen, "%s: cannot start the map: %s", name, strerror(errno));
        goto out;
    }
    while ((r = file_line(in, line, RECIPMAP_LINE_MAX + 1, &len)) != 0 && r != FILE_LINE_ERROR) {
        struct recipmap_entry en;
        if (++lineno > RECIPMAP_MAX_LINES) {
            snprintf(err, errlen, "%s:%lu: too many lines", name, lineno);
            goto out_make;
        }
        if (r == FILE_LINE_LONG) {
            snprintf(err, errlen, "%s:%lu: line longer than %d bytes", name, lineno,
                     RECIPMAP_LINE_MAX);
            goto out_make;
        }
        if (r == FILE_LINE_NUL) {
            snprintf(err, errlen, "%s:%lu: NUL byte in the line", name, lineno);
            goto out_make;
        }
        if (recipmap_parse_line(line, len, fold, &en, why, sizeof(why)) != 0) {
            snprintf(err, errlen, "%s:%lu: %s", name, lineno, why);
            goto out_make;
        }
        if (en.kind == RML_BLANK)
            continue;
        if (domtab_note(&dt, en.key + en.domain_off, en.klen - en.domain_off,
                        en.kind == RML_CATCHALL)) {
            snprintf(err, errlen, "%s:%lu: out of memory", name, lineno);
            goto out_make;
        }
        if (en.kind == RML_CATCHALL)
            continue; /* written with the domain markers */
        size_t vl = 1;
        val[0] = en.kind == RML_ALIAS ? '>' : '=';
        if (en.kind == RML_ALIAS) {
            memcpy(val + 1, en.targets, en.targets_len);
            vl += en.targets_len;
        }
        if (cdb_make_add(&cm, en.key, (unsigned)en.klen, val, (unsigned)vl) != 0) {
            snprintf(err, errlen, "%s:%lu: cannot add to the map: %s", name, lineno,
                     strerror(errno));
            goto out_make;
        }
    }
    if (ferror(in)) {
        snprintf(err, errlen, "%s:%lu: read error", name, lineno);
        goto out_make;
    }
    for (size_t i = 0; i < dt.cap; i++) {
        if (!dt.name[i])
            continue;
        size_t dl = strlen(dt.name[i]);
        line[0] = '@';
        memcpy(line + 1, dt.name[i], dl);
        if (cdb_make_add(&cm, line, (unsigned)dl + 1, dt.catchall[i] ? "*" : ".", 1) != 0) {
            snprintf(err, errlen, "%s: cannot add to the map: %s", name, strerror(errno));
            goto out_make;
        }
    }
    const char *meta = fold ? RECIPMAP_MAGIC " fold" : RECIPMAP_MAGIC " case";
    if (cdb_make_add(&cm, "", 0, meta, (unsigned)strlen(meta)) != 0 || cdb_make_finish(&cm) != 0) {
        snprintf(err, errlen, "%s: cannot write the map: %s", name, strerror(errno));
        goto out;
    }
    rc = 0;
    goto out;
out_make:
    (void)cdb_make_finish(
        &cm); /* tinycdb's only way to free its lists; the caller drops the file */
out:
    domtab_free(&dt);
    free(line);
    free(val);
    return rc;
}

int recipmap_make(const char *in_path, const char *out_path, int fold, char *err, size_t errlen)
{
    char tmp[4096];
    FILE *in;
    int fd, n;

    n = snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", out_path, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof(tmp)) {
        snprintf(err, errlen, "%s: path too long", out_path);
        return -1;
    }
    /* a named input must be a regular file (a FIFO or a device would hang
     * or never end); "-" reads whatever the caller connected */
    in = strcmp(in_path, "-") ? file_fopen(in_path, err, errlen) : stdin;
    if (!in)
        return -1;
    (void)unlink(tmp); /* a leftover of a dead run with our pid */
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot create: %s", tmp, strerror(errno));
        if (in != stdin)
            fclose(in);
        return -1;
    }
    int rc = recipmap_build(in, in_path, fd, fold, err, errlen);
    if (in != stdin)
        fclose(in);
    if (rc == 0 && fsync(fd) != 0) {
        snprintf(err, errlen, "%s: fsync: %s", tmp, strerror(errno));
        rc = -1;
    }
    if (close(fd) != 0 && rc == 0) {
        snprintf(err, errlen, "%s: close: %s", tmp, strerror(errno));
        rc = -1;
    }
    if (rc == 0 && rename(tmp, out_path) != 0) {
        snprintf(err, errlen, "cannot rename %s to %s: %s", tmp, out_path, strerror(errno));
        rc = -1;
    }
    if (rc != 0)
        (void)unlink(tmp);
    return rc;
}

/* ------------------------------------------------------------ reading */

int recipmap_open_fd(struct recipmap *m, int fd, char *why, size_t whylen)
{
    memset(m, 0, sizeof(*m));
    if (cdb_init(&m->cdb, fd) != 0)
        return fail(why, whylen, "not a cdb file");
    struct cdb c = m->cdb;
    const size_t ml = sizeof(RECIPMAP_MAGIC) - 1;
    if (cdb_find(&c, "", 0) <= 0 || cdb_datalen(&c) != ml + 5) {
        cdb_free(&m->cdb);
        return fail(why, whylen, "not a recipients map (build it with policyctl makemap)");
    }
    const char *d = cdb_getdata(&c);
    if (!d || memcmp(d, RECIPMAP_MAGIC, ml) ||
        (memcmp(d + ml, " fold", 5) && memcmp(d + ml, " case", 5))) {
        cdb_free(&m->cdb);
        return fail(why, whylen, "not a recipients map (build it with policyctl makemap)");
    }
    m->fold = !memcmp(d + ml, " fold", 5);
    m->open = 1;
    return 0;
}

int recipmap_open(struct recipmap *m, const char *path, char *why, size_t whylen)
{
    int fd = file_open(path, why, whylen);
    if (fd < 0) {
        memset(m, 0, sizeof(*m));
        return -1;
    }
    int r = recipmap_open_fd(m, fd, why, whylen);
    close(fd); /* the mapping stays */
    return r;
}

void recipmap_close(struct recipmap *m)
{
    if (m->open)
        cdb_free(&m->cdb);
    memset(m, 0, sizeof(*m));
}

int recipmap_has(const struct recipmap *m, const char *key, size_t klen)
{
    struct cdb c = m->cdb; /* cdb_find writes into it */
    if (!m->open || klen == 0 || klen > RECIPMAP_KEY_MAX)
        return 0;
    int r = cdb_find(&c, key, (unsigned)klen);
    return r > 0 ? 1 : r == 0 ? 0 : -1;
}

int recipmap_domain(const struct recipmap *m, const char *domain)
{
    char key[ADDR_DOMAIN_MAX + 2];
    size_t dl = strlen(domain);
    struct cdb c = m->cdb;
    if (!m->open || dl == 0 || dl > ADDR_DOMAIN_MAX)
        return 0;
    key[0] = '@';
    memcpy(key + 1, domain, dl);
    int r = cdb_find(&c, key, (unsigned)dl + 1);
    if (r <= 0)
        return r;
    const char *d = cdb_datalen(&c) ? cdb_getdata(&c) : NULL;
    if (cdb_datalen(&c) && !d)
        return -1;
    return d && d[0] == '*' ? 2 : 1;
}

void recipmap_query_make(struct recipmap_query *q, const char *local, const char *sep)
{
    size_t ll = strnlen(local, sizeof(q->local) - 1);
    memcpy(q->local, local, ll);
    q->local[ll] = '\0';
    q->len[0] = ll;
    q->n = 1;
    if (!sep || !*sep)
        return;
    for (size_t i = ll; i-- > 1 && q->n < RECIPMAP_MAX_FORMS;) {
        unsigned char c = (unsigned char)q->local[i];
        if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z')
            continue; /* letters never separate: skip the strchr */
        if (c && strchr(sep, c))
            q->len[q->n++] = i;
    }
}

int recipmap_lookup(const struct recipmap *m, const struct recipmap_query *q, const char *domain)
{
    char key[RECIPMAP_KEY_MAX + 1];
    size_t dl = strnlen(domain, ADDR_DOMAIN_MAX + 1);
    if (dl > ADDR_DOMAIN_MAX)
        return 2;
    for (size_t i = 0; i < q->n; i++) {
        size_t ll = q->len[i];
        if (ll + 1 + dl > RECIPMAP_KEY_MAX)
            continue;
        memcpy(key, q->local, ll);
        if (m->fold)
            recipmap_fold(key, ll);
        key[ll] = '@';
        memcpy(key + ll + 1, domain, dl);
        int r = recipmap_has(m, key, ll + 1 + dl);
        if (r != 0)
            return r;
    }
    switch (recipmap_domain(m, domain)) {
    case 2:
        return 1;
    case 1:
        return 0;
    case 0:
        return 2;
    default:
        return -1;
    }
}
