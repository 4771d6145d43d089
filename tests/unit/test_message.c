/*
 * test_message.c - the message service: the library's split of a raw
 * message (headers with folds, CRLF and LF, a line without a colon, no
 * body), the same headers and verdict in any chunking, the message kept
 * and written back byte for byte with edits applied where an MTA would,
 * the spool moving to a file past spool_memory, message_size_limit
 * refusing (552) and never cutting, and nothing built that no layer needs.
 */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../../libpolicy/support/spool.h"
#include "core.h"
#include "helpers.h"
#include "suites.h"

static char err[512];

static policy_engine *engine(const char *conf)
{
    char text[2048];
    snprintf(text, sizeof(text), "[customers]\nlocal_domains = example.test\n%s", conf ? conf : "");
    policy_engine *e = test_engine(text, err, sizeof(err));
    if (!e)
        fprintf(stderr, "\n  engine: %s\n", err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    test_log_clear();
    test_log_attach(e);
    return e;
}

/* open_message - a session at DATA, keeping its message. */
static policy_session *open_message(policy_engine *e)
{
    policy_session *s = policy_session_new(e, "192.0.2.1", NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    policy_session_keep_message(s);
    CU_ASSERT_EQUAL(policy_connect(s), POLICY_CONTINUE);
    CU_ASSERT_EQUAL(policy_mail(s, "<a@sender.test>"), POLICY_CONTINUE);
    CU_ASSERT_EQUAL(policy_rcpt(s, "<b@example.test>"), POLICY_CONTINUE);
    CU_ASSERT_EQUAL(policy_data(s), POLICY_CONTINUE);
    return s;
}

/* feed - msg in pieces of step bytes (0: whole); the last action. */
static policy_action feed(policy_session *s, const char *msg, size_t len, size_t step)
{
    policy_action a = POLICY_CONTINUE;
    for (size_t off = 0; off < len && a == POLICY_CONTINUE;) {
        size_t n = step && step < len - off ? step : len - off;
        a = policy_message(s, msg + off, n);
        off += n;
    }
    return a == POLICY_CONTINUE ? policy_eom(s) : a;
}

/* written - what policy_message_write gives, in a malloc'd buffer. */
static char *written(policy_session *s, size_t *len)
{
    int fd = memfd_create("message", 0);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT_EQUAL(policy_message_write(s, fd), 0);
    off_t end = lseek(fd, 0, SEEK_END);
    char *buf = malloc((size_t)end + 1);
    CU_ASSERT_EQUAL(pread(fd, buf, (size_t)end, 0), end);
    buf[end] = '\0';
    close(fd);
    *len = (size_t)end;
    return buf;
}

static const char folded[] = "Received: from a\r\n\tby b; Mon, 2 Nov 2026\r\n"
                             "Subject:  two spaces\r\n"
                             "no colon here\r\n"
                             "X-Empty:\r\n"
                             "From: a@sender.test\r\n"
                             "\r\n"
                             "body line\r\n.dot\r\nno newline at the end";

static void test_headers_are_split_with_folds_in_any_chunking(void)
{
    policy_engine *e = engine(NULL);
    size_t steps[] = {0, 1, 2, 3, 7, 64};
    for (size_t k = 0; k < sizeof(steps) / sizeof(*steps); k++) {
        policy_session *s = open_message(e);
        CU_ASSERT_EQUAL(feed(s, folded, sizeof(folded) - 1, steps[k]), POLICY_CONTINUE);
        CU_ASSERT_EQUAL_FATAL(s->msg.nheaders, 5);
        CU_ASSERT_STRING_EQUAL(s->msg.headers[0].name, "Received");
        CU_ASSERT_STRING_EQUAL(s->msg.headers[0].value, "from a\r\n\tby b; Mon, 2 Nov 2026");
        CU_ASSERT_STRING_EQUAL(s->msg.headers[1].value, "two spaces");
        CU_ASSERT_STRING_EQUAL(s->msg.headers[2].name, ""); /* seen, named "" */
        CU_ASSERT_STRING_EQUAL(s->msg.headers[2].value, "no colon here");
        CU_ASSERT_STRING_EQUAL(s->msg.headers[3].value, "");
        CU_ASSERT_EQUAL(s->msg.headers[0].raw_off, 0);
        CU_ASSERT_EQUAL(s->msg.headers[0].raw_len, strlen("Received: from a\r\n\tby b; Mon, 2 Nov 2026\r\n"));
        CU_ASSERT_EQUAL(s->msg.size, sizeof(folded) - 1);
        size_t len;
        char *w = written(s, &len);
        CU_ASSERT_EQUAL(len, sizeof(folded) - 1);
        CU_ASSERT(!memcmp(w, folded, sizeof(folded) - 1));
        free(w);
        policy_session_free(s);
    }
    policy_engine_unref(e);
}

static void test_lf_message_and_headers_only(void)
{
    policy_engine *e = engine(NULL);
    static const char lf[] = "Subject: a\nX-A: b\n c\n";
    policy_session *s = open_message(e);
    CU_ASSERT_EQUAL(feed(s, lf, sizeof(lf) - 1, 1), POLICY_CONTINUE);
    CU_ASSERT_EQUAL(s->msg.nheaders, 2); /* the last one counts at eom */
    CU_ASSERT_STRING_EQUAL(s->msg.headers[1].value, "b\n c");
    size_t len;
    char *w = written(s, &len);
    CU_ASSERT_EQUAL(len, sizeof(lf) - 1);
    CU_ASSERT(!memcmp(w, lf, len));
    free(w);
    policy_session_free(s);
    policy_engine_unref(e);
}

static void test_a_refused_header_stops_the_message_in_any_chunking(void)
{
    policy_engine *e = engine("[regex]\nheader_block = Subject: buy\\s+now\n");
    static const char msg[] = "From: a@b\nSubject: buy\n  now\nTo: c@d\n\nbody\n";
    for (size_t step = 0; step < 8; step++) {
        policy_session *s = open_message(e);
        CU_ASSERT_EQUAL(feed(s, msg, sizeof(msg) - 1, step), POLICY_REJECT);
        CU_ASSERT_STRING_EQUAL(policy_last_reply(s)->layer, "regex");
        CU_ASSERT_EQUAL(policy_message(s, "more\n", 5), POLICY_REJECT); /* sticky */
        CU_ASSERT_EQUAL(policy_eom(s), POLICY_REJECT);
        policy_session_free(s);
    }
    policy_engine_unref(e);
}

static void test_edits_are_written_where_an_mta_puts_them(void)
{
    policy_engine *e = engine(NULL);
    policy_session *s = open_message(e);
    static const char msg[] = "From: a@b\nSubject: old\n  folded\nTo: c@d\n\nbody\n";
    CU_ASSERT_EQUAL(feed(s, msg, sizeof(msg) - 1, 0), POLICY_CONTINUE);
    /* edits decided at eom, as a content layer would */
    CU_ASSERT_EQUAL(edit_add(s, 1, POLICY_EDIT_ADD_HEADER, "X-One", "1"), 0);
    CU_ASSERT_EQUAL(edit_add(s, 1, POLICY_EDIT_CHANGE_HEADER, "subject", "[SPAM] old\r\n\tfolded"), 0);
    CU_ASSERT_EQUAL(edit_add(s, 1, POLICY_EDIT_ADD_HEADER, "X-Two", "2"), 0);
    CU_ASSERT_EQUAL(edit_add(s, 1, POLICY_EDIT_CHANGE_HEADER, "X-Absent", "added"), 0);
    size_t len;
    char *w = written(s, &len);
    CU_ASSERT_STRING_EQUAL(w, "X-One: 1\nX-Two: 2\nX-Absent: added\nFrom: a@b\n"
                              "subject: [SPAM] old\n\tfolded\nTo: c@d\n\nbody\n");
    free(w);
    policy_session_free(s);
    policy_engine_unref(e);
}

/* header_calls - the message through policy_header/policy_body, as the
 * milter gives it, then the raw form the session kept. */
static char *header_calls(policy_session *s, size_t *len)
{
    CU_ASSERT_EQUAL(policy_header(s, "From", " a@sender.test"), POLICY_CONTINUE);
    CU_ASSERT_EQUAL(policy_header(s, "Subject", "\tfolded\n  twice\r\n\tend"), POLICY_CONTINUE);
    CU_ASSERT_EQUAL(policy_header(s, "X-Tight", "no-blank"), POLICY_CONTINUE);
    CU_ASSERT_EQUAL(policy_header(s, "X-Empty", ""), POLICY_CONTINUE);
    CU_ASSERT_EQUAL(policy_body(s, "body\r\n", 6), POLICY_CONTINUE);
    CU_ASSERT_EQUAL(policy_eom(s), POLICY_CONTINUE);
    return written(s, len);
}

static void test_exact_header_values_keep_the_bytes_of_the_message(void)
{
    policy_engine *e = engine(NULL);
    policy_session *s = open_message(e);
    CU_ASSERT_EQUAL(policy_session_exact_headers(s), 0);
    size_t len;
    char *w = header_calls(s, &len);
    CU_ASSERT_STRING_EQUAL(w, "From: a@sender.test\r\nSubject:\tfolded\r\n  twice\r\n\tend\r\n"
                              "X-Tight:no-blank\r\nX-Empty:\r\n\r\nbody\r\n");
    /* the layers see the values without the blanks after the colon */
    const struct msg_header *h;
    int complete = 0;
    CU_ASSERT_EQUAL_FATAL(message_headers(s, &h, &complete), 4);
    CU_ASSERT(complete);
    CU_ASSERT_STRING_EQUAL(h[0].value, "a@sender.test");
    CU_ASSERT_STRING_EQUAL(h[1].value, "folded\n  twice\r\n\tend");
    CU_ASSERT_STRING_EQUAL(h[2].value, "no-blank");
    CU_ASSERT_EQUAL(h[1].raw_off, strlen("From: a@sender.test\r\n"));
    CU_ASSERT_EQUAL(h[1].raw_len, strlen("Subject:\tfolded\r\n  twice\r\n\tend\r\n"));
    free(w);
    policy_session_free(s);
    /* without: the MTA took the blank away, the session puts one back */
    s = open_message(e);
    w = header_calls(s, &len);
    CU_ASSERT_STRING_EQUAL(w, "From: a@sender.test\r\nSubject:\tfolded\r\n  twice\r\n\tend\r\n"
                              "X-Tight: no-blank\r\nX-Empty: \r\n\r\nbody\r\n");
    free(w);
    policy_session_free(s);
    policy_engine_unref(e);
}

static void test_headers_past_the_limit_are_checked_not_kept(void)
{
    policy_engine *e = engine(NULL);
    policy_session *s = open_message(e);
    char line[64];
    for (int i = 0; i < 2001; i++) {
        snprintf(line, sizeof(line), "X-N: %d\n", i);
        CU_ASSERT_EQUAL_FATAL(policy_message(s, line, strlen(line)), POLICY_CONTINUE);
    }
    CU_ASSERT_EQUAL(policy_message(s, "\nbody\n", 6), POLICY_CONTINUE);
    const struct msg_header *h;
    int complete = 1;
    CU_ASSERT_EQUAL(message_headers(s, &h, &complete), 2000);
    CU_ASSERT_EQUAL(complete, 0);
    policy_session_free(s);
    policy_engine_unref(e);
}

static void test_inserted_and_deleted_headers_by_index(void)
{
    policy_engine *e = engine(NULL);
    policy_session *s = open_message(e);
    static const char msg[] = "A-R: x; one\nFrom: a@b\nA-R: y; two\n\tfolded\nA-R: x; three\n"
                              "Subject: s\n\nbody\n";
    CU_ASSERT_EQUAL(feed(s, msg, sizeof(msg) - 1, 0), POLICY_CONTINUE);
    CU_ASSERT_EQUAL(edit_add(s, 1, POLICY_EDIT_ADD_HEADER, "X-Added", "a"), 0);
    CU_ASSERT_EQUAL(edit_add_at(s, 1, POLICY_EDIT_DELETE_HEADER, "a-r", 3, "ignored"), 0);
    CU_ASSERT_EQUAL(edit_add(s, 1, POLICY_EDIT_INSERT_HEADER, "Sig", "first"), 0);
    CU_ASSERT_EQUAL(edit_add_at(s, 1, POLICY_EDIT_CHANGE_HEADER, "A-R", 2, "z; changed"), 0);
    CU_ASSERT_EQUAL(edit_add_at(s, 1, POLICY_EDIT_DELETE_HEADER, "A-R", 1, ""), 0);
    CU_ASSERT_EQUAL(edit_add(s, 1, POLICY_EDIT_INSERT_HEADER, "Sig", "second"), 0);
    CU_ASSERT_EQUAL(edit_add_at(s, 1, POLICY_EDIT_DELETE_HEADER, "A-R", 4, ""), 0); /* none */
    const policy_edit *ed;
    CU_ASSERT_EQUAL(policy_edits(s, &ed), 7);
    CU_ASSERT_STRING_EQUAL(ed[1].value, ""); /* a deletion has no value */
    CU_ASSERT_EQUAL(ed[1].index, 3);
    size_t len;
    char *w = written(s, &len);
    CU_ASSERT_STRING_EQUAL(w, "Sig: second\nSig: first\nX-Added: a\nFrom: a@b\nA-R: z; changed\n"
                              "Subject: s\n\nbody\n");
    free(w);
    policy_session_free(s);
    policy_engine_unref(e);
}

static void test_the_spool_moves_to_a_file_and_keeps_every_byte(void)
{
    policy_engine *e = engine("[general]\nspool_memory = 4k\n");
    policy_session *s = open_message(e);
    size_t n = 300000;
    char *msg = malloc(n);
    memcpy(msg, "Subject: big\r\n\r\n", 16);
    for (size_t i = 16; i < n; i++)
        msg[i] = (char)(i % 251 == 0 ? '\n' : 'a' + i % 26);
    CU_ASSERT_EQUAL(feed(s, msg, n, 4096), POLICY_CONTINUE);
    size_t mlen;
    CU_ASSERT_PTR_NULL(spool_memory(s->msg.spool, &mlen)); /* in a file now */
    size_t len;
    char *w = written(s, &len);
    CU_ASSERT_EQUAL(len, n);
    CU_ASSERT(!memcmp(w, msg, n));
    free(w);
    free(msg);
    policy_session_free(s);
    policy_engine_unref(e);
}

static void test_over_the_size_limit_is_refused_never_cut(void)
{
    policy_engine *e = engine("[general]\nmessage_size_limit = 1k\n");
    char msg[3000];
    memset(msg, 'x', sizeof(msg));
    memcpy(msg, "Subject: x\n\n", 12);
    policy_session *s = open_message(e);
    CU_ASSERT_EQUAL(feed(s, msg, sizeof(msg), 100), POLICY_REJECT);
    CU_ASSERT_EQUAL(policy_last_reply(s)->code, 552);
    CU_ASSERT_STRING_EQUAL(policy_last_reply(s)->xcode, "5.3.4");
    CU_ASSERT_EQUAL(policy_eom(s), POLICY_REJECT);
    int fd = memfd_create("none", 0);
    CU_ASSERT_EQUAL(policy_message_write(s, fd), -1); /* no cut message handed on */
    close(fd);
    policy_session_free(s);
    /* the same through the header and body calls (the milter) */
    s = open_message(e);
    CU_ASSERT_EQUAL(policy_header(s, "Subject", "x"), POLICY_CONTINUE);
    policy_action a = POLICY_CONTINUE;
    for (int i = 0; i < 30 && a == POLICY_CONTINUE; i++)
        a = policy_body(s, msg, 100);
    CU_ASSERT_EQUAL(a, POLICY_REJECT);
    CU_ASSERT_EQUAL(policy_last_reply(s)->code, 552);
    policy_session_free(s);
    policy_engine_unref(e);
}

static void test_raw_and_header_calls_do_not_mix(void)
{
    policy_engine *e = engine(NULL);
    policy_session *s = open_message(e);
    CU_ASSERT_EQUAL(policy_message(s, "Subject: a\n", 11), POLICY_CONTINUE);
    CU_ASSERT_EQUAL(policy_header(s, "X", "y"), POLICY_TEMPFAIL);
    policy_session_free(s);
    s = open_message(e);
    CU_ASSERT_EQUAL(policy_header(s, "X", "y"), POLICY_CONTINUE);
    CU_ASSERT_EQUAL(policy_message(s, "Subject: a\n", 11), POLICY_TEMPFAIL);
    policy_session_free(s);
    policy_engine_unref(e);
}

static void test_nothing_is_built_that_no_layer_needs(void)
{
    /* no content layer (and the test build's probes off) */
    policy_engine *e = engine("[probe]\naction = off\n[probe2]\naction = off\n");
    policy_session *s = policy_session_new(e, "192.0.2.1", NULL);
    policy_connect(s);
    policy_mail(s, "<a@sender.test>");
    policy_rcpt(s, "<b@example.test>");
    policy_data(s);
    CU_ASSERT_EQUAL(s->msg.needs, 0);
    CU_ASSERT_EQUAL(policy_message(s, "Subject: a\n\nbody\n", 17), POLICY_CONTINUE);
    CU_ASSERT_PTR_NULL(s->msg.spool);
    CU_ASSERT_PTR_NULL(s->msg.mime);
    CU_ASSERT_EQUAL(s->msg.size, 17); /* counted all the same, for the limit */
    CU_ASSERT_EQUAL(policy_engine_stages(e) & POLICY_STAGE_BODY, 0);
    policy_session_free(s);
    policy_engine_unref(e);
    /* a content layer asks for the message: the milter negotiates it */
    e = engine("[probe]\naction = off\n[probe2]\naction = off\n[attachments]\n");
    CU_ASSERT(policy_engine_stages(e) & POLICY_STAGE_BODY);
    CU_ASSERT(policy_engine_stages(e) & POLICY_STAGE_EOM);
    policy_engine_unref(e);
}

int suite_message(void)
{
    CU_pSuite s = CU_add_suite("message", NULL, NULL);
    if (!s)
        return -1;
    CU_ADD_TEST(s, test_headers_are_split_with_folds_in_any_chunking);
    CU_ADD_TEST(s, test_lf_message_and_headers_only);
    CU_ADD_TEST(s, test_a_refused_header_stops_the_message_in_any_chunking);
    CU_ADD_TEST(s, test_edits_are_written_where_an_mta_puts_them);
    CU_ADD_TEST(s, test_inserted_and_deleted_headers_by_index);
    CU_ADD_TEST(s, test_exact_header_values_keep_the_bytes_of_the_message);
    CU_ADD_TEST(s, test_headers_past_the_limit_are_checked_not_kept);
    CU_ADD_TEST(s, test_the_spool_moves_to_a_file_and_keeps_every_byte);
    CU_ADD_TEST(s, test_over_the_size_limit_is_refused_never_cut);
    CU_ADD_TEST(s, test_raw_and_header_calls_do_not_mix);
    CU_ADD_TEST(s, test_nothing_is_built_that_no_layer_needs);
    return 0;
}
