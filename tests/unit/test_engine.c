/* test_engine.c - opening engines: defaults, errors that name file/line/key, sharing; the
 * suites' own engines from text, in forked processes too. */
#include <CUnit/CUnit.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "core.h"
#include "suites.h"

static char err[512];

/* open_fails - conf must fail to open and the message must contain want. */
static void open_fails(const char *conf, const char *want)
{
    policy_engine *e = test_engine(conf, err, sizeof(err));
    CU_ASSERT_PTR_NULL(e);
    if (e)
        policy_engine_unref(e);
    if (!strstr(err, want))
        fprintf(stderr, "\n  expected '%s' in '%s'\n", want, err);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, want));
    CU_ASSERT_PTR_NULL(strchr(err, '\n'));
}

static void test_defaults_need_no_file(void)
{
    policy_engine *e = policy_engine_open(NULL, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_STRING_EQUAL(err, "");
    CU_ASSERT_PTR_NOT_NULL(e->general.hostname);
    CU_ASSERT_EQUAL(e->general.delay_reject, 1);
    policy_engine_unref(e);
}

static void test_missing_file_is_named(void)
{
    CU_ASSERT_PTR_NULL(policy_engine_open("/nonexistent/policy.conf", err, sizeof(err)));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "/nonexistent/policy.conf:0: cannot open"));
}

static void test_unknown_section_names_file_and_line(void)
{
    open_fails("[general]\nlog_level = info\n\n[bogus]\nx = 1\n", "policy-");
    open_fails("[general]\nlog_level = info\n\n[bogus]\nx = 1\n", ":4: [bogus]: unknown section");
}

static void test_empty_unknown_section_is_refused(void)
{
    open_fails("# nothing but a bad section\n[nonsense]\n", ":2: [nonsense]: unknown section");
}

static void test_unknown_key_names_section_and_key(void)
{
    open_fails("[general]\n\nlog_levle = info\n", ":3: [general] log_levle: unknown key");
    open_fails("[probe]\nstage = rcpt\nflavour = sweet\n", ":3: [probe] flavour: unknown key");
}

static void test_bad_values_are_refused(void)
{
    open_fails("[probe]\naction = maybe\n", ":2: [probe] action: expected reject");
    open_fails("[probe]\non_error = ignore\n", "[probe] on_error: expected tempfail or accept");
    open_fails("[general]\ndelay_reject = sometimes\n", "[general] delay_reject: expected yes");
    open_fails("[general]\nlog_level = loud\n", "[general] log_level:");
    open_fails("[general]\ntcprules = /nonexistent/tcp.smtp.cdb\n",
               "[general] tcprules: cannot read");
    open_fails("[general]\nhostname = two words\n", "[general] hostname: not a host name");
}

