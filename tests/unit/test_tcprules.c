/*
 * test_tcprules.c - the tcprules cdb reader: tcpserver's lookup order, its
 * instruction format, and broken files.  The cdb files are written here
 * with tinycdb; the compatibility with the real tcprules/tcpserver is
 * tests/integration/tcprules_compat.sh.
 */
#include <CUnit/CUnit.h>
#include <cdb.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"
#include "core.h"
#include "tcprules.h"
#include "suites.h"

struct rule {
    const char *key;
    const char *data; /* instructions separated by '|', each gets its NUL */
};

/* make_cdb - write rules to a cdb in the test dir; returns its path. */
static const char *make_cdb(const char *name, const struct rule *rules)
{
    static char path[512];
    snprintf(path, sizeof(path), "%s/%s", test_dir(), name);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    struct cdb_make cm;
    CU_ASSERT_FATAL(fd >= 0);
    cdb_make_start(&cm, fd);
    for (const struct rule *r = rules; r->key; r++) {
        char data[1024];
        size_t n = 0;
        for (const char *p = r->data; *p && n < sizeof(data) - 1; p++)
            data[n++] = *p == '|' ? '\0' : *p;
        if (*r->data)
            data[n++] = '\0';
        cdb_make_add(&cm, r->key, (unsigned)strlen(r->key), data, (unsigned)n);
    }
    cdb_make_finish(&cm);
    close(fd);
    return path;
}

static char got[2048];

static void collect(const char *name, const char *value, void *ctx)
{
    (void)ctx;
    size_t n = strlen(got);
    snprintf(got + n, sizeof(got) - n, "%s%s=%s", n ? "," : "", name, value);
}

/* look - run a lookup on path; returns the result, variables in got. */
static int look(const char *path, const char *ip, const char *host, const char *info)
{
    got[0] = '\0';
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -9;
    int r = tcprules_lookup_fd(fd, ip, host, info, collect, NULL);
    close(fd);
    return r;
}

static const struct rule rules[] = {
    {"127.", "+RELAYCLIENT=|+WHY=loopback"},
    {"127.0.0.1", "+WHY=exact"},
    {"10.1.", "+WHY=ten-one"},
    {"10.1.2.", "+WHY=ten-one-two"},
    {"10.1.2.5", "+WHY=range"},
    {"10.1.2.6", "+WHY=range"},
    {"192.0.2.66", "D"},
    {"=mx.good.example", "+WHY=host"},
    {"=.good.example", "+WHY=domain|+POLICY_DNSBL=off"},
    {"joe@10.9.9.9", "+WHY=info-ip"},
    {"joe@=client.test", "+WHY=info-host"},
    {"=", "+WHY=any-host"},
    {"", "+WHY=default|+CHKUSER_WRONGRCPTLIMIT=3"},
    {NULL, NULL},
};

static void test_exact_address_beats_prefix(void)
{
    const char *p = make_cdb("a.cdb", rules);
    CU_ASSERT_EQUAL(look(p, "127.0.0.1", NULL, NULL), 1);
    CU_ASSERT_STRING_EQUAL(got, "WHY=exact");
    CU_ASSERT_EQUAL(look(p, "127.0.0.2", NULL, NULL), 1);
    CU_ASSERT_STRING_EQUAL(got, "RELAYCLIENT=,WHY=loopback");
}

static void test_longest_prefix_wins(void)
{
    const char *p = make_cdb("a.cdb", rules);
    look(p, "10.1.2.7", NULL, NULL);
    CU_ASSERT_STRING_EQUAL(got, "WHY=ten-one-two");
    look(p, "10.1.3.7", NULL, NULL);
    CU_ASSERT_STRING_EQUAL(got, "WHY=ten-one");
    look(p, "10.1.2.5", NULL, NULL);
    CU_ASSERT_STRING_EQUAL(got, "WHY=range");
    look(p, "10.11.2.5", NULL, NULL); /* "10.1" is not a prefix ending in a dot of it */
    CU_ASSERT_STRING_EQUAL(got, "WHY=default,CHKUSER_WRONGRCPTLIMIT=3");
}

static void test_deny_rule_says_deny(void)
{
    const char *p = make_cdb("a.cdb", rules);
    CU_ASSERT_EQUAL(look(p, "192.0.2.66", NULL, NULL), 2);
    CU_ASSERT_STRING_EQUAL(got, "");
}

