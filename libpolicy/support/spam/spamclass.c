/*
 * spamclass.c - logistic regression (AdaGrad steps, two feature groups)
 * and Robinson/Fisher chi-square over a batch token store.  One store read
 * per classification, one read and one add per training (one more add for
 * a correction); every training is recorded with the exact deltas it
 * added, so taking it back restores the cells exactly.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "spamclass.h"

#define SCALE        1073741824.0    /* logistic weights: fixed point, 30 fraction bits */
#define GSCALE       1099511627776.0 /* AdaGrad's sums of squared gradients: 40 bits */
#define STEP_MAX     2147483647.0    /* a step fits an int32 (2.0; it is at most the rate) */
#define BIAS_KEY     0xb1a5b1a5b1a5b1a5ULL
#define REC_MAGIC    0x53524331u /* "SRC1" */
#define REC_HEADER   48
#define MAX_FEATURES 65536

struct spamclass {
    const struct spamstore_ops *ops;
    void *store;
    struct spamclass_params p;
    /* scratch, grown to the largest message */
    uint64_t *keys;
    struct spamstore_cell *cells;
    size_t cap;
    unsigned char *rec;
    size_t reccap;
};

static int grow(struct spamclass *c, size_t n)
{
    if (n <= c->cap)
        return 0;
    size_t cap = c->cap ? c->cap : 1024;
    while (cap < n)
        cap *= 2;
    uint64_t *k = realloc(c->keys, cap * sizeof(*k));
    if (!k)
        return -1;
    c->keys = k;
    struct spamstore_cell *v = realloc(c->cells, cap * sizeof(*v));
    if (!v)
        return -1;
    c->cells = v;
    c->cap = cap;
    return 0;
}

size_t spamclass_record_size(const struct spamclass *c, size_t n)
{
    return REC_HEADER + (c->p.model == SPAMCLASS_LOGREG ? 12 : 8) * n;
}

struct spamclass *spamclass_new(const struct spamstore_ops *ops, void *store,
                                const struct spamclass_params *p)
{
    struct spamclass *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->ops = ops;
    c->store = store;
    if (p)
        c->p = *p;
    if (c->p.model != SPAMCLASS_CHI2)
        c->p.model = SPAMCLASS_LOGREG;
    if (c->p.rate <= 0)
        c->p.rate = 0.3;
    if (c->p.rate > 2)
        c->p.rate = 2; /* a step must fit the record's int32 */
    if (c->p.msg_weight <= 0)
        c->p.msg_weight = 0.5;
    if (c->p.toe_thick <= 0)
        c->p.toe_thick = 0.9;
    if (c->p.robs <= 0)
        c->p.robs = 0.0178;
    if (c->p.robx <= 0)
        c->p.robx = 0.52;
    if (c->p.min_dev == 0)
        c->p.min_dev = 0.375;
    if (c->p.min_dev < 0)
        c->p.min_dev = 0;
    if (c->p.spam_cut <= 0)
        c->p.spam_cut = 0.99;
    if (c->p.ham_cut <= 0)
        c->p.ham_cut = 0.45;
    if (c->p.max_record < REC_HEADER + 12 * 64)
        c->p.max_record = spamclass_record_size(c, MAX_FEATURES);
    c->reccap = c->p.max_record;
    c->rec = malloc(c->reccap);
    if (!c->rec || grow(c, 1024) < 0) {
        spamclass_free(c);
        return NULL;
    }
    return c;
}

void spamclass_free(struct spamclass *c)
{
    if (!c)
        return;
    free(c->keys);
    free(c->cells);
    free(c->rec);
    free(c);
}

/* ---- the digest ---- */

static uint64_t fmix64(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ULL;
    k ^= k >> 33;
    return k;
}

uint64_t spamclass_digest(const uint64_t *f, size_t n)
{
    uint64_t sum = 0, x = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t m = fmix64(f[i]);
        sum += m;
        x ^= fmix64(m ^ 0x9e3779b97f4a7c15ULL);
    }
    uint64_t d = fmix64(sum ^ fmix64(x + n));
    return d ? d : 1;
}

/* ---- chi-square ---- */

/* log_chi2q - ln of the chi-square survival function for x2 with 2*v
 * degrees of freedom: ln(e^-m * sum_{i<v} m^i/i!), m = x2/2, summed in
 * the log domain so that it never underflows. */
