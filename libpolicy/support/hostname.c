/*
 * hostname.c - generic (dynamic-looking) PTR names; see hostname.h.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "hostname.h"

#define MAX_RUNS 64

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_sep(char c)
{
    return c == '.' || c == '-' || c == '_';
}

/* examined - the length of the part of host left of its last two labels
 * (0 when the name has two labels or fewer). */
static size_t examined(const char *host, size_t len)
{
    while (len && host[len - 1] == '.') /* an absolute name */
        len--;
    int dots = 0;
    for (size_t i = len; i > 0; i--)
        if (host[i - 1] == '.' && ++dots == 2)
            return i - 1;
    return 0;
}

/* three_in_a_row - do three consecutive number runs spell three consecutive
 * octets of o, forwards or backwards? */
static int three_in_a_row(const int *runs, size_t n, const unsigned char *o)
{
    for (size_t i = 0; i + 3 <= n; i++)
        for (int k = 0; k < 2; k++) {
            if (runs[i] == o[k] && runs[i + 1] == o[k + 1] && runs[i + 2] == o[k + 2])
                return 1;
            if (runs[i] == o[3 - k] && runs[i + 1] == o[2 - k] && runs[i + 2] == o[1 - k])
                return 1;
        }
    return 0;
}

/* token_is - is the token (a run between separators) equal to want,
 * ignoring case? */
static int token_is(const char *t, size_t n, const char *want)
{
    if (strlen(want) != n)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = t[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != want[i])
            return 0;
    }
    return 1;
}

/* iid_in_name - an IPv6 address's interface identifier (the low 64 bits)
 * in hex anywhere in the name once separators are dropped:
 * "h-0001-0002-0003-0004" for 2001:db8::1:2:3:4. */
static int iid_in_name(const char *h, size_t len, const unsigned char *a)
{
    char flat[256], iid[17];
    size_t n = 0;
    for (size_t i = 0; i < len && n < sizeof(flat) - 1; i++)
        if (!is_sep(h[i]))
            flat[n++] = (char)(h[i] >= 'A' && h[i] <= 'Z' ? h[i] - 'A' + 'a' : h[i]);
    flat[n] = '\0';
    snprintf(iid, sizeof(iid), "%02x%02x%02x%02x%02x%02x%02x%02x", a[8], a[9], a[10], a[11], a[12],
             a[13], a[14], a[15]);
    return strstr(flat, iid) != NULL;
}

static int ip_in_name(const char *h, size_t len, const unsigned char *v4, const unsigned char *tail)
{
    int runs[MAX_RUNS];
    size_t n = 0;
    char hex[9], dec[13], rdec[13];

    snprintf(hex, sizeof(hex), "%02x%02x%02x%02x", tail[0], tail[1], tail[2], tail[3]);
    if (v4) {
        snprintf(dec, sizeof(dec), "%03u%03u%03u%03u", v4[0], v4[1], v4[2], v4[3]);
        snprintf(rdec, sizeof(rdec), "%03u%03u%03u%03u", v4[3], v4[2], v4[1], v4[0]);
    }
    for (size_t i = 0; i < len;) {
        if (is_sep(h[i])) {
            i++;
            continue;
        }
        size_t t = i;
        while (i < len && !is_sep(h[i]))
            i++;
        /* the whole token: one hex or zero-padded decimal run */
        if (token_is(h + t, i - t, hex) || (v4 && token_is(h + t, i - t, dec)))
            return 1;
        /* number runs inside it: "ip1" "dsl203" */
        for (size_t j = t; j < i;) {
            if (!is_digit(h[j])) {
                j++;
                continue;
            }
            size_t d = j;
            int val = 0;
            while (j < i && is_digit(h[j])) {
                if (j - d < 4)
                    val = val * 10 + (h[j] - '0');
                j++;
            }
            if (v4 && j - d == 12 && (!memcmp(h + d, dec, 12) || !memcmp(h + d, rdec, 12)))
                return 1; /* "host192000002013" */
            if (n < MAX_RUNS)
                runs[n++] = j - d <= 3 ? val : -1;
        }
    }
    return v4 && three_in_a_row(runs, n, v4);
}

static int dyn_word(const char *h, size_t len)
{
    static const char *const words[] = {
        "dyn",  "dynamic", "dhcp",     "pool",        "ppp",    "pppoe", "dsl",       "adsl",
        "vdsl", "xdsl",    "cable",    "dial",        "dialup", "dip",   "broadband", "cpe",
        "res",  "client",  "customer", "residential", "user",   NULL};

    for (size_t i = 0; i < len;) {
        size_t l = i; /* one label */
        while (i < len && h[i] != '.')
            i++;
        int digit = 0;
        for (size_t j = l; j < i; j++)
            digit |= is_digit(h[j]);
        for (size_t j = l; digit && j < i;) {
            if (!is_alpha(h[j])) {
                j++;
                continue;
            }
            size_t a = j;
            while (j < i && is_alpha(h[j]))
                j++;
            for (size_t w = 0; words[w]; w++)
                if (token_is(h + a, j - a, words[w]))
                    return 1;
        }
        i++;
    }
    return 0;
}

unsigned host_generic(const char *host, int family, const unsigned char *addr)
{
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    const unsigned char *v4 = NULL, *tail;
    unsigned found = 0;

    if (!host || !addr)
        return 0;
    size_t len = examined(host, strnlen(host, 256));
    if (len == 0)
        return 0;
    if (family == AF_INET)
        v4 = addr;
    else if (!memcmp(addr, mapped, sizeof(mapped)))
        v4 = addr + 12;
    tail = v4 ? v4 : addr + 12;
    if (ip_in_name(host, len, v4, tail) || (!v4 && iid_in_name(host, len, addr)))
        found |= HOST_IP_IN_NAME;
    if (dyn_word(host, len))
        found |= HOST_DYN_WORD;
    return found;
}
