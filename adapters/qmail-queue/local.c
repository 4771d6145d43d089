/*
 * local.c - policy-queue's check in its own process: libpolicy runs the
 * content stages and keeps the message, then writes it to the real
 * qmail-queue with its edits.  libpolicy is loaded here, when a message
 * is to be checked locally, not when the process starts: with POLICY_DAEMON
 * a run never maps the library and what it links (mapping them costs more
 * than the rest of the run).  A library that cannot be loaded, or a
 * configuration that does not, defers the message.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pq.h"

#define DEFAULT_CONFIG "/etc/libpolicy/policy.conf"
#ifndef POLICY_SONAME
#define POLICY_SONAME "libpolicy.so.0"
#endif

/* The functions of libpolicy used here, typed from the public header. */
#define LP_FUNCS(X)                                                                                \
    X(policy_engine_open_flags)                                                                    \
    X(policy_engine_unref)                                                                         \
    X(policy_session_new)                                                                          \
    X(policy_session_free)                                                                         \
    X(policy_session_import_env)                                                                   \
    X(policy_session_getvar)                                                                       \
    X(policy_session_setvar)                                                                       \
    X(policy_session_keep_message)                                                                 \
    X(policy_connect)                                                                              \
    X(policy_mail)                                                                                 \
    X(policy_rcpt)                                                                                 \
    X(policy_data)                                                                                 \
    X(policy_message)                                                                              \
    X(policy_eom)                                                                                  \
    X(policy_last_reply)                                                                           \
    X(policy_message_write)
static struct {
#define LP_MEMBER(f) __typeof__(&f) f;
    LP_FUNCS(LP_MEMBER)
#undef LP_MEMBER
} lp;

/* lp_load - libpolicy and its functions; 0, or -1 after saying why on
 * stderr (qmail-smtpd's log). */
static int lp_load(void)
{
    /* lazy binding, as for any program: a run binds only the calls it makes
     * (a third of its instructions went to binding them all); the functions
     * used here are all looked up below, and a missing library fails now */
    void *h = dlopen(POLICY_SONAME, RTLD_LAZY | RTLD_LOCAL);
    if (!h) {
        fprintf(stderr, "policy-queue: cannot load %s: %s\n", POLICY_SONAME, dlerror());
        return -1;
    }
#define LP_SYM(f)                                                                                  \
    if (!(*(void **)&lp.f = dlsym(h, #f))) {                                                       \
        fprintf(stderr, "policy-queue: %s has no %s\n", POLICY_SONAME, #f);                        \
        return -1;                                                                                 \
    }
    LP_FUNCS(LP_SYM)
#undef LP_SYM
    return 0;
}

/* feed - the message to the session, in pieces: from memory, or read back
 * from the spool file.  The verdict, or POLICY_TEMPFAIL on a read error. */
static policy_action feed(policy_session *s, const struct blob *m)
{
    policy_action a = POLICY_CONTINUE;
    char buf[65536];
    for (size_t off = 0; off < m->len && a == POLICY_CONTINUE;) {
        const char *p = m->fd < 0 ? m->data + off : buf;
        ssize_t r = m->fd < 0 ? (ssize_t)(m->len - off < 65536 ? m->len - off : 65536)
                              : blob_read(m, off, buf, sizeof(buf));
        if (r <= 0)
            return POLICY_TEMPFAIL;
        a = lp.policy_message(s, p, (size_t)r);
        off += (size_t)r;
    }
    return a;
}

/* check - the content stages for this message.  Returns -1 to hand it on,
 * or the exit code that refuses or defers it. */
static int check(policy_session *s, const struct qq_envelope *env, const struct blob *m)
{
    policy_action a = lp.policy_connect(s);
    if (a == POLICY_CONTINUE || a == POLICY_ACCEPT)
        a = lp.policy_mail(s, env->sender);
    for (size_t i = 0; i < env->nrcpts && (a == POLICY_CONTINUE || a == POLICY_ACCEPT); i++)
        a = lp.policy_rcpt(s, env->rcpts[i]);
    if (a == POLICY_CONTINUE || a == POLICY_ACCEPT)
        a = lp.policy_data(s);
    if (a == POLICY_CONTINUE || a == POLICY_ACCEPT)
        a = feed(s, m);
    if (a == POLICY_CONTINUE || a == POLICY_ACCEPT)
        a = lp.policy_eom(s);
    switch (a) {
    case POLICY_CONTINUE:
    case POLICY_ACCEPT:
        return -1;
    case POLICY_REJECT:
        return refuse(1, lp.policy_last_reply(s));
    case POLICY_DISCARD: /* only where configured: "queued" for the client, handed on to nobody */
        return QQ_OK;
    default:
        return refuse(0, lp.policy_last_reply(s));
    }
}

/* session_write - the hand-on writer: the session's kept message, edited. */
static int session_write(void *ctx, int fd)
{
    return lp.policy_message_write(ctx, fd);
}

int check_local(const struct qq_envelope *env, const struct blob *msg, const struct blob *envb)
{
    extern char **environ;
    static const policy_reply unavailable = {
        POLICY_TEMPFAIL, 451, "4.3.0", "mail filter configuration error, try again later",
        "policy-queue",  NULL};
    char err[512];
    if (lp_load() != 0)
        return refuse(0, &unavailable);
    const char *path = getenv("POLICY_CONFIG");
    if (!path || !*path)
        path = access(DEFAULT_CONFIG, F_OK) == 0 ? DEFAULT_CONFIG : NULL;
    /* one message and exit: compile what the message needs, when it needs it */
    policy_engine *e = lp.policy_engine_open_flags(path, POLICY_OPEN_LAZY, err, sizeof(err));
    if (!e) {
        fprintf(stderr, "policy-queue: %s\n", err); /* qmail-smtpd's log */
        return refuse(0, &unavailable);
    }
    const char *ip = getenv("TCPREMOTEIP");
    policy_session *s =
        lp.policy_session_new(e, ip && *ip ? ip : "127.0.0.1", getenv("TCPREMOTEHOST"));
    int rc = QQ_NOMEM;
    if (s) {
        (void)lp.policy_session_import_env(s, environ);
        if (!lp.policy_session_getvar(s, "POLICY_STAGES"))
            (void)lp.policy_session_setvar(s, "POLICY_STAGES", "content");
        (void)lp.policy_session_keep_message(s); /* handed on from the session's spool */
        rc = check(s, env, msg);
        if (rc < 0)
            rc = hand_on(session_write, s, envb);
    }
    lp.policy_session_free(s);
    lp.policy_engine_unref(e);
    return rc;
}
