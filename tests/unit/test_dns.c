/*
 * test_dns.c - the DNS subsystem without a network (reply parsing and
 * sanitizing on hand-made packets, reverse names, timeouts against a
 * socket that never answers), the rdns layer where the MTA gave the name,
 * the dnsbl configuration, and SPF through libspf2's zone layer for the
 * corner cases no test server produces (DNS errors inside libspf2, an
 * SPF_error() that must not abort).
 */
#include <CUnit/CUnit.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../libpolicy/layers/spf.h"
#include "dns.h"
#include "waiter.h"
#include "helpers.h"
#include "core.h"
#include "suites.h"
#include <spf2/spf_dns_zone.h>

static char err[512];
static policy_engine *engine(const char *conf);

/* ------------------------------------------------------------ packets */

struct pkt {
    unsigned char b[65536]; /* what one DNS message over TCP carries */
    size_t n;
};

static void put(struct pkt *p, const void *d, size_t n)
{
    memcpy(p->b + p->n, d, n);
    p->n += n;
}
static void put16(struct pkt *p, unsigned v)
{
    unsigned char x[2] = {(unsigned char)(v >> 8), (unsigned char)v};
    put(p, x, 2);
}
static void put_name(struct pkt *p, const char *name)
{
    while (*name) {
        const char *dot = strchr(name, '.');
        size_t n = dot ? (size_t)(dot - name) : strlen(name);
        unsigned char len = (unsigned char)n;
        put(p, &len, 1);
        put(p, name, n);
        name += n + (dot ? 1 : 0);
    }
    put(p, "", 1);
}
/* reply - header + question for name/type, then ancount answers follow */
static void reply(struct pkt *p, const char *name, unsigned type, unsigned ancount)
{
    p->n = 0;
    put16(p, 0x1234);
    put16(p, 0x8180);
    put16(p, 1);
    put16(p, ancount);
    put16(p, 0);
    put16(p, 0);
    put_name(p, name);
    put16(p, type);
    put16(p, 1);
}
static void answer(struct pkt *p, unsigned type, const void *rdata, size_t n)
{
    put16(p, 0xC00C); /* the question's name */
    put16(p, type);
    put16(p, 1);
    put16(p, 0);
    put16(p, 300);
    put16(p, (unsigned)n);
    put(p, rdata, n);
}

/* answer_name - a record whose data is one name (PTR, CNAME) */
static void answer_name(struct pkt *p, unsigned type, const char *name)
{
    static struct pkt rd;
    rd.n = 0;
    put_name(&rd, name);
    answer(p, type, rd.b, rd.n);
}
/* answer_owned - a record whose owner name is spelled out (no pointer) */
static void answer_owned(struct pkt *p, const char *owner, unsigned type, const void *rdata,
                         size_t n)
{
    put_name(p, owner);
    put16(p, type);
    put16(p, 1);
    put16(p, 0);
    put16(p, 300);
    put16(p, (unsigned)n);
    put(p, rdata, n);
}
/* set_ancount - the header's answer count, once the records are written */
static void set_ancount(struct pkt *p, unsigned n)
{
    p->b[6] = (unsigned char)(n >> 8);
    p->b[7] = (unsigned char)n;
}
/* many_a - an A answer of n records, the client 192.0.2.40 the last */
static void many_a(struct pkt *p, const char *name, unsigned n)
{
    reply(p, name, DNS_A, n);
    for (unsigned i = 1; i < n; i++) {
        unsigned char ip[4] = {198, 51, (unsigned char)(100 + i / 250), (unsigned char)(i % 250)};
        answer(p, DNS_A, ip, 4);
    }
    unsigned char last[4] = {192, 0, 2, 40};
    answer(p, DNS_A, last, 4);
}

static void test_txt_is_joined_sanitized_and_bounded(void)
{
    struct pkt p;
    unsigned char rd[600];
    size_t n = 0;
    const char *a = "Listed\r\n250 fake\x01\xff";
    rd[n++] = (unsigned char)strlen(a);
    memcpy(rd + n, a, strlen(a));
    n += strlen(a);
    rd[n++] = 255;
    memset(rd + n, 'x', 255);
    n += 255;
    rd[n++] = 255;
    memset(rd + n, 'y', 255);
    n += 255;
    reply(&p, "2.0.0.127.bl.test", DNS_TXT, 1);
    answer(&p, DNS_TXT, rd, n);
    struct dns_answer ans;
    memset(&ans, 0, sizeof(ans));
    dns_parse(DNS_TXT, p.b, (int)p.n, DNS_TXT_MAX, &ans);
    CU_ASSERT_EQUAL_FATAL(ans.status, DNS_FOUND);
    CU_ASSERT_EQUAL_FATAL(ans.n, 1);
    CU_ASSERT_EQUAL(strlen(ans.rr[0].text), DNS_TXT_MAX);
    CU_ASSERT_EQUAL(strncmp(ans.rr[0].text, "Listed??250 fake??xxx", 21), 0);
    for (const char *c = ans.rr[0].text; *c; c++)
        CU_ASSERT(*c >= 0x20 && *c <= 0x7e);
    dns_answer_clear(&ans);
}

static void test_a_and_aaaa_answers(void)
{
    struct pkt p;
    struct dns_answer ans;
    memset(&ans, 0, sizeof(ans));
    unsigned char a1[4] = {127, 0, 0, 2}, a2[4] = {127, 0, 0, 10};
    reply(&p, "2.0.0.127.bl.test", DNS_A, 2);
    answer(&p, DNS_A, a1, 4);
    answer(&p, DNS_A, a2, 4);
    dns_parse(DNS_A, p.b, (int)p.n, 0, &ans);
    CU_ASSERT_EQUAL_FATAL(ans.status, DNS_FOUND);
    CU_ASSERT_EQUAL(ans.n, 2);
    CU_ASSERT_EQUAL(memcmp(ans.rr[1].addr, a2, 4), 0);
    unsigned char six[16];
    inet_pton(AF_INET6, "2001:db8::10", six);
    reply(&p, "good6.client.test", DNS_AAAA, 1);
    answer(&p, DNS_AAAA, six, 16);
    dns_parse(DNS_AAAA, p.b, (int)p.n, 0, &ans);
    CU_ASSERT_EQUAL_FATAL(ans.status, DNS_FOUND);
    CU_ASSERT_EQUAL(memcmp(ans.rr[0].addr, six, 16), 0);
    /* no answer records: a definite "no data", not an error */
    reply(&p, "x.test", DNS_A, 0);
    dns_parse(DNS_A, p.b, (int)p.n, 0, &ans);
    CU_ASSERT_EQUAL(ans.status, DNS_NOTFOUND);
    dns_answer_clear(&ans);
}

