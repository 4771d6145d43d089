/*
 * netlist.c - CIDR lists.  Parsing refuses anything that is not exactly an
 * address with an optional prefix length in range; a network written with
 * host bits set (10.1.2.3/8) is refused too, since it is usually a typo.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "../util/util.h"
#include "netlist.h"

/* prefix_equal - do a and b agree on their first bits bits? */
static int prefix_equal(const unsigned char *a, const unsigned char *b, unsigned bits)
{
    unsigned bytes = bits / 8, rest = bits % 8;
    if (memcmp(a, b, bytes) != 0)
        return 0;
    if (!rest)
        return 1;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return (a[bytes] & mask) == (b[bytes] & mask);
}

static int parse_net(const char *w, struct net *out)
{
    char buf[INET6_ADDRSTRLEN + 8];
    char *slash;
    unsigned long bits;
    size_t n = strlen(w);

    if (n >= sizeof(buf))
        return -1;
    memcpy(buf, w, n + 1);
    slash = strchr(buf, '/');
    if (slash)
        *slash++ = '\0';
    memset(out, 0, sizeof(*out));
    if (inet_pton(AF_INET, buf, out->addr) == 1)
        out->family = AF_INET, bits = 32;
    else if (inet_pton(AF_INET6, buf, out->addr) == 1)
        out->family = AF_INET6, bits = 128;
    else
        return -1;
    if (slash) {
        unsigned long b;
        if (cfg_parse_uint(slash, bits, &b))
            return -1;
        bits = b;
    }
    out->bits = (unsigned)bits;
    /* host bits must be zero */
    unsigned len = out->family == AF_INET ? 4 : 16;
    for (unsigned i = out->bits; i < len * 8; i++)
        if (out->addr[i / 8] & (0x80 >> (i % 8)))
            return -1;
    return 0;
}

int netlist_add_words(struct netlist *l, const char *words, char *bad, size_t badlen)
{
    for (const char *w = words; *w;) {
        w += strspn(w, " \t,");
        size_t n = strcspn(w, " \t,");
        if (!n)
            break;
        char word[INET6_ADDRSTRLEN + 8];
        struct net net;
        if (n >= sizeof(word) || (memcpy(word, w, n), word[n] = '\0', parse_net(word, &net))) {
            if (bad && badlen) {
                size_t k = n < badlen - 1 ? n : badlen - 1;
                memcpy(bad, w, k);
                bad[k] = '\0';
            }
            return -1;
        }
        if (l->n == l->cap) {
            size_t nc = l->cap ? l->cap * 2 : 8;
            struct net *nv = realloc(l->nets, nc * sizeof(*nv));
            if (!nv) {
                if (bad && badlen)
                    bad[0] = '\0';
                return -1;
            }
            l->nets = nv;
            l->cap = nc;
        }
        l->nets[l->n++] = net;
        w += n;
    }
    return 0;
}

int netlist_match(const struct netlist *l, int family, const unsigned char *addr)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->nets[i].family == family && prefix_equal(l->nets[i].addr, addr, l->nets[i].bits))
            return 1;
    return 0;
}

void netlist_clear(struct netlist *l)
{
    free(l->nets);
    memset(l, 0, sizeof(*l));
}
