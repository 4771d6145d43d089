/*
 * test_mailauth.c - what we parse and write ourselves around DKIM and
 * DMARC: the domains of From headers (display names, quoted strings,
 * comments, groups, routes, literals), the authserv-id of an
 * Authentication-Results header, the header we write (quoting, comments,
 * nothing half-written when the buffer is small), and the DKVERIFY /
 * DKIMVERIFY letters with qmailtoaster's default set.
 */
#include <CUnit/CUnit.h>
#include <string.h>

#include "../../libpolicy/support/mailauth.h"
#include "suites.h"

/* from1 - the single domain of a From value, or "" with *nbad set. */
static const char *from1(const char *v, size_t *n, size_t *nbad)
{
    static char out[4][MAILAUTH_DOMAIN_MAX + 1];
    memset(out, 0, sizeof(out));
    *n = mailauth_from_domains(v, strlen(v), out, 4, nbad);
    return out[0];
}

static void test_from_domains_of_every_form(void)
{
    size_t n, bad;
    CU_ASSERT_STRING_EQUAL(from1("a@Example.COM", &n, &bad), "example.com");
    CU_ASSERT(n == 1 && bad == 0);
    CU_ASSERT_STRING_EQUAL(from1("Joe Bloggs <joe@b.test>", &n, &bad), "b.test");
    CU_ASSERT_STRING_EQUAL(from1("\"x@evil.test\" <a@good.test>", &n, &bad), "good.test");
    CU_ASSERT(n == 1 && bad == 0);
    CU_ASSERT_STRING_EQUAL(from1("a@b.test (comment, with @ and <x@y.test>)", &n, &bad), "b.test");
    CU_ASSERT(n == 1 && bad == 0);
    CU_ASSERT_STRING_EQUAL(from1("<@r1.test,@r2.test:a@b.test>", &n, &bad), "b.test");
    CU_ASSERT(n == 1 && bad == 0);
    CU_ASSERT_STRING_EQUAL(from1("Joe (x) <a@ b . test >", &n, &bad), "b.test");
    CU_ASSERT_STRING_EQUAL(from1("a@b.test.", &n, &bad), "b.test");
    CU_ASSERT_STRING_EQUAL(from1("\"quoted local\"@b.test", &n, &bad), "b.test");
    from1("a@[192.0.2.1]", &n, &bad);
    CU_ASSERT(n == 1 && bad == 1);
    from1("no-at-sign", &n, &bad);
    CU_ASSERT(n == 1 && bad == 1);
    from1("\"unterminated", &n, &bad);
    CU_ASSERT(n == 1 && bad == 1);
    from1("undisclosed-recipients:;", &n, &bad);
    CU_ASSERT(n == 0 && bad == 0);
    from1("", &n, &bad);
    CU_ASSERT(n == 0 && bad == 0);
    from1("a@b..test", &n, &bad);
    CU_ASSERT(n == 1 && bad == 1);

    char out[4][MAILAUTH_DOMAIN_MAX + 1];
    const char *list = "a@one.test, \"B, b\" <b@two.test>, team: c@three.test, d@four.test;, e@five.test";
    n = mailauth_from_domains(list, strlen(list), out, 4, &bad);
    CU_ASSERT_EQUAL(n, 5); /* counted past what fits */
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_STRING_EQUAL(out[0], "one.test");
    CU_ASSERT_STRING_EQUAL(out[1], "two.test");
    CU_ASSERT_STRING_EQUAL(out[2], "three.test");
    CU_ASSERT_STRING_EQUAL(out[3], "four.test");

    /* a mailbox without a usable domain keeps its place, empty */
    const char *mixed = "no-at-sign, a@[192.0.2.1], c@three.test";
    memset(out, 'x', sizeof(out));
    n = mailauth_from_domains(mixed, strlen(mixed), out, 4, &bad);
    CU_ASSERT(n == 3 && bad == 2);
    CU_ASSERT_STRING_EQUAL(out[0], "");
    CU_ASSERT_STRING_EQUAL(out[1], "");
    CU_ASSERT_STRING_EQUAL(out[2], "three.test");
}

static void test_authserv_id_of_a_header(void)
{
    char id[64];
    CU_ASSERT_EQUAL(mailauth_authserv_id("mx.example.test; dkim=pass", 26, id, sizeof(id)), 0);
    CU_ASSERT_STRING_EQUAL(id, "mx.example.test");
    CU_ASSERT_EQUAL(mailauth_authserv_id("\"\0mx\"; dkim=pass", 16, id, sizeof(id)), -1); /* NUL */
    const char *v = " (our (nested) comment)\r\n\tMX.Example.Test 1; spf=pass";
    CU_ASSERT_EQUAL(mailauth_authserv_id(v, strlen(v), id, sizeof(id)), 0);
    CU_ASSERT_STRING_EQUAL(id, "MX.Example.Test");
    v = "\"quoted \\\"id\\\"\"; none";
    CU_ASSERT_EQUAL(mailauth_authserv_id(v, strlen(v), id, sizeof(id)), 0);
    CU_ASSERT_STRING_EQUAL(id, "quoted \"id\"");
    CU_ASSERT_EQUAL(mailauth_authserv_id("; dkim=pass", 11, id, sizeof(id)), -1);
    CU_ASSERT_EQUAL(mailauth_authserv_id("", 0, id, sizeof(id)), -1);
    CU_ASSERT_EQUAL(mailauth_authserv_id("a-very-long-authserv-id.test", 28, id, 8), -1);
}

