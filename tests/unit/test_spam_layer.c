/*
 * test_spam_layer.c - layer 6 ([spam]) on an LMDB store of its own, with
 * the built-in filter only (spamd runs for real in integration/spam.sh):
 * the configuration's contract, policy_spam_* training and classifying
 * (learned, known, corrected, skipped), and the layer's verdicts and
 * header edits on a session (tag, subject tag, reject, customers,
 * headers = spam, the store unusable per on_error); the per-recipient map
 * is tested with a real cdb in integration/spam.sh.
 */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "helpers.h"
#include "suites.h"

static char err[512];
static char conf[2048];

/* msg - a message of words from one side (spam 1, ham 0), serial n: the
 * words picked by n, and a word of its own, so no two have one digest. */
static const char *msg(int spam, int n)
{
    static char buf[4][2048];
    static int ring;
    static const char *const sw[] = {"viagra", "lottery", "winner", "casino", "pharmacy",
                                     "bitcoin", "unclaimed", "prize", "jackpot", "cheap"};
    static const char *const hw[] = {"meeting", "agenda", "minutes", "kernel", "patch",
                                     "release", "budget", "slides", "review", "schedule"};
    const char *const *w = spam ? sw : hw;
    char *b = buf[ring++ % 4];
    int k = snprintf(b, sizeof(buf[0]),
                     "From: %s@%s.test\r\nTo: b@example.test\r\nSubject: %s %s\r\n"
                     "Message-ID: <%d.%d@gen.test>\r\n\r\n",
                     spam ? "offers" : "colleague", spam ? "deals" : "work", w[n % 10],
                     w[(n + 3) % 10], spam, n);
    unsigned x = (unsigned)n * 2654435761u + 1;
    for (int i = 0; i < 40; i++, x = x * 1103515245u + 12345u)
        k += snprintf(b + k, sizeof(buf[0]) - (size_t)k, "%s%s", w[(x >> 16) % 10],
                      i % 10 == 9 ? "\r\n" : " ");
    snprintf(b + k, sizeof(buf[0]) - (size_t)k, "ref%dx%d\r\n", spam, n);
    return b;
}

/* engine - [spam] on a fresh LMDB directory (name) with extra keys; NULL
 * with err set when the configuration is refused. */
static policy_engine *engine(const char *name, const char *extra)
{
    char dir[1024];
    snprintf(dir, sizeof(dir), "%s/%s", test_dir(), name);
    mkdir(dir, 0700);
    snprintf(conf, sizeof(conf),
             "[customers]\nlocal_domains = example.test\n[spam]\nstore = lmdb:%s\nlearn = none\n%s",
             dir, extra ? extra : "");
    return test_engine(conf, err, sizeof(err));
}

/* train - 20 spam and 20 ham, every one learned. */
static void train(policy_engine *e)
{
    policy_spam *sp = policy_spam_open(e, POLICY_SPAM_BULK, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(sp);
    for (int i = 0; i < 20; i++)
        for (int spam = 0; spam < 2; spam++) {
            const char *m = msg(spam, i);
            CU_ASSERT_EQUAL(policy_spam_train(sp, m, strlen(m), spam, POLICY_SPAM_TRAIN_ALL, NULL), 0);
        }
    CU_ASSERT_EQUAL(policy_spam_flush(sp), 0);
    policy_spam_close(sp);
}

static void test_configuration_contract(void)
{
    static const char *const bad[] = {
        "reject_score = 4\n",                          /* below tag_score 5 */
        "learn_ham_score = 12\n",                      /* not below learn_spam_score */
        "builtin = no\n",                              /* nothing to check with */
        "subject_tag = \001x\n",                       /* not printable */
        "tag_score = lots\n",                          /* not a number */
        "learn = always\n",                            /* toe, teft or none */
        "headers = some\n",                            /* all, spam or none */
        "max_features = 10\n",                         /* 100 to 65536 */
        "token_ttl = 20y\n",                           /* a period */
        "spamd = unix:\n",                             /* no path */
        "map = /nonexistent/spam.cdb\n",               /* cannot be opened */
        "builtin_weight = 0\n",                        /* above 0 */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        policy_engine *e = engine("cfg", bad[i]);
        if (e)
            fprintf(stderr, "\n  accepted: %s", bad[i]);
        CU_ASSERT_PTR_NULL(e);
        policy_engine_unref(e);
    }
    policy_engine *e = test_engine("[spam]\n", err, sizeof(err));
    CU_ASSERT_PTR_NULL(e); /* the built-in filter without any store */
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "token store"));
    e = engine("cfg", "reject_score = off\nsubject_tag = none\nheaders = spam\ntoken_ttl = 0\n");
    CU_ASSERT_PTR_NOT_NULL(e);
    policy_engine_unref(e);
}

