/*
 * scan_drive.c - drive the scanner clients from the command line, for the
 * integration tests and by hand: clamd INSTREAM and zPING, spamd, both
 * side by side on one waiter, and libclamav in process (whole message,
 * decoded parts, the engine cache across reloads, threads).  One result
 * line per scan: the status first, then details, "why=" last.
 *
 * usage:
 *   scan_drive clamd SERVERS FILE [-c CONNECT_MS] [-t TIMEOUT_MS] [-m MAX_SIZE] [-s MEM]
 *   scan_drive ping SERVERS [-t TIMEOUT_MS]
 *   scan_drive spamd SERVERS FILE [-C check|symbols|report] [-u USER] [-c MS] [-t MS] [-m MAX]
 *   scan_drive both CLAMD_SERVERS SPAMD_SERVERS FILE [-t TIMEOUT_MS]
 *   scan_drive clamav DBDIR [-o OPTS] [-M] [-P] [-F MAX_FILESIZE] [-T TMPDIR] [-s MEM] FILE...
 *   scan_drive reload DBDIR [-o OPTS]      (commands on stdin: "open", "scan FILE", "close-old")
 *   scan_drive threads DBDIR FILE THREADS SCANS [-o OPTS]
 * OPTS: comma-separated archives,mail,heuristics,encrypted,limits (default archives,mail).
 * -M scans from memory instead of a file descriptor; -P scans decoded MIME parts;
 * -s MEM keeps the message in a spool first (MEM bytes in memory, then a
 * file) and the scanner reads it from there, as a layer will.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clamav.h"
#include "clamd.h"
#include "partscan.h"
#include "spamd.h"
#include "spool.h"
#include "waiter.h"

static void usage(void)
{
    fprintf(stderr, "usage: see the opening comment of tests/tools/scan_drive.c\n");
    exit(64);
}

/* fd_read - the message reader: the file, by offset. */
static ssize_t fd_read(void *ctx, uint64_t off, void *buf, size_t len)
{
    return pread(*(int *)ctx, buf, len, (off_t)off);
}

/* With -s MEM the message goes through a spool first (MEM bytes in memory,
 * then a file), as a session keeps it, and the scanners read it there. */
static long spool_mem = -1;

static ssize_t spool_reader(void *ctx, uint64_t off, void *buf, size_t len)
{
    return spool_read(ctx, off, buf, len);
}

/* spool_of - the file at fd copied into a new spool; exits on error. */
static struct spool *spool_of(int fd)
{
    struct spool *sp = spool_new((size_t)spool_mem, 0, NULL);
    char buf[65536];
    ssize_t k;
    uint64_t off = 0;
    while (sp && (k = pread(fd, buf, sizeof(buf), (off_t)off)) > 0) {
        if (spool_write(sp, buf, (size_t)k) != SPOOL_OK) {
            fprintf(stderr, "spool: cannot keep the message\n");
            exit(2);
        }
        off += (uint64_t)k;
    }
    if (!sp)
        exit(2);
    return sp;
}

/* via - where the spool keeps the message, for the result line. */
static const char *via(struct spool *sp)
{
    size_t len;
    return !sp ? "file" : spool_memory(sp, &len) ? "spool-memory" : "spool-file";
}

/* open_msg - the message file and its size; exits on error. */
static int open_msg(const char *path, uint64_t *size)
{
    int fd = open(path, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        perror(path);
        exit(2);
    }
    *size = (uint64_t)st.st_size;
    return fd;
}

/* opt_num - the value of "-X N" in argv[from..], or def. */
static unsigned long long opt_num(int argc, char **argv, int from, const char *flag,
                                  unsigned long long def)
{
    for (int i = from; i + 1 < argc; i++)
        if (strcmp(argv[i], flag) == 0)
            return strtoull(argv[i + 1], NULL, 10);
    return def;
}

/* opt_str - the value of "-X S" in argv[from..], or def. */
static const char *opt_str(int argc, char **argv, int from, const char *flag, const char *def)
{
    for (int i = from; i + 1 < argc; i++)
        if (strcmp(argv[i], flag) == 0)
            return argv[i + 1];
    return def;
}

