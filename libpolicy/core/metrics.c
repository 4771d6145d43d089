/*
 * metrics.c - the engine's metrics events: made where the core decides
 * (log_decision, the run of the layers, the session and the message) and
 * handed to the caller's sink; with [general] store_metrics also counted
 * in the state store, for processes that live one connection each.
 *
 * Promises: nothing is made when neither is on (callers test
 * e->metrics_on first); a store that fails costs the session one logged
 * line and the counts it held, never a verdict or a wait beyond the
 * store's own timeout.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../support/store.h"
#include "core.h"

#define SERIES_MAX      256               /* one series name with its labels */
#define PENDING_MAX     64                /* series a session holds before it writes */
#define HOUR_TTL        (8 * 24 * 3600)   /* hourly counters live this long */
#define READ_SERIES_MAX 100000            /* series policy_engine_read_metrics takes */
#define READ_BATCH      2000              /* operations per batch when reading */
#define NS_TOTAL        "metrics"         /* series -> all-time count */
#define NS_HOUR         "metrics_h"       /* "HOUR series" -> that hour's count */
#define NS_INDEX        "metrics_idx"     /* "s:series" seen; "n" how many; "i:N" the Nth */

static const double buckets[] = {POLICY_METRIC_BUCKETS};
#define NBUCKETS (sizeof(buckets) / sizeof(*buckets))

/* The counts of one session not yet in the store. */
struct metrics_pending {
    size_t n;
    int failed; /* the store failed this session once: counting stopped */
    struct {
        char series[SERIES_MAX];
        unsigned long long delta;
        int hourly; /* kept per hour too (decisions, sessions, messages, errors) */
    } v[PENDING_MAX];
};

static const char *const results[] = {
    [CHECK_NOMATCH] = "nomatch", [CHECK_MATCH] = "match",     [CHECK_ERROR] = "error",
    [CHECK_ACCEPT] = "accept",   [CHECK_PENDING] = "pending",
};

/* ------------------------------------------------------------ the store's counts */

/* label - append name="value" (Prometheus escaping) to a series name. */
static void label(char *out, size_t cap, size_t *len, const char *name, const char *value)
{
    if (*len >= cap)
        return;
    int n = snprintf(out + *len, cap - *len, "%s%s=\"", out[*len - 1] == '{' ? "" : ",", name);
    if (n < 0 || (size_t)n >= cap - *len) {
        *len = cap;
        return;
    }
    *len += (size_t)n;
    for (const char *p = value ? value : ""; *p && *len + 3 < cap; p++) {
        if (*p == '"' || *p == '\\')
            out[(*len)++] = '\\';
        out[(*len)++] = *p == '\n' ? ' ' : *p;
    }
    if (*len + 1 < cap)
        out[(*len)++] = '"';
    out[*len < cap ? *len : cap - 1] = '\0';
}

/* keep - count delta on a series for the store; written at the next flush. */
static void keep(policy_session *s, const char *series, unsigned long long delta, int hourly)
{
    struct metrics_pending *p = s->mpending;
    if (!p && !(p = s->mpending = calloc(1, sizeof(*p))))
        return; /* no memory: these counts are lost, the mail is not */
    if (p->failed)
        return;
    for (size_t i = 0; i < p->n; i++)
        if (!strcmp(p->v[i].series, series)) {
            p->v[i].delta += delta;
            return;
        }
    if (p->n == PENDING_MAX)
        metrics_flush(s);
    if (p->n == PENDING_MAX || p->failed)
        return;
    snprintf(p->v[p->n].series, SERIES_MAX, "%s", series);
    p->v[p->n].delta = delta;
    p->v[p->n].hourly = hourly;
    p->n++;
}

