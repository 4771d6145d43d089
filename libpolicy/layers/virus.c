/*
 * virus.c - layer 7: every message through ClamAV, refused during the SMTP
 * conversation when it carries a virus.  Two scanners behind one result
 * (support/virus.h): libclamav in process (one compiled engine per
 * database, shared by every session and thread, handed on by a reload that
 * changes nothing) or clamd over its sockets (INSTREAM, servers in order).
 *
 * What is scanned ("mode = parts", the default): the raw message, plus the
 * parts the one MIME parse decodes - every leaf for libclamav (which then
 * skips its own mail parser), for clamd only what its mail parser misses
 * (quoted-printable parts and whatever sits in an encoded container).
 * "mode = mail" hands the raw message to ClamAV's own mail parser alone.
 * A clamd scan is started at the first phase of end of message and
 * collected in the EOM hook, on the session's poll set, so it runs beside
 * the other layers' questions; a clamd that hangs costs at most the
 * timeout.  A message that cannot be scanned whole is never called clean:
 * too big and encrypted content are verdicts of their own, anything else
 * is an error that on_error decides.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/layer.h"
#include "../support/clamav.h"
#include "../support/clamd.h"
#include "../support/mime.h"
#include "../support/spool.h"
#include "../support/virus.h"
#include "../support/waiter.h"

extern const struct layer_desc layer_virus;

#define DEFAULT_CLAMD    "unix:/var/run/clamav/clamd.ctl"
#define DEFAULT_DATABASE "/var/lib/clamav"
#define DEFAULT_MAX_SIZE (25 * 1024 * 1024) /* clamd's StreamMaxLength default */
#define SLOTS            4                  /* clamd scans of one message at once */
#define TRACKERS         8                  /* leaf parts open at once: a text part and the
                                               uuencoded files inside it */
#define PART_MEMORY      (256 * 1024)       /* of a part's bytes in memory before a file */
#define PARTS_MEMORY     (1024 * 1024)      /* of the parts kept for clamd */

enum scanner { SCANNER_CLAMD, SCANNER_LIBCLAMAV };
enum mode { MODE_PARTS, MODE_MAIL };
enum unseen { UNSEEN_ACCEPT, UNSEEN_REJECT };

struct virus_cfg {
    enum scanner scanner;
    enum mode mode;
    char *clamd;    /* the server list, as given (a list key) */
    char *database; /* libclamav's signature directory */
    char *tmpdir;   /* where libclamav unpacks */
    unsigned long connect_ms, timeout_ms;
    uint64_t max_size; /* a bigger message is not scanned: too_big decides */
    uint64_t max_scansize, max_filesize;
    unsigned long max_recursion, max_files, max_scantime_ms;
    int archives, heuristics, pua, cache;
    enum unseen encrypted, too_big;
    int scan_customers, scanned_header;
    /* what load() made of them */
    struct clamd *cd;
    struct clamav_engine *engine;
    char load_err[POLICY_REASON_MAX - 64]; /* no engine: every scan is an error saying this */
    unsigned opts;                         /* CLAMAV_* of every scan */
};

/* What a message's scans found, all scanners and parts together. */
struct findings {
    int infected, encrypted, error, too_big;
    char name[VIRUS_NAME_MAX];  /* the first virus (or encrypted alert) */
    char where[96];             /* where it was: "the message", a part's name */
    const char *why;            /* the first error or too-big reason */
    unsigned scans;
};

/* One leaf part's decoded bytes while they come. */
struct tracker {
    int used;
    unsigned index;
    struct spool *sp;
    int over; /* SPOOL_TOO_BIG or SPOOL_IO: not kept whole */
    char name[64];
};

/* A part kept for clamd: where it is in the parts spool. */
struct part_ref {
    uint64_t off, len;
    char name[64];
};

/* One clamd scan in flight: the raw message or one part. */
struct slot {
    struct clamd_scan *scan;
    int busy;
    struct spool *sp; /* what it reads: the message spool or the parts spool */
    uint64_t off;
    char name[64];
};

