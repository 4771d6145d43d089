/*
 * mproto.h - the bytes of policy-queue's milter conversation, apart from
 * its sockets so that they can be fuzzed: the message's header block split
 * as libpolicy splits it, the per-client variables packed into one macro
 * value (and unpacked by policy-milter: the one contract between the two
 * adapters), and the filter's replies parsed.  Everything here reads only
 * the bytes it is given, bounded by their length.
 */
#ifndef POLICY_MPROTO_H
#define POLICY_MPROTO_H

#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------ headers */

/* One header of a message's header block (offsets into the block). */
struct mp_header {
    size_t off, len;             /* the raw header, folds and line end included */
    size_t name_len;             /* name at off, trailing blanks removed; 0: no colon */
    size_t value_off, value_len; /* after the colon to the last line end (excluded) */
    size_t blank;                /* blanks at value_off (after the colon) */
};

/*
 * mp_header_next - the header at *off of the header block p[0, len): a
 * line and the lines after it that start with a blank.  Returns 1 and
 * moves *off past it; 0 at the end of the header block: *off is then the
 * start of the body (after the empty line, or len when there is none),
 * and *crlf says whether that empty line was "\r\n" (also 1 when there is
 * none, as libpolicy writes edits then).  A line without a colon is a
 * header without a name, as libpolicy sees it.
 */
int mp_header_next(const char *p, size_t len, size_t *off, struct mp_header *h, int *crlf);

/* mp_header_block_end - the length of the header block at the start of
 * p[0, len), the empty line included; 0 when no empty line is in it yet. */
size_t mp_header_block_end(const char *p, size_t len);

/* ------------------------------------------------------------ variables */

/*
 * mp_env_pack - the environment's variables (NAME=value entries whose
 * name is upper-case letters, digits and '_') as one macro value:
 * entries joined by "\n", a backslash and a newline in a value written
 * as "\\" and "\n".  extra, when not NULL, is one more entry, added
 * unless the environment has that name.  Returns the length written to
 * out (NUL-terminated), or -1 when it does not fit in cap.
 */
long mp_env_pack(char *const *envp, const char *extra, char *out, size_t cap);
/*
 * mp_env_unpack - the other way (policy-milter): packed is split in place
 * into NAME=value entries, unescaped, pointed to from envp (at most max,
 * then a NULL).  Returns the number of entries.
 */
size_t mp_env_unpack(char *packed, char **envp, size_t max);

/* ------------------------------------------------------------ replies */

#define MP_TEXT_MAX 400

/* A reply of the filter, parsed. */
struct mp_reply {
    char cmd; /* SMFIR_* (or 'O' for the options) */
    int code; /* SMFIR_REPLYCODE: 400-599 */
    char xcode[16];
    char text[MP_TEXT_MAX + 1];
    uint32_t index;                      /* SMFIR_INSHEADER, SMFIR_CHGHEADER */
    const char *name, *value;            /* header edits: into the packet */
    uint32_t version, actions, protocol; /* 'O' */
};

/*
 * mp_reply_parse - the reply packet cmd + data[0, len).  Returns 0, or -1
 * when it is malformed or not one this side knows.  A reply text is kept
 * printable (other bytes as blanks), "%%" read back as "%" (policy-milter
 * doubles it for Sendmail, Postfix undoes it), cut at MP_TEXT_MAX.
 */
int mp_reply_parse(char cmd, const char *data, size_t len, struct mp_reply *r);

#endif
