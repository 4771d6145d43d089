/*
 * fuzz_store.c - libFuzzer harness for the store's encodings and its LMDB
 * semantics.  The first byte picks what the rest is:
 *   0  a store URI: parsed or refused with a "store URI: " message; a
 *      parsed one has an absolute path or a host, sizes in order
 *   1  an LMDB record: a record that decodes encodes back to the same bytes
 *   2  a namespace and a key: the stored key splits back into both
 *   3  a decimal: one that parses formats back to the same text
 *   4  a program of batches (get, set, add, incr, incr-renew, del, pair
 *      get and pair add on eight keys, the clock moving between batches) run on a real LMDB file and
 *      on a model in memory: every result must be the model's, so expiry,
 *      sweeping and the order inside a batch are checked, not only crashes
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store_impl.h"

static void fuzz_uri(const uint8_t *d, size_t n)
{
    char s[600], err[256] = "";
    struct store_uri u;
    if (n >= sizeof(s))
        n = sizeof(s) - 1;
    memcpy(s, d, n);
    s[n] = '\0';
    if (store_uri_parse(s, &u, err, sizeof(err)) < 0) {
        if (strncmp(err, "store URI: ", 11) != 0)
            abort();
        return;
    }
    if (u.kind == STORE_KIND_LMDB && (u.path[0] != '/' || u.mapsize > u.maxsize))
        abort();
    if (u.kind == STORE_KIND_REDIS && !u.path[0] && (!u.host[0] || u.port < 1 || u.port > 65535))
        abort();
    if (u.kind == STORE_KIND_REDIS && u.path[0] && u.path[0] != '/')
        abort();
    if (strlen(u.prefix) > STORE_PREFIX_MAX || u.timeout_ms < 1 || u.connect_timeout_ms < 1)
        abort();
}

static void fuzz_record(const uint8_t *d, size_t n)
{
    struct store_rec r;
    unsigned char out[STORE_REC_MAX];
    if (store_rec_decode(d, n, &r) < 0)
        return;
    size_t m = store_rec_encode(&r, out, sizeof(out));
    if (m != n || memcmp(out, d, n) != 0)
        abort();
    (void)store_rec_expired(&r, 1700000000);
}

static void fuzz_key(const uint8_t *d, size_t n)
{
    char ns[48];
    const uint8_t *nul = memchr(d, 0, n < sizeof(ns) ? n : sizeof(ns));
    if (!nul)
        return;
    memcpy(ns, d, (size_t)(nul - d) + 1);
    const uint8_t *key = nul + 1;
    size_t klen = n - (size_t)(key - d);
    unsigned char out[STORE_PREFIX_MAX + STORE_NS_MAX + 1 + STORE_KEY_MAX];
    size_t m = store_key_encode("p:", ns, key, klen, out, sizeof(out));
    if (m == 0) {
        if (store_ns_ok(ns) && klen >= 1 && klen <= STORE_KEY_MAX)
            abort(); /* a valid key must fit */
        return;
    }
    size_t nl = strlen(ns);
    /* after the prefix, the first ':' ends the namespace */
    const unsigned char *colon = memchr(out + 2, ':', m - 2);
    if (!store_ns_ok(ns) || m != 2 + nl + 1 + klen || colon != out + 2 + nl ||
        memcmp(out + 2, ns, nl) != 0 || memcmp(colon + 1, key, klen) != 0)
        abort();
}

static void fuzz_int(const uint8_t *d, size_t n)
{
    int64_t v;
    char s[24];
    if (store_parse_int(d, n, &v) < 0)
        return;
    if (store_format_int(v, s) != n || memcmp(s, d, n) != 0)
        abort();
}

/* ------------------------------------------------------------ the model */

#define NKEYS 8

struct mrec {
    int present, counter, pair;
    char val[16];
    size_t len;
    int64_t num, num2; /* num2: a pair's second counter */
    uint64_t expires;
};

static struct mrec model[NKEYS];
static time_t clock_now;
static time_t fake_clock(void)
{
    return clock_now;
}

static int alive(const struct mrec *m)
{
    return m->present && (m->expires == 0 || m->expires >= (uint64_t)clock_now);
}