struct virus_state {
    int skipped; /* not scanned: a customer with scan_customers = no */
    int started; /* eom_start ran for this message */
    struct findings f;
    double t0;      /* the start of end of message */
    double part_ms; /* libclamav's scans of parts while the body came */
    struct tracker t[TRACKERS];
    /* clamd */
    struct spool *parts;
    struct part_ref *refs;
    size_t nrefs, refs_cap, next;
    int raw_queued; /* the raw message still has to go */
    struct slot slot[SLOTS];
    double deadline;
    char status[VIRUS_NAME_MAX + 32]; /* the X-Virus-Status of action = tag */
};

/* ------------------------------------------------------------ configuration */

static void virus_cfg_defaults(void *cfg)
{
    struct virus_cfg *c = cfg;
    c->scanner = SCANNER_CLAMD;
    c->mode = MODE_PARTS;
    c->connect_ms = CLAMD_CONNECT_MS_DEF;
    c->timeout_ms = CLAMD_TIMEOUT_MS_DEF;
    c->max_size = DEFAULT_MAX_SIZE;
    c->archives = 1;
    c->heuristics = 1;
    c->cache = 1;
    c->encrypted = UNSEEN_ACCEPT;
    c->too_big = UNSEEN_ACCEPT;
    c->scan_customers = 1;
}

/* set_unseen - accept | reject */
static int set_unseen(const char *v, enum unseen *out, struct cfg_err *err)
{
    if (!strcmp(v, "accept"))
        *out = UNSEEN_ACCEPT;
    else if (!strcmp(v, "reject"))
        *out = UNSEEN_REJECT;
    else
        return cfg_fail(err, "expected accept or reject, got '%s'", v);
    return 0;
}

static int set_size(const char *v, uint64_t *out, struct cfg_err *err)
{
    if (cfg_parse_size(v, (uint64_t)4 << 30, out))
        return cfg_fail(err, "expected a size up to 4G (e.g. 25M, 0 for the default), got '%s'", v);
    return 0;
}

static int virus_cfg_set(void *cfg, const char *key, const char *v, struct cfg_err *err)
{
    struct virus_cfg *c = cfg;
    if (!strcmp(key, "scanner")) {
        if (!strcmp(v, "clamd"))
            c->scanner = SCANNER_CLAMD;
        else if (!strcmp(v, "libclamav"))
            c->scanner = SCANNER_LIBCLAMAV;
        else
            return cfg_fail(err, "expected libclamav or clamd, got '%s'", v);
        return 0;
    }
    if (!strcmp(key, "mode")) {
        if (!strcmp(v, "parts"))
            c->mode = MODE_PARTS;
        else if (!strcmp(v, "mail"))
            c->mode = MODE_MAIL;
        else
            return cfg_fail(err, "expected parts or mail, got '%s'", v);
        return 0;
    }
    if (!strcmp(key, "clamd")) { /* a list: each line adds servers, tried in order */
        char check[POLICY_ERR_MAX - 64];
        struct netreq_servers one;
        if (netreq_parse_servers(v, &one, check, sizeof(check)) != 0)
            return cfg_fail(err, "%s", check);
        if (!c->clamd)
            return cfg_set_string(&c->clamd, v, err);
        char *j = malloc(strlen(c->clamd) + strlen(v) + 2);
        if (!j)
            return cfg_fail(err, "out of memory");
        sprintf(j, "%s %s", c->clamd, v);
        free(c->clamd);
        c->clamd = j;
        return 0;
    }
    if (!strcmp(key, "database"))
        return v[0] == '/' ? cfg_set_string(&c->database, v, err)
                           : cfg_fail(err, "expected an absolute directory, got '%s'", v);
    if (!strcmp(key, "tmpdir"))
        return v[0] == '/' ? cfg_set_string(&c->tmpdir, v, err)
                           : cfg_fail(err, "expected an absolute directory, got '%s'", v);
    if (!strcmp(key, "connect_timeout"))
        return cfg_set_ms(v, 10, 60000, &c->connect_ms, err);
    if (!strcmp(key, "timeout"))
        return cfg_set_ms(v, 10, 600000, &c->timeout_ms, err);
    if (!strcmp(key, "max_size")) {
        if (set_size(v, &c->max_size, err))
            return -1;
        return c->max_size ? 0 : cfg_fail(err, "expected a size above 0, got '%s'", v);
    }
    if (!strcmp(key, "max_scansize"))
        return set_size(v, &c->max_scansize, err);
    if (!strcmp(key, "max_filesize"))
        return set_size(v, &c->max_filesize, err);
    if (!strcmp(key, "max_recursion"))
        return cfg_parse_uint(v, 100, &c->max_recursion)
                   ? cfg_fail(err, "expected 0 to 100, got '%s'", v)
                   : 0;
    if (!strcmp(key, "max_files"))
        return cfg_parse_uint(v, 1000000, &c->max_files)
                   ? cfg_fail(err, "expected 0 to 1000000, got '%s'", v)
                   : 0;
    if (!strcmp(key, "max_scantime"))
        return cfg_set_ms(v, 10, 3600000, &c->max_scantime_ms, err);
    if (!strcmp(key, "archives"))
        return cfg_set_bool(v, &c->archives, err);
    if (!strcmp(key, "heuristics"))
        return cfg_set_bool(v, &c->heuristics, err);
    if (!strcmp(key, "pua"))
        return cfg_set_bool(v, &c->pua, err);
    if (!strcmp(key, "cache"))
        return cfg_set_bool(v, &c->cache, err);
    if (!strcmp(key, "encrypted"))
        return set_unseen(v, &c->encrypted, err);
    if (!strcmp(key, "too_big"))
        return set_unseen(v, &c->too_big, err);
    if (!strcmp(key, "scan_customers"))
        return cfg_set_bool(v, &c->scan_customers, err);
    if (!strcmp(key, "scanned_header"))
        return cfg_set_bool(v, &c->scanned_header, err);
    return CFG_UNKNOWN_KEY;
}

