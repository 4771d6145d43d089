/*
 * test_spam.c - the spam filter's tokenizer, classifier and store: the
 * tokenizer on hand-made tricky messages (HTML obfuscation, encoded words,
 * base64 text, URL disguises, list tags and footers, headers that must not
 * count), the classifier on a small synthetic set, and the undo of a
 * training, which must restore the store exactly.
 */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mime.h"
#include "spamclass.h"
#include "spamstore.h"
#include "spamtok.h"
#include "suites.h"

/* ---- tokenizing a message, with every feature's text kept ---- */

struct toks {
    char *text; /* "token\n" for every feature produced */
    size_t len, cap;
};

static void collect(void *ctx, const char *tok, size_t len, uint64_t h)
{
    struct toks *t = ctx;
    (void)h;
    if (t->len + len + 2 > t->cap) {
        t->cap = (t->len + len + 2) * 2;
        t->text = realloc(t->text, t->cap);
    }
    memcpy(t->text + t->len, tok, len);
    t->len += len;
    t->text[t->len++] = '\n';
    t->text[t->len] = '\0';
}

/* has - was this exact feature produced? */
static int has(const struct toks *t, const char *tok)
{
    size_t n = strlen(tok);
    for (const char *p = t->text; p && (p = strstr(p, tok)); p++)
        if ((p == t->text || p[-1] == '\n') && p[n] == '\n')
            return 1;
    return 0;
}

/* has_sub - does any feature contain s? */
static int has_sub(const struct toks *t, const char *s)
{
    return t->text && strstr(t->text, s) != NULL;
}

struct run {
    struct spamtok *tok;
    struct mime_parser *mp;
    struct toks toks;
    size_t n, nmsg;
    const uint64_t *f;
};

static void run_open(struct run *r, unsigned max_features)
{
    memset(r, 0, sizeof(*r));
    struct spamtok_opts o = {.max_features = max_features, .debug = collect, .debug_ctx = &r->toks};
    r->tok = spamtok_new(&o);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r->tok);
    struct mime_handler h;
    spamtok_mime_handler(r->tok, &h);
    r->mp = mime_new(&h, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r->mp);
}

static void run_close(struct run *r)
{
    mime_free(r->mp);
    spamtok_free(r->tok);
    free(r->toks.text);
}

/* tokenize - msg whole; the features in r, their text in r->toks */
static void tokenize(struct run *r, const char *msg)
{
    r->toks.len = 0;
    if (r->toks.text)
        r->toks.text[0] = '\0';
    spamtok_message(r->tok, r->mp, msg, strlen(msg));
    r->f = spamtok_features(r->tok, &r->n, &r->nmsg);
}

/* one_shot - the features of msg, with a fresh tokenizer */
static void one_shot(struct run *r, const char *msg)
{
    run_open(r, 0);
    tokenize(r, msg);
}

/* ---- the tokenizer ---- */

static void test_html_comment_and_entities_do_not_split_words(void)
{
    struct run r;
    one_shot(&r, "From: a@b.example\nSubject: x\nContent-Type: text/html\n\n"
                 "<p>V<!-- break -->i<b></b>a&#103;ra ch&#x65;ap &amp; fr&shy;ee</p>\n");
    CU_ASSERT(has(&r.toks, "b:viagra"));
    CU_ASSERT(has(&r.toks, "b:cheap"));
    CU_ASSERT(has(&r.toks, "b:free"));
    CU_ASSERT(!has_sub(&r.toks, "break"));
    CU_ASSERT(has(&r.toks, "m:html-only"));
    CU_ASSERT(has(&r.toks, "tag:p"));
    run_close(&r);
}

static void test_invisible_html_text_is_no_feature(void)
{
    struct run r;
    one_shot(&r, "Subject: x\nContent-Type: text/html\n\n"
                 "<div style=\"display: none\">poisonword <b>more</b></div>shown "
                 "<style>.c{color:red}</style><script>var hidden=1;</script>end\n");
    CU_ASSERT(has(&r.toks, "b:shown"));
    CU_ASSERT(has(&r.toks, "b:end"));
    CU_ASSERT(!has_sub(&r.toks, "poisonword"));
    CU_ASSERT(!has_sub(&r.toks, "color"));
    CU_ASSERT(!has_sub(&r.toks, "hidden"));
    run_close(&r);
}

