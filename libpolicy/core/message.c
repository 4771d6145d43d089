/*
 * message.c - the message service: one message received once, kept once
 * and parsed once for every layer.  It counts the raw bytes against
 * message_size_limit, keeps them in the spool when a layer will read them
 * again (in memory up to spool_memory, then an unlinked file), feeds one
 * streaming MIME parse whose events go to every layer that asked, keeps
 * the header list with each header's place in the raw message, splits a
 * raw header block itself (policy_message), and holds per-message memos.
 *
 * Nothing of this exists unless an enabled layer needs it (NEED_*): a
 * configuration without content layers pays for a byte count only.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../support/mime.h"
#include "../support/spool.h"
#include "core.h"

#define HEADER_TEXT_MAX (64 * 1024) /* of one header, for the header hooks */

struct memo {
    struct memo *next;
    const void *key;
    max_align_t data[]; /* size bytes */
};

/* ------------------------------------------------------------ content events */

/* Each MIME event goes to every layer that gets content this message. */
#define FOR_CONTENT_LAYERS(s, i)                                                                   \
    for (size_t i = 0; i < layer_count; i++)                                                       \
        if ((s)->msg.content[i])

static void ev_header(void *ctx, const struct mime_part *p, const struct mime_header *h)
{
    policy_session *s = ctx;
    FOR_CONTENT_LAYERS(s, i)
    if (layer_registry[i]->content.header)
        layer_registry[i]->content.header(s, s->e->layers[i].cfg, p, h);
}

static void ev_part_begin(void *ctx, const struct mime_part *p)
{
    policy_session *s = ctx;
    FOR_CONTENT_LAYERS(s, i)
    if (layer_registry[i]->content.part_begin)
        layer_registry[i]->content.part_begin(s, s->e->layers[i].cfg, p);
}

static void ev_body(void *ctx, const struct mime_part *p, const unsigned char *d, size_t n)
{
    policy_session *s = ctx;
    FOR_CONTENT_LAYERS(s, i)
    if (layer_registry[i]->content.body)
        layer_registry[i]->content.body(s, s->e->layers[i].cfg, p, d, n);
}

static void ev_text(void *ctx, const struct mime_part *p, const char *t, size_t n)
{
    policy_session *s = ctx;
    FOR_CONTENT_LAYERS(s, i)
    if (layer_registry[i]->content.text)
        layer_registry[i]->content.text(s, s->e->layers[i].cfg, p, t, n);
}

static void ev_part_end(void *ctx, const struct mime_part *p)
{
    policy_session *s = ctx;
    FOR_CONTENT_LAYERS(s, i)
    if (layer_registry[i]->content.part_end)
        layer_registry[i]->content.part_end(s, s->e->layers[i].cfg, p);
}

/* ------------------------------------------------------------ the message */

/* layer_needs - what layer i needs from this message (0 when it does not run). */
static unsigned layer_needs(const policy_session *s, size_t i)
{
    const struct layer_desc *d = layer_registry[i];
    if (!layer_runs(s, i) || !(s->stage_mask & CONTENT_STAGES))
        return 0;
    return d->needs_of ? d->needs_of(s->e->layers[i].cfg) : d->needs;
}

int message_begin(policy_session *s)
{
    struct message *m = &s->msg;
    const struct general_cfg *g = &s->e->general;

    message_clear(s);
    if (!m->content && !(m->content = calloc(layer_count, 1)))
        return -1;
    m->needs = 0;
    for (size_t i = 0; i < layer_count; i++) {
        unsigned n = layer_needs(s, i);
        m->content[i] = (n & NEED_MIME) != 0;
        m->needs |= n;
    }
    if (m->needs & (NEED_MIME_HEADERS | NEED_BODY | NEED_TEXT))
        m->needs |= NEED_MIME;
    if (s->keep_message) /* the adapter hands the message on from here */
        m->needs |= NEED_SPOOL;
    if (m->needs & NEED_SPOOL) {
        if (m->spool)
            spool_reset(m->spool);
        else if (!(m->spool = spool_new((size_t)g->spool_memory, 0, g->tmpdir)))
            return -1;
    }
    if (m->needs & NEED_MIME) {
        struct mime_handler h = {
            .ctx = s,
            .header = ev_header,
            .part_begin = ev_part_begin,
            .body = ev_body,
            .text = ev_text,
            .part_end = ev_part_end,
        };
        h.want = (m->needs & NEED_MIME_HEADERS ? MIME_WANT_HEADERS : 0) |
                 (m->needs & NEED_BODY ? MIME_WANT_BODY : 0) |
                 (m->needs & NEED_TEXT ? MIME_WANT_TEXT : 0);
        if (m->mime)
            mime_free(m->mime); /* what is wanted may differ from the last message */
        if (!(m->mime = mime_new(&h, NULL)))
            return -1;
    }
    m->crlf = "\r\n";
    return 0;
}

