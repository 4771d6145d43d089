/*
 * verdict.c - from what layers report to the reply a stage gives: the run
 * of the enabled layers, action and on_error applied the same way for
 * every layer, verdicts remembered for RCPT (delay_reject) or for the rest
 * of the message (sticky), and the replies of the session itself.
 *
 * Every reply is sanitized here (printable ASCII, no CR/LF, bounded), so
 * no layer and no network answer can put a line into the SMTP dialogue.
 */
#include <stdio.h>
#include <string.h>

#include "core.h"

/* ------------------------------------------------------------ replies */

policy_action reply_set(policy_session *s, policy_action a, int code, const char *xcode,
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

policy_action reply_ok(policy_session *s, enum stage st)
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
    return reply_set(s, POLICY_CONTINUE, ok[st].code, ok[st].xcode, ok[st].text, NULL, NULL);
}

policy_action reply_refuse(policy_session *s, enum stage st, policy_action a, int code,
                           const char *xcode, const char *why)
{
    log_decision(s, st, "session", policy_action_name(a), code, xcode, why);
    return reply_set(s, a, code, xcode, why, "session", why);
}

policy_action reply_no_memory(policy_session *s, enum stage st)
{
    log_decision(s, st, "session", "tempfail", 451, "4.3.0", "out of memory");
    return reply_set(s, POLICY_TEMPFAIL, 451, "4.3.0", "internal error: out of memory", "session",
                     "no memory");
}

policy_action reply_replay(policy_session *s, const struct verdict *v)
{
    return reply_set(s, v->action, v->code, v->xcode, v->text, v->layer, v->reason);
}

void verdict_fill(struct verdict *v, policy_action a, int code, const char *xcode,
                  const char *text, const char *layer, const char *reason, int customer_exempt,
                  enum stage st)
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

/* tag - action = tag: the finding's header, or X-Policy-Tag naming layer
 * and reason.  Before MAIL it belongs to the connection (every message
 * gets it), from MAIL on to the transaction. */
static int tag(policy_session *s, enum stage st, const struct layer_desc *d,
               const struct finding *f, const char *text)
{
    char value[POLICY_TEXT_MAX + 64];
    const char *name = f->tag_name ? f->tag_name : "X-Policy-Tag";
    if (f->tag_value)
        snprintf(value, sizeof(value), "%s", f->tag_value);
    else
        snprintf(value, sizeof(value), "%s; %s", d->name, f->reason[0] ? f->reason : text);
    return edit_add(s, st >= STAGE_MAIL && s->txn.sender, POLICY_EDIT_ADD_HEADER, name, value);
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
            if (tag(s, st, d, f, text) != 0) {
                *out = reply_no_memory(s, st);
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
    *out = reply_set(s, a, code, xcode, text, d->name, reason);
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

int layer_runs(const policy_session *s, size_t i)
{
    if (s->laction[i] == LA_OFF)
        return 0;
    return !((layer_registry[i]->flags & LAYER_INBOUND) && s->client.customer);
}

policy_action run_layers(policy_session *s, enum stage st, const struct layer_desc *only)
{
    const policy_engine *e = s->e;

    if (s->conn_accepted || s->txn_accepted || !(s->stage_mask & (1u << st)))
        return POLICY_CONTINUE;
    for (size_t i = 0; i < layer_count; i++) {
        const struct layer_desc *d = layer_registry[i];
        struct finding f;
        policy_action a;

        if (!d->hooks[st] || (only && d != only) || !layer_runs(s, i))
            continue;
        memset(&f, 0, sizeof(f));
        double t0 = e->metrics_on ? log_now() : 0;
        enum check r = d->hooks[st](s, e->layers[i].cfg, &f);
        if (e->metrics_on)
            metrics_check(s, st, i, r, log_now() - t0);
        if (r == CHECK_PENDING) {
            s->deferred[i] |= 1u << st;
            s->deferred_any |= 1u << st;
        }
        if (apply(s, st, i, r, &f, &a))
            return a;
    }
    return POLICY_CONTINUE;
}

policy_action harvest(policy_session *s)
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
            if (s->conn_accepted || s->txn_accepted || !layer_runs(s, i))
                continue;
            memset(&f, 0, sizeof(f));
            s->harvesting = 1;
            double t0 = s->e->metrics_on ? log_now() : 0;
            enum check r = d->hooks[st](s, s->e->layers[i].cfg, &f);
            if (r == CHECK_PENDING) /* a hook must answer when harvesting */
                r = CHECK_NOMATCH;
            if (s->e->metrics_on)
                metrics_check(s, st, i, r, log_now() - t0);
            int stop = apply(s, st, i, r, &f, &a);
            s->harvesting = 0;
            if (stop && a != POLICY_CONTINUE)
                return a;
        }
    }
    s->deferred_any = 0; /* every bit seen and cleared */
    return POLICY_CONTINUE;
}
