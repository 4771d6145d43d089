/*
 * stats.c - `policyctl stats`: read the key=value decision lines of a log
 * (syslog files, ISO-stamped syslog, `journalctl -o export`, or the
 * daemon's own stderr) or the counters [general] store_metrics keeps, add
 * them up and print a pflogsumm-style summary (or the HTML page).
 *
 * Bounded: a line longer than LINE_MAX is skipped, a journal field longer
 * than that is skipped, top lists keep every key but print --top of them.
 * A decision line is one that begins "stage=" after the program's prefix
 * (lines of the layers' own begin "ip="); anything else is counted as read
 * and ignored.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpolicy/policy.h>

#include "stats.h"

#define LINE_MAX_ 16384
#define FIELDS    16

static const double metric_bounds[] = {POLICY_METRIC_BUCKETS};
_Static_assert(sizeof(metric_bounds) / sizeof(*metric_bounds) == STATS_BUCKETS - 1,
               "STATS_BUCKETS must be POLICY_METRIC_BUCKETS and +Inf");
const double stats_bounds[STATS_BUCKETS - 1] = {
#define MS(x) (x) * 1000.0
    MS(0.0001), MS(0.00025), MS(0.0005), MS(0.001), MS(0.0025), MS(0.005), MS(0.01), MS(0.025),
    MS(0.05),   MS(0.1),     MS(0.25),   MS(0.5),   MS(1),      MS(2.5),    MS(5),    MS(10)
#undef MS
};

/* ------------------------------------------------------------ tallies */

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}

/* find - the slot of key in t's open-addressing table (cap a power of 2). */
static size_t find(const struct tally *t, const char *key)
{
    size_t i = (size_t)hash(key) & (t->cap - 1);
    while (t->keys[i] && strcmp(t->keys[i], key))
        i = (i + 1) & (t->cap - 1);
    return i;
}

static int grow(struct tally *t)
{
    struct tally n = {calloc(t->cap ? t->cap * 2 : 64, sizeof(char *)),
                      calloc(t->cap ? t->cap * 2 : 64, sizeof(unsigned long long)), t->n,
                      t->cap ? t->cap * 2 : 64};
    if (!n.keys || !n.counts) {
        free(n.keys);
        free(n.counts);
        return -1;
    }
    for (size_t i = 0; i < t->cap; i++)
        if (t->keys[i]) {
            size_t j = find(&n, t->keys[i]);
            n.keys[j] = t->keys[i];
            n.counts[j] = t->counts[i];
        }
    free(t->keys);
    free(t->counts);
    *t = n;
    return 0;
}

void tally_add(struct tally *t, const char *key, unsigned long long n)
{
    if ((t->n + 1) * 2 > t->cap && grow(t) != 0)
        return;
    size_t i = find(t, key);
    if (!t->keys[i]) {
        if (!(t->keys[i] = strdup(key)))
            return;
        t->n++;
    }
    t->counts[i] += n;
}

unsigned long long tally_get(const struct tally *t, const char *key)
{
    if (!t->cap)
        return 0;
    size_t i = find(t, key);
    return t->keys[i] ? t->counts[i] : 0;
}

static const struct tally *sorting;
static int by_count(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    if (sorting->counts[x] != sorting->counts[y])
        return sorting->counts[x] < sorting->counts[y] ? 1 : -1;
    return strcmp(sorting->keys[x], sorting->keys[y]);
}

size_t *tally_order(const struct tally *t)
{
    size_t *o = malloc((t->n ? t->n : 1) * sizeof(*o)), k = 0;
    if (!o)
        return NULL;
    for (size_t i = 0; i < t->cap; i++)
        if (t->keys[i])
            o[k++] = i;
    sorting = t;
    qsort(o, k, sizeof(*o), by_count);
    return o;
}

void tally_free(struct tally *t)
{
    for (size_t i = 0; i < t->cap; i++)
        free(t->keys[i]);
    free(t->keys);
    free(t->counts);
    memset(t, 0, sizeof(*t));
}

/* ------------------------------------------------------------ what is added up */

