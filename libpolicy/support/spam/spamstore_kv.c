/*
 * spamstore_kv.c - the spam filter's store on the state service
 * (store.h): LMDB on one host, Redis for several.  A token's cell is a
 * pair of counters under its 64-bit hash; a training record is cut into
 * values the store can hold.  Every call is a few batches (one round trip
 * each), whatever the number of features; a store that fails makes the
 * call fail (SPAMSTORE_ERROR, with the store's reason), never half-succeed
 * silently.
 *
 * Expiry: every cell a training adds to lives token_ttl seconds more; a
 * cell a classification reads is renewed by spamstore_kv_touch() once its
 * expiry is closer than token_ttl minus a refresh interval, so a token
 * that keeps appearing in mail stays, whether or not mail that shows it
 * is trained again, and the writes this costs are one per token and
 * interval, not one per message.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../store.h"
#include "spamstore.h"

#define KV_NS      "spam"
#define CHUNK_HEAD 8                              /* nonce u32, total length u32 */
#define CHUNK_DATA (STORE_VALUE_MAX - CHUNK_HEAD) /* record bytes per value */
#define CHUNKS_MAX 4096                           /* a record of at most 4 MB */
#define TOUCH_MAX  4096                           /* cells renewed by one touch */
#define BATCH_KEYS (STORE_BATCH_MAX - 8)

struct kv_order {
    uint64_t key;
    uint32_t at; /* where it goes in the caller's array */
};

struct spamstore_kv {
    struct store_conn *conn;
    struct store_batch *b;
    struct spamstore_kv_opts o;
    time_t (*clock)(void);
    char why[160];
    struct kv_order *ord;
    size_t ordcap;
    uint64_t touch[TOUCH_MAX]; /* cells read that are due for renewal */
    size_t ntouch;
    uint32_t nonce;
    size_t reads, hits, touched;
};

static time_t kv_now(const struct spamstore_kv *k)
{
    return k->clock ? k->clock() : time(NULL);
}

static void put_be64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char)v;
}

static void put_be32(unsigned char *p, uint32_t v)
{
    for (int i = 3; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char)v;
}

static uint32_t get_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* rec_key - the key of chunk i of record id: 'r', the id, the index. */
static size_t rec_key(unsigned char *out, uint64_t id, unsigned i)
{
    out[0] = 'r';
    put_be64(out + 1, id);
    out[9] = (unsigned char)(i >> 8);
    out[10] = (unsigned char)i;
    return 11;
}

/* fail - remember why the store failed; SPAMSTORE_ERROR. */
static int fail(struct spamstore_kv *k, const char *why)
{
    snprintf(k->why, sizeof(k->why), "%s", why ? why : "store error");
    return SPAMSTORE_ERROR;
}

/* batch - the reusable batch, emptied. */
static struct store_batch *batch(struct spamstore_kv *k)
{
    if (!k->b)
        k->b = store_batch_new(k->conn, KV_NS);
    else
        store_batch_reset(k->b);
    return k->b;
}

/* order - the keys sorted, each with its place: neighbours in the store
 * are read one after the other, so LMDB finds most of the path, often the
 * page itself, where the last read left it.  An LSD radix sort, a byte at
 * a time (bytes all keys share are skipped). */
static int order(struct spamstore_kv *k, const uint64_t *keys, size_t n)
{
    if (2 * n > k->ordcap) {
        size_t cap = k->ordcap ? k->ordcap : 2048;
        while (cap < 2 * n)
            cap *= 2;
        struct kv_order *o = realloc(k->ord, cap * sizeof(*o));
        if (!o)
            return -1;
        k->ord = o;
        k->ordcap = cap;
    }
    struct kv_order *a = k->ord, *b = k->ord + n;
    uint64_t all_or = 0, all_and = ~0ULL;
    for (size_t i = 0; i < n; i++) {
        a[i] = (struct kv_order){keys[i], (uint32_t)i};
        all_or |= keys[i];
        all_and &= keys[i];
    }
    for (unsigned shift = 0; shift < 64; shift += 8) {
        if (!(((all_or ^ all_and) >> shift) & 0xff))
            continue; /* every key has the same byte here */
        size_t count[257] = {0};
        for (size_t i = 0; i < n; i++)
            count[((a[i].key >> shift) & 0xff) + 1]++;
        for (int d = 0; d < 256; d++)
            count[d + 1] += count[d];
        for (size_t i = 0; i < n; i++)
            b[count[(a[i].key >> shift) & 0xff]++] = a[i];
        struct kv_order *t = a;
        a = b;
        b = t;
    }
    if (a != k->ord)
        memcpy(k->ord, a, n * sizeof(*a));
    return 0;
}

