/*
 * store.h - the state service: rate counters, greylist triplets, spam
 * tokens and metrics, in LMDB (one file per host, shared by every process)
 * or in Redis (shared by every MX host), chosen by a URI.  A layer sees one
 * small interface and never knows which store runs.
 *
 * Operations: get, set with a TTL, add-if-absent with a TTL, atomic
 * increment with a TTL (returning the new value), delete.  They travel in
 * batches: a layer queues many operations (the spam filter reads and
 * updates hundreds of token counters per message, greylisting reads a
 * triplet and writes it), starts the batch, and collects one three-valued
 * result per operation.  Operations of a batch take effect in the order
 * they were queued, so a later one sees what an earlier one wrote.
 *
 * Scopes: a struct store belongs to the engine (immutable after
 * store_open, shared by every thread, opened lazily: nothing is touched
 * before the first batch, and nothing is ever carried across a fork).  A
 * struct store_conn belongs to one session and one thread at a time (for
 * Redis, the session's connection, polled through the session's waiter).
 * A struct store_batch belongs to the session that made it.
 *
 * URIs:
 *   lmdb:PATH[?mapsize=SIZE&maxsize=SIZE&sync=off|meta|full&writemap=no|yes]
 *       PATH absolute (lmdb:///PATH is the same).  An existing directory
 *       holds data.mdb and lock.mdb; any other path names the data file,
 *       with PATH-lock beside it (both created 0660 less the umask: every
 *       process of the host - qmail-smtpd, policy-queue, the milter - must
 *       be able to write both, e.g. through one group).  mapsize is the
 *       first map (default 16M); it doubles when full, up to maxsize
 *       (default 1G), then a write is an error.  SIZE takes K, M or G.
 *       sync=off (default): commits reach the page cache, an OS crash can
 *       lose the last ones; meta: one fdatasync per commit; full: two.
 *       writemap=yes writes through a writable map instead of write(2):
 *       several times faster commits, but a stray write anywhere in the
 *       process could then corrupt the shared file (default no; use the
 *       same setting in every process of the host).
 *   redis://[[USER]:PASSWORD@]HOST[:PORT][/DB][?OPTIONS]
 *       HOST an IP address, [IPv6] or a name (resolved once, when the
 *       store is opened, never in a session).  PORT 6379, DB 0.
 *   redis+unix:///PATH/TO/redis.sock[?OPTIONS]
 *       OPTIONS for both Redis forms: db=N, user=U, password=P,
 *       timeout=MS (each batch, default 250), connect_timeout=MS
 *       (default 250), prefix=STR (before every key, default none).
 *       Percent-escapes (%40 ...) are decoded in user, password, prefix
 *       and paths.  Error messages never repeat a password.
 *
 * Keys: a layer names its namespace (STORE_NS_MAX characters of
 * [a-z0-9_.-]); the stored key is NAMESPACE ":" KEY (after the Redis
 * prefix), so two layers never collide.  KEY is any bytes, at most
 * STORE_KEY_MAX; a value at most STORE_VALUE_MAX bytes.
 *
 * Values: byte strings, signed 64-bit counters, and pairs of counters.  A
 * counter reads back (get) as its decimal text, on both stores, the way
 * Redis keeps it.  A pair (store_pair_get, store_pair_add) holds two
 * counters and its expiry under one key: one lookup and one atomic update
 * for both (the spam filter's token cells); it is read and written only as
 * a pair (Redis: a hash with fields a, b and e, the expiry).
 *
 * LMDB record encoding (the value stored under a key):
 *   byte 0      kind: 0x01 bytes, 0x02 counter, 0x03 pair (others: corrupt)
 *   bytes 1-8   expiry, unix seconds, unsigned big-endian; 0 = never.
 *               A record lives until the end of that second: at least
 *               its TTL, at most one second more (Redis: exactly).
 *   bytes 9-    bytes: the value (0..STORE_VALUE_MAX bytes);
 *               counter: 8 bytes, two's complement big-endian;
 *               pair (kind 0x03): 16 bytes, the two counters so
 * An expired record is "not found" to every operation; writers delete the
 * expired records they meet, and every write transaction also looks at one
 * record more than it writes, plus two, from a position that moves on
 * (each process starts it at a random key), deleting the expired ones: the
 * file does not grow forever.  Readers left by killed processes are
 * cleared when a process opens the file and whenever the map is full; a
 * writer killed holding the lock is recovered by LMDB's robust mutex.
 */
#ifndef LIBPOLICY_STORE_H
#define LIBPOLICY_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct waiter;

#define STORE_NS_MAX     32   /* namespace length */
#define STORE_KEY_MAX    400  /* key bytes, namespace not counted */
#define STORE_VALUE_MAX  1024 /* value bytes */
#define STORE_BATCH_MAX  4096 /* operations in one batch */
#define STORE_PREFIX_MAX 64   /* Redis key prefix */
#define STORE_PATH_MAX   1024

