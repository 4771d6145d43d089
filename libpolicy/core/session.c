/*
 * session.c - one client connection: the stage state machine, the run of
 * the enabled layers at each stage, and the verdict that comes out of it.
 *
 * Promises: a stage called out of order defers (4xx) with a reply that
 * says so and never crashes; every reply is sanitized (printable ASCII, no
 * CR/LF, bounded); connection-level verdicts wait for the first RCPT unless
 * the layer asks otherwise, so customers can still authenticate and
 * postmaster@/abuse@ of local domains stay reachable.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "../support/address.h"
#include "../support/dns.h"
#include "internal.h"

/* ------------------------------------------------------------ replies */

/* set_reply - the reply of this stage call; strings are copied and cleaned. */
static policy_action set_reply(policy_session *s, policy_action a, int code, const char *xcode,
                               const char *text, const char *layer, const char *reason)
{
    sanitize_copy(s->reply_text, sizeof(s->reply_text), text ? text : "", SIZE_MAX);
    sanitize_copy(s->reply_reason, sizeof(s->reply_reason), reason ? reason : "", SIZE_MAX);
    sanitize_copy(s->reply_xcode, sizeof(s->reply_xcode), xcode ? xcode : "", SIZE_MAX);
    s->reply.action = a;
    s->reply.code = code;
    s->reply.xcode = s->reply_xcode;
    s->reply.text = s->reply_text;
    s->reply.layer = layer ? layer : "";
    s->reply.reason = s->reply_reason;
    return a;
}

/* The reply when nobody objects, by stage. */
static policy_action reply_ok(policy_session *s, enum stage st)
{
    static const struct {
        int code;
        const char *xcode, *text;
    } ok[STAGE_COUNT] = {
        [STAGE_CONNECT] = {220, "", "ready"},
        [STAGE_HELO] = {250, "", "ok"},
        [STAGE_AUTH] = {235, "2.7.0", "authentication accepted"},
        [STAGE_MAIL] = {250, "2.1.0", "sender ok"},
        [STAGE_RCPT] = {250, "2.1.5", "recipient ok"},
        [STAGE_DATA] = {354, "", "go ahead"},
        [STAGE_HEADER] = {250, "", "ok"},
        [STAGE_BODY] = {250, "", "ok"},
        [STAGE_EOM] = {250, "2.0.0", "message accepted"},
    };
    return set_reply(s, POLICY_CONTINUE, ok[st].code, ok[st].xcode, ok[st].text, NULL, NULL);
}

/* out_of_order - a caller error: defer, say what went wrong, log it. */
static policy_action out_of_order(policy_session *s, enum stage st, const char *why)
{
    char text[POLICY_TEXT_MAX + 1];
    if (s->state == SS_CLOSED)
        return set_reply(s, POLICY_DISCONNECT, 421, "4.7.0", "connection closed by policy",
                         "session", "stage after disconnect");
    snprintf(text, sizeof(text), "internal error: %s stage out of order (%s)", stage_name(st), why);
    set_reply(s, POLICY_TEMPFAIL, 451, "4.3.0", text, "session", why);
    log_decision(s, st, "session", "tempfail", 451, "4.3.0", text);
    return POLICY_TEMPFAIL;
}

static policy_action replay(policy_session *s, const struct verdict *v)
{
    return set_reply(s, v->action, v->code, v->xcode, v->text, v->layer, v->reason);
}

/* ------------------------------------------------------------ variables */

static int var_name_ok(const char *n)
{
    size_t len = 0;
    if (!n || !*n)
        return 0;
    for (; n[len]; len++) {
        unsigned char c = (unsigned char)n[len];
        if (len >= POLICY_VAR_NAME_MAX || c <= ' ' || c == '=' || c > 0x7e)
            return 0;
    }
    return 1;
}

static struct var *var_find(const policy_session *s, const char *name)
{
    for (size_t i = 0; i < s->nvars; i++)
        if (!strcmp(s->vars[i].name, name))
            return (struct var *)&s->vars[i];
    return NULL;
}

/* layer_from_var - "POLICY_DNSBL" -> the index of layer "dnsbl", or -1. */
static int layer_from_var(const char *name)
{
    if (strncmp(name, "POLICY_", 7) != 0)
        return -1;
    for (size_t i = 0; i < layer_count; i++)
        if (str_ieq(name + 7, layer_registry[i]->name))
            return (int)i;
    return -1;
}

/* listed - is word in the comma/space separated list? */
static int listed(const char *list, const char *word)
{
    size_t wl = strlen(word);
    for (const char *p = list; *p;) {
        p += strspn(p, ", \t");
        size_t n = strcspn(p, ", \t");
        if (n == wl && str_ieqn(p, word, n))
            return 1;
        p += n;
    }
    return 0;
}

#define ENVELOPE_STAGES                                                                            \
    ((1u << STAGE_CONNECT) | (1u << STAGE_HELO) | (1u << STAGE_AUTH) | (1u << STAGE_MAIL) |        \
     (1u << STAGE_RCPT))
#define CONTENT_STAGES                                                                             \
    ((1u << STAGE_DATA) | (1u << STAGE_HEADER) | (1u << STAGE_BODY) | (1u << STAGE_EOM))

/* stages_parse - POLICY_STAGES: "all", "envelope" (connect to rcpt) or
 * "content" (data to eom): whose layers run.  -1 for anything else. */
static int stages_parse(const char *v, unsigned *mask)
{
    if (str_ieq(v, "all"))
        *mask = ENVELOPE_STAGES | CONTENT_STAGES;
    else if (str_ieq(v, "envelope"))
        *mask = ENVELOPE_STAGES;
    else if (str_ieq(v, "content"))
        *mask = CONTENT_STAGES;
    else
        return -1;
    return 0;
}

/* compute_actions - the action of each layer for this client: configuration,
 * narrowed by POLICY_LAYERS and overridden by POLICY_<LAYER>; and the
 * stages whose layers run (POLICY_STAGES). */
