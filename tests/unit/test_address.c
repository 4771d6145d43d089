/* test_address.c - the address parser and its resolution of relay tricks, as a table. */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <string.h>

#include "address.h"
#include "core.h"
#include "suites.h"

static const struct {
    const char *in;
    enum addr_status st;
    const char *local, *domain;
    int routed;
} cases[] = {
    {"user@example.com", ADDR_OK, "user", "example.com", 0},
    {"<user@example.com>", ADDR_OK, "user", "example.com", 0},
    {"  <User@EXAMPLE.Com>  ", ADDR_OK, "User", "example.com", 0},
    {"user@example.com.", ADDR_OK, "user", "example.com", 0},
    {"postmaster", ADDR_OK, "postmaster", "", 0},
    {"first.last+tag@example.com", ADDR_OK, "first.last+tag", "example.com", 0},
    /* source routes are ignored */
    {"@relay.example:user@example.com", ADDR_OK, "user", "example.com", 0},
    {"<@a.example,@b.example:user@example.com>", ADDR_OK, "user", "example.com", 0},
    {"@local.example:user@remote.example", ADDR_OK, "user", "remote.example", 0},
    /* percent hack: the last % routes */
    {"user%remote.example@local.example", ADDR_OK, "user", "remote.example", 1},
    {"user%a.example%b.example@local.example", ADDR_OK, "user", "a.example", 1},
    /* bang paths: first hop is the domain, repeatedly */
    {"remote.example!user@local.example", ADDR_OK, "user", "remote.example", 1},
    {"a.example!b.example!user@local.example", ADDR_OK, "user", "b.example", 1},
    {"remote.example!user", ADDR_OK, "user", "remote.example", 1},
    /* quoted local parts */
    {"\"user@remote.example\"@local.example", ADDR_OK, "user", "remote.example", 1},
    {"\"john smith\"@example.com", ADDR_OK, "john smith", "example.com", 0},
    {"\"a\\\"b\"@example.com", ADDR_OK, "a\"b", "example.com", 0},
    {"\"user%remote.example\"@local.example", ADDR_OK, "user", "remote.example", 1},
    /* IP literals */
    {"user@[192.0.2.1]", ADDR_OK, "user", "[192.0.2.1]", 0},
    {"user@[IPv6:2001:DB8::0001]", ADDR_OK, "user", "[ipv6:2001:db8::1]", 0},
    {"user@[999.0.2.1]", ADDR_SYNTAX, NULL, NULL, 0},
    {"user@[192.0.2.1", ADDR_SYNTAX, NULL, NULL, 0},
    /* syntax errors */
    {"", ADDR_SYNTAX, NULL, NULL, 0},
    {"<>", ADDR_SYNTAX, NULL, NULL, 0},
    {"@example.com", ADDR_SYNTAX, NULL, NULL, 0},
    {"user@", ADDR_SYNTAX, NULL, NULL, 0},
    {"user@remote.example@local.example", ADDR_SYNTAX, NULL, NULL, 0},
    {"user@@example.com", ADDR_SYNTAX, NULL, NULL, 0},
    {"user@example..com", ADDR_SYNTAX, NULL, NULL, 0},
    {"user@.example.com", ADDR_SYNTAX, NULL, NULL, 0},
    {"user@example.com..", ADDR_SYNTAX, NULL, NULL, 0},
    {"us er@example.com", ADDR_SYNTAX, NULL, NULL, 0},
    {".user@example.com", ADDR_SYNTAX, NULL, NULL, 0},
    {"user.@example.com", ADDR_SYNTAX, NULL, NULL, 0},
    {"\"unterminated@example.com", ADDR_SYNTAX, NULL, NULL, 0},
    {"\"\"@example.com", ADDR_SYNTAX, NULL, NULL, 0},
    {"user@exa mple.com", ADDR_SYNTAX, NULL, NULL, 0},
    {"user@example.com>", ADDR_SYNTAX, NULL, NULL, 0},
    {"<user@example.com", ADDR_SYNTAX, NULL, NULL, 0},
    {"user@exa\rmple.com", ADDR_SYNTAX, NULL, NULL, 0},
    {"@a.example:", ADDR_SYNTAX, NULL, NULL, 0},
    {"@a.example user@b.example", ADDR_SYNTAX, NULL, NULL, 0},
    {"user%@local.example", ADDR_SYNTAX, NULL, NULL, 0},
    {"!user@local.example", ADDR_SYNTAX, NULL, NULL, 0},
    {"remote.example!@local.example", ADDR_SYNTAX, NULL, NULL, 0},
    {"\"user@\"@local.example", ADDR_SYNTAX, NULL, NULL, 0},
};

