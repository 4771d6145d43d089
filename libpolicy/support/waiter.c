/*
 * waiter.c - poll(2) over every source of a session at once.  A round asks
 * each source for its descriptors and deadline, polls until the earliest
 * deadline, and lets every source process its part of the result; the
 * sources give up what is late, so the loop ends by their deadlines.
 */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "waiter.h"

struct waiter {
    struct wsource *head;
    struct pollfd pfd[WAITER_MAX_FDS];
    int changed; /* the list changed during a round: stop dispatching it */
};

struct waiter *waiter_new(void)
{
    return calloc(1, sizeof(struct waiter));
}

void waiter_free(struct waiter *w)
{
    free(w);
}

void waiter_add(struct waiter *w, struct wsource *src)
{
    for (struct wsource *p = w->head; p; p = p->next)
        if (p == src)
            return;
    src->next = w->head;
    src->nfds = 0;
    w->head = src;
    w->changed = 1;
}

void waiter_del(struct waiter *w, struct wsource *src)
{
    for (struct wsource **pp = &w->head; *pp; pp = &(*pp)->next)
        if (*pp == src) {
            *pp = src->next;
            src->next = NULL;
            w->changed = 1;
            return;
        }
}

double waiter_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* collect - every source's descriptors into w->pfd; the earliest deadline
 * (or 0); returns the count, -1 when no source waits for anything. */
static int collect(struct waiter *w, double *earliest)
{
    int n = 0, waiting = 0;
    *earliest = 0;
    for (struct wsource *s = w->head; s; s = s->next) {
        double d = 0;
        int k = s->ops->fds(s, w->pfd + n, WAITER_MAX_FDS - n, &d);
        if (k < 0)
            k = 0;
        s->nfds = k;
        n += k;
        if (k || d > 0)
            waiting = 1;
        if (d > 0 && (*earliest == 0 || d < *earliest))
            *earliest = d;
    }
    return waiting ? n : -1;
}

/* round - one poll of at most timeout_ms (-1: until a deadline), then
 * dispatch.  Returns 0, or -1 when no source waits for anything. */
static int round_once(struct waiter *w, double limit, int block)
{
    double earliest;
    int n = collect(w, &earliest);
    if (n < 0)
        return -1;
    double now = waiter_now_ms();
    if (limit > 0 && (earliest == 0 || limit < earliest))
        earliest = limit;
    int timeout = 0;
    if (block) {
        if (earliest == 0)
            timeout = -1;
        else if (earliest > now)
            timeout = (int)(earliest - now) + 1;
    }
    if (poll(w->pfd, (nfds_t)n, timeout) < 0 && errno != EINTR)
        for (int i = 0; i < n; i++)
            w->pfd[i].revents = 0;
    now = waiter_now_ms();
    w->changed = 0;
    int off = 0;
    for (struct wsource *s = w->head; s;) {
        struct wsource *next = s->next;
        int k = s->nfds;
        s->ops->process(s, w->pfd + off, k, now);
        off += k;
        if (w->changed)
            break; /* a source came or went: the next round asks again */
        s = next;
    }
    return 0;
}

int waiter_run(struct waiter *w, int (*done)(void *arg), void *arg, double deadline)
{
    for (;;) {
        if (done && done(arg))
            return 1;
        if (deadline > 0 && waiter_now_ms() >= deadline)
            return 0;
        if (round_once(w, deadline, 1) < 0)
            return done ? done(arg) != 0 : 0;
    }
}

void waiter_poll(struct waiter *w)
{
    (void)round_once(w, 0, 0);
}
