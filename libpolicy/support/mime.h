/*
 * mime.h - a streaming MIME parser: one pass over a raw message (headers and
 * body) fed in chunks of any size, memory bounded independently of the
 * message size, events per part for every layer that reads content
 * (attachments, virus, spam, DKIM).  Modelled on Postfix's mime_state.c:
 * callbacks for header, body and nesting events and explicit limits, each
 * violation a flag instead of a crash or a silent cut.  Depends on libc and
 * iconv only.
 *
 * Use
 *   struct mime_handler h = {.want = MIME_WANT_BODY, .part_begin = ..., .ctx = me};
 *   struct mime_parser *m = mime_new(&h, NULL);       (NULL: default limits)
 *   mime_feed(m, chunk, len);  ...                      (as often as needed)
 *   mime_finish(m);                                     (the last events)
 *   unsigned flags = mime_flags(m);
 *   mime_free(m);
 *
 * Events, in this order for every part (a part is the message itself, each
 * body part of a multipart, the message inside a message/rfc822 part, and
 * each uuencoded file found inside a text/plain part):
 *   header      each header of the part, in order (MIME_WANT_HEADERS); the
 *               part passed has index, depth, parent and header_off set,
 *               the rest is not known yet;
 *   part_begin  the header block is complete: every fact of the part;
 *   body        decoded body bytes (transfer encoding undone), in pieces
 *               (MIME_WANT_BODY);
 *   text        the body as UTF-8 text, HTML reduced to text (text/plain
 *               and text/html parts only, MIME_WANT_TEXT);
 *   ...         the events of the parts it contains (multipart, message)
 *               or carries (a uuencoded file inside a text part comes
 *               between body events of that text part);
 *   part_end    body_end, decoded_len and the part's flags are final.
 * A multipart's own body events carry its preamble (the text before the
 * first boundary, or all of its body when it has no usable boundary); a
 * message/rfc822 part has no body events of its own.  The pieces events
 * come in depend only on the message bytes: feeding it whole, in 64 KB
 * chunks or byte by byte gives exactly the same events.
 *
 * Ownership and lifetimes: the parser owns every pointer it passes.  A
 * struct mime_part and its strings stay valid from the part's first event
 * until its part_end callback returns (the parts enclosing it stay valid
 * too: part->up is followed safely).  A struct mime_header and body or
 * text bytes are valid only during the callback.  Callbacks must not call
 * mime_feed, mime_finish or mime_free on their own parser.  One parser per
 * message and per thread; the parser never prints, never exits and never
 * allocates after mime_new except to grow the header buffer (bounded by
 * the header limit) and the decoder of an encoded message/rfc822 part.
 *
 * Robustness: malformed input never stops the parse and never hides a part
 * that a mail client would show: lines without a colon among headers are
 * skipped, a boundary line ends whatever part it appears in (even in a
 * header block), an unclosed multipart is closed at the end of its parent,
 * a base64 or quoted-printable message/rfc822 part is decoded and parsed.
 * What was repaired or limited is a MIME_F_* flag on the part and on the
 * message (mime_flags).
 */
#ifndef LIBPOLICY_MIME_H
#define LIBPOLICY_MIME_H

#include <stddef.h>
#include <stdint.h>

/* What a caller wants besides part_begin/part_end (always delivered). */
#define MIME_WANT_HEADERS 0x1 /* every header of every part */
#define MIME_WANT_BODY    0x2 /* decoded body bytes of every part */
#define MIME_WANT_TEXT    0x4 /* UTF-8 text of text/plain and text/html parts */

