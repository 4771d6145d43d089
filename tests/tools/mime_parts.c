/*
 * mime_parts.c - print the leaf parts libpolicy's MIME parser finds in each
 * message file, one line per part: "leaf|uu TAB type/subtype TAB name TAB
 * decoded-length TAB fnv1a-64 of the decoded bytes" (uuencoded files found
 * inside text parts are "uu").  The differential test compares this with
 * gmime_parts.  usage: mime_parts [-H] [-e] [-t] [-c CHUNK] FILE...
 *   -H        print "== FILE" before the parts of each file
 *   -e        print every event instead (headers, parts, flags) for debugging
 *   -t        print the decoded text too
 *   -c CHUNK  feed the message in pieces of CHUNK bytes (default: whole)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mime.h"

struct leaf {
    uint64_t hash;
};

static struct leaf leaves[300];
static int events;

static void print_name(const char *s)
{
    if (!*s) {
        fputs("-", stdout);
        return;
    }
    for (; *s; s++)
        if (*s == '\t' || *s == '\\')
            printf("\\x%02x", (unsigned char)*s);
        else
            putchar(*s);
}

static void on_header(void *ctx, const struct mime_part *p, const struct mime_header *h)
{
    (void)ctx;
    printf("header %u %.*s: %.*s\n", p->index, (int)h->name_len, h->name,
           (int)(h->value_len > 200 ? 200 : h->value_len), h->value);
}

static void on_begin(void *ctx, const struct mime_part *p)
{
    (void)ctx;
    if (p->depth < 300)
        leaves[p->depth].hash = 1469598103934665603ULL;
    if (events) {
        printf("begin %u depth %u parent %d kind %d origin %d %s/%s charset '%s' disp '%s' name '",
               p->index, p->depth, p->parent, (int)p->kind, (int)p->origin, p->type, p->subtype,
               p->charset, p->disposition);
        print_name(p->filename);
        printf("' cte '%s' hoff %llu boff %llu raw %d\n", p->encoding,
               (unsigned long long)p->header_off, (unsigned long long)p->body_off, p->raw_offsets);
    }
}

static void on_body(void *ctx, const struct mime_part *p, const unsigned char *d, size_t n)
{
    (void)ctx;
    if (p->depth >= 300)
        return;
    uint64_t h = leaves[p->depth].hash;
    for (size_t i = 0; i < n; i++) {
        h ^= d[i];
        h *= 1099511628211ULL;
    }
    leaves[p->depth].hash = h;
}

static void on_text(void *ctx, const struct mime_part *p, const char *s, size_t n)
{
    (void)ctx;
    printf("text %u %zu: %.*s\n", p->index, n, (int)n, s);
}

static void on_end(void *ctx, const struct mime_part *p)
{
    (void)ctx;
    char fl[300];
    mime_flag_names(p->flags, fl, sizeof(fl));
    if (events) {
        printf("end %u body_end %llu decoded %llu hash %016llx flags %s\n", p->index,
               (unsigned long long)p->body_end, (unsigned long long)p->decoded_len,
               (unsigned long long)(p->depth < 300 ? leaves[p->depth].hash : 0), fl);
        return;
    }
    if (p->kind != MIME_LEAF)
        return;
    printf("%s\t%s/%s\t", p->origin == MIME_ORIGIN_UUENCODE ? "uu" : "leaf", p->type, p->subtype);
    print_name(p->filename);
    printf("\t%llu\t%016llx\n", (unsigned long long)p->decoded_len,
           (unsigned long long)(p->depth < 300 ? leaves[p->depth].hash : 0));
}

int main(int argc, char **argv)
{
    size_t chunk = 0;
    int text = 0, multi = 0, i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "-H"))
            multi = 1;
        else if (!strcmp(argv[i], "-e"))
            events = 1;
        else if (!strcmp(argv[i], "-t"))
            text = 1;
        else if (!strcmp(argv[i], "-c") && i + 1 < argc)
            chunk = (size_t)atol(argv[++i]);
        else {
            fprintf(stderr, "usage: mime_parts [-H] [-e] [-t] [-c CHUNK] FILE...\n");
            return 2;
        }
    }
    struct mime_handler h = {.want = MIME_WANT_BODY | (events ? MIME_WANT_HEADERS : 0) |
                                     (text ? MIME_WANT_TEXT : 0),
                             .header = on_header,
                             .part_begin = on_begin,
                             .body = on_body,
                             .text = on_text,
                             .part_end = on_end};
    for (; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (!f) {
            perror(argv[i]);
            return 1;
        }
        static unsigned char buf[1 << 20];
        if (multi)
            printf("== %s\n", argv[i]);
        struct mime_parser *m = mime_new(&h, NULL);
        size_t n;
        while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
            size_t step = chunk ? chunk : n;
            for (size_t o = 0; o < n; o += step)
                mime_feed(m, buf + o, n - o < step ? n - o : step);
        }
        unsigned fl = mime_finish(m);
        if (events) {
            char s[400];
            mime_flag_names(fl, s, sizeof(s));
            printf("message flags %s parts %u\n", s, mime_parts(m));
        }
        mime_free(m);
        fclose(f);
    }
    return 0;
}