static void test_train_and_classify(void)
{
    policy_engine *e = engine("api", NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    train(e);
    policy_spam *sp = policy_spam_open(e, 0, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(sp);
    double score;
    int is_spam;
    const char *s = msg(1, 33), *h = msg(0, 34);
    CU_ASSERT_EQUAL(policy_spam_classify(sp, s, strlen(s), &score, &is_spam), 0);
    CU_ASSERT(score > 0.5 && score <= 1 && is_spam);
    CU_ASSERT_EQUAL(policy_spam_classify(sp, h, strlen(h), &score, &is_spam), 0);
    CU_ASSERT(score < 0.5 && score >= 0 && !is_spam);

    policy_spam_trained what;
    const char *old = msg(1, 3); /* trained as spam above */
    CU_ASSERT_EQUAL(policy_spam_train(sp, old, strlen(old), 1, 0, &what), 0);
    CU_ASSERT_EQUAL(what, POLICY_SPAM_KNOWN);
    CU_ASSERT_EQUAL(policy_spam_train(sp, s, strlen(s), 1, 0, &what), 0);
    CU_ASSERT_EQUAL(what, POLICY_SPAM_SKIPPED); /* right and sure: train on error leaves it */
    double before, after;
    CU_ASSERT_EQUAL(policy_spam_classify(sp, h, strlen(h), &before, NULL), 0);
    CU_ASSERT_EQUAL(policy_spam_train(sp, h, strlen(h), 1, POLICY_SPAM_TRAIN_ALL, &what), 0);
    CU_ASSERT_EQUAL(what, POLICY_SPAM_LEARNED);
    CU_ASSERT_EQUAL(policy_spam_classify(sp, h, strlen(h), &after, NULL), 0);
    CU_ASSERT(after > before);
    CU_ASSERT_EQUAL(policy_spam_train(sp, h, strlen(h), 0, 0, &what), 0);
    CU_ASSERT_EQUAL(what, POLICY_SPAM_CORRECTED);
    CU_ASSERT_EQUAL(policy_spam_classify(sp, h, strlen(h), &after, NULL), 0);
    CU_ASSERT(after <= before);
    policy_spam_close(sp);
    policy_engine_unref(e);

    e = test_engine("[spam]\nbuiltin = no\nspamd = inet:127.0.0.1:1\n", err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_PTR_NULL(policy_spam_open(e, 0, err, sizeof(err)));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "builtin = no"));
    policy_engine_unref(e);
}

/* check - one message from a stranger (or a customer) to the recipients;
 * the action at end of message and its edits, as one text. */
static policy_action check(policy_engine *e, const char *m, int customer, const char *const *rcpts,
                           char *edits, size_t cap)
{
    policy_session *s = policy_session_new(e, "192.0.2.1", NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    if (customer)
        policy_session_setvar(s, "RELAYCLIENT", "");
    policy_connect(s);
    policy_helo(s, "client.test");
    policy_mail(s, "<a@sender.test>");
    static const char *const one[] = {"<b@example.test>", NULL};
    for (const char *const *r = rcpts ? rcpts : one; *r; r++)
        policy_rcpt(s, *r);
    policy_data(s);
    policy_action a = policy_message(s, m, strlen(m));
    if (a == POLICY_CONTINUE)
        a = policy_eom(s);
    const policy_edit *ed;
    size_t n = policy_edits(s, &ed), k = 0;
    edits[0] = '\0';
    for (size_t i = 0; i < n && k < cap; i++)
        k += (size_t)snprintf(edits + k, cap - k, "%s: %s\n", ed[i].name, ed[i].value);
    policy_session_free(s);
    return a;
}

static void test_layer_verdicts_and_edits(void)
{
    char ed[4096];
    policy_engine *e = engine("layer", "builtin_weight = 6\nreject_score = 40\n");
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    train(e);
    CU_ASSERT_EQUAL(check(e, msg(1, 41), 0, NULL, ed, sizeof(ed)), POLICY_CONTINUE);
    CU_ASSERT_PTR_NOT_NULL(strstr(ed, "X-Spam-Status: Yes, score="));
    CU_ASSERT_PTR_NOT_NULL(strstr(ed, "X-Spam-Flag: YES\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(ed, "X-Spam-Level: *****"));
    CU_ASSERT_PTR_NOT_NULL(strstr(ed, "Subject: [SPAM] "));
    CU_ASSERT_EQUAL(check(e, msg(0, 42), 0, NULL, ed, sizeof(ed)), POLICY_CONTINUE);
    CU_ASSERT_PTR_NOT_NULL(strstr(ed, "X-Spam-Status: No, score="));
    CU_ASSERT_PTR_NULL(strstr(ed, "X-Spam-Flag"));
    CU_ASSERT_PTR_NULL(strstr(ed, "Subject"));
    /* a customer's mail is not checked */
    CU_ASSERT_EQUAL(check(e, msg(1, 43), 1, NULL, ed, sizeof(ed)), POLICY_CONTINUE);
    CU_ASSERT_STRING_EQUAL(ed, "");
    policy_engine_unref(e);

    e = engine("layer", "builtin_weight = 6\nreject_score = 5\n");
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_EQUAL(check(e, msg(1, 44), 0, NULL, ed, sizeof(ed)), POLICY_REJECT);
    policy_engine_unref(e);
    /* headers = spam: ham gets nothing; subject_tag = none: no subject */
    e = engine("layer", "builtin_weight = 6\nheaders = spam\nsubject_tag = none\nreject_score = off\n");
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_EQUAL(check(e, msg(0, 45), 0, NULL, ed, sizeof(ed)), POLICY_CONTINUE);
    CU_ASSERT_STRING_EQUAL(ed, "");
    CU_ASSERT_EQUAL(check(e, msg(1, 46), 0, NULL, ed, sizeof(ed)), POLICY_CONTINUE);
    CU_ASSERT_PTR_NOT_NULL(strstr(ed, "X-Spam-Flag: YES"));
    CU_ASSERT_PTR_NULL(strstr(ed, "Subject"));
    policy_engine_unref(e);
}

static void test_store_unusable_per_on_error(void)
{
    char ed[4096];
    const char *m = msg(1, 50);
    policy_engine *e = test_engine("[customers]\nlocal_domains = example.test\n[spam]\nstore = lmdb:/proc/nope/db\n", err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(e); /* opened lazily: the session finds out */
    CU_ASSERT_EQUAL(check(e, m, 0, NULL, ed, sizeof(ed)), POLICY_TEMPFAIL);
    policy_engine_unref(e);
    e = test_engine("[customers]\nlocal_domains = example.test\n"
                    "[spam]\nstore = lmdb:/proc/nope/db\non_error = accept\n",
                    err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_EQUAL(check(e, m, 0, NULL, ed, sizeof(ed)), POLICY_CONTINUE);
    CU_ASSERT_STRING_EQUAL(ed, ""); /* passed unchecked, logged */
    policy_engine_unref(e);
}

int suite_spam_layer(void)
{
    CU_pSuite s = CU_add_suite("spam_layer", NULL, NULL);
    if (!s)
        return -1;
    CU_ADD_TEST(s, test_configuration_contract);
    CU_ADD_TEST(s, test_train_and_classify);
    CU_ADD_TEST(s, test_layer_verdicts_and_edits);
    CU_ADD_TEST(s, test_store_unusable_per_on_error);
    return 0;
}
