/*
 * clamav.h - libclamav in process: a signature engine loaded and compiled
 * once per settings and database, shared by every thread (a compiled
 * libclamav engine scans concurrently), reference counted.
 *
 * Engines live in a process-wide cache keyed by the settings and a
 * fingerprint of the database directory (name, size, mtime and inode of
 * each file).  A configuration reload that leaves both unchanged gets the
 * very engine it already had (no signature is read again); a changed
 * database (freshclam replaced daily.cld) loads a new one.  The caller
 * keeps its old engine until clamav_open() has returned the new one, so
 * sessions never scan without an engine; the old one is freed when its
 * last user closes it.
 *
 * libclamav's own messages never reach stdout or stderr: the last error is
 * kept for the load error text.  cl_init() runs once, whichever thread
 * comes first.
 */
#ifndef LIBPOLICY_CLAMAV_H
#define LIBPOLICY_CLAMAV_H

#include <stddef.h>
#include <stdint.h>

#include "virus.h"

/* What an engine is loaded with (the cache key, with the database's fingerprint). */
struct clamav_settings {
    const char *dbdir;        /* the database directory (.cvd, .cld, .hdb, .ndb, ...) */
    uint64_t max_scansize;    /* bytes scanned per message, all parts (0: libclamav's default) */
    uint64_t max_filesize;    /* bytes of one file or part (0: libclamav's default) */
    unsigned max_recursion;   /* archive and container nesting (0: default) */
    unsigned max_files;       /* files per archive (0: default) */
    unsigned max_scantime_ms; /* per scan (0: default) */
    int pua;                  /* load the PUA (potentially unwanted) signatures too */
    int no_cache;             /* no cache of clean content by hash (clamd's DisableCache) */
    const char *tmpdir;       /* where a scan unpacks parts and archives (NULL: $TMPDIR or /tmp);
                                 a tmpfs spares a disk write and a directory per scan */
};

/* Scan options, per scan (the same engine serves every combination). */
#define CLAMAV_ARCHIVES   0x01 /* look inside archives */
#define CLAMAV_MAIL       0x02 /* read the input as a mail message and scan its parts */
#define CLAMAV_HEURISTICS 0x04 /* heuristic alerts (broken executables, phishing...) */
#define CLAMAV_ENCRYPTED  0x08 /* encrypted archives and documents are VIRUS_ENCRYPTED */
#define CLAMAV_LIMITS     0x10 /* a part over a scan limit is VIRUS_TOO_BIG (else skipped) */

struct clamav_engine;

/* clamav_open - the engine for these settings and the database as it is
 * now: from the cache, or loaded and compiled (seconds for the official
 * database).  NULL with err set when the directory is missing or a
 * database does not load. */
struct clamav_engine *clamav_open(const struct clamav_settings *s, char *err, size_t errlen);
/* clamav_ref - one more user of e; returns e. */
struct clamav_engine *clamav_ref(struct clamav_engine *e);
/* clamav_close - one user fewer; the last frees the engine.  NULL is ok. */
void clamav_close(struct clamav_engine *e);

/* clamav_scan_fd - scan the whole content of fd (read with pread: its
 * position does not matter) of len bytes.  Thread-safe. */
void clamav_scan_fd(const struct clamav_engine *e, unsigned opts, int fd, uint64_t len,
                    struct virus_result *r);
/* clamav_scan_mem - scan len bytes in memory.  Thread-safe. */
void clamav_scan_mem(const struct clamav_engine *e, unsigned opts, const void *buf, size_t len,
                     struct virus_result *r);

unsigned clamav_signatures(const struct clamav_engine *e);
/* clamav_load_ms - what loading and compiling this engine took. */
double clamav_load_ms(const struct clamav_engine *e);
/* clamav_cached - engines in the cache now (for tests and stats). */
unsigned clamav_cached(void);

/* clamav_fingerprint - the database directory's fingerprint: every
 * regular file but freshclam's state (freshclam.dat, mirrors.dat) and
 * hidden ones, by name, size, mtime (ns) and inode.  0, or -1 with err. */
int clamav_fingerprint(const char *dbdir, uint64_t *fp, unsigned *files, char *err, size_t errlen);

#endif /* LIBPOLICY_CLAMAV_H */
