/*
 * store_drive.c - drives the store (libpolicy/support/store.h) from the
 * command line, so that tests run the same operations against LMDB and
 * Redis and compare what comes back.
 *
 *   store_drive [-n NS] [-T] URI OP...
 *       OPs, queued into one batch until "|" (next batch, same session) or
 *       "//" (next session: a new connection):
 *         get KEY | set KEY VALUE TTL | add KEY VALUE TTL |
 *         incr KEY DELTA TTL | incr-renew KEY DELTA TTL | del KEY |
 *         incr-many PREFIX COUNT DELTA TTL (COUNT keys PREFIX0.. in one batch) |
 *         pget KEY | padd KEY D1 D2 TTL (pairs: "found A B") |
 *       (a KEY of pget/padd written 0xHEX is those bytes: the spam
 *       filter's cells are 8 binary bytes, -n spam)
 *         pause MS (sleep before queueing what follows)
 *       prints one line per operation: "found VALUE", "notfound" or
 *       "error WHY"; -T adds "batch N ms=M" after each batch.
 *   store_drive [-n NS] -c N [-p P] [-b B] URI KEY
 *       P processes (default 1) each run N batches of B (default 1)
 *       increments of KEY, one session per process; prints the number of
 *       increments that failed, then the final value of KEY.
 *   store_drive [-n NS] -l SECONDS URI KEY
 *       back-to-back sessions of one increment each, for SECONDS; one line
 *       per session: "ok VALUE ms=M" or "error WHY ms=M".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store.h"
#include "waiter.h"

static const char *ns = "drive";

static void usage(void)
{
    fprintf(stderr, "usage: store_drive [-n NS] [-T] URI OP... | -c N [-p P] [-b B] URI KEY |"
                    " -l SECONDS URI KEY\n");
    exit(64);
}

/* print_result - one line for operation i; counting: an increment. */
static void print_result(struct store_batch *b, int i, int counting)
{
    const struct store_result *r = store_result(b, i);
    if (!r) {
        printf("error not queued\n");
        return;
    }
    switch (r->status) {
    case STORE_FOUND:
        if (counting == 2)
            printf("found %lld %lld\n", (long long)r->value, (long long)r->value2);
        else if (r->data)
            printf("found %.*s\n", (int)r->len, (const char *)r->data);
        else if (counting)
            printf("found %lld\n", (long long)r->value);
        else
            printf("found\n");
        break;
    case STORE_NOTFOUND:
        printf("notfound\n");
        break;
    case STORE_ERROR:
        printf("error %s\n", r->why);
        break;
    default:
        printf("pending\n");
    }
}

/* key_arg - a key as given, or the bytes of "0x" and hex digits; its length. */
static size_t key_arg(const char *a, char *out, size_t cap)
{
    size_t n = strlen(a);
    if (n > 2 && a[0] == '0' && a[1] == 'x' && n % 2 == 0 && (n - 2) / 2 <= cap) {
        size_t k = 0;
        for (size_t i = 2; i < n; i += 2) {
            unsigned v;
            if (sscanf(a + i, "%2x", &v) != 1)
                break;
            out[k++] = (char)v;
        }
        if (k == (n - 2) / 2)
            return k;
    }
    n = n < cap ? n : cap;
    memcpy(out, a, n);
    return n;
}

/* run_ops - the OP... form. */
static int run_ops(struct store *st, int timing, int argc, char **argv)
{
    struct store_conn *c = store_conn_new(st, NULL);
    struct store_batch *b = c ? store_batch_new(c, ns) : NULL;
    int idx[STORE_BATCH_MAX], nidx = 0, nbatch = 0;
    char counting[STORE_BATCH_MAX];
    char key[STORE_KEY_MAX + 1];
    if (!b)
        return 1;
    for (int a = 0; a <= argc; a++) {
        const char *op = a < argc ? argv[a] : "|";
        int left = argc - a - 1;
        if (!strcmp(op, "|") || !strcmp(op, "//")) {
            double t0 = waiter_now_ms();
            store_run(b);
            double ms = waiter_now_ms() - t0;
            for (int i = 0; i < nidx; i++)
                print_result(b, idx[i], counting[i]);
            if (timing)
                printf("batch %d ms=%.0f\n", ++nbatch, ms);
            nidx = 0;
            store_batch_free(b);
            if (!strcmp(op, "//")) {
                store_conn_free(c);
                c = store_conn_new(st, NULL);
            }
            b = c ? store_batch_new(c, ns) : NULL;
            if (!b)
                return 1;
            continue;
        }
        if (nidx >= STORE_BATCH_MAX)
            usage();
        int before = nidx;
        if (!strcmp(op, "get") && left >= 1) {
            idx[nidx++] = store_get(b, argv[a + 1], strlen(argv[a + 1]));
            a += 1;
        } else if (!strcmp(op, "del") && left >= 1) {
            idx[nidx++] = store_del(b, argv[a + 1], strlen(argv[a + 1]));
            a += 1;
        } else if ((!strcmp(op, "set") || !strcmp(op, "add")) && left >= 3) {
            int (*f)(struct store_batch *, const void *, size_t, const void *, size_t, unsigned) =
                op[0] == 's' ? store_set : store_add;
            idx[nidx++] = f(b, argv[a + 1], strlen(argv[a + 1]), argv[a + 2], strlen(argv[a + 2]),
                            (unsigned)atoi(argv[a + 3]));
            a += 3;
        } else if ((!strcmp(op, "incr") || !strcmp(op, "incr-renew")) && left >= 3) {
            int (*f)(struct store_batch *, const void *, size_t, int64_t, unsigned) =
                op[4] ? store_incr_renew : store_incr;
            idx[nidx++] = f(b, argv[a + 1], strlen(argv[a + 1]), atoll(argv[a + 2]),
                            (unsigned)atoi(argv[a + 3]));
            a += 3;
        } else if (!strcmp(op, "pget") && left >= 1) {
            size_t kl = key_arg(argv[a + 1], key, sizeof(key));
            idx[nidx++] = store_pair_get(b, key, kl);
            a += 1;
        } else if (!strcmp(op, "padd") && left >= 4) {
            size_t kl = key_arg(argv[a + 1], key, sizeof(key));
            idx[nidx++] = store_pair_add(b, key, kl, atoll(argv[a + 2]), atoll(argv[a + 3]),
                                         (unsigned)atoi(argv[a + 4]));
            a += 4;
        } else if (!strcmp(op, "pause") && left >= 1) {
            usleep((useconds_t)atoi(argv[a + 1]) * 1000);
            a += 1;
        } else if (!strcmp(op, "incr-many") && left >= 4) {
            int n = atoi(argv[a + 2]);
            for (int i = 0; i < n && nidx < STORE_BATCH_MAX; i++) {
                snprintf(key, sizeof(key), "%s%d", argv[a + 1], i);
                idx[nidx++] = store_incr(b, key, strlen(key), atoll(argv[a + 3]),
                                         (unsigned)atoi(argv[a + 4]));
            }
            a += 4;
        } else {
            usage();
        }
        memset(counting + before,
               !strcmp(op, "pget") || !strcmp(op, "padd") ? 2 : !strncmp(op, "incr", 4),
               (size_t)(nidx - before));
    }
    store_batch_free(b);
    store_conn_free(c);
    return 0;
}

