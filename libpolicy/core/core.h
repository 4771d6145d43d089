/*
 * core.h - the core's private structures: the engine, the session with its
 * three scopes (connection, transaction, message), and the functions the
 * core's files share.  Layers never include it (they see layer.h).
 */
#ifndef LIBPOLICY_CORE_H
#define LIBPOLICY_CORE_H

#include <stdatomic.h>

#include "layer.h"

/* What a transaction keeps: headers past these are checked, never copied;
 * edits past POLICY_MAX_EDITS (per transaction, and per connection) are
 * dropped and logged, and an edit already there is not added twice. */
#define POLICY_MAX_HEADERS      2000
#define POLICY_MAX_HEADER_BYTES (1024 * 1024)
#define POLICY_MAX_EDITS        100
#define POLICY_VAR_NAME_MAX     64
#define POLICY_VAR_VALUE_MAX    1024
#define POLICY_MAX_VARS         64

/* The registry (layers/registry.c, made from layers/layers.def): the core
 * knows the layers only through it, never by name. */
extern const struct layer_desc *const layer_registry[];
extern const size_t layer_count;
/* Section names the design reserves for layers this build does not have yet. */
extern const char *const layer_reserved[];

/* ------------------------------------------------------------ engine */

struct layer_inst {
    const struct layer_desc *desc;
    struct layer_common common;
    void *cfg;
    int configured; /* the line of its section header, 0 when absent */
};

/* Line numbers of keys, so load-time errors can name their line. */
struct cfg_line {
    char *section;
    char *key;
    int line;
};

struct client_cfg; /* client.c: who is a customer, which domains are ours */
struct store;

struct policy_engine {
    atomic_int refs;
    char *path; /* NULL for built-in defaults */
    struct general_cfg general;
    struct client_cfg *client;
    struct store *store; /* [general] store, opened lazily; NULL: none */
    struct layer_inst *layers; /* layer_count entries, registry order */
    policy_log_fn log_fn;
    void *log_ctx;
    policy_metrics_fn metrics_fn;
    void *metrics_ctx;
    int metrics_on; /* a sink, or store_metrics with a store: events are made */
    struct cfg_line *lines;
    size_t nlines;
};

int engine_layer_index(const struct layer_desc *d);

/* ------------------------------------------------------------ session */

enum session_state {
    SS_NEW = 0,   /* before connect */
    SS_CONNECTED, /* greeted; HELO optional */
    SS_MAIL,      /* MAIL given */
    SS_RCPT,      /* at least one RCPT accepted */
    SS_DATA,      /* DATA given, headers may come */
    SS_BODY,      /* body chunks */
    SS_DONE,      /* eom given; reset or MAIL starts the next */
    SS_CLOSED,    /* disconnected by policy */
    SS_COUNT
};

struct var {
    char name[POLICY_VAR_NAME_MAX + 1];
    char *value; /* malloc'd */
};

/* A verdict kept for later: delayed reject (to RCPT) or sticky data verdict. */
struct verdict {
    int set;
    policy_action action;
    int code;
    char xcode[12];
    char text[POLICY_TEXT_MAX + 1];
    char reason[POLICY_REASON_MAX + 1];
    const char *layer;
    int customer_exempt;
    enum stage stage;
};

/* The client's PTR lookup, shared by every layer that needs the name. */
struct ptr_listener {
    void (*fn)(policy_session *s, void *arg);
    void *arg;
};
struct client_ptr {
    int started;
    int status; /* enum dns_status */
    const char *why;
    char **names; /* every name of the answer, in the connection arena */
    size_t nnames;
    double deadline;
    struct dns_q *q;
    struct ptr_listener listeners[8];
    size_t nlisteners;
};

/* One header of the message, as kept for the layers. */
struct msg_header {
    const char *name;
    const char *value;
    uint64_t raw_off; /* where its raw bytes start in the message */
    size_t raw_len;
};

/* A fact (facts.c); scope 0: a free slot. */
#define FACTS_MAX 16
struct fact {
    int scope; /* enum fact_scope */
    char name[32];
    char value[257];
};

struct memo;
struct mime_parser;
struct spool;

/* The message scope: DATA to the end of the message. */
struct message {
    unsigned needs;         /* NEED_* of the layers that run for this message */
    struct spool *spool;    /* the session's, reused from message to message */
    struct mime_parser *mime; /* likewise */
    unsigned char *content; /* per layer: it gets content events this message */
    uint64_t size;          /* raw bytes so far */
    int in_body;            /* the line between headers and body was seen */
    int too_big;            /* over [general] message_size_limit */
    int spool_failed;       /* the spool could not keep it (no memory, disk) */
    const char *crlf;       /* the line end of this message's headers */
    struct msg_header *headers;
    size_t nheaders, headers_cap, header_bytes;
    struct header now;       /* the header being checked */
    const unsigned char *chunk; /* the body chunk being checked */
    size_t chunk_len;
    /* policy_message: the header block split in the library */
    char *line; /* the header being gathered (folds kept), bounded */
    size_t line_len, line_cap;
    uint64_t line_off;  /* where its raw bytes start */
    int line_over;      /* it is over the limit: checked cut */
    int at_line_start;  /* the next byte starts a line */
    size_t cur_len;     /* bytes of the current line so far */
    int cur_cr;         /* ... and they are a lone CR (a blank line may follow) */
    int split_started;  /* the raw form is in use for this message */
    int split_done;     /* the header block ended: the rest is body */
    struct memo *memos;
};

