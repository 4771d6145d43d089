/*
 * partscan.c - scan a message part by part: the MIME parser's decoded
 * bodies are gathered per leaf part (bounded: a part over max_part is
 * TOO_BIG) and each is handed to libclamav from memory at its part_end.
 */
#include <stdlib.h>
#include <string.h>

#include "mime.h"
#include "partscan.h"

#define OPEN_MAX 8 /* leaf parts open at once: a text part and the uuencoded files inside */

struct pbuf {
    unsigned index;
    unsigned char *buf;
    size_t len, cap;
    int over;
};

struct partscan {
    struct mime_parser *m;
    struct pbuf open[OPEN_MAX];
    unsigned nopen;
    size_t max;
    const struct clamav_engine *e;
    unsigned opts;
    unsigned parts;
    struct virus_result *r;
};

/* top - the gathering buffer of part p, or NULL. */
static struct pbuf *top(struct partscan *ps, const struct mime_part *p)
{
    for (unsigned i = ps->nopen; i-- > 0;)
        if (ps->open[i].index == p->index)
            return &ps->open[i];
    return NULL;
}

/* on_begin - a new leaf part: start gathering its body. */
static void on_begin(void *ctx, const struct mime_part *p)
{
    struct partscan *ps = ctx;
    if (p->kind != MIME_LEAF)
        return;
    if (ps->nopen == OPEN_MAX) {
        virus_set(ps->r, VIRUS_ERROR, "parts nested too deep");
        return;
    }
    struct pbuf *b = &ps->open[ps->nopen++];
    b->index = p->index;
    b->len = 0;
    b->over = 0;
}

/* on_body - decoded bytes of a leaf part, gathered up to max. */
static void on_body(void *ctx, const struct mime_part *p, const unsigned char *data, size_t len)
{
    struct partscan *ps = ctx;
    struct pbuf *b = top(ps, p);
    if (!b || b->over)
        return;
    if (b->len + len > ps->max) {
        b->over = 1;
        return;
    }
    if (b->len + len > b->cap) {
        size_t nc = b->cap ? b->cap : 65536;
        while (nc < b->len + len)
            nc *= 2;
        unsigned char *nb = realloc(b->buf, nc);
        if (!nb) {
            b->over = 1;
            return;
        }
        b->buf = nb;
        b->cap = nc;
    }
    memcpy(b->buf + b->len, data, len);
    b->len += len;
}

/* on_end - a leaf part is complete: scan it, unless something was found. */
static void on_end(void *ctx, const struct mime_part *p)
{
    struct partscan *ps = ctx;
    struct pbuf *b = top(ps, p);
    if (!b)
        return;
    if (ps->r->status == VIRUS_CLEAN) {
        if (b->over) {
            virus_set(ps->r, VIRUS_TOO_BIG, "a part over the part size limit");
        } else if (b->len > 0) {
            clamav_scan_mem(ps->e, ps->opts & ~(unsigned)CLAMAV_MAIL, b->buf, b->len, ps->r);
            ps->parts++;
        }
    }
    ps->nopen = (unsigned)(b - ps->open); /* closes it and anything left open inside */
}

struct partscan *partscan_new(size_t max_part)
{
    struct partscan *ps = calloc(1, sizeof(*ps));
    if (!ps)
        return NULL;
    struct mime_handler h = {.want = MIME_WANT_BODY,
                             .ctx = ps,
                             .part_begin = on_begin,
                             .body = on_body,
                             .part_end = on_end};
    ps->m = mime_new(&h, NULL);
    ps->max = max_part;
    if (!ps->m) {
        free(ps);
        return NULL;
    }
    return ps;
}

void partscan_free(struct partscan *ps)
{
    if (!ps)
        return;
    mime_free(ps->m);
    for (unsigned i = 0; i < OPEN_MAX; i++)
        free(ps->open[i].buf);
    free(ps);
}

unsigned partscan_run(struct partscan *ps, const struct clamav_engine *e, unsigned opts,
                      const void *msg, size_t len, struct virus_result *r)
{
    mime_reset(ps->m);
    ps->e = e;
    ps->opts = opts;
    ps->parts = 0;
    ps->nopen = 0;
    ps->r = r;
    virus_set(r, VIRUS_CLEAN, NULL);
    mime_feed(ps->m, msg, len);
    mime_finish(ps->m);
    return ps->parts;
}