static void compute_actions(policy_session *s)
{
    const struct var *stages = var_find(s, "POLICY_STAGES");
    s->stage_mask = ENVELOPE_STAGES | CONTENT_STAGES;
    if (stages)
        (void)stages_parse(stages->value, &s->stage_mask); /* validated by setvar */
    const struct var *only = var_find(s, "POLICY_LAYERS");
    for (size_t i = 0; i < layer_count; i++) {
        enum layer_action a = s->e->layers[i].common.action;
        char vname[POLICY_VAR_NAME_MAX + 1];
        snprintf(vname, sizeof(vname), "POLICY_%s", layer_registry[i]->name);
        for (char *p = vname + 7; *p; p++)
            if (*p >= 'a' && *p <= 'z')
                *p = (char)(*p - 'a' + 'A');
        const struct var *v = var_find(s, vname);
        if (v)
            (void)layer_action_parse(v->value, &a); /* validated by setvar */
        if (only && !listed(only->value, layer_registry[i]->name))
            a = LA_OFF;
        s->laction[i] = a;
    }
}

int policy_session_setvar(policy_session *s, const char *name, const char *value)
{
    struct var *v;
    char *copy = NULL;
    enum layer_action dummy;

    if (!s || !var_name_ok(name))
        return -1;
    if (value) {
        if (strnlen(value, POLICY_VAR_VALUE_MAX + 1) > POLICY_VAR_VALUE_MAX)
            return -1;
        if (layer_from_var(name) >= 0 && layer_action_parse(value, &dummy))
            return -1; /* POLICY_<LAYER> takes an action name only */
        unsigned mask;
        if (!strcmp(name, "POLICY_STAGES") && stages_parse(value, &mask))
            return -1;
        copy = strdup(value);
        if (!copy)
            return -1;
    }
    v = var_find(s, name);
    if (!value) {
        if (v) {
            free(v->value);
            *v = s->vars[--s->nvars];
        }
    } else if (v) {
        free(v->value);
        v->value = copy;
    } else {
        if (s->nvars >= POLICY_MAX_VARS) {
            free(copy);
            return -1;
        }
        v = &s->vars[s->nvars++];
        snprintf(v->name, sizeof(v->name), "%s", name);
        v->value = copy;
    }
    compute_actions(s);
    if (!strcmp(name, "RELAYCLIENT") && s->state != SS_NEW)
        customers_classify(s);
    return 0;
}

const char *policy_session_getvar(const policy_session *s, const char *name)
{
    const struct var *v = s && name ? var_find(s, name) : NULL;
    return v ? v->value : NULL;
}

/* The variables the library knows, for policy_session_import_env(). */
static int known_var(const char *name)
{
    static const char *const known[] = {"RELAYCLIENT",
                                        "RBLSMTPD",
                                        "CHKUSER_RCPTLIMIT",
                                        "CHKUSER_WRONGRCPTLIMIT",
                                        "CHKUSER_SENDER_MX",
                                        "BADMIMETYPE",
                                        "BADLOADERTYPE",
                                        "SPFBEHAVIOR",
                                        "SMTPD_GREETDELAY",
                                        "DROP_PRE_GREET",
                                        NULL};
    for (size_t i = 0; known[i]; i++)
        if (!strcmp(name, known[i]))
            return 1;
    return strncmp(name, "POLICY_", 7) == 0;
}

int policy_session_import_env(policy_session *s, char *const *envp)
{
    int n = 0;
    if (!s || !envp)
        return 0;
    for (size_t i = 0; envp[i] && i < 100000; i++) {
        const char *eq = strchr(envp[i], '=');
        char name[POLICY_VAR_NAME_MAX + 1];
        size_t len;
        if (!eq || (len = (size_t)(eq - envp[i])) == 0 || len > POLICY_VAR_NAME_MAX)
            continue;
        memcpy(name, envp[i], len);
        name[len] = '\0';
        if (!known_var(name))
            continue;
        if (policy_session_setvar(s, name, eq + 1) == 0)
            n++;
        else
            plog(s, POLICY_LOG_WARNING, "ignored invalid variable %s from the environment", name);
    }
    return n;
}

static void tcprules_set(const char *name, const char *value, void *ctx)
{
    policy_session *s = ctx;
    if (policy_session_setvar(s, name, value) != 0)
        plog(s, POLICY_LOG_WARNING, "tcprules: ignored invalid variable %s", name);
}

int policy_session_tcprules(policy_session *s, const char *info)
{
    const char *path;
    char why[POLICY_ERR_MAX];
    int fd, r;

    if (!s)
        return -1;
    path = s->e->general.tcprules;
    if (!path || !*path || !s->ip_valid)
        return 0;
    /* reopened at every connection; never waits on a FIFO put in its place */
    if ((fd = file_open(path, why, sizeof(why))) < 0) {
        plog(s, POLICY_LOG_ERR, "tcprules: %s", why);
        s->tcprules_deny = -1;
        return -1;
    }
    r = tcprules_lookup_fd(fd, s->ip, *s->host ? s->host : NULL, info, tcprules_set, s);
    close(fd);
    if (r < 0) {
        plog(s, POLICY_LOG_ERR, "tcprules: cannot read %s", path);
        s->tcprules_deny = -1;
        return -1;
    }
    s->tcprules_deny = r == 2;
    return r == 2 ? 1 : 0;
}

/* ------------------------------------------------------------ lifecycle */

