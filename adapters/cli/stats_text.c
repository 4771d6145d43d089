/*
 * stats_text.c - the text summary of `policyctl stats`, in the manner of
 * pflogsumm: totals, decisions per layer and action, refusals per stage,
 * the top refused clients, senders and recipients, DNSBL zones, volume per
 * hour and durations.  Every number the HTML page draws is printed here.
 */
#include <stdlib.h>
#include <string.h>

#include "stats.h"

/* The order actions are shown in: refusals first, then the rest. */
static const char *const action_order[] = {"reject",   "tempfail", "disconnect",     "delay",
                                           "warn",     "tag",      "accept",         "exempt",
                                           "warn-error", "error-accepted", NULL};

static int action_rank(const char *a)
{
    for (int i = 0; action_order[i]; i++)
        if (!strcmp(a, action_order[i]))
            return i;
    return 100;
}

static int by_rank(const void *x, const void *y)
{
    const char *a = *(const char *const *)x, *b = *(const char *const *)y;
    int ra = action_rank(a), rb = action_rank(b);
    return ra != rb ? ra - rb : strcmp(a, b);
}

const char **stats_actions(const struct stats *st, size_t *n)
{
    const char **v = malloc((st->action.n ? st->action.n : 1) * sizeof(*v));
    *n = 0;
    if (!v)
        return NULL;
    for (size_t i = 0; i < st->action.cap; i++)
        if (st->action.keys[i])
            v[(*n)++] = st->action.keys[i];
    qsort(v, *n, sizeof(*v), by_rank);
    return v;
}

/* layer_total - decisions of a layer, from "layer\taction" keys. */
static unsigned long long layer_total(const struct stats *st, const char *layer)
{
    unsigned long long n = 0;
    size_t ll = strlen(layer);
    for (size_t i = 0; i < st->layer_action.cap; i++) {
        const char *k = st->layer_action.keys[i];
        if (k && !strncmp(k, layer, ll) && k[ll] == '\t')
            n += st->layer_action.counts[i];
    }
    return n;
}

static const struct stats *ordering;
static int by_total(const void *x, const void *y)
{
    const char *a = *(const char *const *)x, *b = *(const char *const *)y;
    unsigned long long ta = layer_total(ordering, a), tb = layer_total(ordering, b);
    return ta != tb ? (ta < tb ? 1 : -1) : strcmp(a, b);
}

const char **stats_layers(const struct stats *st, size_t *n)
{
    const char **v = malloc((st->layer_action.n ? st->layer_action.n : 1) * sizeof(*v));
    *n = 0;
    if (!v)
        return NULL;
    for (size_t i = 0; i < st->layer_action.cap; i++) {
        const char *k = st->layer_action.keys[i];
        if (!k)
            continue;
        size_t ll = strcspn(k, "\t"), j;
        for (j = 0; j < *n; j++)
            if (strlen(v[j]) == ll && !strncmp(v[j], k, ll))
                break;
        if (j == *n) {
            char *name = strndup(k, ll);
            if (name)
                v[(*n)++] = name;
        }
    }
    ordering = st;
    qsort(v, *n, sizeof(*v), by_total);
    return v;
}

time_t *stats_hours(const struct stats *st, size_t *n)
{
    *n = 0;
    if (!st->first)
        return NULL;
    time_t h0 = st->first - st->first % 3600, h1 = st->last - st->last % 3600;
    size_t count = (size_t)((h1 - h0) / 3600) + 1;
    if (count > 24 * 400) /* more than a year of hours: from the last ones */
        h0 = h1 - 3600 * (time_t)((count = 24 * 400) - 1);
    time_t *v = malloc(count * sizeof(*v));
    if (!v)
        return NULL;
    for (size_t i = 0; i < count; i++)
        v[i] = h0 + 3600 * (time_t)i;
    *n = count;
    return v;
}

static void title(FILE *out, const char *t)
{
    fprintf(out, "\n%s\n", t);
    for (const char *p = t; *p; p++)
        putc('-', out);
    putc('\n', out);
}

static void when(char *buf, size_t cap, time_t t, const char *fmt)
{
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(buf, cap, fmt, &tm);
}

/* top - the n largest of a tally, one "count  key" line each. */
static void top(FILE *out, const char *what, const struct tally *t, size_t n)
{
    char head[128];
    snprintf(head, sizeof(head), "Top %zu %s", n, what);
    title(out, head);
    size_t *o = tally_order(t);
    if (!t->n)
        fprintf(out, "  (none)\n");
    for (size_t i = 0; o && i < t->n && i < n; i++)
        fprintf(out, "%9llu  %s\n", t->counts[o[i]], t->keys[o[i]]);
    free(o);
}

