/*
 * store_impl.h - what store.c shares with its two backends (store_lmdb.c,
 * store_redis.c): the handles' insides and the few calls between them.
 * Nothing outside libpolicy/support/store*.c includes it.
 */
#ifndef LIBPOLICY_STORE_IMPL_H
#define LIBPOLICY_STORE_IMPL_H

#include <pthread.h>
#include <sys/types.h>

#include "store.h"

enum store_opkind {
    STORE_OP_GET = 1,
    STORE_OP_SET,
    STORE_OP_ADD,
    STORE_OP_INCR,
    STORE_OP_DEL,
    STORE_OP_PGET,
    STORE_OP_PADD
};

struct store_op {
    enum store_opkind kind;
    int renew; /* incr: every increment restarts the ttl */
    unsigned ttl;
    int64_t delta, delta2;
    uint32_t key_off, key_len; /* the encoded key in b->buf */
    uint32_t val_off, val_len; /* set/add: the value; get: the answer */
    struct store_result res;   /* res.data is filled in by store_result() */
};

struct lmdb_env; /* store_lmdb.c: one per path per process */

struct store {
    struct store_uri uri;
    void (*log_fn)(int level, const char *line, void *ctx);
    void *log_ctx;
    time_t (*clock)(void);
    /* lmdb: the environment, acquired on first use by this process */
    pthread_mutex_t lock;
    struct lmdb_env *env;
    pid_t env_pid;
    unsigned long env_gen; /* the fork generation env_pid was checked in */
    /* redis: the resolved address ("" for the unix socket form) */
    char addr[64];
};

struct store_conn {
    struct store *st;
    struct waiter *w;
    int own_waiter;
    const char *failed;   /* the remembered failure, or NULL */
    char failed_buf[160]; /* its text when it is not static */
    void *redis;          /* store_redis.c's connection state */
    unsigned timeout_ms;  /* each batch's (Redis); 0: the store's */
};

/* store_conn_timeout - the command timeout of c's batches, in ms. */
static inline unsigned store_conn_timeout(const struct store_conn *c)
{
    return c->timeout_ms ? c->timeout_ms : c->st->uri.timeout_ms;
}

struct store_batch {
    struct store_conn *conn;
    char ns[STORE_NS_MAX + 1];
    struct store_op *ops;
    size_t n, cap;
    unsigned char *buf; /* keys, values and answers, by offset */
    size_t len, bufcap;
    int started;
    size_t pending;     /* operations without a result yet */
    double deadline;    /* redis: waiter_now_ms() by which all must be answered */
    size_t next_reply;  /* redis: the operation the next reply belongs to */
    char err_text[112]; /* redis: the first error reply, for why */
    struct store_batch *next_inflight;
};

/* store_buf_put - append bytes to the batch buffer; the offset, or -1. */
long store_buf_put(struct store_batch *b, const void *data, size_t len);
/* store_op_finish - give operation i its result (status, why). */
void store_op_finish(struct store_batch *b, size_t i, enum store_status status, const char *why);
/* store_op_value - a get found data: copy it into the batch and finish
 * operation i with STORE_FOUND (STORE_ERROR when memory runs out). */
void store_op_value(struct store_batch *b, size_t i, const void *data, size_t len);
/* store_log - one line to the store's log sink, if any. */
void store_log(const struct store *st, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* store_conn_fail - remember the conn's failure (the text is copied). */
void store_conn_fail(struct store_conn *c, const char *why);

/* the backends */
void store_lmdb_run(struct store_batch *b);
void store_lmdb_release(struct store *st);

/* For tests and policyctl: the LMDB environment as this process sees it
 * (opening it if need be).  env identifies it: two stores on one file
 * share it.  -1 when it cannot be opened. */
struct store_lmdb_info {
    const void *env;
    int refs;
    size_t mapsize, maxsize, entries;
    unsigned readers; /* reader slots used, live or stale */
};
int store_lmdb_info(struct store *st, struct store_lmdb_info *info);
/* store_lmdb_check_readers - clear the reader slots of dead processes; how
 * many, or -1. */
int store_lmdb_check_readers(struct store *st);

int store_redis_resolve(struct store *st, char *err, size_t errlen);
void store_redis_start(struct store_batch *b);
void store_redis_abandon(struct store_batch *b);
void store_redis_conn_free(struct store_conn *c);

#endif /* LIBPOLICY_STORE_IMPL_H */
