/*
 * clamav.c - libclamav engines, loaded once per (settings, database
 * fingerprint) and shared: a cache under one mutex, held only to look up,
 * insert and release, never while signatures load, so a reload that takes
 * seconds never stalls the sessions that release engines meanwhile.
 * Scanning needs no lock (a compiled engine is read-only).  libclamav (and
 * the dozen libraries it links) is loaded with the first engine
 * (support/dynlib.h): a process whose configuration scans nothing in
 * process never maps it.
 */
#include <clamav.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../util/util.h"
#include "clamav.h"
#include "dynlib.h"

#define CL_FNS(X)                                                                                  \
    X(cl_init)                                                                                     \
    X(cl_set_clcb_msg) X(cl_strerror) X(cl_engine_new) X(cl_engine_free) X(cl_engine_compile)      \
        X(cl_engine_get_num) X(cl_engine_set_num) X(cl_engine_set_str) X(cl_load) X(cl_scandesc)   \
            X(cl_scanmap_callback) X(cl_fmap_open_memory) X(cl_fmap_close)
static struct {
    CL_FNS(DYNLIB_FN)
} clf;
#define CL_SYM(f) DYNLIB_SYM(clf, f)
static const struct dynlib_sym cl_syms[] = {CL_FNS(CL_SYM)};
static struct dynlib cl_lib = DYNLIB_INIT(SONAME_CLAMAV, cl_syms);
#define cl_init             (*clf.cl_init)
#define cl_set_clcb_msg     (*clf.cl_set_clcb_msg)
#define cl_strerror         (*clf.cl_strerror)
#define cl_engine_new       (*clf.cl_engine_new)
#define cl_engine_free      (*clf.cl_engine_free)
#define cl_engine_compile   (*clf.cl_engine_compile)
#define cl_engine_get_num   (*clf.cl_engine_get_num)
#define cl_engine_set_num   (*clf.cl_engine_set_num)
#define cl_engine_set_str   (*clf.cl_engine_set_str)
#define cl_load             (*clf.cl_load)
#define cl_scandesc         (*clf.cl_scandesc)
#define cl_scanmap_callback (*clf.cl_scanmap_callback)
#define cl_fmap_open_memory (*clf.cl_fmap_open_memory)
#define cl_fmap_close       (*clf.cl_fmap_close)

#define FP_MAX_FILES 4096 /* database files looked at; more is not a database */

struct clamav_engine {
    struct cl_engine *cl;
    /* the key */
    char *dbdir;
    char *tmpdir;               /* NULL: libclamav's default */
    struct clamav_settings set; /* set.dbdir and set.tmpdir point to dbdir and tmpdir */
    uint64_t fp;
    /* facts */
    unsigned sigs;
    double load_ms;
    uint64_t max_filesize, max_scansize; /* in force */
    unsigned refs;                       /* under cache_lock */
    struct clamav_engine *next;
};

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct clamav_engine *cache;

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static cl_error_t init_rc = CL_ERROR;
static _Thread_local char last_msg[256]; /* libclamav's last warning or error in this thread */

/* quiet - libclamav's messages: kept for our error texts, never printed. */
static void quiet(enum cl_msg severity, const char *fullmsg, const char *msg, void *context)
{
    (void)fullmsg;
    (void)context;
    if (severity < CL_MSG_WARN || !msg)
        return;
    snprintf(last_msg, sizeof(last_msg), "%s", msg);
    size_t n = strlen(last_msg);
    while (n > 0 && (last_msg[n - 1] == '\n' || last_msg[n - 1] == ' '))
        last_msg[--n] = '\0';
}

static void init(void)
{
    if (dynlib_load(&cl_lib) != 0)
        return; /* init_rc stays CL_ERROR; cl_lib says why */
    cl_set_clcb_msg(quiet);
    init_rc = cl_init(CL_INIT_DEFAULT);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* ---- the database fingerprint ---- */

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* fnv - FNV-1a over len bytes, continuing from h. */
static uint64_t fnv(uint64_t h, const void *p, size_t len)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < len; i++) {
        h ^= b[i];
        h *= 1099511628211ULL;
    }
    return h;
}

