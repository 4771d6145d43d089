/*
 * bench_dkim.c - DKIM signatures and verifications per second of CPU on
 * one core (2048-bit RSA), through the library (a session per connection,
 * the message through policy_message as policy-queue gives it), beside
 * libopendkim called directly on the same message with the same key: the
 * anchor, the floor of what the library adds.  The library's verification
 * asks the key of the test DNS server (tests/bench/dkim.sh starts it); the
 * anchor gets the key from a callback.  Thread CPU time, not wall time:
 * the machine is shared, and a DNS round trip is not CPU.
 *
 * usage: bench_dkim CONF KEY.pem SELECTOR DOMAIN SECONDS
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <opendkim/dkim.h>

#include "libpolicy/policy.h"

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *slurp(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    char *buf = malloc(1 << 20);
    size_t n = buf ? fread(buf, 1, (1 << 20) - 1, fp) : 0;
    fclose(fp);
    if (buf)
        buf[n] = '\0';
    return buf;
}

/* A 1.5 KB message, CRLF, as a customer sends it. */
static char msg[4096];
static size_t msglen;

static void make_message(const char *domain)
{
    int n = snprintf(msg, sizeof(msg),
                     "From: Alice <alice@%s>\r\nTo: Bob <bob@example.net>\r\nSubject: the quarterly "
                     "figures\r\nDate: Mon, 2 Nov 2026 10:00:00 +0000\r\nMessage-ID: "
                     "<1234.5678@%s>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; "
                     "charset=utf-8\r\n\r\n",
                     domain, domain);
    while (n < 1500)
        n += snprintf(msg + n, sizeof(msg) - (size_t)n,
                      "Line %d of the body, with some words that make it a plain letter.\r\n", n);
    msglen = (size_t)n;
}

/* ---- the anchor: libopendkim by hand */

static const char *anchor_key_record;

static DKIM_CBSTAT anchor_key(DKIM *dkim, DKIM_SIGINFO *sig, u_char *buf, size_t len)
{
    (void)dkim;
    (void)sig;
    snprintf((char *)buf, len, "%s", anchor_key_record);
    return DKIM_CBSTAT_CONTINUE;
}

/* raw_sign - one signature; the header into hdr (NULL: not kept). */
static int raw_sign(DKIM_LIB *lib, const char *key, const char *sel, const char *dom, char *hdr,
                    size_t hlen)
{
    DKIM_STAT st;
    DKIM *d = dkim_sign(lib, (u_char *)"bench", NULL, (dkim_sigkey_t)key, (u_char *)sel,
                        (u_char *)dom, DKIM_CANON_RELAXED, DKIM_CANON_RELAXED, DKIM_SIGN_RSASHA256,
                        -1, &st);
    u_char *h;
    size_t hl;
    int ok = d && dkim_chunk(d, (u_char *)msg, msglen) == DKIM_STAT_OK &&
             dkim_chunk(d, NULL, 0) == DKIM_STAT_OK && dkim_eom(d, NULL) == DKIM_STAT_OK &&
             dkim_getsighdr_d(d, 16, &h, &hl) == DKIM_STAT_OK;
    if (ok && hdr)
        snprintf(hdr, hlen, "DKIM-Signature: %s\r\n", (char *)h);
    if (d)
        dkim_free(d);
    return ok;
}

static int raw_verify(DKIM_LIB *lib, const char *signed_msg, size_t len)
{
    DKIM_STAT st;
    DKIM *d = dkim_verify(lib, (u_char *)"bench", NULL, &st);
    int ok = d && dkim_chunk(d, (u_char *)signed_msg, len) == DKIM_STAT_OK &&
             dkim_chunk(d, NULL, 0) == DKIM_STAT_OK && dkim_eom(d, NULL) == DKIM_STAT_OK;
    if (d)
        dkim_free(d);
    return ok;
}

/* ---- the library: a session per connection, ten messages each */

static int session_messages(policy_engine *e, const char *ip, int customer, const char *m,
                            size_t len, int n, int *signed_or_passed)
{
    policy_session *s = policy_session_new(e, ip, NULL);
    if (!s)
        return -1;
    if (customer)
        policy_session_setvar(s, "RELAYCLIENT", "");
    policy_session_keep_message(s);
    if (policy_connect(s) != POLICY_CONTINUE) {
        policy_session_free(s);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        if (policy_mail(s, "alice@example.test") != POLICY_CONTINUE ||
            policy_rcpt(s, "bob@example.net") != POLICY_CONTINUE || policy_data(s) != POLICY_CONTINUE ||
            policy_message(s, m, len) != POLICY_CONTINUE || policy_eom(s) != POLICY_CONTINUE) {
            policy_session_free(s);
            return -1;
        }
        const policy_edit *ed;
        size_t ne = policy_edits(s, &ed);
        for (size_t k = 0; k < ne; k++)
            if ((customer && !strcmp(ed[k].name, "DKIM-Signature")) ||
                (!customer && !strcmp(ed[k].name, "Authentication-Results") &&
                 strstr(ed[k].value, "dkim=pass")))
                (*signed_or_passed)++;
        policy_reset(s);
    }
    policy_session_free(s);
    return 0;
}

