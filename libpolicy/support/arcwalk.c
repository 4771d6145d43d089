/*
 * arcwalk.c - walk an archive and its nested archives with libarchive,
 * reporting each file's name and kind, within depth, entry and byte
 * budgets.  A nested archive is read as a stream from its parent entry,
 * so memory does not grow with the size or the depth of what is inside.
 */
#include <archive.h>
#include <archive_entry.h>
#include <string.h>
#include <unistd.h>

#include "arcwalk.h"

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
    la_ssize_t r = archive_read_data(n->parent, n->buf, sizeof(n->buf));
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
    struct archive *a = archive_read_new();
    if (!a)
        return NULL;
    archive_read_support_filter_all(a);
    archive_read_support_format_all(a);
    archive_read_support_format_raw(a); /* a bare gzip/bzip2/xz stream: one entry */
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
        la_ssize_t r = archive_read_data(a, head + n, FT_HEAD - n);
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
    if (archive_read_open(a, &n, NULL, nested_read, NULL) != ARCHIVE_OK)
        w->flags |= ARC_F_BROKEN; /* 7z and iso need seeking: not readable as a stream */
    else
        walk_archive(w, a, depth);
    archive_read_free(a);
}

static void walk_archive(struct walk *w, struct archive *a, unsigned depth)
{
    struct archive_entry *e;
    unsigned char head[FT_HEAD];

    while (!w->stop) {
        int r = archive_read_next_header(a, &e);
        if (r == ARCHIVE_EOF)
            break;
        if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
            w->flags |= archive_read_has_encrypted_entries(a) > 0 ? ARC_F_ENCRYPTED : ARC_F_BROKEN;
            break;
        }
        if (archive_format(a) == ARCHIVE_FORMAT_RAW && archive_filter_code(a, 0) == ARCHIVE_FILTER_NONE) {
            w->flags |= ARC_F_BROKEN; /* no format and no compression we know: arj, say */
            break;
        }
        if (++w->entries > w->lim->max_entries) {
            w->flags |= ARC_F_LIMIT;
            w->stop = 1;
            break;
        }
        if (archive_entry_filetype(e) == AE_IFDIR)
            continue;
        struct arc_entry ent = {.depth = depth, .size = -1};
        ent.name = archive_entry_pathname_utf8(e);
        if (!ent.name)
            ent.name = archive_entry_pathname(e);
        if (!ent.name)
            ent.name = "";
        if (archive_entry_size_is_set(e))
            ent.size = archive_entry_size(e);
        ent.encrypted = archive_entry_is_encrypted(e);
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
    archive_read_free(a);
    return w.flags;
}

unsigned arc_scan_mem(const void *buf, size_t len, const struct arc_limits *lim, arc_entry_fn fn,
                      void *ctx)
{
    struct archive *a = reader_new();
    if (!a)
        return ARC_F_NOMEM;
    return walk_start(a, archive_read_open_memory(a, buf, len), lim, fn, ctx);
}

unsigned arc_scan_fd(int fd, const struct arc_limits *lim, arc_entry_fn fn, void *ctx)
{
    struct archive *a = reader_new();
    if (!a)
        return ARC_F_NOMEM;
    if (lseek(fd, 0, SEEK_SET) < 0) {
        archive_read_free(a);
        return ARC_F_BROKEN;
    }
    return walk_start(a, archive_read_open_fd(a, fd, 65536), lim, fn, ctx);
}
