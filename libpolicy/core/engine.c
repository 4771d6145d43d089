/*
 * engine.c - open, share and free the policy engine.
 *
 * policy_engine_open() reads one INI file with inih, hands each layer its
 * section, then lets every layer load (compile patterns, open maps).  Any
 * error is one line naming file, line, section and key; an unknown section
 * or key is an error.  After open the engine never changes (but for the log
 * sink, set before sharing), so any number of threads may use it.
 */
#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "../support/dns.h"
#include "../support/recipmap.h"
#include "../support/store.h"
#include "core.h"

#ifndef POLICY_VERSION
#define POLICY_VERSION "0.0.0"
#endif

const char *policy_version(void)
{
    return POLICY_VERSION;
}

/* The state of one parse: where we are and what went wrong. */
struct parse {
    policy_engine *e;
    FILE *fp;
    int line;
    char section[64];
    char key[64];
    struct cfg_err err;
    int failed;       /* line of the first error we found, 0 while none */
    int general_line; /* the line of [general], 0 while not seen */
    int continued;    /* the line being read is indented: inih continues a key */
};

/* Every key of [general], in one place for parsing. */
enum {
    G_DNS_SERVERS,
    G_TCPRULES,
    G_HOSTNAME,
    G_DELAY_REJECT,
    G_LOG_LEVEL,
    G_LOG_FACILITY,
    G_DNS_TIMEOUT,
    G_TMPDIR,
    G_MESSAGE_SIZE_LIMIT,
    G_SPOOL_MEMORY,
    G_STORE,
    G_P0F,
    G_P0F_TIMEOUT,
    G_STORE_METRICS
};
static const char *const general_keys[] = {
    "dns_servers", "tcprules",    "hostname", "delay_reject",       "log_level",
    "log_facility", "dns_timeout", "tmpdir",   "message_size_limit", "spool_memory", "store",
    "p0f",          "p0f_timeout", "store_metrics"};

static const struct {
    const char *name;
    int value;
} log_levels[] = {{"err", LOG_ERR},       {"error", LOG_ERR}, {"warning", LOG_WARNING},
                  {"notice", LOG_NOTICE}, {"info", LOG_INFO}, {"debug", LOG_DEBUG}},
  facilities[] = {{"mail", LOG_MAIL},     {"daemon", LOG_DAEMON}, {"user", LOG_USER},
                  {"local0", LOG_LOCAL0}, {"local1", LOG_LOCAL1}, {"local2", LOG_LOCAL2},
                  {"local3", LOG_LOCAL3}, {"local4", LOG_LOCAL4}, {"local5", LOG_LOCAL5},
                  {"local6", LOG_LOCAL6}, {"local7", LOG_LOCAL7}};

static int lookup_name(const char *v, int *out, const void *table, size_t n)
{
    const struct {
        const char *name;
        int value;
    } *t = table;
    for (size_t i = 0; i < n; i++)
        if (str_ieq(v, t[i].name)) {
            *out = t[i].value;
            return 0;
        }
    return -1;
}

/* append_words - *dst = *dst + " " + v, for list keys given on several lines. */
static int append_words(char **dst, const char *v, struct cfg_err *err)
{
    size_t old = *dst ? strlen(*dst) : 0, n = strlen(v);
    char *p = realloc(*dst, old + n + 2);
    if (!p)
        return cfg_fail(err, "out of memory");
    if (old)
        p[old++] = ' ';
    memcpy(p + old, v, n + 1);
    *dst = p;
    return 0;
}

/* store_log - what the store reports (a map grown, readers cleared), into
 * the engine's log. */
static void store_log(int level, const char *line, void *ctx)
{
    elog(ctx, level, "store: %s", line);
}

