/*
 * patterns.c - compiled pattern sets for the regex layer.  Patterns are
 * compiled at load (PCRE2, caseless, $ only at the end, JIT on first use),
 * or, in a set that defers them, each when it must first run, without JIT:
 * a process that checks one message compiles only the few patterns the
 * prefilter lets through, if any.  A match is bounded by a match limit, so
 * a pathological pattern against a hostile address becomes a temporary
 * error, not a stuck server.  The literal prefilter only ever spares a
 * regex that cannot match: a check allocates nothing unless a regex
 * actually runs (then PCRE2's match data).  PCRE2 itself is loaded when
 * the first pattern is compiled or run (dynlib.h): a process whose patterns
 * the prefilter all spares never maps it.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <errno.h>
#include <pcre2.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/util.h"
#include "dynlib.h"
#include "patterns.h"

#define PCRE2_FNS(X)                                                                               \
    X(pcre2_compile_8)                                                                             \
    X(pcre2_get_error_message_8)                                                                   \
    X(pcre2_jit_compile_8) X(pcre2_match_8) X(pcre2_match_data_create_8)                           \
        X(pcre2_match_context_create_8) X(pcre2_set_match_limit_8) X(pcre2_set_depth_limit_8)      \
            X(pcre2_match_data_free_8) X(pcre2_match_context_free_8) X(pcre2_code_free_8)
static struct {
    PCRE2_FNS(DYNLIB_FN)
} pf;
#define PCRE2_SYM(f) DYNLIB_SYM(pf, f)
static const struct dynlib_sym pcre2_syms[] = {PCRE2_FNS(PCRE2_SYM)};
static struct dynlib pcre2_lib = DYNLIB_INIT(SONAME_PCRE2, pcre2_syms);
/* pcre2.h maps pcre2_x to pcre2_x_8: these make the calls go through pf */
#define pcre2_compile_8              (*pf.pcre2_compile_8)
#define pcre2_get_error_message_8    (*pf.pcre2_get_error_message_8)
#define pcre2_jit_compile_8          (*pf.pcre2_jit_compile_8)
#define pcre2_match_8                (*pf.pcre2_match_8)
#define pcre2_match_data_create_8    (*pf.pcre2_match_data_create_8)
#define pcre2_match_context_create_8 (*pf.pcre2_match_context_create_8)
#define pcre2_set_match_limit_8      (*pf.pcre2_set_match_limit_8)
#define pcre2_set_depth_limit_8      (*pf.pcre2_set_depth_limit_8)
#define pcre2_match_data_free_8      (*pf.pcre2_match_data_free_8)
#define pcre2_match_context_free_8   (*pf.pcre2_match_context_free_8)
#define pcre2_code_free_8            (*pf.pcre2_code_free_8)

#define PAT_BUCKETS     4096
#define PAT_LINEAR_MAX  16 /* a set this small looks for each literal: no buckets to build */
#define PAT_LITERAL_MAX 64
#define PAT_LITERAL_MIN 3
#define PAT_MATCH_LIMIT 200000
#define PAT_DEPTH_LIMIT 5000
#define PAT_SUBJECT_MAX 8192  /* longer subjects skip the prefilter, never the check */
#define PAT_MAX         65536 /* patterns per set */
#define PAT_LINE_MAX    65536 /* bytes of one line of a pattern file */
#define PAT_MAX_LINES   10000000

/* A pattern's code, from the first use on (see ready()). */
enum { PAT_NEW = 0, PAT_READY, PAT_FAILED };

struct pattern {
    pcre2_code *code; /* NULL until compiled */
    char *source;     /* the regex, kept while it is not compiled */
    char *error;      /* why it does not compile (a deferred set) */
    atomic_int state; /* PAT_*, published with release, read with acquire */
    int negate;
    char origin[300];
    char literal[PAT_LITERAL_MAX + 1];
    size_t litlen;
};

/* ---------------------------------------------------------------- literals */

/* posix_class_end - p at "[:", "[." or "[=" inside a class: the end of a
 * POSIX item ("[:alpha:]"), or NULL when PCRE2 takes the '[' literally.
 * The rule of PCRE2's check_posix_syntax(): a ']' (or another "[" plus the
 * same terminator) before the terminator means "not a POSIX item". */
