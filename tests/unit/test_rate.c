/*
 * test_rate.c - rate limits on a real LMDB file with the store's clock
 * moved by the test: connections, messages and recipients per client
 * address and network for clients that are not customers, outbound
 * messages and recipients per user or customer address (logged loudly),
 * fixed windows, per-client variables, a store that fails (on_error), and
 * the rate and greylist layers sharing one batch at RCPT.  Exact counting
 * across processes: tests/integration/rate.sh.
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
    return test_store_engine("rate", section, fake_clock);
}

/* A session, stage by stage. */
static policy_session *open_session(policy_engine *e, const char *ip, const char *var,
                                    const char *value)
{
    policy_session *s = policy_session_new(e, ip, "mx.sender.example");
    if (var)
        CU_ASSERT_EQUAL(policy_session_setvar(s, var, value), 0);
    return s;
}

static const char *text_of(policy_session *s)
{
    static char t[512];
    snprintf(t, sizeof(t), "%d %s %s", policy_last_reply(s)->code, policy_last_reply(s)->xcode,
             policy_last_reply(s)->text);
    return t;
}

/* message - one transaction of n recipients; how many were accepted. */
static int message(policy_session *s, int n)
{
    int ok = 0;
    char to[64];
    policy_mail(s, "<a@sender.example>");
    for (int i = 0; i < n; i++) {
        snprintf(to, sizeof(to), "<user%d@localhost>", i);
        ok += policy_rcpt(s, to) == POLICY_CONTINUE;
    }
    policy_reset(s);
    return ok;
}

static void test_connections_per_address(void)
{
    policy_engine *e = engine("[rate]\nconnections = 3/1m\n");
    clock_now = 1700000000;
    for (int i = 0; i < 3; i++) {
        policy_session *s = open_session(e, "192.0.2.10", NULL, NULL);
        CU_ASSERT_EQUAL(policy_connect(s), POLICY_CONTINUE);
        CU_ASSERT_EQUAL(message(s, 1), 1);
        policy_session_free(s);
    }
    /* the fourth: remembered at connect (delay_reject), refused at RCPT */
    policy_session *s = open_session(e, "192.0.2.10", NULL, NULL);
    CU_ASSERT_EQUAL(policy_connect(s), POLICY_CONTINUE);
    policy_mail(s, "<a@sender.example>");
    CU_ASSERT_EQUAL(policy_rcpt(s, "<user@localhost>"), POLICY_TEMPFAIL);
    CU_ASSERT_STRING_EQUAL(text_of(s), "451 4.7.1 Too many connections from your address, try again later");
    policy_session_free(s);
    CU_ASSERT_TRUE(test_log_has("connections limit 3/1m reached by 192.0.2.10 (4)"));
    /* a later AUTH lifts it (customers have their own limits) */
    s = open_session(e, "192.0.2.10", NULL, NULL);
    policy_connect(s);
    policy_auth(s, "alice");
    CU_ASSERT_EQUAL(message(s, 1), 1);
    policy_session_free(s);
    /* other clients count on their own; the window ends */
    s = open_session(e, "192.0.2.11", NULL, NULL);
    policy_connect(s);
    CU_ASSERT_EQUAL(message(s, 1), 1);
    policy_session_free(s);
    clock_now += 61;
    s = open_session(e, "192.0.2.10", NULL, NULL);
    policy_connect(s);
    CU_ASSERT_EQUAL(message(s, 1), 1);
    policy_session_free(s);
    policy_engine_unref(e);

    /* refused at connect itself when verdicts are not delayed: 421 */
    e = engine("[rate]\nconnections = 1/1m\ndelay_reject = no\n");
    s = open_session(e, "192.0.2.10", NULL, NULL);
    CU_ASSERT_EQUAL(policy_connect(s), POLICY_CONTINUE);
    policy_session_free(s);
    s = open_session(e, "192.0.2.10", NULL, NULL);
    CU_ASSERT_EQUAL(policy_connect(s), POLICY_TEMPFAIL);
    CU_ASSERT_EQUAL(policy_last_reply(s)->code, 421);
    policy_session_free(s);
    policy_engine_unref(e);
}

