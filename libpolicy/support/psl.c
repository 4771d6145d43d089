/*
 * psl.c - the organizational domain from the Public Suffix List, with
 * libpsl (the library the spam tokenizer uses too) reading the list file
 * named in the configuration.  Ours: the bounds (the file, the name) and
 * the name's normal form (lower case, no trailing dot, no empty label).
 * libpsl is loaded with the first list (dynlib.h).
 */
#include <libpsl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../util/util.h"
#include "dynlib.h"
#include "psl.h"

#define PSL_FNS(X) X(psl_load_fp) X(psl_suffix_count) X(psl_free) X(psl_registrable_domain)
static struct {
    PSL_FNS(DYNLIB_FN)
} pslf;
#define PSL_SYM(f) DYNLIB_SYM(pslf, f)
static const struct dynlib_sym psl_syms[] = {PSL_FNS(PSL_SYM)};
static struct dynlib psl_lib = DYNLIB_INIT(SONAME_PSL, psl_syms);
#define psl_load_fp            (*pslf.psl_load_fp)
#define psl_suffix_count       (*pslf.psl_suffix_count)
#define psl_free               (*pslf.psl_free)
#define psl_registrable_domain (*pslf.psl_registrable_domain)

#define PSL_FILE_MAX (16 * 1024 * 1024)

struct pslist {
    psl_ctx_t *ctx;
};

/* from_fp - a list from an open stream; fp is closed. */
static struct pslist *from_fp(FILE *fp, const char *what, char *err, size_t errlen)
{
    psl_ctx_t *ctx = psl_load_fp(fp);
    fclose(fp);
    if (!ctx || psl_suffix_count(ctx) <= 0) {
        snprintf(err, errlen, "%s: %s", what, ctx ? "no rules in the list" : "not a public suffix list");
        psl_free(ctx);
        return NULL;
    }
    struct pslist *p = malloc(sizeof(*p));
    if (!p) {
        psl_free(ctx);
        snprintf(err, errlen, "%s: out of memory", what);
        return NULL;
    }
    p->ctx = ctx;
    return p;
}

/* loaded - libpsl is there (loaded on the first call), else err says why. */
static int loaded(char *err, size_t errlen)
{
    if (dynlib_load(&psl_lib) == 0)
        return 1;
    snprintf(err, errlen, "public suffix list: %s", dynlib_error(&psl_lib));
    return 0;
}

struct pslist *pslist_parse(const char *text, size_t len, char *err, size_t errlen)
{
    if (!loaded(err, errlen))
        return NULL;
    FILE *fp = len ? fmemopen((void *)text, len, "r") : NULL;
    if (!fp) {
        snprintf(err, errlen, "public suffix list: %s", len ? "out of memory" : "empty");
        return NULL;
    }
    return from_fp(fp, "public suffix list", err, errlen);
}

struct pslist *pslist_load(const char *path, char *err, size_t errlen)
{
    if (!loaded(err, errlen))
        return NULL;
    char why[POLICY_ERR_MAX];
    struct stat st;
    int fd = file_open(path, why, sizeof(why));
    if (fd < 0) {
        snprintf(err, errlen, "%s", why);
        return NULL;
    }
    FILE *fp = NULL;
    if (fstat(fd, &st) != 0 || st.st_size > PSL_FILE_MAX || !(fp = fdopen(fd, "r"))) {
        snprintf(err, errlen, "%s: %s", path, st.st_size > PSL_FILE_MAX ? "too big for a list" : "read error");
        close(fd);
        return NULL;
    }
    return from_fp(fp, path, err, errlen);
}

void pslist_free(struct pslist *p)
{
    if (!p)
        return;
    psl_free(p->ctx);
    free(p);
}

size_t pslist_rules(const struct pslist *p)
{
    int n = psl_suffix_count(p->ctx);
    return n > 0 ? (size_t)n : 0;
}

int pslist_org_domain(const struct pslist *p, const char *domain, char *out, size_t outlen)
{
    char d[PSL_DOMAIN_MAX + 2];
    size_t n = strnlen(domain, PSL_DOMAIN_MAX + 2);
    if (n && domain[n - 1] == '.')
        n--;
    if (!n || n > PSL_DOMAIN_MAX || n >= outlen)
        return -1;
    for (size_t i = 0; i < n; i++) {
        char c = domain[i];
        if (c == '.' && (i == 0 || domain[i - 1] == '.'))
            return -1; /* an empty label */
        d[i] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    }
    d[n] = '\0';
    /* NULL: the name is a public suffix itself (or no name libpsl takes) */
    const char *org = psl_registrable_domain(p->ctx, d);
    if (!org)
        org = d;
    memcpy(out, org, (size_t)(d + n - org) + 1);
    return 0;
}
