/*
 * internal.h - what the core, the layers and the support modules share.
 *
 * Not installed.  Defines the engine and session structures, the layer
 * descriptor every layer registers, and the small helpers (arena, bounded
 * strings, replies, logging) that keep every buffer bounded.
 */
#ifndef LIBPOLICY_INTERNAL_H
#define LIBPOLICY_INTERNAL_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "libpolicy/policy.h"

#define POLICY_TEXT_MAX   400 /* reply text, API.md */
#define POLICY_REASON_MAX 400 /* log detail */
#define POLICY_HELO_MAX   255 /* longer HELO names are cut, never trusted */
#define POLICY_HOST_MAX   255
/* Limits of an SMTP session (the envelope stages run here): a client gets
 * 4xx/5xx past them.  Where the MTA already accepted the envelope (its
 * stages do not run: POLICY_STAGES=content) addresses and recipients are
 * taken as given, bounded by the envelope the MTA holds itself. */
#define POLICY_ADDR_MAX  512 /* RFC 5321 path is 256; leave room for junk we log */
#define POLICY_MAX_RCPTS 10000
/* What a transaction keeps: headers past these are checked, never copied;
 * edits past POLICY_MAX_EDITS (per transaction, and per connection) are
 * dropped and logged, and an edit already there is not added twice. */
#define POLICY_MAX_HEADERS      2000
#define POLICY_MAX_HEADER_BYTES (1024 * 1024)
#define POLICY_MAX_EDITS        100
#define POLICY_USER_MAX         256
#define POLICY_VAR_NAME_MAX     64
#define POLICY_VAR_VALUE_MAX    1024
#define POLICY_MAX_VARS         64
#define POLICY_ERR_MAX          512

#if defined(__GNUC__)
#define POLICY_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define POLICY_HIDDEN       __attribute__((visibility("hidden")))
#else
#define POLICY_PRINTF(a, b)
#define POLICY_HIDDEN
#endif

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

/* The configured consequence of a MATCH, weakest first. */
enum layer_action { LA_OFF = 0, LA_WARN, LA_TAG, LA_TEMPFAIL, LA_REJECT };
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
};

/* finding_set - fill a finding in one call; text is printf-style. */
void finding_set(struct finding *f, int code, const char *xcode, const char *fmt, ...)
    POLICY_PRINTF(4, 5);
void finding_reason(struct finding *f, const char *fmt, ...) POLICY_PRINTF(2, 3);

/* ------------------------------------------------------------ config */

/* Where a configuration value came from, for error messages. */
struct cfg_err {
    char msg[POLICY_ERR_MAX];
};

/* cfg_fail - write a message into err; returns -1 for `return cfg_fail(...)`. */
int cfg_fail(struct cfg_err *err, const char *fmt, ...) POLICY_PRINTF(2, 3);

/* Returned by a layer's set() for a key it does not know. */
#define CFG_UNKNOWN_KEY 1

int cfg_parse_bool(const char *v, int *out);
/* cfg_set_bool - a yes/no key: 0, or -1 with "expected yes or no" in err. */
int cfg_set_bool(const char *v, int *out, struct cfg_err *err);
/* cfg_set_dns_timeout - a DNS timeout key (10ms to 5m): 0, or -1 with err. */
int cfg_set_dns_timeout(const char *v, unsigned long *ms, struct cfg_err *err);
/* cfg_set_text - a reply text: one printable ASCII line of 1 to cap-1 bytes. */
int cfg_set_text(char *dst, size_t cap, const char *v, struct cfg_err *err);
int cfg_parse_uint(const char *v, unsigned long max, unsigned long *out);
/* cfg_parse_duration - "30", "30s", "500ms", "2m", "1h" -> milliseconds. */
int cfg_parse_duration(const char *v, unsigned long *ms);

/* ------------------------------------------------------------ arena */

/* A bump allocator for strings that live as long as a scope (a connection
 * or a transaction).  Chunks never move, so pointers stay valid until reset. */
struct arena_chunk;
struct arena {
    struct arena_chunk *head;
    size_t used_total;
};
void arena_init(struct arena *a);
void *arena_alloc(struct arena *a, size_t n);
/* arena_strndup - copy at most max bytes of s (stops at NUL), NUL-terminated. */
char *arena_strndup(struct arena *a, const char *s, size_t max);
void arena_reset(struct arena *a); /* keep the first chunk, free the rest */
void arena_free(struct arena *a);

/* -------------------------------------------------------- text helpers */

/* sanitize_copy - copy src into dst (size dstlen) keeping printable ASCII,
 * turning every other byte into '?' except TAB/CR/LF which become a space;
 * never more than dstlen-1 bytes; always terminated.  Returns length. */
size_t sanitize_copy(char *dst, size_t dstlen, const char *src, size_t srclen);
/* str_ieq / str_ieqn - ASCII case-insensitive comparisons. */
int str_ieq(const char *a, const char *b);
int str_ieqn(const char *a, const char *b, size_t n);
void str_lower(char *s);

/* ------------------------------------------------------------ files */

