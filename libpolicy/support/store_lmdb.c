/*
 * store_lmdb.c - the store in one LMDB file per host, shared by every
 * process (qmail forks a qmail-smtpd per connection and a policy-queue per
 * message, all at once).  Each batch is one transaction, so counting is
 * exact across processes; one environment per file per process, kept in a
 * refcounted registry and never used across a fork; a full map grows up to
 * its limit, then writes fail with an error, never a crash; readers left
 * behind by killed processes are cleared; expired records are swept.
 * liblmdb is loaded with the first environment (dynlib.h): a process whose
 * configuration has no LMDB store never maps it.
 */
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "dynlib.h"
#include "store_impl.h"

#define LMDB_FNS(X)                                                                                \
    X(mdb_env_create)                                                                              \
    X(mdb_env_set_maxreaders) X(mdb_env_set_mapsize) X(mdb_env_open) X(mdb_env_close)              \
        X(mdb_env_get_fd) X(mdb_env_info) X(mdb_env_stat) X(mdb_reader_check) X(mdb_strerror)      \
            X(mdb_txn_begin) X(mdb_txn_commit) X(mdb_txn_abort) X(mdb_dbi_open) X(mdb_cursor_open) \
                X(mdb_cursor_close) X(mdb_cursor_get) X(mdb_cursor_put) X(mdb_cursor_del)
static struct {
    LMDB_FNS(DYNLIB_FN)
} lf;
#define LMDB_SYM(f) DYNLIB_SYM(lf, f)
static const struct dynlib_sym lmdb_syms[] = {LMDB_FNS(LMDB_SYM)};
static struct dynlib lmdb_lib = DYNLIB_INIT(SONAME_LMDB, lmdb_syms);
#define mdb_env_create         (*lf.mdb_env_create)
#define mdb_env_set_maxreaders (*lf.mdb_env_set_maxreaders)
#define mdb_env_set_mapsize    (*lf.mdb_env_set_mapsize)
#define mdb_env_open           (*lf.mdb_env_open)
#define mdb_env_close          (*lf.mdb_env_close)
#define mdb_env_get_fd         (*lf.mdb_env_get_fd)
#define mdb_env_info           (*lf.mdb_env_info)
#define mdb_env_stat           (*lf.mdb_env_stat)
#define mdb_reader_check       (*lf.mdb_reader_check)
#define mdb_strerror           (*lf.mdb_strerror)
#define mdb_txn_begin          (*lf.mdb_txn_begin)
#define mdb_txn_commit         (*lf.mdb_txn_commit)
#define mdb_txn_abort          (*lf.mdb_txn_abort)
#define mdb_dbi_open           (*lf.mdb_dbi_open)
#define mdb_cursor_open        (*lf.mdb_cursor_open)
#define mdb_cursor_close       (*lf.mdb_cursor_close)
#define mdb_cursor_get         (*lf.mdb_cursor_get)
#define mdb_cursor_put         (*lf.mdb_cursor_put)
#define mdb_cursor_del         (*lf.mdb_cursor_del)

#define LMDB_MAXREADERS 1024   /* one slot per read transaction in flight (MDB_NOTLS) */
#define LMDB_ATTEMPTS   40     /* a batch retried after growing the map etc. */
#define SWEEP_BASE      2      /* records a write transaction looks at, besides one per write */
#define SWEEP_RESCUE    100000 /* records looked at when the map is full at its limit */

struct lmdb_env {
    struct lmdb_env *next;
    char path[STORE_PATH_MAX];
    dev_t dev;
    ino_t ino;
    int refs;
    MDB_env *env;
    MDB_dbi dbi;
    pthread_rwlock_t maplock; /* transactions hold it shared; map resizes exclusive */
    size_t mapsize, maxsize;
    /* where the next sweep starts; only touched inside a write
     * transaction, which LMDB serializes across every process */
    unsigned char sweep_key[STORE_PREFIX_MAX + STORE_NS_MAX + 1 + STORE_KEY_MAX];
    size_t sweep_len;
    int sweep_wrap; /* the last sweep reached the end: start at the first key */
};