policy_session *policy_session_new(policy_engine *e, const char *client_ip, const char *client_host)
{
    policy_session *s;
    if (!e)
        return NULL;
    s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->laction = calloc(layer_count, sizeof(*s->laction));
    s->lstate = calloc(layer_count, sizeof(*s->lstate));
    s->deferred = calloc(layer_count, sizeof(*s->deferred));
    s->rcpt_addr = calloc(1, sizeof(*s->rcpt_addr));
    if (!s->laction || !s->lstate || !s->deferred || !s->rcpt_addr)
        goto fail;
    for (size_t i = 0; i < layer_count; i++) {
        size_t n = layer_registry[i]->state_size;
        if (n && !(s->lstate[i] = calloc(1, n)))
            goto fail;
    }
    s->e = policy_engine_ref(e);
    arena_init(&s->txn);
    arena_init(&s->conn);

    if (!client_ip || !*client_ip) {
        /* the MTA has no address for this client (Postfix's XCLIENT
         * ADDR=[UNAVAILABLE], a milter connect without one): a session all
         * the same, in which nothing looks at the address */
        s->ip_unknown = 1;
        snprintf(s->ip, sizeof(s->ip), "unknown");
    } else if (strlen(client_ip) < sizeof(s->ip)) {
        const char *ip = client_ip;
        char buf[64];
        /* tolerate the "[1.2.3.4]" and "IPv6:" spellings MTAs use */
        if (*ip == '[') {
            snprintf(buf, sizeof(buf), "%s", ip + 1);
            char *rb = strchr(buf, ']');
            if (rb)
                *rb = '\0';
            ip = buf;
        }
        if (!strncasecmp(ip, "IPv6:", 5))
            ip += 5;
        if (inet_pton(AF_INET, ip, s->addr) == 1)
            s->family = AF_INET, s->ip_valid = 1;
        else if (inet_pton(AF_INET6, ip, s->addr) == 1)
            s->family = AF_INET6, s->ip_valid = 1;
        if (s->ip_valid) /* canonical text: what tcprules and DNSBLs expect */
            inet_ntop(s->family, s->addr, s->ip, sizeof(s->ip));
        else
            sanitize_copy(s->ip, sizeof(s->ip), client_ip, strlen(client_ip));
    } else {
        snprintf(s->ip, sizeof(s->ip), "invalid");
    }
    /* an IPv4-mapped IPv6 address is the IPv4 client it stands for */
    if (s->ip_valid && s->family == AF_INET6 &&
        !memcmp(s->addr, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12)) {
        memmove(s->addr, s->addr + 12, 4);
        s->family = AF_INET;
        inet_ntop(AF_INET, s->addr, s->ip, sizeof(s->ip));
    }
    if (client_host && *client_host && *client_host != '[')
        sanitize_copy(s->host, sizeof(s->host), client_host, strlen(client_host));
    compute_actions(s);
    reply_ok(s, STAGE_CONNECT);
    s->state = SS_NEW;
    return s;
fail:
    if (s->lstate)
        for (size_t i = 0; i < layer_count; i++)
            free(s->lstate[i]);
    free(s->lstate);
    free(s->laction);
    free(s->deferred);
    free(s->rcpt_addr);
    free(s);
    return NULL;
}

void policy_session_free(policy_session *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nvars; i++)
        free(s->vars[i].value);
    /* layers first: they may hand questions back to the resolver */
    for (size_t i = 0; i < layer_count; i++)
        if (layer_registry[i]->state_free && s->lstate[i])
            layer_registry[i]->state_free(s, s->lstate[i]);
    dns_free(s->dns);
    for (size_t i = 0; i < layer_count; i++)
        free(s->lstate[i]);
    free(s->lstate);
    free(s->deferred);
    free(s->rcpt_addr);
    free(s->laction);
    free(s->rcpts);
    free(s->rcpt_buf);
    free(s->headers);
    free(s->edits);
    free(s->conn_edits);
    arena_free(&s->txn);
    arena_free(&s->conn);
    policy_engine_unref(s->e);
    free(s);
}

const struct addr *session_rcpt_addr(policy_session *s, int *status)
{
    if (!s->rcpt_parsed) {
        s->rcpt_status = addr_parse(s->rcpt ? s->rcpt : "", s->rcpt_addr);
        s->rcpt_parsed = 1;
    }
    *status = s->rcpt_status;
    return s->rcpt_addr;
}

struct dns *session_dns(policy_session *s)
{
    char err[256];
    if (s->dns)
        return s->dns;
    s->dns = dns_new(s->e->general.dns_servers, (unsigned)s->e->general.dns_timeout_ms, err,
                     sizeof(err));
    if (!s->dns)
        plog(s, POLICY_LOG_ERR, "dns: cannot create a resolver: %s", err);
    return s->dns;
}

void *session_layer_state(policy_session *s, const struct layer_desc *d)
{
    int i = engine_layer_index(d);
    return i < 0 ? NULL : s->lstate[i];
}

/* txn_clear - forget the transaction: sender, recipients, headers, edits. */
static void txn_clear(policy_session *s)
{
    arena_reset(&s->txn);
    s->sender = NULL;
    s->nrcpts = s->rcpts_tried = 0;
    s->rcpt = NULL;
    s->hdr_name = s->hdr_value = NULL;
    s->nheaders = s->header_bytes = 0;
    s->body_chunk = NULL;
    s->body_len = s->body_total = 0;
    s->txn_accepted = 0;
    s->nedits = 0;
    s->pending[2].set = 0;
    s->sticky.set = 0;
    for (size_t i = 0; i < layer_count; i++)
        s->deferred[i] &= ~(1u << STAGE_MAIL);
    for (size_t i = 0; i < layer_count; i++)
        if (layer_registry[i]->txn_reset && s->lstate[i])
            layer_registry[i]->txn_reset(s->lstate[i]);
}

void policy_reset(policy_session *s)
{
    if (!s || s->state == SS_NEW || s->state == SS_CLOSED)
        return;
    txn_clear(s);
    s->state = SS_CONNECTED;
}

/* ------------------------------------------------------------ edits */

/* edit_push - add an edit to a list: 0 added (or the same edit is there
 * already), 1 dropped (the list is full: POLICY_MAX_EDITS), -1 no memory. */
