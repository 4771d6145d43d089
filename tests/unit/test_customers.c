/*
 * test_customers.c - layer 5 through the public API: no relay for strangers
 * whatever the address trick, relay for RELAYCLIENT, authenticated and
 * trusted clients, local domains from lists, rcpthosts files and
 * morercpthosts.cdb, and the sender login rule.
 */
#include <CUnit/CUnit.h>
#include <cdb.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

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

#define LOCAL_CONF "[customers]\nlocal_domains = local.example .sub.example\n"

/* rcpt_from - one envelope from ip (optionally authenticated / RELAYCLIENT). */
static policy_action rcpt_from(policy_engine *e, const char *ip, const char *auth, int relayclient,
                               const char *rcpt)
{
    policy_session *s = policy_session_new(e, ip, NULL);
    if (relayclient)
        policy_session_setvar(s, "RELAYCLIENT", "");
    policy_connect(s);
    policy_helo(s, "client.example");
    if (auth)
        policy_auth(s, auth);
    policy_mail(s, "<someone@client.example>");
    policy_action a = policy_rcpt(s, rcpt);
    if (a == POLICY_REJECT && strcmp(policy_last_reply(s)->layer, "customers") != 0)
        a = POLICY_TEMPFAIL; /* refused by something else: not what we test */
    policy_session_free(s);
    return a;
}

static const char *const tricks[] = {
    "<user@remote.example>",
    "<user%remote.example@local.example>",
    "<remote.example!user@local.example>",
    "<\"user@remote.example\"@local.example>",
    "<@local.example:user@remote.example>",
    "<@local.example,@other.example:user@remote.example>",
    "<user%remote.example%local.example@local.example>",
    "<local.example!remote.example!user@local.example>",
    "<\"user%remote.example\"@local.example>",
    "<user@remote.example.>",
    "<USER@REMOTE.EXAMPLE>",
    "<user@[192.0.2.99]>",
    "<user@local.example.remote.example>",
    "<user@notlocal.example>",
    "<user@sub.example>", /* .sub.example covers names below it, not itself */
    "remote.example!user",
    "user%remote.example",
};

static void test_relay_tricks_are_denied_to_strangers(void)
{
    policy_engine *e = engine(LOCAL_CONF);
    for (size_t i = 0; i < sizeof(tricks) / sizeof(*tricks); i++) {
        policy_session *s = policy_session_new(e, "192.0.2.1", NULL);
        policy_connect(s);
        policy_mail(s, "<a@client.example>");
        policy_action a = policy_rcpt(s, tricks[i]);
        const policy_reply *r = policy_last_reply(s);
        int denied = a == POLICY_REJECT && r->code == 553 && !strcmp(r->xcode, "5.7.1") &&
                     !strcmp(r->layer, "customers");
        if (!denied)
            fprintf(stderr, "\n  relayed: %s (%d %s %s)", tricks[i], r->code, r->xcode, r->text);
        CU_ASSERT_TRUE(denied);
        policy_session_free(s);
    }
    CU_ASSERT_TRUE(
        test_log_has("reason=\"relay to remote.example denied (sender-specified routing)\""));
    policy_engine_unref(e);
}

static void test_syntax_tricks_are_refused_as_bad_syntax(void)
{
    static const char *const bad[] = {"<user@remote.example@local.example>",
                                      "<user@@local.example>", "<user@local..example>",
                                      "<\"user@local.example>"};
    policy_engine *e = engine(LOCAL_CONF);
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        policy_session *s = policy_session_new(e, "192.0.2.1", NULL);
        policy_connect(s);
        policy_mail(s, "<a@client.example>");
        CU_ASSERT_EQUAL(policy_rcpt(s, bad[i]), POLICY_REJECT);
        CU_ASSERT_STRING_EQUAL(policy_last_reply(s)->xcode, "5.1.3");
        policy_session_free(s);
    }
    policy_engine_unref(e);
}

static void test_local_recipients_are_accepted_from_strangers(void)
{
    static const char *const local[] = {
        "<user@local.example>",
        "<User@LOCAL.Example.>",
        "<user@mx.sub.example>",
        "<postmaster>",
        "<@remote.example:user@local.example>",
        "<user%local.example@remote.example>", /* resolves to user@local.example */
        "<\"john smith\"@local.example>"};
    policy_engine *e = engine(LOCAL_CONF);
    for (size_t i = 0; i < sizeof(local) / sizeof(*local); i++) {
        policy_action a = rcpt_from(e, "192.0.2.1", NULL, 0, local[i]);
        if (a != POLICY_CONTINUE)
            fprintf(stderr, "\n  refused: %s", local[i]);
        CU_ASSERT_EQUAL(a, POLICY_CONTINUE);
    }
    policy_engine_unref(e);
}

