/*
 * bench.h - what the benchmarks share: a monotonic clock and the 1,000
 * realistic qregex lines both the envelope and the pattern benchmark load,
 * so their figures describe the same pattern set.
 */
#ifndef TESTS_BENCH_H
#define TESTS_BENCH_H

#include <stdio.h>
#include <time.h>

static inline double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* bench_pattern - the i-th generated qregex line into buf. */
static inline void bench_pattern(char *buf, size_t len, int i)
{
    static const char *const forms[] = {
        "@spam%d\\.example$",
        "^bulk%d[0-9]*@",
        "\\.dyn%d\\.isp\\.example$",
        "^[0-9]+\\.pool%d\\.",
        "@(mail|smtp)%d\\.bad\\.example$",
        "^info%d@",
        "offers%d\\.(biz|info)$",
        "^newsletter-%d-[a-z]+@",
        "\\.adsl%d\\.",
        "^promo%d@.*\\.example$",
    };
    snprintf(buf, len, forms[i % 10], i);
}

#endif
