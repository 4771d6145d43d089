/*
 * libpolicy - SMTP-time mail policy, stage by stage.
 *
 * The one public header.  An MTA (or an adapter: policy-milter, policy-queue,
 * the qmail-smtpd patch) opens one engine from a configuration file, creates
 * one session per client connection and calls the stage functions in the
 * order of the SMTP conversation.  Each stage returns an action; the reply
 * that goes with it is read with policy_last_reply().
 *
 * Threads: an engine is immutable after policy_engine_open() returns (apart
 * from policy_engine_set_log() and policy_engine_set_metrics(), which must
 * be called before the engine is shared) and may be used by any number of threads at once.  A session
 * belongs to one thread at a time.  The library owns no threads, no event
 * loop and no global mutable state; it never prints, exits or aborts.
 */
#ifndef LIBPOLICY_POLICY_H
#define LIBPOLICY_POLICY_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && __GNUC__ >= 4
#define POLICY_API __attribute__((visibility("default")))
#else
#define POLICY_API
#endif

typedef struct policy_engine policy_engine;   /* opaque, immutable, thread-safe */
typedef struct policy_session policy_session; /* opaque, one connection, one thread at a time */

typedef enum policy_action {
    POLICY_CONTINUE = 0, /* no objection: go on with the conversation */
    POLICY_ACCEPT,       /* accept; skip the remaining checks of this transaction */
    POLICY_TEMPFAIL,     /* 4xx */
    POLICY_REJECT,       /* 5xx */
    POLICY_DISCARD,      /* accept and drop: only where configured ([virus] action =
                          * discard), at end of message: reply 250, hand nothing on */
    POLICY_DISCONNECT    /* 421 and close the connection */
} policy_action;

typedef struct policy_reply {
    policy_action action;
    int code;           /* SMTP reply code, e.g. 250 450 451 452 550 553 554 421 */
    const char *xcode;  /* RFC 3463 enhanced status code, e.g. "5.7.1" */
    const char *text;   /* one printable ASCII line, no CR/LF, at most 400 bytes */
    const char *layer;  /* the layer that decided: "rdns" "dnsbl" "recipients" ... */
    const char *reason; /* detail for the log (printable ASCII, bounded) */
} policy_reply;

/* The library version, "MAJOR.MINOR.PATCH".  Static storage. */
POLICY_API const char *policy_version(void);

/* Printable name of an action: "continue", "accept", "tempfail", "reject",
 * "discard", "disconnect".  Static storage. */
POLICY_API const char *policy_action_name(policy_action a);

/*
 * Engine.
 *
 * policy_engine_open - read the configuration and load everything it names.
 * NULL path: the built-in defaults, which need no file.  On failure returns
 * NULL and writes one line naming file, line, section and key into err
 * (always NUL-terminated when errlen > 0).  The caller owns one reference
 * and drops it with policy_engine_unref().  Reloading = open a new engine
 * and swap; sessions keep the engine they were created with.
 */
POLICY_API policy_engine *policy_engine_open(const char *config_path, char *err, size_t errlen);
/*
 * policy_engine_open_flags - policy_engine_open() with flags:
 * POLICY_OPEN_LAZY, for a process that checks one message or connection
 * and exits (policy-queue, qmail-smtpd): what can wait until it is needed
 * is not done at open - regular expressions ([regex]) are compiled each
 * when it first has to run, without JIT.  A pattern that does not compile
 * is then found only when it runs: that check is a temporary error
 * (on_error), logged with the file and line.  Check a configuration with
 * an engine opened without the flag (policyctl, policy-milter -T).
 */
#define POLICY_OPEN_LAZY 0x1u
POLICY_API policy_engine *policy_engine_open_flags(const char *config_path, unsigned flags,
                                                   char *err, size_t errlen);
/* policy_engine_ref - take one more reference; returns e.  Any thread. */
POLICY_API policy_engine *policy_engine_ref(policy_engine *e);
/* policy_engine_unref - drop a reference; frees the engine at zero. NULL is ok. */
POLICY_API void policy_engine_unref(policy_engine *e);