static const char *posix_class_end(const char *p)
{
    char term = p[1];
    for (p += 2; p[0] && p[1]; p++) {
        if (p[0] == '\\' && (p[1] == ']' || p[1] == '\\'))
            p++;
        else if ((p[0] == '[' && p[1] == term) || p[0] == ']')
            return NULL;
        else if (p[0] == term && p[1] == ']')
            return p + 2;
    }
    return NULL;
}

/* skip_class - past a bracket expression starting at p ('['); NULL if open. */
static const char *skip_class(const char *p)
{
    p++;
    if (*p == '^')
        p++;
    if (*p == ']')
        p++;
    while (*p && *p != ']') {
        if (p[0] == '[' && (p[1] == ':' || p[1] == '.' || p[1] == '=')) {
            const char *end = posix_class_end(p);
            if (end) {
                p = end;
                continue;
            }
        }
        if (*p == '\\' && p[1])
            p++;
        p++;
    }
    return *p ? p + 1 : NULL;
}

/* skip_group - past a parenthesized group starting at p ('('). */
static const char *skip_group(const char *p)
{
    int depth = 0;
    while (*p) {
        if (*p == '\\' && p[1]) {
            p += 2;
            continue;
        }
        if (*p == '[') {
            p = skip_class(p);
            if (!p)
                return NULL;
            continue;
        }
        if (*p == '(')
            depth++;
        else if (*p == ')' && --depth == 0)
            return p + 1;
        p++;
    }
    return NULL;
}

/* has_top_alternation - a '|' outside groups and classes: no single literal. */
static int has_top_alternation(const char *p)
{
    while (*p) {
        if (*p == '\\' && p[1])
            p += 2;
        else if (*p == '[') {
            if (!(p = skip_class(p)))
                return 1;
        } else if (*p == '(') {
            if (!(p = skip_group(p)))
                return 1;
        } else if (*p == '|')
            return 1;
        else
            p++;
    }
    return 0;
}

/* quantifier_end - p at '{': past the '}' of a counted repeat ("{2}",
 * "{2,}", "{2,5}", and "{,5}" or spaces, which newer PCRE2 accept), or NULL
 * when the brace is a literal character.  Never skips over anything else,
 * so a literal '{' cannot hide a group or an alternation. */
static const char *quantifier_end(const char *p)
{
    int digits = 0;
    for (p++; *p && *p != '}'; p++) {
        if (*p >= '0' && *p <= '9')
            digits = 1;
        else if (*p != ',' && *p != ' ')
            return NULL;
    }
    return *p == '}' && digits ? p + 1 : NULL;
}

/*
 * has_argument_escape - does the pattern hold, anywhere (classes too), an
 * escape whose meaning reaches past its letter: \x41 \o{101} \0 \1 \cA
 * \p{Lu} \N{U+41} \g{-1} \k<n>, or \Q..\E quoting (even a lone \E, which
 * PCRE2 drops)?  Their arguments are not literal text, and inside a class
 * they can swallow the ']' that seems to end it ("[\c]...", "[\E]...").
 */
static int has_argument_escape(const char *p)
{
    for (; *p; p++)
        if (*p == '\\') {
            if (!p[1])
                return 0;
            if (strchr("xo0123456789cpPNgkQE", p[1]))
                return 1;
            p++; /* an escaped backslash is not the start of another escape */
        }
    return 0;
}

/*
 * has_unsafe_group - does the pattern hold a "(?" construct that the scan
 * for literals cannot step over as a group: an option setting with x
 * (extended syntax: blanks and '#' then mean something else), a comment
 * (its first ')' ends it, even after a backslash) or a callout (its string
 * argument may hold parentheses)?  Any other (?...) - non-capturing, named,
 * atomic, lookaround, conditional, a recursion, options without x - is a
 * group like (...): skipped whole, which only ever shortens the literal.
 */
static int has_unsafe_group(const char *p)
{
    while (*p) {
        if (*p == '\\' && p[1]) {
            p += 2;
            continue;
        }
        if (*p == '[') {
            if (!(p = skip_class(p)))
                return 1;
            continue;
        }
        if (p[0] == '(' && p[1] == '?') {
            const char *q = p + 2, *r = q;
            if (*q == '#' || *q == 'C')
                return 1;
            while ((*r >= 'a' && *r <= 'z') || (*r >= 'A' && *r <= 'Z') || *r == '-' || *r == '^')
                r++;
            if ((*r == ')' || *r == ':') && memchr(q, 'x', (size_t)(r - q)))
                return 1;
        }
        p++;
    }
    return 0;
}

