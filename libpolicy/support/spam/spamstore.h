/*
 * spamstore.h - what the spam filter needs from a token store, as one small
 * batch interface: counters for N token hashes read in one call, deltas for
 * N token hashes added in one call, and per-message training records kept
 * for a while (bounded) so that a training can be undone.  An in-memory
 * table (below), an LMDB file and a Redis server can sit behind it: every
 * operation is a batch, so one round trip serves one message.
 *
 * Keys are 64-bit token hashes; key 0 is reserved for the totals (the
 * tokenizer never produces it).  Each key holds two signed 64-bit counters
 * whose meaning belongs to the model (spam/ham counts, or a fixed-point
 * weight and a count); a key never written reads as {0, 0}.  add() must be
 * atomic per key (Redis HINCRBY, an LMDB write transaction) so that several
 * processes can train the same store.
 */
#ifndef LIBPOLICY_SPAMSTORE_H
#define LIBPOLICY_SPAMSTORE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Results: found/done, not found, try again later (the store is down). */
#define SPAMSTORE_OK       0
#define SPAMSTORE_NOTFOUND 1
#define SPAMSTORE_ERROR    -1

struct spamstore_cell {
    int64_t a, b;
};

struct spamstore_ops {
    /* get - cells of n keys into out[n] (absent keys: {0,0}). */
    int (*get)(void *ctx, const uint64_t *keys, size_t n, struct spamstore_cell *out);
    /* add - add delta[i] to the cell of keys[i], for n keys; a cell that
     * becomes {0,0} may be dropped. */
    int (*add)(void *ctx, const uint64_t *keys, const struct spamstore_cell *delta, size_t n);
    /* rec_put - keep a training record (replacing one with the same id);
     * the store may forget old records (bounded by count, bytes or age). */
    int (*rec_put)(void *ctx, uint64_t id, const void *data, size_t len);
    /* rec_get - the record into buf (max bytes): SPAMSTORE_OK with *len set,
     * SPAMSTORE_NOTFOUND, or SPAMSTORE_ERROR (also when it is over max). */
    int (*rec_get)(void *ctx, uint64_t id, void *buf, size_t max, size_t *len);
    /* rec_del - forget a record (SPAMSTORE_NOTFOUND when there was none). */
    int (*rec_del)(void *ctx, uint64_t id);
};

/* ---- the in-memory store: an open-addressing table and a record ring ---- */

struct spamstore_mem;

/* spamstore_mem_new - an empty store keeping at most max_records training
 * records and rec_bytes bytes of them (0: defaults 10000 and 64 MiB; the
 * oldest go first).  NULL when out of memory. */
struct spamstore_mem *spamstore_mem_new(size_t max_records, size_t rec_bytes);
void spamstore_mem_free(struct spamstore_mem *s);
/* spamstore_mem_ops - the operations, ctx being the store. */
const struct spamstore_ops *spamstore_mem_ops(void);
/* spamstore_mem_keys - keys with a non-zero cell. */
size_t spamstore_mem_keys(const struct spamstore_mem *s);
/* spamstore_mem_records - records kept, and their bytes. */
size_t spamstore_mem_records(const struct spamstore_mem *s, size_t *bytes);
/* spamstore_mem_limit_bits - for measurements only: keys are cut to their
 * low bits bits (1..64) before use, as a small hash table would merge them. */
void spamstore_mem_limit_bits(struct spamstore_mem *s, unsigned bits);

#endif