static void test_dns_servers_are_checked_and_continue_on_next_lines(void)
{
    open_fails("[general]\ndns_servers = 127.0.0.1:99999\n",
               "[general] dns_servers: not a DNS server address: 127.0.0.1:99999");
    open_fails("[general]\ndns_servers = resolver.example\n", "not a DNS server address");
    policy_engine *e = test_engine(
        "[general]\ndns_servers = 127.0.0.1:5353\n  [::1]:53 192.0.2.53\n", err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_STRING_EQUAL(e->general.dns_servers, "127.0.0.1:5353 [::1]:53 192.0.2.53");
    policy_engine_unref(e);
}

static void test_reserved_layer_says_not_available(void)
{
    open_fails("[spam]\nthreshold = 5\n", "[spam]: layer [spam] is not available");
}

static void test_syntax_error_names_line(void)
{
    open_fails("[general]\nlog_level = info\nthis line has no equals sign\n", ":3: syntax error");
}

static void test_key_outside_section_is_refused(void)
{
    open_fails("log_level = info\n", ":1: key outside of any section");
}

static void test_duplicate_general_key_is_refused(void)
{
    open_fails("[general]\nlog_level = info\nlog_level = debug\n",
               ":3: [general] log_level: key given twice");
}

static void test_repeated_key_of_one_value_is_refused_in_every_section(void)
{
    open_fails("[probe]\naction = reject\naction = warn\n",
               ":3: [probe] action: key given twice (first at line 2)");
    open_fails("[probe]\non_error = accept\n\non_error = tempfail\n",
               ":4: [probe] on_error: key given twice (first at line 2)");
    open_fails("[spf]\nbehavior = 3\nbehavior = 6\n", ":3: [spf] behavior: key given twice");
    open_fails("[dnsbl]\nthreshold = 1\nzones = bl.test\nthreshold = 5\n",
               ":4: [dnsbl] threshold: key given twice (first at line 2)");
    open_fails("[recipients]\nrcpt_limit = 10\nrcpt_limit = 0\n",
               ":3: [recipients] rcpt_limit: key given twice");
    open_fails("[customers]\nsender_login = address\nsender_login = off\n",
               ":3: [customers] sender_login: key given twice");
    open_fails("[general]\nhostname = a.test\nhostname = b.test\n",
               ":3: [general] hostname: key given twice");
}

static void test_continued_key_of_one_value_is_refused(void)
{
    open_fails("[customers]\nsender_login = address\n    off\n",
               ":3: [customers] sender_login: takes one value");
    open_fails("[general]\nhostname = a.test\n  log_level = debug\n",
               ":3: [general] hostname: takes one value");
}

static void test_list_keys_may_repeat_and_continue(void)
{
    policy_engine *e =
        test_engine("[general]\ndns_servers = 192.0.2.1\ndns_servers = 192.0.2.2\n"
                    "[customers]\nlocal_domains = a.test\n  b.test\n"
                    "local_domains = c.test\ntrusted_networks = 10.0.0.0/8\n"
                    "trusted_networks = 192.0.2.0/24\n"
                    "[dnsbl]\nzones = bl.test\nzones = bl2.test\nsender_zones = d.test\n"
                    "  e.test\n"
                    "[regex]\nheader_block = Subject: a\nheader_block = Subject: b\n",
                    err, sizeof(err));
    if (!e)
        fprintf(stderr, "\n  %s\n", err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_STRING_EQUAL(e->general.dns_servers, "192.0.2.1 192.0.2.2");
    policy_engine_unref(e);
}

static void test_repeated_section_is_refused(void)
{
    /* even when its keys do not repeat: one section, one place to look */
    open_fails("[customers]\nlocal_domains = a.test\n\n[customers]\nsender_login = off\n",
               ":4: [customers]: section given twice (first at line 1)");
    open_fails("[general]\nlog_level = info\n[general]\n",
               ":3: [general]: section given twice (first at line 1)");
    open_fails("[probe]\naction = warn\n[general]\n[probe]\naction = reject\n",
               ":4: [probe]: section given twice (first at line 1)");
}

static void test_overlong_line_is_refused_not_cut(void)
{
    char conf[1024];
    char longval[600];
    memset(longval, 'a', sizeof(longval) - 1);
    longval[sizeof(longval) - 1] = '\0';
    snprintf(conf, sizeof(conf), "[general]\nhostname = %s\n", longval);
    open_fails(conf, ":2: line longer than");
}

static void test_first_error_wins(void)
{
    open_fails("[general]\nbad1 = x\n[general]\nbad2 = y\n", ":2: [general] bad1: unknown key");
}

static void test_comments_and_inline_comments_are_fine(void)
{
    policy_engine *e = test_engine("; comment\n# comment\n[general]\nlog_level = debug ; inline\n"
                                   "hostname = mx.example.test\n",
                                   err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_STRING_EQUAL(e->general.hostname, "mx.example.test");
    policy_engine_unref(e);
}

static void test_common_keys_reach_the_layer(void)
{
    policy_engine *e = test_engine("[probe]\naction = warn\non_error = accept\ndelay_reject = no\n",
                                   err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    const struct layer_inst *l = NULL;
    for (size_t i = 0; i < layer_count && !l; i++) /* by name: the registry grows */
        if (!strcmp(e->layers[i].desc->name, "probe"))
            l = &e->layers[i];
    CU_ASSERT_PTR_NOT_NULL_FATAL(l);
    CU_ASSERT_EQUAL(l->common.action, LA_WARN);
    CU_ASSERT_EQUAL(l->common.on_error, OE_ACCEPT);
    CU_ASSERT_EQUAL(l->common.delay_reject, 0);
    policy_engine_unref(e);
}

static void test_refcount_keeps_engine_alive(void)
{
    policy_engine *e = policy_engine_open(NULL, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    policy_session *s = policy_session_new(e, "192.0.2.1", NULL);
    policy_engine_unref(e); /* the session still holds one */
    CU_ASSERT_EQUAL(policy_connect(s), POLICY_CONTINUE);
    policy_session_free(s); /* frees the engine; ASan would see a leak otherwise */
    policy_engine_unref(NULL);
    CU_ASSERT_PTR_NULL(policy_session_new(NULL, "192.0.2.1", NULL));
}

struct worker {
    policy_engine *e;
    int ok;
};

static void *worker(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < 2000; i++) {
        policy_session *s = policy_session_new(policy_engine_ref(w->e), "192.0.2.9", NULL);
        policy_engine_unref(w->e);
        if (policy_connect(s) == POLICY_CONTINUE &&
            policy_helo(s, "client.test") == POLICY_CONTINUE &&
            policy_mail(s, "<a@b.test>") == POLICY_CONTINUE)
            w->ok++;
        policy_session_free(s);
    }
    return NULL;
}

static void test_engine_is_shared_by_threads(void)
{
    policy_engine *e = policy_engine_open(NULL, err, sizeof(err));
    pthread_t t[4];
    struct worker w[4];
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    policy_engine_set_log(e, NULL, NULL);
    for (int i = 0; i < 4; i++) {
        w[i].e = e;
        w[i].ok = 0;
        CU_ASSERT_EQUAL(pthread_create(&t[i], NULL, worker, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        CU_ASSERT_EQUAL(w[i].ok, 2000);
    }
    CU_ASSERT_EQUAL(atomic_load(&e->refs), 1);
    policy_engine_unref(e);
}

static void test_stages_follow_what_is_configured(void)
{
    policy_engine *e =
        test_engine("[probe]\naction = off\n[probe2]\naction = off\n", err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    /* customers only: regex has no files, so no stage of its own */
    CU_ASSERT_EQUAL(policy_engine_stages(e), POLICY_STAGE_MAIL | POLICY_STAGE_RCPT);
    policy_engine_unref(e);

    e = test_engine(
        "[probe]\naction = off\n[probe2]\naction = off\n[regex]\nheader_block = Subject: x\n", err,
        sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_EQUAL(policy_engine_stages(e),
                    POLICY_STAGE_MAIL | POLICY_STAGE_RCPT | POLICY_STAGE_HEADER);
    policy_engine_unref(e);

    e = test_engine("[probe]\naction = off\n[probe2]\naction = off\n[customers]\naction = off\n",
                    err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_EQUAL(policy_engine_stages(e), 0);
    policy_engine_unref(e);

    /* a DNS layer acts at connect; its verdict arrives at RCPT */
    e = test_engine("[probe]\naction = off\n[probe2]\naction = off\n[customers]\naction = off\n"
                    "[dnsbl]\nzones = bl.example\n",
                    err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_EQUAL(policy_engine_stages(e), POLICY_STAGE_CONNECT | POLICY_STAGE_RCPT);
    policy_engine_unref(e);

    e = test_engine("[probe]\naction = warn\n", err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_TRUE(policy_engine_stages(e) & POLICY_STAGE_BODY);
    CU_ASSERT_TRUE(policy_engine_stages(e) & POLICY_STAGE_CONNECT);
    policy_engine_unref(e);
    CU_ASSERT_EQUAL(policy_engine_stages(NULL), 0);
}

/* The suites fork processes that open engines from text at once
 * (test_metrics.c): each must read its own file, never one a sibling is
 * truncating to write its configuration (an empty read is a valid
 * configuration: built-in defaults, no error). */
static void test_forked_process_reads_config_of_its_own(void)
{
    char child[512] = "";
    int pfd[2];
    CU_ASSERT_FATAL(pipe(pfd) == 0);
    pid_t pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) {
        policy_engine *ce = test_engine("[general]\nhostname = child.test\n", err, sizeof(err));
        if (ce && ce->path)
            snprintf(child, sizeof(child), "%s", ce->path);
        _exit(write(pfd[1], child, sizeof(child)) == sizeof(child) ? 0 : 1); /* no atexit() */
    }
    close(pfd[1]);
    ssize_t got = read(pfd[0], child, sizeof(child)); /* one write below PIPE_BUF */
    close(pfd[0]);
    int status = -1;
    waitpid(pid, &status, 0);
    CU_ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CU_ASSERT_EQUAL_FATAL(got, (ssize_t)sizeof(child));
    CU_ASSERT_FATAL(*child != '\0');
    /* the parent's next engine: another file, the child's left as it wrote it */
    policy_engine *e = test_engine("[general]\nhostname = parent.test\n", err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_STRING_NOT_EQUAL(e->path, child);
    policy_engine *again = policy_engine_open(child, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(again);
    CU_ASSERT_STRING_EQUAL(again->general.hostname, "child.test");
    policy_engine_unref(again);
    policy_engine_unref(e);
}

static void test_version_is_semver(void)
{
    int a, b, c;
    CU_ASSERT_EQUAL(sscanf(policy_version(), "%d.%d.%d", &a, &b, &c), 3);
}

int suite_engine(void)
{
    CU_pSuite s = CU_add_suite("engine", NULL, NULL);
    if (!s)
        return -1;
    CU_ADD_TEST(s, test_defaults_need_no_file);
    CU_ADD_TEST(s, test_missing_file_is_named);
    CU_ADD_TEST(s, test_unknown_section_names_file_and_line);
    CU_ADD_TEST(s, test_empty_unknown_section_is_refused);
    CU_ADD_TEST(s, test_unknown_key_names_section_and_key);
    CU_ADD_TEST(s, test_bad_values_are_refused);
    CU_ADD_TEST(s, test_dns_servers_are_checked_and_continue_on_next_lines);
    CU_ADD_TEST(s, test_reserved_layer_says_not_available);
    CU_ADD_TEST(s, test_syntax_error_names_line);
    CU_ADD_TEST(s, test_key_outside_section_is_refused);
    CU_ADD_TEST(s, test_duplicate_general_key_is_refused);
    CU_ADD_TEST(s, test_repeated_key_of_one_value_is_refused_in_every_section);
    CU_ADD_TEST(s, test_continued_key_of_one_value_is_refused);
    CU_ADD_TEST(s, test_list_keys_may_repeat_and_continue);
    CU_ADD_TEST(s, test_repeated_section_is_refused);
    CU_ADD_TEST(s, test_overlong_line_is_refused_not_cut);
    CU_ADD_TEST(s, test_first_error_wins);
    CU_ADD_TEST(s, test_comments_and_inline_comments_are_fine);
    CU_ADD_TEST(s, test_common_keys_reach_the_layer);
    CU_ADD_TEST(s, test_refcount_keeps_engine_alive);
    CU_ADD_TEST(s, test_engine_is_shared_by_threads);
    CU_ADD_TEST(s, test_stages_follow_what_is_configured);
    CU_ADD_TEST(s, test_forked_process_reads_config_of_its_own);
    CU_ADD_TEST(s, test_version_is_semver);
    return 0;
}
