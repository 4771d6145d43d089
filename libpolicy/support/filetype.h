/*
 * filetype.h - what a file is by its bytes, whatever its name says.
 *
 * A sniffer is fed a file's bytes in any chunking and keeps a bounded
 * look at them (the first FT_HEAD bytes and the ISO 9660 volume
 * descriptor); its verdict is the same for every chunking.  Nothing is
 * allocated: a struct ft_sniff lives on the caller's stack or state.
 */
#ifndef LIBPOLICY_FILETYPE_H
#define LIBPOLICY_FILETYPE_H

#include <stddef.h>
#include <stdint.h>

#define FT_HEAD 1024 /* leading bytes kept: every signature below lies within */

enum ft_kind {
    FT_UNKNOWN = 0,
    /* programs */
    FT_PE,     /* Windows PE (MZ with a PE header) */
    FT_MZ,     /* DOS MZ executable without a PE header we could see */
    FT_ELF,    /* ELF executable or library */
    FT_MACHO,  /* Mach-O, thin or fat */
    FT_SCRIPT, /* "#!" interpreter script */
    FT_LNK,    /* Windows shortcut */
    FT_CLASS,  /* Java class file */
    /* containers that may hold programs or macros */
    FT_OLE2, /* OLE2 compound file: legacy Office, MSI */
    FT_ZIP,  /* also OOXML, JAR, APK */
    FT_RAR,
    FT_7Z,
    FT_GZIP,
    FT_BZIP2,
    FT_XZ,
    FT_TAR,
    FT_CAB,
    FT_ISO,
    FT_ARJ,
    FT_CPIO,
    FT_KIND_COUNT
};

struct ft_sniff {
    unsigned char head[FT_HEAD];
    size_t nhead;
    uint64_t seen; /* bytes fed in all */
    unsigned char iso[5];
    unsigned niso;
};

/* ft_init - start sniffing a new file. */
void ft_init(struct ft_sniff *f);
/* ft_feed - the next bytes of the file. */
void ft_feed(struct ft_sniff *f, const void *buf, size_t len);
/* ft_kind_of - what the bytes fed so far say the file is. */
enum ft_kind ft_kind_of(const struct ft_sniff *f);
/* ft_classify - the kind of a buffer holding a file's first bytes. */
enum ft_kind ft_classify(const void *buf, size_t len);

/* ft_name - a short lower-case name for logs and replies ("pe", "zip"). */
const char *ft_name(enum ft_kind k);
/* ft_is_program - something a computer runs when the file is opened. */
int ft_is_program(enum ft_kind k);
/* ft_is_archive - a container libarchive can list (support/archive.h). */
int ft_is_archive(enum ft_kind k);

#endif /* LIBPOLICY_FILETYPE_H */