static void test_html_link_hosts_are_features(void)
{
    struct run r;
    one_shot(&r, "Subject: x\nContent-Type: text/html\n\n"
                 "<a href=\"http://www.shop.example.co.uk/buy\">http://paypal.com</a>"
                 "<a href=\"HTTP://paypal.com@evil.example:8080/x\">x</a>"
                 "<a href=\"http://www&#46;hidden&#x2e;example/\">y</a>"
                 "<a href=\"http://%65ncoded.example/\">z</a>"
                 "<img src=\"http://192.0.2.7/a.gif\">"
                 "<a href=\"mailto:sales@mail.example.net\">mail</a>\n");
    CU_ASSERT(has(&r.toks, "uh:shop.example.co.uk"));
    CU_ASSERT(
        has(&r.toks, "ud:example.co.uk"));    /* the Public Suffix List, not the last two labels */
    CU_ASSERT(has(&r.toks, "uh:paypal.com")); /* the link text */
    CU_ASSERT(has(&r.toks, "uh:evil.example")); /* the host after user@ */
    CU_ASSERT(has(&r.toks, "uf:userinfo"));
    CU_ASSERT(has(&r.toks, "uf:port"));
    CU_ASSERT(has(&r.toks, "uh:hidden.example"));
    CU_ASSERT(has(&r.toks, "uh:encoded.example"));
    CU_ASSERT(has(&r.toks, "uf:escaped"));
    CU_ASSERT(has(&r.toks, "uf:ip"));
    CU_ASSERT(has(&r.toks, "ue:mail.example.net"));
    CU_ASSERT(has(&r.toks, "us:http"));
    run_close(&r);
}

static void test_plain_text_urls_and_addresses(void)
{
    struct run r;
    one_shot(&r, "Subject: x\n\nSee www.Example.ORG/page, or http://ex.example.com.\n"
                 "Write to Someone@Corp.Example.net today.\n");
    CU_ASSERT(has(&r.toks, "uh:example.org"));
    CU_ASSERT(has(&r.toks, "uh:ex.example.com"));
    CU_ASSERT(has(&r.toks, "eh:corp.example.net"));
    CU_ASSERT(has(&r.toks, "ed:example.net"));
    CU_ASSERT(has(&r.toks, "b:today"));
    CU_ASSERT(!has(&r.toks, "b:someone@corp.example.net"));
    run_close(&r);
}

static void test_encoded_words_in_subject_and_from(void)
{
    struct run r;
    /* "Très cher ami" in UTF-8 base64, a Latin-1 Q word in the name */
    one_shot(&r, "From: =?iso-8859-1?Q?Jos=E9?= Garc =?utf-8?B?w61h?= <jose@mail.example.es>\n"
                 "Subject: =?utf-8?B?VHLDqHMgY2hlciBhbWk=?=\n\nbody\n");
    CU_ASSERT(has(&r.toks, "s:très"));
    CU_ASSERT(has(&r.toks, "s:cher"));
    CU_ASSERT(has(&r.toks, "s:très 1 cher"));
    CU_ASSERT(has(&r.toks, "sc:utf-8"));
    CU_ASSERT(has(&r.toks, "fn:josé"));
    CU_ASSERT(has(&r.toks, "fc:iso-8859-1"));
    CU_ASSERT(has(&r.toks, "fd:mail.example.es"));
    CU_ASSERT(has(&r.toks, "fr:example.es"));
    run_close(&r);
}

