/*
 * test_recipients.c - layer 3 through the public API: unknown local
 * recipients refused at RCPT from each source (cdb map, vpopmail tree,
 * qmail users/cdb), aliases, lists, catch-alls and extensions accepted, the
 * RCPT and wrong-RCPT limits exact and per session, and the map compiler's
 * refusals named by file and line.
 */
#include <CUnit/CUnit.h>
#include <cdb.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helpers.h"
#include "core.h"
#include "recipmap.h"
#include "suites.h"

static char err[1024];
static char conf[4096];

static const char recipients_txt[] =
    "# the valid recipients of example.test\n"
    "joe@example.test\n"
    "Mary.Jane@Example.TEST   # a comment\n"
    "\"john doe\"@example.test\n"
    "sales@example.test: joe@example.test, mary.jane@example.test\n"
    "list@example.test: :include:/etc/lists/list\n"
    "  \n"
    "@catchall.test\n";

/* map - build recipients.txt text into NAME.cdb; returns the cdb path. */
static const char *map(const char *name, const char *text, unsigned flags)
{
    static char out[8][512];
    static int next;
    char txt[128];
    char *o = out[next++ % 8];
    snprintf(txt, sizeof(txt), "%s.txt", name);
    const char *in = test_write(txt, text);
    snprintf(o, 512, "%s/%s.cdb", test_dir(), name);
    if (policy_makemap_recipients(in, o, flags, err, sizeof(err)) != 0)
        fprintf(stderr, "\n  makemap: %s\n", err);
    return o;
}

static policy_engine *engine(const char *text)
{
    policy_engine *e = test_engine(text, err, sizeof(err));
    if (!e)
        fprintf(stderr, "\n  engine: %s\n", err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    test_log_clear();
    test_log_attach(e);
    return e;
}

/* map_engine - local domains example.test and catchall.test and other.test,
 * the standard map, and extra keys for [recipients]. */
static policy_engine *map_engine(const char *extra)
{
    const char *m = map("std", recipients_txt, 0);
    snprintf(conf, sizeof(conf),
             "[customers]\nlocal_domains = example.test catchall.test other.test\n"
             "[recipients]\nmap = %s\n%s",
             m, extra);
    return engine(conf);
}

static policy_session *session(policy_engine *e, const char *ip)
{
    policy_session *s = policy_session_new(e, ip, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    policy_connect(s);
    policy_helo(s, "client.example");
    policy_mail(s, "<sender@client.example>");
    return s;
}

/* rcpt - one RCPT in a fresh session from a stranger: the reply code. */
static int rcpt(policy_engine *e, const char *to)
{
    policy_session *s = session(e, "192.0.2.1");
    policy_rcpt(s, to);
    int code = policy_last_reply(s)->code;
    policy_session_free(s);
    return code;
}

static void test_unknown_local_recipient_is_rejected_with_chkusers_text(void)
{
    policy_engine *e = map_engine("");
    policy_session *s = session(e, "192.0.2.1");
    CU_ASSERT_EQUAL(policy_rcpt(s, "<nobody@example.test>"), POLICY_REJECT);
    const policy_reply *r = policy_last_reply(s);
    CU_ASSERT_EQUAL(r->code, 550);
    CU_ASSERT_STRING_EQUAL(r->xcode, "5.1.1");
    CU_ASSERT_STRING_EQUAL(r->text, "sorry, no mailbox here by that name");
    CU_ASSERT_STRING_EQUAL(r->layer, "recipients");
    CU_ASSERT_EQUAL(policy_rcpt(s, "<joe@example.test>"), POLICY_CONTINUE);
    policy_session_free(s);
    policy_engine_unref(e);
}

static void test_known_aliases_lists_and_catchalls_are_accepted(void)
{
    policy_engine *e = map_engine("");
    CU_ASSERT_EQUAL(rcpt(e, "<joe@example.test>"), 250);
    CU_ASSERT_EQUAL(rcpt(e, "<sales@example.test>"), 250);
    CU_ASSERT_EQUAL(rcpt(e, "<list@example.test>"), 250);
    CU_ASSERT_EQUAL(rcpt(e, "<\"john doe\"@example.test>"), 250);
    CU_ASSERT_EQUAL(rcpt(e, "<anything@catchall.test>"), 250);
    CU_ASSERT_EQUAL(rcpt(e, "<john@example.test>"), 550);
    policy_engine_unref(e);
}

static void test_domains_are_case_insensitive_and_local_parts_folded(void)
{
    policy_engine *e = map_engine("");
    CU_ASSERT_EQUAL(rcpt(e, "<JOE@EXAMPLE.TEST>"), 250);
    CU_ASSERT_EQUAL(rcpt(e, "<mary.jane@example.test.>"), 250);
    CU_ASSERT_EQUAL(rcpt(e, "<MARY.JANE@example.test>"), 250);
    policy_engine_unref(e);
}

static void test_case_sensitive_map_needs_fold_case_no(void)
{
    const char *m = map("case", "Joe@example.test\n", POLICY_MAP_CASE_SENSITIVE);
    snprintf(conf, sizeof(conf),
             "[customers]\nlocal_domains = example.test\n[recipients]\nmap = %s\n", m);
    CU_ASSERT_PTR_NULL(test_engine(conf, err, sizeof(err)));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "fold_case"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "[recipients] map"));

    snprintf(conf, sizeof(conf),
             "[customers]\nlocal_domains = example.test\n[recipients]\nfold_case = no\nmap = %s\n",
             m);
    policy_engine *e = engine(conf);
    CU_ASSERT_EQUAL(rcpt(e, "<Joe@EXAMPLE.test>"), 250);
    CU_ASSERT_EQUAL(rcpt(e, "<joe@example.test>"), 550);
    policy_engine_unref(e);
}