/* message_raw - the next raw bytes of the message, wherever they came from:
 * counted, spooled and parsed.  0, MESSAGE_TOO_BIG or MESSAGE_FAILED. */
int message_raw(policy_session *s, const void *p, size_t n)
{
    struct message *m = &s->msg;
    uint64_t limit = s->e->general.message_size_limit;
    if (m->too_big)
        return MESSAGE_TOO_BIG;
    if (m->spool_failed)
        return MESSAGE_FAILED;
    if (limit && (n > limit || m->size > limit - n)) {
        m->too_big = 1; /* nothing more is kept: never a partial message */
        return MESSAGE_TOO_BIG;
    }
    m->size += n;
    if ((m->needs & NEED_SPOOL) && spool_write(m->spool, p, n) != SPOOL_OK) {
        m->spool_failed = 1;
        return MESSAGE_FAILED;
    }
    if (m->needs & NEED_MIME)
        (void)mime_feed(m->mime, p, n); /* out of memory is flagged, the parse goes on */
    return 0;
}

int message_keep_header(policy_session *s, const char *name, size_t nl, const char *value,
                        size_t vl, uint64_t raw_off, size_t raw_len)
{
    struct message *m = &s->msg;
    m->now.name = name;
    m->now.value = value;
    if (m->nheaders >= POLICY_MAX_HEADERS || m->header_bytes + nl + vl >= POLICY_MAX_HEADER_BYTES) {
        m->headers_dropped = 1;
        return 0; /* over the limits: checked as given, neither copied nor kept */
    }
    if (array_grow(&m->headers, &m->headers_cap, m->nheaders + 1, sizeof(*m->headers), 32) != 0)
        return -1;
    const char *n = arena_strndup(&s->txn_arena, name, nl);
    const char *v = arena_strndup(&s->txn_arena, value, vl);
    if (!n || !v)
        return -1;
    struct msg_header *h = &m->headers[m->nheaders++];
    h->name = m->now.name = n;
    h->value = m->now.value = v;
    h->raw_off = raw_off;
    h->raw_len = raw_len;
    m->header_bytes += nl + vl;
    return 0;
}

/* raw_value - a value as it goes into the raw message: a lone LF (the
 * MTAs fold with "\n") is the message's line end.  p NULL: count only.
 * 0, or what message_raw said. */
static int raw_value(policy_session *s, const char *v, size_t vl)
{
    struct message *m = &s->msg;
    const int keep = (m->needs & (NEED_SPOOL | NEED_MIME)) != 0;
    size_t start = 0;
    int r;
    for (size_t i = 0; i < vl; i++) {
        if (v[i] != '\n' || (i && v[i - 1] == '\r'))
            continue;
        if ((r = message_raw(s, keep ? v + start : NULL, i - start)) != 0 ||
            (r = message_raw(s, keep ? m->crlf : NULL, strlen(m->crlf))) != 0)
            return r;
        start = i + 1;
    }
    return message_raw(s, keep ? v + start : NULL, vl - start);
}