void pattern_required_literal(const char *pat, char *out, size_t outlen)
{
    char run[PAT_LITERAL_MAX + 1];
    size_t rl = 0, best = 0;
    const char *p = pat;

    out[0] = '\0';
    /* (?x) changes what characters mean, and verbs like (*ACCEPT) end a
     * match early: stay safe */
    if (has_unsafe_group(pat) || strstr(pat, "(*") || has_argument_escape(pat) ||
        has_top_alternation(pat))
        return;
#define END_RUN()                                                                                  \
    do {                                                                                           \
        if (rl > best && rl < outlen) {                                                            \
            memcpy(out, run, rl);                                                                  \
            out[rl] = '\0';                                                                        \
            best = rl;                                                                             \
        }                                                                                          \
        rl = 0;                                                                                    \
    } while (0)
    while (*p) {
        unsigned char c = (unsigned char)*p;
        if (c == '{' && !quantifier_end(p)) {
            END_RUN(); /* a literal '{' to PCRE2: keep it out of runs, skip nothing */
            p++;
            continue;
        }
        if (c == '*' || c == '?' || c == '{') {
            /* the atom before is optional (or counted): drop it */
            if (rl)
                rl--;
            END_RUN();
            p = c == '{' ? quantifier_end(p) : p + 1;
            continue;
        }
        if (c == '+') {
            END_RUN();
            p++;
            continue;
        }
        if (c == '\\') {
            unsigned char e = (unsigned char)p[1];
            if (!e)
                break;
            if ((e >= 'a' && e <= 'z') || (e >= 'A' && e <= 'Z')) {
                END_RUN(); /* \d \w \b \s ...: not a literal character */
                p += 2;
                continue;
            }
            c = e; /* an escaped punctuation character stands for itself */
            p += 2;
        } else if (c == '[') {
            END_RUN();
            if (!(p = skip_class(p)))
                return (void)(out[0] = '\0');
            continue;
        } else if (c == '(') {
            END_RUN();
            if (!(p = skip_group(p)))
                return (void)(out[0] = '\0');
            continue;
        } else if (c == '.' || c == '^' || c == '$' || c == ')' || c == '|') {
            END_RUN();
            p++;
            continue;
        } else {
            p++;
        }
        if (c >= 0x80) { /* caseless matching of non-ASCII is not ours to guess */
            END_RUN();
            continue;
        }
        if (rl == PAT_LITERAL_MAX) /* keep the first PAT_LITERAL_MAX bytes */
            continue;
        run[rl++] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    }
    END_RUN();
#undef END_RUN
}

/* ---------------------------------------------------------------- sets */

void patternset_init(struct patternset *s)
{
    memset(s, 0, sizeof(*s));
    s->jit = 1;
}

void patternset_defer(struct patternset *s)
{
    s->deferred = 1;
    s->jit = 0; /* unless patternset_compile() says the set lives long */
}

/* compile_one - PCRE2 code for p from re; 0, or -1 with err naming
 * p's origin. */
static int compile_one(struct pattern *p, const char *re, char *err, size_t errlen)
{
    int ecode;
    PCRE2_SIZE eoff;
    if (dynlib_load(&pcre2_lib) != 0) {
        snprintf(err, errlen, "%s: %s", p->origin, dynlib_error(&pcre2_lib));
        return -1;
    }
    p->code = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED,
                            PCRE2_CASELESS | PCRE2_DOLLAR_ENDONLY | PCRE2_NEVER_BACKSLASH_C, &ecode,
                            &eoff, NULL);
    if (p->code)
        return 0;
    PCRE2_UCHAR msg[160];
    pcre2_get_error_message(ecode, msg, sizeof(msg));
    snprintf(err, errlen, "%s: bad pattern '%.80s': %s at offset %zu", p->origin, re,
             (const char *)msg, (size_t)eoff);
    return -1;
}

