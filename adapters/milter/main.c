/*
 * main.c - the policy-milter daemon: options, socket, privileges, pid file,
 * logging, and the configuration it reloads on SIGHUP.
 *
 * Signals.  libmilter's smfi_main() starts a thread that sigwait()s for
 * SIGHUP, SIGTERM and SIGINT and stops the filter on any of them, so a
 * reload signal would end the daemon.  We run smfi_main() in a thread of
 * its own, started with those signals blocked (libmilter's threads inherit
 * the mask), and keep them unblocked in the main thread with ordinary
 * handlers that write to a pipe.  Linux hands a process-directed signal to
 * the thread group leader first whenever it does not block it, so our main
 * thread receives them; a second signal that arrives while the first is
 * still pending is merged into it by the kernel, never passed on.
 *
 * Reload.  The current engine is a pointer under a mutex.  Each connection
 * takes its own reference when it starts, so SIGHUP swaps the pointer for
 * new connections while running ones finish on the old engine, which is
 * freed when the last of them closes.  A file that fails to load leaves
 * the old engine in place and the reason in the log.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "milter.h"

#define DEFAULT_SOCKET "unix:/run/policy-milter/policy-milter.sock"
#define EX_USAGE       64
#define EX_UNAVAILABLE 69
#define EX_OSERR       71
#define EX_CONFIG      78

static pthread_mutex_t engine_lock = PTHREAD_MUTEX_INITIALIZER;
static policy_engine *current;
static int log_stderr;
static int sigpipe[2] = {-1, -1};

/* ------------------------------------------------------------ logging */

static void vlog_line(int level, const char *fmt, va_list ap)
{
    if (log_stderr) {
        char line[1024];
        vsnprintf(line, sizeof(line), fmt, ap);
        fprintf(stderr, "policy-milter[%ld]: %s\n", (long)getpid(), line);
    } else {
        vsyslog(level, fmt, ap);
    }
}

void milter_log(int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog_line(level, fmt, ap);
    va_end(ap);
}

/* library_log - the library's decision lines, next to ours on stderr. */
static void library_log(int level, const char *line, void *ctx)
{
    (void)level;
    (void)ctx;
    fprintf(stderr, "policy-milter[%ld]: libpolicy: %s\n", (long)getpid(), line);
}

/* ------------------------------------------------------------ engine */

policy_engine *milter_engine(void)
{
    pthread_mutex_lock(&engine_lock);
    policy_engine *e = policy_engine_ref(current);
    pthread_mutex_unlock(&engine_lock);
    return e;
}

static policy_engine *load(const char *path, char *err, size_t errlen)
{
    policy_engine *e = policy_engine_open(path, err, errlen);
    if (e && log_stderr)
        policy_engine_set_log(e, library_log, NULL);
    return e;
}

static void reload(const char *path)
{
    char err[512];
    policy_engine *e = load(path, err, sizeof(err));
    if (!e) {
        milter_log(LOG_ERR, "reload failed, keeping the running configuration: %s", err);
        return;
    }
    pthread_mutex_lock(&engine_lock);
    policy_engine *old = current;
    current = e;
    pthread_mutex_unlock(&engine_lock);
    policy_engine_unref(old); /* freed when its last connection closes */
    milter_log(LOG_NOTICE, "reloaded %s", path ? path : "built-in defaults");
}

/* ------------------------------------------------------------ signals */

static void on_signal(int sig)
{
    int saved = errno;
    unsigned char b = (unsigned char)sig;
    (void)!write(sigpipe[1], &b, 1);
    errno = saved;
}

static int catch_signals(void)
{
    struct sigaction sa;
    if (pipe(sigpipe) != 0)
        return -1;
    for (int i = 0; i < 2; i++)
        (void)fcntl(sigpipe[i], F_SETFD, FD_CLOEXEC);
    (void)fcntl(sigpipe[1], F_SETFL, O_NONBLOCK);
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    if (sigaction(SIGHUP, &sa, NULL) || sigaction(SIGTERM, &sa, NULL) ||
        sigaction(SIGINT, &sa, NULL))
        return -1;
    sa.sa_handler = SIG_IGN;
    return sigaction(SIGPIPE, &sa, NULL);
}

