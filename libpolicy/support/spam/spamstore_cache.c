/*
 * spamstore_cache.c - a cache in front of another spam store, for work on
 * many messages in one process (policyctl train and classify): each cell
 * is read from the store once, trainings add to the cached cells and are
 * kept as deltas, written back together by spamstore_cache_flush() (and
 * whenever the cache fills).  A filter that trains on error reads
 * everything it writes: it sees its own trainings at once, exactly as
 * with the store itself; other processes see them at the flush, and this
 * process does not see theirs for cells it has read already.  Adds commute,
 * so no update of anyone is lost.  Bounded: past max_cells the cache is
 * flushed and emptied.
 */
#include <stdlib.h>
#include <string.h>

#include "spamstore.h"

#define DEFAULT_CELLS (2u << 20)
#define CACHE_FLUSH_KEYS 1024u /* cells written back in one call */

/* An entry; its key is in a parallel array (probes read keys only). */
struct centry {
    int known, dirty;
    struct spamstore_cell val;   /* the cell as this process knows it (known) */
    struct spamstore_cell delta; /* added here, not yet in the store */
};

struct crec {
    uint64_t id;
    unsigned char *data; /* NULL: deleted here, to be deleted in the store */
    size_t len;
};

struct spamstore_cache {
    const struct spamstore_ops *ops;
    void *base;
    uint64_t *tkey; /* ~0: an empty slot (keys are hashes; the totals key is 0) */
    struct centry *t;
    size_t cap, used, max;
    /* records written here, not yet in the store */
    struct crec *recs;
    size_t nrecs, reccap;
    /* scratch for the batches sent to the store */
    uint64_t *keys;
    struct spamstore_cell *cells;
    size_t *slot;
    size_t scap;
};

static size_t mix(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    return (size_t)k;
}

#define EMPTY (~0ULL)

/* find - the slot of key, or the empty slot where it would go. */
static size_t find(const struct spamstore_cache *c, uint64_t key)
{
    size_t i = mix(key) & (c->cap - 1);
    while (c->tkey[i] != EMPTY && c->tkey[i] != key)
        i = (i + 1) & (c->cap - 1);
    return i;
}

/* slot - the entry of key, made (unknown, clean) when there is none. */
static struct centry *slot(struct spamstore_cache *c, uint64_t key)
{
    size_t i = find(c, key);
    if (c->tkey[i] == EMPTY) {
        c->tkey[i] = key;
        c->t[i] = (struct centry){0};
        c->used++;
    }
    return &c->t[i];
}

/* prefetch - the home slots of a batch's keys, ahead of the probes. */
static void prefetch(const struct spamstore_cache *c, const uint64_t *keys, size_t n)
{
    for (size_t i = 0; i < n; i++)
        __builtin_prefetch(&c->tkey[mix(keys[i]) & (c->cap - 1)]);
}

static int scratch(struct spamstore_cache *c, size_t n)
{
    if (n <= c->scap)
        return 0;
    size_t cap = c->scap ? c->scap : 1024;
    while (cap < n)
        cap *= 2;
    uint64_t *k = realloc(c->keys, cap * sizeof(*k));
    if (k)
        c->keys = k;
    struct spamstore_cell *v = realloc(c->cells, cap * sizeof(*v));
    if (v)
        c->cells = v;
    size_t *s = realloc(c->slot, cap * sizeof(*s));
    if (s)
        c->slot = s;
    if (!k || !v || !s)
        return -1;
    c->scap = cap;
    return 0;
}

/* grow - twice the slots, entries moved. */
static int grow(struct spamstore_cache *c)
{
    size_t cap = c->cap ? c->cap * 2 : 4096, ocap = c->cap;
    struct centry *old = c->t, *t = malloc(cap * sizeof(*t));
    uint64_t *okey = c->tkey, *tkey = malloc(cap * sizeof(*tkey));
    if (!t || !tkey) {
        free(t);
        free(tkey);
        return -1;
    }
    memset(tkey, 0xff, cap * sizeof(*tkey));
    c->t = t;
    c->tkey = tkey;
    c->cap = cap;
    for (size_t i = 0; i < ocap; i++)
        if (okey[i] != EMPTY) {
            size_t j = find(c, okey[i]);
            c->tkey[j] = okey[i];
            c->t[j] = old[i];
        }
    free(old);
    free(okey);
    return 0;
}

