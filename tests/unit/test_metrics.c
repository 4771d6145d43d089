/*
 * test_metrics.c - the metrics sink: one decision event per decision log
 * line, every check timed with its result, sessions and messages (with
 * their bytes, aborted ones included) counted once, errors that layers
 * report, nothing without a sink; and [general] store_metrics: counts in
 * a real LMDB store, all-time and per hour, exact with processes counting
 * at once, read back through policy_engine_read_metrics.
 */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core.h"
#include "helpers.h"
#include "suites.h"

#define EVENTS_MAX 256

static struct event {
    policy_metric_kind kind;
    char stage[16], layer[32], action[32], service[16];
    int code;
    double seconds;
    unsigned long long bytes;
} events[EVENTS_MAX];
static size_t nevents;
static int decision_lines;

static void sink(const policy_metric *m, void *ctx)
{
    (void)ctx;
    if (nevents == EVENTS_MAX)
        return;
    struct event *v = &events[nevents++];
    v->kind = m->kind;
    snprintf(v->stage, sizeof(v->stage), "%s", m->stage ? m->stage : "-");
    snprintf(v->layer, sizeof(v->layer), "%s", m->layer ? m->layer : "-");
    snprintf(v->action, sizeof(v->action), "%s", m->action ? m->action : "-");
    snprintf(v->service, sizeof(v->service), "%s", m->service ? m->service : "-");
    v->code = m->code;
    v->seconds = m->seconds;
    v->bytes = m->bytes;
}

/* count_lines - the log sink: counts decision lines (they begin "stage="). */
static void count_lines(int level, const char *line, void *ctx)
{
    (void)level;
    (void)ctx;
    if (!strncmp(line, "stage=", 6))
        decision_lines++;
}

/* open_conf - an engine where only the probes refuse (no relay control). */
static policy_engine *open_conf(const char *conf, char *err, size_t errlen)
{
    char text[2048];
    snprintf(text, sizeof(text), "[customers]\naction = off\n%s", conf);
    return test_engine(text, err, errlen);
}

