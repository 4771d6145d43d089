/*
 * fuzz_qq.c - libFuzzer harness for policy-queue's parser of the
 * qmail-queue envelope.  Checks: a parsed envelope points only into the
 * input, every address is NUL-terminated inside it and the record
 * structure re-serializes to the input exactly.  (The message itself is
 * split by the library: fuzz_message.)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../adapters/qmail-queue/qq.h"

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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = malloc(size ? size : 1); /* exact size: ASan sees overreads */
    if (!copy)
        abort();
    memcpy(copy, data, size);
    envelope(copy, size);
    free(copy);
    return 0;
}
