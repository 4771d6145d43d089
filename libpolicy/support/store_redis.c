/*
 * store_redis.c - the store in Redis, through hiredis's async API driven
 * by the session's waiter: a batch is one pipeline, answers are collected
 * with every other socket of the stage, and nothing waits beyond the
 * store's timeouts.  A connection that failed (down, slow, AUTH refused)
 * is remembered for the rest of the session: one timeout per session, not
 * one per question; the next session connects afresh.
 *
 * Each operation is atomic on the server; a batch as a whole is not (it
 * needs not be: MULTI/EXEC could not branch on a read either).  Increment
 * with a TTL is a small Lua script, so that the counter and its expiry are
 * set together: INCRBY then EXPIRE as two commands would leave a counter
 * without expiry, forever, if the client died between them.
 *
 * hiredis is loaded with the first connection (dynlib.h): a process whose
 * configuration has no Redis store never maps it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <syslog.h>

#include "dynlib.h"
#include "store_impl.h"
#include "waiter.h"

#define REDIS_FNS(X)                                                                               \
    X(redisAsyncConnect)                                                                           \
    X(redisAsyncConnectUnix) X(redisAsyncFree) X(redisAsyncCommand) X(redisAsyncCommandArgv)       \
        X(redisAsyncHandleRead) X(redisAsyncHandleWrite) X(redisAsyncSetConnectCallback)
static struct {
    REDIS_FNS(DYNLIB_FN)
} rf;
#define REDIS_SYM(f) DYNLIB_SYM(rf, f)
static const struct dynlib_sym redis_syms[] = {REDIS_FNS(REDIS_SYM)};
static struct dynlib redis_lib = DYNLIB_INIT(SONAME_HIREDIS, redis_syms);
#define redisAsyncConnect            (*rf.redisAsyncConnect)
#define redisAsyncConnectUnix        (*rf.redisAsyncConnectUnix)
#define redisAsyncFree               (*rf.redisAsyncFree)
#define redisAsyncCommand            (*rf.redisAsyncCommand)
#define redisAsyncCommandArgv        (*rf.redisAsyncCommandArgv)
#define redisAsyncHandleRead         (*rf.redisAsyncHandleRead)
#define redisAsyncHandleWrite        (*rf.redisAsyncHandleWrite)
#define redisAsyncSetConnectCallback (*rf.redisAsyncSetConnectCallback)

/* KEYS[1] += ARGV[1]; the TTL ARGV[2] is set when the counter has none
 * yet, or every time when ARGV[3] is "1".  Its SHA-1 is checked against
 * the server's answer to SCRIPT LOAD (and by the unit tests). */
const char store_redis_script[] =
    "local v = redis.call('INCRBY', KEYS[1], ARGV[1])\n"
    "local t = tonumber(ARGV[2])\n"
    "if t > 0 and (ARGV[3] == '1' or redis.call('TTL', KEYS[1]) == -1) then\n"
    "  redis.call('EXPIRE', KEYS[1], t)\n"
    "end\n"
    "return v\n";
const char store_redis_script_sha[] = "2398e3b69d57a7dd2339c55aff61322bcd61cfa2";

/* A pair: KEYS[1] is a hash, a += ARGV[1], b += ARGV[2]; a pair of zeros
 * is deleted, else ARGV[3] > 0 is its new expiry (unix seconds, kept in e
 * so that a read sees it).  The counters come back as the hash holds them
 * (Lua numbers are doubles: they are not returned through Lua). */
const char store_redis_pair_script[] = "local a = redis.call('HINCRBY', KEYS[1], 'a', ARGV[1])\n"
                                       "local b = redis.call('HINCRBY', KEYS[1], 'b', ARGV[2])\n"
                                       "if a == 0 and b == 0 then\n"
                                       "  redis.call('DEL', KEYS[1])\n"
                                       "elseif tonumber(ARGV[3]) > 0 then\n"
                                       "  redis.call('HSET', KEYS[1], 'e', ARGV[3])\n"
                                       "  redis.call('EXPIREAT', KEYS[1], ARGV[3])\n"
                                       "end\n"
                                       "return redis.call('HMGET', KEYS[1], 'a', 'b')\n";