int clamav_fingerprint(const char *dbdir, uint64_t *fp, unsigned *files, char *err, size_t errlen)
{
    DIR *d = opendir(dbdir);
    if (!d) {
        snprintf(err, errlen, "ClamAV database directory %s: %s", dbdir, strerror(errno));
        return -1;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0, nomem = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.' || strcmp(de->d_name, "freshclam.dat") == 0 ||
            strcmp(de->d_name, "mirrors.dat") == 0)
            continue;
        if (n == FP_MAX_FILES) {
            snprintf(err, errlen, "ClamAV database directory %s: more than %d files", dbdir,
                     FP_MAX_FILES);
            rc = -1;
            break;
        }
        if (array_grow(&names, &cap, n + 1, sizeof(*names), 32) < 0) {
            rc = -1, nomem = 1;
            break;
        }
        if (!(names[n] = strdup(de->d_name))) {
            rc = -1, nomem = 1;
            break;
        }
        n++;
    }
    closedir(d);
    if (rc == 0) {
        if (n > 1)
            qsort(names, n, sizeof(*names), cmp_names);
        uint64_t h = 14695981039346656037ULL;
        unsigned count = 0;
        for (size_t i = 0; i < n; i++) {
            char path[4096];
            struct stat st;
            snprintf(path, sizeof(path), "%s/%s", dbdir, names[i]);
            if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
                continue; /* gone meanwhile, or a directory (freshclam's temporary ones) */
            int64_t facts[5] = {(int64_t)st.st_size, (int64_t)st.st_mtim.tv_sec,
                                (int64_t)st.st_mtim.tv_nsec, (int64_t)st.st_ino,
                                (int64_t)st.st_dev};
            h = fnv(h, names[i], strlen(names[i]) + 1);
            h = fnv(h, facts, sizeof(facts));
            count++;
        }
        *fp = h;
        *files = count;
    } else if (nomem) {
        snprintf(err, errlen, "out of memory");
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}

/* ---- the cache ---- */

