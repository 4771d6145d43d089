/*
 * bench_mime.c - MIME parse + decode throughput on one core, libpolicy's
 * streaming parser against GMime 3 on the same messages in one run: ours
 * fed each message and delivering every part's decoded bytes to a
 * callback; GMime parsing each into its tree and decoding every leaf part
 * into a null stream.  Messages are loaded into memory first (and wrapped
 * in GMime streams without copying), so the figures are parser and decoder
 * only; time is the thread's CPU time, so that other work on the machine
 * does not count.  usage: bench_mime DIR [SECONDS]   (DIR: a corpus, searched for
 * *.txt files, e.g. the SpamAssassin corpus of scripts/fetch-corpus.sh)
 */
#include <dirent.h>
#include <gmime/gmime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "mime.h"

/* cpu_now - CPU seconds of this thread. */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct msg {
    unsigned char *data;
    size_t len;
    GByteArray *array; /* the same bytes for GMime's memory stream */
};

static struct msg *msgs;
static size_t nmsgs, capmsgs, total;

/* load_dir - every *.txt file below dir into memory. */
static void load_dir(const char *dir, int depth)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    if (!d || depth > 4)
        return;
    while ((e = readdir(d)) != NULL) {
        char path[4096];
        struct stat st;
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (stat(path, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            load_dir(path, depth + 1);
            continue;
        }
        size_t l = strlen(e->d_name);
        if (l < 4 || strcmp(e->d_name + l - 4, ".txt") != 0)
            continue;
        FILE *f = fopen(path, "rb");
        if (!f)
            continue;
        if (nmsgs == capmsgs) {
            capmsgs = capmsgs ? capmsgs * 2 : 1024;
            msgs = realloc(msgs, capmsgs * sizeof(*msgs));
            if (!msgs)
                exit(1);
        }
        struct msg *m = &msgs[nmsgs];
        m->data = malloc((size_t)st.st_size + 1);
        if (!m->data)
            exit(1);
        m->len = fread(m->data, 1, (size_t)st.st_size, f);
        fclose(f);
        m->array = g_byte_array_sized_new((guint)m->len);
        g_byte_array_append(m->array, m->data, (guint)m->len);
        total += m->len;
        nmsgs++;
    }
    closedir(d);
}

static uint64_t decoded_ours, decoded_gmime;
static unsigned parts_ours, parts_gmime;

static void on_body(void *ctx, const struct mime_part *p, const unsigned char *d, size_t n)
{
    (void)ctx, (void)p, (void)d;
    decoded_ours += n;
}

static void on_end(void *ctx, const struct mime_part *p)
{
    (void)ctx;
    parts_ours += p->kind == MIME_LEAF;
}

/* ours - one pass over every message; returns the seconds it took. */
static double ours(void)
{
    struct mime_handler h = {.want = MIME_WANT_BODY, .body = on_body, .part_end = on_end};
    double t0 = cpu_now();
    for (size_t i = 0; i < nmsgs; i++) {
        struct mime_parser *m = mime_new(&h, NULL);
        if (!m)
            exit(1);
        mime_feed(m, msgs[i].data, msgs[i].len);
        mime_finish(m);
        mime_free(m);
    }
    return cpu_now() - t0;
}

/* gm_walk - decode every leaf below o into the null stream. */
static void gm_walk(GMimeObject *o, GMimeStream *null, int depth)
{
    if (!o || depth > 100)
        return;
    if (GMIME_IS_MULTIPART(o)) {
        int n = g_mime_multipart_get_count((GMimeMultipart *)o);
        for (int i = 0; i < n; i++)
            gm_walk(g_mime_multipart_get_part((GMimeMultipart *)o, i), null, depth + 1);
    } else if (GMIME_IS_MESSAGE_PART(o)) {
        GMimeMessage *msg = g_mime_message_part_get_message((GMimeMessagePart *)o);
        if (msg)
            gm_walk(g_mime_message_get_mime_part(msg), null, depth + 1);
    } else if (GMIME_IS_PART(o)) {
        GMimeDataWrapper *w = g_mime_part_get_content((GMimePart *)o);
        parts_gmime++;
        if (w) {
            gint64 before = g_mime_stream_tell(null);
            g_mime_data_wrapper_write_to_stream(w, null);
            decoded_gmime += (uint64_t)(g_mime_stream_tell(null) - before);
        }
    }
}

static double gmime(void)
{
    GMimeStream *null = g_mime_stream_null_new();
    double t0 = cpu_now();
    for (size_t i = 0; i < nmsgs; i++) {
        GMimeStream *st = g_mime_stream_mem_new_with_byte_array(msgs[i].array);
        g_mime_stream_mem_set_owner((GMimeStreamMem *)st, FALSE);
        GMimeParser *p = g_mime_parser_new_with_stream(st);
        g_mime_parser_set_format(p, GMIME_FORMAT_MESSAGE);
        GMimeMessage *m = g_mime_parser_construct_message(p, NULL);
        if (m) {
            gm_walk(g_mime_message_get_mime_part(m), null, 0);
            g_object_unref(m);
        }
        g_object_unref(p);
        g_object_unref(st);
    }
    double t = cpu_now() - t0;
    g_object_unref(null);
    return t;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_mime DIR [SECONDS]\n");
        return 2;
    }
    double seconds = argc > 2 ? atof(argv[2]) : 3.0;
    g_mime_init();
    load_dir(argv[1], 0);
    if (!nmsgs) {
        fprintf(stderr, "bench_mime: no *.txt messages under %s\n", argv[1]);
        return 1;
    }
    /* warm up once each, then alternate passes for the time given */
    ours();
    gmime();
    uint64_t d_ours = decoded_ours, d_gm = decoded_gmime;
    unsigned p_ours = parts_ours, p_gm = parts_gmime;
    double t_ours = 0, t_gm = 0;
    int passes = 0;
    do {
        t_ours += ours();
        t_gm += gmime();
        passes++;
    } while (t_ours + t_gm < seconds);
    double mb = (double)total * passes / 1e6;
    printf("bench_mime: parse + decode every part, %zu messages, %.1f MB, one core (CPU time), %d "
           "passes\n",
           nmsgs, (double)total / 1e6, passes);
    printf("  %-36s %8.1f MB/s  (%u leaf parts, %llu decoded bytes)\n",
           "libpolicy mime (streaming)", mb / t_ours, p_ours, (unsigned long long)d_ours);
    printf("  %-36s %8.1f MB/s  (%u leaf parts, %llu decoded bytes)\n", "GMime 3 (tree + decode)",
           mb / t_gm, p_gm, (unsigned long long)d_gm);
    printf("  ratio libpolicy / GMime: %.2fx (target >= 1.5x)\n", t_gm / t_ours);
    g_mime_shutdown();
    return 0;
}