static void test_customers_may_relay(void)
{
    policy_engine *e = engine(LOCAL_CONF "trusted_networks = 10.0.0.0/8 2001:db8::/32\n");
    CU_ASSERT_EQUAL(rcpt_from(e, "192.0.2.1", NULL, 1, "<user@remote.example>"), POLICY_CONTINUE);
    CU_ASSERT_EQUAL(rcpt_from(e, "192.0.2.1", "alice", 0, "<user@remote.example>"),
                    POLICY_CONTINUE);
    CU_ASSERT_EQUAL(rcpt_from(e, "10.9.8.7", NULL, 0, "<user@remote.example>"), POLICY_CONTINUE);
    CU_ASSERT_EQUAL(rcpt_from(e, "2001:db8:1::5", NULL, 0, "<user@remote.example>"),
                    POLICY_CONTINUE);
    CU_ASSERT_EQUAL(rcpt_from(e, "2001:db9::5", NULL, 0, "<user@remote.example>"), POLICY_REJECT);
    CU_ASSERT_EQUAL(rcpt_from(e, "11.0.0.1", NULL, 0, "<user@remote.example>"), POLICY_REJECT);
    /* the configured list replaces the loopback default */
    CU_ASSERT_EQUAL(rcpt_from(e, "127.0.0.1", NULL, 0, "<user@remote.example>"), POLICY_REJECT);
    /* customers relay the tricks too: they are trusted to */
    CU_ASSERT_EQUAL(rcpt_from(e, "10.0.0.1", NULL, 0, "<user%remote.example@local.example>"),
                    POLICY_CONTINUE);
    /* but a syntax error is one for everybody */
    CU_ASSERT_EQUAL(rcpt_from(e, "10.0.0.1", NULL, 0, "<a@b@c>"), POLICY_REJECT);
    policy_engine_unref(e);
}

