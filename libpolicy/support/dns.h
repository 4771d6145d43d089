/*
 * dns.h - the DNS subsystem: one c-ares channel per session, every
 * question of a stage sent at once, answers collected later.
 *
 * Three outcomes are kept apart: DNS_FOUND (an answer), DNS_NOTFOUND
 * (NXDOMAIN or no data: a definite "no") and DNS_ERROR (no answer:
 * timeout, SERVFAIL, REFUSED, a malformed reply).  Answers are bounded and
 * sanitized before anyone sees them: names are host names of at most 255
 * bytes (lower case), TXT strings printable ASCII of a bounded length.
 * Every record of the answer is kept, however many arrived (c-ares asks
 * again over TCP when a UDP answer is truncated, so that is up to a 64 KiB
 * message), in one allocation sized to them.
 *
 * Ownership: a struct dns belongs to one session and one thread at a time.
 * Questions (struct dns_q) belong to the struct dns; their owner drops
 * interest with dns_release_group() and the memory goes with dns_free().
 */
#ifndef LIBPOLICY_DNS_H
#define LIBPOLICY_DNS_H

#include <stddef.h>

#define DNS_NAME_MAX    255
#define DNS_TXT_MAX     450   /* DNSBL reasons */
#define DNS_TXT_MAX_SPF 65535 /* SPF records: as long as one DNS message carries */
/* questions one resolver holds at once, answered or not: far above what a
 * session asks (tens per transaction), a bound for one that repeats stages */
#define DNS_MAX_QUESTIONS 1000

/* Record types we ask for (the RFC 1035 numbers). */
enum dns_type { DNS_A = 1, DNS_PTR = 12, DNS_MX = 15, DNS_TXT = 16, DNS_AAAA = 28 };

enum dns_status {
    DNS_PENDING = 0, /* not answered yet */
    DNS_FOUND,       /* at least one usable record */
    DNS_NOTFOUND,    /* NXDOMAIN, or the name has no usable record of this type */
    DNS_ERROR        /* no answer: timeout, SERVFAIL, REFUSED, malformed */
};

struct dns_rr {
    unsigned char addr[16]; /* A: the first 4 bytes; AAAA: 16 */
    unsigned pref;          /* MX preference */
    char *text;             /* PTR/MX: host name; TXT: one record's strings joined */
};

struct dns_answer {
    enum dns_status status;
    int type;
    const char *why; /* for DNS_ERROR/NOTFOUND: a short static text for the log */
    unsigned ttl;
    int null_mx;       /* MX: "MX 0 ." (RFC 7505), the domain takes no mail; not in rr */
    size_t n;          /* records in rr: every usable one of the answer */
    struct dns_rr *rr; /* NULL when n is 0; the texts share its allocation */
};

struct dns;
struct dns_q;

/* Called once when a question is answered or gives up (never after release). */
typedef void (*dns_cb)(struct dns_q *q, void *arg);

/* dns_new - a resolver on the poll set w (the session's: waiting for DNS
 * answers moves every other socket of the session too): servers "IP",
 * "IP:PORT", "[IPv6]:PORT" separated by spaces or commas, or NULL for
 * /etc/resolv.conf; timeout_ms bounds each question.  /etc/hosts is never
 * read.  NULL with err set on failure. */
struct waiter;
struct dns *dns_new(struct waiter *w, const char *servers, unsigned timeout_ms, char *err,
                    size_t errlen);
/* dns_servers_check - the number of servers in such a list (any number: they
 * are handed to c-ares as a list, never through a fixed buffer), or -1 with
 * the first word that is not a server address in bad. */
int dns_servers_check(const char *list, char *bad, size_t badlen);
/* dns_free - cancel everything and free every question. NULL is ok. */
void dns_free(struct dns *d);
unsigned dns_timeout_ms(const struct dns *d);
/* dns_questions - the questions d holds now (at most DNS_MAX_QUESTIONS). */
size_t dns_questions(const struct dns *d);

/* dns_now_ms - monotonic milliseconds, for deadlines. */
double dns_now_ms(void);

/* dns_start - send one question now.  group ties it to its owner (for
 * dns_wait and dns_release_group); deadline is absolute (dns_now_ms()
 * based), 0 for now + the resolver's timeout; txt_max bounds TXT records.
 * Returns NULL when the question cannot even be asked: a name that fails
 * dns_qname_ok() (no such name can exist), no memory, or DNS_MAX_QUESTIONS
 * held already (DNS_ERROR). */
struct dns_q *dns_start(struct dns *d, const void *group, const char *name, enum dns_type type,
                        size_t txt_max, double deadline, dns_cb cb, void *arg);
/* dns_qname_ok - a name dns_start() would ask about (looser than a host
 * name: SPF macros put local parts into names); a trailing dot is fine. */
int dns_qname_ok(const char *name);
/* dns_answer_of - the answer so far (status DNS_PENDING while waiting). */
const struct dns_answer *dns_answer_of(const struct dns_q *q);
double dns_deadline_of(const struct dns_q *q);

/* dns_wait - process answers until no question of group is pending (each
 * gives up at its own deadline): the wait lasts as long as the slowest. */
void dns_wait(struct dns *d, const void *group);
/* dns_poll - hand out whatever answers have arrived, without waiting (so a
 * name is known, and the question that depends on it sent, as early as
 * possible). */
void dns_poll(struct dns *d);
/* dns_pending - questions of group still waiting (no blocking). */
size_t dns_pending(struct dns *d, const void *group);
/* dns_release_group - the owner is gone: no more callbacks, memory reused. */
void dns_release_group(struct dns *d, const void *group);

/* dns_parse - turn a raw reply into a bounded, sanitized answer: the part
 * the network feeds us, kept apart so it can be fuzzed.  Sets a->status:
 * FOUND, NOTFOUND (NXDOMAIN, no record of the type, or only PTR/MX names
 * that are no host names, which are skipped) or ERROR (a reply that breaks
 * the format anywhere in its answer section, no memory).  Free with
 * dns_answer_clear(). */
void dns_parse(int type, const unsigned char *buf, int len, size_t txt_max, struct dns_answer *a);
void dns_answer_clear(struct dns_answer *a);

/* dns_hostname_ok - a usable host name: LDH labels (and '_'), <= 255. */
int dns_hostname_ok(const char *name, size_t len);

/* dns_reverse_name - "4.3.2.1.zone" or the 32 IPv6 nibbles + zone ("" zone:
 * the in-addr.arpa / ip6.arpa name).  0, or -1 when it does not fit. */
int dns_reverse_name(int family, const unsigned char *addr, const char *zone, char *out,
                     size_t outlen);

#endif /* LIBPOLICY_DNS_H */