const char store_redis_pair_script_sha[] = "9e92547b67f7ffd3d2ca15cb71575565168eeb6c";

/* The scripts a connection loads (SCRIPT LOAD) before a batch needs them. */
static const struct script {
    const char *what; /* for setup_reply and the log */
    const char *text, *sha;
} scripts[] = {
    {"SCRIPT LOAD", store_redis_script, store_redis_script_sha},
    {"SCRIPT LOAD (pair)", store_redis_pair_script, store_redis_pair_script_sha},
};

struct rconn {
    struct wsource src; /* first: the waiter hands us this pointer */
    struct store_conn *c;
    redisAsyncContext *ac;
    int reading, writing; /* what hiredis asked the event loop for */
    int connected;
    unsigned scripts_sent; /* bit i: scripts[i] was loaded on this connection */
    double connect_deadline;
    struct store_batch *inflight; /* started, not yet answered */
};

int store_redis_resolve(struct store *st, char *err, size_t errlen)
{
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(st->uri.host, NULL, &hints, &res);
    if (rc != 0 || !res) {
        snprintf(err, errlen, "store URI: redis: cannot resolve %s: %s", st->uri.host,
                 rc ? gai_strerror(rc) : "no address");
        return -1;
    }
    const void *a = res->ai_family == AF_INET6
                        ? (const void *)&((struct sockaddr_in6 *)res->ai_addr)->sin6_addr
                        : (const void *)&((struct sockaddr_in *)res->ai_addr)->sin_addr;
    const char *ok = inet_ntop(res->ai_family, a, st->addr, sizeof(st->addr));
    freeaddrinfo(res);
    if (!ok) {
        snprintf(err, errlen, "store URI: redis: cannot use the address of %s", st->uri.host);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------ batches in flight */

static void inflight_del(struct rconn *rc, struct store_batch *b)
{
    for (struct store_batch **pp = &rc->inflight; *pp; pp = &(*pp)->next_inflight)
        if (*pp == b) {
            *pp = b->next_inflight;
            b->next_inflight = NULL;
            return;
        }
}

/* fail - give up the connection for this session: every operation still
 * waiting ends with why, and so will every later batch. */
static void fail(struct rconn *rc, const char *why)
{
    store_conn_fail(rc->c, why);
    if (rc->ac) {
        redisAsyncContext *ac = rc->ac;
        redisAsyncFree(ac); /* runs the waiting callbacks with no reply */
        rc->ac = NULL;
    }
    while (rc->inflight) {
        struct store_batch *b = rc->inflight;
        for (size_t i = 0; i < b->n; i++)
            store_op_finish(b, i, STORE_ERROR, rc->c->failed);
        inflight_del(rc, b);
    }
    waiter_del(rc->c->w, &rc->src);
}

/* lost - the reason a reply did not come, from hiredis's error. */
static const char *lost(struct rconn *rc, const redisAsyncContext *ac)
{
    if (!rc->c->failed) {
        char why[160];
        snprintf(why, sizeof(why), "redis: %s", ac && ac->err ? ac->errstr : "connection lost");
        store_conn_fail(rc->c, why);
    }
    return rc->c->failed;
}

/* printable - "redis: " and the server's text into out: printable ASCII,
 * bounded (it goes to the log). */
static const char *printable(char *out, size_t outlen, const char *what, const char *s, size_t n)
{
    size_t k = (size_t)snprintf(out, outlen, "redis: %s", what);
    if (k >= outlen)
        k = outlen - 1;
    for (size_t i = 0; i < n && k + 1 < outlen; i++)
        out[k++] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
    out[k] = '\0';
    return out;
}

/* error_text - a Redis error reply as the batch's why (the first one). */
static const char *error_text(struct store_batch *b, const redisReply *r)
{
    if (!b->err_text[0])
        printable(b->err_text, sizeof(b->err_text), "", r->str, r->len);
    return b->err_text;
}

/* reply_int - an element of a pair's answer: nil is 0 (*nil set), a
 * decimal string its number.  0, or -1 when it is neither. */
static int reply_int(const redisReply *e, int64_t *v, int *nil)
{
    *v = 0;
    if (e->type == REDIS_REPLY_NIL) {
        (*nil)++;
        return 0;
    }
    if (e->type == REDIS_REPLY_INTEGER) {
        *v = e->integer;
        return 0;
    }
    return e->type == REDIS_REPLY_STRING && store_parse_int(e->str, e->len, v) == 0 ? 0 : -1;
}

/* pair_reply - HMGET a b e (get) or the pair script's HMGET a b (add). */
static void pair_reply(struct store_batch *b, size_t i, const redisReply *r)
{
    struct store_op *op = &b->ops[i];
    size_t want = op->kind == STORE_OP_PGET ? 3 : 2;
    int64_t v[3] = {0, 0, 0};
    int nil = 0;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != want) {
        store_op_finish(b, i, STORE_ERROR, "redis: unexpected reply to a pair");
        return;
    }
    for (size_t k = 0; k < want; k++)
        if (reply_int(r->element[k], &v[k], &nil) < 0) {
            store_op_finish(b, i, STORE_ERROR, "not a pair");
            return;
        }
    op->res.value = v[0];
    op->res.value2 = v[1];
    op->res.expires = v[2] > 0 ? (uint64_t)v[2] : 0;
    if (op->kind == STORE_OP_PGET && nil >= 2 && r->element[0]->type == REDIS_REPLY_NIL &&
        r->element[1]->type == REDIS_REPLY_NIL)
        store_op_finish(b, i, STORE_NOTFOUND, NULL);
    else
        store_op_finish(b, i, STORE_FOUND, NULL);
}

/* op_reply - the answer to the next operation of the batch (replies come
 * in the order the commands went out). */
static void op_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    struct store_batch *b = priv;
    struct rconn *rc = ac->data;
    const redisReply *r = reply;
    size_t i = b->next_reply++;
    if (i >= b->n)
        return;
    struct store_op *op = &b->ops[i];
    if (!r) {
        store_op_finish(b, i, STORE_ERROR, lost(rc, ac));
    } else if (r->type == REDIS_REPLY_ERROR) {
        store_op_finish(b, i, STORE_ERROR, error_text(b, r));
    } else {
        switch (op->kind) {
        case STORE_OP_GET:
            if (r->type == REDIS_REPLY_STRING && r->len > STORE_VALUE_MAX)
                store_op_finish(b, i, STORE_ERROR, "redis: value too long");
            else if (r->type == REDIS_REPLY_STRING)
                store_op_value(b, i, r->str, r->len);
            else if (r->type == REDIS_REPLY_NIL)
                store_op_finish(b, i, STORE_NOTFOUND, NULL);
            else
                store_op_finish(b, i, STORE_ERROR, "redis: unexpected reply to GET");
            break;
        case STORE_OP_SET:
            store_op_finish(b, i, r->type == REDIS_REPLY_STATUS ? STORE_FOUND : STORE_ERROR,
                            "redis: unexpected reply to SET");
            break;
        case STORE_OP_ADD: /* SET NX: OK = it was absent, now stored */
            if (r->type == REDIS_REPLY_STATUS)
                store_op_finish(b, i, STORE_NOTFOUND, NULL);
            else if (r->type == REDIS_REPLY_NIL)
                store_op_finish(b, i, STORE_FOUND, NULL);
            else
                store_op_finish(b, i, STORE_ERROR, "redis: unexpected reply to SET NX");
            break;
        case STORE_OP_INCR:
            if (r->type == REDIS_REPLY_INTEGER) {
                op->res.value = r->integer;
                store_op_finish(b, i, STORE_FOUND, NULL);
            } else {
                store_op_finish(b, i, STORE_ERROR, "redis: unexpected reply to the increment");
            }
            break;
        case STORE_OP_DEL:
            if (r->type == REDIS_REPLY_INTEGER)
                store_op_finish(b, i, r->integer > 0 ? STORE_FOUND : STORE_NOTFOUND, NULL);
            else
                store_op_finish(b, i, STORE_ERROR, "redis: unexpected reply to DEL");
            break;
        case STORE_OP_PGET:
        case STORE_OP_PADD:
            pair_reply(b, i, r);
            break;
        }
    }
    if (b->pending == 0)
        inflight_del(rc, b);
}

