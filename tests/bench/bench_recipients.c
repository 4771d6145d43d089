/*
 * bench_recipients.c - the recipients map at 1,000,000 addresses: the time
 * policyctl makemap takes to compile recipients.txt, then recipient lookups
 * per second on one core (parse the address, fold, look up the address and
 * for misses its domain entry), half known, half unknown, in random order,
 * and the whole RCPT stage through policy_rcpt() with the layer on.
 * usage: bench_recipients [SECONDS [ADDRESSES]]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "address.h"
#include "bench.h"
#include "libpolicy/policy.h"
#include "recipmap.h"

#define NDOMAINS 100
#define NQUERIES (1 << 20)
#define QLEN     48

static unsigned long long rng = 88172645463325252ULL;
static unsigned long long next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* query i of the mix: even ones exist, odd ones do not (same domains) */
static void query(char *buf, long naddr)
{
    long u = (long)(next_rand() % (unsigned long long)naddr);
    if (next_rand() & 1)
        snprintf(buf, QLEN, "<User%07ld@Domain%d.Example>", u, (int)(u % NDOMAINS));
    else
        snprintf(buf, QLEN, "<nouser%07ld@domain%d.example>", u, (int)(u % NDOMAINS));
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 3.0;
    long naddr = argc > 2 ? atol(argv[2]) : 1000000;
    char dir[] = "/tmp/libpolicy-bench-rcpt.XXXXXX", txt[128], cdb[128], conf[128], err[512];
    if (!mkdtemp(dir) || naddr < 1)
        return 1;
    snprintf(txt, sizeof(txt), "%s/recipients.txt", dir);
    snprintf(cdb, sizeof(cdb), "%s/recipients.cdb", dir);
    snprintf(conf, sizeof(conf), "%s/policy.conf", dir);

    FILE *fp = fopen(txt, "w");
    if (!fp)
        return 1;
    for (long i = 0; i < naddr; i++)
        fprintf(fp, "user%07ld@domain%d.example\n", i, (int)(i % NDOMAINS));
    fclose(fp);
    struct stat st;
    stat(txt, &st);

    double t0 = bench_now();
    if (policy_makemap_recipients(txt, cdb, 0, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    double build = bench_now() - t0;
    struct stat cst;
    stat(cdb, &cst);

    struct recipmap m;
    if (recipmap_open(&m, cdb, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    char *queries = malloc((size_t)NQUERIES * QLEN);
    if (!queries)
        return 1;
    for (long i = 0; i < NQUERIES; i++)
        query(queries + i * QLEN, naddr);

    /* 1: the lookup itself, as the layer does it for a map source */
    long n = 0, found = 0, errors = 0;
    double start = bench_now(), end = start + seconds;
    do {
        for (int i = 0; i < 4096; i++, n++) {
            const char *q = queries + (size_t)(n & (NQUERIES - 1)) * QLEN;
            struct addr a;
            struct recipmap_query rq;
            if (addr_parse(q, &a) != ADDR_OK) {
                errors++;
                continue;
            }
            recipmap_query_make(&rq, a.local, "-+");
            int r = recipmap_lookup(&m, &rq, a.domain);
            found += r == 1;
            errors += r < 0 || r == 2;
        }
    } while (bench_now() < end);
    double lookups = (double)n / (bench_now() - start);

    /* 2: the RCPT stage through the public API, customers + recipients on */
    fp = fopen(conf, "w");
    if (!fp)
        return 1;
    fprintf(fp, "[customers]\nlocal_domains =");
    for (int d = 0; d < NDOMAINS; d++)
        fprintf(fp, "%s domain%d.example", d % 10 ? "" : "\n ", d);
    fprintf(fp, "\n[recipients]\nmap = %s\n", cdb);
    fclose(fp);
    policy_engine *e = policy_engine_open(conf, err, sizeof(err));
    if (!e) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    policy_session *s = policy_session_new(e, "192.0.2.1", NULL);
    policy_connect(s);
    policy_helo(s, "client.example");
    policy_mail(s, "<sender@client.example>");
    long rn = 0, accepted = 0;
    start = bench_now();
    end = start + seconds;
    do {
        for (int i = 0; i < 1000; i++, rn++)
            accepted +=
                policy_rcpt(s, queries + (size_t)(rn & (NQUERIES - 1)) * QLEN) == POLICY_CONTINUE;
        policy_reset(s);
        policy_mail(s, "<sender@client.example>");
    } while (bench_now() < end);
    double rcpts = (double)rn / (bench_now() - start);
    policy_session_free(s);
    policy_engine_unref(e);

    printf("bench_recipients: cdb map of %ld addresses in %d domains (text %.1f MB, cdb %.1f MB)\n",
           naddr, NDOMAINS, (double)st.st_size / 1e6, (double)cst.st_size / 1e6);
    printf("  makemap build time:            %8.2f s (%.0f addresses/s)\n", build,
           (double)naddr / build);
    printf("  recipient lookups, one core:   %8.0f /s (50%% known, random order; found %.1f%%)\n",
           lookups, 100.0 * (double)found / (double)n);
    printf("  policy_rcpt() with the layer:  %8.0f /s (customers + recipients, one session)\n",
           rcpts);
    printf("  accepted by policy_rcpt():     %8.1f%%\n", 100.0 * (double)accepted / (double)rn);
    if (errors)
        printf("  LOOKUP ERRORS: %ld\n", errors);

    recipmap_close(&m);
    free(queries);
    unlink(txt);
    unlink(cdb);
    unlink(conf);
    rmdir(dir);
    return errors ? 1 : 0;
}
