/*
 * bench_content.c - per-message cost of QMAILQUEUE wrappers on real
 * messages: each message (a file of the list) goes to a fork+exec of the
 * wrapper at fd 0, the envelope on a pipe at fd 1, in front of the same
 * stand-in queue.  Rounds interleave the wrappers; the median of each is
 * reported, and its ratio to the first (the anchor): the CPU time of the
 * wrapper and everything it runs (the figure to quote on a shared,
 * loaded machine), and the wall time.
 *
 *   bench_content LIST ROUNDS NAME=WRAPPER...
 *   (POLICY_QMAILQUEUE and POLICY_CONFIG in the environment)
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

static const char envelope[] = "Fsender@client.test\0Trcpt@example.test\0";

/* run_one - the wrapper on one message; its exit status, -1 on failure. */
static int run_one(const char *wrapper, const char *path)
{
    int pe[2];
    int in = open(path, O_RDONLY);
    if (in < 0 || pipe(pe))
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(in, 0);
        dup2(pe[0], 1);
        close(in), close(pe[0]), close(pe[1]);
        execl(wrapper, wrapper, (char *)NULL);
        _exit(120);
    }
    close(in);
    close(pe[0]);
    if (write(pe[1], envelope, sizeof(envelope)) != (ssize_t)sizeof(envelope))
        return -1;
    close(pe[1]);
    int st;
    if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st))
        return -1;
    return WEXITSTATUS(st);
}

/* children_cpu - user + system seconds of the waited-for children so far. */
static double children_cpu(void)
{
    struct rusage ru;
    getrusage(RUSAGE_CHILDREN, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: bench_content LIST ROUNDS NAME=WRAPPER...\n");
        return 64;
    }
    FILE *f = fopen(argv[1], "r");
    char **paths = NULL, line[4096];
    size_t n = 0, bytes = 0;
    while (f && fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = '\0';
        paths = realloc(paths, (n + 1) * sizeof(*paths));
        paths[n++] = strdup(line);
        FILE *m = fopen(line, "r");
        if (m) {
            fseek(m, 0, SEEK_END);
            bytes += (size_t)ftell(m);
            fclose(m);
        }
    }
    int rounds = atoi(argv[2]), nw = argc - 3;
    if (!n || rounds < 1) {
        fprintf(stderr, "bench_content: no messages\n");
        return 1;
    }
    double *t = calloc((size_t)(nw * rounds), sizeof(double));
    double *c = calloc((size_t)(nw * rounds), sizeof(double));
    for (int r = 0; r < rounds; r++)
        for (int w = 0; w < nw; w++) {
            const char *wrapper = strchr(argv[3 + w], '=') + 1;
            double t0 = bench_now(), c0 = children_cpu();
            for (size_t i = 0; i < n; i++)
                if (run_one(wrapper, paths[i]) < 0) {
                    fprintf(stderr, "bench_content: %s failed on %s\n", wrapper, paths[i]);
                    return 1;
                }
            t[w * rounds + r] = (bench_now() - t0) / (double)n * 1e6;
            c[w * rounds + r] = (children_cpu() - c0) / (double)n * 1e6;
        }
    printf("bench_content: %zu messages (%.1f KB on average), median of %d interleaved rounds\n",
           n, (double)bytes / (double)n / 1024.0, rounds);
    double anchor = 0, canchor = 0;
    printf("  %-44s %14s %16s\n", "", "CPU us/message", "wall us/message");
    for (int w = 0; w < nw; w++) {
        qsort(t + w * rounds, (size_t)rounds, sizeof(double), cmp);
        qsort(c + w * rounds, (size_t)rounds, sizeof(double), cmp);
        double med = t[w * rounds + rounds / 2], cmed = c[w * rounds + rounds / 2];
        if (w == 0)
            anchor = med, canchor = cmed;
        int len = (int)(strchr(argv[3 + w], '=') - argv[3 + w]);
        printf("  %-44.*s %8.1f (%.2fx) %9.1f (%.2fx)\n", len, argv[3 + w], cmed, cmed / canchor,
               med, med / anchor);
    }
    return 0;
}
