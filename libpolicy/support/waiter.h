/*
 * waiter.h - one poll set per session for every socket a stage waits on:
 * the resolver (c-ares), clamd, spamd, Redis, p0f.  Questions are started
 * by their clients; the waiter polls them all at once, so a stage waits as
 * long as its slowest question, never for the sum, and every wait is
 * bounded by the deadlines the sources give.
 *
 * A source is anything with file descriptors to watch and a deadline: the
 * client embeds a struct wsource, fills in its ops and adds it.  The
 * waiter owns no source; a source removes itself (waiter_del) before it is
 * freed.  One waiter per session, one thread at a time; nothing here
 * allocates after waiter_new.
 */
#ifndef LIBPOLICY_WAITER_H
#define LIBPOLICY_WAITER_H

#include <poll.h>

#define WAITER_MAX_FDS 128 /* descriptors polled at once, all sources together */

struct wsource;

struct wsource_ops {
    /* fds - the descriptors this source waits on now, at most max, with
     * their events; *deadline is the absolute time (waiter_now_ms()) by
     * which process() must be called even without I/O, 0 for none.  A
     * source with nothing to wait for returns 0 and leaves *deadline 0. */
    int (*fds)(struct wsource *src, struct pollfd *pfd, int max, double *deadline);
    /* process - the poll returned: pfd holds this source's n descriptors
     * with revents filled in (n may be 0 when only time passed); now is the
     * clock.  What is late by now must be given up here. */
    void (*process)(struct wsource *src, const struct pollfd *pfd, int n, double now);
};

struct wsource {
    const struct wsource_ops *ops;
    struct wsource *next; /* the waiter's list */
    int nfds;             /* of the last fds() call: the waiter's bookkeeping */
};

struct waiter;

struct waiter *waiter_new(void);
void waiter_free(struct waiter *w); /* the sources are the clients' */

/* waiter_add / waiter_del - watch a source, or stop (safe to call from a
 * source's own process() callback, and for a source not added). */
void waiter_add(struct waiter *w, struct wsource *src);
void waiter_del(struct waiter *w, struct wsource *src);

/* waiter_now_ms - the monotonic clock of every deadline, in milliseconds. */
double waiter_now_ms(void);

/* waiter_run - poll every source until done(arg) returns non-zero, no
 * source has anything left to wait for, or the absolute deadline passes
 * (0: none besides the sources' own).  Returns 1 when done() said so, else
 * 0.  done may be NULL: wait until every source is idle. */
int waiter_run(struct waiter *w, int (*done)(void *arg), void *arg, double deadline);
/* waiter_poll - one round without blocking: hand out what has arrived. */
void waiter_poll(struct waiter *w);

#endif /* LIBPOLICY_WAITER_H */
