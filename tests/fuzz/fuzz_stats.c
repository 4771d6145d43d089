/*
 * fuzz_stats.c - libFuzzer harness for `policyctl stats`' reader of logs
 * (syslog lines, ISO and RFC 5424 stamps, journal exports with binary
 * fields) and its two reports.  Checks: no more decisions than lines read
 * (an export entry is several lines), and both reports are written
 * whatever was read.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../adapters/cli/stats.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static FILE *null;
    if (!null && !(null = fopen("/dev/null", "w")))
        abort();
    FILE *fp = fmemopen((void *)data, size, "rb");
    if (!fp)
        return 0;
    struct stats *st = calloc(1, sizeof(*st));
    if (!st)
        abort();
    (void)stats_read(st, size & 1 ? 1700000000 : 0, 1800000000, fp);
    fclose(fp);
    if (st->decisions > st->lines)
        abort();
    stats_text(st, null, 5);
    if (stats_html(st, null, 5) != 0)
        abort();
    stats_free(st);
    free(st);
    return 0;
}