/* load_engine - the libclamav engine for these settings: the one already
 * loaded when nothing changed (a reload costs no database read), a new one
 * when the database changed; when it does not load, the last good engine
 * for the same settings, else none (every message gets on_error). */
static void load_engine(struct virus_cfg *c, const policy_engine *e)
{
    const struct general_cfg *g = engine_general(e);
    struct clamav_settings set = {
        .dbdir = c->database ? c->database : DEFAULT_DATABASE,
        .max_scansize = c->max_scansize,
        .max_filesize = c->max_filesize,
        .max_recursion = (unsigned)c->max_recursion,
        .max_files = (unsigned)c->max_files,
        .max_scantime_ms = (unsigned)c->max_scantime_ms,
        .pua = c->pua,
        .no_cache = !c->cache,
        .tmpdir = c->tmpdir ? c->tmpdir : g->tmpdir,
    };
    char err[sizeof(c->load_err)];
    double t0 = waiter_now_ms();
    c->engine = clamav_open(&set, err, sizeof(err));
    double ms = waiter_now_ms() - t0;
    if (c->engine) {
        if (clamav_opens(c->engine) > 1)
            elog(e, POLICY_LOG_INFO,
                 "virus: libclamav engine for %s unchanged: %u signatures, no database read "
                 "(%.2f ms)", set.dbdir, clamav_signatures(c->engine), ms);
        else
            elog(e, POLICY_LOG_INFO, "virus: libclamav %s loaded %s: %u signatures in %.1f ms",
                 clamav_version(), set.dbdir, clamav_signatures(c->engine), ms);
        return;
    }
    c->engine = clamav_open_last(&set);
    if (c->engine) {
        elog(e, POLICY_LOG_WARNING,
             "virus: %s; scanning with the engine loaded before (%u signatures)", err,
             clamav_signatures(c->engine));
        return;
    }
    snprintf(c->load_err, sizeof(c->load_err), "%s", err);
    elog(e, POLICY_LOG_ERR, "virus: %s: every message gets on_error", err);
}