enum store_status {
    STORE_PENDING = 0, /* not answered yet */
    STORE_FOUND,       /* get, incr: the value.  set: stored.  add: the key
                        * was there already (nothing written).  del: deleted */
    STORE_NOTFOUND,    /* get: no such key, or expired.  add: it was absent
                        * and is now stored.  del: nothing to delete */
    STORE_ERROR        /* no answer: store down or slow, full, a wrong type,
                        * a corrupt record; why says which */
};

struct store_result {
    enum store_status status;
    const char *why;           /* STORE_ERROR: a short text for the log */
    const unsigned char *data; /* get: the value (counters as decimal text) */
    size_t len;
    int64_t value;    /* incr: the new value; get: the number when data is a
                       * canonical decimal integer; pairs: the first counter */
    int numeric;      /* get: value is set */
    int64_t value2;   /* pairs: the second counter */
    uint64_t expires; /* pair_get: when it expires, unix seconds (0 never) */
};

struct store;
struct store_conn;
struct store_batch;

/* store_open - check and remember a URI; no file or socket is touched
 * until the first batch.  NULL with err set when the URI is bad (or a
 * Redis host name does not resolve). */
struct store *store_open(const char *uri, char *err, size_t errlen);
/* store_close - release the store (an LMDB environment goes when its last
 * user in the process lets it go).  Every conn must be freed first. */
void store_close(struct store *st);
/* store_kind - "lmdb" or "redis". */
const char *store_kind(const struct store *st);

/* store_set_log - where the store reports what a log should hold (a map
 * grown, stale readers cleared, the store full): syslog levels, one line.
 * Call before the store is shared. */
void store_set_log(struct store *st, void (*fn)(int level, const char *line, void *ctx), void *ctx);
/* store_set_clock - the wall clock of LMDB expiry (tests move it); NULL
 * restores time(). */
void store_set_clock(struct store *st, time_t (*now)(void));
/* store_now - that clock: what layers write as timestamps into the store,
 * so that tests move their times and LMDB's expiry together. */
time_t store_now(const struct store *st);

/* store_conn_new - a session's use of the store.  w: the session's poll
 * set (a Redis connection is one of its sources); NULL gives the conn its
 * own.  Connects lazily.  After a failure (Redis down, slow, refusing
 * AUTH) every later batch of this conn fails at once with the same
 * reason: one timeout per session, not one per question.  NULL when out
 * of memory. */
struct store_conn *store_conn_new(struct store *st, struct waiter *w);
/* store_conn_set_timeout - each batch of this conn may take ms (0: the
 * store's timeout= again): for a tool that writes much at once outside
 * SMTP (policyctl train), not for a session.  Redis only; LMDB never
 * waits. */
void store_conn_set_timeout(struct store_conn *c, unsigned ms);
/* store_conn_free - drop the connection; the conn's batches must be freed
 * first. */
void store_conn_free(struct store_conn *c);
/* store_conn_failed - the remembered failure of this conn, or NULL. */
const char *store_conn_failed(const struct store_conn *c);

/* store_batch_new - an empty batch of operations under namespace ns.
 * NULL when ns is not a valid namespace or memory runs out. */
struct store_batch *store_batch_new(struct store_conn *c, const char *ns);
/* store_batch_ns - the namespace of the operations queued from now on: the
 * core can gather the questions of several layers of one stage into one
 * batch (one transaction, one round trip), each layer under its own name.
 * 0, or -1 (nothing changed) when ns is not a valid namespace. */
int store_batch_ns(struct store_batch *b, const char *ns);
/* store_batch_free - free it; a batch still waiting for Redis drops the
 * conn's connection (and is then remembered as failed). */
void store_batch_free(struct store_batch *b);
/* store_batch_reset - empty it for reuse (it must not be in flight). */
void store_batch_reset(struct store_batch *b);

/* Queue one operation; returns its index for store_result(), or -1 when
 * the key or value is too long or the batch is full (the operation is not
 * queued; the others are unaffected).  ttl in seconds, 0 = no expiry.
 *   store_set    - store val, expiring ttl seconds from now.
 *   store_add    - store val only when the key is absent (or expired).
 *   store_incr   - add delta to a counter (an absent key counts as 0) and
 *                  return the new value; ttl applies when the counter is
 *                  created or has no expiry yet (a fixed window).
 *   store_incr_renew - the same, and every increment restarts the ttl (a
 *                  sliding window).
 *   store_get, store_del. */
int store_get(struct store_batch *b, const void *key, size_t klen);
int store_set(struct store_batch *b, const void *key, size_t klen, const void *val, size_t vlen,
              unsigned ttl);
