/*
 * util.h - the small helpers every part of the library leans on: a string
 * arena, bounded text helpers, word lists, array growth, configuration
 * value parsers and the one way the library opens the files it reads.
 *
 * The only library header support/ modules include: it knows nothing of
 * engines, sessions or layers.  Not installed.
 */
#ifndef LIBPOLICY_UTIL_H
#define LIBPOLICY_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#if defined(__GNUC__)
#define POLICY_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define POLICY_HIDDEN       __attribute__((visibility("hidden")))
#else
#define POLICY_PRINTF(a, b)
#define POLICY_HIDDEN
#endif

#define POLICY_ERR_MAX 512

/* ------------------------------------------------------------ arena */

/* A bump allocator for strings that live as long as a scope (a connection
 * or a transaction).  Chunks never move, so pointers stay valid until reset. */
struct arena_chunk;
struct arena {
    struct arena_chunk *head;
    size_t used_total;
};
void arena_init(struct arena *a);
void *arena_alloc(struct arena *a, size_t n);
/* arena_strndup - copy at most max bytes of s (stops at NUL), NUL-terminated. */
char *arena_strndup(struct arena *a, const char *s, size_t max);
void arena_reset(struct arena *a); /* keep the first chunk, free the rest */
void arena_free(struct arena *a);

/* -------------------------------------------------------- text helpers */

/* sanitize_copy - copy src into dst (size dstlen) keeping printable ASCII,
 * turning every other byte into '?' except TAB/CR/LF which become a space;
 * never more than dstlen-1 bytes; always terminated.  Returns length. */
size_t sanitize_copy(char *dst, size_t dstlen, const char *src, size_t srclen);
/* str_ieq / str_ieqn - ASCII case-insensitive comparisons. */
int str_ieq(const char *a, const char *b);
int str_ieqn(const char *a, const char *b, size_t n);
void str_lower(char *s);

/* ------------------------------------------------------------ lists */

/* The separators of every list the configuration and variables give:
 * "a b,c" is three words. */
#define WORDS_SEP " \t,"

/* words_next - skip separators at *p; the length of the word that starts
 * there (0 at the end).  Walk a list with
 *     for (const char *p = list; (n = words_next(&p)) > 0; p += n) ... */
size_t words_next(const char **p);
/* words_has - is word (case-insensitively) in the list? */
int words_has(const char *list, const char *word);

/* array_grow - make *pv (an array of elem-byte items, capacity *cap) hold
 * at least need items, doubling from first.  0, or -1 (out of memory:
 * nothing changed). */
int array_grow(void *pv, size_t *cap, size_t need, size_t elem, size_t first);

/* ------------------------------------------------------------ files */

/* file_openat - open name (relative to dirfd, or AT_FDCWD) read-only for the
 * library: never blocks (a FIFO would wait for a writer forever) and refuses
 * what is not a regular file (a FIFO, a device such as /dev/zero, a
 * directory).  The fd (close-on-exec), or -1 with "cannot open NAME: why" or
 * "NAME: not a regular file" in why (may be NULL) and errno set (ENOENT when
 * it does not exist, EINVAL when it is not a regular file). */
int file_openat(int dirfd, const char *name, char *why, size_t whylen);
int file_open(const char *path, char *why, size_t whylen);
/* file_fopen - file_open() as a stdio stream, for text files. */
FILE *file_fopen(const char *path, char *why, size_t whylen);

/* What file_line() returns besides 1 (a line) and 0 (end of file). */
#define FILE_LINE_ERROR (-1) /* read error (ferror) */
#define FILE_LINE_LONG  (-2) /* longer than the buffer: not read to its end */
#define FILE_LINE_NUL   (-3) /* a NUL byte in the line: text after it would vanish */

/* file_line - one line of fp into buf (cap bytes: at most cap-1 of text),
 * without its LF, NUL-terminated, its length in *len.  Stops at the first
 * bad byte or overlong line, so endless input (a device) costs one line. */
int file_line(FILE *fp, char *buf, size_t cap, size_t *len);

/* ------------------------------------------------------------ config values */

/* What went wrong with a configuration value, for error messages. */
struct cfg_err {
    char msg[POLICY_ERR_MAX];
};

/* cfg_fail - write a message into err; returns -1 for `return cfg_fail(...)`. */
int cfg_fail(struct cfg_err *err, const char *fmt, ...) POLICY_PRINTF(2, 3);

/* Returned by a set() function for a key it does not know. */
#define CFG_UNKNOWN_KEY 1

int cfg_parse_bool(const char *v, int *out);
/* cfg_set_bool - a yes/no key: 0, or -1 with "expected yes or no" in err. */
int cfg_set_bool(const char *v, int *out, struct cfg_err *err);
/* cfg_set_dns_timeout - a DNS timeout key (10ms to 5m): 0, or -1 with err. */
int cfg_set_dns_timeout(const char *v, unsigned long *ms, struct cfg_err *err);
/* cfg_set_string - replace *dst with a copy of v: 0, or -1 (out of memory) with err. */
int cfg_set_string(char **dst, const char *v, struct cfg_err *err);
/* cfg_set_ms - a duration key from lo to hi milliseconds: 0, or -1 with err. */
int cfg_set_ms(const char *v, unsigned long lo, unsigned long hi, unsigned long *out,
               struct cfg_err *err);
/* cfg_set_text - a reply text: one printable ASCII line of 1 to cap-1 bytes. */
int cfg_set_text(char *dst, size_t cap, const char *v, struct cfg_err *err);
int cfg_parse_uint(const char *v, unsigned long max, unsigned long *out);
/* cfg_parse_duration - "30", "30s", "500ms", "2m", "1h" -> milliseconds. */
int cfg_parse_duration(const char *v, unsigned long *ms);
/* cfg_parse_seconds - a longer span: "300", "300s", "5m", "2h", "35d" ->
 * seconds, at most max. */
int cfg_parse_seconds(const char *v, unsigned long max, unsigned long *secs);
/* cfg_parse_size - "512", "64k", "50M", "1G" (powers of 1024) -> bytes, at most max. */
int cfg_parse_size(const char *v, uint64_t max, uint64_t *out);
/* cfg_parse_period - "90", "90s", "15m", "12h", "180d", "2w" -> seconds,
 * at most max; "0" is 0. */
int cfg_parse_period(const char *v, uint64_t max, uint64_t *out);

#endif /* LIBPOLICY_UTIL_H */
