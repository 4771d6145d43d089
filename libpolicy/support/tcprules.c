/*
 * tcprules.c - read tcp.smtp.cdb the way tcpserver does.
 * STUB: replaced by the real implementation.
 */
#include "../core/internal.h"

int tcprules_lookup_fd(int fd, const char *ip, const char *host, const char *info,
                       void (*fn)(const char *name, const char *value, void *ctx), void *ctx)
{
    (void)fd; (void)ip; (void)host; (void)info; (void)fn; (void)ctx;
    return 0;
}