int store_add(struct store_batch *b, const void *key, size_t klen, const void *val, size_t vlen,
              unsigned ttl);
int store_incr(struct store_batch *b, const void *key, size_t klen, int64_t delta, unsigned ttl);
int store_incr_renew(struct store_batch *b, const void *key, size_t klen, int64_t delta,
                     unsigned ttl);
int store_del(struct store_batch *b, const void *key, size_t klen);
/* Pairs of counters.
 *   store_pair_get - STORE_FOUND with value, value2 and expires, or
 *                  STORE_NOTFOUND; a key that holds no pair is an error.
 *   store_pair_add - add d1 and d2 to the pair (an absent one counts as
 *                  0, 0); value and value2 get the new counters.  ttl > 0
 *                  restarts the expiry at every add (a sliding window:
 *                  what is not added to for ttl seconds goes); 0 keeps the
 *                  expiry it had (none for a new pair).  A pair that
 *                  becomes 0, 0 is deleted: adding 0, 0 with a ttl renews
 *                  a pair that exists and creates none. */
int store_pair_get(struct store_batch *b, const void *key, size_t klen);
int store_pair_add(struct store_batch *b, const void *key, size_t klen, int64_t d1, int64_t d2,
                   unsigned ttl);
size_t store_batch_size(const struct store_batch *b);

/* store_start - run or send the batch.  LMDB runs it now, in one
 * transaction (atomic as a whole); Redis writes it as one pipeline (each
 * operation atomic) and answers arrive through the waiter.  Starting a
 * started batch does nothing. */
void store_start(struct store_batch *b);
/* store_done - every operation has its result. */
int store_done(const struct store_batch *b);
/* store_wait - poll until the batch is done; bounded by the store's
 * timeout (what is late by then is STORE_ERROR). */
void store_wait(struct store_batch *b);
/* store_run - start and wait. */
void store_run(struct store_batch *b);
/* store_result - the result of operation i, valid until the batch is
 * reset or freed; NULL for a bad index. */
const struct store_result *store_result(struct store_batch *b, int i);

/* ------------------------------------------------------------ encodings
 * Pure functions, shared by both stores and fuzzed (tests/fuzz). */

enum store_kind_id { STORE_KIND_LMDB = 1, STORE_KIND_REDIS };
enum store_sync { STORE_SYNC_OFF = 0, STORE_SYNC_META, STORE_SYNC_FULL };

struct store_uri {
    enum store_kind_id kind;
    char path[STORE_PATH_MAX]; /* lmdb: the environment; redis+unix: the socket */
    char host[256];            /* redis over TCP: as written (no brackets) */
    int port;
    char user[128];
    char password[256];
    int db;
    unsigned timeout_ms, connect_timeout_ms;
    char prefix[STORE_PREFIX_MAX + 1];
    uint64_t mapsize, maxsize;
    enum store_sync sync;
    int writemap;
};

/* store_uri_parse - 0, or -1 with err set (never quoting a password). */
int store_uri_parse(const char *uri, struct store_uri *u, char *err, size_t errlen);

/* store_ns_ok - ns is a valid namespace. */
int store_ns_ok(const char *ns);
/* store_key_encode - prefix ns ":" key into out; the length, or 0 when
 * something is invalid or does not fit. */
size_t store_key_encode(const char *prefix, const char *ns, const void *key, size_t klen,
                        unsigned char *out, size_t outlen);

enum store_rec_kind { STORE_REC_BYTES = 1, STORE_REC_COUNTER = 2, STORE_REC_PAIR = 3 };
#define STORE_REC_HEADER 9
#define STORE_REC_MAX    (STORE_REC_HEADER + STORE_VALUE_MAX)

struct store_rec {
    enum store_rec_kind kind;
    uint64_t expires;          /* unix seconds, 0 = never */
    const unsigned char *data; /* bytes */
    size_t len;
    int64_t counter;
    int64_t counter2; /* pairs: the second counter */
};

/* store_rec_encode - the record into out; its length, or 0 when it does
 * not fit or is invalid. */
size_t store_rec_encode(const struct store_rec *r, unsigned char *out, size_t outlen);
/* store_rec_decode - 0, or -1 when buf is not a valid record; r->data
 * points into buf. */
int store_rec_decode(const void *buf, size_t len, struct store_rec *r);
/* store_rec_expired - r has an expiry and it is before now (seconds: a
 * record lives at least its ttl, at most one second more). */
int store_rec_expired(const struct store_rec *r, time_t now);

/* store_parse_int - s is a canonical decimal int64 (no sign for 0, no
 * leading zeros, no spaces): 0 with *out, else -1. */
int store_parse_int(const void *s, size_t n, int64_t *out);
/* store_format_int - decimal text of v into out (>= 21 bytes); length. */
size_t store_format_int(int64_t v, char *out);

#endif /* LIBPOLICY_STORE_H */
