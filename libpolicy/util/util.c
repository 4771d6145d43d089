/*
 * util.c - small helpers the whole library leans on: a string arena,
 * bounded sanitizing copies, ASCII case folding, word lists, array growth,
 * value parsers, and the one way the library opens and reads the files a
 * configuration names.  Every function here is bounded by an explicit
 * length and never allocates without checking the result.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

/* ------------------------------------------------------------ arena */

#define ARENA_CHUNK 4096

struct arena_chunk {
    struct arena_chunk *next;
    size_t len, cap;
    char data[];
};

void arena_init(struct arena *a)
{
    a->head = NULL;
    a->used_total = 0;
}

/* arena_alloc - n bytes aligned for any scalar; NULL when out of memory. */
void *arena_alloc(struct arena *a, size_t n)
{
    const size_t align = sizeof(max_align_t);
    struct arena_chunk *c = a->head;
    size_t off;

    if (n > SIZE_MAX / 2)
        return NULL;
    if (c) {
        off = (c->len + align - 1) & ~(align - 1);
        if (off + n <= c->cap) {
            c->len = off + n;
            a->used_total += n;
            return c->data + off;
        }
    }
    size_t cap = n > ARENA_CHUNK ? n : ARENA_CHUNK;
    c = malloc(sizeof(*c) + cap);
    if (!c)
        return NULL;
    c->cap = cap;
    c->len = n;
    c->next = a->head;
    a->head = c;
    a->used_total += n;
    return c->data;
}

