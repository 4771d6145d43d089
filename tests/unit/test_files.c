/*
 * test_files.c - every file the library reads (the configuration, tcprules,
 * local_domains, morercpthosts, pattern files, recipient maps, users/cdb,
 * vpasswd.cdb): a FIFO or a device in its place is refused at once with an
 * error naming it, never waited on, and a NUL byte in a text file is an
 * error naming file and line, never a line silently cut.  Each test runs
 * under an alarm, so a reader that blocks fails instead of hanging the suite.
 */
#include <CUnit/CUnit.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helpers.h"
#include "core.h"
#include "suites.h"

static char err[1024], conf[2048];

/* fifo - a named pipe under test_dir() that nobody ever writes. */
static const char *fifo(const char *name)
{
    static char path[8][512];
    static int next;
    char *p = path[next++ % 8];
    snprintf(p, 512, "%s/%s", test_dir(), name);
    unlink(p);
    CU_ASSERT_EQUAL(mkfifo(p, 0644), 0);
    return p;
}

/* write_bytes - a file with exactly these n bytes (NULs included). */
static const char *write_bytes(const char *name, const char *bytes, size_t n)
{
    const char *p = test_write(name, "");
    FILE *fp = fopen(p, "wb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
    CU_ASSERT_EQUAL(fwrite(bytes, 1, n, fp), n);
    fclose(fp);
    return p;
}

/* refused - the configuration text must not load, and err must hold want. */
static void refused(const char *text, const char *want)
{
    alarm(20);
    policy_engine *e = test_engine(text, err, sizeof(err));
    alarm(0);
    CU_ASSERT_PTR_NULL(e);
    if (e)
        policy_engine_unref(e);
    if (!strstr(err, want))
        fprintf(stderr, "\n  expected '%s' in '%s'\n", want, err);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, want));
}

static void test_configuration_that_is_a_fifo_or_device_is_refused(void)
{
    const char *f = fifo("policy.fifo");
    alarm(20);
    CU_ASSERT_PTR_NULL(policy_engine_open(f, err, sizeof(err)));
    alarm(0);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "policy.fifo:0: not a regular file"));
    CU_ASSERT_PTR_NULL(policy_engine_open("/dev/zero", err, sizeof(err)));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "/dev/zero:0: not a regular file"));
    CU_ASSERT_PTR_NULL(policy_engine_open(test_dir(), err, sizeof(err)));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, ":0: not a regular file"));
}

static void test_nul_byte_in_the_configuration_names_the_line(void)
{
    static const char text[] = "[general]\nlog_level = info\n"
                               "hostname = mx.example.test\0 trailing text\n";
    const char *p = write_bytes("nul.conf", text, sizeof(text) - 1);
    CU_ASSERT_PTR_NULL(policy_engine_open(p, err, sizeof(err)));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "nul.conf:3: NUL byte in the line"));
}

static void test_tcprules_that_is_not_a_file_is_refused_and_never_waited_on(void)
{
    snprintf(conf, sizeof(conf), "[general]\ntcprules = %s\n", fifo("tcp.fifo"));
    refused(conf, "[general] tcprules: ");
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "tcp.fifo: not a regular file"));
    refused("[general]\ntcprules = /dev/zero\n", "/dev/zero: not a regular file");

    /* a FIFO put in place of the file after load: this connection defers */
    const char *cdb = test_write("tcp.cdb", "");
    snprintf(conf, sizeof(conf), "[general]\ntcprules = %s\n", cdb);
    policy_engine *e = test_engine(conf, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    unlink(cdb);
    CU_ASSERT_EQUAL(mkfifo(cdb, 0644), 0);
    test_log_attach(e);
    policy_session *s = policy_session_new(e, "192.0.2.1", NULL);
    alarm(20);
    CU_ASSERT_EQUAL(policy_session_tcprules(s, NULL), -1);
    alarm(0);
    CU_ASSERT_TRUE(test_log_has("not a regular file"));
    CU_ASSERT_EQUAL(policy_connect(s), POLICY_TEMPFAIL);
    CU_ASSERT_EQUAL(policy_last_reply(s)->code, 421);
    policy_session_free(s);
    policy_engine_unref(e);
}

static void test_local_domains_and_morercpthosts_must_be_regular_files(void)
{
    snprintf(conf, sizeof(conf), "[customers]\nlocal_domains = %s\n", fifo("rcpthosts"));
    refused(conf, "[customers] local_domains: ");
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "rcpthosts: not a regular file"));
    snprintf(conf, sizeof(conf), "[customers]\nmorercpthosts = %s\n", fifo("more.cdb"));
    refused(conf, "more.cdb: not a regular file");
    refused("[customers]\nmorercpthosts = /dev/zero\n", "/dev/zero: not a regular file");

    static const char text[] = "example.test\nexample.org\0.evil.test\nexample.net\n";
    snprintf(conf, sizeof(conf), "[customers]\nlocal_domains = %s\n",
             write_bytes("rcpthosts.nul", text, sizeof(text) - 1));
    refused(conf, "rcpthosts.nul:2: NUL byte in the line");
}