static int opt_flag(int argc, char **argv, int from, const char *flag)
{
    for (int i = from; i < argc; i++)
        if (strcmp(argv[i], flag) == 0)
            return 1;
    return 0;
}

static void print_virus(const struct virus_result *r, double ms, const char *server)
{
    printf("%s", virus_status_name(r->status));
    if (*r->name)
        printf(" %s", r->name);
    printf(" ms=%.1f", ms);
    if (server)
        printf(" server=%s", *server ? server : "-");
    if (*r->why)
        printf(" why=%s", r->why);
    printf("\n");
}

static void print_spamd(const struct spamd_result *r, double ms, const char *server)
{
    printf("%s", spamd_status_name(r->status));
    if (r->status == SPAMD_SPAM || r->status == SPAMD_HAM)
        printf(" score=%.1f threshold=%.1f", r->score, r->threshold);
    if (*r->symbols)
        printf(" symbols=%s", r->symbols);
    if (r->truncated)
        printf(" truncated");
    printf(" ms=%.1f server=%s", ms, *server ? server : "-");
    if (*r->why)
        printf(" why=%s", r->why);
    printf("\n");
    if (*r->report) {
        printf("report:\n");
        for (const char *p = r->report; *p;) {
            const char *nl = strchr(p, '\n');
            size_t n = nl ? (size_t)(nl - p) : strlen(p);
            printf("  %.*s\n", (int)n, p);
            p += n + (nl ? 1 : 0);
        }
    }
}

static int do_clamd(int argc, char **argv)
{
    if (argc < 4)
        usage();
    struct clamd_settings set = {
        .connect_ms = (unsigned)opt_num(argc, argv, 4, "-c", 0),
        .timeout_ms = (unsigned)opt_num(argc, argv, 4, "-t", 0),
        .max_size = opt_num(argc, argv, 4, "-m", 0),
    };
    char err[256];
    struct clamd *cd = clamd_new(argv[2], &set, err, sizeof(err));
    if (!cd) {
        fprintf(stderr, "clamd: %s\n", err);
        return 2;
    }
    uint64_t size;
    int fd = open_msg(argv[3], &size);
    struct spool *sp = spool_mem >= 0 ? spool_of(fd) : NULL;
    struct waiter *w = waiter_new();
    struct clamd_scan *s = clamd_scan_new();
    if (sp)
        clamd_scan_start(s, cd, w, spool_reader, sp, spool_size(sp));
    else
        clamd_scan_start(s, cd, w, fd_read, &fd, size);
    const struct virus_result *r = clamd_scan_collect(s);
    if (sp)
        fprintf(stderr, "message read from the %s\n", via(sp));
    print_virus(r, clamd_scan_elapsed_ms(s), clamd_scan_server(s));
    clamd_scan_free(s);
    spool_free(sp);
    waiter_free(w);
    clamd_free(cd);
    close(fd);
    return 0;
}

static int do_ping(int argc, char **argv)
{
    if (argc < 3)
        usage();
    char err[256];
    struct clamd *cd = clamd_new(argv[2], NULL, err, sizeof(err));
    if (!cd) {
        fprintf(stderr, "clamd: %s\n", err);
        return 2;
    }
    unsigned ms = (unsigned)opt_num(argc, argv, 3, "-t", 1000);
    int bad = 0;
    for (size_t i = 0; i < clamd_server_count(cd); i++) {
        const char *why;
        if (clamd_ping(cd, i, ms, &why) == 0) {
            printf("%s pong\n", clamd_server_name(cd, i));
        } else {
            printf("%s error why=%s\n", clamd_server_name(cd, i), why);
            bad = 1;
        }
    }
    clamd_free(cd);
    return bad;
}

static enum spamd_cmd spamd_cmd_of(const char *s)
{
    if (strcmp(s, "symbols") == 0)
        return SPAMD_SYMBOLS;
    if (strcmp(s, "report") == 0)
        return SPAMD_REPORT;
    if (strcmp(s, "check") != 0)
        usage();
    return SPAMD_CHECK;
}

