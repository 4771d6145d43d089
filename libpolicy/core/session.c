/*
 * session.c - one client connection: its lifetime, the stage state machine
 * (a table of what each call may follow) and the stage calls of the public
 * API, each running the enabled layers through verdict.c.
 *
 * Promises: a stage called out of order defers (4xx) with a reply that
 * says so and never crashes; connection-level verdicts wait for the first
 * RCPT unless the layer asks otherwise, so customers can still
 * authenticate and postmaster@/abuse@ of local domains stay reachable; a
 * message over message_size_limit is refused (552), never passed on cut.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../support/address.h"
#include "../support/dns.h"
#include "../support/store.h"
#include "../support/waiter.h"
#include "core.h"

/* ------------------------------------------------------------ the state machine */

/* The calls, for the table: the stages, plus the raw message. */
enum call {
    CALL_CONNECT = STAGE_CONNECT,
    CALL_HELO = STAGE_HELO,
    CALL_AUTH = STAGE_AUTH,
    CALL_MAIL = STAGE_MAIL,
    CALL_RCPT = STAGE_RCPT,
    CALL_DATA = STAGE_DATA,
    CALL_HEADER = STAGE_HEADER,
    CALL_BODY = STAGE_BODY,
    CALL_EOM = STAGE_EOM,
    CALL_MESSAGE,
    CALL_COUNT
};

/* Why a call may not come in a state (NULL: it may).  SS_CLOSED refuses
 * everything with 421 (out_of_order). */
static const char *const refused[CALL_COUNT][SS_COUNT] = {
    [CALL_CONNECT] = {NULL, "connect given twice", "connect given twice", "connect given twice",
                      "connect given twice", "connect given twice", "connect given twice", ""},
    [CALL_HELO] = {"HELO before connect", NULL, NULL, NULL, "HELO during DATA",
                   "HELO during DATA", NULL, ""},
    [CALL_AUTH] = {"AUTH before connect", NULL, "AUTH during a mail transaction",
                   "AUTH during a mail transaction", "AUTH during a mail transaction",
                   "AUTH during a mail transaction", NULL, ""},
    [CALL_MAIL] = {"MAIL before connect", NULL, NULL, NULL, NULL, NULL, NULL, ""},
    [CALL_RCPT] = {"RCPT before MAIL", "RCPT before MAIL", NULL, NULL, "RCPT before MAIL",
                   "RCPT before MAIL", "RCPT before MAIL", ""},
    [CALL_DATA] = {"DATA before RCPT", "DATA before RCPT", "DATA without an accepted RCPT", NULL,
                   "DATA before RCPT", "DATA before RCPT", "DATA before RCPT", ""},
    [CALL_HEADER] = {"header before DATA", "header before DATA", "header before DATA",
                     "header before DATA", NULL, "header after body", "header before DATA", ""},
    [CALL_BODY] = {"body before DATA", "body before DATA", "body before DATA", "body before DATA",
                   NULL, NULL, "body before DATA", ""},
    [CALL_EOM] = {"end of message before DATA", "end of message before DATA",
                  "end of message before DATA", "end of message before DATA", NULL, NULL,
                  "end of message before DATA", ""},
    [CALL_MESSAGE] = {"message before DATA", "message before DATA", "message before DATA",
                      "message before DATA", NULL, NULL, "message before DATA", ""},
};

/* out_of_order - a caller error: defer, say what went wrong, log it. */
static policy_action out_of_order(policy_session *s, enum stage st, const char *why)
{
    char text[POLICY_TEXT_MAX + 1];
    if (s->state == SS_CLOSED)
        return reply_set(s, POLICY_DISCONNECT, 421, "4.7.0", "connection closed by policy",
                         "session", "stage after disconnect");
    snprintf(text, sizeof(text), "internal error: %s stage out of order (%s)", stage_name(st), why);
    reply_set(s, POLICY_TEMPFAIL, 451, "4.3.0", text, "session", why);
    log_decision(s, st, "session", "tempfail", 451, "4.3.0", text);
    return POLICY_TEMPFAIL;
}

