/*
 * domains.c - local-domain sets: an in-memory hash set (filled from the
 * configuration or an rcpthosts file) and qmail's morercpthosts.cdb.  A
 * lookup walks the domain and each suffix starting at a dot, exactly like
 * qmail's rcpthosts.c, without allocating.
 */
#include <cdb.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../util/util.h"
#include "domains.h"

static uint32_t hash(const char *s, size_t n)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

void domainset_init(struct domainset *d)
{
    memset(d, 0, sizeof(*d));
}

static int find(const struct domainset *d, const char *s, size_t n)
{
    if (!d->cap)
        return 0;
    for (size_t i = hash(s, n) & (d->cap - 1);; i = (i + 1) & (d->cap - 1)) {
        const char *k = d->slots[i];
        if (!k)
            return 0;
        if (!strncmp(k, s, n) && k[n] == '\0')
            return 1;
    }
}

static int grow(struct domainset *d)
{
    size_t nc = d->cap ? d->cap * 2 : 64;
    char **ns = calloc(nc, sizeof(*ns));
    if (!ns)
        return -1;
    for (size_t i = 0; i < d->cap; i++) {
        char *k = d->slots[i];
        if (!k)
            continue;
        size_t j = hash(k, strlen(k)) & (nc - 1);
        while (ns[j])
            j = (j + 1) & (nc - 1);
        ns[j] = k;
    }
    free(d->slots);
    d->slots = ns;
    d->cap = nc;
    return 0;
}

int domainset_add(struct domainset *d, const char *name, size_t len)
{
    char buf[255 + 2];
    if (len && name[len - 1] == '.')
        len--;
    if (len == 0 || len > 255)
        return -1;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c <= ' ' || c == 0x7f || c == '@' || c == ',')
            return -1;
        buf[i] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    }
    buf[len] = '\0';
    if (find(d, buf, len))
        return 0;
    if ((d->n + 1) * 2 > d->cap && grow(d))
        return -1;
    char *k = strdup(buf);
    if (!k)
        return -1;
    size_t j = hash(k, len) & (d->cap - 1);
    while (d->slots[j])
        j = (j + 1) & (d->cap - 1);
    d->slots[j] = k;
    d->n++;
    return 0;
}

int domainset_add_words(struct domainset *d, const char *words, char *bad, size_t badlen)
{
    for (const char *w = words; *w;) {
        w += strspn(w, " \t,");
        size_t n = strcspn(w, " \t,");
        if (!n)
            break;
        if (domainset_add(d, w, n)) {
            snprintf(bad, badlen, "%.*s", (int)(n > 200 ? 200 : n), w);
            return -1;
        }
        w += n;
    }
    return 0;
}

int domainset_add_file(struct domainset *d, const char *path, char *err, size_t errlen)
{
    FILE *fp = file_fopen(path, err, errlen);
    char line[1024];
    int lineno = 0, r;
    size_t n;
    if (!fp)
        return -1;
    while ((r = file_line(fp, line, sizeof(line), &n)) != 0 && r != FILE_LINE_ERROR) {
        lineno++;
        if (r < 0) {
            snprintf(err, errlen, "%s:%d: %s", path, lineno,
                     r == FILE_LINE_LONG ? "line too long" : "NUL byte in the line");
            fclose(fp);
            return -1;
        }
        while (n && (line[n - 1] == '\r' || line[n - 1] == ' ' || line[n - 1] == '\t'))
            line[--n] = '\0';
        if (!n || line[0] == '#')
            continue;
        if (domainset_add(d, line, n)) {
            snprintf(err, errlen, "%s:%d: not a domain: %.100s", path, lineno, line);
            fclose(fp);
            return -1;
        }
    }
    int bad = ferror(fp);
    fclose(fp);
    if (bad) {
        snprintf(err, errlen, "%s: read error", path);
        return -1;
    }
    return 0;
}

int domainset_open_cdb(struct domainset *d, const char *path, char *why, size_t whylen)
{
    int fd = file_open(path, why, whylen);
    if (fd < 0)
        return -1;
    if (cdb_init(&d->cdb, fd) != 0) {
        close(fd);
        snprintf(why, whylen, "%s is not a cdb file", path);
        return -1;
    }
    close(fd); /* the mapping stays */
    d->has_cdb = 1;
    return 0;
}

/* cdb_has - search a private copy of the struct cdb (cdb_find writes into
 * it), so that any number of threads can use the same mapping at once. */
static int cdb_has(const struct domainset *d, const char *key, size_t n)
{
    struct cdb c = d->cdb;
    return cdb_find(&c, key, (unsigned)n) > 0;
}

int domainset_match(const struct domainset *d, const char *domain)
{
    size_t len = strlen(domain);
    for (size_t j = 0; j < len; j++) {
        if (j && domain[j] != '.')
            continue;
        if (find(d, domain + j, len - j))
            return 1;
        if (d->has_cdb && cdb_has(d, domain + j, len - j))
            return 1;
    }
    return 0;
}

void domainset_free(struct domainset *d)
{
    for (size_t i = 0; i < d->cap; i++)
        free(d->slots[i]);
    free(d->slots);
    if (d->has_cdb)
        cdb_free(&d->cdb);
    domainset_init(d);
}
