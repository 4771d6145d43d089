/*
 * test_mime.c - the streaming MIME parser and its text conversion, on
 * hand-made hostile messages: one test per trick (boundaries, nesting,
 * headers, encodings, names, uuencode, charsets, HTML).  Every message is
 * also fed byte by byte, in 64 KB chunks and in random pieces: the events
 * must be exactly the same.
 */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mime.h"
#include "mimetext.h"
#include "suites.h"

#define REC_PARTS 64
#define REC_BODY  65536
#define REC_LOG   (1 << 20)

struct rpart {
    struct mime_part p; /* copied at part_end */
    int begun, ended;
    char body[REC_BODY];
    size_t blen;
    char text[REC_BODY];
    size_t tlen;
    unsigned nheaders;
};

/* What a parse produced: per-part facts and a transcript of every event. */
struct rec {
    struct rpart parts[REC_PARTS];
    unsigned n;
    char *log;
    size_t loglen;
    unsigned flags;
    int changed;     /* a part's kind or decoded fact changed after part_begin */
    char hdrs[8192]; /* "index name: value\n" of every header */
    size_t hlen;
    char raw0[8192]; /* raw bytes of the top-level headers, concatenated */
    size_t rawlen;
};

static void logf_(struct rec *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#include <stdarg.h>
static void logf_(struct rec *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(r->log + r->loglen, REC_LOG - r->loglen, fmt, ap);
    va_end(ap);
    if (n > 0)
        r->loglen += (size_t)n < REC_LOG - r->loglen ? (size_t)n : REC_LOG - r->loglen - 1;
}

static void log_bytes(struct rec *r, const void *d, size_t n)
{
    if (r->loglen + n + 2 < REC_LOG) {
        memcpy(r->log + r->loglen, d, n);
        r->loglen += n;
        r->log[r->loglen++] = '\n';
    }
}

static void rec_header(void *ctx, const struct mime_part *p, const struct mime_header *h)
{
    struct rec *r = ctx;
    logf_(r, "H %u %zu %zu %llu %d\n", p->index, h->name_len, h->value_len,
          (unsigned long long)h->offset, h->truncated);
    log_bytes(r, h->raw, h->raw_len);
    if (p->index < REC_PARTS)
        r->parts[p->index].nheaders++;
    int k = snprintf(r->hdrs + r->hlen, sizeof(r->hdrs) - r->hlen, "%u %.*s: %.*s\n", p->index,
                     (int)h->name_len, h->name, (int)h->value_len, h->value);
    if (k > 0 && (size_t)k < sizeof(r->hdrs) - r->hlen)
        r->hlen += (size_t)k;
    if (p->index == 0 && r->rawlen + h->raw_len < sizeof(r->raw0)) {
        memcpy(r->raw0 + r->rawlen, h->raw, h->raw_len);
        r->rawlen += h->raw_len;
    }
}

static void rec_begin(void *ctx, const struct mime_part *p)
{
    struct rec *r = ctx;
    logf_(r, "B %u %u %d %d %d %s/%s [%s] [%s] [%s] [%s] %llu %llu %d\n", p->index, p->depth,
          p->parent, (int)p->kind, (int)p->origin, p->type, p->subtype, p->charset, p->disposition,
          p->filename, p->encoding, (unsigned long long)p->header_off,
          (unsigned long long)p->body_off, p->raw_offsets);
    if (p->index < REC_PARTS) {
        r->parts[p->index].begun = 1;
        r->parts[p->index].p = *p;
        if (p->index + 1 > r->n)
            r->n = p->index + 1;
    }
}

static void rec_body(void *ctx, const struct mime_part *p, const unsigned char *d, size_t n)
{
    struct rec *r = ctx;
    logf_(r, "D %u %zu\n", p->index, n);
    log_bytes(r, d, n);
    if (p->index < REC_PARTS) {
        struct rpart *rp = &r->parts[p->index];
        size_t k = n < REC_BODY - 1 - rp->blen ? n : REC_BODY - 1 - rp->blen;
        memcpy(rp->body + rp->blen, d, k);
        rp->blen += k;
    }
}

static void rec_text(void *ctx, const struct mime_part *p, const char *s, size_t n)
{
    struct rec *r = ctx;
    logf_(r, "T %u %zu\n", p->index, n);
    log_bytes(r, s, n);
    if (p->index < REC_PARTS) {
        struct rpart *rp = &r->parts[p->index];
        size_t k = n < REC_BODY - 1 - rp->tlen ? n : REC_BODY - 1 - rp->tlen;
        memcpy(rp->text + rp->tlen, s, k);
        rp->tlen += k;
    }
}

static void rec_end(void *ctx, const struct mime_part *p)
{
    struct rec *r = ctx;
    logf_(r, "E %u %llu %llu %x %d\n", p->index, (unsigned long long)p->body_end,
          (unsigned long long)p->decoded_len, p->flags, p->decoded);
    if (p->index < REC_PARTS) {
        struct rpart *rp = &r->parts[p->index];
        if (rp->p.kind != p->kind || rp->p.decoded != p->decoded ||
            strcmp(rp->p.filename, p->filename) || strcmp(rp->p.type, p->type))
            r->changed = 1;
        rp->ended = 1;
        rp->p = *p;
    }
}

/* parse - feed msg in pieces of chunk bytes (0: random pieces) into a
 * fresh record. */
static struct rec *parse_lim(const char *msg, size_t len, size_t chunk, unsigned want,
                             const struct mime_limits *lim)
{
    struct rec *r = calloc(1, sizeof(*r));
    r->log = calloc(1, REC_LOG);
    struct mime_handler h = {want, r, rec_header, rec_begin, rec_body, rec_text, rec_end};
    struct mime_parser *m = mime_new(&h, lim);
    unsigned seed = 12345;
    for (size_t o = 0; o < len;) {
        size_t k = chunk;
        if (!k) {
            seed = seed * 1103515245 + 12345;
            k = 1 + (seed >> 16) % 97;
        }
        if (k > len - o)
            k = len - o;
        mime_feed(m, msg + o, k);
        o += k;
    }
    r->flags = mime_finish(m);
    mime_free(m);
    return r;
}

#define ALL (MIME_WANT_HEADERS | MIME_WANT_BODY | MIME_WANT_TEXT)

static struct rec *parse(const char *msg)
{
    return parse_lim(msg, strlen(msg), 65536, ALL, NULL);
}

static void rec_free(struct rec *r)
{
    free(r->log);
    free(r);
}

/* same_events - whole, 1-byte, 64 KB and random chunking: identical events. */
static int same_events(const char *msg, size_t len, const struct mime_limits *lim)
{
    struct rec *a = parse_lim(msg, len, len ? len : 1, ALL, lim);
    size_t sizes[] = {1, 65536, 0, 7};
    int same = 1;
    for (size_t i = 0; i < sizeof(sizes) / sizeof(*sizes); i++) {
        struct rec *b = parse_lim(msg, len, sizes[i], ALL, lim);
        if (a->loglen != b->loglen || memcmp(a->log, b->log, a->loglen) != 0 ||
            a->flags != b->flags) {
            same = 0;
            fprintf(stderr, "\n  events differ with chunk %zu\n", sizes[i]);
        }
        rec_free(b);
    }
    rec_free(a);
    return same;
}

static const struct mime_part *part(struct rec *r, unsigned i)
{
    return i < r->n ? &r->parts[i].p : NULL;
}

static int body_is(struct rec *r, unsigned i, const char *want)
{
    if (i >= r->n)
        return 0;
    struct rpart *rp = &r->parts[i];
    int ok = rp->blen == strlen(want) && !memcmp(rp->body, want, rp->blen);
    if (!ok)
        fprintf(stderr, "\n  part %u body [%.*s] want [%s]", i, (int)rp->blen, rp->body, want);
    return ok;
}

static int text_is(struct rec *r, unsigned i, const char *want)
{
    struct rpart *rp = &r->parts[i];
    int ok = rp->tlen == strlen(want) && !memcmp(rp->text, want, rp->tlen);
    if (!ok)
        fprintf(stderr, "\n  part %u text [%.*s] want [%s]", i, (int)rp->tlen, rp->text, want);
    return ok;
}

static int type_is(struct rec *r, unsigned i, const char *t)
{
    char buf[2 * MIME_TYPE_MAX + 2];
    const struct mime_part *p = part(r, i);
    if (!p)
        return 0;
    snprintf(buf, sizeof(buf), "%s/%s", p->type, p->subtype);
    if (strcmp(buf, t))
        fprintf(stderr, "\n  part %u type %s want %s", i, buf, t);
    return !strcmp(buf, t);
}

static int name_is(struct rec *r, unsigned i, const char *n)
{
    const struct mime_part *p = part(r, i);
    if (p && strcmp(p->filename, n))
        fprintf(stderr, "\n  part %u name [%s] want [%s]", i, p->filename, n);
    return p && !strcmp(p->filename, n);
}

/* ------------------------------------------------------------------ tests */

static const char *const basic = "From: a@example.com\r\n"
                                 "Subject: test\r\n"
                                 "MIME-Version: 1.0\r\n"
                                 "Content-Type: multipart/mixed; boundary=\"b1\"\r\n"
                                 "\r\n"
                                 "preamble\r\n"
                                 "--b1\r\n"
                                 "Content-Type: text/plain; charset=UTF-8\r\n"
                                 "\r\n"
                                 "hello\r\n"
                                 "world\r\n"
                                 "--b1\r\n"
                                 "Content-Type: application/octet-stream; name=\"a.bin\"\r\n"
                                 "Content-Transfer-Encoding: base64\r\n"
                                 "\r\n"
                                 "AAEC\r\n"
                                 "--b1--\r\n";

static void test_mime_multipart_parts_with_facts_and_offsets(void)
{
    struct rec *r = parse(basic);
    CU_ASSERT_EQUAL(r->n, 3);
    CU_ASSERT(type_is(r, 0, "multipart/mixed"));
    CU_ASSERT_EQUAL(part(r, 0)->kind, MIME_MULTIPART);
    CU_ASSERT(type_is(r, 1, "text/plain"));
    CU_ASSERT_STRING_EQUAL(part(r, 1)->charset, "utf-8");
    CU_ASSERT_EQUAL(part(r, 1)->parent, 0);
    CU_ASSERT_EQUAL(part(r, 1)->depth, 1);
    CU_ASSERT(body_is(r, 1, "hello\r\nworld")); /* the last CRLF belongs to the boundary */
    CU_ASSERT(type_is(r, 2, "application/octet-stream"));
    CU_ASSERT(name_is(r, 2, "a.bin"));
    CU_ASSERT_EQUAL(part(r, 2)->cte, MIME_CTE_BASE64);
    CU_ASSERT_EQUAL(r->parts[2].blen, 3);
    CU_ASSERT(!memcmp(r->parts[2].body, "\x00\x01\x02", 3));
    CU_ASSERT_EQUAL(part(r, 2)->decoded_len, 3);
    CU_ASSERT(body_is(r, 0, "preamble")); /* a multipart's body events: its preamble */
    /* offsets re-read the raw parts from the message */
    const struct mime_part *p = part(r, 1);
    CU_ASSERT_EQUAL(p->body_end - p->body_off, strlen("hello\r\nworld"));
    CU_ASSERT(!memcmp(basic + p->body_off, "hello\r\nworld", p->body_end - p->body_off));
    CU_ASSERT(!memcmp(basic + p->header_off, "Content-Type: text/plain", 24));
    p = part(r, 2);
    CU_ASSERT(!memcmp(basic + p->body_off, "AAEC", 4));
    CU_ASSERT_EQUAL(p->body_end - p->body_off, 4);
    CU_ASSERT_EQUAL(part(r, 0)->body_end, strlen(basic));
    CU_ASSERT_EQUAL(r->flags, 0);
    /* every header, top-level raw bytes exactly as written */
    CU_ASSERT(strstr(r->hdrs, "0 Subject: test\n") != NULL);
    CU_ASSERT(strstr(r->hdrs, "2 Content-Transfer-Encoding: base64\n") != NULL);
    CU_ASSERT_EQUAL(r->rawlen, strstr(basic, "\r\n\r\n") + 2 - basic);
    CU_ASSERT(!memcmp(r->raw0, basic, r->rawlen));
    CU_ASSERT(same_events(basic, strlen(basic), NULL));
    rec_free(r);
}

static void test_mime_line_ends_lf_crlf_mixed_and_bare_cr(void)
{
    const char *lf = "Content-Type: multipart/mixed; boundary=x\n\n--x\n\na\nb\n--x--\n";
    const char *mixed = "Content-Type: multipart/mixed; boundary=x\r\n\n--x\r\n\r\na\nb\r\n--x--\n";
    const char *cr =
        "Content-Type: multipart/mixed; boundary=x\n\n--x\n\na\rb\r\n--x\r\n\nc\n--x--";
    struct rec *r = parse(lf);
    CU_ASSERT_EQUAL(r->n, 2);
    CU_ASSERT(body_is(r, 1, "a\nb"));
    rec_free(r);
    r = parse(mixed);
    CU_ASSERT_EQUAL(r->n, 2);
    CU_ASSERT(body_is(r, 1, "a\nb"));
    rec_free(r);
    r = parse(cr);
    CU_ASSERT_EQUAL(r->n, 3);
    CU_ASSERT(body_is(r, 1, "a\rb"));
    CU_ASSERT(body_is(r, 2, "c"));
    CU_ASSERT_EQUAL(r->flags & MIME_F_UNCLOSED, 0); /* "--x--" without a line end still closes */
    rec_free(r);
    /* a line of bare CRs ends the header block like an empty one */
    r = parse("Subject: cr\r\n\r\r\nContent-Type: application/zip; name=z.zip\r\n\r\nPK\r\n");
    CU_ASSERT(body_is(r, 0, "Content-Type: application/zip; name=z.zip\r\n\r\nPK\r\n"));
    CU_ASSERT(type_is(r, 0, "text/plain"));
    rec_free(r);
    CU_ASSERT(same_events(lf, strlen(lf), NULL));
    CU_ASSERT(same_events(mixed, strlen(mixed), NULL));
    CU_ASSERT(same_events(cr, strlen(cr), NULL));
}

static void test_mime_nesting_limit_reads_deep_part_as_leaf(void)
{
    const char *msg = "Content-Type: multipart/mixed; boundary=a\n\n"
                      "--a\nContent-Type: multipart/mixed; boundary=b\n\n"
                      "--b\nContent-Type: multipart/mixed; boundary=c\n\n"
                      "--c\nContent-Type: text/plain\n\ndeep\n--c--\n"
                      "--b--\n--a--\n";
    struct mime_limits lim = {.depth = 2};
    struct rec *r = parse_lim(msg, strlen(msg), 65536, ALL, &lim);
    CU_ASSERT(r->flags & MIME_F_DEPTH);
    CU_ASSERT_EQUAL(r->n, 3);
    CU_ASSERT(type_is(r, 2, "multipart/mixed"));
    CU_ASSERT_EQUAL(part(r, 2)->kind, MIME_LEAF); /* its content is not hidden: one body */
    CU_ASSERT(strstr(r->parts[2].body, "deep") != NULL);
    CU_ASSERT(strstr(r->parts[2].body, "--c--") != NULL);
    rec_free(r);
    r = parse(msg); /* default limit: four parts */
    CU_ASSERT_EQUAL(r->n, 4);
    CU_ASSERT(body_is(r, 3, "deep"));
    CU_ASSERT_EQUAL(part(r, 3)->depth, 3);
    CU_ASSERT_EQUAL(r->flags, 0);
    rec_free(r);
    /* 300 levels: bounded, flagged, no crash */
    char *big = malloc(300 * 60 + 100), *o = big;
    CU_ASSERT_PTR_NOT_NULL_FATAL(big);
    for (int i = 0; i < 300; i++)
        o += sprintf(o, "Content-Type: multipart/mixed; boundary=z%d\n\n--z%d\n", i, i);
    strcpy(o, "\nend\n");
    r = parse_lim(big, strlen(big), 65536, ALL, NULL);
    CU_ASSERT(r->flags & MIME_F_DEPTH);
    CU_ASSERT(same_events(big, strlen(big), NULL));
    rec_free(r);
    free(big);
}

static void test_mime_part_limit_is_flagged(void)
{
    char msg[4096], *o = msg;
    o += sprintf(o, "Content-Type: multipart/mixed; boundary=p\n\n");
    for (int i = 0; i < 10; i++)
        o += sprintf(o, "--p\nContent-Type: text/plain\n\npart %d\n", i);
    sprintf(o, "--p--\n");
    struct mime_limits lim = {.parts = 5};
    struct rec *r = parse_lim(msg, strlen(msg), 65536, ALL, &lim);
    CU_ASSERT_EQUAL(r->n, 5);
    CU_ASSERT(r->flags & MIME_F_PARTS);
    CU_ASSERT(part(r, 0)->flags & MIME_F_PARTS);
    CU_ASSERT(body_is(r, 4, "part 3"));
    CU_ASSERT(same_events(msg, strlen(msg), &lim));
    rec_free(r);
}

static void test_mime_missing_final_boundary_closes_at_end(void)
{
    const char *msg = "Content-Type: multipart/mixed; boundary=m\n\n"
                      "--m\nContent-Type: text/plain\n\none\n"
                      "--m\nContent-Type: application/zip; name=x.zip\n"
                      "Content-Transfer-Encoding: base64\n\nUEsDBA==\n";
    struct rec *r = parse(msg);
    CU_ASSERT_EQUAL(r->n, 3);
    CU_ASSERT(r->flags & MIME_F_UNCLOSED);
    CU_ASSERT(part(r, 0)->flags & MIME_F_UNCLOSED);
    CU_ASSERT(name_is(r, 2, "x.zip"));
    CU_ASSERT_EQUAL(r->parts[2].blen, 4);
    CU_ASSERT(!memcmp(r->parts[2].body, "PK\x03\x04", 4));
    CU_ASSERT(body_is(r, 1, "one"));
    CU_ASSERT(same_events(msg, strlen(msg), NULL));
    rec_free(r);
}

static void test_mime_boundaries_that_prefix_each_other(void)
{
    /* inner "abcd" inside outer "abc", then inner "abc" inside outer "abcd" */
    const char *m1 = "Content-Type: multipart/mixed; boundary=abc\n\n"
                     "--abc\nContent-Type: multipart/alternative; boundary=abcd\n\n"
                     "--abcd\n\ninner1\n--abcd\n\ninner2\n--abcd--\n"
                     "--abc\n\nouter2\n--abc--\n";
    const char *m2 = "Content-Type: multipart/mixed; boundary=abcd\n\n"
                     "--abcd\nContent-Type: multipart/alternative; boundary=abc\n\n"
                     "--abc\n\ninner1\n--abc\n\ninner2\n--abc--\n"
                     "--abcd\n\nouter2\n--abcd--\n";
    for (int k = 0; k < 2; k++) {
        const char *msg = k ? m2 : m1;
        struct rec *r = parse(msg);
        CU_ASSERT_EQUAL(r->n, 5);
        CU_ASSERT(body_is(r, 2, "inner1"));
        CU_ASSERT(body_is(r, 3, "inner2"));
        CU_ASSERT(body_is(r, 4, "outer2"));
        CU_ASSERT_EQUAL(part(r, 4)->parent, 0);
        CU_ASSERT_EQUAL(part(r, 3)->parent, 1);
        CU_ASSERT_EQUAL(r->flags, 0);
        CU_ASSERT(same_events(msg, strlen(msg), NULL));
        rec_free(r);
    }
}

static void test_mime_multipart_body_ends_before_the_next_boundary(void)
{
    const char *msg = "Content-Type: multipart/mixed; boundary=o\n\n"
                      "--o\nContent-Type: multipart/alternative; boundary=i\n\npre\r\n"
                      "--i\n\nx\n--i--\n--o\n\ny\n--i--\r\nafter\n--o--\n";
    struct rec *r = parse(msg);
    CU_ASSERT_EQUAL(r->n, 4);
    const struct mime_part *p = part(r, 1);
    /* the inner multipart's body: preamble, its part, its final boundary */
    CU_ASSERT_EQUAL(p->body_end, strstr(msg, "--i--\n--o") + 5 - msg);
    CU_ASSERT(body_is(r, 3, "y\n--i--\r\nafter"));
    rec_free(r);
}

static void test_mime_boundary_with_trailing_blanks_and_lookalikes(void)
{
    const char *msg = "Content-Type: multipart/mixed; boundary=\"q q\"\n\n"
                      "--q q \t\n\nfirst\n--q qX\nstill first\n-- q q\n"
                      "--q q  \r\n\nsecond\n--q q-- \t\nepilogue text\n";
    struct rec *r = parse(msg);
    CU_ASSERT_EQUAL(r->n, 3);
    CU_ASSERT(body_is(r, 1, "first\n--q qX\nstill first\n-- q q"));
    CU_ASSERT(body_is(r, 2, "second"));
    CU_ASSERT(r->flags & MIME_F_EPILOGUE);
    CU_ASSERT_EQUAL(r->flags & MIME_F_UNCLOSED, 0);
    CU_ASSERT(same_events(msg, strlen(msg), NULL));
    rec_free(r);
}

static void test_mime_overlong_boundary_matches_on_its_prefix(void)
{
    char b[400], msg[2000];
    memset(b, 'B', sizeof(b) - 1);
    b[sizeof(b) - 1] = '\0';
    snprintf(msg, sizeof(msg),
             "Content-Type: multipart/mixed; boundary=\"%s\"\n\n--%s\n"
             "Content-Type: application/x-msdownload; name=evil.exe\n\nMZ\n--%s--\n",
             b, b, b);
    struct rec *r = parse(msg);
    CU_ASSERT(r->flags & MIME_F_BOUNDARY_LONG);
    CU_ASSERT_EQUAL(r->n, 2);
    CU_ASSERT(name_is(r, 1, "evil.exe"));
    CU_ASSERT(body_is(r, 1, "MZ"));
    CU_ASSERT(same_events(msg, strlen(msg), NULL));
    rec_free(r);
}

static void test_mime_boundary_in_unexpected_places(void)
{
    /* in a part's header block, inside base64, in a nested message's headers */
    const char *msg = "Content-Type: multipart/mixed; boundary=u\n\n"
                      "--u\nContent-Type: text/plain\n"
                      "--u\nContent-Type: application/octet-stream; name=a.exe\n"
                      "Content-Transfer-Encoding: base64\n\nTVqQ\n--u\nAAAA\n"
                      "--u\nContent-Type: message/rfc822\n\nSubject: inner\n"
                      "--u\nContent-Type: image/gif; name=b.gif\n\nGIF89a\n--u--\n";
    struct rec *r = parse(msg);
    CU_ASSERT_EQUAL(r->n, 7);
    CU_ASSERT(type_is(r, 1, "text/plain"));
    CU_ASSERT_EQUAL(r->parts[1].blen, 0);
    CU_ASSERT(name_is(r, 2, "a.exe"));
    CU_ASSERT_EQUAL(part(r, 2)->decoded_len, 3);
    CU_ASSERT_EQUAL(part(r, 3)->flags & MIME_F_NO_HEADERS, MIME_F_NO_HEADERS);
    CU_ASSERT(body_is(r, 3, "AAAA"));
    CU_ASSERT(type_is(r, 4, "message/rfc822"));
    CU_ASSERT_EQUAL(part(r, 5)->parent, 4);
    CU_ASSERT(strstr(r->hdrs, "5 Subject: inner\n") != NULL);
    CU_ASSERT(name_is(r, 6, "b.gif"));
    CU_ASSERT(body_is(r, 6, "GIF89a"));
    CU_ASSERT(same_events(msg, strlen(msg), NULL));
    rec_free(r);
}

static void test_mime_message_rfc822_and_digest(void)
{
    const char *msg =
        "Content-Type: multipart/mixed; boundary=o\n\n"
        "--o\nContent-Type: message/rfc822\n\n"
        "From: x@example.com\nSubject: fwd\nContent-Type: multipart/mixed; boundary=i\n\n"
        "--i\n\nbody\n--i\nContent-Type: application/pdf\nContent-Disposition: attachment;\n"
        " filename=\"doc.pdf\"\n\n%PDF\n--i--\n"
        "--o\nContent-Type: multipart/digest; boundary=d\n\n--d\n\nSubject: in digest\n\ndigest "
        "body\n--d--\n--o--\n";
    struct rec *r = parse(msg);
    CU_ASSERT_EQUAL(r->n, 8);
    CU_ASSERT(type_is(r, 1, "message/rfc822"));
    CU_ASSERT_EQUAL(part(r, 1)->kind, MIME_MESSAGE);
    CU_ASSERT(type_is(r, 2, "multipart/mixed"));
    CU_ASSERT_EQUAL(part(r, 2)->depth, 2);
    CU_ASSERT(body_is(r, 3, "body"));
    CU_ASSERT(name_is(r, 4, "doc.pdf"));
    CU_ASSERT_EQUAL(part(r, 4)->depth, 3);
    CU_ASSERT(type_is(r, 5, "multipart/digest"));
    CU_ASSERT(type_is(r, 6, "message/rfc822")); /* the digest default */
    CU_ASSERT_EQUAL(part(r, 6)->type_given, 0);
    CU_ASSERT(type_is(r, 7, "text/plain"));
    CU_ASSERT(body_is(r, 7, "digest body"));
    CU_ASSERT(strstr(r->hdrs, "7 Subject: in digest\n") != NULL);
    CU_ASSERT_EQUAL(r->flags, 0);
    CU_ASSERT(same_events(msg, strlen(msg), NULL));
    rec_free(r);
}

static void test_mime_encoded_message_rfc822_is_decoded_and_parsed(void)
{
    /* message/rfc822 in base64 (illegal, but mail clients open it) */
    const char *inner = "Content-Type: application/x-msdownload; name=in.exe\n\nMZ\n";
    char b64[400], msg[1000];
    static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = strlen(inner), o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned char)inner[i] << 16 |
                     (i + 1 < n ? (unsigned char)inner[i + 1] : 0) << 8 |
                     (i + 2 < n ? (unsigned char)inner[i + 2] : 0);
        b64[o++] = al[v >> 18];
        b64[o++] = al[(v >> 12) & 63];
        b64[o++] = i + 1 < n ? al[(v >> 6) & 63] : '=';
        b64[o++] = i + 2 < n ? al[v & 63] : '=';
        if (o % 20 == 0)
            b64[o++] = '\n';
    }
    b64[o] = '\0';
    snprintf(msg, sizeof(msg),
             "Content-Type: multipart/mixed; boundary=e\n\n--e\nContent-Type: message/rfc822\n"
             "Content-Transfer-Encoding: base64\n\n%s\n--e--\n",
             b64);
    struct rec *r = parse(msg);
    CU_ASSERT_EQUAL(r->n, 3);
    CU_ASSERT(part(r, 1)->flags & MIME_F_ENCODED_CONTAINER);
    CU_ASSERT(name_is(r, 2, "in.exe"));
    CU_ASSERT(body_is(r, 2, "MZ\n"));
    CU_ASSERT_EQUAL(part(r, 2)->raw_offsets, 0);
    CU_ASSERT_EQUAL(part(r, 2)->parent, 1);
    CU_ASSERT(same_events(msg, strlen(msg), NULL));
    rec_free(r);
}

