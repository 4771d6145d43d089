/*
 * qq_record.c - a stand-in for the real qmail-queue in tests and benchmarks:
 * reads the message from fd 0 and the envelope from fd 1, as qmail-queue
 * does, and then does what the environment says:
 *   QQ_DIR=dir      save them as dir/message and dir/envelope (and dir/env:
 *                   the variables it was given, one per line)
 *   QQ_EXIT=n       exit n (default 0)
 *   QQ_SIGNAL=n     kill itself with signal n after reading
 *   QQ_NOREAD=1     exit at once without reading anything
 *   QQ_ERROR=text   write text to fd 6 and exit 82 (a custom reply)
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *slurp(int fd, size_t *len)
{
    size_t cap = 65536, n = 0;
    char *b = malloc(cap);
    for (;;) {
        if (!b)
            exit(51);
        ssize_t r = read(fd, b + n, cap - n);
        if (r < 0)
            exit(54);
        if (r == 0)
            break;
        n += (size_t)r;
        if (n == cap)
            b = realloc(b, cap *= 2);
    }
    *len = n;
    return b;
}

static void save(const char *dir, const char *name, const char *b, size_t n)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(b, 1, n, f) != n || fclose(f) != 0)
        exit(53);
}

int main(void)
{
    extern char **environ;
    const char *v;
    size_t ml, el;

    if ((v = getenv("QQ_NOREAD")) && *v)
        return atoi(getenv("QQ_EXIT") ? getenv("QQ_EXIT") : "0");
    char *m = slurp(0, &ml);
    char *e = slurp(1, &el);
    if ((v = getenv("QQ_DIR")) && *v) {
        save(v, "message", m, ml);
        save(v, "envelope", e, el);
        char path[4096];
        snprintf(path, sizeof(path), "%s/env", v);
        FILE *f = fopen(path, "w");
        if (!f)
            return 53;
        for (char **p = environ; *p; p++)
            fprintf(f, "%s\n", *p);
        fclose(f);
    }
    free(m);
    free(e);
    if ((v = getenv("QQ_SIGNAL")) && *v)
        kill(getpid(), atoi(v));
    if ((v = getenv("QQ_ERROR")) && *v) {
        if (write(6, v, strlen(v)) < 0)
            return 81;
        return 82;
    }
    return (v = getenv("QQ_EXIT")) && *v ? atoi(v) : 0;
}