/* Stages as bits, for policy_engine_stages(). */
enum {
    POLICY_STAGE_CONNECT = 1u << 0,
    POLICY_STAGE_HELO = 1u << 1,
    POLICY_STAGE_AUTH = 1u << 2,
    POLICY_STAGE_MAIL = 1u << 3,
    POLICY_STAGE_RCPT = 1u << 4,
    POLICY_STAGE_DATA = 1u << 5,
    POLICY_STAGE_HEADER = 1u << 6,
    POLICY_STAGE_BODY = 1u << 7,
    POLICY_STAGE_EOM = 1u << 8
};

/*
 * policy_engine_stages - the stages at which some layer of e has work to do
 * (its configured action is not off and its configuration gives it
 * something to check), as POLICY_STAGE_* bits; RCPT whenever connect, HELO
 * or MAIL has work, since their verdicts are given there.  Adapters use it to skip
 * work: the milter does not ask the MTA for headers or the body when no bit
 * of HEADER or BODY is set.  A per-client variable cannot add a stage a
 * layer switched off in the file does not have: switch a layer off per
 * client (POLICY_<LAYER>=off), not on.  Stages must still be called in
 * order; skipping HEADER and BODY is always allowed.  Any thread.
 */
POLICY_API unsigned policy_engine_stages(const policy_engine *e);

/* Log levels, numerically equal to syslog(3) priorities. */
enum {
    POLICY_LOG_ERR = 3,
    POLICY_LOG_WARNING = 4,
    POLICY_LOG_NOTICE = 5,
    POLICY_LOG_INFO = 6,
    POLICY_LOG_DEBUG = 7
};

/* A log sink: one line, no newline, key=value pairs.  Called from whichever
 * thread runs the session; must be thread-safe if sessions run in parallel. */
typedef void (*policy_log_fn)(int level, const char *line, void *ctx);

/*
 * policy_engine_set_log - send the engine's log lines to fn instead of
 * syslog(LOG_MAIL).  fn NULL restores syslog.  Call it right after
 * policy_engine_open(), before the engine is shared with other threads.
 */
POLICY_API void policy_engine_set_log(policy_engine *e, policy_log_fn fn, void *ctx);

/*
 * Metrics.  Like the log, a sink: the engine reports what happens as
 * events and the caller adds them up (policy-milter serves them to
 * Prometheus).  Without a sink the engine does no work for them.
 *
 * POLICY_METRIC_DECISION - one decision line was logged (whatever the log
 *   level): stage, layer, action and code are the line's own.
 * POLICY_METRIC_CHECK - one check of a layer ran (one call of its hook):
 *   stage, layer, action = its result ("match", "nomatch", "error",
 *   "accept" or "pending": questions asked, answered at the first RCPT,
 *   which is a second check), seconds = how long it ran.
 * POLICY_METRIC_ERROR - a service failed a layer (once per check that saw
 *   it fail): layer, service ("dns", "map", "pcre", "store", "clamd",
 *   "spamd" ...).
 * POLICY_METRIC_SESSION - a client connection began (the connect stage
 *   ran; not for the content-only sessions of policy-queue).
 * POLICY_METRIC_MESSAGE - a message ended: stage "eom" and action its
 *   verdict ("accept", "reject", "tempfail", "discard", "disconnect"), or
 *   stage "data" and action "abort" when the transaction ended before the
 *   end of the message (RSET, a refusal during DATA); bytes = its size.
 */
typedef enum policy_metric_kind {
    POLICY_METRIC_DECISION = 1,
    POLICY_METRIC_CHECK,
    POLICY_METRIC_ERROR,
    POLICY_METRIC_SESSION,
    POLICY_METRIC_MESSAGE
} policy_metric_kind;

typedef struct policy_metric {
    policy_metric_kind kind;
    const char *stage;        /* "connect" ... "eom", or NULL */
    const char *layer;        /* the layer; "session" or "tcprules" for the session's own */
    const char *action;       /* see above, or NULL */
    const char *service;      /* POLICY_METRIC_ERROR, else NULL */
    int code;                 /* POLICY_METRIC_DECISION: the SMTP code, 0 when none */
    double seconds;           /* POLICY_METRIC_CHECK */
    unsigned long long bytes; /* POLICY_METRIC_MESSAGE */
} policy_metric;

