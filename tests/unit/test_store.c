/*
 * test_store.c - the state service: its URI, key and record encodings,
 * and the LMDB store for real in a temp directory (every operation, expiry
 * and sweeping, many processes counting at once, fork safety, the
 * environment registry, a map that grows, a map that is full, a reader
 * left behind by a killed process).  Redis without a server: a socket
 * nobody listens on, and one that never answers (tests/integration/
 * store.sh runs a real redis-server).
 */
#include <CUnit/CUnit.h>
#include <arpa/inet.h>
#include <lmdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "store_impl.h"
#include "suites.h"
#include "waiter.h"

extern const char store_redis_script[];
extern const char store_redis_script_sha[];
extern const char store_redis_pair_script[];
extern const char store_redis_pair_script_sha[];

static time_t fake_now = 1700000000;
static time_t fake_clock(void)
{
    return fake_now;
}

static char loglines[8192];
static void logsink(int level, const char *line, void *ctx)
{
    (void)level;
    (void)ctx;
    size_t n = strlen(loglines);
    snprintf(loglines + n, sizeof(loglines) - n, "%s\n", line);
}

/* lmdb - a store on test_dir()/name with URI options q (may be ""). */
static struct store *lmdb(const char *name, const char *q)
{
    char uri[600], err[256];
    snprintf(uri, sizeof(uri), "lmdb:%s/%s%s%s", test_dir(), name, *q ? "?" : "", q);
    struct store *st = store_open(uri, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    store_set_log(st, logsink, NULL);
    return st;
}

/* one - a batch of one operation; its status, the value in out. */
static enum store_status one(struct store *st, const char *op, const char *key, const char *val,
                             int64_t n, unsigned ttl, char *out, size_t outlen)
{
    struct store_conn *c = store_conn_new(st, NULL);
    struct store_batch *b = store_batch_new(c, "test");
    int i = -1;
    size_t kl = strlen(key), vl = val ? strlen(val) : 0;
    if (!strcmp(op, "get"))
        i = store_get(b, key, kl);
    else if (!strcmp(op, "set"))
        i = store_set(b, key, kl, val, vl, ttl);
    else if (!strcmp(op, "add"))
        i = store_add(b, key, kl, val, vl, ttl);
    else if (!strcmp(op, "incr"))
        i = store_incr(b, key, kl, n, ttl);
    else if (!strcmp(op, "renew"))
        i = store_incr_renew(b, key, kl, n, ttl);
    else if (!strcmp(op, "del"))
        i = store_del(b, key, kl);
    CU_ASSERT_FATAL(i >= 0);
    store_run(b);
    const struct store_result *r = store_result(b, i);
    enum store_status s = r->status;
    if (out) {
        if (r->data)
            snprintf(out, outlen, "%.*s", (int)r->len, (const char *)r->data);
        else if (s == STORE_ERROR)
            snprintf(out, outlen, "%s", r->why);
        else
            snprintf(out, outlen, "%lld", (long long)r->value);
    }
    store_batch_free(b);
    store_conn_free(c);
    return s;
}

/* ------------------------------------------------------------ encodings */

static void test_namespaces_are_short_lowercase_words(void)
{
    CU_ASSERT_TRUE(store_ns_ok("greylist"));
    CU_ASSERT_TRUE(store_ns_ok("rate.ip-4_x"));
    CU_ASSERT_FALSE(store_ns_ok(""));
    CU_ASSERT_FALSE(store_ns_ok(NULL));
    CU_ASSERT_FALSE(store_ns_ok("Greylist"));
    CU_ASSERT_FALSE(store_ns_ok("grey:list")); /* ':' would make keys ambiguous */
    CU_ASSERT_FALSE(store_ns_ok("#meta"));
    CU_ASSERT_TRUE(store_ns_ok("abcdefghijabcdefghijabcdefghijab"));   /* 32 */
    CU_ASSERT_FALSE(store_ns_ok("abcdefghijabcdefghijabcdefghijabc")); /* 33 */
}

static void test_key_is_prefix_namespace_colon_key(void)
{
    unsigned char out[600];
    size_t n = store_key_encode("mx:", "greylist", "1.2.3.4/a@b", 11, out, sizeof(out));
    CU_ASSERT_EQUAL(n, 23);
    CU_ASSERT_EQUAL(memcmp(out, "mx:greylist:1.2.3.4/a@b", 23), 0);
    n = store_key_encode("", "tok", "a\0b", 3, out, sizeof(out)); /* keys are bytes */
    CU_ASSERT_EQUAL(n, 7);
    CU_ASSERT_EQUAL(memcmp(out, "tok:a\0b", 7), 0);
    char big[STORE_KEY_MAX + 1];
    memset(big, 'k', sizeof(big));
    CU_ASSERT_EQUAL(store_key_encode("", "tok", big, STORE_KEY_MAX, out, sizeof(out)),
                    4 + STORE_KEY_MAX);
    CU_ASSERT_EQUAL(store_key_encode("", "tok", big, STORE_KEY_MAX + 1, out, sizeof(out)), 0);
    CU_ASSERT_EQUAL(store_key_encode("", "tok", "", 0, out, sizeof(out)), 0);
    CU_ASSERT_EQUAL(store_key_encode("", "Bad", "k", 1, out, sizeof(out)), 0);
    CU_ASSERT_EQUAL(store_key_encode("", "tok", "key", 3, out, 6), 0); /* does not fit */
}

static void test_records_round_trip(void)
{
    unsigned char buf[STORE_REC_MAX];
    struct store_rec in = {STORE_REC_BYTES, 1700000123, (const unsigned char *)"hello", 5, 0, 0},
                     out;
    size_t n = store_rec_encode(&in, buf, sizeof(buf));
    CU_ASSERT_EQUAL(n, STORE_REC_HEADER + 5);
    CU_ASSERT_EQUAL(buf[0], 0x01);
    CU_ASSERT_EQUAL(buf[8], 1700000123 & 0xff); /* big-endian expiry */
    CU_ASSERT_EQUAL(store_rec_decode(buf, n, &out), 0);
    CU_ASSERT_EQUAL(out.kind, STORE_REC_BYTES);
    CU_ASSERT_EQUAL(out.expires, 1700000123);
    CU_ASSERT_EQUAL(out.len, 5);
    CU_ASSERT_EQUAL(memcmp(out.data, "hello", 5), 0);

    struct store_rec c = {STORE_REC_COUNTER, 0, NULL, 0, INT64_MIN, 0};
    n = store_rec_encode(&c, buf, sizeof(buf));
    CU_ASSERT_EQUAL(n, STORE_REC_HEADER + 8);
    CU_ASSERT_EQUAL(buf[0], 0x02);
    CU_ASSERT_EQUAL(buf[9], 0x80);
    CU_ASSERT_EQUAL(store_rec_decode(buf, n, &out), 0);
    CU_ASSERT_EQUAL(out.kind, STORE_REC_COUNTER);
    CU_ASSERT_EQUAL(out.counter, INT64_MIN);
    CU_ASSERT_EQUAL(out.expires, 0);

    struct store_rec empty = {STORE_REC_BYTES, 0, NULL, 0, 0, 0};
    CU_ASSERT_EQUAL(store_rec_encode(&empty, buf, sizeof(buf)), STORE_REC_HEADER);
    CU_ASSERT_EQUAL(store_rec_decode(buf, STORE_REC_HEADER, &out), 0);
    CU_ASSERT_EQUAL(out.len, 0);

    struct store_rec pair = {STORE_REC_PAIR, 7, NULL, 0, -5, INT64_MAX};
    n = store_rec_encode(&pair, buf, sizeof(buf));
    CU_ASSERT_EQUAL(n, STORE_REC_HEADER + 16);
    CU_ASSERT_EQUAL(buf[0], 0x03);
    CU_ASSERT_EQUAL(store_rec_decode(buf, n, &out), 0);
    CU_ASSERT_EQUAL(out.kind, STORE_REC_PAIR);
    CU_ASSERT_EQUAL(out.counter, -5);
    CU_ASSERT_EQUAL(out.counter2, INT64_MAX);
    CU_ASSERT_EQUAL(out.expires, 7);

    CU_ASSERT_TRUE(store_rec_expired(&(struct store_rec){.expires = 99}, 100));
    CU_ASSERT_FALSE(
        store_rec_expired(&(struct store_rec){.expires = 100}, 100)); /* its last second */
    CU_ASSERT_FALSE(store_rec_expired(&(struct store_rec){.expires = 0}, 100));
}

static void test_malformed_records_are_refused(void)
{
    unsigned char buf[STORE_REC_MAX + 8] = {0};
    struct store_rec r;
    CU_ASSERT_EQUAL(store_rec_decode(buf, 0, &r), -1);
    buf[0] = 1;
    CU_ASSERT_EQUAL(store_rec_decode(buf, 8, &r), -1); /* short header */
    buf[0] = 4;
    CU_ASSERT_EQUAL(store_rec_decode(buf, 9, &r), -1); /* unknown kind */
    buf[0] = 3;
    CU_ASSERT_EQUAL(store_rec_decode(buf, 9 + 8, &r), -1);  /* pair of one counter */
    CU_ASSERT_EQUAL(store_rec_decode(buf, 9 + 17, &r), -1); /* of 17 bytes */
    CU_ASSERT_EQUAL(store_rec_decode(buf, 9 + 16, &r), 0);
    buf[0] = 2;
    CU_ASSERT_EQUAL(store_rec_decode(buf, 16, &r), -1); /* counter of 7 bytes */
    CU_ASSERT_EQUAL(store_rec_decode(buf, 18, &r), -1); /* of 9 */
    buf[0] = 1;
    CU_ASSERT_EQUAL(store_rec_decode(buf, STORE_REC_MAX, &r), 0);
    CU_ASSERT_EQUAL(store_rec_decode(buf, STORE_REC_MAX + 1, &r), -1); /* value too long */
    struct store_rec big = {STORE_REC_BYTES, 0, buf, STORE_VALUE_MAX + 1, 0, 0};
    CU_ASSERT_EQUAL(store_rec_encode(&big, buf, sizeof(buf)), 0);
    struct store_rec bad = {0, 0, NULL, 0, 0, 0};
    CU_ASSERT_EQUAL(store_rec_encode(&bad, buf, sizeof(buf)), 0);
}

static void test_integers_are_canonical_decimals(void)
{
    int64_t v;
    CU_ASSERT_EQUAL(store_parse_int("0", 1, &v), 0);
    CU_ASSERT_EQUAL(v, 0);
    CU_ASSERT_EQUAL(store_parse_int("-42", 3, &v), 0);
    CU_ASSERT_EQUAL(v, -42);
    CU_ASSERT_EQUAL(store_parse_int("9223372036854775807", 19, &v), 0);
    CU_ASSERT_EQUAL(v, INT64_MAX);
    CU_ASSERT_EQUAL(store_parse_int("-9223372036854775808", 20, &v), 0);
    CU_ASSERT_EQUAL(v, INT64_MIN);
    CU_ASSERT_EQUAL(store_parse_int("9223372036854775808", 19, &v), -1);
    CU_ASSERT_EQUAL(store_parse_int("-9223372036854775809", 20, &v), -1);
    CU_ASSERT_EQUAL(store_parse_int("007", 3, &v), -1);
    CU_ASSERT_EQUAL(store_parse_int("-0", 2, &v), -1);
    CU_ASSERT_EQUAL(store_parse_int("-", 1, &v), -1);
    CU_ASSERT_EQUAL(store_parse_int("", 0, &v), -1);
    CU_ASSERT_EQUAL(store_parse_int(" 1", 2, &v), -1);
    CU_ASSERT_EQUAL(store_parse_int("1x", 2, &v), -1);
    char s[24];
    CU_ASSERT_EQUAL(store_format_int(INT64_MIN, s), 20);
    CU_ASSERT_STRING_EQUAL(s, "-9223372036854775808");
    store_format_int(0, s);
    CU_ASSERT_STRING_EQUAL(s, "0");
    store_format_int(123, s);
    CU_ASSERT_STRING_EQUAL(s, "123");
}

static void test_uris_of_every_kind(void)
{
    struct store_uri u;
    char err[256];
    CU_ASSERT_EQUAL(store_uri_parse("lmdb:/var/lib/libpolicy/state", &u, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(u.kind, STORE_KIND_LMDB);
    CU_ASSERT_STRING_EQUAL(u.path, "/var/lib/libpolicy/state");
    CU_ASSERT_EQUAL(u.mapsize, 16 << 20);
    CU_ASSERT_EQUAL(u.maxsize, 1 << 30);
    CU_ASSERT_EQUAL(u.sync, STORE_SYNC_OFF);
    CU_ASSERT_EQUAL(u.writemap, 0);
    CU_ASSERT_EQUAL(store_uri_parse("lmdb:///x/y%20z?mapsize=1M&maxsize=2G&sync=meta&writemap=yes",
                                    &u, err, sizeof(err)),
                    0);
    CU_ASSERT_EQUAL(u.writemap, 1);
    CU_ASSERT_STRING_EQUAL(u.path, "/x/y z");
    CU_ASSERT_EQUAL(u.mapsize, 1 << 20);
    CU_ASSERT_EQUAL(u.maxsize, 2ULL << 30);
    CU_ASSERT_EQUAL(u.sync, STORE_SYNC_META);

    CU_ASSERT_EQUAL(store_uri_parse("redis://:s%40cret@10.0.0.5:6380/2?timeout=50&prefix=mx1:", &u,
                                    err, sizeof(err)),
                    0);
    CU_ASSERT_EQUAL(u.kind, STORE_KIND_REDIS);
    CU_ASSERT_STRING_EQUAL(u.host, "10.0.0.5");
    CU_ASSERT_EQUAL(u.port, 6380);
    CU_ASSERT_EQUAL(u.db, 2);
    CU_ASSERT_STRING_EQUAL(u.password, "s@cret");
    CU_ASSERT_STRING_EQUAL(u.user, "");
    CU_ASSERT_EQUAL(u.timeout_ms, 50);
    CU_ASSERT_EQUAL(u.connect_timeout_ms, 250);
    CU_ASSERT_STRING_EQUAL(u.prefix, "mx1:");
    CU_ASSERT_EQUAL(store_uri_parse("redis://policy:pw@[::1]", &u, err, sizeof(err)), 0);
    CU_ASSERT_STRING_EQUAL(u.host, "::1");
    CU_ASSERT_STRING_EQUAL(u.user, "policy");
    CU_ASSERT_EQUAL(u.port, 6379);
    CU_ASSERT_EQUAL(u.db, 0);
    CU_ASSERT_EQUAL(store_uri_parse("redis+unix:///run/redis/redis.sock?db=3&password=p%26w", &u,
                                    err, sizeof(err)),
                    0);
    CU_ASSERT_STRING_EQUAL(u.path, "/run/redis/redis.sock");
    CU_ASSERT_EQUAL(u.db, 3);
    CU_ASSERT_STRING_EQUAL(u.password, "p&w");
    CU_ASSERT_EQUAL(store_uri_parse("redis+unix://:pw@/run/r.sock", &u, err, sizeof(err)), 0);
    CU_ASSERT_STRING_EQUAL(u.password, "pw");
    CU_ASSERT_STRING_EQUAL(u.path, "/run/r.sock");
}

static void test_bad_uris_are_named_without_the_password(void)
{
    struct store_uri u;
    char err[256];
    const char *bad[] = {"lmdb:relative/path",
                         "lmdb:",
                         "lmdb:/x?mapsize=1",
                         "lmdb:/x?mapsize=2G&maxsize=1G",
                         "lmdb:/x?sync=sometimes",
                         "lmdb:/x?db=1",
                         "lmdb:/x?writemap=1",
                         "lmdb:/x%zz",
                         "redis://",
                         "redis://h:0",
                         "redis://h:70000",
                         "redis://h/x",
                         "redis://[::1",
                         "redis://h?timeout=0",
                         "redis://h?nope=1",
                         "redis+unix://relative.sock",
                         "memcached://h",
                         "redis://h?db",
                         NULL};
    for (int i = 0; bad[i]; i++) {
        err[0] = '\0';
        CU_ASSERT_EQUAL(store_uri_parse(bad[i], &u, err, sizeof(err)), -1);
        CU_ASSERT_TRUE(strncmp(err, "store URI: ", 11) == 0);
    }
    CU_ASSERT_EQUAL(store_uri_parse("redis://:hunter2%zz@h", &u, err, sizeof(err)), -1);
    CU_ASSERT_PTR_NULL(strstr(err, "hunter2"));
    CU_ASSERT_EQUAL(store_uri_parse("redis://:hunter2@h:99999", &u, err, sizeof(err)), -1);
    CU_ASSERT_PTR_NULL(strstr(err, "hunter2"));
    CU_ASSERT_PTR_NULL(store_open("redis://no-such-host.invalid", err, sizeof(err)));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "cannot resolve"));
}

static void test_increment_script_digest_is_its_sha1(void)
{
    const char *path = test_write("incr.lua", store_redis_script);
    char cmd[700], out[64] = "";
    snprintf(cmd, sizeof(cmd), "sha1sum '%s'", path);
    FILE *p = popen(cmd, "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_PTR_NOT_NULL(fgets(out, sizeof(out), p));
    pclose(p);
    CU_ASSERT_EQUAL(strncmp(out, store_redis_script_sha, 40), 0);
}

static void test_pair_script_digest_is_its_sha1(void)
{
    const char *path = test_write("pair.lua", store_redis_pair_script);
    char cmd[700], out[64] = "";
    snprintf(cmd, sizeof(cmd), "sha1sum '%s'", path);
    FILE *p = popen(cmd, "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_PTR_NOT_NULL(fgets(out, sizeof(out), p));
    pclose(p);
    CU_ASSERT_EQUAL(strncmp(out, store_redis_pair_script_sha, 40), 0);
}

static void test_batch_limits(void)
{
    struct store *st = lmdb("limits", "");
    struct store_conn *c = store_conn_new(st, NULL);
    CU_ASSERT_PTR_NULL(store_batch_new(c, "Bad NS"));
    struct store_batch *b = store_batch_new(c, "test");
    char big[STORE_VALUE_MAX + 2];
    memset(big, 'v', sizeof(big));
    CU_ASSERT_EQUAL(store_set(b, "k", 1, big, STORE_VALUE_MAX + 1, 0), -1);
    CU_ASSERT_EQUAL(store_set(b, big, STORE_KEY_MAX + 1, "v", 1, 0), -1);
    CU_ASSERT_EQUAL(store_get(b, "", 0), -1);
    CU_ASSERT_EQUAL(store_set(b, "k", 1, big, STORE_VALUE_MAX, 0), 0);
    for (int i = 1; i < STORE_BATCH_MAX; i++)
        CU_ASSERT_EQUAL_FATAL(store_get(b, "k", 1), i);
    CU_ASSERT_EQUAL(store_get(b, "k", 1), -1); /* full */
    store_run(b);
    CU_ASSERT_TRUE(store_done(b));
    CU_ASSERT_EQUAL(store_result(b, 0)->status, STORE_FOUND);
    CU_ASSERT_EQUAL(store_result(b, STORE_BATCH_MAX - 1)->len, STORE_VALUE_MAX);
    CU_ASSERT_PTR_NULL(store_result(b, STORE_BATCH_MAX));
    CU_ASSERT_EQUAL(store_get(b, "k", 1), -1); /* started: nothing more */
    store_batch_reset(b);
    CU_ASSERT_EQUAL(store_batch_size(b), 0);
    store_run(b); /* an empty batch is done at once */
    CU_ASSERT_TRUE(store_done(b));
    store_batch_free(b);
    store_conn_free(c);
    store_close(st);
}

/* ------------------------------------------------------------ LMDB */

static void test_lmdb_operations(void)
{
    struct store *st = lmdb("ops", "");
    char v[64];
    CU_ASSERT_STRING_EQUAL(store_kind(st), "lmdb");
    CU_ASSERT_EQUAL(one(st, "get", "a", NULL, 0, 0, v, sizeof(v)), STORE_NOTFOUND);
    CU_ASSERT_EQUAL(one(st, "set", "a", "hello", 0, 0, v, sizeof(v)), STORE_FOUND);
    CU_ASSERT_EQUAL(one(st, "get", "a", NULL, 0, 0, v, sizeof(v)), STORE_FOUND);
    CU_ASSERT_STRING_EQUAL(v, "hello");
    CU_ASSERT_EQUAL(one(st, "add", "a", "other", 0, 0, v, sizeof(v)), STORE_FOUND); /* was there */
    CU_ASSERT_EQUAL(one(st, "get", "a", NULL, 0, 0, v, sizeof(v)), STORE_FOUND);
    CU_ASSERT_STRING_EQUAL(v, "hello");
    CU_ASSERT_EQUAL(one(st, "add", "b", "new", 0, 0, v, sizeof(v)), STORE_NOTFOUND); /* stored */
    CU_ASSERT_EQUAL(one(st, "get", "b", NULL, 0, 0, v, sizeof(v)), STORE_FOUND);
    CU_ASSERT_STRING_EQUAL(v, "new");
    CU_ASSERT_EQUAL(one(st, "incr", "n", NULL, 5, 0, v, sizeof(v)), STORE_FOUND);
    CU_ASSERT_STRING_EQUAL(v, "5");
    CU_ASSERT_EQUAL(one(st, "incr", "n", NULL, -7, 0, v, sizeof(v)), STORE_FOUND);
    CU_ASSERT_STRING_EQUAL(v, "-2");
    CU_ASSERT_EQUAL(one(st, "get", "n", NULL, 0, 0, v, sizeof(v)), STORE_FOUND);
    CU_ASSERT_STRING_EQUAL(v, "-2"); /* a counter reads as its decimal text */
    CU_ASSERT_EQUAL(one(st, "incr", "a", NULL, 1, 0, v, sizeof(v)), STORE_ERROR);
    CU_ASSERT_STRING_EQUAL(v, "not a counter");
    CU_ASSERT_EQUAL(one(st, "set", "d", "41", 0, 0, v, sizeof(v)), STORE_FOUND);
    CU_ASSERT_EQUAL(one(st, "incr", "d", NULL, 1, 0, v, sizeof(v)), STORE_FOUND); /* as Redis */
    CU_ASSERT_STRING_EQUAL(v, "42");
    CU_ASSERT_EQUAL(one(st, "set", "max", "9223372036854775807", 0, 0, v, sizeof(v)), STORE_FOUND);
    CU_ASSERT_EQUAL(one(st, "incr", "max", NULL, 1, 0, v, sizeof(v)), STORE_ERROR);
    CU_ASSERT_STRING_EQUAL(v, "counter overflow");
    CU_ASSERT_EQUAL(one(st, "del", "b", NULL, 0, 0, v, sizeof(v)), STORE_FOUND);
    CU_ASSERT_EQUAL(one(st, "del", "b", NULL, 0, 0, v, sizeof(v)), STORE_NOTFOUND);
    CU_ASSERT_EQUAL(one(st, "get", "b", NULL, 0, 0, v, sizeof(v)), STORE_NOTFOUND);
    CU_ASSERT_EQUAL(one(st, "set", "e", "", 0, 0, v, sizeof(v)), STORE_FOUND); /* empty value */
    CU_ASSERT_EQUAL(one(st, "get", "e", NULL, 0, 0, v, sizeof(v)), STORE_FOUND);
    CU_ASSERT_STRING_EQUAL(v, "");
    store_close(st);
}

/* pair - one pair operation (d1, d2 and ttl for an add, get when
 * get is set); its status, the result in *r. */
static enum store_status pair(struct store *st, int get, const char *key, int64_t d1, int64_t d2,
                              unsigned ttl, struct store_result *r)
{
    struct store_conn *c = store_conn_new(st, NULL);
    struct store_batch *b = store_batch_new(c, "test");
    int i = get ? store_pair_get(b, key, strlen(key))
                : store_pair_add(b, key, strlen(key), d1, d2, ttl);
    CU_ASSERT_FATAL(i >= 0);
    store_run(b);
    *r = *store_result(b, i);
    enum store_status status = r->status;
    store_batch_free(b);
    store_conn_free(c);
    return status;
}

static void test_lmdb_pairs(void)
{
    struct store *st = lmdb("pairs", "");
    struct store_result r;
    store_set_clock(st, fake_clock);
    fake_now = 1700000000;
    CU_ASSERT_EQUAL(pair(st, 1, "w", 0, 0, 0, &r), STORE_NOTFOUND);
    CU_ASSERT_EQUAL(pair(st, 0, "w", 5, -3, 0, &r), STORE_FOUND);
    CU_ASSERT_TRUE(r.value == 5 && r.value2 == -3);
    CU_ASSERT_EQUAL(pair(st, 1, "w", 0, 0, 0, &r), STORE_FOUND);
    CU_ASSERT_TRUE(r.value == 5 && r.value2 == -3 && r.expires == 0); /* none without a ttl */
    CU_ASSERT_EQUAL(pair(st, 0, "w", 1, 1, 100, &r), STORE_FOUND);
    CU_ASSERT_TRUE(r.value == 6 && r.value2 == -2);
    CU_ASSERT_EQUAL(pair(st, 1, "w", 0, 0, 0, &r), STORE_FOUND);
    CU_ASSERT_EQUAL(r.expires, 1700000100);
    fake_now += 50; /* every add restarts the ttl; 0 keeps it */
    CU_ASSERT_EQUAL(pair(st, 0, "w", 0, 0, 100, &r), STORE_FOUND);
    CU_ASSERT_EQUAL(pair(st, 0, "w", 1, 0, 0, &r), STORE_FOUND);
    CU_ASSERT_EQUAL(pair(st, 1, "w", 0, 0, 0, &r), STORE_FOUND);
    CU_ASSERT_TRUE(r.value == 7 && r.value2 == -2 && r.expires == 1700000150);
    fake_now += 151;
    CU_ASSERT_EQUAL(pair(st, 1, "w", 0, 0, 0, &r), STORE_NOTFOUND); /* expired */
    /* a touch (0, 0 with a ttl) creates nothing; a pair back at 0, 0 is gone */
    CU_ASSERT_EQUAL(pair(st, 0, "t", 0, 0, 100, &r), STORE_FOUND);
    CU_ASSERT_TRUE(r.value == 0 && r.value2 == 0);
    CU_ASSERT_EQUAL(pair(st, 1, "t", 0, 0, 0, &r), STORE_NOTFOUND);
    CU_ASSERT_EQUAL(pair(st, 0, "z", 4, 2, 0, &r), STORE_FOUND);
    CU_ASSERT_EQUAL(pair(st, 0, "z", -4, -2, 0, &r), STORE_FOUND);
    CU_ASSERT_EQUAL(pair(st, 1, "z", 0, 0, 0, &r), STORE_NOTFOUND);
    struct store_lmdb_info info;
    CU_ASSERT_EQUAL(store_lmdb_info(st, &info), 0);
    CU_ASSERT_EQUAL(info.entries, 0); /* w was swept or deleted, t and z never stay */
    /* the kinds do not mix */
    char v[64];
    CU_ASSERT_EQUAL(one(st, "incr", "n", NULL, 1, 0, v, sizeof(v)), STORE_FOUND);
    CU_ASSERT_EQUAL(pair(st, 1, "n", 0, 0, 0, &r), STORE_ERROR);
    CU_ASSERT_STRING_EQUAL(r.why, "not a pair");
    CU_ASSERT_EQUAL(pair(st, 0, "n", 1, 1, 0, &r), STORE_ERROR);
    CU_ASSERT_EQUAL(pair(st, 0, "p", 1, 1, 0, &r), STORE_FOUND);
    CU_ASSERT_EQUAL(one(st, "get", "p", NULL, 0, 0, v, sizeof(v)), STORE_ERROR);
    CU_ASSERT_EQUAL(one(st, "incr", "p", NULL, 1, 0, v, sizeof(v)), STORE_ERROR);
    CU_ASSERT_EQUAL(pair(st, 0, "p", INT64_MAX, 0, 0, &r), STORE_ERROR);
    CU_ASSERT_STRING_EQUAL(r.why, "counter overflow");
    CU_ASSERT_EQUAL(pair(st, 1, "p", 0, 0, 0, &r), STORE_FOUND);
    CU_ASSERT_TRUE(r.value == 1 && r.value2 == 1); /* unchanged */
    store_set_clock(st, NULL);
    store_close(st);
}

static void test_lmdb_batch_runs_in_order_and_sees_its_writes(void)
{
    struct store *st = lmdb("order", "");
    struct store_conn *c = store_conn_new(st, NULL);
    struct store_batch *b = store_batch_new(c, "greylist");
    int g1 = store_get(b, "1.2.3.4/a@x/b@y", 15);
    int a1 = store_add(b, "1.2.3.4/a@x/b@y", 15, "1700000000", 10, 3600);
    int g2 = store_get(b, "1.2.3.4/a@x/b@y", 15);
    int a2 = store_add(b, "1.2.3.4/a@x/b@y", 15, "1800000000", 10, 3600);
    store_run(b);
    CU_ASSERT_EQUAL(store_result(b, g1)->status, STORE_NOTFOUND);
    CU_ASSERT_EQUAL(store_result(b, a1)->status, STORE_NOTFOUND);
    CU_ASSERT_EQUAL(store_result(b, g2)->status, STORE_FOUND);
    CU_ASSERT_EQUAL(store_result(b, a2)->status, STORE_FOUND);
    const struct store_result *r = store_result(b, g2);
    CU_ASSERT_TRUE(r->numeric && r->value == 1700000000);
    store_batch_free(b);

    /* namespaces keep layers apart, also inside one batch */
    b = store_batch_new(c, "rate");
    int other = store_get(b, "1.2.3.4/a@x/b@y", 15);
    CU_ASSERT_EQUAL(store_batch_ns(b, "Bad"), -1);
    CU_ASSERT_EQUAL(store_batch_ns(b, "greylist"), 0);
    int same = store_get(b, "1.2.3.4/a@x/b@y", 15);
    store_run(b);
    CU_ASSERT_EQUAL(store_result(b, other)->status, STORE_NOTFOUND);
    CU_ASSERT_EQUAL(store_result(b, same)->status, STORE_FOUND);
    store_batch_free(b);

    /* 300 token counters in one batch, as the spam filter asks */
    b = store_batch_new(c, "spam");
    char key[32];
    for (int round = 1; round <= 2; round++) {
        store_batch_reset(b);
        for (int i = 0; i < 300; i++) {
            snprintf(key, sizeof(key), "tok%d", i);
            CU_ASSERT_EQUAL(store_incr(b, key, strlen(key), i, 0), i);
        }
        store_run(b);
        int good = 0;
        for (int i = 0; i < 300; i++)
            good += store_result(b, i)->status == STORE_FOUND &&
                    store_result(b, i)->value == (int64_t)i * round;
        CU_ASSERT_EQUAL(good, 300);
    }
    store_batch_free(b);
    store_conn_free(c);
    store_close(st);
}

static void test_lmdb_expired_is_not_found(void)
{
    struct store *st = lmdb("expiry", "");
    char v[64];
    store_set_clock(st, fake_clock);
    fake_now = 1700000000;
    CU_ASSERT_EQUAL(one(st, "set", "s", "x", 0, 10, v, sizeof(v)), STORE_FOUND);
    CU_ASSERT_EQUAL(one(st, "add", "a", "x", 0, 10, v, sizeof(v)), STORE_NOTFOUND);
    CU_ASSERT_EQUAL(one(st, "incr", "fixed", NULL, 1, 10, v, sizeof(v)), STORE_FOUND);
    CU_ASSERT_EQUAL(one(st, "renew", "sliding", NULL, 1, 10, v, sizeof(v)), STORE_FOUND);
    CU_ASSERT_EQUAL(one(st, "incr", "late", NULL, 1, 0, v, sizeof(v)), STORE_FOUND);
    CU_ASSERT_EQUAL(one(st, "set", "forever", "x", 0, 0, v, sizeof(v)), STORE_FOUND);
    CU_ASSERT_EQUAL(one(st, "renew", "keep", NULL, 1, 10, v, sizeof(v)), STORE_FOUND);
    CU_ASSERT_EQUAL(one(st, "renew", "keep", NULL, 1, 0, v, sizeof(v)),
                    STORE_FOUND); /* no ttl: kept */
    fake_now += 9;
    CU_ASSERT_EQUAL(one(st, "get", "s", NULL, 0, 0, v, sizeof(v)), STORE_FOUND);
    CU_ASSERT_EQUAL(one(st, "incr", "fixed", NULL, 1, 10, v, sizeof(v)), STORE_FOUND);
    CU_ASSERT_EQUAL(one(st, "renew", "sliding", NULL, 1, 10, v, sizeof(v)), STORE_FOUND);
    CU_ASSERT_EQUAL(one(st, "incr", "late", NULL, 1, 10, v, sizeof(v)), STORE_FOUND); /* gets one */
    fake_now += 1; /* 10 s after the first writes: never shorter than the ttl */
    CU_ASSERT_EQUAL(one(st, "get", "s", NULL, 0, 0, v, sizeof(v)), STORE_FOUND);
    fake_now += 1; /* 11 s */
    CU_ASSERT_EQUAL(one(st, "get", "s", NULL, 0, 0, v, sizeof(v)), STORE_NOTFOUND);
    CU_ASSERT_EQUAL(one(st, "get", "keep", NULL, 0, 0, v, sizeof(v)), STORE_NOTFOUND);
    CU_ASSERT_EQUAL(one(st, "add", "a", "y", 0, 10, v, sizeof(v)),
                    STORE_NOTFOUND); /* absent again */
    CU_ASSERT_EQUAL(one(st, "incr", "fixed", NULL, 1, 10, v, sizeof(v)), STORE_FOUND);
    CU_ASSERT_STRING_EQUAL(v, "1"); /* the window ended: a new count */
    CU_ASSERT_EQUAL(one(st, "renew", "sliding", NULL, 1, 10, v, sizeof(v)), STORE_FOUND);
    CU_ASSERT_STRING_EQUAL(v, "3"); /* restarted 2 s ago */
    CU_ASSERT_EQUAL(one(st, "get", "late", NULL, 0, 0, v, sizeof(v)), STORE_FOUND);
    CU_ASSERT_EQUAL(one(st, "del", "s", NULL, 0, 0, v, sizeof(v)), STORE_NOTFOUND);
    fake_now += 100000;
    CU_ASSERT_EQUAL(one(st, "get", "forever", NULL, 0, 0, v, sizeof(v)), STORE_FOUND);
    CU_ASSERT_EQUAL(one(st, "get", "late", NULL, 0, 0, v, sizeof(v)), STORE_NOTFOUND);
    store_close(st);
}

static void test_lmdb_sweep_removes_expired_records_a_few_at_a_time(void)
{
    struct store *st = lmdb("sweep", "");
    struct store_lmdb_info info;
    store_set_clock(st, fake_clock);
    fake_now = 1700000000;
    struct store_conn *c = store_conn_new(st, NULL);
    struct store_batch *b = store_batch_new(c, "test");
    char key[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof(key), "old%04d", i);
        store_set(b, key, strlen(key), "x", 1, 60);
    }
    store_run(b);
    CU_ASSERT_EQUAL(store_lmdb_info(st, &info), 0);
    CU_ASSERT_EQUAL(info.entries, 1000);
    fake_now += 62;
    store_batch_reset(b);
    store_set(b, "new", 3, "y", 1, 0);
    store_run(b);
    CU_ASSERT_EQUAL(store_lmdb_info(st, &info), 0);
    CU_ASSERT_TRUE(info.entries < 1000 + 1);      /* some went */
    CU_ASSERT_TRUE(info.entries >= 1000 + 1 - 3); /* but only a few: the sweep is bounded */
    for (int i = 0; i < 400; i++) {               /* three records looked at per write */
        store_batch_reset(b);
        store_set(b, "new", 3, "y", 1, 0);
        store_run(b);
    }
    CU_ASSERT_EQUAL(store_lmdb_info(st, &info), 0);
    CU_ASSERT_EQUAL(info.entries, 1);
    store_batch_free(b);
    store_conn_free(c);
    store_close(st);
}

/* count_in_children - procs processes, each n batches of two increments
 * (of "total" and of its own key) through the inherited store. */
static void count_in_children(struct store *st, int procs, int n)
{
    pid_t pids[64];
    for (int p = 0; p < procs; p++) {
        pids[p] = fork();
        CU_ASSERT_FATAL(pids[p] >= 0);
        if (pids[p] == 0) {
            struct store_conn *c = store_conn_new(st, NULL);
            struct store_batch *b = store_batch_new(c, "test");
            char mine[16];
            int bad = 0;
            snprintf(mine, sizeof(mine), "proc%d", p);
            for (int i = 0; i < n; i++) {
                store_batch_reset(b);
                store_incr(b, "total", 5, 1, 0);
                store_incr(b, mine, strlen(mine), 1, 0);
                store_run(b);
                bad += store_result(b, 0)->status != STORE_FOUND;
                bad += store_result(b, 1)->status != STORE_FOUND;
            }
            _exit(bad ? 1 : 0); /* never the parent's atexit() */
        }
    }
    int failed = 0;
    for (int p = 0; p < procs; p++) {
        int status;
        waitpid(pids[p], &status, 0);
        failed += !WIFEXITED(status) || WEXITSTATUS(status) != 0;
    }
    CU_ASSERT_EQUAL(failed, 0);
}

static void test_lmdb_fifty_processes_count_exactly(void)
{
    struct store *st = lmdb("count", "");
    char v[64];
    /* the parent has the environment open before it forks: every child
     * must open its own */
    CU_ASSERT_EQUAL(one(st, "set", "total", "0", 0, 0, v, sizeof(v)), STORE_FOUND);
    count_in_children(st, 50, 200);
    CU_ASSERT_EQUAL(one(st, "get", "total", NULL, 0, 0, v, sizeof(v)), STORE_FOUND);
    CU_ASSERT_STRING_EQUAL(v, "10000");
    CU_ASSERT_EQUAL(one(st, "get", "proc49", NULL, 0, 0, v, sizeof(v)), STORE_FOUND);
    CU_ASSERT_STRING_EQUAL(v, "200");
    store_close(st);
}

static void test_lmdb_twenty_processes_add_pairs_exactly(void)
{
    struct store *st = lmdb("pairproc", "");
    struct store_result r;
    CU_ASSERT_EQUAL(pair(st, 0, "k0", 1, 0, 0, &r), STORE_FOUND);
    pid_t pids[20];
    for (int p = 0; p < 20; p++) {
        pids[p] = fork();
        CU_ASSERT_FATAL(pids[p] >= 0);
        if (pids[p] == 0) {
            int ok = 1;
            struct store_conn *c = store_conn_new(st, NULL);
            for (int round = 0; round < 50 && ok; round++) {
                /* every process adds to the same 100 pairs in one batch */
                struct store_batch *b = store_batch_new(c, "test");
                for (int k = 0; k < 100; k++) {
                    char key[16];
                    snprintf(key, sizeof(key), "k%d", k);
                    ok &= store_pair_add(b, key, strlen(key), 1, k, 3600) >= 0;
                }
                store_run(b);
                for (int k = 0; k < 100; k++)
                    ok &= store_result(b, k)->status == STORE_FOUND;
                store_batch_free(b);
            }
            store_conn_free(c);
            _exit(ok ? 0 : 1);
        }
    }
    int failed = 0;
    for (int p = 0; p < 20; p++) {
        int status;
        waitpid(pids[p], &status, 0);
        failed += !WIFEXITED(status) || WEXITSTATUS(status) != 0;
    }
    CU_ASSERT_EQUAL(failed, 0);
    CU_ASSERT_EQUAL(pair(st, 1, "k0", 0, 0, 0, &r), STORE_FOUND);
    CU_ASSERT_TRUE(r.value == 1 + 20 * 50 && r.value2 == 0);
    CU_ASSERT_EQUAL(pair(st, 1, "k99", 0, 0, 0, &r), STORE_FOUND);
    CU_ASSERT_TRUE(r.value == 20 * 50 && r.value2 == 99 * 20 * 50);
    store_close(st);
}

static void test_lmdb_a_child_never_uses_the_parents_environment(void)
{
    struct store *st = lmdb("fork", "");
    struct store_lmdb_info mine, child;
    char v[64];
    CU_ASSERT_EQUAL(one(st, "incr", "k", NULL, 1, 0, v, sizeof(v)), STORE_FOUND);
    CU_ASSERT_EQUAL(store_lmdb_info(st, &mine), 0);
    int pfd[2];
    CU_ASSERT_FATAL(pipe(pfd) == 0);
    pid_t pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) {
        int ok = one(st, "incr", "k", NULL, 1, 0, NULL, 0) == STORE_FOUND &&
                 store_lmdb_info(st, &child) == 0;
        /* its own environment, opened after the fork */
        ok = ok && child.env != mine.env && child.refs == 1;
        /* and closing the store in the child leaves the parent's alone */
        store_close(st);
        _exit(write(pfd[1], &ok, sizeof(ok)) == sizeof(ok) ? 0 : 1);
    }
    int ok = 0, status;
    CU_ASSERT_EQUAL(read(pfd[0], &ok, sizeof(ok)), (ssize_t)sizeof(ok));
    waitpid(pid, &status, 0);
    close(pfd[0]);
    close(pfd[1]);
    CU_ASSERT_TRUE(ok);
    CU_ASSERT_EQUAL(one(st, "incr", "k", NULL, 1, 0, v, sizeof(v)), STORE_FOUND);
    CU_ASSERT_STRING_EQUAL(v, "3");
    CU_ASSERT_EQUAL(store_lmdb_info(st, &child), 0);
    CU_ASSERT_PTR_EQUAL(child.env, mine.env);
    store_close(st);
}

static void test_lmdb_registry_hands_one_environment_on(void)
{
    char path[600], link[600], v[64];
    struct store_lmdb_info i1, i2, i3;
    struct store *a = lmdb("reg", "");
    struct store *b = lmdb("reg", "maxsize=2G"); /* a reload of the same file */
    CU_ASSERT_EQUAL(one(a, "set", "k", "v", 0, 0, v, sizeof(v)), STORE_FOUND);
    CU_ASSERT_EQUAL(one(b, "get", "k", NULL, 0, 0, v, sizeof(v)), STORE_FOUND);
    CU_ASSERT_EQUAL(store_lmdb_info(a, &i1), 0);
    CU_ASSERT_EQUAL(store_lmdb_info(b, &i2), 0);
    CU_ASSERT_PTR_EQUAL(i1.env, i2.env);
    CU_ASSERT_EQUAL(i2.refs, 2);
    CU_ASSERT_EQUAL(i2.maxsize, 2ULL << 30); /* the larger limit wins */

    /* another name for the same file is the same environment */
    snprintf(path, sizeof(path), "%s/reg", test_dir());
    snprintf(link, sizeof(link), "%s/reg-link", test_dir());
    CU_ASSERT_EQUAL(symlink(path, link), 0);
    struct store *c = lmdb("reg-link", "");
    CU_ASSERT_EQUAL(one(c, "get", "k", NULL, 0, 0, v, sizeof(v)), STORE_FOUND);
    CU_ASSERT_EQUAL(store_lmdb_info(c, &i3), 0);
    CU_ASSERT_PTR_EQUAL(i3.env, i1.env);
    CU_ASSERT_EQUAL(i3.refs, 3);

    store_close(a); /* the old engine goes: the others keep the environment */
    CU_ASSERT_EQUAL(one(b, "incr", "n", NULL, 1, 0, v, sizeof(v)), STORE_FOUND);
    CU_ASSERT_EQUAL(store_lmdb_info(b, &i2), 0);
    CU_ASSERT_EQUAL(i2.refs, 2);
    store_close(c);
    store_close(b);
    /* the last one closed it: a new store opens it afresh */
    struct store *d = lmdb("reg", "");
    CU_ASSERT_EQUAL(one(d, "get", "n", NULL, 0, 0, v, sizeof(v)), STORE_FOUND);
    CU_ASSERT_EQUAL(store_lmdb_info(d, &i1), 0);
    CU_ASSERT_EQUAL(i1.refs, 1);
    store_close(d);

    /* a directory holds data.mdb and lock.mdb */
    snprintf(path, sizeof(path), "%s/envdir", test_dir());
    CU_ASSERT_EQUAL(mkdir(path, 0700), 0);
    struct store *e = lmdb("envdir", "");
    CU_ASSERT_EQUAL(one(e, "set", "k", "v", 0, 0, v, sizeof(v)), STORE_FOUND);
    snprintf(path, sizeof(path), "%s/envdir/data.mdb", test_dir());
    CU_ASSERT_EQUAL(access(path, F_OK), 0);
    store_close(e);
}

static void grow(const char *name, const char *q)
{
    struct store *st = lmdb(name, q);
    struct store_conn *c = store_conn_new(st, NULL);
    struct store_batch *b = store_batch_new(c, "test");
    struct store_lmdb_info info;
    char key[32], val[1000];
    int bad = 0;
    memset(val, 'v', sizeof(val));
    loglines[0] = '\0';
    for (int round = 0; round < 30; round++) {
        store_batch_reset(b);
        for (int i = 0; i < 100; i++) {
            snprintf(key, sizeof(key), "k%d.%d", round, i);
            store_set(b, key, strlen(key), val, sizeof(val), 0);
        }
        store_run(b);
        for (int i = 0; i < 100; i++)
            bad += store_result(b, i)->status != STORE_FOUND;
    }
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(store_lmdb_info(st, &info), 0);
    CU_ASSERT_TRUE(info.mapsize >= 3000 * 1000);
    CU_ASSERT_EQUAL(info.entries, 3000);
    CU_ASSERT_PTR_NOT_NULL(strstr(loglines, "map grown to"));
    store_batch_free(b);
    store_conn_free(c);
    store_close(st);
}

static void test_lmdb_map_grows_up_to_its_limit(void)
{
    grow("grow", "mapsize=64K&maxsize=64M");
}

static void fill_up(const char *name, const char *q)
{
    struct store *st = lmdb(name, q);
    char key[32], val[1000], v[64];
    int i, full = 0;
    memset(val, 'v', sizeof(val));
    val[sizeof(val) - 1] = '\0';
    store_set_clock(st, fake_clock);
    fake_now = 1700000000;
    loglines[0] = '\0';
    for (i = 0; i < 1000 && !full; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        full = one(st, "set", key, val, 0, 30, v, sizeof(v)) == STORE_ERROR;
    }
    CU_ASSERT_TRUE(full);
    CU_ASSERT_TRUE(i > 20 && i < 200);
    CU_ASSERT_STRING_EQUAL(v, "lmdb: store full");
    CU_ASSERT_PTR_NOT_NULL(strstr(loglines, "full at maxsize"));
    /* still usable for reads, and for what fits */
    CU_ASSERT_EQUAL(one(st, "get", "k0", NULL, 0, 0, v, sizeof(v)), STORE_FOUND);
    /* once the records expired, a full map sweeps them and goes on */
    fake_now += 32;
    CU_ASSERT_EQUAL(one(st, "set", "after", val, 0, 0, v, sizeof(v)), STORE_FOUND);
    CU_ASSERT_PTR_NOT_NULL(strstr(loglines, "expired record(s)"));
    CU_ASSERT_EQUAL(one(st, "get", "after", NULL, 0, 0, v, sizeof(v)), STORE_FOUND);
    store_close(st);
}

static void test_lmdb_full_map_is_an_error_then_expired_records_make_room(void)
{
    fill_up("full", "mapsize=64K&maxsize=128K");
}

static void test_lmdb_with_writemap_counts_grows_and_fills_the_same(void)
{
    char v[64];
    struct store *st = lmdb("wm-count", "writemap=yes");
    count_in_children(st, 20, 100);
    CU_ASSERT_EQUAL(one(st, "get", "total", NULL, 0, 0, v, sizeof(v)), STORE_FOUND);
    CU_ASSERT_STRING_EQUAL(v, "2000");
    store_close(st);
    grow("wm-grow", "mapsize=64K&maxsize=64M&writemap=yes");
    fill_up("wm-full", "mapsize=64K&maxsize=128K&writemap=yes");
}

/* die_in_a_transaction - a process opens the LMDB file at path on its own,
 * begins a transaction (flags: MDB_RDONLY or 0) and is killed in it.
 * 1 when it got that far. */
static int die_in_a_transaction(const char *path, unsigned flags)
{
    int pfd[2];
    char c = 0;
    if (pipe(pfd) != 0)
        return 0;
    pid_t pid = fork();
    if (pid < 0)
        return 0;
    if (pid == 0) {
        MDB_env *env;
        MDB_txn *txn;
        c = 'y';
        if (mdb_env_create(&env) || mdb_env_set_maxreaders(env, 1024) ||
            mdb_env_open(env, path, MDB_NOSUBDIR | MDB_NOTLS, 0660) ||
            mdb_txn_begin(env, NULL, flags, &txn))
            c = 'n';
        if (write(pfd[1], &c, 1) != 1)
            _exit(1);
        pause();
        _exit(0);
    }
    int got = read(pfd[0], &c, 1) == 1 && c == 'y';
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    close(pfd[0]);
    close(pfd[1]);
    return got;
}

static void test_lmdb_reader_of_a_killed_process_is_cleared(void)
{
    char path[600], v[64], key[16], val[900];
    struct store *st = lmdb("stale", "mapsize=256K&maxsize=256K");
    memset(val, 'v', sizeof(val));
    val[sizeof(val) - 1] = '\0';
    CU_ASSERT_EQUAL(one(st, "set", "k", "v", 0, 0, v, sizeof(v)), STORE_FOUND);
    snprintf(path, sizeof(path), "%s/stale", test_dir());
    CU_ASSERT_TRUE(die_in_a_transaction(path, MDB_RDONLY)); /* a reader */
    /* its snapshot pins every page freed since: without clearing the slot
     * the map fills up after a few hundred kilobytes of rewrites */
    loglines[0] = '\0';
    int bad = 0;
    for (int round = 0; round < 300; round++)
        for (int i = 0; i < 10; i++) {
            snprintf(key, sizeof(key), "r%d", i);
            bad += one(st, "set", key, val, 0, 0, NULL, 0) != STORE_FOUND;
        }
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(loglines, "cleared 1 stale reader"));
    CU_ASSERT_EQUAL(store_lmdb_check_readers(st), 0);
    store_close(st);
}

