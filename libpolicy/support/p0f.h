/*
 * p0f.h - what p0f 3 (the passive OS fingerprinter) knows about a client
 * address, asked over its API socket (p0f -s PATH) as one source of the
 * session's waiter.  p0f not running, not knowing the address, slow or
 * answering nonsense all give P0F_UNKNOWN with a reason; nothing ever
 * waits beyond the timeout.
 *
 * The API (p0f 3.09b api.h), in the host's byte order since both ends run
 * on one machine: a 21-byte query (magic 0x50304601, address type 4 or 6,
 * 16 address bytes, left-aligned) and a 232-byte reply (magic 0x50304602,
 * status 0x10 ok / 0x20 no match / 0x00 bad query, seven 32-bit times and
 * counts, a 16-bit distance, two flag bytes, six 32-byte strings).
 *
 * A struct p0f_q belongs to one session and one thread at a time; the
 * caller frees it with p0f_free (which takes it out of the waiter).
 */
#ifndef LIBPOLICY_P0F_H
#define LIBPOLICY_P0F_H

#include <stddef.h>
#include <stdint.h>

struct waiter;

#define P0F_QUERY_LEN 21
#define P0F_REPLY_LEN 232
#define P0F_STR_LEN   32 /* each string, NUL included */

enum p0f_status {
    P0F_PENDING = 0, /* not answered yet */
    P0F_KNOWN,       /* p0f matched an OS for the address: os_name is set */
    P0F_UNKNOWN      /* no OS: why says what happened */
};

struct p0f_answer {
    enum p0f_status status;
    const char *why; /* P0F_UNKNOWN: a short static text for the log */
    /* as p0f reported them (P0F_KNOWN, or UNKNOWN with no OS match) */
    uint32_t first_seen, last_seen; /* unix time */
    uint32_t total_conn;
    uint32_t uptime_min, up_mod_days;
    uint32_t last_nat, last_chg; /* unix time, 0 = never */
    int16_t distance;            /* network hops, -1 unknown */
    uint8_t bad_sw;              /* 1 the OS contradicts the User-Agent, 2 outright lie */
    uint8_t os_match_q;          /* 1 fuzzy, 2 generic signature */
    /* NUL-terminated, printable ASCII (others become '?'), "" when unset */
    char os_name[P0F_STR_LEN], os_flavor[P0F_STR_LEN];
    char http_name[P0F_STR_LEN], http_flavor[P0F_STR_LEN];
    char link_type[P0F_STR_LEN], language[P0F_STR_LEN];
};

/* p0f_query_encode - the query for an IPv4 or IPv6 address in text (an
 * IPv4-mapped IPv6 address is asked as IPv4); 0, or -1 when ip is not an
 * address. */
int p0f_query_encode(const char *ip, unsigned char out[P0F_QUERY_LEN]);
/* p0f_parse - a reply into *a (status KNOWN or UNKNOWN with why): pure,
 * bounded, and fuzzed. */
void p0f_parse(const void *buf, size_t len, struct p0f_answer *a);

/* OS rules, as a configuration names them: p0f's genre ("Windows", "Mac
 * OS X") and optionally the start of its flavor after a colon
 * ("Windows:XP", "Windows:7 or 8"), and for weighted lists a weight after
 * a star ("Windows*2", "Linux*-1"); rules separated by commas (p0f's names
 * hold blanks); case does not matter. */
#define P0F_RULES_MAX 32
struct p0f_rule {
    char genre[P0F_STR_LEN];
    char flavor[P0F_STR_LEN]; /* "": any */
    int weight;               /* weighted lists: non-zero; else 0 */
};
struct p0f_rules {
    struct p0f_rule v[P0F_RULES_MAX];
    size_t n;
};
/* p0f_rules_add - append the rules of text ("Windows, Mac OS X, Windows:XP";
 * weighted: "Windows*2, Linux*-1", weights from -100 to 100, not 0); 0, -1
 * when a rule is malformed, -2 when more than P0F_RULES_MAX (r is then
 * partly filled: the configuration is refused anyway). */
int p0f_rules_add(struct p0f_rules *r, const char *text, int weighted);
/* p0f_rules_match - the first rule of r that a P0F_KNOWN answer matches,
 * or NULL. */
const struct p0f_rule *p0f_rules_match(const struct p0f_rules *r, const struct p0f_answer *a);
/* p0f_rule_text - "Windows:XP" (the rule as written, without its weight). */
void p0f_rule_text(const struct p0f_rule *r, char *out, size_t len);

struct p0f_q;

/* p0f_start - ask p0f at socket_path about ip, answered by timeout_ms from
 * now.  p0f reads packets in blocks (libpcap's buffer timeout), so right
 * after a client connects it may not have seen the SYN yet: with retry_ms
 * non-zero, "not seen" is asked again every retry_ms until the timeout
 * (so an address p0f never sees costs the whole timeout; start the
 * question at connect and collect it later).  w: the session's waiter
 * (NULL: a private one).  A question that fails at once (no such socket,
 * bad address) is answered at once.  NULL only when out of memory. */
struct p0f_q *p0f_start(struct waiter *w, const char *socket_path, const char *ip,
                        unsigned timeout_ms, unsigned retry_ms);
/* p0f_done - the answer is in (or given up). */
int p0f_done(const struct p0f_q *q);
/* p0f_wait - poll until done; never longer than the timeout. */
void p0f_wait(struct p0f_q *q);
/* p0f_answer_of - the answer (status P0F_PENDING while waiting). */
const struct p0f_answer *p0f_answer_of(const struct p0f_q *q);
/* p0f_free - close and forget the question; NULL is ok. */
void p0f_free(struct p0f_q *q);

#endif /* LIBPOLICY_P0F_H */