/* kv_get - cells of n keys: batches of pair reads in key order. */
static int kv_get(void *ctx, const uint64_t *keys, size_t n, struct spamstore_cell *out)
{
    struct spamstore_kv *k = ctx;
    time_t now = kv_now(k);
    uint64_t due =
        k->o.token_ttl > k->o.refresh ? (uint64_t)now + k->o.token_ttl - k->o.refresh : 0;
    if (order(k, keys, n) < 0)
        return fail(k, "out of memory");
    for (size_t start = 0; start < n; start += BATCH_KEYS) {
        size_t m = n - start < BATCH_KEYS ? n - start : BATCH_KEYS;
        struct store_batch *b = batch(k);
        if (!b)
            return fail(k, "out of memory");
        for (size_t i = 0; i < m; i++) {
            unsigned char key[8];
            put_be64(key, k->ord[start + i].key);
            if (store_pair_get(b, key, 8) < 0)
                return fail(k, "cannot queue a read");
        }
        store_run(b);
        for (size_t i = 0; i < m; i++) {
            const struct store_result *r = store_result(b, (int)i);
            struct spamstore_cell *c = &out[k->ord[start + i].at];
            if (r->status == STORE_ERROR)
                return fail(k, r->why);
            if (r->status != STORE_FOUND) {
                *c = (struct spamstore_cell){0, 0};
                continue;
            }
            *c = (struct spamstore_cell){r->value, r->value2};
            k->hits++;
            if (due && r->expires && r->expires < due && k->ntouch < TOUCH_MAX)
                k->touch[k->ntouch++] = k->ord[start + i].key;
        }
        k->reads += m;
    }
    return SPAMSTORE_OK;
}

/* kv_add - deltas of n keys, in key order; every cell lives token_ttl more. */
static int kv_add(void *ctx, const uint64_t *keys, const struct spamstore_cell *delta, size_t n)
{
    struct spamstore_kv *k = ctx;
    if (order(k, keys, n) < 0)
        return fail(k, "out of memory");
    for (size_t start = 0; start < n; start += BATCH_KEYS) {
        size_t m = n - start < BATCH_KEYS ? n - start : BATCH_KEYS;
        struct store_batch *b = batch(k);
        if (!b)
            return fail(k, "out of memory");
        for (size_t i = 0; i < m; i++) {
            unsigned char key[8];
            const struct spamstore_cell *d = &delta[k->ord[start + i].at];
            put_be64(key, k->ord[start + i].key);
            if (store_pair_add(b, key, 8, d->a, d->b, k->o.token_ttl) < 0)
                return fail(k, "cannot queue an update");
        }
        store_run(b);
        for (size_t i = 0; i < m; i++) {
            const struct store_result *r = store_result(b, (int)i);
            if (r->status == STORE_ERROR)
                return fail(k, r->why);
        }
    }
    return SPAMSTORE_OK;
}

/* kv_rec_put - the record in chunks of one value each, in one batch; each
 * chunk carries a nonce and the total length, so a reader never mixes two
 * versions of a record. */
static int kv_rec_put(void *ctx, uint64_t id, const void *data, size_t len)
{
    struct spamstore_kv *k = ctx;
    size_t nchunks = len ? (len + CHUNK_DATA - 1) / CHUNK_DATA : 1;
    if (nchunks > CHUNKS_MAX || nchunks > BATCH_KEYS)
        return fail(k, "training record too long");
    struct store_batch *b = batch(k);
    if (!b)
        return fail(k, "out of memory");
    k->nonce = k->nonce * 2654435761u + (uint32_t)kv_now(k) + (uint32_t)id + 1;
    for (size_t i = 0; i < nchunks; i++) {
        unsigned char key[16], val[STORE_VALUE_MAX];
        size_t off = i * CHUNK_DATA, n = len - off < CHUNK_DATA ? len - off : CHUNK_DATA;
        put_be32(val, k->nonce);
        put_be32(val + 4, (uint32_t)len);
        if (n)
            memcpy(val + CHUNK_HEAD, (const unsigned char *)data + off, n);
        if (store_set(b, key, rec_key(key, id, (unsigned)i), val, CHUNK_HEAD + n, k->o.record_ttl) <
            0)
            return fail(k, "cannot queue a record");
    }
    store_run(b);
    for (size_t i = 0; i < nchunks; i++) {
        const struct store_result *r = store_result(b, (int)i);
        if (r->status == STORE_ERROR)
            return fail(k, r->why);
    }
    return SPAMSTORE_OK;
}

/* first_chunk - read chunk 0 of record id: SPAMSTORE_OK with its nonce
 * and the record's length, SPAMSTORE_NOTFOUND or SPAMSTORE_ERROR. */
static int first_chunk(struct spamstore_kv *k, uint64_t id, uint32_t *nonce, size_t *len,
                       unsigned char *buf, size_t max)
{
    unsigned char key[16];
    struct store_batch *b = batch(k);
    if (!b)
        return fail(k, "out of memory");
    store_get(b, key, rec_key(key, id, 0));
    store_run(b);
    const struct store_result *r = store_result(b, 0);
    if (r->status == STORE_ERROR)
        return fail(k, r->why);
    if (r->status != STORE_FOUND || r->len < CHUNK_HEAD)
        return SPAMSTORE_NOTFOUND;
    *nonce = get_be32(r->data);
    *len = get_be32(r->data + 4);
    size_t n = r->len - CHUNK_HEAD;
    if (n != (*len < CHUNK_DATA ? *len : CHUNK_DATA))
        return SPAMSTORE_NOTFOUND; /* not a record of ours */
    if (buf && n <= max)
        memcpy(buf, r->data + CHUNK_HEAD, n);
    return SPAMSTORE_OK;
}

