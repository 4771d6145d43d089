/*
 * hostname.h - what a client's PTR name says about it: the heuristics the
 * Spamhaus PBL, postscreen and the qmail botnet patches use to tell a
 * dial-up, DSL or cable customer's generic name from a mail server's.
 */
#ifndef LIBPOLICY_HOSTNAME_H
#define LIBPOLICY_HOSTNAME_H

/* What host_generic() found, as bits. */
#define HOST_IP_IN_NAME 0x1 /* the address is written in the name */
#define HOST_DYN_WORD   0x2 /* a dynamic-pool word next to a number */

/*
 * host_generic - does host (a PTR name) look like an access provider's
 * generic name for the address family/addr (4 or 16 bytes)?  Only the
 * labels left of the last two are examined, so that a provider's own
 * domain ("dsl.example" in "mx.dsl.example") never counts.
 *
 * HOST_IP_IN_NAME: three or four IPv4 octets appear as numbers in the
 * name, in either order ("1-2-3-4.pool", "4.3.2.1.dyn", "ip1-2-3-4"), or
 * all four as one 8-digit hex token or a 12-digit zero-padded run, either
 * order ("c0000201", "host192000002001"); for IPv6, the interface
 * identifier (low 64 bits) in hex, separators ignored, or the low 32 bits
 * as one hex token.
 * HOST_DYN_WORD: a label holds both a digit and one of the words access
 * providers use for pools (dyn, dynamic, dhcp, pool, ppp, pppoe, dsl, adsl,
 * vdsl, xdsl, cable, dial, dialup, dip, broadband, cpe, client, customer,
 * res, residential, user).
 *
 * Returns the bits found, 0 when the name looks like a server's.
 */
unsigned host_generic(const char *host, int family, const unsigned char *addr);

#endif
