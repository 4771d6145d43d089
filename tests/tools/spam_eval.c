/*
 * spam_eval - the spam filter's evaluation harness: trains and classifies
 * raw messages from a split file ("GROUP LABEL PATH" lines, in training
 * order; tests/bench/spam_split.py writes them) with the tokenizer, the
 * classifier and the in-memory store, and prints one score line per test
 * message plus the times, so that tests/bench/spam_eval.sh can put it side
 * by side with bogofilter on the same folds.
 *
 *   spam_eval run SPLIT [--test G | --cv] [options]   scores on stdout:
 *       "GROUP LABEL RANK SCORE PATH"; times on stderr
 *   spam_eval parse SPLIT [options]                   read and tokenize only:
 *       the tokenizer's own speed
 *   spam_eval tokens FILE...                          each feature as text
 *
 * options: --model logreg|chi2  --mode toe|all (default toe)  --rate R  --msg-weight W
 *          --thick T
 *          --robs S --robx X --min-dev D  --max-features N  --window W
 *          --features LIST (words,osb,bigrams,urls,headers,mime,nolists)
 *          --bits B (cut keys to B bits, as a small hash table would)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mime.h"
#include "spamclass.h"
#include "spamstore.h"
#include "spamtok.h"

struct msg {
    int group, spam;
    char *path;
};

struct eval {
    struct spamtok_opts to;
    struct spamclass_params cp;
    int mode;
    unsigned bits;
    struct spamtok *tok;
    struct mime_parser *mp;
    unsigned char *buf;
    size_t bufcap;
    double t_train, t_class;
    size_t n_train, n_class, n_trained, feat_sum;
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts); /* CPU time: the machine may be shared */
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* slurp - the file into e->buf; its length, or -1. */
static ssize_t slurp(struct eval *e, const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        close(fd);
        return -1;
    }
    size_t need = (size_t)st.st_size + 1;
    if (need > e->bufcap) {
        unsigned char *b = realloc(e->buf, need);
        if (!b) {
            close(fd);
            return -1;
        }
        e->buf = b;
        e->bufcap = need;
    }
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, e->buf + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    return (ssize_t)got;
}

/* features - read, parse and tokenize one message. */
static const uint64_t *features(struct eval *e, const char *path, size_t *n, size_t *nmsg)
{
    ssize_t len = slurp(e, path);
    if (len < 0) {
        fprintf(stderr, "spam_eval: cannot read %s\n", path);
        exit(1);
    }
    spamtok_message(e->tok, e->mp, e->buf, (size_t)len);
    return spamtok_features(e->tok, n, nmsg);
}

static struct msg *read_split(const char *file, size_t *count)
{
    FILE *f = fopen(file, "r");
    if (!f) {
        perror(file);
        exit(1);
    }
    size_t n = 0, cap = 1024;
    struct msg *m = malloc(cap * sizeof(*m));
    char line[4096], label[16], path[4000];
    int g;
    while (m && fgets(line, sizeof(line), f)) {
        if (sscanf(line, "%d %15s %3999s", &g, label, path) != 3)
            continue;
        if (n == cap)
            m = realloc(m, (cap *= 2) * sizeof(*m));
        if (!m)
            break;
        m[n].group = g;
        m[n].spam = !strcmp(label, "spam");
        m[n].path = strdup(path);
        n++;
    }
    fclose(f);
    if (!m) {
        fprintf(stderr, "spam_eval: out of memory\n");
        exit(1);
    }
    *count = n;
    return m;
}

/* run_group - train on every group but g, score group g. */
static void run_group(struct eval *e, const struct msg *m, size_t n, int g)
{
    struct spamstore_mem *st = spamstore_mem_new(0, 0);
    if (!st) {
        fprintf(stderr, "spam_eval: out of memory\n");
        exit(1);
    }
    if (e->bits)
        spamstore_mem_limit_bits(st, e->bits);
    struct spamclass *c = spamclass_new(spamstore_mem_ops(), st, &e->cp);
    double t0 = now();
    for (size_t i = 0; i < n; i++) {
        if (m[i].group == g)
            continue;
        size_t nf, nm;
        const uint64_t *f = features(e, m[i].path, &nf, &nm);
        enum spamclass_trained what;
        if (spamclass_train(c, f, nf, nm, m[i].spam, e->mode, &what) != SPAMSTORE_OK) {
            fprintf(stderr, "spam_eval: training failed\n");
            exit(1);
        }
        e->n_train++;
        e->n_trained += what == SPAMCLASS_LEARNED || what == SPAMCLASS_CORRECTED;
    }
    double t1 = now();
    e->t_train += t1 - t0;
    for (size_t i = 0; i < n; i++) {
        if (m[i].group != g)
            continue;
        size_t nf, nm;
        double a = now();
        const uint64_t *f = features(e, m[i].path, &nf, &nm);
        struct spamclass_result r;
        if (spamclass_classify(c, f, nf, nm, &r) != SPAMSTORE_OK) {
            fprintf(stderr, "spam_eval: classify failed\n");
            exit(1);
        }
        e->t_class += now() - a;
        e->n_class++;
        e->feat_sum += nf;
        printf("%d %s %.17g %.9f %s\n", g, m[i].spam ? "spam" : "ham", r.rank, r.score, m[i].path);
    }
    size_t bytes, recs = spamstore_mem_records(st, &bytes);
    fprintf(stderr, "group %d: %zu keys, %zu records (%zu bytes)\n", g, spamstore_mem_keys(st),
            recs, bytes);
    spamclass_free(c);
    spamstore_mem_free(st);
}