static void zones(FILE *out, const struct stats *st)
{
    title(out, "DNSBL zones");
    struct tally names = {0};
    for (size_t i = 0; i < st->zones.cap; i++)
        if (st->zones.keys[i]) {
            char z[256];
            snprintf(z, sizeof(z), "%.*s", (int)strcspn(st->zones.keys[i], "\t"),
                     st->zones.keys[i]);
            tally_add(&names, z, st->zones.counts[i]);
        }
    if (!names.n)
        fprintf(out, "  (none)\n");
    else
        fprintf(out, "%9s %9s %9s  %s\n", "refused", "other", "errors", "zone");
    size_t *o = tally_order(&names);
    for (size_t i = 0; o && i < names.n; i++) {
        char k[300];
        const char *z = names.keys[o[i]];
        unsigned long long v[3];
        const char *kinds[3] = {"refused", "other", "error"};
        for (int j = 0; j < 3; j++) {
            snprintf(k, sizeof(k), "%s\t%s", z, kinds[j]);
            v[j] = tally_get(&st->zones, k);
        }
        fprintf(out, "%9llu %9llu %9llu  %s\n", v[0], v[1], v[2], z);
    }
    free(o);
    tally_free(&names);
}

static void per_hour(FILE *out, const struct stats *st)
{
    size_t nh, nl;
    time_t *hours = stats_hours(st, &nh);
    const char **layers = stats_layers(st, &nl);
    char key[512], buf[32];
    title(out, "Per-hour volume (decisions; accepted messages; refusals; decisions per layer)");
    if (!nh) {
        fprintf(out, "  (no line with a time)\n");
    } else {
        fprintf(out, "%-16s %9s %9s %9s", "hour", "decisions", "accepted", "refused");
        for (size_t j = 0; j < nl; j++)
            if (strcmp(layers[j], "-"))
                fprintf(out, " %*s", (int)(strlen(layers[j]) > 8 ? strlen(layers[j]) : 8),
                        layers[j]);
        putc('\n', out);
    }
    for (size_t i = 0; i < nh; i++) {
        when(buf, sizeof(buf), hours[i], "%Y-%m-%d %H:00");
        stats_hour_key(key, sizeof(key), hours[i], NULL);
        fprintf(out, "%-16s %9llu", buf, tally_get(&st->hour, key));
        stats_hour_key(key, sizeof(key), hours[i], "#accepted");
        fprintf(out, " %9llu", tally_get(&st->hour, key));
        stats_hour_key(key, sizeof(key), hours[i], "#refused");
        fprintf(out, " %9llu", tally_get(&st->hour, key));
        for (size_t j = 0; j < nl; j++) {
            if (!strcmp(layers[j], "-"))
                continue;
            stats_hour_key(key, sizeof(key), hours[i], layers[j]);
            fprintf(out, " %*llu", (int)(strlen(layers[j]) > 8 ? strlen(layers[j]) : 8),
                    tally_get(&st->hour, key));
        }
        putc('\n', out);
    }
    for (size_t j = 0; j < nl; j++)
        free((char *)layers[j]);
    free(layers);
    free(hours);
}

void stats_bucket_label(char *out, size_t cap, size_t b)
{
    if (b < STATS_BUCKETS - 1)
        snprintf(out, cap, "%g", stats_bounds[b]);
    else
        snprintf(out, cap, "+Inf");
}

static void durations(FILE *out, const struct stats *st)
{
    title(out, st->from_store ? "Check durations (checks per bucket, upper bound in ms)"
                              : "Stage durations (decision lines per bucket of duration=, "
                                "upper bound in ms)");
    size_t lo = STATS_BUCKETS, hi = 0;
    for (size_t i = 0; i < st->nhistos; i++)
        for (size_t b = 0; b < STATS_BUCKETS; b++)
            if (st->histos[i].bucket[b]) {
                lo = b < lo ? b : lo;
                hi = b > hi ? b : hi;
            }
    if (lo == STATS_BUCKETS) {
        fprintf(out, "  (none)\n");
        return;
    }
    fprintf(out, "%-24s %9s", st->from_store ? "check" : "stage", "n");
    if (!st->from_store)
        fprintf(out, " %9s %9s", "avg", "max");
    for (size_t b = lo; b <= hi; b++) {
        char l[16];
        stats_bucket_label(l, sizeof(l), b);
        fprintf(out, " %7s", l);
    }
    putc('\n', out);
    for (size_t i = 0; i < st->nhistos; i++) {
        const struct histo *h = &st->histos[i];
        fprintf(out, "%-24s %9llu", h->name, h->n);
        if (!st->from_store)
            fprintf(out, " %9.3f %9.3f", h->n ? h->sum_ms / (double)h->n : 0.0, h->max_ms);
        for (size_t b = lo; b <= hi; b++)
            fprintf(out, " %7llu", h->bucket[b]);
        putc('\n', out);
    }
}

