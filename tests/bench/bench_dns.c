/*
 * bench_dns.c - the decision time of the DNS layers: one connection from
 * a clean client checked against 1, 5 and 10 DNSBL zones plus its PTR and
 * forward confirmation, through the whole session (connect to the RCPT
 * verdict), against a DNS server that delays every answer (tests/bench/
 * dns.sh puts a 50 ms delay in front of dnsmasq and rbldnsd).  Beside it,
 * the anchor: the same questions one after the other, as rblsmtpd asks
 * them, through the same resolver code.
 *
 * usage: bench_dns DNS_SERVER ROUNDS   (DNS_SERVER as in dns_servers)
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "dns.h"
#include "waiter.h"
#include "core.h"

static const char *const zones[] = {"bl.test", "bl2.test", "wl.test", "z4.test", "z5.test",
                                    "z6.test", "z7.test",  "z8.test", "z9.test", "z10.test"};
#define CLIENT    "192.0.2.10"
#define MAX_ROUND 1000

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* one_session - connect .. RCPT through the library; ms, or -1 when the
 * verdict is not the expected "continue" */
static double one_session(policy_engine *e)
{
    double t0 = bench_now();
    policy_session *s = policy_session_new(e, CLIENT, NULL);
    policy_connect(s);
    policy_helo(s, "client.example");
    policy_mail(s, "a@sender.example");
    policy_action a = policy_rcpt(s, "u@example.com");
    double t = (bench_now() - t0) * 1000.0;
    if (a != POLICY_CONTINUE) {
        fprintf(stderr, "bench_dns: unexpected verdict %s: %s\n", policy_action_name(a),
                policy_last_reply(s)->text);
        t = -1;
    }
    policy_session_free(s);
    return t;
}

/* one_sequential - the same questions one after the other (rblsmtpd) */
static double one_sequential(const char *server, int nzones)
{
    char err[256], name[DNS_NAME_MAX + 1];
    unsigned char addr[4];
    char g;
    inet_pton(AF_INET, CLIENT, addr);
    double t0 = bench_now();
    struct waiter *w = waiter_new();
    struct dns *d = dns_new(w, server, 2000, err, sizeof(err));
    if (!d)
        return -1;
    for (int i = 0; i < nzones; i++) {
        dns_reverse_name(AF_INET, addr, zones[i], name, sizeof(name));
        dns_start(d, &g, name, DNS_A, 0, 0, NULL, NULL);
        dns_wait(d, &g);
        dns_release_group(d, &g);
    }
    dns_reverse_name(AF_INET, addr, NULL, name, sizeof(name));
    struct dns_q *q = dns_start(d, &g, name, DNS_PTR, 0, 0, NULL, NULL);
    dns_wait(d, &g);
    char host[DNS_NAME_MAX + 1] = "";
    if (q && dns_answer_of(q)->status == DNS_FOUND)
        snprintf(host, sizeof(host), "%s", dns_answer_of(q)->rr[0].text);
    dns_release_group(d, &g);
    if (*host) {
        dns_start(d, &g, host, DNS_A, 0, 0, NULL, NULL);
        dns_wait(d, &g);
        dns_release_group(d, &g);
    }
    dns_free(d);
    waiter_free(w);
    return (bench_now() - t0) * 1000.0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: bench_dns DNS_SERVER ROUNDS\n");
        return 64;
    }
    const char *server = argv[1];
    int rounds = atoi(argv[2]);
    if (rounds < 1 || rounds > MAX_ROUND)
        rounds = 20;
    static const int sizes[] = {1, 5, 10};
    double par[3], seq[3];
    char path[] = "/tmp/bench_dns.XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return 1;
    close(fd);

    printf("DNS decision time, connect to RCPT verdict, clean client %s, PTR + forward "
           "confirmation,\nevery answer delayed 50 ms; median of %d sessions\n",
           CLIENT, rounds);
    printf("%-8s %18s %26s\n", "zones", "libpolicy (ms)", "sequential, rblsmtpd (ms)");
    for (int k = 0; k < 3; k++) {
        FILE *fp = fopen(path, "w");
        if (!fp)
            return 1;
        fprintf(fp,
                "[general]\ndns_servers = %s\ndns_timeout = 3s\nlog_level = err\n"
                "[customers]\nlocal_domains = example.com\ntrusted_networks = 10.255.255.0/24\n"
                "[rdns]\nforward_confirm = yes\n[dnsbl]\nzones =",
                server);
        for (int i = 0; i < sizes[k]; i++)
            fprintf(fp, " %s", zones[i]);
        fprintf(fp, "\n");
        fclose(fp);
        char err[512];
        policy_engine *e = policy_engine_open(path, err, sizeof(err));
        if (!e) {
            fprintf(stderr, "bench_dns: %s\n", err);
            unlink(path);
            return 1;
        }
        double v[MAX_ROUND], w[MAX_ROUND];
        one_session(e); /* warm up */
        for (int r = 0; r < rounds; r++) {
            v[r] = one_session(e);
            w[r] = one_sequential(server, sizes[k]);
            if (v[r] < 0 || w[r] < 0) {
                policy_engine_unref(e);
                unlink(path);
                return 1;
            }
        }
        policy_engine_unref(e);
        par[k] = median(v, rounds);
        seq[k] = median(w, rounds);
        printf("%-8d %18.1f %26.1f\n", sizes[k], par[k], seq[k]);
    }
    unlink(path);
    double ratio = par[2] / par[0];
    printf("10 zones / 1 zone: libpolicy %.2fx (target < 1.3x), sequential %.2fx\n", ratio,
           seq[2] / seq[0]);
    return ratio < 1.3 ? 0 : 2;
}