static void test_base64_and_charset_text_parts_are_decoded(void)
{
    struct run r;
    /* "Gratuit: économisez" in ISO-8859-1, base64 */
    one_shot(&r, "Subject: x\nMIME-Version: 1.0\nContent-Type: multipart/alternative; b=1;"
                 " boundary=\"BB\"\n\n--BB\nContent-Type: text/plain; charset=iso-8859-1\n"
                 "Content-Transfer-Encoding: base64\n\nR3JhdHVpdDog6WNvbm9taXNleg==\n"
                 "--BB\nContent-Type: text/html; charset=utf-8\n"
                 "Content-Transfer-Encoding: quoted-printable\n\n<b>Fr=C3=A9e</b>=\n"
                 "gift\n--BB--\n");
    CU_ASSERT(has(&r.toks, "b:gratuit"));
    CU_ASSERT(has(&r.toks, "b:économisez"));
    CU_ASSERT(has(&r.toks, "b:fréegift"));
    CU_ASSERT(has(&r.toks, "mt0:multipart/alternative"));
    CU_ASSERT(has(&r.toks, "mt:text/plain"));
    CU_ASSERT(has(&r.toks, "mte:base64"));
    CU_ASSERT(has(&r.toks, "mcs:iso-8859-1"));
    CU_ASSERT(!has(&r.toks, "m:html-only"));
    run_close(&r);
}

static void test_scripts_without_spaces_and_fullwidth_letters(void)
{
    struct run r;
    /* 免费 (two CJK characters), fullwidth "ＦＲＥＥ", Cyrillic upper case */
    one_shot(&r, "Subject: x\nContent-Type: text/plain; charset=utf-8\n\n"
                 "\xe5\x85\x8d\xe8\xb4\xb9 \xef\xbc\xa6\xef\xbc\xb2\xef\xbc\xa5\xef\xbc\xa5 "
                 "\xd0\x9f\xd0\xa0\xd0\x98\xd0\x92\xd0\x95\xd0\xa2\n");
    CU_ASSERT(has(&r.toks, "b:\xe5\x85\x8d"));
    CU_ASSERT(has(&r.toks, "b:\xe8\xb4\xb9"));
    CU_ASSERT(has(&r.toks, "b:\xe5\x85\x8d 1 \xe8\xb4\xb9"));
    CU_ASSERT(has(&r.toks, "b:free"));
    CU_ASSERT(has(&r.toks, "b:\xd0\xbf\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82"));
    run_close(&r);
}

static const char list_msg[] =
    "Received: from lists.example.org by mx.example.net; Mon, 1 Jan 2002\n"
    "From: Alice <alice@home.example>\n"
    "To: talk@lists.example.org\n"
    "Subject: Re: [Talk-list] Re: [Talk-list] kernel panic\n"
    "List-Id: Talk <talk.lists.example.org>\n"
    "Sender: talk-admin@lists.example.org\n"
    "Message-ID: <zqxmsgid@home.example>\n"
    "\n"
    "My kernel panics at boot.\n"
    "-- \n"
    "Alice\n"
    "\n"
    "_______________________________________________\n"
    "Talk-list mailing list\n"
    "Talk-list@lists.example.org\n"
    "http://lists.example.org/mailman/listinfo/talk-list\n";

static void test_list_tags_and_footers_are_dropped(void)
{
    struct run r;
    one_shot(&r, list_msg);
    CU_ASSERT(spamtok_listmail(r.tok));
    CU_ASSERT(has(&r.toks, "s:kernel"));
    CU_ASSERT(has(&r.toks, "s:panic"));
    CU_ASSERT(has(&r.toks, "sf:re"));
    CU_ASSERT(!has_sub(&r.toks, "talk-list"));
    CU_ASSERT(!has_sub(&r.toks, "mailing"));
    CU_ASSERT(!has_sub(&r.toks, "listinfo"));
    CU_ASSERT(!has_sub(&r.toks, "lists.example.org"));
    CU_ASSERT(has(&r.toks, "b:panics"));
    CU_ASSERT(has(&r.toks, "b:alice")); /* the signature is the author's */
    run_close(&r);
}

static void test_without_list_headers_tags_and_footers_stay(void)
{
    struct run r;
    /* the same message without its List-Id: nothing says a list sent it */
    char msg[sizeof(list_msg)];
    const char *l = strstr(list_msg, "List-Id:"), *e = strchr(l, '\n') + 1;
    memcpy(msg, list_msg, (size_t)(l - list_msg));
    strcpy(msg + (l - list_msg), e);
    one_shot(&r, msg);
    CU_ASSERT(!spamtok_listmail(r.tok));
    CU_ASSERT(has(&r.toks, "s:talk-list"));
    CU_ASSERT(has(&r.toks, "b:mailing"));
    CU_ASSERT(has(&r.toks, "uh:lists.example.org"));
    run_close(&r);
}

