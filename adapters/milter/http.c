/*
 * http.c - the -m endpoint of policy-milter: GET /metrics over plain
 * HTTP/1.1, from one thread of its own, nothing else.
 *
 * Bounded: at most HTTP_CLIENTS connections at once (more wait in the
 * listen backlog), a request head of at most HTTP_HEAD_MAX bytes, each
 * connection closed HTTP_TIMEOUT_MS after it was accepted whatever it has
 * sent or read; one response per connection (Connection: close).  The
 * milter threads never wait for it: the page is read from counters.c's
 * atomics.  Anything but GET of /metrics is answered 400, 404, 405 or 431.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "counters.h"

#define HTTP_CLIENTS    8
#define HTTP_HEAD_MAX   4096
#define HTTP_TIMEOUT_MS 5000

struct client {
    int fd;            /* -1: a free place */
    char head[HTTP_HEAD_MAX + 1];
    size_t got;
    char *out;         /* the response, once the request is read */
    size_t outlen, sent;
    long long deadline; /* monotonic ms */
};

static int listen_fd = -1;
static int stop_pipe[2] = {-1, -1};
static pthread_t thread;
static int running;

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int http_listen(const char *spec, char *err, size_t errlen)
{
    char host[256];
    const char *colon = strrchr(spec, ':');
    size_t hl = colon ? (size_t)(colon - spec) : 0;
    if (!colon || !colon[1] || hl >= sizeof(host)) {
        snprintf(err, errlen, "-m wants HOST:PORT or [IPv6]:PORT, got '%s'", spec);
        return -1;
    }
    memcpy(host, spec, hl);
    host[hl] = '\0';
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
        memmove(host, host + 1, hl - 2);
        host[hl - 2] = '\0';
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int r = getaddrinfo(*host ? host : NULL, colon + 1, &hints, &res);
    if (r != 0) {
        snprintf(err, errlen, "-m %s: %s", spec, gai_strerror(r));
        return -1;
    }
    int fd = -1, one = 1;
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            continue;
        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (a->ai_family == AF_INET6)
            (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
        if (bind(fd, a->ai_addr, a->ai_addrlen) == 0 && listen(fd, 64) == 0)
            break;
        snprintf(err, errlen, "-m %s: %s", spec, strerror(errno));
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

/* respond - the response to a complete request head (or an overlong one). */
static void respond(struct client *c, int overlong)
{
    static const char fmt[] = "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                              "%sConnection: close\r\n\r\n";
    char method[16] = "", target[256] = "", version[16] = "";
    int status = 200;
    const char *why = "OK", *type = "text/plain; version=0.0.4; charset=utf-8", *extra = "";
    char *body = NULL;
    size_t blen = 0;

    if (overlong)
        status = 431, why = "Request Header Fields Too Large";
    else if (sscanf(c->head, "%15[^ \r\n] %255[^ \r\n] %15[^ \r\n]", method, target, version) != 3 ||
             strncmp(version, "HTTP/1.", 7) != 0)
        status = 400, why = "Bad Request";
    else if (strcmp(method, "GET") != 0)
        status = 405, why = "Method Not Allowed", extra = "Allow: GET\r\n";
    else if (strcmp(target, "/metrics") != 0 && strncmp(target, "/metrics?", 9) != 0)
        status = 404, why = "Not Found";
    else if (!(body = counters_render(&blen)))
        status = 503, why = "Service Unavailable";
    if (status != 200) {
        type = "text/plain; charset=utf-8";
        body = NULL;
    }
    char hdr[512];
    const char *text = status == 200 ? body : why;
    size_t tlen = status == 200 ? blen : strlen(why) + 1;
    int hn = snprintf(hdr, sizeof(hdr), fmt, status, why, type, tlen, extra);
    c->out = malloc((size_t)hn + tlen);
    if (c->out) {
        memcpy(c->out, hdr, (size_t)hn);
        memcpy(c->out + hn, text, status == 200 ? blen : tlen - 1);
        if (status != 200)
            c->out[hn + tlen - 1] = '\n';
        c->outlen = (size_t)hn + tlen;
    }
    free(body);
    c->sent = 0;
}

static void drop(struct client *c)
{
    close(c->fd);
    free(c->out);
    c->fd = -1;
    c->out = NULL;
    c->got = c->outlen = c->sent = 0;
}

/* on_readable - read what the client sent; respond once the head is whole. */
static void on_readable(struct client *c)
{
    for (;;) {
        ssize_t n = recv(c->fd, c->head + c->got, HTTP_HEAD_MAX - c->got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) { /* closed or failed before a whole request */
            drop(c);
            return;
        }
        c->got += (size_t)n;
        c->head[c->got] = '\0';
        if (strstr(c->head, "\r\n\r\n") || strstr(c->head, "\n\n")) {
            respond(c, 0);
            break;
        }
        if (c->got == HTTP_HEAD_MAX) {
            respond(c, 1);
            break;
        }
    }
    if (!c->out)
        drop(c); /* no memory for a response */
}

/* on_writable - send what is left; close when all of it went. */
static void on_writable(struct client *c)
{
    while (c->sent < c->outlen) {
        ssize_t n = send(c->fd, c->out + c->sent, c->outlen - c->sent, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0)
            break;
        c->sent += (size_t)n;
    }
    drop(c);
}

static void *serve(void *arg)
{
    struct client cl[HTTP_CLIENTS];
    (void)arg;
    for (size_t i = 0; i < HTTP_CLIENTS; i++)
        cl[i].fd = -1, cl[i].out = NULL, cl[i].got = 0;
    for (;;) {
        struct pollfd p[HTTP_CLIENTS + 2];
        size_t np = 0, nfree = 0, at[HTTP_CLIENTS];
        long long now = now_ms(), wait = -1;
        p[np++] = (struct pollfd){.fd = stop_pipe[0], .events = POLLIN};
        for (size_t i = 0; i < HTTP_CLIENTS; i++) {
            if (cl[i].fd >= 0 && now >= cl[i].deadline)
                drop(&cl[i]); /* too slow: gone, whatever it was doing */
            if (cl[i].fd < 0) {
                nfree++;
                continue;
            }
            at[i] = np;
            p[np++] = (struct pollfd){.fd = cl[i].fd, .events = cl[i].out ? POLLOUT : POLLIN};
            if (wait < 0 || cl[i].deadline - now < wait)
                wait = cl[i].deadline - now;
        }
        size_t li = np;
        if (nfree) /* when full, new connections wait in the backlog */
            p[np++] = (struct pollfd){.fd = listen_fd, .events = POLLIN};
        if (poll(p, np, (int)wait) < 0 && errno != EINTR)
            break;
        if (p[0].revents)
            break;
        for (size_t i = 0; i < HTTP_CLIENTS; i++) {
            if (cl[i].fd < 0 || !p[at[i]].revents)
                continue;
            if (cl[i].out)
                on_writable(&cl[i]);
            else
                on_readable(&cl[i]);
            if (cl[i].fd >= 0 && cl[i].out && !(p[at[i]].revents & POLLOUT))
                on_writable(&cl[i]); /* try at once: usually it all fits */
        }
        if (nfree && li < np && (p[li].revents & POLLIN)) {
            for (size_t i = 0; i < HTTP_CLIENTS; i++) {
                if (cl[i].fd >= 0)
                    continue;
                int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (fd < 0)
                    break;
                cl[i].fd = fd;
                cl[i].got = 0;
                cl[i].deadline = now_ms() + HTTP_TIMEOUT_MS;
            }
        }
    }
    for (size_t i = 0; i < HTTP_CLIENTS; i++)
        if (cl[i].fd >= 0)
            drop(&cl[i]);
    return NULL;
}

int http_start(int fd)
{
    if (pipe(stop_pipe) != 0)
        return errno;
    (void)fcntl(stop_pipe[0], F_SETFD, FD_CLOEXEC);
    (void)fcntl(stop_pipe[1], F_SETFD, FD_CLOEXEC);
    listen_fd = fd;
    int r = pthread_create(&thread, NULL, serve, NULL);
    running = r == 0;
    return r;
}

void http_stop(void)
{
    if (!running)
        return;
    (void)!write(stop_pipe[1], "", 1);
    pthread_join(thread, NULL);
    running = 0;
    close(stop_pipe[0]);
    close(stop_pipe[1]);
    close(listen_fd);
    listen_fd = -1;
}