int patternset_add(struct patternset *s, const char *pattern, const char *origin, char *err,
                   size_t errlen)
{
    int negate = pattern[0] == '!';
    const char *re = pattern + negate;

    if (s->n >= PAT_MAX) {
        snprintf(err, errlen, "%s: more than %d patterns", origin, PAT_MAX);
        return -1;
    }
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 16;
        struct pattern *np = realloc(s->p, nc * sizeof(*np));
        if (!np) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        s->p = np;
        s->cap = nc;
    }
    struct pattern *p = &s->p[s->n];
    memset(p, 0, sizeof(*p));
    p->negate = negate;
    size_t olen = strnlen(origin, sizeof(p->origin) - 1); /* cut like snprintf, cheaper */
    memcpy(p->origin, origin, olen);
    p->origin[olen] = '\0';
    /* JIT compilation waits for the first match (ready): it is most of the
     * cost of loading a pattern, and a process that lives for one message
     * (policy-queue, qmail-smtpd) uses few of its patterns, if any. */
    if (s->deferred) {
        if (!(p->source = strdup(re))) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    } else if (compile_one(p, re, err, errlen) != 0) {
        return -1;
    }
    pattern_required_literal(re, p->literal, sizeof(p->literal));
    p->litlen = strlen(p->literal);
    if (p->litlen < PAT_LITERAL_MIN) {
        p->literal[0] = '\0';
        p->litlen = 0;
    }
    s->n++;
    return 0;
}

int patternset_compile(struct patternset *s, char *err, size_t errlen)
{
    for (size_t i = 0; i < s->n; i++) {
        struct pattern *p = &s->p[i];
        if (p->code)
            continue;
        if (compile_one(p, p->source, err, errlen) != 0)
            return -1;
        free(p->source);
        p->source = NULL;
    }
    s->jit = 1;
    return 0;
}

/* origin_line - "path:line" into buf, after "path:" (prefix bytes) is
 * there already: a file of ten thousand patterns formats ten thousand. */
static void origin_line(char *buf, size_t len, size_t prefix, int line)
{
    char digits[12];
    size_t n = 0;
    do
        digits[n++] = (char)('0' + line % 10);
    while ((line /= 10) > 0 && n < sizeof(digits));
    while (n && prefix + 1 < len)
        buf[prefix++] = digits[--n];
    buf[prefix] = '\0';
}

