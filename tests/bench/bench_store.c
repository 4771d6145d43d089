/*
 * bench_store.c - store operations per second on one core, LMDB and (when
 * a URI is given) Redis in the same run: single get and increment, batches
 * of 100, and what an RCPT decision will cost the store (a greylist
 * triplet read and written, two rate counters), with the anchors beside
 * them: raw LMDB calls on a file of the same size and flags, and raw
 * hiredis round trips (one command, 100 pipelined) to the same Redis.
 * usage: bench_store [SECONDS [REDIS_URI]]
 */
#include <hiredis/hiredis.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "store.h"

#define NRECORDS 100000 /* in the file before measuring */
#define NCLIENTS 10000  /* distinct client addresses the keys are made of */

static double seconds = 3;
static unsigned long long rng = 88172645463325252ULL;
static unsigned next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)rng;
}

/* rate - calls of fn(arg) per second, for a share of the run. */
static double rate(void (*fn)(void *), void *arg)
{
    double end = bench_now() + seconds / 6, t0 = bench_now();
    long n = 0;
    do {
        for (int i = 0; i < 16; i++)
            fn(arg);
        n += 16;
    } while (bench_now() < end);
    return (double)n / (bench_now() - t0);
}

/* ------------------------------------------------------------ through the store */

struct sb {
    struct store_conn *c;
    struct store_batch *b, *b2;
    int errors;
};

static int key(char *k, const char *fmt)
{
    unsigned ip = next_rand() % NCLIENTS;
    return snprintf(k, 96, fmt, ip >> 8 & 255, ip & 255, ip % 97);
}

static void check(struct sb *s, struct store_batch *b)
{
    for (size_t i = 0; i < store_batch_size(b); i++)
        if (store_result(b, (int)i)->status == STORE_ERROR)
            s->errors++;
}

static void one_get(void *arg)
{
    struct sb *s = arg;
    char k[96];
    store_batch_reset(s->b);
    store_get(s->b, k, (size_t)key(k, "192.0.%u.%u"));
    store_run(s->b);
    check(s, s->b);
}

static void one_incr(void *arg)
{
    struct sb *s = arg;
    char k[96];
    store_batch_reset(s->b);
    store_incr(s->b, k, (size_t)key(k, "192.0.%u.%u"), 1, 3600);
    store_run(s->b);
    check(s, s->b);
}

static void hundred(struct sb *s, int incr)
{
    char k[96];
    store_batch_reset(s->b);
    for (int i = 0; i < 100; i++) {
        int n = key(k, "tok%u.%u.%u");
        if (incr)
            store_incr(s->b, k, (size_t)n, 1, 0);
        else
            store_get(s->b, k, (size_t)n);
    }
    store_run(s->b);
    check(s, s->b);
}

static void get100(void *arg)
{
    hundred(arg, 0);
}

static void incr100(void *arg)
{
    hundred(arg, 1);
}

/* rcpt - the keys of one RCPT: a client, its sender, the triplet. */
struct rcpt {
    char ip[32], snd[64], t[96];
    size_t tn;
};

static void rcpt_keys(struct rcpt *k)
{
    unsigned c = next_rand() % NCLIENTS;
    snprintf(k->ip, sizeof(k->ip), "192.0.%u.%u", c >> 8 & 255, c & 255);
    snprintf(k->snd, sizeof(k->snd), "%s/news%u@sender.example", k->ip, c % 97);
    k->tn = (size_t)snprintf(k->t, sizeof(k->t), "%s/user%u@example.test", k->snd, c % 13);
}

/* rcpt_work - greylist reads and writes the triplet in b, rate counts the
 * client and the sender in b2 (b2 == b: all four in one transaction). */
static void rcpt_work(struct sb *s, struct store_batch *b2)
{
    struct rcpt k;
    rcpt_keys(&k);
    store_batch_reset(s->b);
    store_batch_ns(s->b, "greylist");
    store_get(s->b, k.t, k.tn);
    store_set(s->b, k.t, k.tn, "1700000000 1700000300 2", 23, 36 * 86400);
    if (b2 != s->b) {
        store_run(s->b);
        check(s, s->b);
        store_batch_reset(b2);
    } else {
        store_batch_ns(b2, "rate");
    }
    store_incr(b2, k.ip, strlen(k.ip), 1, 3600);
    store_incr(b2, k.snd, strlen(k.snd), 1, 3600);
    store_run(b2);
    check(s, b2);
}

/* rcpt_two - as two layers will ask: one batch each. */
static void rcpt_two(void *arg)
{
    struct sb *s = arg;
    rcpt_work(s, s->b2);
}

/* rcpt_one - the same four operations in one batch (one transaction), as
 * the core could gather them with store_batch_ns(). */
