/*
 * fuzz_mime.c - libFuzzer harness for the streaming MIME parser.  The first
 * byte picks the events wanted and small limits (so that depth, part,
 * header and boundary limits are reached); the rest is the message.  It is
 * parsed three times - fed whole, byte by byte and in pseudo-random pieces
 * - and the three event streams must be identical.  Every event is checked:
 * parts begin and end once, in nesting order; header, body and text pieces
 * are bounded; names are short, valid, log-safe UTF-8; text is valid UTF-8;
 * offsets lie inside the message; decoded_len is the sum of body pieces;
 * the body of a leaf without transfer encoding is exactly the raw bytes
 * between its body offsets.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mime.h"
#include "mimetext.h"

#define MAXP 4096

struct check {
    uint64_t hash;      /* of the whole event stream */
    const uint8_t *msg; /* the message */
    size_t size;
    size_t header_max;
    unsigned parts_max, depth_max;
    unsigned char state[MAXP]; /* 0 unseen, 1 headers, 2 begun, 3 ended */
    uint64_t sum[MAXP];        /* body bytes per part */
    uint64_t bodyhash[MAXP];   /* and their hash */
    unsigned open[MAXP];       /* stack of begun parts */
    unsigned nopen;
    unsigned want;
};

static void mix(struct check *c, const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++) {
        c->hash ^= s[i];
        c->hash *= 1099511628211ULL;
    }
}

static void mix_u(struct check *c, uint64_t v)
{
    mix(c, &v, sizeof(v));
}

/* mix_part - the facts of a part into the event hash. */
static void mix_part(struct check *c, const struct mime_part *p)
{
    const char *strs[] = {p->type,        p->subtype,  p->charset,
                          p->disposition, p->filename, p->encoding};
    uint64_t nums[] = {p->index,
                       p->depth,
                       (uint64_t)(int64_t)p->parent,
                       p->kind,
                       p->origin,
                       (uint64_t)p->type_given,
                       p->cte,
                       (uint64_t)p->raw_offsets,
                       p->header_off,
                       p->body_off,
                       (uint64_t)p->decoded};
    for (size_t i = 0; i < sizeof(strs) / sizeof(*strs); i++)
        mix(c, strs[i], strlen(strs[i]) + 1);
    for (size_t i = 0; i < sizeof(nums) / sizeof(*nums); i++)
        mix_u(c, nums[i]);
}

/* str_ok - a NUL inside the array, and for names: log-safe UTF-8. */
static void str_ok(const char *s, size_t size, int name)
{
    size_t n = strnlen(s, size);
    if (n >= size)
        abort();
    if (!name)
        return;
    if (!mtext_utf8_valid((const unsigned char *)s, n))
        abort();
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            abort();
    if (n && (s[0] == ' ' || s[n - 1] == ' '))
        abort();
}

static void part_ok(struct check *c, const struct mime_part *p)
{
    if (p->index >= c->parts_max || p->index >= MAXP)
        abort();
    if (p->depth > c->depth_max + 1)
        abort();
    if ((p->depth == 0) != (p->parent < 0) || (p->up == NULL) != (p->parent < 0))
        abort();
    if (p->up && (int)p->up->index != p->parent)
        abort();
    str_ok(p->type, sizeof(p->type), 0);
    str_ok(p->subtype, sizeof(p->subtype), 0);
    str_ok(p->charset, sizeof(p->charset), 0);
    str_ok(p->disposition, sizeof(p->disposition), 0);
    str_ok(p->encoding, sizeof(p->encoding), 0);
    str_ok(p->filename, sizeof(p->filename), 1);
    for (const char *t = p->type; *t; t++)
        if (*t >= 'A' && *t <= 'Z')
            abort();
    if (!p->type[0] || !p->subtype[0])
        abort();
}

static void on_header(void *ctx, const struct mime_part *p, const struct mime_header *h)
{
    struct check *c = ctx;
    part_ok(c, p);
    if (c->state[p->index] > 1)
        abort(); /* headers come before part_begin */
    c->state[p->index] = 1;
    if (!h->name_len || h->raw_len > c->header_max || h->value_len > h->raw_len)
        abort();
    if (h->name < h->raw || h->name + h->name_len > h->raw + h->raw_len)
        abort();
    if (p->raw_offsets && h->offset + h->raw_len > c->size)
        abort();
    mix(c, "H", 1);
    mix_u(c, p->index);
    mix(c, h->raw, h->raw_len);
    mix(c, h->value, h->value_len);
}

static void on_begin(void *ctx, const struct mime_part *p)
{
    struct check *c = ctx;
    part_ok(c, p);
    if (c->state[p->index] > 1)
        abort();
    c->state[p->index] = 2;
    if (c->nopen && c->open[c->nopen - 1] != (unsigned)p->parent)
        abort(); /* a part begins inside the innermost open part */
    if (!c->nopen && p->parent != -1)
        abort();
    c->open[c->nopen++] = p->index;
    if (p->header_off > p->body_off || (p->raw_offsets && p->body_off > c->size))
        abort();
    mix(c, "B", 1);
    mix_part(c, p);
}

