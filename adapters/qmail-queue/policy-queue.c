/*
 * policy-queue - libpolicy as a QMAILQUEUE program.
 *
 * qmail-smtpd (or qmail-inject) runs us instead of qmail-queue: the message
 * on fd 0, the envelope on fd 1, the client in the environment.  We run the
 * content stages of libpolicy (the envelope stages already ran in a patched
 * qmail-smtpd) and then run the real qmail-queue with the added headers at
 * the top of the message and the same envelope, passing its exit status on.
 * The check runs in this process (local.c), or, with POLICY_DAEMON set,
 * in a running policy-milter that has everything loaded once for the host
 * (daemon.c); when that daemon cannot answer, the message is deferred or,
 * with POLICY_DAEMON_FALLBACK=local, checked here.
 *
 * The promise is qmail-queue's: exit 0 means the message is queued, and we
 * exit 0 only when the real qmail-queue did.  Everything that stops us from
 * checking the message or handing it on intact is a temporary failure.
 *
 * Memory stays small whatever the message: qmail-smtpd writes the message
 * before the envelope, so we keep it (in memory up to POLICY_SPOOL_LIMIT,
 * then in an unlinked file) until the envelope arrives, then stream it to
 * the checker and hand it on with the edits applied.
 *
 * A message the configuration says to discard ([virus] action = discard)
 * is dropped: exit 0 without running the real qmail-queue.
 *
 * Exit codes (qmail-queue(8)): 31 rejected, 71 deferred, 82 with the
 * library's own reply written to the error fd (6, or ERROR_FD) when it is
 * open, 91 malformed envelope, 54 read error, 51 out of memory, 53 spool
 * write error, 81 the real qmail-queue was killed, 120 it cannot be run;
 * otherwise the real qmail-queue's own status.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pq.h"

#define DEFAULT_QUEUE          "/var/qmail/bin/qmail-queue"
#define DEFAULT_SPOOL_LIMIT    (1024UL * 1024)
#define DEFAULT_DAEMON_TIMEOUT 60 /* seconds for the daemon's each answer */

static void blob_free(struct blob *b)
{
    free(b->data);
    if (b->fd >= 0)
        close(b->fd);
}

