/*
 * test_regex.c - the qregex layer (badhelo, badmailfrom, badrcptto, the
 * norelay variants, header blocks) and the literal prefilter behind it,
 * including a randomized comparison of prefiltered and full matching.
 */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "core.h"
#include "patterns.h"
#include "suites.h"

static char err[512];

static policy_engine *engine_with(const char *extra)
{
    char conf[2048];
    snprintf(conf, sizeof(conf),
             "[customers]\nlocal_domains = local.example\n[regex]\nbadhelo = %s\n"
             "badmailfrom = %s\nbadrcptto = %s\nbadmailfromnorelay = %s\n%s",
             test_write("badhelo", "# dynamic-looking names\n^[0-9.]+$\n\n\\.dyn\\.isp\\.example$\n"
                                   "!\\.\n"),
             test_write("badmailfrom", "@spam\\.example$\n^bulk[0-9]*@\n^$\n"),
             test_write("badrcptto", "^nobody@local\\.example$\n"),
             test_write("badmailfromnorelay", "@local\\.example$\n"), extra ? extra : "");
    policy_engine *e = test_engine(conf, err, sizeof(err));
    if (!e)
        fprintf(stderr, "\n  engine: %s\n", err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    test_log_clear();
    test_log_attach(e);
    return e;
}

/* session - connect and HELO; then the caller goes on. */
static policy_session *session(policy_engine *e, const char *helo, int relayclient)
{
    policy_session *s = policy_session_new(e, "192.0.2.1", NULL);
    if (relayclient)
        policy_session_setvar(s, "RELAYCLIENT", "");
    policy_connect(s);
    policy_helo(s, helo);
    return s;
}

static policy_action envelope(policy_engine *e, const char *helo, const char *from,
                              const char *rcpt, int relayclient)
{
    policy_session *s = session(e, helo, relayclient);
    policy_action a = policy_mail(s, from);
    if (a == POLICY_CONTINUE)
        a = policy_rcpt(s, rcpt);
    policy_session_free(s);
    return a;
}

static void test_badhelo_is_enforced_at_rcpt(void)
{
    policy_engine *e = engine_with(NULL);
    policy_session *s = session(e, "192.0.2.1", 0);
    CU_ASSERT_EQUAL(policy_last_reply(s)->action, POLICY_CONTINUE);
    CU_ASSERT_EQUAL(policy_mail(s, "<a@b.example>"), POLICY_CONTINUE);
    CU_ASSERT_EQUAL(policy_rcpt(s, "<user@local.example>"), POLICY_REJECT);
    const policy_reply *r = policy_last_reply(s);
    CU_ASSERT_EQUAL(r->code, 553);
    CU_ASSERT_STRING_EQUAL(r->layer, "regex");
    CU_ASSERT_STRING_EQUAL(r->text, "sorry, your HELO/EHLO greeting has been denied");
    CU_ASSERT_TRUE(test_log_has("badhelo"));
    CU_ASSERT_TRUE(test_log_has("badhelo:2"));
    policy_session_free(s);
    CU_ASSERT_EQUAL(envelope(e, "Host-1.DYN.isp.example", "<a@b.example>", "<u@local.example>", 0),
                    POLICY_REJECT);
    CU_ASSERT_EQUAL(envelope(e, "mail.example.org", "<a@b.example>", "<u@local.example>", 0),
                    POLICY_CONTINUE);
    policy_engine_unref(e);
}

static void test_negated_pattern_matches_when_regex_does_not(void)
{
    policy_engine *e = engine_with(NULL);
    /* "!\." : a HELO without a dot is refused */
    CU_ASSERT_EQUAL(envelope(e, "localhost", "<a@b.example>", "<u@local.example>", 0),
                    POLICY_REJECT);
    CU_ASSERT_TRUE(test_log_has("badhelo:5"));
    policy_engine_unref(e);
}

static void test_badmailfrom_and_badrcptto(void)
{
    policy_engine *e = engine_with(NULL);
    CU_ASSERT_EQUAL(envelope(e, "mx.example.org", "<x@SPAM.example>", "<u@local.example>", 0),
                    POLICY_REJECT);
    CU_ASSERT_EQUAL(envelope(e, "mx.example.org", "<bulk42@x.example>", "<u@local.example>", 0),
                    POLICY_REJECT);
    CU_ASSERT_EQUAL(envelope(e, "mx.example.org", "<x@spam.example.org>", "<u@local.example>", 0),
                    POLICY_CONTINUE); /* $ is the end, as in POSIX */
    CU_ASSERT_EQUAL(envelope(e, "mx.example.org", "<>", "<u@local.example>", 0), POLICY_REJECT);
    CU_ASSERT_EQUAL(envelope(e, "mx.example.org", "<a@b.example>", "<Nobody@local.example>", 0),
                    POLICY_REJECT);
    CU_ASSERT_EQUAL(envelope(e, "mx.example.org", "<a@b.example>", "<somebody@local.example>", 0),
                    POLICY_CONTINUE);
    policy_engine_unref(e);
}

static void test_norelay_patterns_spare_customers(void)
{
    policy_engine *e = engine_with(NULL);
    CU_ASSERT_EQUAL(envelope(e, "mx.example.org", "<forged@local.example>", "<u@local.example>", 0),
                    POLICY_REJECT);
    CU_ASSERT_EQUAL(envelope(e, "mx.example.org", "<me@local.example>", "<u@remote.example>", 1),
                    POLICY_CONTINUE);
    /* a customer by AUTH after MAIL-stage pattern? AUTH comes first in SMTP */
    policy_session *s = session(e, "mx.example.org", 0);
    policy_auth(s, "me");
    CU_ASSERT_EQUAL(policy_mail(s, "<me@local.example>"), POLICY_CONTINUE);
    CU_ASSERT_EQUAL(policy_rcpt(s, "<u@remote.example>"), POLICY_CONTINUE);
    policy_session_free(s);
    /* but the plain lists apply to customers too */
    CU_ASSERT_EQUAL(envelope(e, "mx.example.org", "<x@spam.example>", "<u@remote.example>", 1),
                    POLICY_REJECT);
    policy_engine_unref(e);
}

static void test_header_block_matches_unfolded_value(void)
{
    policy_engine *e = engine_with("header_block = Subject: make\\s+money\\s+fast\n"
                                   "header_block = X-Mailer: ^BulkMailer\n");
    policy_session *s = session(e, "mx.example.org", 0);
    policy_mail(s, "<a@b.example>");
    policy_rcpt(s, "<u@local.example>");
    policy_data(s);
    CU_ASSERT_EQUAL(policy_header(s, "From", "make money fast"), POLICY_CONTINUE);
    CU_ASSERT_EQUAL(policy_header(s, "subject", "Please MAKE\r\n money fast"), POLICY_REJECT);
    const policy_reply *r = policy_last_reply(s);
    CU_ASSERT_EQUAL(r->code, 554);
    CU_ASSERT_STRING_EQUAL(r->text, "message rejected: header Subject blocked by policy");
    CU_ASSERT_EQUAL(policy_eom(s), POLICY_REJECT);
    policy_reset(s);
    policy_mail(s, "<a@b.example>");
    policy_rcpt(s, "<u@local.example>");
    policy_data(s);
    CU_ASSERT_EQUAL(policy_header(s, "X-Mailer", "Mutt BulkMailer"), POLICY_CONTINUE);
    CU_ASSERT_EQUAL(policy_header(s, "X-Mailer", "bulkmailer 2.0"), POLICY_REJECT);
    policy_session_free(s);
    policy_engine_unref(e);
}

static void test_bad_pattern_names_file_and_line(void)
{
    const char *bad = test_write("badbad", "ok\n# comment\n(unclosed\n");
    char conf[700];
    snprintf(conf, sizeof(conf), "[regex]\n\nbadmailfrom = %s\n", bad);
    CU_ASSERT_PTR_NULL(test_engine(conf, err, sizeof(err)));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, ":3: [regex] badmailfrom: "));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "badbad:3: bad pattern '(unclosed'"));
    CU_ASSERT_PTR_NULL(test_engine("[regex]\nbadhelo = /nonexistent/badhelo\n", err, sizeof(err)));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "[regex] badhelo: cannot open /nonexistent/badhelo"));
    CU_ASSERT_PTR_NULL(test_engine("[regex]\nheader_block = no colon here\n", err, sizeof(err)));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "expected 'Header-Name: pattern'"));
}

