/*
 * gmime_parts.c - the reference side of the MIME differential test: GMime 3
 * parses each message file into its tree; every leaf (GMimePart) is printed
 * in mime_parts' format: "leaf TAB type/subtype TAB name TAB decoded-length
 * TAB fnv1a-64 of the decoded bytes".  The name is made log-safe by the
 * same rule mime_parts applies (control, bidi and invalid UTF-8 bytes to
 * '?', blanks around trimmed, at most 255 bytes) so that only real
 * differences show.  usage: gmime_parts [-H] FILE... (-H: "== FILE" before
 * the parts of each file)
 */
#include <fcntl.h>
#include <gmime/gmime.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* log_safe - the same normalization as mime_sanitize, written apart. */
static void log_safe(const char *in, char *out, size_t size)
{
    const unsigned char *p = (const unsigned char *)in;
    size_t o = 0;
    while (*p && o + 4 < size) {
        int l = 1, bad = 0;
        if (*p < 0x20 || *p == 0x7f)
            bad = 1;
        else if (*p >= 0x80) {
            const gchar *end;
            gunichar c = g_utf8_get_char_validated((const gchar *)p, -1);
            if (c == (gunichar)-1 || c == (gunichar)-2) {
                bad = 1;
            } else {
                end = g_utf8_next_char((const gchar *)p);
                l = (int)(end - (const gchar *)p);
                if ((c >= 0x80 && c < 0xa0) || (c >= 0x202a && c <= 0x202e) || c == 0x200e ||
                    c == 0x200f || (c >= 0x2066 && c <= 0x2069))
                    bad = 1;
                if (c == 0xad || (c >= 0x200b && c <= 0x200d) || c == 0x2060 || c == 0xfeff) {
                    p += l; /* invisible: dropped by the converter on our side */
                    continue;
                }
            }
        }
        if (bad)
            out[o++] = '?';
        else
            memcpy(out + o, p, (size_t)l), o += (size_t)l;
        p += l;
    }
    out[o] = '\0';
    char *s = out;
    while (*s == ' ')
        s++;
    memmove(out, s, strlen(s) + 1);
    size_t n = strlen(out);
    while (n && out[n - 1] == ' ')
        out[--n] = '\0';
    if (n > 255) {
        n = 255;
        while (n && ((unsigned char)out[n] & 0xc0) == 0x80)
            n--;
        out[n] = '\0';
    }
}

static void print_leaf(GMimePart *part)
{
    GMimeContentType *ct = g_mime_object_get_content_type((GMimeObject *)part);
    const char *type = ct ? g_mime_content_type_get_media_type(ct) : "text";
    const char *sub = ct ? g_mime_content_type_get_media_subtype(ct) : "plain";
    char *t = g_ascii_strdown(type ? type : "", -1), *s = g_ascii_strdown(sub ? sub : "", -1);
    const char *name = g_mime_part_get_filename(part);
    char safe[1200];
    log_safe(name ? name : "", safe, sizeof(safe));
    uint64_t h = 1469598103934665603ULL;
    gint64 len = 0;
    GMimeDataWrapper *w = g_mime_part_get_content(part);
    if (w) {
        GMimeStream *mem = g_mime_stream_mem_new();
        g_mime_data_wrapper_write_to_stream(w, mem);
        GByteArray *a = g_mime_stream_mem_get_byte_array((GMimeStreamMem *)mem);
        for (guint i = 0; i < a->len; i++) {
            h ^= a->data[i];
            h *= 1099511628211ULL;
        }
        len = a->len;
        g_object_unref(mem);
    }
    printf("leaf\t%s/%s\t", t, s);
    if (!safe[0])
        fputs("-", stdout);
    for (char *c = safe; *c; c++)
        if (*c == '\t' || *c == '\\')
            printf("\\x%02x", (unsigned char)*c);
        else
            putchar(*c);
    printf("\t%lld\t%016llx\n", (long long)len, (unsigned long long)h);
    g_free(t);
    g_free(s);
}

static void walk(GMimeObject *o, int depth)
{
    if (!o || depth > 1000)
        return;
    if (GMIME_IS_MULTIPART(o)) {
        int n = g_mime_multipart_get_count((GMimeMultipart *)o);
        for (int i = 0; i < n; i++)
            walk(g_mime_multipart_get_part((GMimeMultipart *)o, i), depth + 1);
    } else if (GMIME_IS_MESSAGE_PART(o)) {
        GMimeMessage *msg = g_mime_message_part_get_message((GMimeMessagePart *)o);
        if (msg)
            walk(g_mime_message_get_mime_part(msg), depth + 1);
    } else if (GMIME_IS_PART(o)) {
        print_leaf((GMimePart *)o);
    }
}

int main(int argc, char **argv)
{
    int i = 1, multi = argc > 1 && !strcmp(argv[1], "-H");
    g_mime_init();
    for (i += multi; i < argc; i++) {
        if (multi)
            printf("== %s\n", argv[i]);
        GMimeStream *st = g_mime_stream_fs_open(argv[i], O_RDONLY, 0, NULL);
        if (!st) {
            perror(argv[i]);
            return 1;
        }
        GMimeParser *p = g_mime_parser_new_with_stream(st);
        g_mime_parser_set_format(p, GMIME_FORMAT_MESSAGE);
        GMimeMessage *msg = g_mime_parser_construct_message(p, NULL);
        if (msg) {
            walk(g_mime_message_get_mime_part(msg), 0);
            g_object_unref(msg);
        } else {
            printf("nomessage\n");
        }
        g_object_unref(p);
        g_object_unref(st);
    }
    g_mime_shutdown();
    return 0;
}
