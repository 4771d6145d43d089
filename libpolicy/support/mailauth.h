/*
 * mailauth.h - the parts of message authentication we read and write
 * ourselves, around libopendkim and libopendmarc: the domains of a From
 * header (RFC 5322 address lists), the Authentication-Results header
 * (RFC 8601: the authserv-id of one we find, the one we write), and
 * qmail-dk's DKVERIFY and qmail-dkim's DKIMVERIFY letters for a DKIM
 * outcome.  Pure functions on bounded input: no I/O, no allocation.
 */
#ifndef LIBPOLICY_MAILAUTH_H
#define LIBPOLICY_MAILAUTH_H

#include <stddef.h>

#define MAILAUTH_DOMAIN_MAX 255
#define MAILAUTH_INPUT_MAX  (64 * 1024) /* of a header value we look at */

/* ------------------------------------------------------------ From */

/*
 * mailauth_from_domains - the domain of each mailbox of a From header
 * value (display names, comments, quoted strings, groups and obsolete
 * routes understood), lower case without a trailing dot, at most max of
 * them in out.  Returns the number of mailboxes found (may exceed max);
 * *bad counts those without a usable domain (no '@', a domain literal, a
 * name that is no domain); their places in out hold "".  Reads at most
 * MAILAUTH_INPUT_MAX bytes.
 */
size_t mailauth_from_domains(const char *value, size_t len, char (*out)[MAILAUTH_DOMAIN_MAX + 1],
                             size_t max, size_t *bad);

/* ------------------------------------------------------------ Authentication-Results */

/* mailauth_authserv_id - the authserv-id of an Authentication-Results
 * value (its first token or quoted string, comments skipped), into out.
 * 0, or -1 when there is none or it does not fit. */
int mailauth_authserv_id(const char *value, size_t len, char *out, size_t outlen);

/* Writing one header value: "authserv-id;" then one result per folded
 * line.  Everything lands in the caller's buffer; a result that does not
 * fit is left out whole (truncated is set), so the value is always
 * well-formed. */
struct mailauth_ar {
    char *buf;
    size_t cap, len;
    size_t mark;   /* where the result being written began */
    int nresults;
    int truncated; /* a result was left out */
    int open;      /* a result is being written */
};

/* mailauth_ar_begin - start a value for authserv_id (a host name; any
 * byte that cannot be in a token is dropped). */
void mailauth_ar_begin(struct mailauth_ar *ar, char *buf, size_t cap, const char *authserv_id);
/* mailauth_ar_result - "method=result", with "(comment)" when comment is
 * given (made printable; parentheses and backslashes escaped). */
void mailauth_ar_result(struct mailauth_ar *ar, const char *method, const char *result,
                        const char *comment);
/* mailauth_ar_prop - " ptype.property=value" for the result being written:
 * the value as a token, a local-part@domain, or else a quoted string. */
void mailauth_ar_prop(struct mailauth_ar *ar, const char *prop, const char *value);
/* mailauth_ar_end - finish: "none" when no result was written.  Returns
 * the value (NUL-terminated, folded with CRLF TAB, no trailing CRLF). */
const char *mailauth_ar_end(struct mailauth_ar *ar);

/* ------------------------------------------------------------ DKIM outcomes and letters */

/* What became of one signature (or of an unsigned message), and how it
 * reads in Authentication-Results, for qmail-dk and for qmail-dkim. */