int write_fd(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* spool - move what is in memory to an unlinked file and read the rest of
 * fd into it, in small pieces.  Returns 0 or an exit code. */
static int spool(int fd, struct blob *b)
{
    const char *dir = getenv("TMPDIR");
    char path[4096];
    snprintf(path, sizeof(path), "%s/policy-queue.XXXXXX", dir && *dir ? dir : "/tmp");
    int out = mkstemp(path);
    if (out < 0)
        return QQ_WRITE;
    unlink(path);
    b->fd = out;
    if (write_fd(out, b->data, b->len) != 0)
        return QQ_WRITE;
    char buf[65536];
    for (;;) {
        ssize_t r = read(fd, buf, sizeof(buf));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return QQ_READ;
        if (r == 0)
            break;
        if (write_fd(out, buf, (size_t)r) != 0)
            return QQ_WRITE;
        b->len += (size_t)r;
    }
    return 0;
}

/* slurp - read fd to EOF: in memory up to limit, then spooled (0: all in
 * memory).  Returns 0 or an exit code. */
static int slurp(int fd, struct blob *b, size_t limit)
{
    memset(b, 0, sizeof(*b));
    b->fd = -1;
    for (;;) {
        if (b->cap - b->len < 65536) {
            size_t nc = b->cap ? b->cap * 2 : 262144;
            if (limit && nc > limit)
                return spool(fd, b);
            char *nd = realloc(b->data, nc);
            if (!nd)
                return QQ_NOMEM;
            b->data = nd;
            b->cap = nc;
        }
        ssize_t r = read(fd, b->data + b->len, b->cap - b->len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return QQ_READ;
        if (r == 0)
            return 0;
        b->len += (size_t)r;
    }
}

ssize_t blob_read(const struct blob *b, size_t off, void *buf, size_t n)
{
    if (off >= b->len)
        return 0;
    if (n > b->len - off)
        n = b->len - off;
    if (b->fd < 0) {
        memcpy(buf, b->data + off, n);
        return (ssize_t)n;
    }
    for (;;) {
        ssize_t r = pread(b->fd, buf, n, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        return r;
    }
}

/* error_fd - the fd for a custom reply, when it is open for writing, else -1. */
static int error_fd(void)
{
    const char *v = getenv("ERROR_FD");
    int fd = 6;
    if (v && *v) {
        char *end;
        long n = strtol(v, &end, 10);
        if (*end || n < 3 || n > 1023)
            return -1;
        fd = (int)n;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0)
        return -1;
    fl &= O_ACCMODE;
    return fl == O_WRONLY || fl == O_RDWR ? fd : -1;
}

int refuse(int permanent, const policy_reply *r)
{
    int fd = error_fd();
    int code = permanent ? QQ_PERM : QQ_TEMP;
    if (fd < 0)
        return code;
    /* qmail-smtpd prints "554 " or "451 " and then this text: one line of
     * at most 255 bytes, so a long text is cut, never the status code */
    char suffix[24], line[256];
    snprintf(suffix, sizeof(suffix), " (#%.10s)",
             r->xcode && *r->xcode ? r->xcode : (permanent ? "5.7.1" : "4.3.0"));
    int room = (int)(sizeof(line) - 2 - strlen(suffix));
    int n = snprintf(line, sizeof(line), "%c%.*s%s", permanent ? 'D' : 'Z', room,
                     r->text && *r->text ? r->text : "message refused", suffix);
    if (n < 0 || (size_t)n >= sizeof(line))
        return code;
    if (write_fd(fd, line, (size_t)n) != 0)
        return code;
    return QQ_CUSTOM;
}

int hand_on(pq_writer writer, void *ctx, const struct blob *env)
{
    /* the real qmail-queue: ours, else what qmail-dk and qmail-dkim were
     * told (qmailtoaster's tcp.smtp sets DKQUEUE), else the usual place */
    const char *queue = getenv("POLICY_QMAILQUEUE");
    if (!queue || !*queue)
        queue = getenv("DKQUEUE");
    if (!queue || !*queue)
        queue = getenv("DKIMQUEUE");
    if (!queue || !*queue)
        queue = DEFAULT_QUEUE;
    int pm[2], pe[2];
    if (pipe(pm) != 0)
        return QQ_TEMP;
    if (pipe(pe) != 0) {
        close(pm[0]);
        close(pm[1]);
        return QQ_TEMP;
    }
    /* posix_spawn: vfork-speed, and no code of ours runs in the child */
    extern char **environ;
    posix_spawn_file_actions_t fa;
    pid_t pid;
    char *const argv[] = {(char *)queue, NULL};
    int err = posix_spawn_file_actions_init(&fa);
    if (!err)
        err = posix_spawn_file_actions_adddup2(&fa, pm[0], 0) ||
              posix_spawn_file_actions_adddup2(&fa, pe[0], 1) ||
              posix_spawn_file_actions_addclose(&fa, pm[1]) ||
              posix_spawn_file_actions_addclose(&fa, pe[1]);
    if (!err)
        err = posix_spawn(&pid, queue, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (err) {
        close(pm[0]), close(pm[1]), close(pe[0]), close(pe[1]);
        return err == ENOENT || err == EACCES || err == ENOEXEC ? QQ_EXEC : QQ_TEMP;
    }
    close(pm[0]);
    close(pe[0]);
    /* a queue that stops reading makes the write fail; its status decides */
    if (writer(ctx, pm[1]) == 0) {
        close(pm[1]);
        (void)write_fd(pe[1], env->data, env->len);
    } else {
        close(pm[1]);
    }
    close(pe[1]);
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return QQ_BUG;
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    return QQ_BUG; /* killed: temporary, never 0 */
}

static size_t spool_limit(void)
{
    const char *v = getenv("POLICY_SPOOL_LIMIT");
    if (!v || !*v)
        return DEFAULT_SPOOL_LIMIT;
    char *end;
    unsigned long long n = strtoull(v, &end, 10);
    if (*end || n < 65536)
        return DEFAULT_SPOOL_LIMIT;
    return (size_t)n;
}

/* daemon_timeout - POLICY_DAEMON_TIMEOUT in milliseconds. */
static int daemon_timeout(void)
{
    const char *v = getenv("POLICY_DAEMON_TIMEOUT");
    char *end;
    long n = v && *v ? strtol(v, &end, 10) : 0;
    if (!v || !*v || *end || n < 1 || n > 3600)
        n = DEFAULT_DAEMON_TIMEOUT;
    return (int)n * 1000;
}

/* via_daemon - the check by the daemon at spec; when it cannot answer, the
 * fallback POLICY_DAEMON_FALLBACK names: "local" checks here, anything
 * else defers (never a pass without a check). */
static int via_daemon(const char *spec, const struct qq_envelope *env, const struct blob *msg,
                      const struct blob *envb)
{
    int rc = check_daemon(spec, daemon_timeout(), env, msg, envb);
    if (rc != PQ_DAEMON_DOWN)
        return rc;
    const char *fb = getenv("POLICY_DAEMON_FALLBACK");
    if (fb && !strcmp(fb, "local")) {
        fprintf(stderr, "policy-queue: checking here instead\n");
        return check_local(env, msg, envb);
    }
    static const policy_reply r = {POLICY_TEMPFAIL, 451,
                                   "4.3.0",         "mail filter unavailable, try again later",
                                   "policy-queue",  NULL};
    return refuse(0, &r);
}

int main(void)
{
    struct blob msg = {.fd = -1}, envb = {.fd = -1};
    struct qq_envelope env = {0};
    int rc;

    signal(SIGPIPE, SIG_IGN);
    /* the envelope is held whole, as the MTA held it: no limit of our own on
     * the number or the length of its addresses (see policy-queue(8)) */
    if ((rc = slurp(0, &msg, spool_limit())) != 0 || (rc = slurp(1, &envb, 0)) != 0)
        goto out;
    int pr = qq_envelope_parse(envb.data ? envb.data : "", envb.len, &env);
    if (pr != 0) {
        rc = pr == -2 ? QQ_NOMEM : QQ_ENVELOPE;
        goto out;
    }
    const char *daemon = getenv("POLICY_DAEMON");
    if (daemon && *daemon)
        rc = via_daemon(daemon, &env, &msg, &envb);
    else
        rc = check_local(&env, &msg, &envb);
out:
    qq_envelope_free(&env);
    blob_free(&msg);
    blob_free(&envb);
    return rc;
}