/* over_delay: SpamThrottle slows the client down instead of refusing it */
static void test_over_delay_greets_late_instead_of_refusing(void)
{
    policy_engine *e = engine("[rate]\nconnections = 1/1m\nover_delay = 7s\n"
                              "[botnet]\ngreet_delay = 0\n");
    clock_now = 1700000000;
    policy_session *s = open_session(e, "192.0.2.20", NULL, NULL);
    CU_ASSERT_EQUAL(policy_connect(s), POLICY_CONTINUE);
    CU_ASSERT_EQUAL(policy_greeting_delay(s), 0);
    policy_session_free(s);
    s = open_session(e, "192.0.2.20", NULL, NULL); /* the second: over, slowed down */
    CU_ASSERT_EQUAL(policy_connect(s), POLICY_CONTINUE);
    CU_ASSERT_EQUAL(policy_greeting_delay(s), 7000);
    CU_ASSERT_EQUAL(message(s, 1), 1); /* and not refused */
    policy_session_free(s);
    CU_ASSERT_TRUE(test_log_has("rate: connections limit 1 reached by 192.0.2.20 (2): greeting "
                                "delayed 7000ms"));
    CU_ASSERT_TRUE(test_log_has("greeting delay 7000ms: over a connections limit"));
    s = open_session(e, "192.0.2.21", NULL, NULL); /* another client: not over */
    policy_connect(s);
    CU_ASSERT_EQUAL(policy_greeting_delay(s), 0);
    policy_session_free(s);
    policy_engine_unref(e);
    /* in warn mode it only logs, as every refusal does */
    e = engine("[rate]\nconnections = 1/1m\nover_delay = 7s\naction = warn\n");
    for (int i = 0; i < 2; i++) {
        s = open_session(e, "192.0.2.22", NULL, NULL);
        policy_connect(s);
        CU_ASSERT_EQUAL(policy_greeting_delay(s), 0);
        policy_session_free(s);
    }
    CU_ASSERT_TRUE(test_log_has("action=warn"));
    policy_engine_unref(e);
    /* a duration, at most two minutes */
    CU_ASSERT_PTR_NULL(test_engine("[general]\nstore = lmdb:/tmp/x\n[rate]\nover_delay = 3m\n",
                                   err, sizeof(err)));
}

static void test_messages_count_once_per_transaction(void)
{
    policy_engine *e = engine("[rate]\nconnections = 0\nmessages = 2/1h\n");
    clock_now = 1700000000;
    policy_session *s = open_session(e, "192.0.2.10", NULL, NULL);
    policy_connect(s);
    CU_ASSERT_EQUAL(message(s, 5), 5); /* one message, five recipients */
    CU_ASSERT_EQUAL(message(s, 1), 1);
    CU_ASSERT_EQUAL(message(s, 3), 0); /* the third message: every RCPT refused */
    CU_ASSERT_STRING_EQUAL(text_of(s), "451 4.7.1 Too many messages from your address, try again later");
    policy_session_free(s);
    clock_now += 3601;
    s = open_session(e, "192.0.2.10", NULL, NULL);
    policy_connect(s);
    CU_ASSERT_EQUAL(message(s, 1), 1);
    policy_session_free(s);
    policy_engine_unref(e);
}

static void test_recipients_and_networks(void)
{
    policy_engine *e = engine("[rate]\nconnections = 0\nmessages = 0\nrecipients = 4/1h\n"
                              "net_messages = 3/1h\nnet_prefix4 = 24\n");
    clock_now = 1700000000;
    policy_session *s = open_session(e, "192.0.2.10", NULL, NULL);
    policy_connect(s);
    CU_ASSERT_EQUAL(message(s, 3), 3);
    CU_ASSERT_EQUAL(message(s, 3), 1); /* recipients 4 and 5, 6 over */
    CU_ASSERT_STRING_EQUAL(text_of(s), "451 4.7.1 Too many recipients from your address, try again later");
    policy_session_free(s);
    /* the /24: two messages so far, a third from a neighbour, then no more */
    s = open_session(e, "192.0.2.99", NULL, NULL);
    policy_connect(s);
    CU_ASSERT_EQUAL(message(s, 1), 1);
    CU_ASSERT_EQUAL(message(s, 1), 0);
    CU_ASSERT_STRING_EQUAL(text_of(s), "451 4.7.1 Too many messages from your network, try again later");
    policy_session_free(s);
    s = open_session(e, "192.0.3.1", NULL, NULL);
    policy_connect(s);
    CU_ASSERT_EQUAL(message(s, 1), 1);
    policy_session_free(s);
    policy_engine_unref(e);
}

