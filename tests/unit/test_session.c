/*
 * test_session.c - the stage state machine and the common layer semantics
 * (action, on_error, warn, tag, delay to RCPT, customers, variables),
 * driven through the public API with the test-only "probe" layer.
 */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "helpers.h"
#include "core.h"
#include "suites.h"

static char err[512];

/* engine - the probe tests run without relay control, so that only the
 * probe decides; conf NULL: the built-in defaults. */
static policy_engine *engine(const char *conf)
{
    char text[1024];
    snprintf(text, sizeof(text), "[customers]\naction = off\n%s", conf ? conf : "");
    policy_engine *e = test_engine(text, err, sizeof(err));
    if (!e)
        fprintf(stderr, "\n  engine: %s\n", err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    test_log_clear();
    test_log_attach(e);
    return e;
}

/* envelope - connect, helo and mail; returns the session. */
static policy_session *envelope(policy_engine *e, const char *ip)
{
    policy_session *s = policy_session_new(e, ip, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    policy_connect(s);
    policy_helo(s, "client.example.test");
    policy_mail(s, "<sender@example.test>");
    return s;
}

static void test_full_conversation_twice(void)
{
    policy_engine *e = policy_engine_open(NULL, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    test_log_clear();
    test_log_attach(e);
    policy_session *s = policy_session_new(e, "192.0.2.10", "client.example.test");
    CU_ASSERT_EQUAL(policy_connect(s), POLICY_CONTINUE);
    CU_ASSERT_EQUAL(policy_last_reply(s)->code, 220);
    CU_ASSERT_EQUAL(policy_helo(s, "client.example.test"), POLICY_CONTINUE);
    for (int round = 0; round < 2; round++) {
        CU_ASSERT_EQUAL(policy_mail(s, "<a@example.test>"), POLICY_CONTINUE);
        CU_ASSERT_STRING_EQUAL(policy_last_reply(s)->xcode, "2.1.0");
        CU_ASSERT_EQUAL(policy_rcpt(s, "<postmaster@localhost>"), POLICY_CONTINUE);
        CU_ASSERT_EQUAL(policy_data(s), POLICY_CONTINUE);
        CU_ASSERT_EQUAL(policy_last_reply(s)->code, 354);
        CU_ASSERT_EQUAL(policy_header(s, "Subject", "hello"), POLICY_CONTINUE);
        CU_ASSERT_EQUAL(policy_body(s, "line one\r\nline", 14), POLICY_CONTINUE);
        CU_ASSERT_EQUAL(policy_body(s, " two\n", 5), POLICY_CONTINUE);
        CU_ASSERT_EQUAL(policy_body(s, NULL, 0), POLICY_CONTINUE);
        CU_ASSERT_EQUAL(policy_eom(s), POLICY_CONTINUE);
        CU_ASSERT_EQUAL(policy_last_reply(s)->code, 250);
        /* "Subject: hello" CRLF, the empty line, 19 body bytes */
        CU_ASSERT_EQUAL(s->msg.size, 16 + 2 + 19);
        policy_reset(s);
    }
    CU_ASSERT_TRUE(test_log_has("stage=eom action=accept ip=192.0.2.10 host=client.example.test"));
    policy_session_free(s);
    policy_engine_unref(e);
}

static void expect_out_of_order(policy_session *s, policy_action a)
{
    const policy_reply *r = policy_last_reply(s);
    CU_ASSERT_EQUAL(a, POLICY_TEMPFAIL);
    CU_ASSERT_EQUAL(r->code, 451);
    CU_ASSERT_STRING_EQUAL(r->xcode, "4.3.0");
    CU_ASSERT_PTR_NOT_NULL(strstr(r->text, "out of order"));
}

static void test_stages_out_of_order_defer_and_say_so(void)
{
    policy_engine *e = engine(NULL);
    policy_session *s = policy_session_new(e, "192.0.2.10", NULL);
    expect_out_of_order(s, policy_helo(s, "x"));
    expect_out_of_order(s, policy_mail(s, "a@b"));
    expect_out_of_order(s, policy_rcpt(s, "a@b"));
    expect_out_of_order(s, policy_data(s));
    expect_out_of_order(s, policy_header(s, "a", "b"));
    expect_out_of_order(s, policy_body(s, "x", 1));
    expect_out_of_order(s, policy_eom(s));
    expect_out_of_order(s, policy_auth(s, "alice"));
    CU_ASSERT_EQUAL(policy_connect(s), POLICY_CONTINUE);
    expect_out_of_order(s, policy_connect(s));
    expect_out_of_order(s, policy_rcpt(s, "a@b"));
    expect_out_of_order(s, policy_data(s));
    CU_ASSERT_EQUAL(policy_mail(s, ""), POLICY_CONTINUE);
    expect_out_of_order(s, policy_data(s));
    expect_out_of_order(s, policy_auth(s, "alice"));
    expect_out_of_order(s, policy_header(s, "a", "b"));
    CU_ASSERT_TRUE(test_log_has("rcpt stage out of order"));
    policy_session_free(s);
    policy_engine_unref(e);
}

static void test_header_after_body_is_out_of_order(void)
{
    policy_engine *e = engine(NULL);
    policy_session *s = envelope(e, "192.0.2.10");
    policy_rcpt(s, "postmaster");
    policy_data(s);
    policy_body(s, "x", 1);
    expect_out_of_order(s, policy_header(s, "Late", "header"));
    expect_out_of_order(s, policy_body(s, NULL, 3));
    CU_ASSERT_EQUAL(policy_eom(s), POLICY_CONTINUE);
    expect_out_of_order(s, policy_eom(s));
    policy_session_free(s);
    policy_engine_unref(e);
}

static void test_null_session_is_a_tempfail_not_a_crash(void)
{
    const policy_edit *ed;
    CU_ASSERT_EQUAL(policy_connect(NULL), POLICY_TEMPFAIL);
    CU_ASSERT_EQUAL(policy_rcpt(NULL, "x"), POLICY_TEMPFAIL);
    CU_ASSERT_EQUAL(policy_last_reply(NULL)->code, 451);
    CU_ASSERT_EQUAL(policy_edits(NULL, &ed), 0);
    policy_reset(NULL);
    policy_session_free(NULL);
    CU_ASSERT_EQUAL(policy_session_setvar(NULL, "A", "b"), -1);
}

static void test_mail_after_eom_starts_a_new_transaction(void)
{
    policy_engine *e = engine(NULL);
    policy_session *s = envelope(e, "192.0.2.10");
    policy_rcpt(s, "postmaster");
    policy_data(s);
    policy_eom(s);
    CU_ASSERT_EQUAL(policy_mail(s, "<b@example.test>"), POLICY_CONTINUE);
    CU_ASSERT_EQUAL(s->txn.nrcpts, 0);
    CU_ASSERT_STRING_EQUAL(s->txn.sender, "b@example.test");
    policy_session_free(s);
    policy_engine_unref(e);
}

static void test_invalid_client_ip_defers_at_connect(void)
{
    policy_engine *e = engine(NULL);
    policy_session *s = policy_session_new(e, "not-an-ip\r\n", NULL);
    CU_ASSERT_EQUAL(policy_connect(s), POLICY_TEMPFAIL);
    CU_ASSERT_EQUAL(policy_last_reply(s)->code, 421);
    CU_ASSERT_PTR_NULL(strpbrk(s->client.ip, "\r\n"));
    policy_session_free(s);
    policy_engine_unref(e);
}

static void test_client_ip_spellings_are_canonical(void)
{
    policy_engine *e = engine(NULL);
    policy_session *s = policy_session_new(e, "::ffff:192.0.2.7", NULL);
    CU_ASSERT_STRING_EQUAL(s->client.ip, "192.0.2.7");
    CU_ASSERT_EQUAL(s->client.family, AF_INET);
    policy_session_free(s);
    s = policy_session_new(e, "[IPv6:2001:DB8::0001]", "[2001:db8::1]");
    CU_ASSERT_STRING_EQUAL(s->client.ip, "2001:db8::1");
    CU_ASSERT_STRING_EQUAL(s->client.host, ""); /* "[ip]" means: no host name */
    policy_session_free(s);
    policy_engine_unref(e);
}

static void test_reply_text_is_sanitized(void)
{
    policy_engine *e = engine("[probe]\nstage = rcpt\ntext = CONTROL\n");
    policy_session *s = envelope(e, "192.0.2.10");
    policy_rcpt(s, "<x@y>");
    const policy_reply *r = policy_last_reply(s);
    CU_ASSERT_EQUAL(r->action, POLICY_REJECT);
    CU_ASSERT_PTR_NULL(strpbrk(r->text, "\r\n"));
    CU_ASSERT_EQUAL(strlen(r->text), 400);
    CU_ASSERT_EQUAL(strncmp(r->text, "bad  250 fake??0000", 19), 0);
    policy_session_free(s);
    policy_engine_unref(e);
}

static void test_rcpt_match_rejects_that_recipient_only(void)
{
    policy_engine *e =
        engine("[probe]\nstage = rcpt\ncode = 550\nxcode = 5.1.1\ntext = no such user\n");
    policy_session *s = envelope(e, "192.0.2.10");
    CU_ASSERT_EQUAL(policy_rcpt(s, "<nobody@example.test>"), POLICY_REJECT);
    const policy_reply *r = policy_last_reply(s);
    CU_ASSERT_EQUAL(r->code, 550);
    CU_ASSERT_STRING_EQUAL(r->xcode, "5.1.1");
    CU_ASSERT_STRING_EQUAL(r->text, "no such user");
    CU_ASSERT_STRING_EQUAL(r->layer, "probe");
    CU_ASSERT_EQUAL(s->txn.nrcpts, 0);
    CU_ASSERT_TRUE(test_log_has("stage=rcpt action=reject"));
    CU_ASSERT_TRUE(test_log_has("rcpt=nobody@example.test layer=probe code=550 xcode=5.1.1"));
    CU_ASSERT_TRUE(test_log_has("from=sender@example.test"));
    CU_ASSERT_TRUE(test_log_has("duration="));
    policy_session_free(s);
    policy_engine_unref(e);
}

static void test_action_tempfail_turns_5xx_into_4xx(void)
{
    policy_engine *e = engine("[probe]\nstage = rcpt\naction = tempfail\n");
    policy_session *s = envelope(e, "192.0.2.10");
    CU_ASSERT_EQUAL(policy_rcpt(s, "<x@y>"), POLICY_TEMPFAIL);
    CU_ASSERT_EQUAL(policy_last_reply(s)->code, 450);
    CU_ASSERT_STRING_EQUAL(policy_last_reply(s)->xcode, "4.7.1");
    policy_session_free(s);
    policy_engine_unref(e);
}

static void test_action_warn_only_logs(void)
{
    policy_engine *e = engine("[probe]\nstage = rcpt\naction = warn\n");
    policy_session *s = envelope(e, "192.0.2.10");
    CU_ASSERT_EQUAL(policy_rcpt(s, "<x@y>"), POLICY_CONTINUE);
    CU_ASSERT_TRUE(test_log_has("stage=rcpt action=warn"));
    const policy_edit *ed;
    CU_ASSERT_EQUAL(policy_edits(s, &ed), 0);
    policy_session_free(s);
    policy_engine_unref(e);
}

static void test_action_warn_never_defers_on_error(void)
{
    policy_engine *e = engine("[probe]\nstage = rcpt\nresult = error\naction = warn\n");
    policy_session *s = envelope(e, "192.0.2.10");
    CU_ASSERT_EQUAL(policy_rcpt(s, "<x@y>"), POLICY_CONTINUE);
    CU_ASSERT_TRUE(test_log_has("stage=rcpt action=warn-error"));
    policy_session_free(s);
    policy_engine_unref(e);
}

static void test_action_off_does_not_run(void)
{
    policy_engine *e = engine("[probe]\nstage = rcpt\naction = off\n");
    policy_session *s = envelope(e, "192.0.2.10");
    CU_ASSERT_EQUAL(policy_rcpt(s, "<x@y>"), POLICY_CONTINUE);
    CU_ASSERT_FALSE(test_log_has("layer=probe"));
    policy_session_free(s);
    policy_engine_unref(e);
}

static void test_action_tag_adds_a_header_to_every_message(void)
{
    policy_engine *e = engine("[probe]\nstage = connect\naction = tag\ntext = dial-up\n");
    policy_session *s = envelope(e, "192.0.2.10");
    const policy_edit *ed;
    for (int i = 0; i < 2; i++) {
        policy_rcpt(s, "<x@y>");
        CU_ASSERT_EQUAL(policy_data(s), POLICY_CONTINUE);
        CU_ASSERT_EQUAL(policy_eom(s), POLICY_CONTINUE);
        CU_ASSERT_EQUAL_FATAL(policy_edits(s, &ed), 1);
        CU_ASSERT_EQUAL(ed[0].kind, POLICY_EDIT_ADD_HEADER);
        CU_ASSERT_STRING_EQUAL(ed[0].name, "X-Policy-Tag");
        CU_ASSERT_STRING_EQUAL(ed[0].value, "probe; probe fired at connect");
        policy_reset(s);
        CU_ASSERT_EQUAL(policy_edits(s, &ed), 0);
        policy_mail(s, "<a@b>");
    }
    policy_session_free(s);
    policy_engine_unref(e);
}

static void test_connect_verdict_waits_for_first_rcpt(void)
{
    policy_engine *e = engine("[probe]\nstage = connect\ntext = listed\n");
    policy_session *s = policy_session_new(e, "192.0.2.10", NULL);
    CU_ASSERT_EQUAL(policy_connect(s), POLICY_CONTINUE);
    CU_ASSERT_EQUAL(policy_helo(s, "x.test"), POLICY_CONTINUE);
    CU_ASSERT_EQUAL(policy_mail(s, "<a@b.test>"), POLICY_CONTINUE);
    CU_ASSERT_TRUE(test_log_has("stage=connect action=delay"));
    CU_ASSERT_EQUAL(policy_rcpt(s, "<user@elsewhere.test>"), POLICY_REJECT);
    CU_ASSERT_STRING_EQUAL(policy_last_reply(s)->text, "listed");
    CU_ASSERT_TRUE(test_log_has("stage=rcpt action=reject ip=192.0.2.10 host=unknown helo=x.test "
                                "from=a@b.test rcpt=user@elsewhere.test layer=probe"));
    /* a second transaction is refused the same way: the verdict is the connection's */
    policy_reset(s);
    policy_mail(s, "<c@d.test>");
    CU_ASSERT_EQUAL(policy_rcpt(s, "<other@elsewhere.test>"), POLICY_REJECT);
    policy_session_free(s);
    policy_engine_unref(e);
}

static void test_postmaster_stays_reachable_despite_delayed_verdict(void)
{
    policy_engine *e = engine("[probe]\nstage = connect\n");
    policy_session *s = envelope(e, "192.0.2.10");
    CU_ASSERT_EQUAL(policy_rcpt(s, "<postmaster>"), POLICY_CONTINUE);
    CU_ASSERT_EQUAL(policy_rcpt(s, "<Abuse>"), POLICY_CONTINUE);
    CU_ASSERT_TRUE(test_log_has("action=exempt"));
    CU_ASSERT_EQUAL(policy_rcpt(s, "<postmaster@remote.example>"), POLICY_REJECT);
    policy_session_free(s);
    policy_engine_unref(e);
}

static void test_delay_reject_no_refuses_at_connect_with_554(void)
{
    policy_engine *e = engine("[probe]\nstage = connect\ndelay_reject = no\n");
    policy_session *s = policy_session_new(e, "192.0.2.10", NULL);
    CU_ASSERT_EQUAL(policy_connect(s), POLICY_REJECT);
    CU_ASSERT_EQUAL(policy_last_reply(s)->code, 554);
    policy_session_free(s);
    policy_engine_unref(e);
    e = engine("[general]\ndelay_reject = no\n[probe]\nstage = helo\naction = tempfail\n");
    s = policy_session_new(e, "192.0.2.10", NULL);
    policy_connect(s);
    CU_ASSERT_EQUAL(policy_helo(s, "x"), POLICY_TEMPFAIL);
    CU_ASSERT_EQUAL(policy_last_reply(s)->code, 450);
    policy_session_free(s);
    policy_engine_unref(e);
}

static void test_auth_lifts_inbound_verdicts(void)
{
    policy_engine *e = engine("[probe2]\nstage = connect\n");
    policy_session *s = policy_session_new(e, "192.0.2.10", NULL);
    policy_connect(s);
    policy_helo(s, "x");
    CU_ASSERT_EQUAL(policy_auth(s, "alice"), POLICY_CONTINUE);
    CU_ASSERT_TRUE(s->client.customer);
    policy_mail(s, "<alice@example.test>");
    CU_ASSERT_EQUAL(policy_rcpt(s, "<friend@remote.example>"), POLICY_CONTINUE);
    policy_session_free(s);
    policy_engine_unref(e);
}

static void test_auth_does_not_lift_outbound_verdicts(void)
{
    policy_engine *e = engine("[probe]\nstage = connect\n");
    policy_session *s = policy_session_new(e, "192.0.2.10", NULL);
    policy_connect(s);
    policy_auth(s, "alice");
    policy_mail(s, "<alice@example.test>");
    CU_ASSERT_EQUAL(policy_rcpt(s, "<friend@remote.example>"), POLICY_REJECT);
    policy_session_free(s);
    policy_engine_unref(e);
}

static void test_inbound_layers_skip_relayclient(void)
{
    policy_engine *e = engine("[probe2]\nstage = rcpt\n");
    policy_session *s = policy_session_new(e, "192.0.2.10", NULL);
    CU_ASSERT_EQUAL(policy_session_setvar(s, "RELAYCLIENT", ""), 0);
    policy_connect(s);
    policy_mail(s, "<a@b>");
    CU_ASSERT_EQUAL(policy_rcpt(s, "<x@y>"), POLICY_CONTINUE);
    policy_session_free(s);
    policy_engine_unref(e);
}

static void test_on_error_tempfail_defers_and_accept_goes_on(void)
{
    policy_engine *e = engine("[probe]\nstage = rcpt\nresult = error\n");
    policy_session *s = envelope(e, "192.0.2.10");
    CU_ASSERT_EQUAL(policy_rcpt(s, "<x@y>"), POLICY_TEMPFAIL);
    CU_ASSERT_EQUAL(policy_last_reply(s)->code, 451);
    CU_ASSERT_STRING_EQUAL(policy_last_reply(s)->xcode, "4.4.3");
    policy_session_free(s);
    policy_engine_unref(e);

    e = engine("[probe]\nstage = rcpt\nresult = error\non_error = accept\n");
    s = envelope(e, "192.0.2.10");
    CU_ASSERT_EQUAL(policy_rcpt(s, "<x@y>"), POLICY_CONTINUE);
    CU_ASSERT_TRUE(test_log_has("action=error-accepted"));
    policy_session_free(s);
    policy_engine_unref(e);
}

static void test_accept_skips_the_rest_of_the_transaction(void)
{
    policy_engine *e = engine("[probe]\nstage = mail\nresult = accept\n[probe2]\nstage = rcpt\n");
    policy_session *s = envelope(e, "192.0.2.10");
    CU_ASSERT_EQUAL(policy_last_reply(s)->action, POLICY_ACCEPT);
    CU_ASSERT_EQUAL(policy_rcpt(s, "<x@y>"), POLICY_CONTINUE);
    policy_reset(s);
    policy_mail(s, "<a@b>");
    policy_session_free(s);
    policy_engine_unref(e);
}

static void test_data_phase_verdict_sticks_until_reset(void)
{
    policy_engine *e = engine("[probe]\nstage = header\ncode = 554\ntext = blocked header\n");
    policy_session *s = envelope(e, "192.0.2.10");
    policy_rcpt(s, "<x@y>");
    policy_data(s);
    CU_ASSERT_EQUAL(policy_header(s, "Subject", "x"), POLICY_REJECT);
    CU_ASSERT_EQUAL(policy_body(s, "abc", 3), POLICY_REJECT);
    CU_ASSERT_EQUAL(policy_eom(s), POLICY_REJECT);
    CU_ASSERT_STRING_EQUAL(policy_last_reply(s)->text, "blocked header");
    policy_reset(s);
    CU_ASSERT_EQUAL(policy_mail(s, "<a@b>"), POLICY_CONTINUE);
    policy_session_free(s);
    policy_engine_unref(e);
}

static void test_action_discard_accepts_and_drops_at_eom(void)
{
    policy_engine *e = engine("[probe]\nstage = eom\naction = discard\ncode = 554\n");
    policy_session *s = envelope(e, "192.0.2.10");
    policy_rcpt(s, "<x@y>");
    policy_data(s);
    CU_ASSERT_EQUAL(policy_eom(s), POLICY_DISCARD);
    CU_ASSERT_EQUAL(policy_last_reply(s)->action, POLICY_DISCARD);
    CU_ASSERT_EQUAL(policy_last_reply(s)->code, 250);
    CU_ASSERT_STRING_EQUAL(policy_last_reply(s)->xcode, "2.0.0");
    CU_ASSERT_STRING_EQUAL(policy_last_reply(s)->layer, "probe");
    CU_ASSERT_TRUE(test_log_has("stage=eom action=discard"));
    policy_reset(s);
    CU_ASSERT_EQUAL(policy_mail(s, "<a@b>"), POLICY_CONTINUE);
    policy_session_free(s);
    policy_engine_unref(e);
}

static void test_action_discard_rejects_before_eom_and_what_is_not_a_detection(void)
{
    policy_engine *e = engine("[probe]\nstage = rcpt\naction = discard\n");
    policy_session *s = envelope(e, "192.0.2.10");
    CU_ASSERT_EQUAL(policy_rcpt(s, "<x@y>"), POLICY_REJECT);
    CU_ASSERT_EQUAL(policy_last_reply(s)->code, 550);
    policy_session_free(s);
    policy_engine_unref(e);

    e = engine("[probe]\nstage = eom\naction = discard\ncode = 552\nno_discard = yes\n");
    s = envelope(e, "192.0.2.10");
    policy_rcpt(s, "<x@y>");
    policy_data(s);
    CU_ASSERT_EQUAL(policy_eom(s), POLICY_REJECT);
    CU_ASSERT_EQUAL(policy_last_reply(s)->code, 552);
    policy_session_free(s);
    policy_engine_unref(e);
}

static void test_action_discard_only_where_the_layer_allows_it(void)
{
    CU_ASSERT_PTR_NULL(test_engine("[probe2]\naction = discard\n", err, sizeof(err)));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "[probe2] action: expected reject, tempfail, tag, warn or off, got 'discard'"));
    CU_ASSERT_PTR_NULL(test_engine("[regex]\naction = discard\n", err, sizeof(err)));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "[regex] action: expected reject"));
    policy_engine *e = engine("[probe]\nstage = eom\n[probe2]\nstage = eom\n");
    policy_session *s = policy_session_new(e, "192.0.2.10", NULL);
    CU_ASSERT_EQUAL(policy_session_setvar(s, "POLICY_PROBE", "discard"), 0);
    CU_ASSERT_EQUAL(policy_session_setvar(s, "POLICY_PROBE2", "discard"), -1);
    CU_ASSERT_EQUAL(policy_session_setvar(s, "POLICY_REGEX", "discard"), -1);
    policy_connect(s);
    policy_mail(s, "<a@b>");
    policy_rcpt(s, "<x@y>");
    policy_data(s);
    CU_ASSERT_EQUAL(policy_eom(s), POLICY_DISCARD);
    policy_session_free(s);
    policy_engine_unref(e);
}