static int virus_cfg_load(void *cfg, const policy_engine *e, struct cfg_err *err, const char **key)
{
    struct virus_cfg *c = cfg;
    if (c->archives)
        c->opts |= CLAMAV_ARCHIVES;
    if (c->heuristics)
        c->opts |= CLAMAV_HEURISTICS;
    if (c->encrypted == UNSEEN_REJECT)
        c->opts |= CLAMAV_ENCRYPTED;
    if (c->too_big == UNSEEN_REJECT)
        c->opts |= CLAMAV_LIMITS;
    if (c->scanner == SCANNER_LIBCLAMAV) {
        if (c->clamd) {
            *key = "clamd";
            return cfg_fail(err, "clamd servers are for scanner = clamd");
        }
        load_engine(c, e);
        return 0;
    }
    if (c->database) {
        *key = "database";
        return cfg_fail(err, "database is for scanner = libclamav (clamd reads its own)");
    }
    struct clamd_settings set = {(unsigned)c->connect_ms, (unsigned)c->timeout_ms, c->max_size};
    char why[POLICY_ERR_MAX - 64];
    if (!(c->cd = clamd_new(c->clamd ? c->clamd : DEFAULT_CLAMD, &set, why, sizeof(why)))) {
        *key = "clamd";
        return cfg_fail(err, "%s", why);
    }
    return 0;
}

static void virus_cfg_free(void *cfg)
{
    struct virus_cfg *c = cfg;
    clamd_free(c->cd);
    clamav_close(c->engine);
    free(c->clamd);
    free(c->database);
    free(c->tmpdir);
}

/* Parts mode reads the parts the parser decodes; mail mode the message only. */
static unsigned virus_cfg_needs(const void *cfg)
{
    const struct virus_cfg *c = cfg;
    return NEED_SPOOL | (c->mode == MODE_PARTS ? NEED_MIME | NEED_BODY : 0);
}

/* ------------------------------------------------------------ findings */

static struct virus_state *state(policy_session *s)
{
    return session_layer_state(s, &layer_virus);
}

/* note - one scan's result into what the message's scans found so far. */
static void note(struct findings *f, const struct virus_result *r, const char *where)
{
    f->scans++;
    switch (r->status) {
    case VIRUS_INFECTED:
    case VIRUS_ENCRYPTED:
        if (!f->infected && (r->status == VIRUS_INFECTED || !f->encrypted)) {
            snprintf(f->name, sizeof(f->name), "%s", r->name);
            snprintf(f->where, sizeof(f->where), "%s", where);
        }
        if (r->status == VIRUS_INFECTED)
            f->infected = 1;
        else
            f->encrypted = 1;
        break;
    case VIRUS_TOO_BIG:
        if (!f->too_big && !f->error)
            f->why = r->why;
        f->too_big = 1;
        break;
    case VIRUS_CLEAN:
        break;
    default:
        if (!f->error)
            f->why = r->why && *r->why ? r->why : "scan failed";
        f->error = 1;
        break;
    }
}

/* note_status - a result made here (not by a scanner). */
static void note_status(struct findings *f, enum virus_status status, const char *why)
{
    struct virus_result r;
    virus_set(&r, status, why);
    note(f, &r, "the message");
}

/* done_scanning - nothing more can change the verdict: a virus was found. */
static int done_scanning(const struct findings *f)
{
    return f->infected;
}

/* part_name - a part as the log names it: its file name, else its place
 * and type (cut to fit: the name is for people, never matched). */
static void part_name(const struct mime_part *p, char buf[64])
{
    if (p->filename[0])
        snprintf(buf, 64, "%.63s", p->filename);
    else
        snprintf(buf, 64, "part %u (%.20s/%.20s)", p->index, p->type, p->subtype);
}

/* ------------------------------------------------------------ content events */

/* clamd_misses - clamd reads the raw message with its own mail parser,
 * which does not decode quoted-printable byte for byte (a signature on a
 * whole file misses the attachment it gives), nor, then, what an encoded
 * container holds: those parts go to it decoded, beside the message. */
static int clamd_misses(const struct mime_part *p)
{
    for (const struct mime_part *q = p; q; q = q->up)
        if (q->cte == MIME_CTE_QP || (q->kind != MIME_LEAF && q->cte != MIME_CTE_NONE))
            return 1;
    return 0;
}

static int runs_for(policy_session *s, const struct virus_cfg *c)
{
    return c->scan_customers || !session_client(s)->customer;
}

static struct tracker *tracker_of(struct virus_state *st, unsigned index)
{
    for (int i = 0; i < TRACKERS; i++)
        if (st->t[i].used && st->t[i].index == index)
            return &st->t[i];
    return NULL;
}