static void test_trace_and_list_headers_are_no_features(void)
{
    struct run r;
    one_shot(&r, "Received: from zqxrelay.example by mx\nReturn-Path: <zqxbounce@x.example>\n"
                 "Delivered-To: zqxbox@x.example\nMessage-ID: <zqxid@x.example>\n"
                 "Date: Mon, 1 Jan 2002 00:00:00 +0000\nX-Spam-Status: No, zqxscore\n"
                 "Precedence: bulk\nX-Mailing-List: zqxlist\nTo: zqxrcpt@x.example\n"
                 "Subject: hello\nX-Mailer: Mutt 1.4\n\ntext\n");
    CU_ASSERT(!has_sub(&r.toks, "zqx"));
    CU_ASSERT(!has_sub(&r.toks, "2002"));
    CU_ASSERT(has(&r.toks, "xm:mutt"));
    CU_ASSERT(has(&r.toks, "rcpt:1"));
    CU_ASSERT(has(&r.toks, "s:hello"));
    run_close(&r);
}

static void test_added_trace_headers_keep_the_digest(void)
{
    /* what a user sends back for correction carries more trace headers
     * and our own verdict: the same features, the same digest */
    const char *orig = "From: a@b.example\nSubject: cheap pills\n\nbuy now at http://x.example\n";
    const char *back = "Received: from mx by mailbox\nX-Spam-Status: Yes, score=0.99\n"
                       "Return-Path: <a@b.example>\nFrom: a@b.example\nSubject: cheap pills\n\n"
                       "buy now at http://x.example\n";
    struct run r;
    run_open(&r, 0);
    tokenize(&r, orig);
    uint64_t d1 = spamclass_digest(r.f, r.n);
    size_t n1 = r.n;
    tokenize(&r, back);
    CU_ASSERT_EQUAL(r.n, n1);
    CU_ASSERT_EQUAL(spamclass_digest(r.f, r.n), d1);
    run_close(&r);
}

static void test_features_are_bounded_and_headers_keep_their_room(void)
{
    struct run r;
    size_t cap = 400000;
    char *msg = malloc(cap);
    size_t k = (size_t)snprintf(msg, cap, "From: Bob <bob@bob.example>\nSubject: hello\n\n");
    for (unsigned i = 0; k + 32 < cap; i++)
        k += (size_t)snprintf(msg + k, cap - k, "w%u ", i);
    k += (size_t)snprintf(msg + k, cap - k, "http://late.example/\n");
    run_open(&r, 1000);
    tokenize(&r, msg);
    CU_ASSERT(r.n <= 1000);
    CU_ASSERT(spamtok_dropped(r.tok) > 0);
    CU_ASSERT(has(&r.toks, "s:hello"));
    CU_ASSERT(has(&r.toks, "fd:bob.example"));
    CU_ASSERT(has(&r.toks, "mtext:17-32")); /* facts at the end still found room */
    /* message features come first: nmsg of them */
    CU_ASSERT(r.nmsg > 0 && r.nmsg < r.n);
    run_close(&r);
    free(msg);
}

static void test_features_do_not_depend_on_chunking(void)
{
    const char *msg =
        "From: \"Big Sale\" <deals@shop.example>\nSubject: =?utf-8?Q?Gr=C3=B6=C3=9Fe?="
        " deals\nContent-Type: multipart/alternative; boundary=z\n\n--z\n"
        "Content-Type: text/html\n\n<a href=\"http://www.shop.example/a\">Cl<!---->ick"
        "</a> here&nbsp;now \xe5\x85\x8d\n--z--\n";
    struct run r;
    run_open(&r, 0);
    tokenize(&r, msg);
    size_t n = r.n;
    uint64_t *whole = malloc(n * sizeof(*whole));
    memcpy(whole, r.f, n * sizeof(*whole));
    /* byte by byte */
    mime_reset(r.mp);
    spamtok_begin(r.tok);
    for (const char *p = msg; *p; p++)
        mime_feed(r.mp, p, 1);
    spamtok_end(r.tok, mime_finish(r.mp));
    size_t n2, m2;
    const uint64_t *f2 = spamtok_features(r.tok, &n2, &m2);
    CU_ASSERT_EQUAL_FATAL(n2, n);
    CU_ASSERT(memcmp(f2, whole, n * sizeof(*whole)) == 0);
    free(whole);
    run_close(&r);
}

