/*
 * runfile.h - the files policy-milter keeps while it runs: its unix socket
 * and its pid file (runfile.c).  Used by main.c only.
 */
#ifndef POLICY_MILTER_RUNFILE_H
#define POLICY_MILTER_RUNFILE_H

#include <sys/types.h>

/* A file the daemon makes and removes at exit while it is still its own.
 * Reached through its directory, opened at start: the working directory
 * and the rights change after that. */
struct runfile {
    const char *path; /* as given, for messages */
    int dirfd;        /* -1 until runfile_open */
    char base[256];   /* its name in dirfd */
    dev_t dev;        /* the file made, once made is set */
    ino_t ino;
    int made;
};

/* Longest unix socket path: sun_path holds 107 bytes, and the temporary
 * name next to it adds ".PID" (pid_max is at most 2^22). */
#define RUNFILE_SOCKET_MAX 96

/* runfile_open - open PATH's directory and keep its name; 0, or -1 after a
 * message on stderr naming WHAT ("socket", "pid file"). */
int runfile_open(struct runfile *f, const char *path, const char *what);

/* runfile_socket_install - have libmilter (registered already) listen on
 * a temporary name and rename it onto f's path, under a lock on the
 * directory, unless a live socket is there: a dead one is replaced.  The
 * socket gets mode 0666 & ~MASK, and USER's UID:GID when USER is set.
 * 0, or an exit status (sysexits) after a message on stderr. */
int runfile_socket_install(struct runfile *f, mode_t mask, const char *user, uid_t uid, gid_t gid);

/* runfile_socket_remove - at exit: unlink the path under the directory
 * lock if it is still the socket this process made; log otherwise. */
void runfile_socket_remove(struct runfile *f);

/* runfile_pid_write - write this process's pid to f; 0 or -1 with errno. */
int runfile_pid_write(struct runfile *f);

/* runfile_pid_remove - at exit: unlink the pid file if it is still the
 * file this process wrote and holds this pid; log otherwise. */
void runfile_pid_remove(struct runfile *f);

#endif
