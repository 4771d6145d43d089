/*
 * tcprules_vars.c - print what libpolicy's tcprules reader gives a client:
 * "NAME=value" lines in file order, or "deny", or "none".  The compatibility
 * test compares this with the environment the real tcpserver builds.
 * usage: tcprules_vars FILE.cdb IP [HOST [INFO]]
 */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "core.h"
#include "tcprules.h"

static void print_var(const char *name, const char *value, void *ctx)
{
    (void)ctx;
    printf("%s=%s\n", name, value);
}

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 5) {
        fprintf(stderr, "usage: tcprules_vars FILE.cdb IP [HOST [INFO]]\n");
        return 64;
    }
    int fd = open(argv[1], O_RDONLY);
    if (fd < 0) {
        perror(argv[1]);
        return 1;
    }
    int r = tcprules_lookup_fd(fd, argv[2], argc > 3 ? argv[3] : NULL, argc > 4 ? argv[4] : NULL,
                               print_var, NULL);
    close(fd);
    if (r < 0) {
        fprintf(stderr, "%s: read error\n", argv[1]);
        return 1;
    }
    if (r == 0)
        printf("none\n");
    if (r == 2)
        printf("deny\n");
    return 0;
}
