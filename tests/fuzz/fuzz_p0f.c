/*
 * fuzz_p0f.c - libFuzzer harness for the p0f client's parsers: the input
 * is a reply from p0f's API socket (p0f_parse), and as text an address to
 * ask about (p0f_query_encode).  Checks that an answer is known only for a
 * well-formed "ok" reply with an OS name, that every string is terminated,
 * bounded and printable, and that the numbers are the reply's own.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "p0f.h"

static void check_text(const char *s)
{
    size_t n = strnlen(s, P0F_STR_LEN);
    if (n >= P0F_STR_LEN)
        abort(); /* not terminated within its field */
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct p0f_answer a;
    p0f_parse(data, size, &a);
    if (a.status != P0F_KNOWN && a.status != P0F_UNKNOWN)
        abort();
    if ((a.status == P0F_UNKNOWN) != (a.why != NULL))
        abort();
    check_text(a.os_name);
    check_text(a.os_flavor);
    check_text(a.http_name);
    check_text(a.http_flavor);
    check_text(a.link_type);
    check_text(a.language);
    if (a.status == P0F_KNOWN) {
        uint32_t magic, status, total;
        if (size != P0F_REPLY_LEN || !a.os_name[0])
            abort();
        memcpy(&magic, data, 4);
        memcpy(&status, data + 4, 4);
        memcpy(&total, data + 16, 4);
        if (magic != 0x50304602 || status != 0x10 || total != a.total_conn)
            abort();
        if (data[40] == 0 || a.os_name[0] == '\0')
            abort();
    }

    /* the same bytes as an address to ask about */
    char ip[64];
    unsigned char q[P0F_QUERY_LEN];
    size_t n = size < sizeof(ip) - 1 ? size : sizeof(ip) - 1;
    memcpy(ip, data, n);
    ip[n] = '\0';
    if (p0f_query_encode(ip, q) == 0) {
        uint32_t magic;
        memcpy(&magic, q, 4);
        if (magic != 0x50304601 || (q[4] != 4 && q[4] != 6))
            abort();
        if (q[4] == 4)
            for (int i = 9; i < P0F_QUERY_LEN; i++)
                if (q[i])
                    abort(); /* IPv4 left-aligned, the rest zero */
    }
    return 0;
}