static int do_spamd(int argc, char **argv)
{
    if (argc < 4)
        usage();
    struct spamd_settings set = {
        .connect_ms = (unsigned)opt_num(argc, argv, 4, "-c", 0),
        .timeout_ms = (unsigned)opt_num(argc, argv, 4, "-t", 0),
        .max_size = opt_num(argc, argv, 4, "-m", 0),
    };
    char err[256];
    struct spamd *sd = spamd_new(argv[2], &set, err, sizeof(err));
    if (!sd) {
        fprintf(stderr, "spamd: %s\n", err);
        return 2;
    }
    uint64_t size;
    int fd = open_msg(argv[3], &size);
    struct waiter *w = waiter_new();
    struct spamd_scan *s = spamd_scan_new();
    spamd_scan_start(s, sd, w, spamd_cmd_of(opt_str(argc, argv, 4, "-C", "check")),
                     opt_str(argc, argv, 4, "-u", NULL), fd_read, &fd, size);
    const struct spamd_result *r = spamd_scan_collect(s);
    print_spamd(r, spamd_scan_elapsed_ms(s), spamd_scan_server(s));
    spamd_scan_free(s);
    waiter_free(w);
    spamd_free(sd);
    close(fd);
    return 0;
}

/* do_both - clamd and spamd side by side on one waiter: the two phases. */
static int do_both(int argc, char **argv)
{
    if (argc < 5)
        usage();
    unsigned t = (unsigned)opt_num(argc, argv, 5, "-t", 0);
    struct clamd_settings cs = {.timeout_ms = t};
    struct spamd_settings ss = {.timeout_ms = t};
    char err[256];
    struct clamd *cd = clamd_new(argv[2], &cs, err, sizeof(err));
    struct spamd *sd = cd ? spamd_new(argv[3], &ss, err, sizeof(err)) : NULL;
    if (!sd) {
        fprintf(stderr, "both: %s\n", err);
        return 2;
    }
    uint64_t size;
    int fd = open_msg(argv[4], &size);
    struct waiter *w = waiter_new();
    struct clamd_scan *c = clamd_scan_new();
    struct spamd_scan *s = spamd_scan_new();
    double t0 = waiter_now_ms();
    clamd_scan_start(c, cd, w, fd_read, &fd, size);
    spamd_scan_start(s, sd, w, SPAMD_SYMBOLS, NULL, fd_read, &fd, size);
    const struct virus_result *vr = clamd_scan_collect(c);
    const struct spamd_result *sr = spamd_scan_collect(s);
    double total = waiter_now_ms() - t0;
    printf("clamd: ");
    print_virus(vr, clamd_scan_elapsed_ms(c), clamd_scan_server(c));
    printf("spamd: ");
    print_spamd(sr, spamd_scan_elapsed_ms(s), spamd_scan_server(s));
    printf("total ms=%.1f\n", total);
    clamd_scan_free(c);
    spamd_scan_free(s);
    waiter_free(w);
    clamd_free(cd);
    spamd_free(sd);
    close(fd);
    return 0;
}

/* scan_opts - "archives,mail,..." as CLAMAV_* bits. */
static unsigned scan_opts(const char *s)
{
    static const struct {
        const char *name;
        unsigned bit;
    } names[] = {{"archives", CLAMAV_ARCHIVES},
                 {"mail", CLAMAV_MAIL},
                 {"heuristics", CLAMAV_HEURISTICS},
                 {"encrypted", CLAMAV_ENCRYPTED},
                 {"limits", CLAMAV_LIMITS}};
    unsigned bits = 0;
    while (*s) {
        size_t n = strcspn(s, ",");
        size_t i;
        for (i = 0; i < sizeof(names) / sizeof(*names); i++)
            if (strlen(names[i].name) == n && strncmp(s, names[i].name, n) == 0)
                break;
        if (i == sizeof(names) / sizeof(*names)) {
            fprintf(stderr, "unknown scan option %.*s\n", (int)n, s);
            exit(64);
        }
        bits |= names[i].bit;
        s += n + (s[n] == ',');
    }
    return bits;
}

