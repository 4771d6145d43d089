/*
 * test_greylist.c - greylisting on a real LMDB file with the store's clock
 * moved by the test: a new triplet is deferred saying when to retry, an
 * early retry too, a retry after the delay passes and keeps passing for
 * the lifetime; the retry window and the lifetime end; triplets are per
 * client network; clients are allowlisted after passes in different
 * hours; customers, DNS-allowlisted clients, SPF-pass domains and
 * POLICY_GREYLIST=off skip it; a store that fails is on_error.
 */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "../../libpolicy/support/store.h"
#include "core.h"
#include "helpers.h"
#include "suites.h"

static char err[512];
static time_t clock_now = 1700000000;

static time_t fake_clock(void)
{
    return clock_now;
}

/* engine - a configuration with a fresh LMDB file and the test's clock. */
static policy_engine *engine(const char *section)
{
    return test_store_engine("greylist", section, fake_clock);
}

/* rcpt - one session from ip: MAIL from, RCPT to; the RCPT's action, its
 * reply text in text (when given). */
static policy_action rcpt(policy_engine *e, const char *ip, const char *from, const char *to,
                          const char *var, const char *value, char *text, size_t len)
{
    policy_session *s = policy_session_new(e, ip, "mx.sender.example");
    if (var)
        CU_ASSERT_EQUAL(policy_session_setvar(s, var, value), 0);
    policy_connect(s);
    policy_helo(s, "mx.sender.example");
    policy_mail(s, from);
    policy_action a = policy_rcpt(s, to);
    if (text)
        snprintf(text, len, "%d %s %s", policy_last_reply(s)->code, policy_last_reply(s)->xcode,
                 policy_last_reply(s)->text);
    policy_session_free(s);
    return a;
}

#define R(e, ip, from, to) rcpt(e, ip, from, to, NULL, NULL, NULL, 0)

static void test_first_attempt_is_deferred_and_a_retry_after_the_delay_passes(void)
{
    char text[512];
    policy_engine *e = engine("[greylist]\n");
    clock_now = 1700000000;
    CU_ASSERT_EQUAL(rcpt(e, "192.0.2.10", "<a@sender.example>", "<user@localhost>", NULL, NULL,
                         text, sizeof(text)),
                    POLICY_TEMPFAIL);
    CU_ASSERT_STRING_EQUAL(text, "451 4.7.1 Greylisted, please try again in 300 seconds");
    CU_ASSERT_TRUE(test_log_has("layer=greylist"));
    clock_now += 100; /* too early: the wait left */
    CU_ASSERT_EQUAL(rcpt(e, "192.0.2.10", "<a@sender.example>", "<user@localhost>", NULL, NULL,
                         text, sizeof(text)),
                    POLICY_TEMPFAIL);
    CU_ASSERT_STRING_EQUAL(text, "451 4.7.1 Greylisted, please try again in 200 seconds");
    CU_ASSERT_TRUE(test_log_has("early retry"));
    clock_now += 200;
    CU_ASSERT_EQUAL(R(e, "192.0.2.10", "<a@sender.example>", "<user@localhost>"), POLICY_CONTINUE);
    CU_ASSERT_TRUE(test_log_has("greylist: passed after 300s"));
    /* the triplet passes from now on; another host of the /24 shares it */
    clock_now += 86400 * 3;
    CU_ASSERT_EQUAL(R(e, "192.0.2.10", "<A@Sender.Example>", "<USER@localhost>"), POLICY_CONTINUE);
    CU_ASSERT_EQUAL(R(e, "192.0.2.77", "<a@sender.example>", "<user@localhost>"), POLICY_CONTINUE);
    /* another network, sender or recipient is another triplet */
    CU_ASSERT_EQUAL(R(e, "192.0.3.10", "<a@sender.example>", "<user@localhost>"), POLICY_TEMPFAIL);
    CU_ASSERT_EQUAL(R(e, "192.0.2.10", "<b@sender.example>", "<user@localhost>"), POLICY_TEMPFAIL);
    CU_ASSERT_EQUAL(R(e, "192.0.2.10", "<a@sender.example>", "<other@localhost>"),
                    POLICY_TEMPFAIL);
    CU_ASSERT_EQUAL(R(e, "192.0.2.10", "<>", "<user@localhost>"), POLICY_TEMPFAIL);
    policy_engine_unref(e);
}