static void test_mime_encoded_messages_nested_beyond_the_levels(void)
{
    /* quoted-printable message/rfc822 four deep: three levels are decoded
     * and parsed, the fourth is a leaf, and says so already at part_begin */
    const char *msg =
        "Content-Type: message/rfc822\nContent-Transfer-Encoding: quoted-printable\n\n"
        "Content-Type: message/rfc822\nContent-Transfer-Encoding: quoted-printable\n\n"
        "Content-Type: message/rfc822\nContent-Transfer-Encoding: quoted-printable\n\n"
        "Content-Type: message/rfc822\nContent-Transfer-Encoding: quoted-printable\n\n"
        "Subject: x\n\ninnermost\n";
    struct rec *r = parse(msg);
    CU_ASSERT_EQUAL(r->n, 4);
    CU_ASSERT_EQUAL(part(r, 2)->kind, MIME_MESSAGE);
    CU_ASSERT_EQUAL(part(r, 3)->kind, MIME_LEAF);
    CU_ASSERT(part(r, 3)->flags & MIME_F_DEPTH);
    CU_ASSERT(body_is(r, 3, "Subject: x\n\ninnermost\n")); /* the whole message inside */
    CU_ASSERT_FALSE(r->changed);
    CU_ASSERT(same_events(msg, strlen(msg), NULL));
    rec_free(r);
    /* and a part limit reached right at a message/rfc822 */
    struct mime_limits lim = {.parts = 1};
    r = parse_lim(msg, strlen(msg), 65536, ALL, &lim);
    CU_ASSERT_EQUAL(r->n, 1);
    CU_ASSERT_EQUAL(part(r, 0)->kind, MIME_LEAF);
    CU_ASSERT(r->flags & MIME_F_PARTS);
    CU_ASSERT_FALSE(r->changed);
    rec_free(r);
}

