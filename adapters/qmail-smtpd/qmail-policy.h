/*
 * qmail-policy.h - the glue between qmail-smtpd and libpolicy.  Copy
 * qmail-policy.c and this file into the qmail source directory; the patch
 * (netqmail-1.06.patch, notqmail-1.08.patch) calls these functions.
 *
 * Every function returning const char * returns NULL to go on, or a full
 * SMTP reply ("550 5.7.1 text\r\n") for qmail-smtpd to send instead of its
 * own; after a reply for which qpolicy_closing() is true, qmail-smtpd
 * flushes and exits.  The library's errors never stop qmail-smtpd: a glue
 * that cannot start (no memory, a configuration that does not load) defers
 * every transaction with 451 and says why on stderr.
 */
#ifndef QMAIL_POLICY_H
#define QMAIL_POLICY_H

/* in setup(): engine (POLICY_CONFIG, else /etc/libpolicy/policy.conf when it
 * exists, else the built-in defaults), the session for TCPREMOTEIP (unset:
 * an SMTP client of unknown address, see trust_unknown_address) and
 * TCPREMOTEHOST, the variables tcpserver set, and the connect stage */
void qpolicy_setup(void);
/* before the greeting: a reply that refuses the connection, or NULL */
const char *qpolicy_connect(void);
/* after qpolicy_connect() let the client in, before smtp_greet(): holds the
 * greeting back as long as the library says for this client ([botnet],
 * POLICY_GREETDELAY, SMTPD_GREETDELAY) while watching fd 0; input in that
 * time is reported as an early talker.  A reply that refuses the client, or
 * NULL to greet. */
const char *qpolicy_greet(void);
const char *qpolicy_helo(const char *helo);
/* smtp_ehlo: the same, and PIPELINING is offered from now on */
const char *qpolicy_ehlo(const char *helo);
/* at the start of a command (verb "helo", "ehlo", "mail", "rcpt", "data"):
 * buffered is what qmail-smtpd read from the client but has not used yet
 * (ssin.p).  Input already there is a command sent before our reply;
 * where that is not allowed (PIPELINING not offered, or after EHLO, HELO
 * or DATA) the library decides (smtp-delay's antipipelining, [botnet]).  A
 * reply to send instead of the command's, or NULL. */
const char *qpolicy_command(const char *verb, int buffered);
/* for qmail-smtpd builds with SMTP AUTH: after a successful AUTH */
const char *qpolicy_auth(const char *user);
const char *qpolicy_mail(const char *sender); /* the address qmail parsed, "" = <> */
/* after qmail's own checks; qmail_refused: qmail's reply when it refuses
 * (badmailfrom, relay), or NULL.  The library's reply wins when both object. */
const char *qpolicy_rcpt(const char *recipient, const char *qmail_refused);
const char *qpolicy_data(void);
void qpolicy_rset(void); /* RSET, and after each message */
int qpolicy_closing(void);
/* from saferead(), after each read of n > 0 bytes from the client: the
 * receive throttle (bytes per second, the throttle.c idea) sleeps here as
 * long as the session's average rate is above it.  The session time limit
 * is armed by qpolicy_connect(): when it runs out the client gets 421 and
 * the process ends.  Both are the library's decision for the client
 * ([botnet] session_limit and throttle, or the client's POLICY_SESSION_LIMIT
 * and POLICY_THROTTLE from tcp.smtp); 0 = none. */
void qpolicy_received(long n);

#endif