/* Flags: on a part (what concerns it) and or'ed into the message's. */
#define MIME_F_DEPTH             0x00000001u /* nesting over the limit: read as a leaf */
#define MIME_F_PARTS             0x00000002u /* over the part limit: later ones unreported */
#define MIME_F_HEADER_LONG       0x00000004u /* a header over the limit: cut (raw and value) */
#define MIME_F_BOUNDARY_LONG     0x00000008u /* a boundary over the limit: matched on its prefix */
#define MIME_F_LINE_LONG         0x00000010u /* a line longer than MIME_LINE_MAX */
#define MIME_F_BAD_HEADER        0x00000020u /* a header line without a colon (skipped) */
#define MIME_F_8BIT_HEADER       0x00000040u /* raw 8-bit bytes in a header */
#define MIME_F_NO_BOUNDARY       0x00000080u /* multipart without a boundary: read as one body */
#define MIME_F_UNCLOSED          0x00000100u /* multipart without its final boundary */
#define MIME_F_EPILOGUE          0x00000200u /* text after a multipart's final boundary */
#define MIME_F_BAD_BASE64        0x00000400u /* base64 with garbage or broken padding */
#define MIME_F_BAD_QP            0x00000800u /* quoted-printable with bad escapes */
#define MIME_F_BAD_UU            0x00001000u /* uuencode that ended early */
#define MIME_F_UNKNOWN_CTE       0x00002000u /* unknown transfer encoding: body passed as is */
#define MIME_F_CHARSET           0x00004000u /* unknown charset (UTF-8 or windows-1252 assumed) */
#define MIME_F_BAD_TEXT          0x00008000u /* bytes invalid in their charset */
#define MIME_F_BAD_WORDS         0x00010000u /* broken RFC 2047 encoded words (decoded anyway) */
#define MIME_F_BAD_PARAMS        0x00020000u /* broken parameters (RFC 2045/2231) */
#define MIME_F_NAME_CHANGED      0x00040000u /* file name cut or control characters replaced */
#define MIME_F_DUP_HEADER        0x00080000u /* a second Content-Type/-Disposition/-CTE */
#define MIME_F_ENCODED_CONTAINER 0x00100000u /* multipart/message with a transfer encoding */
#define MIME_F_NO_HEADERS        0x00200000u /* header block missing: the body starts at once */
#define MIME_F_NUL               0x00400000u /* NUL bytes in headers */

/* Kinds of part. */
enum mime_kind {
    MIME_LEAF,      /* a body: text, image, application... */
    MIME_MULTIPART, /* contains parts separated by a boundary */
    MIME_MESSAGE,   /* message/rfc822 (and news, global): contains one message */
};

/* Transfer encodings. */
enum mime_cte { MIME_CTE_NONE, MIME_CTE_BASE64, MIME_CTE_QP, MIME_CTE_UUENCODE, MIME_CTE_OTHER };

/* Where a part came from. */
enum mime_origin {
    MIME_ORIGIN_HEADERS, /* a MIME entity with its own header block */
    MIME_ORIGIN_UUENCODE /* a "begin NNN name" block inside a text/plain part */
};

#define MIME_TYPE_MAX 128  /* type, subtype, charset: RFC 6838 names are at most 127 */
#define MIME_NAME_MAX 256  /* file name bytes (UTF-8), NUL included */
#define MIME_LINE_MAX 8192 /* longer lines are read in pieces */

/* One part.  Strings are NUL-terminated, never NULL; "" when absent. */
struct mime_part {
    unsigned index;             /* 0 for the message, then in order of appearance */
    unsigned depth;             /* 0 for the message */
    int parent;                 /* index of the enclosing part, -1 for the message */
    const struct mime_part *up; /* the enclosing part, NULL for the message */
    enum mime_kind kind;
    enum mime_origin origin;
    char type[MIME_TYPE_MAX];     /* lower case, RFC 2045 default applied ("text") */
    char subtype[MIME_TYPE_MAX];  /* lower case ("plain"; "rfc822" in a digest) */
    int type_given;               /* the part had a usable Content-Type */
    char charset[MIME_TYPE_MAX];  /* lower case, as given ("" when none) */
    char disposition[32];         /* lower case: "attachment", "inline", "" */
    char filename[MIME_NAME_MAX]; /* UTF-8, safe for logs: Content-Disposition filename, else
                                     Content-Type name, else the uuencode name */
    char encoding[32];            /* Content-Transfer-Encoding, lower case, "" when none */
    enum mime_cte cte;
    /* Offsets in the raw message.  For a part inside a decoded container
     * (a base64 message/rfc822) or a uuencoded part, they count in the
     * decoded bytes of that container / text part instead: raw_offsets 0. */
    int raw_offsets;
    uint64_t header_off;  /* the first header line */
    uint64_t body_off;    /* the first body byte */
    uint64_t body_end;    /* after the last body byte (at part_end) */
    uint64_t decoded_len; /* decoded body bytes (at part_end, when decoded) */
    int decoded;          /* the body was decoded: MIME_WANT_BODY/TEXT, or text/plain */
    unsigned flags;       /* MIME_F_* concerning this part (final at part_end) */
};