/* ---- the store ---- */

static void test_memory_store_counts_and_totals(void)
{
    struct spamstore_mem *s = spamstore_mem_new(0, 0);
    const struct spamstore_ops *ops = spamstore_mem_ops();
    uint64_t keys[3] = {0, 42, 43};
    struct spamstore_cell d[3] = {{1, 2}, {5, -1}, {0, 0}}, out[3];
    CU_ASSERT_EQUAL(ops->add(s, keys, d, 3), SPAMSTORE_OK);
    CU_ASSERT_EQUAL(ops->add(s, keys, d, 3), SPAMSTORE_OK);
    CU_ASSERT_EQUAL(ops->get(s, keys, 3, out), SPAMSTORE_OK);
    CU_ASSERT(out[0].a == 2 && out[0].b == 4);
    CU_ASSERT(out[1].a == 10 && out[1].b == -2);
    CU_ASSERT(out[2].a == 0 && out[2].b == 0);
    CU_ASSERT_EQUAL(spamstore_mem_keys(s), 1);
    /* cut to 8 bits, keys 42 and 42+256 are one cell */
    spamstore_mem_limit_bits(s, 8);
    uint64_t k2 = 42 + 256;
    CU_ASSERT_EQUAL(ops->get(s, &k2, 1, out), SPAMSTORE_OK);
    CU_ASSERT(out[0].a == 10);
    spamstore_mem_free(s);
}

static void test_memory_store_records_are_bounded(void)
{
    struct spamstore_mem *s = spamstore_mem_new(3, 0);
    const struct spamstore_ops *ops = spamstore_mem_ops();
    unsigned char buf[16];
    size_t len;
    for (uint64_t id = 1; id <= 5; id++)
        CU_ASSERT_EQUAL(ops->rec_put(s, id, &id, sizeof(id)), SPAMSTORE_OK);
    CU_ASSERT_EQUAL(ops->rec_get(s, 1, buf, sizeof(buf), &len), SPAMSTORE_NOTFOUND);
    CU_ASSERT_EQUAL(ops->rec_get(s, 2, buf, sizeof(buf), &len), SPAMSTORE_NOTFOUND);
    CU_ASSERT_EQUAL(ops->rec_get(s, 5, buf, sizeof(buf), &len), SPAMSTORE_OK);
    CU_ASSERT(len == 8 && buf[0] == 5);
    CU_ASSERT_EQUAL(ops->rec_del(s, 4), SPAMSTORE_OK);
    CU_ASSERT_EQUAL(ops->rec_del(s, 4), SPAMSTORE_NOTFOUND);
    CU_ASSERT_EQUAL(ops->rec_get(s, 3, buf, sizeof(buf), &len), SPAMSTORE_OK);
    size_t bytes;
    CU_ASSERT_EQUAL(spamstore_mem_records(s, &bytes), 2);
    CU_ASSERT_EQUAL(bytes, 16);
    /* over the byte limit: the oldest go */
    struct spamstore_mem *b = spamstore_mem_new(100, 20);
    for (uint64_t id = 1; id <= 3; id++)
        ops->rec_put(b, id, &id, 8);
    CU_ASSERT_EQUAL(ops->rec_get(b, 1, buf, sizeof(buf), &len), SPAMSTORE_NOTFOUND);
    CU_ASSERT_EQUAL(ops->rec_get(b, 3, buf, sizeof(buf), &len), SPAMSTORE_OK);
    spamstore_mem_free(b);
    spamstore_mem_free(s);
}

/* ---- the classifier on a synthetic set ---- */

/* synth - a message: n features drawn from a shared vocabulary and from
 * the class's own words (2/5 of them); 4 message features first. */
