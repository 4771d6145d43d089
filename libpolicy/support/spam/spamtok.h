/*
 * spamtok.h - the spam filter's tokenizer: turns the events of one MIME
 * parse (headers, part facts, UTF-8 text with HTML reduced, decoded body
 * bytes of text parts) into a bounded set of 64-bit feature hashes.
 *
 * Features:
 *   - words of every text part, lower case, in UTF-8; CJK characters one
 *     word each; over-long words as a "skip" shape;
 *   - orthogonal sparse bigrams (OSB): each word paired with each of the
 *     next window-1 words, the distance part of the feature;
 *   - URL host names and their registrable domains (Public Suffix List),
 *     found in text and in HTML attributes, entity- and %-escapes undone;
 *     facts about the URL (IP address host, user@host, port, escapes);
 *   - selected header fields, named by a prefix: Subject (words and OSB),
 *     From display name and domain, Reply-To domain, the number of To/Cc
 *     recipients, X-Mailer/User-Agent/X-MimeOLE, priority fields,
 *     Organization; encoded-word charsets;
 *   - MIME structure: part types, charsets, transfer encodings of text,
 *     attachment extensions, HTML-only bodies, HTML tag names, parser
 *     flags (broken structure).
 *
 * What it leaves out on purpose: every header not named above - Received,
 * Return-Path, Delivered-To, Message-ID, Date, List-*, Mailing-List,
 * X-Mailing-List, Sender, Errors-To, Precedence, X-Beenthere, X-Loop,
 * X-Mailman-*, X-Egroups-*, X-Yahoo-*, X-Spam-*, the To/Cc addresses.  They
 * describe the path a message took and the mailbox it was collected in,
 * not what its sender wrote: a filter that learns them learns which
 * collection a message came from.  For the same reason, in a message that
 * carries list headers, the [tag] a list puts in front of the Subject and
 * the footer it appends to the body (Mailman, SourceForge, Yahoo! Groups,
 * list signature lines) are dropped before tokenizing.
 *
 * Use: spamtok_new once, then per message spamtok_begin, the MIME events
 * (spamtok_mime_handler fills a handler that forwards them, or call
 * spamtok_header/part_begin/body/text/part_end from a shared handler), and
 * spamtok_end; spamtok_message does all of it for a message in memory.
 * The features stay valid until the next spamtok_begin.  One tokenizer per
 * thread; it allocates only in spamtok_new.
 */
#ifndef LIBPOLICY_SPAMTOK_H
#define LIBPOLICY_SPAMTOK_H

#include <stddef.h>
#include <stdint.h>

#include "../mime.h"

/* Feature families, as bits: which ones to produce (default all). */
#define SPAMTOK_WORDS   0x01 /* words of the text */
#define SPAMTOK_OSB     0x02 /* word pairs at distance 1..window-1 */
#define SPAMTOK_BIGRAMS 0x04 /* word pairs at distance 1 only (instead of OSB) */
#define SPAMTOK_URLS    0x08 /* URL hosts and domains */
#define SPAMTOK_HEADERS 0x10 /* the selected header fields */
#define SPAMTOK_MIME    0x20 /* MIME structure facts, HTML tag names */
#define SPAMTOK_NOLISTS 0x40 /* drop list tags and footers (with list headers) */
#define SPAMTOK_ALL     0x7b /* everything but plain bigrams */

struct spamtok_opts {
    unsigned features;     /* SPAMTOK_* (0: SPAMTOK_ALL) */
    unsigned max_features; /* per message (0: 4000; at most 65536) */
    unsigned window;       /* OSB window, 2..8 (0: 4: pairs at distance 1..3) */
    /* debug: each feature as text before it is hashed (tests, the tool's
     * --tokens); NULL for none.  Costs a string per feature. */
    void (*debug)(void *ctx, const char *token, size_t len, uint64_t hash);
    void *debug_ctx;
};

struct spamtok;

/* spamtok_new - a tokenizer (opts NULL: defaults); NULL when out of memory. */
struct spamtok *spamtok_new(const struct spamtok_opts *opts);
void spamtok_free(struct spamtok *t);

/* spamtok_begin - forget the last message's features. */
void spamtok_begin(struct spamtok *t);
/* The MIME events (see mime.h); pass what a parser with MIME_WANT_HEADERS |
 * MIME_WANT_BODY | MIME_WANT_TEXT delivers. */
void spamtok_header(struct spamtok *t, const struct mime_part *p, const struct mime_header *h);
void spamtok_part_begin(struct spamtok *t, const struct mime_part *p);
void spamtok_body(struct spamtok *t, const struct mime_part *p, const unsigned char *d, size_t n);
void spamtok_text(struct spamtok *t, const struct mime_part *p, const char *utf8, size_t n);
void spamtok_part_end(struct spamtok *t, const struct mime_part *p);
/* spamtok_end - the message is complete (mime_flags: the parser's flags). */
void spamtok_end(struct spamtok *t, unsigned mime_flags);

/* spamtok_mime_handler - a handler whose callbacks forward to t. */
void spamtok_mime_handler(struct spamtok *t, struct mime_handler *h);
/* spamtok_message - tokenize a whole message in memory with the given
 * parser (created with spamtok_mime_handler's handler; reset here).
 * Returns 0. */
int spamtok_message(struct spamtok *t, struct mime_parser *m, const void *msg, size_t len);

/* spamtok_features - the distinct features of the message (valid after
 * spamtok_end), at most max_features: first the message features (header
 * fields, URLs, structure; *nmsg of them, nmsg may be NULL), then the text
 * features (words and pairs of the text), each group in order of first
 * appearance; *n gets the count of both. */
const uint64_t *spamtok_features(const struct spamtok *t, size_t *n, size_t *nmsg);
/* spamtok_dropped - features not kept because of max_features. */
size_t spamtok_dropped(const struct spamtok *t);
/* spamtok_listmail - the message carried list headers (tag and footer
 * stripping applied). */
int spamtok_listmail(const struct spamtok *t);

/* spamtok_hash - the 64-bit hash used for features (never 0). */
uint64_t spamtok_hash(const void *data, size_t len, uint64_t seed);

#endif
