/*
 * bench_scan.c - what a virus scan costs per message, the ways libpolicy
 * can do it, side by side on the same messages and signatures: clamd
 * INSTREAM over a unix and a TCP socket (tests/bench/scan.sh starts the
 * clamd), libclamav in process on the whole message with CL_SCAN_PARSE_MAIL
 * (from memory and from a file descriptor, as the spool gives either), and
 * libclamav on the parts decoded by libpolicy's MIME parser (alone, and
 * after a pass over the raw bytes without mail parsing).  One scan at a
 * time; the ways take turns message by message, and who goes first
 * changes each round, so a machine whose load changes (and a server that
 * dozes off between requests) treats them alike.  Besides the wall time, the CPU time of a
 * scan: this thread's, plus clamd's (BENCH_CLAMD_PID, from /proc) for the
 * clamd ways.  BENCH_TMPDIR is where libclamav unpacks (clamd's
 * TemporaryDirectory should be the same).
 *
 * usage: bench_scan DBDIR CLAMD_UNIX CLAMD_TCP SECONDS [CORPUS_DIR]
 * CORPUS_DIR holds directories of raw messages (scripts/fetch-corpus.sh);
 * each message is scanned once by each way.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "../tools/partscan.h"
#include "bench.h"
#include "clamav.h"
#include "clamd.h"
#include "waiter.h"

struct msg {
    char *data;
    size_t len;
    int fd; /* a memfd holding it, for the descriptor way */
};

/* Per way, per run: what the scans took. */
struct stats {
    double *lat; /* wall ms of each scan */
    size_t n, cap;
    double cpu_ms; /* this thread and clamd together */
    size_t found, errors;
};

struct way {
    const char *name;
    /* scan - one message; the result in r */
    void (*scan)(struct way *w, const struct msg *m, struct virus_result *r);
    struct clamav_engine *engine;
    unsigned opts;
    struct clamd *cd;
    struct clamd_scan *cs;
    struct waiter *waiter;
    struct partscan *ps;
    struct stats st;
};

static ssize_t mem_read(void *ctx, uint64_t off, void *buf, size_t len)
{
    const struct msg *m = ctx;
    if (off >= m->len)
        return 0;
    if (len > m->len - off)
        len = m->len - (size_t)off;
    memcpy(buf, m->data + off, len);
    return (ssize_t)len;
}

static void scan_clamd(struct way *w, const struct msg *m, struct virus_result *r)
{
    clamd_scan_start(w->cs, w->cd, w->waiter, mem_read, (void *)m, m->len);
    *r = *clamd_scan_collect(w->cs);
}

static void scan_mem(struct way *w, const struct msg *m, struct virus_result *r)
{
    clamav_scan_mem(w->engine, w->opts, m->data, m->len, r);
}

static void scan_fd(struct way *w, const struct msg *m, struct virus_result *r)
{
    clamav_scan_fd(w->engine, w->opts, m->fd, m->len, r);
}

static void scan_parts(struct way *w, const struct msg *m, struct virus_result *r)
{
    partscan_run(w->ps, w->engine, w->opts, m->data, m->len, r);
}

/* scan_raw_parts - the raw message without mail parsing (signatures that
 * target mail files match there), then its decoded parts. */
static void scan_raw_parts(struct way *w, const struct msg *m, struct virus_result *r)
{
    clamav_scan_mem(w->engine, w->opts, m->data, m->len, r);
    if (r->status == VIRUS_CLEAN)
        partscan_run(w->ps, w->engine, w->opts, m->data, m->len, r);
}

/* ---- messages ---- */

static uint64_t rng = 88172645463325252ULL;
static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* make_clean - a 10 KB message: text and a base64 attachment of random bytes. */
static void make_clean(struct msg *m, int i)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    static const char *const words[] = {"meeting", "invoice",  "tomorrow", "project", "report",
                                        "please",  "attached", "thanks",   "review",  "budget"};
    size_t cap = 16384, n = 0;
    char *p = malloc(cap);
    n += (size_t)snprintf(p + n, cap - n,
                          "From: sender%d@example.test\r\nTo: user@example.test\r\n"
                          "Subject: weekly report %d\r\nDate: Wed, 02 Dec 2026 04:00:00 +0000\r\n"
                          "Message-ID: <bench.%d@example.test>\r\nMIME-Version: 1.0\r\n"
                          "Content-Type: multipart/mixed; boundary=\"b%d\"\r\n\r\n"
                          "--b%d\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n",
                          i, i, i, i, i);
    for (int k = 0; n < 3300; k++)
        n += (size_t)snprintf(p + n, cap - n, "%s%s", words[next_rand() % 10],
                              k % 12 == 11 ? "\r\n" : " ");
    n += (size_t)snprintf(
        p + n, cap - n,
        "\r\n--b%d\r\nContent-Type: application/octet-stream; name=\"data%d.bin\"\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n",
        i, i);
    for (int line = 0; n < 10000; line++) {
        for (int k = 0; k < 76; k++)
            p[n++] = b64[next_rand() % 64];
        p[n++] = '\r';
        p[n++] = '\n';
    }
    n += (size_t)snprintf(p + n, cap - n, "--b%d--\r\n", i);
    m->data = p;
    m->len = n;
}

