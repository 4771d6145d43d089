/*
 * tcprules.c - read a tcprules cdb (tcp.smtp.cdb) exactly as ucspi-tcp's
 * tcpserver does, so that Postfix (through policy-milter) and policyctl
 * give a client the same variables qmail-smtpd would get.  Read-only,
 * bounded: a record larger than TCPRULES_MAX_DATA or a malformed file is
 * a read error (-1), never a crash and never a partial rule.
 */
#include <stdio.h>
#include <string.h>

#include <cdb.h>

#include "../util/util.h"
#include "tcprules.h"

#define TCPRULES_MAX_DATA (64 * 1024)
#define TCPRULES_MAX_KEY  600

struct lookup {
    struct cdb cdb;
    char key[TCPRULES_MAX_KEY];
    void (*fn)(const char *name, const char *value, void *ctx);
    void *ctx;
};

/* apply - walk the instructions of a rule like tcpserver's found(): each
 * ends in NUL; an unterminated last one is ignored; "+NAME" without "=" is
 * ignored.  Returns 2 for deny, 1 for allow. */
static int apply(struct lookup *l, const char *data, unsigned len)
{
    char buf[TCPRULES_NAME_MAX + TCPRULES_VALUE_MAX + 2];
    int deny = 0;

    while (len) {
        const char *end = memchr(data, '\0', len);
        if (!end)
            break;
        size_t n = (size_t)(end - data);
        if (data[0] == 'D') {
            deny = 1;
        } else if (data[0] == '+' && n < sizeof(buf)) {
            memcpy(buf, data + 1, n); /* with its NUL */
            char *eq = strchr(buf, '=');
            if (eq) {
                *eq = '\0';
                l->fn(buf, eq + 1, l->ctx);
            }
        }
        len -= (unsigned)(n + 1);
        data = end + 1;
    }
    return deny ? 2 : 1;
}

#define KEY_TOO_LONG ((size_t)-1)

/* key - set the lookup key from parts; KEY_TOO_LONG when it does not fit
 * (such a key cannot be in the file: tcprules keys are short). */
static size_t key(struct lookup *l, const char *a, const char *b, const char *c)
{
    int n = snprintf(l->key, sizeof(l->key), "%s%s%s", a, b, c);
    return n >= 0 && (size_t)n < sizeof(l->key) ? (size_t)n : KEY_TOO_LONG;
}

/* try - one key: 0 not there, 1/2 found (allow/deny), -1 read error. */
static int try(struct lookup *l, size_t keylen)
{
    if (keylen == KEY_TOO_LONG)
        return 0;
    int r = cdb_find(&l->cdb, l->key, (unsigned)keylen);
    if (r <= 0)
        return r < 0 ? -1 : 0;
    unsigned len = cdb_datalen(&l->cdb);
    if (len > TCPRULES_MAX_DATA)
        return -1;
    const char *data = cdb_get(&l->cdb, len, cdb_datapos(&l->cdb));
    if (!data && len)
        return -1;
    return apply(l, data ? data : "", len);
}

/*
 * tcprules_lookup_fd - tcpserver's order (tcprules(1), ADDRESSES):
 * info@ip, info@=host, ip, =host, shorter and shorter prefixes of ip
 * ending with a dot, shorter and shorter suffixes of host starting with a
 * dot preceded by "=", "=" (host known), and the empty key.  IPv6 clients
 * (Debian's tcpserver is IPv4-only, and tcprules cannot even write a key
 * holding ':') get the same walk with prefixes ending in ':', the way the
 * IPv6 patch for ucspi-tcp does; such keys come from other cdb writers.
 */
int tcprules_lookup_fd(int fd, const char *ip, const char *host, const char *info,
                       void (*fn)(const char *name, const char *value, void *ctx), void *ctx)
{
    struct lookup l;
    int r = 0;
    char sep = strchr(ip, ':') ? ':' : '.';

    if (cdb_init(&l.cdb, fd) != 0)
        return -1;
    l.fn = fn;
    l.ctx = ctx;
    if (host && !*host)
        host = NULL;

    if (info && *info) {
        if ((r = try(&l, key(&l, info, "@", ip))) != 0)
            goto done;
        if (host && (r = try(&l, key(&l, info, "@=", host))) != 0)
            goto done;
    }
    if ((r = try(&l, key(&l, ip, "", ""))) != 0)
        goto done;
    if (host && (r = try(&l, key(&l, "=", host, ""))) != 0)
        goto done;
    for (size_t n = strlen(ip); n > 0; n--) {
        if (ip[n - 1] != sep || n >= sizeof(l.key))
            continue;
        memcpy(l.key, ip, n);
        if ((r = try(&l, n)) != 0)
            goto done;
    }
    if (host) {
        for (const char *h = host; *h; h++)
            if (*h == '.' && (r = try(&l, key(&l, "=", h, ""))) != 0)
                goto done;
        l.key[0] = '=';
        if ((r = try(&l, 1)) != 0)
            goto done;
    }
    r = try(&l, 0);
done:
    cdb_free(&l.cdb);
    return r;
}