/* stage_begin - the start of every stage call: the clock for the log, the
 * answers that came in while the client talked (names become known and the
 * questions that depend on them go out now, not at RCPT), and the state
 * check.  Returns 0 when the call may go on, else the reply was set. */
static int stage_begin(policy_session *s, enum call c, enum stage st)
{
    s->stage_started = log_now();
    s->last_stage = 1u << st;
    if (s->waiter)
        waiter_poll(s->waiter);
    const char *why = refused[c][s->state];
    if (why) {
        out_of_order(s, st, why);
        return -1;
    }
    return 0;
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
    arena_init(&s->txn_arena);
    arena_init(&s->conn);
    client_set_address(&s->client, client_ip, client_host);
    vars_apply(s);
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
    if (s->msg_open) /* the connection ended during DATA */
        metrics_message(s, STAGE_DATA, "abort");
    metrics_free(s); /* before the stores: the counts it holds go there */
    vars_free(s);
    /* layers first: they may hand questions back to the resolver */
    for (size_t i = 0; i < layer_count; i++)
        if (layer_registry[i]->state_free && s->lstate[i])
            layer_registry[i]->state_free(s, s->lstate[i]);
    client_ptr_free(s);
    for (size_t i = 0; i < sizeof(s->stores) / sizeof(*s->stores); i++)
        store_conn_free(s->stores[i].conn);
    dns_free(s->dns);
    waiter_free(s->waiter);
    message_free(s);
    for (size_t i = 0; i < layer_count; i++)
        free(s->lstate[i]);
    free(s->lstate);
    free(s->deferred);
    free(s->rcpt_addr);
    free(s->laction);
    free(s->rcpts);
    free(s->rcpt_buf);
    edits_free(s);
    arena_free(&s->txn_arena);
    arena_free(&s->conn);
    policy_engine_unref(s->e);
    free(s);
}

