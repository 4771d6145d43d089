/*
 * layer.h - the contract between the core and a layer: what a layer
 * declares (its descriptor: configuration, hooks per stage, content events,
 * what it needs and which variables it reads) and what it may ask of the
 * session (the client, the envelope, the message, and the core's services:
 * client facts, the resolver, the poll set, edits, logging).
 *
 * A layer includes this header and support/ headers, never another layer
 * and never core.h: the session is opaque to it.  Not installed.
 */
#ifndef LIBPOLICY_LAYER_H
#define LIBPOLICY_LAYER_H

#include <stddef.h>
#include <stdint.h>

#include "../util/util.h"
#include "libpolicy/policy.h"

#define POLICY_TEXT_MAX   400 /* reply text, API.md */
#define POLICY_REASON_MAX 400 /* log detail */
#define POLICY_HELO_MAX   255 /* longer HELO names are cut, never trusted */
#define POLICY_HOST_MAX   255
#define POLICY_USER_MAX   256
/* Limits of an SMTP session (the envelope stages run here): a client gets
 * 4xx/5xx past them.  Where the MTA already accepted the envelope (its
 * stages do not run: POLICY_STAGES=content) addresses and recipients are
 * taken as given, bounded by the envelope the MTA holds itself. */
#define POLICY_ADDR_MAX  512 /* RFC 5321 path is 256; leave room for junk we log */
#define POLICY_MAX_RCPTS 10000

/* ---------------------------------------------------------------- stages */

/* Same order as the POLICY_STAGE_* bits of the public header. */
enum stage {
    STAGE_CONNECT,
    STAGE_HELO,
    STAGE_AUTH,
    STAGE_MAIL,
    STAGE_RCPT,
    STAGE_DATA,
    STAGE_HEADER,
    STAGE_BODY,
    STAGE_EOM,
    STAGE_COUNT
};

const char *stage_name(enum stage st);

/* ---------------------------------------------------------------- checks */

/* What a check reports.  Deciding is separate from enforcing: the layer's
 * configured action turns MATCH into a verdict, on_error turns ERROR. */
enum check {
    CHECK_NOMATCH = 0, /* nothing to object to */
    CHECK_MATCH,       /* the layer objects; see the finding */
    CHECK_ERROR,       /* temporary failure: cannot tell now */
    CHECK_ACCEPT,      /* allowlisted: skip the rest of this scope's checks */
    CHECK_PENDING      /* questions asked, verdict not needed yet: the core calls the
                        * hook again, with session_may_defer() false, before the
                        * remembered verdicts are enforced (first RCPT) */
};

/* The configured consequence of a MATCH, weakest first; LA_DISCARD (accept
 * and drop) only for layers with LAYER_DISCARD, at end of message. */
enum layer_action { LA_OFF = 0, LA_WARN, LA_TAG, LA_TEMPFAIL, LA_REJECT, LA_DISCARD };
enum on_error { OE_TEMPFAIL = 0, OE_ACCEPT };

const char *layer_action_name(enum layer_action a);
int layer_action_parse(const char *s, enum layer_action *out);

/* What a check fills in when it reports MATCH or ERROR.  Strings are
 * copied and sanitized by the engine; the layer may write anything. */
struct finding {
    int code;       /* reply code for MATCH: 5xx (or 4xx for "try later" limits) */
    char xcode[12]; /* "5.7.1" */
    char text[POLICY_TEXT_MAX + 1];
    char reason[POLICY_REASON_MAX + 1];
    int disconnect;      /* ask the client to go away (421 / 554 + close) */
    int customer_exempt; /* a later AUTH lifts this verdict (inbound checks) */
    int no_delay;        /* enforce now even when verdicts are delayed to RCPT */
    int no_discard;      /* not a detection (the message could not be checked whole):
                          * action = discard rejects it instead of dropping it */
    /* action = tag: the header to add (default "X-Policy-Tag: LAYER; REASON");
     * pointers valid until the hook returns */
    const char *tag_name, *tag_value;
};

/* finding_set - fill a finding in one call; text is printf-style. */
void finding_set(struct finding *f, int code, const char *xcode, const char *fmt, ...)
    POLICY_PRINTF(4, 5);
void finding_reason(struct finding *f, const char *fmt, ...) POLICY_PRINTF(2, 3);

/* ------------------------------------------------------------ descriptors */

