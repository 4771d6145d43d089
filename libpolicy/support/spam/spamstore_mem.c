/*
 * spamstore_mem.c - the spam filter's store in process memory: counters in
 * an open-addressing table that grows at 60% load, training records in a
 * ring that forgets the oldest beyond a count or byte limit.  For tests,
 * the evaluation harness and single-process use; one thread at a time.
 *
 * Most features a message brings are unknown (new word pairs), so a
 * lookup that fails must be cheap: the keys have an array of their own,
 * eight to a cache line, probed linearly; the cells are read only on a
 * hit.  A batch prefetches the keys' home slots ahead of the probes, and
 * the arrays ask for huge pages: random probes over tens of megabytes
 * otherwise miss the TLB as well as the caches.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "spamstore.h"

struct mem_rec {
    uint64_t id;
    unsigned char *data; /* NULL: the slot is free (deleted or never used) */
    size_t len;
};

struct spamstore_mem {
    uint64_t *tkey;               /* 0: empty */
    struct spamstore_cell *tcell; /* parallel to tkey */
    size_t cap, used, nonzero;
    struct spamstore_cell totals; /* key 0 */
    uint64_t mask;                /* measurement: bits kept of each key */
    /* records: a ring of max slots, oldest at head; idx maps id -> slot+1 */
    struct mem_rec *ring;
    size_t rmax, rhead, rcount, rbytes, rbytes_max;
    uint32_t *idx;
    uint64_t *idx_key;
    size_t icap;
};

/* mix - spread a key over the table (keys are hashes already, but a
 * masked key is not). */
static size_t mix(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    return (size_t)k;
}

/* key_of - the key as stored: masked for measurements, never 0. */
static uint64_t key_of(const struct spamstore_mem *s, uint64_t k)
{
    k &= s->mask;
    return k ? k : 1;
}

#define LOAD_OK(used, cap) ((used)*10 <= (cap)*6)

/* big_alloc - zeroed memory for a table array, in huge pages where the
 * system gives them; NULL when out of memory.  Free with big_free. */
static void *big_alloc(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
#ifdef MADV_HUGEPAGE
    if (bytes >= ((size_t)2 << 20))
        madvise(p, bytes, MADV_HUGEPAGE);
#endif
    return p;
}

static void big_free(void *p, size_t bytes)
{
    if (p)
        munmap(p, bytes);
}

static int tab_grow(struct spamstore_mem *s)
{
    size_t ncap = s->cap ? s->cap * 2 : 1024;
    uint64_t *nk = big_alloc(ncap * sizeof(*nk));
    struct spamstore_cell *nc = big_alloc(ncap * sizeof(*nc));
    if (!nk || !nc) {
        big_free(nk, ncap * sizeof(*nk));
        big_free(nc, ncap * sizeof(*nc));
        return -1;
    }
    for (size_t i = 0; i < s->cap; i++) {
        if (!s->tkey[i])
            continue;
        size_t j = mix(s->tkey[i]) & (ncap - 1);
        while (nk[j])
            j = (j + 1) & (ncap - 1);
        nk[j] = s->tkey[i];
        nc[j] = s->tcell[i];
    }
    big_free(s->tkey, s->cap * sizeof(*s->tkey));
    big_free(s->tcell, s->cap * sizeof(*s->tcell));
    s->tkey = nk;
    s->tcell = nc;
    s->cap = ncap;
    return 0;
}

/* tab_find - the cell of key, or NULL (create: a new zero cell; the
 * caller made room). */
static struct spamstore_cell *tab_find(struct spamstore_mem *s, uint64_t key, int create)
{
    size_t j = mix(key) & (s->cap - 1);
    while (s->tkey[j]) {
        if (s->tkey[j] == key)
            return &s->tcell[j];
        j = (j + 1) & (s->cap - 1);
    }
    if (!create)
        return NULL;
    s->tkey[j] = key;
    s->tcell[j] = (struct spamstore_cell){0, 0};
    s->used++;
    return &s->tcell[j];
}

/* prefetch - ask for the home slots of a batch of keys ahead of use: the
 * table is far larger than the caches, and a batch lets the misses overlap. */