int message_header(policy_session *s, const char *name, const char *value)
{
    struct message *m = &s->msg;
    size_t nl = strnlen(name, 1000), vl = strnlen(value, POLICY_MAX_HEADER_BYTES);
    uint64_t off = m->size;
    /* the raw form: an MTA without exact values took the blank after the
     * colon away (unless the value kept one) */
    int blank = value[0] == ' ' || value[0] == '\t';
    const char *sep = s->exact_headers || blank ? ":" : ": ";
    const int keep = (m->needs & (NEED_SPOOL | NEED_MIME)) != 0;
    int r;
    if ((r = message_raw(s, keep ? name : NULL, nl)) != 0 ||
        (r = message_raw(s, keep ? sep : NULL, strlen(sep))) != 0 ||
        (r = raw_value(s, value, vl)) != 0 ||
        (r = message_raw(s, keep ? m->crlf : NULL, strlen(m->crlf))) != 0)
        return r;
    if (s->exact_headers) /* the layers see the value without its blanks */
        while (vl && (*value == ' ' || *value == '\t'))
            value++, vl--;
    return message_keep_header(s, name, nl, value, vl, off, (size_t)(m->size - off));
}

int message_body(policy_session *s, const void *chunk, size_t len)
{
    struct message *m = &s->msg;
    int r;
    if (!m->in_body) { /* the empty line between the headers and the body */
        m->in_body = 1;
        if ((r = message_raw(s, m->crlf, strlen(m->crlf))) != 0)
            return r;
    }
    m->chunk = chunk;
    m->chunk_len = len;
    return message_raw(s, chunk, len);
}

void message_end(policy_session *s)
{
    struct message *m = &s->msg;
    if (!m->in_body && !m->split_started)
        (void)message_body(s, "", 0);
    m->chunk = NULL;
    m->chunk_len = 0;
    if ((m->needs & NEED_MIME) && !m->too_big && !m->spool_failed)
        (void)mime_finish(m->mime);
}

void message_clear(policy_session *s)
{
    struct message *m = &s->msg;
    while (m->memos) {
        struct memo *next = m->memos->next;
        free(m->memos);
        m->memos = next;
    }
    m->needs = 0;
    m->size = 0;
    m->in_body = m->too_big = m->spool_failed = 0;
    m->nheaders = m->header_bytes = 0;
    m->headers_dropped = 0;
    m->now.name = m->now.value = NULL;
    m->chunk = NULL;
    m->chunk_len = 0;
    m->line_len = 0;
    m->line_over = m->split_started = m->split_done = 0;
    m->line_off = 0;
    m->at_line_start = 1;
    m->cur_len = 0;
    m->cur_cr = 0;
}

void message_free(policy_session *s)
{
    message_clear(s);
    spool_free(s->msg.spool);
    mime_free(s->msg.mime);
    free(s->msg.content);
    free(s->msg.headers);
    free(s->msg.line);
}

/* ------------------------------------------------------------ the raw header block */

/* one_header - a gathered header ("Name: value", folds kept, line end
 * removed) to name and value, then the header hooks. */
static policy_action one_header(policy_session *s, policy_action (*hooks)(policy_session *s))
{
    struct message *m = &s->msg;
    char *h = m->line;
    size_t len = m->line_len;
    while (len && (h[len - 1] == '\n' || h[len - 1] == '\r'))
        len--;
    h[len] = '\0';
    for (size_t i = 0; i < len; i++) /* NUL bytes would cut the value short */
        if (h[i] == '\0')
            h[i] = ' ';
    const char *name = "", *value = h;
    size_t nl = 0;
    char *colon = memchr(h, ':', len);
    if (colon) { /* a line without a colon is seen named "" */
        *colon = '\0';
        name = h;
        nl = (size_t)(colon - h);
        while (nl && (h[nl - 1] == ' ' || h[nl - 1] == '\t'))
            h[--nl] = '\0';
        value = colon + 1;
        while (*value == ' ' || *value == '\t')
            value++;
    }
    size_t vl = strlen(value);
    uint64_t off = m->line_off;
    m->line_len = 0;
    m->line_over = 0;
    if (message_keep_header(s, name, nl, value, vl, off, (size_t)(m->size - off)) != 0)
        return reply_no_memory(s, STAGE_HEADER);
    return hooks(s);
}

/* gather - more bytes of the header being gathered, up to HEADER_TEXT_MAX
 * (the rest is in the raw message, only not checked). */
static int gather(struct message *m, const char *p, size_t n)
{
    if (m->line_len + n > HEADER_TEXT_MAX) {
        n = HEADER_TEXT_MAX - m->line_len;
        m->line_over = 1;
    }
    if (array_grow(&m->line, &m->line_cap, m->line_len + n + 1, 1, 256) != 0)
        return -1;
    memcpy(m->line + m->line_len, p, n);
    m->line_len += n;
    return 0;
}

