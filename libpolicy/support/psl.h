/*
 * psl.h - the Public Suffix List (publicsuffix.org, Debian's publicsuffix
 * package): the public suffix of a domain and its organizational domain
 * (RFC 7489 3.2), with the list's wildcard ("*.ck") and exception
 * ("!www.ck") rules and its default rule "*" (a name under a suffix the
 * list does not know is registered one label below it).  Unicode rules
 * also match their A-label (punycode) form, which is how names travel in
 * mail.  A loaded list is immutable: any number of threads may read it.
 */
#ifndef LIBPOLICY_PSL_H
#define LIBPOLICY_PSL_H

#include <stddef.h>

#define PSL_DOMAIN_MAX 255

struct psl;

/* psl_load - read a list file (at most 16 MB).  NULL with a reason in err. */
struct psl *psl_load(const char *path, char *err, size_t errlen);
/* psl_parse - the same from text in memory (tests, fuzzing). */
struct psl *psl_parse(const char *text, size_t len, char *err, size_t errlen);
void psl_free(struct psl *p);
/* psl_rules - how many rules the list holds. */
size_t psl_rules(const struct psl *p);

/* psl_org_domain - the organizational domain of domain (ASCII, any case,
 * one trailing dot allowed): its public suffix and one more label, lower
 * case; a public suffix itself is its own.  0, or -1 for a name that is no
 * domain (empty label, too long) or an out too small. */
int psl_org_domain(const struct psl *p, const char *domain, char *out, size_t outlen);

#endif /* LIBPOLICY_PSL_H */
