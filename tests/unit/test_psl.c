/*
 * test_psl.c - the organizational domain through libpsl: publicsuffix.org's
 * algorithm on a list of our own (normal, wildcard and exception rules,
 * the default rule "*", Unicode rules and their punycode), then the
 * official test vectors (Debian's test_psl.txt) against the list Debian
 * ships, when installed.
 */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../../libpolicy/support/psl.h"
#include "suites.h"

static const char rules[] = "// a comment\n"
                            "com\n"
                            "uk\n"
                            "co.uk\n"
                            "*.ck\n"
                            "!www.ck\n"
                            "jp\n"
                            "*.kobe.jp\n"
                            "!city.kobe.jp\n"
                            "  CN  trailing words are ignored\n"
                            "\xe5\x85\xac\xe5\x8f\xb8.cn\n" /* 公司.cn */
                            "\xe4\xb8\xad\xe5\x9b\xbd\n"    /* 中国 */
                            "*.bad*.rule\n";

static const char *org(const struct pslist *p, const char *d)
{
    static char out[PSL_DOMAIN_MAX + 1];
    return pslist_org_domain(p, d, out, sizeof(out)) == 0 ? out : "(error)";
}

static void test_the_algorithm_on_our_list(void)
{
    char err[256];
    struct pslist *p = pslist_parse(rules, sizeof(rules) - 1, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_STRING_EQUAL(org(p, "mail.Example.COM"), "example.com");
    CU_ASSERT_STRING_EQUAL(org(p, "example.com."), "example.com");
    CU_ASSERT_STRING_EQUAL(org(p, "com"), "com"); /* a public suffix is its own */
    CU_ASSERT_STRING_EQUAL(org(p, "a.b.example.co.uk"), "example.co.uk");
    CU_ASSERT_STRING_EQUAL(org(p, "co.uk"), "co.uk");
    CU_ASSERT_STRING_EQUAL(org(p, "a.b.test.ck"), "b.test.ck");   /* *.ck */
    CU_ASSERT_STRING_EQUAL(org(p, "test.ck"), "test.ck");
    CU_ASSERT_STRING_EQUAL(org(p, "a.www.ck"), "www.ck");         /* !www.ck */
    CU_ASSERT_STRING_EQUAL(org(p, "www.city.kobe.jp"), "city.kobe.jp");
    CU_ASSERT_STRING_EQUAL(org(p, "a.b.c.kobe.jp"), "b.c.kobe.jp");
    CU_ASSERT_STRING_EQUAL(org(p, "mail.sub.example.test"), "example.test"); /* "*" */
    CU_ASSERT_STRING_EQUAL(org(p, "example"), "example");
    CU_ASSERT_STRING_EQUAL(org(p, "www.xn--85x722f.xn--55qx5d.cn"), "xn--85x722f.xn--55qx5d.cn");
    CU_ASSERT_STRING_EQUAL(org(p, "shishi.xn--fiqs8s"), "shishi.xn--fiqs8s");
    CU_ASSERT_STRING_EQUAL(org(p, "a.b.cn"), "b.cn");
    CU_ASSERT_STRING_EQUAL(org(p, "a..b.com"), "(error)");
    CU_ASSERT_STRING_EQUAL(org(p, ".com"), "(error)");
    CU_ASSERT_STRING_EQUAL(org(p, ""), "(error)");
    const char *odd = org(p, "x.bad*.rule"); /* a rule out of the format: libpsl's reading, */
    CU_ASSERT(strlen(odd) <= 11 && !strcmp("x.bad*.rule" + 11 - strlen(odd), odd)); /* a suffix */
    char small[8];
    CU_ASSERT_EQUAL(pslist_org_domain(p, "example.com", small, sizeof(small)), -1);
    pslist_free(p);
    CU_ASSERT_PTR_NULL(pslist_parse("// nothing\n\n", 12, err, sizeof(err)));
}

/* test_the_official_vectors - checkPublicSuffix(DOMAIN, EXPECTED) lines of
 * the list's own test file, with the list Debian ships: ASCII ones (ours
 * take names as they travel in mail), upper case and all. */
static void test_the_official_vectors(void)
{
    const char *list = "/usr/share/publicsuffix/public_suffix_list.dat";
    const char *vectors = "/usr/share/doc/publicsuffix/examples/test_psl.txt";
    if (access(list, R_OK) != 0 || access(vectors, R_OK) != 0) {
        fprintf(stderr, "\n  skipped: publicsuffix is not installed\n");
        return;
    }
    char err[256], line[512];
    struct pslist *p = pslist_load(list, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT(pslist_rules(p) > 9000);
    FILE *fp = fopen(vectors, "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
    int checked = 0;
    while (fgets(line, sizeof(line), fp)) {
        char dom[256], want[256];
        if (sscanf(line, "checkPublicSuffix('%255[^']', '%255[^']');", dom, want) == 2 ||
            (sscanf(line, "checkPublicSuffix('%255[^']', null);", dom) == 1 && (want[0] = 0, 1))) {
            int ascii = 1;
            for (const char *c = dom; *c; c++)
                ascii &= (unsigned char)*c < 0x80;
            if (!ascii || dom[0] == '.')
                continue; /* Unicode forms: mail carries A-labels; ".x": no domain */
            const char *got = org(p, dom);
            char low[256];
            size_t i = 0;
            for (; dom[i] && i < sizeof(low) - 1; i++)
                low[i] = (char)(dom[i] >= 'A' && dom[i] <= 'Z' ? dom[i] + 32 : dom[i]);
            low[i] = '\0';
            /* null: the name is a public suffix (or under none), ours is itself */
            const char *expect = want[0] ? want : low;
            if (strcmp(got, expect) != 0)
                fprintf(stderr, "\n  %s: got %s, expected %s\n", dom, got, expect);
            CU_ASSERT_STRING_EQUAL(got, expect);
            checked++;
        }
    }
    fclose(fp);
    CU_ASSERT(checked > 50);
    pslist_free(p);
}

int suite_psl(void)
{
    CU_pSuite s = CU_add_suite("psl", NULL, NULL);
    if (!s)
        return -1;
    CU_ADD_TEST(s, test_the_algorithm_on_our_list);
    CU_ADD_TEST(s, test_the_official_vectors);
    return 0;
}
