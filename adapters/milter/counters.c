/*
 * counters.c - policy-milter's metrics: the library's events (its metrics
 * sink) and the daemon's own (reloads) added up, and written out in the
 * Prometheus text exposition format for /metrics.
 *
 * Promises: a milter thread that reports an event never waits for a lock
 * and never for the reader: every count is an atomic, and a series (one
 * set of labels) takes a slot of a fixed table with one compare-and-swap
 * the first time it is seen.  Memory is bounded: a series that finds the
 * table full is counted in policy_metrics_series_dropped_total instead.
 */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "counters.h"
#include "milter.h"

#define SLOTS      2048            /* series of every labelled family together */
#define LABELS_MAX 256             /* one series' labels, rendered */
#define OUT_MAX    (16 * 1024 * 1024) /* the largest page rendered */

static const double bounds[] = {POLICY_METRIC_BUCKETS};
#define NBOUNDS (sizeof(bounds) / sizeof(*bounds))

/* The labelled families, in the order the page shows them. */
enum family { F_DECISIONS, F_CHECKS, F_DURATION, F_ERRORS, F_MESSAGES, F_COUNT };

static const struct {
    const char *name, *type, *help;
} families[F_COUNT] = {
    [F_DECISIONS] = {"policy_decisions_total", "counter",
                     "Decision log lines, by stage, layer, action and SMTP code."},
    [F_CHECKS] = {"policy_checks_total", "counter",
                  "Checks run by the layers (one hook call each), by layer, stage and result."},
    [F_DURATION] = {"policy_check_duration_seconds", "histogram",
                    "How long the checks of each layer ran, by layer and stage."},
    [F_ERRORS] = {"policy_errors_total", "counter",
                  "Failures of a service (dns, map, pcre, store, clamd, spamd ...) a layer met."},
    [F_MESSAGES] = {"policy_messages_total", "counter",
                    "Messages at their end, by verdict (abort: the transaction ended first)."},
};

struct key {
    enum family family;
    char labels[];
};

struct slot {
    _Atomic(struct key *) key;
    atomic_ullong n;
    atomic_ullong sum_ns;             /* F_DURATION */
    atomic_ullong bucket[NBOUNDS + 1]; /* F_DURATION, not cumulative; the last is +Inf */
};

static struct slot slots[SLOTS];
static atomic_ullong sessions, bytes, reloads, reload_failures, dropped;
static atomic_llong reload_ok_at, started_at;

/* ------------------------------------------------------------ counting */

/* label - append name="value", escaped as the exposition format wants. */
static void label(char *out, size_t *len, const char *name, const char *value)
{
    size_t n = *len;
    int w = snprintf(out + n, LABELS_MAX - n, "%s%s=\"", n ? "," : "", name);
    if (w < 0 || (size_t)w >= LABELS_MAX - n)
        return;
    n += (size_t)w;
    for (const char *p = value ? value : ""; *p && n + 4 < LABELS_MAX; p++) {
        if (*p == '\\' || *p == '"')
            out[n++] = '\\';
        out[n++] = *p == '\n' ? ' ' : *p;
    }
    out[n++] = '"';
    out[n] = '\0';
    *len = n;
}