static void test_catastrophic_pattern_is_a_temporary_error(void)
{
    const char *f = test_write("redos", "^(a+)+$\n");
    char conf[700];
    snprintf(conf, sizeof(conf), "[customers]\naction = off\n[regex]\nbadrcptto = %s\n", f);
    policy_engine *e = test_engine(conf, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    test_log_attach(e);
    policy_session *s = policy_session_new(e, "192.0.2.1", NULL);
    policy_connect(s);
    policy_mail(s, "<a@b>");
    CU_ASSERT_EQUAL(policy_rcpt(s, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!"),
                    POLICY_TEMPFAIL);
    CU_ASSERT_EQUAL(policy_last_reply(s)->code, 451);
    policy_session_free(s);
    policy_engine_unref(e);
}

static void test_required_literals(void)
{
    /* Arrays, not pointers: gcc's -fsanitize build otherwise warns that
     * the fprintf below may see a null string (-Wformat-overflow). */
    static const struct {
        char re[24], lit[16];
    } t[] = {
        {"@spam\\.example$", "@spam.example"},
        {"^bulk[0-9]*@", "bulk"},
        {"ab*cdef", "cdef"},
        {"abc+def", "abc"},
        {"x(abc)?yz", "yz"},
        {"foo|barbaz", ""},
        {"(?x) a b c", ""},
        {"\\d+spammer", "spammer"},
        {"\\.DYN\\.ISP", ".dyn.isp"},
        {"ab{0,3}cd", "cd"},
        {"[abc]xyz[", ""},
        {"a.b.c", "a"},
        /* "[=" with a ']' before "=]" is literal to PCRE2, so the class
         * ends early and the '|' is a top-level alternation (found by fuzz) */
        {"[[=]||=]]=]=", ""},
        {"x[[:digit:]]yz", "yz"},
        {"a(*ACCEPT)bcd", ""},
        /* a literal '{' must not skip to a '}' inside a group (found by fuzz) */
        {"{(}777{,9||x)", ""},
        {"ab{x}cde", "x}cde"},
        {"abc{,2}de", "ab"},
        /* escapes with arguments: "41" is not in a match of \x41bc */
        {"\\x41bcd", ""},
        {"(a)\\1bcd", ""},
        {"\\cAbcd", ""},
        {"\\p{Lu}bcd", ""},
        /* PCRE2 ignores \E, so ']' right after it is a class member */
        {"[\\E]){4 ]", ""},
        /* \c takes the ']' as its argument, so the class goes on (fuzz) */
        {"[\\c]v}p{]", ""},
        /* an escaped backslash before x is no \x escape */
        {"\\\\xabc", "\\xabc"},
        /* (?...) groups are groups: skipped, the literal around them kept */
        {"^(?:foo|bar)baz\\.com$", "baz.com"},
        {"(?i)spammer", "spammer"},
        {"(?<=x)abcd", "abcd"},
        {"ab(?!c)defg", "defg"},
        {"(?P<n>ab)cdef", "cdef"},
        {"(?|a|b)cdef", "cdef"},
        {"(?(1)a|b)cdef", "cdef"},
        {"abc(?1)defg", "defg"},
        /* extended syntax, comments and callouts are not stepped over */
        {"(?ix)a b c d", ""},
        {"(?-x)abcd", ""},
        {"(?#c\\)abcd)efgh", ""},
        {"(?C1)abcd", ""},
        {"(?C'x)y')abcd", ""},
    };
    char out[80];
    for (size_t i = 0; i < sizeof(t) / sizeof(*t); i++) {
        pattern_required_literal(t[i].re, out, sizeof(out));
        if (strcmp(out, t[i].lit))
            fprintf(stderr, "\n  %s: got '%s' want '%s'", t[i].re, out, t[i].lit);
        CU_ASSERT_STRING_EQUAL(out, t[i].lit);
    }
}

/* The prefilter must never change an answer: compare with running every
 * regex on many generated subjects. */
static void agree(int npatterns, int deferred)
{
    static const char *const pieces[] = {"spam", "bulk", "@", ".",    "example", "com", "X", "0",
                                         "9",    "info", "-", "mail", "!",       "a",   "zz"};
    struct patternset set;
    char pat[64], origin[32], e2[200];
    unsigned seed = 12345;
    patternset_init(&set);
    if (deferred)
        patternset_defer(&set);
    for (int i = 0; i < npatterns; i++) {
        seed = seed * 1103515245 + 12345;
        int k = (int)(seed >> 16) % 9;
        const char *a = pieces[(seed >> 8) % 15], *b = pieces[(seed >> 20) % 15];
        static const char *const forms[] = {"%s%s$",      "^%s[0-9]*%s", "!%s.*%s",
                                            "%s(x)?%s",   "%s|%s",       "\\.%s%s+",
                                            "(?:%s|x)%s", "(?i)^%s%s",   "%s(?=x)%s"};
        snprintf(pat, sizeof(pat), forms[k], a, b);
        snprintf(origin, sizeof(origin), "p%d", i);
        if (patternset_add(&set, pat, origin, e2, sizeof(e2)) != 0)
            continue; /* an invalid combination: skip */
    }
    CU_ASSERT_EQUAL_FATAL(patternset_finish(&set), 0);
    int disagreements = 0;
    for (int i = 0; i < 5000; i++) {
        char subj[64] = "";
        int parts = 1 + (int)((seed >> 3) % 5);
        for (int j = 0; j < parts; j++) {
            seed = seed * 1103515245 + 12345;
            strncat(subj, pieces[(seed >> 16) % 15], sizeof(subj) - strlen(subj) - 1);
        }
        const char *o1 = "", *o2 = "";
        enum pat_result r1 = patternset_match(&set, subj, strlen(subj), &o1);
        enum pat_result r2 = patternset_match_all(&set, subj, strlen(subj), &o2);
        if (r1 != r2 || (r1 == PAT_MATCH && strcmp(o1, o2))) {
            if (disagreements++ < 5)
                fprintf(stderr, "\n  '%s': prefilter %d %s, full %d %s", subj, r1, o1, r2, o2);
        }
    }
    CU_ASSERT_EQUAL(disagreements, 0);
    patternset_free(&set);
}

static void test_prefilter_agrees_with_running_every_regex(void)
{
    agree(300, 0);
}

/* a large set (qregex files of ten thousand lines exist) keeps the prefilter */
static void test_prefilter_agrees_on_a_large_set(void)
{
    agree(10000, 0);
}

/* patterns compiled on first use give the same answers */
static void test_deferred_set_agrees_with_running_every_regex(void)
{
    agree(300, 1);
}

/* a small set (a header rule, a short file) looks for each literal instead
 * of building the index, and gives the same answers */
static void test_small_set_agrees_with_running_every_regex(void)
{
    for (int n = 1; n <= 17; n += 4) {
        agree(n, 0);
        agree(n, 1);
    }
}

/* a (?:...) group keeps the literal after it, so the prefilter spares the
 * regex for subjects without it: in a deferred set it is not even compiled */
static void test_non_capturing_group_keeps_its_pattern_in_the_prefilter(void)
{
    struct patternset set;
    char e2[200];
    const char *origin = NULL;
    patternset_init(&set);
    patternset_defer(&set);
    CU_ASSERT_EQUAL(
        patternset_add(&set, "^(?:bulk|promo)[0-9]*@spam\\.example$", "f:1", e2, sizeof(e2)), 0);
    CU_ASSERT_EQUAL_FATAL(patternset_finish(&set), 0);
    CU_ASSERT_STRING_EQUAL(patternset_literal(&set, 0), "@spam.example");
    CU_ASSERT_EQUAL(patternset_match(&set, "user@example.org", 16, &origin), PAT_NOMATCH);
    CU_ASSERT_EQUAL(patternset_compiled(&set), 0);
    CU_ASSERT_EQUAL(patternset_match(&set, "promo7@spam.example", 19, &origin), PAT_MATCH);
    CU_ASSERT_EQUAL(patternset_compiled(&set), 1);
    patternset_free(&set);
}

/* a deferred set: patternset_compile finds the bad pattern with its file
 * and line; without it, the bad pattern is PAT_BAD when it has to run,
 * and a match of another pattern still wins */
static void test_deferred_bad_pattern_is_found_at_compile_or_first_run(void)
{
    struct patternset set;
    char e2[300];
    const char *origin = NULL;
    for (int compile = 0; compile < 2; compile++) {
        patternset_init(&set);
        patternset_defer(&set);
        CU_ASSERT_EQUAL(patternset_add(&set, "good", "f:1", e2, sizeof(e2)), 0);
        CU_ASSERT_EQUAL(patternset_add(&set, "(unclosed", "f:2", e2, sizeof(e2)), 0);
        CU_ASSERT_EQUAL(patternset_add(&set, "later", "f:3", e2, sizeof(e2)), 0);
        CU_ASSERT_EQUAL_FATAL(patternset_finish(&set), 0);
        if (compile) {
            CU_ASSERT_EQUAL(patternset_compile(&set, e2, sizeof(e2)), -1);
            CU_ASSERT_PTR_NOT_NULL(strstr(e2, "f:2: bad pattern '(unclosed'"));
        } else {
            CU_ASSERT_EQUAL(patternset_match(&set, "nothing", 7, &origin), PAT_BAD);
            CU_ASSERT_PTR_NOT_NULL(strstr(origin, "f:2: bad pattern '(unclosed'"));
            CU_ASSERT_EQUAL(patternset_match(&set, "a later one", 11, &origin), PAT_MATCH);
            CU_ASSERT_STRING_EQUAL(origin, "f:3");
        }
        patternset_free(&set);
    }
}

/* POLICY_OPEN_LAZY: the engine opens over a bad pattern; a sender that
 * makes it run gets a temporary failure naming it, the others do not */
static void test_lazy_engine_defers_on_a_bad_pattern_when_it_runs(void)
{
    const char *f = test_write("lazybad", "@spam\\.example$\n^(?:x|y)oops@bad\\.example$)\n");
    char conf[700], path[600];
    snprintf(conf, sizeof(conf), "[customers]\naction = off\n[regex]\nbadmailfrom = %s\n", f);
    snprintf(path, sizeof(path), "%s", test_write("lazy.conf", conf));
    CU_ASSERT_PTR_NULL(policy_engine_open(path, err, sizeof(err)));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "lazybad:2: bad pattern"));
    policy_engine *e = policy_engine_open_flags(path, POLICY_OPEN_LAZY, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    test_log_attach(e);
    static const char *const senders[] = {"<a@good.example>", "<a@spam.example>",
                                          "<yoops@bad.example>"};
    static const policy_action want[] = {POLICY_CONTINUE, POLICY_REJECT, POLICY_TEMPFAIL};
    for (int i = 0; i < 3; i++) {
        policy_session *s = policy_session_new(e, "192.0.2.1", NULL);
        policy_connect(s);
        policy_mail(s, senders[i]);
        CU_ASSERT_EQUAL(policy_rcpt(s, "<u@local.example>"), want[i]);
        if (i == 2)
            CU_ASSERT_PTR_NOT_NULL(strstr(policy_last_reply(s)->reason, "lazybad:2: bad pattern"));
        policy_session_free(s);
    }
    policy_engine_unref(e);
}

/* a definite match later in the file beats an earlier pattern that gave up */
static void test_match_after_a_pattern_that_gave_up_wins(void)
{
    struct patternset set;
    char e2[200];
    const char *origin = NULL;
    const char *subj = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!";
    patternset_init(&set);
    CU_ASSERT_EQUAL(patternset_add(&set, "^(a+)+$", "first", e2, sizeof(e2)), 0);
    CU_ASSERT_EQUAL(patternset_add(&set, "aaa!", "second", e2, sizeof(e2)), 0);
    CU_ASSERT_EQUAL_FATAL(patternset_finish(&set), 0);
    CU_ASSERT_EQUAL(patternset_match(&set, subj, strlen(subj), &origin), PAT_MATCH);
    CU_ASSERT_STRING_EQUAL(origin, "second");
    CU_ASSERT_EQUAL(patternset_match_all(&set, subj, strlen(subj), &origin), PAT_MATCH);
    CU_ASSERT_EQUAL(patternset_match(&set, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa?", 31, &origin),
                    PAT_ERROR);
    CU_ASSERT_STRING_EQUAL(origin, "first");
    patternset_free(&set);
}

int suite_regex(void)
{
    CU_pSuite s = CU_add_suite("regex", NULL, NULL);
    if (!s)
        return -1;
    CU_ADD_TEST(s, test_badhelo_is_enforced_at_rcpt);
    CU_ADD_TEST(s, test_negated_pattern_matches_when_regex_does_not);
    CU_ADD_TEST(s, test_badmailfrom_and_badrcptto);
    CU_ADD_TEST(s, test_norelay_patterns_spare_customers);
    CU_ADD_TEST(s, test_header_block_matches_unfolded_value);
    CU_ADD_TEST(s, test_bad_pattern_names_file_and_line);
    CU_ADD_TEST(s, test_catastrophic_pattern_is_a_temporary_error);
    CU_ADD_TEST(s, test_required_literals);
    CU_ADD_TEST(s, test_prefilter_agrees_with_running_every_regex);
    CU_ADD_TEST(s, test_prefilter_agrees_on_a_large_set);
    CU_ADD_TEST(s, test_deferred_set_agrees_with_running_every_regex);
    CU_ADD_TEST(s, test_small_set_agrees_with_running_every_regex);
    CU_ADD_TEST(s, test_non_capturing_group_keeps_its_pattern_in_the_prefilter);
    CU_ADD_TEST(s, test_deferred_bad_pattern_is_found_at_compile_or_first_run);
    CU_ADD_TEST(s, test_lazy_engine_defers_on_a_bad_pattern_when_it_runs);
    CU_ADD_TEST(s, test_match_after_a_pattern_that_gave_up_wins);
    return 0;
}