static void test_mx_and_the_null_mx(void)
{
    struct pkt p, rd;
    struct dns_answer ans;
    memset(&ans, 0, sizeof(ans));
    rd.n = 0;
    put16(&rd, 10);
    put_name(&rd, "MX.Example.TEST");
    reply(&p, "example.test", DNS_MX, 1);
    answer(&p, DNS_MX, rd.b, rd.n);
    dns_parse(DNS_MX, p.b, (int)p.n, 0, &ans);
    CU_ASSERT_EQUAL_FATAL(ans.status, DNS_FOUND);
    CU_ASSERT_STRING_EQUAL(ans.rr[0].text, "mx.example.test");
    CU_ASSERT_EQUAL(ans.rr[0].pref, 10);
    CU_ASSERT_FALSE(ans.null_mx);
    dns_answer_clear(&ans);
    /* RFC 7505: "MX 0 ." - no exchange to use, and a flag that says why */
    rd.n = 0;
    put16(&rd, 0);
    put_name(&rd, "");
    reply(&p, "nullmx.test", DNS_MX, 1);
    answer(&p, DNS_MX, rd.b, rd.n);
    dns_parse(DNS_MX, p.b, (int)p.n, 0, &ans);
    CU_ASSERT_EQUAL(ans.status, DNS_NOTFOUND);
    CU_ASSERT_EQUAL(ans.n, 0);
    CU_ASSERT_TRUE(ans.null_mx);
    dns_answer_clear(&ans);
}

static void test_ptr_names_are_checked_and_lowercased(void)
{
    struct pkt p, rd;
    struct dns_answer ans;
    memset(&ans, 0, sizeof(ans));
    reply(&p, "10.2.0.192.in-addr.arpa", DNS_PTR, 2);
    rd.n = 0;
    put_name(&rd, "Good.Client.TEST");
    answer(&p, DNS_PTR, rd.b, rd.n);
    rd.n = 0;
    put_name(&rd, "Other.Client.Test");
    answer(&p, DNS_PTR, rd.b, rd.n);
    dns_parse(DNS_PTR, p.b, (int)p.n, 0, &ans);
    CU_ASSERT_EQUAL_FATAL(ans.status, DNS_FOUND);
    CU_ASSERT_EQUAL_FATAL(ans.n, 2);
    int g =
        !strcmp(ans.rr[0].text, "good.client.test") || !strcmp(ans.rr[1].text, "good.client.test");
    int o = !strcmp(ans.rr[0].text, "other.client.test") ||
            !strcmp(ans.rr[1].text, "other.client.test");
    CU_ASSERT(g && o);
    /* only an invalid name: no usable PTR */
    reply(&p, "11.2.0.192.in-addr.arpa", DNS_PTR, 1);
    rd.n = 0;
    put_name(&rd, "bad name;rm.test");
    answer(&p, DNS_PTR, rd.b, rd.n);
    dns_parse(DNS_PTR, p.b, (int)p.n, 0, &ans);
    CU_ASSERT_EQUAL(ans.status, DNS_NOTFOUND);
    dns_answer_clear(&ans);
}

static void test_malformed_replies_are_errors(void)
{
    struct pkt p;
    struct dns_answer ans;
    memset(&ans, 0, sizeof(ans));
    reply(&p, "x.test", DNS_A, 1);
    put16(&p, 0xC00C);
    put16(&p, DNS_A); /* cut short in the middle of the record */
    dns_parse(DNS_A, p.b, (int)p.n, 0, &ans);
    CU_ASSERT_EQUAL(ans.status, DNS_ERROR);
    dns_parse(DNS_TXT, p.b, 5, 0, &ans);
    CU_ASSERT_EQUAL(ans.status, DNS_ERROR);
    dns_parse(DNS_TXT, NULL, 0, 0, &ans);
    CU_ASSERT_EQUAL(ans.status, DNS_ERROR);
    dns_answer_clear(&ans);
}

/* every record of a big answer is kept: the one a verdict needs may be
 * anywhere in it (resolvers rotate records) */
static void test_every_record_of_a_big_answer_is_kept(void)
{
    static struct pkt p, rd;
    struct dns_answer ans;
    memset(&ans, 0, sizeof(ans));
    unsigned char client[4] = {192, 0, 2, 40};

    many_a(&p, "a-many.test", 20);
    dns_parse(DNS_A, p.b, (int)p.n, 0, &ans);
    CU_ASSERT_EQUAL_FATAL(ans.status, DNS_FOUND);
    CU_ASSERT_EQUAL_FATAL(ans.n, 20);
    CU_ASSERT_EQUAL(memcmp(ans.rr[19].addr, client, 4), 0);
    many_a(&p, "a-many.test", 4000); /* 64 KB: as much as TCP carries */
    dns_parse(DNS_A, p.b, (int)p.n, 0, &ans);
    CU_ASSERT_EQUAL_FATAL(ans.n, 4000);
    CU_ASSERT_EQUAL(memcmp(ans.rr[3999].addr, client, 4), 0);

    /* nineteen TXT records, the SPF record last */
    reply(&p, "spf-many.test", DNS_TXT, 20);
    for (int i = 1; i < 20; i++) {
        char t[80];
        int n = snprintf(t, sizeof(t), "verification-token-%d=0123456789abcdef0123456789", i);
        rd.n = 0;
        rd.b[rd.n++] = (unsigned char)n;
        put(&rd, t, (size_t)n);
        answer(&p, DNS_TXT, rd.b, rd.n);
    }
    const char *spf = "v=spf1 ip4:192.0.2.10 -all";
    rd.n = 0;
    rd.b[rd.n++] = (unsigned char)strlen(spf);
    put(&rd, spf, strlen(spf));
    answer(&p, DNS_TXT, rd.b, rd.n);
    dns_parse(DNS_TXT, p.b, (int)p.n, DNS_TXT_MAX_SPF, &ans);
    CU_ASSERT_EQUAL_FATAL(ans.n, 20);
    CU_ASSERT_STRING_EQUAL(ans.rr[19].text, spf);
    CU_ASSERT_STRING_EQUAL(ans.rr[0].text, "verification-token-1=0123456789abcdef0123456789");

    /* an SPF record of 10,000 bytes (40 strings) is kept whole */
    reply(&p, "spf-huge.test", DNS_TXT, 1);
    rd.n = 0;
    for (int i = 0; i < 40; i++) {
        char chunk[251];
        memset(chunk, ' ', 250);
        memcpy(chunk, i ? "ip4:198.51.100.1" : "v=spf1 ip4:192.0.2.1", i ? 16 : 20);
        if (i == 39)
            memcpy(chunk + 245, "-all", 4);
        rd.b[rd.n++] = 250;
        put(&rd, chunk, 250);
    }
    answer(&p, DNS_TXT, rd.b, rd.n);
    dns_parse(DNS_TXT, p.b, (int)p.n, DNS_TXT_MAX_SPF, &ans);
    CU_ASSERT_EQUAL_FATAL(ans.n, 1);
    CU_ASSERT_EQUAL(strlen(ans.rr[0].text), 10000);
    CU_ASSERT_EQUAL(strncmp(ans.rr[0].text + 9995, "-all", 4), 0);
    dns_parse(DNS_TXT, p.b, (int)p.n, DNS_TXT_MAX, &ans); /* a DNSBL reason stays short */
    CU_ASSERT_EQUAL(strlen(ans.rr[0].text), DNS_TXT_MAX);

    /* twenty PTR names, twenty MX hosts */
    reply(&p, "41.2.0.192.in-addr.arpa", DNS_PTR, 20);
    for (int i = 1; i <= 20; i++) {
        char name[64];
        snprintf(name, sizeof(name), "name%d.ptr-many.test", i);
        answer_name(&p, DNS_PTR, name);
    }
    dns_parse(DNS_PTR, p.b, (int)p.n, 0, &ans);
    CU_ASSERT_EQUAL_FATAL(ans.n, 20);
    CU_ASSERT_STRING_EQUAL(ans.rr[19].text, "name20.ptr-many.test");
    reply(&p, "mx-many.test", DNS_MX, 20);
    for (int i = 1; i <= 20; i++) {
        char name[64];
        snprintf(name, sizeof(name), "mx%d.mx-many.test", i);
        rd.n = 0;
        put16(&rd, (unsigned)i);
        put_name(&rd, name);
        answer(&p, DNS_MX, rd.b, rd.n);
    }
    dns_parse(DNS_MX, p.b, (int)p.n, 0, &ans);
    CU_ASSERT_EQUAL_FATAL(ans.n, 20);
    CU_ASSERT_STRING_EQUAL(ans.rr[19].text, "mx20.mx-many.test");
    CU_ASSERT_EQUAL(ans.rr[19].pref, 20);
    dns_answer_clear(&ans);
}