static void test_extensions_reach_the_user_with_either_separator(void)
{
    policy_engine *e = map_engine("");
    CU_ASSERT_EQUAL(rcpt(e, "<joe-news@example.test>"), 250);
    CU_ASSERT_EQUAL(rcpt(e, "<joe+news@example.test>"), 250);
    CU_ASSERT_EQUAL(rcpt(e, "<joe-a-b-c@example.test>"), 250);
    CU_ASSERT_EQUAL(rcpt(e, "<sales-2026@example.test>"), 250);
    CU_ASSERT_EQUAL(rcpt(e, "<-joe@example.test>"), 550);
    CU_ASSERT_EQUAL(rcpt(e, "<joex@example.test>"), 550);
    policy_engine_unref(e);

    e = map_engine("extension_separator = +\n");
    CU_ASSERT_EQUAL(rcpt(e, "<joe+news@example.test>"), 250);
    CU_ASSERT_EQUAL(rcpt(e, "<joe-news@example.test>"), 550);
    policy_engine_unref(e);

    e = map_engine("extension_separator = none\n");
    CU_ASSERT_EQUAL(rcpt(e, "<joe+news@example.test>"), 550);
    policy_engine_unref(e);
}

static void test_postmaster_is_always_accepted(void)
{
    policy_engine *e = map_engine("wrongrcpt_limit = 1\n");
    CU_ASSERT_EQUAL(rcpt(e, "<postmaster@example.test>"), 250);
    CU_ASSERT_EQUAL(rcpt(e, "<PostMaster@other.test>"), 250);
    CU_ASSERT_EQUAL(rcpt(e, "<postmaster>"), 250);
    /* even from a session already marked as a mail bomb */
    policy_session *s = session(e, "192.0.2.1");
    CU_ASSERT_EQUAL(policy_rcpt(s, "<x1@example.test>"), POLICY_REJECT);
    CU_ASSERT_EQUAL(policy_rcpt(s, "<joe@example.test>"), POLICY_REJECT);
    CU_ASSERT_EQUAL(policy_rcpt(s, "<postmaster@example.test>"), POLICY_CONTINUE);
    policy_session_free(s);
    policy_engine_unref(e);
}