static void test_host_rules_follow_the_address_rule_order(void)
{
    const char *p = make_cdb("a.cdb", rules);
    look(p, "192.0.2.1", "mx.good.example", NULL);
    CU_ASSERT_STRING_EQUAL(got, "WHY=host");
    look(p, "192.0.2.1", "relay.good.example", NULL);
    CU_ASSERT_STRING_EQUAL(got, "WHY=domain,POLICY_DNSBL=off");
    look(p, "192.0.2.1", "a.b.good.example", NULL);
    CU_ASSERT_STRING_EQUAL(got, "WHY=domain,POLICY_DNSBL=off");
    look(p, "192.0.2.1", "other.example", NULL);
    CU_ASSERT_STRING_EQUAL(got, "WHY=any-host");
    /* an address prefix comes before host suffixes */
    look(p, "10.1.2.9", "mx.good.example", NULL);
    CU_ASSERT_STRING_EQUAL(got, "WHY=host"); /* =host (step 4) before prefixes (step 5) */
    look(p, "10.1.2.9", "x.good.example", NULL);
    CU_ASSERT_STRING_EQUAL(got, "WHY=ten-one-two");
}

static void test_info_rules_come_first(void)
{
    const char *p = make_cdb("a.cdb", rules);
    look(p, "10.9.9.9", NULL, "joe");
    CU_ASSERT_STRING_EQUAL(got, "WHY=info-ip");
    look(p, "127.0.0.1", "client.test", "joe");
    CU_ASSERT_STRING_EQUAL(got, "WHY=info-host");
    look(p, "127.0.0.1", "client.test", "bill");
    CU_ASSERT_STRING_EQUAL(got, "WHY=exact");
}

static void test_empty_key_is_the_default(void)
{
    const char *p = make_cdb("a.cdb", rules);
    CU_ASSERT_EQUAL(look(p, "198.51.100.1", NULL, NULL), 1);
    CU_ASSERT_STRING_EQUAL(got, "WHY=default,CHKUSER_WRONGRCPTLIMIT=3");
}

static void test_no_rule_found(void)
{
    static const struct rule only[] = {{"127.", "+RELAYCLIENT="}, {NULL, NULL}};
    const char *p = make_cdb("b.cdb", only);
    CU_ASSERT_EQUAL(look(p, "198.51.100.1", "x.test", NULL), 0);
    CU_ASSERT_STRING_EQUAL(got, "");
}

static void test_plain_allow_has_no_instructions(void)
{
    static const struct rule allow[] = {{"192.0.2.", ""}, {"", "D"}, {NULL, NULL}};
    const char *p = make_cdb("c.cdb", allow);
    CU_ASSERT_EQUAL(look(p, "192.0.2.9", NULL, NULL), 1);
    CU_ASSERT_EQUAL(look(p, "192.0.3.9", NULL, NULL), 2);
}

static void test_instructions_are_read_like_tcpserver(void)
{
    /* "+NOEQUALS" is ignored, an unterminated last instruction too */
    static const struct rule odd[] = {{"", "+A=1|+NOEQUALS|+B=x=y|Xjunk|+C="}, {NULL, NULL}};
    const char *p = make_cdb("d.cdb", odd);
    CU_ASSERT_EQUAL(look(p, "192.0.2.1", NULL, NULL), 1);
    CU_ASSERT_STRING_EQUAL(got, "A=1,B=x=y,C=");
}

static void test_unterminated_last_instruction_is_ignored(void)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/f.cdb", test_dir());
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    struct cdb_make cm;
    cdb_make_start(&cm, fd);
    cdb_make_add(&cm, "", 0, "+A=1\0+B=2", 9);
    cdb_make_finish(&cm);
    close(fd);
    CU_ASSERT_EQUAL(look(path, "1.2.3.4", NULL, NULL), 1);
    CU_ASSERT_STRING_EQUAL(got, "A=1");
}

static void test_broken_files_are_read_errors(void)
{
    CU_ASSERT_EQUAL(look(test_write("empty.cdb", ""), "1.2.3.4", NULL, NULL), -1);
    CU_ASSERT_EQUAL(look(test_write("short.cdb", "0123456789"), "1.2.3.4", NULL, NULL), -1);
    /* a table header pointing past the end of the file */
    char junk[2048];
    memset(junk, 0xff, sizeof(junk));
    char path[512];
    snprintf(path, sizeof(path), "%s/junk.cdb", test_dir());
    FILE *fp = fopen(path, "w");
    fwrite(junk, 1, sizeof(junk), fp);
    fclose(fp);
    CU_ASSERT_EQUAL(look(path, "1.2.3.4", NULL, NULL), -1);
}

static void test_ipv6_client_walks_colon_prefixes(void)
{
    static const struct rule v6[] = {{"2001:db8:", "+WHY=doc"},
                                     {"2001:db8::1", "+WHY=exact"},
                                     {"", "+WHY=default"},
                                     {NULL, NULL}};
    const char *p = make_cdb("v6.cdb", v6);
    look(p, "2001:db8::1", NULL, NULL);
    CU_ASSERT_STRING_EQUAL(got, "WHY=exact");
    look(p, "2001:db8::2", NULL, NULL);
    CU_ASSERT_STRING_EQUAL(got, "WHY=doc");
    look(p, "2001:db9::2", NULL, NULL);
    CU_ASSERT_STRING_EQUAL(got, "WHY=default");
}

