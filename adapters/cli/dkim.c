/*
 * dkim.c - "policyctl dkim": sign or verify one message file with the
 * [dkim] layer of a configuration, as policy-queue would (the message
 * through the library, the signed message written from the session's
 * spool), and make a key pair with the DNS record that publishes it.
 * Policy lives in the library: this file only drives a session.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <libpolicy/policy.h>

#include "cli.h"

#define EX_OK       0
#define EX_FAIL     1
#define EX_DEFERRED 2
#define EX_USAGE    64
#define EX_DATAERR  65
#define EX_NOINPUT  66
#define EX_SOFTWARE 70
#define EX_CANTCREAT 73
#define EX_CONFIG   78

static const char dkim_usage[] =
    "usage: policyctl dkim sign [-c FILE] [--ip IP] [--var NAME=VALUE]... [-v] MESSAGE-FILE | -\n"
    "       policyctl dkim verify [-c FILE] [--ip IP] [--var NAME=VALUE]... [-v] MESSAGE-FILE | -\n"
    "       policyctl dkim keygen [-t rsa|ed25519] [-b BITS] [-o KEY-FILE] DOMAIN SELECTOR\n";

static int usage(const char *why)
{
    if (why)
        fprintf(stderr, "policyctl: %s\n", why);
    fputs(dkim_usage, stderr);
    return EX_USAGE;
}

struct run {
    const char *config, *ip, *file;
    struct cli_vars vars;
    int verbose, sign;
};

/* refused - say what the library refused with, on standard error. */
static int refused(policy_session *s, const char *what, policy_action a)
{
    const policy_reply *r = policy_last_reply(s);
    fprintf(stderr, "policyctl: %s: %s %d %s %s\n", what, policy_action_name(a), r->code,
            r->xcode ? r->xcode : "", r->text ? r->text : "");
    return a == POLICY_REJECT ? EX_FAIL : EX_DEFERRED;
}

/* dkim_results_pass - every dkim= result of our Authentication-Results
 * value is pass, and there is one at least (we write one result a line). */
static int dkim_results_pass(const char *v)
{
    int n = 0;
    for (const char *line = v; line && *line;) {
        line += strspn(line, " \t\r\n;");
        if (!strncmp(line, "dkim=", 5)) {
            const char *res = line + 5;
            size_t len = strcspn(res, " \t\r\n;(");
            if (len != 4 || strncmp(res, "pass", 4) != 0)
                return 0;
            n++;
        }
        line = strchr(line, '\n');
    }
    return n > 0;
}

/* run_dkim - the message through the [dkim] layer alone: signed as a
 * customer's (RELAYCLIENT) or verified as an outside client's. */
