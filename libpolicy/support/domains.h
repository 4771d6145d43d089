/*
 * domains.h - sets of mail domains with qmail's rcpthosts semantics: an
 * entry "example.com" matches that domain, an entry ".example.com" every
 * name below it; plus qmail's morercpthosts.cdb, same keys, same walk.
 */
#ifndef LIBPOLICY_DOMAINS_H
#define LIBPOLICY_DOMAINS_H

#include <stddef.h>

#include <cdb.h>

struct domainset {
    char **slots; /* open addressing, lowercase keys */
    size_t cap, n;
    int has_cdb;    /* morercpthosts.cdb mapped */
    struct cdb cdb; /* never searched directly: lookups copy it */
};

void domainset_init(struct domainset *d);
/* domainset_add - add one entry (lowercased; a trailing dot dropped). 0 / -1 (memory or junk). */
int domainset_add(struct domainset *d, const char *name, size_t len);
/* domainset_add_words - add every word of a space/comma separated list. */
int domainset_add_words(struct domainset *d, const char *words, char *bad, size_t badlen);
/* domainset_add_file - add every line of an rcpthosts-style file; errors
 * name the line in err.  0 or -1. */
int domainset_add_file(struct domainset *d, const char *path, char *err, size_t errlen);
/* domainset_open_cdb - use a morercpthosts.cdb as well.  0, or -1 with why
 * (cannot open, not a regular file, not a cdb). */
int domainset_open_cdb(struct domainset *d, const char *path, char *why, size_t whylen);
/* domainset_match - is the normalized domain listed, itself or by a
 * ".suffix" entry (qmail's rcpthosts walk)? */
int domainset_match(const struct domainset *d, const char *domain);
void domainset_free(struct domainset *d);

#endif