static void test_overlong_host_does_not_hit_the_default_early(void)
{
    static const struct rule r[] = {
        {"", "+WHY=default"}, {"=.example", "+WHY=suffix"}, {NULL, NULL}};
    char host[700];
    memset(host, 'a', sizeof(host));
    strcpy(host + sizeof(host) - 10, ".example");
    const char *p = make_cdb("long.cdb", r);
    look(p, "192.0.2.1", host, NULL);
    CU_ASSERT_STRING_EQUAL(got, "WHY=suffix");
}

/* Through the public API: the engine names the file, the session applies it. */
static void test_session_gets_relayclient_from_tcprules(void)
{
    char conf[700], err[512];
    const char *p = make_cdb("api.cdb", rules);
    snprintf(conf, sizeof(conf), "[general]\ntcprules = %s\n", p);
    policy_engine *e = test_engine(conf, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    test_log_attach(e);

    policy_session *s = policy_session_new(e, "127.0.0.9", NULL);
    CU_ASSERT_EQUAL(policy_session_tcprules(s, NULL), 0);
    CU_ASSERT_STRING_EQUAL(policy_session_getvar(s, "RELAYCLIENT"), "");
    CU_ASSERT_EQUAL(policy_connect(s), POLICY_CONTINUE);
    CU_ASSERT_TRUE(s->client.customer);
    policy_session_free(s);

    s = policy_session_new(e, "192.0.2.66", NULL);
    CU_ASSERT_EQUAL(policy_session_tcprules(s, NULL), 1);
    CU_ASSERT_EQUAL(policy_connect(s), POLICY_REJECT);
    CU_ASSERT_EQUAL(policy_last_reply(s)->code, 554);
    CU_ASSERT_STRING_EQUAL(policy_last_reply(s)->layer, "tcprules");
    policy_session_free(s);

    s = policy_session_new(e, "198.51.100.7", "[198.51.100.7]");
    CU_ASSERT_EQUAL(policy_session_tcprules(s, NULL), 0);
    CU_ASSERT_STRING_EQUAL(policy_session_getvar(s, "CHKUSER_WRONGRCPTLIMIT"), "3");
    CU_ASSERT_PTR_NULL(policy_session_getvar(s, "RELAYCLIENT"));
    policy_session_free(s);
    policy_engine_unref(e);
}

static void test_unreadable_rules_defer_the_connection(void)
{
    char conf[700], err[512], path[512];
    snprintf(path, sizeof(path), "%s/gone.cdb", test_dir());
    make_cdb("gone.cdb", rules);
    snprintf(conf, sizeof(conf), "[general]\ntcprules = %s\n", path);
    policy_engine *e = test_engine(conf, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    test_log_attach(e);
    unlink(path);
    policy_session *s = policy_session_new(e, "127.0.0.9", NULL);
    CU_ASSERT_EQUAL(policy_session_tcprules(s, NULL), -1);
    CU_ASSERT_EQUAL(policy_connect(s), POLICY_TEMPFAIL);
    CU_ASSERT_EQUAL(policy_last_reply(s)->code, 421);
    CU_ASSERT_TRUE(test_log_has("tcprules: cannot open"));
    policy_session_free(s);
    policy_engine_unref(e);
}

int suite_tcprules(void)
{
    CU_pSuite s = CU_add_suite("tcprules", NULL, NULL);
    if (!s)
        return -1;
    CU_ADD_TEST(s, test_exact_address_beats_prefix);
    CU_ADD_TEST(s, test_longest_prefix_wins);
    CU_ADD_TEST(s, test_deny_rule_says_deny);
    CU_ADD_TEST(s, test_host_rules_follow_the_address_rule_order);
    CU_ADD_TEST(s, test_info_rules_come_first);
    CU_ADD_TEST(s, test_empty_key_is_the_default);
    CU_ADD_TEST(s, test_no_rule_found);
    CU_ADD_TEST(s, test_plain_allow_has_no_instructions);
    CU_ADD_TEST(s, test_instructions_are_read_like_tcpserver);
    CU_ADD_TEST(s, test_unterminated_last_instruction_is_ignored);
    CU_ADD_TEST(s, test_broken_files_are_read_errors);
    CU_ADD_TEST(s, test_ipv6_client_walks_colon_prefixes);
    CU_ADD_TEST(s, test_overlong_host_does_not_hit_the_default_early);
    CU_ADD_TEST(s, test_session_gets_relayclient_from_tcprules);
    CU_ADD_TEST(s, test_unreadable_rules_defer_the_connection);
    return 0;
}
