/*
 * test_botnet.c - layer 4: generic PTR names are told from servers' names,
 * the greeting delay follows the client (customer, variables, no name,
 * generic name, proper name), an early talker meets the layer's action at
 * once or at RCPT as configured, and the connection limits come from the
 * configuration or the client's variables.
 */
#include <CUnit/CUnit.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "../../libpolicy/support/hostname.h"
#include "helpers.h"
#include "core.h"
#include "suites.h"

static char err[512];

static policy_engine *engine(const char *conf)
{
    policy_engine *e = test_engine(conf, err, sizeof(err));
    if (!e)
        fprintf(stderr, "\n  engine: %s\n", err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    test_log_clear();
    test_log_attach(e);
    return e;
}

static unsigned generic(const char *host, const char *ip)
{
    unsigned char a[16];
    int family = strchr(ip, ':') ? AF_INET6 : AF_INET;
    CU_ASSERT_EQUAL_FATAL(inet_pton(family, ip, a), 1);
    return host_generic(host, family, a);
}

static void test_generic_names(void)
{
    /* the address in the name, forwards, backwards, hex, zero-padded */
    CU_ASSERT_EQUAL(generic("1-2-3-4.pool.isp.example", "1.2.3.4"), HOST_IP_IN_NAME);
    CU_ASSERT_EQUAL(generic("4.3.2.1.in-addr.isp.example", "1.2.3.4"), HOST_IP_IN_NAME);
    CU_ASSERT_EQUAL(generic("ip203-0-113-9.isp.example", "203.0.113.9"), HOST_IP_IN_NAME);
    CU_ASSERT_EQUAL(generic("cb007109.isp.example", "203.0.113.9"), HOST_IP_IN_NAME);
    CU_ASSERT_EQUAL(generic("CB007109.ISP.EXAMPLE.", "203.0.113.9"), HOST_IP_IN_NAME);
    CU_ASSERT_EQUAL(generic("203000113009.isp.example", "203.0.113.9"), HOST_IP_IN_NAME);
    CU_ASSERT_EQUAL(generic("1-2-3-4.pool.isp.example", "::ffff:1.2.3.4"), HOST_IP_IN_NAME);
    CU_ASSERT_EQUAL(generic("cb007109.v6.isp.example", "2001:db8::cb00:7109"), HOST_IP_IN_NAME);
    CU_ASSERT_EQUAL(generic("host192000002013.isp.test", "192.0.2.13"), HOST_IP_IN_NAME);
    CU_ASSERT_EQUAL(generic("host013002000192.isp.test", "192.0.2.13"), HOST_IP_IN_NAME);
    CU_ASSERT_EQUAL(generic("h-0001-0002-0003-0004.v6.test", "2001:db8::1:2:3:4"), HOST_IP_IN_NAME);
    CU_ASSERT_EQUAL(generic("h-0001-0002-0003-0004.v6.test", "2001:db8::1:2:3:5"), 0);
    /* pool words next to numbers, and both signs at once */
    CU_ASSERT_EQUAL(generic("dsl-88.isp.example", "198.51.100.7"), HOST_DYN_WORD);
    CU_ASSERT_EQUAL(generic("dhcp42.campus.isp.example", "198.51.100.7"), HOST_DYN_WORD);
    CU_ASSERT_EQUAL(generic("dynamic-1-2-3-4.isp.example", "1.2.3.4"),
                    HOST_IP_IN_NAME | HOST_DYN_WORD);
    /* servers' names: no numbers next to the words, or the words only in
     * the provider's own domain, or not this address */
    CU_ASSERT_EQUAL(generic("mail.example.com", "1.2.3.4"), 0);
    CU_ASSERT_EQUAL(generic("mx1.dsl.example", "1.2.3.4"), 0);
    CU_ASSERT_EQUAL(generic("smtp.pool.example.net", "1.2.3.4"), 0);
    CU_ASSERT_EQUAL(generic("mx-5-6-7.example.net", "1.2.3.4"), 0);
    CU_ASSERT_EQUAL(generic("dsl.example", "1.2.3.4"), 0);
    CU_ASSERT_EQUAL(generic("", "1.2.3.4"), 0);
    CU_ASSERT_EQUAL(generic("99999999999999999999-1.example.net", "1.2.3.4"), 0);
    CU_ASSERT_EQUAL(host_generic(NULL, AF_INET, (const unsigned char *)"\1\2\3\4"), 0);
}

/* clients without a name make the layer ask for one: a server that refuses
 * at once (loopback port 9), so no question leaves the machine */
#define DELAYS                                                                                     \
    "[general]\ndns_servers = 127.0.0.1:9\ndns_timeout = 300ms\n"                                  \
    "[botnet]\ngreet_delay = 200ms\ngreet_delay_unknown = 5s\ngreet_delay_dynamic = 10s\n"

static unsigned long delay_for(policy_engine *e, const char *ip, const char *host, const char *var,
                               const char *value)
{
    policy_session *s = policy_session_new(e, ip, host);
    if (var)
        CU_ASSERT_EQUAL(policy_session_setvar(s, var, value), 0);
    CU_ASSERT_EQUAL(policy_greeting_delay(s), 0); /* not before connect */
    policy_connect(s);
    unsigned long ms = policy_greeting_delay(s);
    policy_session_free(s);
    return ms;
}

static void test_delay_follows_the_client(void)
{
    policy_engine *e = engine(DELAYS);
    CU_ASSERT_EQUAL(delay_for(e, "192.0.2.1", "mx.example.net", NULL, NULL), 200);
    CU_ASSERT_EQUAL(delay_for(e, "192.0.2.1", NULL, NULL, NULL), 5000);
    CU_ASSERT_TRUE(test_log_has("greeting delay 5000ms: no rDNS name"));
    CU_ASSERT_EQUAL(delay_for(e, "192.0.2.1", "192-0-2-1.dyn.isp.example", NULL, NULL), 10000);
    CU_ASSERT_TRUE(test_log_has("IP address in rDNS name"));
    CU_ASSERT_EQUAL(delay_for(e, "2001:db8::1", "adsl-7.isp.example", NULL, NULL), 10000);
    /* customers are never delayed; variables win over the configuration */
    CU_ASSERT_EQUAL(delay_for(e, "192.0.2.1", NULL, "RELAYCLIENT", ""), 0);
    CU_ASSERT_EQUAL(delay_for(e, "127.0.0.1", NULL, NULL, NULL), 0); /* trusted */
    CU_ASSERT_EQUAL(delay_for(e, "192.0.2.1", NULL, "POLICY_GREETDELAY", "750ms"), 750);
    CU_ASSERT_EQUAL(delay_for(e, "192.0.2.1", "mx.example.net", "SMTPD_GREETDELAY", "3"), 3000);
    CU_ASSERT_EQUAL(delay_for(e, "192.0.2.1", NULL, "SMTPD_GREETDELAY", "0"), 0);
    CU_ASSERT_EQUAL(delay_for(e, "192.0.2.1", NULL, "SMTPD_GREETDELAY", "9999"), 120000);
    CU_ASSERT_EQUAL(delay_for(e, "192.0.2.1", NULL, "SMTPD_GREETDELAY", "soon"), 5000);
    CU_ASSERT_TRUE(test_log_has("ignored SMTPD_GREETDELAY=soon"));
    CU_ASSERT_EQUAL(delay_for(e, "192.0.2.1", NULL, "POLICY_BOTNET", "off"), 0);
    policy_engine_unref(e);

    e = engine(""); /* the built-in defaults delay nobody */
    CU_ASSERT_EQUAL(delay_for(e, "192.0.2.1", NULL, NULL, NULL), 0);
    CU_ASSERT_EQUAL(delay_for(e, "192.0.2.1", NULL, "SMTPD_GREETDELAY", "2"), 2000);
    policy_engine_unref(e);
}

static void test_bad_delays_are_named(void)
{
    CU_ASSERT_PTR_NULL(test_engine("[botnet]\ngreet_delay = 121s\n", err, sizeof(err)));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "up to 120s"));
    CU_ASSERT_PTR_NULL(test_engine("[botnet]\ngreet_delay_dynamic = later\n", err, sizeof(err)));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "[botnet] greet_delay_dynamic"));
    CU_ASSERT_PTR_NULL(test_engine("[botnet]\nearly_talker_drop = maybe\n", err, sizeof(err)));
}