static void rcpt_one(void *arg)
{
    struct sb *s = arg;
    rcpt_work(s, s->b);
}

/* fill - NRECORDS records, in batches of 1000. */
static void fill(struct sb *s)
{
    char k[96];
    for (int i = 0; i < NRECORDS; i += 1000) {
        store_batch_reset(s->b);
        for (int j = 0; j < 1000; j++) {
            int n = snprintf(k, sizeof(k), "fill/%d", i + j);
            store_set(s->b, k, (size_t)n, "1700000000 1700000300 2", 23, 36 * 86400);
        }
        store_run(s->b);
        check(s, s->b);
    }
}

/* ------------------------------------------------------------ anchors */

struct raw_lmdb {
    MDB_env *env;
    MDB_dbi dbi;
};

static void raw_get(void *arg)
{
    struct raw_lmdb *r = arg;
    char k[96];
    MDB_txn *txn;
    MDB_val kv, v;
    kv.mv_data = k;
    kv.mv_size = (size_t)key(k, "test:192.0.%u.%u");
    mdb_txn_begin(r->env, NULL, MDB_RDONLY, &txn);
    (void)mdb_get(txn, r->dbi, &kv, &v);
    mdb_txn_abort(txn);
}

static void raw_put(void *arg)
{
    struct raw_lmdb *r = arg;
    char k[96], val[17] = "\x02";
    MDB_txn *txn;
    MDB_val kv, v = {sizeof(val), val};
    kv.mv_data = k;
    kv.mv_size = (size_t)key(k, "test:192.0.%u.%u");
    mdb_txn_begin(r->env, NULL, 0, &txn);
    mdb_put(txn, r->dbi, &kv, &v, 0);
    mdb_txn_commit(txn);
}

static void raw_hundred(struct raw_lmdb *r, int put)
{
    char k[96], val[17] = "\x02";
    MDB_txn *txn;
    MDB_val kv, v = {sizeof(val), val};
    mdb_txn_begin(r->env, NULL, put ? 0 : MDB_RDONLY, &txn);
    for (int i = 0; i < 100; i++) {
        kv.mv_data = k;
        kv.mv_size = (size_t)key(k, "test:tok%u.%u.%u");
        if (put)
            mdb_put(txn, r->dbi, &kv, &v, 0);
        else
            (void)mdb_get(txn, r->dbi, &kv, &v);
    }
    if (put)
        mdb_txn_commit(txn);
    else
        mdb_txn_abort(txn);
}

static void raw_get100(void *arg)
{
    raw_hundred(arg, 0);
}

static void raw_put100(void *arg)
{
    raw_hundred(arg, 1);
}

static int raw_lmdb_open(struct raw_lmdb *r, const char *path, unsigned flags)
{
    MDB_txn *txn;
    flags |= MDB_NOSUBDIR | MDB_NOTLS | MDB_NORDAHEAD | MDB_NOSYNC;
    if (mdb_env_create(&r->env) || mdb_env_set_maxreaders(r->env, 1024) ||
        mdb_env_set_mapsize(r->env, 1ULL << 30) || mdb_env_open(r->env, path, flags, 0600) ||
        mdb_txn_begin(r->env, NULL, 0, &txn) || mdb_dbi_open(txn, NULL, 0, &r->dbi))
        return -1;
    char k[32], val[32] = "\x01";
    for (int i = 0; i < NRECORDS; i++) {
        MDB_val kv = {(size_t)snprintf(k, sizeof(k), "test:fill/%d", i), k}, v = {32, val};
        mdb_put(txn, r->dbi, &kv, &v, 0);
    }
    return mdb_txn_commit(txn);
}

static void raw_redis_n(redisContext *c, const char *cmd, int n)
{
    char k[96];
    for (int i = 0; i < n; i++) {
        key(k, n == 1 ? "test:192.0.%u.%u" : "test:tok%u.%u.%u");
        redisAppendCommand(c, cmd, k);
    }
    for (int i = 0; i < n; i++) {
        void *r;
        if (redisGetReply(c, &r) == REDIS_OK)
            freeReplyObject(r);
    }
}

static void raw_redis_get1(void *arg)
{
    raw_redis_n(arg, "GET %s", 1);
}

static void raw_redis_incr1(void *arg)
{
    raw_redis_n(arg, "INCRBY %s 1", 1);
}

static void raw_redis_get100(void *arg)
{
    raw_redis_n(arg, "GET %s", 100);
}

static void raw_redis_incr100(void *arg)
{
    raw_redis_n(arg, "INCRBY %s 1", 100);
}

