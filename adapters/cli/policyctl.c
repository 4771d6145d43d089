/*
 * policyctl.c - the command line of libpolicy.  `policyctl check` runs one
 * SMTP session through the library, stage by stage, and prints what each
 * stage decided; the exit status says what would happen to the message.
 * `policyctl scan` runs message files through the content layers (the
 * virus layer alone, unless told otherwise), one line per file.
 * `policyctl train` and `classify` feed message files, directories,
 * Maildirs and mboxes to the built-in spam filter.
 * Policy lives in the library: this file only translates.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <libpolicy/policy.h>

#include "cli.h"
#include "stats.h"

#define EX_ACCEPTED 0
#define EX_REJECTED 1
#define EX_DEFERRED 2
#define EX_DISCARDED 3 /* accepted for the client, dropped ([virus] action = discard) */
#define EX_USAGE    64
#define EX_CONFIG   78
#define EX_DATAERR  65
#define EX_SOFTWARE 70
#define EX_TEMPFAIL 75

#define MAX_RCPTS  1000
#define BODY_CHUNK 65536

static const char usage_text[] =
    "usage: policyctl check [-c FILE] --ip IP [--host NAME] [--helo NAME] [--auth USER]\n"
    "                       [--early-talker] [--from ADDR] [--rcpt ADDR]... [--var NAME=VALUE]...\n"
    "                       [-v]\n"
    "                       [MESSAGE-FILE | -]\n"
    "       policyctl scan [-c FILE] [--ip IP] [--var NAME=VALUE]... [-v] FILE...\n"
    "       policyctl dkim sign [-c FILE] [--ip IP] [--var NAME=VALUE]... [-v] MESSAGE-FILE | -\n"
    "       policyctl dkim verify [-c FILE] [--ip IP] [--var NAME=VALUE]... [-v] MESSAGE-FILE | -\n"
    "       policyctl dkim keygen [-t rsa|ed25519] [-b BITS] [-o KEY-FILE] DOMAIN SELECTOR\n"
    "       policyctl makemap [-k] RECIPIENTS.TXT MAP.CDB\n"
    "       policyctl train -c FILE [--all] [-v] {--ham|--spam [--list FILE] [PATH...]}...\n"
    "       policyctl classify -c FILE [--list FILE] [PATH...]\n"
    "       policyctl stats [--since TIME] [--top N] [--html FILE] [LOGFILE...]\n"
    "       policyctl stats -c FILE --store [--since TIME] [--top N] [--html FILE]\n"
    "       policyctl version\n"
    "       policyctl help\n";

