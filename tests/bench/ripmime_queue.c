/*
 * ripmime_queue.c - the anchor of bench_content: a QMAILQUEUE wrapper that
 * checks attachments the way simscan does - the message copied to a work
 * file, unpacked to a directory by ripmime, every file name checked
 * against a list of extensions, the directory removed - and then runs the
 * real qmail-queue ($POLICY_QMAILQUEUE) with the message.  Exit 31 when a
 * name is on the list, else the queue's status.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *const bad[] = {"exe", "com", "scr", "pif", "bat", "cmd", "vbs", "js",
                                  "jse", "wsf", "hta", "cpl", "msi", "lnk", "reg", "jar", NULL};

static int run(char *const argv[], int in)
{
    pid_t pid = fork();
    if (pid == 0) {
        if (in >= 0)
            dup2(in, 0);
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 2);
        if (in < 0)
            dup2(null, 1);
        execvp(argv[0], argv);
        _exit(120);
    }
    int st;
    if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st))
        return 81;
    return WEXITSTATUS(st);
}

int main(void)
{
    const char *q = getenv("POLICY_QMAILQUEUE");
    char work[] = "/tmp/ripmime-queue.XXXXXX", msg[64], dir[64], buf[65536];
    if (!q || !mkdtemp(work))
        return 71;
    snprintf(msg, sizeof(msg), "%s/msg", work);
    snprintf(dir, sizeof(dir), "%s/parts", work);
    int fd = open(msg, O_RDWR | O_CREAT | O_EXCL, 0600);
    ssize_t n;
    while ((n = read(0, buf, sizeof(buf))) > 0)
        if (write(fd, buf, (size_t)n) != n)
            return 53;
    char *rip[] = {"ripmime", "-i", msg, "-d", dir, "--no-nameless", NULL};
    mkdir(dir, 0700);
    int rc = run(rip, -1) == 0 ? 0 : 71;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (rc == 0 && d && (e = readdir(d))) {
        const char *dot = strrchr(e->d_name, '.');
        for (int i = 0; dot && bad[i]; i++)
            if (!strcasecmp(dot + 1, bad[i]))
                rc = 31;
    }
    if (d)
        closedir(d);
    char *rm[] = {"rm", "-rf", dir, NULL};
    run(rm, -1);
    if (rc == 0) {
        lseek(fd, 0, SEEK_SET);
        char *qq[] = {(char *)q, NULL};
        rc = run(qq, fd);
    }
    close(fd);
    unlink(msg);
    rmdir(work);
    return rc;
}
