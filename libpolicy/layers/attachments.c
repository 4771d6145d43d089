/*
 * attachments.c - dangerous attachments, refused at end of message: by
 * file name (extension, case-insensitive, trailing dots and blanks
 * ignored, names decoded from RFC 2047/2231 by the parser), by declared
 * content type, and by what the bytes are whatever the name says (Windows,
 * ELF and Mach-O programs, #! scripts, shortcuts, Office macros), inside
 * zip/rar/7z/tar/... archives too; plus the warlord patch's BADMIMETYPE
 * and BADLOADERTYPE checks of base64 attachments, from tcp.smtp.
 *
 * Everything comes from the one MIME parse (part events and decoded
 * bytes); an archive is collected in a bounded spool of its own and walked
 * at the end of its part.  What cannot be looked at (an encrypted archive,
 * one that is broken or over the limits, a message with more parts or
 * nesting than the parser reports) is a verdict of its own, never a pass
 * by accident.  Customers are checked too (qmailtoaster scans their mail
 * for viruses and attachments).
 */
#include <cdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/layer.h"
#include "../support/arcwalk.h"
#include "../support/filetype.h"
#include "../support/mime.h"
#include "../support/spool.h"

extern const struct layer_desc layer_attachments;

#define EXT_MAX        32 /* of an extension in the configuration */
#define NAME_EXT_MAX   64 /* of one read from a file name (class ids are 38) */
#define MIMETYPE_LEN   9  /* warlord: base64 characters of a badmimetypes entry */
#define LOADER_LEN     5  /* warlord: base64 characters of a badloadertypes entry */
#define TRACKERS       4  /* leaf parts open at once: a uuencoded file inside a text part */
#define ARC_MEMORY     (256 * 1024) /* archive bytes in memory before a file */

/* The classic list of what simscan and qmail-scanner setups refuse:
 * programs, scripts, installers, shortcuts and disk images. */
static const char default_extensions[] =
    "ade adp app appx appxbundle application bat cab chm cmd com cpl diagcab exe gadget hlp hta "
    "img inf ins iso isp jar jnlp job js jse lnk mde msc msh msh1 msh2 mshxml msi msix "
    "msixbundle msp mst pif ps1 ps1xml ps2 ps2xml psc1 psc2 reg scf scr sct shb shs vb vbe vbs vhd "
    "vhdx ws wsc wsf wsh xll";

static const char default_types[] =
    "application/x-msdownload application/x-msdos-program application/x-dosexec "
    "application/x-executable application/x-ms-installer application/x-msi "
    "application/x-ms-shortcut application/hta application/x-sh application/x-shellscript "
    "application/vnd.microsoft.portable-executable";

enum unseen { UNSEEN_ACCEPT, UNSEEN_REJECT };

/* A set of fixed-width keys (warlord control files), sorted for bsearch. */
struct keyset {
    char *keys; /* n * width bytes */
    size_t n, width;
};

struct attachments_cfg {
    char *extensions; /* the list in force, lower case, space separated */
    char *extra, *allow;
    char *types;
    int extensions_given, types_given;
    int executables, macros, archives;
    unsigned long archive_depth;
    uint64_t archive_max_size;
    enum unseen encrypted, unreadable;
    char *badmimetypes_path, *badloadertypes_path;
    struct keyset badmimetypes, badloadertypes;
};

/* What is known about one leaf part while its bytes come. */
struct tracker {
    int used;
    unsigned index;
    struct ft_sniff sniff;
    struct spool *arc; /* the part's bytes, while it may be an archive */
    int collecting;    /* its bytes go to arc */
    int arc_too_big;
    unsigned char carry[32]; /* the last bytes, for a macro marker across chunks */
    size_t ncarry;
    int vba; /* an OLE2 VBA project marker was seen */
};

struct attachments_state {
    int found; /* a finding for this message */
    int code;
    char xcode[12];
    char text[POLICY_TEXT_MAX + 1];
    char reason[POLICY_REASON_MAX + 1];
    struct tracker t[TRACKERS];
    const char *arc_name; /* the archive being walked, for the reply */
};

/* ------------------------------------------------------------ configuration */

