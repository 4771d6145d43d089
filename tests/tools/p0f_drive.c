/*
 * p0f_drive.c - the p0f client (libpolicy/support/p0f.h) from the command
 * line, for tests against a real p0f.
 *
 *   p0f_drive query SOCKET IP TIMEOUT_MS [RETRY_MS]
 *       ask p0f about IP (again every RETRY_MS while p0f has not seen it).
 *   p0f_drive probe SOCKET PORT TIMEOUT_MS [RETRY_MS]
 *       listen on 127.0.0.1:PORT, connect to it from 127.0.0.2 (so p0f,
 *       capturing that port, sees a client SYN), accept, then ask p0f
 *       about 127.0.0.2 at once, as a server does when a client connects.
 *   p0f_drive silent SOCKET
 *       a p0f that never answers: accept, read, say nothing (until killed).
 *
 * query and probe print "known OS<TAB>FLAVOR<TAB>dist=D ms=M" or
 * "unknown WHY<TAB>ms=M".
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "p0f.h"
#include "waiter.h"

static int ask(const char *sock, const char *ip, unsigned timeout, unsigned retry)
{
    double t0 = waiter_now_ms();
    struct p0f_q *q = p0f_start(NULL, sock, ip, timeout, retry);
    if (!q)
        return 1;
    p0f_wait(q);
    const struct p0f_answer *a = p0f_answer_of(q);
    double ms = waiter_now_ms() - t0;
    if (a->status == P0F_KNOWN)
        printf("known %s\t%s\tdist=%d ms=%.0f\n", a->os_name, a->os_flavor, a->distance, ms);
    else
        printf("unknown %s\tms=%.0f\n", a->why, ms);
    p0f_free(q);
    return 0;
}

static int probe(const char *sock, int port, unsigned timeout, unsigned retry)
{
    struct sockaddr_in srv = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    struct sockaddr_in cli = {.sin_family = AF_INET};
    int one = 1;
    inet_pton(AF_INET, "127.0.0.1", &srv.sin_addr);
    inet_pton(AF_INET, "127.0.0.2", &cli.sin_addr);
    int l = socket(AF_INET, SOCK_STREAM, 0), c = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (l < 0 || c < 0 || bind(l, (struct sockaddr *)&srv, sizeof(srv)) < 0 || listen(l, 4) < 0 ||
        bind(c, (struct sockaddr *)&cli, sizeof(cli)) < 0 ||
        connect(c, (struct sockaddr *)&srv, sizeof(srv)) < 0) {
        perror("p0f_drive: probe");
        return 1;
    }
    int a = accept(l, NULL, NULL);
    if (a < 0) {
        perror("p0f_drive: accept");
        return 1;
    }
    int rc = ask(sock, "127.0.0.2", timeout, retry);
    close(a);
    close(c);
    close(l);
    return rc;
}

static int silent(const char *path)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    int l = socket(AF_UNIX, SOCK_STREAM, 0);
    if (strlen(path) >= sizeof(sun.sun_path))
        return 1;
    memcpy(sun.sun_path, path, strlen(path));
    unlink(path);
    if (l < 0 || bind(l, (struct sockaddr *)&sun, sizeof(sun)) < 0 || listen(l, 16) < 0) {
        perror("p0f_drive: silent");
        return 1;
    }
    for (;;) {
        int a = accept(l, NULL, NULL);
        if (a < 0)
            continue;
        char buf[64];
        while (read(a, buf, sizeof(buf)) > 0)
            ; /* hold the connection, answer nothing */
        close(a);
    }
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    unsigned retry = argc == 6 ? (unsigned)atoi(argv[5]) : 0;
    if ((argc == 5 || argc == 6) && !strcmp(argv[1], "query"))
        return ask(argv[2], argv[3], (unsigned)atoi(argv[4]), retry);
    if ((argc == 5 || argc == 6) && !strcmp(argv[1], "probe"))
        return probe(argv[2], atoi(argv[3]), (unsigned)atoi(argv[4]), retry);
    if (argc == 3 && !strcmp(argv[1], "silent"))
        return silent(argv[2]);
    fprintf(stderr, "usage: p0f_drive query SOCKET IP TIMEOUT_MS [RETRY_MS] |"
                    " probe SOCKET PORT TIMEOUT_MS [RETRY_MS] | silent SOCKET\n");
    return 64;
}