static void test_mime_folded_and_broken_headers(void)
{
    const char *msg = "From somebody Mon Jan  1 00:00:00 2024\n"
                      "Subject: one\n two\n\tthree\n"
                      "X-No-Colon line here\n"
                      "X-Eight: caf\xc3\xa9\n"
                      "Content-Type :\n multipart/mixed;\n boundary=\"f\"\n\n"
                      "--f\nthis is no header\n\nbody\n--f--\n";
    struct rec *r = parse(msg);
    CU_ASSERT(strstr(r->hdrs, "0 Subject: one two\tthree\n") != NULL);
    CU_ASSERT(r->flags & MIME_F_BAD_HEADER);
    CU_ASSERT(r->flags & MIME_F_8BIT_HEADER);
    CU_ASSERT(type_is(r, 0, "multipart/mixed")); /* "Content-Type :" and folds honoured */
    CU_ASSERT_EQUAL(part(r, 0)->header_off, strlen("From somebody Mon Jan  1 00:00:00 2024\n"));
    CU_ASSERT(strstr(r->hdrs, "From somebody") == NULL);
    CU_ASSERT(!memcmp(r->raw0, "Subject: one\n two\n\tthree\n", 25));
    CU_ASSERT_EQUAL(r->n, 2);
    CU_ASSERT(part(r, 1)->flags & MIME_F_NO_HEADERS);
    CU_ASSERT(body_is(r, 1, "this is no header\n\nbody"));
    CU_ASSERT(same_events(msg, strlen(msg), NULL));
    rec_free(r);
}

