/*
 * dynlib.h - a shared library loaded when a process first needs it, not
 * when it starts: dlopen by soname, then each function (or variable) found
 * by name into a table whose members are typed from the library's own
 * header, so that a mismatch is a compile error.  A process that never
 * needs the library never maps it, nor what it links: the dynamic linker's
 * work and the page faults of mapping a library are most of what a short
 * process (policy-queue, qmail-smtpd) costs.  Thread-safe: the first
 * caller loads, the others wait for it; a failure is remembered with why.
 *
 * A module wrapping library L keeps its calls as they are written:
 *
 *   #define L_FNS(X) X(l_open) X(l_read) X(l_close)
 *   static struct { L_FNS(DYNLIB_FN) } lf;
 *   #define L_SYM(f) DYNLIB_SYM(lf, f)
 *   static const struct dynlib_sym l_syms[] = {L_FNS(L_SYM)};
 *   static struct dynlib l_lib = DYNLIB_INIT(SONAME_L, l_syms);
 *   #define l_open (*lf.l_open)          (one line per function)
 *
 * and calls dynlib_load(&l_lib) at its entry points, before any other.
 */
#ifndef LIBPOLICY_DYNLIB_H
#define LIBPOLICY_DYNLIB_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

struct dynlib_sym {
    const char *name;
    void **slot;
};

struct dynlib {
    const char *soname;
    const struct dynlib_sym *syms;
    size_t nsyms;
    pthread_mutex_t lock;
    atomic_int state; /* 0 not tried, 1 loaded, -1 failed */
    char why[256];
};

#define DYNLIB_INIT(soname, syms)                                                                  \
    {                                                                                              \
        (soname), (syms), sizeof(syms) / sizeof(*(syms)), PTHREAD_MUTEX_INITIALIZER, 0, ""         \
    }
/* A table member typed as f, and its entry in the symbol list. */
#define DYNLIB_FN(f)       __typeof__(&f) f;
#define DYNLIB_SYM(tab, f) {#f, (void **)&(tab).f},

/* dynlib_load - load l and find all its symbols, once per process; 0, or
 * -1 when the library or one of its symbols is missing (dynlib_error). */
int dynlib_load(struct dynlib *l);
/* dynlib_error - why l could not be loaded ("cannot load libx.so.1: ..."). */
const char *dynlib_error(const struct dynlib *l);

#endif