int stats_refusal(const char *a)
{
    return !strcmp(a, "reject") || !strcmp(a, "tempfail") || !strcmp(a, "disconnect");
}

void stats_hour_key(char *out, size_t cap, time_t hour, const char *suffix)
{
    snprintf(out, cap, "%lld%s%s", (long long)hour, suffix ? "\t" : "", suffix ? suffix : "");
}

static struct histo *histo(struct stats *st, const char *name)
{
    for (size_t i = 0; i < st->nhistos; i++)
        if (!strcmp(st->histos[i].name, name))
            return &st->histos[i];
    if (st->nhistos == sizeof(st->histos) / sizeof(*st->histos))
        return NULL;
    struct histo *h = &st->histos[st->nhistos++];
    snprintf(h->name, sizeof(h->name), "%.*s", (int)sizeof(h->name) - 1, name);
    return h;
}

static void observe(struct stats *st, const char *name, double ms)
{
    struct histo *h = histo(st, name);
    if (!h)
        return;
    size_t b = 0;
    while (b < STATS_BUCKETS - 1 && ms > stats_bounds[b])
        b++;
    h->bucket[b]++;
    h->n++;
    h->sum_ms += ms;
    if (ms > h->max_ms)
        h->max_ms = ms;
}

/* One decision, from a log line or a stored series; n of them at t. */
struct decision {
    const char *stage, *action, *layer, *ip, *host, *from, *rcpt, *reason, *duration;
    time_t t; /* 0: unknown (or all-time) */
};

/* zone_of - the DNSBL zone a dnsbl reason names ("... listed in ZONE ...",
 * "no answer from ZONE ..."), copied into out; 1 listed, 2 error, 0 none. */
static int zone_of(const char *reason, char *out, size_t cap)
{
    const char *p;
    int kind = 0;
    if ((p = strstr(reason, " listed in ")))
        p += 11, kind = 1;
    else if (!strncmp(reason, "no answer from ", 15))
        p = reason + 15, kind = 2;
    else
        return 0;
    size_t n = strcspn(p, " (");
    if (!n || n >= cap)
        return 0;
    memcpy(out, p, n);
    out[n] = '\0';
    return kind;
}

static void count(struct stats *st, const struct decision *d, unsigned long long n)
{
    char key[1024];
    const char *layer = d->layer && *d->layer ? d->layer : "-";
    int refused = stats_refusal(d->action);
    st->decisions += n;
    tally_add(&st->action, d->action, n);
    snprintf(key, sizeof(key), "%s\t%s", layer, d->action);
    tally_add(&st->layer_action, key, n);
    if (refused) {
        snprintf(key, sizeof(key), "%s\t%s", d->stage, d->action);
        tally_add(&st->stage_action, key, n);
    }
    int accepted = !strcmp(d->stage, "eom") && !strcmp(d->action, "accept");
    if (accepted)
        st->accepted += n;
    if (d->t) {
        time_t hour = d->t - d->t % 3600;
        stats_hour_key(key, sizeof(key), hour, NULL);
        tally_add(&st->hour, key, n);
        stats_hour_key(key, sizeof(key), hour, layer);
        tally_add(&st->hour, key, n);
        if (accepted || refused) {
            stats_hour_key(key, sizeof(key), hour, accepted ? "#accepted" : "#refused");
            tally_add(&st->hour, key, n);
        }
        if (!st->first || d->t < st->first)
            st->first = d->t;
        if (d->t > st->last)
            st->last = d->t;
    }
    if (refused && d->ip) {
        if (d->host && *d->host && strcmp(d->host, "unknown"))
            snprintf(key, sizeof(key), "%s (%s)", d->ip, d->host);
        else
            snprintf(key, sizeof(key), "%s", d->ip);
        tally_add(&st->clients, key, n);
    }
    if (refused && d->from)
        tally_add(&st->senders, *d->from ? d->from : "<>", n);
    if (refused && d->rcpt)
        tally_add(&st->recipients, d->rcpt, n);
    char zone[256];
    int z = !strcmp(layer, "dnsbl") && d->reason ? zone_of(d->reason, zone, sizeof(zone)) : 0;
    if (z) {
        snprintf(key, sizeof(key), "%s\t%s", zone, z == 2 ? "error" : refused ? "refused" : "other");
        tally_add(&st->zones, key, n);
    }
    if (d->duration) {
        char *end;
        double ms = strtod(d->duration, &end);
        if (end != d->duration && !strcmp(end, "ms") && ms >= 0)
            observe(st, d->stage, ms);
    }
}

