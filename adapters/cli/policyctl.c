/*
 * policyctl.c - the command line of libpolicy.  `policyctl check` runs one
 * SMTP session through the library, stage by stage, and prints what each
 * stage decided; the exit status says what would happen to the message.
 * Policy lives in the library: this file only translates.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpolicy/policy.h>

#include "stats.h"

#define EX_ACCEPTED 0
#define EX_REJECTED 1
#define EX_DEFERRED 2
#define EX_USAGE    64
#define EX_CONFIG   78
#define EX_DATAERR  65
#define EX_SOFTWARE 70

#define MAX_RCPTS  1000
#define MAX_VARS   64
#define BODY_CHUNK 65536

static const char usage_text[] =
    "usage: policyctl check [-c FILE] --ip IP [--host NAME] [--helo NAME] [--auth USER]\n"
    "                       [--early-talker] [--from ADDR] [--rcpt ADDR]... [--var NAME=VALUE]...\n"
    "                       [-v]\n"
    "                       [MESSAGE-FILE | -]\n"
    "       policyctl makemap [-k] RECIPIENTS.TXT MAP.CDB\n"
    "       policyctl stats [--since TIME] [--top N] [--html FILE] [LOGFILE...]\n"
    "       policyctl stats -c FILE --store [--since TIME] [--top N] [--html FILE]\n"
    "       policyctl version\n"
    "       policyctl help\n";

struct check_opts {
    const char *config, *ip, *host, *helo, *auth, *from, *message;
    const char *rcpts[MAX_RCPTS];
    size_t nrcpts;
    char *vars[MAX_VARS];
    size_t nvars;
    int verbose;
    int early_talker;
};

static int usage(const char *why)
{
    if (why)
        fprintf(stderr, "policyctl: %s\n", why);
    fputs(usage_text, stderr);
    return EX_USAGE;
}

/* field - a reply field for the output line: "-" when empty, tabs made spaces. */
static void field(const char *s)
{
    if (!s || !*s) {
        fputs("-", stdout);
        return;
    }
    for (; *s; s++)
        putchar(*s == '\t' ? ' ' : *s);
}

/* report - print the line of one stage: stage action code xcode layer text. */
static policy_action report(const char *stage, policy_session *s, policy_action a)
{
    const policy_reply *r = policy_last_reply(s);
    printf("%s\t%s\t%d\t", stage, policy_action_name(a), r->code);
    field(r->xcode);
    putchar('\t');
    field(r->layer);
    putchar('\t');
    field(r->text);
    putchar('\n');
    return a;
}

static void log_to_stderr(int level, const char *line, void *ctx)
{
    (void)ctx;
    fprintf(stderr, "policyctl: log<%d>: %s\n", level, line);
}

/* refused - an action that ends what the client tried. */
static int refused(policy_action a)
{
    return a == POLICY_TEMPFAIL || a == POLICY_REJECT || a == POLICY_DISCONNECT;
}

static int exit_for(policy_action a)
{
    return a == POLICY_TEMPFAIL ? EX_DEFERRED : EX_REJECTED;
}

/* A reply kept for printing later (its strings are the session's until
 * the next call). */
struct kept_reply {
    policy_action a;
    int code;
    char xcode[16], layer[64], text[512];
};

static void keep_reply(struct kept_reply *k, policy_session *s, policy_action a)
{
    const policy_reply *r = policy_last_reply(s);
    k->a = a;
    k->code = r->code;
    snprintf(k->xcode, sizeof(k->xcode), "%s", r->xcode ? r->xcode : "");
    snprintf(k->layer, sizeof(k->layer), "%s", r->layer ? r->layer : "");
    snprintf(k->text, sizeof(k->text), "%s", r->text ? r->text : "");
}

static void print_kept(const char *stage, const struct kept_reply *k)
{
    printf("%s\t%s\t%d\t", stage, policy_action_name(k->a), k->code);
    field(k->xcode);
    putchar('\t');
    field(k->layer);
    putchar('\t');
    field(k->text);
    putchar('\n');
}

/* run_message - data, the message as the file holds it (the library splits
 * the header block), eom; one line for the headers (the last header's
 * reply) and one for the body.  Returns the last action. */