static int general_set(struct parse *p, const char *key, const char *v)
{
    struct general_cfg *g = &p->e->general;
    size_t k;
    for (k = 0; k < sizeof(general_keys) / sizeof(*general_keys); k++)
        if (!strcmp(key, general_keys[k]))
            break;
    if (k == sizeof(general_keys) / sizeof(*general_keys))
        return cfg_fail(&p->err, "unknown key");

    switch (k) {
    case G_DNS_SERVERS: { /* repeated (continuation lines) = more servers */
        char bad[256];
        int n = dns_servers_check(v, bad, sizeof(bad));
        if (n <= 0)
            return n < 0 ? cfg_fail(&p->err, "not a DNS server address: %s", bad)
                         : cfg_fail(&p->err, "empty list of DNS servers");
        return append_words(&g->dns_servers, v, &p->err);
    }
    case G_TCPRULES: { /* read at every connection: refuse at load what cannot be */
        int fd = *v ? file_open(v, NULL, 0) : -2;
        if (fd == -1)
            return errno == EINVAL ? cfg_fail(&p->err, "%s: not a regular file", v)
                                   : cfg_fail(&p->err, "cannot read %s: %s", v, strerror(errno));
        if (fd >= 0)
            close(fd);
        return cfg_set_string(&g->tcprules, v, &p->err);
    }
    case G_HOSTNAME:
        if (!*v || strlen(v) > POLICY_HOST_MAX || strpbrk(v, " \t;\"\\"))
            return cfg_fail(&p->err, "not a host name: %s", v);
        return cfg_set_string(&g->hostname, v, &p->err);
    case G_DELAY_REJECT:
        if (cfg_parse_bool(v, &g->delay_reject))
            return cfg_fail(&p->err, "expected yes or no, got '%s'", v);
        return 0;
    case G_LOG_LEVEL:
        if (lookup_name(v, &g->log_level, log_levels, sizeof(log_levels) / sizeof(*log_levels)))
            return cfg_fail(&p->err, "expected err, warning, notice, info or debug, got '%s'", v);
        return 0;
    case G_DNS_TIMEOUT:
        return cfg_set_dns_timeout(v, &g->dns_timeout_ms, &p->err);
    case G_LOG_FACILITY:
        if (lookup_name(v, &g->log_facility, facilities, sizeof(facilities) / sizeof(*facilities)))
            return cfg_fail(&p->err, "unknown syslog facility '%s'", v);
        return 0;
    case G_TMPDIR:
        if (v[0] != '/')
            return cfg_fail(&p->err, "expected an absolute directory, got '%s'", v);
        return cfg_set_string(&g->tmpdir, v, &p->err);
    case G_MESSAGE_SIZE_LIMIT: /* 0: none; at most what a spool offset holds */
        if (cfg_parse_size(v, (uint64_t)1 << 40, &g->message_size_limit))
            return cfg_fail(&p->err, "expected a size (e.g. 50M, 0 for none), got '%s'", v);
        return 0;
    case G_SPOOL_MEMORY:
        if (cfg_parse_size(v, (uint64_t)1 << 30, &g->spool_memory))
            return cfg_fail(&p->err, "expected a size up to 1G (e.g. 1M), got '%s'", v);
        return 0;
    case G_STORE: /* checked now, opened (lazily) with the engine */
        if (layer_store_open(v, &p->e->store, &p->err))
            return -1;
        store_set_log(p->e->store, store_log, p->e);
        return cfg_set_string(&g->store, v, &p->err);
    case G_P0F: /* asked at every connection; p0f may start later than we do */
        if (v[0] != '/' || strlen(v) > 107)
            return cfg_fail(&p->err, "expected the absolute path of p0f's API socket (p0f -s), "
                                     "at most 107 bytes, got '%s'", v);
        return cfg_set_string(&g->p0f, v, &p->err);
    case G_P0F_TIMEOUT:
        if (cfg_parse_duration(v, &g->p0f_timeout_ms) || g->p0f_timeout_ms < 10 ||
            g->p0f_timeout_ms > 10000)
            return cfg_fail(&p->err, "expected a duration from 10ms to 10s, got '%s'", v);
        return 0;
    case G_STORE_METRICS:
        if (cfg_parse_bool(v, &g->store_metrics))
            return cfg_fail(&p->err, "expected yes or no, got '%s'", v);
        return 0;
    }
    return cfg_fail(&p->err, "unknown key");
}

