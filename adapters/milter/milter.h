/*
 * milter.h - what the two halves of policy-milter share: the callbacks
 * (callbacks.c: milter events -> libpolicy stages -> milter replies) and
 * the daemon (main.c: options, socket, privileges, signals, reload).
 */
#ifndef POLICY_MILTER_H
#define POLICY_MILTER_H

#include <libmilter/mfapi.h>

#include "libpolicy/policy.h"

/* The filter description handed to smfi_register(). */
extern struct smfiDesc milter_desc;

/* milter_engine - a new reference to the engine new connections use, or
 * NULL when there is none (then the callback tempfails).  Any thread. */
policy_engine *milter_engine(void);

/* milter_log - the daemon's own log lines (not the library's decisions). */
void milter_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* milter_active - connections with a live session, for a clean exit. */
int milter_active(void);

#endif
