/*
 * log.c - one key=value line per decision, to syslog(LOG_MAIL) or to the
 * caller's callback.  The library prints nothing itself.  Values that came
 * from the network are sanitized and quoted when they hold spaces, so a
 * line can always be split back into its keys.
 */
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "core.h"

#define LOG_LINE_MAX 2048

static void emit(const policy_engine *e, int level, const char *line)
{
    if (level > e->general.log_level)
        return;
    if (e->log_fn) {
        e->log_fn(level, line, e->log_ctx);
        return;
    }
    /* openlog() is process state that belongs to the program; we pass the
     * facility with every call instead of calling it. */
    syslog(e->general.log_facility | level, "libpolicy: %s", line);
}

void elog(const policy_engine *e, int level, const char *fmt, ...)
{
    char line[LOG_LINE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    emit(e, level, line);
}

void plog(const policy_session *s, int level, const char *fmt, ...)
{
    char msg[LOG_LINE_MAX - 128], line[LOG_LINE_MAX];
    va_list ap;
    if (level > s->e->general.log_level)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(line, sizeof(line), "ip=%s %s", s->client.ip, msg);
    emit(s->e, level, line);
}

/* kv - append " key=value", sanitized, quoted when it holds a space or quote. */
static void kv(char *line, size_t cap, size_t *len, const char *key, const char *val)
{
    char clean[600];
    if (!val || *len >= cap)
        return;
    sanitize_copy(clean, sizeof(clean), val, strlen(val));
    int quote = !*clean || strpbrk(clean, " \"=") != NULL;
    int n;
    if (quote) {
        for (char *p = clean; *p; p++)
            if (*p == '"')
                *p = '\'';
        n = snprintf(line + *len, cap - *len, " %s=\"%s\"", key, clean);
    } else {
        n = snprintf(line + *len, cap - *len, " %s=%s", key, clean);
    }
    if (n > 0)
        *len += (size_t)n < cap - *len ? (size_t)n : cap - *len - 1;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void log_decision(policy_session *s, enum stage st, const char *layer, const char *action, int code,
                  const char *xcode, const char *reason)
{
    char line[LOG_LINE_MAX], num[32];
    size_t len = 0;
    int level = POLICY_LOG_INFO;

    if (s->e->metrics_on) /* one event per decision line, logged or not */
        metrics_decision(s, st, layer, action, code);
    if (!strcmp(action, "reject") || !strcmp(action, "tempfail") || !strcmp(action, "disconnect"))
        level = POLICY_LOG_NOTICE;
    if (level > s->e->general.log_level)
        return;
    line[0] = '\0';
    kv(line, sizeof(line), &len, "stage", stage_name(st));
    kv(line, sizeof(line), &len, "action", action);
    const struct client *c = &s->client;
    kv(line, sizeof(line), &len, "ip", c->ip);
    kv(line, sizeof(line), &len, "host", *c->host ? c->host : "unknown");
    if (c->helo_given)
        kv(line, sizeof(line), &len, "helo", c->helo);
    if (c->authenticated)
        kv(line, sizeof(line), &len, "auth", c->auth_user);
    if (s->txn.sender)
        kv(line, sizeof(line), &len, "from", *s->txn.sender ? s->txn.sender : "<>");
    if (st == STAGE_RCPT && s->txn.rcpt)
        kv(line, sizeof(line), &len, "rcpt", s->txn.rcpt);
    else if (st >= STAGE_DATA && s->txn.nrcpts) {
        snprintf(num, sizeof(num), "%zu", s->txn.nrcpts);
        kv(line, sizeof(line), &len, "nrcpt", num);
    }
    if (layer)
        kv(line, sizeof(line), &len, "layer", layer);
    if (code) {
        snprintf(num, sizeof(num), "%d", code);
        kv(line, sizeof(line), &len, "code", num);
    }
    if (xcode && *xcode)
        kv(line, sizeof(line), &len, "xcode", xcode);
    if (reason && *reason)
        kv(line, sizeof(line), &len, "reason", reason);
    snprintf(num, sizeof(num), "%.3fms", (now_seconds() - s->stage_started) * 1000.0);
    kv(line, sizeof(line), &len, "duration", num);
    emit(s->e, level, line + (len ? 1 : 0));
}

double log_now(void)
{
    return now_seconds();
}
