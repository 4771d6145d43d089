/*
 * address.h - parse an SMTP path (RFC 5321) into local part and domain, and
 * resolve the sender-specified routing that relay tricks rely on, so that a
 * relay decision is made on the address the mail would really go to.
 */
#ifndef LIBPOLICY_ADDRESS_H
#define LIBPOLICY_ADDRESS_H

#define ADDR_LOCAL_MAX  64  /* RFC 5321 4.5.3.1.1 */
#define ADDR_DOMAIN_MAX 255 /* RFC 5321 4.5.3.1.2 */
#define ADDR_INPUT_MAX  512 /* what we even look at */

enum addr_status {
    ADDR_OK = 0,
    ADDR_SYNTAX,   /* not an address: stray '@', bad quoting, bad domain */
    ADDR_TOO_LONG, /* local part > 64 or domain > 255 octets */
};

/*
 * An address after resolution.  How each trick resolves (Postfix's
 * resolve with allow_percent_hack, swap_bangpath, resolve_dequoted_address):
 *   @a,@b:u@c      source route: ignored (RFC 5321 C)      -> u@c
 *   "u@b"@a        quoted '@': the last one routes         -> u@b
 *   b!u@a          bang path: first hop is the domain      -> u@b
 *   u%b@a          percent hack: the last '%' routes       -> u@b
 *   u@b@a          more than one unquoted '@'              -> ADDR_SYNTAX
 *   u@A.Example.   case and one trailing dot               -> u@a.example
 *   u@a..b, u@.a   empty label                             -> ADDR_SYNTAX
 *   u@[192.0.2.1]  address literal, kept as "[192.0.2.1]"; IPv6 as
 *                  "[ipv6:2001:db8::1]" (canonical text)
 *   postmaster     no domain: domain "" (qmail appends its envnoathost)
 * Resolution repeats until nothing routes (bounded); routed says whether
 * any of it happened.  The local part is dequoted and keeps its case.
 */
struct addr {
    char local[ADDR_LOCAL_MAX + 1];
    char domain[ADDR_DOMAIN_MAX + 1];
    int routed;       /* %, ! or a quoted @ moved the destination */
    int source_route; /* an RFC 5321 source route was stripped */
    int literal;      /* domain is an address literal */
};

/* addr_parse - parse in (with or without <>) into *out.  Never reads past
 * ADDR_INPUT_MAX bytes or the first NUL.  "" is ADDR_SYNTAX. */
enum addr_status addr_parse(const char *in, struct addr *out);

/* addr_domain_normalize - lowercase, drop one trailing dot, check labels;
 * writes at most ADDR_DOMAIN_MAX+1 bytes into out.  0 ok, -1 invalid. */
int addr_domain_normalize(const char *in, size_t len, char *out);

/* addr_status_text - a short English reason for a status. */
const char *addr_status_text(enum addr_status st);

#endif