/* ------------------------------------------------------------ reading lines */

struct field {
    char *key, *value;
};

/* split - key=value pairs of a decision line, in place; values may be
 * quoted (the library never puts a quote inside one).  Returns the count. */
static size_t split(char *p, struct field *f, size_t max)
{
    size_t n = 0;
    while (*p && n < max) {
        while (*p == ' ')
            p++;
        char *eq = p;
        while (*eq && *eq != '=' && *eq != ' ')
            eq++;
        if (*eq != '=')
            break;
        *eq = '\0';
        f[n].key = p;
        p = eq + 1;
        if (*p == '"') {
            f[n].value = ++p;
            p = strchr(p, '"');
            if (!p)
                break;
            *p++ = '\0';
        } else {
            f[n].value = p;
            p += strcspn(p, " ");
            if (*p)
                *p++ = '\0';
        }
        n++;
    }
    return n;
}

static const char *get(const struct field *f, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(f[i].key, key))
            return f[i].value;
    return NULL;
}

/* decision_text - where a decision line's pairs begin in msg, or NULL. */
static char *decision_text(char *msg)
{
    char *p = strstr(msg, "libpolicy: stage=");
    if (p)
        return p + 11;
    if (!strncmp(msg, "stage=", 6))
        return msg;
    p = strstr(msg, ": stage=");
    return p && strstr(p, " action=") ? p + 2 : NULL;
}

/* Options of one run. */
struct opts {
    time_t since; /* 0: all */
    time_t now;
};

static void take(struct stats *st, const struct opts *o, char *msg, time_t t)
{
    char *text = decision_text(msg);
    if (!text)
        return;
    struct field f[FIELDS];
    size_t n = split(text, f, FIELDS);
    struct decision d = {get(f, n, "stage"),  get(f, n, "action"), get(f, n, "layer"),
                         get(f, n, "ip"),     get(f, n, "host"),   get(f, n, "from"),
                         get(f, n, "rcpt"),   get(f, n, "reason"), get(f, n, "duration"), t};
    if (!d.stage || !d.action)
        return;
    if (o->since && !t) {
        st->no_time++;
        return;
    }
    if (o->since && t < o->since) {
        st->too_old++;
        return;
    }
    if (!t)
        st->no_time++;
    count(st, &d, 1);
}