static void test_disconnect_closes_the_session(void)
{
    policy_engine *e = engine("[probe]\nstage = rcpt\ndisconnect = yes\n");
    policy_session *s = envelope(e, "192.0.2.10");
    CU_ASSERT_EQUAL(policy_rcpt(s, "<x@y>"), POLICY_DISCONNECT);
    CU_ASSERT_EQUAL(policy_last_reply(s)->code, 421);
    CU_ASSERT_EQUAL(policy_mail(s, "<a@b>"), POLICY_DISCONNECT);
    policy_session_free(s);
    policy_engine_unref(e);
}

static void test_policy_layer_variable_overrides_action(void)
{
    policy_engine *e = engine("[probe]\nstage = rcpt\n");
    policy_session *s = policy_session_new(e, "192.0.2.10", NULL);
    CU_ASSERT_EQUAL(policy_session_setvar(s, "POLICY_PROBE", "warn"), 0);
    CU_ASSERT_EQUAL(policy_session_setvar(s, "POLICY_PROBE", "sometimes"), -1);
    policy_connect(s);
    policy_mail(s, "<a@b>");
    CU_ASSERT_EQUAL(policy_rcpt(s, "<x@y>"), POLICY_CONTINUE);
    CU_ASSERT_TRUE(test_log_has("action=warn"));
    CU_ASSERT_EQUAL(policy_session_setvar(s, "POLICY_PROBE", NULL), 0);
    CU_ASSERT_EQUAL(policy_rcpt(s, "<x@y>"), POLICY_REJECT);
    policy_session_free(s);
    policy_engine_unref(e);
}

