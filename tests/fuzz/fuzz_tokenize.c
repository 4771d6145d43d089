/*
 * fuzz_tokenize.c - libFuzzer harness for the spam filter's tokenizer and
 * classifier.  The first byte picks the options (feature families, a small
 * or large feature bound, the OSB window); the rest is a raw message.  It
 * is tokenized fed whole (with the debug callback), byte by byte and in
 * pseudo-random pieces (without): the features must be identical, in the
 * same order, with the same split between message and text features.
 * Features are non-zero, distinct, at most the bound; every debug text is
 * bounded.  The features are then classified (a score in [0,1], a finite
 * rank), trained as spam and untrained: the totals must be back at zero.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mime.h"
#include "spamclass.h"
#include "spamstore.h"
#include "spamtok.h"

struct tk {
    struct spamtok *tok;
    struct mime_parser *mp;
};

static void dbg(void *ctx, const char *tok, size_t len, uint64_t h)
{
    (void)ctx;
    if (!tok || len == 0 || len >= 256 || h == 0)
        abort();
}

static void tk_open(struct tk *t, const struct spamtok_opts *o)
{
    t->tok = spamtok_new(o);
    if (!t->tok)
        abort();
    struct mime_handler h;
    spamtok_mime_handler(t->tok, &h);
    struct mime_limits lim = {.parts = 50, .depth = 8};
    t->mp = mime_new(&h, &lim);
    if (!t->mp)
        abort();
}

static void tk_close(struct tk *t)
{
    mime_free(t->mp);
    spamtok_free(t->tok);
}

/* pieces - feed in chunks: 1 byte each (seed 0), or pseudo-random sizes */
static void pieces(struct tk *t, const uint8_t *d, size_t n, unsigned seed)
{
    mime_reset(t->mp);
    spamtok_begin(t->tok);
    size_t i = 0;
    while (i < n) {
        size_t k = 1;
        if (seed) {
            seed = seed * 1103515245u + 12345u;
            k = 1 + (seed >> 16) % 97;
        }
        if (k > n - i)
            k = n - i;
        mime_feed(t->mp, d + i, k);
        i += k;
    }
    spamtok_end(t->tok, mime_finish(t->mp));
}

static int cmp64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void same(struct tk *t, const uint64_t *f, size_t n, size_t nm)
{
    size_t n2, nm2;
    const uint64_t *g = spamtok_features(t->tok, &n2, &nm2);
    if (n2 != n || nm2 != nm || memcmp(f, g, n * sizeof(*f)) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static const unsigned fams[] = {SPAMTOK_ALL, SPAMTOK_WORDS | SPAMTOK_BIGRAMS | SPAMTOK_URLS,
                                    SPAMTOK_HEADERS | SPAMTOK_MIME | SPAMTOK_NOLISTS,
                                    SPAMTOK_ALL & ~SPAMTOK_NOLISTS};
    unsigned b = data[0];
    struct spamtok_opts o = {
        .features = fams[b & 3], .max_features = (b & 4) ? 600 : 0, .window = 2 + ((b >> 3) & 7)};
    const uint8_t *msg = data + 1;
    size_t len = size - 1;

    struct tk a, c;
    o.debug = dbg;
    tk_open(&a, &o);
    o.debug = NULL;
    tk_open(&c, &o);
    spamtok_message(a.tok, a.mp, msg, len);
    size_t n, nm;
    const uint64_t *f0 = spamtok_features(a.tok, &n, &nm);
    unsigned max = o.max_features ? o.max_features : 4000;
    if (n > max || nm > n)
        abort();
    uint64_t *f = malloc((n ? n : 1) * sizeof(*f));
    if (!f)
        abort();
    memcpy(f, f0, n * sizeof(*f));
    uint64_t *sorted = malloc((n ? n : 1) * sizeof(*f));
    memcpy(sorted, f, n * sizeof(*f));
    qsort(sorted, n, sizeof(*sorted), cmp64);
    for (size_t i = 0; i < n; i++)
        if (sorted[i] == 0 || (i && sorted[i] == sorted[i - 1]))
            abort();
    free(sorted);

    /* the same features without the debug callback, in any pieces */
    spamtok_message(c.tok, c.mp, msg, len);
    same(&c, f, n, nm);
    pieces(&c, msg, len, 0);
    same(&c, f, n, nm);
    pieces(&c, msg, len, (unsigned)size * 2654435761u + 1);
    same(&c, f, n, nm);

    /* classify, train, untrain */
    struct spamstore_mem *s = spamstore_mem_new(4, 0);
    struct spamclass_params p = {.model = (b & 0x40) ? SPAMCLASS_CHI2 : SPAMCLASS_LOGREG};
    struct spamclass *cl = spamclass_new(spamstore_mem_ops(), s, &p);
    if (!s || !cl)
        abort();
    struct spamclass_result r;
    if (spamclass_classify(cl, f, n, nm, &r) != SPAMSTORE_OK || !(r.score >= 0 && r.score <= 1) ||
        !isfinite(r.rank))
        abort();
    enum spamclass_trained what;
    if (spamclass_train(cl, f, n, nm, 1, SPAMCLASS_TRAIN_ALL, &what) != SPAMSTORE_OK ||
        what != SPAMCLASS_LEARNED)
        abort();
    if (spamclass_classify(cl, f, n, nm, &r) != SPAMSTORE_OK || !(r.score >= 0 && r.score <= 1))
        abort();
    if (spamclass_untrain(cl, spamclass_digest(f, n)) != SPAMSTORE_OK)
        abort();
    int64_t ns, nh;
    if (spamclass_totals(cl, &ns, &nh) != SPAMSTORE_OK || ns != 0 || nh != 0 ||
        spamstore_mem_keys(s) != 0)
        abort();
    spamclass_free(cl);
    spamstore_mem_free(s);
    free(f);
    tk_close(&a);
    tk_close(&c);
    return 0;
}