static int edit_push(struct arena *a, policy_edit **v, size_t *n, size_t *cap,
                     policy_edit_kind kind, const char *name, const char *value)
{
    for (size_t i = 0; i < *n; i++)
        if ((*v)[i].kind == kind && !strcmp((*v)[i].name, name) && !strcmp((*v)[i].value, value))
            return 0;
    if (*n >= POLICY_MAX_EDITS)
        return 1;
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 8;
        policy_edit *nv = realloc(*v, nc * sizeof(*nv));
        if (!nv)
            return -1;
        *v = nv;
        *cap = nc;
    }
    char *nm = arena_strndup(a, name, 128), *val = arena_strndup(a, value, 8192);
    if (!nm || !val)
        return -1;
    /* no header injection: a value is one folded header, CR LF only before WSP */
    for (char *p = nm; *p; p++)
        if (*p <= ' ' || *p == ':' || *p > 0x7e)
            *p = '-';
    for (char *p = val; *p; p++)
        if ((*p == '\r' || *p == '\n') && p[1] != ' ' && p[1] != '\t' && p[1] != '\n')
            *p = ' ';
    (*v)[*n].kind = kind;
    (*v)[*n].name = nm;
    (*v)[*n].value = val;
    (*n)++;
    return 0;
}

/* push_edit - an edit for the transaction (txn) or the connection; one
 * that does not fit any more is dropped and logged.  0, or -1 no memory. */
static int push_edit(policy_session *s, int txn, policy_edit_kind kind, const char *name,
                     const char *value)
{
    int r = txn ? edit_push(&s->txn, &s->edits, &s->nedits, &s->edits_cap, kind, name, value)
                : edit_push(&s->conn, &s->conn_edits, &s->nconn_edits, &s->conn_edits_cap, kind,
                            name, value);
    if (r > 0)
        plog(s, POLICY_LOG_WARNING, "header edit %s dropped: %d edits already for this %s", name,
             POLICY_MAX_EDITS, txn ? "transaction" : "connection");
    return r < 0 ? -1 : 0;
}

/* add_edit_for - an edit decided at stage st: before MAIL it belongs to the
 * connection (every message gets it), from MAIL on to the transaction. */
static int add_edit_for(policy_session *s, enum stage st, policy_edit_kind kind, const char *name,
                        const char *value)
{
    return push_edit(s, st >= STAGE_MAIL && s->sender, kind, name, value);
}

int session_add_edit(policy_session *s, policy_edit_kind kind, const char *name, const char *value)
{
    /* a transaction is open: from MAIL (even inside its hooks) to reset */
    return push_edit(s, s->sender != NULL, kind, name, value);
}

size_t policy_edits(const policy_session *s, const policy_edit **edits)
{
    if (!s || !edits)
        return 0;
    *edits = s->edits;
    return s->nedits;
}

/* ------------------------------------------------------------ running layers */

static int delayable(enum stage st)
{
    return st == STAGE_CONNECT || st == STAGE_HELO || st == STAGE_MAIL;
}

static int pending_slot(enum stage st)
{
    return st == STAGE_CONNECT ? 0 : st == STAGE_HELO ? 1 : 2;
}

/* to_temporary - 5xx -> 4xx, 5.x.x -> 4.x.x: what action=tempfail means. */
static void to_temporary(int *code, char *xcode)
{
    if (*code >= 500 && *code < 600)
        *code -= 100;
    if (xcode[0] == '5')
        xcode[0] = '4';
}

static void verdict_fill(struct verdict *v, policy_action a, int code, const char *xcode,
                         const char *text, const char *layer, const char *reason,
                         int customer_exempt, enum stage st)
{
    v->set = 1;
    v->action = a;
    v->code = code;
    sanitize_copy(v->xcode, sizeof(v->xcode), xcode, SIZE_MAX);
    sanitize_copy(v->text, sizeof(v->text), text, SIZE_MAX);
    sanitize_copy(v->reason, sizeof(v->reason), reason, SIZE_MAX);
    v->layer = layer;
    v->customer_exempt = customer_exempt;
    v->stage = st;
}

/*
 * apply - turn what layer i reported at stage st into a verdict.  Returns 1
 * with *out set when the stage must answer now, 0 to go on with the next
 * layer (nothing to say, logged only, tagged, or remembered for RCPT).
 */