static int month_of(const char *m)
{
    static const char names[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    for (int i = 0; i < 12; i++)
        if (!strncmp(m, names + 3 * i, 3))
            return i;
    return -1;
}

/* iso_time - "YYYY-MM-DD[T ]HH:MM:SS[.frac][Z|+HH:MM|+HHMM]": the time and
 * where it ends, or 0.  No zone: local time. */
static time_t iso_time(const char *p, const char **end)
{
    struct tm tm = {0};
    int y, mo, d, h, mi, s, used = 0;
    if (sscanf(p, "%4d-%2d-%2d%*1[T ]%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &s, &used) != 6 ||
        used < 19)
        return 0;
    p += used;
    if (*p == '.' || *p == ',')
        for (p++; isdigit((unsigned char)*p); p++)
            ;
    tm.tm_year = y - 1900, tm.tm_mon = mo - 1, tm.tm_mday = d;
    tm.tm_hour = h, tm.tm_min = mi, tm.tm_sec = s;
    time_t t;
    if (*p == 'Z' || *p == '+' || *p == '-') {
        long off = 0;
        if (*p != 'Z') {
            int oh = 0, om = 0;
            if (sscanf(p + 1, "%2d:%2d", &oh, &om) != 2 && sscanf(p + 1, "%2d%2d", &oh, &om) != 2)
                return 0;
            off = (oh * 60L + om) * 60L * (*p == '-' ? -1 : 1);
            p += 1 + (p[3] == ':' ? 5 : 4);
        } else {
            p++;
        }
        t = timegm(&tm) - off;
    } else {
        tm.tm_isdst = -1;
        t = mktime(&tm);
    }
    if (end)
        *end = p;
    return t;
}

/* syslog_time - the time at the start of a syslog line (RFC 3164 "Mmm dd
 * HH:MM:SS", in the year that puts it in the past; RFC 5424 or ISO), or 0. */
static time_t syslog_time(const char *line, time_t now)
{
    if (line[0] == '<') { /* RFC 5424: <PRI>VERSION TIMESTAMP */
        const char *p = strchr(line, '>');
        if (!p || !isdigit((unsigned char)p[1]))
            return 0;
        p = strchr(p, ' ');
        return p ? iso_time(p + 1, NULL) : 0;
    }
    if (isdigit((unsigned char)line[0]))
        return iso_time(line, NULL);
    int mon = month_of(line), d, h, mi, s;
    if (mon < 0 || sscanf(line + 3, " %d %d:%d:%d", &d, &h, &mi, &s) != 4)
        return 0;
    struct tm now_tm;
    localtime_r(&now, &now_tm);
    struct tm tm = {.tm_year = now_tm.tm_year, .tm_mon = mon, .tm_mday = d, .tm_hour = h,
                    .tm_min = mi, .tm_sec = s, .tm_isdst = -1};
    time_t t = mktime(&tm);
    if (t > now + 86400) { /* December's lines read in January */
        tm.tm_year--;
        tm.tm_isdst = -1;
        t = mktime(&tm);
    }
    return t;
}

/* read_export - `journalctl -o export`: entries of FIELD=value lines (or
 * FIELD, a 64-bit little-endian length and the bytes) ended by an empty line. */
static void read_export(struct stats *st, const struct opts *o, FILE *fp, char *buf)
{
    char msg[LINE_MAX_];
    time_t t = 0;
    int have = 0;
    for (;;) {
        if (!fgets(buf, LINE_MAX_, fp)) {
            if (have)
                take(st, o, msg, t);
            return;
        }
        size_t len = strlen(buf);
        if (len && buf[len - 1] != '\n' && !feof(fp)) { /* too long: skip the rest */
            int c;
            while ((c = getc(fp)) != EOF && c != '\n')
                ;
            continue;
        }
        st->lines++;
        if (len && buf[len - 1] == '\n')
            buf[--len] = '\0';
        if (!len) {
            if (have)
                take(st, o, msg, t);
            have = 0;
            t = 0;
            continue;
        }
        char *eq = strchr(buf, '=');
        if (!eq) { /* binary field: its name, then the length and the data */
            unsigned char le[8];
            if (fread(le, 1, 8, fp) != 8)
                return;
            uint64_t n = 0;
            for (int i = 7; i >= 0; i--)
                n = n << 8 | le[i];
            int is_msg = !strcmp(buf, "MESSAGE");
            if (is_msg && n < sizeof(msg)) {
                if (fread(msg, 1, (size_t)n, fp) != n)
                    return;
                msg[n] = '\0';
                have = 1;
            } else {
                for (uint64_t k = 0; k < n; k++)
                    if (getc(fp) == EOF)
                        return;
            }
            (void)getc(fp); /* the newline after the data */
            continue;
        }
        *eq = '\0';
        if (!strcmp(buf, "MESSAGE")) {
            snprintf(msg, sizeof(msg), "%s", eq + 1);
            have = 1;
        } else if (!strcmp(buf, "__REALTIME_TIMESTAMP")) {
            t = (time_t)(strtoull(eq + 1, NULL, 10) / 1000000u);
        }
    }
}

int stats_read(struct stats *st, time_t since, time_t now, FILE *fp)
{
    const struct opts o = {since, now};
    char *buf = malloc(LINE_MAX_);
    if (!buf)
        return -1;
    st->files++;
    int c = getc(fp);
    if (c != EOF)
        ungetc(c, fp);
    if (c == '_') { /* __CURSOR=, the first field of every exported entry */
        read_export(st, &o, fp, buf);
    } else {
        while (fgets(buf, LINE_MAX_, fp)) {
            size_t len = strlen(buf);
            if (len && buf[len - 1] != '\n' && !feof(fp)) {
                while ((c = getc(fp)) != EOF && c != '\n')
                    ;
                st->lines++;
                continue;
            }
            st->lines++;
            if (len && buf[len - 1] == '\n')
                buf[--len] = '\0';
            take(st, &o, buf, syslog_time(buf, now));
        }
    }
    free(buf);
    return ferror(fp) ? -1 : 0;
}

/* read_log - one file (or standard input for "-"). */
static int read_log(struct stats *st, const struct opts *o, const char *path)
{
    FILE *fp = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!fp) {
        fprintf(stderr, "policyctl: %s: %s\n", path, strerror(errno));
        return -1;
    }
    int bad = stats_read(st, o->since, o->now, fp);
    if (bad)
        fprintf(stderr, "policyctl: %s: cannot read it\n", path);
    if (fp != stdin)
        fclose(fp);
    return bad;
}

void stats_free(struct stats *st)
{
    struct tally *t[] = {&st->action,  &st->layer_action, &st->stage_action, &st->hour,
                         &st->clients, &st->senders,      &st->recipients,   &st->zones};
    for (size_t i = 0; i < sizeof(t) / sizeof(*t); i++)
        tally_free(t[i]);
}

/* ------------------------------------------------------------ the store's counters */

/* series_label - the value of one label of a series name, into out. */
static const char *series_label(const char *series, const char *name, char *out, size_t cap)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "%s=\"", name);
    const char *p = strchr(series, '{');
    while (p && (p = strstr(p, pat))) {
        if (p[-1] != '{' && p[-1] != ',') {
            p++;
            continue;
        }
        p += strlen(pat);
        size_t n = 0;
        while (*p && *p != '"' && n + 1 < cap) {
            if (*p == '\\' && p[1])
                p++;
            out[n++] = *p++;
        }
        out[n] = '\0';
        return out;
    }
    return NULL;
}

