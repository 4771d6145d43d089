/*
 * fuzz_qq.c - libFuzzer harness for policy-queue's parsers: the qmail-queue
 * envelope (first byte even) and the header/body split of a message (odd),
 * the latter through a real session with a header rule.  Checks: a parsed
 * envelope points only into the input, every address is NUL-terminated
 * inside it and the record structure re-serializes to the input exactly;
 * the header block length is within the message and ends at an empty line
 * (or is the whole message).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../adapters/qmail-queue/qq.h"

static policy_engine *engine;

static void quiet(int level, const char *line, void *ctx)
{
    (void)level, (void)line, (void)ctx;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char err[512];
    (void)argc, (void)argv;
    FILE *f = fopen("/tmp/fuzz-qq.conf", "w");
    if (!f || fputs("[regex]\nheader_block = Subject: viagra\n", f) < 0 || fclose(f))
        abort();
    engine = policy_engine_open("/tmp/fuzz-qq.conf", err, sizeof(err));
    if (!engine)
        abort();
    policy_engine_set_log(engine, quiet, NULL);
    return 0;
}

static void envelope(const char *buf, size_t len)
{
    struct qq_envelope env;
    if (qq_envelope_parse(buf, len, &env) != 0)
        return;
    char *again = malloc(len);
    size_t n = 0;
    if (!again)
        abort();
    if (env.sender < buf || env.sender >= buf + len || env.nrcpts == 0)
        abort();
    size_t sl = strnlen(env.sender, (size_t)(buf + len - env.sender));
    again[n++] = 'F';
    memcpy(again + n, env.sender, sl + 1);
    n += sl + 1;
    for (size_t i = 0; i < env.nrcpts; i++) {
        const char *r = env.rcpts[i];
        if (r < buf || r >= buf + len)
            abort();
        size_t rl = strnlen(r, (size_t)(buf + len - r));
        if (rl == 0 || r + rl >= buf + len || n + rl + 2 > len)
            abort();
        again[n++] = 'T';
        memcpy(again + n, r, rl + 1);
        n += rl + 1;
    }
    if (n + 1 != len)
        abort();
    again[n++] = '\0';
    if (memcmp(again, buf, len) != 0)
        abort();
    free(again);
    qq_envelope_free(&env);
}

static void message(const char *buf, size_t len)
{
    policy_session *s = policy_session_new(engine, "192.0.2.1", NULL);
    size_t hlen = 0;
    if (!s)
        abort();
    policy_connect(s);
    policy_mail(s, "a@b.test");
    policy_rcpt(s, "c@d.test");
    policy_data(s);
    (void)qq_message_scan(s, buf, len, &hlen);
    if (hlen > len)
        abort();
    if (hlen < len && !(hlen >= 1 && buf[hlen - 1] == '\n'))
        abort();
    policy_session_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    char *copy = malloc(size - 1 ? size - 1 : 1); /* exact size: ASan sees overreads */
    if (!copy)
        abort();
    memcpy(copy, data + 1, size - 1);
    if (data[0] & 1)
        message(copy, size - 1);
    else
        envelope(copy, size - 1);
    free(copy);
    return 0;
}
