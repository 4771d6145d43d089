/*
 * qpolicy_drive.c - the qmail-smtpd glue (adapters/qmail-smtpd/qmail-policy.c)
 * driven the way the patched qmail-smtpd drives it, for tests under the
 * real tcpserver: one SMTP-ish command per line on stdin (HELO name, MAIL
 * address, RCPT address, DATA, RSET, QUIT), one reply per line on stdout.
 * qmail's own relay check is imitated from $RCPTHOSTS (space separated
 * domains) and $RELAYCLIENT, so the "library wins when both object" rule
 * can be seen.  Addresses are given bare, as qmail's addrparse leaves them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../adapters/qmail-smtpd/qmail-policy.h"

static int rcpthost_ok(const char *addr)
{
    const char *at = strrchr(addr, '@');
    const char *list = getenv("RCPTHOSTS");
    if (!at || !list)
        return 0;
    size_t dl = strlen(at + 1);
    for (const char *p = list; *p;) {
        p += strspn(p, " ");
        size_t n = strcspn(p, " ");
        if (n == dl && strncasecmp(p, at + 1, n) == 0)
            return 1;
        p += n;
    }
    return 0;
}

static void say(const char *r, const char *ok)
{
    fputs(r ? r : ok, stdout);
    fflush(stdout);
    if (r && qpolicy_closing())
        exit(0);
}

int main(void)
{
    char line[1100];
    qpolicy_setup();
    const char *r = qpolicy_connect();
    if (!r)
        r = qpolicy_greet();
    if (r) {
        fputs(r, stdout);
        return 0;
    }
    say(NULL, "220 drive ESMTP\r\n");
    while (fgets(line, sizeof(line), stdin)) {
        qpolicy_received((long)strlen(line)); /* where the patch hooks saferead() */
        line[strcspn(line, "\r\n")] = '\0';
        char *arg = strchr(line, ' ');
        if (arg)
            *arg++ = '\0';
        else
            arg = line + strlen(line);
        if (!strcasecmp(line, "HELO"))
            say(qpolicy_helo(arg), "250 drive\r\n");
        else if (!strcasecmp(line, "MAIL"))
            say(qpolicy_mail(arg), "250 ok\r\n");
        else if (!strcasecmp(line, "RCPT")) {
            const char *refused = getenv("RELAYCLIENT") || rcpthost_ok(arg)
                                      ? NULL
                                      : "553 sorry, that domain isn't in my list of allowed "
                                        "rcpthosts (#5.7.1)\r\n";
            say(qpolicy_rcpt(arg, refused), "250 ok\r\n");
        } else if (!strcasecmp(line, "DATA")) {
            r = qpolicy_data();
            if (!r)
                qpolicy_rset();
            say(r, "354 go ahead\r\n");
        } else if (!strcasecmp(line, "RSET")) {
            qpolicy_rset();
            say(NULL, "250 flushed\r\n");
        } else if (!strcasecmp(line, "QUIT")) {
            say(NULL, "221 drive\r\n");
            return 0;
        } else
            say(NULL, "502 unimplemented (#5.5.1)\r\n");
    }
    return 0;
}