struct policy_session {
    policy_engine *e;
    enum session_state state;

    /* the connection */
    struct client client;
    struct client_ptr ptr;
    int tcprules_deny; /* 1 deny, -1 unreadable */
    int conn_accepted; /* allowlisted for the whole connection */
    struct var vars[POLICY_MAX_VARS];
    size_t nvars;
    enum layer_action *laction; /* effective action per layer for this client */
    unsigned stage_mask;        /* stages whose layers run (POLICY_STAGES) */
    struct arena conn;          /* connection-scope strings */

    /* the transaction */
    struct txn txn;
    struct arena txn_arena;
    const char **rcpts; /* accepted recipients, in the txn arena (txn.rcpts) */
    size_t rcpts_cap;
    char *rcpt_buf; /* the RCPT being checked, reused: a refused RCPT costs nothing */
    size_t rcpt_buf_cap;
    struct addr *rcpt_addr; /* ... parsed once, by session_rcpt_addr() */
    int rcpt_status, rcpt_parsed;
    int txn_accepted;

    /* the message */
    struct message msg;

    struct fact facts[FACTS_MAX];

    /* verdicts remembered for RCPT (delay_reject) and the data phase */
    struct verdict pending[3]; /* connect, helo, mail */
    struct verdict sticky;     /* a data-phase verdict repeats until reset */

    /* edits: those of the connection (tags decided before MAIL) and of the txn */
    policy_edit *edits;
    size_t nedits, edits_cap;
    policy_edit *conn_edits;
    size_t nconn_edits, conn_edits_cap;

    /* per-layer session state */
    void **lstate;
    unsigned *deferred;    /* per layer: stages whose hook said CHECK_PENDING */
    unsigned deferred_any; /* union of them, maybe stale: 0 = nothing to harvest */
    int harvesting;        /* the core is collecting deferred verdicts now */
    struct waiter *waiter; /* the session's poll set, created on first use */
    struct session_conn { /* a connection per store the session uses */
        struct store *store;
        struct store_conn *conn;
    } stores[4];
    struct dns *dns;       /* the session's resolver, created on first use */

    /* the last reply and its storage */
    policy_reply reply;
    char reply_text[POLICY_TEXT_MAX + 1];
    char reply_reason[POLICY_REASON_MAX + 1];
    char reply_xcode[12];
    double stage_started; /* monotonic seconds, for duration= */
    unsigned last_stage;  /* POLICY_STAGE_* of the last reply */
    int keep_message;     /* policy_session_keep_message: spool every message */
    int msg_open;         /* metrics: DATA given, the message's event not yet made */
    struct metrics_pending *mpending; /* store_metrics: counts not yet in the store */
};

/* ------------------------------------------------------------ vars.c */

#define ENVELOPE_STAGES                                                                            \
    ((1u << STAGE_CONNECT) | (1u << STAGE_HELO) | (1u << STAGE_AUTH) | (1u << STAGE_MAIL) |        \
     (1u << STAGE_RCPT))
#define CONTENT_STAGES                                                                             \
    ((1u << STAGE_DATA) | (1u << STAGE_HEADER) | (1u << STAGE_BODY) | (1u << STAGE_EOM))

/* vars_apply - the action of each layer for this client and the stages
 * whose layers run, from the configuration and the variables. */
void vars_apply(policy_session *s);
void vars_free(policy_session *s);

/* ------------------------------------------------------------ verdict.c */

/* reply_set - the reply of this stage call; strings are copied and cleaned. */
policy_action reply_set(policy_session *s, policy_action a, int code, const char *xcode,
                        const char *text, const char *layer, const char *reason);
/* reply_ok - the reply when nobody objects. */
policy_action reply_ok(policy_session *s, enum stage st);
/* reply_refuse - a refusal by the session itself, logged. */
policy_action reply_refuse(policy_session *s, enum stage st, policy_action a, int code,
                           const char *xcode, const char *why);
/* reply_no_memory - the logged 451 when the session cannot hold what it got. */
policy_action reply_no_memory(policy_session *s, enum stage st);
policy_action reply_replay(policy_session *s, const struct verdict *v);
void verdict_fill(struct verdict *v, policy_action a, int code, const char *xcode,
                  const char *text, const char *layer, const char *reason, int customer_exempt,
                  enum stage st);
/* run_layers - every enabled layer hooked at st (only d when d is given):
 * the verdict to give now, or POLICY_CONTINUE (reply not yet set). */