/* count - N batches of B increments of key in this process; failures. */
static long count(struct store *st, const char *key, long n, int per)
{
    long failed = 0;
    struct store_conn *c = store_conn_new(st, NULL);
    struct store_batch *b = c ? store_batch_new(c, ns) : NULL;
    if (!b)
        return n * per;
    for (long i = 0; i < n; i++) {
        store_batch_reset(b);
        for (int k = 0; k < per; k++)
            store_incr(b, key, strlen(key), 1, 0);
        store_run(b);
        for (int k = 0; k < per; k++)
            failed += store_result(b, k)->status != STORE_FOUND;
    }
    store_batch_free(b);
    store_conn_free(c);
    return failed;
}

static int run_count(struct store *st, const char *key, long n, int procs, int per)
{
    int pfd[2];
    if (pipe(pfd) < 0)
        return 1;
    for (int p = 0; p < procs; p++) {
        pid_t pid = fork();
        if (pid < 0)
            return 1;
        if (pid == 0) {
            long f = count(st, key, n, per);
            if (write(pfd[1], &f, sizeof(f)) != sizeof(f))
                _exit(1);
            _exit(0);
        }
    }
    close(pfd[1]);
    long failed = 0, f;
    while (read(pfd[0], &f, sizeof(f)) == sizeof(f))
        failed += f;
    while (wait(NULL) > 0)
        ;
    printf("failed %ld\n", failed);
    char *args[] = {"get", (char *)key};
    return run_ops(st, 0, 2, args);
}

static int run_loop(struct store *st, const char *key, double seconds)
{
    double end = waiter_now_ms() + seconds * 1000;
    while (waiter_now_ms() < end) {
        double t0 = waiter_now_ms();
        struct store_conn *c = store_conn_new(st, NULL);
        struct store_batch *b = c ? store_batch_new(c, ns) : NULL;
        if (!b)
            return 1;
        int i = store_incr(b, key, strlen(key), 1, 0);
        store_run(b);
        const struct store_result *r = store_result(b, i);
        double ms = waiter_now_ms() - t0;
        if (r->status == STORE_FOUND)
            printf("ok %lld ms=%.0f\n", (long long)r->value, ms);
        else
            printf("error %s ms=%.0f\n", r->why, ms);
        fflush(stdout);
        store_batch_free(b);
        store_conn_free(c);
        usleep(20000);
    }
    return 0;
}

int main(int argc, char **argv)
{
    int opt, timing = 0, procs = 1, per = 1;
    long n = 0;
    double loop = 0;
    char err[256];
    while ((opt = getopt(argc, argv, "+n:Tc:p:b:l:")) != -1) {
        switch (opt) {
        case 'n':
            ns = optarg;
            break;
        case 'T':
            timing = 1;
            break;
        case 'c':
            n = atol(optarg);
            break;
        case 'p':
            procs = atoi(optarg);
            break;
        case 'b':
            per = atoi(optarg);
            break;
        case 'l':
            loop = atof(optarg);
            break;
        default:
            usage();
        }
    }
    if (optind >= argc)
        usage();
    struct store *st = store_open(argv[optind], err, sizeof(err));
    if (!st) {
        fprintf(stderr, "store_drive: %s\n", err);
        return 78;
    }
    int rc;
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (n > 0 || loop > 0) {
        if (optind + 2 != argc || procs < 1 || per < 1 || per > STORE_BATCH_MAX)
            usage();
        rc = loop > 0 ? run_loop(st, argv[optind + 1], loop)
                      : run_count(st, argv[optind + 1], n, procs, per);
    } else {
        rc = run_ops(st, timing, argc - optind - 1, argv + optind + 1);
    }
    store_close(st);
    return rc;
}
