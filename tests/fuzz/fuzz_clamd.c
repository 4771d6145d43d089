/*
 * fuzz_clamd.c - libFuzzer harness for clamd's replies, the only way clamd's
 * bytes reach a layer: the input is what a server sent.  Checks what
 * clamd_parse_reply() promises: one of the final statuses; "clean" only for
 * a first line that is exactly "stream: OK" (after an IDSESSION number), by
 * a slower reference reading; a signature name for every detection and
 * only then, printable ASCII without blanks, bounded; a reason for every
 * error.  The PONG check against the same reference.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "clamd.h"

/* ref_line - the first line as the reference reads it: up to NUL or LF,
 * trailing CR, blanks and tabs dropped, an "N: " request number skipped. */
static size_t ref_line(const char *d, size_t n, const char **start)
{
    size_t e = 0;
    while (e < n && d[e] != '\0' && d[e] != '\n')
        e++;
    while (e > 0 && (d[e - 1] == '\r' || d[e - 1] == ' ' || d[e - 1] == '\t'))
        e--;
    size_t i = 0;
    while (i < e && i < 10 && d[i] >= '0' && d[i] <= '9')
        i++;
    *start = d;
    if (i > 0 && i + 1 < e && d[i] == ':' && d[i + 1] == ' ') {
        *start = d + i + 2;
        return e - i - 2;
    }
    return e;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *d = (const char *)data;
    struct virus_result r;
    memset(&r, 0x5a, sizeof(r));
    clamd_parse_reply(d, size, &r);
    switch (r.status) {
    case VIRUS_CLEAN:
    case VIRUS_INFECTED:
    case VIRUS_ENCRYPTED:
    case VIRUS_TOO_BIG:
    case VIRUS_ERROR:
        break;
    default:
        abort();
    }
    size_t n = strnlen(r.name, sizeof(r.name));
    if (n >= sizeof(r.name) || !r.why)
        abort();
    for (size_t i = 0; i < n; i++)
        if (r.name[i] <= 0x20 || r.name[i] >= 0x7f)
            abort();
    int detection = r.status == VIRUS_INFECTED || r.status == VIRUS_ENCRYPTED;
    if (detection && (n == 0 || *r.why))
        abort();
    if ((r.status == VIRUS_CLEAN || r.status == VIRUS_ERROR) && n > 0)
        abort();
    if ((r.status == VIRUS_ERROR || r.status == VIRUS_TOO_BIG) && !*r.why)
        abort();
    const char *line;
    size_t ln = ref_line(d, size, &line);
    int ok_line = ln == 10 && memcmp(line, "stream: OK", 10) == 0;
    if ((r.status == VIRUS_CLEAN) != ok_line)
        abort();
    if (detection &&
        (ln < 15 || memcmp(line, "stream: ", 8) != 0 || memcmp(line + ln - 6, " FOUND", 6) != 0))
        abort();
    const char *pl;
    size_t pn = ref_line(d, size, &pl);
    int pong = pl == d && pn == 4 && memcmp(d, "PONG", 4) == 0;
    if ((clamd_parse_pong(d, size) == 0) != pong)
        abort();
    return 0;
}