policy_action run_layers(policy_session *s, enum stage st, const struct layer_desc *only);
/* harvest - collect the verdicts deferred at connect, HELO and MAIL. */
policy_action harvest(policy_session *s);
/* layer_runs - does layer i run for this session at all (action, customer)? */
int layer_runs(const policy_session *s, size_t i);

/* ------------------------------------------------------------ edits.c */

/* edit_add - an edit for the transaction (txn) or the connection; one that
 * does not fit any more is dropped and logged.  0, or -1 no memory. */
int edit_add(policy_session *s, int txn, policy_edit_kind kind, const char *name,
             const char *value);
/* edits_begin_message - the connection's edits join the transaction's. */
int edits_begin_message(policy_session *s);
void edits_free(policy_session *s);

/* ------------------------------------------------------------ client.c */

/* client_set_address - parse the MTA's spelling of the client address. */
void client_set_address(struct client *c, const char *ip, const char *host);
/* client_classify - is the client a customer (RELAYCLIENT, AUTH, trusted)? */
void client_classify(policy_session *s);
/* client_cfg_* - [customers] keys the core owns: local domains and
 * trusted networks are facts every layer may need, even with the
 * customers layer off.  client_cfg_set returns CFG_UNKNOWN_KEY for others. */
struct client_cfg *client_cfg_new(void);
int client_cfg_set(struct client_cfg *c, const char *key, const char *value, struct cfg_err *err);
int client_cfg_load(struct client_cfg *c, const policy_engine *e, struct cfg_err *err,
                    const char **key);
void client_cfg_free(struct client_cfg *c);
/* client_ptr_free - the session ends: the lookup's question goes back. */
void client_ptr_free(policy_session *s);

/* ------------------------------------------------------------ message.c */

/* message_begin - DATA: a new message, built for the layers that run. */
int message_begin(policy_session *s);
/* What message_raw and friends return besides 0. */
#define MESSAGE_TOO_BIG (-2) /* over [general] message_size_limit: nothing more kept */
#define MESSAGE_FAILED  (-3) /* the spool could not keep it (memory, disk) */
/* message_raw - the next raw bytes of the message: counted, spooled, parsed. */
int message_raw(policy_session *s, const void *p, size_t n);
/* message_header - one header the MTA gave as name and value: its raw form
 * is made (name ": " value CRLF) and kept; 0, -1 no memory, or the above. */
int message_header(policy_session *s, const char *name, const char *value);
/* message_keep_header - put a header into the list the layers see (bounded). */
int message_keep_header(policy_session *s, const char *name, size_t nl, const char *value,
                        size_t vl, uint64_t raw_off, size_t raw_len);
/* message_body - the next body bytes the MTA gave (the empty line before
 * the first); 0 or the above. */
int message_body(policy_session *s, const void *chunk, size_t len);
/* message_split - raw bytes of the message (policy_message): header lines
 * are gathered and each complete header goes to hooks (the header stage);
 * stops at the end of the header block (*used bytes taken) or at a
 * refusal.  message_split_end - the last header of a message without body. */
policy_action message_split(policy_session *s, const char *p, size_t len, size_t *used,
                            policy_action (*hooks)(policy_session *s));
policy_action message_split_end(policy_session *s, policy_action (*hooks)(policy_session *s));
/* message_end - the whole message arrived: the last events. */
void message_end(policy_session *s);
/* message_clear - forget the message (keeps the spool and the parser). */
void message_clear(policy_session *s);
void message_free(policy_session *s);

/* ------------------------------------------------------------ facts.c */

/* facts_end_transaction - forget the facts of the transaction. */
void facts_end_transaction(policy_session *s);

/* ------------------------------------------------------------ session.c */

/* txn_clear - forget the transaction: sender, recipients, message, edits. */
void txn_clear(policy_session *s);

/* ------------------------------------------------------------ metrics.c */

/* The events (policy_metric); callers test s->e->metrics_on first, so
 * that an engine without a sink does no work for them. */
void metrics_decision(policy_session *s, enum stage st, const char *layer, const char *action,
                      int code);
/* metrics_check - layer i's hook at st said r after running seconds. */
void metrics_check(policy_session *s, enum stage st, size_t i, enum check r, double seconds);
void metrics_session(policy_session *s);
/* metrics_message - the message ends (at st, with action); msg_open ends. */
void metrics_message(policy_session *s, enum stage st, const char *action);
/* metrics_flush - store_metrics: the session's counts into the store. */
void metrics_flush(policy_session *s);
/* metrics_free - flush and free what the session holds for the store. */
void metrics_free(policy_session *s);

/* ------------------------------------------------------------ log.c */

/* log_decision - the key=value decision line for the current stage. */
void log_decision(policy_session *s, enum stage st, const char *layer, const char *action, int code,
                  const char *xcode, const char *reason);
/* log_now - monotonic seconds, for duration= in log lines and check times. */
double log_now(void);

#endif /* LIBPOLICY_CORE_H */