static void synth(uint64_t *f, size_t n, int spam, unsigned *seed)
{
    for (size_t i = 0; i < n; i++) {
        unsigned r = (unsigned)rand_r(seed);
        uint64_t word = (r % 5 < 2) ? (uint64_t)(spam ? 100000 : 200000) + r % 300 : r % 2000;
        f[i] = (word + 1) * 0x9e3779b97f4a7c15ULL; /* distinct per word */
    }
}

static void classifier_separates(enum spamclass_model model, int mode)
{
    struct spamstore_mem *s = spamstore_mem_new(0, 0);
    struct spamclass_params p = {.model = model};
    struct spamclass *c = spamclass_new(spamstore_mem_ops(), s, &p);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    unsigned seed = 7;
    uint64_t f[60];
    for (int i = 0; i < 400; i++) {
        int spam = i % 3 == 0;
        synth(f, 60, spam, &seed);
        CU_ASSERT_EQUAL(spamclass_train(c, f, 60, 4, spam, mode, NULL), SPAMSTORE_OK);
    }
    int right = 0;
    for (int i = 0; i < 200; i++) {
        int spam = i % 2;
        struct spamclass_result r;
        synth(f, 60, spam, &seed);
        CU_ASSERT_EQUAL(spamclass_classify(c, f, 60, 4, &r), SPAMSTORE_OK);
        CU_ASSERT(r.score >= 0 && r.score <= 1);
        right += (r.score > 0.5) == spam;
    }
    CU_ASSERT(right >= 198);
    int64_t ns, nh;
    CU_ASSERT_EQUAL(spamclass_totals(c, &ns, &nh), SPAMSTORE_OK);
    if (mode == SPAMCLASS_TRAIN_ALL) {
        CU_ASSERT(ns == 134 && nh == 266);
    } else {
        CU_ASSERT(ns + nh < 400); /* train-on-error skipped the easy ones */
    }
    spamclass_free(c);
    spamstore_mem_free(s);
}

static void test_logistic_separates_synthetic_classes(void)
{
    classifier_separates(SPAMCLASS_LOGREG, SPAMCLASS_TRAIN_ALL);
    classifier_separates(SPAMCLASS_LOGREG, SPAMCLASS_TRAIN_ON_ERROR);
}

static void test_chi_square_separates_synthetic_classes(void)
{
    classifier_separates(SPAMCLASS_CHI2, SPAMCLASS_TRAIN_ALL);
    classifier_separates(SPAMCLASS_CHI2, SPAMCLASS_TRAIN_ON_ERROR);
}

static void test_nothing_known_scores_half(void)
{
    struct spamstore_mem *s = spamstore_mem_new(0, 0);
    struct spamclass *c = spamclass_new(spamstore_mem_ops(), s, NULL);
    uint64_t f[3] = {1, 2, 3};
    struct spamclass_result r;
    CU_ASSERT_EQUAL(spamclass_classify(c, f, 3, 1, &r), SPAMSTORE_OK);
    CU_ASSERT_DOUBLE_EQUAL(r.score, 0.5, 1e-12);
    CU_ASSERT_EQUAL(r.known, 0);
    spamclass_free(c);
    spamstore_mem_free(s);
}

/* ---- undo ---- */

/* snapshot - the cells of keys (plus totals and every key of extra) */
static void snapshot(struct spamstore_mem *s, const uint64_t *keys, size_t n,
                     struct spamstore_cell *out)
{
    CU_ASSERT_EQUAL(spamstore_mem_ops()->get(s, keys, n, out), SPAMSTORE_OK);
}

