/*
 * test_scanners.c - the scanner clients' pure parts (clamd's and spamd's
 * reply parsers, signature names, server lists) and their transport
 * against in-process unix socket servers that check the bytes they get
 * (INSTREAM framing, SPAMC headers) and answer in pieces, late, or never.
 * The real clamd and spamd are tests/integration/scanners.sh.
 */
#include <CUnit/CUnit.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "clamd.h"
#include "helpers.h"
#include "netreq.h"
#include "spamd.h"
#include "suites.h"
#include "virus.h"

/* ---- clamd replies ---- */

static struct virus_result clamd_says(const char *reply, size_t len)
{
    struct virus_result r;
    clamd_parse_reply(reply, len, &r);
    return r;
}
#define CLAMD(s) clamd_says(s, sizeof(s) - 1)

static void test_clamd_ok_is_clean(void)
{
    CU_ASSERT_EQUAL(CLAMD("stream: OK\0").status, VIRUS_CLEAN);
    CU_ASSERT_EQUAL(CLAMD("stream: OK\n").status, VIRUS_CLEAN);
    CU_ASSERT_EQUAL(CLAMD("stream: OK\r\n").status, VIRUS_CLEAN);
    CU_ASSERT_EQUAL(CLAMD("stream: OK").status, VIRUS_CLEAN);      /* ended by the connection */
    CU_ASSERT_EQUAL(CLAMD("7: stream: OK\0").status, VIRUS_CLEAN); /* IDSESSION numbering */
}

static void test_clamd_found_names_the_signature(void)
{
    struct virus_result r = CLAMD("stream: Win.Test.EICAR_HDB-1 FOUND\0");
    CU_ASSERT_EQUAL(r.status, VIRUS_INFECTED);
    CU_ASSERT_STRING_EQUAL(r.name, "Win.Test.EICAR_HDB-1");
    CU_ASSERT_STRING_EQUAL(r.why, "");
}

static void test_clamd_extended_info_is_cut_from_the_name(void)
{
    struct virus_result r =
        CLAMD("stream: Win.Test.EICAR_HDB-1(44d88612fea8a8f36de82e1278abb02f:68) FOUND\0");
    CU_ASSERT_EQUAL(r.status, VIRUS_INFECTED);
    CU_ASSERT_STRING_EQUAL(r.name, "Win.Test.EICAR_HDB-1");
    r = CLAMD("stream: Odd(name) FOUND\0"); /* not a hash: kept */
    CU_ASSERT_STRING_EQUAL(r.name, "Odd(name)");
}

static void test_clamd_encrypted_and_limits_are_their_own_results(void)
{
    struct virus_result r = CLAMD("stream: Heuristics.Encrypted.Zip FOUND\0");
    CU_ASSERT_EQUAL(r.status, VIRUS_ENCRYPTED);
    CU_ASSERT_STRING_EQUAL(r.name, "Heuristics.Encrypted.Zip");
    r = CLAMD("stream: Heuristics.Limits.Exceeded.MaxFileSize FOUND\0");
    CU_ASSERT_EQUAL(r.status, VIRUS_TOO_BIG);
    CU_ASSERT_STRING_EQUAL(r.name, "Heuristics.Limits.Exceeded.MaxFileSize");
}

static void test_clamd_size_limit_is_too_big_not_an_error(void)
{
    struct virus_result r = CLAMD("INSTREAM size limit exceeded. ERROR\0");
    CU_ASSERT_EQUAL(r.status, VIRUS_TOO_BIG);
    CU_ASSERT_STRING_EQUAL(r.why, "over clamd's StreamMaxLength");
}

static void test_clamd_errors_and_garbage_are_errors(void)
{
    struct virus_result r = CLAMD("stream: Can't allocate memory ERROR\0");
    CU_ASSERT_EQUAL(r.status, VIRUS_ERROR);
    CU_ASSERT_STRING_EQUAL(r.why, "clamd reported an error");
    CU_ASSERT_STRING_EQUAL(CLAMD("UNKNOWN COMMAND\n").why, "unrecognised clamd reply");
    CU_ASSERT_STRING_EQUAL(CLAMD("stream: OK then more\0").why, "unrecognised clamd reply");
    CU_ASSERT_STRING_EQUAL(CLAMD("stream:  FOUND\0").why, "unrecognised clamd reply");
    CU_ASSERT_STRING_EQUAL(CLAMD("stream: FOUND\0").why, "unrecognised clamd reply");
    CU_ASSERT_STRING_EQUAL(CLAMD("").why, "empty clamd reply");
    CU_ASSERT_STRING_EQUAL(CLAMD("\0\r\n").why, "empty clamd reply");
    CU_ASSERT_STRING_EQUAL(CLAMD("\0stream: OK").why, "unrecognised clamd reply");
    CU_ASSERT_EQUAL(CLAMD("\0stream: OK").status, VIRUS_ERROR);
}

static void test_clamd_only_the_first_line_counts(void)
{
    CU_ASSERT_EQUAL(CLAMD("stream: OK\0stream: X FOUND\0").status, VIRUS_CLEAN);
    CU_ASSERT_EQUAL(CLAMD("stream: X FOUND\nstream: OK\n").status, VIRUS_INFECTED);
}

