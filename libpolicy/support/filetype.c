/*
 * filetype.c - file kinds by signature (magic bytes), as file(1) and the
 * virus scanners' type detectors see them, for the kinds mail policy
 * cares about: programs, and the containers programs hide in.
 *
 * Bounded: only FT_HEAD leading bytes and five bytes at the ISO 9660
 * descriptor offset are kept, whatever the size of the file.
 */
#include <string.h>

#include "filetype.h"

#define ISO_MAGIC_AT 32769 /* "CD001" of the first volume descriptor (sector 16) */

void ft_init(struct ft_sniff *f)
{
    f->nhead = 0;
    f->seen = 0;
    f->niso = 0;
}

void ft_feed(struct ft_sniff *f, const void *buf, size_t len)
{
    const unsigned char *p = buf;
    if (f->nhead < FT_HEAD) {
        size_t n = FT_HEAD - f->nhead < len ? FT_HEAD - f->nhead : len;
        memcpy(f->head + f->nhead, p, n);
        f->nhead += n;
    }
    /* the bytes at ISO_MAGIC_AT .. +4, wherever the chunk boundaries fall */
    uint64_t end = f->seen + len;
    while (f->niso < sizeof(f->iso) && ISO_MAGIC_AT + f->niso < end &&
           ISO_MAGIC_AT + f->niso >= f->seen) {
        f->iso[f->niso] = p[ISO_MAGIC_AT + f->niso - f->seen];
        f->niso++;
    }
    f->seen = end;
}

static int at(const unsigned char *p, size_t n, size_t off, const char *magic, size_t mlen)
{
    return off + mlen <= n && !memcmp(p + off, magic, mlen);
}

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* dos_kind - MZ: a PE when e_lfanew points at "PE\0\0" within what we have. */
static enum ft_kind dos_kind(const unsigned char *p, size_t n)
{
    if (n >= 0x40) {
        uint32_t pe = le32(p + 0x3c);
        if (pe <= n - 4 && !memcmp(p + pe, "PE\0\0", 4))
            return FT_PE;
    }
    return FT_MZ;
}

enum ft_kind ft_classify(const void *buf, size_t n)
{
    const unsigned char *p = buf;
    if (n < 2)
        return FT_UNKNOWN;
    if ((p[0] == 'M' && p[1] == 'Z') || (p[0] == 'Z' && p[1] == 'M'))
        return dos_kind(p, n);
    if (at(p, n, 0, "\x7f" "ELF", 4))
        return FT_ELF;
    if (n >= 8 && at(p, n, 0, "\xca\xfe\xba\xbe", 4))
        /* fat Mach-O counts its architectures here, a class file its version (>= 45) */
        return be32(p + 4) < 30 ? FT_MACHO : FT_CLASS;
    if (at(p, n, 0, "\xfe\xed\xfa\xce", 4) || at(p, n, 0, "\xfe\xed\xfa\xcf", 4) ||
        at(p, n, 0, "\xce\xfa\xed\xfe", 4) || at(p, n, 0, "\xcf\xfa\xed\xfe", 4))
        return FT_MACHO;
    if (p[0] == '#' && p[1] == '!')
        return FT_SCRIPT;
    if (at(p, n, 0, "L\0\0\0\x01\x14\x02\0\0\0\0\0\xc0\0\0\0\0\0\0\x46", 20))
        return FT_LNK;
    if (at(p, n, 0, "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", 8))
        return FT_OLE2;
    if (at(p, n, 0, "PK\x03\x04", 4) || at(p, n, 0, "PK\x05\x06", 4) ||
        at(p, n, 0, "PK\x07\x08", 4))
        return FT_ZIP;
    if (at(p, n, 0, "Rar!\x1a\x07", 6))
        return FT_RAR;
    if (at(p, n, 0, "7z\xbc\xaf\x27\x1c", 6))
        return FT_7Z;
    if (p[0] == 0x1f && p[1] == 0x8b)
        return FT_GZIP;
    if (n >= 4 && at(p, n, 0, "BZh", 3) && p[3] >= '1' && p[3] <= '9')
        return FT_BZIP2;
    if (at(p, n, 0, "\xfd" "7zXZ\0", 6))
        return FT_XZ;
    if (at(p, n, 0, "MSCF\0\0\0\0", 8))
        return FT_CAB;
    if (p[0] == 0x60 && p[1] == 0xea)
        return FT_ARJ;
    if (at(p, n, 0, "070707", 6) || at(p, n, 0, "070701", 6) || at(p, n, 0, "070702", 6) ||
        (p[0] == 0xc7 && p[1] == 0x71) || (p[0] == 0x71 && p[1] == 0xc7))
        return FT_CPIO;
    if (at(p, n, 257, "ustar", 5))
        return FT_TAR;
    return FT_UNKNOWN;
}

enum ft_kind ft_kind_of(const struct ft_sniff *f)
{
    enum ft_kind k = ft_classify(f->head, f->nhead);
    if (k == FT_UNKNOWN && f->niso == sizeof(f->iso) && !memcmp(f->iso, "CD001", 5))
        return FT_ISO;
    return k;
}

const char *ft_name(enum ft_kind k)
{
    static const char *const names[FT_KIND_COUNT] = {
        [FT_UNKNOWN] = "unknown", [FT_PE] = "windows-executable",
        [FT_MZ] = "dos-executable", [FT_ELF] = "elf-executable",
        [FT_MACHO] = "mach-o-executable", [FT_SCRIPT] = "script",
        [FT_LNK] = "windows-shortcut", [FT_CLASS] = "java-class",
        [FT_OLE2] = "ole2", [FT_ZIP] = "zip",
        [FT_RAR] = "rar", [FT_7Z] = "7z",
        [FT_GZIP] = "gzip", [FT_BZIP2] = "bzip2",
        [FT_XZ] = "xz", [FT_TAR] = "tar",
        [FT_CAB] = "cab", [FT_ISO] = "iso9660",
        [FT_ARJ] = "arj", [FT_CPIO] = "cpio",
    };
    return (unsigned)k < FT_KIND_COUNT && names[k] ? names[k] : "unknown";
}

int ft_is_program(enum ft_kind k)
{
    switch (k) {
    case FT_PE:
    case FT_MZ:
    case FT_ELF:
    case FT_MACHO:
    case FT_SCRIPT:
    case FT_LNK:
    case FT_CLASS:
        return 1;
    default:
        return 0;
    }
}

int ft_is_archive(enum ft_kind k)
{
    switch (k) {
    case FT_ZIP:
    case FT_RAR:
    case FT_7Z:
    case FT_GZIP:
    case FT_BZIP2:
    case FT_XZ:
    case FT_TAR:
    case FT_CAB:
    case FT_ISO:
    case FT_ARJ:
    case FT_CPIO:
        return 1;
    default:
        return 0;
    }
}