static int run_dkim(const struct run *o)
{
    char err[1024];
    int status = EX_SOFTWARE;
    policy_engine *e = policy_engine_open(o->config, err, sizeof(err));
    if (!e) {
        fprintf(stderr, "policyctl: %s\n", err);
        return EX_CONFIG;
    }
    if (o->verbose)
        policy_engine_set_log(e, cli_log_to_stderr, NULL);
    FILE *fp = strcmp(o->file, "-") ? fopen(o->file, "rb") : stdin;
    if (!fp) {
        fprintf(stderr, "policyctl: %s: %s\n", o->file, strerror(errno));
        policy_engine_unref(e);
        return EX_NOINPUT;
    }
    policy_session *s = policy_session_new(e, o->ip ? o->ip : o->sign ? "127.0.0.1" : "192.0.2.1", NULL);
    if (!s)
        goto out;
    /* the dkim layer alone, on even when the file has no [dkim] section */
    if (policy_session_setvar(s, "POLICY_LAYERS", "dkim") || policy_session_setvar(s, "POLICY_DKIM", "reject") ||
        (o->sign && policy_session_setvar(s, "RELAYCLIENT", "")))
        goto out;
    const char *bad = cli_vars_apply(s, &o->vars);
    if (bad) {
        fprintf(stderr, "policyctl: invalid variable %s\n", bad);
        status = EX_USAGE;
        goto out;
    }
    policy_session_keep_message(s);
    policy_action a = policy_connect(s);
    if (a == POLICY_CONTINUE)
        a = policy_mail(s, "");
    if (a == POLICY_CONTINUE)
        a = policy_rcpt(s, "postmaster");
    if (a == POLICY_CONTINUE)
        a = policy_data(s);
    static char chunk[65536];
    size_t got;
    while (a == POLICY_CONTINUE && (got = fread(chunk, 1, sizeof(chunk), fp)) > 0)
        a = policy_message(s, chunk, got);
    if (a == POLICY_CONTINUE && ferror(fp)) {
        fprintf(stderr, "policyctl: cannot read %s: %s\n", o->file, strerror(errno));
        status = EX_NOINPUT;
        goto out;
    }
    if (a == POLICY_CONTINUE)
        a = policy_eom(s);
    const policy_edit *ed;
    size_t ne = policy_edits(s, &ed);
    if (o->sign) {
        if (a != POLICY_CONTINUE && a != POLICY_ACCEPT) {
            status = refused(s, "not signed", a);
            goto out;
        }
        size_t i = 0;
        while (i < ne && !(ed[i].kind == POLICY_EDIT_INSERT_HEADER && !strcmp(ed[i].name, "DKIM-Signature")))
            i++;
        if (i == ne) {
            fprintf(stderr, "policyctl: not signed: no key for this message (see -v)\n");
            status = EX_FAIL;
            goto out;
        }
        status = policy_message_write(s, 1) == 0 ? EX_OK : EX_SOFTWARE;
        if (status)
            fprintf(stderr, "policyctl: cannot write the message: %s\n", strerror(errno));
        goto out;
    }
    const char *ar = NULL;
    for (size_t i = 0; i < ne; i++)
        if (ed[i].kind == POLICY_EDIT_INSERT_HEADER && !strcmp(ed[i].name, "Authentication-Results"))
            ar = ed[i].value;
    if (!ar) {
        status = a == POLICY_CONTINUE || a == POLICY_ACCEPT ? EX_SOFTWARE : refused(s, "not verified", a);
        if (status == EX_SOFTWARE)
            fprintf(stderr, "policyctl: no Authentication-Results (is the message empty?)\n");
        goto out;
    }
    printf("%s\n", ar);
    if (a != POLICY_CONTINUE && a != POLICY_ACCEPT)
        (void)refused(s, "the configuration refuses it", a);
    status = dkim_results_pass(ar) ? EX_OK : EX_FAIL;
out:
    if (status == EX_SOFTWARE && !s)
        fprintf(stderr, "policyctl: out of memory\n");
    if (fp != stdin)
        fclose(fp);
    policy_session_free(s);
    policy_engine_unref(e);
    return status;
}