static void undo_restores_exactly(enum spamclass_model model)
{
    struct spamstore_mem *s = spamstore_mem_new(0, 0);
    struct spamclass_params p = {.model = model};
    struct spamclass *c = spamclass_new(spamstore_mem_ops(), s, &p);
    unsigned seed = 11;
    uint64_t f[50], x[50];
    for (int i = 0; i < 50; i++) { /* some history first */
        synth(f, 50, i % 2, &seed);
        spamclass_train(c, f, 50, 5, i % 2, SPAMCLASS_TRAIN_ALL, NULL);
    }
    synth(x, 50, 0, &seed); /* a ham-like message, about to be learned as spam */
    /* every key x touches, the totals (0) and the bias */
    uint64_t keys[52];
    memcpy(keys, x, sizeof(x));
    keys[50] = 0;
    keys[51] = 0xb1a5b1a5b1a5b1a5ULL;
    struct spamstore_cell before[52], after[52], undone[52];
    snapshot(s, keys, 52, before);

    enum spamclass_trained what;
    CU_ASSERT_EQUAL(spamclass_train(c, x, 50, 5, 1, SPAMCLASS_TRAIN_ALL, &what), SPAMSTORE_OK);
    CU_ASSERT_EQUAL(what, SPAMCLASS_LEARNED);
    snapshot(s, keys, 52, after);
    CU_ASSERT(memcmp(before, after, sizeof(before)) != 0);
    /* the same label again: nothing */
    CU_ASSERT_EQUAL(spamclass_train(c, x, 50, 5, 1, SPAMCLASS_TRAIN_ALL, &what), SPAMSTORE_OK);
    CU_ASSERT_EQUAL(what, SPAMCLASS_KNOWN);
    snapshot(s, keys, 52, undone);
    CU_ASSERT(memcmp(after, undone, sizeof(after)) == 0);
    /* untrain: bit for bit where it was */
    CU_ASSERT_EQUAL(spamclass_untrain(c, spamclass_digest(x, 50)), SPAMSTORE_OK);
    snapshot(s, keys, 52, undone);
    CU_ASSERT(memcmp(before, undone, sizeof(before)) == 0);
    CU_ASSERT_EQUAL(spamclass_untrain(c, spamclass_digest(x, 50)), SPAMSTORE_NOTFOUND);

    /* auto-learned as spam, corrected as ham: the spam training is gone,
     * exactly one ham training remains */
    int64_t ns0, nh0, ns1, nh1;
    spamclass_totals(c, &ns0, &nh0);
    spamclass_train(c, x, 50, 5, 1, SPAMCLASS_TRAIN_ON_ERROR, &what);
    CU_ASSERT_EQUAL(what, SPAMCLASS_LEARNED); /* a ham-like message is an error as spam */
    CU_ASSERT_EQUAL(spamclass_train(c, x, 50, 5, 0, SPAMCLASS_TRAIN_ON_ERROR, &what), SPAMSTORE_OK);
    CU_ASSERT_EQUAL(what, SPAMCLASS_CORRECTED); /* learned even if it looks right now */
    spamclass_totals(c, &ns1, &nh1);
    CU_ASSERT_EQUAL(ns1, ns0);
    CU_ASSERT_EQUAL(nh1, nh0 + 1);
    /* and undoing the correction returns to the state before both */
    CU_ASSERT_EQUAL(spamclass_untrain(c, spamclass_digest(x, 50)), SPAMSTORE_OK);
    snapshot(s, keys, 52, undone);
    CU_ASSERT(memcmp(before, undone, sizeof(before)) == 0);
    spamclass_free(c);
    spamstore_mem_free(s);
}

static void test_logistic_undo_restores_the_store_exactly(void)
{
    undo_restores_exactly(SPAMCLASS_LOGREG);
}

static void test_chi_square_undo_restores_the_store_exactly(void)
{
    undo_restores_exactly(SPAMCLASS_CHI2);
}

static void test_forgotten_record_cannot_be_undone(void)
{
    struct spamstore_mem *s = spamstore_mem_new(2, 0);
    struct spamclass *c = spamclass_new(spamstore_mem_ops(), s, NULL);
    unsigned seed = 3;
    uint64_t f[3][40];
    for (int i = 0; i < 3; i++) {
        synth(f[i], 40, 1, &seed);
        spamclass_train(c, f[i], 40, 4, 1, SPAMCLASS_TRAIN_ALL, NULL);
    }
    /* the first record was pushed out by the third */
    CU_ASSERT_EQUAL(spamclass_untrain(c, spamclass_digest(f[0], 40)), SPAMSTORE_NOTFOUND);
    enum spamclass_trained what;
    CU_ASSERT_EQUAL(spamclass_train(c, f[0], 40, 4, 0, SPAMCLASS_TRAIN_ALL, &what), SPAMSTORE_OK);
    CU_ASSERT_EQUAL(what, SPAMCLASS_LEARNED); /* a correction without its record */
    CU_ASSERT_EQUAL(spamclass_untrain(c, spamclass_digest(f[2], 40)), SPAMSTORE_OK);
    spamclass_free(c);
    spamstore_mem_free(s);
}

