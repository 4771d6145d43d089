/*
 * qq.c - envelope and message parsing for policy-queue.  Both take bytes
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

#define HEADER_MAX (64 * 1024) /* one unfolded header given to the library */
#define CHUNK      (64 * 1024)

/* send_header - "Name: value" (folded lines included) to the library. */
static policy_action send_header(policy_session *s, const char *h, size_t len)
{
    char buf[HEADER_MAX + 1];
    if (len > HEADER_MAX)
        len = HEADER_MAX;
    memcpy(buf, h, len);
    buf[len] = '\0';
    for (size_t i = 0; i < len; i++) /* NUL bytes would cut the value short */
        if (buf[i] == '\0')
            buf[i] = ' ';
    while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
        buf[--len] = '\0';
    char *colon = memchr(buf, ':', len);
    if (!colon) /* not a header line: the library sees it named "" */
        return policy_header(s, "", buf);
    *colon = '\0';
    const char *value = colon + 1;
    while (*value == ' ' || *value == '\t')
        value++;
    size_t nl = strlen(buf);
    while (nl && (buf[nl - 1] == ' ' || buf[nl - 1] == '\t'))
        buf[--nl] = '\0';
    return policy_header(s, buf, value);
}

/* line_end - the end of the line starting at p (after its LF), or end. */
static const char *line_end(const char *p, const char *end)
{
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    return nl ? nl + 1 : end;
}

static int blank_line(const char *p, const char *e)
{
    return (e - p == 1 && p[0] == '\n') || (e - p == 2 && p[0] == '\r' && p[1] == '\n') || (e == p);
}

policy_action qq_message_scan(policy_session *s, const char *msg, size_t len, size_t *header_len)
{
    const char *p = msg, *end = msg + len;
    policy_action a = POLICY_CONTINUE;

    *header_len = len;
    /* headers: a line starting with SP/TAB continues the one before */
    while (p < end) {
        const char *e = line_end(p, end);
        if (blank_line(p, e)) {
            *header_len = (size_t)(e - msg);
            p = e;
            goto body;
        }
        const char *h = p;
        p = e;
        while (p < end && (*p == ' ' || *p == '\t'))
            p = line_end(p, end);
        a = send_header(s, h, (size_t)(p - h));
        if (a != POLICY_CONTINUE)
            return a;
    }
    return policy_eom(s); /* headers only, no body */
body:
    while (p < end) {
        size_t n = (size_t)(end - p) < CHUNK ? (size_t)(end - p) : CHUNK;
        a = policy_body(s, p, n);
        if (a != POLICY_CONTINUE)
            return a;
        p += n;
    }
    return policy_eom(s);
}