int patternset_add_file(struct patternset *s, const char *path, char *err, size_t errlen)
{
    char *line, origin[300];
    size_t n;
    int lineno = 0, r = 0, got;

    snprintf(origin, sizeof(origin) - 12, "%s:", path); /* room for the line number */
    size_t prefix = strlen(origin);
    FILE *fp = file_fopen(path, err, errlen);
    if (!fp)
        return -1;
    if (!(line = malloc(PAT_LINE_MAX + 1))) {
        fclose(fp);
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    while ((got = file_line(fp, line, PAT_LINE_MAX + 1, &n)) != 0 && got != FILE_LINE_ERROR) {
        if (++lineno > PAT_MAX_LINES || got < 0) {
            snprintf(err, errlen, "%s:%d: %s", path, lineno,
                     got == FILE_LINE_NUL    ? "NUL byte in pattern"
                     : got == FILE_LINE_LONG ? "line longer than 65536 bytes"
                                             : "too many lines");
            r = -1;
            break;
        }
        /* qmail's control files: trailing white space is not part of the line */
        while (n && (line[n - 1] == '\r' || line[n - 1] == ' ' || line[n - 1] == '\t'))
            line[--n] = '\0';
        if (!n || line[0] == '#')
            continue;
        origin_line(origin, sizeof(origin), prefix, lineno);
        if ((r = patternset_add(s, line, origin, err, errlen)) != 0)
            break;
    }
    if (!r && ferror(fp)) {
        snprintf(err, errlen, "%s: read error", path);
        r = -1;
    }
    free(line);
    fclose(fp);
    return r;
}

static uint32_t tri_hash(const char *t)
{
    uint32_t h = ((uint32_t)(unsigned char)t[0] << 16) | ((uint32_t)(unsigned char)t[1] << 8) |
                 (unsigned char)t[2];
    return (h * 2654435761u) >> 20; /* 12 bits: PAT_BUCKETS */
}

int patternset_finish(struct patternset *s)
{
    size_t words = (s->n + 63) / 64;
    free(s->bucket_start);
    free(s->bucket_ids);
    free(s->base);
    s->bucket_start = s->bucket_ids = NULL;
    s->base = calloc(words ? words : 1, sizeof(uint64_t));
    if (!s->base)
        return -1;
    if (s->n <= PAT_LINEAR_MAX) { /* a header rule, a short file: no index */
        for (size_t i = 0; i < s->n; i++)
            if (!s->p[i].litlen || s->p[i].negate)
                s->base[i / 64] |= (uint64_t)1 << (i % 64);
        return 0;
    }
    s->bucket_start = calloc(PAT_BUCKETS + 1, sizeof(uint32_t));
    s->bucket_ids = calloc(s->n, sizeof(uint32_t));
    if (!s->bucket_start || !s->bucket_ids)
        return -1;
    /* a negated pattern runs whatever the subject: the prefilter may only
     * ever spare a regex that cannot match, never make a rule fire */
    for (size_t i = 0; i < s->n; i++)
        if (!s->p[i].litlen || s->p[i].negate)
            s->base[i / 64] |= (uint64_t)1 << (i % 64);
        else
            s->bucket_start[tri_hash(s->p[i].literal) + 1]++;
    for (size_t b = 0; b < PAT_BUCKETS; b++)
        s->bucket_start[b + 1] += s->bucket_start[b];
    uint32_t fill[PAT_BUCKETS];
    memcpy(fill, s->bucket_start, sizeof(fill));
    for (size_t i = 0; i < s->n; i++)
        if (s->p[i].litlen && !s->p[i].negate)
            s->bucket_ids[fill[tri_hash(s->p[i].literal)]++] = (uint32_t)i;
    return 0;
}

/* One lock for every pattern's first use: it happens once per pattern per
 * process, and no thread matches a pattern before it is done. */
static pthread_mutex_t first_use_lock = PTHREAD_MUTEX_INITIALIZER;

/* ready - make p runnable, once: compile it if its set deferred that, and
 * JIT-compile it if the set wants JIT.  1, or 0 when it does not compile
 * (p->error says why).  The set is shared read-only by threads; the code
 * is the one thing that changes after load, under first_use_lock, and
 * "state" publishes it (acquire/release) before any match uses it.  A
 * pattern PCRE2 cannot JIT runs in the interpreter. */
static int ready(const struct patternset *s, const struct pattern *cp)
{
    struct pattern *p = (struct pattern *)cp;
    int st = atomic_load_explicit(&p->state, memory_order_acquire);
    if (st != PAT_NEW)
        return st == PAT_READY;
    pthread_mutex_lock(&first_use_lock);
    st = atomic_load_explicit(&p->state, memory_order_relaxed);
    if (st == PAT_NEW) {
        char why[512];
        if (!p->code && compile_one(p, p->source, why, sizeof(why)) != 0) {
            p->error = strdup(why);
            st = PAT_FAILED;
        } else {
            if (s->jit)
                (void)pcre2_jit_compile(p->code, PCRE2_JIT_COMPLETE);
            free(p->source);
            p->source = NULL;
            st = PAT_READY;
        }
        atomic_store_explicit(&p->state, st, memory_order_release);
    }
    pthread_mutex_unlock(&first_use_lock);
    return st == PAT_READY;
}

/* run - one pattern against subject: 1 match, 0 none, -1 gave up (match
 * limit), -2 it does not compile. */
static int run(const struct patternset *s, const struct pattern *p, const char *subject, size_t len,
               pcre2_match_data *md, pcre2_match_context *mc)
{
    if (!ready(s, p))
        return -2;
    int rc = pcre2_match(p->code, (PCRE2_SPTR)subject, len, 0, 0, md, mc);
    if (rc == PCRE2_ERROR_NOMATCH)
        return p->negate;
    if (rc < 0)
        return -1;
    return !p->negate;
}

/* match_ctx - the match data and limits for one call: allocated per call
 * by PCRE2's own allocator; cheap next to a regex run, and only made when a
 * regex must actually run. */
struct match_ctx {
    pcre2_match_data *md;
    pcre2_match_context *mc;
};

static int ctx_get(struct match_ctx *c)
{
    if (c->md)
        return 0;
    if (dynlib_load(&pcre2_lib) != 0)
        return -1;
    c->md = pcre2_match_data_create(1, NULL);
    c->mc = pcre2_match_context_create(NULL);
    if (!c->md || !c->mc)
        return -1;
    pcre2_set_match_limit(c->mc, PAT_MATCH_LIMIT);
    pcre2_set_depth_limit(c->mc, PAT_DEPTH_LIMIT);
    return 0;
}

static void ctx_put(struct match_ctx *c)
{
    if (c->md) /* else PCRE2 may not even be loaded */
        pcre2_match_data_free(c->md);
    if (c->mc)
        pcre2_match_context_free(c->mc);
}

/*
 * first_match - run the patterns whose bit is set in want (every pattern
 * when want is NULL) in file order; the first that matches decides.  One
 * that cannot run (match limit, does not compile) does not stop the walk:
 * a definite match later in the file still wins; PAT_ERROR or PAT_BAD,
 * for the first of them, only when none matched.
 */
static enum pat_result first_match(const struct patternset *s, const uint64_t *want,
                                   const char *subject, size_t len, const char **origin)
{
    struct match_ctx c = {0};
    const char *gave_up = NULL;
    enum pat_result res = PAT_NOMATCH, problem = PAT_NOMATCH;

    for (size_t w = 0; w < (s->n + 63) / 64 && res == PAT_NOMATCH; w++) {
        uint64_t m = want ? want[w] : ~(uint64_t)0;
        if (w == s->n / 64) /* the last, partial word */
            m &= ((uint64_t)1 << (s->n % 64)) - 1;
        while (m && res == PAT_NOMATCH) {
            size_t i = w * 64 + (size_t)__builtin_ctzll(m);
            m &= m - 1;
            const struct pattern *p = &s->p[i];
            int r = ctx_get(&c) ? -1 : run(s, p, subject, len, c.md, c.mc);
            if (r > 0) {
                res = PAT_MATCH;
                *origin = p->origin;
            } else if (r < 0 && !gave_up) {
                problem = r == -2 ? PAT_BAD : PAT_ERROR;
                gave_up = r == -2 && p->error ? p->error : p->origin;
            }
        }
    }
    ctx_put(&c);
    if (res == PAT_NOMATCH && gave_up) {
        res = problem;
        *origin = gave_up;
    }
    return res;
}

enum pat_result patternset_match_all(const struct patternset *s, const char *subject, size_t len,
                                     const char **origin)
{
    return first_match(s, NULL, subject, len, origin);
}

enum pat_result patternset_match(const struct patternset *s, const char *subject, size_t len,
                                 const char **origin)
{
    uint64_t want[PAT_MAX / 64];
    char low[PAT_SUBJECT_MAX];

    if (!s->n)
        return PAT_NOMATCH;
    if (!s->base || len > PAT_SUBJECT_MAX) /* unfinished set, or a subject too long to copy */
        return first_match(s, NULL, subject, len, origin);

    /* the patterns to run: those that always run, and those whose literal
     * occurs in the (ASCII-lowercased) subject */
    memcpy(want, s->base, (s->n + 63) / 64 * sizeof(*want));
    for (size_t i = 0; i < len; i++)
        low[i] =
            (char)(subject[i] >= 'A' && subject[i] <= 'Z' ? subject[i] - 'A' + 'a' : subject[i]);
    if (!s->bucket_start) { /* a small set: each literal looked for */
        for (size_t id = 0; id < s->n; id++) {
            const struct pattern *p = &s->p[id];
            if (p->litlen && !p->negate && memmem(low, len, p->literal, p->litlen))
                want[id / 64] |= (uint64_t)1 << (id % 64);
        }
        return first_match(s, want, subject, len, origin);
    }
    for (size_t i = 0; i + PAT_LITERAL_MIN <= len; i++) {
        uint32_t b = tri_hash(low + i);
        for (uint32_t k = s->bucket_start[b]; k < s->bucket_start[b + 1]; k++) {
            uint32_t id = s->bucket_ids[k];
            const struct pattern *p = &s->p[id];
            if (p->litlen <= len - i && !memcmp(p->literal, low + i, p->litlen))
                want[id / 64] |= (uint64_t)1 << (id % 64);
        }
    }
    return first_match(s, want, subject, len, origin);
}

size_t patternset_compiled(const struct patternset *s)
{
    size_t n = 0;
    for (size_t i = 0; i < s->n; i++)
        n += s->p[i].code != NULL;
    return n;
}

const char *patternset_literal(const struct patternset *s, size_t i)
{
    return i < s->n ? s->p[i].literal : "";
}

void patternset_free(struct patternset *s)
{
    for (size_t i = 0; i < s->n; i++) {
        if (s->p[i].code) /* none compiled: PCRE2 may not be loaded */
            pcre2_code_free(s->p[i].code);
        free(s->p[i].source);
        free(s->p[i].error);
    }
    free(s->p);
    free(s->bucket_start);
    free(s->bucket_ids);
    free(s->base);
    patternset_init(s);
}