/* The upper bounds, in seconds, of the buckets of check durations (then
 * +Inf), as policy-milter and [general] store_metrics count them. */
#define POLICY_METRIC_BUCKETS                                                                      \
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10

/* A metrics sink: called from whichever thread runs the session, so it must
 * be thread-safe and quick (it runs inside the SMTP conversation).  The
 * strings are printable ASCII, valid during the call only. */
typedef void (*policy_metrics_fn)(const policy_metric *m, void *ctx);

/*
 * policy_engine_set_metrics - send the engine's metrics events to fn; NULL
 * (the default) sends none.  Call it right after policy_engine_open(),
 * before the engine is shared with other threads.  Independent of
 * [general] store_metrics, which keeps counters in the state store.
 */
POLICY_API void policy_engine_set_metrics(policy_engine *e, policy_metrics_fn fn, void *ctx);

/*
 * policy_engine_read_metrics - the counters that [general] store_metrics
 * keeps in the engine's store (for processes that live one connection
 * each, like qmail-smtpd and policy-queue): fn is called once per series,
 * named as policy-milter's /metrics names it (policy_decisions_total{...}),
 * hour 0 and the all-time value; with since > 0 (unix seconds), once per
 * series and hour from the hour of since on (the store keeps hours for 8
 * days), hour = the start of that hour.  Check durations are kept as
 * policy_check_duration_seconds_bucket{layer,stage,le} counting the checks
 * of that bucket only (not cumulative, no sum).  Returns 0, or -1 with
 * one line in err (no store configured, store unreachable).
 */
typedef void (*policy_stored_metric_fn)(const char *series, long long hour,
                                        unsigned long long value, void *ctx);
POLICY_API int policy_engine_read_metrics(policy_engine *e, long long since,
                                          policy_stored_metric_fn fn, void *ctx, char *err,
                                          size_t errlen);

/*
 * Sessions.
 *
 * client_ip: IPv4 or IPv6 text; NULL or "" when the MTA does not know the
 * client's address (the session then checks nothing that needs one, and
 * the client is a customer only with [customers] trust_unknown_address =
 * yes; pass a local submission as 127.0.0.1, not as unknown).
 * client_host: the PTR name if the caller already knows it (TCPREMOTEHOST,
 * the milter's hostname), else NULL.  Returns NULL only when out of memory
 * or e is NULL.  The session holds a reference on e.  A session that is
 * given an invalid client_ip still works: its first stage call defers with
 * a reply that says why.
 */
POLICY_API policy_session *policy_session_new(policy_engine *e, const char *client_ip,
                                              const char *client_host);

/* policy_session_setvar - set a per-client variable, tcprules style
 * (RELAYCLIENT, CHKUSER_RCPTLIMIT, POLICY_DNSBL=off ...).  value NULL unsets.
 * Returns 0, or -1 when the name or value is invalid or too long. */
POLICY_API int policy_session_setvar(policy_session *s, const char *name, const char *value);

/* policy_session_getvar - the value of a variable, or NULL when unset.
 * Valid until the variable is changed or the session freed. */
POLICY_API const char *policy_session_getvar(const policy_session *s, const char *name);

/*
 * policy_session_import_env - take the per-client variables from a qmail-style
 * environment (tcpserver sets them from tcp.smtp.cdb): every variable the
 * library knows (RELAYCLIENT, RBLSMTPD, CHKUSER_*, BADMIMETYPE,
 * BADLOADERTYPE, SPFBEHAVIOR, POLICY_*), nothing else.  envp is an
 * environ-style NULL-terminated array.  Returns the number imported.
 */
POLICY_API int policy_session_import_env(policy_session *s, char *const *envp);

/*
 * policy_session_tcprules - look the client up in the tcprules cdb named by
 * [general] tcprules, exactly as tcpserver does, and set the variables of
 * the first rule found.  info: the TCPREMOTEINFO ident, or NULL.
 * Returns 0 (rules applied, or none configured / none matched), 1 when the
 * rule says deny (the connect stage will then refuse the client), -1 when
 * the file cannot be read (logged; the connect stage defers).
 * The file is opened at every call, like tcpserver, so a rebuilt
 * tcp.smtp.cdb takes effect for the next connection without a reload.
 */
