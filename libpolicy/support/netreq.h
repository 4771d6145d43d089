/*
 * netreq.h - one request and its reply over a stream socket, driven by a
 * session's waiter: the transport under the clamd and spamd clients.
 *
 * A server list names unix sockets and TCP endpoints, tried in order: a
 * refused, failed or timed-out connect moves to the next server.  Once
 * connected, the request is produced piece by piece by its owner (so a
 * message streams from the spool and is never held whole) while the reply
 * is read into a bounded buffer; the whole exchange is bounded by the I/O
 * timeout.  Nothing blocks: every wait is the waiter's, bounded by the
 * deadlines given here.  A request is reused from message to message; it
 * belongs to one session, one thread at a time.  Server lists are
 * immutable once parsed and may be shared by every thread.
 */
#ifndef LIBPOLICY_NETREQ_H
#define LIBPOLICY_NETREQ_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "waiter.h"

#define NETREQ_MAX_SERVERS 8
#define NETREQ_NAME_MAX    120 /* a server's name for logs ("unix:/run/clamd.ctl") */

/* A message reader: up to len bytes from offset off; the count, 0 at the
 * end, -1 on a read error.  spool_read() has this shape. */
typedef ssize_t (*netreq_read_fn)(void *ctx, uint64_t off, void *buf, size_t len);

struct netreq_server {
    struct sockaddr_storage addr;
    socklen_t addrlen;
    char name[NETREQ_NAME_MAX];
};

struct netreq_servers {
    size_t n;
    struct netreq_server s[NETREQ_MAX_SERVERS];
};

/* netreq_parse_servers - "unix:/path" (or just "/path"), "inet:HOST:PORT"
 * (or "HOST:PORT"; "[IPv6]:PORT" for a literal IPv6 address), a list
 * like every other (WORDS_SEP: blanks or commas), in the order they are
 * to be tried.  Host names are
 * resolved here, once (configuration load), never during a request; a name
 * with several addresses gives one server each.  0, or -1 with err set. */
int netreq_parse_servers(const char *spec, struct netreq_servers *out, char *err, size_t errlen);

enum netreq_state {
    NETREQ_IDLE = 0, /* never started, or cancelled */
    NETREQ_BUSY,     /* connecting or talking */
    NETREQ_DONE,     /* a reply was read (complete, cut at the buffer, or ended by the server) */
    NETREQ_FAILED    /* no reply: why says what went wrong */
};

/* What a request's owner provides. */
struct netreq_ops {
    /* produce - the next bytes of the request into buf (at most cap);
     * the count, 0 when the request is complete, -1 on failure with *why
     * set to a short static text.  Called only once connected. */
    ssize_t (*produce)(void *ctx, unsigned char *buf, size_t cap, const char **why);
    /* complete - the reply read so far (NUL-terminated, len bytes) is a
     * whole answer: stop reading.  The end of the connection or a full
     * buffer ends the reply too. */
    int (*complete)(void *ctx, const char *reply, size_t len);
};

struct netreq;

/* netreq_new - a request whose pieces are produced into a buffer of
 * out_cap bytes and whose reply is kept up to in_cap - 1 bytes; NULL when
 * out of memory. */
struct netreq *netreq_new(size_t out_cap, size_t in_cap);
/* netreq_free - cancel (netreq_cancel) and free; NULL is ok. */
void netreq_free(struct netreq *r);

/* netreq_start - connect to the first server that accepts (each connect
 * bounded by connect_ms) and exchange request and reply within io_ms of
 * the connection.  The request is added to w and takes itself out when it
 * is finished.  servers and ctx must outlive the request.  A request
 * still busy is cancelled first.  Returns 0, or -1 when it failed at once
 * (netreq_state() is NETREQ_FAILED, netreq_why() says why). */
int netreq_start(struct netreq *r, struct waiter *w, const struct netreq_servers *servers,
                 unsigned connect_ms, unsigned io_ms, const struct netreq_ops *ops, void *ctx);
/* netreq_cancel - stop now: the connection is closed, the request leaves
 * its waiter and goes back to NETREQ_IDLE. */
void netreq_cancel(struct netreq *r);

/* netreq_wait - run the request's waiter (every source on it makes
 * progress) until the request is finished, or until the absolute deadline
 * (waiter_now_ms(); 0: the request's own); a request still busy then
 * fails as timed out.  Returns 0, -1 when it gave up waiting. */
int netreq_wait(struct netreq *r, double deadline);

enum netreq_state netreq_state(const struct netreq *r);
/* netreq_finished - non-zero once DONE or FAILED (a waiter_run done test). */
int netreq_finished(void *r);
/* netreq_reply - the reply read (NUL-terminated; may hold NUL bytes of its own). */
const char *netreq_reply(const struct netreq *r, size_t *len);
/* netreq_sent - the whole request went out (produce() said it was
 * complete and the socket took every byte). */
int netreq_sent(const struct netreq *r);
/* netreq_why - for NETREQ_FAILED: a short static text for the log. */
const char *netreq_why(const struct netreq *r);
/* netreq_server - the index of the server that answered (or was tried
 * last), -1 before any. */
int netreq_server(const struct netreq *r);
/* netreq_elapsed_ms - from start to finish (so far, while busy). */
double netreq_elapsed_ms(const struct netreq *r);

#endif /* LIBPOLICY_NETREQ_H */