static int apply(policy_session *s, enum stage st, size_t i, enum check r, struct finding *f,
                 policy_action *out)
{
    const policy_engine *e = s->e;
    const struct layer_desc *d = layer_registry[i];
    const struct layer_inst *l = &e->layers[i];
    enum layer_action act = s->laction[i];
    int code;
    char xcode[12];
    const char *text;
    policy_action a;

    if (r == CHECK_NOMATCH || r == CHECK_PENDING)
        return 0;
    if (r == CHECK_ACCEPT) {
        log_decision(s, st, d->name, "accept", 0, NULL, f->reason);
        if (st <= STAGE_HELO)
            s->conn_accepted = 1;
        else
            s->txn_accepted = 1;
        *out = POLICY_ACCEPT;
        return 1;
    }
    if (r == CHECK_ERROR) {
        if (act == LA_WARN) { /* a layer on trial never touches mail */
            log_decision(s, st, d->name, "warn-error", 0, NULL, f->reason);
            return 0;
        }
        if (l->common.on_error == OE_ACCEPT) {
            log_decision(s, st, d->name, "error-accepted", 0, NULL, f->reason);
            return 0;
        }
        code = f->code >= 400 && f->code < 500 ? f->code : 451;
        snprintf(xcode, sizeof(xcode), "%s", f->xcode[0] == '4' ? f->xcode : "4.3.0");
        text = f->text[0] ? f->text : "temporary failure, please try again later";
        a = POLICY_TEMPFAIL;
    } else { /* CHECK_MATCH */
        code = f->code ? f->code : 550;
        snprintf(xcode, sizeof(xcode), "%s", f->xcode[0] ? f->xcode : "5.7.1");
        text = f->text[0] ? f->text : "rejected by policy";
        if (act == LA_WARN) {
            log_decision(s, st, d->name, "warn", code, xcode, f->reason[0] ? f->reason : text);
            return 0;
        }
        if (act == LA_TAG) {
            char tag[POLICY_TEXT_MAX + 64];
            snprintf(tag, sizeof(tag), "%s; %s", d->name, f->reason[0] ? f->reason : text);
            if (add_edit_for(s, st, POLICY_EDIT_ADD_HEADER, "X-Policy-Tag", tag) != 0) {
                *out = set_reply(s, POLICY_TEMPFAIL, 451, "4.3.0", "internal error: out of memory",
                                 d->name, "no memory");
                return 1;
            }
            log_decision(s, st, d->name, "tag", code, xcode, f->reason[0] ? f->reason : text);
            return 0;
        }
        if (act == LA_TEMPFAIL)
            to_temporary(&code, xcode);
        a = code < 500 ? POLICY_TEMPFAIL : POLICY_REJECT;
        if (f->disconnect)
            a = POLICY_DISCONNECT;
    }

    const char *reason = f->reason[0] ? f->reason : text;
    int delay = l->common.delay_reject >= 0 ? l->common.delay_reject : e->general.delay_reject;
    if (delayable(st) && (delay || s->harvesting) && !f->no_delay && a != POLICY_DISCONNECT) {
        struct verdict *v = &s->pending[pending_slot(st)];
        if (!v->set) {
            verdict_fill(v, a, code, xcode, text, d->name, reason,
                         f->customer_exempt || (d->flags & LAYER_INBOUND), st);
            log_decision(s, st, d->name, "delay", code, xcode, reason);
        }
        *out = POLICY_CONTINUE; /* one remembered verdict per stage is enough */
        return 1;
    }
    if (st == STAGE_CONNECT && a == POLICY_REJECT)
        code = 554; /* RFC 5321 4.3.1: refuse the greeting with 554 */
    if (st == STAGE_CONNECT && a == POLICY_TEMPFAIL)
        code = 421;
    if (a == POLICY_DISCONNECT) {
        code = 421;
        xcode[0] = '4';
    }
    log_decision(s, st, d->name, policy_action_name(a), code, xcode, reason);
    *out = set_reply(s, a, code, xcode, text, d->name, reason);
    return 1;
}

int session_may_defer(const policy_session *s, const struct layer_desc *d, enum stage st)
{
    int i = engine_layer_index(d);
    if (i < 0 || s->harvesting || !delayable(st))
        return 0;
    const struct layer_inst *l = &s->e->layers[i];
    return l->common.delay_reject >= 0 ? l->common.delay_reject : s->e->general.delay_reject;
}

/*
 * run_layers - run every enabled layer that has a hook for this stage.
 * Returns the verdict to give now, or POLICY_CONTINUE (reply not yet set).
 */
static policy_action run_some(policy_session *s, enum stage st, const struct layer_desc *only)
{
    const policy_engine *e = s->e;

    if (s->conn_accepted || s->txn_accepted || !(s->stage_mask & (1u << st)))
        return POLICY_CONTINUE;
    for (size_t i = 0; i < layer_count; i++) {
        const struct layer_desc *d = layer_registry[i];
        struct finding f;
        policy_action a;

        if (!d->hooks[st] || s->laction[i] == LA_OFF || (only && d != only))
            continue;
        if ((d->flags & LAYER_INBOUND) && s->customer)
            continue;
        memset(&f, 0, sizeof(f));
        enum check r = d->hooks[st](s, e->layers[i].cfg, &f);
        if (r == CHECK_PENDING) {
            s->deferred[i] |= 1u << st;
            s->deferred_any |= 1u << st;
        }
        if (apply(s, st, i, r, &f, &a))
            return a;
    }
    return POLICY_CONTINUE;
}

/* harvest - collect the verdicts layers deferred at connect, HELO and MAIL
 * (their questions have been running meanwhile) into the remembered ones. */
static policy_action harvest(policy_session *s)
{
    static const enum stage order[] = {STAGE_CONNECT, STAGE_HELO, STAGE_MAIL};
    if (!s->deferred_any)
        return POLICY_CONTINUE; /* the usual case: every RCPT asks */
    for (size_t k = 0; k < sizeof(order) / sizeof(*order); k++) {
        enum stage st = order[k];
        for (size_t i = 0; i < layer_count; i++) {
            const struct layer_desc *d = layer_registry[i];
            struct finding f;
            policy_action a;
            if (!(s->deferred[i] & (1u << st)))
                continue;
            s->deferred[i] &= ~(1u << st);
            if (s->laction[i] == LA_OFF || s->conn_accepted || s->txn_accepted ||
                ((d->flags & LAYER_INBOUND) && s->customer))
                continue;
            memset(&f, 0, sizeof(f));
            s->harvesting = 1;
            enum check r = d->hooks[st](s, s->e->layers[i].cfg, &f);
            if (r == CHECK_PENDING) /* a hook must answer when harvesting */
                r = CHECK_NOMATCH;
            int stop = apply(s, st, i, r, &f, &a);
            s->harvesting = 0;
            if (stop && a != POLICY_CONTINUE)
                return a;
        }
    }
    s->deferred_any = 0; /* every bit seen and cleared */
    return POLICY_CONTINUE;
}

static policy_action run_layers(policy_session *s, enum stage st)
{
    return run_some(s, st, NULL);
}

/* finish - common tail of a stage: decide, record the reply, return. */
static policy_action finish(policy_session *s, enum stage st, policy_action a)
{
    if (a == POLICY_CONTINUE)
        return reply_ok(s, st);
    if (a == POLICY_ACCEPT) {
        reply_ok(s, st);
        s->reply.action = POLICY_ACCEPT;
        return POLICY_ACCEPT;
    }
    if (a == POLICY_DISCONNECT)
        s->state = SS_CLOSED;
    return a;
}

