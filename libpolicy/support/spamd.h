/*
 * spamd.h - a non-blocking SpamAssassin spamd client (protocol SPAMC/1.5:
 * CHECK, SYMBOLS, REPORT) over a unix or TCP socket, as a source of the
 * session's waiter, so the check runs beside clamd and DNS at end of
 * message.
 *
 * Two phases, like clamd.h: spamd_scan_start() connects and streams the
 * message from the caller's reader, spamd_scan_collect() waits for the
 * answer.  Servers are tried in order (a refused, failed or timed-out
 * connect moves to the next); a wait costs at most connect_ms per server
 * tried plus timeout_ms once connected.  A message over max_size is not
 * sent at all (SPAMD_SKIPPED), as spamc does.
 *
 * The answer is untrusted: numbers are read without the locale, the
 * symbols are rule names ([A-Za-z0-9_.-], comma separated) and the report
 * is printable ASCII lines separated by '\n', both bounded.  A layer must
 * still fold the report before it puts it into a header.
 *
 * Ownership: a struct spamd is immutable once made and shared by every
 * thread; a struct spamd_scan belongs to one session and is reused.
 */
#ifndef LIBPOLICY_SPAMD_H
#define LIBPOLICY_SPAMD_H

#include <stddef.h>
#include <stdint.h>

#include "netreq.h"
#include "waiter.h"

#define SPAMD_SYMBOLS_MAX    1024   /* bytes of the symbols list, NUL included */
#define SPAMD_REPORT_MAX     4096   /* bytes of the report text, NUL included */
#define SPAMD_REPLY_MAX      16384  /* reply bytes read; a longer report is cut */
#define SPAMD_USER_MAX       128    /* bytes of a User: name */
#define SPAMD_MAX_SIZE_DEF   512000 /* spamc's default: 500 KB */
#define SPAMD_CONNECT_MS_DEF 2000
#define SPAMD_TIMEOUT_MS_DEF 30000

enum spamd_cmd {
    SPAMD_CHECK,   /* spam or not, score and threshold */
    SPAMD_SYMBOLS, /* ... and the names of the rules that hit */
    SPAMD_REPORT   /* ... and the report text */
};

enum spamd_status {
    SPAMD_PENDING = 0,
    SPAMD_HAM,
    SPAMD_SPAM,
    SPAMD_SKIPPED, /* over max_size: not sent (why says so) */
    SPAMD_ERROR    /* no usable answer: why says what went wrong */
};

struct spamd_result {
    enum spamd_status status;
    double score, threshold;
    int code;                        /* spamd's status code (0: EX_OK), -1 when none was read */
    char symbols[SPAMD_SYMBOLS_MAX]; /* SYMBOLS: "GTUBE,NO_RECEIVED"; else "" */
    char report[SPAMD_REPORT_MAX];   /* REPORT: the text; else "" */
    int truncated;                   /* symbols or report were cut at their bound */
    const char *why;                 /* ERROR, SKIPPED: a short static text; else "" */
};

struct spamd_settings {
    unsigned connect_ms; /* each server's connect (0: SPAMD_CONNECT_MS_DEF) */
    unsigned timeout_ms; /* from the connection to the answer (0: SPAMD_TIMEOUT_MS_DEF) */
    uint64_t max_size;   /* bigger messages are SKIPPED (0: SPAMD_MAX_SIZE_DEF) */
};

struct spamd;
struct spamd_scan;

/* spamd_new - servers as netreq_parse_servers() reads them; set may be
 * NULL for the defaults.  NULL with err set on a bad list or no memory. */
struct spamd *spamd_new(const char *servers, const struct spamd_settings *set, char *err,
                        size_t errlen);
void spamd_free(struct spamd *sd);
size_t spamd_server_count(const struct spamd *sd);
const char *spamd_server_name(const struct spamd *sd, size_t i);

struct spamd_scan *spamd_scan_new(void);
void spamd_scan_free(struct spamd_scan *s);

/* spamd_scan_start - ask spamd for cmd about size bytes read through
 * reader(ctx, ...), for user (a User: header; NULL or "" for none; printable
 * ASCII without blanks, else the scan is an ERROR).  sd, w and ctx must
 * outlive the scan; a scan still running is cancelled first. */
void spamd_scan_start(struct spamd_scan *s, const struct spamd *sd, struct waiter *w,
                      enum spamd_cmd cmd, const char *user, netreq_read_fn reader, void *ctx,
                      uint64_t size);
int spamd_scan_done(const struct spamd_scan *s);
/* spamd_scan_collect - wait (running the waiter) for the answer; valid
 * until the next start or free. */
const struct spamd_result *spamd_scan_collect(struct spamd_scan *s);
void spamd_scan_cancel(struct spamd_scan *s);
const char *spamd_scan_server(const struct spamd_scan *s);
double spamd_scan_elapsed_ms(const struct spamd_scan *s);

/* spamd_parse_reply - spamd's answer to cmd, len bytes so far.  Pure.
 * Returns 0 while more bytes are needed to decide (only when final is 0),
 * else 1 with r filled in: HAM or SPAM with score and threshold (and the
 * symbols or report of cmd), or ERROR with why.  final says the bytes end
 * here (the server closed, or the buffer is full). */
int spamd_parse_reply(const char *buf, size_t len, enum spamd_cmd cmd, int final,
                      struct spamd_result *r);
/* spamd_status_name - "ham", "spam", "skipped", ... for logs and tools. */
const char *spamd_status_name(enum spamd_status s);

#endif /* LIBPOLICY_SPAMD_H */
