/*
 * arcwalk.h - the names and kinds of the files inside an archive (zip,
 * rar, 7z, tar, cab, iso, cpio, arj, and gzip/bzip2/xz streams), nested
 * archives included, read with libarchive.
 *
 * Bounded: a nesting depth, a number of entries and a number of
 * decompressed bytes (a zip bomb stops at the budget, not at the end of
 * the disk).  Of each file inside, only its first FT_HEAD bytes are read
 * (to tell its kind) unless it is itself an archive within the depth.
 * Whatever could not be looked at is said in the flags, never hidden.
 */
#ifndef LIBPOLICY_ARCWALK_H
#define LIBPOLICY_ARCWALK_H

#include <stddef.h>
#include <stdint.h>

#include "filetype.h"

struct arc_limits {
    unsigned max_depth;   /* 1: only the archive's own entries */
    unsigned max_entries; /* entries of every level together */
    uint64_t max_bytes;   /* decompressed bytes read, every level together */
};

struct arc_entry {
    const char *name; /* as stored (UTF-8 where the format says), "" when absent */
    unsigned depth;   /* 1 for the outer archive's entries */
    int64_t size;     /* -1 when the format does not say */
    int encrypted;
    enum ft_kind kind; /* by content; FT_UNKNOWN when encrypted or empty */
};

/* Flags of a scan: what could not be looked at, and why. */
#define ARC_F_ENCRYPTED 0x1 /* an entry (or the archive's index) is encrypted */
#define ARC_F_LIMIT     0x2 /* depth, entry or byte budget reached: not all seen */
#define ARC_F_BROKEN    0x4 /* truncated, corrupt or unsupported: not all seen */
#define ARC_F_NOMEM     0x8

/* Called for every entry, outer ones before what they contain.  Return
 * nonzero to stop the scan (the caller has seen enough). */
typedef int (*arc_entry_fn)(void *ctx, const struct arc_entry *e);

/* The library arcwalk loads when the first archive is opened. */
#ifndef ARCWALK_LIBARCHIVE
#define ARCWALK_LIBARCHIVE "libarchive.so.13"
#endif
/* arc_available - libarchive could be loaded (a scan without it reports
 * ARC_F_BROKEN: not looked into). */
int arc_available(void);

/* arc_scan_mem / arc_scan_fd - walk the archive held in buf, or in the
 * seekable file fd (read from its start; the caller keeps the fd).
 * Returns the ARC_F_* flags (0: everything seen). */
unsigned arc_scan_mem(const void *buf, size_t len, const struct arc_limits *lim, arc_entry_fn fn,
                      void *ctx);
unsigned arc_scan_fd(int fd, const struct arc_limits *lim, arc_entry_fn fn, void *ctx);

#endif /* LIBPOLICY_ARCWALK_H */