/* early - a client that talks before the greeting; returns what the
 * early-talker report said, and *at_rcpt what RCPT said afterwards. */
static policy_action early(policy_engine *e, const char *var, const char *value,
                           policy_action *at_rcpt)
{
    policy_session *s = policy_session_new(e, "192.0.2.9", NULL);
    if (var)
        policy_session_setvar(s, var, value);
    CU_ASSERT_EQUAL(policy_connect(s), POLICY_CONTINUE);
    policy_action a = policy_early_talker(s);
    *at_rcpt = POLICY_CONTINUE;
    if (a == POLICY_CONTINUE) {
        policy_helo(s, "client.example");
        policy_mail(s, "<a@client.example>");
        *at_rcpt = policy_rcpt(s, "<user@localhost>");
        if (*at_rcpt == POLICY_REJECT) {
            CU_ASSERT_EQUAL(policy_last_reply(s)->code, 550);
            CU_ASSERT_STRING_EQUAL(policy_last_reply(s)->xcode, "5.5.1");
            CU_ASSERT_STRING_EQUAL(policy_last_reply(s)->layer, "botnet");
        }
    } else if (a == POLICY_REJECT) {
        CU_ASSERT_EQUAL(policy_last_reply(s)->code, 554);
        CU_ASSERT_STRING_EQUAL(policy_last_reply(s)->text,
                               "protocol error: talked before the greeting");
    }
    policy_session_free(s);
    return a;
}