static void on_body(void *ctx, const struct mime_part *p, const unsigned char *d, size_t n)
{
    struct check *c = ctx;
    if (p->index >= MAXP || c->state[p->index] != 2 || !n || n > 8192)
        abort();
    c->sum[p->index] += n;
    for (size_t i = 0; i < n; i++)
        c->bodyhash[p->index] = (c->bodyhash[p->index] ^ d[i]) * 1099511628211ULL;
    mix(c, "D", 1);
    mix_u(c, p->index);
    mix(c, d, n);
}

static void on_text(void *ctx, const struct mime_part *p, const char *s, size_t n)
{
    struct check *c = ctx;
    if (p->index >= MAXP || c->state[p->index] != 2 || !n || n > MTEXT_OUT_MAX)
        abort();
    if (!mtext_utf8_valid((const unsigned char *)s, n))
        abort();
    if (strcmp(p->type, "text") != 0)
        abort();
    mix(c, "T", 1);
    mix_u(c, p->index);
    mix(c, s, n);
}

static void on_end(void *ctx, const struct mime_part *p)
{
    struct check *c = ctx;
    part_ok(c, p);
    if (c->state[p->index] != 2)
        abort();
    c->state[p->index] = 3;
    if (!c->nopen || c->open[c->nopen - 1] != p->index)
        abort(); /* parts end innermost first */
    c->nopen--;
    if (p->body_off > p->body_end || (p->raw_offsets && p->body_end > c->size))
        abort();
    if ((c->want & MIME_WANT_BODY) && p->decoded && p->decoded_len != c->sum[p->index])
        abort();
    if (!p->decoded && p->decoded_len)
        abort();
    if ((c->want & MIME_WANT_BODY) && p->decoded && p->raw_offsets && p->kind == MIME_LEAF &&
        p->cte == MIME_CTE_NONE && p->origin == MIME_ORIGIN_HEADERS) {
        /* nothing to decode: the body is the raw bytes between the offsets */
        uint64_t h = 0;
        for (uint64_t i = p->body_off; i < p->body_end; i++)
            h = (h ^ c->msg[i]) * 1099511628211ULL;
        if (p->body_end - p->body_off != c->sum[p->index] || h != c->bodyhash[p->index])
            abort();
    }
    mix(c, "E", 1);
    mix_part(c, p);
    mix_u(c, p->body_end);
    mix_u(c, p->decoded_len);
    mix_u(c, p->flags);
}

/* run - one parse; pieces: 0 whole, 1 byte by byte, 2 pseudo-random. */
static uint64_t run(const uint8_t *msg, size_t size, unsigned want, const struct mime_limits *lim,
                    int pieces, unsigned *flags)
{
    static struct check c;
    memset(&c, 0, sizeof(c));
    c.hash = 1469598103934665603ULL;
    c.msg = msg;
    c.size = size;
    c.want = want;
    c.header_max = lim->header;
    c.parts_max = lim->parts;
    c.depth_max = lim->depth;
    struct mime_handler h = {want, &c, on_header, on_begin, on_body, on_text, on_end};
    struct mime_parser *m = mime_new(&h, lim);
    if (!m)
        abort();
    uint32_t seed = (uint32_t)size * 2654435761u;
    for (size_t o = 0; o < size;) {
        size_t k = size - o;
        if (pieces == 1)
            k = 1;
        else if (pieces == 2) {
            seed = seed * 1103515245u + 12345u;
            k = 1 + (seed >> 16) % 300;
        }
        if (k > size - o)
            k = size - o;
        if (mime_feed(m, msg + o, k) != 0)
            abort();
        o += k;
    }
    *flags = mime_finish(m);
    if (c.nopen != 0 || mime_parts(m) > lim->parts)
        abort();
    for (unsigned i = 0; i < mime_parts(m) && i < MAXP; i++)
        if (c.state[i] != 3)
            abort();         /* every part reported ended */
    mime_feed(m, msg, size); /* ignored after the end */
    mime_free(m);
    mix_u(&c, *flags);
    return c.hash;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned o = data[0];
    unsigned want = o & 7;
    struct mime_limits lim = {
        .depth = (o & 8) ? 3 : 32,
        .parts = (o & 16) ? 6 : 1000,
        .header = (o & 32) ? 1024 : 64 * 1024,
        .boundary = (o & 64) ? 12 : 256,
    };
    unsigned f1, f2, f3;
    uint64_t h1 = run(data + 1, size - 1, want, &lim, 0, &f1);
    uint64_t h2 = run(data + 1, size - 1, want, &lim, 1, &f2);
    uint64_t h3 = run(data + 1, size - 1, want, &lim, 2, &f3);
    if (h1 != h2 || h1 != h3 || f1 != f2 || f1 != f3)
        abort(); /* the events depend on how the message was cut */
    /* the header helpers on the same bytes */
    char out[300];
    unsigned wf = 0;
    size_t n = mime_decode_words((const char *)data + 1, size - 1, out, sizeof(out), &wf);
    if (n >= sizeof(out) || strlen(out) != n || !mtext_utf8_valid((unsigned char *)out, n))
        abort();
    return 0;
}