static void virus_part_begin(policy_session *s, const void *cfg, const struct mime_part *p)
{
    const struct virus_cfg *c = cfg;
    struct virus_state *st = state(s);
    if (p->kind != MIME_LEAF || !runs_for(s, c) || done_scanning(&st->f))
        return;
    if (c->scanner == SCANNER_CLAMD && !clamd_misses(p))
        return;
    struct tracker *t = NULL;
    for (int i = 0; i < TRACKERS && !t; i++)
        if (!st->t[i].used)
            t = &st->t[i];
    if (!t) { /* deeper than the parser nests text and uuencode: never a silent pass */
        note_status(&st->f, VIRUS_ERROR, "more parts open at once than can be scanned");
        return;
    }
    uint64_t limit = c->max_filesize ? c->max_filesize : c->max_size;
    if (!t->sp && !(t->sp = spool_new(PART_MEMORY, limit, session_general(s)->tmpdir))) {
        note_status(&st->f, VIRUS_ERROR, "out of memory");
        return;
    }
    spool_reset(t->sp);
    t->used = 1;
    t->index = p->index;
    t->over = 0;
    part_name(p, t->name);
}

static void virus_body(policy_session *s, const void *cfg, const struct mime_part *p,
                       const unsigned char *d, size_t n)
{
    struct tracker *t = tracker_of(state(s), p->index);
    (void)cfg;
    if (!t || t->over || !n)
        return;
    enum spool_status r = spool_write(t->sp, d, n);
    if (r != SPOOL_OK)
        t->over = r;
}

/* keep_for_clamd - a part's bytes into the parts spool, sent at end of message. */
static void keep_for_clamd(policy_session *s, const struct virus_cfg *c, struct virus_state *st,
                           struct tracker *t)
{
    uint64_t len = spool_size(t->sp), off;
    if (!st->parts &&
        !(st->parts = spool_new(PARTS_MEMORY, c->max_size, session_general(s)->tmpdir))) {
        note_status(&st->f, VIRUS_ERROR, "out of memory");
        return;
    }
    if (!st->nrefs)
        spool_reset(st->parts);
    off = spool_size(st->parts);
    char buf[16384];
    for (uint64_t at = 0; at < len;) {
        ssize_t k = spool_read(t->sp, at, buf, sizeof(buf));
        if (k <= 0) {
            note_status(&st->f, VIRUS_ERROR, "cannot read a part back");
            return;
        }
        enum spool_status w = spool_write(st->parts, buf, (size_t)k);
        if (w != SPOOL_OK) {
            note_status(&st->f, w == SPOOL_TOO_BIG ? VIRUS_TOO_BIG : VIRUS_ERROR,
                        w == SPOOL_TOO_BIG ? "decoded parts over max_size"
                                           : "cannot keep the decoded parts");
            return;
        }
        at += (uint64_t)k;
    }
    if (array_grow(&st->refs, &st->refs_cap, st->nrefs + 1, sizeof(*st->refs), 8) != 0) {
        note_status(&st->f, VIRUS_ERROR, "out of memory");
        return;
    }
    struct part_ref *ref = &st->refs[st->nrefs++];
    ref->off = off;
    ref->len = len;
    snprintf(ref->name, sizeof(ref->name), "%s", t->name);
}

/* scan_spool - libclamav on the whole content of sp. */
static void scan_spool(const struct virus_cfg *c, unsigned opts, struct spool *sp,
                       struct virus_result *r)
{
    size_t len;
    const void *mem = spool_memory(sp, &len);
    if (mem) {
        clamav_scan_mem(c->engine, opts, mem, len, r);
        return;
    }
    int fd = spool_fd(sp);
    if (fd < 0)
        virus_set(r, VIRUS_ERROR, "cannot read the spool");
    else
        clamav_scan_fd(c->engine, opts, fd, spool_size(sp), r);
}

