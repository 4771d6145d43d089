/*
 * fuzz_address.c - libFuzzer harness for the address parser, the domain
 * normalizer, the recipients layer's normalization (extension forms, case
 * folding of map keys) and the relay decision built on them.  Checks invariants, not
 * just crashes: a parsed address has bounded parts, a normalized domain is
 * lowercase with no empty label.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "address.h"
#include "core.h"
#include "recipmap.h"

static policy_engine *engine;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char in[ADDR_INPUT_MAX + 64];
    struct addr a;
    size_t n = size < sizeof(in) - 1 ? size : sizeof(in) - 1;

    memcpy(in, data, n);
    in[n] = '\0';
    if (addr_parse(in, &a) == ADDR_OK) {
        if (strlen(a.local) > ADDR_LOCAL_MAX || strlen(a.domain) > ADDR_DOMAIN_MAX || !a.local[0])
            abort();
        if (strstr(a.domain, "..") || a.domain[0] == '.')
            abort();
        for (const char *p = a.domain; *p; p++)
            if (*p >= 'A' && *p <= 'Z')
                abort();
        if (!a.literal && (strchr(a.local, '@') || strchr(a.local, '%') || strchr(a.local, '!')))
            abort(); /* resolution must have taken every route out */
    }
    char dom[ADDR_DOMAIN_MAX + 1];
    (void)addr_domain_normalize(in, n, dom);

    /* the recipients layer's forms of a local part: each a prefix of the
     * one before, cut at a separator, never empty, at most 8 */
    struct recipmap_query q;
    recipmap_query_make(&q, a.local, "-+.");
    if (q.n < 1 || q.n > RECIPMAP_MAX_FORMS || q.len[0] != strlen(a.local))
        abort();
    for (size_t i = 1; i < q.n; i++)
        if (q.len[i] == 0 || q.len[i] >= q.len[i - 1] || !strchr("-+.", q.local[q.len[i]]))
            abort();
    /* a map line: its key is folded and bounded */
    struct recipmap_entry en;
    char why[160];
    if (recipmap_parse_line(in, n, 1, &en, why, sizeof(why)) == 0 && en.kind != RML_BLANK) {
        if (en.klen > RECIPMAP_KEY_MAX || en.klen != strlen(en.key) || en.domain_off >= en.klen)
            abort();
        for (size_t i = 0; i < en.klen; i++)
            if (en.key[i] >= 'A' && en.key[i] <= 'Z')
                abort();
    }

    if (!engine)
        engine = policy_engine_open(NULL, NULL, 0);
    policy_session *s = policy_session_new(engine, "192.0.2.1", NULL);
    policy_connect(s);
    policy_mail(s, in);
    policy_rcpt(s, in);
    const policy_reply *r = policy_last_reply(s);
    if (strpbrk(r->text, "\r\n") || strlen(r->text) > 400)
        abort();
    policy_session_free(s);
    return 0;
}