/* setup_reply - AUTH, SELECT and SCRIPT LOAD: a refusal fails the session's
 * connection (the operations behind them get their own error replies). */
static void setup_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    struct rconn *rc = ac->data;
    const redisReply *r = reply;
    const char *what = priv;
    char why[160];
    if (!r) {
        lost(rc, ac);
        return;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        char head[32];
        snprintf(head, sizeof(head), "%s refused: ", what);
        printable(why, sizeof(why), head, r->str, r->len);
        store_conn_fail(rc->c, why);
        store_log(rc->c->st, LOG_WARNING, "store=redis %s", why);
    } else {
        for (size_t k = 0; k < sizeof(scripts) / sizeof(*scripts); k++)
            if (what == scripts[k].what &&
                (r->type != REDIS_REPLY_STRING || strcmp(r->str, scripts[k].sha) != 0))
                store_conn_fail(rc->c, "redis: a script has another digest");
    }
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    struct rconn *rc = ac->data;
    if (status == REDIS_OK) {
        /* from now on the batches have their command timeout, no more */
        double end = waiter_now_ms() + store_conn_timeout(rc->c);
        rc->connected = 1;
        for (struct store_batch *b = rc->inflight; b; b = b->next_inflight)
            if (b->deadline > end)
                b->deadline = end;
        return;
    }
    char why[160];
    snprintf(why, sizeof(why), "redis: cannot connect: %s", ac->errstr);
    store_conn_fail(rc->c, why);
}

