/*
 * bench_greylist.c - the RCPT decision with greylisting and rate limits on
 * ([greylist] with postgrey's defaults, [rate] counting every message of
 * every client), on LMDB (writemap=no, the default, and writemap=yes) and
 * on Redis, beside postgrey answering the same triplets over Postfix's
 * policy protocol, in one run.  Three phases over the same triplets: new
 * (every one deferred), the retry after the delay (every one passes for
 * the first time), and known (passing again); time moves by the store's
 * clock for us and by postgrey's policy_test_time attribute for it.
 *
 * A decision is policy_mail + policy_rcpt + policy_reset in a session of
 * its client opened before (one per client: qmail's process per
 * connection keeps its session for every transaction); postgrey's is one
 * request and its answer.  Cost: CPU seconds per decision of everything
 * that works for it - our thread (and redis-server), postgrey's process -
 * read from the kernel, so that a shared, loaded machine does not skew the
 * ratio; wall-clock rates beside them.
 * usage: bench_greylist TRIPLETS CLIENTS DIR [redis URI PID] [postgrey PORT PID]
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "layer.h"
#include "store.h"

#define BASE_TIME 1700000000L

static long ntriplets, nclients;
static time_t clock_now;
static long decisions_logged;

static time_t fake_clock(void)
{
    return clock_now;
}

static void count_log(int level, const char *line, void *ctx)
{
    (void)level;
    (void)ctx;
    decisions_logged += line[0] != '\0';
}

/* triplet i: its client (an index), sender and recipient */
static long client_of(long i)
{
    return i % nclients;
}
static void client_ip(long c, char *out, size_t len)
{
    snprintf(out, len, "10.%ld.%ld.%ld", (c >> 16) & 255, (c >> 8) & 255, (c & 255) | 1);
}
static void sender_of(long i, char *out, size_t len)
{
    snprintf(out, len, "news%ld@sender%ld.example", i % 7, (i / nclients) % 97);
}
static void rcpt_of(long i, char *out, size_t len)
{
    snprintf(out, len, "user%ld@example.test", i / nclients);
}