char *arena_strndup(struct arena *a, const char *s, size_t max)
{
    size_t n = strnlen(s, max);
    char *p = arena_alloc(a, n + 1);
    if (!p)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

/* arena_reset - keep the oldest chunk (the usual size of a scope) for reuse. */
void arena_reset(struct arena *a)
{
    struct arena_chunk *c = a->head, *keep = NULL;
    while (c) {
        struct arena_chunk *next = c->next;
        if (!next && c->cap == ARENA_CHUNK) {
            keep = c;
            keep->len = 0;
            keep->next = NULL;
        } else {
            free(c);
        }
        c = next;
    }
    a->head = keep;
    a->used_total = 0;
}

void arena_free(struct arena *a)
{
    struct arena_chunk *c = a->head;
    while (c) {
        struct arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
    a->used_total = 0;
}

/* ------------------------------------------------------------ files */

int file_openat(int dirfd, const char *name, char *why, size_t whylen)
{
    struct stat st;
    /* O_NONBLOCK: opening a FIFO must not wait for a writer; the check
     * below refuses it anyway, and a regular file ignores the flag */
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        int e = errno;
        if (why && whylen)
            snprintf(why, whylen, "cannot open %s: %s", name, strerror(e));
        errno = e;
        return -1;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        if (why && whylen)
            snprintf(why, whylen, "%s: not a regular file", name);
        errno = EINVAL;
        return -1;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        (void)fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    return fd;
}

int file_open(const char *path, char *why, size_t whylen)
{
    return file_openat(AT_FDCWD, path, why, whylen);
}

FILE *file_fopen(const char *path, char *why, size_t whylen)
{
    int fd = file_open(path, why, whylen);
    if (fd < 0)
        return NULL;
    FILE *fp = fdopen(fd, "r");
    if (!fp) {
        int e = errno;
        close(fd);
        if (why && whylen)
            snprintf(why, whylen, "cannot open %s: %s", path, strerror(e));
        errno = e;
    }
    return fp;
}

int file_line(FILE *fp, char *buf, size_t cap, size_t *len)
{
    size_t n = 0;
    int c;
    *len = 0;
    if (cap == 0)
        return FILE_LINE_LONG;
    buf[0] = '\0';
    while ((c = getc_unlocked(fp)) != EOF && c != '\n') {
        if (c == '\0')
            return FILE_LINE_NUL;
        if (n + 1 >= cap)
            return FILE_LINE_LONG;
        buf[n++] = (char)c;
    }
    buf[n] = '\0';
    *len = n;
    if (c == EOF && ferror(fp))
        return FILE_LINE_ERROR;
    return n || c == '\n' ? 1 : 0;
}

/* ------------------------------------------------------------ text */

size_t sanitize_copy(char *dst, size_t dstlen, const char *src, size_t srclen)
{
    size_t n = 0;
    if (dstlen == 0)
        return 0;
    for (size_t i = 0; src && i < srclen && src[i] && n + 1 < dstlen; i++) {
        unsigned char c = (unsigned char)src[i];
        if (c == '\t' || c == '\r' || c == '\n')
            c = ' ';
        else if (c < 0x20 || c > 0x7e)
            c = '?';
        dst[n++] = (char)c;
    }
    dst[n] = '\0';
    return n;
}

/* ascii_lower - tolower() without the locale: protocol text is ASCII, and
 * a Turkish locale must not make "I" and "i" differ. */
static unsigned char ascii_lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

int str_ieq(const char *a, const char *b)
{
    for (; *a && *b; a++, b++)
        if (ascii_lower((unsigned char)*a) != ascii_lower((unsigned char)*b))
            return 0;
    return *a == *b;
}

int str_ieqn(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (ascii_lower((unsigned char)a[i]) != ascii_lower((unsigned char)b[i]))
            return 0;
        if (!a[i])
            return 1;
    }
    return 1;
}

void str_lower(char *s)
{
    for (; *s; s++)
        *s = (char)ascii_lower((unsigned char)*s);
}

/* ------------------------------------------------------------ lists */

size_t words_next(const char **p)
{
    *p += strspn(*p, WORDS_SEP);
    return strcspn(*p, WORDS_SEP);
}

int words_has(const char *list, const char *word)
{
    size_t wl = strlen(word), n;
    for (const char *p = list; (n = words_next(&p)) > 0; p += n)
        if (n == wl && str_ieqn(p, word, n))
            return 1;
    return 0;
}

int array_grow(void *pv, size_t *cap, size_t need, size_t elem, size_t first)
{
    void **v = pv;
    if (need <= *cap)
        return 0;
    size_t nc = *cap ? *cap : first;
    while (nc < need) {
        if (nc > SIZE_MAX / 2 / elem)
            return -1;
        nc *= 2;
    }
    void *nv = realloc(*v, nc * elem);
    if (!nv)
        return -1;
    *v = nv;
    *cap = nc;
    return 0;
}

/* ------------------------------------------------------------ config values */

int cfg_fail(struct cfg_err *err, const char *fmt, ...)
{
    va_list ap;
    if (err) {
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
    }
    return -1;
}

int cfg_set_bool(const char *v, int *out, struct cfg_err *err)
{
    return cfg_parse_bool(v, out) ? cfg_fail(err, "expected yes or no, got '%s'", v) : 0;
}

int cfg_set_dns_timeout(const char *v, unsigned long *ms, struct cfg_err *err)
{
    if (cfg_parse_duration(v, ms) || *ms < 10 || *ms > 300000)
        return cfg_fail(err, "expected a duration from 10ms to 5m, got '%s'", v);
    return 0;
}

int cfg_set_string(char **dst, const char *v, struct cfg_err *err)
{
    char *p = strdup(v);
    if (!p)
        return cfg_fail(err, "out of memory");
    free(*dst);
    *dst = p;
    return 0;
}

int cfg_set_ms(const char *v, unsigned long lo, unsigned long hi, unsigned long *out,
               struct cfg_err *err)
{
    if (cfg_parse_duration(v, out) || *out < lo || *out > hi)
        return cfg_fail(err, "expected a duration from %lums to %lus, got '%s'", lo, hi / 1000, v);
    return 0;
}

int cfg_set_text(char *dst, size_t cap, const char *v, struct cfg_err *err)
{
    size_t n = strlen(v);
    if (!n || n >= cap)
        return cfg_fail(err, "expected a reply text of 1 to %zu characters", cap - 1);
    for (size_t i = 0; i < n; i++)
        if (v[i] < ' ' || v[i] > '~')
            return cfg_fail(err, "a reply text is printable ASCII only");
    memcpy(dst, v, n + 1);
    return 0;
}

int cfg_parse_bool(const char *v, int *out)
{
    if (str_ieq(v, "yes") || str_ieq(v, "true") || str_ieq(v, "on") || !strcmp(v, "1")) {
        *out = 1;
        return 0;
    }
    if (str_ieq(v, "no") || str_ieq(v, "false") || str_ieq(v, "off") || !strcmp(v, "0")) {
        *out = 0;
        return 0;
    }
    return -1;
}

int cfg_parse_uint(const char *v, unsigned long max, unsigned long *out)
{
    char *end;
    unsigned long n;
    if (!(*v >= '0' && *v <= '9'))
        return -1;
    errno = 0;
    n = strtoul(v, &end, 10);
    if (errno || *end || n > max)
        return -1;
    *out = n;
    return 0;
}

/* A unit of a time span and its multiplier; "" is a bare number. */
struct span_unit {
    const char *suffix;
    unsigned long mult;
};

/* parse_span - a number and one of units, at most max in the units' base;
 * 0, or -1 when it is not. */
static int parse_span(const char *v, const struct span_unit *units, unsigned long max,
                      unsigned long *out)
{
    char *end;
    unsigned long n;
    if (!(*v >= '0' && *v <= '9'))
        return -1;
    errno = 0;
    n = strtoul(v, &end, 10);
    if (errno)
        return -1;
    for (; units->suffix; units++)
        if (!strcmp(end, units->suffix)) {
            if (n > max / units->mult)
                return -1;
            *out = n * units->mult;
            return 0;
        }
    return -1;
}

int cfg_parse_duration(const char *v, unsigned long *ms)
{
    static const struct span_unit units[] = {
        {"ms", 1}, {"", 1000}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {NULL, 0}};
    return parse_span(v, units, 86400000UL, ms);
}

int cfg_parse_seconds(const char *v, unsigned long max, unsigned long *secs)
{
    static const struct span_unit units[] = {
        {"", 1}, {"s", 1}, {"m", 60}, {"h", 3600}, {"d", 86400}, {NULL, 0}};
    return parse_span(v, units, max, secs);
}

int cfg_parse_period(const char *v, uint64_t max, uint64_t *out)
{
    static const struct {
        const char *unit;
        uint64_t seconds;
    } units[] = {{"", 1}, {"s", 1}, {"m", 60}, {"h", 3600}, {"d", 86400}, {"w", 604800}};
    char *end;
    if (!(*v >= '0' && *v <= '9'))
        return -1;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (errno)
        return -1;
    for (size_t i = 0; i < sizeof(units) / sizeof(*units); i++)
        if (!strcmp(end, units[i].unit)) {
            if (n > max / units[i].seconds)
                return -1;
            *out = n * units[i].seconds;
            return 0;
        }
    return -1;
}

int cfg_parse_size(const char *v, uint64_t max, uint64_t *out)
{
    char *end;
    unsigned long long n;
    uint64_t mult = 1;
    if (!(*v >= '0' && *v <= '9'))
        return -1;
    errno = 0;
    n = strtoull(v, &end, 10);
    if (errno)
        return -1;
    switch (*end) {
    case '\0':
        break;
    case 'k':
    case 'K':
        mult = 1024;
        break;
    case 'm':
    case 'M':
        mult = 1024 * 1024;
        break;
    case 'g':
    case 'G':
        mult = 1024 * 1024 * 1024;
        break;
    default:
        return -1;
    }
    if (*end && end[1])
        return -1;
    if (n > max / mult)
        return -1;
    *out = (uint64_t)n * mult;
    return 0;
}