static struct layer_inst *find_layer(policy_engine *e, const char *name)
{
    for (size_t i = 0; i < layer_count; i++)
        if (!strcmp(e->layers[i].desc->name, name))
            return &e->layers[i];
    return NULL;
}

/* common_set - the keys every layer understands.  1: not a common key. */
static int common_set(struct layer_inst *l, const char *key, const char *v, struct cfg_err *err)
{
    if (!strcmp(key, "action")) {
        int discard = (l->desc->flags & LAYER_DISCARD) != 0;
        enum layer_action a;
        if (layer_action_parse(v, &a) || (a == LA_DISCARD && !discard))
            return cfg_fail(err, "expected reject, tempfail, tag, warn%s or off, got '%s'",
                            discard ? ", discard" : "", v);
        l->common.action = a;
        return 0;
    }
    if (!strcmp(key, "on_error")) {
        if (!strcmp(v, "tempfail"))
            l->common.on_error = OE_TEMPFAIL;
        else if (!strcmp(v, "accept"))
            l->common.on_error = OE_ACCEPT;
        else
            return cfg_fail(err, "expected tempfail or accept, got '%s'", v);
        return 0;
    }
    if (!strcmp(key, "delay_reject")) {
        if (cfg_parse_bool(v, &l->common.delay_reject))
            return cfg_fail(err, "expected yes or no, got '%s'", v);
        return 0;
    }
    return CFG_UNKNOWN_KEY;
}

static int remember_line(policy_engine *e, const char *section, const char *key, int line)
{
    struct cfg_line *n = realloc(e->lines, (e->nlines + 1) * sizeof(*n));
    if (!n)
        return -1;
    e->lines = n;
    n[e->nlines].section = strdup(section);
    n[e->nlines].key = strdup(key);
    n[e->nlines].line = line;
    if (!n[e->nlines].section || !n[e->nlines].key) {
        free(n[e->nlines].section);
        free(n[e->nlines].key);
        return -1;
    }
    e->nlines++;
    return 0;
}

/* line_of - the last line that set section/key, 0 when unknown. */
static int line_of(const policy_engine *e, const char *section, const char *key)
{
    for (size_t i = e->nlines; i-- > 0;)
        if (!strcmp(e->lines[i].section, section) && (!key || !strcmp(e->lines[i].key, key)))
            return e->lines[i].line;
    return 0;
}

static int handler_failed(struct parse *p)
{
    p->failed = p->line;
    return 0;
}

/* The list keys of [general], and of the keys the core owns in a layer's
 * section ([customers]: client.c); a layer names its own in its descriptor. */
static const char *const general_list_keys[] = {"dns_servers", NULL};
static const char *const client_list_keys[] = {"local_domains", "trusted_networks", NULL};

static int listed_key(const char *const *lk, const char *key)
{
    for (size_t i = 0; lk && lk[i]; i++)
        if (!strcmp(lk[i], key))
            return 1;
    return 0;
}

/* is_list_key - may key of section be repeated (and continued)? */
static int is_list_key(const struct layer_inst *l, const char *key)
{
    if (!l)
        return listed_key(general_list_keys, key);
    return listed_key(l->desc->list_keys, key) ||
           (!strcmp(l->desc->name, "customers") && listed_key(client_list_keys, key));
}

/* repeated_key - a key that takes one value, given a second time (or
 * continued on an indented line): an error, never "the last one wins". */