static void test_remote_domains_are_the_relay_rules_business(void)
{
    policy_engine *e = map_engine("");
    policy_session *s = session(e, "127.0.0.1"); /* trusted: a customer */
    CU_ASSERT_EQUAL(policy_rcpt(s, "<nobody@remote.example>"), POLICY_CONTINUE);
    policy_session_free(s);
    s = session(e, "192.0.2.1");
    CU_ASSERT_EQUAL(policy_rcpt(s, "<nobody@remote.example>"), POLICY_REJECT);
    CU_ASSERT_STRING_EQUAL(policy_last_reply(s)->layer, "customers");
    policy_session_free(s);
    policy_engine_unref(e);
}

static void test_local_domain_in_no_source_is_not_checked(void)
{
    policy_engine *e = map_engine("");
    CU_ASSERT_EQUAL(rcpt(e, "<anyone@other.test>"), 250);
    policy_engine_unref(e);
}

static void test_rcpt_limit_is_exact_and_survives_rset(void)
{
    policy_engine *e = map_engine("rcpt_limit = 3\n");
    policy_session *s = session(e, "192.0.2.1");
    CU_ASSERT_EQUAL(policy_rcpt(s, "<joe@example.test>"), POLICY_CONTINUE);
    CU_ASSERT_EQUAL(policy_rcpt(s, "<sales@example.test>"), POLICY_CONTINUE);
    policy_reset(s); /* RSET: chkuser counts per session */
    policy_mail(s, "<sender@client.example>");
    CU_ASSERT_EQUAL(policy_rcpt(s, "<list@example.test>"), POLICY_CONTINUE);
    CU_ASSERT_EQUAL(policy_rcpt(s, "<joe@example.test>"), POLICY_TEMPFAIL);
    const policy_reply *r = policy_last_reply(s);
    CU_ASSERT_EQUAL(r->code, 452);
    CU_ASSERT_STRING_EQUAL(r->xcode, "4.5.3");
    CU_ASSERT_EQUAL(policy_rcpt(s, "<joe@example.test>"), POLICY_TEMPFAIL);
    policy_session_free(s);
    policy_engine_unref(e);
}

static void test_wrongrcpt_limit_marks_a_mail_bomb(void)
{
    policy_engine *e = map_engine("wrongrcpt_limit = 2\n");
    policy_session *s = session(e, "192.0.2.1");
    CU_ASSERT_EQUAL(policy_rcpt(s, "<joe@example.test>"), POLICY_CONTINUE);
    CU_ASSERT_EQUAL(policy_rcpt(s, "<x1@example.test>"), POLICY_REJECT);
    CU_ASSERT_STRING_EQUAL(policy_last_reply(s)->xcode, "5.1.1");
    policy_reset(s);
    policy_mail(s, "<sender@client.example>");
    CU_ASSERT_EQUAL(policy_rcpt(s, "<x2@example.test>"), POLICY_REJECT);
    CU_ASSERT_STRING_EQUAL(policy_last_reply(s)->xcode, "5.1.1");
    CU_ASSERT_TRUE(test_log_has("mail bomb"));
    /* after the second unknown recipient, every RCPT is refused */
    CU_ASSERT_EQUAL(policy_rcpt(s, "<joe@example.test>"), POLICY_REJECT);
    const policy_reply *r = policy_last_reply(s);
    CU_ASSERT_EQUAL(r->code, 550);
    CU_ASSERT_STRING_EQUAL(r->xcode, "5.7.1");
    CU_ASSERT_STRING_EQUAL(r->text, "sorry, you are violating our security policies");
    policy_session_free(s);
    policy_engine_unref(e);
}

static void test_wrongrcpt_action_disconnect_says_421(void)
{
    policy_engine *e = map_engine("wrongrcpt_limit = 1\nwrongrcpt_action = disconnect\n"
                                  "reply_wrongrcpt = go away\n");
    policy_session *s = session(e, "192.0.2.1");
    CU_ASSERT_EQUAL(policy_rcpt(s, "<x1@example.test>"), POLICY_REJECT);
    CU_ASSERT_EQUAL(policy_rcpt(s, "<joe@example.test>"), POLICY_DISCONNECT);
    CU_ASSERT_EQUAL(policy_last_reply(s)->code, 421);
    CU_ASSERT_STRING_EQUAL(policy_last_reply(s)->text, "go away");
    CU_ASSERT_EQUAL(policy_rcpt(s, "<joe@example.test>"), POLICY_DISCONNECT);
    policy_session_free(s);
    policy_engine_unref(e);
}