/* The registry: the environments this process opened.  After a fork the
 * child forgets the parent's entries without closing them (closing would
 * release the parent's reader slots in the shared lock file). */
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct lmdb_env *reg_head;
static pid_t reg_pid;
static pthread_once_t reg_once = PTHREAD_ONCE_INIT;
/* bumped in every child fork() makes: a store checks its pid (a system
 * call) only when this moved, not on every batch */
static unsigned long fork_gen;

static void reg_prepare(void)
{
    pthread_mutex_lock(&reg_lock);
}
static void reg_parent(void)
{
    pthread_mutex_unlock(&reg_lock);
}
static void reg_child(void)
{
    fork_gen++;
    pthread_mutex_unlock(&reg_lock);
}
/* reg_init - a fork never happens while another thread holds reg_lock. */
static void reg_init(void)
{
    pthread_atfork(reg_prepare, reg_parent, reg_child);
}

/* data_file - the data file of path: path itself, or path/data.mdb for a
 * directory.  *is_dir tells which. */
static int data_file(const char *path, char *out, size_t outlen, int *is_dir)
{
    struct stat sb;
    *is_dir = stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
    int n = snprintf(out, outlen, *is_dir ? "%s/data.mdb" : "%s", path);
    return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

/* env_open - a new environment for st's path; NULL with why. */
static struct lmdb_env *env_open(struct store *st, const char **why)
{
    char data[STORE_PATH_MAX + 16];
    int is_dir, rc;
    struct stat sb;
    if (data_file(st->uri.path, data, sizeof(data), &is_dir) < 0) {
        *why = "lmdb: path too long";
        return NULL;
    }
    if (dynlib_load(&lmdb_lib) != 0) {
        *why = "lmdb: the library cannot be loaded"; /* the reason in the log */
        store_log(st, LOG_ERR, "store=lmdb %s", dynlib_error(&lmdb_lib));
        return NULL;
    }
    struct lmdb_env *e = calloc(1, sizeof(*e));
    if (!e) {
        *why = "out of memory";
        return NULL;
    }
    snprintf(e->path, sizeof(e->path), "%s", st->uri.path);
    e->mapsize = (size_t)st->uri.mapsize;
    e->maxsize = (size_t)st->uri.maxsize;
    /* a file bigger than asked for: map all of it, and let it be the limit
     * when it is already past the configured one (Postfix's slmdb does the
     * same) */
    if (stat(data, &sb) == 0 && (size_t)sb.st_size > e->mapsize) {
        e->mapsize = ((size_t)sb.st_size + (1 << 20)) & ~(size_t)((1 << 20) - 1);
        if (e->mapsize > e->maxsize)
            e->maxsize = e->mapsize;
    }
    unsigned flags = MDB_NOTLS | MDB_NORDAHEAD | (is_dir ? 0 : MDB_NOSUBDIR) |
                     (st->uri.writemap ? MDB_WRITEMAP : 0);
    flags |= st->uri.sync == STORE_SYNC_OFF    ? MDB_NOSYNC
             : st->uri.sync == STORE_SYNC_META ? MDB_NOMETASYNC
                                               : 0;
    MDB_txn *txn = NULL;
    if ((rc = mdb_env_create(&e->env)) != 0) {
        *why = "lmdb: cannot create an environment";
        free(e);
        return NULL;
    }
    if ((rc = mdb_env_set_maxreaders(e->env, LMDB_MAXREADERS)) != 0 ||
        (rc = mdb_env_set_mapsize(e->env, e->mapsize)) != 0 ||
        (rc = mdb_env_open(e->env, st->uri.path, flags, 0660)) != 0) {
        store_log(st, LOG_ERR, "store=lmdb path=%s open failed: %s", st->uri.path,
                  mdb_strerror(rc));
        *why = "lmdb: cannot open the store";
        goto fail;
    }
    int dead = 0;
    if (mdb_reader_check(e->env, &dead) == 0 && dead > 0)
        store_log(st, LOG_NOTICE, "store=lmdb path=%s cleared %d stale reader(s)", st->uri.path,
                  dead);
    if ((rc = mdb_txn_begin(e->env, NULL, 0, &txn)) != 0 ||
        (rc = mdb_dbi_open(txn, NULL, 0, &e->dbi)) != 0 || (rc = mdb_txn_commit(txn)) != 0) {
        if (rc != 0 && txn)
            mdb_txn_abort(txn);
        store_log(st, LOG_ERR, "store=lmdb path=%s cannot open the database: %s", st->uri.path,
                  mdb_strerror(rc));
        *why = "lmdb: cannot open the database";
        goto fail;
    }
    MDB_envinfo info;
    if (mdb_env_info(e->env, &info) == 0 && info.me_mapsize > e->mapsize)
        e->mapsize = info.me_mapsize;
    int fd;
    if (mdb_env_get_fd(e->env, &fd) == 0 && fstat(fd, &sb) == 0) {
        e->dev = sb.st_dev;
        e->ino = sb.st_ino;
    }
    pthread_rwlock_init(&e->maplock, NULL);
    e->sweep_wrap = 0;
    /* the first sweep of a process starts anywhere: short-lived processes
     * then spread their sweeps over the whole file */
    unsigned r = (unsigned)getpid() * 2654435761u ^ (unsigned)time(NULL);
    static const char alpha[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    e->sweep_key[0] = (unsigned char)alpha[r % (sizeof(alpha) - 1)];
    e->sweep_key[1] = (unsigned char)(r >> 8);
    e->sweep_len = 2;
    return e;
fail:
    mdb_env_close(e->env);
    free(e);
    return NULL;
}

/* reg_acquire - the environment of st's path in this process: the open
 * one (a reload hands it on) or a new one.  NULL with why. */
static struct lmdb_env *reg_acquire(struct store *st, pid_t pid, const char **why)
{
    char data[STORE_PATH_MAX + 16];
    int is_dir;
    struct stat sb;
    int known = data_file(st->uri.path, data, sizeof(data), &is_dir) == 0 && stat(data, &sb) == 0;
    pthread_mutex_lock(&reg_lock);
    if (reg_pid != pid) {
        reg_head = NULL; /* the parent's: not ours to close */
        reg_pid = pid;
    }
    struct lmdb_env *e;
    for (e = reg_head; e; e = e->next)
        if ((known && e->dev == sb.st_dev && e->ino == sb.st_ino) || !strcmp(e->path, st->uri.path))
            break;
    if (e) {
        e->refs++;
        pthread_rwlock_wrlock(&e->maplock);
        if ((size_t)st->uri.maxsize > e->maxsize)
            e->maxsize = (size_t)st->uri.maxsize; /* a reload may raise the limit */
        pthread_rwlock_unlock(&e->maplock);
    } else if ((e = env_open(st, why)) != NULL) {
        e->refs = 1;
        e->next = reg_head;
        reg_head = e;
    }
    pthread_mutex_unlock(&reg_lock);
    return e;
}

/* reg_release - one user less; the last one closes the environment. */
static void reg_release(struct lmdb_env *e, pid_t pid)
{
    pthread_mutex_lock(&reg_lock);
    if (reg_pid == pid && --e->refs == 0) {
        for (struct lmdb_env **pp = &reg_head; *pp; pp = &(*pp)->next)
            if (*pp == e) {
                *pp = e->next;
                break;
            }
        mdb_env_close(e->env);
        pthread_rwlock_destroy(&e->maplock);
        free(e);
    }
    pthread_mutex_unlock(&reg_lock);
}

void store_lmdb_release(struct store *st)
{
    if (st->env && st->env_pid == getpid())
        reg_release(st->env, st->env_pid);
    st->env = NULL;
}

/* env_get - st's environment for this process, opened on first use. */
static struct lmdb_env *env_get(struct store *st, const char **why)
{
    pthread_once(&reg_once, reg_init);
    pthread_mutex_lock(&st->lock);
    if (!st->env || st->env_gen != fork_gen) {
        pid_t pid = getpid();
        if (!st->env || st->env_pid != pid) {
            st->env = reg_acquire(st, pid, why); /* a parent's env is forgotten, not closed */
            st->env_pid = pid;
        }
        st->env_gen = fork_gen;
    }
    struct lmdb_env *e = st->env;
    pthread_mutex_unlock(&st->lock);
    return e;
}

/* ------------------------------------------------------------ operations */

enum rec_state { ABSENT, LIVE, EXPIRED, CORRUPT };

/* find - position cur on key and read its record: 0 with *state (r set
 * unless ABSENT or CORRUPT), or an LMDB error.  One descent serves the
 * read and the write that follows (MDB_CURRENT). */
static int find(MDB_cursor *cur, MDB_val *key, time_t now, struct store_rec *r,
                enum rec_state *state)
{
    MDB_val k = *key, v;
    int rc = mdb_cursor_get(cur, &k, &v, MDB_SET);
    *state = ABSENT;
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc != 0)
        return rc;
    if (store_rec_decode(v.mv_data, v.mv_size, r) < 0)
        *state = CORRUPT;
    else
        *state = store_rec_expired(r, now) ? EXPIRED : LIVE;
    return 0;
}

/* put_rec - write r under key: over the record cur is on, or new. */
static int put_rec(MDB_cursor *cur, MDB_val *key, const struct store_rec *r, enum rec_state state)
{
    unsigned char buf[STORE_REC_MAX];
    MDB_val v = {store_rec_encode(r, buf, sizeof(buf)), buf};
    return mdb_cursor_put(cur, key, &v, state == ABSENT ? 0 : MDB_CURRENT);
}

static uint64_t expiry(time_t now, unsigned ttl)
{
    return ttl ? (uint64_t)now + ttl : 0;
}

/* counter_of - the number a record holds: a counter, or bytes that are a
 * canonical decimal (as Redis counts a string "41").  -1 when neither. */
static int counter_of(const struct store_rec *r, int64_t *v)
{
    if (r->kind == STORE_REC_COUNTER) {
        *v = r->counter;
        return 0;
    }
    return store_parse_int(r->data, r->len, v);
}

/* add_checked - *v += d unless it overflows: 0, or -1. */
static int add_checked(int64_t *v, int64_t d)
{
    if ((d > 0 && *v > INT64_MAX - d) || (d < 0 && *v < INT64_MIN - d))
        return -1;
    *v += d;
    return 0;
}

/* run_pair_add - add to the pair under key (cur is on its record, if any):
 * the ttl restarts at every add, a pair of zeros is deleted. */
static int run_pair_add(struct store_batch *b, size_t i, MDB_cursor *cur, MDB_val *key,
                        const struct store_rec *r, enum rec_state state, time_t now)
{
    struct store_op *op = &b->ops[i];
    struct store_rec w = {STORE_REC_PAIR, expiry(now, op->ttl), NULL, 0, 0, 0};
    if (state == LIVE) {
        if (r->kind != STORE_REC_PAIR) {
            store_op_finish(b, i, STORE_ERROR, "not a pair");
            return 0;
        }
        w.counter = r->counter;
        w.counter2 = r->counter2;
        if (!op->ttl)
            w.expires = r->expires;
    }
    if (add_checked(&w.counter, op->delta) < 0 || add_checked(&w.counter2, op->delta2) < 0) {
        store_op_finish(b, i, STORE_ERROR, "counter overflow");
        return 0;
    }
    op->res.value = w.counter;
    op->res.value2 = w.counter2;
    store_op_finish(b, i, STORE_FOUND, NULL);
    if (w.counter == 0 && w.counter2 == 0)
        return state == ABSENT ? 0 : mdb_cursor_del(cur, 0);
    return put_rec(cur, key, &w, state);
}

/* run_op - operation i with cursor cur; 0, or an LMDB error that ends the
 * transaction (results of this attempt are then discarded). */
static int run_op(struct store_batch *b, size_t i, MDB_cursor *cur, time_t now, int writing)
{
    struct store_op *op = &b->ops[i];
    MDB_val key = {op->key_len, b->buf + op->key_off};
    struct store_rec r;
    enum rec_state state;
    int rc = find(cur, &key, now, &r, &state);
    if (rc != 0)
        return rc;
    if (state == CORRUPT && op->kind != STORE_OP_SET && op->kind != STORE_OP_DEL) {
        store_op_finish(b, i, STORE_ERROR, "corrupt record");
        return 0;
    }
    int live = state == LIVE;
    switch (op->kind) {
    case STORE_OP_GET:
        if (!live) {
            store_op_finish(b, i, STORE_NOTFOUND, NULL);
            if (state == EXPIRED && writing)
                return mdb_cursor_del(cur, 0); /* lazily, while we are here */
        } else if (r.kind == STORE_REC_PAIR) {
            store_op_finish(b, i, STORE_ERROR, "a pair");
        } else if (r.kind == STORE_REC_COUNTER) {
            char num[24];
            store_op_value(b, i, num, store_format_int(r.counter, num));
        } else {
            store_op_value(b, i, r.data, r.len);
        }
        return 0;
    case STORE_OP_SET:
    case STORE_OP_ADD: {
        if (op->kind == STORE_OP_ADD && live) {
            store_op_finish(b, i, STORE_FOUND, NULL);
            return 0;
        }
        struct store_rec w = {
            STORE_REC_BYTES, expiry(now, op->ttl), b->buf + op->val_off, op->val_len, 0, 0};
        if ((rc = put_rec(cur, &key, &w, state)) != 0)
            return rc;
        store_op_finish(b, i, op->kind == STORE_OP_ADD ? STORE_NOTFOUND : STORE_FOUND, NULL);
        return 0;
    }
    case STORE_OP_INCR: {
        struct store_rec w = {STORE_REC_COUNTER, expiry(now, op->ttl), NULL, 0, op->delta, 0};
        if (live) {
            int64_t old;
            if (counter_of(&r, &old) < 0) {
                store_op_finish(b, i, STORE_ERROR, "not a counter");
                return 0;
            }
            if ((op->delta > 0 && old > INT64_MAX - op->delta) ||
                (op->delta < 0 && old < INT64_MIN - op->delta)) {
                store_op_finish(b, i, STORE_ERROR, "counter overflow");
                return 0;
            }
            w.counter = old + op->delta;
            /* a fixed window keeps its end; a sliding one (renew) moves it;
             * a counter without expiry gets one - as the Redis script does */
            w.expires = op->ttl && (op->renew || !r.expires) ? expiry(now, op->ttl) : r.expires;
        }
        if ((rc = put_rec(cur, &key, &w, state)) != 0)
            return rc;
        op->res.value = w.counter;
        store_op_finish(b, i, STORE_FOUND, NULL);
        return 0;
    }
    case STORE_OP_DEL:
        store_op_finish(b, i, live ? STORE_FOUND : STORE_NOTFOUND, NULL);
        return state == ABSENT ? 0 : mdb_cursor_del(cur, 0);
    case STORE_OP_PGET:
        if (!live) {
            store_op_finish(b, i, STORE_NOTFOUND, NULL);
            if (state == EXPIRED && writing)
                return mdb_cursor_del(cur, 0);
        } else if (r.kind != STORE_REC_PAIR) {
            store_op_finish(b, i, STORE_ERROR, "not a pair");
        } else {
            op->res.value = r.counter;
            op->res.value2 = r.counter2;
            op->res.expires = r.expires;
            store_op_finish(b, i, STORE_FOUND, NULL);
        }
        return 0;
    case STORE_OP_PADD:
        return run_pair_add(b, i, cur, &key, &r, state, now);
    }
    return 0;
}

/* sweep - look at up to budget records from the sweep position, delete
 * the expired ones; *removed counts them.  0 or an LMDB error. */
static int sweep(struct lmdb_env *e, MDB_cursor *cur, time_t now, size_t budget, size_t *removed)
{
    MDB_val k, v;
    int rc;
    if (e->sweep_wrap || e->sweep_len == 0) {
        rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    } else {
        k.mv_data = e->sweep_key;
        k.mv_size = e->sweep_len;
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    }
    e->sweep_wrap = 0;
    for (size_t n = 0; rc == 0 && n < budget; n++) {
        struct store_rec r;
        if (store_rec_decode(v.mv_data, v.mv_size, &r) == 0 && store_rec_expired(&r, now)) {
            if ((rc = mdb_cursor_del(cur, 0)) != 0)
                break;
            (*removed)++;
        }
        /* after a delete, LMDB's MDB_NEXT yields the record that moved up */
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    if (rc == 0 && k.mv_size <= sizeof(e->sweep_key)) {
        memcpy(e->sweep_key, k.mv_data, k.mv_size);
        e->sweep_len = k.mv_size;
    } else if (rc == MDB_NOTFOUND) {
        e->sweep_wrap = 1;
        rc = 0;
    }
    return rc;
}

/* rescue - a transaction of its own that only sweeps, many records, when
 * the map is full at its limit.  0 or an LMDB error. */
static int rescue_sweep(struct store *st, struct lmdb_env *e, time_t now)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    size_t removed = 0;
    int rc = mdb_txn_begin(e->env, NULL, 0, &txn);
    if (rc != 0)
        return rc;
    e->sweep_wrap = 1; /* from the first record */
    if ((rc = mdb_cursor_open(txn, e->dbi, &cur)) != 0 ||
        (rc = sweep(e, cur, now, SWEEP_RESCUE, &removed)) != 0) {
        mdb_txn_abort(txn);
        return rc;
    }
    rc = mdb_txn_commit(txn);
    store_log(st, LOG_NOTICE, "store=lmdb path=%s full: removed %zu expired record(s)", e->path,
              removed);
    return rc;
}

/* attempt - the whole batch in one transaction; 0 or an LMDB error. */
static int attempt(struct store_batch *b, struct lmdb_env *e, int writing, time_t now)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    int rc = mdb_txn_begin(e->env, NULL, writing ? 0 : MDB_RDONLY, &txn);
    if (rc != 0)
        return rc;
    if ((rc = mdb_cursor_open(txn, e->dbi, &cur)) != 0) {
        mdb_txn_abort(txn);
        return rc;
    }
    size_t nwrite = 0, removed = 0;
    for (size_t i = 0; rc == 0 && i < b->n; i++) {
        rc = run_op(b, i, cur, now, writing);
        nwrite += b->ops[i].kind != STORE_OP_GET && b->ops[i].kind != STORE_OP_PGET;
    }
    if (!writing) {
        mdb_cursor_close(cur);
        mdb_txn_abort(txn);
        return rc;
    }
    /* at least as many records looked at as written: the expired ones
     * cannot pile up faster than they are found */
    if (rc == 0)
        rc = sweep(e, cur, now, SWEEP_BASE + nwrite, &removed);
    if (rc == 0)
        return mdb_txn_commit(txn); /* closes the cursor */
    mdb_txn_abort(txn);
    return rc;
}

