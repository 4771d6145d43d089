/*
 * store.c - the part of the state service both stores share: the URI, the
 * key and record encodings, batches and their results.  Every input is
 * bounded (namespace, key, value, batch size); every operation of a
 * started batch ends with exactly one result, found, not found or error.
 */
#include <ctype.h>
#include <endian.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_impl.h"
#include "waiter.h"

#define DEF_MAPSIZE    (16ULL << 20)
#define DEF_MAXSIZE    (1ULL << 30)
#define MIN_MAPSIZE    (64ULL << 10)
#define DEF_TIMEOUT_MS 250

/* ------------------------------------------------------------ encodings */

int store_ns_ok(const char *ns)
{
    size_t n = 0;
    if (!ns)
        return 0;
    for (; ns[n]; n++) {
        unsigned char c = (unsigned char)ns[n];
        if (n >= STORE_NS_MAX ||
            !((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
            return 0;
    }
    return n > 0;
}

size_t store_key_encode(const char *prefix, const char *ns, const void *key, size_t klen,
                        unsigned char *out, size_t outlen)
{
    size_t plen = prefix ? strlen(prefix) : 0;
    if (plen > STORE_PREFIX_MAX || !store_ns_ok(ns) || klen == 0 || klen > STORE_KEY_MAX)
        return 0;
    size_t nlen = strlen(ns);
    size_t total = plen + nlen + 1 + klen;
    if (total > outlen)
        return 0;
    memcpy(out, prefix, plen);
    memcpy(out + plen, ns, nlen);
    out[plen + nlen] = ':';
    memcpy(out + plen + nlen + 1, key, klen);
    return total;
}

static void put_be64(unsigned char *p, uint64_t v)
{
    v = htobe64(v);
    memcpy(p, &v, 8);
}

static uint64_t get_be64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return be64toh(v);
}

size_t store_rec_encode(const struct store_rec *r, unsigned char *out, size_t outlen)
{
    size_t plen;
    if (r->kind == STORE_REC_BYTES) {
        if (r->len > STORE_VALUE_MAX || (r->len && !r->data))
            return 0;
        plen = r->len;
    } else if (r->kind == STORE_REC_COUNTER) {
        plen = 8;
    } else if (r->kind == STORE_REC_PAIR) {
        plen = 16;
    } else {
        return 0;
    }
    if (outlen < STORE_REC_HEADER + plen)
        return 0;
    out[0] = (unsigned char)r->kind;
    put_be64(out + 1, r->expires);
    if (r->kind == STORE_REC_COUNTER || r->kind == STORE_REC_PAIR)
        put_be64(out + STORE_REC_HEADER, (uint64_t)r->counter);
    if (r->kind == STORE_REC_PAIR)
        put_be64(out + STORE_REC_HEADER + 8, (uint64_t)r->counter2);
    else if (r->kind == STORE_REC_BYTES && plen)
        memcpy(out + STORE_REC_HEADER, r->data, plen);
    return STORE_REC_HEADER + plen;
}

int store_rec_decode(const void *buf, size_t len, struct store_rec *r)
{
    const unsigned char *p = buf;
    memset(r, 0, sizeof(*r));
    if (len < STORE_REC_HEADER)
        return -1;
    r->expires = get_be64(p + 1);
    r->data = p + STORE_REC_HEADER;
    r->len = len - STORE_REC_HEADER;
    switch (p[0]) {
    case STORE_REC_BYTES:
        if (r->len > STORE_VALUE_MAX)
            return -1;
        r->kind = STORE_REC_BYTES;
        return 0;
    case STORE_REC_COUNTER:
        if (r->len != 8)
            return -1;
        r->kind = STORE_REC_COUNTER;
        r->counter = (int64_t)get_be64(r->data);
        return 0;
    case STORE_REC_PAIR:
        if (r->len != 16)
            return -1;
        r->kind = STORE_REC_PAIR;
        r->counter = (int64_t)get_be64(r->data);
        r->counter2 = (int64_t)get_be64(r->data + 8);
        return 0;
    default:
        return -1;
    }
}

int store_rec_expired(const struct store_rec *r, time_t now)
{
    return r->expires != 0 && now >= 0 && r->expires < (uint64_t)now;
}

int store_parse_int(const void *s, size_t n, int64_t *out)
{
    const unsigned char *p = s;
    size_t i = 0;
    int neg = 0;
    if (n == 0 || n > 20)
        return -1;
    if (p[0] == '-') {
        neg = 1;
        i = 1;
        if (n == 1)
            return -1;
    }
    if (p[i] == '0' && (n - i > 1 || neg))
        return -1; /* leading zero, or "-0" */
    uint64_t v = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        unsigned d = p[i] - '0';
        if (v > (lim - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

size_t store_format_int(int64_t v, char *out)
{
    char tmp[24];
    size_t n = 0, k = 0;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        out[k++] = '-';
    while (n)
        out[k++] = tmp[--n];
    out[k] = '\0';
    return k;
}

/* ------------------------------------------------------------ URI */

static void seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    if (!err || !errlen)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* decode - percent-decode s[0..n) into out (NUL-terminated); -1 when it
 * does not fit, has a bad escape, a NUL or a control character. */
static int decode(const char *s, size_t n, char *out, size_t outlen)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (c == '%') {
            int h, l;
            if (i + 2 >= n || (h = hexval(s[i + 1])) < 0 || (l = hexval(s[i + 2])) < 0)
                return -1;
            c = h * 16 + l;
            i += 2;
        }
        if (c < 0x20 || c == 0x7f || k + 1 >= outlen)
            return -1;
        out[k++] = (char)c;
    }
    out[k] = '\0';
    return 0;
}

/* number - a decimal in [lo, hi] from s[0..n); -1 when it is not. */
static long long number(const char *s, size_t n, long long lo, long long hi)
{
    long long v = 0;
    if (n == 0 || n > 12)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v < lo || v > hi ? -1 : v;
}

/* size - "16M", "65536", "1G" in bytes; 0 when it is not a size. */
static uint64_t size(const char *s, size_t n)
{
    uint64_t mult = 1;
    if (n && strchr("kKmMgG", s[n - 1])) {
        char c = (char)tolower(s[n - 1]);
        mult = c == 'k' ? 1ULL << 10 : c == 'm' ? 1ULL << 20 : 1ULL << 30;
        n--;
    }
    long long v = number(s, n, 1, 1LL << 40);
    if (v < 0 || (uint64_t)v > (1ULL << 44) / mult)
        return 0;
    return (uint64_t)v * mult;
}

/* query - apply "a=b&c=d" to u; -1 with err on an unknown or bad option. */
static int query(const char *q, struct store_uri *u, char *err, size_t errlen)
{
    while (q && *q) {
        const char *amp = strchr(q, '&');
        size_t n = amp ? (size_t)(amp - q) : strlen(q);
        const char *eq = memchr(q, '=', n);
        if (!eq) {
            seterr(err, errlen, "store URI: option without a value");
            return -1;
        }
        size_t kn = (size_t)(eq - q), vn = n - kn - 1;
        const char *v = eq + 1;
        char name[24];
        if (kn == 0 || kn >= sizeof(name)) {
            seterr(err, errlen, "store URI: bad option name");
            return -1;
        }
        memcpy(name, q, kn);
        name[kn] = '\0';
        int bad = 0;
        long long x;
        if (u->kind == STORE_KIND_LMDB && !strcmp(name, "mapsize")) {
            bad = (u->mapsize = size(v, vn)) < MIN_MAPSIZE;
        } else if (u->kind == STORE_KIND_LMDB && !strcmp(name, "maxsize")) {
            bad = (u->maxsize = size(v, vn)) < MIN_MAPSIZE;
        } else if (u->kind == STORE_KIND_LMDB && !strcmp(name, "sync")) {
            if (vn == 3 && !memcmp(v, "off", 3))
                u->sync = STORE_SYNC_OFF;
            else if (vn == 4 && !memcmp(v, "meta", 4))
                u->sync = STORE_SYNC_META;
            else if (vn == 4 && !memcmp(v, "full", 4))
                u->sync = STORE_SYNC_FULL;
            else
                bad = 1;
        } else if (u->kind == STORE_KIND_LMDB && !strcmp(name, "writemap")) {
            if (vn == 3 && !memcmp(v, "yes", 3))
                u->writemap = 1;
            else if (vn == 2 && !memcmp(v, "no", 2))
                u->writemap = 0;
            else
                bad = 1;
        } else if (u->kind == STORE_KIND_REDIS && !strcmp(name, "db")) {
            bad = (x = number(v, vn, 0, 1000000)) < 0;
            u->db = (int)x;
        } else if (u->kind == STORE_KIND_REDIS && !strcmp(name, "timeout")) {
            bad = (x = number(v, vn, 1, 60000)) < 0;
            u->timeout_ms = (unsigned)x;
        } else if (u->kind == STORE_KIND_REDIS && !strcmp(name, "connect_timeout")) {
            bad = (x = number(v, vn, 1, 60000)) < 0;
            u->connect_timeout_ms = (unsigned)x;
        } else if (u->kind == STORE_KIND_REDIS && !strcmp(name, "user")) {
            bad = decode(v, vn, u->user, sizeof(u->user)) < 0;
        } else if (u->kind == STORE_KIND_REDIS && !strcmp(name, "password")) {
            if (decode(v, vn, u->password, sizeof(u->password)) < 0) {
                seterr(err, errlen, "store URI: bad password");
                return -1;
            }
        } else if (u->kind == STORE_KIND_REDIS && !strcmp(name, "prefix")) {
            bad = decode(v, vn, u->prefix, sizeof(u->prefix)) < 0;
        } else {
            seterr(err, errlen, "store URI: unknown option \"%s\"", name);
            return -1;
        }
        if (bad) {
            seterr(err, errlen, "store URI: bad value for %s", name);
            return -1;
        }
        q = amp ? amp + 1 : NULL;
    }
    return 0;
}

/* userinfo - "[USER]:PASSWORD" or "USER" from s[0..n). */
static int userinfo(const char *s, size_t n, struct store_uri *u, char *err, size_t errlen)
{
    const char *colon = memchr(s, ':', n);
    size_t un = colon ? (size_t)(colon - s) : n;
    if (decode(s, un, u->user, sizeof(u->user)) < 0) {
        seterr(err, errlen, "store URI: bad user name");
        return -1;
    }
    if (colon && decode(colon + 1, n - un - 1, u->password, sizeof(u->password)) < 0) {
        seterr(err, errlen, "store URI: bad password");
        return -1;
    }
    return 0;
}

int store_uri_parse(const char *uri, struct store_uri *u, char *err, size_t errlen)
{
    memset(u, 0, sizeof(*u));
    u->mapsize = DEF_MAPSIZE;
    u->maxsize = DEF_MAXSIZE;
    u->timeout_ms = u->connect_timeout_ms = DEF_TIMEOUT_MS;
    u->port = 6379;
    if (!uri || strlen(uri) >= 4096) {
        seterr(err, errlen, "store URI: missing or too long");
        return -1;
    }
    const char *q = strchr(uri, '?');
    size_t end = q ? (size_t)(q - uri) : strlen(uri);
    if (!strncmp(uri, "lmdb:", 5)) {
        u->kind = STORE_KIND_LMDB;
        const char *p = uri + 5;
        if (!strncmp(p, "//", 2))
            p += 2;
        size_t n = (size_t)(uri + end - p);
        if (n == 0 || *p != '/' || decode(p, n, u->path, sizeof(u->path)) < 0) {
            seterr(err, errlen, "store URI: lmdb: needs an absolute path");
            return -1;
        }
    } else if (!strncmp(uri, "redis+unix://", 13)) {
        u->kind = STORE_KIND_REDIS;
        const char *p = uri + 13, *e = uri + end;
        if (*p != '/') {
            const char *at = memchr(p, '@', (size_t)(e - p));
            if (!at || userinfo(p, (size_t)(at - p), u, err, errlen) < 0) {
                if (!at)
                    seterr(err, errlen, "store URI: redis+unix: needs an absolute socket path");
                return -1;
            }
            p = at + 1;
        }
        if (p >= e || *p != '/' || decode(p, (size_t)(e - p), u->path, sizeof(u->path)) < 0 ||
            strlen(u->path) > 107) {
            seterr(err, errlen,
                   "store URI: redis+unix: needs an absolute socket path (at most 107 bytes)");
            return -1;
        }
        u->port = 0;
    } else if (!strncmp(uri, "redis://", 8)) {
        u->kind = STORE_KIND_REDIS;
        const char *p = uri + 8, *e = uri + end;
        const char *slash = memchr(p, '/', (size_t)(e - p));
        const char *ae = slash ? slash : e; /* end of the authority */
        const char *at = NULL;
        for (const char *x = p; x < ae; x++)
            if (*x == '@')
                at = x;
        if (at) {
            if (userinfo(p, (size_t)(at - p), u, err, errlen) < 0)
                return -1;
            p = at + 1;
        }
        const char *hs = p, *he, *port = NULL;
        if (*p == '[') {
            const char *rb = memchr(p, ']', (size_t)(ae - p));
            if (!rb) {
                seterr(err, errlen, "store URI: redis: unclosed [ in the host");
                return -1;
            }
            hs = p + 1;
            he = rb;
            if (rb + 1 < ae) {
                if (rb[1] != ':') {
                    seterr(err, errlen, "store URI: redis: junk after the host");
                    return -1;
                }
                port = rb + 2;
            }
        } else {
            const char *colon = memchr(p, ':', (size_t)(ae - p));
            he = colon ? colon : ae;
            port = colon ? colon + 1 : NULL;
        }
        size_t hn = (size_t)(he - hs);
        if (hn == 0 || hn >= sizeof(u->host)) {
            seterr(err, errlen, "store URI: redis: needs a host");
            return -1;
        }
        for (size_t i = 0; i < hn; i++)
            if (!(isalnum((unsigned char)hs[i]) || strchr(".-_:", hs[i]))) {
                seterr(err, errlen, "store URI: redis: bad host");
                return -1;
            }
        memcpy(u->host, hs, hn);
        u->host[hn] = '\0';
        if (port) {
            long long pv = number(port, (size_t)(ae - port), 1, 65535);
            if (pv < 0) {
                seterr(err, errlen, "store URI: redis: bad port");
                return -1;
            }
            u->port = (int)pv;
        }
        if (slash && slash + 1 < e) {
            long long db = number(slash + 1, (size_t)(e - slash - 1), 0, 1000000);
            if (db < 0) {
                seterr(err, errlen, "store URI: redis: bad database number");
                return -1;
            }
            u->db = (int)db;
        }
    } else {
        seterr(err, errlen, "store URI: unknown kind (lmdb:, redis://, redis+unix://)");
        return -1;
    }
    if (q && query(q + 1, u, err, errlen) < 0)
        return -1;
    if (u->kind == STORE_KIND_LMDB && u->mapsize > u->maxsize) {
        seterr(err, errlen, "store URI: mapsize is larger than maxsize");
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------ the store */

struct store *store_open(const char *uri, char *err, size_t errlen)
{
    struct store *st = calloc(1, sizeof(*st));
    if (!st) {
        seterr(err, errlen, "out of memory");
        return NULL;
    }
    if (store_uri_parse(uri, &st->uri, err, errlen) < 0) {
        free(st);
        return NULL;
    }
    pthread_mutex_init(&st->lock, NULL);
    if (st->uri.kind == STORE_KIND_REDIS && !st->uri.path[0] &&
        store_redis_resolve(st, err, errlen) < 0) {
        store_close(st);
        return NULL;
    }
    return st;
}

void store_close(struct store *st)
{
    if (!st)
        return;
    if (st->uri.kind == STORE_KIND_LMDB)
        store_lmdb_release(st);
    pthread_mutex_destroy(&st->lock);
    memset(st->uri.password, 0, sizeof(st->uri.password));
    free(st);
}

const char *store_kind(const struct store *st)
{
    return st->uri.kind == STORE_KIND_LMDB ? "lmdb" : "redis";
}

void store_set_log(struct store *st, void (*fn)(int, const char *, void *), void *ctx)
{
    st->log_fn = fn;
    st->log_ctx = ctx;
}

void store_set_clock(struct store *st, time_t (*now)(void))
{
    st->clock = now;
}

time_t store_now(const struct store *st)
{
    return st->clock ? st->clock() : time(NULL);
}

void store_log(const struct store *st, int level, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    if (!st->log_fn)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    st->log_fn(level, line, st->log_ctx);
}

/* ------------------------------------------------------------ conns */

struct store_conn *store_conn_new(struct store *st, struct waiter *w)
{
    struct store_conn *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->st = st;
    c->w = w;
    if (!w && st->uri.kind == STORE_KIND_REDIS) {
        if (!(c->w = waiter_new())) {
            free(c);
            return NULL;
        }
        c->own_waiter = 1;
    }
    return c;
}

void store_conn_set_timeout(struct store_conn *c, unsigned ms)
{
    c->timeout_ms = ms;
}

void store_conn_free(struct store_conn *c)
{
    if (!c)
        return;
    if (c->st->uri.kind == STORE_KIND_REDIS)
        store_redis_conn_free(c);
    if (c->own_waiter)
        waiter_free(c->w);
    free(c);
}

const char *store_conn_failed(const struct store_conn *c)
{
    return c->failed;
}

void store_conn_fail(struct store_conn *c, const char *why)
{
    if (c->failed)
        return; /* the first reason is the one that matters */
    snprintf(c->failed_buf, sizeof(c->failed_buf), "%s", why ? why : "store failed");
    c->failed = c->failed_buf;
}

/* ------------------------------------------------------------ batches */

struct store_batch *store_batch_new(struct store_conn *c, const char *ns)
{
    if (!store_ns_ok(ns))
        return NULL;
    struct store_batch *b = calloc(1, sizeof(*b));
    if (!b)
        return NULL;
    b->conn = c;
    snprintf(b->ns, sizeof(b->ns), "%s", ns);
    return b;
}

int store_batch_ns(struct store_batch *b, const char *ns)
{
    if (!store_ns_ok(ns))
        return -1;
    memcpy(b->ns, ns, strlen(ns) + 1); /* at most STORE_NS_MAX + 1 */
    return 0;
}

void store_batch_free(struct store_batch *b)
{
    if (!b)
        return;
    if (b->started && b->pending && b->conn->st->uri.kind == STORE_KIND_REDIS)
        store_redis_abandon(b);
    free(b->ops);
    free(b->buf);
    free(b);
}

void store_batch_reset(struct store_batch *b)
{
    if (b->started && b->pending && b->conn->st->uri.kind == STORE_KIND_REDIS)
        store_redis_abandon(b);
    b->n = 0;
    b->len = 0;
    b->started = 0;
    b->pending = 0;
}

size_t store_batch_size(const struct store_batch *b)
{
    return b->n;
}

long store_buf_put(struct store_batch *b, const void *data, size_t len)
{
    if (len > UINT32_MAX - b->len)
        return -1;
    if (b->len + len > b->bufcap) {
        size_t cap = b->bufcap ? b->bufcap : 1024;
        while (cap < b->len + len)
            cap *= 2;
        unsigned char *nb = realloc(b->buf, cap);
        if (!nb)
            return -1;
        b->buf = nb;
        b->bufcap = cap;
    }
    if (len)
        memcpy(b->buf + b->len, data, len);
    b->len += len;
    return (long)(b->len - len);
}

/* add - queue one operation with its encoded key (and value). */
static int add(struct store_batch *b, enum store_opkind kind, const void *key, size_t klen,
               const void *val, size_t vlen)
{
    unsigned char kbuf[STORE_PREFIX_MAX + STORE_NS_MAX + 1 + STORE_KEY_MAX];
    if (b->started || b->n >= STORE_BATCH_MAX || vlen > STORE_VALUE_MAX || (vlen && !val))
        return -1;
    const char *prefix = b->conn->st->uri.kind == STORE_KIND_REDIS ? b->conn->st->uri.prefix : "";
    size_t kn = store_key_encode(prefix, b->ns, key, klen, kbuf, sizeof(kbuf));
    if (kn == 0)
        return -1;
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 16;
        struct store_op *no = realloc(b->ops, cap * sizeof(*no));
        if (!no)
            return -1;
        b->ops = no;
        b->cap = cap;
    }
    size_t mark = b->len;
    long ko = store_buf_put(b, kbuf, kn);
    long vo = ko < 0 ? -1 : store_buf_put(b, val, vlen);
    if (vo < 0) {
        b->len = mark;
        return -1;
    }
    struct store_op *op = &b->ops[b->n];
    memset(op, 0, sizeof(*op));
    op->kind = kind;
    op->key_off = (uint32_t)ko;
    op->key_len = (uint32_t)kn;
    op->val_off = (uint32_t)vo;
    op->val_len = (uint32_t)vlen;
    return (int)b->n++;
}

int store_get(struct store_batch *b, const void *key, size_t klen)
{
    return add(b, STORE_OP_GET, key, klen, NULL, 0);
}

int store_set(struct store_batch *b, const void *key, size_t klen, const void *val, size_t vlen,
              unsigned ttl)
{
    int i = add(b, STORE_OP_SET, key, klen, val, vlen);
    if (i >= 0)
        b->ops[i].ttl = ttl;
    return i;
}

int store_add(struct store_batch *b, const void *key, size_t klen, const void *val, size_t vlen,
              unsigned ttl)
{
    int i = add(b, STORE_OP_ADD, key, klen, val, vlen);
    if (i >= 0)
        b->ops[i].ttl = ttl;
    return i;
}

static int incr(struct store_batch *b, const void *key, size_t klen, int64_t delta, unsigned ttl,
                int renew)
{
    int i = add(b, STORE_OP_INCR, key, klen, NULL, 0);
    if (i >= 0) {
        b->ops[i].delta = delta;
        b->ops[i].ttl = ttl;
        b->ops[i].renew = renew;
    }
    return i;
}

int store_incr(struct store_batch *b, const void *key, size_t klen, int64_t delta, unsigned ttl)
{
    return incr(b, key, klen, delta, ttl, 0);
}

int store_incr_renew(struct store_batch *b, const void *key, size_t klen, int64_t delta,
                     unsigned ttl)
{
    return incr(b, key, klen, delta, ttl, 1);
}

int store_del(struct store_batch *b, const void *key, size_t klen)
{
    return add(b, STORE_OP_DEL, key, klen, NULL, 0);
}

int store_pair_get(struct store_batch *b, const void *key, size_t klen)
{
    return add(b, STORE_OP_PGET, key, klen, NULL, 0);
}

int store_pair_add(struct store_batch *b, const void *key, size_t klen, int64_t d1, int64_t d2,
                   unsigned ttl)
{
    int i = add(b, STORE_OP_PADD, key, klen, NULL, 0);
    if (i >= 0) {
        b->ops[i].delta = d1;
        b->ops[i].delta2 = d2;
        b->ops[i].ttl = ttl;
        b->ops[i].renew = 1;
    }
    return i;
}

void store_op_finish(struct store_batch *b, size_t i, enum store_status status, const char *why)
{
    struct store_op *op = &b->ops[i];
    if (op->res.status != STORE_PENDING)
        return;
    op->res.status = status;
    op->res.why = status == STORE_ERROR ? (why ? why : "store error") : NULL;
    if (b->pending)
        b->pending--;
}

void store_op_value(struct store_batch *b, size_t i, const void *data, size_t len)
{
    struct store_op *op = &b->ops[i];
    long off = store_buf_put(b, data, len);
    if (off < 0) {
        store_op_finish(b, i, STORE_ERROR, "out of memory");
        return;
    }
    op->val_off = (uint32_t)off;
    op->val_len = (uint32_t)len;
    op->res.numeric = store_parse_int(data, len, &op->res.value) == 0;
    store_op_finish(b, i, STORE_FOUND, NULL);
}

void store_start(struct store_batch *b)
{
    if (b->started)
        return;
    b->started = 1;
    b->pending = b->n;
    for (size_t i = 0; i < b->n; i++)
        b->ops[i].res = (struct store_result){0};
    if (b->n == 0)
        return;
    if (b->conn->failed) {
        for (size_t i = 0; i < b->n; i++)
            store_op_finish(b, i, STORE_ERROR, b->conn->failed);
        return;
    }
    if (b->conn->st->uri.kind == STORE_KIND_LMDB)
        store_lmdb_run(b);
    else
        store_redis_start(b);
}

int store_done(const struct store_batch *b)
{
    return b->started && b->pending == 0;
}

static int batch_done(void *arg)
{
    return store_done(arg);
}

void store_wait(struct store_batch *b)
{
    if (!b->started)
        store_start(b);
    if (store_done(b) || b->conn->st->uri.kind != STORE_KIND_REDIS)
        return; /* LMDB is done when started */
    /* the Redis source gives up at b->deadline itself; the margin only
     * guards against a source that would not */
    waiter_run(b->conn->w, batch_done, b, b->deadline + 100);
    if (!store_done(b))
        store_redis_abandon(b);
}

void store_run(struct store_batch *b)
{
    store_start(b);
    store_wait(b);
}

const struct store_result *store_result(struct store_batch *b, int i)
{
    if (i < 0 || (size_t)i >= b->n)
        return NULL;
    struct store_op *op = &b->ops[i];
    if (op->kind == STORE_OP_GET && op->res.status == STORE_FOUND) {
        op->res.data = b->buf + op->val_off;
        op->res.len = op->val_len;
    } else {
        op->res.data = NULL;
        op->res.len = 0;
    }
    return &op->res;
}