static void stage_begin(policy_session *s)
{
    s->stage_started = log_now();
    /* answers that came in while the client talked: names become known and
     * the questions that depend on them go out now, not at RCPT */
    dns_poll(s->dns);
}

/* ------------------------------------------------------------ stages */

policy_action policy_connect(policy_session *s)
{
    if (!s)
        return POLICY_TEMPFAIL;
    stage_begin(s);
    if (s->state != SS_NEW)
        return out_of_order(s, STAGE_CONNECT, "connect given twice");
    s->state = SS_CONNECTED;
    if (!s->ip_valid && !s->ip_unknown) {
        log_decision(s, STAGE_CONNECT, "session", "tempfail", 421, "4.3.0", "invalid client ip");
        return set_reply(s, POLICY_TEMPFAIL, 421, "4.3.0",
                         "internal error: the client address is not an IP address", "session",
                         "invalid client ip");
    }
    if (s->tcprules_deny < 0) {
        log_decision(s, STAGE_CONNECT, "tcprules", "tempfail", 421, "4.3.0", "unreadable");
        return set_reply(s, POLICY_TEMPFAIL, 421, "4.3.0",
                         "temporary failure reading the access rules, try again later", "tcprules",
                         "tcprules file unreadable");
    }
    if (s->tcprules_deny > 0) {
        log_decision(s, STAGE_CONNECT, "tcprules", "reject", 554, "5.7.1", "denied by tcprules");
        s->state = SS_CLOSED;
        return set_reply(s, POLICY_REJECT, 554, "5.7.1", "access denied", "tcprules",
                         "denied by tcprules");
    }
    customers_classify(s);
    if (s->ip_unknown)
        plog(s, POLICY_LOG_INFO, "stage=connect client address unknown: no address checks, %s",
             s->customer ? "a customer (trust_unknown_address)" : "not a customer");
    return finish(s, STAGE_CONNECT, run_layers(s, STAGE_CONNECT));
}

unsigned long policy_greeting_delay(policy_session *s)
{
    int i = engine_layer_index(&layer_botnet);
    const char *why = "";
    unsigned long ms;

    if (!s || i < 0 || s->state != SS_CONNECTED || s->conn_accepted || s->laction[i] == LA_OFF)
        return 0;
    ms = botnet_greet_delay(s, s->e->layers[i].cfg, &why);
    if (ms)
        plog(s, POLICY_LOG_INFO, "greeting delay %lums: %s", ms, why);
    return ms;
}

/* botnet_cfg_for - the [botnet] configuration when the layer is on for this
 * connected client, else NULL */
static const void *botnet_cfg_for(const policy_session *s)
{
    int i = engine_layer_index(&layer_botnet);
    if (!s || i < 0 || s->state == SS_NEW || s->laction[i] == LA_OFF)
        return NULL;
    return s->e->layers[i].cfg;
}

unsigned long policy_session_limit(policy_session *s)
{
    const void *cfg = botnet_cfg_for(s);
    return cfg ? botnet_session_limit(s, cfg) : 0;
}

unsigned long policy_receive_throttle(policy_session *s)
{
    const void *cfg = botnet_cfg_for(s);
    return cfg ? botnet_throttle(s, cfg) : 0;
}

policy_action policy_early_talker(policy_session *s)
{
    if (!s)
        return POLICY_TEMPFAIL;
    stage_begin(s);
    if (s->state != SS_CONNECTED || s->helo_given)
        return out_of_order(s, STAGE_CONNECT, "early talker reported after the greeting");
    s->early_talker = 1;
    return finish(s, STAGE_CONNECT, run_some(s, STAGE_CONNECT, &layer_botnet));
}

policy_action policy_helo(policy_session *s, const char *helo)
{
    if (!s)
        return POLICY_TEMPFAIL;
    stage_begin(s);
    if (s->state == SS_NEW || s->state == SS_CLOSED)
        return out_of_order(s, STAGE_HELO, "HELO before connect");
    if (s->state == SS_DATA || s->state == SS_BODY)
        return out_of_order(s, STAGE_HELO, "HELO during DATA");
    txn_clear(s); /* RFC 5321 4.1.4: EHLO resets the transaction */
    s->state = SS_CONNECTED;
    sanitize_copy(s->helo, sizeof(s->helo), helo ? helo : "", POLICY_HELO_MAX);
    s->helo_given = 1;
    s->pending[1].set = 0;
    for (size_t i = 0; i < layer_count; i++)
        s->deferred[i] &= ~(1u << STAGE_HELO);
    return finish(s, STAGE_HELO, run_layers(s, STAGE_HELO));
}

/* lift_exempt - a client that became a customer is free of inbound verdicts. */
static void lift_exempt(policy_session *s)
{
    for (size_t i = 0; i < 3; i++)
        if (s->pending[i].set && s->pending[i].customer_exempt) {
            plog(s, POLICY_LOG_INFO, "stage=auth action=lift layer=%s reason=\"customer\"",
                 s->pending[i].layer);
            s->pending[i].set = 0;
        }
}

policy_action policy_auth(policy_session *s, const char *user)
{
    if (!s)
        return POLICY_TEMPFAIL;
    stage_begin(s);
    if (s->state != SS_CONNECTED && s->state != SS_DONE)
        return out_of_order(s, STAGE_AUTH,
                            s->state == SS_NEW || s->state == SS_CLOSED
                                ? "AUTH before connect"
                                : "AUTH during a mail transaction");
    if (s->authenticated)
        return out_of_order(s, STAGE_AUTH, "AUTH given twice");
    if (!user || !*user)
        return out_of_order(s, STAGE_AUTH, "AUTH without a user name");
    sanitize_copy(s->auth_user, sizeof(s->auth_user), user, POLICY_USER_MAX);
    s->authenticated = 1;
    customers_classify(s);
    if (s->customer)
        lift_exempt(s);
    return finish(s, STAGE_AUTH, run_layers(s, STAGE_AUTH));
}

