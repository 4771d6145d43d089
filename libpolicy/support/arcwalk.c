/*
 * arcwalk.c - walk an archive and its nested archives with libarchive,
 * reporting each file's name and kind, within depth, entry and byte
 * budgets.  A nested archive is read as a stream from its parent entry,
 * so memory does not grow with the size or the depth of what is inside.
 */
#include <archive.h>
#include <dlfcn.h>
#include <pthread.h>
#include <archive_entry.h>
#include <string.h>
#include <unistd.h>

#include "arcwalk.h"

/* libarchive, loaded when the first archive is opened: a process that
 * never meets one (most qmail-queue runs) does not pay for mapping it and
 * the libraries it pulls in (libxml2, ICU, nettle, the compressors). */
static struct {
    int ok;
#define LA(ret, name, args) ret(*name) args;
    LA(int, entry_filetype, (struct archive_entry *))
    LA(int, entry_is_encrypted, (struct archive_entry *))
    LA(const char *, entry_pathname, (struct archive_entry *))
    LA(const char *, entry_pathname_utf8, (struct archive_entry *))
    LA(la_int64_t, entry_size, (struct archive_entry *))
    LA(int, entry_size_is_set, (struct archive_entry *))
    LA(int, filter_code, (struct archive *, int))
    LA(int, format, (struct archive *))
    LA(la_ssize_t, read_data, (struct archive *, void *, size_t))
    LA(int, read_free, (struct archive *))
    LA(int, read_has_encrypted_entries, (struct archive *))
    LA(struct archive *, read_new, (void))
    LA(int, read_next_header, (struct archive *, struct archive_entry **))
    LA(int, read_open, (struct archive *, void *, archive_open_callback *, archive_read_callback *,
                        archive_close_callback *))
    LA(int, read_open_fd, (struct archive *, int, size_t))
    LA(int, read_open_memory, (struct archive *, const void *, size_t))
    LA(int, read_support_filter_all, (struct archive *))
    LA(int, read_support_format_all, (struct archive *))
    LA(int, read_support_format_raw, (struct archive *))
#undef LA
} la;
static pthread_once_t la_once = PTHREAD_ONCE_INIT;

