/*
 * spool.h - one message's bytes, kept for every layer that reads it again
 * (virus scanners, archive listing, DKIM): in memory up to a limit, then
 * in an unlinked temporary file, never beyond a hard size limit.
 *
 * A spool is reused from message to message (spool_reset keeps its
 * memory and its file); it belongs to one session, one thread at a time.
 */
#ifndef LIBPOLICY_SPOOL_H
#define LIBPOLICY_SPOOL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum spool_status {
    SPOOL_OK = 0,
    SPOOL_TOO_BIG = -1, /* over the hard limit: nothing more is kept */
    SPOOL_IO = -2,      /* no memory, or the temporary file failed (errno) */
};

struct spool;

/* spool_new - mem_limit bytes in memory, then a file in tmpdir (NULL:
 * $TMPDIR or /tmp); hard_limit bytes in all (0: no limit).  NULL when out
 * of memory. */
struct spool *spool_new(size_t mem_limit, uint64_t hard_limit, const char *tmpdir);
void spool_free(struct spool *sp);
/* spool_reset - empty, for the next message. */
void spool_reset(struct spool *sp);

/* spool_write - append.  Once it failed, every later write fails the same
 * way: a spool never holds a message with a hole in it. */
enum spool_status spool_write(struct spool *sp, const void *buf, size_t len);
/* spool_status - the first failure so far, or SPOOL_OK. */
enum spool_status spool_status(const struct spool *sp);
uint64_t spool_size(const struct spool *sp);

/* spool_read - up to len bytes from offset off; the count, 0 at the end,
 * -1 on a read error. */
ssize_t spool_read(struct spool *sp, uint64_t off, void *buf, size_t len);
/* spool_memory - the whole content when it is held in memory, else NULL. */
const void *spool_memory(const struct spool *sp, size_t *len);
/* spool_fd - a file descriptor holding the whole content (moved to a file
 * first when it was in memory), positioned nowhere in particular: read it
 * with pread.  -1 on error.  The spool keeps the descriptor. */
int spool_fd(struct spool *sp);

#endif /* LIBPOLICY_SPOOL_H */