static redisContext *raw_redis(const char *uri)
{
    struct store_uri u;
    char err[256];
    if (store_uri_parse(uri, &u, err, sizeof(err)) < 0)
        return NULL;
    redisContext *c = u.path[0] ? redisConnectUnix(u.path) : redisConnect(u.host, u.port);
    if (!c || c->err)
        return NULL;
    if (u.password[0]) {
        redisReply *r = redisCommand(c, "AUTH %s", u.password);
        if (r)
            freeReplyObject(r);
    }
    if (u.db) {
        redisReply *r = redisCommand(c, "SELECT %d", u.db);
        if (r)
            freeReplyObject(r);
    }
    return c;
}

/* ------------------------------------------------------------ the table */

static void row(const char *what, double r, double anchor, int per)
{
    printf("  %-34s %10.0f %9.2f %12.0f\n", what, r * per, 1e6 / r, anchor * per);
}

/* measure - every row for one store; anchors from the raw LMDB env or
 * the raw hiredis connection (whichever is given). */
static int measure(const char *title, struct store *st, struct raw_lmdb *rl, redisContext *rc)
{
    struct sb s = {0};
    s.c = store_conn_new(st, NULL);
    s.b = store_batch_new(s.c, "test");
    s.b2 = store_batch_new(s.c, "rate");
    if (rl)
        fill(&s);
    printf("%s\n  %-34s %10s %9s %12s\n", title, "operation", "op/s", "us/batch",
           rl ? "raw LMDB op/s" : "raw hiredis op/s");
    void (*a1g)(void *) = rl ? raw_get : raw_redis_get1;
    void (*a1p)(void *) = rl ? raw_put : raw_redis_incr1;
    void (*a100g)(void *) = rl ? raw_get100 : raw_redis_get100;
    void (*a100p)(void *) = rl ? raw_put100 : raw_redis_incr100;
    void *aa = rl ? (void *)rl : (void *)rc;
    row("get, one per batch", rate(one_get, &s), rate(a1g, aa), 1);
    row("incr, one per batch", rate(one_incr, &s), rate(a1p, aa), 1);
    row("get, 100 per batch", rate(get100, &s), rate(a100g, aa), 100);
    row("incr, 100 per batch", rate(incr100, &s), rate(a100p, aa), 100);
    double two = rate(rcpt_two, &s), one = rate(rcpt_one, &s);
    printf("  RCPT store work (greylist triplet get + set, two rate incr):\n");
    printf("    two batches, one per layer: %8.2f us    one batch: %8.2f us\n", 1e6 / two,
           1e6 / one);
    if (s.errors)
        printf("  errors: %d\n", s.errors);
    store_batch_free(s.b);
    store_batch_free(s.b2);
    store_conn_free(s.c);
    return s.errors;
}

int main(int argc, char **argv)
{
    char dir[] = "/tmp/libpolicy-bench-store.XXXXXX", uri[160], raw[128], err[256];
    int errors = 0;
    seconds = argc > 1 ? atof(argv[1]) : 3.0;
    const char *ruri = argc > 2 ? argv[2] : NULL;
    if (!mkdtemp(dir))
        return 1;
    printf("store operations on one core, %d records in each LMDB file first, sync=off;\n"
           "the target of an RCPT decision on LMDB (store work included) is under 20 us\n\n",
           NRECORDS);
    for (int wm = 0; wm < 2; wm++) {
        snprintf(uri, sizeof(uri), "lmdb:%s/state%d?writemap=%s", dir, wm, wm ? "yes" : "no");
        snprintf(raw, sizeof(raw), "%s/raw%d", dir, wm);
        struct store *st = store_open(uri, err, sizeof(err));
        struct raw_lmdb rl;
        if (!st || raw_lmdb_open(&rl, raw, wm ? MDB_WRITEMAP : 0) != 0) {
            fprintf(stderr, "bench_store: cannot open LMDB in %s\n", dir);
            return 1;
        }
        errors += measure(wm ? "LMDB, writemap=yes" : "LMDB, writemap=no (default)", st, &rl, NULL);
        store_close(st);
        mdb_env_close(rl.env);
        printf("\n");
    }
    if (ruri) {
        struct store *st = store_open(ruri, err, sizeof(err));
        redisContext *rc = st ? raw_redis(ruri) : NULL;
        if (!rc) {
            fprintf(stderr, "bench_store: cannot reach %s: %s\n", ruri, st ? "connect" : err);
            return 1;
        }
        char title[300];
        snprintf(title, sizeof(title), "Redis, %s (a session's connection: one per run)", ruri);
        errors += measure(title, st, NULL, rc);
        store_close(st);
        redisFree(rc);
    } else {
        printf("Redis: not measured (no URI given)\n");
    }
    char cmd[200];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 && !errors ? 0 : 1;
}
