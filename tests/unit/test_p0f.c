/*
 * test_p0f.c - the p0f client: queries and replies byte by byte (the
 * layout of p0f 3.09b's api.h), then the client against sockets of this
 * process: none at the path, one that never answers, one that answers in
 * pieces.  tests/integration/p0f.sh asks a real p0f.
 */
#include <CUnit/CUnit.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "helpers.h"
#include "p0f.h"
#include "suites.h"
#include "waiter.h"

/* reply - a p0f reply as p0f 3.09b writes it (host byte order). */
static void reply(unsigned char *r, uint32_t magic, uint32_t status, const char *os,
                  const char *flavor)
{
    uint32_t v[9] = {magic, status, 1700000000, 1700000100, 7, 600, 49, 0, 0};
    int16_t dist = 3;
    memset(r, 0, P0F_REPLY_LEN);
    memcpy(r, v, sizeof(v));
    memcpy(r + 36, &dist, 2);
    r[38] = 0;
    r[39] = 2;
    if (os)
        memcpy(r + 40, os, strlen(os));
    if (flavor)
        memcpy(r + 72, flavor, strlen(flavor));
    memcpy(r + 168, "Ethernet or modem", 17);
}

static void test_queries_for_ipv4_ipv6_and_mapped_addresses(void)
{
    unsigned char q[P0F_QUERY_LEN];
    uint32_t magic;
    CU_ASSERT_EQUAL(p0f_query_encode("192.0.2.7", q), 0);
    memcpy(&magic, q, 4);
    CU_ASSERT_EQUAL(magic, 0x50304601);
    CU_ASSERT_EQUAL(q[4], 4);
    CU_ASSERT_EQUAL(memcmp(q + 5, "\xc0\x00\x02\x07", 4), 0);
    CU_ASSERT_EQUAL(q[9] | q[20], 0); /* left-aligned, zero padded */
    CU_ASSERT_EQUAL(p0f_query_encode("2001:db8::1", q), 0);
    CU_ASSERT_EQUAL(q[4], 6);
    CU_ASSERT_EQUAL(q[5], 0x20);
    CU_ASSERT_EQUAL(q[20], 1);
    CU_ASSERT_EQUAL(p0f_query_encode("::ffff:192.0.2.7", q), 0); /* asked as IPv4 */
    CU_ASSERT_EQUAL(q[4], 4);
    CU_ASSERT_EQUAL(memcmp(q + 5, "\xc0\x00\x02\x07", 4), 0);
    CU_ASSERT_EQUAL(p0f_query_encode("not-an-ip", q), -1);
    CU_ASSERT_EQUAL(p0f_query_encode("192.0.2.256", q), -1);
}

static void test_reply_with_an_os_is_known(void)
{
    unsigned char r[P0F_REPLY_LEN];
    struct p0f_answer a;
    reply(r, 0x50304602, 0x10, "Windows", "7 or 8");
    p0f_parse(r, sizeof(r), &a);
    CU_ASSERT_EQUAL(a.status, P0F_KNOWN);
    CU_ASSERT_STRING_EQUAL(a.os_name, "Windows");
    CU_ASSERT_STRING_EQUAL(a.os_flavor, "7 or 8");
    CU_ASSERT_STRING_EQUAL(a.link_type, "Ethernet or modem");
    CU_ASSERT_STRING_EQUAL(a.http_name, "");
    CU_ASSERT_EQUAL(a.first_seen, 1700000000);
    CU_ASSERT_EQUAL(a.last_seen, 1700000100);
    CU_ASSERT_EQUAL(a.total_conn, 7);
    CU_ASSERT_EQUAL(a.uptime_min, 600);
    CU_ASSERT_EQUAL(a.up_mod_days, 49);
    CU_ASSERT_EQUAL(a.distance, 3);
    CU_ASSERT_EQUAL(a.os_match_q, 2);
    CU_ASSERT_PTR_NULL(a.why);
}