/* recover - after error rc, make the next attempt possible: adopt or grow
 * the map, clear stale readers, at the limit sweep hard once.  1 to try
 * again, 0 to give up with *why. */
static int recover(struct store *st, struct lmdb_env *e, int rc, time_t now, int *rescued,
                   const char **why)
{
    int dead = 0, again = 0;
    MDB_envinfo info;
    pthread_rwlock_wrlock(&e->maplock); /* no transaction of ours is active */
    switch (rc) {
    case MDB_MAP_RESIZED: /* another process grew it */
        again = mdb_env_set_mapsize(e->env, 0) == 0;
        if (again && mdb_env_info(e->env, &info) == 0)
            e->mapsize = info.me_mapsize;
        *why = "lmdb: cannot adopt the new map size";
        break;
    case MDB_MAP_FULL:
        /* pages freed while a dead process still held a snapshot cannot
         * be reused until its reader slot is cleared */
        if (mdb_reader_check(e->env, &dead) == 0 && dead > 0) {
            store_log(st, LOG_NOTICE, "store=lmdb path=%s cleared %d stale reader(s)", e->path,
                      dead);
            again = 1;
        } else if (e->mapsize < e->maxsize) {
            size_t n = e->mapsize > e->maxsize / 2 ? e->maxsize : e->mapsize * 2;
            again = mdb_env_set_mapsize(e->env, n) == 0;
            if (again && mdb_env_info(e->env, &info) == 0)
                e->mapsize = info.me_mapsize;
            store_log(st, LOG_INFO, "store=lmdb path=%s map grown to %zu bytes", e->path,
                      e->mapsize);
        } else if (!*rescued) {
            *rescued = 1;
            again = rescue_sweep(st, e, now) == 0;
        } else {
            store_log(st, LOG_ERR, "store=lmdb path=%s full at maxsize %zu bytes", e->path,
                      e->maxsize);
        }
        *why = "lmdb: store full";
        break;
    case MDB_READERS_FULL:
        again = mdb_reader_check(e->env, &dead) == 0 && dead > 0;
        *why = "lmdb: too many readers";
        break;
    default:
        store_log(st, LOG_ERR, "store=lmdb path=%s: %s", e->path, mdb_strerror(rc));
        *why = "lmdb: error";
        break;
    }
    pthread_rwlock_unlock(&e->maplock);
    return again;
}