/* smtp_limits - does stage st run here, so that its SMTP limits apply?  When
 * it does not (policy-queue: POLICY_STAGES=content) the MTA accepted that
 * part of the envelope already, and what it accepted is taken as given. */
static int smtp_limits(const policy_session *s, enum stage st)
{
    return (s->stage_mask & (1u << st)) != 0;
}

/* address_span - "<a@b>" -> "a@b", also " <a@b> " from sloppy callers:
 * where the address starts in in and (in *n) its length.  limit: the
 * longest the caller takes, 0 for any; a longer one gives *n > limit
 * without reading all of it. */
static const char *address_span(const char *in, size_t limit, size_t *n)
{
    while (*in == ' ' || *in == '\t')
        in++;
    size_t len = limit ? strnlen(in, limit + 2) : strlen(in);
    while (len && (in[len - 1] == ' ' || in[len - 1] == '\t'))
        len--;
    if (len >= 2 && in[0] == '<' && in[len - 1] == '>') {
        in++;
        len -= 2;
    }
    *n = len;
    return in;
}

/* no_memory - the reply when the session cannot hold what it was given. */
static policy_action no_memory(policy_session *s)
{
    return set_reply(s, POLICY_TEMPFAIL, 451, "4.3.0", "internal error: out of memory", "session",
                     "no memory");
}

policy_action policy_mail(policy_session *s, const char *sender)
{
    if (!s)
        return POLICY_TEMPFAIL;
    stage_begin(s);
    if (s->state == SS_NEW || s->state == SS_CLOSED)
        return out_of_order(s, STAGE_MAIL, "MAIL before connect");
    /* every MAIL starts a new transaction, as in qmail-smtpd; a refused one
     * too, so that a client repeating MAIL holds one sender, not thousands */
    txn_clear(s);
    s->state = SS_CONNECTED;
    size_t limit = smtp_limits(s, STAGE_MAIL) ? POLICY_ADDR_MAX : 0, n;
    const char *from = address_span(sender ? sender : "", limit, &n);
    if (limit && n > limit) {
        log_decision(s, STAGE_MAIL, "session", "reject", 553, "5.1.7", "sender address too long");
        return set_reply(s, POLICY_REJECT, 553, "5.1.7", "sender address too long", "session",
                         "sender too long");
    }
    if (!(s->sender = arena_alloc(&s->txn, n + 1)))
        return no_memory(s);
    sanitize_copy(s->sender, n + 1, from, n); /* no CR, LF or NUL reaches a layer or a log */
    policy_action a = run_layers(s, STAGE_MAIL);
    if (a == POLICY_CONTINUE || a == POLICY_ACCEPT)
        s->state = SS_MAIL;
    return finish(s, STAGE_MAIL, a);
}

/* postmaster_or_abuse - RFC 5321 4.5.1 and RFC 2142: always reachable. */
static int postmaster_or_abuse(policy_session *s, const char *rcpt)
{
    const char *at = strrchr(rcpt, '@');
    size_t n = at ? (size_t)(at - rcpt) : strlen(rcpt);
    int special =
        (n == 10 && str_ieqn(rcpt, "postmaster", 10)) || (n == 5 && str_ieqn(rcpt, "abuse", 5));
    if (!special)
        return 0;
    return !at || customers_rcpt_is_local(s);
}

policy_action policy_rcpt(policy_session *s, const char *recipient)
{
    if (!s)
        return POLICY_TEMPFAIL;
    stage_begin(s);
    if (s->state != SS_MAIL && s->state != SS_RCPT)
        return out_of_order(s, STAGE_RCPT, "RCPT before MAIL");
    s->rcpts_tried++;
    s->rcpt_parsed = 0;
    s->rcpt = "";
    size_t limit = smtp_limits(s, STAGE_RCPT) ? POLICY_ADDR_MAX : 0, n;
    const char *to = address_span(recipient ? recipient : "", limit, &n);
    if (!n || (limit && n > limit)) {
        const char *why = n ? "recipient address too long" : "empty recipient address";
        log_decision(s, STAGE_RCPT, "session", "reject", 553, "5.1.3", why);
        return set_reply(s, POLICY_REJECT, 553, "5.1.3", why, "session", why);
    }
    /* checked in a buffer the session reuses; copied only when accepted */
    if (n + 1 > s->rcpt_buf_cap) {
        size_t nc = n + 1 > 256 ? n + 1 : 256;
        char *nb = realloc(s->rcpt_buf, nc);
        if (!nb)
            return no_memory(s);
        s->rcpt_buf = nb;
        s->rcpt_buf_cap = nc;
    }
    sanitize_copy(s->rcpt_buf, n + 1, to, n);
    s->rcpt = s->rcpt_buf;
    if (limit && s->nrcpts >= POLICY_MAX_RCPTS) {
        log_decision(s, STAGE_RCPT, "session", "tempfail", 452, "4.5.3", "too many recipients");
        return set_reply(s, POLICY_TEMPFAIL, 452, "4.5.3", "too many recipients", "session",
                         "too many recipients");
    }
    /* the verdicts layers deferred (DNS answers) join the remembered ones */
    policy_action ha = harvest(s);
    if (ha != POLICY_CONTINUE)
        return finish(s, STAGE_RCPT, ha);
    /* the remembered connection-level verdicts, unless this is postmaster@ */
    if (!s->conn_accepted && !s->txn_accepted) {
        for (size_t i = 0; i < 3; i++) {
            struct verdict *v = &s->pending[i];
            if (!v->set || (v->customer_exempt && s->customer))
                continue;
            if (postmaster_or_abuse(s, s->rcpt)) {
                log_decision(s, STAGE_RCPT, v->layer, "exempt", v->code, v->xcode,
                             "postmaster/abuse is always reachable");
                break;
            }
            log_decision(s, STAGE_RCPT, v->layer, policy_action_name(v->action), v->code, v->xcode,
                         v->reason);
            return finish(s, STAGE_RCPT, replay(s, v));
        }
    }
    policy_action a = run_layers(s, STAGE_RCPT);
    if (a == POLICY_CONTINUE || a == POLICY_ACCEPT) {
        if (s->nrcpts == s->rcpts_cap) {
            size_t nc = s->rcpts_cap ? s->rcpts_cap * 2 : 8;
            const char **nv = realloc(s->rcpts, nc * sizeof(*nv));
            if (!nv)
                return no_memory(s);
            s->rcpts = nv;
            s->rcpts_cap = nc;
        }
        const char *kept = arena_strndup(&s->txn, s->rcpt_buf, n);
        if (!kept)
            return no_memory(s);
        s->rcpts[s->nrcpts++] = s->rcpt = kept;
        s->state = SS_RCPT;
    }
    return finish(s, STAGE_RCPT, a);
}

