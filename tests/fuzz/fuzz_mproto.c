/*
 * fuzz_mproto.c - libFuzzer harness for the bytes of policy-queue's milter
 * conversation (adapters/qmail-queue/mproto.c).  The first byte picks:
 *  0: the rest is a message: its headers must tile the header block from
 *     the start, each inside the input, name and value inside the header,
 *     and end where mp_header_block_end says (or at the end);
 *  1: the rest is a reply packet (its first byte the command): a parsed
 *     reply points only into it, its text is printable and bounded;
 *  2: the rest is an environment (entries split at NUL bytes): packing it
 *     and unpacking the result gives back every entry it kept, exactly.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../adapters/qmail-queue/mproto.h"

static void headers(const char *p, size_t len)
{
    size_t off = 0, at = 0;
    int crlf = -1;
    struct mp_header h;
    while (mp_header_next(p, len, &off, &h, &crlf)) {
        if (h.off != at || h.len == 0 || h.off + h.len > len || off != h.off + h.len)
            abort();
        if (h.name_len > h.len || h.value_off < h.off || h.value_off + h.value_len > h.off + h.len ||
            h.blank > h.value_len)
            abort();
        at = off;
    }
    size_t end = mp_header_block_end(p, len);
    if (off > len || (crlf != 0 && crlf != 1) || off != (end ? end : len))
        abort();
}

static void reply(const char *p, size_t len)
{
    struct mp_reply r;
    if (!len || mp_reply_parse(p[0], p + 1, len - 1, &r) != 0)
        return;
    if (r.name && (r.name < p || r.name >= p + len || r.value < r.name || r.value >= p + len))
        abort();
    size_t t = strnlen(r.text, sizeof(r.text));
    if (t > MP_TEXT_MAX)
        abort();
    for (size_t i = 0; i < t; i++)
        if (r.text[i] < ' ' || r.text[i] > '~')
            abort();
    if (r.cmd == 'y' && (r.code < 400 || r.code > 599))
        abort();
}

static void environment(const char *p, size_t len)
{
    enum { MAX = 64 };
    char *copy = malloc(len + 1), *env[MAX + 1], *back[MAX + 1];
    static char packed[8192];
    size_t n = 0;
    if (!copy)
        abort();
    memcpy(copy, p, len);
    copy[len] = '\0';
    for (char *e = copy; e < copy + len && n < MAX; e += strlen(e) + 1)
        env[n++] = e;
    env[n] = NULL;
    long pl = mp_env_pack(env, "POLICY_STAGES=content", packed, sizeof(packed));
    if (pl >= 0) {
        if ((size_t)pl != strlen(packed))
            abort();
        size_t k = mp_env_unpack(packed, back, MAX);
        /* each entry that came back is one of the environment's, in order */
        size_t j = 0;
        for (size_t i = 0; i < k; i++) {
            while (j < n && strcmp(env[j], back[i]) != 0)
                j++;
            if (j == n && strcmp(back[i], "POLICY_STAGES=content") != 0)
                abort();
            if (j < n)
                j++;
        }
    }
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!size)
        return 0;
    char *copy = malloc(size - 1 ? size - 1 : 1); /* exact size: ASan sees overreads */
    if (!copy)
        abort();
    memcpy(copy, data + 1, size - 1);
    switch (data[0] % 3) {
    case 0:
        headers(copy, size - 1);
        break;
    case 1:
        reply(copy, size - 1);
        break;
    default:
        environment(copy, size - 1);
    }
    free(copy);
    return 0;
}
