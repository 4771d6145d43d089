/*
 * psl.h - the organizational domain of a name (RFC 7489 3.2) from the
 * Public Suffix List (publicsuffix.org, Debian's publicsuffix package),
 * through libpsl: the list's wildcard and exception rules, its default
 * rule "*" (a name under a suffix the list does not know is registered
 * one label below it), Unicode rules matched by their A-label form.  A
 * loaded list is immutable: any number of threads may read it.
 */
#ifndef LIBPOLICY_PSL_H
#define LIBPOLICY_PSL_H

#include <stddef.h>

#define PSL_DOMAIN_MAX 255

struct pslist;

/* pslist_load - read a list file (at most 16 MB).  NULL with a reason in err. */
struct pslist *pslist_load(const char *path, char *err, size_t errlen);
/* pslist_parse - the same from text in memory (tests, fuzzing). */
struct pslist *pslist_parse(const char *text, size_t len, char *err, size_t errlen);
void pslist_free(struct pslist *p);
/* pslist_rules - how many rules the list holds. */
size_t pslist_rules(const struct pslist *p);

/* pslist_org_domain - the organizational domain of domain (ASCII, any
 * case, one trailing dot allowed): its public suffix and one more label,
 * lower case; a public suffix itself is its own.  0, or -1 for a name that
 * is no domain (empty label, too long) or an out too small. */
int pslist_org_domain(const struct pslist *p, const char *domain, char *out, size_t outlen);

#endif /* LIBPOLICY_PSL_H */
