/*
 * probe_layer.c - the test build's layer registry: the real layers plus
 * "probe", a layer whose outcome the test's policy.conf chooses, so the
 * core's common semantics (action, on_error, delay_reject, warn, tag,
 * POLICY_<LAYER>) are tested without leaning on any real layer.
 * Linked before libpolicy.a, so its layer_registry wins over registry.c.
 */
#include <stdio.h>
#include <string.h>

#include "core.h"

struct probe_cfg {
    int stage; /* -1: never fires */
    enum check result;
    int code;
    char xcode[12];
    char text[128];
    int exempt;
    int disconnect;
    int no_discard;
};

static void probe_defaults(void *cfg)
{
    struct probe_cfg *c = cfg;
    c->stage = -1;
    c->result = CHECK_MATCH;
    c->code = 550;
    snprintf(c->xcode, sizeof(c->xcode), "5.7.1");
    snprintf(c->text, sizeof(c->text), "probe says no");
}

static int probe_set(void *cfg, const char *key, const char *v, struct cfg_err *err)
{
    struct probe_cfg *c = cfg;
    if (!strcmp(key, "stage")) {
        for (int i = 0; i < STAGE_COUNT; i++)
            if (!strcmp(v, stage_name((enum stage)i))) {
                c->stage = i;
                return 0;
            }
        return cfg_fail(err, "no such stage '%s'", v);
    }
    if (!strcmp(key, "result")) {
        if (!strcmp(v, "match"))
            c->result = CHECK_MATCH;
        else if (!strcmp(v, "error"))
            c->result = CHECK_ERROR;
        else if (!strcmp(v, "accept"))
            c->result = CHECK_ACCEPT;
        else
            return cfg_fail(err, "bad result");
        return 0;
    }
    if (!strcmp(key, "code")) {
        unsigned long n;
        if (cfg_parse_uint(v, 599, &n))
            return cfg_fail(err, "bad code");
        c->code = (int)n;
        return 0;
    }
    if (!strcmp(key, "xcode")) {
        snprintf(c->xcode, sizeof(c->xcode), "%s", v);
        return 0;
    }
    if (!strcmp(key, "text")) {
        snprintf(c->text, sizeof(c->text), "%s", v);
        return 0;
    }
    if (!strcmp(key, "exempt"))
        return cfg_parse_bool(v, &c->exempt) ? cfg_fail(err, "bad bool") : 0;
    if (!strcmp(key, "disconnect"))
        return cfg_parse_bool(v, &c->disconnect) ? cfg_fail(err, "bad bool") : 0;
    if (!strcmp(key, "no_discard"))
        return cfg_parse_bool(v, &c->no_discard) ? cfg_fail(err, "bad bool") : 0;
    return CFG_UNKNOWN_KEY;
}

static enum check probe_check(policy_session *s, const void *cfg, struct finding *f, enum stage st)
{
    const struct probe_cfg *c = cfg;
    (void)s;
    if (c->stage != (int)st)
        return CHECK_NOMATCH;
    if (c->result == CHECK_ERROR)
        finding_set(f, 451, "4.4.3", "probe cannot tell now");
    else if (!strcmp(c->text, "CONTROL")) /* what a hostile DNS TXT record could say */
        finding_set(f, c->code, c->xcode, "bad\r\n250 fake\x01\xff%0500d", 7);
    else
        finding_set(f, c->code, c->xcode, "%s", c->text);
    finding_reason(f, "probe fired at %s", stage_name(st));
    f->customer_exempt = c->exempt;
    f->disconnect = c->disconnect;
    f->no_discard = c->no_discard;
    return c->result;
}

#define PROBE_HOOK(name, st)                                                                       \
    static enum check probe_##name(policy_session *s, const void *cfg, struct finding *f)          \
    {                                                                                              \
        return probe_check(s, cfg, f, st);                                                         \
    }
PROBE_HOOK(connect, STAGE_CONNECT)
PROBE_HOOK(helo, STAGE_HELO)
PROBE_HOOK(auth, STAGE_AUTH)
PROBE_HOOK(mail, STAGE_MAIL)
PROBE_HOOK(rcpt, STAGE_RCPT)
PROBE_HOOK(data, STAGE_DATA)
PROBE_HOOK(header, STAGE_HEADER)
PROBE_HOOK(body, STAGE_BODY)
PROBE_HOOK(eom, STAGE_EOM)

/* "probe" may be told action = discard; "probe2" is the same layer marked
 * inbound (skipped for customers), without discard. */
#define PROBE_DESC(layer_name, layer_flags)                                                        \
    {                                                                                              \
        .name = layer_name, .flags = layer_flags, .default_action = LA_REJECT,                     \
        .cfg_size = sizeof(struct probe_cfg), .defaults = probe_defaults, .set = probe_set,        \
        .hooks = {probe_connect, probe_helo,   probe_auth, probe_mail, probe_rcpt,                 \
                  probe_data,    probe_header, probe_body, probe_eom},                             \
    }
static const struct layer_desc layer_probe = PROBE_DESC("probe", LAYER_DISCARD);
static const struct layer_desc layer_probe2 = PROBE_DESC("probe2", LAYER_INBOUND);

/* the real layers, from the one list, then the probes */
#define LAYER(name, comment) extern const struct layer_desc layer_##name;
#include "../../libpolicy/layers/layers.def"
#undef LAYER

const struct layer_desc *const layer_registry[] = {
#define LAYER(name, comment) &layer_##name,
#include "../../libpolicy/layers/layers.def"
#undef LAYER
    &layer_probe,
    &layer_probe2,
};
const size_t layer_count = sizeof(layer_registry) / sizeof(*layer_registry);
const char *const layer_reserved[] = {"later", NULL}; /* a layer of a later version */