policy_action policy_data(policy_session *s)
{
    if (!s)
        return POLICY_TEMPFAIL;
    stage_begin(s);
    if (s->state != SS_RCPT)
        return out_of_order(s, STAGE_DATA,
                            s->state == SS_MAIL ? "DATA without an accepted RCPT"
                                                : "DATA before RCPT");
    s->state = SS_DATA;
    /* tags decided before the transaction belong to every message */
    for (size_t i = 0; i < s->nconn_edits; i++)
        if (push_edit(s, 1, s->conn_edits[i].kind, s->conn_edits[i].name, s->conn_edits[i].value) !=
            0)
            return no_memory(s);
    policy_action a = run_layers(s, STAGE_DATA);
    if (a != POLICY_CONTINUE && a != POLICY_ACCEPT)
        verdict_fill(&s->sticky, a, s->reply.code, s->reply.xcode, s->reply.text, s->reply.layer,
                     s->reply.reason, 0, STAGE_DATA);
    return finish(s, STAGE_DATA, a);
}

/* data_phase - the checks shared by header, body and eom. */
static policy_action data_phase(policy_session *s, enum stage st)
{
    if (s->sticky.set)
        return replay(s, &s->sticky);
    policy_action a = run_layers(s, st);
    if (a != POLICY_CONTINUE && a != POLICY_ACCEPT)
        verdict_fill(&s->sticky, a, s->reply.code, s->reply.xcode, s->reply.text, s->reply.layer,
                     s->reply.reason, 0, st);
    return finish(s, st, a);
}

policy_action policy_header(policy_session *s, const char *name, const char *value)
{
    if (!s)
        return POLICY_TEMPFAIL;
    stage_begin(s);
    if (s->state != SS_DATA)
        return out_of_order(s, STAGE_HEADER,
                            s->state == SS_BODY ? "header after body" : "header before DATA");
    if (!name)
        name = "";
    if (!value)
        value = "";
    size_t nl = strnlen(name, 1000), vl = strnlen(value, POLICY_MAX_HEADER_BYTES);
    if (s->nheaders < POLICY_MAX_HEADERS && s->header_bytes + nl + vl < POLICY_MAX_HEADER_BYTES) {
        if (s->nheaders == s->headers_cap) {
            size_t nc = s->headers_cap ? s->headers_cap * 2 : 32;
            struct header *nv = realloc(s->headers, nc * sizeof(*nv));
            if (!nv)
                return no_memory(s);
            s->headers = nv;
            s->headers_cap = nc;
        }
        const char *n = arena_strndup(&s->txn, name, nl), *v = arena_strndup(&s->txn, value, vl);
        if (!n || !v)
            return no_memory(s);
        s->headers[s->nheaders].name = n;
        s->headers[s->nheaders].value = v;
        s->nheaders++;
        s->header_bytes += nl + vl;
        s->hdr_name = n;
        s->hdr_value = v;
    } else {
        /* over the limits: checked as the caller gave it, neither copied nor kept */
        s->hdr_name = name;
        s->hdr_value = value;
    }
    policy_action a = data_phase(s, STAGE_HEADER);
    s->hdr_name = s->hdr_value = NULL; /* the caller's strings are not ours after return */
    return a;
}

policy_action policy_body(policy_session *s, const void *chunk, size_t len)
{
    if (!s)
        return POLICY_TEMPFAIL;
    stage_begin(s);
    if (s->state != SS_DATA && s->state != SS_BODY)
        return out_of_order(s, STAGE_BODY, "body before DATA");
    if (!chunk && len)
        return out_of_order(s, STAGE_BODY, "NULL body chunk");
    s->state = SS_BODY;
    s->body_chunk = chunk;
    s->body_len = len;
    s->body_total += len;
    policy_action a = data_phase(s, STAGE_BODY);
    s->body_chunk = NULL;
    s->body_len = 0;
    return a;
}

policy_action policy_eom(policy_session *s)
{
    if (!s)
        return POLICY_TEMPFAIL;
    stage_begin(s);
    if (s->state != SS_DATA && s->state != SS_BODY)
        return out_of_order(s, STAGE_EOM, "end of message before DATA");
    s->state = SS_DONE;
    policy_action a = data_phase(s, STAGE_EOM);
    if (a == POLICY_CONTINUE || a == POLICY_ACCEPT)
        log_decision(s, STAGE_EOM, NULL, "accept", 250, "2.0.0", NULL);
    return a;
}

const policy_reply *policy_last_reply(const policy_session *s)
{
    static const policy_reply none = {
        POLICY_TEMPFAIL, 451, "4.3.0", "internal error: no session", "session", "NULL session"};
    return s ? &s->reply : &none;
}