static uint32_t hash(enum family f, const char *s)
{
    uint32_t h = 2166136261u ^ (uint32_t)f;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* slot_of - the slot of a series, taken now if it is new; NULL when the
 * table is full (or memory is out): the event is counted as dropped. */
static struct slot *slot_of(enum family f, const char *labels)
{
    uint32_t h = hash(f, labels);
    struct key *fresh = NULL;
    for (size_t i = 0; i < SLOTS; i++) {
        struct slot *sl = &slots[(h + i) % SLOTS];
        struct key *k = atomic_load_explicit(&sl->key, memory_order_acquire);
        if (!k) {
            size_t n = strlen(labels) + 1;
            if (!fresh && !(fresh = malloc(sizeof(*fresh) + n)))
                break;
            fresh->family = f;
            memcpy(fresh->labels, labels, n);
            if (atomic_compare_exchange_strong_explicit(&sl->key, &k, fresh, memory_order_acq_rel,
                                                        memory_order_acquire))
                return sl;
            /* another thread took it first: k is its key now */
        }
        if (k->family == f && !strcmp(k->labels, labels)) {
            free(fresh);
            return sl;
        }
    }
    free(fresh);
    atomic_fetch_add_explicit(&dropped, 1, memory_order_relaxed);
    return NULL;
}

static void add(enum family f, const char *labels, unsigned long long v)
{
    struct slot *sl = slot_of(f, labels);
    if (sl)
        atomic_fetch_add_explicit(&sl->n, v, memory_order_relaxed);
}

static void observe(const char *labels, double seconds)
{
    struct slot *sl = slot_of(F_DURATION, labels);
    if (!sl)
        return;
    size_t b = 0;
    while (b < NBOUNDS && seconds > bounds[b])
        b++;
    atomic_fetch_add_explicit(&sl->bucket[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&sl->sum_ns, (unsigned long long)(seconds * 1e9),
                              memory_order_relaxed);
}

void counters_event(const policy_metric *m, void *ctx)
{
    char l[LABELS_MAX], code[16];
    size_t n = 0;
    (void)ctx;
    l[0] = '\0';
    switch (m->kind) {
    case POLICY_METRIC_DECISION:
        snprintf(code, sizeof(code), "%d", m->code);
        label(l, &n, "stage", m->stage);
        label(l, &n, "layer", m->layer);
        label(l, &n, "action", m->action);
        label(l, &n, "code", m->code ? code : "");
        add(F_DECISIONS, l, 1);
        break;
    case POLICY_METRIC_CHECK:
        label(l, &n, "layer", m->layer);
        label(l, &n, "stage", m->stage);
        observe(l, m->seconds);
        label(l, &n, "result", m->action);
        add(F_CHECKS, l, 1);
        break;
    case POLICY_METRIC_ERROR:
        label(l, &n, "layer", m->layer);
        label(l, &n, "service", m->service);
        add(F_ERRORS, l, 1);
        break;
    case POLICY_METRIC_SESSION:
        atomic_fetch_add_explicit(&sessions, 1, memory_order_relaxed);
        break;
    case POLICY_METRIC_MESSAGE:
        label(l, &n, "action", m->action);
        add(F_MESSAGES, l, 1);
        atomic_fetch_add_explicit(&bytes, m->bytes, memory_order_relaxed);
        break;
    }
}

void counters_reload(int ok)
{
    atomic_fetch_add(ok ? &reloads : &reload_failures, 1);
    if (ok)
        atomic_store(&reload_ok_at, (long long)time(NULL));
}

void counters_start(void)
{
    atomic_store(&started_at, (long long)time(NULL));
    atomic_store(&reload_ok_at, (long long)time(NULL));
}

/* ------------------------------------------------------------ the page */

struct out {
    char *p;
    size_t len, cap;
    int full; /* OUT_MAX reached or no memory: the page is not served */
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct out *o, const char *fmt, ...)
{
    va_list ap;
    for (int tries = 0; tries < 2 && !o->full; tries++) {
        va_start(ap, fmt);
        int n = vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            o->full = 1;
            return;
        }
        if ((size_t)n < o->cap - o->len) {
            o->len += (size_t)n;
            return;
        }
        size_t cap = o->cap * 2 > o->len + (size_t)n + 1 ? o->cap * 2 : o->len + (size_t)n + 1;
        char *p = cap <= OUT_MAX ? realloc(o->p, cap) : NULL;
        if (!p)
            o->full = 1;
        else
            o->p = p, o->cap = cap;
    }
}

static void head(struct out *o, const char *name, const char *type, const char *help)
{
    put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static int by_labels(const void *a, const void *b)
{
    const struct key *x = atomic_load(&(*(struct slot *const *)a)->key);
    const struct key *y = atomic_load(&(*(struct slot *const *)b)->key);
    return strcmp(x->labels, y->labels);
}

/* family - every series of f, sorted by labels (a stable page to diff). */
static void family(struct out *o, enum family f, struct slot **list)
{
    size_t n = 0;
    for (size_t i = 0; i < SLOTS; i++) {
        struct key *k = atomic_load_explicit(&slots[i].key, memory_order_acquire);
        if (k && k->family == f)
            list[n++] = &slots[i];
    }
    qsort(list, n, sizeof(*list), by_labels);
    head(o, families[f].name, families[f].type, families[f].help);
    for (size_t i = 0; i < n; i++) {
        const char *l = atomic_load(&list[i]->key)->labels;
        if (f != F_DURATION) {
            put(o, "%s{%s} %llu\n", families[f].name, l,
                atomic_load_explicit(&list[i]->n, memory_order_relaxed));
            continue;
        }
        /* one reading of the buckets: count and +Inf agree */
        unsigned long long cum = 0;
        for (size_t b = 0; b <= NBOUNDS; b++) {
            cum += atomic_load_explicit(&list[i]->bucket[b], memory_order_relaxed);
            if (b < NBOUNDS)
                put(o, "%s_bucket{%s,le=\"%g\"} %llu\n", families[f].name, l, bounds[b], cum);
            else
                put(o, "%s_bucket{%s,le=\"+Inf\"} %llu\n", families[f].name, l, cum);
        }
        put(o, "%s_sum{%s} %.9f\n", families[f].name, l,
            (double)atomic_load_explicit(&list[i]->sum_ns, memory_order_relaxed) / 1e9);
        put(o, "%s_count{%s} %llu\n", families[f].name, l, cum);
    }
}

char *counters_render(size_t *len)
{
    struct out o = {malloc(65536), 0, 65536, 0};
    struct slot **list = malloc(SLOTS * sizeof(*list));
    if (!o.p || !list) {
        free(o.p);
        free(list);
        return NULL;
    }
    o.p[0] = '\0';
    head(&o, "policy_build_info", "gauge", "The version of libpolicy policy-milter runs.");
    put(&o, "policy_build_info{version=\"%s\"} 1\n", policy_version());
    head(&o, "policy_start_time_seconds", "gauge", "When policy-milter started (unix time).");
    put(&o, "policy_start_time_seconds %lld\n", atomic_load(&started_at));
    head(&o, "policy_sessions_total", "counter", "Client connections (the connect stage ran).");
    put(&o, "policy_sessions_total %llu\n", atomic_load(&sessions));
    head(&o, "policy_sessions_active", "gauge", "Connections with a live session now.");
    put(&o, "policy_sessions_active %d\n", milter_active());
    for (enum family f = 0; f < F_COUNT; f++)
        family(&o, f, list);
    head(&o, "policy_message_bytes_total", "counter", "Bytes of the messages counted above.");
    put(&o, "policy_message_bytes_total %llu\n", atomic_load(&bytes));
    head(&o, "policy_reloads_total", "counter", "Configuration reloads (SIGHUP) that took effect.");
    put(&o, "policy_reloads_total %llu\n", atomic_load(&reloads));
    head(&o, "policy_reload_failures_total", "counter",
         "Reloads that failed: the running configuration stayed.");
    put(&o, "policy_reload_failures_total %llu\n", atomic_load(&reload_failures));
    head(&o, "policy_last_reload_success_timestamp_seconds", "gauge",
         "When the running configuration was loaded (unix time).");
    put(&o, "policy_last_reload_success_timestamp_seconds %lld\n", atomic_load(&reload_ok_at));
    head(&o, "policy_metrics_series_dropped_total", "counter",
         "Events not counted: the table of series was full.");
    put(&o, "policy_metrics_series_dropped_total %llu\n", atomic_load(&dropped));
    free(list);
    if (o.full) {
        free(o.p);
        return NULL;
    }
    *len = o.len;
    return o.p;
}
