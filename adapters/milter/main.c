/*
 * main.c - the policy-milter daemon: options, socket, privileges, pid file,
 * logging, and the configuration it reloads on SIGHUP.
 *
 * Signals.  libmilter's smfi_main() blocks SIGHUP, SIGTERM and SIGINT in
 * its thread and starts a thread that sigwait()s for them and stops the
 * filter on the first one.  The kernel counts a thread waiting in
 * sigwait() among those that take these signals, and hands it a
 * process-directed one whenever the thread the signal was sent to cannot
 * take it at that moment (it blocks it inside its own handler, or it has
 * another signal pending and is not running): no signal mask keeps a
 * SIGHUP away from that thread.  So this file defines sigwait() itself.
 * libmilter's call binds to it (the executable comes first in the dynamic
 * linker's search), and a caller that waits for SIGHUP - libmilter's
 * signal thread, the only one - is parked for good instead; the daemon
 * refuses to start when that did not happen.  Then no thread waits for
 * these signals.  smfi_main() runs in a thread started with them blocked
 * and every libmilter thread inherits that mask, so the main thread is the
 * only one that takes them; one that comes while it blocks it (inside the
 * handler) stays pending until the handler can run again, since the
 * kernel never gives a signal to a thread that blocks it.  The handler
 * sets a flag and writes a byte to a pipe; the main loop acts on the
 * flags: a stop before anything else, and any number of SIGHUPs as at
 * most one reload after the one running.
 *
 * Socket.  A unix socket is bound under a temporary name and renamed onto
 * its path under a lock on the directory (flock), after checking that
 * nothing listens there: a live socket makes the start fail, a dead one
 * (connection refused) is replaced in one step.  libmilter knows only the
 * temporary name, so its own clean-up (when not root it unlinks whatever
 * socket has the name it bound) never touches the path.  At exit the path
 * is removed, under the same lock, only while it is still the socket this
 * process bound, and the pid file only while it still holds this pid.
 * With -u, USER must be able to remove them: checked before the start.
 *
 * Metrics.  With -m HOST:PORT every engine gets counters.c's sink and a
 * thread of http.c serves the counts at /metrics; its socket is bound
 * before privileges are dropped, its thread started with the signals
 * blocked like libmilter's, and stopped before the exit.  Without -m no
 * engine has a sink and nothing is counted.
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
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "counters.h"
#include "milter.h"
#include "runfile.h"

#define DEFAULT_SOCKET "unix:/run/policy-milter/policy-milter.sock"
#define PARK_WAIT_MS   10000 /* for libmilter's signal thread to reach sigwait() */

static pthread_mutex_t engine_lock = PTHREAD_MUTEX_INITIALIZER;
static policy_engine *current;
static int log_stderr;
static int metrics_on; /* -m: every engine reports to counters.c */

/* What the signal handler and the milter thread tell the main loop; each
 * change is followed by a byte on wake_pipe. */
static int wake_pipe[2] = {-1, -1};
static atomic_int reload_wanted;  /* a SIGHUP came since the last reload began */
static atomic_int stop_signal;    /* SIGTERM or SIGINT, once one came */
static atomic_int sigwait_parked; /* libmilter's signal thread is parked */
static atomic_int milter_ended;   /* smfi_main() returned: 1 success, 2 failure */

static struct runfile sock_file = {.dirfd = -1}, pid_file = {.dirfd = -1};

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
    if (e && metrics_on)
        policy_engine_set_metrics(e, counters_event, NULL);
    return e;
}

static void reload(const char *path)
{
    char err[512];
    policy_engine *e = load(path, err, sizeof(err));
    if (!e) {
        counters_reload(0);
        milter_log(LOG_ERR, "reload failed, keeping the running configuration: %s", err);
        return;
    }
    pthread_mutex_lock(&engine_lock);
    policy_engine *old = current;
    current = e;
    pthread_mutex_unlock(&engine_lock);
    policy_engine_unref(old); /* freed when its last connection closes */
    counters_reload(1);
    milter_log(LOG_NOTICE, "reloaded %s", path ? path : "built-in defaults");
}