void stats_text(const struct stats *st, FILE *out, size_t n)
{
    char a[64], b[64];
    size_t na, nl;
    const char **acts = stats_actions(st, &na);
    const char **layers = stats_layers(st, &nl);
    if (st->from_store)
        fprintf(out, "policyctl stats: the counters of the store\n");
    else
        fprintf(out, "policyctl stats: %zu file%s, %llu lines read, %llu decision lines\n",
                st->files, st->files == 1 ? "" : "s", st->lines, st->decisions);
    if (st->first) {
        when(a, sizeof(a), st->first, st->from_store ? "%Y-%m-%d %H:00" : "%Y-%m-%d %H:%M:%S");
        when(b, sizeof(b), st->last, st->from_store ? "%Y-%m-%d %H:59" : "%Y-%m-%d %H:%M:%S");
        when(b + strlen(b), sizeof(b) - strlen(b), st->last, " %Z");
        fprintf(out, "Period: %s to %s\n", a, b);
    }
    if (st->no_time)
        fprintf(out, "Decision lines without a time: %llu%s\n", st->no_time,
                st->too_old || st->from_store ? "" : " (counted; not in the per-hour table)");
    if (st->too_old)
        fprintf(out, "Decision lines before --since: %llu (not counted)\n", st->too_old);

    title(out, "Grand totals");
    unsigned long long refused = 0, other = 0;
    for (size_t i = 0; i < na; i++) {
        unsigned long long v = tally_get(&st->action, acts[i]);
        if (stats_refusal(acts[i]))
            refused += v;
        else
            other += v;
    }
    fprintf(out, "%9llu  decisions\n", st->decisions);
    fprintf(out, "%9llu  messages accepted\n", st->accepted);
    fprintf(out, "%9llu  refusals\n", refused);
    fprintf(out, "%9llu  other decisions\n", other - (st->accepted <= other ? st->accepted : 0));
    if (st->from_store) {
        fprintf(out, "%9llu  sessions\n", st->sessions);
        fprintf(out, "%9llu  messages (any verdict)\n", st->messages);
        fprintf(out, "%9llu  message bytes\n", st->bytes);
    }
    fprintf(out, "\n%-16s %9s", "action", "decisions");
    putc('\n', out);
    for (size_t i = 0; i < na; i++)
        fprintf(out, "%-16s %9llu\n", acts[i], tally_get(&st->action, acts[i]));

    title(out, "Per layer and action");
    fprintf(out, "%-14s %9s", "layer", "total");
    for (size_t j = 0; j < na; j++)
        fprintf(out, " %*s", (int)(strlen(acts[j]) > 8 ? strlen(acts[j]) : 8), acts[j]);
    putc('\n', out);
    for (size_t i = 0; i < nl; i++) {
        char key[256];
        unsigned long long total = 0;
        for (size_t j = 0; j < na; j++) {
            snprintf(key, sizeof(key), "%s\t%s", layers[i], acts[j]);
            total += tally_get(&st->layer_action, key);
        }
        fprintf(out, "%-14s %9llu", layers[i], total);
        for (size_t j = 0; j < na; j++) {
            snprintf(key, sizeof(key), "%s\t%s", layers[i], acts[j]);
            fprintf(out, " %*llu", (int)(strlen(acts[j]) > 8 ? strlen(acts[j]) : 8),
                    tally_get(&st->layer_action, key));
        }
        putc('\n', out);
    }

    title(out, "Refusals per stage");
    static const char *const stages[] = {"connect", "helo", "auth",   "mail", "rcpt",
                                         "data",    "header", "body", "eom"};
    static const char *const refusals[] = {"reject", "tempfail", "disconnect"};
    fprintf(out, "%-10s %9s %9s %10s\n", "stage", "reject", "tempfail", "disconnect");
    for (size_t i = 0; i < sizeof(stages) / sizeof(*stages); i++) {
        unsigned long long v[3], sum = 0;
        for (int j = 0; j < 3; j++) {
            char key[64];
            snprintf(key, sizeof(key), "%s\t%s", stages[i], refusals[j]);
            sum += v[j] = tally_get(&st->stage_action, key);
        }
        if (sum)
            fprintf(out, "%-10s %9llu %9llu %10llu\n", stages[i], v[0], v[1], v[2]);
    }
    if (!st->from_store) {
        top(out, "refused clients", &st->clients, n);
        top(out, "refused senders", &st->senders, n);
        top(out, "refused recipients", &st->recipients, n);
        zones(out, st);
    } else {
        fprintf(out, "\n(clients, senders, recipients and DNSBL zones are in the log, not in "
                     "the store's counters)\n");
    }
    per_hour(out, st);
    durations(out, st);
    for (size_t i = 0; i < nl; i++)
        free((char *)layers[i]);
    free(layers);
    free(acts);
}
