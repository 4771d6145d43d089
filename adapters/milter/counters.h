/*
 * counters.h - policy-milter's metrics (counters.c) and the small HTTP
 * server that serves them (http.c, the -m option).
 */
#ifndef POLICY_MILTER_COUNTERS_H
#define POLICY_MILTER_COUNTERS_H

#include <stddef.h>

#include "libpolicy/policy.h"

/* counters_event - the library's metrics sink (policy_engine_set_metrics);
 * any thread, never blocks. */
void counters_event(const policy_metric *m, void *ctx);
/* counters_reload - a reload took effect (ok) or failed. */
void counters_reload(int ok);
/* counters_start - the daemon starts: the clock of the start gauges. */
void counters_start(void);
/* counters_render - the exposition page, malloc'd (the caller frees it),
 * its length in *len; NULL when out of memory. */
char *counters_render(size_t *len);

/* http_listen - a listening TCP socket for HOST:PORT ([IPv6]:PORT), made
 * before privileges are dropped; the fd, or -1 with a message in err. */
int http_listen(const char *spec, char *err, size_t errlen);
/* http_start - serve GET /metrics on fd from a thread of its own; 0 or an
 * errno.  Start it with the signals the main thread takes blocked. */
int http_start(int fd);
/* http_stop - end that thread (it finishes no request it has not sent). */
void http_stop(void);

#endif