static void test_early_talker(void)
{
    policy_action rcpt;
    policy_engine *e = engine(DELAYS);
    CU_ASSERT_EQUAL(early(e, NULL, NULL, &rcpt), POLICY_CONTINUE); /* delay_reject: at RCPT */
    CU_ASSERT_EQUAL(rcpt, POLICY_REJECT);
    CU_ASSERT_TRUE(test_log_has("layer=botnet"));
    CU_ASSERT_EQUAL(early(e, "DROP_PRE_GREET", "1", &rcpt), POLICY_REJECT);
    CU_ASSERT_EQUAL(early(e, "DROP_PRE_GREET", "0", &rcpt), POLICY_CONTINUE);
    CU_ASSERT_EQUAL(early(e, "POLICY_BOTNET", "warn", &rcpt), POLICY_CONTINUE);
    CU_ASSERT_EQUAL(rcpt, POLICY_CONTINUE);
    CU_ASSERT_EQUAL(early(e, "RELAYCLIENT", "", &rcpt), POLICY_CONTINUE); /* customers */
    CU_ASSERT_EQUAL(rcpt, POLICY_CONTINUE);
    policy_engine_unref(e);

    e = engine(DELAYS "early_talker_drop = yes\n");
    CU_ASSERT_EQUAL(early(e, NULL, NULL, &rcpt), POLICY_REJECT);
    policy_engine_unref(e);
    e = engine(DELAYS "action = tempfail\ndelay_reject = no\n");
    CU_ASSERT_EQUAL(early(e, NULL, NULL, &rcpt), POLICY_TEMPFAIL);
    policy_engine_unref(e);

    /* a report after the greeting was answered is the adapter's mistake */
    e = engine(DELAYS);
    policy_session *s = policy_session_new(e, "192.0.2.9", NULL);
    policy_connect(s);
    policy_helo(s, "client.example");
    CU_ASSERT_EQUAL(policy_early_talker(s), POLICY_TEMPFAIL);
    CU_ASSERT_PTR_NOT_NULL(strstr(policy_last_reply(s)->text, "out of order"));
    policy_session_free(s);
    policy_engine_unref(e);
}

static void limits_for(policy_engine *e, const char *ip, const char *var, const char *value,
                       unsigned long *limit, unsigned long *throttle)
{
    policy_session *s = policy_session_new(e, ip, NULL);
    if (var)
        CU_ASSERT_EQUAL(policy_session_setvar(s, var, value), 0);
    CU_ASSERT_EQUAL(policy_session_limit(s), 0); /* not before connect */
    policy_connect(s);
    *limit = policy_session_limit(s);
    *throttle = policy_receive_throttle(s);
    policy_session_free(s);
}

static void test_connection_limits(void)
{
    unsigned long limit, throttle;
    policy_engine *e = engine("[botnet]\nsession_limit = 10m\nthrottle = 20000\n");
    limits_for(e, "192.0.2.1", NULL, NULL, &limit, &throttle);
    CU_ASSERT_EQUAL(limit, 600);
    CU_ASSERT_EQUAL(throttle, 20000);
    limits_for(e, "127.0.0.1", NULL, NULL, &limit, &throttle); /* customers: none */
    CU_ASSERT_EQUAL(limit, 0);
    CU_ASSERT_EQUAL(throttle, 0);
    /* the client's variables win, for customers too (tcp.smtp said so) */
    limits_for(e, "127.0.0.1", "POLICY_SESSION_LIMIT", "30", &limit, &throttle);
    CU_ASSERT_EQUAL(limit, 30);
    limits_for(e, "192.0.2.1", "POLICY_SESSION_LIMIT", "1500ms", &limit, &throttle);
    CU_ASSERT_EQUAL(limit, 2); /* rounded up: a limit never shortens */
    limits_for(e, "192.0.2.1", "POLICY_THROTTLE", "5000", &limit, &throttle);
    CU_ASSERT_EQUAL(throttle, 5000);
    limits_for(e, "192.0.2.1", "POLICY_THROTTLE", "fast", &limit, &throttle);
    CU_ASSERT_EQUAL(throttle, 20000);
    CU_ASSERT_TRUE(test_log_has("ignored POLICY_THROTTLE=fast"));
    limits_for(e, "192.0.2.1", "POLICY_BOTNET", "off", &limit, &throttle);
    CU_ASSERT_EQUAL(limit + throttle, 0);
    policy_engine_unref(e);

    e = engine("");
    limits_for(e, "192.0.2.1", NULL, NULL, &limit, &throttle);
    CU_ASSERT_EQUAL(limit + throttle, 0);
    policy_engine_unref(e);
    CU_ASSERT_PTR_NULL(test_engine("[botnet]\nsession_limit = 2d\n", err, sizeof(err)));
    CU_ASSERT_PTR_NULL(test_engine("[botnet]\nthrottle = -1\n", err, sizeof(err)));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "bytes per second"));
}

int suite_botnet(void)
{
    CU_pSuite s = CU_add_suite("botnet", NULL, NULL);
    if (!s)
        return -1;
    CU_ADD_TEST(s, test_generic_names);
    CU_ADD_TEST(s, test_delay_follows_the_client);
    CU_ADD_TEST(s, test_bad_delays_are_named);
    CU_ADD_TEST(s, test_early_talker);
    CU_ADD_TEST(s, test_connection_limits);
    return 0;
}