struct layer_common {
    enum layer_action action;
    enum on_error on_error;
    int delay_reject; /* -1: follow [general] */
};

/* One check hook: read what the stage recorded from the session, report. */
typedef enum check (*layer_hook)(policy_session *s, const void *cfg, struct finding *f);

struct mime_part;
struct mime_header;
struct store;
struct store_batch;
struct p0f_answer;

/* Content events, from the one MIME parse of the message (support/mime.h):
 * every layer that asked gets the same events; verdicts come at EOM. */
struct layer_content {
    void (*part_begin)(policy_session *s, const void *cfg, const struct mime_part *p);
    void (*header)(policy_session *s, const void *cfg, const struct mime_part *p,
                   const struct mime_header *h); /* NEED_MIME_HEADERS */
    void (*body)(policy_session *s, const void *cfg, const struct mime_part *p,
                 const unsigned char *data, size_t len); /* NEED_BODY */
    void (*text)(policy_session *s, const void *cfg, const struct mime_part *p, const char *utf8,
                 size_t len); /* NEED_TEXT */
    void (*part_end)(policy_session *s, const void *cfg, const struct mime_part *p);
};

#define LAYER_INBOUND 0x1 /* does not apply to customers */
#define LAYER_OPTIN   0x2 /* off unless its section appears in the configuration */
#define LAYER_DISCARD 0x4 /* may be configured action = discard: the MTA accepts the
                           * message and drops it (end-of-message verdicts only; a
                           * MATCH at any other stage is rejected instead) */

/* What a layer needs from the message service (layer_desc.needs).  The
 * core builds, per message, only what the enabled layers need. */
#define NEED_SPOOL        0x01 /* the raw message kept to be read again (message_read) */
#define NEED_MIME         0x02 /* part events: part_begin / part_end */
#define NEED_MIME_HEADERS 0x04 /* every header of every part */
#define NEED_BODY         0x08 /* decoded body bytes of every part */
#define NEED_TEXT         0x10 /* UTF-8 text of the text parts, HTML reduced */

/*
 * A layer module.  The engine parses the common keys (action, on_error,
 * delay_reject) itself and hands every other key of the layer's section to
 * set(); after the whole file was read, load() compiles and opens what the
 * keys named.  Nothing in cfg changes after load(): hooks get it const.
 */
struct layer_desc {
    const char *name;
    unsigned flags;
    enum layer_action default_action;
    size_t cfg_size;
    void (*defaults)(void *cfg);
    /* 0 ok, -1 error (err set), CFG_UNKNOWN_KEY when the key is not the layer's */
    int (*set)(void *cfg, const char *key, const char *value, struct cfg_err *err);
    /* after parsing: 0, or -1 with err set; key names the key at fault (or NULL) */
    int (*load)(void *cfg, const policy_engine *e, struct cfg_err *err, const char **key);
    void (*free)(void *cfg);
    /* per-session state: size, and a reset at the start of every transaction */
    size_t state_size;
    void (*txn_reset)(void *state);
    /* optional: release what the state holds, at policy_session_free() */
    void (*state_free)(policy_session *s, void *state);
    layer_hook hooks[STAGE_COUNT];
    /* optional: the first phase of end of message - start the questions
     * (clamd, spamd, DNS) whose answers hooks[STAGE_EOM] collects, so the
     * layers' questions run side by side */
    void (*eom_start)(policy_session *s, const void *cfg);
    /* content events (with NEED_MIME and friends in needs) */
    struct layer_content content;
    /* NEED_* bits; needs_of (optional) narrows them for a configuration */
    unsigned needs;
    unsigned (*needs_of)(const void *cfg);
    /* optional: the stages (1u << STAGE_x) where this configuration has work
     * to do, for policy_engine_stages(); NULL means every hooked stage */
    unsigned (*stages)(const void *cfg);
    /* the keys that take a list (NULL-terminated, or NULL for none): they may
     * be repeated and continued on indented lines; any other key given twice
     * is a configuration error */
    const char *const *list_keys;
    /* the per-client variables (tcprules/environment) it reads, NULL-terminated */
    const char *const *vars;
    /* Optional, for a layer that keeps state in a store (support/store.h):
     * store_of names the store of a configuration (NULL: none now).
     * store_queue queues the operations the layer's hook at stage st will
     * read into b, under the layer's name as namespace.  When the first
     * such layer that runs at st is reached (every layer before it let the
     * client on), the core calls store_queue of each of them, runs all
     * their operations as one batch per store (one LMDB transaction, one
     * Redis round trip), then calls their hooks in order; a hook reads its
     * results with store_result() until the stage ends, and never answers
     * CHECK_PENDING.  b is NULL when the session cannot reach the store
     * (out of memory): the hook then reports CHECK_ERROR. */
    struct store *(*store_of)(const void *cfg);
    void (*store_queue)(policy_session *s, const void *cfg, enum stage st, struct store_batch *b);
};