static void test_chkuser_variables_override_the_configuration(void)
{
    policy_engine *e = map_engine("rcpt_limit = 100\nwrongrcpt_limit = 100\n");
    policy_session *s = policy_session_new(e, "192.0.2.1", NULL);
    CU_ASSERT_EQUAL(policy_session_setvar(s, "CHKUSER_RCPTLIMIT", "2"), 0);
    CU_ASSERT_EQUAL(policy_session_setvar(s, "CHKUSER_WRONGRCPTLIMIT", "1"), 0);
    policy_connect(s);
    policy_mail(s, "<a@client.example>");
    CU_ASSERT_EQUAL(policy_rcpt(s, "<joe@example.test>"), POLICY_CONTINUE);
    CU_ASSERT_EQUAL(policy_rcpt(s, "<joe@example.test>"), POLICY_CONTINUE);
    CU_ASSERT_EQUAL(policy_rcpt(s, "<joe@example.test>"), POLICY_TEMPFAIL);
    policy_session_free(s);

    s = policy_session_new(e, "192.0.2.1", NULL);
    char *env[] = {"CHKUSER_WRONGRCPTLIMIT=1", "CHKUSER_RCPTLIMIT=0", NULL};
    CU_ASSERT_EQUAL(policy_session_import_env(s, env), 2);
    policy_connect(s);
    policy_mail(s, "<a@client.example>");
    CU_ASSERT_EQUAL(policy_rcpt(s, "<x@example.test>"), POLICY_REJECT);
    CU_ASSERT_EQUAL(policy_rcpt(s, "<joe@example.test>"), POLICY_REJECT);
    CU_ASSERT_STRING_EQUAL(policy_last_reply(s)->xcode, "5.7.1");
    policy_session_free(s);
    policy_engine_unref(e);
}

static void test_customers_remote_recipients_escape_the_wrong_limit(void)
{
    policy_engine *e = map_engine("wrongrcpt_limit = 1\n");
    policy_session *s = policy_session_new(e, "192.0.2.1", NULL);
    policy_session_setvar(s, "RELAYCLIENT", "");
    policy_connect(s);
    policy_mail(s, "<a@example.test>");
    CU_ASSERT_EQUAL(policy_rcpt(s, "<typo@example.test>"), POLICY_REJECT);
    CU_ASSERT_EQUAL(policy_rcpt(s, "<friend@remote.example>"), POLICY_CONTINUE);
    CU_ASSERT_EQUAL(policy_rcpt(s, "<joe@example.test>"), POLICY_REJECT);
    CU_ASSERT_STRING_EQUAL(policy_last_reply(s)->xcode, "5.7.1");
    policy_session_free(s);
    policy_engine_unref(e);
}

static void test_action_warn_counts_but_accepts(void)
{
    policy_engine *e = map_engine("action = warn\n");
    CU_ASSERT_EQUAL(rcpt(e, "<nobody@example.test>"), 250);
    CU_ASSERT_TRUE(test_log_has("action=warn"));
    policy_engine_unref(e);
}

/* mx_session - MAIL from sender, then one RCPT: the RCPT's reply code
 * (the sender MX verdict waits for the first RCPT, delay_reject). */
static int mx_rcpt(policy_engine *e, const char *ip, const char *var, const char *sender)
{
    policy_session *s = policy_session_new(e, ip, NULL);
    if (var)
        policy_session_setvar(s, "CHKUSER_SENDER_MX", var);
    policy_connect(s);
    CU_ASSERT_EQUAL(policy_mail(s, sender), POLICY_CONTINUE);
    policy_rcpt(s, "<someone@localhost>"); /* local by default; no recipient source */
    int code = policy_last_reply(s)->code;
    policy_session_free(s);
    return code;
}

