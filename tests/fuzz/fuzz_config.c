/*
 * fuzz_config.c - libFuzzer harness for the configuration parser: the input
 * is a policy.conf, opened through the public entry point.  Values that
 * name files can only reach /dev/null-like paths the input itself names;
 * the harness runs in a private temp directory.  The files a configuration
 * makes (LMDB stores, the DMARC history) may only be /tmp/fuzz-config-*:
 * an input that would write anywhere else is skipped, never opened.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core.h"

static char dir[64], path[96];

static void cleanup(void)
{
    unlink(path);
    rmdir(dir);
}

/* writes_elsewhere - does the input name a file to create (an LMDB store,
 * the DMARC history) outside /tmp/fuzz-config-*? */
static int writes_elsewhere(const uint8_t *d, size_t n)
{
    static const char *const marks[] = {"lmdb:", "dmarc_history"};
    static const char safe[] = "/tmp/fuzz-config-";
    for (size_t m = 0; m < sizeof(marks) / sizeof(*marks); m++) {
        size_t ml = strlen(marks[m]);
        for (size_t i = 0; i + ml <= n; i++) {
            if (memcmp(d + i, marks[m], ml) != 0)
                continue;
            size_t j = i + ml;
            while (j < n && (d[j] == ' ' || d[j] == '\t' || d[j] == '='))
                j++;
            if (n - j < sizeof(safe) - 1 || memcmp(d + j, safe, sizeof(safe) - 1) != 0)
                return 1;
            for (j += sizeof(safe) - 1; j < n && d[j] != '\n' && d[j] != '?'; j++)
                if (d[j] == '/' || d[j] == '\0')
                    return 1; /* no directory below, no ".." out */
        }
    }
    return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    snprintf(dir, sizeof(dir), "/tmp/fuzz-config.XXXXXX");
    if (!mkdtemp(dir) || chdir(dir) != 0)
        abort();
    snprintf(path, sizeof(path), "%s/policy.conf", dir);
    atexit(cleanup);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    if (writes_elsewhere(data, size))
        return 0;
    FILE *fp = fopen(path, "wb");
    if (!fp)
        return 0;
    fwrite(data, 1, size, fp);
    fclose(fp);
    policy_engine *e = policy_engine_open(path, err, sizeof(err));
    if (e) {
        /* a configuration that loads must give working sessions */
        policy_session *s = policy_session_new(e, "192.0.2.1", NULL);
        /* the DNS layers would ask the machine's resolvers (and wait for
         * them): their configuration is fuzzed, their lookups are not */
        policy_session_setvar(s, "POLICY_RDNS", "off");
        policy_session_setvar(s, "POLICY_DNSBL", "off");
        policy_session_setvar(s, "POLICY_SPF", "off");
        policy_session_setvar(s, "CHKUSER_SENDER_MX", "0"); /* recipients' DNS check */
        policy_connect(s);
        policy_helo(s, "fuzz.example");
        policy_mail(s, "<a@b.example>");
        policy_rcpt(s, "<c@d.example>");
        policy_session_free(s);
        policy_engine_unref(e);
    } else if (!memchr(err, '\0', sizeof(err)) || strchr(err, '\n')) {
        abort(); /* the error must be one terminated line */
    }
    return 0;
}