static void test_defaults_trust_loopback_and_know_localhost(void)
{
    policy_engine *e = policy_engine_open(NULL, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    test_log_attach(e);
    CU_ASSERT_EQUAL(rcpt_from(e, "127.0.0.1", NULL, 0, "<user@remote.example>"), POLICY_CONTINUE);
    CU_ASSERT_EQUAL(rcpt_from(e, "::1", NULL, 0, "<user@remote.example>"), POLICY_CONTINUE);
    CU_ASSERT_EQUAL(rcpt_from(e, "192.0.2.1", NULL, 0, "<user@remote.example>"), POLICY_REJECT);
    CU_ASSERT_EQUAL(rcpt_from(e, "192.0.2.1", NULL, 0, "<postmaster@localhost>"), POLICY_CONTINUE);
    char rcpt[300];
    snprintf(rcpt, sizeof(rcpt), "<someone@%s>", e->general.hostname);
    CU_ASSERT_EQUAL(rcpt_from(e, "192.0.2.1", NULL, 0, rcpt), POLICY_CONTINUE);
    policy_engine_unref(e);
}

static void test_rcpthosts_file_and_morercpthosts_cdb(void)
{
    const char *rh = test_write("rcpthosts", "# local domains\nfile.example\n.wild.example\n\n");
    char cdbpath[512], conf[1200];
    snprintf(cdbpath, sizeof(cdbpath), "%s/morercpthosts.cdb", test_dir());
    int fd = open(cdbpath, O_RDWR | O_CREAT | O_TRUNC, 0644);
    struct cdb_make cm;
    cdb_make_start(&cm, fd);
    cdb_make_add(&cm, "more.example", 12, "", 0);
    cdb_make_add(&cm, ".deep.example", 13, "", 0);
    cdb_make_finish(&cm);
    close(fd);
    snprintf(
        conf, sizeof(conf),
        "[customers]\nlocal_domains = %s\nlocal_domains = inline.example\nmorercpthosts = %s\n", rh,
        cdbpath);
    policy_engine *e = engine(conf);
    CU_ASSERT_EQUAL(rcpt_from(e, "192.0.2.1", NULL, 0, "<u@file.example>"), POLICY_CONTINUE);
    CU_ASSERT_EQUAL(rcpt_from(e, "192.0.2.1", NULL, 0, "<u@a.b.wild.example>"), POLICY_CONTINUE);
    CU_ASSERT_EQUAL(rcpt_from(e, "192.0.2.1", NULL, 0, "<u@wild.example>"), POLICY_REJECT);
    CU_ASSERT_EQUAL(rcpt_from(e, "192.0.2.1", NULL, 0, "<u@inline.example>"), POLICY_CONTINUE);
    CU_ASSERT_EQUAL(rcpt_from(e, "192.0.2.1", NULL, 0, "<u@MORE.example>"), POLICY_CONTINUE);
    CU_ASSERT_EQUAL(rcpt_from(e, "192.0.2.1", NULL, 0, "<u@x.deep.example>"), POLICY_CONTINUE);
    CU_ASSERT_EQUAL(rcpt_from(e, "192.0.2.1", NULL, 0, "<u@deep.example>"), POLICY_REJECT);
    CU_ASSERT_EQUAL(rcpt_from(e, "192.0.2.1", NULL, 0, "<u@nomore.example>"), POLICY_REJECT);
    CU_ASSERT_EQUAL(rcpt_from(e, "192.0.2.1", NULL, 0, "<u@localhost>"), POLICY_REJECT);
    policy_engine_unref(e);
}

static void test_postmaster_of_local_domain_escapes_delayed_verdicts(void)
{
    policy_engine *e = engine(LOCAL_CONF);
    policy_session *s = policy_session_new(e, "192.0.2.1", NULL);
    /* a remembered verdict, made by hand: the probe is in test_session.c */
    policy_connect(s);
    s->pending[0].set = 1;
    s->pending[0].action = POLICY_REJECT;
    s->pending[0].code = 554;
    snprintf(s->pending[0].xcode, sizeof(s->pending[0].xcode), "5.7.1");
    s->pending[0].layer = "dnsbl";
    policy_mail(s, "<a@client.example>");
    CU_ASSERT_EQUAL(policy_rcpt(s, "<postmaster@LOCAL.example>"), POLICY_CONTINUE);
    CU_ASSERT_EQUAL(policy_rcpt(s, "<abuse@local.example>"), POLICY_CONTINUE);
    CU_ASSERT_EQUAL(policy_rcpt(s, "<postmaster@remote.example>"), POLICY_REJECT);
    CU_ASSERT_EQUAL(policy_rcpt(s, "<user@local.example>"), POLICY_REJECT);
    CU_ASSERT_STRING_EQUAL(policy_last_reply(s)->layer, "dnsbl");
    policy_session_free(s);
    policy_engine_unref(e);
}

static policy_action mail_as(policy_engine *e, const char *login, const char *sender)
{
    policy_session *s = policy_session_new(e, "192.0.2.1", NULL);
    policy_connect(s);
    policy_auth(s, login);
    policy_action a = policy_mail(s, sender);
    policy_session_free(s);
    return a;
}

static void test_sender_login_address_rule(void)
{
    policy_engine *e = engine(LOCAL_CONF "sender_login = address\n");
    CU_ASSERT_EQUAL(mail_as(e, "alice@local.example", "<Alice@LOCAL.example>"), POLICY_CONTINUE);
    CU_ASSERT_EQUAL(mail_as(e, "alice@local.example", "<bob@local.example>"), POLICY_REJECT);
    CU_ASSERT_EQUAL(mail_as(e, "alice@local.example", "<alice%x@local.example>"), POLICY_REJECT);
    CU_ASSERT_EQUAL(mail_as(e, "alice", "<alice@local.example>"), POLICY_CONTINUE);
    CU_ASSERT_EQUAL(mail_as(e, "alice", "<alice@remote.example>"), POLICY_REJECT);
    CU_ASSERT_EQUAL(mail_as(e, "alice", "<>"), POLICY_CONTINUE);
    CU_ASSERT_TRUE(test_log_has("not owned by user alice"));
    policy_engine_unref(e);
}

static void test_sender_login_domain_rule(void)
{
    policy_engine *e = engine(LOCAL_CONF "sender_login = domain\n");
    CU_ASSERT_EQUAL(mail_as(e, "alice@local.example", "<bob@local.example>"), POLICY_CONTINUE);
    CU_ASSERT_EQUAL(mail_as(e, "alice@local.example", "<bob@remote.example>"), POLICY_REJECT);
    CU_ASSERT_EQUAL(mail_as(e, "alice", "<bob@x.sub.example>"), POLICY_CONTINUE);
    policy_engine_unref(e);
}

static void test_bad_customers_config_is_named(void)
{
    CU_ASSERT_PTR_NULL(
        test_engine("[customers]\n\ntrusted_networks = 10.0.0.0/33\n", err, sizeof(err)));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, ":3: [customers] trusted_networks: not a network"));
    CU_ASSERT_PTR_NULL(
        test_engine("[customers]\ntrusted_networks = 10.1.2.3/8\n", err, sizeof(err)));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "10.1.2.3/8"));
    CU_ASSERT_PTR_NULL(
        test_engine("[customers]\nlocal_domains = /nonexistent/rcpthosts\n", err, sizeof(err)));
    CU_ASSERT_PTR_NOT_NULL(
        strstr(err, "[customers] local_domains: cannot open /nonexistent/rcpthosts"));
    CU_ASSERT_PTR_NULL(test_engine("[customers]\nlocal_domains = a@b\n", err, sizeof(err)));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "not a domain: a@b"));
    CU_ASSERT_PTR_NULL(test_engine("[customers]\nsender_login = maybe\n", err, sizeof(err)));
    CU_ASSERT_PTR_NULL(
        test_engine("[customers]\nmorercpthosts = /nonexistent.cdb\n", err, sizeof(err)));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "cannot open /nonexistent.cdb"));
}

