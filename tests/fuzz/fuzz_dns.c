/*
 * fuzz_dns.c - libFuzzer harness for the DNS reply handling: the first
 * byte picks the record type (A, AAAA, PTR, MX, TXT) and the TXT bound, the
 * rest is the reply as a server would send it.  Checks what dns_parse()
 * promises: one of the three outcomes, every record in one block sized to
 * the answer (never more records than the reply has room for: each takes
 * at least 12 bytes), host names that are lower-case host names of at most
 * 255 bytes, TXT strings printable and within their bound.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dns.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int types[] = {DNS_A, DNS_AAAA, DNS_PTR, DNS_MX, DNS_TXT};
    static const size_t bounds[] = {DNS_TXT_MAX, DNS_TXT_MAX_SPF, 1, 64};
    struct dns_answer a;

    if (size < 1)
        return 0;
    int type = types[data[0] % 5];
    size_t txt_max = bounds[(data[0] / 5) % 4];
    memset(&a, 0, sizeof(a));
    dns_parse(type, data + 1, (int)(size - 1), txt_max, &a);
    if (a.status != DNS_FOUND && a.status != DNS_NOTFOUND && a.status != DNS_ERROR)
        abort();
    if (a.n > (size - 1) / 12 || (a.status == DNS_FOUND) != (a.n > 0) || (a.n > 0) != !!a.rr)
        abort();
    if (a.status != DNS_FOUND && !a.why)
        abort();
    for (size_t i = 0; i < a.n; i++) {
        const char *t = a.rr[i].text;
        if (type == DNS_A || type == DNS_AAAA) {
            if (t)
                abort();
            continue;
        }
        if (!t)
            abort();
        size_t n = strlen(t);
        if (type == DNS_TXT) {
            if (n > txt_max)
                abort();
            for (size_t k = 0; k < n; k++)
                if (t[k] < 0x20 || t[k] > 0x7e)
                    abort();
        } else {
            if (!dns_hostname_ok(t, n))
                abort();
            for (size_t k = 0; k < n; k++)
                if (t[k] >= 'A' && t[k] <= 'Z')
                    abort();
        }
    }
    dns_answer_clear(&a);
    return 0;
}