/* flush_cells - every delta to the store, CACHE_FLUSH_KEYS at a time: a
 * remote store's timeout is per batch, and a write back of a whole
 * training run must not need a longer one. */
static int flush_cells(struct spamstore_cache *c)
{
    size_t n = 0;
    for (size_t i = 0; i < c->cap; i++)
        n += c->tkey[i] != EMPTY && c->t[i].dirty;
    if (!n)
        return SPAMSTORE_OK;
    if (scratch(c, n) < 0)
        return SPAMSTORE_ERROR;
    n = 0;
    for (size_t i = 0; i < c->cap; i++)
        if (c->tkey[i] != EMPTY && c->t[i].dirty) {
            c->keys[n] = c->tkey[i];
            c->cells[n] = c->t[i].delta;
            c->slot[n++] = i;
        }
    for (size_t start = 0; start < n; start += CACHE_FLUSH_KEYS) {
        size_t m = n - start < CACHE_FLUSH_KEYS ? n - start : CACHE_FLUSH_KEYS;
        if (c->ops->add(c->base, c->keys + start, c->cells + start, m) != SPAMSTORE_OK)
            return SPAMSTORE_ERROR; /* the rest kept: a later flush tries again */
        for (size_t k = start; k < start + m; k++) {
            struct centry *e = &c->t[c->slot[k]];
            e->dirty = 0;
            e->delta = (struct spamstore_cell){0, 0};
        }
    }
    return SPAMSTORE_OK;
}

/* flush_records - after the cells: a record in the store must never name
 * deltas the store does not have yet (another process could take them
 * back). */
static int flush_records(struct spamstore_cache *c)
{
    size_t k = 0;
    int rc = SPAMSTORE_OK;
    for (size_t i = 0; i < c->nrecs; i++) {
        struct crec *r = &c->recs[i];
        if (rc == SPAMSTORE_OK && (r->data ? c->ops->rec_put(c->base, r->id, r->data, r->len)
                                           : c->ops->rec_del(c->base, r->id)) == SPAMSTORE_ERROR)
            rc = SPAMSTORE_ERROR;
        if (rc == SPAMSTORE_OK)
            free(r->data);
        else
            c->recs[k++] = *r; /* kept for a later flush */
    }
    c->nrecs = k;
    return rc;
}

int spamstore_cache_flush(struct spamstore_cache *c)
{
    if (flush_cells(c) != SPAMSTORE_OK)
        return SPAMSTORE_ERROR;
    return flush_records(c);
}

/* make_room - before adding n entries: flush and forget everything when
 * the cache would pass its bound. */
static int make_room(struct spamstore_cache *c, size_t n)
{
    if (c->used + n > c->max) {
        if (spamstore_cache_flush(c) != SPAMSTORE_OK)
            return -1;
        memset(c->tkey, 0xff, c->cap * sizeof(*c->tkey));
        c->used = 0;
    }
    while ((c->used + n) * 10 > c->cap * 7)
        if (grow(c) < 0)
            return -1;
    return 0;
}

static int c_get(void *ctx, const uint64_t *keys, size_t n, struct spamstore_cell *out)
{
    struct spamstore_cache *c = ctx;
    size_t miss = 0;
    if (make_room(c, n) < 0 || scratch(c, n) < 0)
        return SPAMSTORE_ERROR;
    prefetch(c, keys, n);
    for (size_t i = 0; i < n; i++) {
        struct centry *e = slot(c, keys[i]);
        if (e->known) {
            out[i] = e->val;
            continue;
        }
        c->keys[miss] = keys[i];
        c->slot[miss++] = i;
    }
    if (!miss)
        return SPAMSTORE_OK;
    if (c->ops->get(c->base, c->keys, miss, c->cells) != SPAMSTORE_OK)
        return SPAMSTORE_ERROR;
    for (size_t k = 0; k < miss; k++) {
        struct centry *e = &c->t[find(c, c->keys[k])];
        /* what the store has, plus what was added here before it was read */
        e->val.a = c->cells[k].a + e->delta.a;
        e->val.b = c->cells[k].b + e->delta.b;
        e->known = 1;
        out[c->slot[k]] = e->val;
    }
    return SPAMSTORE_OK;
}