static void test_authentication_results_we_write(void)
{
    char buf[512];
    struct mailauth_ar ar;
    mailauth_ar_begin(&ar, buf, sizeof(buf), "mx.example.test");
    mailauth_ar_result(&ar, "dkim", "pass", NULL);
    mailauth_ar_prop(&ar, "header.d", "example.com");
    mailauth_ar_prop(&ar, "header.i", "@example.com");
    mailauth_ar_prop(&ar, "header.b", "ab/c+d==");
    mailauth_ar_result(&ar, "dkim", "fail", "body (hash) did not verify\r\n");
    mailauth_ar_prop(&ar, "header.s", "sel \"x\"");
    mailauth_ar_result(&ar, "dmarc", "pass", "p=reject dis=none");
    mailauth_ar_prop(&ar, "header.from", "example.com");
    CU_ASSERT_STRING_EQUAL(mailauth_ar_end(&ar),
                           "mx.example.test;\r\n"
                           "\tdkim=pass header.d=example.com header.i=@example.com header.b=\"ab/c+d==\";\r\n"
                           "\tdkim=fail (body \\(hash\\) did not verify?" "?) header.s=\"sel \\\"x\\\"\";\r\n"
                           "\tdmarc=pass (p=reject dis=none) header.from=example.com");
    CU_ASSERT_EQUAL(ar.truncated, 0);

    mailauth_ar_begin(&ar, buf, sizeof(buf), "bad id; with=junk");
    CU_ASSERT_STRING_EQUAL(mailauth_ar_end(&ar), "badidwithjunk; none");

    /* a small buffer: the result that does not fit is left out whole */
    char small[48];
    mailauth_ar_begin(&ar, small, sizeof(small), "mx.test");
    mailauth_ar_result(&ar, "dkim", "pass", NULL);
    mailauth_ar_prop(&ar, "header.d", "a.test");
    mailauth_ar_result(&ar, "dkim", "fail", NULL);
    mailauth_ar_prop(&ar, "header.d", "a-much-longer-domain-than-fits.test");
    mailauth_ar_prop(&ar, "header.s", "s");
    CU_ASSERT_STRING_EQUAL(mailauth_ar_end(&ar), "mx.test;\r\n\tdkim=pass header.d=a.test");
    CU_ASSERT_EQUAL(ar.truncated, 1);
    mailauth_ar_begin(&ar, small, 12, "mx.test");
    mailauth_ar_result(&ar, "dkim", "pass", NULL);
    CU_ASSERT_STRING_EQUAL(mailauth_ar_end(&ar), "mx.test"); /* "; none" does not fit either */
}