/* a broken reply is no answer (temporary), not "no PTR" (permanent); a
 * PTR set is judged name by name */
static void test_malformed_ptr_is_an_error_not_a_missing_name(void)
{
    struct pkt p;
    struct dns_answer ans;
    memset(&ans, 0, sizeof(ans));
    /* the record claims more data than the message has */
    reply(&p, "30.2.0.192.in-addr.arpa", DNS_PTR, 1);
    answer_name(&p, DNS_PTR, "broken.client.test");
    p.b[p.n - strlen("broken.client.test") - 3] = 0xff; /* rdlength low byte */
    dns_parse(DNS_PTR, p.b, (int)p.n, 0, &ans);
    CU_ASSERT_EQUAL(ans.status, DNS_ERROR);
    CU_ASSERT_STRING_EQUAL(ans.why, "malformed answer");
    /* a compression pointer that points at itself */
    reply(&p, "30.2.0.192.in-addr.arpa", DNS_PTR, 1);
    size_t at = p.n + 12; /* where the rdata will start */
    unsigned char loop[2] = {(unsigned char)(0xC0 | at >> 8), (unsigned char)at};
    answer(&p, DNS_PTR, loop, 2);
    dns_parse(DNS_PTR, p.b, (int)p.n, 0, &ans);
    CU_ASSERT_EQUAL(ans.status, DNS_ERROR);
    /* one name that is no host name beside a good one: the good one counts */
    reply(&p, "31.2.0.192.in-addr.arpa", DNS_PTR, 2);
    answer_name(&p, DNS_PTR, "bad name;rm.test");
    answer_name(&p, DNS_PTR, "Good.Client.Test");
    dns_parse(DNS_PTR, p.b, (int)p.n, 0, &ans);
    CU_ASSERT_EQUAL_FATAL(ans.status, DNS_FOUND);
    CU_ASSERT_EQUAL_FATAL(ans.n, 1);
    CU_ASSERT_STRING_EQUAL(ans.rr[0].text, "good.client.test");
    /* a label with a dot in it is no host name, though it reads like one */
    reply(&p, "31.2.0.192.in-addr.arpa", DNS_PTR, 1);
    unsigned char dotted[] = "\x10mail.example.com\x00";
    answer(&p, DNS_PTR, dotted, sizeof(dotted) - 1);
    dns_parse(DNS_PTR, p.b, (int)p.n, 0, &ans);
    CU_ASSERT_EQUAL(ans.status, DNS_NOTFOUND);
    CU_ASSERT_STRING_EQUAL(ans.why, "PTR is not a valid host name");
    dns_answer_clear(&ans);
}

/* the records of the asked name count, through its CNAME chain (RFC 2317
 * delegates reverse zones that way); records of other names do not */
static void test_cname_chain_is_followed(void)
{
    struct pkt p, rd;
    struct dns_answer ans;
    memset(&ans, 0, sizeof(ans));
    unsigned char mine[4] = {192, 0, 2, 10}, other[4] = {203, 0, 113, 9};
    reply(&p, "www.example.test", DNS_A, 0);
    answer_name(&p, 5, "Host.Example.Test");
    answer_owned(&p, "elsewhere.test", DNS_A, other, 4);
    answer_owned(&p, "host.example.test", DNS_A, mine, 4);
    set_ancount(&p, 3);
    dns_parse(DNS_A, p.b, (int)p.n, 0, &ans);
    CU_ASSERT_EQUAL_FATAL(ans.status, DNS_FOUND);
    CU_ASSERT_EQUAL_FATAL(ans.n, 1);
    CU_ASSERT_EQUAL(memcmp(ans.rr[0].addr, mine, 4), 0);
    /* RFC 2317: 10.2.0.192.in-addr.arpa CNAME 10.0-25.2.0.192.in-addr.arpa */
    reply(&p, "10.2.0.192.in-addr.arpa", DNS_PTR, 0);
    answer_name(&p, 5, "10.0-25.2.0.192.in-addr.arpa");
    rd.n = 0;
    put_name(&rd, "delegated.client.test");
    answer_owned(&p, "10.0-25.2.0.192.in-addr.arpa", DNS_PTR, rd.b, rd.n);
    set_ancount(&p, 2);
    dns_parse(DNS_PTR, p.b, (int)p.n, 0, &ans);
    CU_ASSERT_EQUAL_FATAL(ans.status, DNS_FOUND);
    CU_ASSERT_STRING_EQUAL(ans.rr[0].text, "delegated.client.test");
    dns_answer_clear(&ans);
}

/* ------------------------------------------------------------ TCP */

