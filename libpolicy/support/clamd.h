/*
 * clamd.h - a non-blocking clamd client: INSTREAM over a unix or TCP
 * socket, as a source of the session's waiter, so a scan runs beside the
 * other questions of end of message (spamd, DNS) instead of after them.
 *
 * Two phases: clamd_scan_start() connects and starts streaming, other work
 * runs, clamd_scan_collect() waits (through the waiter) until the answer
 * is in.  The message is read through the caller's reader in chunks (a
 * spool streams from its file), never held whole here.  Servers are tried
 * in order: a refused, failed or timed-out connect moves to the next one.
 * A wait costs at most connect_ms per server tried plus timeout_ms once
 * connected, whatever the server does.
 *
 * Ownership: a struct clamd (server list and limits) is immutable once
 * made and shared by every thread; a struct clamd_scan belongs to one
 * session (one thread at a time) and is reused from message to message.
 */
#ifndef LIBPOLICY_CLAMD_H
#define LIBPOLICY_CLAMD_H

#include <stddef.h>
#include <stdint.h>

#include "netreq.h"
#include "virus.h"
#include "waiter.h"

#define CLAMD_CHUNK          65536 /* bytes of message per INSTREAM chunk */
#define CLAMD_REPLY_MAX      1024  /* reply bytes read; the rest is ignored */
#define CLAMD_CONNECT_MS_DEF 2000
#define CLAMD_TIMEOUT_MS_DEF 30000

struct clamd_settings {
    unsigned connect_ms; /* each server's connect (0: CLAMD_CONNECT_MS_DEF) */
    unsigned timeout_ms; /* from the connection to the answer (0: CLAMD_TIMEOUT_MS_DEF) */
    uint64_t max_size;   /* a bigger message is VIRUS_TOO_BIG without being sent (0: no limit) */
};

struct clamd;
struct clamd_scan;

/* clamd_new - servers as netreq_parse_servers() reads them ("unix:PATH",
 * "inet:HOST:PORT", in order); set may be NULL for the defaults.  NULL
 * with err set on a bad list or no memory. */
struct clamd *clamd_new(const char *servers, const struct clamd_settings *set, char *err,
                        size_t errlen);
void clamd_free(struct clamd *cd);
size_t clamd_server_count(const struct clamd *cd);
const char *clamd_server_name(const struct clamd *cd, size_t i);

/* clamd_scan_new - a scan slot for one session; NULL when out of memory. */
struct clamd_scan *clamd_scan_new(void);
/* clamd_scan_free - cancel what runs and free; NULL is ok. */
void clamd_scan_free(struct clamd_scan *s);

/* clamd_scan_start - scan size bytes read through reader(ctx, ...) with the
 * servers of cd, on waiter w.  cd, w and the reader's ctx must outlive the
 * scan.  A message over cd's max_size is VIRUS_TOO_BIG at once; a scan
 * still running is cancelled first. */
void clamd_scan_start(struct clamd_scan *s, const struct clamd *cd, struct waiter *w,
                      netreq_read_fn reader, void *ctx, uint64_t size);
/* clamd_scan_done - non-zero once the answer is in (or the scan gave up). */
int clamd_scan_done(const struct clamd_scan *s);
/* clamd_scan_collect - wait (running the waiter, so other sources make
 * progress too) until the answer is in, and return it.  Never longer than
 * the timeouts; valid until the next start or free. */
const struct virus_result *clamd_scan_collect(struct clamd_scan *s);
/* clamd_scan_cancel - give up now (the connection is closed). */
void clamd_scan_cancel(struct clamd_scan *s);
/* clamd_scan_server - the server that answered (or was tried last), "" before any. */
const char *clamd_scan_server(const struct clamd_scan *s);
/* clamd_scan_elapsed_ms - the time from start to answer. */
double clamd_scan_elapsed_ms(const struct clamd_scan *s);

/* clamd_ping - health check of server i: zPING answered by PONG within
 * timeout_ms (connect included).  0, or -1 with *why a static text. */
int clamd_ping(const struct clamd *cd, size_t i, unsigned timeout_ms, const char **why);

/* clamd_parse_reply - what clamd's answer to zINSTREAM says: the first
 * line (ended by NUL or newline) of len bytes.  Pure: network bytes in, a
 * sanitized result out.  "stream: OK" is CLEAN, "stream: NAME FOUND"
 * INFECTED (or ENCRYPTED), "INSTREAM size limit exceeded. ERROR" TOO_BIG,
 * anything else ERROR. */
void clamd_parse_reply(const char *buf, size_t len, struct virus_result *r);
/* clamd_parse_pong - 0 when the reply is PONG, else -1. */
int clamd_parse_pong(const char *buf, size_t len);

#endif /* LIBPOLICY_CLAMD_H */
