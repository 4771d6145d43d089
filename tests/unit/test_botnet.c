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

#include <pthread.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "../../libpolicy/support/hostname.h"
#include "../../libpolicy/support/p0f.h"
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

/* ------------------------------------------------------------ p0f */

/* A p0f of this process: answers every query on its socket from a table
 * (192.0.2.66 Windows XP, 192.0.2.67 Linux 3.x, others not seen), the
 * way p0f 3 does (host byte order, 232 bytes). */
struct fake_p0f {
    int l;
    pthread_t t;
    char path[300];
};

static void p0f_reply(unsigned char *r, const unsigned char *q)
{
    uint32_t v[2] = {0x50304602, 0x20};
    memset(r, 0, P0F_REPLY_LEN);
    const char *os = NULL, *flavor = NULL;
    if (q[4] == 4 && !memcmp(q + 5, "\xc0\x00\x02\x42", 4))
        os = "Windows", flavor = "XP";
    else if (q[4] == 4 && !memcmp(q + 5, "\xc0\x00\x02\x43", 4))
        os = "Linux", flavor = "3.x";
    if (os) {
        v[1] = 0x10;
        memcpy(r + 40, os, strlen(os));
        memcpy(r + 72, flavor, strlen(flavor));
    }
    memcpy(r, v, sizeof(v));
}

static void *fake_p0f_serve(void *arg)
{
    struct fake_p0f *p = arg;
    for (;;) {
        int c = accept(p->l, NULL, NULL);
        if (c < 0)
            return NULL; /* the listener was shut down */
        unsigned char q[P0F_QUERY_LEN], r[P0F_REPLY_LEN];
        size_t got = 0;
        ssize_t n;
        while ((n = read(c, q + got, sizeof(q) - got)) > 0)
            if ((got += (size_t)n) == sizeof(q)) {
                p0f_reply(r, q);
                (void)!send(c, r, sizeof(r), MSG_NOSIGNAL);
                got = 0;
            }
        close(c);
    }
}

static void fake_p0f_start(struct fake_p0f *p)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    snprintf(p->path, sizeof(p->path), "%s/p0f.sock", test_dir());
    CU_ASSERT_FATAL(strlen(p->path) < sizeof(sun.sun_path));
    memcpy(sun.sun_path, p->path, strlen(p->path) + 1);
    unlink(p->path);
    p->l = socket(AF_UNIX, SOCK_STREAM, 0);
    CU_ASSERT_FATAL(p->l >= 0 && bind(p->l, (struct sockaddr *)&sun, sizeof(sun)) == 0 &&
                    listen(p->l, 16) == 0);
    CU_ASSERT_FATAL(pthread_create(&p->t, NULL, fake_p0f_serve, p) == 0);
}

static void fake_p0f_stop(struct fake_p0f *p)
{
    shutdown(p->l, SHUT_RDWR);
    pthread_join(p->t, NULL);
    close(p->l);
}

static policy_engine *os_engine(const char *p0f, const char *botnet)
{
    char conf[1024];
    snprintf(conf, sizeof(conf),
             "[general]\ndns_servers = 127.0.0.1:9\ndns_timeout = 300ms\np0f = %s\n"
             "p0f_timeout = 200ms\n[botnet]\n%s",
             p0f, botnet);
    return engine(conf);
}

/* os_rcpt - a session from ip (PTR name host, NULL: none); what its first
 * RCPT got.  var=value set for the client when given. */
static policy_action os_rcpt(policy_engine *e, const char *ip, const char *host, const char *var,
                             const char *value)
{
    policy_session *s = policy_session_new(e, ip, host);
    if (var)
        policy_session_setvar(s, var, value);
    CU_ASSERT_EQUAL(policy_connect(s), POLICY_CONTINUE);
    policy_helo(s, "client.example");
    policy_mail(s, "<a@client.example>");
    policy_action a = policy_rcpt(s, "<user@localhost>");
    if (a == POLICY_REJECT) {
        CU_ASSERT_EQUAL(policy_last_reply(s)->code, 550);
        CU_ASSERT_STRING_EQUAL(policy_last_reply(s)->layer, "botnet");
    }
    policy_session_free(s);
    return a;
}