policy_action message_split(policy_session *s, const char *p, size_t len, size_t *used,
                            policy_action (*hooks)(policy_session *s))
{
    struct message *m = &s->msg;
    const char *start = p, *end = p + len;
    policy_action a = POLICY_CONTINUE;

    m->split_started = 1;
    while (p < end && !m->split_done) {
        if (m->at_line_start) {
            /* a line that does not start with a blank ends the header before */
            int fold = *p == ' ' || *p == '\t';
            if (!fold && m->line_len && (a = one_header(s, hooks)) != POLICY_CONTINUE)
                break;
            if (!fold)
                m->line_off = m->size;
            m->at_line_start = 0;
            m->cur_len = 0;
            m->cur_cr = 0;
        }
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl + 1 : end;
        size_t seg = (size_t)(e - p), before = m->cur_len + seg - 1; /* bytes before the LF */
        int blank = nl && (before == 0 || (before == 1 && (m->cur_len ? m->cur_cr : *p == '\r')));
        if (message_raw(s, p, seg) != 0)
            break; /* too big or not kept: the caller replies */
        if (blank) { /* "\n" or "\r\n" alone: the body starts after it */
            m->crlf = before ? "\r\n" : "\n";
            m->split_done = m->in_body = 1;
            p = e;
            break;
        }
        if (gather(m, p, seg) != 0) {
            a = reply_no_memory(s, STAGE_HEADER);
            break;
        }
        m->cur_cr = m->cur_len == 0 && seg == 1 && *p == '\r';
        m->cur_len += seg;
        m->at_line_start = nl != NULL;
        p = e;
    }
    *used = (size_t)(p - start);
    return a;
}

policy_action message_split_end(policy_session *s, policy_action (*hooks)(policy_session *s))
{
    struct message *m = &s->msg;
    if (!m->split_started || m->split_done || !m->line_len)
        return POLICY_CONTINUE;
    m->split_done = 1; /* headers without a body: the last one still counts */
    return one_header(s, hooks);
}

/* ------------------------------------------------------------ for layers */

uint64_t message_size(const policy_session *s)
{
    return s->msg.size;
}

long message_read(policy_session *s, uint64_t off, void *buf, size_t len)
{
    if (!s->msg.spool)
        return -1;
    return (long)spool_read(s->msg.spool, off, buf, len);
}

struct spool *message_spool(policy_session *s)
{
    return s->msg.needs & NEED_SPOOL ? s->msg.spool : NULL;
}

size_t message_headers(const policy_session *s, const struct msg_header **list, int *complete)
{
    *list = s->msg.headers;
    if (complete)
        *complete = !s->msg.headers_dropped;
    return s->msg.nheaders;
}

int policy_session_exact_headers(policy_session *s)
{
    if (!s)
        return -1;
    s->exact_headers = 1;
    return 0;
}

unsigned message_mime_flags(const policy_session *s)
{
    return s->msg.mime && (s->msg.needs & NEED_MIME) ? mime_flags(s->msg.mime) : 0;
}

void *message_memo(policy_session *s, const void *key, size_t size, int *created)
{
    *created = 0;
    for (struct memo *m = s->msg.memos; m; m = m->next)
        if (m->key == key)
            return m->data;
    struct memo *m = calloc(1, sizeof(*m) + size);
    if (!m)
        return NULL;
    m->key = key;
    m->next = s->msg.memos;
    s->msg.memos = m;
    *created = 1;
    return m->data;
}

const struct header *session_header(const policy_session *s)
{
    return &s->msg.now;
}

const unsigned char *session_body(const policy_session *s, size_t *len)
{
    *len = s->msg.chunk_len;
    return s->msg.chunk;
}

/* ------------------------------------------------------------ handing the message on */

int policy_session_keep_message(policy_session *s)
{
    if (!s)
        return -1;
    s->keep_message = 1;
    return 0;
}