/* A layer refers to its own descriptor only (session_layer_state and
 * friends); each file declares its own at the top. */

/* ------------------------------------------------------------ the session, for layers */

/* The connection scope: facts about the client, valid for the session. */
struct client {
    char ip[64];            /* canonical text; "unknown" when the MTA does not know it */
    int ip_valid;           /* ip, family and addr hold the client's address */
    int ip_unknown;         /* the caller said it does not know the address */
    int family;             /* AF_INET or AF_INET6 */
    unsigned char addr[16];
    char host[POLICY_HOST_MAX + 1]; /* PTR name (or the MTA's); "" unknown */
    char helo[POLICY_HELO_MAX + 1];
    int helo_given;
    char auth_user[POLICY_USER_MAX + 1];
    int authenticated;
    int customer;             /* RELAYCLIENT, auth or trusted network */
    const char *customer_why; /* "relayclient", "auth", "trusted", ... */
    int early_talker;         /* the adapter saw input before its greeting */
    int pipelined;            /* ... or a command before its reply, where none may come */
    char os[64];              /* p0f's name for its OS ("Windows 7 or 8"), "" unknown:
                               * filled in when the answer is in (client_os) */
};

/* The transaction scope: the envelope, reset by RSET, MAIL and EHLO. */
struct txn {
    const char *sender;       /* without <>; "" null sender; NULL before MAIL */
    const char *const *rcpts; /* accepted recipients */
    size_t nrcpts;
    size_t rcpts_tried; /* every RCPT, accepted or not */
    const char *rcpt;   /* the RCPT being checked now */
};

/* The header being checked now (STAGE_HEADER), valid during the hook. */
struct header {
    const char *name;
    const char *value;
};

const struct client *session_client(const policy_session *s);
const struct txn *session_txn(const policy_session *s);
const struct header *session_header(const policy_session *s);
/* session_body - the body chunk being checked now (STAGE_BODY). */
const unsigned char *session_body(const policy_session *s, size_t *len);

/* The [general] settings layers read. */
struct general_cfg {
    char *dns_servers;
    unsigned long dns_timeout_ms; /* each DNS question gives up after this */
    char *tcprules;
    char *hostname; /* for headers; default: gethostname() */
    char *tmpdir;   /* spool files; default $TMPDIR or /tmp */
    char *store;    /* the state store's URI (support/store.h), NULL: none */
    char *p0f;      /* p0f's API socket (client_os), NULL: none */
    unsigned long p0f_timeout_ms;
    uint64_t message_size_limit; /* hard cap of a message, 0 none */
    uint64_t spool_memory;       /* bytes of a message kept in memory before a file */
    int delay_reject;
    int log_level;
    int log_facility;
    int lazy; /* POLICY_OPEN_LAZY: compile and open what can wait on first use */
    int store_metrics; /* count metrics in the store (needs store) */
};
const struct general_cfg *session_general(const policy_session *s);
/* engine_general - the same from an engine (load-time callbacks). */
const struct general_cfg *engine_general(const policy_engine *e);

/* session_layer_cfg / session_layer_state - layer d's configuration, and
 * this session's state block for it (zeroed at session start, txn_reset()
 * at every transaction). */
const void *session_layer_cfg(const policy_session *s, const struct layer_desc *d);
void *session_layer_state(policy_session *s, const struct layer_desc *d);
/* engine_layer_cfg - the same from an engine (load-time callbacks). */
const void *engine_layer_cfg(const policy_engine *e, const struct layer_desc *d);
/* engine_layer_configured - does layer d's section appear in the file (an
 * opt-in layer without one is off, and its load() may ask less)? */
int engine_layer_configured(const policy_engine *e, const struct layer_desc *d);

/* session_rcpt_addr - the RCPT being checked, parsed once for every layer
 * (support/address.h); *status is its enum addr_status. */