static void test_clamd_names_are_sanitized_and_bounded(void)
{
    struct virus_result r = CLAMD("stream: Bad\x01Na\xffme\tx FOUND\0");
    CU_ASSERT_EQUAL(r.status, VIRUS_INFECTED);
    CU_ASSERT_STRING_EQUAL(r.name, "Bad?Na?me?x");
    r = CLAMD("stream: Two Words FOUND\0");
    CU_ASSERT_STRING_EQUAL(r.name, "Two?Words");
    char big[1200];
    int n = snprintf(big, sizeof(big), "stream: ");
    memset(big + n, 'A', 1000);
    n += 1000;
    n += snprintf(big + n, sizeof(big) - (size_t)n, " FOUND");
    r = clamd_says(big, (size_t)n);
    CU_ASSERT_EQUAL(r.status, VIRUS_INFECTED);
    CU_ASSERT_EQUAL(strlen(r.name), VIRUS_NAME_MAX - 1);
}

static void test_clamd_pong(void)
{
    CU_ASSERT_EQUAL(clamd_parse_pong("PONG\0", 5), 0);
    CU_ASSERT_EQUAL(clamd_parse_pong("PONG\n", 5), 0);
    CU_ASSERT_EQUAL(clamd_parse_pong("PONGO", 5), -1);
    CU_ASSERT_EQUAL(clamd_parse_pong("", 0), -1);
}

/* ---- spamd replies ---- */

static int spamd_says(const char *s, enum spamd_cmd cmd, int final, struct spamd_result *r)
{
    memset(r, 0x5a, sizeof(*r)); /* whatever was there before */
    return spamd_parse_reply(s, strlen(s), cmd, final, r);
}

