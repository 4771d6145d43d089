/*
 * bench_queue.c - per-message cost of policy-queue against a passthrough
 * wrapper that only execs the real qmail-queue, both in front of the same
 * stand-in queue (qq_record, which reads everything and exits 0).  Each
 * message is a fork+exec of the wrapper with the message on a pipe at fd 0
 * and the envelope at fd 1, as qmail-smtpd does it.  Rounds interleave the
 * two; the median per-message time of each is reported.
 *
 *   bench_queue POLICY_QUEUE PASSTHROUGH MESSAGES [SIZE]
 *   (POLICY_QMAILQUEUE and POLICY_CONFIG in the environment)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

static char *message;
static size_t msglen;
static const char envelope[] = "Fsender@client.test\0Trcpt@example.test\0Tother@example.test\0";

static int run_one(const char *wrapper)
{
    int pm[2], pe[2];
    if (pipe(pm) || pipe(pe))
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pm[0], 0);
        dup2(pe[0], 1);
        close(pm[0]), close(pm[1]), close(pe[0]), close(pe[1]);
        execl(wrapper, wrapper, (char *)NULL);
        _exit(120);
    }
    close(pm[0]);
    close(pe[0]);
    /* small enough for the pipe buffers: write both, then close */
    if (write(pm[1], message, msglen) != (ssize_t)msglen)
        return -1;
    close(pm[1]);
    if (write(pe[1], envelope, sizeof(envelope)) != (ssize_t)sizeof(envelope))
        return -1;
    close(pe[1]);
    int st;
    if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st))
        return -1;
    return WEXITSTATUS(st);
}

static double per_message(const char *wrapper, int n)
{
    double t0 = bench_now();
    for (int i = 0; i < n; i++)
        if (run_one(wrapper) != 0) {
            fprintf(stderr, "bench_queue: %s did not queue a message\n", wrapper);
            exit(1);
        }
    return (bench_now() - t0) / n * 1e6;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: bench_queue POLICY_QUEUE PASSTHROUGH MESSAGES [SIZE]\n");
        return 64;
    }
    int n = atoi(argv[3]);
    msglen = argc > 4 ? (size_t)atol(argv[4]) : 4096;
    if (msglen > 60000)
        msglen = 60000; /* one pipe buffer: no writer/reader dance in the driver */
    message = malloc(msglen);
    size_t h = (size_t)snprintf(message, msglen,
                                "Received: from client.test (192.0.2.10)\n  by mx.example.test\n"
                                "From: sender@client.test\nTo: rcpt@example.test\n"
                                "Subject: quarterly report\nMessage-Id: <1@client.test>\n\n");
    for (size_t i = h; i < msglen; i++)
        message[i] = (i % 72 == 71) ? '\n' : (char)('a' + i % 26);
    enum { ROUNDS = 5 };
    double p[ROUNDS], q[ROUNDS];
    for (int r = 0; r < ROUNDS; r++) {
        q[r] = per_message(argv[2], n);
        p[r] = per_message(argv[1], n);
    }
    qsort(p, ROUNDS, sizeof(*p), cmp);
    qsort(q, ROUNDS, sizeof(*q), cmp);
    printf("bench_queue: %d messages of %zu bytes per round, median of %d interleaved rounds\n", n,
           msglen, ROUNDS);
    printf("  passthrough (exec the real queue)   %8.1f us/message\n", q[ROUNDS / 2]);
    printf("  policy-queue (enabled layers)       %8.1f us/message  (%.2fx the anchor)\n",
           p[ROUNDS / 2], p[ROUNDS / 2] / q[ROUNDS / 2]);
    printf("  policy-queue overhead               %8.1f us/message\n",
           p[ROUNDS / 2] - q[ROUNDS / 2]);
    return 0;
}