static char dir[64];

static void cleanup(void)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/state", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/state-lock", dir);
    unlink(path);
    rmdir(dir);
}

static struct store *lmdb_store(void)
{
    static struct store *st;
    if (!st) {
        char uri[128], err[256];
        snprintf(dir, sizeof(dir), "/tmp/fuzz_store.XXXXXX");
        if (!mkdtemp(dir))
            abort();
        atexit(cleanup);
        snprintf(uri, sizeof(uri), "lmdb:%s/state", dir);
        if (!(st = store_open(uri, err, sizeof(err))))
            abort();
        store_set_clock(st, fake_clock);
    }
    return st;
}

/* expect - what the model says operation (kind, key k, ...) returns, and
 * apply it to the model. */
static enum store_status expect(enum store_opkind kind, int renew, int k, const char *val,
                                size_t len, int64_t delta, int64_t delta2, unsigned ttl, char *out,
                                size_t *outlen, int64_t *num, int64_t *num2)
{
    struct mrec *m = &model[k];
    int live = alive(m);
    uint64_t exp = ttl ? (uint64_t)clock_now + ttl : 0;
    switch (kind) {
    case STORE_OP_GET:
        if (!live)
            return STORE_NOTFOUND;
        if (m->pair)
            return STORE_ERROR;
        if (m->counter) {
            *outlen = store_format_int(m->num, out);
        } else {
            memcpy(out, m->val, m->len);
            *outlen = m->len;
        }
        return STORE_FOUND;
    case STORE_OP_ADD:
        if (live)
            return STORE_FOUND;
        /* fall through */
    case STORE_OP_SET:
        m->present = 1;
        m->counter = m->pair = 0;
        memcpy(m->val, val, len);
        m->len = len;
        m->expires = exp;
        return kind == STORE_OP_ADD ? STORE_NOTFOUND : STORE_FOUND;
    case STORE_OP_INCR: {
        int64_t old = 0;
        if (live && m->pair)
            return STORE_ERROR;
        if (live && !m->counter && store_parse_int(m->val, m->len, &old) < 0)
            return STORE_ERROR;
        if (live && m->counter)
            old = m->num;
        if (live &&
            ((delta > 0 && old > INT64_MAX - delta) || (delta < 0 && old < INT64_MIN - delta)))
            return STORE_ERROR;
        if (live)
            exp = ttl && (renew || !m->expires) ? exp : m->expires;
        m->present = 1;
        m->counter = 1;
        m->pair = 0;
        m->num = old + delta;
        m->expires = exp;
        *num = m->num;
        return STORE_FOUND;
    }
    case STORE_OP_DEL:
        m->present = 0;
        return live ? STORE_FOUND : STORE_NOTFOUND;
    case STORE_OP_PGET:
        if (!live)
            return STORE_NOTFOUND;
        if (!m->pair)
            return STORE_ERROR;
        *num = m->num;
        *num2 = m->num2;
        return STORE_FOUND;
    case STORE_OP_PADD: {
        if (live && !m->pair)
            return STORE_ERROR;
        int64_t a = live ? m->num : 0, b = live ? m->num2 : 0;
        if ((delta > 0 && a > INT64_MAX - delta) || (delta < 0 && a < INT64_MIN - delta) ||
            (delta2 > 0 && b > INT64_MAX - delta2) || (delta2 < 0 && b < INT64_MIN - delta2))
            return STORE_ERROR;
        m->expires = ttl ? exp : live ? m->expires : 0;
        m->num = *num = a + delta;
        m->num2 = *num2 = b + delta2;
        m->pair = 1;
        m->counter = 0;
        m->present = m->num != 0 || m->num2 != 0; /* a pair of zeros is gone */
        return STORE_FOUND;
    }
    }
    return STORE_ERROR;
}