static void test_mime_junk_line_among_headers_hides_nothing(void)
{
    /* after a real header, a line without colon is skipped: the attachment
     * headers below it still count, as in GMime and Thunderbird */
    const char *msg = "Content-Type: multipart/mixed; boundary=j\n\n"
                      "--j\nX-Filler: 1\njunk without colon\n"
                      "Content-Type: application/octet-stream; name=\"hidden.exe\"\n"
                      "Content-Transfer-Encoding: base64\n\nTVo=\n--j--\n";
    struct rec *r = parse(msg);
    CU_ASSERT_EQUAL(r->n, 2);
    CU_ASSERT(name_is(r, 1, "hidden.exe"));
    CU_ASSERT(body_is(r, 1, "MZ"));
    CU_ASSERT(part(r, 1)->flags & MIME_F_BAD_HEADER);
    rec_free(r);
}

static void test_mime_header_limit_cuts_and_flags(void)
{
    static char msg[6000];
    size_t n = 5000;
    memcpy(msg, "Subject: ", 9);
    for (size_t i = 0; i < n; i++)
        msg[9 + i] = 'x';
    strcpy(msg + 9 + n, "\nContent-Type: text/html\n\n<b>x</b>\n");
    struct mime_limits lim = {.header = 1024};
    struct rec *r = parse_lim(msg, strlen(msg), 65536, ALL, &lim);
    CU_ASSERT(r->flags & MIME_F_HEADER_LONG);
    CU_ASSERT(type_is(r, 0, "text/html"));                 /* the next header is still read */
    CU_ASSERT(strstr(r->log, "H 0 7 1015 0 1\n") != NULL); /* cut at 1024 raw bytes, truncated */
    CU_ASSERT(same_events(msg, strlen(msg), &lim));
    rec_free(r);
}