static policy_action run_message(policy_session *s, FILE *fp)
{
    policy_action a = report("data", s, policy_data(s));
    static char chunk[BODY_CHUNK];
    struct kept_reply header = {0}, body = {0};
    int in_body = 0, saw_header = 0, saw_body = 0;
    size_t got;

    if (refused(a))
        return a;
    while (!refused(a) && (got = fread(chunk, 1, sizeof(chunk), fp)) > 0) {
        /* while the header block lasts, a line at a time: the header line
         * printed is the reply of the stage that saw the last header */
        for (size_t off = 0; off < got && !refused(a);) {
            size_t n = got - off;
            if (!in_body) {
                const char *nl = memchr(chunk + off, '\n', n);
                if (nl)
                    n = (size_t)(nl - (chunk + off)) + 1;
            }
            a = policy_message(s, chunk + off, n);
            off += n;
            if (policy_last_stage(s) == POLICY_STAGE_HEADER) {
                keep_reply(&header, s, a);
                saw_header = 1;
            } else {
                keep_reply(&body, s, a);
                saw_body = in_body = 1;
            }
        }
    }
    if (saw_header)
        print_kept("header", &header);
    if (saw_body)
        print_kept("body", &body);
    if (refused(a))
        return a;
    if (ferror(fp)) {
        fprintf(stderr, "policyctl: cannot read the message: %s\n", strerror(errno));
        return POLICY_TEMPFAIL;
    }
    a = report("eom", s, policy_eom(s));
    if (!refused(a)) {
        const policy_edit *ed;
        size_t ne = policy_edits(s, &ed);
        for (size_t i = 0; i < ne; i++)
            printf("edit\t%s\t%s: %s\n", ed[i].kind == POLICY_EDIT_ADD_HEADER ? "add" : "change",
                   ed[i].name, ed[i].value);
    }
    return a;
}

/* run_check - one session, every stage the options give. */
static int run_check(const struct check_opts *o)
{
    char err[1024];
    policy_engine *e = policy_engine_open(o->config, err, sizeof(err));
    policy_session *s;
    policy_action a;
    int status = EX_ACCEPTED;
    FILE *msg = NULL;

    if (!e) {
        fprintf(stderr, "policyctl: %s\n", err);
        return EX_CONFIG;
    }
    if (o->verbose)
        policy_engine_set_log(e, log_to_stderr, NULL);
    if (o->message) {
        msg = strcmp(o->message, "-") ? fopen(o->message, "rb") : stdin;
        if (!msg) {
            fprintf(stderr, "policyctl: %s: %s\n", o->message, strerror(errno));
            policy_engine_unref(e);
            return EX_USAGE;
        }
    }
    s = policy_session_new(e, o->ip, o->host);
    if (!s) {
        fprintf(stderr, "policyctl: out of memory\n");
        policy_engine_unref(e);
        return EX_SOFTWARE;
    }
    /* tcp.smtp first, as tcpserver would; then --var, so a tester can override */
    policy_session_tcprules(s, NULL);
    for (size_t i = 0; i < o->nvars; i++) {
        char *eq = strchr(o->vars[i], '=');
        *eq = '\0';
        if (policy_session_setvar(s, o->vars[i], eq + 1) != 0) {
            fprintf(stderr, "policyctl: invalid variable %s\n", o->vars[i]);
            status = EX_USAGE;
            goto out;
        }
    }

    a = report("connect", s, policy_connect(s));
    if (refused(a))
        goto refused;
    unsigned long delay = policy_greeting_delay(s);
    if (delay)
        printf("greet\tcontinue\t0\t-\tbotnet\tgreeting delayed %lums\n", delay);
    if (o->early_talker && refused(a = report("early", s, policy_early_talker(s))))
        goto refused;
    if (o->helo && refused(a = report("helo", s, policy_helo(s, o->helo))))
        goto refused;
    if (o->auth && refused(a = report("auth", s, policy_auth(s, o->auth))))
        goto refused;
    if (!o->from)
        goto out;
    if (refused(a = report("mail", s, policy_mail(s, o->from))))
        goto refused;

    size_t accepted = 0;
    policy_action last = POLICY_CONTINUE;
    for (size_t i = 0; i < o->nrcpts; i++) {
        last = report("rcpt", s, policy_rcpt(s, o->rcpts[i]));
        if (last == POLICY_DISCONNECT) {
            a = last;
            goto refused;
        }
        if (!refused(last))
            accepted++;
    }
    if (o->nrcpts && !accepted) {
        status = exit_for(last);
        goto out;
    }
    if (msg && accepted) {
        a = run_message(s, msg);
        if (refused(a))
            goto refused;
    }
    policy_reset(s);
    goto out;
refused:
    status = exit_for(a);
out:
    if (msg && msg != stdin)
        fclose(msg);
    policy_session_free(s);
    policy_engine_unref(e);
    return status;
}