struct addr;
const struct addr *session_rcpt_addr(policy_session *s, int *status);

/* session_may_defer - may layer d answer CHECK_PENDING at stage st (its
 * verdict would only be remembered for RCPT anyway)?  0 while harvesting. */
int session_may_defer(const policy_session *s, const struct layer_desc *d, enum stage st);

/* session_layer_action - the effective action of layer d for this client:
 * LA_OFF when configured off or switched off by a variable. */
enum layer_action session_layer_action(const policy_session *s, const struct layer_desc *d);
/* session_layer_on_error - layer d's on_error: a layer that asks several
 * servers can let the ones that answered decide (OE_ACCEPT). */
enum on_error session_layer_on_error(const policy_session *s, const struct layer_desc *d);
/* session_open - connect let the client in and no verdict closed it. */
int session_open(const policy_session *s);
/* session_at_greeting - the moment of the greeting: connect let the client
 * in, nothing came since (no HELO) and the connection is not allowlisted. */
int session_at_greeting(const policy_session *s);
/* session_early_talker - the client spoke before the greeting: record it
 * (a client fact) and run layer d's connect hook on it now.  Returns the
 * reply's action; a report after the greeting is a caller error (451). */
policy_action session_early_talker(policy_session *s, const struct layer_desc *d);
/* session_pipelined - the client sent a command before the reply to its
 * last one where it may not (no PIPELINING offered, or after a command
 * that ends a group): record it (client->pipelined) and run layer d's
 * connect hook on it now (a verdict is remembered for RCPT like any
 * connect verdict).  Returns the reply's action; before the greeting or
 * after the connection closed it is a caller error (451). */
policy_action session_pipelined(policy_session *s, const struct layer_desc *d);

/* session_add_edit - queue a header edit for this transaction (or for the
 * connection, when no transaction is open).  Returns 0 or -1 (no memory). */
int session_add_edit(policy_session *s, policy_edit_kind kind, const char *name, const char *value);
/* session_add_edit_at - the same for header number index (from 1, as
 * message_headers() counts those of that name) for CHANGE and DELETE. */
int session_add_edit_at(policy_session *s, policy_edit_kind kind, const char *name,
                        unsigned index, const char *value);

/* ------------------------------------------------------------ services */

/* Facts one layer establishes for others (no layer calls another): the
 * SPF result "spf" (pass, fail, softfail, neutral, none, temperror,
 * permerror) and its domain "spf_domain" for the transaction; "dnswl"
 * (the zone) when a DNS allowlist listed the client; "greet_delay" (ms)
 * when a layer slows the client down ([rate] over_delay, applied by
 * [botnet]'s greeting delay).  A fact lasts for the
 * connection or for the transaction it was set in.  Names under 32 bytes,
 * values sanitized and cut at 256; set returns 0, or -1 (bad name, full). */
enum fact_scope { FACT_CONNECTION = 1, FACT_TRANSACTION };
int session_fact_set(policy_session *s, enum fact_scope scope, const char *name, const char *value);
/* session_fact - the value, or NULL when no layer established it. */
const char *session_fact(const policy_session *s, const char *name);

/* The session's resolver (one c-ares channel) and poll set, created on
 * first use; NULL (logged) when they cannot be created. */
struct dns *session_dns(policy_session *s);
struct waiter *session_waiter(policy_session *s);
/* The state service (support/store.h).  engine_store - the store of
 * [general] store (NULL when none is configured); a layer with a store of
 * its own opens it in load() (store_open) and closes it in free().
 * session_store_conn - this session's connection to st (on the session's
 * poll set, made on first use, freed with the session); NULL when st is
 * NULL or out of memory. */
struct store_conn;
struct store *engine_store(const policy_engine *e);
struct store_conn *session_store_conn(policy_session *s, struct store *st);
/* layer_store_open - a section's "store = URI" (set()): the store of URI
 * into *own (closing what was there); 0, or -1 with err set.  The layer
 * closes it in free().
 * layer_store - in load(): the store the layer uses, its own (whose log
 * then goes to the engine's) or else [general] store; NULL when none. */
int layer_store_open(const char *uri, struct store **own, struct cfg_err *err);
struct store *layer_store(const policy_engine *e, struct store *own);

/* session_dns_peek - the resolver if the session has one, else NULL: for
 * handing questions back without creating a resolver to do it. */