static int c_add(void *ctx, const uint64_t *keys, const struct spamstore_cell *d, size_t n)
{
    struct spamstore_cache *c = ctx;
    if (make_room(c, n) < 0)
        return SPAMSTORE_ERROR;
    prefetch(c, keys, n);
    for (size_t i = 0; i < n; i++) {
        struct centry *e = slot(c, keys[i]);
        e->delta.a += d[i].a;
        e->delta.b += d[i].b;
        if (e->known) {
            e->val.a += d[i].a;
            e->val.b += d[i].b;
        }
        e->dirty = 1;
    }
    return SPAMSTORE_OK;
}

static struct crec *rec_find(struct spamstore_cache *c, uint64_t id)
{
    for (size_t i = c->nrecs; i > 0; i--)
        if (c->recs[i - 1].id == id)
            return &c->recs[i - 1];
    return NULL;
}

static int c_rec_put(void *ctx, uint64_t id, const void *data, size_t len)
{
    struct spamstore_cache *c = ctx;
    unsigned char *copy = malloc(len ? len : 1);
    if (!copy)
        return SPAMSTORE_ERROR;
    memcpy(copy, data, len);
    struct crec *r = rec_find(c, id);
    if (r) {
        free(r->data);
        r->data = copy;
        r->len = len;
        return SPAMSTORE_OK;
    }
    if (c->nrecs == c->reccap) {
        size_t cap = c->reccap ? c->reccap * 2 : 64;
        struct crec *nr = realloc(c->recs, cap * sizeof(*nr));
        if (!nr) {
            free(copy);
            return SPAMSTORE_ERROR;
        }
        c->recs = nr;
        c->reccap = cap;
    }
    c->recs[c->nrecs++] = (struct crec){id, copy, len};
    if (c->nrecs >= 4096) /* records are big: a few MB at most */
        return spamstore_cache_flush(c);
    return SPAMSTORE_OK;
}

static int c_rec_get(void *ctx, uint64_t id, void *buf, size_t max, size_t *len)
{
    struct spamstore_cache *c = ctx;
    struct crec *r = rec_find(c, id);
    if (!r)
        return c->ops->rec_get(c->base, id, buf, max, len);
    if (!r->data)
        return SPAMSTORE_NOTFOUND;
    if (r->len > max)
        return SPAMSTORE_ERROR;
    memcpy(buf, r->data, r->len);
    *len = r->len;
    return SPAMSTORE_OK;
}

/* c_rec_del - deleted here at once, in the store at the flush (with the
 * cells that take the training back). */
static int c_rec_del(void *ctx, uint64_t id)
{
    struct spamstore_cache *c = ctx;
    struct crec *r = rec_find(c, id);
    if (r && !r->data)
        return SPAMSTORE_NOTFOUND;
    if (!r) {
        if (c->nrecs == c->reccap) {
            size_t cap = c->reccap ? c->reccap * 2 : 64;
            struct crec *nr = realloc(c->recs, cap * sizeof(*nr));
            if (!nr)
                return SPAMSTORE_ERROR;
            c->recs = nr;
            c->reccap = cap;
        }
        r = &c->recs[c->nrecs++];
        r->id = id;
        r->data = NULL;
    }
    free(r->data);
    r->data = NULL;
    r->len = 0;
    return SPAMSTORE_OK;
}

static const struct spamstore_ops cache_ops = {c_get, c_add, c_rec_put, c_rec_get, c_rec_del};

const struct spamstore_ops *spamstore_cache_ops(void)
{
    return &cache_ops;
}

struct spamstore_cache *spamstore_cache_new(const struct spamstore_ops *ops, void *base,
                                            size_t max_cells)
{
    struct spamstore_cache *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->ops = ops;
    c->base = base;
    c->max = max_cells ? max_cells : DEFAULT_CELLS;
    if (grow(c) < 0) {
        free(c);
        return NULL;
    }
    return c;
}

void spamstore_cache_free(struct spamstore_cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nrecs; i++)
        free(c->recs[i].data);
    free(c->recs);
    free(c->t);
    free(c->tkey);
    free(c->keys);
    free(c->cells);
    free(c->slot);
    free(c);
}

size_t spamstore_cache_pending(const struct spamstore_cache *c)
{
    size_t n = 0;
    for (size_t i = 0; i < c->cap; i++)
        n += c->tkey[i] != EMPTY && c->t[i].dirty;
    return n + c->nrecs;
}
