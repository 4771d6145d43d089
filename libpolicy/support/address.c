/*
 * address.c - the address parser behind relay control (and, later, the
 * recipient and SPF layers).  Works on stack buffers of RFC sizes: no
 * allocation, every loop bounded by ADDR_INPUT_MAX.  See address.h for how
 * each relay trick resolves.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "../util/util.h"
#include "address.h"

#define ADDR_MAX_HOPS 16 /* routing resolutions before we call it a syntax error */

const char *addr_status_text(enum addr_status st)
{
    switch (st) {
    case ADDR_OK:
        return "ok";
    case ADDR_TOO_LONG:
        return "address too long";
    default:
        return "bad address syntax";
    }
}

/* literal_normalize - "[1.2.3.4]" / "[IPv6:...]" to canonical text. */
static int literal_normalize(const char *in, size_t len, char *out)
{
    char buf[80];
    unsigned char a[16];
    if (len < 3 || in[len - 1] != ']' || len - 2 >= sizeof(buf))
        return -1;
    memcpy(buf, in + 1, len - 2);
    buf[len - 2] = '\0';
    if (inet_pton(AF_INET, buf, a) == 1) {
        out[0] = '[';
        inet_ntop(AF_INET, a, out + 1, INET_ADDRSTRLEN);
        strcat(out, "]");
        return 0;
    }
    if (str_ieqn(buf, "ipv6:", 5) && inet_pton(AF_INET6, buf + 5, a) == 1) {
        memcpy(out, "[ipv6:", 6);
        inet_ntop(AF_INET6, a, out + 6, INET6_ADDRSTRLEN);
        strcat(out, "]");
        return 0;
    }
    return -1;
}

int addr_domain_normalize(const char *in, size_t len, char *out)
{
    size_t label = 0;
    if (len && in[0] == '[')
        return literal_normalize(in, len, out);
    if (len && in[len - 1] == '.')
        len--; /* one trailing dot: the absolute form of the same name */
    if (len == 0 || len > ADDR_DOMAIN_MAX)
        return -1;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == '.') {
            if (label == 0)
                return -1;
            label = 0;
        } else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
                   c >= 0x80) {
            label++;
        } else if (c >= 'A' && c <= 'Z') {
            c = (unsigned char)(c - 'A' + 'a');
            label++;
        } else {
            return -1;
        }
        if (label > 63)
            return -1;
        out[i] = (char)c;
    }
    if (label == 0)
        return -1;
    out[len] = '\0';
    return 0;
}

/* atom_char - may c appear unquoted in a local part? (RFC 5322 atext, plus
 * the 8-bit bytes of SMTPUTF8 and the dots of a dot-atom) */
static int atom_char(unsigned char c)
{
    switch (c) { /* a switch, not strchr: this runs for every byte of every address */
    case '(':
    case ')':
    case '<':
    case '>':
    case '[':
    case ']':
    case ':':
    case ';':
    case '@':
    case '\\':
    case ',':
    case '"':
        return 0;
    default:
        return c > ' ' && c != 0x7f;
    }
}

/* split_route - resolve one routing hop in a.local; 1 if it moved, 0 if
 * nothing routes, -1 on a syntax error in the new domain. */
static int split_route(struct addr *a)
{
    char *p;
    char dom[ADDR_DOMAIN_MAX + 1];
    size_t dl;

    if ((p = strrchr(a->local, '@')) != NULL) { /* from a quoted local part */
        dl = strlen(p + 1);
        if (dl > ADDR_DOMAIN_MAX || addr_domain_normalize(p + 1, dl, dom))
            return -1;
        *p = '\0';
    } else if ((p = strchr(a->local, '!')) != NULL) { /* site!user */
        dl = (size_t)(p - a->local);
        if (dl > ADDR_DOMAIN_MAX || addr_domain_normalize(a->local, dl, dom))
            return -1;
        memmove(a->local, p + 1, strlen(p + 1) + 1);
    } else if ((p = strrchr(a->local, '%')) != NULL) { /* user%site */
        dl = strlen(p + 1);
        if (dl > ADDR_DOMAIN_MAX || addr_domain_normalize(p + 1, dl, dom))
            return -1;
        *p = '\0';
    } else {
        return 0;
    }
    memcpy(a->domain, dom, sizeof(dom));
    a->literal = dom[0] == '[';
    a->routed = 1;
    return a->local[0] ? 1 : -1;
}