/* measure - runs of f until seconds of CPU; per second. */
#define MEASURE(label, seconds, body)                                                              \
    do {                                                                                           \
        long n_ = 0, max_ = count ? count : -1;                                                    \
        double t0_ = cpu_now(), t_;                                                                \
        do {                                                                                       \
            body;                                                                                  \
            n_++;                                                                                  \
        } while ((t_ = cpu_now() - t0_) < (seconds) && n_ != max_);                                \
        rate = n_ / t_;                                                                            \
        (void)label;                                                                               \
    } while (0)

/* BENCH_COUNT=N: exactly N runs of each (for callgrind's instruction counts) */
static long count;

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: bench_dkim CONF KEY.pem SELECTOR DOMAIN SECONDS\n");
        return 64;
    }
    const char *conf = argv[1], *sel = argv[3], *dom = argv[4];
    double secs = atof(argv[5]);
    char *key = slurp(argv[2]), err[512], hdr[2048];
    char *rec = getenv("BENCH_KEY_RECORD");
    if (!key || !rec) {
        fprintf(stderr, "bench_dkim: no key (or BENCH_KEY_RECORD unset)\n");
        return 1;
    }
    anchor_key_record = rec;
    make_message(dom);
    policy_engine *e = policy_engine_open(conf, err, sizeof(err));
    DKIM_LIB *lib = dkim_init(NULL, NULL);
    if (!e || !lib) {
        fprintf(stderr, "bench_dkim: %s\n", e ? "dkim_init failed" : err);
        return 1;
    }
    uint32_t flags = DKIM_LIBFLAGS_FIXCRLF;
    dkim_options(lib, DKIM_OP_SETOPT, DKIM_OPTS_FLAGS, &flags, sizeof(flags));
    dkim_set_key_lookup(lib, anchor_key);
    if (!raw_sign(lib, key, sel, dom, hdr, sizeof(hdr))) {
        fprintf(stderr, "bench_dkim: libopendkim cannot sign\n");
        return 1;
    }
    static char smsg[8192];
    size_t slen = (size_t)snprintf(smsg, sizeof(smsg), "%s%s", hdr, msg);
    if (!raw_verify(lib, smsg, slen)) {
        fprintf(stderr, "bench_dkim: libopendkim does not verify its own signature\n");
        return 1;
    }
    double rate = 0, r_sign = 0, r_vfy = 0, l_sign = 0, l_vfy = 0;
    int good = 0, signed_ok = 0;
    /* BENCH_ONLY=raw-sign|raw-verify|sign|verify: one of them (for a profiler) */
    const char *only = getenv("BENCH_ONLY");
    count = getenv("BENCH_COUNT") ? atol(getenv("BENCH_COUNT")) : 0;
    if (count)
        secs = 1e9;
#define RUN(name) (!only || !strcmp(only, name))
    if (RUN("raw-sign")) {
        MEASURE("raw sign", secs, raw_sign(lib, key, sel, dom, NULL, 0));
        r_sign = rate;
    }
    if (RUN("raw-verify")) {
        MEASURE("raw verify", secs, raw_verify(lib, smsg, slen));
        r_vfy = rate;
    }
    /* the library: 10 messages per connection; the rate is per message */
    if (RUN("sign")) {
        MEASURE("lib sign", secs, session_messages(e, "127.0.0.1", 1, msg, msglen, 10, &good));
        l_sign = rate * 10;
        signed_ok = good;
    }
    good = 0;
    if (RUN("verify")) {
        MEASURE("lib verify", secs, session_messages(e, "192.0.2.1", 0, smsg, slen, 10, &good));
        l_vfy = rate * 10;
    }
    printf("DKIM in the library, 2048-bit RSA, %zu-byte message, CPU seconds of one thread (%.0f s each):\n",
           msglen, secs);
    printf("  %-44s %10s %10s %7s\n", "", "ours/s", "anchor/s", "ratio");
    printf("  %-44s %10.0f %10.0f %7.2f\n", "sign (session + message + eom) / dkim_sign", l_sign,
           r_sign, l_sign / r_sign);
    printf("  %-44s %10.0f %10.0f %7.2f\n", "verify (incl. key by DNS) / dkim_verify", l_vfy, r_vfy,
           l_vfy / r_vfy);
    if (!only && (!signed_ok || !good))
        printf("  WARNING: signed %d, verified %d (expected > 0)\n", signed_ok, good);
    dkim_close(lib);
    policy_engine_unref(e);
    free(key);
    return 0;
}