/* [dnsbl] os_weights: the OS p0f names adds to the DNSBL score */
static void test_os_weighs_in_the_dnsbl_score(void)
{
    struct fake_p0f p;
    char conf[1024];
    fake_p0f_start(&p);
    snprintf(conf, sizeof(conf),
             "[general]\ndns_servers = 127.0.0.1:9\ndns_timeout = 300ms\np0f = %s\n"
             "p0f_timeout = 200ms\n[dnsbl]\nos_weights = Linux*-1, Windows:XP*2\nthreshold = 2\n",
             p.path);
    policy_engine *e = engine(conf);
    const char *ips[] = {"192.0.2.66", "192.0.2.67", "192.0.2.68"}; /* XP, Linux, unseen */
    policy_action want[] = {POLICY_REJECT, POLICY_CONTINUE, POLICY_CONTINUE};
    for (int i = 0; i < 3; i++) {
        policy_session *s = policy_session_new(e, ips[i], "mail.example.net");
        policy_connect(s);
        policy_helo(s, "client.example");
        policy_mail(s, "<a@client.example>");
        CU_ASSERT_EQUAL(policy_rcpt(s, "<user@localhost>"), want[i]);
        if (want[i] == POLICY_REJECT) {
            CU_ASSERT_EQUAL(policy_last_reply(s)->code, 554);
            CU_ASSERT_STRING_EQUAL(policy_last_reply(s)->layer, "dnsbl");
            CU_ASSERT_PTR_NOT_NULL(strstr(policy_last_reply(s)->text, "end-user PC (Windows)"));
        }
        policy_session_free(s);
    }
    CU_ASSERT_TRUE(test_log_has("reason=\"192.0.2.66: score 2 (OS Windows XP +2), threshold 2\""));
    policy_engine_unref(e);
    fake_p0f_stop(&p);
    /* a weight each, never 0; p0f needed */
    const char *bad[] = {"Windows", "Windows*0", "Windows*x", "*2", "Windows*101"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        snprintf(conf, sizeof(conf), "[general]\np0f = /run/p0f.sock\n[dnsbl]\nos_weights = %s\n",
                 bad[i]);
        CU_ASSERT_PTR_NULL(test_engine(conf, err, sizeof(err)));
        CU_ASSERT_PTR_NOT_NULL(strstr(err, "expected OS*WEIGHT"));
    }
    CU_ASSERT_PTR_NULL(test_engine("[dnsbl]\nos_weights = Windows*1\n", err, sizeof(err)));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "[dnsbl] os_weights: OS weights need p0f"));
}

static void test_os_rules_refuse_what_p0f_names(void)
{
    struct fake_p0f p;
    fake_p0f_start(&p);
    policy_engine *e = os_engine(p.path, "os_reject = Windows\n");
    CU_ASSERT_EQUAL(os_rcpt(e, "192.0.2.66", "mail.example.net", NULL, NULL), POLICY_REJECT);
    CU_ASSERT_TRUE(test_log_has("os=\"Windows XP\""));
    CU_ASSERT_TRUE(test_log_has("reason=\"p0f: OS Windows XP matches os_reject Windows\""));
    CU_ASSERT_EQUAL(os_rcpt(e, "192.0.2.67", "mail.example.net", NULL, NULL), POLICY_CONTINUE);
    test_log_clear();
    CU_ASSERT_EQUAL(os_rcpt(e, "192.0.2.68", "mail.example.net", NULL, NULL), POLICY_CONTINUE);
    CU_ASSERT_TRUE(test_log_has("p0f: no verdict: p0f has not seen this address"));
    /* customers and the switch from tcp.smtp */
    CU_ASSERT_EQUAL(os_rcpt(e, "192.0.2.66", NULL, "RELAYCLIENT", ""), POLICY_CONTINUE);
    CU_ASSERT_EQUAL(os_rcpt(e, "192.0.2.66", NULL, "POLICY_BOTNET", "off"), POLICY_CONTINUE);
    CU_ASSERT_EQUAL(os_rcpt(e, "192.0.2.66", NULL, "POLICY_BOTNET", "warn"), POLICY_CONTINUE);
    policy_engine_unref(e);

    /* a flavor narrows the rule; several rules, commas between them */
    e = os_engine(p.path, "os_reject = Windows:7, Mac OS X\n");
    CU_ASSERT_EQUAL(os_rcpt(e, "192.0.2.66", "mail.example.net", NULL, NULL), POLICY_CONTINUE);
    policy_engine_unref(e);
    e = os_engine(p.path, "os_reject = Mac OS X, windows:xp\n");
    CU_ASSERT_EQUAL(os_rcpt(e, "192.0.2.66", "mail.example.net", NULL, NULL), POLICY_REJECT);
    policy_engine_unref(e);

    /* with a dynamic-looking name or none only: the classic botnet signature */
    e = os_engine(p.path, "os_reject_dynamic = Windows\n");
    CU_ASSERT_EQUAL(os_rcpt(e, "192.0.2.66", "mail.example.net", NULL, NULL), POLICY_CONTINUE);
    CU_ASSERT_EQUAL(os_rcpt(e, "192.0.2.66", "192-0-2-66.dyn.isp.example", NULL, NULL),
                    POLICY_REJECT);
    CU_ASSERT_TRUE(test_log_has("with a dynamic-looking rDNS name"));
    CU_ASSERT_EQUAL(os_rcpt(e, "192.0.2.66", NULL, NULL, NULL), POLICY_REJECT); /* no name */
    CU_ASSERT_EQUAL(os_rcpt(e, "192.0.2.67", "192-0-2-67.dyn.isp.example", NULL, NULL),
                    POLICY_CONTINUE);
    policy_engine_unref(e);

    /* the greeting delay of a dynamic client for an OS */
    e = os_engine(p.path, "greet_delay = 100ms\ngreet_delay_dynamic = 7s\ngreet_delay_os = Windows\n");
    CU_ASSERT_EQUAL(delay_for(e, "192.0.2.66", "mail.example.net", NULL, NULL), 7000);
    CU_ASSERT_EQUAL(delay_for(e, "192.0.2.67", "mail.example.net", NULL, NULL), 100);
    policy_engine_unref(e);
    fake_p0f_stop(&p);
}