static void attachments_defaults(void *cfg)
{
    struct attachments_cfg *c = cfg;
    c->executables = 1;
    c->archives = 1;
    c->archive_depth = 3;
    c->archive_max_size = 20 * 1024 * 1024;
    c->encrypted = UNSEEN_ACCEPT;
    c->unreadable = UNSEEN_ACCEPT;
}

/* words_lower - a copy of a word list, lower case, one space between words;
 * each word must pass ok().  NULL with err set. */
static char *words_lower(const char *v, int (*ok)(const char *w, size_t n), struct cfg_err *err)
{
    size_t cap = strlen(v) + 1, len = 0, n;
    char *out = malloc(cap);
    if (!out) {
        cfg_fail(err, "out of memory");
        return NULL;
    }
    for (const char *p = v; (n = words_next(&p)) > 0; p += n) {
        if (ok && !ok(p, n)) {
            cfg_fail(err, "not allowed here: '%.*s'", (int)n, p);
            free(out);
            return NULL;
        }
        if (len)
            out[len++] = ' ';
        for (size_t i = 0; i < n; i++)
            out[len++] = (char)(p[i] >= 'A' && p[i] <= 'Z' ? p[i] - 'A' + 'a' : p[i]);
    }
    out[len] = '\0';
    return out;
}