/* attach_fd - a memfd holding the message (what a spool file would be). */
static void attach_fd(struct msg *m)
{
    m->fd = memfd_create("msg", 0);
    if (m->fd < 0 || write(m->fd, m->data, m->len) != (ssize_t)m->len) {
        perror("memfd");
        exit(2);
    }
}

/* load_corpus - every regular file under dir/<sub>/, up to max. */
static size_t load_corpus(const char *dir, struct msg *out, size_t max)
{
    size_t n = 0;
    DIR *d = opendir(dir);
    struct dirent *de;
    while (d && (de = readdir(d)) && n < max) {
        if (de->d_name[0] == '.')
            continue;
        char sub[4096];
        snprintf(sub, sizeof(sub), "%s/%s", dir, de->d_name);
        DIR *s = opendir(sub);
        struct dirent *fe;
        while (s && (fe = readdir(s)) && n < max) {
            if (fe->d_name[0] == '.')
                continue;
            char path[8192];
            snprintf(path, sizeof(path), "%s/%s", sub, fe->d_name);
            FILE *fp = fopen(path, "rb");
            if (!fp)
                continue;
            fseek(fp, 0, SEEK_END);
            long len = ftell(fp);
            rewind(fp);
            if (len > 0) {
                out[n].data = malloc((size_t)len);
                out[n].len = fread(out[n].data, 1, (size_t)len, fp);
                attach_fd(&out[n]);
                n++;
            }
            fclose(fp);
        }
        if (s)
            closedir(s);
    }
    if (d)
        closedir(d);
    return n;
}

/* ---- measuring ---- */

static int clamd_pid;