static double log_chi2q(double x2, size_t v)
{
    double m = x2 / 2;
    if (m <= 0)
        return 0;
    double lm = log(m), term = -m, maxt = term, sum = 1; /* sum of exp(t - maxt) */
    for (size_t i = 1; i < v; i++) {
        term += lm - log((double)i);
        if (term > maxt) {
            sum = sum * exp(maxt - term) + 1;
            maxt = term;
        } else {
            sum += exp(term - maxt);
        }
    }
    double r = maxt + log(sum);
    return r > 0 ? 0 : r;
}

static void chi2_score(struct spamclass *c, size_t n, struct spamclass_result *r)
{
    const struct spamstore_cell *tot = &c->cells[n];
    double ns = tot->a > 0 ? (double)tot->a : 1, nh = tot->b > 0 ? (double)tot->b : 1;
    double ls = 0, lh = 0; /* sum ln(1-f), sum ln f */
    size_t used = 0, known = 0;
    for (size_t i = 0; i < n; i++) {
        double s = (double)c->cells[i].a, h = (double)c->cells[i].b;
        if (s <= 0 && h <= 0)
            continue;
        known++;
        if (s < 0)
            s = 0;
        if (h < 0)
            h = 0;
        double ps = s / ns, ph = h / nh;
        double pw = ps / (ps + ph);
        double cnt = s + h;
        double fw = (c->p.robs * c->p.robx + cnt * pw) / (c->p.robs + cnt);
        if (fabs(fw - 0.5) < c->p.min_dev)
            continue;
        if (fw < 1e-12)
            fw = 1e-12;
        if (fw > 1 - 1e-12)
            fw = 1 - 1e-12;
        ls += log1p(-fw);
        lh += log(fw);
        used++;
    }
    r->known = known;
    r->used = used;
    if (!used) {
        r->score = c->p.robx;
        r->rank = 0;
        return;
    }
    double lqs = log_chi2q(-2 * ls, used); /* small when spammy */
    double lqh = log_chi2q(-2 * lh, used); /* small when hammy */
    r->score = (1 + exp(lqh) - exp(lqs)) / 2;
    r->rank = lqh - lqs;
}

/* ---- logistic regression ---- */

/* group_x - the input value of each feature of a group of k. */
static double group_x(double weight, size_t k)
{
    return k ? weight / sqrt((double)k) : 0;
}

static void logreg_score(struct spamclass *c, size_t n, size_t nmsg, struct spamclass_result *r)
{
    double sm = 0, st = 0;
    size_t known = 0;
    for (size_t i = 0; i < n; i++) {
        if (i < nmsg)
            sm += (double)c->cells[i].a;
        else
            st += (double)c->cells[i].a;
        known += c->cells[i].b != 0;
    }
    double z = ((double)c->cells[n + 1].a + sm * group_x(c->p.msg_weight, nmsg) +
                st * group_x(1, n - nmsg)) /
               SCALE;
    r->rank = z;
    r->score = 1 / (1 + exp(-z));
    r->known = r->used = known;
}

/* fetch - cells of f[n], then the totals (n) and the bias (n+1) */
static int fetch(struct spamclass *c, const uint64_t *f, size_t n)
{
    if (grow(c, n + 2) < 0)
        return SPAMSTORE_ERROR;
    memcpy(c->keys, f, n * sizeof(*f));
    c->keys[n] = 0;
    c->keys[n + 1] = BIAS_KEY;
    return c->ops->get(c->store, c->keys, n + 2, c->cells);
}

int spamclass_classify(struct spamclass *c, const uint64_t *f, size_t n, size_t nmsg,
                       struct spamclass_result *r)
{
    if (n > MAX_FEATURES)
        n = MAX_FEATURES;
    if (nmsg > n)
        nmsg = n;
    memset(r, 0, sizeof(*r));
    if (fetch(c, f, n) != SPAMSTORE_OK)
        return SPAMSTORE_ERROR;
    if (c->p.model == SPAMCLASS_CHI2)
        chi2_score(c, n, r);
    else
        logreg_score(c, n, nmsg, r);
    return SPAMSTORE_OK;
}

int spamclass_totals(struct spamclass *c, int64_t *spam, int64_t *ham)
{
    uint64_t k = 0;
    struct spamstore_cell v;
    if (c->ops->get(c->store, &k, 1, &v) != SPAMSTORE_OK)
        return SPAMSTORE_ERROR;
    *spam = v.a;
    *ham = v.b;
    return SPAMSTORE_OK;
}

