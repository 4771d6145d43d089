/*
 * bench_queue.c - per-message cost of QMAILQUEUE programs side by side:
 * each message is a fork+exec of the program with the message on a pipe
 * at fd 0 and the envelope at fd 1, as qmail-smtpd does it, in front of
 * the same stand-in queue.  The first way is the anchor (the passthrough
 * that only execs the real queue); rounds interleave the ways, who goes
 * first rotates, and the median of each is reported.
 *
 * Two measures: wall time per message, and CPU time per message - user +
 * system of the program and everything it waited for (the queue), plus,
 * for a way that hands its work to a daemon, the CPU the daemon spent
 * meanwhile (its whole process, every thread).  On a shared, loaded
 * machine the CPU figure is the one to read.
 *
 *   bench_queue [-n MESSAGES] [-s SIZE] [-r ROUNDS] WAY [-- WAY]...
 *   WAY: LABEL PROGRAM [VAR=VALUE]... [@daemon=PID]
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define MAX_WAYS 16
#define MAX_VARS 16
#define MAX_ROUNDS 15

struct way {
    const char *label, *program;
    char *vars[MAX_VARS];
    int nvars;
    pid_t daemon; /* 0: none */
    double wall[MAX_ROUNDS], cpu[MAX_ROUNDS], dcpu[MAX_ROUNDS];
};

static char *message;
static size_t msglen;
static const char envelope[] = "Fsender@client.test\0Trcpt@example.test\0Tother@example.test\0";

/* run_one - one message through w; the program's exit status or -1. */
static int run_one(const struct way *w)
{
    int pm[2], pe[2];
    if (pipe(pm) || pipe(pe))
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pm[0], 0);
        dup2(pe[0], 1);
        close(pm[0]), close(pm[1]), close(pe[0]), close(pe[1]);
        for (int i = 0; i < w->nvars; i++)
            putenv(w->vars[i]);
        execl(w->program, w->program, (char *)NULL);
        _exit(120);
    }
    close(pm[0]);
    close(pe[0]);
    /* small enough for the pipe buffers: write both, then close */
    int ok = write(pm[1], message, msglen) == (ssize_t)msglen;
    close(pm[1]);
    ok = ok && write(pe[1], envelope, sizeof(envelope)) == (ssize_t)sizeof(envelope);
    close(pe[1]);
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    return ok && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static double children_cpu(void)
{
    struct rusage ru;
    getrusage(RUSAGE_CHILDREN, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* daemon_cpu - CPU seconds the whole daemon process has used so far. */
static double daemon_cpu(pid_t pid)
{
    clockid_t c;
    struct timespec ts;
    if (!pid || clock_getcpuclockid(pid, &c) != 0 || clock_gettime(c, &ts) != 0)
        return 0;
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* round_of - n messages through w; per-message figures into slot r. */
static void round_of(struct way *w, int n, int r)
{
    double t0 = bench_now(), c0 = children_cpu(), d0 = daemon_cpu(w->daemon);
    for (int i = 0; i < n; i++) {
        int st = run_one(w);
        if (st != 0) {
            fprintf(stderr, "bench_queue: %s (%s) did not queue a message: status %d\n",
                    w->label, w->program, st);
            exit(1);
        }
    }
    double d = daemon_cpu(w->daemon) - d0;
    w->wall[r] = (bench_now() - t0) / n * 1e6;
    w->dcpu[r] = d / n * 1e6;
    w->cpu[r] = (children_cpu() - c0 + d) / n * 1e6;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    double s[MAX_ROUNDS];
    memcpy(s, v, (size_t)n * sizeof(*v));
    qsort(s, (size_t)n, sizeof(*s), cmp);
    return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_queue [-n MESSAGES] [-s SIZE] [-r ROUNDS] "
                    "LABEL PROGRAM [VAR=VALUE]... [@daemon=PID] [-- LABEL PROGRAM ...]...\n");
    exit(64);
}

int main(int argc, char **argv)
{
    struct way ways[MAX_WAYS];
    int nways = 0, n = 300, rounds = 5, opt;
    msglen = 4096;

    while ((opt = getopt(argc, argv, "+n:s:r:")) != -1) {
        if (opt == 'n')
            n = atoi(optarg);
        else if (opt == 's')
            msglen = (size_t)atol(optarg);
        else if (opt == 'r')
            rounds = atoi(optarg);
        else
            usage();
    }
    if (n < 1 || rounds < 1 || rounds > MAX_ROUNDS)
        usage();
    for (int i = optind; i < argc;) {
        if (nways == MAX_WAYS || i + 1 >= argc)
            usage();
        struct way *w = &ways[nways++];
        memset(w, 0, sizeof(*w));
        w->label = argv[i++];
        w->program = argv[i++];
        for (; i < argc && strcmp(argv[i], "--"); i++) {
            if (!strncmp(argv[i], "@daemon=", 8))
                w->daemon = (pid_t)atol(argv[i] + 8);
            else if (strchr(argv[i], '=') && w->nvars < MAX_VARS)
                w->vars[w->nvars++] = argv[i];
            else
                usage();
        }
        if (i < argc)
            i++; /* the "--" */
    }
    if (!nways)
        usage();
    if (msglen > 60000)
        msglen = 60000; /* one pipe buffer: no writer/reader dance in the driver */
    if (msglen < 256)
        msglen = 256;
    message = malloc(msglen);
    size_t h = (size_t)snprintf(message, msglen,
                                "Received: from client.test (192.0.2.10)\n  by mx.example.test\n"
                                "From: sender@client.test\nTo: rcpt@example.test\n"
                                "Subject: quarterly report\nMessage-Id: <1@client.test>\n\n");
    for (size_t i = h; i < msglen; i++)
        message[i] = (i % 72 == 71) ? '\n' : (char)('a' + i % 26);
    signal(SIGPIPE, SIG_IGN);

    for (int w = 0; w < nways; w++) /* warm up: page cache, the daemon's threads */
        for (int i = 0; i < 10; i++)
            (void)run_one(&ways[w]);
    for (int r = 0; r < rounds; r++)
        for (int k = 0; k < nways; k++)
            round_of(&ways[(k + r) % nways], n, r);

    printf("bench_queue: %d messages of %zu bytes per way and round, median of %d interleaved "
           "rounds\n",
           n, msglen, rounds);
    printf("  %-44s %10s %8s %10s %8s\n", "way", "wall us", "ratio", "CPU us", "ratio");
    double w0 = median(ways[0].wall, rounds), c0 = median(ways[0].cpu, rounds);
    for (int w = 0; w < nways; w++) {
        double wm = median(ways[w].wall, rounds), cm = median(ways[w].cpu, rounds);
        printf("  %-44s %10.1f %7.2fx %10.1f %7.2fx", ways[w].label, wm, wm / w0, cm, cm / c0);
        if (ways[w].daemon)
            printf("  (daemon %.1f)", median(ways[w].dcpu, rounds));
        printf("\n");
    }
    return 0;
}