/* Against a server that refuses every question (loopback port 1: no
 * answer at all); the real answers are tested against dnsmasq in
 * recipients.sh. */
static void test_sender_mx_without_an_answer(void)
{
    const char *dead = "[general]\ndns_servers = 127.0.0.1:1\ndns_timeout = 300ms\n";
    char extra[256];
    snprintf(conf, sizeof(conf), "%s[recipients]\nsender_mx = yes\n", dead);
    policy_engine *e = engine(conf);
    CU_ASSERT_EQUAL(mx_rcpt(e, "192.0.2.1", NULL, "<a@nowhere.example>"), 451);
    CU_ASSERT_TRUE(test_log_has("sender MX check of nowhere.example"));
    CU_ASSERT_EQUAL(mx_rcpt(e, "192.0.2.1", NULL, "<>"), 250); /* the null sender */
    CU_ASSERT_EQUAL(mx_rcpt(e, "127.0.0.1", NULL, "<a@nowhere.example>"), 250); /* customer */
    CU_ASSERT_EQUAL(mx_rcpt(e, "192.0.2.1", "0", "<a@nowhere.example>"), 250);
    policy_engine_unref(e);

    /* off in the file, on for one client (chkuser: set, even empty) */
    snprintf(conf, sizeof(conf), "%s[recipients]\nsender_mx = no\n", dead);
    e = engine(conf);
    CU_ASSERT_EQUAL(mx_rcpt(e, "192.0.2.1", NULL, "<a@nowhere.example>"), 250);
    CU_ASSERT_EQUAL(mx_rcpt(e, "192.0.2.1", "", "<a@nowhere.example>"), 451);
    policy_engine_unref(e);

    snprintf(extra, sizeof(extra), "%s[recipients]\nsender_mx = yes\non_error = accept\n", dead);
    e = engine(extra);
    CU_ASSERT_EQUAL(mx_rcpt(e, "192.0.2.1", NULL, "<a@nowhere.example>"), 250);
    CU_ASSERT_TRUE(test_log_has("error-accepted"));
    policy_engine_unref(e);
}

static void test_bad_configuration_is_named(void)
{
    static const char *const bad[] = {
        "[recipients]\nmap = /nonexistent/recipients.cdb\n",
        "[recipients]\nrcpt_limit = many\n",
        "[recipients]\nwrongrcpt_action = explode\n",
        "[recipients]\nextension_separator = @\n",
        "[recipients]\nreply_unknown = bad\001text\n",
        "[recipients]\nvpopmail_dir = /nonexistent\n",
        "[recipients]\nqmail_users = /nonexistent/users/cdb\n",
        "[recipients]\nno_such_key = 1\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        policy_engine *e = test_engine(bad[i], err, sizeof(err));
        CU_ASSERT_PTR_NULL(e);
        CU_ASSERT_PTR_NOT_NULL(strstr(err, "[recipients]"));
        policy_engine_unref(e);
    }
    /* a cdb that is not a recipients map */
    const char *p = test_write("notamap.cdb", "");
    int fd = open(p, O_WRONLY | O_TRUNC);
    struct cdb_make cm;
    cdb_make_start(&cm, fd);
    cdb_make_add(&cm, "joe@example.test", 16, "=", 1);
    cdb_make_finish(&cm);
    close(fd);
    snprintf(conf, sizeof(conf), "[recipients]\nmap = %s\n", p);
    CU_ASSERT_PTR_NULL(test_engine(conf, err, sizeof(err)));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "not a recipients map"));
}