POLICY_API int policy_session_tcprules(policy_session *s, const char *info);

/* policy_session_free - end the session and drop its engine reference. NULL is ok. */
POLICY_API void policy_session_free(policy_session *s);

/*
 * Stages, in the order of the conversation.  Each records what it is given
 * (for later layers and the log) and runs the enabled layers of that stage.
 * Addresses are passed as the client sent them, with or without <>.
 * A stage called out of order returns POLICY_TEMPFAIL with a reply that
 * says so.  policy_mail() after policy_eom() (or during a transaction, or
 * after a refused MAIL) starts a new transaction, as qmail-smtpd does.
 * A session keeps what a transaction needs, bounded: a refused RCPT is not
 * kept, headers past the first 2000 (or 1 MB) are checked but not kept, at
 * most 100 header edits.  The SMTP limits (512-byte addresses, 10,000
 * recipients) apply where the envelope stages run; with
 * POLICY_STAGES=content the envelope the MTA accepted is taken as given.
 */
POLICY_API policy_action policy_connect(policy_session *s);
POLICY_API policy_action policy_helo(policy_session *s, const char *helo);
POLICY_API policy_action policy_auth(policy_session *s, const char *user);
POLICY_API policy_action policy_mail(policy_session *s, const char *sender); /* "" = null sender */
POLICY_API policy_action policy_rcpt(policy_session *s, const char *recipient);
POLICY_API policy_action policy_data(policy_session *s);
POLICY_API policy_action policy_header(policy_session *s, const char *name, const char *value);
POLICY_API policy_action policy_body(policy_session *s, const void *chunk, size_t len);
POLICY_API policy_action policy_eom(policy_session *s);

/*
 * policy_session_exact_headers - the values this session gets from
 * policy_header() are exactly what followed the colon in the message: the
 * blanks after the colon kept, folds as "\n" or "\r\n" and a blank (what
 * libmilter gives with SMFIP_HDR_LEADSPC).  The session then keeps each
 * header as the client sent it (DKIM signs and verifies those bytes) and
 * still gives the layers the value without the blanks after the colon.
 * Without it a value is taken to have lost them: the header is kept as
 * "Name: value".  Call before policy_data().  0, or -1 for a NULL session.
 */
POLICY_API int policy_session_exact_headers(policy_session *s);

/*
 * policy_message - the message after DATA as it came, in chunks of any size:
 * the header block, the empty line, the body; CRLF or LF line ends.  The
 * library splits the header block itself (a header and its folded lines
 * go to the header stage as policy_header() would give them: the name,
 * and the value after the colon with leading blanks and the line end
 * removed, folds kept) and keeps every byte as it came, for the layers
 * that read the message again (DKIM signs the exact bytes).  Use it
 * instead of policy_header()/policy_body() (not both for one message),
 * then policy_eom().  Returns the verdict so far (a refusal repeats until
 * the transaction ends); policy_last_stage() tells whether the header
 * block has ended.
 */
POLICY_API policy_action policy_message(policy_session *s, const void *chunk, size_t len);
/* policy_last_stage - the POLICY_STAGE_* bit of the stage that gave the
 * last reply (POLICY_STAGE_HEADER or _BODY after policy_message). */
POLICY_API unsigned policy_last_stage(const policy_session *s);

/*
 * For adapters that hand the message on themselves (policy-queue): the
 * session keeps each message it receives (in memory up to [general]
 * spool_memory, then in an unlinked file under tmpdir) and writes it out
 * with its header edits applied, so the adapter needs no copy of its own.
 *
 * policy_session_keep_message - keep the messages of this session; call
 * before policy_data().  0, or -1 for a NULL session.
 * policy_message_write - after a policy_eom() that accepted: the message to
 * fd as it came, the inserted headers on top (the last inserted first),
 * then the added ones (in order), a changed header replaced where it
 * stands, a deleted one left out, every line end as the message's own.
 * 0, or -1 with errno set (EINVAL: no complete message kept; or the
 * write's errno).
 */