static double thread_cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* proc_cpu - CPU seconds a process used so far (0 for pid 0). */
static double proc_cpu(long pid)
{
    char path[64], buf[1024];
    if (pid <= 0)
        return 0;
    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    FILE *fp = fopen(path, "r");
    if (!fp)
        return 0;
    size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    unsigned long ut = 0, st = 0;
    /* after ") ": state ppid pgrp session tty tpgid flags minflt cminflt
     * majflt cmajflt utime stime */
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return 0;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

struct phase {
    double cpu_us;    /* CPU per decision */
    double rate;      /* wall-clock decisions per second */
    long deferred, passed;
};

enum { PH_NEW, PH_RETRY, PH_KNOWN, PH_COUNT };
static const char *const phase_names[PH_COUNT] = {"new triplet (451)", "retry after the delay",
                                                  "known triplet (pass)"};

/* ------------------------------------------------------------ libpolicy */

static int run_ours(const char *dir, const char *uri, long helper_pid, struct phase *out)
{
    char path[300], err[512];
    snprintf(path, sizeof(path), "%s/bench.conf", dir);
    FILE *fp = fopen(path, "w");
    if (!fp)
        return -1;
    fprintf(fp,
            "[general]\nstore = %s\n[customers]\nlocal_domains = example.test\n"
            "trusted_networks = 198.51.100.0/24\n[rate]\nconnections = 0\n"
            "messages = 1000000/1h\n[greylist]\n",
            uri);
    fclose(fp);
    policy_engine *e = policy_engine_open(path, err, sizeof(err));
    if (!e) {
        fprintf(stderr, "bench_greylist: %s\n", err);
        return -1;
    }
    policy_engine_set_log(e, count_log, NULL);
    store_set_clock(engine_store(e), fake_clock);
    policy_session **ss = calloc((size_t)nclients, sizeof(*ss));
    /* the addresses as an MTA has them: made before the clock starts */
    char(*from)[48] = calloc((size_t)ntriplets, sizeof(*from));
    char(*to)[48] = calloc((size_t)ntriplets, sizeof(*to));
    char ip[32], host[64];
    if (!ss || !from || !to)
        return -1;
    for (long i = 0; i < ntriplets; i++) {
        sender_of(i, from[i], sizeof(from[i]));
        rcpt_of(i, to[i], sizeof(to[i]));
    }
    for (long c = 0; c < nclients; c++) {
        client_ip(c, ip, sizeof(ip));
        snprintf(host, sizeof(host), "mx%ld.client.example", c);
        ss[c] = policy_session_new(e, ip, host);
        policy_connect(ss[c]);
        policy_helo(ss[c], host);
    }
    for (int ph = 0; ph < PH_COUNT; ph++) {
        clock_now = BASE_TIME + ph * 360;
        struct phase *p = &out[ph];
        memset(p, 0, sizeof(*p));
        double c0 = thread_cpu() + proc_cpu(helper_pid), t0 = bench_now();
        for (long i = 0; i < ntriplets; i++) {
            policy_session *s = ss[client_of(i)];
            policy_mail(s, from[i]);
            policy_action a = policy_rcpt(s, to[i]);
            if (a == POLICY_CONTINUE)
                p->passed++;
            else if (a == POLICY_TEMPFAIL && policy_last_reply(s)->xcode[2] == '7')
                p->deferred++;
            policy_reset(s);
        }
        double t1 = bench_now(), c1 = thread_cpu() + proc_cpu(helper_pid);
        p->cpu_us = (c1 - c0) / (double)ntriplets * 1e6;
        p->rate = (double)ntriplets / (t1 - t0);
    }
    for (long c = 0; c < nclients; c++)
        policy_session_free(ss[c]);
    free(ss);
    free(from);
    free(to);
    policy_engine_unref(e);
    return 0;
}

/* ------------------------------------------------------------ postgrey */

static int pg_connect(int port)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

/* pg_ask - one policy request; 1 deferred, 0 passed, -1 error. */
static int pg_ask(int fd, long i, long when)
{
    char req[512], ip[32], from[96], to[96], buf[1024];
    long c = client_of(i);
    client_ip(c, ip, sizeof(ip));
    sender_of(i, from, sizeof(from));
    rcpt_of(i, to, sizeof(to));
    int n = snprintf(req, sizeof(req),
                     "request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\n"
                     "client_address=%s\nclient_name=mx%ld.client.example\nhelo_name=mx%ld.client."
                     "example\nsender=%s\nrecipient=%s\npolicy_test_time=%ld\n\n",
                     ip, c, c, from, to, when);
    if (write(fd, req, (size_t)n) != n)
        return -1;
    size_t got = 0;
    while (got < 4 || memcmp(buf + got - 2, "\n\n", 2) != 0) {
        ssize_t r = read(fd, buf + got, sizeof(buf) - 1 - got);
        if (r <= 0)
            return -1;
        got += (size_t)r;
        if (got >= sizeof(buf) - 1)
            return -1;
    }
    buf[got] = '\0';
    return strstr(buf, "action=DEFER") || strstr(buf, "action=450") ||
                   strstr(buf, "action=451")
               ? 1
               : 0;
}

static int run_postgrey(int port, long pid, struct phase *out)
{
    int fd = pg_connect(port);
    if (fd < 0)
        return -1;
    for (int ph = 0; ph < PH_COUNT; ph++) {
        struct phase *p = &out[ph];
        memset(p, 0, sizeof(*p));
        double c0 = proc_cpu(pid) + thread_cpu(), t0 = bench_now();
        for (long i = 0; i < ntriplets; i++) {
            int r = pg_ask(fd, i, BASE_TIME + ph * 360);
            if (r < 0) {
                close(fd);
                return -1;
            }
            if (r)
                p->deferred++;
            else
                p->passed++;
        }
        double t1 = bench_now(), c1 = proc_cpu(pid) + thread_cpu();
        p->cpu_us = (c1 - c0) / (double)ntriplets * 1e6;
        p->rate = (double)ntriplets / (t1 - t0);
    }
    close(fd);
    return 0;
}

/* ------------------------------------------------------------ the table */

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: bench_greylist TRIPLETS CLIENTS DIR [redis URI PID] "
                        "[postgrey PORT PID]\n");
        return 64;
    }
    ntriplets = atol(argv[1]);
    nclients = atol(argv[2]);
    const char *dir = argv[3];
    const char *ruri = NULL;
    long rpid = 0, pgpid = 0;
    int pgport = 0;
    for (int i = 4; i + 2 < argc; i += 3) {
        if (!strcmp(argv[i], "redis")) {
            ruri = argv[i + 1];
            rpid = atol(argv[i + 2]);
        } else if (!strcmp(argv[i], "postgrey")) {
            pgport = atoi(argv[i + 1]);
            pgpid = atol(argv[i + 2]);
        }
    }
    if (ntriplets < 1 || nclients < 1 || nclients > ntriplets)
        return 64;

    enum { C_LMDB, C_LMDB_WM, C_REDIS, C_POSTGREY, C_COUNT };
    static const char *const names[C_COUNT] = {"LMDB", "LMDB wm=yes", "Redis", "postgrey"};
    struct phase res[C_COUNT][PH_COUNT];
    int have[C_COUNT] = {0};
    char uri[400];
    snprintf(uri, sizeof(uri), "lmdb:%s/state-default", dir);
    have[C_LMDB] = run_ours(dir, uri, 0, res[C_LMDB]) == 0;
    snprintf(uri, sizeof(uri), "lmdb:%s/state-wm?writemap=yes", dir);
    have[C_LMDB_WM] = run_ours(dir, uri, 0, res[C_LMDB_WM]) == 0;
    if (ruri)
        have[C_REDIS] = run_ours(dir, ruri, rpid, res[C_REDIS]) == 0;
    if (pgport)
        have[C_POSTGREY] = run_postgrey(pgport, pgpid, res[C_POSTGREY]) == 0;

    printf("RCPT decisions with greylisting + rate limits, %ld triplets from %ld clients, each\n"
           "phase over all of them; CPU microseconds per decision (our thread%s; postgrey's\n"
           "process), wall-clock decisions per second in brackets; deferred/passed\n",
           ntriplets, nclients, ruri ? ", plus redis-server for Redis" : "");
    printf("  %-22s", "phase");
    for (int c = 0; c < C_COUNT; c++)
        if (have[c])
            printf(" %22s", names[c]);
    printf("\n");
    for (int ph = 0; ph < PH_COUNT; ph++) {
        printf("  %-22s", phase_names[ph]);
        for (int c = 0; c < C_COUNT; c++)
            if (have[c]) {
                char cell[64];
                snprintf(cell, sizeof(cell), "%.1f us [%.0f/s]", res[c][ph].cpu_us,
                         res[c][ph].rate);
                printf(" %22s", cell);
            }
        printf("\n  %-22s", "");
        for (int c = 0; c < C_COUNT; c++)
            if (have[c]) {
                char cell[64];
                snprintf(cell, sizeof(cell), "%ld/%ld", res[c][ph].deferred, res[c][ph].passed);
                printf(" %22s", cell);
            }
        printf("\n");
    }
    if (have[C_POSTGREY]) {
        printf("  decisions per CPU second, libpolicy / postgrey (target >= 10x):\n");
        for (int c = 0; c < C_POSTGREY; c++) {
            if (!have[c])
                continue;
            printf("    %-12s", names[c]);
            for (int ph = 0; ph < PH_COUNT; ph++)
                printf("  %s %.1fx", ph == PH_NEW ? "new" : ph == PH_RETRY ? "retry" : "known",
                       res[C_POSTGREY][ph].cpu_us / res[c][ph].cpu_us);
            printf("\n");
        }
    }
    if (have[C_LMDB]) {
        double worst = 0;
        for (int ph = 0; ph < PH_COUNT; ph++)
            if (res[C_LMDB][ph].cpu_us > worst)
                worst = res[C_LMDB][ph].cpu_us;
        printf("  LMDB (default settings), slowest phase: %.1f us per decision (target < 20 us)\n",
               worst);
    }
    printf("  (%ld log lines from libpolicy, counted by a callback)\n", decisions_logged);
    return 0;
}
