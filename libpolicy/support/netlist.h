/*
 * netlist.h - lists of IPv4 and IPv6 networks (CIDR), for trusted networks
 * and anything else that asks "is this client in one of these nets?".
 */
#ifndef LIBPOLICY_NETLIST_H
#define LIBPOLICY_NETLIST_H

#include <stddef.h>

struct net {
    int family;             /* AF_INET or AF_INET6 */
    unsigned char addr[16]; /* network address, host bits cleared */
    unsigned bits;          /* prefix length */
};

struct netlist {
    struct net *nets;
    size_t n, cap;
};

/* netlist_add_words - parse "10.0.0.0/8 ::1/128 192.0.2.7" (space or comma
 * separated) and append; a bare address is a host.  Returns 0, or -1 with
 * the offending word copied into bad (badlen bytes). */
int netlist_add_words(struct netlist *l, const char *words, char *bad, size_t badlen);
/* netlist_match - is the address (4 or 16 bytes of family) in the list? */
int netlist_match(const struct netlist *l, int family, const unsigned char *addr);
void netlist_clear(struct netlist *l);

#endif