/* ------------------------------------------------------------ signals */

/* wake_main - make the main loop look at the flags; async-signal-safe.  A
 * full pipe already holds a byte the loop has not read, so it is ignored. */
static void wake_main(void)
{
    int saved = errno;
    (void)!write(wake_pipe[1], "", 1);
    errno = saved;
}

static void on_signal(int sig)
{
    if (sig == SIGHUP)
        atomic_store(&reload_wanted, 1);
    else
        atomic_store(&stop_signal, sig);
    wake_main();
}

/* drain_wakes - empty the pipe; the flags say what the bytes were for */
static void drain_wakes(void)
{
    char buf[256];
    while (read(wake_pipe[0], buf, sizeof(buf)) > 0)
        ;
}

static int catch_signals(void)
{
    struct sigaction sa;
    if (pipe(wake_pipe) != 0)
        return -1;
    for (int i = 0; i < 2; i++) {
        (void)fcntl(wake_pipe[i], F_SETFD, FD_CLOEXEC);
        (void)fcntl(wake_pipe[i], F_SETFL, O_NONBLOCK);
    }
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

/* sigwait - libc's, except for a caller waiting for SIGHUP: libmilter's
 * signal thread, which would stop the filter on a reload signal.  It is
 * parked here for the life of the process (see the top of this file). */
__attribute__((visibility("default"))) int sigwait(const sigset_t *restrict set, int *restrict sig)
{
    if (sigismember(set, SIGHUP) != 1) {
        for (;;) {
            int s = sigwaitinfo(set, NULL);
            if (s > 0) {
                *sig = s;
                return 0;
            }
            if (errno != EINTR)
                return errno;
        }
    }
    atomic_store(&sigwait_parked, 1);
    wake_main();
    for (;;)
        pause(); /* its mask blocks the signals this process handles */
}

static void *milter_thread(void *arg)
{
    (void)arg;
    int r = smfi_main();
    atomic_store(&milter_ended, r == MI_SUCCESS ? 1 : 2);
    wake_main();
    return NULL;
}

/* ------------------------------------------------------------ daemon */

static void usage(FILE *f)
{
    fprintf(f, "usage: policy-milter [-f] [-c policy.conf] [-p socket] [-u user[:group]]\n"
               "                     [-P pidfile] [-t timeout] [-m host:port] [-T] [-V]\n"
               "  -c FILE    configuration (default: built-in defaults)\n"
               "  -p SOCKET  unix:/path or inet:port@host (default " DEFAULT_SOCKET ")\n"
               "  -u USER    drop privileges to USER (and its group, or :GROUP)\n"
               "  -f         stay in the foreground and log to stderr\n"
               "  -P FILE    write the process id to FILE\n"
               "  -t SECS    MTA read/write timeout (libmilter default 7210)\n"
               "  -m ADDR    serve metrics at http://ADDR/metrics (HOST:PORT, [IPv6]:PORT)\n"
               "  -T         check the configuration and exit\n"
               "  -V         print the version and exit\n");
}

/* unix_path - the file of a unix socket spec, read as libmilter reads it
 * (unix:, local:, an empty protocol, or no protocol at all), or NULL. */
static const char *unix_path(const char *spec)
{
    const char *colon = strchr(spec, ':');
    if (!colon)
        return spec;
    size_t n = (size_t)(colon - spec);
    if (n == 0 || (n == 4 && !strncasecmp(spec, "unix", 4)) ||
        (n == 5 && !strncasecmp(spec, "local", 5)))
        return colon + 1;
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

/* user_can_remove - 1 when USER may remove files in the directory dirfd,
 * 0 when not, -1 when that cannot be told; asked of a child process that
 * has dropped to USER the way the daemon will. */
static int user_can_remove(int dirfd, const char *name, uid_t uid, gid_t gid)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (drop_privileges(name, uid, gid) != 0)
            _exit(2);
        _exit(faccessat(dirfd, ".", W_OK | X_OK, 0) == 0 ? 0 : 1);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    if (!WIFEXITED(st) || WEXITSTATUS(st) > 1)
        return -1;
    return WEXITSTATUS(st) == 0;
}

/* check_removable - with -u, refuse a socket or pid file USER could not
 * remove at exit; 0 or an exit status after a message */
static int check_removable(const struct runfile *f, const char *what, const char *user,
                           const char *name, uid_t uid, gid_t gid)
{
    if (f->dirfd < 0 || user_can_remove(f->dirfd, name, uid, gid) != 0)
        return 0;
    fprintf(stderr,
            "policy-milter: -u %s: %s cannot remove the %s %s at exit (no write permission "
            "on its directory); make the directory writable by %s (systemd: "
            "RuntimeDirectory= with User=), or put the %s elsewhere\n",
            user, name, what, f->path, name, what);
    return EX_NOPERM;
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

/* wait_parked - until libmilter's signal thread is parked in our sigwait()
 * (1), smfi_main() ended or a stop came first (0), or it never came (-1) */
static int wait_parked(void)
{
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        if (atomic_load(&sigwait_parked))
            return 1;
        if (atomic_load(&milter_ended) || atomic_load(&stop_signal))
            return 0;
        clock_gettime(CLOCK_MONOTONIC, &now);
        long ms = (now.tv_sec - t0.tv_sec) * 1000L + (now.tv_nsec - t0.tv_nsec) / 1000000L;
        if (ms >= PARK_WAIT_MS)
            return -1;
        struct pollfd p = {.fd = wake_pipe[0], .events = POLLIN};
        if (poll(&p, 1, (int)(PARK_WAIT_MS - ms)) > 0)
            drain_wakes();
    }
}

/* serve - the main loop: stop first, then one reload for any number of
 * SIGHUPs; returns the exit status */
static int serve(const char *config)
{
    for (;;) {
        int sig = atomic_load(&stop_signal);
        if (sig) {
            milter_log(LOG_NOTICE, "stopping on signal %d", sig);
            smfi_stop();
            return 0;
        }
        int ended = atomic_load(&milter_ended);
        if (ended) {
            /* nothing here asked libmilter to stop: exit non-zero so that a
             * supervisor restarts the filter */
            milter_log(LOG_ERR, "libmilter's loop ended without being asked%s",
                       ended == 2 ? " (error)" : "");
            return EX_OSERR;
        }
        if (atomic_exchange(&reload_wanted, 0)) {
            reload(config); /* SIGHUPs from now on ask for one more */
            continue;
        }
        struct pollfd p = {.fd = wake_pipe[0], .events = POLLIN};
        if (poll(&p, 1, -1) > 0)
            drain_wakes();
    }
}

/* cleanup - at every exit after the configuration loaded: the socket and
 * pid file if they are still this process's, and the engine */
static void cleanup(void)
{
    runfile_socket_remove(&sock_file);
    runfile_pid_remove(&pid_file);
    policy_engine_unref(current);
}

/* give_up - a start that failed after the configuration loaded */
static int give_up(int status)
{
    cleanup();
    return status;
}

int main(int argc, char **argv)
{
    const char *config = NULL, *sock = DEFAULT_SOCKET, *user = NULL, *pidfile = NULL;
    const char *metrics_addr = NULL;
    int metrics_fd = -1;
    int foreground = 0, check_only = 0, timeout = -1, opt;
    char err[512];

    while ((opt = getopt(argc, argv, "c:p:u:fP:t:m:TVh")) != -1) {
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
        case 'm':
            metrics_addr = optarg;
            break;
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
    metrics_on = metrics_addr != NULL;
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
    int status;
    uid_t uid = 0;
    gid_t gid = 0;
    char uname[256];
    if (user && lookup_user(user, &uid, &gid, uname, sizeof(uname)) != 0) {
        fprintf(stderr, "policy-milter: no such user or group: %s\n", user);
        return give_up(EX_USAGE);
    }
    const char *path = unix_path(sock);
    if (path && runfile_open(&sock_file, path, "socket") != 0)
        return give_up(EX_UNAVAILABLE);
    if (pidfile && runfile_open(&pid_file, pidfile, "pid file") != 0)
        return give_up(EX_OSERR);
    /* like the milter's socket: bound while root, so any port will do */
    if (metrics_addr && (metrics_fd = http_listen(metrics_addr, err, sizeof(err))) < 0) {
        fprintf(stderr, "policy-milter: %s\n", err);
        return give_up(EX_UNAVAILABLE);
    }
    if (user && ((status = check_removable(&sock_file, "socket", user, uname, uid, gid)) ||
                 (status = check_removable(&pid_file, "pid file", user, uname, uid, gid))))
        return give_up(status);

    if (smfi_register(milter_desc) != MI_SUCCESS ||
        (timeout >= 0 && smfi_settimeout(timeout) != MI_SUCCESS)) {
        fprintf(stderr, "policy-milter: cannot set up the milter on %s\n", sock);
        return give_up(EX_UNAVAILABLE);
    }
    if (path) {
        if ((status = runfile_socket_install(&sock_file, user ? 0117 : 0111, user, uid, gid)))
            return give_up(status);
    } else {
        if (smfi_setconn((char *)sock) != MI_SUCCESS || smfi_opensocket(0) != MI_SUCCESS) {
            fprintf(stderr, "policy-milter: cannot listen on %s: %s\n", sock, strerror(errno));
            return give_up(EX_UNAVAILABLE);
        }
    }
    if (!foreground && daemonize() != 0) {
        milter_log(LOG_ERR, "cannot become a daemon: %s", strerror(errno));
        return give_up(EX_OSERR);
    }
    if (pidfile && runfile_pid_write(&pid_file) != 0) {
        milter_log(LOG_ERR, "cannot write %s: %s", pidfile, strerror(errno));
        return give_up(EX_OSERR);
    }
    if (user && drop_privileges(uname, uid, gid) != 0) {
        milter_log(LOG_ERR, "cannot drop privileges to %s: %s", user, strerror(errno));
        return give_up(EX_OSERR);
    }
    /* smfi_main's thread and all of libmilter's start with the signals blocked */
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, &old);
    pthread_t tid;
    counters_start();
    int herr = metrics_fd >= 0 ? http_start(metrics_fd) : 0;
    int perr = herr ? herr : pthread_create(&tid, NULL, milter_thread, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (perr != 0) {
        milter_log(LOG_ERR, "cannot start the %s thread: %s", herr ? "metrics" : "milter",
                   strerror(perr));
        http_stop();
        return give_up(EX_OSERR);
    }
    int parked = wait_parked();
    if (parked < 0) {
        milter_log(LOG_ERR,
                   "libmilter's signal thread did not reach sigwait() within %d s: "
                   "a SIGHUP could stop the filter, so it does not start",
                   PARK_WAIT_MS / 1000);
        smfi_stop();
        status = EX_SOFTWARE;
    } else {
        if (parked)
            milter_log(LOG_NOTICE, "started %s on %s with %s%s%s", policy_version(), sock,
                       config ? config : "built-in defaults",
                       metrics_addr ? ", metrics on " : "", metrics_addr ? metrics_addr : "");
        status = serve(config);
    }
    pthread_join(tid, NULL);
    http_stop();
    /* let running sessions reach their close callback (bounded) */
    for (int i = 0; i < 100 && milter_active() > 0; i++) {
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    cleanup();
    milter_log(LOG_NOTICE, "stopped");
    return status;
}