/* ---- training records ----
 * little-endian: magic u32, label u8, model u8, 2 bytes 0; n u64; nmsg u64;
 * db of the message features i64 and of the text features i64 (logistic:
 * the squared gradient added to each feature's b); bias i64 (logistic: the
 * bias weight's delta); n features u64; logistic only: n weight deltas i32
 * (added to each feature's a).  Chi-square adds one to a (spam) or b (ham). */

static void put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static void put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* A training as recorded: what was added to which cells. */
struct record {
    int label, model;
    size_t n, nmsg;
    int64_t db_msg, db_text;    /* logistic: added to each feature's b, by group */
    int64_t bias;               /* logistic: added to the bias weight */
    const unsigned char *feats; /* n u64 */
    const unsigned char *da;    /* logistic: n i32 weight deltas */
};

static int rec_decode(const unsigned char *p, size_t len, struct record *r)
{
    if (len < REC_HEADER)
        return -1;
    uint64_t h = get64(p);
    if ((h & 0xffffffffu) != REC_MAGIC)
        return -1;
    r->label = (int)((h >> 32) & 0xff);
    r->model = (int)((h >> 40) & 0xff);
    r->n = (size_t)get64(p + 8);
    r->nmsg = (size_t)get64(p + 16);
    if ((r->model != SPAMCLASS_LOGREG && r->model != SPAMCLASS_CHI2) || r->label > 1 ||
        r->n > MAX_FEATURES || r->nmsg > r->n ||
        len != REC_HEADER + (r->model == SPAMCLASS_LOGREG ? 12 : 8) * r->n)
        return -1;
    r->db_msg = (int64_t)get64(p + 24);
    r->db_text = (int64_t)get64(p + 32);
    r->bias = (int64_t)get64(p + 40);
    r->feats = p + REC_HEADER;
    r->da = p + REC_HEADER + 8 * r->n;
    return 0;
}

/* apply - add (sign 1) or subtract (-1) a recorded training: each
 * feature's deltas, the bias, one message to the totals of its label. */
static int apply(struct spamclass *c, const struct record *r, int sign)
{
    if (grow(c, r->n + 2) < 0)
        return SPAMSTORE_ERROR;
    for (size_t i = 0; i < r->n; i++) {
        c->keys[i] = get64(r->feats + 8 * i);
        if (r->model == SPAMCLASS_CHI2)
            c->cells[i] = (struct spamstore_cell){r->label ? sign : 0, r->label ? 0 : sign};
        else
            c->cells[i] = (struct spamstore_cell){sign * (int64_t)(int32_t)get32(r->da + 4 * i),
                                                  sign * (i < r->nmsg ? r->db_msg : r->db_text)};
    }
    size_t k = r->n;
    c->keys[k] = 0;
    c->cells[k++] = (struct spamstore_cell){r->label ? sign : 0, r->label ? 0 : sign};
    if (r->model == SPAMCLASS_LOGREG) {
        c->keys[k] = BIAS_KEY;
        c->cells[k++] = (struct spamstore_cell){sign * r->bias, 0};
    }
    return c->ops->add(c->store, c->keys, c->cells, k);
}

/* undo - take back a decoded record and forget it. */
static int undo(struct spamclass *c, uint64_t id, const struct record *r)
{
    if (apply(c, r, -1) != SPAMSTORE_OK)
        return SPAMSTORE_ERROR;
    return c->ops->rec_del(c->store, id) == SPAMSTORE_ERROR ? SPAMSTORE_ERROR : SPAMSTORE_OK;
}

/* lookup - the record under id into *r (its arrays point into buf). */
static int lookup(struct spamclass *c, uint64_t id, unsigned char *buf, size_t max,
                  struct record *r)
{
    size_t len = 0;
    int rc = c->ops->rec_get(c->store, id, buf, max, &len);
    if (rc != SPAMSTORE_OK)
        return rc;
    return rec_decode(buf, len, r) < 0 ? SPAMSTORE_NOTFOUND : SPAMSTORE_OK;
}

int spamclass_untrain(struct spamclass *c, uint64_t id)
{
    struct record r;
    int rc = lookup(c, id, c->rec, c->reccap, &r);
    if (rc != SPAMSTORE_OK)
        return rc;
    return undo(c, id, &r);
}