static void *milter_thread(void *arg)
{
    (void)arg;
    int r = smfi_main();
    unsigned char b = r == MI_SUCCESS ? 0 : 255; /* smfi_main ended by itself */
    (void)!write(sigpipe[1], &b, 1);
    return NULL;
}

/* ------------------------------------------------------------ daemon */

static void usage(FILE *f)
{
    fprintf(f, "usage: policy-milter [-f] [-c policy.conf] [-p socket] [-u user[:group]]\n"
               "                     [-P pidfile] [-t timeout] [-T] [-V]\n"
               "  -c FILE    configuration (default: built-in defaults)\n"
               "  -p SOCKET  unix:/path or inet:port@host (default " DEFAULT_SOCKET ")\n"
               "  -u USER    drop privileges to USER (and its group, or :GROUP)\n"
               "  -f         stay in the foreground and log to stderr\n"
               "  -P FILE    write the process id to FILE\n"
               "  -t SECS    MTA read/write timeout (libmilter default 7210)\n"
               "  -T         check the configuration and exit\n"
               "  -V         print the version and exit\n");
}

/* unix_path - the file of a unix:/local: socket spec, or NULL. */
static const char *unix_path(const char *spec)
{
    if (!strncmp(spec, "unix:", 5))
        return spec + 5;
    if (!strncmp(spec, "local:", 6))
        return spec + 6;
    if (spec[0] == '/')
        return spec;
    return NULL;
}

static int lookup_user(const char *spec, uid_t *uid, gid_t *gid, char *name, size_t namelen)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", spec);
    char *grp = strchr(buf, ':');
    if (grp)
        *grp++ = '\0';
    struct passwd *pw = getpwnam(buf);
    if (!pw)
        return -1;
    *uid = pw->pw_uid;
    *gid = pw->pw_gid;
    snprintf(name, namelen, "%s", pw->pw_name);
    if (grp && *grp) {
        struct group *gr = getgrnam(grp);
        if (!gr)
            return -1;
        *gid = gr->gr_gid;
    }
    return 0;
}

static int drop_privileges(const char *name, uid_t uid, gid_t gid)
{
    if (initgroups(name, gid) != 0 || setgid(gid) != 0 || setuid(uid) != 0)
        return -1;
    return setuid(0) == 0 ? -1 : 0; /* must not be able to get root back */
}

static int daemonize(void)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid > 0)
        _exit(0);
    if (setsid() < 0)
        return -1;
    int fd = open("/dev/null", O_RDWR);
    if (fd < 0)
        return -1;
    dup2(fd, 0);
    dup2(fd, 1);
    dup2(fd, 2);
    if (fd > 2)
        close(fd);
    return chdir("/");
}

static int write_pidfile(const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fprintf(f, "%ld\n", (long)getpid());
    return fclose(f);
}