static void on_series(const char *series, long long hour, unsigned long long v, void *ctx)
{
    struct stats *st = ctx;
    char stage[16], action[32], layer[40], le[32], name[sizeof(((struct histo *)0)->name)];
    size_t fl = strcspn(series, "{");
    if (!strncmp(series, "policy_decisions_total", fl) &&
        series_label(series, "stage", stage, sizeof(stage)) &&
        series_label(series, "action", action, sizeof(action)) &&
        series_label(series, "layer", layer, sizeof(layer))) {
        struct decision d = {.stage = stage, .action = action, .layer = layer, .t = (time_t)hour};
        count(st, &d, v);
    } else if (!strncmp(series, "policy_sessions_total", fl)) {
        st->sessions += v;
    } else if (!strncmp(series, "policy_message_bytes_total", fl)) {
        st->bytes += v;
    } else if (!strncmp(series, "policy_messages_total", fl)) {
        st->messages += v;
    } else if (!strncmp(series, "policy_check_duration_seconds_bucket", fl) && !hour &&
               series_label(series, "layer", layer, sizeof(layer)) &&
               series_label(series, "stage", stage, sizeof(stage)) &&
               series_label(series, "le", le, sizeof(le))) {
        snprintf(name, sizeof(name), "%s %s", layer, stage);
        struct histo *h = histo(st, name);
        if (!h)
            return;
        size_t b = 0;
        double bound = strcmp(le, "+Inf") ? strtod(le, NULL) : 1e300;
        while (b < STATS_BUCKETS - 1 && bound > metric_bounds[b] * 1.0000001)
            b++;
        h->bucket[b] += v;
        h->n += v;
    }
}

/* ------------------------------------------------------------ the command */

/* parse_since - "YYYY-MM-DD[ HH:MM[:SS]]" (local), ISO with a zone,
 * "@UNIXTIME", or "-30m" / "-12h" / "-7d" before now.  0 when invalid. */