static int repeated_key(struct parse *p, const struct layer_inst *l, const char *section,
                        const char *key)
{
    int first = line_of(p->e, section, key);
    if (!first || is_list_key(l, key))
        return 0;
    if (p->continued)
        cfg_fail(&p->err, "takes one value: only list keys continue on indented lines");
    else
        cfg_fail(&p->err, "key given twice (first at line %d)", first);
    return 1;
}

/* on_key - inih's handler: 1 to go on, 0 to stop with this line as the error. */
static int on_key(void *user, const char *section, const char *key, const char *value)
{
    struct parse *p = user;
    int r;

    if (p->failed)
        return 1; /* keep the first error; inih goes on reading */
    snprintf(p->section, sizeof(p->section), "%s", section);
    snprintf(p->key, sizeof(p->key), "%s", key ? key : "");
    if (!key) /* a new section header (INI_CALL_HANDLER_ON_NEW_SECTION) */
        return 1;
    if (!*section) {
        cfg_fail(&p->err, "key outside of any section");
        return handler_failed(p);
    }
    int general = !strcmp(section, "general");
    struct layer_inst *l = general ? NULL : find_layer(p->e, section);
    if (!general && !l) { /* check_section() refused it already; be safe */
        cfg_fail(&p->err, "unknown section");
        return handler_failed(p);
    }
    if (repeated_key(p, l, section, key))
        return handler_failed(p);
    if (remember_line(p->e, section, key, p->line)) {
        cfg_fail(&p->err, "out of memory");
        return handler_failed(p);
    }
    if (general)
        return general_set(p, key, value) == 0 ? 1 : handler_failed(p);

    p->err.msg[0] = '\0';
    r = common_set(l, key, value, &p->err);
    /* who is a customer and which domains are ours: facts the core keeps
     * for every layer, named in [customers] where administrators look */
    if (r == CFG_UNKNOWN_KEY && !strcmp(section, "customers"))
        r = client_cfg_set(p->e->client, key, value, &p->err);
    if (r == CFG_UNKNOWN_KEY)
        r = l->desc->set ? l->desc->set(l->cfg, key, value, &p->err) : CFG_UNKNOWN_KEY;
    if (r == CFG_UNKNOWN_KEY) {
        cfg_fail(&p->err, "unknown key");
        return handler_failed(p);
    }
    if (r != 0 && !p->err.msg[0])
        cfg_fail(&p->err, "invalid value '%s'", value);
    return r == 0 ? 1 : handler_failed(p);
}

/* check_section - called by the reader for each "[name]" line, so that an
 * unknown section is refused even when it holds no keys. */
static int check_section(struct parse *p, const char *line)
{
    const char *end = strchr(line, ']');
    size_t n = end ? (size_t)(end - line - 1) : 0;
    if (!end || n == 0 || n >= sizeof(p->section))
        return 0; /* inih reports the syntax error */
    memcpy(p->section, line + 1, n);
    p->section[n] = '\0';
    p->key[0] = '\0';
    struct layer_inst *l = find_layer(p->e, p->section);
    int *seen = !strcmp(p->section, "general") ? &p->general_line : l ? &l->configured : NULL;
    if (seen) { /* one place per section: a second header is a likely paste */
        if (*seen)
            return cfg_fail(&p->err, "section given twice (first at line %d)", *seen);
        *seen = p->line;
        return 0;
    }
    for (size_t i = 0; layer_reserved[i]; i++)
        if (!strcmp(layer_reserved[i], p->section))
            return cfg_fail(&p->err, "layer [%s] is not available in libpolicy %s", p->section,
                            POLICY_VERSION);
    return cfg_fail(&p->err, "unknown section");
}

/* reader - the line reader inih calls: counts lines (so handlers know where
 * they are), refuses lines inih would silently cut and NUL bytes (which would
 * hide the rest of their line), and checks section names. */
