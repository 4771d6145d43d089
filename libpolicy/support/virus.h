/*
 * virus.h - what a virus scan says, the same whoever scanned: clamd over a
 * socket (clamd.h) or libclamav in process (clamav.h).  A layer turns the
 * status into a verdict without knowing which scanner ran.
 *
 * The signature name comes from the scanner and, for clamd, from the
 * network: it is kept as printable ASCII without blanks, at most
 * VIRUS_NAME_MAX - 1 bytes, before anyone sees it.
 */
#ifndef LIBPOLICY_VIRUS_H
#define LIBPOLICY_VIRUS_H

#include <stddef.h>

#define VIRUS_NAME_MAX 128

enum virus_status {
    VIRUS_PENDING = 0, /* not scanned yet */
    VIRUS_CLEAN,
    VIRUS_INFECTED,  /* name holds the signature */
    VIRUS_ENCRYPTED, /* an encrypted archive or document (Heuristics.Encrypted.*, in name) */
    VIRUS_TOO_BIG,   /* over the scanner's size limit or ours: not scanned whole */
    VIRUS_ERROR      /* no answer; why says what went wrong */
};

struct virus_result {
    enum virus_status status;
    char name[VIRUS_NAME_MAX]; /* the signature of INFECTED, ENCRYPTED (and of a TOO_BIG alert);
                                  else "" */
    const char *why;           /* ERROR, TOO_BIG: a short static text for the log; else "" */
};

/* virus_found - r becomes INFECTED with the signature name (len bytes,
 * need not be terminated); ENCRYPTED for a Heuristics.Encrypted.* alert,
 * TOO_BIG for Heuristics.Limits.Exceeded.* (a part over a scan limit, when
 * the scanner is asked to say so).  The name is sanitized and bounded. */
void virus_found(struct virus_result *r, const char *name, size_t len);
/* virus_set - r becomes status with a static reason (NULL: ""). */
void virus_set(struct virus_result *r, enum virus_status status, const char *why);
/* virus_status_name - "clean", "infected", ... for logs and tools. */
const char *virus_status_name(enum virus_status s);

#endif /* LIBPOLICY_VIRUS_H */