/* read_all - the whole file in memory (for -M and -P). */
static void *read_all(const char *path, size_t *len)
{
    uint64_t size;
    int fd = open_msg(path, &size);
    char *buf = malloc(size ? size : 1);
    size_t got = 0;
    while (buf && got < size) {
        ssize_t k = pread(fd, buf + got, size - got, (off_t)got);
        if (k <= 0)
            break;
        got += (size_t)k;
    }
    close(fd);
    *len = got;
    return buf;
}

/* scan_one - one file with e, in the way the flags ask. */
static void scan_one(const struct clamav_engine *e, unsigned opts, int mem, struct partscan *ps,
                     const char *path, struct virus_result *r)
{
    if (spool_mem >= 0) { /* what a layer does: memory when the spool has it, else its file */
        uint64_t size;
        int fd = open_msg(path, &size);
        struct spool *sp = spool_of(fd);
        close(fd);
        size_t len;
        const void *buf = spool_memory(sp, &len);
        if (buf)
            clamav_scan_mem(e, opts, buf, len, r);
        else
            clamav_scan_fd(e, opts, spool_fd(sp), spool_size(sp), r);
        fprintf(stderr, "%s: scanned from the %s\n", path, via(sp));
        spool_free(sp);
        return;
    }
    if (ps || mem) {
        size_t len;
        void *buf = read_all(path, &len);
        if (ps)
            partscan_run(ps, e, opts, buf, len, r);
        else
            clamav_scan_mem(e, opts, buf, len, r);
        free(buf);
        return;
    }
    uint64_t size;
    int fd = open_msg(path, &size);
    lseek(fd, 0, SEEK_END); /* the scanner reads by offset: the position must not matter */
    clamav_scan_fd(e, opts, fd, size, r);
    close(fd);
}

static void settings_of(int argc, char **argv, int from, const char *dbdir,
                        struct clamav_settings *set)
{
    memset(set, 0, sizeof(*set));
    set->dbdir = dbdir;
    set->max_filesize = opt_num(argc, argv, from, "-F", 0);
    set->max_scansize = opt_num(argc, argv, from, "-S", 0);
    set->pua = opt_flag(argc, argv, from, "-U");
    set->tmpdir = opt_str(argc, argv, from, "-T", NULL);
}

static int do_clamav(int argc, char **argv)
{
    if (argc < 4)
        usage();
    struct clamav_settings set;
    settings_of(argc, argv, 3, argv[2], &set);
    unsigned opts = scan_opts(opt_str(argc, argv, 3, "-o", "archives,mail"));
    int mem = opt_flag(argc, argv, 3, "-M");
    struct partscan *ps = opt_flag(argc, argv, 3, "-P") ? partscan_new(64 << 20) : NULL;
    char err[512];
    double t0 = waiter_now_ms();
    struct clamav_engine *e = clamav_open(&set, err, sizeof(err));
    if (!e) {
        printf("load-error why=%s\n", err);
        return 1;
    }
    fprintf(stderr, "engine: %u signatures, loaded in %.1f ms (open %.1f ms)\n",
            clamav_signatures(e), clamav_load_ms(e), waiter_now_ms() - t0);
    for (int i = 3; i < argc; i++) {
        if (argv[i][0] == '-') {
            if (argv[i][1] && strchr("oFSTs", argv[i][1]))
                i++; /* its value */
            continue;
        }
        struct virus_result r;
        double t = waiter_now_ms();
        scan_one(e, opts, mem, ps, argv[i], &r);
        printf("%s: ", argv[i]);
        print_virus(&r, waiter_now_ms() - t, NULL);
    }
    partscan_free(ps);
    clamav_close(e);
    return 0;
}

/* do_reload - what a milter does on SIGHUP: open the engine for the
 * (possibly changed) database, then let go of the old one. */
