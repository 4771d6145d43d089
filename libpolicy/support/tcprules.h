/*
 * tcprules.h - look a client up in a tcprules cdb (tcp.smtp.cdb) the way
 * ucspi-tcp's tcpserver does.
 */
#ifndef LIBPOLICY_TCPRULES_H
#define LIBPOLICY_TCPRULES_H

#define TCPRULES_NAME_MAX  64   /* a variable's name, as the library takes it */
#define TCPRULES_VALUE_MAX 1024 /* and its value */

/* tcprules_lookup_fd - look ip/host/info up in an open cdb the way tcpserver
 * does and call fn(name, value, ctx) for each +NAME=value of the first rule
 * found.  Returns 0 not found, 1 found (allow), 2 found (deny), -1 read error. */
int tcprules_lookup_fd(int fd, const char *ip, const char *host, const char *info,
                       void (*fn)(const char *name, const char *value, void *ctx), void *ctx);

#endif
