/*
 * fuzz_recipients.c - libFuzzer harness for the recipients map: the first
 * byte picks the input kind.  Even: recipients.txt for the compiler (every
 * line it accepts must then be found in the map it wrote).  Odd: arbitrary
 * bytes as a cdb file for the reader, which must refuse or answer, never
 * read outside the mapping.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "address.h"
#include "core.h"
#include "recipmap.h"

static const char *const probes[] = {"joe", "user-ext", "a+b", "postmaster", "x"};
static const char *const domains[] = {"example.test", "a", "domain0.example", "[192.0.2.1]"};

/* probe - look a few addresses up; answers must be one of the four. */
static void probe(const struct recipmap *m)
{
    for (size_t i = 0; i < sizeof(probes) / sizeof(*probes); i++)
        for (size_t j = 0; j < sizeof(domains) / sizeof(*domains); j++) {
            struct recipmap_query q;
            recipmap_query_make(&q, probes[i], "-+");
            int r = recipmap_lookup(m, &q, domains[j]);
            if (r < -1 || r > 2)
                abort();
        }
}

static void fuzz_text(const uint8_t *data, size_t size)
{
    int fd = memfd_create("recipients.cdb", 0);
    FILE *in = fmemopen((void *)data, size, "r");
    char err[512];
    if (fd < 0 || !in)
        abort();
    int fold = size && (data[0] & 2);
    if (recipmap_build(in, "fuzz.txt", fd, fold, err, sizeof(err)) == 0) {
        struct recipmap m;
        if (recipmap_open_fd(&m, fd, err, sizeof(err)) != 0)
            abort(); /* what we wrote must read back */
        /* every line the compiler took is in the map */
        const char *p = (const char *)data, *end = p + size;
        while (p < end) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
            struct recipmap_entry en;
            if (recipmap_parse_line(p, len, fold, &en, err, sizeof(err)) != 0)
                abort(); /* the whole file was accepted */
            if (en.kind == RML_ADDRESS || en.kind == RML_ALIAS) {
                if (recipmap_has(&m, en.key, en.klen) != 1)
                    abort();
            } else if (en.kind == RML_CATCHALL) {
                if (recipmap_domain(&m, en.key + 1) != 2)
                    abort();
            }
            p += len + 1;
        }
        probe(&m);
        recipmap_close(&m);
    }
    fclose(in);
    close(fd);
}

static void fuzz_cdb(const uint8_t *data, size_t size)
{
    int fd = memfd_create("junk.cdb", 0);
    char why[256];
    struct recipmap m;
    if (fd < 0)
        abort();
    if (size && write(fd, data, size) != (ssize_t)size)
        abort();
    if (recipmap_open_fd(&m, fd, why, sizeof(why)) == 0) {
        probe(&m);
        recipmap_close(&m);
    }
    close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    if (data[0] & 1)
        fuzz_cdb(data + 1, size - 1);
    else
        fuzz_text(data + 1, size - 1);
    return 0;
}