static void test_p0f_down_gives_no_verdict_and_no_wait(void)
{
    char path[300];
    snprintf(path, sizeof(path), "%s/no-p0f.sock", test_dir());
    policy_engine *e = os_engine(path, "os_reject = Windows\n");
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CU_ASSERT_EQUAL(os_rcpt(e, "192.0.2.66", "mail.example.net", NULL, NULL), POLICY_CONTINUE);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    CU_ASSERT_TRUE((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 < 100);
    CU_ASSERT_TRUE(test_log_has("p0f: no verdict: p0f is not running"));
    policy_engine_unref(e);
    /* OS rules without p0f are a configuration error */
    CU_ASSERT_PTR_NULL(test_engine("[botnet]\nos_reject = Windows\n", err, sizeof(err)));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "[botnet] os_reject: OS rules need p0f"));
    CU_ASSERT_PTR_NULL(test_engine("[general]\np0f = relative.sock\n", err, sizeof(err)));
    CU_ASSERT_PTR_NULL(test_engine("[general]\np0f = /run/p0f.sock\n[botnet]\nos_reject = :XP\n",
                                   err, sizeof(err)));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "comma separated"));
}

/* pipelined - a client that pipelines after HELO: what the report said,
 * and *at_rcpt what RCPT said afterwards. */
static policy_action pipelined(policy_engine *e, const char *var, policy_action *at_rcpt)
{
    policy_session *s = policy_session_new(e, "192.0.2.9", "mail.example.net");
    if (var)
        policy_session_setvar(s, var, "1");
    CU_ASSERT_EQUAL(policy_pipelining(s), POLICY_TEMPFAIL); /* before connect: out of order */
    policy_connect(s);
    policy_helo(s, "client.example");
    policy_action a = policy_pipelining(s);
    *at_rcpt = POLICY_DISCONNECT;
    if (a == POLICY_CONTINUE) {
        CU_ASSERT_EQUAL(policy_pipelining(s), POLICY_CONTINUE); /* once is enough */
        policy_mail(s, "<a@client.example>");
        *at_rcpt = policy_rcpt(s, "<user@localhost>");
        if (*at_rcpt == POLICY_REJECT)
            CU_ASSERT_STRING_EQUAL(policy_last_reply(s)->text,
                                   "protocol error: command sent before the reply");
    } else {
        CU_ASSERT_EQUAL(policy_last_reply(s)->code, 421);
        CU_ASSERT_EQUAL(policy_mail(s, "<a@client.example>"), POLICY_DISCONNECT);
    }
    policy_session_free(s);
    return a;
}

static void test_pipelining_without_pipelining_is_an_early_talker(void)
{
    policy_action rcpt;
    policy_engine *e = engine("[botnet]\nantipipelining = yes\n");
    CU_ASSERT_EQUAL(pipelined(e, NULL, &rcpt), POLICY_CONTINUE);
    CU_ASSERT_EQUAL(rcpt, POLICY_REJECT);
    CU_ASSERT_TRUE(test_log_has("reason=\"pipelining without PIPELINING\""));
    CU_ASSERT_EQUAL(pipelined(e, "DROP_PRE_GREET", &rcpt), POLICY_DISCONNECT);
    /* at DATA, with recipients accepted, nothing is left to refuse: 421 */
    policy_session *s = policy_session_new(e, "192.0.2.9", "mail.example.net");
    policy_connect(s);
    policy_helo(s, "client.example");
    policy_mail(s, "<a@client.example>");
    CU_ASSERT_EQUAL(policy_rcpt(s, "<user@localhost>"), POLICY_CONTINUE);
    CU_ASSERT_EQUAL(policy_pipelining(s), POLICY_DISCONNECT);
    CU_ASSERT_EQUAL(policy_last_reply(s)->code, 421);
    CU_ASSERT_EQUAL(policy_data(s), POLICY_DISCONNECT);
    policy_session_free(s);
    policy_engine_unref(e);
    e = engine("[botnet]\n"); /* off unless asked for */
    CU_ASSERT_EQUAL(pipelined(e, NULL, &rcpt), POLICY_CONTINUE);
    CU_ASSERT_EQUAL(rcpt, POLICY_CONTINUE);
    policy_engine_unref(e);
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
    CU_ADD_TEST(s, test_os_rules_refuse_what_p0f_names);
    CU_ADD_TEST(s, test_os_weighs_in_the_dnsbl_score);
    CU_ADD_TEST(s, test_p0f_down_gives_no_verdict_and_no_wait);
    CU_ADD_TEST(s, test_pipelining_without_pipelining_is_an_early_talker);
    return 0;
}
