/*
 * spamclass.h - the spam filter's classifier over a token store
 * (spamstore.h): a message is the set of its feature hashes (spamtok.h),
 * in two groups: message features (header fields, URLs, structure) and
 * text features (words and word pairs).  Classifying reads their cells in
 * one batch, training adds deltas in one batch.  Two models share the
 * interface:
 *
 *   SPAMCLASS_LOGREG  logistic regression trained online (the default): a
 *                     weight w per feature, p = 1/(1 + exp(-z)) with
 *                     z = bias + msg_weight * sum(w of the m message
 *                     features)/sqrt(m) + sum(w of the t text
 *                     features)/sqrt(t), so that a long text does not drown
 *                     what the headers and the structure say; each training
 *                     one gradient step with a per-feature step size
 *                     (AdaGrad: rate / sqrt(sum of the feature's squared
 *                     gradients)), weights and sums kept as fixed-point
 *                     counters (a training is one "add").
 *   SPAMCLASS_CHI2    Robinson's f(w) and Fisher's chi-square combination,
 *                     as bogofilter and SpamBayes compute it (spam and ham
 *                     counts per feature), in the log domain; the groups
 *                     make no difference to it.
 *
 * Training modes: every message (SPAMCLASS_TRAIN_ALL), or only when the
 * classification was wrong or not sure enough (SPAMCLASS_TRAIN_ON_ERROR).
 *
 * Undo: every training leaves a record in the store under the message's
 * digest (spamclass_digest of its features): the label, the exact delta
 * added to each feature's cell, and the feature list.  Training a message
 * again with the same label does nothing; with the other label (a user
 * correcting an auto-learned verdict) first subtracts exactly what the
 * earlier training added, then learns the new label.  spamclass_untrain
 * only subtracts.  Records are bounded by the store (count, bytes, age);
 * once a record is gone, a correction still learns the new label but can
 * no longer take the old one back.
 *
 * One classifier per thread; the store may be shared (its add is atomic).
 * Nothing here prints or exits; store failures come back as
 * SPAMSTORE_ERROR (classify: try again later).
 */
#ifndef LIBPOLICY_SPAMCLASS_H
#define LIBPOLICY_SPAMCLASS_H

#include <stddef.h>
#include <stdint.h>

#include "spamstore.h"

enum spamclass_model { SPAMCLASS_LOGREG = 0, SPAMCLASS_CHI2 = 1 };

#define SPAMCLASS_TRAIN_ALL      0
#define SPAMCLASS_TRAIN_ON_ERROR 1

struct spamclass_params {
    enum spamclass_model model;
    /* logistic regression (0: defaults) */
    double rate;       /* AdaGrad's step (default 0.3) */
    double msg_weight; /* weight of the message features' group (default 0.5) */
    double toe_thick;  /* train-on-error: train unless the right label got
                          at least this probability (default 0.9) */
    /* chi-square (0: bogofilter's defaults) */
    double robs;       /* 0.0178 */
    double robx;       /* 0.52 */
    double min_dev;    /* 0.375; use a negative value for 0 */
    double spam_cut;   /* train-on-error: unsure below this score (0.99) */
    double ham_cut;    /* ... and above this one (0.45) */
    size_t max_record; /* bytes of one training record (default: room for 65536 features) */
};

struct spamclass_result {
    double score; /* 0 ham .. 1 spam; 0.5 when nothing is known */
    double rank;  /* a monotone, unsaturated version of score (log odds) */
    size_t known; /* features the store knew */
    size_t used;  /* features that counted (chi-square: past min_dev) */
};

struct spamclass;

/* spamclass_new - a classifier on store (ops, ctx); p NULL for defaults.
 * NULL when out of memory. */
struct spamclass *spamclass_new(const struct spamstore_ops *ops, void *store,
                                const struct spamclass_params *p);
void spamclass_free(struct spamclass *c);

/* spamclass_classify - score the message whose features are f[n], the
 * first nmsg of them its message features (spamtok_features).
 * SPAMSTORE_OK or SPAMSTORE_ERROR. */
int spamclass_classify(struct spamclass *c, const uint64_t *f, size_t n, size_t nmsg,
                       struct spamclass_result *r);

/* What spamclass_train did. */
enum spamclass_trained {
    SPAMCLASS_LEARNED,   /* learned the label */
    SPAMCLASS_CORRECTED, /* undid an earlier training with the other label, then learned */
    SPAMCLASS_KNOWN,     /* already trained with this label: nothing to do */
    SPAMCLASS_SKIPPED,   /* train-on-error: classified right, not trained */
};

/* spamclass_train - learn that f[n] (nmsg message features first) is spam
 * (is_spam 1) or ham (0), in mode SPAMCLASS_TRAIN_*; *what (may be NULL)
 * says what happened.
 * SPAMSTORE_OK or SPAMSTORE_ERROR (nothing or everything was applied for
 * the in-memory store; a remote store may have applied a prefix). */
int spamclass_train(struct spamclass *c, const uint64_t *f, size_t n, size_t nmsg, int is_spam,
                    int mode, enum spamclass_trained *what);

/* spamclass_untrain - take back the training recorded under id (a
 * digest).  SPAMSTORE_OK, SPAMSTORE_NOTFOUND (no record: too old, or
 * never trained) or SPAMSTORE_ERROR. */
int spamclass_untrain(struct spamclass *c, uint64_t id);

/* spamclass_digest - the id of a message: a hash of its feature set
 * (independent of order).  Headers a filter adds (X-Spam-*), trace
 * headers and list footers are no features, so the message as delivered
 * and the message a user sends back for correction have the same id. */
uint64_t spamclass_digest(const uint64_t *f, size_t n);

/* spamclass_record_size - bytes of the training record of a message with
 * n features (what a store keeps per trained message for undo). */
size_t spamclass_record_size(const struct spamclass *c, size_t n);

/* spamclass_totals - messages trained as spam and ham. */
int spamclass_totals(struct spamclass *c, int64_t *spam, int64_t *ham);

#endif
