/*
 * recipmap.h - the recipients map: a cdb of valid addresses, catch-all
 * domains, aliases and lists, compiled by `policyctl makemap` from a plain
 * text file (recipients.txt) and read through a private mapping that stays
 * the same until the engine that opened it is freed.
 *
 * Keys: "local@domain" (domain lowercased, local part lowercased unless the
 * map was built case-sensitive) -> "=" for a mailbox, ">targets" for an
 * alias or list; "@domain" -> "*" catch-all or "." (domain listed); the
 * empty key -> RECIPMAP_MAGIC and the folding the map was built with.
 */
#ifndef LIBPOLICY_RECIPMAP_H
#define LIBPOLICY_RECIPMAP_H

#include <stddef.h>
#include <stdio.h>

#include <cdb.h>

#define RECIPMAP_MAGIC     "libpolicy-recipients 1"
#define RECIPMAP_KEY_MAX   (64 + 1 + 255) /* local@domain, RFC 5321 sizes */
#define RECIPMAP_LINE_MAX  65536          /* a list with many members on one line */
#define RECIPMAP_MAX_LINES 100000000      /* bound on the input, far above any site */

/* What a line of recipients.txt says. */
enum recipmap_kind {
    RML_BLANK = 0, /* blank line or comment */
    RML_ADDRESS,   /* a mailbox */
    RML_ALIAS,     /* address: target, target... (alias or list) */
    RML_CATCHALL,  /* @domain */
};

struct recipmap_entry {
    enum recipmap_kind kind;
    char key[RECIPMAP_KEY_MAX + 2]; /* "local@domain" or "@domain" */
    size_t klen;
    size_t domain_off;   /* where the domain starts in key */
    const char *targets; /* RML_ALIAS: into the line, trimmed */
    size_t targets_len;
};

/* recipmap_parse_line - parse one line (len bytes, no newline needed; NUL
 * inside is an error).  fold: lowercase local parts.  0 with *out filled,
 * -1 with a reason in why. */
int recipmap_parse_line(const char *line, size_t len, int fold, struct recipmap_entry *out,
                        char *why, size_t whylen);

/* recipmap_build - read recipients.txt from in (named name in errors) and
 * write the cdb to fd (positioned at 0).  0, or -1 with "name:line: why". */
int recipmap_build(FILE *in, const char *name, int fd, int fold, char *err, size_t errlen);

/* recipmap_make - build in_path into out_path atomically: out_path.tmp.PID,
 * fsync, rename.  A reader that mapped the old file keeps it.  0 or -1. */
int recipmap_make(const char *in_path, const char *out_path, int fold, char *err, size_t errlen);

/* An open map: read-only after open, any number of threads may look up. */
struct recipmap {
    struct cdb cdb; /* searched through private copies only */
    int fold;       /* built with lowercased local parts */
    int open;
};

/* recipmap_open_fd - map an open cdb (the caller keeps fd and may close it
 * after).  0, or -1 with why (not a cdb, not a recipients map). */
int recipmap_open_fd(struct recipmap *m, int fd, char *why, size_t whylen);
int recipmap_open(struct recipmap *m, const char *path, char *why, size_t whylen);
void recipmap_close(struct recipmap *m);

/* recipmap_has - is key (klen bytes) in the map?  1 yes, 0 no, -1 the file
 * is damaged. */
int recipmap_has(const struct recipmap *m, const char *key, size_t klen);

/* recipmap_domain - what the map says about a normalized domain: 2
 * catch-all, 1 listed (it has addresses), 0 unknown, -1 damaged. */
int recipmap_domain(const struct recipmap *m, const char *domain);

/* A recipient to look up: its local part and the lengths of the forms to
 * try, "user-a-b" -> "user-a-b", "user-a", "user" (extensions, chkuser). */
#define RECIPMAP_MAX_FORMS 8
struct recipmap_query {
    char local[64 + 1];
    size_t len[RECIPMAP_MAX_FORMS];
    size_t n;
};

/* recipmap_query_make - the forms of local (dequoted, at most 64 bytes)
 * with every separator character of sep ("" none), longest first. */
void recipmap_query_make(struct recipmap_query *q, const char *local, const char *sep);

/* recipmap_lookup - each form as form@domain, then the domain's entry:
 * 1 found (or catch-all), 0 not found in a listed domain, 2 the map does
 * not know the domain, -1 damaged file. */
int recipmap_lookup(const struct recipmap *m, const struct recipmap_query *q, const char *domain);

/* recipmap_fold - lowercase the ASCII letters of n bytes of s in place. */
void recipmap_fold(char *s, size_t n);

#endif