static void test_replies_without_an_os_are_unknown_with_a_reason(void)
{
    unsigned char r[P0F_REPLY_LEN + 1];
    struct p0f_answer a;
    reply(r, 0x50304602, 0x20, NULL, NULL);
    p0f_parse(r, P0F_REPLY_LEN, &a);
    CU_ASSERT_EQUAL(a.status, P0F_UNKNOWN);
    CU_ASSERT_STRING_EQUAL(a.why, "p0f has not seen this address");
    reply(r, 0, 0x00, NULL, NULL); /* p0f leaves the magic out of this one */
    p0f_parse(r, P0F_REPLY_LEN, &a);
    CU_ASSERT_STRING_EQUAL(a.why, "p0f refused the query");
    reply(r, 0x50304602, 0x10, NULL, NULL); /* seen, but no signature matched */
    p0f_parse(r, P0F_REPLY_LEN, &a);
    CU_ASSERT_EQUAL(a.status, P0F_UNKNOWN);
    CU_ASSERT_STRING_EQUAL(a.why, "p0f has no OS match for this address");
    CU_ASSERT_EQUAL(a.total_conn, 7); /* the rest is still there */
    reply(r, 0x50304603, 0x10, "Linux", NULL);
    p0f_parse(r, P0F_REPLY_LEN, &a);
    CU_ASSERT_STRING_EQUAL(a.why, "malformed reply from p0f (bad magic)");
    reply(r, 0x50304602, 0x11, "Linux", NULL);
    p0f_parse(r, P0F_REPLY_LEN, &a);
    CU_ASSERT_STRING_EQUAL(a.why, "malformed reply from p0f (bad status)");
    reply(r, 0x50304602, 0x10, "Linux", NULL);
    p0f_parse(r, P0F_REPLY_LEN - 1, &a);
    CU_ASSERT_STRING_EQUAL(a.why, "malformed reply from p0f (wrong size)");
    p0f_parse(r, P0F_REPLY_LEN + 1, &a);
    CU_ASSERT_EQUAL(a.status, P0F_UNKNOWN);
}

static void test_strings_are_bounded_and_printable(void)
{
    unsigned char r[P0F_REPLY_LEN];
    struct p0f_answer a;
    reply(r, 0x50304602, 0x10, NULL, NULL);
    memset(r + 40, 'W', 32); /* no NUL: p0f's strncpy can do that */
    memcpy(r + 72, "7\r\nX-Injected: \x01", 16);
    p0f_parse(r, sizeof(r), &a);
    CU_ASSERT_EQUAL(a.status, P0F_KNOWN);
    CU_ASSERT_EQUAL(strlen(a.os_name), 31);
    CU_ASSERT_STRING_EQUAL(a.os_flavor, "7??X-Injected: ?");
}

/* ------------------------------------------------------------ the client */

static void sock_path(char *out, size_t len, const char *name)
{
    snprintf(out, len, "%s/%s", test_dir(), name);
}

static int listen_unix(const char *path)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    int l = socket(AF_UNIX, SOCK_STREAM, 0);
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
    unlink(path);
    if (l < 0 || bind(l, (struct sockaddr *)&sun, sizeof(sun)) < 0 || listen(l, 4) < 0)
        return -1;
    return l;
}