static void test_outbound_limits_per_user_and_customer_address(void)
{
    policy_engine *e = engine("[rate]\nauth_messages = 2/1h\nauth_recipients = 5/1d\n");
    clock_now = 1700000000;
    policy_session *s = open_session(e, "203.0.113.5", NULL, NULL);
    policy_connect(s);
    CU_ASSERT_EQUAL(policy_auth(s, "alice"), POLICY_CONTINUE);
    CU_ASSERT_EQUAL(message(s, 1), 1);
    CU_ASSERT_EQUAL(message(s, 1), 1);
    CU_ASSERT_EQUAL(message(s, 1), 0);
    CU_ASSERT_STRING_EQUAL(text_of(s), "451 4.7.1 Sending limit reached: 2 messages in 1h, try again later");
    CU_ASSERT_TRUE(test_log_has("rate: OUTBOUND LIMIT REACHED by user alice: 3 messages in 1h"));
    policy_session_free(s);
    /* the user, from another address; another user is not affected */
    s = open_session(e, "192.0.2.44", NULL, NULL);
    policy_connect(s);
    policy_auth(s, "alice");
    CU_ASSERT_EQUAL(message(s, 1), 0);
    policy_session_free(s);
    s = open_session(e, "192.0.2.44", NULL, NULL);
    policy_connect(s);
    policy_auth(s, "bob");
    CU_ASSERT_EQUAL(message(s, 5), 5);
    clock_now += 3601; /* a new hour for messages, the same day for recipients */
    CU_ASSERT_EQUAL(message(s, 1), 0);
    CU_ASSERT_STRING_EQUAL(text_of(s), "451 4.7.1 Sending limit reached: 5 recipients in 1d, try again later");
    policy_session_free(s);
    /* RELAYCLIENT and trusted networks count per address */
    for (int i = 0; i < 2; i++) {
        s = open_session(e, "192.0.2.50", "RELAYCLIENT", "");
        policy_connect(s);
        CU_ASSERT_EQUAL(message(s, 1), 1);
        policy_session_free(s);
    }
    s = open_session(e, "192.0.2.50", "RELAYCLIENT", "");
    policy_connect(s);
    CU_ASSERT_EQUAL(message(s, 1), 0);
    policy_session_free(s);
    CU_ASSERT_TRUE(test_log_has("OUTBOUND LIMIT REACHED by address 192.0.2.50"));
    s = open_session(e, "198.51.100.7", NULL, NULL); /* trusted */
    policy_connect(s);
    CU_ASSERT_EQUAL(message(s, 1), 1);
    policy_session_free(s);
    policy_engine_unref(e);
}

static void test_variables_set_limits_per_client(void)
{
    policy_engine *e = engine("[rate]\nmessages = 100/1h\n");
    clock_now = 1700000000;
    policy_session *s = open_session(e, "192.0.2.10", "POLICY_RATE_MESSAGES", "1/1h");
    policy_connect(s);
    CU_ASSERT_EQUAL(message(s, 1), 1);
    CU_ASSERT_EQUAL(message(s, 1), 0);
    policy_session_free(s);
    s = open_session(e, "192.0.2.10", "POLICY_RATE_MESSAGES", "0"); /* no limit */
    policy_connect(s);
    CU_ASSERT_EQUAL(message(s, 1), 1);
    policy_session_free(s);
    s = open_session(e, "192.0.2.10", "POLICY_RATE", "off");
    policy_connect(s);
    CU_ASSERT_EQUAL(message(s, 1), 1);
    policy_session_free(s);
    s = open_session(e, "192.0.2.10", "POLICY_RATE_MESSAGES", "lots");
    policy_connect(s);
    CU_ASSERT_EQUAL(message(s, 1), 1); /* the file's 100/1h */
    policy_session_free(s);
    CU_ASSERT_TRUE(test_log_has("ignored POLICY_RATE_MESSAGES=lots: not COUNT/PERIOD"));
    policy_engine_unref(e);
}