static unsigned parse_features(const char *s)
{
    static const struct {
        const char *name;
        unsigned bit;
    } names[] = {{"words", SPAMTOK_WORDS},     {"osb", SPAMTOK_OSB},
                 {"bigrams", SPAMTOK_BIGRAMS}, {"urls", SPAMTOK_URLS},
                 {"headers", SPAMTOK_HEADERS}, {"mime", SPAMTOK_MIME},
                 {"nolists", SPAMTOK_NOLISTS}};
    unsigned v = 0;
    char *copy = strdup(s), *save = NULL;
    for (char *w = strtok_r(copy, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
        size_t i;
        for (i = 0; i < sizeof(names) / sizeof(*names); i++)
            if (!strcmp(w, names[i].name))
                break;
        if (i == sizeof(names) / sizeof(*names)) {
            fprintf(stderr, "spam_eval: unknown feature family %s\n", w);
            exit(2);
        }
        v |= names[i].bit;
    }
    free(copy);
    return v;
}

static void dump(void *ctx, const char *tok, size_t len, uint64_t h)
{
    (void)ctx;
    printf("%016llx %.*s\n", (unsigned long long)h, (int)len, tok);
}

static void usage(void)
{
    fprintf(stderr, "usage: spam_eval run SPLIT [--test G | --cv] [options]\n"
                    "       spam_eval parse SPLIT [options]\n"
                    "       spam_eval tokens FILE...\n");
    exit(2);
}

int main(int argc, char **argv)
{
    struct eval e = {.mode = SPAMCLASS_TRAIN_ON_ERROR};
    int test = -1, cv = 0;
    if (argc < 3)
        usage();
    int tokens = !strcmp(argv[1], "tokens"), parse = !strcmp(argv[1], "parse");
    if (!tokens && !parse && strcmp(argv[1], "run"))
        usage();
    int i = tokens ? 2 : 3;
    for (; i < argc && !strncmp(argv[i], "--", 2); i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(o, "--cv")) {
            cv = 1;
            continue;
        }
        if (!v)
            usage();
        i++;
        if (!strcmp(o, "--test"))
            test = atoi(v);
        else if (!strcmp(o, "--model"))
            e.cp.model = !strcmp(v, "chi2") ? SPAMCLASS_CHI2 : SPAMCLASS_LOGREG;
        else if (!strcmp(o, "--mode"))
            e.mode = !strcmp(v, "toe") ? SPAMCLASS_TRAIN_ON_ERROR : SPAMCLASS_TRAIN_ALL;
        else if (!strcmp(o, "--rate"))
            e.cp.rate = atof(v);
        else if (!strcmp(o, "--msg-weight"))
            e.cp.msg_weight = atof(v);
        else if (!strcmp(o, "--thick"))
            e.cp.toe_thick = atof(v);
        else if (!strcmp(o, "--robs"))
            e.cp.robs = atof(v);
        else if (!strcmp(o, "--robx"))
            e.cp.robx = atof(v);
        else if (!strcmp(o, "--min-dev"))
            e.cp.min_dev = atof(v) > 0 ? atof(v) : -1;
        else if (!strcmp(o, "--max-features"))
            e.to.max_features = (unsigned)atoi(v);
        else if (!strcmp(o, "--window"))
            e.to.window = (unsigned)atoi(v);
        else if (!strcmp(o, "--features"))
            e.to.features = parse_features(v);
        else if (!strcmp(o, "--bits"))
            e.bits = (unsigned)atoi(v);
        else
            usage();
    }
    if (tokens) {
        e.to.debug = dump;
    }
    e.tok = spamtok_new(&e.to);
    struct mime_handler h;
    spamtok_mime_handler(e.tok, &h);
    e.mp = mime_new(&h, NULL);
    if (!e.tok || !e.mp) {
        fprintf(stderr, "spam_eval: out of memory\n");
        return 1;
    }
    size_t n = 0;
    struct msg *m = NULL;
    if (tokens) {
        for (; i < argc; i++) {
            size_t nf, nm;
            printf("== %s\n", argv[i]);
            features(&e, argv[i], &nf, &nm);
            printf("== %zu features (%zu message, %zu text), %zu dropped, list mail %d\n", nf, nm,
                   nf - nm, spamtok_dropped(e.tok), spamtok_listmail(e.tok));
        }
        goto out;
    }
    m = read_split(argv[2], &n);
    if (parse) {
        size_t total = 0, nf, nm;
        double t0 = now();
        for (size_t k = 0; k < n; k++) {
            features(&e, m[k].path, &nf, &nm);
            total += nf;
        }
        double t = now() - t0;
        fprintf(stderr, "parse: %zu messages in %.3f s (%.0f/s), %.0f features per message\n", n, t,
                n / (t > 0 ? t : 1e-9), n ? (double)total / (double)n : 0.0);
        goto out;
    }
    int maxg = 0;
    for (size_t k = 0; k < n; k++)
        maxg = m[k].group > maxg ? m[k].group : maxg;
    if (cv) {
        for (int g = 0; g <= maxg; g++)
            run_group(&e, m, n, g);
    } else {
        run_group(&e, m, n, test >= 0 ? test : maxg);
    }
    fprintf(stderr,
            "train: %zu messages in %.3f s (%.0f/s), %zu trained; classify: %zu messages in "
            "%.3f s (%.0f/s), %.0f features per message\n",
            e.n_train, e.t_train, e.n_train / (e.t_train > 0 ? e.t_train : 1e-9), e.n_trained,
            e.n_class, e.t_class, e.n_class / (e.t_class > 0 ? e.t_class : 1e-9),
            e.n_class ? (double)e.feat_sum / (double)e.n_class : 0.0);
out:
    mime_free(e.mp);
    spamtok_free(e.tok);
    for (size_t k = 0; k < n; k++)
        free(m[k].path);
    free(m);
    free(e.buf);
    return 0;
}