struct tc_server {
    int udp, tcp;
    unsigned records;
    int tcp_used;
};

/* tc_serve - answer one question over UDP truncated (TC, no records), then
 * the same question over TCP in full: what a server does with an answer
 * larger than 512 bytes for a client without EDNS. */
static void *tc_serve(void *arg)
{
    struct tc_server *t = arg;
    unsigned char q[512];
    struct sockaddr_in from;
    socklen_t fl = sizeof(from);
    ssize_t n = recvfrom(t->udp, q, sizeof(q), 0, (struct sockaddr *)&from, &fl);
    if (n < 12)
        return NULL;
    unsigned char tc[512];
    memcpy(tc, q, (size_t)n);
    tc[2] = 0x80 | 0x02 | 0x01; /* QR, TC, RD */
    tc[3] = 0x80;
    sendto(t->udp, tc, (size_t)n, 0, (struct sockaddr *)&from, fl);
    int c = accept(t->tcp, NULL, NULL);
    if (c < 0)
        return NULL;
    unsigned char len[2];
    if (recv(c, len, 2, MSG_WAITALL) != 2 ||
        recv(c, q, (size_t)(len[0] << 8 | len[1]), MSG_WAITALL) < 12) {
        close(c);
        return NULL;
    }
    static struct pkt p;
    many_a(&p, "a-many.test", t->records);
    memcpy(p.b, q, 2); /* the question's ID */
    unsigned char hdr[2] = {(unsigned char)(p.n >> 8), (unsigned char)p.n};
    send(c, hdr, 2, 0);
    send(c, p.b, p.n, 0);
    t->tcp_used = 1;
    close(c);
    return NULL;
}

