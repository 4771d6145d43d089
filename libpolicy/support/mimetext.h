/*
 * mimetext.h - text for the layers that read words: charset conversion to
 * UTF-8 (iconv, with the aliases mail clients honour and a graceful fallback
 * for unknown charsets) and a streaming HTML-to-text reducer.  Depends only
 * on libc and iconv; used by mime.c, usable on its own.
 */
#ifndef LIBPOLICY_MIMETEXT_H
#define LIBPOLICY_MIMETEXT_H

#include <iconv.h>
#include <stddef.h>

/* What a conversion met, as bits (a subset of mime.h's MIME_F_* flags). */
#define MTEXT_F_CHARSET 0x1 /* unknown charset: UTF-8 where valid, else windows-1252 */
#define MTEXT_F_INVALID 0x2 /* bytes invalid in their charset (replaced by U+FFFD) */

#define MTEXT_OUT_MAX 4096 /* bytes handed to the sink at a time, at most */

/* The sink of converted text: UTF-8 bytes, len <= MTEXT_OUT_MAX. */
typedef void (*mtext_sink)(void *ctx, const char *utf8, size_t len);

/*
 * The streaming pipeline for one text part: bytes in the part's charset ->
 * UTF-8 -> (for HTML) tags removed, entities decoded, comments, script and
 * style content and elements hidden by their style attribute dropped ->
 * zero-width characters and soft hyphens removed -> sink.  Output goes out
 * in pieces that depend only on the input bytes (never on how they were
 * split between calls of mtext_feed), in a buffer of its own: no allocation
 * after mtext_open.  Initialise with mtext_open, release with mtext_close.
 */
struct mtext {
    int kind;             /* how the charset converts (mimetext.c) */
    iconv_t cd;           /* for charsets iconv converts */
    unsigned char in[16]; /* an incomplete multibyte sequence carried over */
    size_t inlen;
    unsigned flags; /* MTEXT_F_* met so far */
    int html;       /* reduce HTML */
    /* HTML reducer state */
    int hstate;
    char tag[24]; /* lower-case tag name being read */
    size_t taglen;
    int closing;    /* </tag> */
    char attr[256]; /* the tag's style value(s), lower case, blanks
                       dropped, bounded; nothing else of the tag is kept */
    size_t attrlen;
    char aname[8];  /* the attribute name being read (longer: not kept) */
    size_t anamelen;
    int aval;       /* 1/2 after '=' of style/another attribute; 3/4 in its value */
    int ahidden;    /* the tag has the "hidden" attribute */
    int aslash;     /* the last thing before '>' was a '/' outside a value */
    char quote;   /* inside a quoted attribute value */
    char ent[40]; /* an entity being read, after '&' */
    size_t entlen;
    int dashes;          /* comment end detection */
    char raw_end[12];    /* "script"/"style" while their content is skipped */
    size_t raw_match;    /* bytes of "</name" matched so far */
    char hide_tag[24];   /* an element hidden by style: its name */
    unsigned hide_depth; /* nesting of that name inside it; 0: not hiding */
    int space;           /* pending whitespace: 1 space, 2 newline */
    int started;         /* some text was written */
    unsigned newlines;   /* consecutive newlines written */
    unsigned char u8[4]; /* zero-width filter: a UTF-8 sequence in progress */
    size_t u8len;
    char out[MTEXT_OUT_MAX];
    size_t outlen;
    mtext_sink sink;
    void *ctx;
};

/* mtext_open - start converting text in charset (any spelling; NULL or ""
 * means unknown) to UTF-8, reducing HTML when html is non-zero. */
void mtext_open(struct mtext *t, const char *charset, int html, mtext_sink sink, void *ctx);
/* mtext_feed - convert len more bytes. */
void mtext_feed(struct mtext *t, const unsigned char *in, size_t len);
/* mtext_finish - flush what is held (an incomplete sequence becomes U+FFFD);
 * returns the MTEXT_F_* bits met. */
unsigned mtext_finish(struct mtext *t);
/* mtext_close - release the converter (after mtext_finish or instead of it). */
void mtext_close(struct mtext *t);

/*
 * mtext_convert - one-shot conversion of a short string (a header word, a
 * file name) from charset to UTF-8 into out (outmax bytes, always
 * NUL-terminated, cut at a character boundary).  Returns the length
 * written; *flags gets MTEXT_F_* bits or'ed in.
 */
size_t mtext_convert(const char *charset, const unsigned char *in, size_t len, char *out,
                     size_t outmax, unsigned *flags);

/* mtext_utf8_seq - length (1-4) of the valid UTF-8 sequence at p (n bytes
 * available), 0 when they are a valid but incomplete start, -1 if invalid. */
int mtext_utf8_seq(const unsigned char *p, size_t n);
/* mtext_utf8_valid - is in[0..len) valid UTF-8 (no overlongs, no surrogates)? */
int mtext_utf8_valid(const unsigned char *in, size_t len);

#endif