static void test_address_table(void)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        struct addr a;
        enum addr_status st = addr_parse(cases[i].in, &a);
        int good = st == cases[i].st && (st != ADDR_OK || (!strcmp(a.local, cases[i].local) &&
                                                           !strcmp(a.domain, cases[i].domain) &&
                                                           a.routed == cases[i].routed));
        if (!good)
            fprintf(stderr, "\n  %s: status %d local '%s' domain '%s' routed %d", cases[i].in, st,
                    a.local, a.domain, a.routed);
        CU_ASSERT_TRUE(good);
    }
}

static void test_overlong_parts_are_too_long(void)
{
    struct addr a;
    char buf[700];
    memset(buf, 'a', 65);
    strcpy(buf + 65, "@example.com");
    CU_ASSERT_EQUAL(addr_parse(buf, &a), ADDR_TOO_LONG);
    memset(buf, 'a', 64);
    strcpy(buf + 64, "@example.com");
    CU_ASSERT_EQUAL(addr_parse(buf, &a), ADDR_OK);
    strcpy(buf, "u@");
    for (int i = 0; i < 5; i++)
        strcat(buf, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.");
    strcat(buf, "com");
    CU_ASSERT_EQUAL(addr_parse(buf, &a), ADDR_TOO_LONG);
    memset(buf, 'a', 600);
    buf[600] = '\0';
    CU_ASSERT_EQUAL(addr_parse(buf, &a), ADDR_TOO_LONG);
    char label[80] = "u@";
    memset(label + 2, 'b', 64);
    strcpy(label + 66, ".com");
    CU_ASSERT_EQUAL(addr_parse(label, &a), ADDR_SYNTAX); /* a label of 64 */
}

static void test_routing_loops_are_bounded(void)
{
    char buf[520] = "u";
    for (int i = 0; i < 20; i++) /* 20 hops in a 41-byte local part */
        strcat(buf, "%h");
    strcat(buf, "@x.example");
    struct addr a;
    CU_ASSERT_EQUAL(addr_parse(buf, &a), ADDR_SYNTAX);
    strcpy(buf, "u%h%h%h@x.example");
    CU_ASSERT_EQUAL(addr_parse(buf, &a), ADDR_OK);
    CU_ASSERT_STRING_EQUAL(a.domain, "h");
}

static void test_domain_normalize(void)
{
    char out[ADDR_DOMAIN_MAX + 1];
    CU_ASSERT_EQUAL(addr_domain_normalize("Mail.EXAMPLE.org.", 17, out), 0);
    CU_ASSERT_STRING_EQUAL(out, "mail.example.org");
    CU_ASSERT_EQUAL(addr_domain_normalize("a..b", 4, out), -1);
    CU_ASSERT_EQUAL(addr_domain_normalize(".", 1, out), -1);
    CU_ASSERT_EQUAL(addr_domain_normalize("", 0, out), -1);
    CU_ASSERT_EQUAL(addr_domain_normalize("a/b", 3, out), -1);
}

int suite_address(void)
{
    CU_pSuite s = CU_add_suite("address", NULL, NULL);
    if (!s)
        return -1;
    CU_ADD_TEST(s, test_address_table);
    CU_ADD_TEST(s, test_overlong_parts_are_too_long);
    CU_ADD_TEST(s, test_routing_loops_are_bounded);
    CU_ADD_TEST(s, test_domain_normalize);
    return 0;
}