static void test_mime_long_lines_are_read_in_pieces(void)
{
    size_t n = 3 * MIME_LINE_MAX + 17;
    char *msg = malloc(n + 200);
    CU_ASSERT_PTR_NOT_NULL_FATAL(msg);
    strcpy(msg, "Content-Type: text/plain\n\n");
    size_t h = strlen(msg);
    for (size_t i = 0; i < n; i++)
        msg[h + i] = (char)('a' + i % 26);
    strcpy(msg + h + n, "\nend\n");
    struct rec *r = parse(msg);
    CU_ASSERT(r->flags & MIME_F_LINE_LONG);
    CU_ASSERT_EQUAL(r->parts[0].blen, n + 5);
    CU_ASSERT(!memcmp(r->parts[0].body, msg + h, n + 5));
    CU_ASSERT(same_events(msg, strlen(msg), NULL));
    rec_free(r);
    free(msg);
}

static void test_mime_encoded_words_in_names(void)
{
    const char *msg =
        "Content-Type: multipart/mixed; boundary=w\n\n"
        "--w\nContent-Type: application/octet-stream;\n name=\"=?UTF-8?B?w6lk?= "
        "=?utf-8?q?=C3=A9?=.doc\"\n\n\n"
        "--w\nContent-Disposition: attachment; filename==?iso-8859-1?Q?r=E9sum=E9?=.pdf\n\n\n"
        "--w\nContent-Disposition: attachment; filename=\"=?utf-8?B?4oKs?==?utf-8?B?4oKs?=\"\n\n\n"
        "--w\nContent-Disposition: attachment; filename=\"=?UTF-8?B?4o?= =?UTF-8?B?gqx6?=\"\n\n\n"
        "--w\nContent-Disposition: attachment; filename=\"=?utf-8*en?q?lang.txt?=\"\n\n\n"
        "--w\nContent-Disposition: attachment; filename=\"=?x-bogus?q?bogus_caf=E9.txt?=\"\n\n\n"
        "--w\nContent-Disposition: attachment; filename=\"=?utf-8?b?dW50ZXJtaW5hdGVk\"\n\n\n"
        "--w\nContent-Disposition: attachment; filename=\"a =?utf-8?q?b?= c\"\n\n\n"
        "--w--\n";
    struct rec *r = parse(msg);
    CU_ASSERT_EQUAL(r->n, 9);
    CU_ASSERT(name_is(r, 1,
                      "\xc3\xa9"
                      "d\xc3\xa9.doc"));
    CU_ASSERT(name_is(r, 2, "r\xc3\xa9sum\xc3\xa9.pdf"));
    CU_ASSERT(name_is(r, 3, "\xe2\x82\xac\xe2\x82\xac"));
    CU_ASSERT(name_is(r, 4,
                      "\xe2\x82\xac"
                      "z")); /* a character split across two words */
    CU_ASSERT(name_is(r, 5, "lang.txt"));
    CU_ASSERT(name_is(r, 6, "bogus caf\xc3\xa9.txt")); /* unknown charset: 8-bit read as 1252 */
    CU_ASSERT(part(r, 6)->flags & MIME_F_CHARSET);
    CU_ASSERT(name_is(r, 7, "unterminated"));
    CU_ASSERT(part(r, 7)->flags & MIME_F_BAD_WORDS);
    CU_ASSERT(name_is(r, 8, "a b c"));
    CU_ASSERT(same_events(msg, strlen(msg), NULL));
    rec_free(r);
}