static void virus_part_end(policy_session *s, const void *cfg, const struct mime_part *p)
{
    const struct virus_cfg *c = cfg;
    struct virus_state *st = state(s);
    struct tracker *t = tracker_of(st, p->index);
    if (!t)
        return;
    t->used = 0;
    if (done_scanning(&st->f))
        return;
    if (t->over) {
        note_status(&st->f, t->over == SPOOL_TOO_BIG ? VIRUS_TOO_BIG : VIRUS_ERROR,
                    t->over == SPOOL_TOO_BIG ? "a part over the scan size limit"
                                             : "cannot keep a part to scan it");
        return;
    }
    if (!spool_size(t->sp))
        return;
    if (c->scanner == SCANNER_CLAMD) {
        keep_for_clamd(s, c, st, t);
        return;
    }
    if (!c->engine)
        return; /* the error is noted once, at end of message */
    /* with mail parsing: ClamAV then parses a part that is itself a message
     * (an attached .eml) and the data: URIs of an HTML part; a part of any
     * other kind is scanned as it is */
    struct virus_result r;
    double t0 = waiter_now_ms();
    scan_spool(c, c->opts | CLAMAV_MAIL, t->sp, &r);
    st->part_ms += waiter_now_ms() - t0;
    note(&st->f, &r, t->name);
}

/* ------------------------------------------------------------ clamd */

static ssize_t slot_read(void *ctx, uint64_t off, void *buf, size_t len)
{
    struct slot *sl = ctx;
    return spool_read(sl->sp, sl->off + off, buf, len);
}

/* slot_start - the next thing to scan into an idle slot; 0 when none is left. */
static int slot_start(policy_session *s, const struct virus_cfg *c, struct virus_state *st,
                      struct slot *sl, struct waiter *w)
{
    uint64_t len;
    if (st->raw_queued) {
        st->raw_queued = 0;
        sl->sp = message_spool(s);
        sl->off = 0;
        len = sl->sp ? spool_size(sl->sp) : 0;
        snprintf(sl->name, sizeof(sl->name), "the message");
        if (!sl->sp) {
            note_status(&st->f, VIRUS_ERROR, "the message was not kept");
            return 1;
        }
    } else if (st->next < st->nrefs) {
        const struct part_ref *ref = &st->refs[st->next++];
        sl->sp = st->parts;
        sl->off = ref->off;
        len = ref->len;
        snprintf(sl->name, sizeof(sl->name), "%s", ref->name);
    } else {
        return 0;
    }
    if (!sl->scan && !(sl->scan = clamd_scan_new())) {
        note_status(&st->f, VIRUS_ERROR, "out of memory");
        return 1;
    }
    clamd_scan_start(sl->scan, c->cd, w, slot_read, sl, len);
    sl->busy = 1;
    return 1;
}

/* harvest - the answers that are in; a virus stops everything else. */
static void harvest(struct virus_state *st)
{
    for (int i = 0; i < SLOTS; i++) {
        struct slot *sl = &st->slot[i];
        if (!sl->busy || !clamd_scan_done(sl->scan))
            continue;
        note(&st->f, clamd_scan_collect(sl->scan), sl->name);
        sl->busy = 0;
    }
    if (done_scanning(&st->f))
        for (int i = 0; i < SLOTS; i++)
            if (st->slot[i].busy) {
                clamd_scan_cancel(st->slot[i].scan);
                st->slot[i].busy = 0;
            }
}

/* any_done - a waiter_run test: an answer is in, a slot can take more. */
static int any_done(void *arg)
{
    struct virus_state *st = arg;
    for (int i = 0; i < SLOTS; i++)
        if (st->slot[i].busy && clamd_scan_done(st->slot[i].scan))
            return 1;
    return 0;
}

/* fill - start scans in the idle slots while there is something to scan. */
static void fill(policy_session *s, const struct virus_cfg *c, struct virus_state *st,
                 struct waiter *w)
{
    for (int i = 0; i < SLOTS && !done_scanning(&st->f); i++)
        if (!st->slot[i].busy && !slot_start(s, c, st, &st->slot[i], w))
            break;
}

static int busy(const struct virus_state *st)
{
    for (int i = 0; i < SLOTS; i++)
        if (st->slot[i].busy)
            return 1;
    return 0;
}

/* clamd_collect - run the scans to the end: a slot that answers takes the
 * next part; the whole costs at most the deadline set at the start. */
