/*
 * qpolicy_drive.c - the qmail-smtpd glue (adapters/qmail-smtpd/qmail-policy.c)
 * driven the way the patched qmail-smtpd drives it, for tests under the
 * real tcpserver: one SMTP-ish command per line on stdin (HELO name, MAIL
 * address, RCPT address, DATA, RSET, QUIT), one reply per line on stdout.
 * qmail's own relay check is imitated from $RCPTHOSTS (space separated
 * domains) and $RELAYCLIENT, so the "library wins when both object" rule
 * can be seen.  Addresses are given bare, as qmail's addrparse leaves them.
 * Input is read in blocks into a buffer of its own, as qmail-smtpd's ssin
 * does, so that what the client sent beyond a command is known
 * (qpolicy_command, antipipelining); EHLO offers PIPELINING.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

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

/* The client's input, read as qmail-smtpd reads it. */
static char inbuf[1024];
static size_t inlen;

/* next_line - the next line into line (cut at len-1), without its end; 0
 * at the end of input.  qpolicy_received sees every read, as in saferead. */
static int next_line(char *line, size_t len)
{
    size_t n = 0;
    for (;;) {
        char *nl = memchr(inbuf, '\n', inlen);
        size_t take = nl ? (size_t)(nl - inbuf) + 1 : inlen;
        for (size_t i = 0; i < take; i++)
            if (n + 1 < len)
                line[n++] = inbuf[i];
        memmove(inbuf, inbuf + take, inlen - take);
        inlen -= take;
        if (nl)
            break;
        fflush(stdout);
        ssize_t r = read(0, inbuf, sizeof(inbuf));
        if (r <= 0) {
            if (n == 0)
                return 0;
            break;
        }
        qpolicy_received((long)r);
        inlen = (size_t)r;
    }
    line[n] = '\0';
    line[strcspn(line, "\r\n")] = '\0';
    return 1;
}

/* early - what the client sent beyond this command before our reply */
static int early(const char *verb)
{
    const char *r = qpolicy_command(verb, (int)inlen);
    if (r)
        say(r, NULL);
    return r != NULL;
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
    while (next_line(line, sizeof(line))) {
        char *arg = strchr(line, ' ');
        if (arg)
            *arg++ = '\0';
        else
            arg = line + strlen(line);
        int known = !strcasecmp(line, "HELO") || !strcasecmp(line, "EHLO") ||
                    !strcasecmp(line, "MAIL") || !strcasecmp(line, "RCPT") ||
                    !strcasecmp(line, "DATA");
        char verb[8];
        snprintf(verb, sizeof(verb), "%s", line);
        for (char *p = verb; *p; p++)
            *p = (char)(*p | 0x20);
        if (known && early(verb))
            continue;
        if (!strcasecmp(line, "HELO"))
            say(qpolicy_helo(arg), "250 drive\r\n");
        else if (!strcasecmp(line, "EHLO"))
            say(qpolicy_ehlo(arg), "250-drive\r\n250 PIPELINING\r\n");
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
