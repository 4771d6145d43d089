/*
 * stats.h - `policyctl stats`: what is read (decision lines of a log, or
 * the counters [general] store_metrics keeps) and added up, for the text
 * summary (stats.c) and the HTML page (stats_html.c).
 */
#ifndef POLICYCTL_STATS_H
#define POLICYCTL_STATS_H

#include <stddef.h>
#include <stdio.h>
#include <time.h>

/* A count per string key ("layer\taction", an address, a zone ...). */
struct tally {
    char **keys;
    unsigned long long *counts;
    size_t n, cap;
};

/* A histogram of durations in milliseconds (POLICY_METRIC_BUCKETS, then +Inf). */
#define STATS_BUCKETS 17
struct histo {
    char name[64]; /* "rcpt" (a stage, from the log) or "dnsbl connect" (a check) */
    unsigned long long bucket[STATS_BUCKETS];
    unsigned long long n;
    double sum_ms, max_ms; /* sum and max: from the log only */
};

struct stats {
    int from_store;           /* the counters of the store, not a log */
    unsigned long long lines; /* lines read */
    unsigned long long decisions;
    unsigned long long no_time, too_old; /* decision lines without a time; before --since */
    size_t files;
    time_t first, last;             /* times of the first and last counted line, 0 none */
    struct tally action;            /* action -> decisions */
    struct tally layer_action;      /* "layer\taction" */
    struct tally stage_action;      /* "stage\taction", refusals only */
    struct tally hour;              /* "HOUR" -> decisions; "HOUR\tlayer", "HOUR\t#accepted" ... */
    struct tally clients, senders, recipients; /* refusals */
    struct tally zones;             /* "zone\trefused|other|error" */
    unsigned long long accepted;    /* messages accepted (stage=eom action=accept) */
    unsigned long long sessions;    /* store: sessions counted */
    unsigned long long messages, bytes; /* store: messages by any verdict, their bytes */
    struct histo histos[64];
    size_t nhistos;
};

extern const double stats_bounds[STATS_BUCKETS - 1]; /* ms */

void tally_add(struct tally *t, const char *key, unsigned long long n);
unsigned long long tally_get(const struct tally *t, const char *key);
/* tally_order - indexes of t sorted by count, highest first (malloc'd). */
size_t *tally_order(const struct tally *t);
void tally_free(struct tally *t);

/* stats_refusal - an action that refuses (reject, tempfail, disconnect). */
int stats_refusal(const char *action);
/* stats_layers - the layers seen, most decisions first (malloc'd, n in *n);
 * stats_actions - the actions seen, in the report's order. */
const char **stats_layers(const struct stats *st, size_t *n);
const char **stats_actions(const struct stats *st, size_t *n);
/* stats_hours - every hour from the first to the last line (malloc'd). */
time_t *stats_hours(const struct stats *st, size_t *n);
/* stats_hour_key - "HOUR" or "HOUR\tsuffix" for an hour start. */
void stats_hour_key(char *out, size_t cap, time_t hour, const char *suffix);

/* stats_bucket_label - the upper bound of bucket b: "0.1" ... "10000", "+Inf" (ms). */
void stats_bucket_label(char *out, size_t cap, size_t b);
/* stats_text - the pflogsumm-style summary. */
void stats_text(const struct stats *st, FILE *out, size_t top);
/* stats_html - one self-contained page with the same numbers; 0 or -1. */
int stats_html(const struct stats *st, FILE *out, size_t top);

/* stats_read - add up the decision lines of fp (syslog lines or a journal
 * export); since 0 or a unix time, now for the year of syslog lines.
 * 0, or -1 on a read error (or no memory). */
int stats_read(struct stats *st, time_t since, time_t now, FILE *fp);
/* stats_free - what the tallies hold (not st itself). */
void stats_free(struct stats *st);

/* cmd_stats - `policyctl stats ...` (argv[0] is "stats"); an exit status. */
int cmd_stats(int argc, char **argv);

#endif