static int do_reload(int argc, char **argv)
{
    if (argc < 3)
        usage();
    struct clamav_settings set;
    settings_of(argc, argv, 3, argv[2], &set);
    unsigned opts = scan_opts(opt_str(argc, argv, 3, "-o", "archives,mail"));
    struct clamav_engine *cur = NULL, *old = NULL;
    char line[4096], err[512];
    setvbuf(stdout, NULL, _IOLBF, 0);
    while (fgets(line, sizeof(line), stdin)) {
        line[strcspn(line, "\n")] = '\0';
        if (strcmp(line, "open") == 0) {
            double t0 = waiter_now_ms();
            struct clamav_engine *e = clamav_open(&set, err, sizeof(err));
            double ms = waiter_now_ms() - t0;
            if (!e) {
                printf("load-error why=%s\n", err);
                continue;
            }
            printf("%s engine sigs=%u open_ms=%.2f load_ms=%.2f cached=%u\n",
                   e == cur ? "same" : "new", clamav_signatures(e), ms, clamav_load_ms(e),
                   clamav_cached());
            clamav_close(old); /* sessions of the generation before last are gone */
            old = cur;
            cur = e;
        } else if (strcmp(line, "close-old") == 0) {
            clamav_close(old);
            old = NULL;
            printf("cached=%u\n", clamav_cached());
        } else if (strncmp(line, "scan ", 5) == 0 && cur) {
            struct virus_result r;
            double t = waiter_now_ms();
            scan_one(cur, opts, 0, NULL, line + 5, &r);
            print_virus(&r, waiter_now_ms() - t, NULL);
        } else {
            printf("? %s\n", line);
        }
    }
    clamav_close(old);
    clamav_close(cur);
    printf("cached=%u\n", clamav_cached());
    return 0;
}

struct worker {
    const struct clamav_engine *e;
    const void *msg;
    size_t len;
    unsigned opts;
    int scans;
    int detected;
    char name[VIRUS_NAME_MAX];
};

static void *work(void *arg)
{
    struct worker *wk = arg;
    for (int i = 0; i < wk->scans; i++) {
        struct virus_result r;
        clamav_scan_mem(wk->e, wk->opts, wk->msg, wk->len, &r);
        if (r.status == VIRUS_INFECTED) {
            wk->detected++;
            snprintf(wk->name, sizeof(wk->name), "%s", r.name);
        }
    }
    return NULL;
}

/* do_threads - one engine, many threads scanning the same message at once. */
static int do_threads(int argc, char **argv)
{
    if (argc < 6)
        usage();
    struct clamav_settings set;
    settings_of(argc, argv, 6, argv[2], &set);
    unsigned opts = scan_opts(opt_str(argc, argv, 6, "-o", "archives,mail"));
    int nt = atoi(argv[4]), ns = atoi(argv[5]);
    if (nt < 1 || nt > 64 || ns < 1)
        usage();
    char err[512];
    struct clamav_engine *e = clamav_open(&set, err, sizeof(err));
    if (!e) {
        printf("load-error why=%s\n", err);
        return 1;
    }
    size_t len;
    void *msg = read_all(argv[3], &len);
    pthread_t th[64];
    struct worker wk[64];
    double t0 = waiter_now_ms();
    for (int i = 0; i < nt; i++) {
        wk[i] = (struct worker){.e = e, .msg = msg, .len = len, .opts = opts, .scans = ns};
        pthread_create(&th[i], NULL, work, &wk[i]);
    }
    int total = 0;
    for (int i = 0; i < nt; i++) {
        pthread_join(th[i], NULL);
        total += wk[i].detected;
    }
    printf("threads=%d scans=%d detected=%d name=%s ms=%.1f\n", nt, nt * ns, total, wk[0].name,
           waiter_now_ms() - t0);
    free(msg);
    clamav_close(e);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        usage();
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (int i = 2; i + 1 < argc; i++)
        if (strcmp(argv[i], "-s") == 0)
            spool_mem = atol(argv[i + 1]);
    const char *m = argv[1];
    if (strcmp(m, "clamd") == 0)
        return do_clamd(argc, argv);
    if (strcmp(m, "ping") == 0)
        return do_ping(argc, argv);
    if (strcmp(m, "spamd") == 0)
        return do_spamd(argc, argv);
    if (strcmp(m, "both") == 0)
        return do_both(argc, argv);
    if (strcmp(m, "clamav") == 0)
        return do_clamav(argc, argv);
    if (strcmp(m, "reload") == 0)
        return do_reload(argc, argv);
    if (strcmp(m, "threads") == 0)
        return do_threads(argc, argv);
    usage();
    return 64;
}
