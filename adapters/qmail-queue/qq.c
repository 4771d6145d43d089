/*
 * qq.c - envelope parsing for policy-queue.  It takes bytes
 * that came from the network through qmail-smtpd: bounded by the buffer
 * given, no assumption that anything is terminated or well formed.
 */
#include <stdlib.h>
#include <string.h>

#include "qq.h"

int qq_envelope_parse(const char *buf, size_t len, struct qq_envelope *env)
{
    size_t cap = 0;
    const char *p = buf, *end = buf + len;

    memset(env, 0, sizeof(*env));
    if (len < 2 || *p != 'F')
        return -1;
    const char *nul = memchr(p, '\0', (size_t)(end - p));
    if (!nul)
        return -1;
    env->sender = p + 1;
    p = nul + 1;
    for (;;) {
        if (p >= end)
            goto bad; /* no final NUL */
        if (*p == '\0') {
            if (p + 1 != end || env->nrcpts == 0)
                goto bad;
            return 0;
        }
        if (*p != 'T')
            goto bad;
        nul = memchr(p, '\0', (size_t)(end - p));
        if (!nul || nul == p + 1)
            goto bad;
        if (env->nrcpts == cap) {
            size_t nc = cap ? cap * 2 : 8;
            const char **nr = realloc(env->rcpts, nc * sizeof(*nr));
            if (!nr) {
                qq_envelope_free(env);
                return -2;
            }
            env->rcpts = nr;
            cap = nc;
        }
        env->rcpts[env->nrcpts++] = p + 1;
        p = nul + 1;
    }
bad:
    qq_envelope_free(env);
    return -1;
}

void qq_envelope_free(struct qq_envelope *env)
{
    free(env->rcpts);
    memset(env, 0, sizeof(*env));
}