static void test_policy_layers_variable_narrows_the_run(void)
{
    policy_engine *e = engine("[probe]\nstage = rcpt\n[probe2]\nstage = eom\n");
    policy_session *s = policy_session_new(e, "192.0.2.10", NULL);
    CU_ASSERT_EQUAL(policy_session_setvar(s, "POLICY_LAYERS", "probe2,regex"), 0);
    policy_connect(s);
    policy_mail(s, "<a@b>");
    CU_ASSERT_EQUAL(policy_rcpt(s, "<x@y>"), POLICY_CONTINUE);
    policy_data(s);
    CU_ASSERT_EQUAL(policy_eom(s), POLICY_REJECT);
    policy_session_free(s);
    policy_engine_unref(e);
}

/* POLICY_STAGES: policy-queue runs only the content stages after a patched
 * qmail-smtpd ran the envelope ones; the conversation is still recorded. */
static void test_policy_stages_variable_picks_envelope_or_content(void)
{
    policy_engine *e = engine("[probe]\nstage = rcpt\n[probe2]\nstage = eom\n");
    policy_session *s = policy_session_new(e, "192.0.2.10", NULL);
    CU_ASSERT_EQUAL(policy_session_setvar(s, "POLICY_STAGES", "sometimes"), -1);
    CU_ASSERT_EQUAL(policy_session_setvar(s, "POLICY_STAGES", "content"), 0);
    policy_connect(s);
    policy_mail(s, "<a@b>");
    CU_ASSERT_EQUAL(policy_rcpt(s, "<x@y>"), POLICY_CONTINUE);
    CU_ASSERT_EQUAL(policy_data(s), POLICY_CONTINUE);
    CU_ASSERT_EQUAL(policy_eom(s), POLICY_REJECT);
    policy_session_free(s);

    s = policy_session_new(e, "192.0.2.10", NULL);
    CU_ASSERT_EQUAL(policy_session_setvar(s, "POLICY_STAGES", "envelope"), 0);
    policy_connect(s);
    policy_mail(s, "<a@b>");
    CU_ASSERT_EQUAL(policy_rcpt(s, "<x@y>"), POLICY_REJECT);
    CU_ASSERT_EQUAL(policy_session_setvar(s, "POLICY_STAGES", "ENVELOPE"), 0);
    policy_session_free(s);

    s = policy_session_new(e, "192.0.2.10", NULL);
    CU_ASSERT_EQUAL(policy_session_setvar(s, "POLICY_STAGES", "envelope"), 0);
    CU_ASSERT_EQUAL(policy_session_setvar(s, "POLICY_PROBE", "off"), 0);
    policy_connect(s);
    policy_mail(s, "<a@b>");
    CU_ASSERT_EQUAL(policy_rcpt(s, "<x@y>"), POLICY_CONTINUE);
    CU_ASSERT_EQUAL(policy_data(s), POLICY_CONTINUE);
    CU_ASSERT_EQUAL(policy_eom(s), POLICY_CONTINUE); /* probe2 at eom does not run */
    policy_session_free(s);
    policy_engine_unref(e);
}