/* keep_event - the store's series of one event. */
static void keep_event(policy_session *s, const policy_metric *m)
{
    char name[SERIES_MAX];
    size_t len;
#define SERIES(family) (len = (size_t)snprintf(name, sizeof(name), "%s{", family))
    switch (m->kind) {
    case POLICY_METRIC_DECISION: {
        char code[16];
        snprintf(code, sizeof(code), "%d", m->code);
        SERIES("policy_decisions_total");
        label(name, sizeof(name), &len, "stage", m->stage);
        label(name, sizeof(name), &len, "layer", m->layer);
        label(name, sizeof(name), &len, "action", m->action);
        label(name, sizeof(name), &len, "code", m->code ? code : "");
        break;
    }
    case POLICY_METRIC_CHECK: {
        char le[32];
        size_t b = 0;
        while (b < NBUCKETS && m->seconds > buckets[b])
            b++;
        if (b < NBUCKETS)
            snprintf(le, sizeof(le), "%g", buckets[b]);
        else
            snprintf(le, sizeof(le), "+Inf");
        SERIES("policy_check_duration_seconds_bucket");
        label(name, sizeof(name), &len, "layer", m->layer);
        label(name, sizeof(name), &len, "stage", m->stage);
        label(name, sizeof(name), &len, "le", le);
        if (len < sizeof(name) - 1)
            keep(s, strcat(name, "}"), 1, 0);
        SERIES("policy_checks_total");
        label(name, sizeof(name), &len, "layer", m->layer);
        label(name, sizeof(name), &len, "stage", m->stage);
        label(name, sizeof(name), &len, "result", m->action);
        break;
    }
    case POLICY_METRIC_ERROR:
        SERIES("policy_errors_total");
        label(name, sizeof(name), &len, "layer", m->layer);
        label(name, sizeof(name), &len, "service", m->service);
        break;
    case POLICY_METRIC_SESSION:
        snprintf(name, sizeof(name), "policy_sessions_total");
        keep(s, name, 1, 1);
        return;
    case POLICY_METRIC_MESSAGE:
        snprintf(name, sizeof(name), "policy_message_bytes_total");
        keep(s, name, m->bytes, 1);
        SERIES("policy_messages_total");
        label(name, sizeof(name), &len, "action", m->action);
        break;
    default:
        return;
    }
#undef SERIES
    if (len < sizeof(name) - 1)
        keep(s, strcat(name, "}"), 1, m->kind != POLICY_METRIC_CHECK);
}