void store_lmdb_run(struct store_batch *b)
{
    struct store *st = b->conn->st;
    const char *why = "lmdb: cannot open the store";
    struct lmdb_env *e = env_get(st, &why);
    int writing = 0, rescued = 0;
    size_t mark = b->len;
    if (e) {
        for (size_t i = 0; i < b->n; i++)
            writing |= b->ops[i].kind != STORE_OP_GET && b->ops[i].kind != STORE_OP_PGET;
        time_t now = store_now(st);
        for (int n = 0; n < LMDB_ATTEMPTS; n++) {
            pthread_rwlock_rdlock(&e->maplock);
            int rc = attempt(b, e, writing, now);
            pthread_rwlock_unlock(&e->maplock);
            if (rc == 0)
                return;
            /* discard this attempt's results */
            b->len = mark;
            b->pending = b->n;
            for (size_t i = 0; i < b->n; i++)
                b->ops[i].res = (struct store_result){0};
            if (!recover(st, e, rc, now, &rescued, &why))
                break;
        }
    }
    for (size_t i = 0; i < b->n; i++)
        store_op_finish(b, i, STORE_ERROR, why);
}

/* ------------------------------------------------------------ inspection */

int store_lmdb_check_readers(struct store *st)
{
    const char *why;
    struct lmdb_env *e = env_get(st, &why);
    int dead = 0;
    if (!e || mdb_reader_check(e->env, &dead) != 0)
        return -1;
    return dead;
}

int store_lmdb_info(struct store *st, struct store_lmdb_info *info)
{
    const char *why;
    struct lmdb_env *e = env_get(st, &why);
    MDB_stat ms;
    MDB_envinfo ei;
    if (!e)
        return -1;
    memset(info, 0, sizeof(*info));
    pthread_mutex_lock(&reg_lock);
    info->refs = e->refs;
    pthread_mutex_unlock(&reg_lock);
    info->env = e;
    pthread_rwlock_rdlock(&e->maplock);
    info->mapsize = e->mapsize;
    info->maxsize = e->maxsize;
    if (mdb_env_stat(e->env, &ms) == 0)
        info->entries = ms.ms_entries;
    if (mdb_env_info(e->env, &ei) == 0)
        info->readers = ei.me_numreaders;
    pthread_rwlock_unlock(&e->maplock);
    return 0;
}