static void prefetch(const struct spamstore_mem *s, const uint64_t *keys, size_t n)
{
#if defined(__GNUC__)
    for (size_t i = 0; i < n; i++)
        __builtin_prefetch(&s->tkey[mix(key_of(s, keys[i])) & (s->cap - 1)]);
#else
    (void)s, (void)keys, (void)n;
#endif
}

#define BATCH 16

static int mem_get(void *ctx, const uint64_t *keys, size_t n, struct spamstore_cell *out)
{
    struct spamstore_mem *s = ctx;
    prefetch(s, keys, n < BATCH ? n : BATCH);
    for (size_t i = 0; i < n; i++) {
        if (i % BATCH == 0 && i + BATCH < n)
            prefetch(s, keys + i + BATCH, n - i - BATCH < BATCH ? n - i - BATCH : BATCH);
        if (keys[i] == 0) {
            out[i] = s->totals;
            continue;
        }
        struct spamstore_cell *e = tab_find(s, key_of(s, keys[i]), 0);
        out[i] = e ? *e : (struct spamstore_cell){0, 0};
    }
    return SPAMSTORE_OK;
}

static int mem_add(void *ctx, const uint64_t *keys, const struct spamstore_cell *d, size_t n)
{
    struct spamstore_mem *s = ctx;
    while (!LOAD_OK(s->used + n, s->cap)) /* room first: the prefetches stay valid */
        if (tab_grow(s) < 0)
            return SPAMSTORE_ERROR;
    prefetch(s, keys, n < BATCH ? n : BATCH);
    for (size_t i = 0; i < n; i++) {
        if (i % BATCH == 0 && i + BATCH < n)
            prefetch(s, keys + i + BATCH, n - i - BATCH < BATCH ? n - i - BATCH : BATCH);
        struct spamstore_cell *c;
        if (keys[i] == 0) {
            c = &s->totals;
        } else {
            if (!d[i].a && !d[i].b)
                continue;
            c = tab_find(s, key_of(s, keys[i]), 1);
            int was = c->a || c->b;
            c->a += d[i].a;
            c->b += d[i].b;
            s->nonzero += (size_t)((c->a || c->b) - was);
            continue;
        }
        c->a += d[i].a;
        c->b += d[i].b;
    }
    return SPAMSTORE_OK;
}

/* ---- records ---- */

/* idx_slot - where id sits in the index, or the empty slot it would take. */
static size_t idx_slot(const struct spamstore_mem *s, uint64_t id)
{
    size_t j = mix(id) & (s->icap - 1);
    while (s->idx[j] && s->idx_key[j] != id)
        j = (j + 1) & (s->icap - 1);
    return j;
}

/* idx_remove - delete slot j by shifting back the entries after it
 * (linear probing without tombstones). */
static void idx_remove(struct spamstore_mem *s, size_t j)
{
    size_t i = j;
    s->idx[j] = 0;
    for (;;) {
        i = (i + 1) & (s->icap - 1);
        if (!s->idx[i])
            return;
        size_t home = mix(s->idx_key[i]) & (s->icap - 1);
        /* the entry at i may move to j if j lies cyclically in [home, i) */
        if ((i > j && (home <= j || home > i)) || (i < j && home <= j && home > i)) {
            s->idx[j] = s->idx[i];
            s->idx_key[j] = s->idx_key[i];
            s->idx[i] = 0;
            j = i;
        }
    }
}

/* rec_drop - free ring slot r and its index entry. */
static void rec_drop(struct spamstore_mem *s, size_t r)
{
    struct mem_rec *e = &s->ring[r];
    if (!e->data)
        return;
    size_t j = idx_slot(s, e->id);
    if (s->idx[j])
        idx_remove(s, j);
    s->rbytes -= e->len;
    free(e->data);
    e->data = NULL;
}

/* rec_pop - forget the oldest slot of the ring (used or freed). */
static void rec_pop(struct spamstore_mem *s)
{
    rec_drop(s, s->rhead);
    s->rhead = (s->rhead + 1) % s->rmax;
    s->rcount--;
}