static int cmd_check(int argc, char **argv)
{
    enum { O_IP = 256, O_HOST, O_HELO, O_AUTH, O_FROM, O_RCPT, O_VAR, O_EARLY };
    static const struct option longopts[] = {{"config", required_argument, NULL, 'c'},
                                             {"ip", required_argument, NULL, O_IP},
                                             {"host", required_argument, NULL, O_HOST},
                                             {"helo", required_argument, NULL, O_HELO},
                                             {"auth", required_argument, NULL, O_AUTH},
                                             {"from", required_argument, NULL, O_FROM},
                                             {"rcpt", required_argument, NULL, O_RCPT},
                                             {"var", required_argument, NULL, O_VAR},
                                             {"verbose", no_argument, NULL, 'v'},
                                             {"early-talker", no_argument, NULL, O_EARLY},
                                             {NULL, 0, NULL, 0}};
    struct check_opts o;
    int c;

    memset(&o, 0, sizeof(o));
    optind = 1;
    while ((c = getopt_long(argc, argv, "+c:v", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            o.config = optarg;
            break;
        case 'v':
            o.verbose = 1;
            break;
        case O_EARLY:
            o.early_talker = 1;
            break;
        case O_IP:
            o.ip = optarg;
            break;
        case O_HOST:
            o.host = optarg;
            break;
        case O_HELO:
            o.helo = optarg;
            break;
        case O_AUTH:
            o.auth = optarg;
            break;
        case O_FROM:
            o.from = optarg;
            break;
        case O_RCPT:
            if (o.nrcpts == MAX_RCPTS)
                return usage("too many --rcpt");
            o.rcpts[o.nrcpts++] = optarg;
            break;
        case O_VAR:
            if (o.nvars == MAX_VARS)
                return usage("too many --var");
            if (!strchr(optarg, '=') || optarg[0] == '=')
                return usage("--var takes NAME=VALUE");
            o.vars[o.nvars++] = optarg;
            break;
        default:
            return usage(NULL);
        }
    }
    if (!o.ip)
        return usage("--ip is required");
    if (optind < argc)
        o.message = argv[optind++];
    if (optind < argc)
        return usage("more than one message file");
    if (o.nrcpts && !o.from)
        return usage("--rcpt needs --from");
    if (o.message && !o.nrcpts)
        return usage("a message needs --from and --rcpt");
    return run_check(&o);
}

/* cmd_makemap - recipients.txt -> recipients.cdb, atomically (temp + rename). */
static int cmd_makemap(int argc, char **argv)
{
    static const struct option longopts[] = {{"case-sensitive", no_argument, NULL, 'k'},
                                             {NULL, 0, NULL, 0}};
    unsigned flags = 0;
    char err[1024];
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "+k", longopts, NULL)) != -1) {
        if (c != 'k')
            return usage(NULL);
        flags |= POLICY_MAP_CASE_SENSITIVE;
    }
    if (argc - optind != 2)
        return usage("makemap takes an input and an output file");
    if (policy_makemap_recipients(argv[optind], argv[optind + 1], flags, err, sizeof(err)) != 0) {
        fprintf(stderr, "policyctl: %s\n", err);
        return EX_DATAERR;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage("no command");
    if (!strcmp(argv[1], "check"))
        return cmd_check(argc - 1, argv + 1);
    if (!strcmp(argv[1], "makemap"))
        return cmd_makemap(argc - 1, argv + 1);
    if (!strcmp(argv[1], "stats"))
        return cmd_stats(argc - 1, argv + 1);
    if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version")) {
        printf("policyctl (libpolicy %s)\n", policy_version());
        return 0;
    }
    if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(usage_text, stdout);
        return 0;
    }
    return usage("unknown command");
}
