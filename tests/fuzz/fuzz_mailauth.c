/*
 * fuzz_mailauth.c - libFuzzer harness for what we parse and write around
 * DKIM and DMARC ourselves: From header domains, the authserv-id of an
 * Authentication-Results header, the Authentication-Results value we
 * write from hostile strings, the canonical body length, the public
 * suffix list (a hostile list and hostile names), and the DKVERIFY/DKIMVERIFY
 * letter sets.
 * Checks invariants, not just crashes: domains are lower case with no
 * empty label; what we write is printable, folded only with CRLF TAB,
 * bounded by its buffer, and starts with our authserv-id.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mailauth.h"
#include "psl.h"

/* check_value - a header value we wrote: printable ASCII, line breaks only
 * as CRLF TAB, and never past its buffer. */
static void check_value(const char *v, size_t cap)
{
    size_t n = strlen(v);
    if (n >= cap)
        abort();
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c == '\r') {
            if (v[i + 1] != '\n' || v[i + 2] != '\t')
                abort();
            i += 2;
        } else if (c < ' ' || c > '~') {
            abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char in[8192];
    size_t n = size < sizeof(in) - 1 ? size : sizeof(in) - 1;
    memcpy(in, data, n);
    in[n] = '\0';

    /* From domains: the raw bytes, NULs included */
    char dom[8][MAILAUTH_DOMAIN_MAX + 1];
    size_t bad;
    size_t found = mailauth_from_domains((const char *)data, size, dom, 8, &bad);
    if (bad > found)
        abort();
    size_t empty = 0;
    for (size_t i = 0; i < found && i < 8; i++) {
        size_t len = strlen(dom[i]);
        if (!len) { /* a mailbox without a usable domain keeps its place */
            empty++;
            continue;
        }
        if (len > MAILAUTH_DOMAIN_MAX || dom[i][0] == '.' || dom[i][len - 1] == '.' ||
            strstr(dom[i], ".."))
            abort();
        for (const char *p = dom[i]; *p; p++)
            if ((*p >= 'A' && *p <= 'Z') || *p == ' ' || *p == '@')
                abort();
    }

    if (found <= 8 && empty != bad)
        abort();

    char id[256];
    if (mailauth_authserv_id((const char *)data, size, id, sizeof(id)) == 0 && !id[0])
        abort();

    /* the value we write, with the input as every string a peer controls */
    const char *a = in, *b = in + n / 2;
    char part[4096];
    memcpy(part, in, n / 2);
    part[n / 2] = '\0';
    for (size_t cap = 16; cap <= 1024; cap *= 4) {
        char buf[1024];
        struct mailauth_ar ar;
        mailauth_ar_begin(&ar, buf, cap, b);
        mailauth_ar_result(&ar, "dkim", "pass", part);
        mailauth_ar_prop(&ar, "header.d", a);
        mailauth_ar_prop(&ar, "header.b", b);
        mailauth_ar_result(&ar, "dmarc", "fail", b);
        mailauth_ar_prop(&ar, "header.from", part);
        const char *v = mailauth_ar_end(&ar);
        check_value(v, cap);
        char again[256];
        if (mailauth_authserv_id(v, strlen(v), again, sizeof(again)) == 0 && strchr(again, ';'))
            abort(); /* our own id reads back as one token */
    }

    /* canonical body lengths do not depend on the chunking */
    for (int relaxed = 0; relaxed < 2; relaxed++) {
        struct mailauth_canon whole, bytes;
        mailauth_canon_init(&whole, relaxed);
        mailauth_canon_init(&bytes, relaxed);
        mailauth_canon_feed(&whole, (const char *)data, size);
        for (size_t i = 0; i < size; i++)
            mailauth_canon_feed(&bytes, (const char *)data + i, 1);
        unsigned long long a1 = mailauth_canon_end(&whole), a2 = mailauth_canon_end(&bytes);
        if (a1 != a2 || a1 > 2 * (unsigned long long)size + 2)
            abort();
    }

    /* the public suffix list: the input as a list, then as a domain */
    char err[256], org[PSL_DOMAIN_MAX + 1];
    struct pslist *p = pslist_parse((const char *)data, size, err, sizeof(err));
    static const char *const probe[] = {"a.b.example.com", "x.y.z", "com", "a.b.c.d.e.f.g.h"};
    for (size_t i = 0; p && i < sizeof(probe) / sizeof(*probe); i++)
        if (pslist_org_domain(p, probe[i], org, sizeof(org)) == 0 &&
            (strlen(org) > strlen(probe[i]) || strcmp(probe[i] + strlen(probe[i]) - strlen(org), org)))
            abort(); /* the organizational domain is a suffix of the name */
    if (p && pslist_org_domain(p, in, org, sizeof(org)) == 0 && (!org[0] || strlen(org) > strlen(in)))
        abort();
    pslist_free(p);

    /* letter sets: never more than the two answers */
    for (char l = 'A'; l <= 'Z'; l++)
        if (mailauth_letters_act(in, l) > MA_ACT_PERMANENT)
            abort();
    (void)mailauth_letters_ok(in, 'X');
    for (int o = 0; o < MA_DKIM_COUNT; o++) {
        char dk = mailauth_dk_letter((enum mailauth_dkim)o), k = mailauth_dkim_letter((enum mailauth_dkim)o);
        if (dk < 'A' || dk > 'M' || k < 'A' || k > 'X' || !mailauth_dkim_result((enum mailauth_dkim)o))
            abort();
    }
    return 0;
}