int main(int argc, char **argv)
{
    const char *config = NULL, *sock = DEFAULT_SOCKET, *user = NULL, *pidfile = NULL;
    int foreground = 0, check_only = 0, timeout = -1, opt;
    char err[512];

    while ((opt = getopt(argc, argv, "c:p:u:fP:t:TVh")) != -1) {
        switch (opt) {
        case 'c':
            config = optarg;
            break;
        case 'p':
            sock = optarg;
            break;
        case 'u':
            user = optarg;
            break;
        case 'f':
            foreground = 1;
            break;
        case 'P':
            pidfile = optarg;
            break;
        case 't': {
            char *end;
            long t = strtol(optarg, &end, 10);
            if (*end || t < 1 || t > 86400) {
                fprintf(stderr, "policy-milter: -t wants seconds, 1 to 86400: %s\n", optarg);
                return EX_USAGE;
            }
            timeout = (int)t;
            break;
        }
        case 'T':
            check_only = 1;
            break;
        case 'V':
            printf("policy-milter %s\n", policy_version());
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return EX_USAGE;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return EX_USAGE;
    }
    log_stderr = foreground || check_only;
    if (!log_stderr)
        openlog("policy-milter", LOG_PID | LOG_NDELAY, LOG_MAIL);

    /* before the socket exists: a SIGHUP from a supervisor that sees the
     * socket must find the handler, not the default action (exit) */
    if (!check_only && catch_signals() != 0) {
        fprintf(stderr, "policy-milter: cannot install signal handlers: %s\n", strerror(errno));
        return EX_OSERR;
    }
    current = load(config, err, sizeof(err));
    if (!current) {
        fprintf(stderr, "policy-milter: %s\n", err);
        milter_log(LOG_ERR, "cannot start: %s", err);
        return EX_CONFIG;
    }
    if (check_only) {
        printf("policy-milter: %s: configuration ok\n", config ? config : "built-in defaults");
        policy_engine_unref(current);
        return 0;
    }

    uid_t uid = 0;
    gid_t gid = 0;
    char uname[256];
    if (user && lookup_user(user, &uid, &gid, uname, sizeof(uname)) != 0) {
        fprintf(stderr, "policy-milter: no such user or group: %s\n", user);
        return EX_USAGE;
    }

    const char *path = unix_path(sock);
    if (smfi_setconn((char *)sock) != MI_SUCCESS || smfi_register(milter_desc) != MI_SUCCESS ||
        (timeout >= 0 && smfi_settimeout(timeout) != MI_SUCCESS)) {
        fprintf(stderr, "policy-milter: cannot set up the milter on %s\n", sock);
        return EX_UNAVAILABLE;
    }
    if (path)
        (void)unlink(path); /* a stale socket from a crash */
    mode_t old_mask = umask(user ? 0117 : 0111);
    int opened = smfi_opensocket(1);
    umask(old_mask);
    if (opened != MI_SUCCESS) {
        fprintf(stderr, "policy-milter: cannot listen on %s: %s\n", sock, strerror(errno));
        return EX_UNAVAILABLE;
    }
    if (path && user && chown(path, uid, gid) != 0) {
        fprintf(stderr, "policy-milter: chown %s: %s\n", path, strerror(errno));
        return EX_OSERR;
    }
    if (!foreground && daemonize() != 0) {
        milter_log(LOG_ERR, "cannot become a daemon: %s", strerror(errno));
        return EX_OSERR;
    }
    if (pidfile && write_pidfile(pidfile) != 0) {
        milter_log(LOG_ERR, "cannot write %s: %s", pidfile, strerror(errno));
        return EX_OSERR;
    }
    if (user && drop_privileges(uname, uid, gid) != 0) {
        milter_log(LOG_ERR, "cannot drop privileges to %s: %s", user, strerror(errno));
        return EX_OSERR;
    }
    /* smfi_main's thread and all of libmilter's start with the signals blocked */
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, &old);
    pthread_t tid;
    int perr = pthread_create(&tid, NULL, milter_thread, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (perr != 0) {
        milter_log(LOG_ERR, "cannot start the milter thread: %s", strerror(perr));
        return EX_OSERR;
    }
    milter_log(LOG_NOTICE, "started %s on %s with %s", policy_version(), sock,
               config ? config : "built-in defaults");

    int status = 0;
    for (;;) {
        struct pollfd p = {.fd = sigpipe[0], .events = POLLIN};
        unsigned char b;
        if (poll(&p, 1, -1) < 0 || read(sigpipe[0], &b, 1) != 1)
            continue;
        if (b == SIGHUP) {
            reload(config);
            continue;
        }
        if (b == SIGTERM || b == SIGINT) {
            milter_log(LOG_NOTICE, "stopping on signal %d", b);
            smfi_stop();
        } else {
            /* we did not ask libmilter to stop: a signal reached its own
             * signal thread, or its loop failed.  Exit non-zero so that a
             * supervisor restarts the filter. */
            milter_log(LOG_ERR, "libmilter's loop ended without being asked%s",
                       b ? " (error)" : " (a signal reached libmilter's signal thread)");
            status = EX_OSERR;
        }
        break;
    }
    pthread_join(tid, NULL);
    /* let running sessions reach their close callback (bounded) */
    for (int i = 0; i < 100 && milter_active() > 0; i++) {
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (path)
        (void)unlink(path);
    if (pidfile)
        (void)unlink(pidfile);
    policy_engine_unref(current);
    milter_log(LOG_NOTICE, "stopped");
    return status;
}