static void test_makemap_names_file_and_line(void)
{
    static const struct {
        const char *text, *why;
    } bad[] = {
        {"ok@example.test\nbad@@example.test\n", ":2: bad address syntax"},
        {"u%remote@example.test\n", ":1: not a plain address"},
        {"joe\n", ":1: address without a domain"},
        {"@\n", ":1: not a domain"},
        {"a@example.test:\n", ":1: alias without targets"},
        {"\"unterminated@example.test\n", ":1: bad address syntax"},
        {"a@example.test\n\nb@exa mple.test\n", ":3: bad address syntax"},
    };
    char out[512];
    snprintf(out, sizeof(out), "%s/bad.cdb", test_dir());
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        const char *in = test_write("bad.txt", bad[i].text);
        CU_ASSERT_EQUAL(policy_makemap_recipients(in, out, 0, err, sizeof(err)), -1);
        CU_ASSERT_PTR_NOT_NULL(strstr(err, bad[i].why));
        if (!strstr(err, bad[i].why))
            fprintf(stderr, "\n  got: %s (want %s)\n", err, bad[i].why);
        CU_ASSERT_EQUAL(access(out, F_OK), -1); /* nothing half-written is left */
    }
    /* a NUL byte and an overlong line */
    const char *in = test_write("nul.txt", "");
    FILE *fp = fopen(in, "w");
    fwrite("a@example.test\nb\0c@example.test\n", 1, 32, fp);
    fclose(fp);
    CU_ASSERT_EQUAL(policy_makemap_recipients(in, out, 0, err, sizeof(err)), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, ":2: NUL byte"));
    fp = fopen(in, "w");
    for (int i = 0; i < RECIPMAP_LINE_MAX + 10; i++)
        fputc('a', fp);
    fputs("@example.test\n", fp);
    fclose(fp);
    CU_ASSERT_EQUAL(policy_makemap_recipients(in, out, 0, err, sizeof(err)), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, ":1: line longer"));
    /* no temporary file is left behind */
    char tmp[600];
    snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", out, (long)getpid());
    CU_ASSERT_EQUAL(access(tmp, F_OK), -1);
}

static void test_running_engine_keeps_its_map_until_reload(void)
{
    const char *m = map("live", "old@example.test\n", 0);
    snprintf(conf, sizeof(conf),
             "[customers]\nlocal_domains = example.test\n[recipients]\nmap = %s\n", m);
    policy_engine *old = engine(conf);
    CU_ASSERT_EQUAL(rcpt(old, "<old@example.test>"), 250);
    map("live", "new@example.test\n", 0); /* rebuilt: temp file + rename */
    CU_ASSERT_EQUAL(rcpt(old, "<old@example.test>"), 250);
    CU_ASSERT_EQUAL(rcpt(old, "<new@example.test>"), 550);
    policy_engine *fresh = engine(conf); /* what a reload does */
    CU_ASSERT_EQUAL(rcpt(fresh, "<new@example.test>"), 250);
    CU_ASSERT_EQUAL(rcpt(fresh, "<old@example.test>"), 550);
    policy_engine_unref(old);
    policy_engine_unref(fresh);
}

/* mkpath - create a directory or (with content) a file under test_dir(). */
static void mkpath(const char *rel, const char *content)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/%s", test_dir(), rel);
    if (content)
        test_write(rel, content);
    else
        CU_ASSERT_EQUAL(mkdir(p, 0755), 0);
}