static void test_no_p0f_at_the_path_is_unknown_at_once(void)
{
    char path[300];
    sock_path(path, sizeof(path), "no-p0f.sock");
    double t0 = waiter_now_ms();
    struct p0f_q *q = p0f_start(NULL, path, "192.0.2.1", 500, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(q);
    CU_ASSERT_TRUE(p0f_done(q));
    p0f_wait(q);
    CU_ASSERT_TRUE(waiter_now_ms() - t0 < 20);
    CU_ASSERT_EQUAL(p0f_answer_of(q)->status, P0F_UNKNOWN);
    CU_ASSERT_STRING_EQUAL(p0f_answer_of(q)->why, "p0f is not running");
    p0f_free(q);
    q = p0f_start(NULL, path, "bad", 500, 0);
    CU_ASSERT_STRING_EQUAL(p0f_answer_of(q)->why, "not an IP address");
    p0f_free(q);
}

static void test_p0f_that_never_answers_costs_the_timeout_only(void)
{
    char path[300];
    sock_path(path, sizeof(path), "mute-p0f.sock");
    int l = listen_unix(path);
    CU_ASSERT_FATAL(l >= 0);
    struct waiter *w = waiter_new();
    double t0 = waiter_now_ms();
    struct p0f_q *q = p0f_start(w, path, "192.0.2.1", 150, 20);
    CU_ASSERT_FALSE(p0f_done(q));
    p0f_wait(q);
    double ms = waiter_now_ms() - t0;
    CU_ASSERT_TRUE(ms >= 145 && ms < 250);
    CU_ASSERT_STRING_EQUAL(p0f_answer_of(q)->why, "p0f timed out");
    p0f_free(q);
    waiter_free(w);
    close(l);
}

struct server {
    int l;
    unsigned char reply[P0F_REPLY_LEN];
    unsigned char query[P0F_QUERY_LEN];
};

/* read_query - a whole query from c into s->query; 1, or 0 at its end. */
static int read_query(struct server *s, int c)
{
    size_t got = 0;
    while (got < P0F_QUERY_LEN) {
        ssize_t n = read(c, s->query + got, P0F_QUERY_LEN - got);
        if (n <= 0)
            return 0;
        got += (size_t)n;
    }
    return 1;
}

/* serve - accept one client, read its query, answer in three pieces. */
static void *serve(void *arg)
{
    struct server *s = arg;
    int c = accept(s->l, NULL, NULL);
    if (c >= 0 && read_query(s, c)) {
        (void)!write(c, s->reply, 10);
        usleep(20000);
        (void)!write(c, s->reply + 10, 100);
        usleep(20000);
        (void)!write(c, s->reply + 110, P0F_REPLY_LEN - 110);
        usleep(50000);
    }
    if (c >= 0)
        close(c);
    return NULL;
}

/* server_start - a listener at test_dir()/name answering "Windows" and
 * flavor through fn, in a thread; its path in path. */
static void server_start(struct server *s, pthread_t *t, void *(*fn)(void *), const char *name,
                         const char *flavor, char *path, size_t pathlen)
{
    sock_path(path, pathlen, name);
    s->l = listen_unix(path);
    CU_ASSERT_FATAL(s->l >= 0);
    reply(s->reply, 0x50304602, 0x10, "Windows", flavor);
    CU_ASSERT_FATAL(pthread_create(t, NULL, fn, s) == 0);
}

static void test_answer_in_pieces_is_read_whole(void)
{
    char path[300];
    struct server s;
    pthread_t t;
    server_start(&s, &t, serve, "slow-p0f.sock", "XP", path, sizeof(path));
    struct p0f_q *q = p0f_start(NULL, path, "192.0.2.9", 1000, 0);
    p0f_wait(q);
    pthread_join(t, NULL);
    CU_ASSERT_EQUAL(p0f_answer_of(q)->status, P0F_KNOWN);
    CU_ASSERT_STRING_EQUAL(p0f_answer_of(q)->os_flavor, "XP");
    unsigned char want[P0F_QUERY_LEN];
    p0f_query_encode("192.0.2.9", want);
    CU_ASSERT_EQUAL(memcmp(s.query, want, P0F_QUERY_LEN), 0);
    p0f_free(q);
    close(s.l);
}

/* serve_late - one client: "not seen" to its first two queries on the
 * connection, then the answer, as p0f does once the SYN is processed. */
static void *serve_late(void *arg)
{
    struct server *s = arg;
    unsigned char nomatch[P0F_REPLY_LEN];
    reply(nomatch, 0x50304602, 0x20, NULL, NULL);
    int c = accept(s->l, NULL, NULL);
    for (int k = 0; c >= 0 && k < 3 && read_query(s, c); k++)
        (void)!write(c, k < 2 ? nomatch : s->reply, P0F_REPLY_LEN);
    if (c >= 0)
        close(c);
    return NULL;
}

static void test_not_seen_yet_is_asked_again_until_the_timeout(void)
{
    char path[300];
    struct server s;
    pthread_t t;
    server_start(&s, &t, serve_late, "late-p0f.sock", "7 or 8", path, sizeof(path));
    double t0 = waiter_now_ms();
    struct p0f_q *q = p0f_start(NULL, path, "192.0.2.9", 1000, 30);
    p0f_wait(q);
    double ms = waiter_now_ms() - t0;
    pthread_join(t, NULL);
    CU_ASSERT_EQUAL(p0f_answer_of(q)->status, P0F_KNOWN);
    CU_ASSERT_TRUE(ms >= 55 && ms < 200); /* two retries, 30 ms apart */
    p0f_free(q);

    /* without retries the first "not seen" is the answer */
    CU_ASSERT_FATAL(pthread_create(&t, NULL, serve_late, &s) == 0);
    q = p0f_start(NULL, path, "192.0.2.9", 1000, 0);
    p0f_wait(q);
    CU_ASSERT_STRING_EQUAL(p0f_answer_of(q)->why, "p0f has not seen this address");
    p0f_free(q); /* closes: the server's next read ends */
    pthread_join(t, NULL);

    /* retries end at the timeout with the last answer */
    CU_ASSERT_FATAL(pthread_create(&t, NULL, serve_late, &s) == 0);
    t0 = waiter_now_ms();
    q = p0f_start(NULL, path, "192.0.2.9", 50, 30);
    p0f_wait(q);
    ms = waiter_now_ms() - t0;
    CU_ASSERT_STRING_EQUAL(p0f_answer_of(q)->why, "p0f has not seen this address");
    CU_ASSERT_TRUE(ms < 60);
    p0f_free(q);
    pthread_join(t, NULL);
    close(s.l);
}

int suite_p0f(void)
{
    CU_pSuite s = CU_add_suite("p0f", NULL, NULL);
    if (!s)
        return -1;
    CU_ADD_TEST(s, test_queries_for_ipv4_ipv6_and_mapped_addresses);
    CU_ADD_TEST(s, test_reply_with_an_os_is_known);
    CU_ADD_TEST(s, test_replies_without_an_os_are_unknown_with_a_reason);
    CU_ADD_TEST(s, test_strings_are_bounded_and_printable);
    CU_ADD_TEST(s, test_no_p0f_at_the_path_is_unknown_at_once);
    CU_ADD_TEST(s, test_p0f_that_never_answers_costs_the_timeout_only);
    CU_ADD_TEST(s, test_answer_in_pieces_is_read_whole);
    CU_ADD_TEST(s, test_not_seen_yet_is_asked_again_until_the_timeout);
    return 0;
}