enum mailauth_dkim {
    MA_DKIM_PASS,        /* verified */
    MA_DKIM_PARTIAL,     /* verified on l= bytes of a longer body */
    MA_DKIM_NONE,        /* the message has no signature */
    MA_DKIM_BADSIG,      /* the signature does not match the headers */
    MA_DKIM_BODYHASH,    /* the body does not match bh= */
    MA_DKIM_TESTING,     /* it failed, and the key says t=y: as if unsigned */
    MA_DKIM_NOKEY,       /* no key record for s=, d= */
    MA_DKIM_BADKEY,      /* the key record is unusable */
    MA_DKIM_KEYALG,      /* the key's k=/h= do not allow the signature's a= */
    MA_DKIM_DNS,         /* the key could not be fetched now (timeout, SERVFAIL) */
    MA_DKIM_SYNTAX,      /* the DKIM-Signature header is malformed */
    MA_DKIM_RESOURCE,    /* out of memory or another resource, here */
    MA_DKIM_UNSUPPORTED, /* a version, algorithm, canonicalization or query we do not know */
    MA_DKIM_REVOKED,     /* the key record has an empty p= */
    MA_DKIM_INTERNAL,    /* libopendkim failed in an unexpected way */
    MA_DKIM_IDENTITY,    /* i= is not within d=, or the key (t=s) forbids a subdomain */
    MA_DKIM_FROM,        /* From is not signed, or the message has several From headers */
    MA_DKIM_EXPIRED,     /* x= has passed */
    MA_DKIM_NAMELONG,    /* selector._domainkey.domain is longer than a DNS name */
    MA_DKIM_COUNT
};

/* mailauth_dkim_result - the RFC 8601 result: pass, fail, none, policy,
 * neutral, temperror or permerror. */
const char *mailauth_dkim_result(enum mailauth_dkim o);
/* mailauth_dkim_reason - a short English reason for the comment and log. */
const char *mailauth_dkim_reason(enum mailauth_dkim o);
/* mailauth_dk_letter - qmail-dk's DKVERIFY letter (upper case), from the
 * libdomainkey status it stands for: A OK, B BADSIG, C NOSIG, D NOKEY,
 * E BADKEY, F CANTVRFY, G SYNTAX, H NORESOURCE, I ARGS, J REVOKED,
 * K INTERNAL, L GRANULARITY, M DUPLICATE. */
char mailauth_dk_letter(enum mailauth_dkim o);
/* mailauth_dkim_letter - qmail-dkim's DKIMVERIFY letter (upper case), from
 * libdkim's codes: A SUCCESS ... E SUCCESS_BUT_EXTRA, G FAIL, H BAD_SYNTAX,
 * I SIGNATURE_BAD, J ..._BUT_TESTING, K EXPIRED, M GRANULARITY_MISMATCH,
 * N KEY_REVOKED, O DOMAIN_NAME_TOO_LONG, P DNS_TEMP_FAILURE,
 * Q DNS_PERM_FAILURE, R PUBLIC_KEY_INVALID, S NO_SIGNATURES,
 * U BODY_HASH_MISMATCH, V ALGORITHM_MISMATCH, W STAT_INCOMPAT,
 * X UNSIGNED_FROM. */
char mailauth_dkim_letter(enum mailauth_dkim o);

/* What a letter set says about one letter. */
enum mailauth_act { MA_ACT_NONE = 0, MA_ACT_TEMPORARY, MA_ACT_PERMANENT };

/* mailauth_letters_act - is letter (upper case) in set?  Upper case there
 * is a permanent refusal, lower case a temporary one (upper case wins when
 * both are there, as in qmail-dk).  Bytes that are no letters are ignored.
 * set NULL: none. */
enum mailauth_act mailauth_letters_act(const char *set, char letter);
/* mailauth_letters_ok - a set made of letters up to last (upper case:
 * 'M' for DKVERIFY, 'X' for DKIMVERIFY), either case; "" is fine. */
int mailauth_letters_ok(const char *set, char last);

/* ------------------------------------------------------------ body length */

/* The length of a body after DKIM canonicalization (RFC 6376 3.4.3 simple,
 * 3.4.4 relaxed), counted as the body streams by: what an l= tag must
 * cover to sign all of it.  Line ends are LF or CRLF (a lone CR is text). */
struct mailauth_canon {
    int relaxed;
    unsigned long long total; /* bytes up to the last line that is not empty */
    unsigned long long empty; /* empty lines since then */
    unsigned long long line;  /* the line being read */
    int ws;                   /* relaxed: blanks seen, not written yet */
    int cr;                   /* a CR waits for its LF */
};
void mailauth_canon_init(struct mailauth_canon *c, int relaxed);
void mailauth_canon_feed(struct mailauth_canon *c, const char *p, size_t n);
/* mailauth_canon_end - the canonical length of all that was fed. */
unsigned long long mailauth_canon_end(struct mailauth_canon *c);

#endif /* LIBPOLICY_MAILAUTH_H */
