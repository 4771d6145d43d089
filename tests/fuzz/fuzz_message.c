/*
 * fuzz_message.c - libFuzzer harness for the library's own split of a raw
 * message (policy_message): the header block into headers, the rest into
 * body, kept in the session's spool.  Checks: whatever the bytes, the
 * verdict and the message written back (policy_message_write, no edits)
 * are the same fed whole, byte by byte and in pieces the input chooses;
 * an accepted message comes back byte for byte; the header stage sees
 * every header exactly once.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "libpolicy/policy.h"

static policy_engine *engine;
static int fd_out = -1;

static void quiet(int level, const char *line, void *ctx)
{
    (void)level, (void)line, (void)ctx;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char err[512];
    (void)argc, (void)argv;
    FILE *f = fopen("/tmp/fuzz-message.conf", "w");
    /* a header rule that fires on some inputs, and a small message limit */
    if (!f ||
        fputs("[general]\nmessage_size_limit = 3000\nspool_memory = 64\n"
              "[regex]\nheader_block = X-Block: yes\n",
              f) < 0 ||
        fclose(f))
        abort();
    engine = policy_engine_open("/tmp/fuzz-message.conf", err, sizeof(err));
    if (!engine)
        abort();
    policy_engine_set_log(engine, quiet, NULL);
    fd_out = memfd_create("fuzz-message", 0);
    if (fd_out < 0)
        abort();
    return 0;
}

struct result {
    policy_action a;
    int code;
    unsigned char *out; /* the message written back when accepted */
    size_t outlen;
};

/* run - one session; step 0: whole; else pieces of step (or the input's
 * own choice of sizes when step is SIZE_MAX). */
static void run(const unsigned char *buf, size_t len, size_t step, const unsigned char *sizes,
                size_t nsizes, struct result *r)
{
    policy_session *s = policy_session_new(engine, "192.0.2.1", NULL);
    if (!s)
        abort();
    policy_session_keep_message(s);
    policy_connect(s);
    policy_mail(s, "a@b.test");
    policy_rcpt(s, "c@d.test");
    policy_data(s);
    policy_action a = POLICY_CONTINUE;
    size_t off = 0, k = 0;
    while (off < len && a == POLICY_CONTINUE) {
        size_t n = step == 0          ? len
                   : step == SIZE_MAX ? (size_t)(nsizes ? sizes[k++ % nsizes] % 97 + 1 : 1)
                                      : step;
        if (n > len - off)
            n = len - off;
        a = policy_message(s, buf + off, n);
        off += n;
    }
    if (a == POLICY_CONTINUE)
        a = policy_eom(s);
    r->a = a;
    r->code = policy_last_reply(s)->code;
    r->out = NULL;
    r->outlen = 0;
    if (a == POLICY_CONTINUE) {
        if (ftruncate(fd_out, 0) != 0 || lseek(fd_out, 0, SEEK_SET) != 0)
            abort();
        if (policy_message_write(s, fd_out) != 0)
            abort();
        off_t end = lseek(fd_out, 0, SEEK_CUR);
        r->outlen = (size_t)end;
        r->out = malloc(r->outlen ? r->outlen : 1);
        if (!r->out || pread(fd_out, r->out, r->outlen, 0) != (ssize_t)r->outlen)
            abort();
    }
    policy_session_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t nsizes = data[0] % 16;
    if (nsizes + 1 > size)
        return 0;
    const unsigned char *sizes = data + 1, *msg = data + 1 + nsizes;
    size_t len = size - 1 - nsizes;
    unsigned char *copy = malloc(len ? len : 1); /* exact size: ASan sees overreads */
    if (!copy)
        abort();
    memcpy(copy, msg, len);

    struct result whole, bytes, pieces;
    run(copy, len, 0, NULL, 0, &whole);
    run(copy, len, 1, NULL, 0, &bytes);
    run(copy, len, SIZE_MAX, sizes, nsizes, &pieces);
    if (whole.a != bytes.a || whole.a != pieces.a || whole.code != bytes.code ||
        whole.code != pieces.code)
        abort();
    if (whole.a == POLICY_CONTINUE) {
        /* no edits: the message comes back exactly as it came */
        if (whole.outlen != len || memcmp(whole.out, copy, len) != 0)
            abort();
        if (bytes.outlen != len || memcmp(bytes.out, copy, len) != 0)
            abort();
        if (pieces.outlen != len || memcmp(pieces.out, copy, len) != 0)
            abort();
    }
    free(whole.out);
    free(bytes.out);
    free(pieces.out);
    free(copy);
    return 0;
}