/* ------------------------------------------------------------ the event adapter */

static void ev_add_read(void *p)
{
    ((struct rconn *)p)->reading = 1;
}
static void ev_del_read(void *p)
{
    ((struct rconn *)p)->reading = 0;
}
static void ev_add_write(void *p)
{
    ((struct rconn *)p)->writing = 1;
}
static void ev_del_write(void *p)
{
    ((struct rconn *)p)->writing = 0;
}
/* ev_cleanup - hiredis frees the context after this: forget it. */
static void ev_cleanup(void *p)
{
    struct rconn *rc = p;
    rc->reading = rc->writing = 0;
    rc->ac = NULL;
}

static double earliest(const struct rconn *rc)
{
    double d = rc->connected ? 0 : rc->connect_deadline;
    for (const struct store_batch *b = rc->inflight; b; b = b->next_inflight)
        if (d == 0 || b->deadline < d)
            d = b->deadline;
    return d;
}

static int src_fds(struct wsource *s, struct pollfd *pfd, int max, double *deadline)
{
    struct rconn *rc = (struct rconn *)s;
    *deadline = 0;
    if (!rc->ac || !rc->inflight || max < 1)
        return 0;
    *deadline = earliest(rc);
    pfd[0].fd = rc->ac->c.fd;
    pfd[0].events = (short)((rc->reading ? POLLIN : 0) | (rc->writing ? POLLOUT : 0));
    pfd[0].revents = 0;
    return 1;
}

/* write_quietly - hiredis writes with write(2): a peer that went away must
 * cost an error, not the process (SIGPIPE), whatever the program did with
 * the signal. */
