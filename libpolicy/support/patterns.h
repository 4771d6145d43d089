/*
 * patterns.h - a set of case-insensitive regular expressions (qmail control
 * file semantics: one per line, '!' negates) compiled once with PCRE2 JIT,
 * behind a literal prefilter so that a thousand patterns cost little more
 * than a handful: only the patterns whose required literal occurs in the
 * subject are run.  A set may defer compiling: then a process that checks
 * one message and exits compiles only the patterns it runs.
 */
#ifndef LIBPOLICY_PATTERNS_H
#define LIBPOLICY_PATTERNS_H

#include <stddef.h>
#include <stdint.h>

struct pattern;

struct patternset {
    struct pattern *p;
    size_t n, cap;
    int deferred; /* patternset_defer(): adding only reads the pattern */
    int jit;      /* JIT-compile each pattern at its first run */
    /* the prefilter: patterns by the hash of their literal's first 3 bytes */
    uint32_t *bucket_start; /* PAT_BUCKETS + 1 offsets into bucket_ids; NULL: a small set */
    uint32_t *bucket_ids;
    uint64_t *base; /* bit per pattern that runs whatever the subject:
                       no usable literal, or negated */
};

/* Outcome of a match over a set: PAT_ERROR when PCRE2 gave up (match
 * limit), PAT_BAD when a deferred pattern turned out not to compile. */
enum pat_result { PAT_NOMATCH = 0, PAT_MATCH, PAT_ERROR, PAT_BAD };

/* patternset_init - an empty set that compiles each pattern as it is added. */
void patternset_init(struct patternset *s);
/* patternset_defer - make an empty set defer compiling: patternset_add()
 * only reads the pattern (its literal for the prefilter); then either
 * patternset_compile() compiles every pattern (and finds every error) at
 * once, or, when it is never called, each pattern compiles, without JIT,
 * when it first has to run, and one that does not compile then makes its
 * matches PAT_BAD. */
void patternset_defer(struct patternset *s);
/* patternset_compile - compile every pattern of a deferred set now; JIT
 * then follows at each one's first run, as in a set that never deferred.
 * 0, or -1 with the first error ("file:line: bad pattern ...") in err. */
int patternset_compile(struct patternset *s, char *err, size_t errlen);
/* patternset_add - add one pattern ("!" prefix negates), compiled now
 * unless the set defers; origin is kept for logs ("file:line").  0, or -1
 * with a message in err. */
int patternset_add(struct patternset *s, const char *pattern, const char *origin, char *err,
                   size_t errlen);
/* patternset_add_file - every line of a qmail control file; blank lines
 * and lines starting with '#' are skipped.  0 or -1 (err names file:line). */
int patternset_add_file(struct patternset *s, const char *path, char *err, size_t errlen);
/* patternset_finish - build the prefilter; call once after the last add. */
int patternset_finish(struct patternset *s);
/* patternset_match - first pattern (in file order) that matches subject;
 * *origin names it.  When none matched but some pattern could not be run,
 * the first such: PAT_ERROR when PCRE2 hit its match limit (*origin names
 * the pattern), PAT_BAD when it does not compile (*origin is the compiler's
 * message with the pattern's file and line). */
enum pat_result patternset_match(const struct patternset *s, const char *subject, size_t len,
                                 const char **origin);
/* patternset_match_all - the same without the prefilter: every regex runs
 * (for tests and the benchmark's naive baseline). */
enum pat_result patternset_match_all(const struct patternset *s, const char *subject, size_t len,
                                     const char **origin);
/* patternset_compiled - how many patterns of the set have been compiled. */
size_t patternset_compiled(const struct patternset *s);
/* patternset_literal - the required literal found for pattern i ("" none). */
const char *patternset_literal(const struct patternset *s, size_t i);
void patternset_free(struct patternset *s);

/* pattern_required_literal - the longest run of characters every match of
 * the pattern must contain (lowercased), conservatively; "" when unsure. */
void pattern_required_literal(const char *pattern, char *out, size_t outlen);

#endif