static void test_letters_of_qmail_dk_and_qmail_dkim(void)
{
    /* qmailtoaster's DKVERIFY: refuse D E G I J K, defer f h */
    static const struct {
        enum mailauth_dkim o;
        char dk, dkim;
        enum mailauth_act act;
    } table[] = {
        {MA_DKIM_PASS, 'A', 'A', MA_ACT_NONE},
        {MA_DKIM_NONE, 'C', 'S', MA_ACT_NONE},
        {MA_DKIM_BADSIG, 'B', 'I', MA_ACT_NONE},
        {MA_DKIM_BODYHASH, 'B', 'U', MA_ACT_NONE},
        {MA_DKIM_EXPIRED, 'B', 'K', MA_ACT_NONE},
        {MA_DKIM_PARTIAL, 'B', 'E', MA_ACT_NONE},
        {MA_DKIM_TESTING, 'C', 'J', MA_ACT_NONE},
        {MA_DKIM_NOKEY, 'D', 'Q', MA_ACT_PERMANENT},
        {MA_DKIM_BADKEY, 'E', 'R', MA_ACT_PERMANENT},
        {MA_DKIM_KEYALG, 'E', 'V', MA_ACT_PERMANENT},
        {MA_DKIM_DNS, 'F', 'P', MA_ACT_TEMPORARY},
        {MA_DKIM_SYNTAX, 'G', 'H', MA_ACT_PERMANENT},
        {MA_DKIM_RESOURCE, 'H', 'G', MA_ACT_TEMPORARY},
        {MA_DKIM_UNSUPPORTED, 'I', 'W', MA_ACT_PERMANENT},
        {MA_DKIM_REVOKED, 'J', 'N', MA_ACT_PERMANENT},
        {MA_DKIM_INTERNAL, 'K', 'G', MA_ACT_PERMANENT},
        {MA_DKIM_IDENTITY, 'L', 'M', MA_ACT_NONE},
        {MA_DKIM_FROM, 'M', 'X', MA_ACT_NONE},
        {MA_DKIM_NAMELONG, 'D', 'O', MA_ACT_PERMANENT},
    };
    CU_ASSERT_EQUAL(sizeof(table) / sizeof(*table), MA_DKIM_COUNT);
    for (size_t i = 0; i < sizeof(table) / sizeof(*table); i++) {
        CU_ASSERT_EQUAL(mailauth_dk_letter(table[i].o), table[i].dk);
        CU_ASSERT_EQUAL(mailauth_dkim_letter(table[i].o), table[i].dkim);
        CU_ASSERT_EQUAL(mailauth_letters_act("DEGIJKfh", mailauth_dk_letter(table[i].o)),
                        table[i].act);
        CU_ASSERT_PTR_NOT_NULL(mailauth_dkim_result(table[i].o));
    }
    CU_ASSERT_STRING_EQUAL(mailauth_dkim_result(MA_DKIM_BODYHASH), "fail");
    CU_ASSERT_STRING_EQUAL(mailauth_dkim_result(MA_DKIM_DNS), "temperror");
    CU_ASSERT_STRING_EQUAL(mailauth_dkim_result(MA_DKIM_NONE), "none");
    /* upper case wins over lower case; NULL and junk are nothing */
    CU_ASSERT_EQUAL(mailauth_letters_act("iI", 'I'), MA_ACT_PERMANENT);
    CU_ASSERT_EQUAL(mailauth_letters_act("i", 'I'), MA_ACT_TEMPORARY);
    CU_ASSERT_EQUAL(mailauth_letters_act(NULL, 'I'), MA_ACT_NONE);
    CU_ASSERT_EQUAL(mailauth_letters_act("I", '['), MA_ACT_NONE);
    CU_ASSERT(mailauth_letters_ok("DEGIJKfh", 'M'));
    CU_ASSERT(mailauth_letters_ok("", 'M'));
    CU_ASSERT(!mailauth_letters_ok("DEGIJKfhX", 'M'));
    CU_ASSERT(mailauth_letters_ok("FGHIKLMNOQRTUVWjp", 'X'));
    CU_ASSERT(!mailauth_letters_ok("A B", 'X'));
}

/* canon_len - the canonical length of body, fed in pieces of step bytes. */
static unsigned long long canon_len(const char *body, int relaxed, size_t step)
{
    struct mailauth_canon c;
    size_t n = strlen(body);
    mailauth_canon_init(&c, relaxed);
    for (size_t off = 0; off < n; off += step)
        mailauth_canon_feed(&c, body + off, n - off < step ? n - off : step);
    return mailauth_canon_end(&c);
}

/* the expected lengths are dkimpy's (dkim.canonicalization), but for a
 * bare LF, which libopendkim reads as a line end and dkimpy does not */
static void test_canonical_body_lengths(void)
{
    static const struct {
        const char *body;
        unsigned long long simple, relaxed;
    } t[] = {
        {"", 2, 0},
        {"\r\n\r\n", 2, 0},
        {"abc", 5, 5},
        {"abc\r\n", 5, 5},
        {"abc\n\n\n", 5, 5}, /* LF ends a line, as libopendkim reads it */
        {" a  b \t\r\n", 9, 6}, /* relaxed: " a b" CRLF */
        {"a\r\n \t \r\nb\r\n\r\n", 11, 8}, /* the blank line stays, empty */
        {"a\rb\r\n", 5, 5}, /* a lone CR is text */
        {"line\r\n\r\n\r\nmore\r\n", 16, 16},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(*t); i++)
        for (size_t step = 1; step <= 8; step++) {
            CU_ASSERT_EQUAL(canon_len(t[i].body, 0, step), t[i].simple);
            CU_ASSERT_EQUAL(canon_len(t[i].body, 1, step), t[i].relaxed);
        }
}

int suite_mailauth(void)
{
    CU_pSuite s = CU_add_suite("mailauth", NULL, NULL);
    if (!s)
        return -1;
    CU_ADD_TEST(s, test_from_domains_of_every_form);
    CU_ADD_TEST(s, test_authserv_id_of_a_header);
    CU_ADD_TEST(s, test_authentication_results_we_write);
    CU_ADD_TEST(s, test_letters_of_qmail_dk_and_qmail_dkim);
    CU_ADD_TEST(s, test_canonical_body_lengths);
    return 0;
}
