/*
 * qmail-policy.c - libpolicy inside qmail-smtpd (see qmail-policy.h).
 *
 * qmail-smtpd is one process per connection, started by tcpserver with the
 * client in the environment; this glue keeps one engine and one session for
 * that process.  The content stages run later, in policy-queue.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <libpolicy/policy.h>

#include "qmail-policy.h"

#define DEFAULT_CONFIG "/etc/libpolicy/policy.conf"

extern char **environ;

static policy_engine *engine;
static policy_session *session;
static int closing;
static int pipelining; /* offered: the last HELO/EHLO was an EHLO */
static char reply[600];
static unsigned long throttle;      /* bytes per second, 0 = none */
static unsigned long long received; /* bytes from the client so far */
static struct timespec started;

/* number - a variable as an unsigned count; 0 when unset or not a number */
static unsigned long number(const char *name)
{
    const char *v = getenv(name);
    char *end;
    if (!v || !*v)
        return 0;
    unsigned long n = strtoul(v, &end, 10);
    return *end || n > 100000000UL ? 0 : n;
}

static void time_is_up(int sig)
{
    static const char msg[] = "421 4.4.2 session time limit exceeded, closing connection\r\n";
    (void)sig;
    (void)!write(1, msg, sizeof(msg) - 1);
    _exit(0);
}

void qpolicy_received(long n)
{
    if (!throttle || n <= 0)
        return;
    received += (unsigned long long)n;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double elapsed = (double)(now.tv_sec - started.tv_sec) + (now.tv_nsec - started.tv_nsec) / 1e9;
    double due = (double)received / (double)throttle; /* when this much may have arrived */
    if (due > elapsed) {
        double wait = due - elapsed;
        struct timespec ts = {(time_t)wait, (long)((wait - (double)(time_t)wait) * 1e9)};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
            ;
    }
}

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
    clock_gettime(CLOCK_MONOTONIC, &started);
    const char *path = getenv("POLICY_CONFIG");
    if (!path || !*path)
        path = access(DEFAULT_CONFIG, F_OK) == 0 ? DEFAULT_CONFIG : NULL;
    /* one connection: compile patterns when they first run, not at start */
    engine = policy_engine_open_flags(path, POLICY_OPEN_LAZY, err, sizeof(err));
    if (!engine) {
        fprintf(stderr, "qmail-smtpd: libpolicy: %s\n", err);
        return;
    }
    /* qmail-smtpd talks SMTP: without TCPREMOTEIP (not under tcpserver) its
     * client's address is unknown, never a local 127.0.0.1 */
    const char *ip = getenv("TCPREMOTEIP");
    const char *host = getenv("TCPREMOTEHOST");
    session = policy_session_new(engine, ip && *ip ? ip : NULL, host && *host ? host : NULL);
    if (!session) {
        fprintf(stderr, "qmail-smtpd: libpolicy: no session for %s\n", ip && *ip ? ip : "(no ip)");
        return;
    }
    (void)policy_session_import_env(session, environ);
    if (!policy_session_getvar(session, "POLICY_STAGES"))
        (void)policy_session_setvar(session, "POLICY_STAGES", "envelope");
}

/* limits - arm the session time limit and set the receive throttle: the
 * library's decision for this client, or without a library (a configuration
 * that does not load) the tcp.smtp variables as they are */
static void limits(void)
{
    unsigned long limit = session ? policy_session_limit(session) : number("POLICY_SESSION_LIMIT");
    throttle = session ? policy_receive_throttle(session) : number("POLICY_THROTTLE");
    if (limit) {
        signal(SIGALRM, time_is_up);
        alarm(limit > 86400 ? 86400 : (unsigned)limit);
    }
}

const char *qpolicy_connect(void)
{
    if (!session) {
        limits();
        return NULL; /* refuse per transaction instead, with a reason */
    }
    const char *r = format(policy_connect(session));
    if (!r)
        limits();
    return r;
}

/* later - t + ms */
static struct timespec later(struct timespec t, unsigned long ms)
{
    t.tv_sec += (time_t)(ms / 1000);
    t.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}

static long ms_left(const struct timespec *until)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long left =
        (long)(until->tv_sec - now.tv_sec) * 1000 + (until->tv_nsec - now.tv_nsec) / 1000000;
    return left > 0 ? left : 0;
}

/* talked - 1 when the client sends something before until, 0 when it stays
 * quiet, -1 when it hangs up (qmail-smtpd will read the EOF) */
static int talked(const struct timespec *until)
{
    for (;;) {
        struct pollfd p = {.fd = 0, .events = POLLIN};
        int n = poll(&p, 1, (int)ms_left(until));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return 0; /* quiet all along (or poll failed: greet as usual) */
        char c;
        ssize_t r = recv(0, &c, 1, MSG_PEEK | MSG_DONTWAIT);
        if (r < 0 && errno == ENOTSOCK)
            return 1; /* a pipe (sslserver, tests): readable is talking */
        return r > 0 ? 1 : r == 0 ? -1 : 0;
    }
}

const char *qpolicy_greet(void)
{
    if (!session)
        return NULL;
    struct timespec asked; /* the delay counts from here, a name lookup included */
    clock_gettime(CLOCK_MONOTONIC, &asked);
    unsigned long ms = policy_greeting_delay(session);
    if (!ms)
        return NULL;
    struct timespec until = later(asked, ms);
    if (talked(&until) != 1)
        return NULL;
    const char *r = format(policy_early_talker(session));
    if (!r) { /* only noted, or kept for RCPT: the early talker waits it out */
        long left = ms_left(&until);
        struct timespec ts = {left / 1000, (left % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
            ;
    }
    return r;
}

const char *qpolicy_helo(const char *helo)
{
    pipelining = 0;
    return session ? format(policy_helo(session, helo ? helo : "")) : NULL;
}

const char *qpolicy_ehlo(const char *helo)
{
    const char *r = qpolicy_helo(helo);
    pipelining = !r;
    return r;
}

/* waiting - the client's input has bytes we have not read */
static int waiting(void)
{
    struct pollfd p = {.fd = 0, .events = POLLIN};
    if (poll(&p, 1, 0) != 1 || !(p.revents & POLLIN))
        return 0;
    char c;
    ssize_t r = recv(0, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (r < 0 && errno == ENOTSOCK)
        return 1; /* a pipe (sslserver, tests): readable is input */
    return r > 0;
}

const char *qpolicy_command(const char *verb, int buffered)
{
    if (!session || !verb)
        return NULL;
    /* RFC 2920: MAIL, RCPT and RSET may be pipelined once it is offered;
     * EHLO, HELO and DATA end a group, and without PIPELINING every
     * command waits for its reply */
    int may = pipelining && (!strcasecmp(verb, "mail") || !strcasecmp(verb, "rcpt") ||
                             !strcasecmp(verb, "rset"));
    if (may || (buffered <= 0 && !waiting()))
        return NULL;
    return format(policy_pipelining(session));
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
