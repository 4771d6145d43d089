/* test_util.c - the arena, sanitizing copies and value parsers. */
#include <CUnit/CUnit.h>
#include <string.h>

#include "core.h"
#include "suites.h"

static void test_sanitize_removes_crlf_and_control_bytes(void)
{
    char out[64];
    size_t n = sanitize_copy(out, sizeof(out), "a\r\nb\x01\xff\tc", 9);
    CU_ASSERT_STRING_EQUAL(out, "a  b?? c");
    CU_ASSERT_EQUAL(n, 8);
}

static void test_sanitize_is_bounded_and_terminated(void)
{
    char out[4];
    sanitize_copy(out, sizeof(out), "abcdef", 6);
    CU_ASSERT_STRING_EQUAL(out, "abc");
    CU_ASSERT_EQUAL(sanitize_copy(out, 0, "x", 1), 0);
}

static void test_arena_keeps_pointers_across_chunks(void)
{
    struct arena a;
    char *first, *p = NULL;
    arena_init(&a);
    first = arena_strndup(&a, "hello", 100);
    for (int i = 0; i < 2000; i++)
        p = arena_strndup(&a, "0123456789", 100);
    CU_ASSERT_STRING_EQUAL(first, "hello");
    CU_ASSERT_STRING_EQUAL(p, "0123456789");
    char *big = arena_alloc(&a, 100000);
    CU_ASSERT_PTR_NOT_NULL(big);
    memset(big, 'x', 100000);
    arena_reset(&a);
    CU_ASSERT_PTR_NOT_NULL(arena_strndup(&a, "again", 3));
    arena_free(&a);
}

static void test_arena_strndup_truncates_at_max(void)
{
    struct arena a;
    arena_init(&a);
    CU_ASSERT_STRING_EQUAL(arena_strndup(&a, "abcdef", 3), "abc");
    arena_free(&a);
}

static void test_bool_and_uint_parsers_refuse_junk(void)
{
    int b;
    unsigned long n;
    CU_ASSERT_EQUAL(cfg_parse_bool("Yes", &b), 0);
    CU_ASSERT_EQUAL(b, 1);
    CU_ASSERT_EQUAL(cfg_parse_bool("off", &b), 0);
    CU_ASSERT_EQUAL(b, 0);
    CU_ASSERT_EQUAL(cfg_parse_bool("maybe", &b), -1);
    CU_ASSERT_EQUAL(cfg_parse_uint("42", 100, &n), 0);
    CU_ASSERT_EQUAL(n, 42);
    CU_ASSERT_EQUAL(cfg_parse_uint("-1", 100, &n), -1);
    CU_ASSERT_EQUAL(cfg_parse_uint("101", 100, &n), -1);
    CU_ASSERT_EQUAL(cfg_parse_uint("4x", 100, &n), -1);
    CU_ASSERT_EQUAL(cfg_parse_uint("", 100, &n), -1);
}

static void test_duration_parser_knows_units(void)
{
    unsigned long ms;
    CU_ASSERT_EQUAL(cfg_parse_duration("30", &ms), 0);
    CU_ASSERT_EQUAL(ms, 30000);
    CU_ASSERT_EQUAL(cfg_parse_duration("500ms", &ms), 0);
    CU_ASSERT_EQUAL(ms, 500);
    CU_ASSERT_EQUAL(cfg_parse_duration("2m", &ms), 0);
    CU_ASSERT_EQUAL(ms, 120000);
    CU_ASSERT_EQUAL(cfg_parse_duration("2 m", &ms), -1);
    CU_ASSERT_EQUAL(cfg_parse_duration("99999999h", &ms), -1);
    unsigned long secs = 0;
    CU_ASSERT_EQUAL(cfg_parse_seconds("35d", 86400UL * 366, &secs), 0);
    CU_ASSERT_EQUAL(secs, 35UL * 86400);
    CU_ASSERT_EQUAL(cfg_parse_seconds("5m", 86400, &secs), 0);
    CU_ASSERT_EQUAL(secs, 300);
    CU_ASSERT_EQUAL(cfg_parse_seconds("90", 86400, &secs), 0);
    CU_ASSERT_EQUAL(secs, 90);
    CU_ASSERT_EQUAL(cfg_parse_seconds("2d", 86400, &secs), -1); /* over max */
    CU_ASSERT_EQUAL(cfg_parse_seconds("1w", 86400 * 30, &secs), -1);
    CU_ASSERT_EQUAL(cfg_parse_seconds("-1", 86400, &secs), -1);
}

static void test_period_parser_knows_days_and_weeks(void)
{
    uint64_t s;
    CU_ASSERT_EQUAL(cfg_parse_period("90", 1000, &s), 0);
    CU_ASSERT_EQUAL(s, 90);
    CU_ASSERT_EQUAL(cfg_parse_period("0", 1000, &s), 0);
    CU_ASSERT_EQUAL(s, 0);
    CU_ASSERT_EQUAL(cfg_parse_period("180d", UINT64_MAX, &s), 0);
    CU_ASSERT_EQUAL(s, 180 * 86400);
    CU_ASSERT_EQUAL(cfg_parse_period("2w", UINT64_MAX, &s), 0);
    CU_ASSERT_EQUAL(s, 14 * 86400);
    CU_ASSERT_EQUAL(cfg_parse_period("12h", UINT64_MAX, &s), 0);
    CU_ASSERT_EQUAL(s, 43200);
    CU_ASSERT_EQUAL(cfg_parse_period("17m", UINT64_MAX, &s), 0);
    CU_ASSERT_EQUAL(s, 1020);
    CU_ASSERT_EQUAL(cfg_parse_period("2d", 86400, &s), -1); /* over max */
    CU_ASSERT_EQUAL(cfg_parse_period("1 d", UINT64_MAX, &s), -1);
    CU_ASSERT_EQUAL(cfg_parse_period("d", UINT64_MAX, &s), -1);
    CU_ASSERT_EQUAL(cfg_parse_period("-1d", UINT64_MAX, &s), -1);
    CU_ASSERT_EQUAL(cfg_parse_period("99999999999999999999d", UINT64_MAX, &s), -1);
}

static void test_action_names_round_trip(void)
{
    enum layer_action a;
    for (int i = LA_OFF; i <= LA_DISCARD; i++) {
        CU_ASSERT_EQUAL(layer_action_parse(layer_action_name((enum layer_action)i), &a), 0);
        CU_ASSERT_EQUAL(a, i);
    }
    CU_ASSERT_EQUAL(layer_action_parse("drop", &a), -1);
    CU_ASSERT_STRING_EQUAL(policy_action_name(POLICY_REJECT), "reject");
    CU_ASSERT_STRING_EQUAL(policy_action_name((policy_action)99), "unknown");
}

int suite_util(void)
{
    CU_pSuite s = CU_add_suite("util", NULL, NULL);
    if (!s)
        return -1;
    CU_ADD_TEST(s, test_sanitize_removes_crlf_and_control_bytes);
    CU_ADD_TEST(s, test_sanitize_is_bounded_and_terminated);
    CU_ADD_TEST(s, test_arena_keeps_pointers_across_chunks);
    CU_ADD_TEST(s, test_arena_strndup_truncates_at_max);
    CU_ADD_TEST(s, test_bool_and_uint_parsers_refuse_junk);
    CU_ADD_TEST(s, test_duration_parser_knows_units);
    CU_ADD_TEST(s, test_period_parser_knows_days_and_weeks);
    CU_ADD_TEST(s, test_action_names_round_trip);
    return 0;
}