/* same_dir - two optional directories are the same (NULL and "" alike). */
static int same_dir(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

/* same_key - e was loaded with these settings from this database. */
static int same_key(const struct clamav_engine *e, const struct clamav_settings *s, uint64_t fp)
{
    return e->fp == fp && strcmp(e->dbdir, s->dbdir) == 0 &&
           e->set.max_scansize == s->max_scansize && e->set.max_filesize == s->max_filesize &&
           e->set.max_recursion == s->max_recursion && e->set.max_files == s->max_files &&
           e->set.max_scantime_ms == s->max_scantime_ms && !e->set.pua == !s->pua &&
           !e->set.no_cache == !s->no_cache && same_dir(e->tmpdir, s->tmpdir);
}

/* lookup - a cached engine for the key, with one more reference; under the lock. */
static struct clamav_engine *lookup(const struct clamav_settings *s, uint64_t fp)
{
    for (struct clamav_engine *e = cache; e; e = e->next)
        if (same_key(e, s, fp)) {
            e->refs++;
            return e;
        }
    return NULL;
}

static void engine_free(struct clamav_engine *e)
{
    if (e->cl)
        cl_engine_free(e->cl);
    free(e->dbdir);
    free(e->tmpdir);
    free(e);
}

/* load - a new engine: limits, signatures, compile.  NULL with err. */
static struct clamav_engine *load(const struct clamav_settings *s, uint64_t fp, char *err,
                                  size_t errlen)
{
    double t0 = now_ms();
    struct clamav_engine *e = calloc(1, sizeof(*e));
    if (!e || !(e->dbdir = strdup(s->dbdir)) || !(e->cl = cl_engine_new())) {
        snprintf(err, errlen, "out of memory");
        if (e)
            engine_free(e);
        return NULL;
    }
    if (s->tmpdir && *s->tmpdir && !(e->tmpdir = strdup(s->tmpdir))) {
        snprintf(err, errlen, "out of memory");
        engine_free(e);
        return NULL;
    }
    e->set = *s;
    e->set.dbdir = e->dbdir;
    e->set.tmpdir = e->tmpdir;
    if (e->tmpdir && access(e->tmpdir, W_OK | X_OK) != 0) {
        snprintf(err, errlen, "ClamAV temporary directory %s: %s", e->tmpdir, strerror(errno));
        engine_free(e);
        return NULL;
    }
    if (e->tmpdir && cl_engine_set_str(e->cl, CL_ENGINE_TMPDIR, e->tmpdir) != CL_SUCCESS) {
        snprintf(err, errlen, "ClamAV: temporary directory %s refused", e->tmpdir);
        engine_free(e);
        return NULL;
    }
    e->fp = fp;
    struct {
        enum cl_engine_field f;
        long long v;
    } lim[] = {
        {CL_ENGINE_MAX_SCANSIZE, (long long)s->max_scansize},
        {CL_ENGINE_MAX_FILESIZE, (long long)s->max_filesize},
        {CL_ENGINE_MAX_RECURSION, s->max_recursion},
        {CL_ENGINE_MAX_FILES, s->max_files},
        {CL_ENGINE_MAX_SCANTIME, s->max_scantime_ms},
        {CL_ENGINE_DISABLE_CACHE, s->no_cache ? 1 : 0},
    };
    for (size_t i = 0; i < sizeof(lim) / sizeof(*lim); i++)
        if (lim[i].v > 0 && cl_engine_set_num(e->cl, lim[i].f, lim[i].v) != CL_SUCCESS) {
            snprintf(err, errlen, "ClamAV: a scan limit was refused");
            engine_free(e);
            return NULL;
        }
    last_msg[0] = '\0';
    unsigned sigs = 0;
    cl_error_t rc = cl_load(s->dbdir, e->cl, &sigs, CL_DB_STDOPT | (s->pua ? CL_DB_PUA : 0));
    if (rc == CL_SUCCESS && sigs == 0) {
        snprintf(err, errlen, "ClamAV database %s: no signatures", s->dbdir);
        engine_free(e);
        return NULL;
    }
    if (rc == CL_SUCCESS)
        rc = cl_engine_compile(e->cl);
    if (rc != CL_SUCCESS) {
        snprintf(err, errlen, "ClamAV database %s does not load: %s%s%s", s->dbdir, cl_strerror(rc),
                 *last_msg ? ": " : "", last_msg);
        engine_free(e);
        return NULL;
    }
    int get_err = 0;
    e->max_filesize = (uint64_t)cl_engine_get_num(e->cl, CL_ENGINE_MAX_FILESIZE, &get_err);
    e->max_scansize = (uint64_t)cl_engine_get_num(e->cl, CL_ENGINE_MAX_SCANSIZE, &get_err);
    e->sigs = sigs;
    e->refs = 1;
    e->load_ms = now_ms() - t0;
    return e;
}

struct clamav_engine *clamav_open(const struct clamav_settings *s, char *err, size_t errlen)
{
    if (errlen)
        *err = '\0';
    if (!s->dbdir || !*s->dbdir) {
        snprintf(err, errlen, "no ClamAV database directory given");
        return NULL;
    }
    pthread_once(&init_once, init);
    if (init_rc != CL_SUCCESS) {
        snprintf(err, errlen, "ClamAV does not start: %s",
                 dynlib_load(&cl_lib) == 0 ? cl_strerror(init_rc) : dynlib_error(&cl_lib));
        return NULL;
    }
    uint64_t fp;
    unsigned files;
    if (clamav_fingerprint(s->dbdir, &fp, &files, err, errlen) < 0)
        return NULL;
    if (files == 0) {
        snprintf(err, errlen, "ClamAV database directory %s holds no database", s->dbdir);
        return NULL;
    }
    pthread_mutex_lock(&cache_lock);
    struct clamav_engine *e = lookup(s, fp);
    pthread_mutex_unlock(&cache_lock);
    if (e)
        return e;
    struct clamav_engine *fresh = load(s, fp, err, errlen); /* slow: without the lock */
    if (!fresh)
        return NULL;
    pthread_mutex_lock(&cache_lock);
    e = lookup(s, fp); /* another thread may have loaded the same meanwhile */
    if (!e) {
        fresh->next = cache;
        cache = fresh;
    }
    pthread_mutex_unlock(&cache_lock);
    if (e) {
        engine_free(fresh);
        return e;
    }
    return fresh;
}

struct clamav_engine *clamav_ref(struct clamav_engine *e)
{
    pthread_mutex_lock(&cache_lock);
    e->refs++;
    pthread_mutex_unlock(&cache_lock);
    return e;
}

void clamav_close(struct clamav_engine *e)
{
    if (!e)
        return;
    pthread_mutex_lock(&cache_lock);
    int last = --e->refs == 0;
    if (last)
        for (struct clamav_engine **pp = &cache; *pp; pp = &(*pp)->next)
            if (*pp == e) {
                *pp = e->next;
                break;
            }
    pthread_mutex_unlock(&cache_lock);
    if (last)
        engine_free(e);
}

unsigned clamav_cached(void)
{
    unsigned n = 0;
    pthread_mutex_lock(&cache_lock);
    for (struct clamav_engine *e = cache; e; e = e->next)
        n++;
    pthread_mutex_unlock(&cache_lock);
    return n;
}

unsigned clamav_signatures(const struct clamav_engine *e)
{
    return e->sigs;
}

double clamav_load_ms(const struct clamav_engine *e)
{
    return e->load_ms;
}

/* ---- scanning ---- */

/* options - libclamav's scan options for ours. */
static void options(unsigned opts, struct cl_scan_options *o)
{
    memset(o, 0, sizeof(*o));
    o->parse = ~0u & ~(unsigned)(CL_SCAN_PARSE_ARCHIVE | CL_SCAN_PARSE_MAIL);
    if (opts & CLAMAV_ARCHIVES)
        o->parse |= CL_SCAN_PARSE_ARCHIVE;
    if (opts & CLAMAV_MAIL)
        o->parse |= CL_SCAN_PARSE_MAIL;
    if (opts & CLAMAV_HEURISTICS)
        o->general |= CL_SCAN_GENERAL_HEURISTICS;
    if (opts & CLAMAV_ENCRYPTED)
        o->heuristic |= CL_SCAN_HEURISTIC_ENCRYPTED_ARCHIVE | CL_SCAN_HEURISTIC_ENCRYPTED_DOC;
    if (opts & CLAMAV_LIMITS)
        o->heuristic |= CL_SCAN_HEURISTIC_EXCEEDS_MAX;
}

/* too_big - a message libclamav would skip whole and call clean. */
static int too_big(const struct clamav_engine *e, uint64_t len, struct virus_result *r)
{
    if ((e->max_filesize && len > e->max_filesize) || (e->max_scansize && len > e->max_scansize)) {
        virus_set(r, VIRUS_TOO_BIG, "over the ClamAV size limit");
        return 1;
    }
    return 0;
}

/* outcome - libclamav's answer as a result. */
static void outcome(cl_error_t rc, const char *virname, struct virus_result *r)
{
    if (rc == CL_VIRUS)
        virus_found(r, virname ? virname : "", virname ? strlen(virname) : 0);
    else if (rc == CL_CLEAN)
        virus_set(r, VIRUS_CLEAN, NULL);
    else
        virus_set(r, VIRUS_ERROR, cl_strerror(rc));
}

void clamav_scan_fd(const struct clamav_engine *e, unsigned opts, int fd, uint64_t len,
                    struct virus_result *r)
{
    if (too_big(e, len, r))
        return;
    struct cl_scan_options o;
    options(opts, &o);
    const char *virname = NULL;
    unsigned long scanned = 0;
    cl_error_t rc = cl_scandesc(fd, NULL, &virname, &scanned, e->cl, &o);
    outcome(rc, virname, r); /* virname is set by the call: read it after */
}

void clamav_scan_mem(const struct clamav_engine *e, unsigned opts, const void *buf, size_t len,
                     struct virus_result *r)
{
    if (too_big(e, len, r))
        return;
    cl_fmap_t *map = cl_fmap_open_memory(buf, len);
    if (!map) {
        virus_set(r, VIRUS_ERROR, "out of memory");
        return;
    }
    struct cl_scan_options o;
    options(opts, &o);
    const char *virname = NULL;
    unsigned long scanned = 0;
    cl_error_t rc = cl_scanmap_callback(map, NULL, &virname, &scanned, e->cl, &o, NULL);
    outcome(rc, virname, r);
    cl_fmap_close(map);
}