POLICY_API int policy_session_keep_message(policy_session *s);
POLICY_API int policy_message_write(policy_session *s, int fd);
/*
 * The greeting, for adapters that send it themselves (the qmail-smtpd glue).
 *
 * policy_greeting_delay - after policy_connect() has let the client in: how
 * many milliseconds to hold the 220 greeting back (layer 4, [botnet]): 0 for
 * customers, else POLICY_GREETDELAY or SMTPD_GREETDELAY when the client
 * has one, else greet_delay, greet_delay_unknown (no PTR name) or
 * greet_delay_dynamic (a generic PTR name) from the configuration.
 *
 * policy_early_talker - report that the client sent something before the
 * greeting (watch the socket during the delay).  Returns the verdict now:
 * POLICY_CONTINUE when it is only logged, tagged or kept for RCPT
 * (delay_reject), POLICY_REJECT (554: refuse the greeting and close) when
 * [botnet] early_talker_drop or the client's DROP_PRE_GREET says so.
 */
POLICY_API unsigned long policy_greeting_delay(policy_session *s);
POLICY_API policy_action policy_early_talker(policy_session *s);

/*
 * policy_pipelining - report that the client sent its next command before
 * the reply to its last one where it may not: PIPELINING was not offered
 * (HELO, or no EHLO yet), or the command ends a group (EHLO, HELO, DATA,
 * RFC 2920).  smtp-delay's antipipelining: with [botnet] antipipelining =
 * yes it is the same check as an early talker (remembered for RCPT, or
 * POLICY_DISCONNECT - 421 and close - with early_talker_drop or the
 * client's DROP_PRE_GREET, and always once a recipient was accepted: at
 * DATA no RCPT is left to refuse it at); without it, nothing happens.
 * Once per session is enough; later reports return POLICY_CONTINUE.
 */
POLICY_API policy_action policy_pipelining(policy_session *s);

/*
 * Connection limits, for adapters that own the connection (layer 4,
 * [botnet]), after policy_connect():
 * policy_session_limit - seconds the whole connection may last (0: no
 * limit): the client's POLICY_SESSION_LIMIT, else session_limit for
 * clients that are not customers;
 * policy_receive_throttle - bytes per second the client may send (0: no
 * limit, the throttle.c idea): POLICY_THROTTLE, else throttle for clients
 * that are not customers.
 */
POLICY_API unsigned long policy_session_limit(policy_session *s);
POLICY_API unsigned long policy_receive_throttle(policy_session *s);

/* End of a transaction: RSET, or after eom.  Keeps connection, HELO and AUTH. */
POLICY_API void policy_reset(policy_session *s);

/* The reply for the last stage call; valid until the next call on s. Never NULL. */
POLICY_API const policy_reply *policy_last_reply(const policy_session *s);

/*
 * Header edits decided so far (applied by the adapter at end of message),
 * as a milter applies them:
 *  ADD     add the header (libmilter: at the end of the header block;
 *          policy_message_write: on top, in order);
 *  CHANGE  replace header number index of that name (counted from 1 in the
 *          message as received; 0 is the first), or add it when the message
 *          has no such header;
 *  INSERT  put the header above every other one (smfi_insheader at 0;
 *          several: the last one inserted ends on top), for DKIM-Signature;
 *  DELETE  remove header number index of that name (value "").
 * New kinds are appended; a value keeps its number.  An adapter applies
 * CHANGE and DELETE first, deleting from the highest index down, so that
 * every index still names the header of the message as received.
 */
typedef enum policy_edit_kind {
    POLICY_EDIT_ADD_HEADER,
    POLICY_EDIT_CHANGE_HEADER,
    POLICY_EDIT_INSERT_HEADER,
    POLICY_EDIT_DELETE_HEADER
} policy_edit_kind;
typedef struct policy_edit {
    policy_edit_kind kind;
    const char *name;
    const char *value; /* folded, no trailing CRLF */
    unsigned index;    /* CHANGE, DELETE: which header of that name, 1 the first (0: the first) */
} policy_edit;