/* hour_key - "HOUR series", the key of an hourly counter. */
static size_t hour_key(char *out, size_t cap, long long hour, const char *series)
{
    int n = snprintf(out, cap, "%lld %s", hour, series);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

/* index_new - give the series this flush saw first (on the whole host)
 * their numbers in the index, so that readers can find them. */
static void index_new(struct store_batch *b, const char *const *fresh, size_t n)
{
    int ix[PENDING_MAX];
    store_batch_reset(b);
    (void)store_batch_ns(b, NS_INDEX);
    for (size_t i = 0; i < n; i++)
        ix[i] = store_incr(b, "n", 1, 1, 0);
    store_run(b);
    long long num[PENDING_MAX];
    for (size_t i = 0; i < n; i++) {
        const struct store_result *r = store_result(b, ix[i]);
        num[i] = r && r->status == STORE_FOUND ? (long long)r->value : -1;
    }
    store_batch_reset(b);
    for (size_t i = 0; i < n; i++) {
        char key[32];
        if (num[i] < 0)
            continue;
        int kl = snprintf(key, sizeof(key), "i:%lld", num[i]);
        (void)store_set(b, key, (size_t)kl, fresh[i], strlen(fresh[i]), 0);
    }
    store_run(b);
}

void metrics_flush(policy_session *s)
{
    struct metrics_pending *p = s->mpending;
    if (!p || !p->n)
        return;
    struct store_conn *c = session_store_conn(s, s->e->store);
    struct store_batch *b = c ? store_batch_new(c, NS_INDEX) : NULL;
    const char *why = c ? store_conn_failed(c) : "no connection";
    int seen[PENDING_MAX];
    long long hour = (long long)(time(NULL) / 3600 * 3600);
    if (!b || why)
        goto failed;
    for (size_t i = 0; i < p->n; i++) {
        char key[SERIES_MAX + 8];
        int kl = snprintf(key, sizeof(key), "s:%s", p->v[i].series);
        seen[i] = store_add(b, key, (size_t)kl, "1", 1, 0);
    }
    (void)store_batch_ns(b, NS_TOTAL);
    for (size_t i = 0; i < p->n; i++)
        (void)store_incr(b, p->v[i].series, strlen(p->v[i].series), (int64_t)p->v[i].delta, 0);
    (void)store_batch_ns(b, NS_HOUR);
    for (size_t i = 0; i < p->n; i++) {
        char key[SERIES_MAX + 32];
        size_t kl = hour_key(key, sizeof(key), hour, p->v[i].series);
        if (p->v[i].hourly && kl)
            (void)store_incr(b, key, kl, (int64_t)p->v[i].delta, HOUR_TTL);
    }
    store_run(b);
    const char *fresh[PENDING_MAX];
    size_t nfresh = 0;
    for (size_t i = 0; i < store_batch_size(b); i++) {
        const struct store_result *r = store_result(b, (int)i);
        if (r && r->status == STORE_ERROR) {
            why = r->why ? r->why : "error";
            goto failed;
        }
    }
    for (size_t i = 0; i < p->n; i++) {
        const struct store_result *r = store_result(b, seen[i]);
        if (r && r->status == STORE_NOTFOUND) /* added now: new to the host */
            fresh[nfresh++] = p->v[i].series;
    }
    if (nfresh)
        index_new(b, fresh, nfresh);
    store_batch_free(b);
    p->n = 0;
    return;
failed:
    store_batch_free(b);
    plog(s, POLICY_LOG_WARNING, "store_metrics: cannot count in the store (%s): this session's "
         "counts are lost", why ? why : "no memory");
    p->n = 0;
    p->failed = 1;
}

void metrics_free(policy_session *s)
{
    if (s->mpending)
        metrics_flush(s);
    free(s->mpending);
    s->mpending = NULL;
}

/* ------------------------------------------------------------ events */

/* emit - one event to the caller's sink and, with store_metrics, the store. */
static void emit(policy_session *s, const policy_metric *m)
{
    const policy_engine *e = s->e;
    if (e->metrics_fn)
        e->metrics_fn(m, e->metrics_ctx);
    if (e->general.store_metrics && e->store)
        keep_event(s, m);
}

void metrics_decision(policy_session *s, enum stage st, const char *layer, const char *action,
                      int code)
{
    policy_metric m = {.kind = POLICY_METRIC_DECISION, .stage = stage_name(st),
                       .layer = layer ? layer : "", .action = action, .code = code};
    emit(s, &m);
    if (s->e->general.store_metrics)
        metrics_flush(s); /* a decision is what a short-lived process must not lose */
}

void metrics_check(policy_session *s, enum stage st, size_t i, enum check r, double seconds)
{
    policy_metric m = {.kind = POLICY_METRIC_CHECK, .stage = stage_name(st),
                       .layer = layer_registry[i]->name,
                       .action = (unsigned)r < sizeof(results) / sizeof(*results) ? results[r] : "?",
                       .seconds = seconds > 0 ? seconds : 0};
    emit(s, &m);
}

void metrics_session(policy_session *s)
{
    policy_metric m = {.kind = POLICY_METRIC_SESSION};
    emit(s, &m);
}

void metrics_message(policy_session *s, enum stage st, const char *action)
{
    policy_metric m = {.kind = POLICY_METRIC_MESSAGE, .stage = stage_name(st), .action = action,
                       .bytes = s->msg.size};
    s->msg_open = 0;
    emit(s, &m);
}

void session_error(policy_session *s, const struct layer_desc *d, const char *service)
{
    if (!s->e->metrics_on)
        return;
    policy_metric m = {.kind = POLICY_METRIC_ERROR, .layer = d->name,
                       .service = service && *service ? service : "other"};
    emit(s, &m);
}

void policy_engine_set_metrics(policy_engine *e, policy_metrics_fn fn, void *ctx)
{
    if (!e)
        return;
    e->metrics_fn = fn;
    e->metrics_ctx = ctx;
    e->metrics_on = fn || (e->general.store_metrics && e->store);
}

/* ------------------------------------------------------------ reading the store */

/* read_fail - the error line of policy_engine_read_metrics. */
static int read_fail(char *err, size_t errlen, const char *fmt, const char *what)
{
    if (err && errlen)
        snprintf(err, errlen, fmt, what);
    return -1;
}

/* run_checked - run the batch; the first error's reason, or NULL. */
static const char *run_checked(struct store_batch *b)
{
    store_run(b);
    for (size_t i = 0; i < store_batch_size(b); i++) {
        const struct store_result *r = store_result(b, (int)i);
        if (r && r->status == STORE_ERROR)
            return r->why ? r->why : "error";
    }
    return NULL;
}

int policy_engine_read_metrics(policy_engine *e, long long since, policy_stored_metric_fn fn,
                               void *ctx, char *err, size_t errlen)
{
    if (!e || !fn)
        return read_fail(err, errlen, "%s", "no engine or no callback");
    if (!e->store)
        return read_fail(err, errlen, "%s: no [general] store configured",
                         e->path ? e->path : "built-in defaults");
    struct store_conn *c = store_conn_new(e->store, NULL);
    struct store_batch *b = c ? store_batch_new(c, NS_INDEX) : NULL;
    char **names = NULL;
    long long n = 0;
    int rc = -1;
    const char *why;
    if (!b) {
        read_fail(err, errlen, "%s", "out of memory");
        goto out;
    }
    (void)store_get(b, "n", 1);
    if ((why = run_checked(b))) {
        read_fail(err, errlen, "store: %s", why);
        goto out;
    }
    const struct store_result *r = store_result(b, 0);
    if (r->status == STORE_FOUND && r->numeric && r->value > 0)
        n = r->value < READ_SERIES_MAX ? r->value : READ_SERIES_MAX;
    if (n && !(names = calloc((size_t)n, sizeof(*names)))) {
        read_fail(err, errlen, "%s", "out of memory");
        goto out;
    }
    for (long long first = 1; first <= n; first += READ_BATCH) {
        long long last = first + READ_BATCH - 1 < n ? first + READ_BATCH - 1 : n;
        store_batch_reset(b);
        for (long long k = first; k <= last; k++) {
            char key[32];
            int kl = snprintf(key, sizeof(key), "i:%lld", k);
            (void)store_get(b, key, (size_t)kl);
        }
        if ((why = run_checked(b))) {
            read_fail(err, errlen, "store: %s", why);
            goto out;
        }
        for (long long k = first; k <= last; k++) {
            r = store_result(b, (int)(k - first));
            if (r->status == STORE_FOUND && !(names[k - 1] = strndup((const char *)r->data, r->len))) {
                read_fail(err, errlen, "%s", "out of memory");
                goto out;
            }
        }
    }
    /* all-time counts, or every hour from since to now (what is kept) */
    long long now = (long long)(time(NULL) / 3600 * 3600), h0 = since / 3600 * 3600;
    if (since > 0 && h0 < now - HOUR_TTL)
        h0 = now - HOUR_TTL;
    for (long long hour = since > 0 ? h0 : 0;; hour += 3600) {
        for (long long first = 0; first < n; first += READ_BATCH) {
            long long last = first + READ_BATCH < n ? first + READ_BATCH : n;
            int ix[READ_BATCH];
            store_batch_reset(b);
            (void)store_batch_ns(b, since > 0 ? NS_HOUR : NS_TOTAL);
            for (long long k = first; k < last; k++) {
                char key[SERIES_MAX + 32];
                size_t kl = names[k] ? (since > 0 ? hour_key(key, sizeof(key), hour, names[k])
                                                  : strlen(names[k]))
                                     : 0;
                ix[k - first] = kl ? store_get(b, since > 0 ? key : names[k], kl) : -1;
            }
            if ((why = run_checked(b))) {
                read_fail(err, errlen, "store: %s", why);
                goto out;
            }
            for (long long k = first; k < last; k++) {
                r = ix[k - first] >= 0 ? store_result(b, ix[k - first]) : NULL;
                if (r && r->status == STORE_FOUND && r->numeric && r->value > 0)
                    fn(names[k], hour, (unsigned long long)r->value, ctx);
            }
        }
        if (since <= 0 || hour + 3600 > now)
            break;
    }
    rc = 0;
out:
    for (long long k = 0; names && k < n; k++)
        free(names[k]);
    free(names);
    store_batch_free(b);
    store_conn_free(c);
    return rc;
}