static void test_lmdb_writer_killed_mid_transaction_blocks_nobody(void)
{
    char path[600], v[64];
    struct store *st = lmdb("deadwriter", "");
    CU_ASSERT_EQUAL(one(st, "set", "k", "v", 0, 0, v, sizeof(v)), STORE_FOUND);
    snprintf(path, sizeof(path), "%s/deadwriter", test_dir());
    CU_ASSERT_TRUE(die_in_a_transaction(path, 0)); /* a writer, holding the lock */
    /* the next writer inherits the lock (a robust mutex), in another
     * process and in this one; if it did not, the worker would hang */
    pid_t worker = fork();
    CU_ASSERT_FATAL(worker >= 0);
    if (worker == 0)
        _exit(one(st, "incr", "n", NULL, 1, 0, NULL, 0) == STORE_FOUND ? 0 : 1);
    int status = -1, done = 0;
    for (int i = 0; i < 500 && !done; i++) {
        done = waitpid(worker, &status, WNOHANG) == worker;
        if (!done)
            usleep(10000);
    }
    if (!done) {
        kill(worker, SIGKILL);
        waitpid(worker, NULL, 0);
    }
    CU_ASSERT_TRUE(done && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CU_ASSERT_EQUAL(one(st, "incr", "n", NULL, 1, 0, v, sizeof(v)), STORE_FOUND);
    CU_ASSERT_STRING_EQUAL(v, "2");
    store_close(st);
}

static void test_lmdb_corrupt_record_is_an_error(void)
{
    char path[600], v[64];
    struct store *st = lmdb("corrupt", "");
    CU_ASSERT_EQUAL(one(st, "set", "ok", "v", 0, 0, v, sizeof(v)), STORE_FOUND);
    store_close(st); /* the environment is closed: we may open it by hand */
    snprintf(path, sizeof(path), "%s/corrupt", test_dir());
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    CU_ASSERT_FATAL(mdb_env_create(&env) == 0);
    CU_ASSERT_FATAL(mdb_env_open(env, path, MDB_NOSUBDIR, 0660) == 0);
    CU_ASSERT_FATAL(mdb_txn_begin(env, NULL, 0, &txn) == 0);
    CU_ASSERT_FATAL(mdb_dbi_open(txn, NULL, 0, &dbi) == 0);
    MDB_val k = {8, "test:bad"}, d = {3, "\x07xx"};
    CU_ASSERT_FATAL(mdb_put(txn, dbi, &k, &d, 0) == 0);
    CU_ASSERT_FATAL(mdb_txn_commit(txn) == 0);
    mdb_env_close(env);
    st = lmdb("corrupt", "");
    CU_ASSERT_EQUAL(one(st, "get", "bad", NULL, 0, 0, v, sizeof(v)), STORE_ERROR);
    CU_ASSERT_STRING_EQUAL(v, "corrupt record");
    CU_ASSERT_EQUAL(one(st, "incr", "bad", NULL, 1, 0, v, sizeof(v)), STORE_ERROR);
    CU_ASSERT_EQUAL(one(st, "get", "ok", NULL, 0, 0, v, sizeof(v)), STORE_FOUND);
    CU_ASSERT_EQUAL(one(st, "set", "bad", "fixed", 0, 0, v, sizeof(v)), STORE_FOUND);
    CU_ASSERT_EQUAL(one(st, "get", "bad", NULL, 0, 0, v, sizeof(v)), STORE_FOUND);
    store_close(st);
}

static void test_lmdb_that_cannot_open_is_an_error(void)
{
    char v[64];
    struct store *st = lmdb("no/such/dir/state", "");
    CU_ASSERT_EQUAL(one(st, "get", "k", NULL, 0, 0, v, sizeof(v)), STORE_ERROR);
    CU_ASSERT_STRING_EQUAL(v, "lmdb: cannot open the store");
    CU_ASSERT_EQUAL(one(st, "set", "k", "v", 0, 0, v, sizeof(v)), STORE_ERROR);
    store_close(st);
}

/* ------------------------------------------------------------ Redis, no server */

static void test_redis_nobody_listening_fails_at_once_and_is_remembered(void)
{
    char uri[600], err[256];
    snprintf(uri, sizeof(uri), "redis+unix://%s/no-redis.sock", test_dir());
    struct store *st = store_open(uri, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    CU_ASSERT_STRING_EQUAL(store_kind(st), "redis");
    struct store_conn *c = store_conn_new(st, NULL);
    struct store_batch *b = store_batch_new(c, "test");
    store_get(b, "k", 1);
    store_incr(b, "n", 1, 1, 0);
    double t0 = waiter_now_ms();
    store_run(b);
    CU_ASSERT_TRUE(waiter_now_ms() - t0 < 50);
    CU_ASSERT_EQUAL(store_result(b, 0)->status, STORE_ERROR);
    CU_ASSERT_EQUAL(store_result(b, 1)->status, STORE_ERROR);
    CU_ASSERT_PTR_NOT_NULL(strstr(store_result(b, 0)->why, "cannot connect"));
    CU_ASSERT_PTR_NOT_NULL(store_conn_failed(c));
    store_batch_reset(b);
    store_get(b, "k", 1);
    store_run(b);
    CU_ASSERT_EQUAL(store_result(b, 0)->status, STORE_ERROR);
    CU_ASSERT_STRING_EQUAL(store_result(b, 0)->why, store_conn_failed(c));
    store_batch_free(b);
    store_conn_free(c);
    store_close(st);
}

static void test_redis_that_never_answers_costs_one_timeout_per_session(void)
{
    /* a listening socket nobody accepts on: connect succeeds (backlog),
     * no reply ever comes */
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t sl = sizeof(sa);
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    CU_ASSERT_FATAL(l >= 0 && bind(l, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
                    listen(l, 8) == 0 && getsockname(l, (struct sockaddr *)&sa, &sl) == 0);
    char uri[128], err[256];
    snprintf(uri, sizeof(uri), "redis://127.0.0.1:%d?timeout=100&connect_timeout=100",
             ntohs(sa.sin_port));
    struct store *st = store_open(uri, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    struct waiter *w = waiter_new();
    for (int session = 0; session < 2; session++) {
        struct store_conn *c = store_conn_new(st, w);
        struct store_batch *b = store_batch_new(c, "test");
        double t0 = waiter_now_ms();
        store_get(b, "k", 1);
        store_run(b);
        double first = waiter_now_ms() - t0;
        CU_ASSERT_EQUAL(store_result(b, 0)->status, STORE_ERROR);
        CU_ASSERT_STRING_EQUAL(store_result(b, 0)->why, "redis: timed out");
        /* connected at once, so the batch waited its 100 ms and no more */
        CU_ASSERT_TRUE(first >= 95 && first < 200);
        for (int q = 0; q < 3; q++) {
            store_batch_reset(b);
            store_incr(b, "n", 1, 1, 0);
            t0 = waiter_now_ms();
            store_run(b);
            CU_ASSERT_TRUE(waiter_now_ms() - t0 < 5);
            CU_ASSERT_EQUAL(store_result(b, 0)->status, STORE_ERROR);
        }
        store_batch_free(b);
        store_conn_free(c);
    }
    waiter_free(w);
    store_close(st);
    close(l);
}

int suite_store(void)
{
    CU_pSuite s = CU_add_suite("store", NULL, NULL);
    if (!s)
        return -1;
    CU_ADD_TEST(s, test_namespaces_are_short_lowercase_words);
    CU_ADD_TEST(s, test_key_is_prefix_namespace_colon_key);
    CU_ADD_TEST(s, test_records_round_trip);
    CU_ADD_TEST(s, test_malformed_records_are_refused);
    CU_ADD_TEST(s, test_integers_are_canonical_decimals);
    CU_ADD_TEST(s, test_uris_of_every_kind);
    CU_ADD_TEST(s, test_bad_uris_are_named_without_the_password);
    CU_ADD_TEST(s, test_increment_script_digest_is_its_sha1);
    CU_ADD_TEST(s, test_pair_script_digest_is_its_sha1);
    CU_ADD_TEST(s, test_batch_limits);
    CU_ADD_TEST(s, test_lmdb_operations);
    CU_ADD_TEST(s, test_lmdb_pairs);
    CU_ADD_TEST(s, test_lmdb_batch_runs_in_order_and_sees_its_writes);
    CU_ADD_TEST(s, test_lmdb_expired_is_not_found);
    CU_ADD_TEST(s, test_lmdb_sweep_removes_expired_records_a_few_at_a_time);
    CU_ADD_TEST(s, test_lmdb_fifty_processes_count_exactly);
    CU_ADD_TEST(s, test_lmdb_twenty_processes_add_pairs_exactly);
    CU_ADD_TEST(s, test_lmdb_a_child_never_uses_the_parents_environment);
    CU_ADD_TEST(s, test_lmdb_registry_hands_one_environment_on);
    CU_ADD_TEST(s, test_lmdb_map_grows_up_to_its_limit);
    CU_ADD_TEST(s, test_lmdb_full_map_is_an_error_then_expired_records_make_room);
    CU_ADD_TEST(s, test_lmdb_with_writemap_counts_grows_and_fills_the_same);
    CU_ADD_TEST(s, test_lmdb_reader_of_a_killed_process_is_cleared);
    CU_ADD_TEST(s, test_lmdb_writer_killed_mid_transaction_blocks_nobody);
    CU_ADD_TEST(s, test_lmdb_corrupt_record_is_an_error);
    CU_ADD_TEST(s, test_lmdb_that_cannot_open_is_an_error);
    CU_ADD_TEST(s, test_redis_nobody_listening_fails_at_once_and_is_remembered);
    CU_ADD_TEST(s, test_redis_that_never_answers_costs_one_timeout_per_session);
    return 0;
}