/* policy_edits - point *edits at the session's edit array and return its
 * length.  Owned by the session; valid until the next stage call or reset. */
POLICY_API size_t policy_edits(const policy_session *s, const policy_edit **edits);

/* ------------------------------------------------------------ maps */

/*
 * policy_makemap_recipients - compile recipients.txt into the cdb map that
 * [recipients] map = names.  The text: one address a line, "@domain" for
 * every address of a domain (catch-all), "address: target, ..." for an alias
 * or a mailing list, '#' at the start of a line or after white space starts
 * a comment.  Writes out_path.tmp.PID, fsyncs it and renames it over
 * out_path: engines that mapped the old file keep it until they are freed
 * (a reload opens the new one).  in_path "-" reads standard input.  flags:
 * POLICY_MAP_CASE_SENSITIVE keeps the case of local parts (for fold_case =
 * no).  Returns 0, or -1 with one line naming file and line in err.
 */
#define POLICY_MAP_CASE_SENSITIVE 0x1u
POLICY_API int policy_makemap_recipients(const char *in_path, const char *out_path, unsigned flags,
                                         char *err, size_t errlen);

/* ------------------------------------------------------------ the spam filter */

/*
 * The built-in spam filter of layer 6 ([spam]) outside SMTP: training it
 * and scoring messages with its token store (policyctl train, classify).
 * A policy_spam belongs to one thread; it holds a reference on its engine
 * and a connection of its own to the store.  Messages are given whole, as
 * raw RFC 5322 bytes.
 *
 * policy_spam_open - the filter of e's [spam] section (builtin = yes and a
 * store).  NULL with a reason in err when there is none or memory is out.
 * flags: POLICY_SPAM_BULK for many messages in one go: every cell is read
 * from the store once and kept, trainings are written back together at
 * policy_spam_flush() (and whenever the cache fills); other processes see
 * them then, and this one does not see theirs to cells it has read.
 * policy_spam_flush - write back what is pending: 0, or -1 (it stays
 * pending).  policy_spam_close flushes too, silently: call flush first to
 * know.
 * policy_spam_classify - *score: the filter's spam probability in [0, 1];
 * *is_spam: the filter alone would tag it (its points reach tag_score).
 * policy_spam_train - learn the message as spam (is_spam 1) or ham (0):
 * only when the filter got it wrong or was not sure (train on error), or
 * always with POLICY_SPAM_TRAIN_ALL; a message trained before with the
 * other label (by hand, or by the layer's auto-learning) is first taken
 * back.  *what (may be NULL) says what happened.
 * Both return 0, or -1 with policy_spam_error() saying why (the store
 * failed, or bad arguments).
 */
typedef struct policy_spam policy_spam;
typedef enum policy_spam_trained {
    POLICY_SPAM_LEARNED,   /* learned */
    POLICY_SPAM_CORRECTED, /* an earlier training with the other label taken back, then learned */
    POLICY_SPAM_KNOWN,     /* trained with this label before: nothing to do */
    POLICY_SPAM_SKIPPED    /* train on error: the filter was right and sure, not trained */
} policy_spam_trained;
#define POLICY_SPAM_TRAIN_ALL 0x1u /* policy_spam_train: not only on error */
#define POLICY_SPAM_BULK      0x1u /* policy_spam_open: cache, write back at flush */

POLICY_API policy_spam *policy_spam_open(policy_engine *e, unsigned flags, char *err,
                                         size_t errlen);
POLICY_API int policy_spam_flush(policy_spam *sp);
POLICY_API int policy_spam_classify(policy_spam *sp, const void *msg, size_t len, double *score,
                                    int *is_spam);
POLICY_API int policy_spam_train(policy_spam *sp, const void *msg, size_t len, int is_spam,
                                 unsigned flags, policy_spam_trained *what);
POLICY_API const char *policy_spam_error(const policy_spam *sp);
POLICY_API void policy_spam_close(policy_spam *sp);

#ifdef __cplusplus
}
#endif

#endif /* LIBPOLICY_POLICY_H */