static int mem_rec_del(void *ctx, uint64_t id)
{
    struct spamstore_mem *s = ctx;
    size_t j = idx_slot(s, id);
    if (!s->idx[j])
        return SPAMSTORE_NOTFOUND;
    rec_drop(s, s->idx[j] - 1);
    return SPAMSTORE_OK;
}

static int mem_rec_put(void *ctx, uint64_t id, const void *data, size_t len)
{
    struct spamstore_mem *s = ctx;
    if (len > s->rbytes_max)
        return SPAMSTORE_ERROR;
    mem_rec_del(s, id);
    unsigned char *copy = malloc(len ? len : 1);
    if (!copy)
        return SPAMSTORE_ERROR;
    memcpy(copy, data, len);
    while (s->rcount && (s->rcount == s->rmax || s->rbytes + len > s->rbytes_max))
        rec_pop(s);
    size_t r = (s->rhead + s->rcount) % s->rmax;
    s->ring[r] = (struct mem_rec){id, copy, len};
    s->rcount++;
    s->rbytes += len;
    size_t j = idx_slot(s, id);
    s->idx[j] = (uint32_t)(r + 1);
    s->idx_key[j] = id;
    return SPAMSTORE_OK;
}

static int mem_rec_get(void *ctx, uint64_t id, void *buf, size_t max, size_t *len)
{
    struct spamstore_mem *s = ctx;
    size_t j = idx_slot(s, id);
    if (!s->idx[j])
        return SPAMSTORE_NOTFOUND;
    const struct mem_rec *e = &s->ring[s->idx[j] - 1];
    if (e->len > max)
        return SPAMSTORE_ERROR;
    memcpy(buf, e->data, e->len);
    *len = e->len;
    return SPAMSTORE_OK;
}

static const struct spamstore_ops mem_ops = {
    .get = mem_get,
    .add = mem_add,
    .rec_put = mem_rec_put,
    .rec_get = mem_rec_get,
    .rec_del = mem_rec_del,
};

const struct spamstore_ops *spamstore_mem_ops(void)
{
    return &mem_ops;
}

struct spamstore_mem *spamstore_mem_new(size_t max_records, size_t rec_bytes)
{
    struct spamstore_mem *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->mask = ~0ULL;
    s->rmax = max_records ? max_records : 10000;
    if (s->rmax > (1u << 30))
        s->rmax = 1u << 30;
    s->rbytes_max = rec_bytes ? rec_bytes : (size_t)64 << 20;
    for (s->icap = 16; s->icap < s->rmax * 2; s->icap *= 2)
        ;
    s->ring = calloc(s->rmax, sizeof(*s->ring));
    s->idx = calloc(s->icap, sizeof(*s->idx));
    s->idx_key = calloc(s->icap, sizeof(*s->idx_key));
    if (!s->ring || !s->idx || !s->idx_key || tab_grow(s) < 0) {
        spamstore_mem_free(s);
        return NULL;
    }
    return s;
}

void spamstore_mem_free(struct spamstore_mem *s)
{
    if (!s)
        return;
    if (s->ring)
        for (size_t i = 0; i < s->rmax; i++)
            free(s->ring[i].data);
    free(s->ring);
    free(s->idx);
    free(s->idx_key);
    big_free(s->tkey, s->cap * sizeof(*s->tkey));
    big_free(s->tcell, s->cap * sizeof(*s->tcell));
    free(s);
}

size_t spamstore_mem_keys(const struct spamstore_mem *s)
{
    return s->nonzero;
}

size_t spamstore_mem_records(const struct spamstore_mem *s, size_t *bytes)
{
    size_t n = 0;
    for (size_t i = 0; i < s->rcount; i++)
        n += s->ring[(s->rhead + i) % s->rmax].data != NULL;
    if (bytes)
        *bytes = s->rbytes;
    return n;
}

void spamstore_mem_limit_bits(struct spamstore_mem *s, unsigned bits)
{
    s->mask = bits >= 64 || bits == 0 ? ~0ULL : (1ULL << bits) - 1;
}