static void test_mime_decode_words_rules(void)
{
    char out[256];
    unsigned f = 0;
    mime_decode_words("=?utf-8?q?a?=  =?utf-8?q?b?=", 28, out, sizeof(out), &f);
    CU_ASSERT_STRING_EQUAL(out, "ab"); /* blanks between words go */
    mime_decode_words("x =?utf-8?q?a?= y", 17, out, sizeof(out), &f);
    CU_ASSERT_STRING_EQUAL(out, "x a y"); /* blanks next to text stay */
    mime_decode_words("=?utf-8?q?not a word", 20, out, sizeof(out), &f);
    CU_ASSERT_STRING_EQUAL(out, "=?utf-8?q?not a word");
    mime_decode_words("caf\xe9", 4, out, sizeof(out), &f);
    CU_ASSERT_STRING_EQUAL(out, "caf\xc3\xa9"); /* raw latin-1 */
    mime_decode_words("=?koi8-r?b?8NLJ18XU?=", 21, out, sizeof(out), &f);
    CU_ASSERT_STRING_EQUAL(out, "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82");
    mime_decode_words("=?utf-8?b?w6k?=", 15, out, sizeof(out), &f); /* no padding */
    CU_ASSERT_STRING_EQUAL(out, "\xc3\xa9");
    mime_decode_words("a\0b=?utf-8?q?=00?=", 18, out, sizeof(out), &f);
    CU_ASSERT_STRING_EQUAL(out, "a?b?"); /* a C string: no NUL inside */
    /* bounded output, cut at a character */
    mime_decode_words("\xc3\xa9\xc3\xa9\xc3\xa9", 6, out, 4, &f);
    CU_ASSERT_STRING_EQUAL(out, "\xc3\xa9");
}

static void test_mime_rfc2231_parameters(void)
{
    const char *msg =
        "Content-Type: multipart/mixed; boundary*0=\"con\"; boundary*1=tin\n\n"
        "--contin\nContent-Disposition: attachment;\n filename*0*=utf-8''%E2%82%AC%20price;\n"
        " filename*1=\" list\"; filename*2*=%2Exls\n\n\n"
        "--contin\nContent-Disposition: attachment; filename*1=\"second\"; "
        "filename*0=\"first-\"\n\n\n"
        "--contin\nContent-Disposition: attachment; filename*=iso-8859-1'fr'caf%E9.txt;"
        " filename=\"fallback.txt\"\n\n\n"
        "--contin\nContent-Disposition: attachment; filename*=''no%20charset.txt\n\n\n"
        "--contin\nContent-Type: text/plain; name*=utf-8''%E4%B8%AD.txt\n\n\n"
        "--contin--\n";
    struct rec *r = parse(msg);
    CU_ASSERT_EQUAL(r->n, 6); /* the boundary itself came in two sections */
    CU_ASSERT(name_is(r, 1, "\xe2\x82\xac price list.xls"));
    CU_ASSERT(name_is(r, 2, "first-second"));    /* out of order */
    CU_ASSERT(name_is(r, 3, "caf\xc3\xa9.txt")); /* name* wins over name */
    CU_ASSERT(name_is(r, 4, "no charset.txt"));
    CU_ASSERT(name_is(r, 5, "\xe4\xb8\xad.txt"));
    CU_ASSERT(same_events(msg, strlen(msg), NULL));
    rec_free(r);
}

static void test_mime_filename_after_many_parameters_is_found(void)
{
    static char msg[40000];
    char *o = msg;
    o += sprintf(o, "Content-Type: application/octet-stream");
    for (int i = 0; i < 3000; i++)
        o += sprintf(o, "; x%d=y", i);
    sprintf(o, "; name=\"late.exe\"\n\nMZ\n");
    struct rec *r = parse(msg);
    CU_ASSERT(name_is(r, 0, "late.exe"));
    rec_free(r);
}

static void test_mime_filename_wins_over_name_and_names_are_log_safe(void)
{
    const char *msg =
        "Content-Type: multipart/mixed; boundary=n\n\n"
        "--n\nContent-Type: application/pdf; name=\"from-type.pdf\"\n"
        "Content-Disposition: attachment; filename=\"from-disposition.exe\"\n\n\n"
        "--n\nContent-Type: application/pdf; name=\"only-type.pdf\"\n\n\n"
        "--n\nContent-Disposition: attachment; filename=\"=?utf-8?q?a=0Ab=E2=80=AEfdp.exe?=\"\n\n\n"
        "--n\nContent-Disposition: attachment; filename=my file name.exe\n\n\n"
        "--n\nContent-Disposition: attachment; filename=\"C:\\\\dir\\\\x.exe\"\n\n\n"
        "--n--\n";
    struct rec *r = parse(msg);
    CU_ASSERT(name_is(r, 1, "from-disposition.exe"));
    CU_ASSERT(name_is(r, 2, "only-type.pdf"));
    CU_ASSERT(name_is(r, 3, "a?b?fdp.exe")); /* newline and right-to-left override */
    CU_ASSERT(part(r, 3)->flags & MIME_F_NAME_CHANGED);
    CU_ASSERT(name_is(r, 4, "my file name.exe"));
    CU_ASSERT(part(r, 4)->flags & MIME_F_BAD_PARAMS);
    CU_ASSERT(name_is(r, 5, "C:\\dir\\x.exe"));
    rec_free(r);
    char s[64];
    strcpy(s, "  a\x01\x7f\xff\xc2\x85z  ");
    CU_ASSERT(mime_sanitize(s, sizeof(s)));
    CU_ASSERT_STRING_EQUAL(s, "a????z");
    strcpy(s, "\xc3\xa9\xc3\xa9\xc3\xa9");
    mime_sanitize(s, 4);
    CU_ASSERT_STRING_EQUAL(s, "\xc3\xa9");
}

static void test_mime_base64_garbage_padding_and_breaks(void)
{
    const char *msg = "Content-Type: multipart/mixed; boundary=b\n\n"
                      "--b\nContent-Transfer-Encoding: base64\n\nSGVs!!bG8g\n  d2\n9y\nbGQ=\n--b\n"
                      "Content-Transfer-Encoding: BASE64\n\nSGVsbG8\n--b\n"
                      "Content-Transfer-Encoding: base64\n\nSGk=\n-- \nlist footer\n--b--\n";
    struct rec *r = parse(msg);
    CU_ASSERT(body_is(r, 1, "Hello world"));
    CU_ASSERT(part(r, 1)->flags & MIME_F_BAD_BASE64);
    CU_ASSERT(body_is(r, 2, "Hello")); /* no padding: the last bytes are kept */
    CU_ASSERT(part(r, 2)->flags & MIME_F_BAD_BASE64);
    CU_ASSERT(body_is(r, 3, "Hi")); /* the padding ends the data, the footer is none */
    CU_ASSERT(part(r, 3)->flags & MIME_F_BAD_BASE64);
    CU_ASSERT(same_events(msg, strlen(msg), NULL));
    rec_free(r);
}