static void test_ipv6_clients_share_their_64(void)
{
    policy_engine *e = engine("[greylist]\ndelay = 60\n");
    clock_now = 1700000000;
    CU_ASSERT_EQUAL(R(e, "2001:db8:1:2::10", "<a@s.example>", "<u@localhost>"), POLICY_TEMPFAIL);
    clock_now += 61;
    CU_ASSERT_EQUAL(R(e, "2001:db8:1:2:ffff::1", "<a@s.example>", "<u@localhost>"),
                    POLICY_CONTINUE);
    CU_ASSERT_EQUAL(R(e, "2001:db8:1:3::10", "<a@s.example>", "<u@localhost>"), POLICY_TEMPFAIL);
    policy_engine_unref(e);
}

static void test_retry_window_and_lifetime_end(void)
{
    policy_engine *e = engine("[greylist]\ndelay = 5m\nretry_window = 1h\nlifetime = 2d\n");
    clock_now = 1700000000;
    CU_ASSERT_EQUAL(R(e, "192.0.2.10", "<a@s.example>", "<u@localhost>"), POLICY_TEMPFAIL);
    clock_now += 3602; /* the retry comes too late: it starts over */
    CU_ASSERT_EQUAL(R(e, "192.0.2.10", "<a@s.example>", "<u@localhost>"), POLICY_TEMPFAIL);
    clock_now += 299;
    CU_ASSERT_EQUAL(R(e, "192.0.2.10", "<a@s.example>", "<u@localhost>"), POLICY_TEMPFAIL);
    clock_now += 2;
    CU_ASSERT_EQUAL(R(e, "192.0.2.10", "<a@s.example>", "<u@localhost>"), POLICY_CONTINUE);
    /* deliveries keep it alive (refreshed at most daily) ... */
    clock_now += 86400 + 10;
    CU_ASSERT_EQUAL(R(e, "192.0.2.10", "<a@s.example>", "<u@localhost>"), POLICY_CONTINUE);
    clock_now += 86400 + 10;
    CU_ASSERT_EQUAL(R(e, "192.0.2.10", "<a@s.example>", "<u@localhost>"), POLICY_CONTINUE);
    /* ... and without them it ends after its lifetime */
    clock_now += 2 * 86400 + 2;
    CU_ASSERT_EQUAL(R(e, "192.0.2.10", "<a@s.example>", "<u@localhost>"), POLICY_TEMPFAIL);
    policy_engine_unref(e);
}

/* pass - greylist a triplet, wait, pass it. */
static void pass(policy_engine *e, const char *ip, const char *from, const char *to)
{
    CU_ASSERT_EQUAL(R(e, ip, from, to), POLICY_TEMPFAIL);
    clock_now += 301;
    CU_ASSERT_EQUAL(R(e, ip, from, to), POLICY_CONTINUE);
}

static void test_client_is_allowlisted_after_passes_in_different_hours(void)
{
    policy_engine *e = engine("[greylist]\nauto_allowlist = 2\n");
    clock_now = 1700000000;
    pass(e, "192.0.2.10", "<a@s.example>", "<u@localhost>");
    pass(e, "192.0.2.10", "<b@s.example>", "<u@localhost>"); /* the same hour: counts once */
    CU_ASSERT_EQUAL(R(e, "192.0.2.10", "<c@s.example>", "<u@localhost>"), POLICY_TEMPFAIL);
    clock_now += 3600;
    pass(e, "192.0.2.10", "<d@s.example>", "<u@localhost>");
    CU_ASSERT_TRUE(test_log_has("greylist: client allowlisted after 2 passes"));
    /* now any triplet of that client passes at once; its neighbours do not */
    CU_ASSERT_EQUAL(R(e, "192.0.2.10", "<new@elsewhere.example>", "<u@localhost>"),
                    POLICY_CONTINUE);
    CU_ASSERT_EQUAL(R(e, "192.0.2.11", "<new@elsewhere.example>", "<u@localhost>"),
                    POLICY_TEMPFAIL);
    policy_engine_unref(e);

    e = engine("[greylist]\nauto_allowlist = 0\n"); /* off */
    pass(e, "192.0.2.10", "<a@s.example>", "<u@localhost>");
    clock_now += 3600;
    pass(e, "192.0.2.10", "<b@s.example>", "<u@localhost>");
    CU_ASSERT_EQUAL(R(e, "192.0.2.10", "<c@s.example>", "<u@localhost>"), POLICY_TEMPFAIL);
    policy_engine_unref(e);
}

