/* helpers.c - temp files, engines from text, captured log lines for the suites. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "../../libpolicy/support/store.h"
#include "core.h"
#include "helpers.h"

static char dir[256];
static char logbuf[1 << 16];
static size_t loglen;

static void cleanup(void)
{
    char cmd[300];
    if (*dir && !getenv("KEEP_TEST_DIR")) {
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "cannot remove %s\n", dir);
    }
}

const char *test_dir(void)
{
    if (!*dir) {
        snprintf(dir, sizeof(dir), "%s/libpolicy-unit.XXXXXX",
                 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
        if (!mkdtemp(dir)) {
            perror("mkdtemp");
            exit(2);
        }
        atexit(cleanup);
    }
    return dir;
}

const char *test_write(const char *name, const char *text)
{
    static char ring[8][512];
    static int next;
    char *path = ring[next++ % 8];
    snprintf(path, 512, "%s/%s", test_dir(), name);
    FILE *fp = fopen(path, "w");
    if (!fp || fputs(text, fp) < 0 || fclose(fp) != 0) {
        perror(path);
        exit(2);
    }
    return path;
}

/* test_engine - the file is named after the process too: the counter is
 * copied by fork(), and processes forked from one test (writing their
 * configurations at once) must never truncate a file another is reading. */
policy_engine *test_engine(const char *conf, char *err, size_t errlen)
{
    static int n;
    char name[64];
    snprintf(name, sizeof(name), "policy-%ld-%d.conf", (long)getpid(), n++);
    return policy_engine_open(test_write(name, conf), err, errlen);
}

static void sink(int level, const char *line, void *ctx)
{
    (void)level;
    (void)ctx;
    size_t n = strlen(line);
    if (loglen + n + 2 < sizeof(logbuf)) {
        memcpy(logbuf + loglen, line, n);
        loglen += n;
        logbuf[loglen++] = '\n';
        logbuf[loglen] = '\0';
    }
    if (getenv("TEST_VERBOSE"))
        fprintf(stderr, "log: %s\n", line);
}

void test_log_attach(policy_engine *e)
{
    policy_engine_set_log(e, sink, NULL);
}

int test_log_has(const char *needle)
{
    return strstr(logbuf, needle) != NULL;
}

void test_log_clear(void)
{
    loglen = 0;
    logbuf[0] = '\0';
}

policy_engine *test_store_engine(const char *tag, const char *section, time_t (*clock)(void))
{
    static int n;
    char conf[2048], err[512];
    snprintf(conf, sizeof(conf),
             "[general]\nstore = lmdb:%s/%s-%d\n[customers]\ntrusted_networks = "
             "198.51.100.0/24\n%s",
             test_dir(), tag, n++, section);
    policy_engine *e = test_engine(conf, err, sizeof(err));
    if (!e)
        fprintf(stderr, "\n  engine: %s\n", err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    store_set_clock(engine_store(e), clock);
    test_log_clear();
    test_log_attach(e);
    return e;
}