static void write_quietly(redisAsyncContext *ac)
{
    sigset_t pipe, old, pending;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, &old);
    sigpending(&pending);
    int had = sigismember(&pending, SIGPIPE);
    redisAsyncHandleWrite(ac);
    sigpending(&pending);
    if (!had && sigismember(&pending, SIGPIPE)) {
        struct timespec zero = {0, 0};
        while (sigtimedwait(&pipe, NULL, &zero) < 0 && errno == EINTR)
            ;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static void src_process(struct wsource *s, const struct pollfd *pfd, int n, double now)
{
    struct rconn *rc = (struct rconn *)s;
    if (n > 0 && rc->ac) {
        short re = pfd[0].revents;
        if (re & (POLLIN | POLLERR | POLLHUP | POLLNVAL))
            redisAsyncHandleRead(rc->ac);
        if (rc->ac && (re & POLLOUT))
            write_quietly(rc->ac);
    }
    if (!rc->ac) {
        if (rc->inflight)
            fail(rc, rc->c->failed ? rc->c->failed : "redis: connection lost");
        else
            waiter_del(rc->c->w, &rc->src);
        return;
    }
    if (!rc->connected && now >= rc->connect_deadline)
        fail(rc, "redis: connect timed out");
    else if (rc->inflight && now >= earliest(rc))
        fail(rc, "redis: timed out");
    else if (!rc->inflight)
        waiter_del(rc->c->w, &rc->src);
}

static const struct wsource_ops src_ops = {src_fds, src_process};

/* ------------------------------------------------------------ connecting */

/* setup - AUTH and SELECT, queued before anything else. */
static void setup(struct rconn *rc)
{
    const struct store_uri *u = &rc->c->st->uri;
    if (u->password[0]) {
        const char *argv[3] = {"AUTH", u->user, u->password};
        if (!u->user[0])
            argv[1] = u->password; /* AUTH PASSWORD, before Redis 6's users */
        redisAsyncCommandArgv(rc->ac, setup_reply, "AUTH", u->user[0] ? 3 : 2, argv, NULL);
    }
    if (u->db)
        redisAsyncCommand(rc->ac, setup_reply, "SELECT", "SELECT %d", u->db);
}

/* connect_now - start connecting; 0, or -1 with the conn failed. */
static int connect_now(struct rconn *rc, double now)
{
    const struct store *st = rc->c->st;
    if (dynlib_load(&redis_lib) != 0) {
        char why[300];
        snprintf(why, sizeof(why), "redis: %s", dynlib_error(&redis_lib));
        store_conn_fail(rc->c, why);
        return -1;
    }
    redisAsyncContext *ac = st->uri.path[0] ? redisAsyncConnectUnix(st->uri.path)
                                            : redisAsyncConnect(st->addr, st->uri.port);
    if (!ac) {
        store_conn_fail(rc->c, "redis: out of memory");
        return -1;
    }
    if (ac->err) {
        char why[160];
        snprintf(why, sizeof(why), "redis: cannot connect: %s", ac->errstr);
        store_conn_fail(rc->c, why);
        redisAsyncFree(ac);
        return -1;
    }
    (void)fcntl(ac->c.fd, F_SETFD, FD_CLOEXEC); /* never into qmail-queue or a scanner */
    rc->ac = ac;
    rc->connected = 0;
    rc->scripts_sent = 0;
    rc->connect_deadline = now + st->uri.connect_timeout_ms;
    ac->data = rc;
    ac->ev.data = rc;
    ac->ev.addRead = ev_add_read;
    ac->ev.delRead = ev_del_read;
    ac->ev.addWrite = ev_add_write;
    ac->ev.delWrite = ev_del_write;
    ac->ev.cleanup = ev_cleanup;
    redisAsyncSetConnectCallback(ac, on_connect);
    setup(rc);
    return 0;
}

/* send_op - queue operation i; 0 or -1 when hiredis would not. */
static int send_op(struct rconn *rc, struct store_batch *b, size_t i)
{
    struct store_op *op = &b->ops[i];
    const char *argv[8];
    size_t len[8];
    char n1[24], n2[24];
    int argc = 0;
#define ARG(p, l) (argv[argc] = (const char *)(p), len[argc++] = (l))
    const unsigned char *key = b->buf + op->key_off;
    switch (op->kind) {
    case STORE_OP_GET:
        ARG("GET", 3);
        ARG(key, op->key_len);
        break;
    case STORE_OP_SET:
    case STORE_OP_ADD:
        ARG("SET", 3);
        ARG(key, op->key_len);
        ARG(b->buf + op->val_off, op->val_len);
        if (op->kind == STORE_OP_ADD)
            ARG("NX", 2);
        if (op->ttl) {
            ARG("EX", 2);
            ARG(n1, store_format_int(op->ttl, n1));
        }
        break;
    case STORE_OP_INCR:
        ARG("EVALSHA", 7);
        ARG(store_redis_script_sha, strlen(store_redis_script_sha));
        ARG("1", 1);
        ARG(key, op->key_len);
        ARG(n1, store_format_int(op->delta, n1));
        ARG(n2, store_format_int(op->ttl, n2));
        ARG(op->renew ? "1" : "0", 1);
        break;
    case STORE_OP_DEL:
        ARG("DEL", 3);
        ARG(key, op->key_len);
        break;
    case STORE_OP_PGET:
        ARG("HMGET", 5);
        ARG(key, op->key_len);
        ARG("a", 1);
        ARG("b", 1);
        ARG("e", 1);
        break;
    case STORE_OP_PADD: {
        char n3[24];
        uint64_t until = op->ttl ? (uint64_t)time(NULL) + op->ttl : 0;
        ARG("EVALSHA", 7);
        ARG(store_redis_pair_script_sha, strlen(store_redis_pair_script_sha));
        ARG("1", 1);
        ARG(key, op->key_len);
        ARG(n1, store_format_int(op->delta, n1));
        ARG(n2, store_format_int(op->delta2, n2));
        ARG(n3, store_format_int((int64_t)until, n3));
        return redisAsyncCommandArgv(rc->ac, op_reply, b, argc, argv, len) == REDIS_OK ? 0 : -1;
    }
    }
#undef ARG
    return redisAsyncCommandArgv(rc->ac, op_reply, b, argc, argv, len) == REDIS_OK ? 0 : -1;
}

void store_redis_start(struct store_batch *b)
{
    struct store_conn *c = b->conn;
    struct rconn *rc = c->redis;
    double now = waiter_now_ms();
    if (!rc) {
        if (!(rc = calloc(1, sizeof(*rc)))) {
            for (size_t i = 0; i < b->n; i++)
                store_op_finish(b, i, STORE_ERROR, "out of memory");
            return;
        }
        rc->src.ops = &src_ops;
        rc->c = c;
        c->redis = rc;
    }
    if (!rc->ac && connect_now(rc, now) < 0) {
        for (size_t i = 0; i < b->n; i++)
            store_op_finish(b, i, STORE_ERROR, c->failed);
        return;
    }
    unsigned need = 0;
    for (size_t i = 0; i < b->n; i++)
        need |= b->ops[i].kind == STORE_OP_INCR ? 1u : b->ops[i].kind == STORE_OP_PADD ? 2u : 0u;
    for (size_t k = 0; k < sizeof(scripts) / sizeof(*scripts); k++)
        if ((need & ~rc->scripts_sent) & (1u << k)) {
            const char *argv[3] = {"SCRIPT", "LOAD", scripts[k].text};
            redisAsyncCommandArgv(rc->ac, setup_reply, (void *)scripts[k].what, 3, argv, NULL);
            rc->scripts_sent |= 1u << k;
        }
    b->next_reply = 0;
    b->err_text[0] = '\0';
    b->deadline = now + store_conn_timeout(c) + (rc->connected ? 0 : c->st->uri.connect_timeout_ms);
    for (size_t i = 0; i < b->n; i++)
        if (send_op(rc, b, i) < 0) {
            for (size_t j = i; j < b->n; j++)
                store_op_finish(b, j, STORE_ERROR, "redis: cannot queue the command");
            break;
        }
    if (b->pending) {
        b->next_inflight = rc->inflight;
        rc->inflight = b;
        waiter_add(c->w, &rc->src);
    }
}

void store_redis_abandon(struct store_batch *b)
{
    struct rconn *rc = b->conn->redis;
    if (rc && rc->ac) {
        for (struct store_batch *x = rc->inflight; x; x = x->next_inflight)
            if (x == b) {
                fail(rc, b->pending ? "redis: a batch was abandoned" : rc->c->failed);
                break;
            }
    }
    if (rc)
        inflight_del(rc, b);
    for (size_t i = 0; i < b->n; i++)
        store_op_finish(b, i, STORE_ERROR, "redis: abandoned");
}

void store_redis_conn_free(struct store_conn *c)
{
    struct rconn *rc = c->redis;
    if (!rc)
        return;
    if (rc->ac) {
        rc->inflight = NULL; /* the batches are gone already */
        redisAsyncFree(rc->ac);
        rc->ac = NULL;
    }
    waiter_del(c->w, &rc->src);
    free(rc);
    c->redis = NULL;
}