static void test_mime_quoted_printable_soft_breaks_and_bad_escapes(void)
{
    const char *msg = "Content-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\n"
                      "caf=C3=A9 soft=\nbreak=20  \ntrailing   \nbad=G1 =\nlow=3d=e9\n=  \nend=";
    struct rec *r = parse(msg);
    CU_ASSERT(body_is(r, 0, "caf\xc3\xa9 softbreak \ntrailing\nbad=G1 low=\xe9\nend"));
    CU_ASSERT(part(r, 0)->flags & MIME_F_BAD_QP);
    CU_ASSERT(same_events(msg, strlen(msg), NULL));
    rec_free(r);
}

static void test_mime_uuencode_inside_text_is_its_own_part(void)
{
    const char *msg = "Subject: uu\n\nHere it is:\n\nbegin 644 hello.exe\n"
                      "%:&5L;&\\*\n`\nend\nbye\n";
    struct rec *r = parse(msg);
    CU_ASSERT_EQUAL(r->n, 2);
    CU_ASSERT(type_is(r, 1, "application/octet-stream"));
    CU_ASSERT_EQUAL(part(r, 1)->origin, MIME_ORIGIN_UUENCODE);
    CU_ASSERT(name_is(r, 1, "hello.exe"));
    CU_ASSERT_EQUAL(part(r, 1)->parent, 0);
    CU_ASSERT(body_is(r, 1, "hello"));
    CU_ASSERT(strstr(r->parts[0].body, "begin 644 hello.exe") != NULL); /* the text is intact */
    CU_ASSERT_EQUAL(r->flags, 0);
    CU_ASSERT(same_events(msg, strlen(msg), NULL));
    rec_free(r);
    /* in a quoted-printable text part, without "end" */
    const char *m2 = "Content-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\n"
                     "begin 600 x=2Ebin\n%:&5L;&\\*\nnot uu any more\n";
    r = parse(m2);
    CU_ASSERT_EQUAL(r->n, 2);
    CU_ASSERT(name_is(r, 1, "x.bin"));
    CU_ASSERT(body_is(r, 1, "hello"));
    CU_ASSERT(part(r, 1)->flags & MIME_F_BAD_UU);
    CU_ASSERT(same_events(m2, strlen(m2), NULL));
    rec_free(r);
    /* "begin" that is no uuencode: nothing */
    r = parse("Subject: x\n\nbegin 644 the meeting\nat noon\n");
    CU_ASSERT_EQUAL(r->n, 1);
    rec_free(r);
}

static void test_mime_x_uuencode_transfer_encoding(void)
{
    const char *msg =
        "Content-Type: application/octet-stream; name=\"h.bin\"\n"
        "Content-Transfer-Encoding: x-uuencode\n\nbegin 644 h.bin\n%:&5L;&\\*\n`\nend\n";
    struct rec *r = parse(msg);
    CU_ASSERT_EQUAL(r->n, 1);
    CU_ASSERT(body_is(r, 0, "hello"));
    CU_ASSERT_EQUAL(part(r, 0)->cte, MIME_CTE_UUENCODE);
    rec_free(r);
}

static void test_mime_charsets_convert_to_utf8(void)
{
    const char *msg =
        "Content-Type: multipart/mixed; boundary=c\n\n"
        "--c\nContent-Type: text/plain; charset=iso-8859-1\n\ncaf\xe9 \x93q\x94\n"
        "--c\nContent-Type: text/plain; charset=\"KOI8-R\"\n\n\xf0\xd2\xc9\xd7\xc5\xd4\n"
        "--c\nContent-Type: text/plain; charset=x-unknown-thing\n\n\xc3\xa9t\xe9\n"
        "--c\nContent-Type: text/plain; charset=utf-8\n\nbad \xff utf8\n"
        "--c\nContent-Type: text/plain; charset=iso-2022-jp\n\n\x1b$B$3$s\x1b(B!\n"
        "--c\nContent-Type: text/plain; charset=utf-8\n\nzero\xe2\x80\x8bwidth\xc2\xad soft\n"
        "--c\nContent-Type: text/plain; charset=ut@f-8\n\nodd \xf5\xbc\x90\x91 name\n"
        "--c--\n";
    struct rec *r = parse(msg);
    CU_ASSERT(text_is(r, 1, "caf\xc3\xa9 \xe2\x80\x9cq\xe2\x80\x9d"));
    CU_ASSERT(text_is(r, 2, "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82"));
    CU_ASSERT(text_is(r, 3, "\xc3\xa9t\xc3\xa9"));
    CU_ASSERT(part(r, 3)->flags & MIME_F_CHARSET);
    CU_ASSERT(text_is(r, 4, "bad \xef\xbf\xbd utf8"));
    CU_ASSERT(part(r, 4)->flags & MIME_F_BAD_TEXT);
    CU_ASSERT(text_is(r, 5, "\xe3\x81\x93\xe3\x82\x93!"));
    CU_ASSERT(text_is(r, 6, "zerowidth soft"));
    /* iconv takes "ut@f-8" for UTF-8 but lets invalid bytes through: checked */
    CU_ASSERT(mtext_utf8_valid((unsigned char *)r->parts[7].text, r->parts[7].tlen));
    CU_ASSERT(part(r, 7)->flags & MIME_F_BAD_TEXT);
    CU_ASSERT(same_events(msg, strlen(msg), NULL));
    rec_free(r);
}

static void test_mime_html_reduced_to_text(void)
{
    const char *msg =
        "Content-Type: text/html; charset=utf-8\n\n"
        "<html><head><title>T</title><style>p{color:red}</style>"
        "<script>var a = '<b>no</b>';</script></head>"
        "<body><p>Fr<!-- split -->ee v<b>i</b>agra&nbsp;&amp;&eacute&#8364;&#x41;&bogus;</p>"
        "<div style=\"display: none\">hidden <div>words</div> here</div>"
        "<span>vis&shy;ible</span>  <br>x &lt; y<a href='>'>link</a></body></html>\n";
    struct rec *r = parse(msg);
    CU_ASSERT(text_is(r, 0,
                      "T\nFree viagra\xc2\xa0&\xc3\xa9\xe2\x82\xac"
                      "A&bogus;\nvisible\nx < "
                      "ylink"));
    CU_ASSERT_EQUAL(r->parts[0].blen, strlen(strstr(msg, "<html>"))); /* body: the HTML as is */
    CU_ASSERT(same_events(msg, strlen(msg), NULL));
    rec_free(r);
}

