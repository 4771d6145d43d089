/*
 * dynlib.c - shared libraries loaded on first use (see dynlib.h).  The
 * load happens once per process under the library's lock; "state"
 * publishes the filled table (release) to callers that then read it
 * without locking (acquire).  A library that is not there stays "failed":
 * every later call gets the same answer at once.
 */
#include <dlfcn.h>
#include <stdio.h>

#include "dynlib.h"

int dynlib_load(struct dynlib *l)
{
    int st = atomic_load_explicit(&l->state, memory_order_acquire);
    if (st)
        return st > 0 ? 0 : -1;
    pthread_mutex_lock(&l->lock);
    st = atomic_load_explicit(&l->state, memory_order_relaxed);
    if (!st) {
        void *h = dlopen(l->soname, RTLD_NOW | RTLD_LOCAL);
        st = 1;
        if (!h) {
            const char *e = dlerror();
            snprintf(l->why, sizeof(l->why), "cannot load %s: %s", l->soname, e ? e : "?");
            st = -1;
        }
        for (size_t i = 0; h && i < l->nsyms; i++)
            if (!(*l->syms[i].slot = dlsym(h, l->syms[i].name))) {
                snprintf(l->why, sizeof(l->why), "%s has no %s", l->soname, l->syms[i].name);
                st = -1; /* the handle stays open: nothing is unloaded under a caller */
                break;
            }
        atomic_store_explicit(&l->state, st, memory_order_release);
    }
    pthread_mutex_unlock(&l->lock);
    return st > 0 ? 0 : -1;
}

const char *dynlib_error(const struct dynlib *l)
{
    return l->why[0] ? l->why : "not loaded";
}