/* file_openat - open name (relative to dirfd, or AT_FDCWD) read-only for the
 * library: never blocks (a FIFO would wait for a writer forever) and refuses
 * what is not a regular file (a FIFO, a device such as /dev/zero, a
 * directory).  The fd (close-on-exec), or -1 with "cannot open NAME: why" or
 * "NAME: not a regular file" in why (may be NULL) and errno set (ENOENT when
 * it does not exist, EINVAL when it is not a regular file). */
int file_openat(int dirfd, const char *name, char *why, size_t whylen);
int file_open(const char *path, char *why, size_t whylen);
/* file_fopen - file_open() as a stdio stream, for text files. */
FILE *file_fopen(const char *path, char *why, size_t whylen);

/* What file_line() returns besides 1 (a line) and 0 (end of file). */
#define FILE_LINE_ERROR (-1) /* read error (ferror) */
#define FILE_LINE_LONG  (-2) /* longer than the buffer: not read to its end */
#define FILE_LINE_NUL   (-3) /* a NUL byte in the line: text after it would vanish */

/* file_line - one line of fp into buf (cap bytes: at most cap-1 of text),
 * without its LF, NUL-terminated, its length in *len.  Stops at the first
 * bad byte or overlong line, so endless input (a device) costs one line. */
int file_line(FILE *fp, char *buf, size_t cap, size_t *len);

/* ------------------------------------------------------------ layers */

struct layer_common {
    enum layer_action action;
    enum on_error on_error;
    int delay_reject; /* -1: follow [general] */
};

/* One check hook: read what the stage recorded from the session, report. */
typedef enum check (*layer_hook)(policy_session *s, const void *cfg, struct finding *f);

#define LAYER_INBOUND 0x1 /* does not apply to customers */
#define LAYER_OPTIN   0x2 /* off unless its section appears in the configuration */

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
    /* optional: the stages (1u << STAGE_x) where this configuration has work
     * to do, for policy_engine_stages(); NULL means every hooked stage */
    unsigned (*stages)(const void *cfg);
    /* the keys that take a list (NULL-terminated, or NULL for none): they may
     * be repeated and continued on indented lines; any other key given twice
     * is a configuration error */
    const char *const *list_keys;
};

/* The registry: every layer this build has, in the order they run. */
extern const struct layer_desc *const layer_registry[];
extern const size_t layer_count;
/* Section names the design reserves for layers this build does not have yet. */
extern const char *const layer_reserved[];

/* The layers the core calls by index. */
extern const struct layer_desc layer_customers;
extern const struct layer_desc layer_regex;
extern const struct layer_desc layer_recipients;
extern const struct layer_desc layer_botnet;
extern const struct layer_desc layer_rdns;
extern const struct layer_desc layer_dnsbl;
extern const struct layer_desc layer_spf;

/* rdns: the client's PTR name, shared by the layers that need it.  Starts
 * the lookup (once per session) and calls fn(s, arg) when the name is
 * known or known to be missing; the name is then in s->host ("" if none),
 * unless the MTA gave one.  Returns 0, or -1 when no lookup can be made. */
int rdns_client_name(policy_session *s, void (*fn)(policy_session *s, void *arg), void *arg);
/* rdns_client_wait - wait (bounded by its deadline) for that lookup. */
void rdns_client_wait(policy_session *s);

/* ------------------------------------------------------------ engine */

struct general_cfg {
    char *dns_servers;
    unsigned long dns_timeout_ms; /* each DNS question gives up after this */
    char *tcprules;
    char *hostname; /* for headers; default: gethostname() */
    int delay_reject;
    int log_level;
    int log_facility;
};

struct dns;

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

struct policy_engine {
    atomic_int refs;
    char *path; /* NULL for built-in defaults */
    struct general_cfg general;
    struct layer_inst *layers; /* layer_count entries, registry order */
    policy_log_fn log_fn;
    void *log_ctx;
    struct cfg_line *lines;
    size_t nlines;
};

/* engine_layer_cfg - the loaded configuration of a layer, by descriptor. */
const void *engine_layer_cfg(const policy_engine *e, const struct layer_desc *d);
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
    SS_CLOSED     /* disconnected by policy */
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

struct header {
    const char *name;
    const char *value;
};

struct policy_session {
    policy_engine *e;
    enum session_state state;

    /* the client */
    char ip[64];    /* canonical text; "unknown" when the MTA does not know it */
    int ip_valid;   /* ip, family and addr hold the client's address */
    int ip_unknown; /* the caller said it does not know the address (NULL, "") */
    int family;     /* AF_INET or AF_INET6 */
    unsigned char addr[16];
    char host[POLICY_HOST_MAX + 1]; /* "" unknown */
    char helo[POLICY_HELO_MAX + 1];
    int helo_given;
    char auth_user[POLICY_USER_MAX + 1];
    int authenticated;
    int customer; /* RELAYCLIENT, auth or trusted network */
    const char *customer_why;
    int tcprules_deny; /* 1 deny, -1 unreadable */
    int conn_accepted; /* allowlisted for the whole connection */
    int early_talker;  /* the adapter saw input before its greeting */