static void test_setvar_refuses_bad_names_and_sizes(void)
{
    policy_engine *e = engine(NULL);
    policy_session *s = policy_session_new(e, "192.0.2.10", NULL);
    char big[2000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    CU_ASSERT_EQUAL(policy_session_setvar(s, "", "x"), -1);
    CU_ASSERT_EQUAL(policy_session_setvar(s, "A=B", "x"), -1);
    CU_ASSERT_EQUAL(policy_session_setvar(s, "A B", "x"), -1);
    CU_ASSERT_EQUAL(policy_session_setvar(s, "LONGVALUE", big), -1);
    CU_ASSERT_EQUAL(policy_session_setvar(s, "CHKUSER_RCPTLIMIT", "5"), 0);
    CU_ASSERT_STRING_EQUAL(policy_session_getvar(s, "CHKUSER_RCPTLIMIT"), "5");
    CU_ASSERT_EQUAL(policy_session_setvar(s, "CHKUSER_RCPTLIMIT", "6"), 0);
    CU_ASSERT_STRING_EQUAL(policy_session_getvar(s, "CHKUSER_RCPTLIMIT"), "6");
    CU_ASSERT_EQUAL(policy_session_setvar(s, "CHKUSER_RCPTLIMIT", NULL), 0);
    CU_ASSERT_PTR_NULL(policy_session_getvar(s, "CHKUSER_RCPTLIMIT"));
    int n = 0;
    for (int i = 0; i < 100; i++) {
        char name[32];
        snprintf(name, sizeof(name), "V%d", i);
        n += policy_session_setvar(s, name, "1") == 0;
    }
    CU_ASSERT_EQUAL(n, POLICY_MAX_VARS);
    policy_session_free(s);
    policy_engine_unref(e);
}

static void test_import_env_takes_only_known_variables(void)
{
    policy_engine *e = engine(NULL);
    policy_session *s = policy_session_new(e, "192.0.2.10", NULL);
    char *env[] = {"PATH=/bin",
                   "RELAYCLIENT=",
                   "TCPREMOTEIP=192.0.2.10",
                   "CHKUSER_RCPTLIMIT=50",
                   "POLICY_PROBE=off",
                   "POLICY_REGEX=nonsense",
                   "BADMIMETYPE=",
                   "NOEQUALS",
                   NULL};
    CU_ASSERT_EQUAL(policy_session_import_env(s, env), 4);
    CU_ASSERT_PTR_NULL(policy_session_getvar(s, "PATH"));
    CU_ASSERT_STRING_EQUAL(policy_session_getvar(s, "RELAYCLIENT"), "");
    CU_ASSERT_STRING_EQUAL(policy_session_getvar(s, "POLICY_PROBE"), "off");
    CU_ASSERT_PTR_NULL(policy_session_getvar(s, "POLICY_REGEX"));
    CU_ASSERT_TRUE(test_log_has("ignored invalid variable POLICY_REGEX"));
    policy_connect(s);
    CU_ASSERT_TRUE(s->client.customer);
    policy_session_free(s);
    policy_engine_unref(e);
}

static void test_headers_are_recorded_and_bounded(void)
{
    policy_engine *e = engine(NULL);
    policy_session *s = envelope(e, "192.0.2.10");
    static char big[20000];
    memset(big, 'v', sizeof(big) - 1);
    policy_rcpt(s, "<x@y>");
    policy_data(s);
    for (int i = 0; i < 3000; i++)
        CU_ASSERT_EQUAL(policy_header(s, "X-Many", i % 100 ? "short" : big), POLICY_CONTINUE);
    CU_ASSERT_EQUAL(s->msg.nheaders, POLICY_MAX_HEADERS);
    CU_ASSERT_TRUE(s->msg.header_bytes < POLICY_MAX_HEADER_BYTES);
    CU_ASSERT_EQUAL(policy_header(s, NULL, NULL), POLICY_CONTINUE);
    CU_ASSERT_EQUAL(policy_eom(s), POLICY_CONTINUE);
    policy_session_free(s);
    policy_engine_unref(e);
}

static void test_addresses_lose_brackets_and_control_bytes(void)
{
    policy_engine *e = engine(NULL);
    policy_session *s = policy_session_new(e, "192.0.2.10", NULL);
    policy_connect(s);
    policy_mail(s, " <a\r\nb@c> ");
    CU_ASSERT_STRING_EQUAL(s->txn.sender, "a  b@c");
    policy_mail(s, "<>");
    CU_ASSERT_STRING_EQUAL(s->txn.sender, "");
    char big[700];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    CU_ASSERT_EQUAL(policy_mail(s, big), POLICY_REJECT);
    CU_ASSERT_EQUAL(policy_last_reply(s)->code, 553);
    CU_ASSERT_EQUAL(policy_mail(s, "<a@b>"), POLICY_CONTINUE);
    CU_ASSERT_EQUAL(policy_rcpt(s, big), POLICY_REJECT);
    CU_ASSERT_EQUAL(policy_rcpt(s, "<>"), POLICY_REJECT);
    CU_ASSERT_STRING_EQUAL(policy_last_reply(s)->xcode, "5.1.3");
    policy_session_free(s);
    policy_engine_unref(e);
}

/* ------------------------------------------------------------ bounds */

/* addr - "<NNN...@example.test>" of about len bytes, numbered */
static const char *addr(char *buf, size_t len, unsigned n)
{
    int k = snprintf(buf, len, "<%u", n);
    memset(buf + k, 'x', len - (size_t)k - 16);
    snprintf(buf + len - 16, 16, "@example.test>");
    return buf;
}

static void test_repeated_refused_mail_holds_one_sender(void)
{
    policy_engine *e = engine("[probe]\nstage = mail\ndelay_reject = no\n");
    policy_session *s = policy_session_new(e, "192.0.2.10", NULL);
    char a[400];
    policy_connect(s);
    for (unsigned i = 0; i < 20000; i++)
        CU_ASSERT_EQUAL(policy_mail(s, addr(a, sizeof(a), i)), POLICY_REJECT);
    CU_ASSERT_TRUE(s->txn_arena.used_total < 2 * sizeof(a)); /* one sender, not 20,000 (8 MB) */
    policy_session_free(s);
    policy_engine_unref(e);
}

static void test_refused_rcpts_are_not_copied(void)
{
    policy_engine *e = engine("[probe]\nstage = rcpt\n");
    policy_session *s = envelope(e, "192.0.2.10");
    char a[400];
    size_t before = s->txn_arena.used_total;
    for (unsigned i = 0; i < 20000; i++)
        CU_ASSERT_EQUAL(policy_rcpt(s, addr(a, sizeof(a), i)), POLICY_REJECT);
    CU_ASSERT_EQUAL(s->txn_arena.used_total, before); /* not 8 MB */
    CU_ASSERT_EQUAL(s->txn.rcpts_tried, 20000);
    CU_ASSERT_EQUAL(policy_session_setvar(s, "POLICY_PROBE", "off"), 0);
    CU_ASSERT_EQUAL(policy_rcpt(s, "<kept@example.test>"), POLICY_CONTINUE);
    CU_ASSERT_EQUAL(s->txn.nrcpts, 1);
    CU_ASSERT_STRING_EQUAL(s->rcpts[0], "kept@example.test");
    CU_ASSERT_EQUAL(policy_rcpt(s, "<second@example.test>"), POLICY_CONTINUE);
    CU_ASSERT_STRING_EQUAL(s->rcpts[0], "kept@example.test"); /* kept, not the scratch */
    CU_ASSERT_STRING_EQUAL(s->rcpts[1], "second@example.test");
    policy_session_free(s);
    policy_engine_unref(e);
}

static void test_headers_past_the_limits_are_checked_not_copied(void)
{
    /* 100 MB of headers: no message size limit, to see what is kept */
    policy_engine *e =
        engine("[general]\nmessage_size_limit = 0\n[probe]\nstage = header\naction = warn\n");
    policy_session *s = envelope(e, "192.0.2.10");
    static char v[2048];
    memset(v, 'v', sizeof(v) - 1);
    policy_rcpt(s, "<x@y>");
    policy_data(s);
    for (int i = 0; i < 50000; i++)
        CU_ASSERT_EQUAL(policy_header(s, "X-Filler", v), POLICY_CONTINUE);
    /* what is kept: at most POLICY_MAX_HEADER_BYTES, not 100 MB */
    CU_ASSERT_TRUE(s->txn_arena.used_total < POLICY_MAX_HEADER_BYTES + 64 * POLICY_MAX_HEADERS);
    CU_ASSERT_TRUE(s->msg.nheaders < POLICY_MAX_HEADERS);
    CU_ASSERT_PTR_NULL(s->msg.now.name); /* nothing points at the caller's strings after return */
    test_log_clear();
    CU_ASSERT_EQUAL(policy_header(s, "X-Last", v), POLICY_CONTINUE);
    CU_ASSERT_TRUE(test_log_has("probe fired at header")); /* past the limits: still checked */
    policy_session_free(s);
    policy_engine_unref(e);
}

static void test_edits_are_bounded_and_never_repeated(void)
{
    /* the same tag at every HELO: one connection edit, not one per HELO */
    policy_engine *e = engine("[probe]\nstage = helo\naction = tag\n");
    policy_session *s = policy_session_new(e, "192.0.2.10", NULL);
    policy_connect(s);
    for (int i = 0; i < 5000; i++)
        policy_helo(s, "client.example.test");
    CU_ASSERT_EQUAL(s->nconn_edits, 1);
    policy_session_free(s);
    policy_engine_unref(e);

    /* a different tag for every RCPT (relay to a new domain, tagged) */
    e = test_engine("[customers]\naction = tag\nlocal_domains = example.test\n", err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    test_log_clear();
    test_log_attach(e);
    s = policy_session_new(e, "192.0.2.10", NULL);
    policy_connect(s);
    policy_mail(s, "<a@example.test>");
    char rcpt[64];
    for (int i = 0; i < 5000; i++) {
        snprintf(rcpt, sizeof(rcpt), "<u@d%d.test>", i);
        CU_ASSERT_EQUAL(policy_rcpt(s, rcpt), POLICY_CONTINUE);
    }
    const policy_edit *ed;
    CU_ASSERT_EQUAL(policy_edits(s, &ed), POLICY_MAX_EDITS);
    CU_ASSERT_TRUE(test_log_has("header edit X-Policy-Tag dropped"));
    policy_reset(s);
    policy_mail(s, "<a@example.test>");
    policy_rcpt(s, "<u@d1.test>");
    policy_rcpt(s, "<v@d1.test>"); /* the same reason: the same edit */
    CU_ASSERT_EQUAL(policy_edits(s, &ed), 1);
    policy_session_free(s);
    policy_engine_unref(e);
}

/* Where the MTA accepted the envelope already (POLICY_STAGES=content), its
 * SMTP limits are not applied a second time. */
static void test_content_stages_take_the_envelope_as_given(void)
{
    policy_engine *e = engine(NULL);
    static char big[5001];
    memset(big, 's', sizeof(big) - 1);
    memcpy(big + sizeof(big) - 14, "@example.test", 13);
    policy_session *s = policy_session_new(e, "192.0.2.10", NULL);
    CU_ASSERT_EQUAL(policy_session_setvar(s, "POLICY_STAGES", "content"), 0);
    policy_connect(s);
    CU_ASSERT_EQUAL(policy_mail(s, big), POLICY_CONTINUE);
    CU_ASSERT_EQUAL(strlen(s->txn.sender), sizeof(big) - 1);
    CU_ASSERT_EQUAL(policy_rcpt(s, big), POLICY_CONTINUE);
    for (int i = 1; i <= POLICY_MAX_RCPTS; i++) {
        char r[64];
        snprintf(r, sizeof(r), "<r%d@example.test>", i);
        CU_ASSERT_EQUAL(policy_rcpt(s, r), POLICY_CONTINUE);
    }
    CU_ASSERT_EQUAL(s->txn.nrcpts, POLICY_MAX_RCPTS + 1);
    CU_ASSERT_EQUAL(policy_data(s), POLICY_CONTINUE);
    CU_ASSERT_EQUAL(policy_eom(s), POLICY_CONTINUE);
    policy_session_free(s);

    /* an SMTP session keeps its limits */
    s = envelope(e, "192.0.2.10");
    CU_ASSERT_EQUAL(policy_mail(s, big), POLICY_REJECT);
    CU_ASSERT_EQUAL(policy_mail(s, "<a@example.test>"), POLICY_CONTINUE);
    CU_ASSERT_EQUAL(policy_rcpt(s, big), POLICY_REJECT);
    for (int i = 1; i <= POLICY_MAX_RCPTS; i++) {
        char r[64];
        snprintf(r, sizeof(r), "<r%d@example.test>", i);
        policy_rcpt(s, r);
    }
    CU_ASSERT_EQUAL(policy_rcpt(s, "<one@more.test>"), POLICY_TEMPFAIL);
    CU_ASSERT_EQUAL(policy_last_reply(s)->code, 452);
    policy_session_free(s);
    policy_engine_unref(e);
}

int suite_session(void)
{
    CU_pSuite s = CU_add_suite("session", NULL, NULL);
    if (!s)
        return -1;
    CU_ADD_TEST(s, test_full_conversation_twice);
    CU_ADD_TEST(s, test_stages_out_of_order_defer_and_say_so);
    CU_ADD_TEST(s, test_header_after_body_is_out_of_order);
    CU_ADD_TEST(s, test_null_session_is_a_tempfail_not_a_crash);
    CU_ADD_TEST(s, test_mail_after_eom_starts_a_new_transaction);
    CU_ADD_TEST(s, test_invalid_client_ip_defers_at_connect);
    CU_ADD_TEST(s, test_client_ip_spellings_are_canonical);
    CU_ADD_TEST(s, test_reply_text_is_sanitized);
    CU_ADD_TEST(s, test_rcpt_match_rejects_that_recipient_only);
    CU_ADD_TEST(s, test_action_tempfail_turns_5xx_into_4xx);
    CU_ADD_TEST(s, test_action_warn_only_logs);
    CU_ADD_TEST(s, test_action_warn_never_defers_on_error);
    CU_ADD_TEST(s, test_action_off_does_not_run);
    CU_ADD_TEST(s, test_action_tag_adds_a_header_to_every_message);
    CU_ADD_TEST(s, test_connect_verdict_waits_for_first_rcpt);
    CU_ADD_TEST(s, test_postmaster_stays_reachable_despite_delayed_verdict);
    CU_ADD_TEST(s, test_delay_reject_no_refuses_at_connect_with_554);
    CU_ADD_TEST(s, test_auth_lifts_inbound_verdicts);
    CU_ADD_TEST(s, test_auth_does_not_lift_outbound_verdicts);
    CU_ADD_TEST(s, test_inbound_layers_skip_relayclient);
    CU_ADD_TEST(s, test_on_error_tempfail_defers_and_accept_goes_on);
    CU_ADD_TEST(s, test_accept_skips_the_rest_of_the_transaction);
    CU_ADD_TEST(s, test_data_phase_verdict_sticks_until_reset);
    CU_ADD_TEST(s, test_action_discard_accepts_and_drops_at_eom);
    CU_ADD_TEST(s, test_action_discard_rejects_before_eom_and_what_is_not_a_detection);
    CU_ADD_TEST(s, test_action_discard_only_where_the_layer_allows_it);
    CU_ADD_TEST(s, test_disconnect_closes_the_session);
    CU_ADD_TEST(s, test_policy_layer_variable_overrides_action);
    CU_ADD_TEST(s, test_policy_layers_variable_narrows_the_run);
    CU_ADD_TEST(s, test_policy_stages_variable_picks_envelope_or_content);
    CU_ADD_TEST(s, test_setvar_refuses_bad_names_and_sizes);
    CU_ADD_TEST(s, test_import_env_takes_only_known_variables);
    CU_ADD_TEST(s, test_headers_are_recorded_and_bounded);
    CU_ADD_TEST(s, test_addresses_lose_brackets_and_control_bytes);
    CU_ADD_TEST(s, test_repeated_refused_mail_holds_one_sender);
    CU_ADD_TEST(s, test_refused_rcpts_are_not_copied);
    CU_ADD_TEST(s, test_headers_past_the_limits_are_checked_not_copied);
    CU_ADD_TEST(s, test_edits_are_bounded_and_never_repeated);
    CU_ADD_TEST(s, test_content_stages_take_the_envelope_as_given);
    return 0;
}