/* with_facts - a session whose layers established facts before RCPT. */
static policy_action with_facts(policy_engine *e, const char *name, const char *value,
                                const char *name2, const char *value2, const char *from)
{
    policy_session *s = policy_session_new(e, "192.0.2.10", "mx.sender.example");
    policy_connect(s);
    if (name)
        session_fact_set(s, FACT_CONNECTION, name, value);
    policy_mail(s, from);
    if (name2) {
        session_fact_set(s, FACT_TRANSACTION, "spf", value);
        session_fact_set(s, FACT_TRANSACTION, name2, value2);
    }
    policy_action a = policy_rcpt(s, "<u@localhost>");
    policy_session_free(s);
    return a;
}

static void test_exemptions(void)
{
    policy_engine *e = engine("[greylist]\nspf_domains = bank.example .mail.example\n");
    clock_now = 1700000000;
    /* customers: trusted networks, RELAYCLIENT, AUTH */
    CU_ASSERT_EQUAL(R(e, "198.51.100.7", "<a@s.example>", "<u@localhost>"), POLICY_CONTINUE);
    CU_ASSERT_EQUAL(rcpt(e, "192.0.2.10", "<a@s.example>", "<u@localhost>", "RELAYCLIENT", "",
                         NULL, 0),
                    POLICY_CONTINUE);
    /* the switch from tcp.smtp */
    CU_ASSERT_EQUAL(rcpt(e, "192.0.2.10", "<a@s.example>", "<u@localhost>", "POLICY_GREYLIST",
                         "off", NULL, 0),
                    POLICY_CONTINUE);
    CU_ASSERT_EQUAL(rcpt(e, "192.0.2.10", "<a@s.example>", "<u@localhost>", "POLICY_GREYLIST",
                         "warn", NULL, 0),
                    POLICY_CONTINUE);
    CU_ASSERT_TRUE(test_log_has("action=warn"));
    /* a DNS allowlist listed the client (the dnsbl layer's fact) */
    CU_ASSERT_EQUAL(with_facts(e, "dnswl", "listed", NULL, NULL, "<a@s.example>"),
                    POLICY_CONTINUE);
    /* SPF pass for a listed domain (the spf layer's facts), not for others */
    CU_ASSERT_EQUAL(with_facts(e, NULL, "pass", "spf_domain", "bank.example", "<a@bank.example>"),
                    POLICY_CONTINUE);
    CU_ASSERT_EQUAL(with_facts(e, NULL, "pass", "spf_domain", "out.mail.example",
                               "<a@out.mail.example>"),
                    POLICY_CONTINUE);
    CU_ASSERT_EQUAL(with_facts(e, NULL, "softfail", "spf_domain", "bank.example",
                               "<b@bank.example>"),
                    POLICY_TEMPFAIL);
    CU_ASSERT_EQUAL(with_facts(e, NULL, "pass", "spf_domain", "other.example",
                               "<a@other.example>"),
                    POLICY_TEMPFAIL);
    policy_engine_unref(e);
}

