/*
 * fuzz_tcprules.c - libFuzzer harness for the tcprules cdb reader: the
 * input is the whole cdb file (in a memfd), looked up for a few clients.
 */
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core.h"
#include "tcprules.h"

static void sink(const char *name, const char *value, void *ctx)
{
    (void)name;
    (void)value;
    (*(int *)ctx)++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const ips[] = {"127.0.0.1", "10.1.2.3", "2001:db8::1"};
    int fd = memfd_create("tcprules", 0), n = 0;
    if (fd < 0)
        return 0;
    if (write(fd, data, size) == (ssize_t)size)
        for (int i = 0; i < 3; i++)
            (void)tcprules_lookup_fd(fd, ips[i], i ? "mx.good.example" : NULL,
                                     i == 2 ? "joe" : NULL, sink, &n);
    close(fd);
    return 0;
}
