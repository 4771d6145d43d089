/*
 * pq.h - what the parts of policy-queue share: the message and envelope as
 * read, the qmail-queue exit codes, the reply it gives qmail-smtpd, and
 * the two ways to check a message - in this process with libpolicy
 * (local.c), or by a running policy-milter over the milter protocol
 * (daemon.c) - each of which hands the message on itself when it passes.
 */
#ifndef POLICY_PQ_H
#define POLICY_PQ_H

#include <stddef.h>
#include <sys/types.h>

#include "qq.h"

/* qmail-queue(8) exit codes. */
enum {
    QQ_OK = 0,
    QQ_PERM = 31,
    QQ_NOMEM = 51,
    QQ_WRITE = 53,
    QQ_READ = 54,
    QQ_TEMP = 71,
    QQ_BUG = 81,
    QQ_CUSTOM = 82,
    QQ_ENVELOPE = 91,
    QQ_EXEC = 120
};

/* A message or envelope: in memory, or in an unlinked spool file (fd). */
struct blob {
    char *data;
    size_t len, cap;
    int fd; /* -1: all of it in data */
};

/* blob_read - up to n bytes of b from off into buf: the count, 0 at the
 * end, -1 on a read error. */
ssize_t blob_read(const struct blob *b, size_t off, void *buf, size_t n);
/* write_fd - n bytes to fd; 0 or -1. */
int write_fd(int fd, const void *p, size_t n);

/* refuse - give a verdict back to qmail-smtpd: the reply text through the
 * error fd (6, or ERROR_FD) when it is open, else the plain exit code.
 * Returns the exit code: QQ_CUSTOM, QQ_PERM or QQ_TEMP. */
int refuse(int permanent, const policy_reply *r);

/* A writer of the message as handed on: the message to fd, edits applied;
 * 0, or -1 (the write failed). */
typedef int (*pq_writer)(void *ctx, int fd);
/* hand_on - run the real qmail-queue with what writer writes on fd 0 and
 * the envelope on fd 1; its exit status, or ours for what went wrong. */
int hand_on(pq_writer writer, void *ctx, const struct blob *env);

/* check_local - check the message with libpolicy in this process (loaded
 * now, not at start: a process that hands its work to the daemon never
 * maps it) and hand it on when it passes.  Returns the exit code. */
int check_local(const struct qq_envelope *env, const struct blob *msg, const struct blob *envb);

/* check_daemon - hand the check to the policy-milter at spec ("unix:PATH",
 * "inet:PORT@HOST", "inet6:PORT@HOST") and hand the message on, with its
 * header edits, when it passes.  Returns the exit code, or PQ_DAEMON_DOWN
 * when the daemon could not give a verdict (not listening, gone, silent
 * for timeout_ms, or speaking something else): the caller falls back. */
#define PQ_DAEMON_DOWN (-1)
int check_daemon(const char *spec, int timeout_ms, const struct qq_envelope *env,
                 const struct blob *msg, const struct blob *envb);

#endif