/* la_load - dlopen libarchive and find every function, once per process. */
static void la_load(void)
{
    void *h = dlopen(ARCWALK_LIBARCHIVE, RTLD_NOW | RTLD_LOCAL);
    if (!h)
        return;
#define SYM(name)                                                                                  \
    if (!(*(void **)&la.name = dlsym(h, "archive_" #name)))                                       \
        return;
    SYM(entry_filetype) SYM(entry_is_encrypted) SYM(entry_pathname) SYM(entry_pathname_utf8)
    SYM(entry_size) SYM(entry_size_is_set) SYM(filter_code) SYM(format) SYM(read_data)
    SYM(read_free) SYM(read_has_encrypted_entries) SYM(read_new) SYM(read_next_header)
    SYM(read_open) SYM(read_open_fd) SYM(read_open_memory) SYM(read_support_filter_all)
    SYM(read_support_format_all) SYM(read_support_format_raw)
#undef SYM
    la.ok = 1;
}

int arc_available(void)
{
    pthread_once(&la_once, la_load);
    return la.ok;
}


struct walk {
    const struct arc_limits *lim;
    arc_entry_fn fn;
    void *ctx;
    unsigned entries;
    uint64_t bytes;
    unsigned flags;
    int stop;
};

/* A nested archive's input: the head already read, then the parent entry. */
struct nested {
    struct walk *w;
    struct archive *parent;
    const unsigned char *head;
    size_t nhead, pos;
    unsigned char buf[16384];
};

static la_ssize_t nested_read(struct archive *a, void *arg, const void **out)
{
    struct nested *n = arg;
    (void)a;
    if (n->pos < n->nhead) {
        *out = n->head + n->pos;
        size_t k = n->nhead - n->pos;
        n->pos = n->nhead;
        return (la_ssize_t)k;
    }
    if (n->w->bytes >= n->w->lim->max_bytes) {
        n->w->flags |= ARC_F_LIMIT;
        return 0;
    }
    la_ssize_t r = la.read_data(n->parent, n->buf, sizeof(n->buf));
    if (r < 0) {
        n->w->flags |= ARC_F_BROKEN;
        return 0;
    }
    n->w->bytes += (uint64_t)r;
    *out = n->buf;
    return r;
}

static struct archive *reader_new(void)
{
    if (!arc_available())
        return NULL;
    struct archive *a = la.read_new();
    if (!a)
        return NULL;
    la.read_support_filter_all(a);
    la.read_support_format_all(a);
    la.read_support_format_raw(a); /* a bare gzip/bzip2/xz stream: one entry */
    return a;
}

static void walk_archive(struct walk *w, struct archive *a, unsigned depth);

/* read_head - up to FT_HEAD bytes of the current entry's data. */
static size_t read_head(struct walk *w, struct archive *a, unsigned char *head, int *failed)
{
    size_t n = 0;
    *failed = 0;
    while (n < FT_HEAD) {
        if (w->bytes >= w->lim->max_bytes) {
            w->flags |= ARC_F_LIMIT;
            break;
        }
        la_ssize_t r = la.read_data(a, head + n, FT_HEAD - n);
        if (r < 0) {
            *failed = 1;
            break;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        w->bytes += (uint64_t)r;
    }
    return n;
}

/* walk_nested - the entry just read is an archive: walk it from the stream. */
static void walk_nested(struct walk *w, struct archive *parent, const unsigned char *head,
                        size_t nhead, unsigned depth)
{
    struct nested n = {.w = w, .parent = parent, .head = head, .nhead = nhead};
    struct archive *a = reader_new();
    if (!a) {
        w->flags |= ARC_F_NOMEM;
        return;
    }
    if (la.read_open(a, &n, NULL, nested_read, NULL) != ARCHIVE_OK)
        w->flags |= ARC_F_BROKEN; /* 7z and iso need seeking: not readable as a stream */
    else
        walk_archive(w, a, depth);
    la.read_free(a);
}

static void walk_archive(struct walk *w, struct archive *a, unsigned depth)
{
    struct archive_entry *e;
    unsigned char head[FT_HEAD];

    while (!w->stop) {
        int r = la.read_next_header(a, &e);
        if (r == ARCHIVE_EOF)
            break;
        if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
            w->flags |= la.read_has_encrypted_entries(a) > 0 ? ARC_F_ENCRYPTED : ARC_F_BROKEN;
            break;
        }
        if (la.format(a) == ARCHIVE_FORMAT_RAW && la.filter_code(a, 0) == ARCHIVE_FILTER_NONE) {
            w->flags |= ARC_F_BROKEN; /* no format and no compression we know: arj, say */
            break;
        }
        if (++w->entries > w->lim->max_entries) {
            w->flags |= ARC_F_LIMIT;
            w->stop = 1;
            break;
        }
        if (la.entry_filetype(e) == AE_IFDIR)
            continue;
        struct arc_entry ent = {.depth = depth, .size = -1};
        ent.name = la.entry_pathname_utf8(e);
        if (!ent.name)
            ent.name = la.entry_pathname(e);
        if (!ent.name)
            ent.name = "";
        if (la.entry_size_is_set(e))
            ent.size = la.entry_size(e);
        ent.encrypted = la.entry_is_encrypted(e);
        size_t nhead = 0;
        if (ent.encrypted) {
            w->flags |= ARC_F_ENCRYPTED;
        } else {
            int failed;
            nhead = read_head(w, a, head, &failed);
            if (failed)
                w->flags |= ARC_F_BROKEN;
            ent.kind = ft_classify(head, nhead);
        }
        if (w->fn(w->ctx, &ent)) {
            w->stop = 1;
            break;
        }
        if (ft_is_archive(ent.kind)) {
            if (depth >= w->lim->max_depth)
                w->flags |= ARC_F_LIMIT;
            else
                walk_nested(w, a, head, nhead, depth + 1);
        }
    }
}

static unsigned walk_start(struct archive *a, int opened, const struct arc_limits *lim,
                           arc_entry_fn fn, void *ctx)
{
    struct walk w = {.lim = lim, .fn = fn, .ctx = ctx};
    if (opened != ARCHIVE_OK)
        w.flags |= ARC_F_BROKEN;
    else
        walk_archive(&w, a, 1);
    la.read_free(a);
    return w.flags;
}

unsigned arc_scan_mem(const void *buf, size_t len, const struct arc_limits *lim, arc_entry_fn fn,
                      void *ctx)
{
    struct archive *a = reader_new();
    if (!a)
        return arc_available() ? ARC_F_NOMEM : ARC_F_BROKEN;
    return walk_start(a, la.read_open_memory(a, buf, len), lim, fn, ctx);
}

unsigned arc_scan_fd(int fd, const struct arc_limits *lim, arc_entry_fn fn, void *ctx)
{
    struct archive *a = reader_new();
    if (!a)
        return arc_available() ? ARC_F_NOMEM : ARC_F_BROKEN;
    if (lseek(fd, 0, SEEK_SET) < 0) {
        la.read_free(a);
        return ARC_F_BROKEN;
    }
    return walk_start(a, la.read_open_fd(a, fd, 65536), lim, fn, ctx);
}
