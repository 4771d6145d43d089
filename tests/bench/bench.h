/*
 * bench.h - what the benchmarks share: a monotonic clock and the 1,000
 * realistic qregex lines both the envelope and the pattern benchmark load,
 * so their figures describe the same pattern set.
 */
#ifndef TESTS_BENCH_H
#define TESTS_BENCH_H

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static inline double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* bench_proc_cpu_ms - user + system time of process pid so far, from
 * /proc (a server the benchmark talks to: clamd, a milter); 0 when unknown. */
static inline double bench_proc_cpu_ms(int pid)
{
    if (pid <= 0)
        return 0;
    char path[64], line[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    FILE *fp = fopen(path, "r");
    if (!fp)
        return 0;
    size_t n = fread(line, 1, sizeof(line) - 1, fp);
    fclose(fp);
    line[n] = '\0';
    const char *p = strrchr(line, ')'); /* the name may hold blanks */
    unsigned long ut = 0, st = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return 0;
    return (double)(ut + st) * 1000.0 / (double)sysconf(_SC_CLK_TCK);
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