static void test_real_message_trained_and_corrected(void)
{
    /* tokenizer and classifier together: a message auto-learned as spam,
     * then sent back as ham with trace headers added, is corrected */
    const char *msg = "From: Bob <bob@work.example>\nSubject: lunch\n\nShall we meet at noon?\n";
    const char *back = "Received: from a by b\nX-Spam-Status: Yes\nFrom: Bob <bob@work.example>\n"
                       "Subject: lunch\n\nShall we meet at noon?\n";
    struct run r;
    run_open(&r, 0);
    struct spamstore_mem *s = spamstore_mem_new(0, 0);
    struct spamclass *c = spamclass_new(spamstore_mem_ops(), s, NULL);
    enum spamclass_trained what;
    tokenize(&r, msg);
    spamclass_train(c, r.f, r.n, r.nmsg, 1, SPAMCLASS_TRAIN_ALL, &what);
    CU_ASSERT_EQUAL(what, SPAMCLASS_LEARNED);
    tokenize(&r, back);
    spamclass_train(c, r.f, r.n, r.nmsg, 0, SPAMCLASS_TRAIN_ALL, &what);
    CU_ASSERT_EQUAL(what, SPAMCLASS_CORRECTED);
    int64_t ns, nh;
    spamclass_totals(c, &ns, &nh);
    CU_ASSERT(ns == 0 && nh == 1);
    spamclass_free(c);
    spamstore_mem_free(s);
    run_close(&r);
}

int suite_spam(void)
{
    CU_pSuite s = CU_add_suite("spam", NULL, NULL);
    if (!s)
        return -1;
    struct {
        const char *name;
        void (*fn)(void);
    } tests[] = {
        {"html comment and entities do not split words",
         test_html_comment_and_entities_do_not_split_words},
        {"invisible html text is no feature", test_invisible_html_text_is_no_feature},
        {"html link hosts are features", test_html_link_hosts_are_features},
        {"plain text urls and addresses", test_plain_text_urls_and_addresses},
        {"encoded words in subject and from", test_encoded_words_in_subject_and_from},
        {"base64 and charset text parts are decoded",
         test_base64_and_charset_text_parts_are_decoded},
        {"scripts without spaces and fullwidth letters",
         test_scripts_without_spaces_and_fullwidth_letters},
        {"list tags and footers are dropped", test_list_tags_and_footers_are_dropped},
        {"without list headers tags and footers stay",
         test_without_list_headers_tags_and_footers_stay},
        {"trace and list headers are no features", test_trace_and_list_headers_are_no_features},
        {"added trace headers keep the digest", test_added_trace_headers_keep_the_digest},
        {"features are bounded and headers keep their room",
         test_features_are_bounded_and_headers_keep_their_room},
        {"features do not depend on chunking", test_features_do_not_depend_on_chunking},
        {"memory store counts and totals", test_memory_store_counts_and_totals},
        {"memory store records are bounded", test_memory_store_records_are_bounded},
        {"logistic separates synthetic classes", test_logistic_separates_synthetic_classes},
        {"chi-square separates synthetic classes", test_chi_square_separates_synthetic_classes},
        {"nothing known scores half", test_nothing_known_scores_half},
        {"logistic undo restores the store exactly", test_logistic_undo_restores_the_store_exactly},
        {"chi-square undo restores the store exactly",
         test_chi_square_undo_restores_the_store_exactly},
        {"forgotten record cannot be undone", test_forgotten_record_cannot_be_undone},
        {"real message trained and corrected", test_real_message_trained_and_corrected},
    };
    for (size_t i = 0; i < sizeof(tests) / sizeof(*tests); i++)
        if (!CU_add_test(s, tests[i].name, tests[i].fn))
            return -1;
    return 0;
}