static void test_relay_check_can_warn(void)
{
    policy_engine *e = engine(LOCAL_CONF "action = warn\n");
    CU_ASSERT_EQUAL(rcpt_from(e, "192.0.2.1", NULL, 0, "<user@remote.example>"), POLICY_CONTINUE);
    CU_ASSERT_TRUE(test_log_has("action=warn"));
    policy_engine_unref(e);
}

/* An address the MTA does not know (NULL or ""): not a customer unless
 * trust_unknown_address says so; a known loopback client still is one. */
static void test_unknown_address_is_not_a_customer_unless_trusted(void)
{
    policy_engine *e = engine(LOCAL_CONF);
    const char *unknown[] = {NULL, ""};
    for (int i = 0; i < 2; i++) {
        policy_session *s = policy_session_new(e, unknown[i], NULL);
        CU_ASSERT_STRING_EQUAL(s->client.ip, "unknown");
        CU_ASSERT_EQUAL(policy_session_tcprules(s, NULL), 0);
        CU_ASSERT_EQUAL(policy_connect(s), POLICY_CONTINUE);
        CU_ASSERT_FALSE(s->client.customer);
        policy_mail(s, "<someone@client.example>");
        CU_ASSERT_EQUAL(policy_rcpt(s, "<user@remote.example>"), POLICY_REJECT);
        CU_ASSERT_STRING_EQUAL(policy_last_reply(s)->xcode, "5.7.1");
        CU_ASSERT_EQUAL(policy_rcpt(s, "<user@local.example>"), POLICY_CONTINUE);
        policy_session_free(s);
    }
    CU_ASSERT_TRUE(test_log_has("client address unknown: no address checks, not a customer"));
    CU_ASSERT_TRUE(test_log_has("ip=unknown"));
    CU_ASSERT_EQUAL(rcpt_from(e, "127.0.0.1", NULL, 0, "<user@remote.example>"), POLICY_CONTINUE);
    CU_ASSERT_EQUAL(rcpt_from(e, NULL, "alice", 0, "<user@remote.example>"), POLICY_CONTINUE);
    CU_ASSERT_EQUAL(rcpt_from(e, "", NULL, 1, "<user@remote.example>"), POLICY_CONTINUE);
    policy_engine_unref(e);

    e = engine(LOCAL_CONF "trust_unknown_address = yes\n");
    CU_ASSERT_EQUAL(rcpt_from(e, NULL, NULL, 0, "<user@remote.example>"), POLICY_CONTINUE);
    CU_ASSERT_EQUAL(rcpt_from(e, "192.0.2.1", NULL, 0, "<user@remote.example>"), POLICY_REJECT);
    policy_engine_unref(e);
    CU_ASSERT_PTR_NULL(test_engine(LOCAL_CONF "trust_unknown_address = maybe\n", err, sizeof(err)));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "[customers] trust_unknown_address: expected yes or no"));
}

int suite_customers(void)
{
    CU_pSuite s = CU_add_suite("customers", NULL, NULL);
    if (!s)
        return -1;
    CU_ADD_TEST(s, test_relay_tricks_are_denied_to_strangers);
    CU_ADD_TEST(s, test_syntax_tricks_are_refused_as_bad_syntax);
    CU_ADD_TEST(s, test_local_recipients_are_accepted_from_strangers);
    CU_ADD_TEST(s, test_customers_may_relay);
    CU_ADD_TEST(s, test_defaults_trust_loopback_and_know_localhost);
    CU_ADD_TEST(s, test_rcpthosts_file_and_morercpthosts_cdb);
    CU_ADD_TEST(s, test_postmaster_of_local_domain_escapes_delayed_verdicts);
    CU_ADD_TEST(s, test_sender_login_address_rule);
    CU_ADD_TEST(s, test_sender_login_domain_rule);
    CU_ADD_TEST(s, test_bad_customers_config_is_named);
    CU_ADD_TEST(s, test_relay_check_can_warn);
    CU_ADD_TEST(s, test_unknown_address_is_not_a_customer_unless_trusted);
    return 0;
}