static void test_truncated_answer_is_asked_again_over_tcp(void)
{
    struct tc_server t = {.records = 3000};
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    int bound = 0;
    for (int tries = 0; tries < 20 && !bound; tries++) { /* one port for UDP and TCP */
        t.udp = socket(AF_INET, SOCK_DGRAM, 0);
        t.tcp = socket(AF_INET, SOCK_STREAM, 0);
        memset(&sa, 0, sizeof(sa));
        sa.sin_family = AF_INET;
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        bind(t.udp, (struct sockaddr *)&sa, sizeof(sa));
        getsockname(t.udp, (struct sockaddr *)&sa, &sl);
        bound = bind(t.tcp, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(t.tcp, 1) == 0;
        if (!bound) {
            close(t.udp);
            close(t.tcp);
        }
    }
    CU_ASSERT_FATAL(bound);
    pthread_t th;
    CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, tc_serve, &t), 0);
    char servers[64];
    snprintf(servers, sizeof(servers), "127.0.0.1:%u", ntohs(sa.sin_port));
    struct waiter *w = waiter_new();
    struct dns *d = dns_new(w, servers, 2000, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    char g;
    struct dns_q *q = dns_start(d, &g, "a-many.test", DNS_A, 0, 0, NULL, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(q);
    dns_wait(d, &g);
    pthread_join(th, NULL);
    const struct dns_answer *a = dns_answer_of(q);
    CU_ASSERT(t.tcp_used);
    CU_ASSERT_EQUAL_FATAL(a->status, DNS_FOUND);
    CU_ASSERT_EQUAL_FATAL(a->n, 3000);
    unsigned char client[4] = {192, 0, 2, 40};
    CU_ASSERT_EQUAL(memcmp(a->rr[2999].addr, client, 4), 0);
    dns_free(d);
    waiter_free(w);
    close(t.udp);
    close(t.tcp);
}

static void test_reverse_names(void)
{
    char out[256];
    unsigned char a[16];
    inet_pton(AF_INET, "192.0.2.1", a);
    CU_ASSERT_EQUAL(dns_reverse_name(AF_INET, a, "zen.example", out, sizeof(out)), 0);
    CU_ASSERT_STRING_EQUAL(out, "1.2.0.192.zen.example");
    CU_ASSERT_EQUAL(dns_reverse_name(AF_INET, a, NULL, out, sizeof(out)), 0);
    CU_ASSERT_STRING_EQUAL(out, "1.2.0.192.in-addr.arpa");
    inet_pton(AF_INET6, "2001:db8::1", a);
    CU_ASSERT_EQUAL(dns_reverse_name(AF_INET6, a, "bl.test", out, sizeof(out)), 0);
    CU_ASSERT_STRING_EQUAL(
        out, "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.bl.test");
    CU_ASSERT_EQUAL(dns_reverse_name(AF_INET6, a, "bl.test", out, 40), -1);
}

static void test_hostname_check(void)
{
    CU_ASSERT(dns_hostname_ok("mx.example.com", 14));
    CU_ASSERT(dns_hostname_ok("_spf.example.com", 16));
    CU_ASSERT(!dns_hostname_ok("a..b", 4));
    CU_ASSERT(!dns_hostname_ok("a b", 3));
    CU_ASSERT(!dns_hostname_ok("", 0));
    char big[300];
    memset(big, 'a', sizeof(big));
    CU_ASSERT(!dns_hostname_ok(big, 256));
    CU_ASSERT(!dns_hostname_ok(big, 64)); /* one label over 63 */
}

/* a question to a socket that never answers gives up at its deadline */
static void test_question_gives_up_at_its_deadline(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CU_ASSERT_FATAL(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    char servers[64];
    snprintf(servers, sizeof(servers), "127.0.0.1:%u", ntohs(sa.sin_port));
    struct waiter *w = waiter_new();
    struct dns *d = dns_new(w, servers, 300, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    char g1, g2;
    double t0 = dns_now_ms();
    struct dns_q *q[5];
    for (int i = 0; i < 5; i++) /* five at once cost one timeout */
        q[i] = dns_start(d, &g1, "x.test", DNS_A, 0, 0, NULL, NULL);
    struct dns_q *other = dns_start(d, &g2, "y.test", DNS_A, 0, dns_now_ms() + 5000, NULL, NULL);
    dns_wait(d, &g1);
    double took = dns_now_ms() - t0;
    CU_ASSERT(took >= 280 && took < 600);
    for (int i = 0; i < 5; i++) {
        CU_ASSERT_EQUAL(dns_answer_of(q[i])->status, DNS_ERROR);
        CU_ASSERT_STRING_EQUAL(dns_answer_of(q[i])->why, "timeout");
    }
    CU_ASSERT_EQUAL(dns_answer_of(other)->status, DNS_PENDING); /* not its group */
    CU_ASSERT_EQUAL(dns_pending(d, &g2), 1);
    CU_ASSERT_PTR_NULL(dns_start(d, &g1, "bad name", DNS_A, 0, 0, NULL, NULL));
    dns_release_group(d, &g1);
    dns_free(d);
    waiter_free(w);
    close(fd);
}

/* a client repeating MAIL against a silent server: the questions of every
 * earlier MAIL are released but held by c-ares until its own timeout; the
 * resolver keeps at most DNS_MAX_QUESTIONS of them */
static void test_repeated_stages_hold_a_bounded_number_of_questions(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CU_ASSERT_FATAL(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    char conf[512];
    snprintf(conf, sizeof(conf),
             "[general]\ndns_servers = 127.0.0.1:%u\ndns_timeout = 5s\n"
             "[customers]\nlocal_domains = example.test\n[dnsbl]\nsender_zones = dbl.test\n"
             "[recipients]\nsender_mx = yes\n",
             ntohs(sa.sin_port));
    policy_engine *e = test_engine(conf, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    policy_session *s = policy_session_new(e, "192.0.2.1", NULL);
    policy_connect(s);
    policy_helo(s, "client.test");
    for (int i = 0; i < 20000; i++) { /* 4 questions each: 80,000 without the bound */
        char m[64];
        snprintf(m, sizeof(m), "<a@d%d.test>", i);
        CU_ASSERT_EQUAL(policy_mail(s, m), POLICY_CONTINUE); /* verdicts wait for RCPT */
    }
    CU_ASSERT_TRUE(dns_questions(s->dns) <= DNS_MAX_QUESTIONS);
    /* the last MAIL's questions could not be asked: its RCPT is deferred */
    CU_ASSERT_EQUAL(policy_rcpt(s, "<u@example.test>"), POLICY_TEMPFAIL);
    policy_session_free(s);
    policy_engine_unref(e);
    close(fd);
}

/* an answer that arrived in time counts even when it is collected late */
static void test_answer_in_time_counts_when_collected_late(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sa, from;
    socklen_t sl = sizeof(sa), fl = sizeof(from);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CU_ASSERT_FATAL(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    char servers[64];
    snprintf(servers, sizeof(servers), "127.0.0.1:%u", ntohs(sa.sin_port));
    struct waiter *w = waiter_new();
    struct dns *d = dns_new(w, servers, 200, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    char g;
    struct dns_q *q = dns_start(d, &g, "2.0.0.127.bl.test", DNS_A, 0, 0, NULL, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(q);
    /* play the server: answer the question at once */
    unsigned char buf[512];
    ssize_t n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
    CU_ASSERT_FATAL(n > 12);
    struct pkt p;
    unsigned char ip[4] = {127, 0, 0, 2};
    reply(&p, "2.0.0.127.bl.test", DNS_A, 1);
    memcpy(p.b, buf, 2); /* the question's ID */
    answer(&p, DNS_A, ip, 4);
    sendto(fd, p.b, p.n, 0, (struct sockaddr *)&from, fl);
    usleep(400 * 1000); /* the client takes its time: past the deadline */
    dns_wait(d, &g);
    CU_ASSERT_EQUAL(dns_answer_of(q)->status, DNS_FOUND);
    dns_free(d);
    waiter_free(w);
    close(fd);
}

/* the PTR name is known at the next stage after its answer came in, and
 * the forward question goes out then, not at RCPT */
static void test_ptr_name_is_known_before_rcpt(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sa, from;
    socklen_t sl = sizeof(sa), fl = sizeof(from);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CU_ASSERT_FATAL(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    char conf[512];
    snprintf(conf, sizeof(conf),
             "[general]\ndns_servers = 127.0.0.1:%u\ndns_timeout = 2s\n[customers]\n"
             "trusted_networks = 10.0.0.0/8\n[rdns]\nforward_confirm = yes\n",
             ntohs(sa.sin_port));
    policy_engine *e = engine(conf);
    policy_session *s = policy_session_new(e, "192.0.2.10", NULL);
    CU_ASSERT_EQUAL(policy_connect(s), POLICY_CONTINUE);
    unsigned char buf[512];
    ssize_t n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
    CU_ASSERT_FATAL(n > 12);
    struct pkt p, rd;
    reply(&p, "10.2.0.192.in-addr.arpa", DNS_PTR, 1);
    memcpy(p.b, buf, 2);
    rd.n = 0;
    put_name(&rd, "late.client.test");
    answer(&p, DNS_PTR, rd.b, rd.n);
    sendto(fd, p.b, p.n, 0, (struct sockaddr *)&from, fl);
    usleep(50 * 1000);
    CU_ASSERT_STRING_EQUAL(s->client.host, "");
    policy_helo(s, "client.example"); /* the next stage reads the answer */
    CU_ASSERT_STRING_EQUAL(s->client.host, "late.client.test");
    /* and the forward question is out already */
    struct timeval tv = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
    CU_ASSERT(n > 12 && memmem(buf, (size_t)n,
                               "\x04"
                               "late"
                               "\x06"
                               "client"
                               "\x04"
                               "test",
                               17) != NULL);
    policy_session_free(s);
    policy_engine_unref(e);
    close(fd);
}

static void test_bad_server_list_is_refused(void)
{
    struct waiter *w = waiter_new();
    CU_ASSERT_PTR_NULL(dns_new(w, "[::1", 100, err, sizeof(err)));
    struct dns *d = dns_new(w, "127.0.0.1:53 ::1 [::1]:5353", 100, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL(d);
    dns_free(d);
    waiter_free(w);
}

/* servers70 - 35 IPv6 servers written long and 35 IPv4 ones: about 2.3 KB */
static const char *servers70(void)
{
    static char list[4096];
    size_t n = 0;
    for (int i = 1; i <= 35; i++)
        n += (size_t)snprintf(list + n, sizeof(list) - n,
                              "[0000:0000:0000:0000:0000:0000:0000:0001]:%d 127.0.0.%d:53 ",
                              5300 + i, i + 1);
    return list;
}

static void test_any_number_of_servers_is_taken(void)
{
    const char *list = servers70();
    CU_ASSERT_TRUE(strlen(list) > 2048);
    CU_ASSERT_EQUAL(dns_servers_check(list, err, sizeof(err)), 70);
    struct waiter *w = waiter_new();
    struct dns *d = dns_new(w, list, 100, err, sizeof(err));
    if (!d)
        fprintf(stderr, "\n  dns_new: %s\n", err);
    CU_ASSERT_PTR_NOT_NULL(d);
    dns_free(d);
    waiter_free(w);
    CU_ASSERT_EQUAL(dns_servers_check("192.0.2.1 [::1]:99999", err, sizeof(err)), -1);
    CU_ASSERT_STRING_EQUAL(err, "[::1]:99999");
    CU_ASSERT_EQUAL(dns_servers_check(" , ", err, sizeof(err)), 0);
}

/* ------------------------------------------------------------ rdns, dnsbl */

static policy_engine *engine(const char *conf)
{
    policy_engine *e = test_engine(conf, err, sizeof(err));
    if (!e)
        fprintf(stderr, "\n  engine: %s\n", err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    test_log_clear();
    test_log_attach(e);
    return e;
}

static void test_rdns_takes_the_mta_name_and_spots_generic_ones(void)
{
    policy_engine *e = engine("[general]\ndns_servers = 127.0.0.1:9\n[customers]\n"
                              "trusted_networks = 10.0.0.0/8\n[rdns]\nreject_generic = yes\n"
                              "delay_reject = no\n");
    const char *generic[][2] = {{"192.0.2.13", "192-0-2-13.dyn.isp.test"},
                                {"192.0.2.13", "13.2.0.192.pool.test"},
                                {"192.0.2.13", "host192000002013.isp.test"},
                                {"192.0.2.13", "c000020d.cable.test"},
                                {"2001:db8::1:2:3:4", "h-0001-0002-0003-0004.v6.test"}};
    for (size_t i = 0; i < sizeof(generic) / sizeof(*generic); i++) {
        policy_session *s = policy_session_new(e, generic[i][0], generic[i][1]);
        CU_ASSERT_EQUAL(policy_connect(s), POLICY_REJECT);
        CU_ASSERT_STRING_EQUAL(policy_last_reply(s)->layer, "rdns");
        CU_ASSERT_STRING_EQUAL(policy_last_reply(s)->xcode, "5.7.1");
        policy_session_free(s);
    }
    /* forward confirmation of an MTA-given name that is no host name */
    policy_engine *e2 = engine("[general]\ndns_servers = 127.0.0.1:9\n[customers]\n"
                               "trusted_networks = 10.0.0.0/8\n[rdns]\nforward_confirm = yes\n"
                               "delay_reject = no\n");
    policy_session *s2 = policy_session_new(e2, "192.0.2.13", "bad name!");
    CU_ASSERT_EQUAL(policy_connect(s2), POLICY_REJECT);
    CU_ASSERT_STRING_EQUAL(policy_last_reply(s2)->xcode, "5.7.25");
    policy_session_free(s2);
    policy_engine_unref(e2);
    const char *fine[][2] = {{"192.0.2.13", "mail.example.com"},
                             {"192.0.2.13", "mx13.example.com"}};
    for (size_t i = 0; i < sizeof(fine) / sizeof(*fine); i++) {
        policy_session *s = policy_session_new(e, fine[i][0], fine[i][1]);
        CU_ASSERT_EQUAL(policy_connect(s), POLICY_CONTINUE);
        policy_session_free(s);
    }
    policy_engine_unref(e);
}

static void test_dns_layers_are_off_unless_configured(void)
{
    policy_engine *e = engine("[customers]\ntrusted_networks = 10.0.0.0/8\n");
    policy_session *s = policy_session_new(e, "192.0.2.12", NULL);
    CU_ASSERT_EQUAL(policy_connect(s), POLICY_CONTINUE);
    CU_ASSERT_EQUAL(policy_mail(s, "a@b.example"), POLICY_CONTINUE);
    CU_ASSERT_PTR_NULL(s->dns); /* no resolver was even created */
    policy_session_free(s);
    policy_engine_unref(e);
}

static void test_rblsmtpd_needs_no_dns(void)
{
    policy_engine *e = engine("[customers]\ntrusted_networks = 10.0.0.0/8\n"
                              "local_domains = example.com\n[dnsbl]\n");
    policy_session *s = policy_session_new(e, "192.0.2.12", NULL);
    policy_session_setvar(s, "RBLSMTPD", "-You are listed, see http://example/");
    policy_connect(s);
    policy_mail(s, "a@b.example");
    CU_ASSERT_EQUAL(policy_rcpt(s, "u@example.com"), POLICY_REJECT);
    CU_ASSERT_EQUAL(policy_last_reply(s)->code, 553);
    CU_ASSERT_STRING_EQUAL(policy_last_reply(s)->text, "You are listed, see http://example/");
    policy_session_free(s);
    policy_engine_unref(e);
}

static void test_dnsbl_configuration(void)
{
    const char *bad[] = {"zones = bl.test=127.0.0.[2..x]",
                         "zones = bl.test=127.0.0",
                         "zones = bl.test=127.0.0.[5..2]",
                         "zones = bl.test*0",
                         "zones = bl.test*x",
                         "zones = not..zone",
                         "ptr_zones = dbl.test*2",
                         "threshold = 2\nallowlist_threshold = 2",
                         "timeout = 5ms",
                         "nosuchkey = 1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        char conf[256];
        snprintf(conf, sizeof(conf), "[dnsbl]\n%s\n", bad[i]);
        policy_engine *e = test_engine(conf, err, sizeof(err));
        CU_ASSERT_PTR_NULL(e);
        if (e) {
            fprintf(stderr, "\n  accepted: %s\n", bad[i]);
            policy_engine_unref(e);
        }
    }
    policy_engine *e = engine("[dnsbl]\nzones = zen.example=127.0.0.[2..11] "
                              "bl.example=127.0.[0;1].[1;3..5]*3\n  wl.example*-5\n"
                              "helo_zones = dbl.example\nthreshold = 3\n");
    policy_engine_unref(e);
}

/* ------------------------------------------------------------ SPF with libspf2's zone layer */

/* spf_session_with - a session at MAIL; keys go into the [spf] section */
static policy_session *spf_session_with(policy_engine **e, const char *keys, const char *ip,
                                        const char *helo, const char *from)
{
    char conf[512];
    snprintf(conf, sizeof(conf),
             "[general]\nhostname = mx.example.com\n[customers]\ntrusted_networks = "
             "10.0.0.0/8\n[spf]\n%s\n",
             keys);
    *e = engine(conf);
    policy_session *s = policy_session_new(*e, ip, NULL);
    policy_connect(s);
    policy_helo(s, helo);
    s->txn.sender = (char *)from; /* what policy_mail() records */
    return s;
}

static policy_session *spf_session(policy_engine **e, const char *ip, const char *helo,
                                   const char *from)
{
    return spf_session_with(e, "", ip, helo, from);
}

static enum check spf_with_zone(const char *ip, const char *from, SPF_dns_server_t *zone,
                                int behavior, struct finding *f, policy_engine **e,
                                policy_session **s)
{
    *s = spf_session(e, ip, "helo.example", from);
    memset(f, 0, sizeof(*f));
    return spf_check(*s, zone, behavior, 1, 0, f);
}

static void spf_done(policy_session *s, policy_engine *e)
{
    s->txn.sender = NULL;
    policy_session_free(s);
    policy_engine_unref(e);
}

/* zone_add - a TXT record (and "no data" for the obsolete type SPF, which
 * libspf2 asks for first) */
static void zone_add(SPF_dns_server_t *z, const char *domain, int herrno, const char *txt)
{
    SPF_dns_zone_add_str(z, domain, ns_t_spf, NO_DATA, NULL);
    SPF_dns_zone_add_str(z, domain, ns_t_txt, herrno, txt);
}

static void test_spf_results_through_the_zone_layer(void)
{
    SPF_dns_server_t *z = SPF_dns_zone_new(NULL, "test", 0);
    zone_add(z, "fail.example", NETDB_SUCCESS, "v=spf1 ip4:198.51.100.1 -all");
    zone_add(z, "soft.example", NETDB_SUCCESS, "v=spf1 ~all");
    zone_add(z, "pass.example", NETDB_SUCCESS, "v=spf1 ip4:192.0.2.0/24 -all");
    zone_add(z, "helo.example", NETDB_SUCCESS, "v=spf1 -all");
    zone_add(z, "perm.example", NETDB_SUCCESS, "v=spf1 ip4:300.1.1.1 -all");
    zone_add(z, "tmp.example", TRY_AGAIN, NULL);
    zone_add(z, "inc.example", NETDB_SUCCESS, "v=spf1 include:tmp.example -all");
    struct finding f;
    policy_engine *e;
    policy_session *s;

    CU_ASSERT_EQUAL(spf_with_zone("192.0.2.10", "a@pass.example", z, 3, &f, &e, &s), CHECK_NOMATCH);
    const policy_edit *ed;
    CU_ASSERT_EQUAL_FATAL(s->nconn_edits + s->nedits, 1);
    spf_done(s, e);

    CU_ASSERT_EQUAL(spf_with_zone("192.0.2.10", "a@fail.example", z, 3, &f, &e, &s), CHECK_MATCH);
    CU_ASSERT_EQUAL(f.code, 550);
    CU_ASSERT_STRING_EQUAL(f.xcode, "5.7.23");
    spf_done(s, e);
    CU_ASSERT_EQUAL(spf_with_zone("192.0.2.10", "a@fail.example", z, 2, &f, &e, &s), CHECK_NOMATCH);
    spf_done(s, e);
    CU_ASSERT_EQUAL(spf_with_zone("192.0.2.10", "a@soft.example", z, 3, &f, &e, &s), CHECK_NOMATCH);
    spf_done(s, e);
    CU_ASSERT_EQUAL(spf_with_zone("192.0.2.10", "a@soft.example", z, 4, &f, &e, &s), CHECK_MATCH);
    spf_done(s, e);
    /* a record that cannot be fetched (TRY_AGAIN): temperror, never "none" */
    CU_ASSERT_EQUAL(spf_with_zone("192.0.2.10", "a@tmp.example", z, 3, &f, &e, &s), CHECK_ERROR);
    CU_ASSERT_EQUAL(f.code, 451);
    CU_ASSERT_STRING_EQUAL(f.xcode, "4.7.24");
    spf_done(s, e);
    CU_ASSERT_EQUAL(spf_with_zone("192.0.2.10", "a@inc.example", z, 3, &f, &e, &s), CHECK_ERROR);
    spf_done(s, e);
    CU_ASSERT_EQUAL(spf_with_zone("192.0.2.10", "a@tmp.example", z, 1, &f, &e, &s), CHECK_NOMATCH);
    spf_done(s, e);
    /* a broken record: permerror, refused only at level 6 */
    CU_ASSERT_EQUAL(spf_with_zone("192.0.2.10", "a@perm.example", z, 5, &f, &e, &s), CHECK_NOMATCH);
    spf_done(s, e);
    CU_ASSERT_EQUAL(spf_with_zone("192.0.2.10", "a@perm.example", z, 6, &f, &e, &s), CHECK_MATCH);
    CU_ASSERT_STRING_EQUAL(f.xcode, "5.7.24");
    spf_done(s, e);
    /* no record: none, refused at level 6 only */
    CU_ASSERT_EQUAL(spf_with_zone("192.0.2.10", "a@none.example", z, 5, &f, &e, &s), CHECK_NOMATCH);
    spf_done(s, e);
    CU_ASSERT_EQUAL(spf_with_zone("192.0.2.10", "a@none.example", z, 6, &f, &e, &s), CHECK_MATCH);
    spf_done(s, e);
    /* the null sender without HELO: nothing to check (none) */
    s = spf_session(&e, "192.0.2.10", "", "");
    s->client.helo_given = 0;
    s->client.helo[0] = '\0';
    memset(&f, 0, sizeof(f));
    CU_ASSERT_EQUAL(spf_check(s, z, 5, 1, 0, &f), CHECK_NOMATCH);
    CU_ASSERT_EQUAL(spf_check(s, z, 6, 1, 0, &f), CHECK_MATCH);
    spf_done(s, e);
    /* the null sender is checked as postmaster@HELO */
    CU_ASSERT_EQUAL(spf_with_zone("192.0.2.10", "", z, 3, &f, &e, &s), CHECK_MATCH);
    CU_ASSERT_PTR_NOT_NULL(strstr(f.reason, "postmaster@helo.example"));
    spf_done(s, e);
    (void)ed;
    SPF_dns_free(z);
}

/* a refusal says what failed; it quotes the domain's own explanation, or
 * the configured one, never libspf2's default link to openspf.org */
static void test_spf_explanation(void)
{
    SPF_dns_server_t *z = SPF_dns_zone_new(NULL, "test", 0);
    zone_add(z, "fail.example", NETDB_SUCCESS, "v=spf1 ip4:198.51.100.1 -all");
    zone_add(z, "exp.example", NETDB_SUCCESS, "v=spf1 -all exp=why.exp.example");
    SPF_dns_zone_add_str(z, "why.exp.example", ns_t_txt, NETDB_SUCCESS,
                         "%{i}%_may%_not%_send%_mail%_for%_%{d}");
    struct finding f;
    policy_engine *e;
    policy_session *s;

    CU_ASSERT_EQUAL(spf_with_zone("192.0.2.10", "a@fail.example", z, 3, &f, &e, &s), CHECK_MATCH);
    CU_ASSERT_STRING_EQUAL(f.text, "<a@fail.example>: Sender address rejected: SPF validation "
                                   "failed (fail) for fail.example from [192.0.2.10]");
    spf_done(s, e);
    CU_ASSERT_EQUAL(spf_with_zone("192.0.2.10", "a@exp.example", z, 3, &f, &e, &s), CHECK_MATCH);
    CU_ASSERT_STRING_EQUAL(f.text, "<a@exp.example>: Sender address rejected: SPF validation "
                                   "failed (fail) for exp.example from [192.0.2.10]: exp.example "
                                   "explains: 192.0.2.10 may not send mail for exp.example");
    spf_done(s, e);

    /* configured: expanded for the request (%{S} URL-escaped, RFC 7208
     * 7.3); the domain's own still wins */
    const char *keys = "explanation = Not allowed, see https://%{r}/spf?ip=%{i}&from=%{S}";
    s = spf_session_with(&e, keys, "192.0.2.10", "helo.example", "a@fail.example");
    memset(&f, 0, sizeof(f));
    CU_ASSERT_EQUAL(spf_check(s, z, 3, 1, 0, &f), CHECK_MATCH);
    CU_ASSERT_STRING_EQUAL(f.text,
                           "<a@fail.example>: Sender address rejected: SPF validation "
                           "failed (fail) for fail.example from [192.0.2.10]: Not allowed, see "
                           "https://mx.example.com/spf?ip=192.0.2.10&from=a%40fail.example");
    CU_ASSERT_PTR_NULL(strstr(f.text, "openspf"));
    s->txn.sender = (char *)"a@exp.example";
    memset(&f, 0, sizeof(f));
    CU_ASSERT_EQUAL(spf_check(s, z, 3, 1, 0, &f), CHECK_MATCH);
    CU_ASSERT_PTR_NOT_NULL(strstr(f.text, ": exp.example explains: 192.0.2.10 may not send"));
    spf_done(s, e);

    s = spf_session_with(&e, "explanation = none", "192.0.2.10", "helo.example", "a@fail.example");
    memset(&f, 0, sizeof(f));
    CU_ASSERT_EQUAL(spf_check(s, z, 3, 1, 0, &f), CHECK_MATCH);
    CU_ASSERT_STRING_EQUAL(f.text, "<a@fail.example>: Sender address rejected: SPF validation "
                                   "failed (fail) for fail.example from [192.0.2.10]");
    spf_done(s, e);

    /* what libspf2 cannot expand is a configuration error */
    const char *bad[] = {"explanation = %{z}", "explanation = %{i"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        char conf[128];
        snprintf(conf, sizeof(conf), "[spf]\n%s\n", bad[i]);
        policy_engine *b = test_engine(conf, err, sizeof(err));
        CU_ASSERT_PTR_NULL(b);
        if (b) {
            fprintf(stderr, "\n  accepted: %s\n", bad[i]);
            policy_engine_unref(b);
        }
    }
    SPF_dns_free(z);
}

/* a DNS layer that makes libspf2 call SPF_error(): must not abort */
static SPF_dns_rr_t *exploding_lookup(SPF_dns_server_t *srv, const char *domain, ns_type type,
                                      int should_cache)
{
    (void)srv;
    (void)domain;
    (void)type;
    (void)should_cache;
    SPF_error("test: libspf2 internal error");
}

static void test_spf_error_does_not_abort(void)
{
    SPF_dns_server_t boom;
    memset(&boom, 0, sizeof(boom));
    boom.lookup = exploding_lookup;
    boom.name = "boom";
    struct finding f;
    policy_engine *e;
    policy_session *s;
    CU_ASSERT_EQUAL(spf_with_zone("192.0.2.10", "a@x.example", &boom, 3, &f, &e, &s), CHECK_ERROR);
    CU_ASSERT(test_log_has("libspf2 internal error"));
    spf_done(s, e);
}

/* No address: the address layers have nothing to ask (a dead server would
 * defer every question after the timeout); the RHSBLs still run. */
static void test_unknown_address_asks_no_address_question(void)
{
    policy_engine *e =
        engine("[general]\ndns_servers = 127.0.0.1:9\ndns_timeout = 2s\n"
               "[customers]\nlocal_domains = example.test\n[rdns]\n"
               "forward_confirm = yes\n[dnsbl]\nzones = bl.test\nptr_zones = dbl.test\n"
               "[spf]\n");
    policy_session *s = policy_session_new(e, NULL, "named.by.the.mta.test");
    double t0 = dns_now_ms();
    CU_ASSERT_EQUAL(policy_connect(s), POLICY_CONTINUE);
    CU_ASSERT_EQUAL(policy_helo(s, "client.test"), POLICY_CONTINUE);
    CU_ASSERT_EQUAL(policy_mail(s, "<a@sender.test>"), POLICY_CONTINUE);
    CU_ASSERT_EQUAL(policy_rcpt(s, "<u@example.test>"), POLICY_CONTINUE);
    CU_ASSERT_TRUE(dns_now_ms() - t0 < 1000); /* no question waited for the dead server */
    policy_session_free(s);
    policy_engine_unref(e);
}

int suite_dns(void)
{
    CU_pSuite s = CU_add_suite("dns", NULL, NULL);
    if (!s)
        return -1;
    CU_ADD_TEST(s, test_txt_is_joined_sanitized_and_bounded);
    CU_ADD_TEST(s, test_a_and_aaaa_answers);
    CU_ADD_TEST(s, test_mx_and_the_null_mx);
    CU_ADD_TEST(s, test_ptr_names_are_checked_and_lowercased);
    CU_ADD_TEST(s, test_malformed_replies_are_errors);
    CU_ADD_TEST(s, test_every_record_of_a_big_answer_is_kept);
    CU_ADD_TEST(s, test_malformed_ptr_is_an_error_not_a_missing_name);
    CU_ADD_TEST(s, test_cname_chain_is_followed);
    CU_ADD_TEST(s, test_truncated_answer_is_asked_again_over_tcp);
    CU_ADD_TEST(s, test_reverse_names);
    CU_ADD_TEST(s, test_hostname_check);
    CU_ADD_TEST(s, test_question_gives_up_at_its_deadline);
    CU_ADD_TEST(s, test_answer_in_time_counts_when_collected_late);
    CU_ADD_TEST(s, test_ptr_name_is_known_before_rcpt);
    CU_ADD_TEST(s, test_bad_server_list_is_refused);
    CU_ADD_TEST(s, test_repeated_stages_hold_a_bounded_number_of_questions);
    CU_ADD_TEST(s, test_any_number_of_servers_is_taken);
    CU_ADD_TEST(s, test_rdns_takes_the_mta_name_and_spots_generic_ones);
    CU_ADD_TEST(s, test_dns_layers_are_off_unless_configured);
    CU_ADD_TEST(s, test_rblsmtpd_needs_no_dns);
    CU_ADD_TEST(s, test_dnsbl_configuration);
    CU_ADD_TEST(s, test_spf_results_through_the_zone_layer);
    CU_ADD_TEST(s, test_spf_error_does_not_abort);
    CU_ADD_TEST(s, test_spf_explanation);
    CU_ADD_TEST(s, test_unknown_address_asks_no_address_question);
    return 0;
}