    struct var vars[POLICY_MAX_VARS];
    size_t nvars;
    enum layer_action *laction; /* effective action per layer for this client */
    unsigned stage_mask;        /* stages whose layers run (POLICY_STAGES) */

    /* the transaction */
    struct arena txn;
    char *sender;       /* normalized: without <>; "" null sender; NULL before MAIL */
    const char **rcpts; /* accepted recipients, in txn arena */
    size_t nrcpts, rcpts_cap;
    size_t rcpts_tried; /* every RCPT, accepted or not */
    const char *rcpt;   /* the RCPT being checked now (rcpt_buf until accepted) */
    char *rcpt_buf;     /* ... copied here, reused: a refused RCPT costs nothing */
    size_t rcpt_buf_cap;
    struct addr *rcpt_addr; /* ... parsed once, by session_rcpt_addr() */
    int rcpt_status, rcpt_parsed;
    const char *hdr_name, *hdr_value; /* the header being checked now (during the call) */
    struct header *headers;
    size_t nheaders, headers_cap, header_bytes;
    const unsigned char *body_chunk; /* the chunk being checked now */
    size_t body_len, body_total;
    int txn_accepted;

    /* verdicts remembered for RCPT (delay_reject) and the data phase */
    struct verdict pending[3]; /* connect, helo, mail */
    struct verdict sticky;     /* a data-phase verdict repeats until reset */

    /* edits: those of the connection (tags decided before MAIL) and of the txn */
    policy_edit *edits;
    size_t nedits, edits_cap;
    struct arena conn; /* connection-scope strings */
    policy_edit *conn_edits;
    size_t nconn_edits, conn_edits_cap;

    /* per-layer session state */
    void **lstate;
    unsigned *deferred;    /* per layer: stages whose hook said CHECK_PENDING */
    unsigned deferred_any; /* union of them, maybe stale: 0 = nothing to harvest */
    int harvesting;        /* the core is collecting deferred verdicts now */
    struct dns *dns;       /* the session's resolver, created on first use */

    /* the last reply and its storage */
    policy_reply reply;
    char reply_text[POLICY_TEXT_MAX + 1];
    char reply_reason[POLICY_REASON_MAX + 1];
    char reply_xcode[12];
    double stage_started; /* monotonic seconds, for duration= */
};

/* session_layer_state - this session's state block for layer d (zeroed at
 * session start, txn_reset() at every transaction). */
void *session_layer_state(policy_session *s, const struct layer_desc *d);

/* session_rcpt_addr - the RCPT being checked, parsed once for every layer
 * (support/address.h); *status is its enum addr_status. */
struct addr;
const struct addr *session_rcpt_addr(policy_session *s, int *status);

/* session_dns - the session's resolver (one c-ares channel), created on
 * first use; NULL (logged) when it cannot be created. */
struct dns *session_dns(policy_session *s);

/* session_may_defer - may layer d answer CHECK_PENDING at stage st (its
 * verdict would only be remembered for RCPT anyway)?  0 while harvesting. */
int session_may_defer(const policy_session *s, const struct layer_desc *d, enum stage st);

/* session_add_edit - queue a header edit for this transaction (or for the
 * connection, when no transaction is open).  Returns 0 or -1 (no memory). */
int session_add_edit(policy_session *s, policy_edit_kind kind, const char *name, const char *value);

/* ------------------------------------------------------------ logging */

/* plog - one log line through the engine's sink, with client context. */
void plog(const policy_session *s, int level, const char *fmt, ...) POLICY_PRINTF(3, 4);
/* elog - an engine-level line (no session). */
void elog(const policy_engine *e, int level, const char *fmt, ...) POLICY_PRINTF(3, 4);
/* log_decision - the key=value decision line for the current stage. */
void log_decision(policy_session *s, enum stage st, const char *layer, const char *action, int code,
                  const char *xcode, const char *reason);

/* log_now - monotonic seconds, for duration= in log lines. */
double log_now(void);

/* ------------------------------------------------------------ support */

/* customers: classify the client (trusted networks, RELAYCLIENT, auth). */
void customers_classify(policy_session *s);
/* customers_rcpt_is_local - is the RCPT being checked for a local domain? */
int customers_rcpt_is_local(policy_session *s);
/* customers_domain_is_local - is a normalized domain ("": none) a local domain? */
int customers_domain_is_local(const policy_engine *e, const char *domain);

/* botnet: the greeting delay for this client in ms; *why says why. */
unsigned long botnet_greet_delay(policy_session *s, const void *cfg, const char **why);
/* botnet: the session time limit (seconds) and receive throttle (bytes/s). */
unsigned long botnet_session_limit(const policy_session *s, const void *cfg);
unsigned long botnet_throttle(const policy_session *s, const void *cfg);

/* tcprules: look ip/host/info up in an open cdb the way tcpserver does and
 * call fn(name, value, ctx) for each +NAME=value of the first rule found.
 * Returns 0 not found, 1 found (allow), 2 found (deny), -1 read error. */
int tcprules_lookup_fd(int fd, const char *ip, const char *host, const char *info,
                       void (*fn)(const char *name, const char *value, void *ctx), void *ctx);

#endif /* LIBPOLICY_INTERNAL_H */