static policy_engine *engine(const char *conf)
{
    char err[512];
    policy_engine *e = open_conf(conf, err, sizeof(err));
    if (!e)
        fprintf(stderr, "\n  engine: %s\n", err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    policy_engine_set_log(e, count_lines, NULL);
    policy_engine_set_metrics(e, sink, NULL);
    nevents = 0;
    decision_lines = 0;
    return e;
}

/* count - events of a kind matching the given fields (NULL: any). */
static size_t count(policy_metric_kind k, const char *stage, const char *layer, const char *action)
{
    size_t n = 0;
    for (size_t i = 0; i < nevents; i++)
        if (events[i].kind == k && (!stage || !strcmp(events[i].stage, stage)) &&
            (!layer || !strcmp(events[i].layer, layer)) &&
            (!action || !strcmp(events[i].action, action)))
            n++;
    return n;
}

/* message - data, a header, a body line, eom; the eom action. */
static policy_action message(policy_session *s)
{
    policy_data(s);
    policy_header(s, "Subject", "hi");
    policy_body(s, "body\r\n", 6);
    return policy_eom(s);
}

static void test_decision_events_equal_decision_lines(void)
{
    policy_engine *e = engine("[probe]\nstage = rcpt\naction = reject\ncode = 550\n"
                              "[probe2]\nstage = mail\naction = warn\n");
    for (int k = 0; k < 3; k++) {
        policy_session *s = policy_session_new(e, "192.0.2.10", NULL);
        policy_connect(s);
        policy_helo(s, "client.test");
        policy_mail(s, "<a@b.test>");
        policy_rcpt(s, "<x@y.test>");
        policy_rcpt(s, "<z@y.test>");
        policy_session_free(s);
    }
    CU_ASSERT_EQUAL(decision_lines, 9); /* per session: a warn, two rejects */
    CU_ASSERT_EQUAL(count(POLICY_METRIC_DECISION, NULL, NULL, NULL), 9);
    CU_ASSERT_EQUAL(count(POLICY_METRIC_DECISION, "rcpt", "probe", "reject"), 6);
    CU_ASSERT_EQUAL(count(POLICY_METRIC_DECISION, "mail", "probe2", "warn"), 3);
    for (size_t i = 0; i < nevents; i++)
        if (events[i].kind == POLICY_METRIC_DECISION && !strcmp(events[i].action, "reject"))
            CU_ASSERT_EQUAL(events[i].code, 550);
    policy_engine_unref(e);
}

static void test_every_check_is_timed_with_its_result(void)
{
    policy_engine *e = engine("[probe]\nstage = mail\nresult = error\non_error = accept\n");
    policy_session *s = policy_session_new(e, "192.0.2.10", NULL);
    policy_connect(s);
    policy_helo(s, "client.test");
    policy_mail(s, "<a@b.test>");
    policy_rcpt(s, "<x@y.test>");
    /* the probe's hooks: connect, helo, mail (error), rcpt */
    CU_ASSERT_EQUAL(count(POLICY_METRIC_CHECK, NULL, "probe", NULL), 4);
    CU_ASSERT_EQUAL(count(POLICY_METRIC_CHECK, "mail", "probe", "error"), 1);
    CU_ASSERT_EQUAL(count(POLICY_METRIC_CHECK, "rcpt", "probe", "nomatch"), 1);
    CU_ASSERT_EQUAL(count(POLICY_METRIC_DECISION, "mail", "probe", "error-accepted"), 1);
    for (size_t i = 0; i < nevents; i++)
        if (events[i].kind == POLICY_METRIC_CHECK)
            CU_ASSERT_TRUE(events[i].seconds >= 0 && events[i].seconds < 5);
    policy_session_free(s);
    policy_engine_unref(e);
}

static void test_sessions_and_messages_counted_once(void)
{
    policy_engine *e = engine("");
    policy_session *s = policy_session_new(e, "192.0.2.10", NULL);
    policy_connect(s);
    policy_mail(s, "<a@b.test>");
    policy_rcpt(s, "<postmaster@localhost>");
    CU_ASSERT_EQUAL(message(s), POLICY_CONTINUE);
    policy_reset(s);
    /* a second message, given up during DATA (RSET) */
    policy_mail(s, "<a@b.test>");
    policy_rcpt(s, "<postmaster@localhost>");
    policy_data(s);
    policy_header(s, "Subject", "x");
    policy_reset(s);
    /* a third, and the connection drops during DATA */
    policy_mail(s, "<a@b.test>");
    policy_rcpt(s, "<postmaster@localhost>");
    policy_data(s);
    policy_session_free(s);
    CU_ASSERT_EQUAL(count(POLICY_METRIC_SESSION, NULL, NULL, NULL), 1);
    CU_ASSERT_EQUAL(count(POLICY_METRIC_MESSAGE, NULL, NULL, NULL), 3);
    CU_ASSERT_EQUAL(count(POLICY_METRIC_MESSAGE, "eom", NULL, "accept"), 1);
    CU_ASSERT_EQUAL(count(POLICY_METRIC_MESSAGE, "data", NULL, "abort"), 2);
    for (size_t i = 0; i < nevents; i++)
        if (events[i].kind == POLICY_METRIC_MESSAGE && !strcmp(events[i].action, "accept"))
            CU_ASSERT_EQUAL(events[i].bytes, 13 + 2 + 6); /* "Subject: hi" CRLF, CRLF, body */
    policy_engine_unref(e);
}

static void test_refused_message_counted_with_its_verdict(void)
{
    policy_engine *e = engine("[probe]\nstage = eom\naction = reject\ncode = 554\n");
    policy_session *s = policy_session_new(e, "192.0.2.10", NULL);
    policy_connect(s);
    policy_mail(s, "<a@b.test>");
    policy_rcpt(s, "<postmaster@localhost>");
    CU_ASSERT_EQUAL(message(s), POLICY_REJECT);
    policy_reset(s);
    policy_session_free(s);
    CU_ASSERT_EQUAL(count(POLICY_METRIC_MESSAGE, NULL, NULL, NULL), 1);
    CU_ASSERT_EQUAL(count(POLICY_METRIC_MESSAGE, "eom", NULL, "reject"), 1);
    policy_engine_unref(e);
}

/* The two halves of a qmail host: qmail-smtpd's session (envelope) counts
 * the client, policy-queue's (content) the message, each once. */
static void test_split_sessions_count_client_and_message_once(void)
{
    policy_engine *e = engine("");
    policy_session *smtpd = policy_session_new(e, "192.0.2.10", NULL);
    policy_session_setvar(smtpd, "POLICY_STAGES", "envelope");
    policy_connect(smtpd);
    policy_mail(smtpd, "<a@b.test>");
    policy_rcpt(smtpd, "<postmaster@localhost>");
    policy_data(smtpd);
    policy_session *queue = policy_session_new(e, "192.0.2.10", NULL);
    policy_session_setvar(queue, "POLICY_STAGES", "content");
    policy_connect(queue);
    policy_mail(queue, "<a@b.test>");
    policy_rcpt(queue, "<postmaster@localhost>");
    message(queue);
    policy_session_free(queue);
    policy_reset(smtpd);
    policy_session_free(smtpd);
    CU_ASSERT_EQUAL(count(POLICY_METRIC_SESSION, NULL, NULL, NULL), 1);
    CU_ASSERT_EQUAL(count(POLICY_METRIC_MESSAGE, NULL, NULL, NULL), 1);
    CU_ASSERT_EQUAL(count(POLICY_METRIC_MESSAGE, "eom", NULL, "accept"), 1);
    policy_engine_unref(e);
}

static void test_layer_errors_counted_by_service(void)
{
    policy_engine *e = engine("");
    policy_session *s = policy_session_new(e, "192.0.2.10", NULL);
    session_error(s, layer_registry[0], "dns");
    session_error(s, layer_registry[0], NULL);
    CU_ASSERT_EQUAL(count(POLICY_METRIC_ERROR, NULL, layer_registry[0]->name, NULL), 2);
    CU_ASSERT_STRING_EQUAL(events[0].service, "dns");
    CU_ASSERT_STRING_EQUAL(events[1].service, "other");
    policy_session_free(s);
    policy_engine_unref(e);
}

static void test_no_sink_no_events(void)
{
    policy_engine *e = engine("[probe]\nstage = rcpt\n");
    policy_engine_set_metrics(e, NULL, NULL);
    CU_ASSERT_FALSE(e->metrics_on);
    policy_session *s = policy_session_new(e, "192.0.2.10", NULL);
    policy_connect(s);
    policy_mail(s, "<a@b.test>");
    policy_rcpt(s, "<x@y.test>");
    session_error(s, layer_registry[0], "dns");
    policy_session_free(s);
    CU_ASSERT_EQUAL(nevents, 0);
    CU_ASSERT_EQUAL(decision_lines, 1);
    policy_engine_unref(e);
}

/* ------------------------------------------------------------ store_metrics */

struct stored {
    char series[256];
    long long hour;
    unsigned long long value;
} got[256];
static size_t ngot;

static void on_stored(const char *series, long long hour, unsigned long long value, void *ctx)
{
    (void)ctx;
    if (ngot < sizeof(got) / sizeof(*got)) {
        snprintf(got[ngot].series, sizeof(got[ngot].series), "%s", series);
        got[ngot].hour = hour;
        got[ngot++].value = value;
    }
}

/* stored - the value read for series (summed over hours), 0 when absent. */
static unsigned long long stored(const char *series)
{
    unsigned long long v = 0;
    for (size_t i = 0; i < ngot; i++)
        if (!strcmp(got[i].series, series))
            v += got[i].value;
    return v;
}

static const char *store_conf(const char *name)
{
    static char conf[1024];
    snprintf(conf, sizeof(conf),
             "[general]\nstore = lmdb:%s/%s\nstore_metrics = yes\n"
             "[probe]\nstage = rcpt\naction = reject\ncode = 553\nxcode = 5.7.1\n",
             test_dir(), name);
    return conf;
}

/* sessions - n clients, each refused twice at RCPT. */
static void sessions(policy_engine *e, int n)
{
    for (int k = 0; k < n; k++) {
        policy_session *s = policy_session_new(e, "192.0.2.10", NULL);
        policy_connect(s);
        policy_mail(s, "<a@b.test>");
        policy_rcpt(s, "<x@y.test>");
        policy_rcpt(s, "<z@y.test>");
        policy_session_free(s);
    }
}

static void test_store_metrics_needs_a_store(void)
{
    char err[512];
    policy_engine *e = test_engine("[general]\nstore_metrics = yes\n", err, sizeof(err));
    CU_ASSERT_PTR_NULL(e);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "store_metrics: needs a store"));
    e = test_engine("[general]\nstore_metrics = maybe\n", err, sizeof(err));
    CU_ASSERT_PTR_NULL(e);
    e = policy_engine_open(NULL, err, sizeof(err));
    ngot = 0;
    CU_ASSERT_EQUAL(policy_engine_read_metrics(e, 0, on_stored, NULL, err, sizeof(err)), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "no [general] store"));
    policy_engine_unref(e);
}