/* One header, valid during the callback. */
struct mime_header {
    const char *name; /* as written, without the colon or blanks before it */
    size_t name_len;
    const char *value; /* unfolded (line breaks removed), blanks around trimmed; raw bytes */
    size_t value_len;
    const char *raw; /* the header exactly as in the message, folds and line ends included */
    size_t raw_len;
    uint64_t offset; /* of raw in the message (see raw_offsets) */
    int truncated;   /* longer than the header limit: raw and value are cut */
};

struct mime_handler {
    unsigned want; /* MIME_WANT_* */
    void *ctx;
    void (*header)(void *ctx, const struct mime_part *p, const struct mime_header *h);
    void (*part_begin)(void *ctx, const struct mime_part *p);
    void (*body)(void *ctx, const struct mime_part *p, const unsigned char *data, size_t len);
    void (*text)(void *ctx, const struct mime_part *p, const char *utf8, size_t len);
    void (*part_end)(void *ctx, const struct mime_part *p);
};

/* Limits; zero fields take the default. */
struct mime_limits {
    unsigned depth;  /* nesting of multiparts and messages (default 32, at most 256) */
    unsigned parts;  /* parts reported (default 1000) */
    size_t header;   /* bytes of one header, folds included (default 64 KiB) */
    size_t boundary; /* bytes of a boundary (default 256; RFC 2046 says 70) */
};

struct mime_parser;

/* mime_new - a parser delivering to h (copied; NULL callbacks are skipped);
 * NULL when out of memory. */
struct mime_parser *mime_new(const struct mime_handler *h, const struct mime_limits *lim);
/* mime_feed - the next len bytes of the raw message.  Returns 0, or -1 when
 * out of memory (the parse goes on with what it has, nothing is hidden
 * silently: MIME_F_PARTS is set). */
int mime_feed(struct mime_parser *m, const void *data, size_t len);
/* mime_finish - the message is complete: the last line, part_end for every
 * open part.  Further feeds are ignored.  Returns mime_flags(). */
unsigned mime_finish(struct mime_parser *m);
/* mime_reset - ready for the next message, with the same handler and
 * limits and no allocation; the events of an unfinished message stop. */
void mime_reset(struct mime_parser *m);
/* mime_flags - MIME_F_* of the whole message so far. */
unsigned mime_flags(const struct mime_parser *m);
/* mime_parts - parts reported so far. */
unsigned mime_parts(const struct mime_parser *m);
void mime_free(struct mime_parser *m);

/* mime_flag_names - the flags as words ("depth,unclosed"), for logs. */
size_t mime_flag_names(unsigned flags, char *buf, size_t size);

/*
 * mime_decode_words - an unfolded header value with RFC 2047 encoded words
 * to UTF-8 in out (outmax bytes, NUL-terminated, cut at a character).
 * Accepts the broken forms mail clients accept: words inside quoted
 * strings and next to other text, a multibyte character split between two
 * words, an RFC 2231 language suffix, missing base64 padding, a missing
 * "?=" at the end.  Raw 8-bit text reads as UTF-8 where valid, else as
 * windows-1252; a NUL byte becomes '?'.  Returns the length; *flags gets MIME_F_BAD_WORDS,
 * MIME_F_CHARSET, MIME_F_BAD_TEXT bits.
 */
size_t mime_decode_words(const char *in, size_t len, char *out, size_t outmax, unsigned *flags);

/* mime_sanitize - make UTF-8 text safe for a log line in place: invalid
 * bytes, control and bidirectional-override characters become '?', blanks
 * around are trimmed, the length is cut to max-1 bytes at a character.
 * Returns non-zero when it changed anything. */
int mime_sanitize(char *s, size_t max);

#endif
