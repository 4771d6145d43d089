/*
 * qq.h - policy-queue's parser of the qmail-queue envelope, apart so that
 * it can be fuzzed (the message itself is split by the library).
 */
#ifndef POLICY_QQ_H
#define POLICY_QQ_H

#include <stddef.h>

#include "libpolicy/policy.h"

/* A parsed envelope; every pointer points into the buffer parsed. */
struct qq_envelope {
    const char *sender; /* "" for the null sender */
    const char **rcpts;
    size_t nrcpts;
};

/*
 * qq_envelope_parse - "F<sender>\0" then "T<rcpt>\0" one or more times, then
 * "\0", and nothing after it (qmail-queue(8)).  Addresses are NUL-free by
 * construction.  No count or length limit: the MTA accepted this envelope,
 * and it is bounded by len (the pointer array costs 8 bytes a recipient).
 * Returns 0, -1 when malformed (no F, no recipient, an empty recipient, a
 * record that is not T, a missing final NUL, bytes after it), -2 no memory.
 * env->rcpts is malloc'd: qq_envelope_free.
 */
int qq_envelope_parse(const char *buf, size_t len, struct qq_envelope *env);
void qq_envelope_free(struct qq_envelope *env);

#endif