static int kv_rec_get(void *ctx, uint64_t id, void *buf, size_t max, size_t *len)
{
    struct spamstore_kv *k = ctx;
    uint32_t nonce;
    size_t total;
    int rc = first_chunk(k, id, &nonce, &total, buf, max);
    if (rc != SPAMSTORE_OK)
        return rc;
    if (total > max)
        return fail(k, "training record longer than expected");
    size_t nchunks = total ? (total + CHUNK_DATA - 1) / CHUNK_DATA : 1;
    if (nchunks > 1) {
        struct store_batch *b = batch(k);
        if (!b)
            return fail(k, "out of memory");
        for (size_t i = 1; i < nchunks && i <= CHUNKS_MAX; i++) {
            unsigned char key[16];
            store_get(b, key, rec_key(key, id, (unsigned)i));
        }
        store_run(b);
        for (size_t i = 1; i < nchunks; i++) {
            const struct store_result *r = store_result(b, (int)i - 1);
            size_t off = i * CHUNK_DATA, n = total - off < CHUNK_DATA ? total - off : CHUNK_DATA;
            if (!r || r->status == STORE_ERROR)
                return fail(k, r ? r->why : "record chunk missing");
            if (r->status != STORE_FOUND || r->len != CHUNK_HEAD + n ||
                get_be32(r->data) != nonce || get_be32(r->data + 4) != total)
                return SPAMSTORE_NOTFOUND; /* expired in part, or being replaced */
            memcpy((unsigned char *)buf + off, r->data + CHUNK_HEAD, n);
        }
    }
    *len = total;
    return SPAMSTORE_OK;
}

static int kv_rec_del(void *ctx, uint64_t id)
{
    struct spamstore_kv *k = ctx;
    uint32_t nonce;
    size_t total;
    int rc = first_chunk(k, id, &nonce, &total, NULL, 0);
    if (rc != SPAMSTORE_OK)
        return rc;
    size_t nchunks = total ? (total + CHUNK_DATA - 1) / CHUNK_DATA : 1;
    struct store_batch *b = batch(k);
    if (!b)
        return fail(k, "out of memory");
    for (size_t i = 0; i < nchunks && i < CHUNKS_MAX; i++) {
        unsigned char key[16];
        store_del(b, key, rec_key(key, id, (unsigned)i));
    }
    store_run(b);
    for (size_t i = 0; i < store_batch_size(b); i++)
        if (store_result(b, (int)i)->status == STORE_ERROR)
            return fail(k, store_result(b, (int)i)->why);
    return SPAMSTORE_OK;
}

static const struct spamstore_ops kv_ops = {kv_get, kv_add, kv_rec_put, kv_rec_get, kv_rec_del};

const struct spamstore_ops *spamstore_kv_ops(void)
{
    return &kv_ops;
}

struct spamstore_kv *spamstore_kv_new(struct store_conn *conn, const struct spamstore_kv_opts *o)
{
    struct spamstore_kv *k = calloc(1, sizeof(*k));
    if (!k)
        return NULL;
    k->conn = conn;
    if (o)
        k->o = *o;
    if (!k->o.record_ttl)
        k->o.record_ttl = SPAMSTORE_KV_RECORD_TTL;
    if (k->o.token_ttl && (!k->o.refresh || k->o.refresh >= k->o.token_ttl))
        k->o.refresh = k->o.token_ttl / 8 ? k->o.token_ttl / 8 : 1;
    return k;
}

void spamstore_kv_free(struct spamstore_kv *k)
{
    if (!k)
        return;
    store_batch_free(k->b);
    free(k->ord);
    free(k);
}

void spamstore_kv_set_clock(struct spamstore_kv *k, time_t (*now)(void))
{
    k->clock = now;
}

int spamstore_kv_touch(struct spamstore_kv *k)
{
    size_t n = k->ntouch;
    k->ntouch = 0;
    if (!n)
        return SPAMSTORE_OK;
    struct store_batch *b = batch(k);
    if (!b)
        return fail(k, "out of memory");
    for (size_t i = 0; i < n; i++) {
        unsigned char key[8];
        put_be64(key, k->touch[i]);
        store_pair_add(b, key, 8, 0, 0, k->o.token_ttl);
    }
    store_run(b);
    for (size_t i = 0; i < n; i++)
        if (store_result(b, (int)i)->status == STORE_ERROR)
            return fail(k, store_result(b, (int)i)->why);
    k->touched += n;
    return SPAMSTORE_OK;
}

void spamstore_kv_forget_touches(struct spamstore_kv *k)
{
    k->ntouch = 0;
}

const char *spamstore_kv_error(const struct spamstore_kv *k)
{
    return k->why[0] ? k->why : "no error";
}

void spamstore_kv_stats(const struct spamstore_kv *k, size_t *reads, size_t *hits, size_t *touched)
{
    *reads = k->reads;
    *hits = k->hits;
    *touched = k->touched;
}
