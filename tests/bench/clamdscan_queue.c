/*
 * clamdscan_queue.c - the anchors of the virus benchmark (virus.sh): two
 * QMAILQUEUE wrappers that scan the way qmail setups did before libpolicy,
 * then run the real qmail-queue ($POLICY_QMAILQUEUE) with the message.
 *
 *   RIPMIME (simscan's way): the message copied to a work directory,
 *   unpacked there by ripmime, the directory scanned by clamdscan (clamd
 *   reads the files), the directory removed.
 *   otherwise: the message copied to a work file and streamed to clamd by
 *   `clamdscan -` (INSTREAM), as a per-message script would.
 *
 * The work directory is made in $TMPDIR (else /tmp), as the benchmark's
 * other ways unpack there too.  clamdscan reads $CLAMDSCAN_CONF (the
 * benchmark's clamd.conf).  Exit 31
 * when clamdscan finds a virus, 71 when it fails, else the queue's status.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* run - argv with stdin from fd in (-1: /dev/null); its output thrown
 * away unless queue (the real queue reads the envelope on fd 1). */
static int run(char *const argv[], int in, int queue)
{
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        dup2(in >= 0 ? in : null, 0);
        if (!queue)
            dup2(null, 1);
        dup2(null, 2);
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
    const char *q = getenv("POLICY_QMAILQUEUE"), *conf = getenv("CLAMDSCAN_CONF");
    const char *tmp = getenv("TMPDIR");
    char work[4096], msg[4200], dir[4200], buf[65536], cf[4200];
    snprintf(work, sizeof(work), "%s/clamdscan-queue.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!q || !conf || !mkdtemp(work))
        return 71;
    snprintf(msg, sizeof(msg), "%s/msg", work);
    snprintf(dir, sizeof(dir), "%s/parts", work);
    snprintf(cf, sizeof(cf), "--config-file=%s", conf);
    int fd = open(msg, O_RDWR | O_CREAT | O_EXCL, 0600);
    ssize_t n;
    while ((n = read(0, buf, sizeof(buf))) > 0)
        if (write(fd, buf, (size_t)n) != n)
            return 53;
    int rc;
#ifdef RIPMIME
    char *rip[] = {"ripmime", "-i", msg, "-d", dir, "--no-nameless", NULL};
    mkdir(dir, 0700);
    rc = run(rip, -1, 0) == 0 ? 0 : 71;
    if (rc == 0) {
        char *scan[] = {"clamdscan", cf, "--no-summary", "--quiet", work, NULL};
        int s = run(scan, -1, 0);
        rc = s == 0 ? 0 : s == 1 ? 31 : 71;
    }
    char *rm[] = {"rm", "-rf", dir, NULL};
    run(rm, -1, 0);
#else
    lseek(fd, 0, SEEK_SET);
    char *scan[] = {"clamdscan", cf, "--no-summary", "--quiet", "-", NULL};
    int s = run(scan, fd, 0);
    rc = s == 0 ? 0 : s == 1 ? 31 : 71;
#endif
    if (rc == 0) {
        lseek(fd, 0, SEEK_SET);
        char *qq[] = {(char *)q, NULL};
        rc = run(qq, fd, 1);
    }
    close(fd);
    unlink(msg);
    rmdir(work);
    return rc;
}
