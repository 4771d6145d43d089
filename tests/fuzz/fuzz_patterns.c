/*
 * fuzz_patterns.c - libFuzzer harness for the qregex pattern sets: the
 * input is "pattern\nsubject"; the prefiltered match must always agree
 * with running every regex, and the literal extraction must not crash.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "patterns.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char buf[1024], err[256];
    struct patternset set;
    size_t n = size < sizeof(buf) - 1 ? size : sizeof(buf) - 1;
    memcpy(buf, data, n);
    buf[n] = '\0';
    char *subject = strchr(buf, '\n');
    if (!subject || memchr(buf, '\0', n))
        return 0;
    *subject++ = '\0';
    patternset_init(&set);
    /* the same pattern twice, to exercise the candidate bookkeeping */
    if (patternset_add(&set, buf, "a", err, sizeof(err)) == 0 &&
        patternset_add(&set, buf, "b", err, sizeof(err)) == 0 && patternset_finish(&set) == 0) {
        const char *o1 = NULL, *o2 = NULL;
        enum pat_result r1 = patternset_match(&set, subject, strlen(subject), &o1);
        enum pat_result r2 = patternset_match_all(&set, subject, strlen(subject), &o2);
        /* the prefilter may skip a pattern that would have given up, so
         * ERROR against NOMATCH is fair; any other difference is a bug */
        if (r1 != r2 && r1 != PAT_ERROR && r2 != PAT_ERROR)
            abort();
        if (r1 == PAT_MATCH && r2 == PAT_MATCH && strcmp(o1, o2) != 0)
            abort(); /* both must name the first matching pattern */
    }
    patternset_free(&set);
    return 0;
}