static void test_store_that_fails_follows_on_error(void)
{
    char conf[512];
    const char *file = test_write("rate-not-a-dir", "x");
    snprintf(conf, sizeof(conf), "[general]\nstore = lmdb:%s/sub/state\n[rate]\n", file);
    policy_engine *e = test_engine(conf, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    test_log_clear();
    test_log_attach(e);
    policy_session *s = open_session(e, "192.0.2.10", NULL, NULL);
    CU_ASSERT_EQUAL(policy_connect(s), POLICY_CONTINUE); /* remembered for RCPT */
    policy_mail(s, "<a@sender.example>");
    CU_ASSERT_EQUAL(policy_rcpt(s, "<u@localhost>"), POLICY_TEMPFAIL);
    CU_ASSERT_STRING_EQUAL(text_of(s), "451 4.3.0 temporary failure checking sending limits, try again later");
    policy_session_free(s);
    policy_engine_unref(e);
    snprintf(conf, sizeof(conf), "[general]\nstore = lmdb:%s/sub/state\n[rate]\non_error = accept\n",
             file);
    e = test_engine(conf, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    s = open_session(e, "192.0.2.10", NULL, NULL);
    policy_connect(s);
    CU_ASSERT_EQUAL(message(s, 2), 2);
    policy_session_free(s);
    policy_engine_unref(e);
}

static void test_configuration_is_checked(void)
{
    CU_ASSERT_PTR_NULL(test_engine("[general]\nstore = lmdb:/tmp/x\n[rate]\nmessages = 100\n", err,
                                   sizeof(err)));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "[rate] messages: expected COUNT/PERIOD"));
    CU_ASSERT_PTR_NULL(test_engine("[general]\nstore = lmdb:/tmp/x\n[rate]\nmessages = 10/0\n",
                                   err, sizeof(err)));
    CU_ASSERT_PTR_NULL(test_engine("[general]\nstore = lmdb:/tmp/x\n[rate]\nnet_prefix4 = 33\n",
                                   err, sizeof(err)));
    CU_ASSERT_PTR_NULL(test_engine("[rate]\n", err, sizeof(err)));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "rate limits need a store"));
}

/* Both layers at RCPT: their operations go in one batch (one LMDB
 * transaction): the message count, the client's passes and the triplet. */
static void test_rate_and_greylist_share_the_rcpt_batch(void)
{
    policy_engine *e = engine("[rate]\nconnections = 0\nmessages = 2/1h\n[greylist]\ndelay = 60\n");
    clock_now = 1700000000;
    policy_session *s = open_session(e, "192.0.2.10", NULL, NULL);
    policy_connect(s);
    policy_mail(s, "<a@sender.example>");
    CU_ASSERT_EQUAL(policy_rcpt(s, "<u@localhost>"), POLICY_TEMPFAIL);
    CU_ASSERT_STRING_EQUAL(policy_last_reply(s)->layer, "greylist");
    CU_ASSERT_PTR_EQUAL(s->stores[0].store, engine_store(e));
    CU_ASSERT_PTR_NULL(s->stores[1].store);
    CU_ASSERT_EQUAL(store_batch_size(s->stores[0].stage), 3);
    policy_reset(s);
    clock_now += 61;
    policy_mail(s, "<a@sender.example>");
    CU_ASSERT_EQUAL(policy_rcpt(s, "<u@localhost>"), POLICY_CONTINUE);
    policy_reset(s);
    /* the third message: rate refuses before greylisting is asked */
    policy_mail(s, "<a@sender.example>");
    CU_ASSERT_EQUAL(policy_rcpt(s, "<u@localhost>"), POLICY_TEMPFAIL);
    CU_ASSERT_STRING_EQUAL(policy_last_reply(s)->layer, "rate");
    policy_session_free(s);
    policy_engine_unref(e);
}

int suite_rate(void)
{
    CU_pSuite s = CU_add_suite("rate", NULL, NULL);
    if (!s)
        return -1;
    CU_ADD_TEST(s, test_connections_per_address);
    CU_ADD_TEST(s, test_over_delay_greets_late_instead_of_refusing);
    CU_ADD_TEST(s, test_messages_count_once_per_transaction);
    CU_ADD_TEST(s, test_recipients_and_networks);
    CU_ADD_TEST(s, test_outbound_limits_per_user_and_customer_address);
    CU_ADD_TEST(s, test_variables_set_limits_per_client);
    CU_ADD_TEST(s, test_store_that_fails_follows_on_error);
    CU_ADD_TEST(s, test_configuration_is_checked);
    CU_ADD_TEST(s, test_rate_and_greylist_share_the_rcpt_batch);
    return 0;
}