static time_t parse_since(const char *v, time_t now)
{
    char *end;
    if (v[0] == '@') {
        long long t = strtoll(v + 1, &end, 10);
        return *end || t <= 0 ? 0 : (time_t)t;
    }
    if (v[0] == '-') {
        long n = strtol(v + 1, &end, 10);
        long unit = !strcmp(end, "m") ? 60 : !strcmp(end, "h") ? 3600 : !strcmp(end, "d") ? 86400 : 0;
        return n > 0 && unit ? now - n * unit : 0;
    }
    char buf[64];
    if (strlen(v) == 10)
        snprintf(buf, sizeof(buf), "%sT00:00:00", v);
    else if (strlen(v) == 16)
        snprintf(buf, sizeof(buf), "%s:00", v);
    else
        snprintf(buf, sizeof(buf), "%s", v);
    const char *e = NULL;
    time_t t = iso_time(buf, &e);
    return t && e && !*e ? t : 0;
}

static const char stats_usage[] =
    "usage: policyctl stats [--since TIME] [--top N] [--html FILE] [LOGFILE...]\n"
    "       policyctl stats -c FILE --store [--since TIME] [--top N] [--html FILE]\n";

int cmd_stats(int argc, char **argv)
{
    enum { O_SINCE = 256, O_HTML, O_TOP, O_STORE };
    static const struct option longopts[] = {{"since", required_argument, NULL, O_SINCE},
                                             {"html", required_argument, NULL, O_HTML},
                                             {"top", required_argument, NULL, O_TOP},
                                             {"store", no_argument, NULL, O_STORE},
                                             {"config", required_argument, NULL, 'c'},
                                             {NULL, 0, NULL, 0}};
    struct opts o = {0, time(NULL)};
    struct stats *st = calloc(1, sizeof(*st));
    const char *html = NULL, *config = NULL;
    size_t top = 10;
    int store = 0, c, status = 0;

    if (!st)
        return 70;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:", longopts, NULL)) != -1) {
        switch (c) {
        case O_SINCE:
            if (!(o.since = parse_since(optarg, o.now))) {
                fprintf(stderr, "policyctl: --since: not a time: %s\n%s", optarg, stats_usage);
                free(st);
                return 64;
            }
            break;
        case O_HTML:
            html = optarg;
            break;
        case O_TOP: {
            char *end;
            unsigned long n = strtoul(optarg, &end, 10);
            if (*end || !n || n > 10000) {
                fprintf(stderr, "policyctl: --top wants 1 to 10000\n");
                free(st);
                return 64;
            }
            top = n;
            break;
        }
        case O_STORE:
            store = 1;
            break;
        case 'c':
            config = optarg;
            break;
        default:
            fputs(stats_usage, stderr);
            free(st);
            return 64;
        }
    }
    if (store && optind < argc) {
        fprintf(stderr, "policyctl: --store reads no log file\n%s", stats_usage);
        free(st);
        return 64;
    }
    if (store) {
        char err[1024];
        policy_engine *e = policy_engine_open(config, err, sizeof(err));
        if (!e) {
            fprintf(stderr, "policyctl: %s\n", err);
            free(st);
            return 78;
        }
        st->from_store = 1;
        if (policy_engine_read_metrics(e, (long long)o.since, on_series, st, err, sizeof(err))) {
            fprintf(stderr, "policyctl: %s\n", err);
            status = 69;
        }
        policy_engine_unref(e);
    } else if (optind == argc) {
        status = read_log(st, &o, "-") ? 66 : 0;
    } else {
        for (int i = optind; i < argc; i++)
            if (read_log(st, &o, argv[i]) != 0)
                status = 66;
    }
    if (!status) {
        stats_text(st, stdout, top); /* with --html too: the page holds these numbers */
        FILE *out = html ? fopen(html, "w") : NULL;
        if (html && (!out || stats_html(st, out, top) != 0 || fclose(out) != 0)) {
            fprintf(stderr, "policyctl: %s: %s\n", html, strerror(errno));
            status = 73;
        }
    }
    stats_free(st);
    free(st);
    return status;
}
