/*
 * runfile.c - policy-milter's unix socket and pid file.  A live socket is
 * never taken over and a dead one is replaced in one step; at exit each
 * file is removed only while it is still the one this process made, so
 * another instance's socket or pid file is never touched.  See main.c for
 * how this fits the daemon.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sysexits.h>
#include <syslog.h>
#include <unistd.h>

#include "milter.h"
#include "runfile.h"

int runfile_open(struct runfile *f, const char *path, const char *what)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    char dir[4096];

    f->path = path;
    if (!*base || strlen(base) >= sizeof(f->base) || !strcmp(base, ".") || !strcmp(base, "..")) {
        fprintf(stderr, "policy-milter: %s %s: not a file name\n", what, path);
        return -1;
    }
    if (!slash)
        snprintf(dir, sizeof(dir), ".");
    else if (slash == path)
        snprintf(dir, sizeof(dir), "/");
    else if ((size_t)(slash - path) < sizeof(dir))
        snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
    else {
        fprintf(stderr, "policy-milter: %s %s: path too long\n", what, path);
        return -1;
    }
    snprintf(f->base, sizeof(f->base), "%s", base);
    f->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (f->dirfd < 0) {
        fprintf(stderr, "policy-milter: %s %s: cannot open %s: %s\n", what, path, dir,
                strerror(errno));
        return -1;
    }
    return 0;
}

/* runfile_still - whether the file at f's name is still the one this process made */
static int runfile_still(const struct runfile *f)
{
    struct stat st;
    return f->made && fstatat(f->dirfd, f->base, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
           st.st_dev == f->dev && st.st_ino == f->ino;
}

/* runfile_unlink - remove the file, logging why when that fails */
static void runfile_unlink(struct runfile *f, const char *what)
{
    if (unlinkat(f->dirfd, f->base, 0) != 0)
        milter_log(LOG_ERR, "cannot remove the %s %s: %s", what, f->path, strerror(errno));
    f->made = 0;
}

enum sock_state { SOCK_ABSENT, SOCK_DEAD, SOCK_LIVE, SOCK_OTHER, SOCK_ERROR };

/* socket_state - what is at the socket's path: nothing, a socket nobody
 * listens on, a live one, something else; errno after SOCK_ERROR */
static enum sock_state socket_state(const struct runfile *f)
{
    struct stat st;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};

    if (fstatat(f->dirfd, f->base, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return errno == ENOENT ? SOCK_ABSENT : SOCK_ERROR;
    if (!S_ISSOCK(st.st_mode))
        return SOCK_OTHER;
    if (strlen(f->path) >= sizeof(sa.sun_path)) {
        errno = ENAMETOOLONG;
        return SOCK_ERROR;
    }
    memcpy(sa.sun_path, f->path, strlen(f->path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return SOCK_ERROR;
    int r = connect(fd, (struct sockaddr *)&sa, sizeof(sa)), e = errno;
    close(fd);
    if (r == 0 || e == EAGAIN || e == EINPROGRESS) /* EAGAIN: its backlog is full */
        return SOCK_LIVE;
    if (e == ECONNREFUSED)
        return SOCK_DEAD;
    if (e == ENOENT)
        return SOCK_ABSENT;
    errno = e;
    return SOCK_ERROR;
}

int runfile_socket_install(struct runfile *f, mode_t mask, const char *user, uid_t uid, gid_t gid)
{
    char tmp[sizeof(((struct sockaddr_un *)0)->sun_path)], conn[sizeof(tmp) + 8];
    char tmpbase[sizeof(f->base) + 24];
    int n = snprintf(tmp, sizeof(tmp), "%s.%ld", f->path, (long)getpid());
    if (strlen(f->path) > RUNFILE_SOCKET_MAX || n < 0 || (size_t)n >= sizeof(tmp)) {
        fprintf(stderr, "policy-milter: socket path too long (at most %d bytes): %s\n",
                RUNFILE_SOCKET_MAX, f->path);
        return EX_USAGE;
    }
    snprintf(tmpbase, sizeof(tmpbase), "%s.%ld", f->base, (long)getpid());
    snprintf(conn, sizeof(conn), "unix:%s", tmp);

    if (flock(f->dirfd, LOCK_EX) != 0) {
        fprintf(stderr, "policy-milter: cannot lock the directory of %s: %s\n", f->path,
                strerror(errno));
        return EX_OSERR;
    }
    int status = 0;
    enum sock_state st = socket_state(f);
    if (st == SOCK_LIVE) {
        fprintf(stderr,
                "policy-milter: %s: another process is listening there (a running "
                "policy-milter?); not starting\n",
                f->path);
        status = EX_UNAVAILABLE;
    } else if (st == SOCK_OTHER) {
        fprintf(stderr, "policy-milter: %s exists and is not a socket\n", f->path);
        status = EX_UNAVAILABLE;
    } else if (st == SOCK_ERROR) {
        fprintf(stderr, "policy-milter: cannot check %s: %s\n", f->path, strerror(errno));
        status = EX_UNAVAILABLE;
    }
    if (status)
        goto out;
    /* only a process holding this lock has such a name, so one found now
     * is a leftover of a dead process that had our pid */
    (void)unlinkat(f->dirfd, tmpbase, 0);
    mode_t old_mask = umask(mask);
    int opened = smfi_setconn(conn) == MI_SUCCESS ? smfi_opensocket(0) : MI_FAILURE;
    int saved = errno;
    umask(old_mask);
    struct stat sb;
    if (opened != MI_SUCCESS) {
        fprintf(stderr, "policy-milter: cannot listen on %s: %s\n", f->path, strerror(saved));
        status = EX_UNAVAILABLE;
    } else if (user && fchownat(f->dirfd, tmpbase, uid, gid, AT_SYMLINK_NOFOLLOW) != 0) {
        fprintf(stderr, "policy-milter: chown %s: %s\n", tmp, strerror(errno));
        status = EX_OSERR;
    } else if (renameat(f->dirfd, tmpbase, f->dirfd, f->base) != 0) {
        fprintf(stderr, "policy-milter: cannot rename %s to %s: %s\n", tmp, f->path,
                strerror(errno));
        status = EX_UNAVAILABLE;
    } else if (fstatat(f->dirfd, f->base, &sb, AT_SYMLINK_NOFOLLOW) != 0) {
        fprintf(stderr, "policy-milter: %s: %s\n", f->path, strerror(errno));
        status = EX_OSERR;
    } else {
        f->dev = sb.st_dev;
        f->ino = sb.st_ino;
        f->made = 1;
        if (st == SOCK_DEAD)
            milter_log(LOG_NOTICE, "replaced %s: nothing was listening there", f->path);
    }
    if (status)
        (void)unlinkat(f->dirfd, tmpbase, 0);
out:
    (void)flock(f->dirfd, LOCK_UN);
    return status;
}

void runfile_socket_remove(struct runfile *f)
{
    if (!f->made)
        return;
    if (flock(f->dirfd, LOCK_EX) != 0)
        milter_log(LOG_ERR, "cannot lock the directory of %s: %s", f->path, strerror(errno));
    else if (!runfile_still(f))
        milter_log(LOG_NOTICE, "did not remove %s: it is no longer this process's socket", f->path);
    else
        runfile_unlink(f, "socket");
    (void)flock(f->dirfd, LOCK_UN);
}

/* pid_line - this process's pid file content */
static void pid_line(char *buf, size_t len)
{
    snprintf(buf, len, "%ld\n", (long)getpid());
}

int runfile_pid_write(struct runfile *f)
{
    char line[32];
    struct stat st;
    int fd = openat(f->dirfd, f->base, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    pid_line(line, sizeof(line));
    size_t n = strlen(line);
    if (fchmod(fd, 0644) != 0 || write(fd, line, n) != (ssize_t)n || fstat(fd, &st) != 0) {
        int saved = errno;
        close(fd);
        (void)unlinkat(f->dirfd, f->base, 0); /* half written: no one's pid */
        errno = saved;
        return -1;
    }
    f->dev = st.st_dev;
    f->ino = st.st_ino;
    f->made = 1;
    return close(fd);
}

void runfile_pid_remove(struct runfile *f)
{
    char want[32], have[32];
    ssize_t n = -1;
    if (!f->made)
        return;
    pid_line(want, sizeof(want));
    int fd = runfile_still(f) ? openat(f->dirfd, f->base, O_RDONLY | O_NOFOLLOW | O_CLOEXEC) : -1;
    if (fd >= 0) {
        n = read(fd, have, sizeof(have) - 1);
        close(fd);
    }
    if (n < 0 || (size_t)n != strlen(want) || memcmp(have, want, (size_t)n))
        milter_log(LOG_NOTICE, "did not remove %s: it is no longer this process's pid file",
                   f->path);
    else
        runfile_unlink(f, "pid file");
}