static void test_store_metrics_counts_in_the_store(void)
{
    char err[512];
    policy_engine *e = engine(store_conf("m1"));
    CU_ASSERT_TRUE(e->metrics_on);
    sessions(e, 5);
    ngot = 0;
    CU_ASSERT_EQUAL_FATAL(policy_engine_read_metrics(e, 0, on_stored, NULL, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(stored("policy_sessions_total"), 5);
    CU_ASSERT_EQUAL(
        stored("policy_decisions_total{stage=\"rcpt\",layer=\"probe\",action=\"reject\",code=\"553\"}"),
        10);
    CU_ASSERT_EQUAL(stored("policy_checks_total{layer=\"probe\",stage=\"rcpt\",result=\"match\"}"),
                    10);
    /* every check lands in one bucket of the histogram */
    unsigned long long b = 0;
    for (size_t i = 0; i < ngot; i++)
        if (strstr(got[i].series, "policy_check_duration_seconds_bucket{layer=\"probe\",stage=\"rcpt\""))
            b += got[i].value;
    CU_ASSERT_EQUAL(b, 10);
    for (size_t i = 0; i < ngot; i++)
        CU_ASSERT_EQUAL(got[i].hour, 0);
    /* hourly: this hour holds the decisions, the histogram is all-time only */
    ngot = 0;
    CU_ASSERT_EQUAL(policy_engine_read_metrics(e, (long long)time(NULL) - 60, on_stored, NULL, err,
                                               sizeof(err)),
                    0);
    CU_ASSERT_EQUAL(stored("policy_sessions_total"), 5);
    CU_ASSERT_EQUAL(
        stored("policy_decisions_total{stage=\"rcpt\",layer=\"probe\",action=\"reject\",code=\"553\"}"),
        10);
    for (size_t i = 0; i < ngot; i++) {
        CU_ASSERT_EQUAL(got[i].hour % 3600, 0);
        CU_ASSERT_PTR_NULL(strstr(got[i].series, "_bucket"));
    }
    policy_engine_unref(e);
}

/* child_log - a child's warnings (a store that failed it) fail the test. */
static void child_log(int level, const char *line, void *ctx)
{
    (void)ctx;
    if (level <= POLICY_LOG_WARNING) {
        fprintf(stderr, "\n  child: %s\n", line);
        _exit(3);
    }
}

/* Processes that each live one connection, as under tcpserver: every count
 * arrives, and each series is in the index once. */
static void test_store_metrics_exact_across_processes(void)
{
    char err[512];
    /* the store's file exists before the processes start */
    policy_engine *e = engine(store_conf("m2"));
    sessions(e, 1);
    policy_engine_unref(e);
    pid_t pids[6];
    for (int p = 0; p < 6; p++) {
        pids[p] = fork();
        if (pids[p] == 0) {
            char err2[512];
            policy_engine *ce = open_conf(store_conf("m2"), err2, sizeof(err2));
            if (!ce)
                _exit(2);
            if (!ce->store || !ce->metrics_on) {
                fprintf(stderr, "\n  child: an engine that counts nothing (%s)\n", ce->path);
                _exit(4); /* its sessions would be missing without an error */
            }
            policy_engine_set_log(ce, child_log, NULL);
            sessions(ce, 20);
            policy_engine_unref(ce);
            _exit(0);
        }
    }
    for (int p = 0; p < 6; p++) {
        int st = -1;
        waitpid(pids[p], &st, 0);
        CU_ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    e = engine(store_conf("m2"));
    ngot = 0;
    CU_ASSERT_EQUAL_FATAL(policy_engine_read_metrics(e, 0, on_stored, NULL, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(stored("policy_sessions_total"), 121);
    CU_ASSERT_EQUAL(
        stored("policy_decisions_total{stage=\"rcpt\",layer=\"probe\",action=\"reject\",code=\"553\"}"),
        242);
    for (size_t i = 0; i < ngot; i++)
        for (size_t j = i + 1; j < ngot; j++)
            CU_ASSERT_NOT_EQUAL(strcmp(got[i].series, got[j].series), 0);
    policy_engine_unref(e);
}

int suite_metrics(void)
{
    CU_pSuite s = CU_add_suite("metrics", NULL, NULL);
    if (!s)
        return -1;
    CU_add_test(s, "decision events equal decision lines",
                test_decision_events_equal_decision_lines);
    CU_add_test(s, "every check is timed with its result", test_every_check_is_timed_with_its_result);
    CU_add_test(s, "sessions and messages counted once", test_sessions_and_messages_counted_once);
    CU_add_test(s, "refused message counted with its verdict",
                test_refused_message_counted_with_its_verdict);
    CU_add_test(s, "split sessions count client and message once",
                test_split_sessions_count_client_and_message_once);
    CU_add_test(s, "layer errors counted by service", test_layer_errors_counted_by_service);
    CU_add_test(s, "no sink, no events", test_no_sink_no_events);
    CU_add_test(s, "store_metrics needs a store", test_store_metrics_needs_a_store);
    CU_add_test(s, "store_metrics counts in the store", test_store_metrics_counts_in_the_store);
    CU_add_test(s, "store_metrics exact across processes",
                test_store_metrics_exact_across_processes);
    return 0;
}