/* write_all - len bytes to fd. */
static int write_all(int fd, const void *p, size_t len)
{
    const char *c = p;
    while (len) {
        ssize_t w = write(fd, c, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        c += w;
        len -= (size_t)w;
    }
    return 0;
}

/* write_edit - "Name: value" and the message's line end; the folds of the
 * value take the message's line end too. */
static int write_edit(int fd, const policy_edit *ed, const char *crlf)
{
    if (write_all(fd, ed->name, strlen(ed->name)) || write_all(fd, ": ", 2))
        return -1;
    for (const char *v = ed->value; *v;) {
        size_t n = strcspn(v, "\r\n");
        if (write_all(fd, v, n))
            return -1;
        v += n;
        if (!*v)
            break;
        if (*v == '\r' && v[1] == '\n')
            v++;
        v++;
        if (write_all(fd, crlf, strlen(crlf)))
            return -1;
    }
    return write_all(fd, crlf, strlen(crlf));
}

/* copy_range - raw bytes [off, end) of the spool to fd. */
static int copy_range(policy_session *s, int fd, uint64_t off, uint64_t end)
{
    char buf[65536];
    while (off < end) {
        size_t want = end - off < sizeof(buf) ? (size_t)(end - off) : sizeof(buf);
        ssize_t got = spool_read(s->msg.spool, off, buf, want);
        if (got <= 0 || write_all(fd, buf, (size_t)got))
            return -1;
        off += (uint64_t)got;
    }
    return 0;
}

/* edit_target - the kept header an edit (CHANGE or DELETE) names: number
 * index (0: the first) of its name; NULL when the message has none. */
static const struct msg_header *edit_target(const struct message *m, const policy_edit *ed)
{
    unsigned want = ed->index ? ed->index : 1, seen = 0;
    for (size_t k = 0; k < m->nheaders; k++)
        if (str_ieq(m->headers[k].name, ed->name) && ++seen == want)
            return &m->headers[k];
    return NULL;
}

/* A header of the message that an edit replaces or removes. */
struct edit_at {
    const struct msg_header *h;
    const policy_edit *ed; /* the first edit naming it */
};

static int edit_at_cmp(const void *a, const void *b)
{
    const struct edit_at *x = a, *y = b;
    return x->h->raw_off < y->h->raw_off ? -1 : x->h->raw_off > y->h->raw_off;
}

int policy_message_write(policy_session *s, int fd)
{
    struct message *m = s ? &s->msg : NULL;
    if (!m || !(m->needs & NEED_SPOOL) || m->too_big || m->spool_failed || s->state != SS_DONE) {
        errno = EINVAL;
        return -1;
    }
    const policy_edit *ed = s->edits;
    struct edit_at at[POLICY_MAX_EDITS];
    size_t nat = 0;
    /* on top: the inserted headers (the last one inserted first), then the
     * added ones and the changes of headers the message does not have, in
     * order */
    for (size_t i = s->nedits; i-- > 0;)
        if (ed[i].kind == POLICY_EDIT_INSERT_HEADER && write_edit(fd, &ed[i], m->crlf))
            return -1;
    for (size_t i = 0; i < s->nedits && i < POLICY_MAX_EDITS; i++) {
        const struct msg_header *h = NULL;
        if (ed[i].kind == POLICY_EDIT_CHANGE_HEADER || ed[i].kind == POLICY_EDIT_DELETE_HEADER)
            h = edit_target(m, &ed[i]);
        if (h) {
            size_t k = 0;
            while (k < nat && at[k].h != h)
                k++;
            if (k == nat) /* two edits of one header: the first decides */
                at[nat++] = (struct edit_at){h, &ed[i]};
        } else if (ed[i].kind == POLICY_EDIT_ADD_HEADER || ed[i].kind == POLICY_EDIT_CHANGE_HEADER) {
            if (write_edit(fd, &ed[i], m->crlf))
                return -1;
        }
    }
    /* the message, with the edited headers replaced or left out */
    qsort(at, nat, sizeof(*at), edit_at_cmp);
    uint64_t pos = 0;
    for (size_t k = 0; k < nat; k++) {
        if (copy_range(s, fd, pos, at[k].h->raw_off))
            return -1;
        if (at[k].ed->kind == POLICY_EDIT_CHANGE_HEADER && write_edit(fd, at[k].ed, m->crlf))
            return -1;
        pos = at[k].h->raw_off + at[k].h->raw_len;
    }
    return copy_range(s, fd, pos, m->size);
}