static void test_vpopmail_tree(void)
{
    mkpath("vpop", NULL);
    mkpath("vpop/domains", NULL);
    mkpath("vpop/domains/vpop.test", NULL);
    mkpath("vpop/domains/vpop.test/ann", NULL);
    mkpath("vpop/domains/vpop.test/bob.smith", NULL);
    mkpath("vpop/domains/vpop.test/.qmail-info", "&ann@vpop.test\n");
    mkpath("vpop/domains/vpop.test/.qmail-first:last", "&ann@vpop.test\n");
    mkpath("vpop/domains/vpop.test/.qmail-list-default", "|ezmlm-manage\n");
    mkpath("vpop/domains/vpop.test/.qmail-default",
           "| /home/vpopmail/bin/vdelivermail '' bounce-no-mailbox\n");
    mkpath("vpop/domains/catch.test", NULL);
    mkpath("vpop/domains/catch.test/.qmail-default",
           "| /home/vpopmail/bin/vdelivermail '' ann@vpop.test\n");
    mkpath("vpop/secret", NULL);
    /* vpasswd.cdb: a user kept in a hashed subdirectory of a big domain */
    const char *vp = test_write("vpop/domains/vpop.test/vpasswd.cdb", "");
    int fd = open(vp, O_WRONLY | O_TRUNC);
    struct cdb_make cm;
    cdb_make_start(&cm, fd);
    cdb_make_add(&cm, "hashed", 6,
                 "x:89:89:Hashed:/home/vpopmail/domains/vpop.test/0/hashed:NOQUOTA", 63);
    cdb_make_finish(&cm);
    close(fd);
    snprintf(conf, sizeof(conf),
             "[customers]\nlocal_domains = vpop.test catch.test novpop.test\n"
             "[recipients]\nvpopmail_dir = %s/vpop\n",
             test_dir());
    policy_engine *e = engine(conf);
    CU_ASSERT_EQUAL(rcpt(e, "<ann@vpop.test>"), 250);
    CU_ASSERT_EQUAL(rcpt(e, "<ANN@VPOP.TEST>"), 250);
    CU_ASSERT_EQUAL(rcpt(e, "<ann-ext@vpop.test>"), 250);
    CU_ASSERT_EQUAL(rcpt(e, "<bob.smith@vpop.test>"), 250);
    CU_ASSERT_EQUAL(rcpt(e, "<info@vpop.test>"), 250);
    CU_ASSERT_EQUAL(rcpt(e, "<first.last@vpop.test>"), 250);
    CU_ASSERT_EQUAL(rcpt(e, "<list-subscribe@vpop.test>"), 250);
    CU_ASSERT_EQUAL(rcpt(e, "<nobody@vpop.test>"), 550);
    CU_ASSERT_EQUAL(rcpt(e, "<Hashed@vpop.test>"), 250);
    CU_ASSERT_EQUAL(rcpt(e, "<hashed-ext@vpop.test>"), 250);
    CU_ASSERT_EQUAL(rcpt(e, "<whoever@catch.test>"), 250);
    CU_ASSERT_EQUAL(rcpt(e, "<whoever@novpop.test>"), 250); /* domain in no source */
    /* path tricks lead nowhere */
    CU_ASSERT_EQUAL(rcpt(e, "<\"../secret\"@vpop.test>"), 550);
    CU_ASSERT_EQUAL(rcpt(e, "<\"..\"@vpop.test>"), 550);
    CU_ASSERT_EQUAL(rcpt(e, "<\".\"@vpop.test>"), 550);
    CU_ASSERT_EQUAL(rcpt(e, "<\"ann/.\"@vpop.test>"), 550);
    CU_ASSERT_EQUAL(rcpt(e, "<\".qmail-default\"@vpop.test>"), 550);
    CU_ASSERT_EQUAL(rcpt(e, "<\"/etc\"@vpop.test>"), 550);
    char longname[80];
    memset(longname, 'a', 64);
    snprintf(longname + 64, sizeof(longname) - 64, "@vpop.test");
    CU_ASSERT_EQUAL(rcpt(e, longname), 550);
    policy_engine_unref(e);
}

/* users_cdb - a users/cdb as qmail-newu writes it from users/assign. */
static const char *users_cdb(void)
{
    const char *p = test_write("users.cdb", "");
    int fd = open(p, O_WRONLY | O_TRUNC);
    struct cdb_make cm;
    cdb_make_start(&cm, fd);
    cdb_make_add(&cm, "", 0, "-", 1); /* wildcard characters */
    cdb_make_add(&cm, "!joe\0", 5,
                 "joe\0"
                 "1001",
                 8);                               /* =joe:joe:1001:... */
    cdb_make_add(&cm, "!ezmlm-", 7, "ezmlm\0", 6); /* +ezmlm-:ezmlm:... */
    cdb_make_finish(&cm);
    close(fd);
    return p;
}

static void test_qmail_users_cdb(void)
{
    snprintf(conf, sizeof(conf),
             "[customers]\nlocal_domains = host.test\n[recipients]\nqmail_users = %s\n",
             users_cdb());
    policy_engine *e = engine(conf);
    CU_ASSERT_EQUAL(rcpt(e, "<joe@host.test>"), 250);
    CU_ASSERT_EQUAL(rcpt(e, "<Joe@Host.Test>"), 250);
    CU_ASSERT_EQUAL(rcpt(e, "<joe-ext@host.test>"), 250);
    CU_ASSERT_EQUAL(rcpt(e, "<ezmlm-list-subscribe@host.test>"), 250);
    CU_ASSERT_EQUAL(rcpt(e, "<ezmlm@host.test>"), 550); /* "+ezmlm-" needs the dash */
    CU_ASSERT_EQUAL(rcpt(e, "<jo@host.test>"), 550);
    policy_engine_unref(e);
}