static char *reader(char *str, int num, void *stream)
{
    struct parse *p = stream;
    size_t len;
    if (p->failed || num < 3)
        return NULL;
    int r = file_line(p->fp, str, (size_t)num - 1, &len);
    if (r == 0 || r == FILE_LINE_ERROR)
        return NULL; /* the caller tells end of file from a read error */
    p->line++;
    if (r == FILE_LINE_LONG || r == FILE_LINE_NUL) {
        if (r == FILE_LINE_LONG)
            cfg_fail(&p->err, "line longer than %d bytes (continue long lists on indented lines)",
                     num - 2);
        else
            cfg_fail(&p->err, "NUL byte in the line");
        p->section[0] = p->key[0] = '\0';
        p->failed = p->line;
        return NULL;
    }
    const char *t = str + strspn(str, " \t");
    p->continued = t != str;
    /* an indented line after a key is inih's continuation, not a section */
    if (*t == '[' && (t == str || !p->key[0]) && check_section(p, t) != 0) {
        p->failed = p->line;
        return NULL;
    }
    return str;
}

static void format_error(char *err, size_t errlen, const char *path, int line, const char *section,
                         const char *key, const char *msg)
{
    if (!err || !errlen)
        return;
    if (section && *section && key && *key)
        snprintf(err, errlen, "%s:%d: [%s] %s: %s", path, line, section, key, msg);
    else if (section && *section)
        snprintf(err, errlen, "%s:%d: [%s]: %s", path, line, section, msg);
    else
        snprintf(err, errlen, "%s:%d: %s", path, line, msg);
}

static void general_defaults(struct general_cfg *g)
{
    memset(g, 0, sizeof(*g));
    g->delay_reject = 1;
    g->message_size_limit = 50 * 1024 * 1024;
    g->spool_memory = 1024 * 1024;
    g->dns_timeout_ms = 5000;
    g->p0f_timeout_ms = 500;
    g->log_level = LOG_INFO;
    g->log_facility = LOG_MAIL;
}

static void engine_free(policy_engine *e)
{
    if (!e)
        return;
    if (e->layers) {
        for (size_t i = 0; i < layer_count; i++) {
            struct layer_inst *l = &e->layers[i];
            if (l->cfg && l->desc->free)
                l->desc->free(l->cfg);
            free(l->cfg);
        }
        free(e->layers);
    }
    for (size_t i = 0; i < e->nlines; i++) {
        free(e->lines[i].section);
        free(e->lines[i].key);
    }
    free(e->lines);
    client_cfg_free(e->client);
    store_close(e->store);
    free(e->general.store);
    free(e->general.p0f);
    free(e->general.tmpdir);
    free(e->general.dns_servers);
    free(e->general.tcprules);
    free(e->general.hostname);
    free(e->path);
    free(e);
}

static policy_engine *engine_alloc(void)
{
    policy_engine *e = calloc(1, sizeof(*e));
    if (!e)
        return NULL;
    atomic_init(&e->refs, 1);
    general_defaults(&e->general);
    e->layers = calloc(layer_count, sizeof(*e->layers));
    e->client = client_cfg_new();
    if (!e->layers || !e->client) {
        client_cfg_free(e->client);
        free(e->layers);
        free(e);
        return NULL;
    }
    for (size_t i = 0; i < layer_count; i++) {
        struct layer_inst *l = &e->layers[i];
        l->desc = layer_registry[i];
        l->common.action = l->desc->default_action;
        l->common.on_error = OE_TEMPFAIL;
        l->common.delay_reject = -1;
        l->cfg = calloc(1, l->desc->cfg_size ? l->desc->cfg_size : 1);
        if (!l->cfg) {
            engine_free(e);
            return NULL;
        }
        if (l->desc->defaults)
            l->desc->defaults(l->cfg);
    }
    return e;
}

policy_engine *policy_engine_open(const char *config_path, char *err, size_t errlen)
{
    return policy_engine_open_flags(config_path, 0, err, errlen);
}