static void fuzz_program(const uint8_t *d, size_t n)
{
    struct store *st = lmdb_store();
    struct store_conn *c = store_conn_new(st, NULL);
    struct store_batch *b = store_batch_new(c, "fuzz");
    static const char *const keys[NKEYS] = {"a", "b", "c", "d", "e", "f", "g", "h"};
    clock_now = 1700000000;
    /* a clean slate: the previous program's keys go */
    for (int k = 0; k < NKEYS; k++) {
        store_del(b, keys[k], 1);
        model[k].present = 0;
    }
    store_run(b);
    size_t i = 0;
    while (i + 1 < n) {
        /* a batch: a count, then operations of 4 bytes (+ value) each */
        size_t nops = d[i++] % 8 + 1;
        clock_now += d[i - 1] >> 3; /* 0..31 s pass before it */
        store_batch_reset(b);
        struct {
            enum store_status want;
            char out[24];
            size_t outlen;
            int64_t num, num2;
            int kind;
        } exp[8];
        size_t q = 0;
        for (; q < nops && i + 4 <= n; q++) {
            int kind = d[i] % 8, k = (d[i] >> 3) % NKEYS;
            unsigned ttl = d[i + 1] % 4 == 0 ? 0 : d[i + 1] % 16;
            int64_t delta = (int8_t)d[i + 2];
            if (d[i + 2] == 0x7f)
                delta = INT64_MAX;
            if (d[i + 2] == 0x80)
                delta = INT64_MIN;
            int64_t delta2 = (int8_t)d[i + 3]; /* pairs: the second delta */
            size_t len = d[i + 3] % 16;
            i += 4;
            if (len > n - i)
                len = n - i;
            const char *val = (const char *)d + i;
            i += len;
            enum store_opkind ok = kind == 0   ? STORE_OP_GET
                                   : kind == 1 ? STORE_OP_SET
                                   : kind == 2 ? STORE_OP_ADD
                                   : kind <= 4 ? STORE_OP_INCR
                                   : kind == 5 ? STORE_OP_DEL
                                   : kind == 6 ? STORE_OP_PGET
                                               : STORE_OP_PADD;
            int idx = ok == STORE_OP_GET   ? store_get(b, keys[k], 1)
                      : ok == STORE_OP_SET ? store_set(b, keys[k], 1, val, len, ttl)
                      : ok == STORE_OP_ADD ? store_add(b, keys[k], 1, val, len, ttl)
                      : ok == STORE_OP_DEL ? store_del(b, keys[k], 1)
                      : ok == STORE_OP_PGET ? store_pair_get(b, keys[k], 1)
                      : ok == STORE_OP_PADD ? store_pair_add(b, keys[k], 1, delta, delta2, ttl)
                      : kind == 4          ? store_incr_renew(b, keys[k], 1, delta, ttl)
                                           : store_incr(b, keys[k], 1, delta, ttl);
            if (idx != (int)q)
                abort();
            exp[q].kind = ok;
            exp[q].want = expect(ok, kind == 4, k, val, len, delta, delta2, ttl, exp[q].out,
                                 &exp[q].outlen, &exp[q].num, &exp[q].num2);
        }
        store_run(b);
        for (size_t j = 0; j < q; j++) {
            const struct store_result *r = store_result(b, (int)j);
            if (r->status != exp[j].want)
                abort();
            if (r->status != STORE_FOUND)
                continue;
            if (exp[j].kind == STORE_OP_GET &&
                (r->len != exp[j].outlen || memcmp(r->data, exp[j].out, r->len) != 0))
                abort();
            if (exp[j].kind == STORE_OP_INCR && r->value != exp[j].num)
                abort();
            if ((exp[j].kind == STORE_OP_PGET || exp[j].kind == STORE_OP_PADD) &&
                (r->value != exp[j].num || r->value2 != exp[j].num2))
                abort();
        }
    }
    store_batch_free(b);
    store_conn_free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    switch (data[0] % 5) {
    case 0:
        fuzz_uri(data + 1, size - 1);
        break;
    case 1:
        fuzz_record(data + 1, size - 1);
        break;
    case 2:
        fuzz_key(data + 1, size - 1);
        break;
    case 3:
        fuzz_int(data + 1, size - 1);
        break;
    case 4:
        fuzz_program(data + 1, size - 1);
        break;
    }
    return 0;
}