static void clamd_collect(policy_session *s, const struct virus_cfg *c, struct virus_state *st)
{
    struct waiter *w = session_waiter(s);
    while (w) {
        harvest(st);
        if (done_scanning(&st->f))
            return;
        fill(s, c, st, w);
        if (!busy(st))
            return;
        if (waiter_now_ms() >= st->deadline) {
            for (int i = 0; i < SLOTS; i++)
                if (st->slot[i].busy) {
                    clamd_scan_cancel(st->slot[i].scan);
                    st->slot[i].busy = 0;
                }
            note_status(&st->f, VIRUS_ERROR, "timed out");
            return;
        }
        waiter_run(w, any_done, st, st->deadline);
    }
}

/* ------------------------------------------------------------ end of message */

/* virus_eom_start - the first phase: clamd's scans go out (the message and
 * the parts kept for it), libclamav scans the message now. */
static void virus_eom_start(policy_session *s, const void *cfg)
{
    const struct virus_cfg *c = cfg;
    struct virus_state *st = state(s);
    st->started = 1;
    st->t0 = waiter_now_ms();
    if (!runs_for(s, c)) {
        st->skipped = 1;
        return;
    }
    if (done_scanning(&st->f))
        return;
    if (message_size(s) > c->max_size) {
        note_status(&st->f, VIRUS_TOO_BIG, "over max_size");
        return;
    }
    if (c->scanner == SCANNER_LIBCLAMAV) {
        if (!c->engine) {
            note_status(&st->f, VIRUS_ERROR, c->load_err);
            return;
        }
        unsigned opts = c->opts;
        /* parts mode: the parser gave the parts; the raw bytes are scanned
         * as they are, unless the parser could not report every part */
        if (c->mode == MODE_MAIL || (message_mime_flags(s) & (MIME_F_PARTS | MIME_F_DEPTH)))
            opts |= CLAMAV_MAIL;
        struct spool *sp = message_spool(s);
        struct virus_result r;
        if (!sp)
            virus_set(&r, VIRUS_ERROR, "the message was not kept");
        else
            scan_spool(c, opts, sp, &r);
        note(&st->f, &r, "the message");
        return;
    }
    struct waiter *w = session_waiter(s);
    if (!w) {
        note_status(&st->f, VIRUS_ERROR, "no poll set");
        return;
    }
    st->raw_queued = 1;
    st->next = 0;
    st->deadline = st->t0 + (double)c->timeout_ms +
                   (double)c->connect_ms * (double)clamd_server_count(c->cd);
    fill(s, c, st, w);
}

/* header - an X-Virus-* header for this message, when configured. */
static void header(policy_session *s, const struct virus_cfg *c, const char *status)
{
    char v[POLICY_HOST_MAX + 64];
    if (!c->scanned_header)
        return;
    if (c->scanner == SCANNER_LIBCLAMAV)
        snprintf(v, sizeof(v), "ClamAV %s (libclamav) on %s", clamav_version(),
                 session_general(s)->hostname);
    else
        snprintf(v, sizeof(v), "ClamAV (clamd) on %s", session_general(s)->hostname);
    if (session_add_edit(s, POLICY_EDIT_ADD_HEADER, "X-Virus-Scanned", v) != 0 ||
        (status && session_add_edit(s, POLICY_EDIT_ADD_HEADER, "X-Virus-Status", status) != 0))
        plog(s, POLICY_LOG_ERR, "virus: cannot add the X-Virus headers: out of memory");
}

static const char *scanner_name(const struct virus_cfg *c)
{
    return c->scanner == SCANNER_LIBCLAMAV ? "libclamav" : "clamd";
}

