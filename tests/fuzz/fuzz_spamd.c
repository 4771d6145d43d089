/*
 * fuzz_spamd.c - libFuzzer harness for spamd's replies: the first byte
 * picks the command (CHECK, SYMBOLS, REPORT) and the second where the
 * reply is cut in two; the rest is what a server sent.  Checks what
 * spamd_parse_reply() promises: an answer whenever the bytes are final; an
 * answer given early (the client then stops reading) is the one the whole
 * reply gives; scores finite and bounded; symbols comma-separated rule
 * names, the report printable lines, both within their bounds; a reason
 * for every error and none otherwise.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "spamd.h"

/* check - the promises of one answer. */
static void check(const struct spamd_result *r)
{
    if (r->status != SPAMD_HAM && r->status != SPAMD_SPAM && r->status != SPAMD_ERROR)
        abort();
    if (!r->why || (r->status == SPAMD_ERROR) != (*r->why != '\0'))
        abort();
    if (!isfinite(r->score) || !isfinite(r->threshold) || fabs(r->score) >= 1e9 ||
        fabs(r->threshold) >= 1e9)
        abort();
    size_t n = strnlen(r->symbols, sizeof(r->symbols));
    if (n >= sizeof(r->symbols) || (n && (r->symbols[0] == ',' || r->symbols[n - 1] == ',')))
        abort();
    for (size_t i = 0; i < n; i++) {
        char c = r->symbols[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              strchr("_.-?,", c)) ||
            c == '\0' || (c == ',' && r->symbols[i + 1] == ','))
            abort();
    }
    n = strnlen(r->report, sizeof(r->report));
    if (n >= sizeof(r->report))
        abort();
    for (size_t i = 0; i < n; i++)
        if (r->report[i] != '\n' && (r->report[i] < 0x20 || r->report[i] > 0x7e))
            abort();
}

/* same - two answers alike in everything a layer reads. */
static int same(const struct spamd_result *a, const struct spamd_result *b)
{
    return a->status == b->status && a->score == b->score && a->threshold == b->threshold &&
           a->code == b->code && strcmp(a->symbols, b->symbols) == 0 &&
           strcmp(a->report, b->report) == 0 && strcmp(a->why, b->why) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    enum spamd_cmd cmd = (enum spamd_cmd)(data[0] % 3);
    const char *d = (const char *)data + 2;
    size_t n = size - 2, cut = n * data[1] / 255;
    static struct spamd_result whole, early;
    if (spamd_parse_reply(d, n, cmd, 1, &whole) != 1)
        abort();
    check(&whole);
    /* the reply so far, as the client sees it while reading */
    if (spamd_parse_reply(d, cut, cmd, 0, &early) == 1) {
        check(&early);
        if (!same(&early, &whole))
            abort();
    }
    return 0;
}