static void test_pattern_files_must_be_regular_files_without_nul_bytes(void)
{
    snprintf(conf, sizeof(conf), "[regex]\nbadhelo = %s\n", fifo("badhelo"));
    refused(conf, "[regex] badhelo: ");
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "badhelo: not a regular file"));
    refused("[regex]\nbadmailfrom = /dev/zero\n", "/dev/zero: not a regular file");

    /* even in a comment: the rest of the line would vanish unseen */
    static const char text[] = "^a\\.test$\n# a comment\0^b\\.test$\n";
    snprintf(conf, sizeof(conf), "[regex]\nbadrcptto = %s\n",
             write_bytes("badrcptto.nul", text, sizeof(text) - 1));
    refused(conf, "badrcptto.nul:2: NUL byte");
}

static void test_recipient_sources_must_be_regular_files(void)
{
    snprintf(conf, sizeof(conf), "[recipients]\nmap = %s\n", fifo("map.cdb"));
    refused(conf, "[recipients] map: ");
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "map.cdb: not a regular file"));
    snprintf(conf, sizeof(conf), "[recipients]\nqmail_users = %s\n", fifo("users.cdb"));
    refused(conf, "[recipients] qmail_users: ");
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "users.cdb: not a regular file"));
    refused("[recipients]\nqmail_users = /dev/zero\n", "/dev/zero: not a regular file");
}

static void test_vpasswd_fifo_defers_the_recipient_without_waiting(void)
{
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/vfifo", test_dir());
    CU_ASSERT_EQUAL(mkdir(dir, 0755), 0);
    snprintf(dir, sizeof(dir), "%s/vfifo/domains", test_dir());
    CU_ASSERT_EQUAL(mkdir(dir, 0755), 0);
    snprintf(dir, sizeof(dir), "%s/vfifo/domains/v.test", test_dir());
    CU_ASSERT_EQUAL(mkdir(dir, 0755), 0);
    fifo("vfifo/domains/v.test/vpasswd.cdb");
    snprintf(conf, sizeof(conf),
             "[customers]\nlocal_domains = v.test\n[recipients]\nvpopmail_dir = %s/vfifo\n",
             test_dir());
    policy_engine *e = test_engine(conf, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    policy_session *s = policy_session_new(e, "192.0.2.1", NULL);
    policy_connect(s);
    policy_helo(s, "client.test");
    policy_mail(s, "<a@client.test>");
    alarm(20);
    CU_ASSERT_EQUAL(policy_rcpt(s, "<joe@v.test>"), POLICY_TEMPFAIL);
    alarm(0);
    policy_session_free(s);
    policy_engine_unref(e);
}

static void test_makemap_input_must_be_a_regular_file_without_nul_bytes(void)
{
    char out[512];
    snprintf(out, sizeof(out), "%s/made.cdb", test_dir());
    alarm(20);
    CU_ASSERT_EQUAL(policy_makemap_recipients(fifo("recipients.fifo"), out, 0, err, sizeof(err)),
                    -1);
    alarm(0);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "recipients.fifo: not a regular file"));
    CU_ASSERT_EQUAL(policy_makemap_recipients("/dev/zero", out, 0, err, sizeof(err)), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "/dev/zero: not a regular file"));
    static const char text[] = "joe@example.test\nann@example.test\0bob@example.test\n";
    const char *in = write_bytes("recipients.nul", text, sizeof(text) - 1);
    CU_ASSERT_EQUAL(policy_makemap_recipients(in, out, 0, err, sizeof(err)), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "recipients.nul:2: NUL byte"));
    CU_ASSERT_EQUAL(access(out, F_OK), -1); /* nothing half-made left behind */
}

int suite_files(void)
{
    CU_pSuite s = CU_add_suite("files", NULL, NULL);
    if (!s)
        return -1;
    CU_ADD_TEST(s, test_configuration_that_is_a_fifo_or_device_is_refused);
    CU_ADD_TEST(s, test_nul_byte_in_the_configuration_names_the_line);
    CU_ADD_TEST(s, test_tcprules_that_is_not_a_file_is_refused_and_never_waited_on);
    CU_ADD_TEST(s, test_local_domains_and_morercpthosts_must_be_regular_files);
    CU_ADD_TEST(s, test_pattern_files_must_be_regular_files_without_nul_bytes);
    CU_ADD_TEST(s, test_recipient_sources_must_be_regular_files);
    CU_ADD_TEST(s, test_vpasswd_fifo_defers_the_recipient_without_waiting);
    CU_ADD_TEST(s, test_makemap_input_must_be_a_regular_file_without_nul_bytes);
    return 0;
}