static void test_mime_events_only_when_wanted(void)
{
    struct rec *r = parse_lim(basic, strlen(basic), 65536, 0, NULL);
    CU_ASSERT_EQUAL(r->n, 3);
    CU_ASSERT(name_is(r, 2, "a.bin"));
    CU_ASSERT_EQUAL(r->parts[2].blen, 0);
    CU_ASSERT_EQUAL(r->parts[2].nheaders, 0);
    CU_ASSERT_EQUAL(part(r, 2)->decoded, 0); /* no decoding for a layer that wants names */
    CU_ASSERT_EQUAL(r->parts[1].tlen, 0);
    CU_ASSERT(strstr(r->log, "\nD ") == NULL && strstr(r->log, "\nT ") == NULL);
    rec_free(r);
    r = parse_lim(basic, strlen(basic), 65536, MIME_WANT_TEXT, NULL);
    CU_ASSERT(text_is(r, 1, "hello\r\nworld"));
    CU_ASSERT_EQUAL(r->parts[1].blen, 0);
    rec_free(r);
}

static void test_mime_multipart_without_boundary_is_one_body(void)
{
    const char *msg =
        "Content-Type: multipart/mixed\n\n--x\nContent-Type: text/plain\n\nhi\n--x--\n";
    struct rec *r = parse(msg);
    CU_ASSERT_EQUAL(r->n, 1);
    CU_ASSERT(r->flags & MIME_F_NO_BOUNDARY);
    CU_ASSERT(strstr(r->parts[0].body, "hi") != NULL);
    rec_free(r);
}

static void test_mime_duplicate_content_type_first_wins(void)
{
    const char *msg = "Content-Type: text/plain\nContent-Type: multipart/mixed; boundary=d\n\n"
                      "--d\n\nx\n--d--\n";
    struct rec *r = parse(msg);
    CU_ASSERT_EQUAL(r->n, 1);
    CU_ASSERT(type_is(r, 0, "text/plain"));
    CU_ASSERT(r->flags & MIME_F_DUP_HEADER);
    rec_free(r);
}

static void test_mime_reset_gives_a_fresh_parse(void)
{
    struct rec *fresh = parse(basic);
    struct rec *r = calloc(1, sizeof(*r));
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    r->log = calloc(1, REC_LOG);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r->log);
    struct mime_handler h = {ALL, r, rec_header, rec_begin, rec_body, rec_text, rec_end};
    struct mime_parser *m = mime_new(&h, NULL);
    /* half a message with an open HTML text part, then a reset */
    const char *half = "Content-Type: multipart/mixed; boundary=h\n\n--h\n"
                       "Content-Type: text/html\n\n<p>unfinished";
    mime_feed(m, half, strlen(half));
    mime_reset(m);
    r->loglen = 0;
    mime_feed(m, basic, strlen(basic));
    unsigned f = mime_finish(m);
    CU_ASSERT_EQUAL(f, fresh->flags);
    CU_ASSERT_EQUAL(mime_parts(m), 3);
    CU_ASSERT(r->loglen == fresh->loglen && !memcmp(r->log, fresh->log, r->loglen));
    mime_free(m);
    rec_free(r);
    rec_free(fresh);
}

static void test_mime_hostile_inputs_are_bounded(void)
{
    /* binary garbage, no line ends, NULs, lone CRs: parsed, bounded */
    size_t n = 200000;
    char *msg = malloc(n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(msg);
    unsigned seed = 7;
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245 + 12345;
        msg[i] = (char)(seed >> 16);
    }
    CU_ASSERT(same_events(msg, n, NULL));
    /* many boundaries, many parts */
    char *o = msg;
    o += sprintf(o, "Content-Type: multipart/mixed; boundary=a\n\n");
    while ((size_t)(o - msg) < n - 100)
        o += sprintf(o, "--a\nContent-Type: multipart/mixed; boundary=a\n\n");
    struct rec *r = parse_lim(msg, (size_t)(o - msg), 65536, ALL, NULL);
    CU_ASSERT(r->flags & (MIME_F_DEPTH | MIME_F_PARTS));
    rec_free(r);
    CU_ASSERT(same_events(msg, (size_t)(o - msg), NULL));
    free(msg);
    char fl[400];
    mime_flag_names(MIME_F_DEPTH | MIME_F_UNCLOSED, fl, sizeof(fl));
    CU_ASSERT_STRING_EQUAL(fl, "depth,unclosed");
}

int suite_mime(void)
{
    CU_pSuite s = CU_add_suite("mime", NULL, NULL);
    if (!s)
        return -1;
    CU_ADD_TEST(s, test_mime_multipart_parts_with_facts_and_offsets);
    CU_ADD_TEST(s, test_mime_line_ends_lf_crlf_mixed_and_bare_cr);
    CU_ADD_TEST(s, test_mime_nesting_limit_reads_deep_part_as_leaf);
    CU_ADD_TEST(s, test_mime_part_limit_is_flagged);
    CU_ADD_TEST(s, test_mime_missing_final_boundary_closes_at_end);
    CU_ADD_TEST(s, test_mime_boundaries_that_prefix_each_other);
    CU_ADD_TEST(s, test_mime_multipart_body_ends_before_the_next_boundary);
    CU_ADD_TEST(s, test_mime_boundary_with_trailing_blanks_and_lookalikes);
    CU_ADD_TEST(s, test_mime_overlong_boundary_matches_on_its_prefix);
    CU_ADD_TEST(s, test_mime_boundary_in_unexpected_places);
    CU_ADD_TEST(s, test_mime_message_rfc822_and_digest);
    CU_ADD_TEST(s, test_mime_encoded_message_rfc822_is_decoded_and_parsed);
    CU_ADD_TEST(s, test_mime_encoded_messages_nested_beyond_the_levels);
    CU_ADD_TEST(s, test_mime_folded_and_broken_headers);
    CU_ADD_TEST(s, test_mime_junk_line_among_headers_hides_nothing);
    CU_ADD_TEST(s, test_mime_header_limit_cuts_and_flags);
    CU_ADD_TEST(s, test_mime_long_lines_are_read_in_pieces);
    CU_ADD_TEST(s, test_mime_encoded_words_in_names);
    CU_ADD_TEST(s, test_mime_decode_words_rules);
    CU_ADD_TEST(s, test_mime_rfc2231_parameters);
    CU_ADD_TEST(s, test_mime_filename_wins_over_name_and_names_are_log_safe);
    CU_ADD_TEST(s, test_mime_filename_after_many_parameters_is_found);
    CU_ADD_TEST(s, test_mime_base64_garbage_padding_and_breaks);
    CU_ADD_TEST(s, test_mime_quoted_printable_soft_breaks_and_bad_escapes);
    CU_ADD_TEST(s, test_mime_uuencode_inside_text_is_its_own_part);
    CU_ADD_TEST(s, test_mime_x_uuencode_transfer_encoding);
    CU_ADD_TEST(s, test_mime_charsets_convert_to_utf8);
    CU_ADD_TEST(s, test_mime_html_reduced_to_text);
    CU_ADD_TEST(s, test_mime_events_only_when_wanted);
    CU_ADD_TEST(s, test_mime_multipart_without_boundary_is_one_body);
    CU_ADD_TEST(s, test_mime_duplicate_content_type_first_wins);
    CU_ADD_TEST(s, test_mime_reset_gives_a_fresh_parse);
    CU_ADD_TEST(s, test_mime_hostile_inputs_are_bounded);
    return 0;
}