struct dns *session_dns_peek(const policy_session *s);

/* client_ptr - the client's PTR name, shared by every layer that needs it:
 * starts the lookup (once per session) and calls fn(s, arg) when the name
 * is known or known to be missing (at once when it is).  A host name the
 * MTA gave counts as found.  0, or -1 when no lookup can be made. */
int client_ptr(policy_session *s, void (*fn)(policy_session *s, void *arg), void *arg);
/* client_ptr_wait - wait (bounded by its deadline) for that lookup. */
void client_ptr_wait(policy_session *s);
/* client_ptr_result - its outcome (enum dns_status), the reason when it
 * failed, and every name it gave (*names: n entries). */
int client_ptr_result(const policy_session *s, const char *const **names, size_t *n,
                      const char **why);
/* client_os - the client's OS as p0f sees it ([general] p0f): the core asks
 * at connect, for every client with an address, so that the answer comes
 * in with the other connect-time questions; this waits for it (bounded by
 * [general] p0f_timeout) and returns it: status P0F_KNOWN with os_name and
 * os_flavor, or P0F_UNKNOWN with why (p0f not running, slow, has not seen
 * the address: logged once).  NULL when no p0f is configured or the
 * session has no address to ask about. */
const struct p0f_answer *client_os(policy_session *s);
/* client_net - the client's network: its address with the bits after
 * prefix4 (IPv4) or prefix6 (IPv6) cleared, and the prefix,
 * "192.0.2.0/24" (a triplet's or a rate counter's client). */
void client_net(const struct client *cl, unsigned prefix4, unsigned prefix6, char *out,
                size_t len);
/* client_domain_is_local - is a normalized domain ("": none) one of ours
 * ([customers] local_domains, morercpthosts)? */
int client_domain_is_local(const policy_session *s, const char *domain);
/* client_rcpt_is_local - is the RCPT being checked for a local domain? */
int client_rcpt_is_local(policy_session *s);

/* The message being received (DATA to EOM). */
/* message_size - raw bytes received so far (headers and body). */
uint64_t message_size(const policy_session *s);
/* message_read - raw bytes of the message from offset off (NEED_SPOOL):
 * the count, 0 at the end, -1 on error. */
long message_read(policy_session *s, uint64_t off, void *buf, size_t len);
/* message_spool - the spool itself (NEED_SPOOL), for a scanner that wants
 * a file descriptor or the memory (support/spool.h); NULL when none. */
struct spool *message_spool(policy_session *s);
/* One header of the message as received: its name, its value (without the
 * blanks after the colon, folds kept, no line end) and where its raw bytes
 * are in the message (message_read, with NEED_SPOOL). */
struct msg_header {
    const char *name;
    const char *value;
    uint64_t raw_off;
    size_t raw_len;
};
/* message_headers - the headers of the message so far, in order: *list
 * gets them, the count is returned; valid until the transaction ends.
 * Headers past 2000 (or 1 MB of them) are checked but not kept: then
 * *complete (may be NULL) is 0. */
size_t message_headers(const policy_session *s, const struct msg_header **list, int *complete);
/* message_flags - the MIME parse's MIME_F_* flags so far (NEED_MIME). */
unsigned message_mime_flags(const policy_session *s);
/* message_memo - a per-message block of size bytes that layers share by
 * key (zeroed when first asked for, gone at the next message); NULL when
 * out of memory.  *created says whether this call made it. */
void *message_memo(policy_session *s, const void *key, size_t size, int *created);

/* ------------------------------------------------------------ metrics */

/* session_error - a service failed layer d in this check: "dns" (a
 * question timed out or the server failed), "map", "pcre", "store",
 * "clamd", "spamd"...  (a static string).  Counted per layer and service
 * for the metrics sink; call it once per check that saw the failure,
 * whatever the check then reports.  The core times every check itself. */
void session_error(policy_session *s, const struct layer_desc *d, const char *service);

/* ------------------------------------------------------------ logging */

/* plog - one log line through the engine's sink, with client context. */
void plog(const policy_session *s, int level, const char *fmt, ...) POLICY_PRINTF(3, 4);
/* elog - an engine-level line (no session). */
void elog(const policy_engine *e, int level, const char *fmt, ...) POLICY_PRINTF(3, 4);

#endif /* LIBPOLICY_LAYER_H */
