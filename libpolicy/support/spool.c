/*
 * spool.c - a message's bytes in memory, then in an unlinked temporary
 * file.  Memory never exceeds mem_limit plus one write buffer; the file
 * disappears with the process, whatever happens to it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spool.h"

#define WBUF_SIZE 65536

struct spool {
    size_t mem_limit;
    uint64_t hard_limit;
    char *tmpdir;
    enum spool_status status;
    uint64_t size;
    /* in memory, while size <= mem_limit */
    unsigned char *mem;
    size_t mem_cap;
    /* in the file, once bigger: fd holds size - wlen bytes, wbuf the rest */
    int fd;
    int in_file;
    unsigned char *wbuf;
    size_t wlen;
};

struct spool *spool_new(size_t mem_limit, uint64_t hard_limit, const char *tmpdir)
{
    struct spool *sp = calloc(1, sizeof(*sp));
    if (!sp)
        return NULL;
    if (!tmpdir || !*tmpdir)
        tmpdir = getenv("TMPDIR");
    sp->tmpdir = strdup(tmpdir && *tmpdir ? tmpdir : "/tmp");
    if (!sp->tmpdir) {
        free(sp);
        return NULL;
    }
    sp->mem_limit = mem_limit;
    sp->hard_limit = hard_limit;
    sp->fd = -1;
    return sp;
}

void spool_free(struct spool *sp)
{
    if (!sp)
        return;
    if (sp->fd >= 0)
        close(sp->fd);
    free(sp->mem);
    free(sp->wbuf);
    free(sp->tmpdir);
    free(sp);
}

void spool_reset(struct spool *sp)
{
    sp->status = SPOOL_OK;
    sp->size = 0;
    sp->wlen = 0;
    sp->in_file = 0;
    if (sp->fd >= 0 && ftruncate(sp->fd, 0) != 0) {
        close(sp->fd); /* cannot reuse it: the next message makes a new one */
        sp->fd = -1;
    }
}

enum spool_status spool_status(const struct spool *sp)
{
    return sp->status;
}

uint64_t spool_size(const struct spool *sp)
{
    return sp->size;
}

/* open_file - an unlinked file in tmpdir: O_TMPFILE, or mkstemp + unlink. */
static int open_file(const char *dir)
{
#ifdef O_TMPFILE
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0)
        return fd;
#endif
    char path[4096];
    if (snprintf(path, sizeof(path), "%s/libpolicy-spool.XXXXXX", dir) >= (int)sizeof(path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int f = mkstemp(path);
    if (f < 0)
        return -1;
    (void)unlink(path);
    (void)fcntl(f, F_SETFD, FD_CLOEXEC);
    return f;
}

/* write_all - len bytes at offset off of fd. */
static int write_all(int fd, const unsigned char *p, size_t len, uint64_t off)
{
    while (len) {
        ssize_t w = pwrite(fd, p, len, (off_t)off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        len -= (size_t)w;
        off += (uint64_t)w;
    }
    return 0;
}

static int flush_wbuf(struct spool *sp)
{
    if (!sp->wlen)
        return 0;
    if (write_all(sp->fd, sp->wbuf, sp->wlen, sp->size - sp->wlen) != 0)
        return -1;
    sp->wlen = 0;
    return 0;
}

/* to_file - the memory content goes to the file; memory is kept for reuse. */
static int to_file(struct spool *sp)
{
    if (sp->fd < 0 && (sp->fd = open_file(sp->tmpdir)) < 0)
        return -1;
    if (!sp->wbuf && !(sp->wbuf = malloc(WBUF_SIZE)))
        return -1;
    if (write_all(sp->fd, sp->mem, (size_t)sp->size, 0) != 0)
        return -1;
    sp->in_file = 1;
    sp->wlen = 0;
    return 0;
}

static enum spool_status fail(struct spool *sp, enum spool_status st)
{
    if (sp->status == SPOOL_OK)
        sp->status = st;
    return sp->status;
}

enum spool_status spool_write(struct spool *sp, const void *buf, size_t len)
{
    const unsigned char *p = buf;
    if (sp->status != SPOOL_OK)
        return sp->status;
    if (sp->hard_limit && (len > sp->hard_limit || sp->size > sp->hard_limit - len))
        return fail(sp, SPOOL_TOO_BIG);
    if (!sp->in_file && sp->size + len > sp->mem_limit && to_file(sp) != 0)
        return fail(sp, SPOOL_IO);
    if (!sp->in_file) {
        if (sp->size + len > sp->mem_cap) {
            size_t cap = sp->mem_cap ? sp->mem_cap : 4096;
            while (cap < sp->size + len)
                cap *= 2;
            if (cap > sp->mem_limit)
                cap = sp->mem_limit;
            unsigned char *m = realloc(sp->mem, cap);
            if (!m)
                return fail(sp, SPOOL_IO);
            sp->mem = m;
            sp->mem_cap = cap;
        }
        memcpy(sp->mem + sp->size, p, len);
        sp->size += len;
        return SPOOL_OK;
    }
    while (len) {
        size_t n = WBUF_SIZE - sp->wlen < len ? WBUF_SIZE - sp->wlen : len;
        memcpy(sp->wbuf + sp->wlen, p, n);
        sp->wlen += n;
        sp->size += n;
        p += n;
        len -= n;
        if (sp->wlen == WBUF_SIZE && flush_wbuf(sp) != 0)
            return fail(sp, SPOOL_IO);
    }
    return SPOOL_OK;
}

ssize_t spool_read(struct spool *sp, uint64_t off, void *buf, size_t len)
{
    if (off >= sp->size)
        return 0;
    if (len > sp->size - off)
        len = (size_t)(sp->size - off);
    if (!sp->in_file) {
        memcpy(buf, sp->mem + off, len);
        return (ssize_t)len;
    }
    if (flush_wbuf(sp) != 0) {
        fail(sp, SPOOL_IO);
        return -1;
    }
    for (;;) {
        ssize_t r = pread(sp->fd, buf, len, (off_t)off);
        if (r >= 0 || errno != EINTR)
            return r;
    }
}

const void *spool_memory(const struct spool *sp, size_t *len)
{
    if (sp->in_file)
        return NULL;
    *len = (size_t)sp->size;
    return sp->mem ? (const void *)sp->mem : (const void *)"";
}

int spool_fd(struct spool *sp)
{
    if (!sp->in_file && to_file(sp) != 0) {
        fail(sp, SPOOL_IO);
        return -1;
    }
    if (flush_wbuf(sp) != 0) {
        fail(sp, SPOOL_IO);
        return -1;
    }
    return sp->fd;
}