policy_engine *policy_engine_open_flags(const char *config_path, unsigned flags, char *err,
                                        size_t errlen)
{
    struct parse p;
    const char *where = config_path ? config_path : "(built-in defaults)";
    policy_engine *e;

    if (err && errlen)
        err[0] = '\0';
    e = engine_alloc();
    if (!e) {
        if (err && errlen)
            snprintf(err, errlen, "%s: out of memory", where);
        return NULL;
    }
    e->general.lazy = (flags & POLICY_OPEN_LAZY) != 0;
    if (config_path) {
        memset(&p, 0, sizeof(p));
        p.e = e;
        e->path = strdup(config_path);
        p.fp = e->path ? file_fopen(config_path, NULL, 0) : NULL;
        if (!p.fp) {
            if (err && errlen)
                snprintf(err, errlen, "%s:0: %s%s", config_path,
                         !e->path          ? "out of memory"
                         : errno == EINVAL ? "not a regular file"
                                           : "cannot open: ",
                         e->path && errno != EINVAL ? strerror(errno) : "");
            if (p.fp)
                fclose(p.fp);
            engine_free(e);
            return NULL;
        }
        int r = ini_parse_stream(reader, &p, on_key, &p);
        int read_error = ferror(p.fp);
        fclose(p.fp);
        if (r != 0 || read_error || p.failed) {
            if (read_error)
                format_error(err, errlen, config_path, p.line, NULL, NULL, "read error");
            else if (r == -2)
                format_error(err, errlen, config_path, p.line, NULL, NULL, "out of memory");
            else if (p.failed && (r <= 0 || p.failed <= r))
                format_error(err, errlen, config_path, p.failed, p.section, p.key, p.err.msg);
            else
                format_error(err, errlen, config_path, r, NULL, NULL,
                             "syntax error: expected [section], key = value or a comment");
            engine_free(e);
            return NULL;
        }
    }
    if (e->general.store_metrics && !e->store) {
        format_error(err, errlen, where, line_of(e, "general", "store_metrics"), "general",
                     "store_metrics", "needs a store: set [general] store");
        engine_free(e);
        return NULL;
    }
    e->metrics_on = e->general.store_metrics;
    if (!e->general.hostname) {
        char h[POLICY_HOST_MAX + 1];
        if (gethostname(h, sizeof(h)) != 0 || !*h)
            snprintf(h, sizeof(h), "localhost");
        h[sizeof(h) - 1] = '\0';
        e->general.hostname = strdup(h);
        if (!e->general.hostname) {
            if (err && errlen)
                snprintf(err, errlen, "%s: out of memory", where);
            engine_free(e);
            return NULL;
        }
    }
    {
        struct cfg_err ce = {{0}};
        const char *key = NULL;
        if (client_cfg_load(e->client, e, &ce, &key) != 0) {
            format_error(err, errlen, where, line_of(e, "customers", key), "customers", key,
                         ce.msg[0] ? ce.msg : "cannot load");
            engine_free(e);
            return NULL;
        }
    }
    for (size_t i = 0; i < layer_count; i++) {
        struct layer_inst *l = &e->layers[i];
        struct cfg_err ce = {{0}};
        /* an opt-in layer (one that asks the network) runs only when its
         * section is in the file, or a POLICY_<LAYER> variable turns it on */
        if ((l->desc->flags & LAYER_OPTIN) && !l->configured)
            l->common.action = LA_OFF;
        const char *key = NULL;
        if (l->desc->load && l->desc->load(l->cfg, e, &ce, &key) != 0) {
            format_error(err, errlen, where, line_of(e, l->desc->name, key), l->desc->name, key,
                         ce.msg[0] ? ce.msg : "cannot load");
            engine_free(e);
            return NULL;
        }
    }
    return e;
}

policy_engine *policy_engine_ref(policy_engine *e)
{
    if (e)
        atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
    return e;
}

void policy_engine_unref(policy_engine *e)
{
    if (e && atomic_fetch_sub_explicit(&e->refs, 1, memory_order_acq_rel) == 1)
        engine_free(e);
}