static int cmd_run(int argc, char **argv, int sign)
{
    enum { O_IP = 256, O_VAR };
    static const struct option longopts[] = {{"config", required_argument, NULL, 'c'},
                                             {"ip", required_argument, NULL, O_IP},
                                             {"var", required_argument, NULL, O_VAR},
                                             {"verbose", no_argument, NULL, 'v'},
                                             {NULL, 0, NULL, 0}};
    struct run o;
    int c;
    const char *why;
    memset(&o, 0, sizeof(o));
    o.sign = sign;
    optind = 1;
    while ((c = getopt_long(argc, argv, "+c:v", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            o.config = optarg;
            break;
        case 'v':
            o.verbose = 1;
            break;
        case O_IP:
            o.ip = optarg;
            break;
        case O_VAR:
            if ((why = cli_vars_add(&o.vars, optarg)))
                return usage(why);
            break;
        default:
            return usage(NULL);
        }
    }
    if (argc - optind != 1)
        return usage("one message file (or -)");
    o.file = argv[optind];
    return run_dkim(&o);
}

/* b64 - base64 of n bytes into a malloc'd string. */
static char *b64(const unsigned char *p, size_t n)
{
    char *out = malloc(4 * ((n + 2) / 3) + 1);
    if (out)
        EVP_EncodeBlock((unsigned char *)out, p, (int)n);
    return out;
}

/* cmd_keygen - a private key (PEM, mode 0600) and the TXT record of its
 * public half, as a zone file line, in strings of at most 250 bytes. */
static int cmd_keygen(int argc, char **argv)
{
    const char *type = "rsa", *out = NULL;
    unsigned long bits = 2048;
    int c;
    optind = 1;
    while ((c = getopt(argc, argv, "+t:b:o:")) != -1) {
        char *end;
        switch (c) {
        case 't':
            type = optarg;
            break;
        case 'b':
            bits = strtoul(optarg, &end, 10);
            if (*end || bits < 1024 || bits > 8192)
                return usage("-b takes 1024 to 8192");
            break;
        case 'o':
            out = optarg;
            break;
        default:
            return usage(NULL);
        }
    }
    if (argc - optind != 2)
        return usage("keygen takes a domain and a selector");
    const char *domain = argv[optind], *selector = argv[optind + 1];
    int ed = !strcmp(type, "ed25519");
    if (!ed && strcmp(type, "rsa"))
        return usage("-t takes rsa or ed25519");
    if (!*selector || strchr(selector, '/') || !*domain || strchr(domain, '/'))
        return usage("a selector and a domain are names, not paths");
    if (!out)
        out = selector; /* qmail-dk: the key file's name is the selector */
    EVP_PKEY *k = ed ? EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")
                     : EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits);
    if (!k) {
        fprintf(stderr, "policyctl: cannot make a key\n");
        return EX_SOFTWARE;
    }
    int fd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    FILE *fp = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!fp) {
        fprintf(stderr, "policyctl: %s: %s\n", out, strerror(errno));
        if (fd >= 0)
            close(fd);
        EVP_PKEY_free(k);
        return EX_CANTCREAT;
    }
    int ok = PEM_write_PrivateKey(fp, k, NULL, NULL, 0, NULL, NULL) == 1;
    ok = fclose(fp) == 0 && ok;
    /* p=: the SubjectPublicKeyInfo for RSA, the raw 32 bytes for Ed25519 (RFC 8463) */
    unsigned char raw[64], *der = NULL;
    size_t rawlen = sizeof(raw);
    int derlen = 0;
    char *p = NULL;
    if (ed && EVP_PKEY_get_raw_public_key(k, raw, &rawlen) == 1)
        p = b64(raw, rawlen);
    else if (!ed && (derlen = i2d_PUBKEY(k, &der)) > 0)
        p = b64(der, (size_t)derlen);
    OPENSSL_free(der);
    EVP_PKEY_free(k);
    if (!ok || !p) {
        fprintf(stderr, "policyctl: cannot write the key to %s\n", out);
        free(p);
        unlink(out);
        return EX_CANTCREAT;
    }
    printf("%s._domainkey.%s. IN TXT ( \"v=DKIM1; k=%s; \"", selector, domain, ed ? "ed25519" : "rsa");
    size_t len = strlen(p);
    for (size_t off = 0; off < len; off += 250)
        printf("\n\t\"%s%.*s\"", off ? "" : "p=", (int)(len - off < 250 ? len - off : 250), p + off);
    printf(" )\n");
    fprintf(stderr, "policyctl: private key written to %s\n", out);
    free(p);
    return EX_OK;
}

int cmd_dkim(int argc, char **argv)
{
    if (argc < 2)
        return usage("dkim takes sign, verify or keygen");
    if (!strcmp(argv[1], "sign"))
        return cmd_run(argc - 1, argv + 1, 1);
    if (!strcmp(argv[1], "verify"))
        return cmd_run(argc - 1, argv + 1, 0);
    if (!strcmp(argv[1], "keygen"))
        return cmd_keygen(argc - 1, argv + 1);
    return usage("dkim takes sign, verify or keygen");
}