/* extension_ok - "exe", ".exe" is written without its dot. */
static int extension_ok(const char *w, size_t n)
{
    if (!n || n > EXT_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (w[i] == '.' || w[i] == '/' || (unsigned char)w[i] < 0x21 || (unsigned char)w[i] > 0x7e)
            return 0;
    return 1;
}

/* type_ok - "type/subtype", or "type/" and a star for every subtype. */
static int type_ok(const char *w, size_t n)
{
    const char *slash = memchr(w, '/', n);
    return slash && slash > w && slash < w + n - 1;
}

static int set_words(char **dst, const char *v, int (*ok)(const char *, size_t),
                     struct cfg_err *err)
{
    char *p = words_lower(v, ok, err);
    if (!p)
        return -1;
    if (*dst) { /* list keys: repeated lines add to it */
        char *j = malloc(strlen(*dst) + strlen(p) + 2);
        if (!j) {
            free(p);
            return cfg_fail(err, "out of memory");
        }
        sprintf(j, "%s%s%s", *dst, **dst && *p ? " " : "", p);
        free(p);
        p = j;
    }
    free(*dst);
    *dst = p;
    return 0;
}

static int set_unseen(const char *v, enum unseen *out, struct cfg_err *err)
{
    if (!strcmp(v, "accept"))
        *out = UNSEEN_ACCEPT;
    else if (!strcmp(v, "reject"))
        *out = UNSEEN_REJECT;
    else
        return cfg_fail(err, "expected accept or reject, got '%s'", v);
    return 0;
}

static int attachments_set(void *cfg, const char *key, const char *v, struct cfg_err *err)
{
    struct attachments_cfg *c = cfg;
    if (!strcmp(key, "extensions")) {
        c->extensions_given = 1;
        return set_words(&c->extensions, v, extension_ok, err);
    }
    if (!strcmp(key, "extra_extensions"))
        return set_words(&c->extra, v, extension_ok, err);
    if (!strcmp(key, "allow_extensions"))
        return set_words(&c->allow, v, extension_ok, err);
    if (!strcmp(key, "content_types")) {
        c->types_given = 1;
        return set_words(&c->types, v, type_ok, err);
    }
    if (!strcmp(key, "executables"))
        return cfg_set_bool(v, &c->executables, err);
    if (!strcmp(key, "macros"))
        return cfg_set_bool(v, &c->macros, err);
    if (!strcmp(key, "archives"))
        return cfg_set_bool(v, &c->archives, err);
    if (!strcmp(key, "archive_depth"))
        return cfg_parse_uint(v, 10, &c->archive_depth) || !c->archive_depth
                   ? cfg_fail(err, "expected 1 to 10, got '%s'", v)
                   : 0;
    if (!strcmp(key, "archive_max_size"))
        return cfg_parse_size(v, (uint64_t)1 << 32, &c->archive_max_size)
                   ? cfg_fail(err, "expected a size up to 4G (e.g. 20M), got '%s'", v)
                   : 0;
    if (!strcmp(key, "encrypted"))
        return set_unseen(v, &c->encrypted, err);
    if (!strcmp(key, "unreadable"))
        return set_unseen(v, &c->unreadable, err);
    if (!strcmp(key, "badmimetypes"))
        return cfg_set_string(&c->badmimetypes_path, v, err);
    if (!strcmp(key, "badloadertypes"))
        return cfg_set_string(&c->badloadertypes_path, v, err);
    return CFG_UNKNOWN_KEY;
}

static int key_cmp(const void *a, const void *b, void *w)
{
    return memcmp(a, b, *(size_t *)w);
}

/* keyset_add - one key of exactly k->width bytes. */
static int keyset_add(struct keyset *k, size_t *cap, const char *key)
{
    if (array_grow(&k->keys, cap, (k->n + 1) * k->width, 1, 64 * k->width) != 0)
        return -1;
    memcpy(k->keys + k->n * k->width, key, k->width);
    k->n++;
    return 0;
}

/* keyset_load - a warlord control file: its .cdb (keys of width bytes, as
 * qmail-badmimetypes/qmail-badloadertypes write it) or the text it is made
 * from ('#' comments; the first width characters of each longer line). */
static int keyset_load(struct keyset *k, size_t width, const char *path, struct cfg_err *err)
{
    char why[POLICY_ERR_MAX - 64];
    size_t cap = 0, plen = strlen(path);
    k->width = width;
    if (plen > 4 && !strcmp(path + plen - 4, ".cdb")) {
        int fd = file_open(path, why, sizeof(why));
        struct cdb c;
        unsigned pos;
        if (fd < 0)
            return cfg_fail(err, "%s", why);
        if (cdb_init(&c, fd) != 0) {
            close(fd);
            return cfg_fail(err, "%s is not a cdb file", path);
        }
        cdb_seqinit(&pos, &c);
        while (cdb_seqnext(&pos, &c) > 0) {
            if (cdb_keylen(&c) != width)
                continue; /* qmail-smtpd never finds such a key either */
            if (keyset_add(k, &cap, (const char *)cdb_getkey(&c)) != 0) {
                cdb_free(&c);
                close(fd);
                return cfg_fail(err, "out of memory");
            }
        }
        cdb_free(&c);
        close(fd);
    } else {
        FILE *fp = file_fopen(path, why, sizeof(why));
        char line[512];
        size_t len;
        int r;
        if (!fp)
            return cfg_fail(err, "%s", why);
        while ((r = file_line(fp, line, sizeof(line), &len)) == 1) {
            if (line[0] == '#' || len < width)
                continue; /* qmail-badmimetypes keeps lines of the key's length and more */
            if (keyset_add(k, &cap, line) != 0) {
                fclose(fp);
                return cfg_fail(err, "out of memory");
            }
        }
        fclose(fp);
        if (r < 0)
            return cfg_fail(err, "%s: %s", path,
                            r == FILE_LINE_NUL ? "NUL byte in a line" : "unreadable line");
    }
    qsort_r(k->keys, k->n, width, key_cmp, &k->width);
    return 0;
}

static int keyset_has(const struct keyset *k, const char *key)
{
    size_t lo = 0, hi = k->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = memcmp(key, k->keys + mid * k->width, k->width);
        if (!c)
            return 1;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return 0;
}

static int attachments_load(void *cfg, const policy_engine *e, struct cfg_err *err,
                            const char **key)
{
    struct attachments_cfg *c = cfg;
    (void)e;
    if (!c->extensions_given && !(c->extensions = strdup(default_extensions)))
        return cfg_fail(err, "out of memory");
    if (!c->types_given && !(c->types = strdup(default_types)))
        return cfg_fail(err, "out of memory");
    if (c->extra && set_words(&c->extensions, c->extra, NULL, err) != 0)
        return -1;
    if (c->badmimetypes_path) {
        *key = "badmimetypes";
        if (keyset_load(&c->badmimetypes, MIMETYPE_LEN, c->badmimetypes_path, err) != 0)
            return -1;
    }
    if (c->badloadertypes_path) {
        *key = "badloadertypes";
        if (keyset_load(&c->badloadertypes, LOADER_LEN, c->badloadertypes_path, err) != 0)
            return -1;
    }
    return 0;
}

static void attachments_free(void *cfg)
{
    struct attachments_cfg *c = cfg;
    free(c->extensions);
    free(c->extra);
    free(c->allow);
    free(c->types);
    free(c->badmimetypes_path);
    free(c->badloadertypes_path);
    free(c->badmimetypes.keys);
    free(c->badloadertypes.keys);
}

/* The raw message is read again only for the warlord loader check. */
static unsigned attachments_needs(const void *cfg)
{
    const struct attachments_cfg *c = cfg;
    return NEED_MIME | NEED_BODY | (c->badloadertypes_path || c->badmimetypes_path ? NEED_SPOOL : 0);
}

/* ------------------------------------------------------------ findings */

static struct attachments_state *state(policy_session *s)
{
    return session_layer_state(s, &layer_attachments);
}

/* found - keep the first finding of the message (the reply names one). */
static void found(policy_session *s, const char *xcode, const char *reason, const char *fmt, ...)
    POLICY_PRINTF(4, 5);
static void found(policy_session *s, const char *xcode, const char *reason, const char *fmt, ...)
{
    struct attachments_state *st = state(s);
    va_list ap;
    if (st->found)
        return;
    st->found = 1;
    st->code = xcode[0] == '4' ? 451 : 554;
    snprintf(st->xcode, sizeof(st->xcode), "%s", xcode);
    va_start(ap, fmt);
    vsnprintf(st->text, sizeof(st->text), fmt, ap);
    va_end(ap);
    snprintf(st->reason, sizeof(st->reason), "%s", reason);
}

/* ext_of - the extension of a file name in lower case, trailing dots and
 * blanks dropped ("INVOICE.PDF.EXE. " -> "exe"); "" when none. */
static void ext_of(const char *name, char *ext, size_t cap)
{
    size_t n = strlen(name);
    while (n && (name[n - 1] == '.' || name[n - 1] == ' ' || name[n - 1] == '\t'))
        n--;
    size_t dot = n;
    while (dot && name[dot - 1] != '.' && name[dot - 1] != '/' && name[dot - 1] != '\\')
        dot--;
    ext[0] = '\0';
    if (!dot || name[dot - 1] != '.' || n - dot == 0 || n - dot >= cap)
        return;
    for (size_t i = 0; i < n - dot; i++) {
        char ch = name[dot + i];
        ext[i] = (char)(ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch);
    }
    ext[n - dot] = '\0';
}

/* name_refused - the extension of name is on the list (and not allowed),
 * or it is a class id ("file.{3050F4D8-...}" opens by its id, not its
 * name).  The extension in ext. */
static int name_refused(const struct attachments_cfg *c, const char *name, char *ext, size_t cap)
{
    ext_of(name, ext, cap);
    if (!ext[0])
        return 0;
    if (ext[0] == '{' && ext[strlen(ext) - 1] == '}')
        return 1;
    return words_has(c->extensions, ext) && !(c->allow && words_has(c->allow, ext));
}

/* type_refused - the declared type matches an entry (exact, or its type and a star). */
static int type_refused(const struct attachments_cfg *c, const struct mime_part *p)
{
    size_t tl = strlen(p->type), n;
    for (const char *w = c->types; (n = words_next(&w)) > 0; w += n) {
        const char *slash = memchr(w, '/', n);
        if (!slash || (size_t)(slash - w) != tl || memcmp(w, p->type, tl))
            continue;
        size_t sl = n - tl - 1;
        if ((sl == 1 && slash[1] == '*') ||
            (sl == strlen(p->subtype) && !memcmp(slash + 1, p->subtype, sl)))
            return 1;
    }
    return 0;
}

static const char *shown(const struct mime_part *p)
{
    return p->filename[0] ? p->filename : "unnamed part";
}

/* ------------------------------------------------------------ archives */

struct walk_ctx {
    policy_session *s;
    const struct attachments_cfg *c;
    const char *outer;
};

static int on_entry(void *arg, const struct arc_entry *e)
{
    struct walk_ctx *w = arg;
    char ext[NAME_EXT_MAX + 1];
    const char *base = strrchr(e->name, '/');
    base = base ? base + 1 : e->name;
    char clean[MIME_NAME_MAX];
    snprintf(clean, sizeof(clean), "%s", base);
    (void)mime_sanitize(clean, sizeof(clean));
    if (name_refused(w->c, clean, ext, sizeof(ext))) {
        found(w->s, "5.7.1", "archive entry by name", "attachment type not allowed: %s/%s",
              w->outer, clean);
        return 1;
    }
    if (w->c->executables && ft_is_program(e->kind)) {
        found(w->s, "5.7.1", "archive entry by content", "attachment type not allowed: %s/%s (%s)",
              w->outer, clean, ft_name(e->kind));
        return 1;
    }
    if (w->c->macros && str_ieq(base, "vbaProject.bin")) { /* OOXML with macros */
        found(w->s, "5.7.1", "office macros", "attachment type not allowed: %s (office document "
              "with macros)", w->outer);
        return 1;
    }
    return 0;
}

/* walk - the part's collected bytes are an archive: look inside. */
static void walk(policy_session *s, const struct attachments_cfg *c, struct tracker *t,
                 const struct mime_part *p)
{
    struct walk_ctx w = {s, c, shown(p)};
    if (!arc_available())
        plog(s, POLICY_LOG_ERR, "attachments: %s cannot be loaded: archives are not looked into",
             ARCWALK_LIBARCHIVE);
    struct arc_limits lim = {(unsigned)c->archive_depth, 10000, c->archive_max_size * 4};
    size_t len;
    unsigned flags;
    const void *mem = spool_memory(t->arc, &len);
    if (mem) {
        flags = arc_scan_mem(mem, len, &lim, on_entry, &w);
    } else {
        int fd = spool_fd(t->arc);
        flags = fd < 0 ? ARC_F_BROKEN : arc_scan_fd(fd, &lim, on_entry, &w);
    }
    if (flags & ARC_F_ENCRYPTED) {
        plog(s, POLICY_LOG_INFO, "attachments: %s is an encrypted archive", shown(p));
        if (c->encrypted == UNSEEN_REJECT)
            found(s, "5.7.1", "encrypted archive", "encrypted archive not allowed: %s", shown(p));
    }
    if (flags & (ARC_F_BROKEN | ARC_F_LIMIT | ARC_F_NOMEM)) {
        const char *why = flags & ARC_F_LIMIT ? "over the archive limits"
                          : flags & ARC_F_NOMEM ? "out of memory"
                                                : "damaged or of a kind that cannot be read";
        plog(s, POLICY_LOG_INFO, "attachments: archive %s not read whole: %s", shown(p), why);
        if (c->unreadable == UNSEEN_REJECT)
            found(s, "5.7.1", "archive not readable", "attachment cannot be checked: %s (%s)",
                  shown(p), why);
    }
}

/* ------------------------------------------------------------ content events */

static struct tracker *tracker_of(struct attachments_state *st, unsigned index)
{
    for (int i = 0; i < TRACKERS; i++)
        if (st->t[i].used && st->t[i].index == index)
            return &st->t[i];
    return NULL;
}

static void attachments_part_begin(policy_session *s, const void *cfg, const struct mime_part *p)
{
    const struct attachments_cfg *c = cfg;
    struct attachments_state *st = state(s);
    char ext[NAME_EXT_MAX + 1];

    if (p->kind != MIME_LEAF)
        return;
    if (p->filename[0] && name_refused(c, p->filename, ext, sizeof(ext)))
        found(s, "5.7.1", "file name", "attachment type not allowed: %s", p->filename);
    if (p->type_given && type_refused(c, p))
        found(s, "5.7.1", "declared type", "attachment type not allowed: %s (%s/%s)", shown(p),
              p->type, p->subtype);
    struct tracker *t = NULL;
    for (int i = 0; i < TRACKERS && !t; i++)
        if (!st->t[i].used)
            t = &st->t[i];
    if (!t) { /* cannot happen with the parser's nesting; never a silent pass */
        found(s, "5.7.1", "too many open parts", "attachment cannot be checked: %s", shown(p));
        return;
    }
    t->used = 1;
    t->index = p->index;
    ft_init(&t->sniff);
    t->collecting = c->archives;
    t->arc_too_big = 0;
    t->ncarry = 0;
    t->vba = 0;
    if (t->arc)
        spool_reset(t->arc);
}

/* UTF-16LE "_VBA_PROJECT": the stream a macro project keeps in an OLE2 file. */
static const unsigned char vba_marker[] = {'_', 0, 'V', 0, 'B', 0, 'A', 0, '_', 0, 'P', 0,
                                           'R', 0, 'O', 0, 'J', 0, 'E', 0, 'C', 0, 'T', 0};

/* macro_scan - look for the marker in the carry plus this chunk. */
static void macro_scan(struct tracker *t, const unsigned char *d, size_t n)
{
    const size_t m = sizeof(vba_marker);
    unsigned char buf[sizeof(t->carry) + 256];
    while (n && !t->vba) {
        size_t take = n < 256 ? n : 256;
        memcpy(buf, t->carry, t->ncarry);
        memcpy(buf + t->ncarry, d, take);
        size_t len = t->ncarry + take;
        if (memmem(buf, len, vba_marker, m))
            t->vba = 1;
        t->ncarry = len < m - 1 ? len : m - 1;
        memcpy(t->carry, buf + len - t->ncarry, t->ncarry);
        d += take;
        n -= take;
    }
}

static void attachments_body(policy_session *s, const void *cfg, const struct mime_part *p,
                             const unsigned char *d, size_t n)
{
    const struct attachments_cfg *c = cfg;
    struct attachments_state *st = state(s);
    struct tracker *t = tracker_of(st, p->index);
    if (!t || !n)
        return;
    ft_feed(&t->sniff, d, n);
    if (c->macros && ft_kind_of(&t->sniff) == FT_OLE2)
        macro_scan(t, d, n);
    if (!t->collecting)
        return;
    /* collect while the part may be an archive: until its first bytes say
     * otherwise (the ISO 9660 marker sits 32 KB in) */
    enum ft_kind k = ft_kind_of(&t->sniff);
    if (t->sniff.nhead == FT_HEAD && !ft_is_archive(k) && (k != FT_UNKNOWN || t->sniff.seen > 32774)) {
        t->collecting = 0;
        return;
    }
    if (!t->arc && !(t->arc = spool_new(ARC_MEMORY, c->archive_max_size, session_general(s)->tmpdir))) {
        t->collecting = 0;
        t->arc_too_big = -1;
        return;
    }
    enum spool_status r = spool_write(t->arc, d, n);
    if (r != SPOOL_OK) {
        t->collecting = 0;
        t->arc_too_big = r == SPOOL_TOO_BIG ? 1 : -1;
    }
}

/* warlord - BADMIMETYPE / BADLOADERTYPE on a base64 part's raw lines, as
 * the warlord patch reads them: the first MIMETYPE_LEN characters of the
 * first line against badmimetypes; every LOADER_LEN characters starting
 * with the BADLOADERTYPE character against badloadertypes; with
 * BADMIMETYPE=! a blank inside a line is refused too. */
static void warlord(policy_session *s, const struct attachments_cfg *c, const struct mime_part *p)
{
    const char *mt = policy_session_getvar(s, "BADMIMETYPE");
    const char *lt = policy_session_getvar(s, "BADLOADERTYPE");
    int mime_on = mt && strcmp(mt, "-") && c->badmimetypes.n;
    int blanks = mt && !strcmp(mt, "!");
    int loader_on = lt && strlen(lt) == 1 && strcmp(lt, "-") && c->badloadertypes.n;
    if ((!mime_on && !blanks && !loader_on) || p->cte != MIME_CTE_BASE64 || !p->raw_offsets)
        return;
    char line[1024], buf[8192];
    size_t ll = 0;
    int first = 1;
    uint64_t off = p->body_off;
    while (off < p->body_end) {
        size_t want = p->body_end - off < sizeof(buf) ? (size_t)(p->body_end - off) : sizeof(buf);
        long got = message_read(s, off, buf, want);
        if (got <= 0)
            break;
        for (long i = 0; i < got; i++) {
            char ch = buf[i];
            if (ch != '\n') {
                if (ll < sizeof(line) - 1)
                    line[ll++] = ch;
                continue;
            }
            if (ll && line[ll - 1] == '\r')
                ll--;
            if (first && ll > MIMETYPE_LEN) {
                first = 0;
                if (mime_on && keyset_has(&c->badmimetypes, line)) {
                    found(s, "5.7.1", "BADMIMETYPE", "attachment type not allowed: %s (bad MIME "
                          "type %.*s)", shown(p), MIMETYPE_LEN, line);
                    return;
                }
            }
            for (size_t k = 0; ll > LOADER_LEN && k + LOADER_LEN <= ll; k++) {
                if (loader_on && line[k] == lt[0] && keyset_has(&c->badloadertypes, line + k)) {
                    found(s, "5.7.1", "BADLOADERTYPE", "attachment type not allowed: %s (bad "
                          "loader %.*s)", shown(p), LOADER_LEN, line + k);
                    return;
                }
                if (blanks && (line[k] == ' ' || line[k] == '\t')) {
                    found(s, "5.7.1", "BADMIMETYPE=!", "attachment type not allowed: %s (blank "
                          "inside base64)", shown(p));
                    return;
                }
            }
            ll = 0;
        }
        off += (uint64_t)got;
    }
}

static void attachments_part_end(policy_session *s, const void *cfg, const struct mime_part *p)
{
    const struct attachments_cfg *c = cfg;
    struct attachments_state *st = state(s);
    struct tracker *t = tracker_of(st, p->index);
    if (!t)
        return;
    t->used = 0;
    enum ft_kind k = ft_kind_of(&t->sniff);
    if (c->executables && ft_is_program(k))
        found(s, "5.7.1", "content", "attachment type not allowed: %s (%s)", shown(p), ft_name(k));
    if (c->macros && t->vba)
        found(s, "5.7.1", "office macros",
              "attachment type not allowed: %s (office document with macros)", shown(p));
    if (c->archives && ft_is_archive(k)) {
        if (t->arc_too_big) {
            const char *why = t->arc_too_big > 0 ? "larger than archive_max_size"
                                                 : "no room to keep it";
            plog(s, POLICY_LOG_INFO, "attachments: archive %s not opened: %s", shown(p), why);
            if (c->unreadable == UNSEEN_REJECT)
                found(s, "5.7.1", "archive not readable", "attachment cannot be checked: %s (%s)",
                      shown(p), why);
        } else if (t->arc) {
            walk(s, c, t, p);
        }
    }
    warlord(s, c, p);
}

/* ------------------------------------------------------------ the verdict */

static enum check attachments_eom(policy_session *s, const void *cfg, struct finding *f)
{
    const struct attachments_cfg *c = cfg;
    struct attachments_state *st = state(s);
    unsigned flags = message_mime_flags(s);
    if (!st->found && (flags & (MIME_F_PARTS | MIME_F_DEPTH)) && c->unreadable == UNSEEN_REJECT)
        found(s, "5.7.1", "message structure", "attachment cannot be checked: %s",
              flags & MIME_F_PARTS ? "too many parts" : "nested too deep");
    if (!st->found)
        return CHECK_NOMATCH;
    finding_set(f, st->code, st->xcode, "%s", st->text);
    finding_reason(f, "%s: %s", st->reason, st->text);
    f->tag_name = "X-Policy-Attachment";
    f->tag_value = st->text;
    return CHECK_MATCH;
}

static void attachments_txn_reset(void *state_)
{
    struct attachments_state *st = state_;
    st->found = 0;
    for (int i = 0; i < TRACKERS; i++)
        st->t[i].used = 0;
}

static void attachments_state_free(policy_session *s, void *state_)
{
    struct attachments_state *st = state_;
    (void)s;
    for (int i = 0; i < TRACKERS; i++)
        spool_free(st->t[i].arc);
}

static const char *const attachments_list_keys[] = {"extensions", "extra_extensions",
                                                    "allow_extensions", "content_types", NULL};
static const char *const attachments_vars[] = {"BADMIMETYPE", "BADLOADERTYPE", NULL};

const struct layer_desc layer_attachments = {
    .name = "attachments",
    .flags = LAYER_OPTIN,
    .default_action = LA_REJECT,
    .cfg_size = sizeof(struct attachments_cfg),
    .defaults = attachments_defaults,
    .set = attachments_set,
    .load = attachments_load,
    .free = attachments_free,
    .state_size = sizeof(struct attachments_state),
    .txn_reset = attachments_txn_reset,
    .state_free = attachments_state_free,
    .hooks = {[STAGE_EOM] = attachments_eom},
    .content = {.part_begin = attachments_part_begin,
                .body = attachments_body,
                .part_end = attachments_part_end},
    .needs = NEED_MIME | NEED_BODY,
    .needs_of = attachments_needs,
    .list_keys = attachments_list_keys,
    .vars = attachments_vars,
};