/* logreg_steps - the AdaGrad step of each feature for a message scored p:
 * gradient (y - p) * x per feature (x by group, as in logreg_score), its
 * square added to the feature's b, the weight moved by rate * gradient /
 * sqrt(b).  Written into the record in c->rec; the cells of the features
 * must be in c->cells (fetched by the classification). */
static void logreg_steps(struct spamclass *c, size_t n, size_t nmsg, int is_spam, double p,
                         unsigned char *hdr)
{
    double e = (double)is_spam - p;
    double gm = e * group_x(c->p.msg_weight, nmsg), gt = e * group_x(1, n - nmsg);
    int64_t dbm = (int64_t)llround(gm * gm * GSCALE), dbt = (int64_t)llround(gt * gt * GSCALE);
    unsigned char *da = c->rec + REC_HEADER + 8 * n;
    for (size_t i = 0; i < n; i++) {
        double g = i < nmsg ? gm : gt;
        double sum = ((double)c->cells[i].b + (double)(i < nmsg ? dbm : dbt)) / GSCALE;
        double step = c->p.rate * g / sqrt(sum + 1e-9) * SCALE;
        if (step > STEP_MAX)
            step = STEP_MAX;
        if (step < -STEP_MAX)
            step = -STEP_MAX;
        put32(da + 4 * i, (uint32_t)(int32_t)llround(step));
    }
    put64(hdr + 24, (uint64_t)dbm);
    put64(hdr + 32, (uint64_t)dbt);
    put64(hdr + 40, (uint64_t)llround(0.1 * c->p.rate * e * SCALE));
}

int spamclass_train(struct spamclass *c, const uint64_t *f, size_t n, size_t nmsg, int is_spam,
                    int mode, enum spamclass_trained *what)
{
    enum spamclass_trained dummy;
    if (!what)
        what = &dummy;
    is_spam = is_spam != 0;
    if (n > MAX_FEATURES)
        n = MAX_FEATURES;
    if (spamclass_record_size(c, n) > c->reccap)
        n = (c->reccap - REC_HEADER) / 12;
    if (nmsg > n)
        nmsg = n;
    uint64_t id = spamclass_digest(f, n);
    int corrected = 0;
    struct record r;
    int rc = lookup(c, id, c->rec, c->reccap, &r);
    if (rc == SPAMSTORE_ERROR)
        return rc;
    if (rc == SPAMSTORE_OK) {
        if (r.label == is_spam) {
            *what = SPAMCLASS_KNOWN;
            return SPAMSTORE_OK;
        }
        if (undo(c, id, &r) != SPAMSTORE_OK)
            return SPAMSTORE_ERROR;
        corrected = 1;
    }
    struct spamclass_result res;
    if (spamclass_classify(c, f, n, nmsg, &res) != SPAMSTORE_OK)
        return SPAMSTORE_ERROR;
    if (mode == SPAMCLASS_TRAIN_ON_ERROR && !corrected) {
        int right;
        if (c->p.model == SPAMCLASS_CHI2)
            right = is_spam ? res.score >= c->p.spam_cut : res.score <= c->p.ham_cut;
        else
            right = (is_spam ? res.score : 1 - res.score) >= c->p.toe_thick;
        if (right) {
            *what = SPAMCLASS_SKIPPED;
            return SPAMSTORE_OK;
        }
    }
    /* the record first (the classification left the cells in c->cells),
     * then the store gets exactly what the record says */
    unsigned char *p = c->rec;
    memset(p, 0, REC_HEADER);
    put64(p, REC_MAGIC | (uint64_t)is_spam << 32 | (uint64_t)c->p.model << 40);
    put64(p + 8, (uint64_t)n);
    put64(p + 16, (uint64_t)nmsg);
    for (size_t i = 0; i < n; i++)
        put64(p + REC_HEADER + 8 * i, f[i]);
    if (c->p.model == SPAMCLASS_LOGREG)
        logreg_steps(c, n, nmsg, is_spam, res.score, p);
    size_t len = spamclass_record_size(c, n);
    if (rec_decode(p, len, &r) < 0 || apply(c, &r, 1) != SPAMSTORE_OK)
        return SPAMSTORE_ERROR;
    if (c->ops->rec_put(c->store, id, p, len) == SPAMSTORE_ERROR)
        return SPAMSTORE_ERROR;
    *what = corrected ? SPAMCLASS_CORRECTED : SPAMCLASS_LEARNED;
    return SPAMSTORE_OK;
}