void policy_engine_set_log(policy_engine *e, policy_log_fn fn, void *ctx)
{
    if (!e)
        return;
    e->log_fn = fn;
    e->log_ctx = ctx;
}

/* the public stage bits are the internal stage numbers as bits */
_Static_assert(POLICY_STAGE_CONNECT == 1u << STAGE_CONNECT &&
                   POLICY_STAGE_AUTH == 1u << STAGE_AUTH && POLICY_STAGE_RCPT == 1u << STAGE_RCPT &&
                   POLICY_STAGE_HEADER == 1u << STAGE_HEADER &&
                   POLICY_STAGE_EOM == 1u << STAGE_EOM && STAGE_COUNT == 9,
               "POLICY_STAGE_* bits must follow enum stage");

unsigned policy_engine_stages(const policy_engine *e)
{
    unsigned mask = 0;
    if (!e)
        return 0;
    for (size_t i = 0; i < layer_count; i++) {
        const struct layer_desc *d = layer_registry[i];
        if (e->layers[i].common.action == LA_OFF)
            continue;
        unsigned have = 0;
        for (int st = 0; st < STAGE_COUNT; st++)
            if (d->hooks[st])
                have |= 1u << st;
        if (d->eom_start)
            have |= 1u << STAGE_EOM;
        /* a layer that reads the message needs the whole of it: headers,
         * body and the end of message, where content verdicts are given */
        unsigned needs = d->needs_of ? d->needs_of(e->layers[i].cfg) : d->needs;
        if (needs)
            have |= (1u << STAGE_DATA) | (1u << STAGE_HEADER) | (1u << STAGE_BODY) |
                    (1u << STAGE_EOM);
        mask |= d->stages ? have & d->stages(e->layers[i].cfg) : have;
    }
    /* verdicts of connect, HELO and MAIL are remembered (or, for the DNS
     * layers, collected) at the first RCPT: that stage has work then too */
    if (mask & ((1u << STAGE_CONNECT) | (1u << STAGE_HELO) | (1u << STAGE_MAIL)))
        mask |= 1u << STAGE_RCPT;
    return mask;
}

int engine_layer_index(const struct layer_desc *d)
{
    for (size_t i = 0; i < layer_count; i++)
        if (layer_registry[i] == d)
            return (int)i;
    return -1;
}

const struct general_cfg *engine_general(const policy_engine *e)
{
    return &e->general;
}

struct store *engine_store(const policy_engine *e)
{
    return e->store;
}

int layer_store_open(const char *uri, struct store **own, struct cfg_err *err)
{
    char why[POLICY_ERR_MAX - 64];
    struct store *st = store_open(uri, why, sizeof(why));
    if (!st)
        return cfg_fail(err, "%s", why);
    store_close(*own);
    *own = st;
    return 0;
}

struct store *layer_store(const policy_engine *e, struct store *own)
{
    if (!own)
        return e->store;
    store_set_log(own, store_log, (void *)e);
    return own;
}

int engine_layer_configured(const policy_engine *e, const struct layer_desc *d)
{
    int i = engine_layer_index(d);
    return i >= 0 && e->layers[i].configured != 0;
}

const void *engine_layer_cfg(const policy_engine *e, const struct layer_desc *d)
{
    int i = engine_layer_index(d);
    return i < 0 ? NULL : e->layers[i].cfg;
}

/* policy_makemap_recipients - the public face of support/recipmap.c. */
int policy_makemap_recipients(const char *in_path, const char *out_path, unsigned flags, char *err,
                              size_t errlen)
{
    char dummy[1];
    if (!err || !errlen) {
        err = dummy;
        errlen = sizeof(dummy);
    }
    if (!in_path || !out_path || !*out_path) {
        snprintf(err, errlen, "no input or output file");
        return -1;
    }
    return recipmap_make(in_path, out_path, !(flags & POLICY_MAP_CASE_SENSITIVE), err, errlen);
}