/* virus_eom - the second phase: collect, then one verdict for the message. */
static enum check virus_eom(policy_session *s, const void *cfg, struct finding *f)
{
    const struct virus_cfg *c = cfg;
    struct virus_state *st = state(s);
    if (!st->started)
        virus_eom_start(s, cfg); /* the core always starts first; be safe */
    if (st->skipped)
        return CHECK_NOMATCH;
    if (c->scanner == SCANNER_CLAMD)
        clamd_collect(s, c, st);
    const struct findings *fd = &st->f;
    double ms = waiter_now_ms() - st->t0 + st->part_ms; /* what scanning cost this message */
    if (fd->infected) {
        finding_set(f, 554, "5.7.1", "message rejected: virus found: %s", fd->name);
        finding_reason(f, "virus %s in %s (%s, %.1f ms)", fd->name, fd->where, scanner_name(c),
                       ms);
        snprintf(st->status, sizeof(st->status), "Infected (%s)", fd->name);
        f->tag_name = "X-Virus-Status";
        f->tag_value = st->status;
        header(s, c, NULL);
        return CHECK_MATCH;
    }
    if (fd->encrypted && c->encrypted == UNSEEN_REJECT) {
        finding_set(f, 554, "5.7.1", "message rejected: encrypted content cannot be scanned (%s)",
                    fd->name);
        finding_reason(f, "encrypted content %s in %s (%s)", fd->name, fd->where, scanner_name(c));
        snprintf(st->status, sizeof(st->status), "Encrypted (%s)", fd->name);
        f->tag_name = "X-Virus-Status";
        f->tag_value = st->status;
        f->no_discard = 1;
        header(s, c, NULL);
        return CHECK_MATCH;
    }
    if (fd->error) {
        finding_set(f, 451, "4.3.0", "virus scanner unavailable, try again later");
        finding_reason(f, "virus scan failed (%s): %s", scanner_name(c), fd->why);
        header(s, c, "Unscanned (scanner error)");
        return CHECK_ERROR;
    }
    if (fd->too_big && c->too_big == UNSEEN_REJECT) {
        finding_set(f, 552, "5.3.4", "message too big to be scanned for viruses");
        finding_reason(f, "not scanned whole: %s (%s)", fd->why, scanner_name(c));
        f->tag_name = "X-Virus-Status";
        f->tag_value = "Unscanned (too big)";
        f->no_discard = 1;
        header(s, c, NULL);
        return CHECK_MATCH;
    }
    if (fd->too_big)
        plog(s, POLICY_LOG_INFO, "virus: accepted without a whole scan: %s (%s)", fd->why,
             scanner_name(c));
    if (fd->encrypted)
        plog(s, POLICY_LOG_INFO, "virus: accepted with encrypted content: %s in %s", fd->name,
             fd->where);
    plog(s, POLICY_LOG_DEBUG, "virus: clean (%s, %u scans, %.1f ms)", scanner_name(c), fd->scans,
         ms);
    header(s, c, fd->too_big ? "Unscanned (too big)" : "Clean");
    return CHECK_NOMATCH;
}

/* ------------------------------------------------------------ session state */

static void virus_txn_reset(void *state_)
{
    struct virus_state *st = state_;
    for (int i = 0; i < SLOTS; i++)
        if (st->slot[i].busy) { /* an earlier layer decided: the scan is not needed */
            clamd_scan_cancel(st->slot[i].scan);
            st->slot[i].busy = 0;
        }
    for (int i = 0; i < TRACKERS; i++)
        st->t[i].used = 0;
    memset(&st->f, 0, sizeof(st->f));
    st->skipped = st->started = st->raw_queued = 0;
    st->part_ms = 0;
    st->nrefs = st->next = 0;
}

static void virus_state_free(policy_session *s, void *state_)
{
    struct virus_state *st = state_;
    (void)s;
    for (int i = 0; i < SLOTS; i++)
        clamd_scan_free(st->slot[i].scan);
    for (int i = 0; i < TRACKERS; i++)
        spool_free(st->t[i].sp);
    spool_free(st->parts);
    free(st->refs);
}

static const char *const virus_list_keys[] = {"clamd", NULL};

const struct layer_desc layer_virus = {
    .name = "virus",
    .flags = LAYER_OPTIN | LAYER_DISCARD,
    .default_action = LA_REJECT,
    .cfg_size = sizeof(struct virus_cfg),
    .defaults = virus_cfg_defaults,
    .set = virus_cfg_set,
    .load = virus_cfg_load,
    .free = virus_cfg_free,
    .state_size = sizeof(struct virus_state),
    .txn_reset = virus_txn_reset,
    .state_free = virus_state_free,
    .hooks = {[STAGE_EOM] = virus_eom},
    .eom_start = virus_eom_start,
    .content = {.part_begin = virus_part_begin, .body = virus_body, .part_end = virus_part_end},
    .needs = NEED_SPOOL | NEED_MIME | NEED_BODY,
    .needs_of = virus_cfg_needs,
    .list_keys = virus_list_keys,
};