struct check_opts {
    const char *config, *ip, *host, *helo, *auth, *from, *message;
    const char *rcpts[MAX_RCPTS];
    size_t nrcpts;
    struct cli_vars vars;
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

/* print_edit - "edit KIND Name: value"; a change or a deletion of another
 * than the first header of its name says which ("Name #2"). */
static void print_edit(const policy_edit *ed)
{
    static const char *const kinds[] = {"add", "change", "insert", "delete"};
    const char *kind = (unsigned)ed->kind < 4 ? kinds[ed->kind] : "?";
    printf("edit\t%s\t%s", kind, ed->name);
    if (ed->index > 1)
        printf(" #%u", ed->index);
    if (ed->kind == POLICY_EDIT_DELETE_HEADER)
        putchar('\n');
    else
        printf(": %s\n", ed->value);
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
            print_edit(&ed[i]);
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
        policy_engine_set_log(e, cli_log_to_stderr, NULL);
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
    const char *bad = cli_vars_apply(s, &o->vars);
    if (bad) {
        fprintf(stderr, "policyctl: invalid variable %s\n", bad);
        status = EX_USAGE;
        goto out;
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
        if (a == POLICY_DISCARD)
            status = EX_DISCARDED;
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
    const char *why;

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
            if ((why = cli_vars_add(&o.vars, optarg)))
                return usage(why);
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

/* going - the conversation goes on after a. */
static int going(policy_action a)
{
    return a == POLICY_CONTINUE || a == POLICY_ACCEPT;
}

/* scan_session - a session for scan: the virus layer alone, on the content
 * stages (as policy-queue runs them), then the --var given; NULL when out
 * of memory or a --var is refused. */
static policy_session *scan_session(policy_engine *e, const char *ip, const struct cli_vars *vars)
{
    policy_session *s = policy_session_new(e, ip, NULL);
    int bad = !s || policy_session_setvar(s, "POLICY_STAGES", "content") != 0 ||
              policy_session_setvar(s, "POLICY_LAYERS", "virus") != 0 ||
              cli_vars_apply(s, vars) != NULL;
    if (bad) {
        policy_session_free(s);
        return NULL;
    }
    return s;
}

/* scan_one - one message file through the content stages; prints the file
 * name and the last reply, returns the last action. */
static policy_action scan_one(policy_engine *e, const char *ip, const struct cli_vars *vars,
                              const char *path)
{
    static char chunk[BODY_CHUNK];
    FILE *fp = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    policy_session *s = fp ? scan_session(e, ip, vars) : NULL;
    const char *why = !fp ? strerror(errno) : !s ? "out of memory or an invalid --var" : NULL;
    policy_action a = POLICY_TEMPFAIL;
    if (s) {
        a = policy_connect(s);
        if (going(a))
            a = policy_mail(s, "");
        if (going(a))
            a = policy_rcpt(s, "postmaster");
        if (going(a))
            a = policy_data(s);
        size_t got;
        while (going(a) && (got = fread(chunk, 1, sizeof(chunk), fp)) > 0)
            a = policy_message(s, chunk, got);
        if (going(a) && ferror(fp)) {
            why = strerror(errno);
            a = POLICY_TEMPFAIL;
        } else if (going(a)) {
            a = policy_eom(s);
        }
    }
    if (why) {
        printf("%s\terror\t0\t-\t-\t%s\n", path, why);
    } else {
        const policy_reply *r = policy_last_reply(s);
        printf("%s\t%s\t%d\t", path, policy_action_name(a), r->code);
        field(r->xcode);
        putchar('\t');
        field(r->layer);
        putchar('\t');
        field(r->text);
        putchar('\n');
    }
    fflush(stdout);
    policy_session_free(s);
    if (fp && fp != stdin)
        fclose(fp);
    return a;
}

/* cmd_scan - each file a message; exit 2 when one could not be checked,
 * else 1 when one was refused (or discarded), else 0. */
static int cmd_scan(int argc, char **argv)
{
    static const struct option longopts[] = {{"config", required_argument, NULL, 'c'},
                                             {"ip", required_argument, NULL, 'i'},
                                             {"var", required_argument, NULL, 'V'},
                                             {"verbose", no_argument, NULL, 'v'},
                                             {NULL, 0, NULL, 0}};
    const char *config = NULL, *ip = "127.0.0.1";
    struct cli_vars vars = {0};
    const char *why;
    int verbose = 0, c;
    char err[1024];

    optind = 1;
    while ((c = getopt_long(argc, argv, "+c:v", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config = optarg;
            break;
        case 'i':
            ip = optarg;
            break;
        case 'v':
            verbose = 1;
            break;
        case 'V':
            if ((why = cli_vars_add(&vars, optarg)))
                return usage(why);
            break;
        default:
            return usage(NULL);
        }
    }
    if (optind == argc)
        return usage("scan needs at least one message file");
    policy_engine *e = policy_engine_open(config, err, sizeof(err));
    if (!e) {
        fprintf(stderr, "policyctl: %s\n", err);
        return EX_CONFIG;
    }
    if (verbose)
        policy_engine_set_log(e, cli_log_to_stderr, NULL);
    int refusals = 0, failures = 0;
    for (int i = optind; i < argc; i++) {
        policy_action a = scan_one(e, ip, &vars, argv[i]);
        if (a == POLICY_REJECT || a == POLICY_DISCARD)
            refusals++;
        else if (a != POLICY_CONTINUE && a != POLICY_ACCEPT)
            failures++;
    }
    policy_engine_unref(e);
    return failures ? EX_DEFERRED : refusals ? EX_REJECTED : EX_ACCEPTED;
}
/* cmd_dkim - "dkim sign|verify|keygen" (dkim.c). */
int cmd_dkim(int argc, char **argv);

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

/* ------------------------------------------------------------ spam: train, classify */

#define SPAM_FILE_MAX (64u << 20) /* a message bigger than this is skipped */

/* One message found under the paths given: a file, or a slice of an mbox. */
struct spam_msg {
    char *path;
    off_t off;    /* mbox: where the message starts (after its From_ line) */
    size_t len;   /* its bytes; for a file, its size when found */
    unsigned idx; /* mbox: 1, 2, ... (0: a file of its own) */
    int label;    /* train: 1 spam, 0 ham */
};

struct spam_msgs {
    struct spam_msg *m;
    size_t n, cap;
};

/* What to do with each message, and what came of it. */
struct spam_run {
    policy_spam *sp;
    int train, verbose;
    unsigned flags;
    unsigned long n, counts[2][4], unreadable;
    int store_failed;
    char *buf;
    size_t bufcap;
};

static int msgs_add(struct spam_msgs *v, const char *path, off_t off, size_t len, unsigned idx,
                    int label)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 1024;
        struct spam_msg *m = realloc(v->m, cap * sizeof(*m));
        if (!m)
            return -1;
        v->m = m;
        v->cap = cap;
    }
    char *p = strdup(path);
    if (!p)
        return -1;
    v->m[v->n++] = (struct spam_msg){p, off, len, idx, label};
    return 0;
}

static void msgs_free(struct spam_msgs *v)
{
    for (size_t i = 0; i < v->n; i++)
        free(v->m[i].path);
    free(v->m);
}

/* find_mbox - the messages of an mbox: they start after "From " lines that
 * begin the file or follow an empty line.  A file holding one message (a
 * message saved with its From_ line) is that message, not an mbox of one. */
static int find_mbox(struct spam_msgs *v, const char *path, FILE *fp, int label)
{
    char *line = NULL;
    size_t cap = 0, first = v->n;
    ssize_t n;
    unsigned idx = 0;
    off_t pos = 0, start = 0;
    int blank = 1, rc = 0;
    while ((n = getline(&line, &cap, fp)) >= 0) {
        if (n >= 5 && blank && !strncmp(line, "From ", 5)) {
            if (idx && msgs_add(v, path, start, (size_t)(pos - start), idx, label) < 0) {
                rc = -1;
                break;
            }
            idx++;
            start = pos + n;
        }
        blank = n == 1 || (n == 2 && line[0] == '\r');
        pos += n;
    }
    if (rc == 0 && idx && msgs_add(v, path, start, (size_t)(pos - start), idx, label) < 0)
        rc = -1;
    free(line);
    if (rc == 0 && v->n == first + 1)
        v->m[first].idx = 0; /* one message: named as its file */
    return rc;
}

/* find_file - a message file, or an mbox (it starts with "From "). */
static int find_file(struct spam_run *r, struct spam_msgs *v, const char *path, int label)
{
    FILE *fp = fopen(path, "rb");
    struct stat sb;
    char head[5];
    if (!fp || fstat(fileno(fp), &sb) != 0) {
        fprintf(stderr, "policyctl: %s: %s\n", path, strerror(errno));
        r->unreadable++;
        if (fp)
            fclose(fp);
        return 0;
    }
    int rc;
    if (fread(head, 1, sizeof(head), fp) == 5 && !memcmp(head, "From ", 5)) {
        rewind(fp);
        rc = find_mbox(v, path, fp, label);
    } else {
        rc = msgs_add(v, path, 0, (size_t)sb.st_size, 0, label);
    }
    fclose(fp);
    return rc;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* find_dir - the files of a directory, in name order (dot files skipped). */
static int find_dir(struct spam_run *r, struct spam_msgs *v, const char *dir, int label)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    if (!d) {
        fprintf(stderr, "policyctl: %s: %s\n", dir, strerror(errno));
        r->unreadable++;
        return 0;
    }
    while (rc == 0 && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        size_t len = strlen(dir) + strlen(de->d_name) + 2;
        char **nn = n < cap ? names : realloc(names, (cap = cap ? cap * 2 : 256) * sizeof(*nn));
        if (!nn || !(nn[n] = malloc(len))) {
            if (nn)
                names = nn;
            rc = -1;
            break;
        }
        names = nn;
        snprintf(names[n++], len, "%s/%s", dir, de->d_name);
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof(*names), name_cmp);
    for (size_t i = 0; i < n; i++) {
        struct stat sb;
        if (rc == 0 && stat(names[i], &sb) == 0 && S_ISREG(sb.st_mode))
            rc = find_file(r, v, names[i], label);
        free(names[i]);
    }
    free(names);
    return rc;
}

/* find_path - a message file, an mbox, a Maildir (cur, then new) or a
 * directory of message files.  0, or -1 out of memory. */
static int find_path(struct spam_run *r, struct spam_msgs *v, const char *path, int label)
{
    struct stat sb;
    char sub[4200];
    if (stat(path, &sb) != 0) {
        fprintf(stderr, "policyctl: %s: %s\n", path, strerror(errno));
        r->unreadable++;
        return 0;
    }
    if (!S_ISDIR(sb.st_mode))
        return find_file(r, v, path, label);
    int maildir = 0, rc = 0;
    static const char *const subs[] = {"cur", "new"};
    for (int i = 0; i < 2 && rc == 0; i++) {
        snprintf(sub, sizeof(sub), "%s/%s", path, subs[i]);
        if (stat(sub, &sb) == 0 && S_ISDIR(sb.st_mode)) {
            maildir = 1;
            rc = find_dir(r, v, sub, label);
        }
    }
    return maildir ? rc : find_dir(r, v, path, label);
}

/* find_list - the paths of a list file, one a line ("-": standard input).
 * 0, -1 out of memory, -2 the list cannot be read. */
static int find_list(struct spam_run *r, struct spam_msgs *v, const char *list, int label)
{
    FILE *fp = strcmp(list, "-") ? fopen(list, "r") : stdin;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int rc = 0;
    if (!fp) {
        fprintf(stderr, "policyctl: %s: %s\n", list, strerror(errno));
        return -2;
    }
    while (rc == 0 && (n = getline(&line, &cap, fp)) >= 0) {
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (n && line[0] != '#')
            rc = find_path(r, v, line, label);
    }
    free(line);
    if (fp != stdin)
        fclose(fp);
    return rc;
}

/* print_name - a message's name on a line of its own: no tabs or line breaks. */
static void print_name(const struct spam_msg *m)
{
    for (const char *p = m->path; *p; p++)
        putchar(*p == '\t' || *p == '\n' || *p == '\r' ? '?' : *p);
    if (m->idx)
        printf(":%u", m->idx);
}

/* read_msg - the message's bytes into r->buf; the length, or -1 (said why). */
static ssize_t read_msg(struct spam_run *r, const struct spam_msg *m)
{
    FILE *fp = fopen(m->path, "rb");
    struct stat sb;
    size_t len = m->len;
    if (!fp || fstat(fileno(fp), &sb) != 0) {
        fprintf(stderr, "policyctl: %s: %s\n", m->path, strerror(errno));
        if (fp)
            fclose(fp);
        return -1;
    }
    if (!m->idx && m->off == 0)
        len = (size_t)sb.st_size; /* it may have changed since */
    if (len > SPAM_FILE_MAX) {
        fprintf(stderr, "policyctl: %s: larger than %u bytes, skipped\n", m->path, SPAM_FILE_MAX);
        fclose(fp);
        return -1;
    }
    if (len + 1 > r->bufcap) {
        char *b = realloc(r->buf, len + 1);
        if (!b) {
            fclose(fp);
            fprintf(stderr, "policyctl: out of memory\n");
            return -1;
        }
        r->buf = b;
        r->bufcap = len + 1;
    }
    size_t got = fseeko(fp, m->off, SEEK_SET) == 0 ? fread(r->buf, 1, len, fp) : 0;
    int bad = ferror(fp) || got != len;
    fclose(fp);
    if (bad) {
        fprintf(stderr, "policyctl: %s: cannot read the message\n", m->path);
        return -1;
    }
    if (m->idx || m->off) { /* out of an mbox: ">From " lines lose one '>' */
        size_t k = 0;
        for (size_t i = 0; i < len;) {
            size_t q = i;
            while (q < len && r->buf[q] == '>')
                q++;
            if (q > i && len - q >= 5 && !memcmp(r->buf + q, "From ", 5))
                i++;
            while (i < len && r->buf[i] != '\n')
                r->buf[k++] = r->buf[i++];
            if (i < len)
                r->buf[k++] = r->buf[i++];
        }
        len = k;
    }
    return (ssize_t)len;
}

/* spam_one - train or classify one message; 0, or -1 when the store failed. */
static int spam_one(struct spam_run *r, const struct spam_msg *m)
{
    static const char *const what_name[] = {"learned", "corrected", "known", "skipped"};
    double score;
    int spam;
    policy_spam_trained what;
    ssize_t len = read_msg(r, m);
    if (len < 0) {
        r->unreadable++;
        return 0;
    }
    if (r->train ? policy_spam_train(r->sp, r->buf, (size_t)len, m->label, r->flags, &what)
                 : policy_spam_classify(r->sp, r->buf, (size_t)len, &score, &spam)) {
        print_name(m);
        fflush(stdout);
        fprintf(stderr, ": policyctl: %s\n", policy_spam_error(r->sp));
        r->store_failed = 1;
        return -1;
    }
    r->n++;
    if (r->train) {
        r->counts[m->label][what]++;
        if (r->verbose) {
            print_name(m);
            printf("\t%s\t%s\n", m->label ? "spam" : "ham", what_name[what]);
        }
    } else {
        print_name(m);
        printf("\t%.6f\t%s\n", score, spam ? "spam" : "ham");
    }
    return 0;
}

/* spam_interleave - the order to train in: spam and ham (each in the order
 * found) mixed in proportion, so that neither class comes all at once to a
 * filter that learns online. */
static void spam_interleave(const struct spam_msgs *v, size_t *order)
{
    size_t ns = 0, nh = 0, is = 0, ih = 0, k = 0;
    for (size_t i = 0; i < v->n; i++)
        v->m[i].label ? ns++ : nh++;
    size_t ps = 0, ph = 0; /* the next of each class in v */
    while (k < v->n) {
        int spam = is < ns && (ih >= nh || (is + 1) * nh <= (ih + 1) * ns);
        size_t *p = spam ? &ps : &ph;
        while (v->m[*p].label != spam)
            (*p)++;
        order[k++] = (*p)++;
        spam ? is++ : ih++;
    }
}

/* cmd_spam - train (train != 0) or classify the messages the arguments
 * name.  For train, --ham and --spam set the label of the paths and
 * lists that follow them. */
static int cmd_spam(int argc, char **argv, int train)
{
    enum { O_HAM = 256, O_SPAM, O_LIST, O_ALL };
    static const struct option longopts[] = {{"config", required_argument, NULL, 'c'},
                                             {"ham", no_argument, NULL, O_HAM},
                                             {"spam", no_argument, NULL, O_SPAM},
                                             {"list", required_argument, NULL, O_LIST},
                                             {"all", no_argument, NULL, O_ALL},
                                             {"verbose", no_argument, NULL, 'v'},
                                             {NULL, 0, NULL, 0}};
    const char *config = NULL;
    struct spam_run r = {0};
    struct spam_msgs v = {0};
    int label = -1, c, rc = 0, labels = 0;
    char err[1024];

    optind = 1;
    /* "-": paths come back in their place among the options (code 1) */
    while (rc == 0 && (c = getopt_long(argc, argv, "-c:v", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config = optarg;
            break;
        case 'v':
            r.verbose = 1;
            break;
        case O_HAM:
        case O_SPAM:
            if (!train)
                return usage("--ham and --spam are for train");
            label = c == O_SPAM;
            labels |= 1 << label;
            break;
        case O_ALL:
            if (!train)
                return usage("--all is for train");
            r.flags |= POLICY_SPAM_TRAIN_ALL;
            break;
        case O_LIST:
        case 1:
            if (train && label < 0)
                return usage("train: --ham or --spam before the messages");
            rc = c == 1 ? find_path(&r, &v, optarg, label) : find_list(&r, &v, optarg, label);
            break;
        default:
            msgs_free(&v);
            return usage(NULL);
        }
    }
    if (rc == 0 && !config)
        rc = -3;
    if (rc == 0 && !v.n && !r.unreadable)
        rc = -4;
    if (rc < 0) {
        msgs_free(&v);
        return rc == -1   ? (fprintf(stderr, "policyctl: out of memory\n"), EX_SOFTWARE)
               : rc == -2 ? EX_USAGE
               : rc == -3 ? usage("-c FILE is required")
                          : usage("no message to read: give paths or --list");
    }
    policy_engine *e = policy_engine_open(config, err, sizeof(err));
    if (e && r.verbose)
        policy_engine_set_log(e, cli_log_to_stderr, NULL);
    r.sp = e ? policy_spam_open(e, train ? POLICY_SPAM_BULK : 0, err, sizeof(err)) : NULL;
    policy_engine_unref(e);
    size_t *order = malloc((v.n ? v.n : 1) * sizeof(*order));
    if (!r.sp || !order) {
        fprintf(stderr, "policyctl: %s\n", !order ? "out of memory" : err);
        policy_spam_close(r.sp);
        msgs_free(&v);
        free(order);
        return order ? EX_CONFIG : EX_SOFTWARE;
    }
    r.train = train;
    for (size_t i = 0; i < v.n; i++)
        order[i] = i;
    if (labels == 3)
        spam_interleave(&v, order);
    for (size_t i = 0; i < v.n && rc == 0; i++)
        rc = spam_one(&r, &v.m[order[i]]);
    if (policy_spam_flush(r.sp) != 0) {
        fprintf(stderr, "policyctl: %s\n", policy_spam_error(r.sp));
        r.store_failed = 1;
    }
    policy_spam_close(r.sp);
    free(order);
    msgs_free(&v);
    free(r.buf);
    for (int l = 1; train && l >= 0; l--)
        if (labels & (1 << l)) {
            unsigned long *k = r.counts[l];
            unsigned long n = k[0] + k[1] + k[2] + k[3];
            printf("%s: %lu message%s: %lu learned, %lu corrected, %lu known already, %lu "
                   "skipped (classified right)\n",
                   l ? "spam" : "ham", n, n == 1 ? "" : "s", k[0], k[1], k[2], k[3]);
        }
    if (fflush(stdout) != 0)
        return EX_SOFTWARE;
    if (r.store_failed)
        return EX_TEMPFAIL;
    return r.unreadable ? EX_DATAERR : 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage("no command");
    if (!strcmp(argv[1], "check"))
        return cmd_check(argc - 1, argv + 1);
    if (!strcmp(argv[1], "dkim"))
        return cmd_dkim(argc - 1, argv + 1);
    if (!strcmp(argv[1], "makemap"))
        return cmd_makemap(argc - 1, argv + 1);
    if (!strcmp(argv[1], "scan"))
        return cmd_scan(argc - 1, argv + 1);
    if (!strcmp(argv[1], "train"))
        return cmd_spam(argc - 1, argv + 1, 1);
    if (!strcmp(argv[1], "classify"))
        return cmd_spam(argc - 1, argv + 1, 0);
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