static void test_spamd_check_reply(void)
{
    struct spamd_result r;
    CU_ASSERT_EQUAL(
        spamd_says("SPAMD/1.1 0 EX_OK\r\nSpam: True ; 1000.0 / 5.0\r\n\r\n", SPAMD_CHECK, 0, &r),
        1);
    CU_ASSERT_EQUAL(r.status, SPAMD_SPAM);
    CU_ASSERT_DOUBLE_EQUAL(r.score, 1000.0, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(r.threshold, 5.0, 1e-9);
    CU_ASSERT_EQUAL(r.code, 0);
    CU_ASSERT_STRING_EQUAL(r.symbols, "");
    CU_ASSERT_STRING_EQUAL(r.report, "");
    CU_ASSERT_STRING_EQUAL(r.why, "");
}

static void test_spamd_ham_negative_and_integer_scores(void)
{
    struct spamd_result r;
    spamd_says("SPAMD/1.1 0 EX_OK\r\nSpam: False ; -2.3 / 5.0\r\n\r\n", SPAMD_CHECK, 1, &r);
    CU_ASSERT_EQUAL(r.status, SPAMD_HAM);
    CU_ASSERT_DOUBLE_EQUAL(r.score, -2.3, 1e-9);
    spamd_says("SPAMD/1.0 0 EX_OK\nspam:yes;7/5\n\n", SPAMD_CHECK, 1, &r);
    CU_ASSERT_EQUAL(r.status, SPAMD_SPAM);
    CU_ASSERT_DOUBLE_EQUAL(r.score, 7.0, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(r.threshold, 5.0, 1e-9);
    spamd_says("SPAMD/1.1 0 EX_OK\r\nSpam: no ; 0.1234567 / 5.0\r\n\r\n", SPAMD_CHECK, 1, &r);
    CU_ASSERT_EQUAL(r.status, SPAMD_HAM);
    CU_ASSERT_DOUBLE_EQUAL(r.score, 0.123456, 1e-6);
}

static void test_spamd_waits_for_a_whole_reply(void)
{
    struct spamd_result r;
    CU_ASSERT_EQUAL(spamd_says("", SPAMD_CHECK, 0, &r), 0);
    CU_ASSERT_EQUAL(spamd_says("SPA", SPAMD_CHECK, 0, &r), 0);
    CU_ASSERT_EQUAL(spamd_says("SPAMD/1.1 0 EX_OK\r\n", SPAMD_CHECK, 0, &r), 0);
    CU_ASSERT_EQUAL(spamd_says("SPAMD/1.1 0 EX_OK\r\nSpam: True ; 6 / 5\r\n", SPAMD_CHECK, 0, &r),
                    0);
    const char *sym =
        "SPAMD/1.1 0 EX_OK\r\nContent-length: 16\r\nSpam: True ; 6 / 5\r\n\r\nGTUBE,NO_RE";
    CU_ASSERT_EQUAL(spamd_says(sym, SPAMD_SYMBOLS, 0, &r), 0);
    /* the connection ended: what came is the answer, marked cut */
    CU_ASSERT_EQUAL(spamd_says(sym, SPAMD_SYMBOLS, 1, &r), 1);
    CU_ASSERT_EQUAL(r.status, SPAMD_SPAM);
    CU_ASSERT_STRING_EQUAL(r.symbols, "GTUBE,NO_RE");
    CU_ASSERT_EQUAL(r.truncated, 1);
    /* the status line alone, then the end: not an answer */
    CU_ASSERT_EQUAL(spamd_says("SPAMD/1.1 0 EX_OK\r\n", SPAMD_CHECK, 1, &r), 1);
    CU_ASSERT_EQUAL(r.status, SPAMD_ERROR);
    CU_ASSERT_STRING_EQUAL(r.why, "truncated spamd reply");
    CU_ASSERT_EQUAL(spamd_says("", SPAMD_CHECK, 1, &r), 1);
    CU_ASSERT_STRING_EQUAL(r.why, "empty spamd reply");
}

static void test_spamd_symbols_reply(void)
{
    struct spamd_result r;
    const char *s = "SPAMD/1.1 0 EX_OK\r\nContent-length: 27\r\nSpam: True ; 1002.7 / 5.0\r\n\r\n"
                    "GTUBE,NO_RECEIVED,NO_RELAYS";
    CU_ASSERT_EQUAL(spamd_says(s, SPAMD_SYMBOLS, 0, &r), 1);
    CU_ASSERT_EQUAL(r.status, SPAMD_SPAM);
    CU_ASSERT_STRING_EQUAL(r.symbols, "GTUBE,NO_RECEIVED,NO_RELAYS");
    CU_ASSERT_EQUAL(r.truncated, 0);
    /* bytes after Content-length are not part of it */
    s = "SPAMD/1.1 0 EX_OK\r\nContent-length: 5\r\nSpam: True ; 6 / 5\r\n\r\nGTUBE,EVIL";
    spamd_says(s, SPAMD_SYMBOLS, 1, &r);
    CU_ASSERT_STRING_EQUAL(r.symbols, "GTUBE");
}

static void test_spamd_symbols_are_rule_names(void)
{
    struct spamd_result r;
    spamd_says("SPAMD/1.1 0 EX_OK\r\nSpam: True ; 6 / 5\r\n\r\n A B ,,C\x01"
               "D\r\n,\xff,__X.y-z \r\n",
               SPAMD_SYMBOLS, 1, &r);
    CU_ASSERT_STRING_EQUAL(r.symbols, "A?B,C?D,?,__X.y-z");
    /* a list longer than the bound is cut at a name, and says so */
    char big[8192];
    int n = snprintf(big, sizeof(big), "SPAMD/1.1 0 EX_OK\r\nSpam: True ; 6 / 5\r\n\r\n");
    for (int i = 0; i < 300; i++)
        n += snprintf(big + n, sizeof(big) - (size_t)n, "%sRULE_%03d", i ? "," : "", i);
    spamd_says(big, SPAMD_SYMBOLS, 1, &r);
    CU_ASSERT_TRUE(strlen(r.symbols) < SPAMD_SYMBOLS_MAX);
    CU_ASSERT_EQUAL(r.truncated, 1);
    size_t len = strlen(r.symbols);
    CU_ASSERT_TRUE(len >= 8 && strncmp(r.symbols + len - 8, "RULE_", 5) == 0);
}

static void test_spamd_report_is_printable_lines(void)
{
    struct spamd_result r;
    const char *s = "SPAMD/1.1 0 EX_OK\r\nContent-length: 25\r\nSpam: True ; 6 / 5\r\n\r\n"
                    "line one\r\n\tpts\x1b[31m\xc3\xa9 x\r\n";
    CU_ASSERT_EQUAL(spamd_says(s, SPAMD_REPORT, 0, &r), 1);
    CU_ASSERT_STRING_EQUAL(r.report, "line one\n pts?[31m?? x\n");
    char big[12000];
    int n = snprintf(big, sizeof(big), "SPAMD/1.1 0 EX_OK\r\nSpam: True ; 6 / 5\r\n\r\n");
    memset(big + n, 'x', 9000);
    big[n + 9000] = '\0';
    spamd_says(big, SPAMD_REPORT, 1, &r);
    CU_ASSERT_EQUAL(strlen(r.report), SPAMD_REPORT_MAX - 1);
    CU_ASSERT_EQUAL(r.truncated, 1);
}

static void test_spamd_refusals_and_garbage_are_errors(void)
{
    struct spamd_result r;
    CU_ASSERT_EQUAL(spamd_says("SPAMD/1.0 76 Bad header line: x\r\n", SPAMD_CHECK, 0, &r), 1);
    CU_ASSERT_EQUAL(r.status, SPAMD_ERROR);
    CU_ASSERT_EQUAL(r.code, 76);
    CU_ASSERT_STRING_EQUAL(r.why, "spamd refused the request");
    /* not spamd at all: decided at once, without waiting for more */
    CU_ASSERT_EQUAL(spamd_says("HTTP/1.1 200 OK\r\n", SPAMD_CHECK, 0, &r), 1);
    CU_ASSERT_STRING_EQUAL(r.why, "unrecognised spamd reply");
    CU_ASSERT_EQUAL(spamd_parse_reply("\x00\xff", 2, SPAMD_CHECK, 0, &r), 1);
    CU_ASSERT_EQUAL(r.status, SPAMD_ERROR);
    CU_ASSERT_EQUAL(spamd_says("SPAMD/x 0 EX_OK\r\n\r\n", SPAMD_CHECK, 1, &r), 1);
    CU_ASSERT_STRING_EQUAL(r.why, "unrecognised spamd reply");
    CU_ASSERT_EQUAL(spamd_says("SPAMD/1.1 00000 EX_OK\r\n\r\n", SPAMD_CHECK, 1, &r), 1);
    CU_ASSERT_STRING_EQUAL(r.why, "unrecognised spamd reply");
    spamd_says("SPAMD/1.1 0 EX_OK\r\nContent-length: 0\r\n\r\n", SPAMD_CHECK, 1, &r);
    CU_ASSERT_STRING_EQUAL(r.why, "spamd reply without a Spam header");
    static const char *const bad[] = {
        "Spam: maybe ; 1 / 5", "Spam: True ; x / 5",       "Spam: True 1 / 5",
        "Spam: True ; 1 5",    "Spam: True ; 1 / 5 extra", "Spam: True ; 12345678901 / 5",
        "Spam: True ; 1 / ",   "Spam: True ; . / 5",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        char buf[200];
        snprintf(buf, sizeof(buf), "SPAMD/1.1 0 EX_OK\r\n%s\r\n\r\n", bad[i]);
        spamd_says(buf, SPAMD_CHECK, 1, &r);
        CU_ASSERT_EQUAL(r.status, SPAMD_ERROR);
        CU_ASSERT_STRING_EQUAL(r.why, "bad Spam header in spamd reply");
    }
    spamd_says("SPAMD/1.1 0 EX_OK\r\nContent-length: 1x\r\nSpam: True ; 1 / 5\r\n\r\n",
               SPAMD_SYMBOLS, 1, &r);
    CU_ASSERT_STRING_EQUAL(r.why, "bad Content-length in spamd reply");
}

/* ---- server lists ---- */

static void test_server_lists(void)
{
    struct netreq_servers s;
    char err[200];
    CU_ASSERT_EQUAL(netreq_parse_servers("unix:/run/clamav/clamd.ctl", &s, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(s.n, 1);
    CU_ASSERT_STRING_EQUAL(s.s[0].name, "unix:/run/clamav/clamd.ctl");
    CU_ASSERT_EQUAL(s.s[0].addr.ss_family, AF_UNIX);
    CU_ASSERT_EQUAL(netreq_parse_servers(" /run/s.sock,inet:127.0.0.1:3310  127.0.0.2:783 [::1]:10",
                                         &s, err, sizeof(err)),
                    0);
    CU_ASSERT_EQUAL(s.n, 4);
    CU_ASSERT_STRING_EQUAL(s.s[0].name, "unix:/run/s.sock");
    CU_ASSERT_STRING_EQUAL(s.s[1].name, "inet:127.0.0.1:3310");
    CU_ASSERT_STRING_EQUAL(s.s[2].name, "inet:127.0.0.2:783");
    CU_ASSERT_STRING_EQUAL(s.s[3].name, "inet:[::1]:10");
    CU_ASSERT_EQUAL(s.s[3].addr.ss_family, AF_INET6);
}

static void test_bad_server_lists_say_why(void)
{
    static const struct {
        const char *spec, *why;
    } bad[] = {
        {"", "no server given"},
        {" , ", "no server given"},
        {"unix:", "unix: without a socket path"},
        {"inet:::1:783",
         "bad server \"inet:::1:783\": unix:PATH, inet:HOST:PORT or [IPv6]:PORT expected"},
        {"[::1:783", "bad server \"[::1:783\": [IPv6]:PORT expected"},
        {"127.0.0.1:0", "bad port \"0\" (1-65535)"},
        {"127.0.0.1:65536", "bad port \"65536\" (1-65535)"},
        {"127.0.0.1:http", "bad port \"http\" (1-65535)"},
        {"127.0.0.1",
         "bad server \"127.0.0.1\": unix:PATH, inet:HOST:PORT or [IPv6]:PORT expected"},
        {"1:1 2:2 3:3 4:4 5:5 6:6 7:7 8:8 9:9", "more than 8 servers"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        struct netreq_servers s;
        char err[200] = "";
        CU_ASSERT_EQUAL(netreq_parse_servers(bad[i].spec, &s, err, sizeof(err)), -1);
        CU_ASSERT_STRING_EQUAL(err, bad[i].why);
    }
    char longpath[200] = "unix:/";
    memset(longpath + 6, 'p', 150);
    longpath[156] = '\0';
    struct netreq_servers s;
    char err[200] = "";
    CU_ASSERT_EQUAL(netreq_parse_servers(longpath, &s, err, sizeof(err)), -1);
    CU_ASSERT_TRUE(strncmp(err, "unix socket path longer than 107 bytes", 38) == 0);
}

/* ---- the transport, against in-process servers ---- */

enum fake_mode { FAKE_CLAMD, FAKE_SPAMD, FAKE_PIECES, FAKE_SILENT, FAKE_CLOSE, FAKE_FLOOD };

struct fake {
    enum fake_mode mode;
    int lfd;
    char path[200];
    pthread_t th;
    int joined;
    /* what the server saw */
    unsigned char msg[1 << 20];
    size_t msg_len;
    int framing_ok; /* INSTREAM: command, chunks, zero end, nothing else */
    size_t chunks;
    char head[512]; /* SPAMC: request line and headers */
};

/* read_full - exactly n bytes, or -1. */
static int read_full(int fd, void *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t k = read(fd, (char *)buf + got, n - got);
        if (k <= 0)
            return -1;
        got += (size_t)k;
    }
    return 0;
}

/* serve_instream - decode zINSTREAM as clamd does, keep the message. */
static void serve_instream(struct fake *f, int c)
{
    char cmd[10];
    f->framing_ok = 0;
    if (read_full(c, cmd, 10) < 0 || memcmp(cmd, "zINSTREAM", 10) != 0)
        return;
    for (;;) {
        unsigned char l[4];
        if (read_full(c, l, 4) < 0)
            return;
        size_t n = (size_t)l[0] << 24 | (size_t)l[1] << 16 | (size_t)l[2] << 8 | l[3];
        if (n == 0)
            break;
        if (n > CLAMD_CHUNK || f->msg_len + n > sizeof(f->msg) ||
            read_full(c, f->msg + f->msg_len, n) < 0)
            return;
        f->msg_len += n;
        f->chunks++;
    }
    f->framing_ok = 1;
    const char *reply =
        memmem(f->msg, f->msg_len, "VIRUS", 5) ? "stream: Fake.Virus FOUND" : "stream: OK";
    if (f->mode == FAKE_PIECES) { /* one byte at a time, NUL included */
        for (size_t i = 0; i <= strlen(reply); i++) {
            if (send(c, reply + i, 1, MSG_NOSIGNAL) != 1)
                return;
            usleep(2000);
        }
        return;
    }
    if (send(c, reply, strlen(reply) + 1, MSG_NOSIGNAL) < 0)
        return;
}

/* serve_spamc - read the request line, headers and Content-length bytes. */
static void serve_spamc(struct fake *f, int c)
{
    size_t n = 0;
    while (n < sizeof(f->head) - 1 && !strstr(f->head, "\r\n\r\n")) {
        if (read(c, f->head + n, 1) != 1)
            return;
        f->head[++n] = '\0';
    }
    const char *cl = strstr(f->head, "Content-length: ");
    size_t len = cl ? (size_t)strtoul(cl + 16, NULL, 10) : 0;
    if (len > sizeof(f->msg) || read_full(c, f->msg, len) < 0)
        return;
    f->msg_len = len;
    const char *reply =
        "SPAMD/1.1 0 EX_OK\r\nContent-length: 5\r\nSpam: True ; 6.5 / 5.0\r\n\r\nGTUBE";
    if (send(c, reply, strlen(reply), MSG_NOSIGNAL) < 0)
        return;
}

static void *fake_main(void *arg)
{
    struct fake *f = arg;
    int c = accept(f->lfd, NULL, NULL);
    if (c < 0)
        return NULL;
    switch (f->mode) {
    case FAKE_CLAMD:
        serve_instream(f, c);
        break;
    case FAKE_SPAMD:
        serve_spamc(f, c);
        break;
    case FAKE_PIECES: /* the answer one byte at a time */
        serve_instream(f, c);
        break;
    case FAKE_SILENT: /* reads everything, says nothing, until the client goes */
        while (read(c, f->msg, sizeof(f->msg)) > 0)
            ;
        break;
    case FAKE_CLOSE: /* hangs up at once */
        break;
    case FAKE_FLOOD: { /* an endless first line */
        char junk[4096];
        memset(junk, 'A', sizeof(junk));
        for (int i = 0; i < 64; i++)
            if (send(c, junk, sizeof(junk), MSG_NOSIGNAL) < 0)
                break;
        break;
    }
    }
    close(c);
    return NULL;
}

/* fake_start - a unix socket server in the test dir answering once. */
static struct fake *fake_start(enum fake_mode mode)
{
    static int n;
    struct fake *f = calloc(1, sizeof(*f));
    f->mode = mode;
    snprintf(f->path, sizeof(f->path), "%s/fake%d.sock", test_dir(), n++);
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    CU_ASSERT_FATAL(strlen(f->path) < sizeof(sun.sun_path));
    memcpy(sun.sun_path, f->path, strlen(f->path) + 1);
    f->lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    CU_ASSERT_FATAL(f->lfd >= 0);
    CU_ASSERT_FATAL(bind(f->lfd, (struct sockaddr *)&sun, sizeof(sun)) == 0);
    CU_ASSERT_FATAL(listen(f->lfd, 4) == 0);
    pthread_create(&f->th, NULL, fake_main, f);
    return f;
}

/* fake_join - wait until the server has answered (its fields are final). */
static void fake_join(struct fake *f)
{
    if (!f->joined)
        pthread_join(f->th, NULL);
    f->joined = 1;
}

static void fake_stop(struct fake *f)
{
    fake_join(f);
    close(f->lfd);
    unlink(f->path);
    free(f);
}

struct msg {
    const unsigned char *data;
    size_t len;
    size_t max_read; /* the reader gives at most this much at once */
    int fail_at;     /* -1, or fail when asked for this offset */
};

static ssize_t msg_read(void *ctx, uint64_t off, void *buf, size_t len)
{
    struct msg *m = ctx;
    if (m->fail_at >= 0 && off >= (uint64_t)m->fail_at)
        return -1;
    if (off >= m->len)
        return 0;
    if (len > m->len - off)
        len = m->len - (size_t)off;
    if (len > m->max_read)
        len = m->max_read;
    memcpy(buf, m->data + off, len);
    return (ssize_t)len;
}

/* clamd_scan_with - one scan of m through server spec; the result copied. */
static struct virus_result clamd_scan_with(const char *spec, struct msg *m, uint64_t size,
                                           unsigned timeout_ms, double *ms)
{
    char err[200];
    struct clamd_settings set = {.connect_ms = 500, .timeout_ms = timeout_ms};
    struct clamd *cd = clamd_new(spec, &set, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(cd);
    struct waiter *w = waiter_new();
    struct clamd_scan *s = clamd_scan_new();
    clamd_scan_start(s, cd, w, msg_read, m, size);
    struct virus_result r = *clamd_scan_collect(s);
    if (ms)
        *ms = clamd_scan_elapsed_ms(s);
    clamd_scan_free(s);
    waiter_free(w);
    clamd_free(cd);
    return r;
}

static unsigned char big[300000];

static void fill_big(void)
{
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (unsigned char)(i * 7 + i / 251);
}

static void test_instream_framing_carries_the_message_intact(void)
{
    fill_big();
    struct fake *f = fake_start(FAKE_CLAMD);
    char spec[256];
    snprintf(spec, sizeof(spec), "unix:%s", f->path);
    struct msg m = {big, sizeof(big), 777, -1}; /* the reader gives odd pieces */
    struct virus_result r = clamd_scan_with(spec, &m, sizeof(big), 5000, NULL);
    fake_join(f);
    CU_ASSERT_EQUAL(r.status, VIRUS_CLEAN);
    CU_ASSERT_EQUAL(f->framing_ok, 1);
    CU_ASSERT_EQUAL(f->msg_len, sizeof(big));
    CU_ASSERT_TRUE(memcmp(f->msg, big, sizeof(big)) == 0);
    CU_ASSERT_TRUE(f->chunks >= sizeof(big) / CLAMD_CHUNK);
    fake_stop(f);
}

static void test_instream_empty_message_is_just_the_end(void)
{
    struct fake *f = fake_start(FAKE_CLAMD);
    char spec[256];
    snprintf(spec, sizeof(spec), "unix:%s", f->path);
    struct msg m = {(const unsigned char *)"", 0, 100, -1};
    struct virus_result r = clamd_scan_with(spec, &m, 0, 5000, NULL);
    fake_join(f);
    CU_ASSERT_EQUAL(r.status, VIRUS_CLEAN);
    CU_ASSERT_EQUAL(f->framing_ok, 1);
    CU_ASSERT_EQUAL(f->chunks, 0);
    fake_stop(f);
}

static void test_reply_in_pieces_is_put_together(void)
{
    struct fake *f = fake_start(FAKE_PIECES);
    char spec[256];
    snprintf(spec, sizeof(spec), "unix:%s", f->path);
    const char *text = "VIRUS";
    struct msg m = {(const unsigned char *)text, 5, 100, -1};
    struct virus_result r = clamd_scan_with(spec, &m, 5, 5000, NULL);
    fake_stop(f);
    CU_ASSERT_EQUAL(r.status, VIRUS_INFECTED);
    CU_ASSERT_STRING_EQUAL(r.name, "Fake.Virus");
}

static void test_instream_detection_comes_back(void)
{
    struct fake *f = fake_start(FAKE_CLAMD);
    char spec[256];
    snprintf(spec, sizeof(spec), "unix:%s", f->path);
    const char *text = "a message with a VIRUS inside";
    struct msg m = {(const unsigned char *)text, strlen(text), 5, -1};
    struct virus_result r = clamd_scan_with(spec, &m, strlen(text), 5000, NULL);
    fake_stop(f);
    CU_ASSERT_EQUAL(r.status, VIRUS_INFECTED);
    CU_ASSERT_STRING_EQUAL(r.name, "Fake.Virus");
}

static void test_reader_failures_are_errors_never_clean(void)
{
    struct fake *f = fake_start(FAKE_CLAMD);
    char spec[256];
    snprintf(spec, sizeof(spec), "unix:%s", f->path);
    fill_big();
    struct msg m = {big, sizeof(big), 65536, 70000};
    struct virus_result r = clamd_scan_with(spec, &m, sizeof(big), 5000, NULL);
    fake_stop(f);
    CU_ASSERT_EQUAL(r.status, VIRUS_ERROR);
    CU_ASSERT_STRING_EQUAL(r.why, "cannot read the message");
    f = fake_start(FAKE_CLAMD);
    snprintf(spec, sizeof(spec), "unix:%s", f->path);
    struct msg shorter = {big, 1000, 65536, -1};
    r = clamd_scan_with(spec, &shorter, 5000, 5000, NULL); /* the size says more than there is */
    fake_stop(f);
    CU_ASSERT_EQUAL(r.status, VIRUS_ERROR);
    CU_ASSERT_STRING_EQUAL(r.why, "message shorter than its size");
}

static void test_silent_server_costs_the_timeout(void)
{
    struct fake *f = fake_start(FAKE_SILENT);
    char spec[256];
    snprintf(spec, sizeof(spec), "unix:%s", f->path);
    struct msg m = {(const unsigned char *)"hello", 5, 100, -1};
    double ms = 0;
    struct virus_result r = clamd_scan_with(spec, &m, 5, 300, &ms);
    fake_stop(f);
    CU_ASSERT_EQUAL(r.status, VIRUS_ERROR);
    CU_ASSERT_STRING_EQUAL(r.why, "timed out");
    CU_ASSERT_TRUE(ms >= 299 && ms < 1500);
}

static void test_hangup_without_reply_is_an_error(void)
{
    struct fake *f = fake_start(FAKE_CLOSE);
    char spec[256];
    snprintf(spec, sizeof(spec), "unix:%s", f->path);
    struct msg m = {(const unsigned char *)"hello", 5, 100, -1};
    struct virus_result r = clamd_scan_with(spec, &m, 5, 5000, NULL);
    fake_stop(f);
    CU_ASSERT_EQUAL(r.status, VIRUS_ERROR);
    CU_ASSERT_TRUE(strcmp(r.why, "connection closed without a reply") == 0 ||
                   strcmp(r.why, "connection reset") == 0);
}

static void test_endless_reply_is_bounded(void)
{
    struct fake *f = fake_start(FAKE_FLOOD);
    char spec[256];
    snprintf(spec, sizeof(spec), "unix:%s", f->path);
    struct msg m = {(const unsigned char *)"hello", 5, 100, -1};
    struct virus_result r = clamd_scan_with(spec, &m, 5, 5000, NULL);
    fake_stop(f);
    CU_ASSERT_EQUAL(r.status, VIRUS_ERROR);
    CU_ASSERT_STRING_EQUAL(r.why, "unrecognised clamd reply");
}

static void test_refused_servers_are_skipped_in_order(void)
{
    struct fake *f = fake_start(FAKE_CLAMD);
    char spec[600];
    snprintf(spec, sizeof(spec), "unix:%s/none.sock unix:%s", test_dir(), f->path);
    char err[200];
    struct clamd *cd = clamd_new(spec, NULL, err, sizeof(err));
    struct waiter *w = waiter_new();
    struct clamd_scan *s = clamd_scan_new();
    struct msg m = {(const unsigned char *)"hello", 5, 100, -1};
    clamd_scan_start(s, cd, w, msg_read, &m, 5);
    CU_ASSERT_EQUAL(clamd_scan_collect(s)->status, VIRUS_CLEAN);
    CU_ASSERT_STRING_EQUAL(clamd_scan_server(s), clamd_server_name(cd, 1));
    fake_stop(f);
    /* every server refused: an error naming the last reason */
    clamd_scan_start(s, cd, w, msg_read, &m, 5);
    CU_ASSERT_TRUE(clamd_scan_done(s));
    CU_ASSERT_EQUAL(clamd_scan_collect(s)->status, VIRUS_ERROR);
    CU_ASSERT_STRING_EQUAL(clamd_scan_collect(s)->why, "connection refused");
    clamd_scan_free(s);
    waiter_free(w);
    clamd_free(cd);
}

static void test_spamc_request_is_well_formed(void)
{
    struct fake *f = fake_start(FAKE_SPAMD);
    char spec[256], err[200];
    snprintf(spec, sizeof(spec), "unix:%s", f->path);
    struct spamd *sd = spamd_new(spec, NULL, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(sd);
    struct waiter *w = waiter_new();
    struct spamd_scan *s = spamd_scan_new();
    const char *text = "Subject: hi\r\n\r\nbody\r\n";
    struct msg m = {(const unsigned char *)text, strlen(text), 3, -1};
    spamd_scan_start(s, sd, w, SPAMD_SYMBOLS, "alice@example.test", msg_read, &m, strlen(text));
    const struct spamd_result *r = spamd_scan_collect(s);
    pthread_join(f->th, NULL);
    CU_ASSERT_EQUAL(r->status, SPAMD_SPAM);
    CU_ASSERT_DOUBLE_EQUAL(r->score, 6.5, 1e-9);
    CU_ASSERT_STRING_EQUAL(r->symbols, "GTUBE");
    char want[300];
    snprintf(want, sizeof(want),
             "SYMBOLS SPAMC/1.5\r\nContent-length: %zu\r\nUser: alice@example.test\r\n\r\n",
             strlen(text));
    CU_ASSERT_STRING_EQUAL(f->head, want);
    CU_ASSERT_EQUAL(f->msg_len, strlen(text));
    CU_ASSERT_TRUE(memcmp(f->msg, text, strlen(text)) == 0);
    spamd_scan_free(s);
    waiter_free(w);
    spamd_free(sd);
    close(f->lfd);
    unlink(f->path);
    free(f);
}

static void test_spamd_limits_and_users_need_no_server(void)
{
    char err[200];
    struct spamd_settings set = {.max_size = 10};
    struct spamd *sd = spamd_new("unix:/nonexistent/spamd.sock", &set, err, sizeof(err));
    struct waiter *w = waiter_new();
    struct spamd_scan *s = spamd_scan_new();
    struct msg m = {(const unsigned char *)"0123456789X", 11, 100, -1};
    spamd_scan_start(s, sd, w, SPAMD_CHECK, NULL, msg_read, &m, 11);
    CU_ASSERT_TRUE(spamd_scan_done(s));
    CU_ASSERT_EQUAL(spamd_scan_collect(s)->status, SPAMD_SKIPPED);
    for (const char *const *u = (const char *const[]){"a b", "a\r\nX-Evil: 1", "\x01", NULL}; *u;
         u++) {
        spamd_scan_start(s, sd, w, SPAMD_CHECK, *u, msg_read, &m, 5);
        CU_ASSERT_EQUAL(spamd_scan_collect(s)->status, SPAMD_ERROR);
        CU_ASSERT_STRING_EQUAL(spamd_scan_collect(s)->why, "bad spamd user name");
    }
    spamd_scan_start(s, sd, w, SPAMD_CHECK, "ok", msg_read, &m, 5);
    CU_ASSERT_STRING_EQUAL(spamd_scan_collect(s)->why, "connection refused");
    spamd_scan_free(s);
    waiter_free(w);
    spamd_free(sd);
    struct spamd *def = spamd_new("/x.sock", NULL, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL(def);
    spamd_free(def);
}

static void test_ping_wants_pong(void)
{
    struct fake *f = fake_start(FAKE_CLOSE);
    char spec[256], err[200];
    snprintf(spec, sizeof(spec), "unix:%s unix:%s/none.sock", f->path, test_dir());
    struct clamd *cd = clamd_new(spec, NULL, err, sizeof(err));
    const char *why;
    CU_ASSERT_EQUAL(clamd_ping(cd, 0, 1000, &why), -1);
    CU_ASSERT_TRUE(strcmp(why, "connection closed without a reply") == 0 ||
                   strcmp(why, "connection reset") == 0);
    CU_ASSERT_EQUAL(clamd_ping(cd, 1, 1000, &why), -1);
    CU_ASSERT_STRING_EQUAL(why, "connection refused");
    CU_ASSERT_EQUAL(clamd_ping(cd, 2, 1000, &why), -1);
    CU_ASSERT_STRING_EQUAL(why, "no such server");
    fake_stop(f);
    clamd_free(cd);
}

static void test_ping_of_a_silent_server_gives_up_at_its_timeout(void)
{
    struct fake *f = fake_start(FAKE_SILENT);
    char spec[256], err[200];
    snprintf(spec, sizeof(spec), "unix:%s", f->path);
    struct clamd *cd = clamd_new(spec, NULL, err, sizeof(err));
    const char *why;
    double t0 = waiter_now_ms();
    CU_ASSERT_EQUAL(clamd_ping(cd, 0, 300, &why), -1);
    double ms = waiter_now_ms() - t0;
    CU_ASSERT_STRING_EQUAL(why, "timed out");
    CU_ASSERT_TRUE(ms >= 299 && ms < 1500);
    clamd_free(cd);
    fake_stop(f);
}

/* ---- shared result ---- */

static void test_virus_names(void)
{
    struct virus_result r;
    virus_found(&r, "", 0);
    CU_ASSERT_EQUAL(r.status, VIRUS_INFECTED);
    CU_ASSERT_STRING_EQUAL(r.name, "?");
    virus_found(&r, "Heuristics.Encrypted.PDF", 24);
    CU_ASSERT_EQUAL(r.status, VIRUS_ENCRYPTED);
    virus_found(&r, "Heuristics.Encrypted", 20); /* no dot after: an ordinary name */
    CU_ASSERT_EQUAL(r.status, VIRUS_INFECTED);
    virus_set(&r, VIRUS_CLEAN, NULL);
    CU_ASSERT_STRING_EQUAL(r.name, "");
    CU_ASSERT_STRING_EQUAL(r.why, "");
    CU_ASSERT_STRING_EQUAL(virus_status_name(VIRUS_TOO_BIG), "too-big");
}

int suite_scanners(void)
{
    CU_pSuite s = CU_add_suite("scanners", NULL, NULL);
    if (!s)
        return -1;
    CU_ADD_TEST(s, test_clamd_ok_is_clean);
    CU_ADD_TEST(s, test_clamd_found_names_the_signature);
    CU_ADD_TEST(s, test_clamd_extended_info_is_cut_from_the_name);
    CU_ADD_TEST(s, test_clamd_encrypted_and_limits_are_their_own_results);
    CU_ADD_TEST(s, test_clamd_size_limit_is_too_big_not_an_error);
    CU_ADD_TEST(s, test_clamd_errors_and_garbage_are_errors);
    CU_ADD_TEST(s, test_clamd_only_the_first_line_counts);
    CU_ADD_TEST(s, test_clamd_names_are_sanitized_and_bounded);
    CU_ADD_TEST(s, test_clamd_pong);
    CU_ADD_TEST(s, test_spamd_check_reply);
    CU_ADD_TEST(s, test_spamd_ham_negative_and_integer_scores);
    CU_ADD_TEST(s, test_spamd_waits_for_a_whole_reply);
    CU_ADD_TEST(s, test_spamd_symbols_reply);
    CU_ADD_TEST(s, test_spamd_symbols_are_rule_names);
    CU_ADD_TEST(s, test_spamd_report_is_printable_lines);
    CU_ADD_TEST(s, test_spamd_refusals_and_garbage_are_errors);
    CU_ADD_TEST(s, test_server_lists);
    CU_ADD_TEST(s, test_bad_server_lists_say_why);
    CU_ADD_TEST(s, test_instream_framing_carries_the_message_intact);
    CU_ADD_TEST(s, test_instream_empty_message_is_just_the_end);
    CU_ADD_TEST(s, test_instream_detection_comes_back);
    CU_ADD_TEST(s, test_reply_in_pieces_is_put_together);
    CU_ADD_TEST(s, test_reader_failures_are_errors_never_clean);
    CU_ADD_TEST(s, test_silent_server_costs_the_timeout);
    CU_ADD_TEST(s, test_hangup_without_reply_is_an_error);
    CU_ADD_TEST(s, test_endless_reply_is_bounded);
    CU_ADD_TEST(s, test_refused_servers_are_skipped_in_order);
    CU_ADD_TEST(s, test_spamc_request_is_well_formed);
    CU_ADD_TEST(s, test_spamd_limits_and_users_need_no_server);
    CU_ADD_TEST(s, test_ping_wants_pong);
    CU_ADD_TEST(s, test_ping_of_a_silent_server_gives_up_at_its_timeout);
    CU_ADD_TEST(s, test_virus_names);
    return 0;
}
