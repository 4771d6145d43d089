/*
 * qmail-policy.c - libpolicy inside qmail-smtpd (see qmail-policy.h).
 *
 * qmail-smtpd is one process per connection, started by tcpserver with the
 * client in the environment; this glue keeps one engine and one session for
 * that process.  The content stages run later, in policy-queue.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpolicy/policy.h>

#include "qmail-policy.h"

#define DEFAULT_CONFIG "/etc/libpolicy/policy.conf"

extern char **environ;

static policy_engine *engine;
static policy_session *session;
static int closing;
static char reply[600];

/* format - the session's last reply as one SMTP reply line */
static const char *format(policy_action a)
{
    const policy_reply *r = policy_last_reply(session);
    int code = r->code;
    const char *xcode = r->xcode && *r->xcode ? r->xcode : NULL;

    switch (a) {
    case POLICY_CONTINUE:
    case POLICY_ACCEPT:
    case POLICY_DISCARD: /* qmail-smtpd has no discard: the message goes on */
        return NULL;
    case POLICY_REJECT:
        if (code < 500 || code > 599)
            code = 550;
        break;
    case POLICY_DISCONNECT:
        code = 421;
        closing = 1;
        if (xcode && xcode[0] != '4')
            xcode = NULL;
        break;
    default:
        if (code < 400 || code > 499)
            code = 451;
        break;
    }
    snprintf(reply, sizeof(reply), "%d %s %s\r\n", code,
             xcode ? xcode : (code >= 500 ? "5.7.1" : "4.3.0"),
             r->text && *r->text ? r->text : "refused by policy");
    return reply;
}

static const char *unavailable(void)
{
    snprintf(reply, sizeof(reply), "451 4.3.0 mail filter unavailable, try again later\r\n");
    return reply;
}

void qpolicy_setup(void)
{
    char err[512];
    const char *path = getenv("POLICY_CONFIG");
    if (!path || !*path)
        path = access(DEFAULT_CONFIG, F_OK) == 0 ? DEFAULT_CONFIG : NULL;
    engine = policy_engine_open(path, err, sizeof(err));
    if (!engine) {
        fprintf(stderr, "qmail-smtpd: libpolicy: %s\n", err);
        return;
    }
    const char *ip = getenv("TCPREMOTEIP");
    const char *host = getenv("TCPREMOTEHOST");
    session = policy_session_new(engine, ip && *ip ? ip : "127.0.0.1", host && *host ? host : NULL);
    if (!session) {
        fprintf(stderr, "qmail-smtpd: libpolicy: no session for %s\n", ip ? ip : "(no ip)");
        return;
    }
    (void)policy_session_import_env(session, environ);
    if (!policy_session_getvar(session, "POLICY_STAGES"))
        (void)policy_session_setvar(session, "POLICY_STAGES", "envelope");
}

const char *qpolicy_connect(void)
{
    if (!session)
        return NULL; /* refuse per transaction instead, with a reason */
    return format(policy_connect(session));
}

const char *qpolicy_helo(const char *helo)
{
    return session ? format(policy_helo(session, helo ? helo : "")) : NULL;
}

const char *qpolicy_mail(const char *sender)
{
    if (!session)
        return unavailable();
    return format(policy_mail(session, sender ? sender : ""));
}

const char *qpolicy_auth(const char *user)
{
    return session && user && *user ? format(policy_auth(session, user)) : NULL;
}

const char *qpolicy_rcpt(const char *recipient, const char *qmail_refused)
{
    if (!session)
        return unavailable();
    const char *r = format(policy_rcpt(session, recipient ? recipient : ""));
    return r ? r : qmail_refused;
}

const char *qpolicy_data(void)
{
    return session ? format(policy_data(session)) : unavailable();
}

void qpolicy_rset(void)
{
    if (session)
        policy_reset(session);
}

int qpolicy_closing(void)
{
    return closing;
}