enum addr_status addr_parse(const char *in, struct addr *out)
{
    size_t n = strnlen(in, ADDR_INPUT_MAX + 1), i = 0, ll = 0;

    memset(out, 0, sizeof(*out));
    if (n > ADDR_INPUT_MAX)
        return ADDR_TOO_LONG;
    while (n && (in[n - 1] == ' ' || in[n - 1] == '\t'))
        n--;
    while (i < n && (in[i] == ' ' || in[i] == '\t'))
        i++;
    if (i < n && in[i] == '<') {
        if (in[n - 1] != '>')
            return ADDR_SYNTAX;
        i++;
        n--;
    }
    /* a source route "@a,@b:" is ignored (RFC 5321 appendix C) */
    if (i < n && in[i] == '@') {
        const char *colon = memchr(in + i, ':', n - i);
        if (!colon)
            return ADDR_SYNTAX;
        for (const char *p = in + i; p < colon; p++)
            if (*p != '@' && *p != ',' && *p != '.' && *p != '-' && *p != '[' && *p != ']' &&
                !(*p >= '0' && *p <= '9') && !((*p | 0x20) >= 'a' && (*p | 0x20) <= 'z'))
                return ADDR_SYNTAX;
        out->source_route = 1;
        i = (size_t)(colon - in) + 1;
    }
    if (i >= n)
        return ADDR_SYNTAX;

    /* the local part: a quoted string or a dot-atom, dequoted into out->local */
    if (in[i] == '"') {
        for (i++;; i++) {
            if (i >= n)
                return ADDR_SYNTAX; /* unterminated quote */
            unsigned char c = (unsigned char)in[i];
            if (c == '"')
                break;
            if (c == '\\') {
                if (++i >= n)
                    return ADDR_SYNTAX;
                c = (unsigned char)in[i];
            }
            if (c < ' ' || c == 0x7f)
                return ADDR_SYNTAX;
            if (ll >= ADDR_LOCAL_MAX)
                return ADDR_TOO_LONG;
            out->local[ll++] = (char)c;
        }
        i++; /* closing quote */
    } else {
        for (; i < n && in[i] != '@'; i++) {
            unsigned char c = (unsigned char)in[i];
            if (!atom_char(c))
                return ADDR_SYNTAX;
            if (ll >= ADDR_LOCAL_MAX)
                return ADDR_TOO_LONG;
            out->local[ll++] = (char)c;
        }
        if (ll == 0 || out->local[0] == '.' || out->local[ll - 1] == '.' ||
            strstr(out->local, ".."))
            return ADDR_SYNTAX;
    }
    out->local[ll] = '\0';
    if (ll == 0)
        return ADDR_SYNTAX;

    if (i < n) { /* "@domain" */
        if (in[i] != '@' || i + 1 >= n)
            return ADDR_SYNTAX;
        i++;
        if (n - i > ADDR_DOMAIN_MAX + 1)
            return ADDR_TOO_LONG;
        if (memchr(in + i, '@', n - i))
            return ADDR_SYNTAX; /* u@b@a */
        if (addr_domain_normalize(in + i, n - i, out->domain))
            return ADDR_SYNTAX;
        out->literal = out->domain[0] == '[';
    }

    for (int hop = 0;; hop++) {
        int r = split_route(out);
        if (r == 0)
            break;
        if (r < 0 || hop >= ADDR_MAX_HOPS)
            return ADDR_SYNTAX;
    }
    return ADDR_OK;
}
