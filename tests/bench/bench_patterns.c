/*
 * bench_patterns.c - one check against 1,000 qregex patterns: the literal
 * prefilter against running every compiled regex (what a straight port of
 * qregex, compiled once, would do), on the same subjects in one run.  Also
 * verifies that both give the same answers.  usage: bench_patterns [SECONDS]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "patterns.h"

static const char *const subjects[] = {
    "alice@sender.example",     "bob@client.example",     "news@lists.example.net",
    "mail.client.example",      "john.doe@example.net",   "bulk71@x.example",
    "host-1.dyn32.isp.example", "sales@shop.example.org", "x@spam20.example",
};
#define NSUBJ (sizeof(subjects) / sizeof(*subjects))

/* rate - checks per second; *matches per 1000 checks in *permille. */
static double rate(const struct patternset *set, int all, double seconds, double *permille)
{
    long matches = 0;
    long n = 0;
    const char *origin;
    double start = bench_now(), end = start + seconds;
    do {
        for (int i = 0; i < 1000; i++, n++) {
            const char *subj = subjects[n % NSUBJ];
            enum pat_result r = all ? patternset_match_all(set, subj, strlen(subj), &origin)
                                    : patternset_match(set, subj, strlen(subj), &origin);
            matches += r == PAT_MATCH;
        }
    } while (bench_now() < end);
    *permille = 1000.0 * (double)matches / (double)n;
    return (double)n / (bench_now() - start);
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 2.0;
    struct patternset set;
    char pat[128], origin[32], err[256];
    double m1, m2;

    patternset_init(&set);
    for (int i = 0; i < 1000; i++) {
        bench_pattern(pat, sizeof(pat), i);
        snprintf(origin, sizeof(origin), "line %d", i + 1);
        if (patternset_add(&set, pat, origin, err, sizeof(err))) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
    }
    if (patternset_finish(&set))
        return 1;
    double fast = rate(&set, 0, seconds, &m1);
    double slow = rate(&set, 1, seconds / 4, &m2);
    printf("bench_patterns: one check against 1000 patterns, one core\n");
    printf("  %-36s %12.0f checks/s (%.2f us)\n", "literal prefilter + PCRE2 JIT", fast,
           1e6 / fast);
    printf("  %-36s %12.0f checks/s (%.2f us)\n", "every regex (PCRE2 JIT)", slow, 1e6 / slow);
    printf("  prefilter speed-up: %.0fx; matches per 1000 checks: %.0f vs %.0f (must agree)\n",
           fast / slow, m1, m2);
    if ((long)(m1 + 0.5) != (long)(m2 + 0.5)) {
        fprintf(stderr, "bench_patterns: the two ways disagree\n");
        return 1;
    }
    patternset_free(&set);
    return 0;
}
