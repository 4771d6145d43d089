/*
 * stagestore.c - the store operations of one stage, gathered: every layer
 * that keeps state in a store queues what its hook will read (rate
 * counters, a greylist triplet), and the core runs them as one batch per
 * store - one LMDB write transaction, one Redis round trip - instead of
 * one per layer.  Each layer's operations carry its own namespace, and
 * every queued operation ends with a result, found, not found or error.
 */
#include "../support/store.h"
#include "core.h"

/* stage_batch - the session's batch for store st, emptied for a new stage;
 * NULL when the session cannot reach st (no memory: logged). */
static struct store_batch *stage_batch(policy_session *s, struct store *st, int *slot)
{
    size_t n = sizeof(s->stores) / sizeof(*s->stores);
    struct store_conn *c = session_store_conn(s, st);
    if (!c)
        return NULL;
    for (size_t k = 0; k < n; k++) {
        struct session_conn *sc = &s->stores[k];
        if (sc->store != st)
            continue;
        if (!sc->stage && !(sc->stage = store_batch_new(c, "core"))) {
            plog(s, POLICY_LOG_ERR, "store: no batch for this stage: out of memory");
            return NULL;
        }
        *slot = (int)k;
        return sc->stage;
    }
    return NULL;
}

void stage_store_gather(policy_session *s, enum stage st, size_t i, const struct layer_desc *only)
{
    size_t n = sizeof(s->stores) / sizeof(*s->stores);
    int used[sizeof(s->stores) / sizeof(*s->stores)] = {0};
    for (size_t k = 0; k < n; k++)
        if (s->stores[k].stage)
            store_batch_reset(s->stores[k].stage);
    for (size_t j = i; j < layer_count; j++) {
        const struct layer_desc *d = layer_registry[j];
        const void *cfg = s->e->layers[j].cfg;
        if (!d->store_queue || !d->hooks[st] || (only && d != only) || !layer_runs(s, j))
            continue;
        struct store *sto = d->store_of ? d->store_of(cfg) : NULL;
        int slot = -1;
        struct store_batch *b = sto ? stage_batch(s, sto, &slot) : NULL;
        if (b && store_batch_ns(b, d->name) != 0)
            b = NULL; /* a layer name that is no namespace: the layer reports it */
        if (b)
            used[slot] = 1;
        d->store_queue(s, cfg, st, b);
    }
    /* start every store's batch before waiting for any: Redis round trips
     * run side by side with each other and with the stage's DNS answers */
    for (size_t k = 0; k < n; k++)
        if (used[k])
            store_start(s->stores[k].stage);
    for (size_t k = 0; k < n; k++)
        if (used[k])
            store_wait(s->stores[k].stage);
}

void stage_store_free(policy_session *s)
{
    for (size_t k = 0; k < sizeof(s->stores) / sizeof(*s->stores); k++) {
        store_batch_free(s->stores[k].stage);
        s->stores[k].stage = NULL;
    }
}