static void test_long_addresses_make_a_hashed_key(void)
{
    char from[600], to[600];
    policy_engine *e = engine("[greylist]\n");
    clock_now = 1700000000;
    /* 64-byte local parts, a 251-byte domain: over the 400 bytes of a key */
    snprintf(from, sizeof(from), "<%064d@%060d.%060d.%060d.%060d.example>", 7, 1, 2, 3, 4);
    snprintf(to, sizeof(to), "<%064d@localhost>", 8);
    CU_ASSERT_EQUAL(R(e, "192.0.2.10", from, to), POLICY_TEMPFAIL);
    clock_now += 301;
    CU_ASSERT_EQUAL(R(e, "192.0.2.10", from, to), POLICY_CONTINUE);
    snprintf(to, sizeof(to), "<%064d@localhost>", 9);
    CU_ASSERT_EQUAL(R(e, "192.0.2.10", from, to), POLICY_TEMPFAIL);
    policy_engine_unref(e);
}

static void test_store_that_fails_follows_on_error(void)
{
    char conf[512], text[512];
    /* an LMDB path under a regular file can never be opened */
    const char *file = test_write("not-a-dir", "x");
    snprintf(conf, sizeof(conf), "[general]\nstore = lmdb:%s/sub/state\n[greylist]\n", file);
    policy_engine *e = test_engine(conf, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    test_log_clear();
    test_log_attach(e);
    CU_ASSERT_EQUAL(rcpt(e, "192.0.2.10", "<a@s.example>", "<u@localhost>", NULL, NULL, text,
                         sizeof(text)),
                    POLICY_TEMPFAIL);
    CU_ASSERT_STRING_EQUAL(text, "451 4.3.0 temporary failure checking the greylist, try again later");
    CU_ASSERT_TRUE(test_log_has("greylist: store: lmdb: cannot open the store"));
    policy_engine_unref(e);
    snprintf(conf, sizeof(conf), "[general]\nstore = lmdb:%s/sub/state\n[greylist]\non_error = accept\n",
             file);
    e = test_engine(conf, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    test_log_attach(e);
    CU_ASSERT_EQUAL(R(e, "192.0.2.10", "<a@s.example>", "<u@localhost>"), POLICY_CONTINUE);
    CU_ASSERT_TRUE(test_log_has("action=error-accepted"));
    policy_engine_unref(e);
}

static void test_configuration_is_checked(void)
{
    CU_ASSERT_PTR_NULL(test_engine("[greylist]\n", err, sizeof(err)));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "greylisting needs a store"));
    CU_ASSERT_PTR_NULL(test_engine("[general]\nstore = lmdb:/tmp/x\n[greylist]\ndelay = 2d\n", err,
                                   sizeof(err)));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "[greylist] retry_window: must be longer than the delay"));
    CU_ASSERT_PTR_NULL(test_engine("[general]\nstore = lmdb:/tmp/x\n[greylist]\nlifetime = soon\n",
                                   err, sizeof(err)));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "[greylist] lifetime: expected a time span"));
    CU_ASSERT_PTR_NULL(test_engine("[greylist]\nstore = memcache://x\n", err, sizeof(err)));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "store URI: unknown kind"));
    /* a store of its own instead of [general]'s */
    char conf[512];
    snprintf(conf, sizeof(conf), "[greylist]\nstore = lmdb:%s/own-greylist\n", test_dir());
    policy_engine *e = test_engine(conf, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL(e);
    policy_engine_unref(e);
    /* without its section the layer is off and needs nothing */
    e = test_engine("[botnet]\n", err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL(e);
    policy_engine_unref(e);
}

int suite_greylist(void)
{
    CU_pSuite s = CU_add_suite("greylist", NULL, NULL);
    if (!s)
        return -1;
    CU_ADD_TEST(s, test_first_attempt_is_deferred_and_a_retry_after_the_delay_passes);
    CU_ADD_TEST(s, test_ipv6_clients_share_their_64);
    CU_ADD_TEST(s, test_retry_window_and_lifetime_end);
    CU_ADD_TEST(s, test_client_is_allowlisted_after_passes_in_different_hours);
    CU_ADD_TEST(s, test_exemptions);
    CU_ADD_TEST(s, test_long_addresses_make_a_hashed_key);
    CU_ADD_TEST(s, test_store_that_fails_follows_on_error);
    CU_ADD_TEST(s, test_configuration_is_checked);
    return 0;
}