static void test_sources_are_asked_in_order_until_one_knows(void)
{
    const char *m = map("first", "joe@example.test\n", 0);
    snprintf(conf, sizeof(conf),
             "[customers]\nlocal_domains = example.test host.test\n"
             "[recipients]\nmap = %s\nqmail_users = %s\n",
             m, users_cdb());
    policy_engine *e = engine(conf);
    CU_ASSERT_EQUAL(rcpt(e, "<joe@example.test>"), 250);
    CU_ASSERT_EQUAL(rcpt(e, "<joe@host.test>"), 250); /* users/cdb answers every domain */
    CU_ASSERT_EQUAL(rcpt(e, "<ann@example.test>"), 550);
    policy_engine_unref(e);
}

static void test_bare_local_part_is_checked_at_the_default_domain(void)
{
    policy_engine *e = map_engine("default_domain = example.test\n");
    CU_ASSERT_EQUAL(rcpt(e, "<joe>"), 250);
    CU_ASSERT_EQUAL(rcpt(e, "<nobody>"), 550);
    policy_engine_unref(e);
}

static void test_map_reader_refuses_damaged_files(void)
{
    struct recipmap m;
    char why[200];
    const char *p = test_write("junk.cdb", "this is not a cdb file at all");
    CU_ASSERT_EQUAL(recipmap_open(&m, p, why, sizeof(why)), -1);
    CU_ASSERT_EQUAL(m.open, 0);
    recipmap_close(&m);
}

int suite_recipients(void)
{
    CU_pSuite s = CU_add_suite("recipients", NULL, NULL);
    if (!s)
        return -1;
    CU_ADD_TEST(s, test_unknown_local_recipient_is_rejected_with_chkusers_text);
    CU_ADD_TEST(s, test_known_aliases_lists_and_catchalls_are_accepted);
    CU_ADD_TEST(s, test_domains_are_case_insensitive_and_local_parts_folded);
    CU_ADD_TEST(s, test_case_sensitive_map_needs_fold_case_no);
    CU_ADD_TEST(s, test_extensions_reach_the_user_with_either_separator);
    CU_ADD_TEST(s, test_postmaster_is_always_accepted);
    CU_ADD_TEST(s, test_remote_domains_are_the_relay_rules_business);
    CU_ADD_TEST(s, test_local_domain_in_no_source_is_not_checked);
    CU_ADD_TEST(s, test_rcpt_limit_is_exact_and_survives_rset);
    CU_ADD_TEST(s, test_wrongrcpt_limit_marks_a_mail_bomb);
    CU_ADD_TEST(s, test_wrongrcpt_action_disconnect_says_421);
    CU_ADD_TEST(s, test_chkuser_variables_override_the_configuration);
    CU_ADD_TEST(s, test_customers_remote_recipients_escape_the_wrong_limit);
    CU_ADD_TEST(s, test_action_warn_counts_but_accepts);
    CU_ADD_TEST(s, test_sender_mx_without_an_answer);
    CU_ADD_TEST(s, test_bad_configuration_is_named);
    CU_ADD_TEST(s, test_makemap_names_file_and_line);
    CU_ADD_TEST(s, test_running_engine_keeps_its_map_until_reload);
    CU_ADD_TEST(s, test_vpopmail_tree);
    CU_ADD_TEST(s, test_qmail_users_cdb);
    CU_ADD_TEST(s, test_sources_are_asked_in_order_until_one_knows);
    CU_ADD_TEST(s, test_bare_local_part_is_checked_at_the_default_domain);
    CU_ADD_TEST(s, test_map_reader_refuses_damaged_files);
    return 0;
}