void txn_clear(policy_session *s)
{
    arena_reset(&s->txn_arena);
    memset(&s->txn, 0, sizeof(s->txn));
    s->txn.rcpts = s->rcpts;
    s->txn_accepted = 0;
    s->nedits = 0;
    s->pending[2].set = 0;
    s->sticky.set = 0;
    if (s->msg_open) /* RSET, or a refusal, before the end of the message */
        metrics_message(s, STAGE_DATA, "abort");
    if (s->mpending)
        metrics_flush(s);
    message_clear(s);
    facts_end_transaction(s);
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

const policy_reply *policy_last_reply(const policy_session *s)
{
    static const policy_reply none = {
        POLICY_TEMPFAIL, 451, "4.3.0", "internal error: no session", "session", "NULL session"};
    return s ? &s->reply : &none;
}

/* ------------------------------------------------------------ for layers */

const struct client *session_client(const policy_session *s)
{
    return &s->client;
}

const struct txn *session_txn(const policy_session *s)
{
    return &s->txn;
}

const struct general_cfg *session_general(const policy_session *s)
{
    return &s->e->general;
}

const void *session_layer_cfg(const policy_session *s, const struct layer_desc *d)
{
    return engine_layer_cfg(s->e, d);
}

void *session_layer_state(policy_session *s, const struct layer_desc *d)
{
    int i = engine_layer_index(d);
    return i < 0 ? NULL : s->lstate[i];
}

enum layer_action session_layer_action(const policy_session *s, const struct layer_desc *d)
{
    int i = engine_layer_index(d);
    return i < 0 ? LA_OFF : s->laction[i];
}

const struct addr *session_rcpt_addr(policy_session *s, int *status)
{
    if (!s->rcpt_parsed) {
        s->rcpt_status = addr_parse(s->txn.rcpt ? s->txn.rcpt : "", s->rcpt_addr);
        s->rcpt_parsed = 1;
    }
    *status = s->rcpt_status;
    return s->rcpt_addr;
}

struct waiter *session_waiter(policy_session *s)
{
    if (!s->waiter && !(s->waiter = waiter_new()))
        plog(s, POLICY_LOG_ERR, "cannot create the session's poll set: out of memory");
    return s->waiter;
}

struct dns *session_dns(policy_session *s)
{
    char err[256];
    if (s->dns)
        return s->dns;
    struct waiter *w = session_waiter(s);
    if (!w)
        return NULL;
    s->dns = dns_new(w, s->e->general.dns_servers, (unsigned)s->e->general.dns_timeout_ms, err,
                     sizeof(err));
    if (!s->dns)
        plog(s, POLICY_LOG_ERR, "dns: cannot create a resolver: %s", err);
    return s->dns;
}

struct store_conn *session_store_conn(policy_session *s, struct store *st)
{
    size_t n = sizeof(s->stores) / sizeof(*s->stores);
    if (!st)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (s->stores[i].store == st)
            return s->stores[i].conn;
    for (size_t i = 0; i < n; i++)
        if (!s->stores[i].store) {
            struct waiter *w = session_waiter(s);
            if (!w || !(s->stores[i].conn = store_conn_new(st, w)))
                return NULL;
            s->stores[i].store = st;
            return s->stores[i].conn;
        }
    plog(s, POLICY_LOG_ERR, "store: more than %zu stores in one session", n);
    return NULL;
}

struct dns *session_dns_peek(const policy_session *s)
{
    return s->dns;
}

int session_open(const policy_session *s)
{
    return s->state != SS_NEW && s->state != SS_CLOSED;
}

int session_at_greeting(const policy_session *s)
{
    return s->state == SS_CONNECTED && !s->client.helo_given && !s->conn_accepted;
}

policy_action session_early_talker(policy_session *s, const struct layer_desc *d)
{
    s->stage_started = log_now();
    if (s->state != SS_CONNECTED || s->client.helo_given)
        return out_of_order(s, STAGE_CONNECT, "early talker reported after the greeting");
    s->client.early_talker = 1;
    return finish(s, STAGE_CONNECT, run_layers(s, STAGE_CONNECT, d));
}

/* ------------------------------------------------------------ envelope stages */

policy_action policy_connect(policy_session *s)
{
    if (!s)
        return POLICY_TEMPFAIL;
    if (stage_begin(s, CALL_CONNECT, STAGE_CONNECT))
        return s->reply.action;
    s->state = SS_CONNECTED;
    if (s->e->metrics_on && (s->stage_mask & (1u << STAGE_CONNECT)))
        metrics_session(s); /* a client, not policy-queue's content-only session */
    if (!s->client.ip_valid && !s->client.ip_unknown)
        return reply_refuse(s, STAGE_CONNECT, POLICY_TEMPFAIL, 421, "4.3.0",
                            "internal error: the client address is not an IP address");
    if (s->tcprules_deny < 0) {
        log_decision(s, STAGE_CONNECT, "tcprules", "tempfail", 421, "4.3.0", "unreadable");
        return reply_set(s, POLICY_TEMPFAIL, 421, "4.3.0",
                         "temporary failure reading the access rules, try again later", "tcprules",
                         "tcprules file unreadable");
    }
    if (s->tcprules_deny > 0) {
        log_decision(s, STAGE_CONNECT, "tcprules", "reject", 554, "5.7.1", "denied by tcprules");
        s->state = SS_CLOSED;
        return reply_set(s, POLICY_REJECT, 554, "5.7.1", "access denied", "tcprules",
                         "denied by tcprules");
    }
    client_classify(s);
    if (s->client.ip_unknown)
        plog(s, POLICY_LOG_INFO, "stage=connect client address unknown: no address checks, %s",
             s->client.customer ? "a customer (trust_unknown_address)" : "not a customer");
    return finish(s, STAGE_CONNECT, run_layers(s, STAGE_CONNECT, NULL));
}

policy_action policy_helo(policy_session *s, const char *helo)
{
    if (!s)
        return POLICY_TEMPFAIL;
    if (stage_begin(s, CALL_HELO, STAGE_HELO))
        return s->reply.action;
    txn_clear(s); /* RFC 5321 4.1.4: EHLO resets the transaction */
    s->state = SS_CONNECTED;
    sanitize_copy(s->client.helo, sizeof(s->client.helo), helo ? helo : "", POLICY_HELO_MAX);
    s->client.helo_given = 1;
    s->pending[1].set = 0;
    for (size_t i = 0; i < layer_count; i++)
        s->deferred[i] &= ~(1u << STAGE_HELO);
    return finish(s, STAGE_HELO, run_layers(s, STAGE_HELO, NULL));
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
    if (stage_begin(s, CALL_AUTH, STAGE_AUTH))
        return s->reply.action;
    if (s->client.authenticated)
        return out_of_order(s, STAGE_AUTH, "AUTH given twice");
    if (!user || !*user)
        return out_of_order(s, STAGE_AUTH, "AUTH without a user name");
    sanitize_copy(s->client.auth_user, sizeof(s->client.auth_user), user, POLICY_USER_MAX);
    s->client.authenticated = 1;
    client_classify(s);
    if (s->client.customer)
        lift_exempt(s);
    return finish(s, STAGE_AUTH, run_layers(s, STAGE_AUTH, NULL));
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

policy_action policy_mail(policy_session *s, const char *sender)
{
    if (!s)
        return POLICY_TEMPFAIL;
    if (stage_begin(s, CALL_MAIL, STAGE_MAIL))
        return s->reply.action;
    /* every MAIL starts a new transaction, as in qmail-smtpd; a refused one
     * too, so that a client repeating MAIL holds one sender, not thousands */
    txn_clear(s);
    s->state = SS_CONNECTED;
    size_t limit = smtp_limits(s, STAGE_MAIL) ? POLICY_ADDR_MAX : 0, n;
    const char *from = address_span(sender ? sender : "", limit, &n);
    if (limit && n > limit)
        return reply_refuse(s, STAGE_MAIL, POLICY_REJECT, 553, "5.1.7", "sender address too long");
    char *kept = arena_alloc(&s->txn_arena, n + 1);
    if (!kept)
        return reply_no_memory(s, STAGE_MAIL);
    sanitize_copy(kept, n + 1, from, n); /* no CR, LF or NUL reaches a layer or a log */
    s->txn.sender = kept;
    policy_action a = run_layers(s, STAGE_MAIL, NULL);
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
    return !at || client_rcpt_is_local(s);
}

policy_action policy_rcpt(policy_session *s, const char *recipient)
{
    if (!s)
        return POLICY_TEMPFAIL;
    if (stage_begin(s, CALL_RCPT, STAGE_RCPT))
        return s->reply.action;
    s->txn.rcpts_tried++;
    s->rcpt_parsed = 0;
    s->txn.rcpt = "";
    size_t limit = smtp_limits(s, STAGE_RCPT) ? POLICY_ADDR_MAX : 0, n;
    const char *to = address_span(recipient ? recipient : "", limit, &n);
    if (!n || (limit && n > limit))
        return reply_refuse(s, STAGE_RCPT, POLICY_REJECT, 553, "5.1.3",
                            n ? "recipient address too long" : "empty recipient address");
    /* checked in a buffer the session reuses; copied only when accepted */
    if (array_grow(&s->rcpt_buf, &s->rcpt_buf_cap, n + 1, 1, 256) != 0)
        return reply_no_memory(s, STAGE_RCPT);
    sanitize_copy(s->rcpt_buf, n + 1, to, n);
    s->txn.rcpt = s->rcpt_buf;
    if (limit && s->txn.nrcpts >= POLICY_MAX_RCPTS)
        return reply_refuse(s, STAGE_RCPT, POLICY_TEMPFAIL, 452, "4.5.3", "too many recipients");
    /* the verdicts layers deferred (DNS answers) join the remembered ones */
    policy_action ha = harvest(s);
    if (ha != POLICY_CONTINUE)
        return finish(s, STAGE_RCPT, ha);
    /* the remembered connection-level verdicts, unless this is postmaster@ */
    if (!s->conn_accepted && !s->txn_accepted) {
        for (size_t i = 0; i < 3; i++) {
            struct verdict *v = &s->pending[i];
            if (!v->set || (v->customer_exempt && s->client.customer))
                continue;
            if (postmaster_or_abuse(s, s->txn.rcpt)) {
                log_decision(s, STAGE_RCPT, v->layer, "exempt", v->code, v->xcode,
                             "postmaster/abuse is always reachable");
                break;
            }
            log_decision(s, STAGE_RCPT, v->layer, policy_action_name(v->action), v->code, v->xcode,
                         v->reason);
            return finish(s, STAGE_RCPT, reply_replay(s, v));
        }
    }
    policy_action a = run_layers(s, STAGE_RCPT, NULL);
    if (a == POLICY_CONTINUE || a == POLICY_ACCEPT) {
        if (array_grow(&s->rcpts, &s->rcpts_cap, s->txn.nrcpts + 1, sizeof(*s->rcpts), 8) != 0)
            return reply_no_memory(s, STAGE_RCPT);
        const char *kept = arena_strndup(&s->txn_arena, s->rcpt_buf, n);
        if (!kept)
            return reply_no_memory(s, STAGE_RCPT);
        s->rcpts[s->txn.nrcpts++] = s->txn.rcpt = kept;
        s->txn.rcpts = s->rcpts;
        s->state = SS_RCPT;
    }
    return finish(s, STAGE_RCPT, a);
}

/* ------------------------------------------------------------ data stages */

/* stick - a data-phase verdict repeats until the transaction ends. */
static policy_action stick(policy_session *s, enum stage st, policy_action a)
{
    if (a != POLICY_CONTINUE && a != POLICY_ACCEPT && !s->sticky.set)
        verdict_fill(&s->sticky, a, s->reply.code, s->reply.xcode, s->reply.text, s->reply.layer,
                     s->reply.reason, 0, st);
    return a;
}

/* message_trouble - what message_raw and friends said, as the stage's
 * reply (sticky: the rest of the message is refused the same way). */
static policy_action message_trouble(policy_session *s, enum stage st, int r)
{
    policy_action a;
    if (r == MESSAGE_TOO_BIG)
        a = reply_refuse(s, st, POLICY_REJECT, 552, "5.3.4",
                         "message size exceeds the fixed limit");
    else if (r == MESSAGE_FAILED)
        a = reply_refuse(s, st, POLICY_TEMPFAIL, 451, "4.3.0",
                         "temporary failure keeping the message, try again later");
    else
        a = reply_no_memory(s, st);
    return stick(s, st, a);
}

policy_action policy_data(policy_session *s)
{
    if (!s)
        return POLICY_TEMPFAIL;
    if (stage_begin(s, CALL_DATA, STAGE_DATA))
        return s->reply.action;
    s->state = SS_DATA;
    /* tags decided before the transaction belong to every message */
    if (edits_begin_message(s) != 0 || message_begin(s) != 0)
        return reply_no_memory(s, STAGE_DATA);
    /* the message is this session's when its end is checked here (not in
     * qmail-smtpd's envelope session: policy-queue's session has it) */
    s->msg_open = s->e->metrics_on && (s->stage_mask & (1u << STAGE_EOM));
    return finish(s, STAGE_DATA, stick(s, STAGE_DATA, run_layers(s, STAGE_DATA, NULL)));
}

/* data_phase - the checks shared by header, body and eom. */
static policy_action data_phase(policy_session *s, enum stage st)
{
    if (s->sticky.set)
        return reply_replay(s, &s->sticky);
    return finish(s, st, stick(s, st, run_layers(s, st, NULL)));
}

static policy_action header_hooks(policy_session *s)
{
    s->last_stage = POLICY_STAGE_HEADER;
    policy_action a = data_phase(s, STAGE_HEADER);
    s->msg.now.name = s->msg.now.value = NULL; /* the caller's strings are not ours after return */
    return a;
}

policy_action policy_header(policy_session *s, const char *name, const char *value)
{
    if (!s)
        return POLICY_TEMPFAIL;
    if (stage_begin(s, CALL_HEADER, STAGE_HEADER))
        return s->reply.action;
    if (s->msg.split_started)
        return out_of_order(s, STAGE_HEADER, "header after a raw message");
    if (s->sticky.set)
        return reply_replay(s, &s->sticky);
    int r = message_header(s, name ? name : "", value ? value : "");
    if (r != 0)
        return message_trouble(s, STAGE_HEADER, r);
    return header_hooks(s);
}

/* body_chunk - body bytes, counted, kept and checked. */
static policy_action body_chunk(policy_session *s, const void *chunk, size_t len)
{
    s->state = SS_BODY;
    s->last_stage = POLICY_STAGE_BODY;
    if (s->sticky.set)
        return reply_replay(s, &s->sticky);
    int r = message_body(s, chunk, len);
    if (r != 0)
        return message_trouble(s, STAGE_BODY, r);
    policy_action a = data_phase(s, STAGE_BODY);
    s->msg.chunk = NULL;
    s->msg.chunk_len = 0;
    return a;
}

policy_action policy_body(policy_session *s, const void *chunk, size_t len)
{
    if (!s)
        return POLICY_TEMPFAIL;
    if (stage_begin(s, CALL_BODY, STAGE_BODY))
        return s->reply.action;
    if (!chunk && len)
        return out_of_order(s, STAGE_BODY, "NULL body chunk");
    if (s->msg.split_started)
        return out_of_order(s, STAGE_BODY, "body chunk after a raw message");
    return body_chunk(s, chunk, len);
}

policy_action policy_message(policy_session *s, const void *chunk, size_t len)
{
    if (!s)
        return POLICY_TEMPFAIL;
    if (stage_begin(s, CALL_MESSAGE, s->msg.split_done ? STAGE_BODY : STAGE_HEADER))
        return s->reply.action;
    if (!chunk && len)
        return out_of_order(s, STAGE_BODY, "NULL message chunk");
    if (s->msg.nheaders && !s->msg.split_started)
        return out_of_order(s, STAGE_BODY, "raw message after header calls");
    const char *p = chunk;
    if (!s->msg.split_done) {
        if (s->sticky.set)
            return reply_replay(s, &s->sticky);
        size_t used;
        policy_action a = message_split(s, p, len, &used, header_hooks);
        if (a != POLICY_CONTINUE)
            return a;
        if (s->msg.too_big || s->msg.spool_failed)
            return message_trouble(s, STAGE_HEADER,
                                   s->msg.too_big ? MESSAGE_TOO_BIG : MESSAGE_FAILED);
        if (!s->msg.split_done)
            return reply_ok(s, STAGE_HEADER);
        p += used;
        len -= used;
        if (!len) /* the empty line after the headers: the body starts next */
            return reply_ok(s, STAGE_HEADER);
    }
    return body_chunk(s, p, len);
}

/* message_done - the end of the message: its event, with the verdict. */
static policy_action message_done(policy_session *s, policy_action a)
{
    if (s->msg_open)
        metrics_message(s, STAGE_EOM, a == POLICY_CONTINUE ? "accept" : policy_action_name(a));
    return a;
}

policy_action policy_eom(policy_session *s)
{
    if (!s)
        return POLICY_TEMPFAIL;
    if (stage_begin(s, CALL_EOM, STAGE_EOM))
        return s->reply.action;
    s->state = SS_DONE;
    if (!s->sticky.set)
        (void)stick(s, STAGE_HEADER, message_split_end(s, header_hooks));
    if (s->sticky.set)
        return message_done(s, reply_replay(s, &s->sticky));
    message_end(s);
    /* the first phase: every layer starts its questions (clamd, spamd, DNS),
     * so that the hooks below collect answers that ran side by side */
    if (s->stage_mask & (1u << STAGE_EOM))
        for (size_t i = 0; i < layer_count; i++)
            if (layer_registry[i]->eom_start && layer_runs(s, i) && !s->conn_accepted &&
                !s->txn_accepted)
                layer_registry[i]->eom_start(s, s->e->layers[i].cfg);
    policy_action a = data_phase(s, STAGE_EOM);
    if (a == POLICY_CONTINUE || a == POLICY_ACCEPT)
        log_decision(s, STAGE_EOM, NULL, "accept", 250, "2.0.0", NULL);
    return message_done(s, a);
}

unsigned policy_last_stage(const policy_session *s)
{
    return s ? s->last_stage : 0;
}