/* clamd_cpu_ms - clamd's user + system time so far (0 when unknown). */
static double clamd_cpu_ms(void)
{
    if (clamd_pid <= 0)
        return 0;
    char path[64], line[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", clamd_pid);
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

static double thread_cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* measure - one scan of m by w, into w's stats. */
static void measure(struct way *w, const struct msg *m)
{
    struct stats *st = &w->st;
    if (st->n == st->cap) {
        st->cap = st->cap ? st->cap * 2 : 4096;
        st->lat = realloc(st->lat, st->cap * sizeof(*st->lat));
        if (!st->lat)
            exit(2);
    }
    struct virus_result r;
    double s0 = w->cd ? clamd_cpu_ms() : 0, c0 = thread_cpu_ms(), t0 = bench_now();
    w->scan(w, m, &r);
    st->lat[st->n++] = (bench_now() - t0) * 1000.0;
    st->cpu_ms += thread_cpu_ms() - c0 + (w->cd ? clamd_cpu_ms() - s0 : 0);
    st->found += r.status != VIRUS_CLEAN && r.status != VIRUS_ERROR;
    st->errors += r.status == VIRUS_ERROR;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void header(void)
{
    printf("  %-36s %8s %8s %8s %9s %6s %6s\n", "way", "mean ms", "median", "p99", "CPU ms",
           "found", "errors");
}

/* report - a table row of w's stats, which are then cleared. */
static void report(struct way *w)
{
    struct stats *st = &w->st;
    double sum = 0;
    for (size_t i = 0; i < st->n; i++)
        sum += st->lat[i];
    qsort(st->lat, st->n, sizeof(*st->lat), cmp_double);
    printf("  %-36s %8.3f %8.3f %8.3f %9.3f %6zu %6zu\n", w->name, sum / (double)st->n,
           st->lat[st->n / 2], st->lat[st->n * 99 / 100], st->cpu_ms / (double)st->n, st->found,
           st->errors);
    st->n = 0;
    st->cpu_ms = 0;
    st->found = st->errors = 0;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: bench_scan DBDIR CLAMD_UNIX CLAMD_TCP SECONDS [CORPUS_DIR]\n");
        return 64;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    double seconds = atof(argv[4]);
    clamd_pid = getenv("BENCH_CLAMD_PID") ? atoi(getenv("BENCH_CLAMD_PID")) : 0;
    char err[512];
    /* no clean cache, here or in clamd (DisableCache): every scan costs what
     * a new message costs, whichever way ran the same message before */
    struct clamav_settings set = {
        .dbdir = argv[1], .no_cache = 1, .tmpdir = getenv("BENCH_TMPDIR")};
    double t0 = bench_now();
    struct clamav_engine *e = clamav_open(&set, err, sizeof(err));
    if (!e) {
        fprintf(stderr, "bench_scan: %s\n", err);
        return 1;
    }
    printf("libclamav engine: %u signatures, loaded and compiled in %.1f ms\n",
           clamav_signatures(e), (bench_now() - t0) * 1000.0);
    t0 = bench_now();
    struct clamav_engine *again = clamav_open(&set, err, sizeof(err));
    printf("the same engine again from the cache (a reload that changed nothing): %.3f ms%s\n",
           (bench_now() - t0) * 1000.0, again == e ? "" : " (NOT the same engine)");
    clamav_close(again);

    struct clamd_settings cset = {.connect_ms = 2000, .timeout_ms = 30000};
    struct clamd *cu = clamd_new(argv[2], &cset, err, sizeof(err));
    struct clamd *ct = cu ? clamd_new(argv[3], &cset, err, sizeof(err)) : NULL;
    if (!ct) {
        fprintf(stderr, "bench_scan: %s\n", err);
        return 1;
    }
    struct waiter *wt = waiter_new();
    struct clamd_scan *cs = clamd_scan_new();
    struct partscan *ps = partscan_new(64 << 20);
    const unsigned opts = CLAMAV_ARCHIVES | CLAMAV_HEURISTICS;
    struct way ways[] = {
        {.name = "clamd INSTREAM, unix socket",
         .scan = scan_clamd,
         .cd = cu,
         .cs = cs,
         .waiter = wt},
        {.name = "clamd INSTREAM, TCP", .scan = scan_clamd, .cd = ct, .cs = cs, .waiter = wt},
        {.name = "libclamav, PARSE_MAIL, memory",
         .scan = scan_mem,
         .engine = e,
         .opts = opts | CLAMAV_MAIL},
        {.name = "libclamav, PARSE_MAIL, descriptor",
         .scan = scan_fd,
         .engine = e,
         .opts = opts | CLAMAV_MAIL},
        {.name = "libclamav, decoded MIME parts",
         .scan = scan_parts,
         .engine = e,
         .opts = opts,
         .ps = ps},
        {.name = "libclamav, raw bytes (no mail parse)",
         .scan = scan_mem,
         .engine = e,
         .opts = opts},
        {.name = "libclamav, raw bytes + MIME parts",
         .scan = scan_raw_parts,
         .engine = e,
         .opts = opts,
         .ps = ps},
    };
    size_t nways = sizeof(ways) / sizeof(*ways);

    enum { NCLEAN = 200 };
    static struct msg clean[NCLEAN];
    size_t total = 0;
    for (int i = 0; i < NCLEAN; i++) {
        make_clean(&clean[i], i);
        attach_fd(&clean[i]);
        total += clean[i].len;
    }
    printf("\n%d clean messages of %zu bytes on average (text + base64 attachment), "
           "the ways in turn for %.0f s:\n",
           NCLEAN, total / NCLEAN, seconds * (double)nways);
    header();
    for (size_t i = 0; i < nways; i++) {
        struct virus_result warm;
        ways[i].scan(&ways[i], &clean[0], &warm); /* the first scans fill caches */
    }
    double end = bench_now() + seconds * (double)nways;
    for (size_t k = 0; bench_now() < end; k++)
        for (size_t i = 0; i < nways; i++) /* who goes first changes each round */
            measure(&ways[(i + k) % nways], &clean[k % NCLEAN]);
    for (size_t i = 0; i < nways; i++)
        report(&ways[i]);

    if (argc > 5) {
        enum { MAXC = 10000 };
        static struct msg corpus[MAXC];
        size_t n = load_corpus(argv[5], corpus, MAXC);
        if (n == 0) {
            printf("\ncorpus %s: no messages (scripts/fetch-corpus.sh)\n", argv[5]);
        } else {
            size_t bytes = 0;
            for (size_t i = 0; i < n; i++)
                bytes += corpus[i].len;
            printf("\ncorpus %s: %zu messages, %.1f MB, each scanned once by each way in turn:\n",
                   argv[5], n, (double)bytes / 1e6);
            header();
            for (size_t k = 0; k < n; k++)
                for (size_t w = 0; w < nways; w++)
                    measure(&ways[(w + k) % nways], &corpus[k]);
            for (size_t w = 0; w < nways; w++)
                report(&ways[w]);
        }
    }
    partscan_free(ps);
    clamd_scan_free(cs);
    waiter_free(wt);
    clamd_free(cu);
    clamd_free(ct);
    clamav_close(e);
    return 0;
}
