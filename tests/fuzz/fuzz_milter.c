/*
 * fuzz_milter.c - libFuzzer harness for policy-milter's callbacks (milter
 * input as libmilter hands it over): the input is a program of callbacks in
 * any order with any arguments (addresses, macros - policy-queue's
 * {policy_env} too -, NUL-free strings, body bytes, odd socket addresses),
 * run through adapters/milter/callbacks.c
 * with libmilter replaced by stubs that check what the filter asks of it:
 *  - every status that refuses carries a reply libmilter would accept:
 *    4xx/5xx code, enhanced code of the same class, no CR/LF, '%' doubled;
 *  - REJECT comes with 5xx, TEMPFAIL with 4xx (421 for a disconnect);
 *  - header edits only at end of message, each a well-formed header;
 *  - nothing leaks: the close callback frees everything (LeakSanitizer).
 */
#include <arpa/inet.h>
#include <libmilter/mfapi.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "../../adapters/milter/milter.h"

/* ------------------------------------------------------------ libmilter stubs */

struct smfi_str {
    void *priv;
    int in_eom;
    char reply_code[8];
    int have_reply;
    const char *auth; /* {auth_authen} */
    const char *env;  /* {policy_env}: what policy-queue sends */
};

static void fail(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_milter: %s: %s\n", what, detail ? detail : "");
    abort();
}

int smfi_setpriv(SMFICTX *ctx, void *p)
{
    ctx->priv = p;
    return MI_SUCCESS;
}
void *smfi_getpriv(SMFICTX *ctx)
{
    return ctx->priv;
}
char *smfi_getsymval(SMFICTX *ctx, char *name)
{
    if (strcmp(name, "{policy_env}") == 0)
        return (char *)ctx->env;
    return strcmp(name, "{auth_authen}") == 0 ? (char *)ctx->auth : NULL;
}
/* the filter names a list for every stage: the macros it reads at MAIL,
 * none elsewhere (so Sendmail sends no macro packet there) */
int smfi_setsymlist(SMFICTX *ctx, int stage, char *list)
{
    (void)ctx;
    if (stage < SMFIM_CONNECT || stage > SMFIM_EOH || !list)
        fail("setsymlist stage", list);
    if (strcmp(list, stage == SMFIM_ENVFROM ? "{auth_authen} {opMode}" : "") != 0)
        fail("setsymlist list", list);
    return MI_SUCCESS;
}

int smfi_setreply(SMFICTX *ctx, char *rcode, char *xcode, char *message)
{
    if (!rcode || strlen(rcode) != 3 || (rcode[0] != '4' && rcode[0] != '5') || rcode[1] < '0' ||
        rcode[1] > '9' || rcode[2] < '0' || rcode[2] > '9')
        fail("reply code", rcode);
    if (!xcode || xcode[0] != rcode[0] || xcode[1] != '.')
        fail("enhanced code class", xcode);
    if (message) {
        if (strpbrk(message, "\r\n"))
            fail("CR/LF in reply", message);
        if (strlen(message) > 980)
            fail("reply too long", message);
        for (const char *p = message; *p; p++) {
            if ((unsigned char)*p < ' ' || (unsigned char)*p > '~')
                fail("unprintable reply", message);
            if (*p == '%') {
                if (p[1] != '%')
                    fail("lone % in reply", message);
                p++;
            }
        }
    }
    snprintf(ctx->reply_code, sizeof(ctx->reply_code), "%s", rcode);
    ctx->have_reply = 1;
    return MI_SUCCESS;
}

static void check_header(SMFICTX *ctx, const char *name, const char *value)
{
    if (!ctx->in_eom)
        fail("header edit outside end of message", name);
    if (!*name)
        fail("empty header name", name);
    for (const char *p = name; *p; p++)
        if (*p <= ' ' || *p > '~' || *p == ':')
            fail("bad header name", name);
    for (const char *p = value; *p; p++) {
        if (*p == '\r')
            fail("CR in header value", value);
        if (*p == '\n' && p[1] != ' ' && p[1] != '\t')
            fail("LF not followed by WSP in header value", value);
    }
}
int smfi_addheader(SMFICTX *ctx, char *name, char *value)
{
    check_header(ctx, name, value);
    return MI_SUCCESS;
}
int smfi_insheader(SMFICTX *ctx, int idx, char *name, char *value)
{
    if (idx < 0)
        fail("insheader index", name);
    check_header(ctx, name, value);
    return MI_SUCCESS;
}
int smfi_chgheader(SMFICTX *ctx, char *name, int idx, char *value)
{
    if (idx < 1)
        fail("chgheader index", name);
    check_header(ctx, name, value ? value : "");
    return MI_SUCCESS;
}

/* ------------------------------------------------------------ daemon side */

static policy_engine *engines[2];
static int which;
static char dir[64];

policy_engine *milter_engine(void)
{
    return policy_engine_ref(engines[which]);
}
void milter_log(int level, const char *fmt, ...)
{
    (void)level;
    (void)fmt;
}

static void quiet(int level, const char *line, void *ctx)
{
    (void)level;
    (void)line;
    (void)ctx;
}

static void put(const char *name, const char *text)
{
    char path[160];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *fp = fopen(path, "w");
    if (!fp || fputs(text, fp) < 0 || fclose(fp) != 0)
        abort();
}

static void cleanup(void)
{
    static const char *const files[] = {"a.conf", "b.conf", "badhelo", "badmailfrom", "badrcptto"};
    char path[160];
    for (size_t i = 0; i < sizeof(files) / sizeof(*files); i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
    policy_engine_unref(engines[0]);
    policy_engine_unref(engines[1]);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char conf[1024], err[512], path[160];
    (void)argc;
    (void)argv;
    snprintf(dir, sizeof(dir), "/tmp/fuzz-milter.XXXXXX");
    if (!mkdtemp(dir))
        abort();
    atexit(cleanup);
    put("badhelo", "^[0-9.]+$\n\\.dyn\\.\n");
    put("badmailfrom", "@spam\\.test$\n");
    put("badrcptto", "^root@\n");
    for (int i = 0; i < 2; i++) {
        snprintf(conf, sizeof(conf),
                 /* a variable may turn a DNS layer on: never the real resolvers */
                 "[general]\ndns_servers = 127.0.0.1:9\ndns_timeout = 50ms\n"
                 "[customers]\nlocal_domains = example.test\ntrusted_networks = 10.0.0.0/8\n"
                 "[regex]\naction = %s\nbadhelo = %s/badhelo\nbadmailfrom = %s/badmailfrom\n"
                 "badrcptto = %s/badrcptto\nheader_block = Subject: viagra\n",
                 i ? "tag" : "reject", dir, dir, dir);
        snprintf(path, sizeof(path), "%s/%c.conf", dir, 'a' + i);
        put(i ? "b.conf" : "a.conf", conf);
        engines[i] = policy_engine_open(path, err, sizeof(err));
        if (!engines[i]) {
            fprintf(stderr, "%s\n", err);
            abort();
        }
        policy_engine_set_log(engines[i], quiet, NULL);
    }
    return 0;
}

/* ------------------------------------------------------------ the program */

struct input {
    const uint8_t *p;
    size_t n;
};

static int byte(struct input *in)
{
    if (!in->n)
        return -1;
    in->n--;
    return *in->p++;
}

/* str - up to a 0xff byte or 200 bytes, NUL-free (libmilter hands C strings) */
static char *str(struct input *in, char *buf, size_t len)
{
    size_t n = 0;
    while (in->n && *in->p != 0xff && n + 1 < len) {
        char ch = (char)*in->p++;
        in->n--;
        buf[n++] = ch ? ch : '@';
    }
    if (in->n && *in->p == 0xff) {
        in->p++;
        in->n--;
    }
    buf[n] = '\0';
    return buf;
}

static void status_ok(SMFICTX *ctx, sfsistat st, const char *cb)
{
    if (st == SMFIS_REJECT && (!ctx->have_reply || ctx->reply_code[0] != '5'))
        fail("REJECT without a 5xx reply", cb);
    if (st == SMFIS_TEMPFAIL && (!ctx->have_reply || ctx->reply_code[0] != '4'))
        fail("TEMPFAIL without a 4xx reply", cb);
    if (st != SMFIS_CONTINUE && st != SMFIS_REJECT && st != SMFIS_TEMPFAIL && st != SMFIS_DISCARD)
        fail("unexpected status", cb);
    ctx->have_reply = 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct input in = {data, size};
    struct smfi_str ctx;
    char a[256], b[256], e[256];
    char *argv[3];
    unsigned long pf[4];
    sfsistat st;

    memset(&ctx, 0, sizeof(ctx));
    which = byte(&in) & 1;
    for (int steps = 0; steps < 64; steps++) {
        int op = byte(&in);
        if (op < 0)
            break;
        switch (op % 14) {
        case 0:
            st = milter_desc.xxfi_negotiate(&ctx, 0x1ff, 0x1fffff, 0, 0, &pf[0], &pf[1], &pf[2],
                                            &pf[3]);
            if (st != SMFIS_CONTINUE)
                fail("negotiate", "status");
            break;
        case 1: { /* connect: family chosen by the next byte */
            int fam = byte(&in);
            struct sockaddr_storage ss;
            memset(&ss, 0, sizeof(ss));
            struct sockaddr *sa = (struct sockaddr *)&ss;
            str(&in, a, sizeof(a));
            switch (fam & 3) {
            case 0: {
                struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
                s4->sin_family = AF_INET;
                memcpy(&s4->sin_addr, data, size < 4 ? size : 4);
                break;
            }
            case 1: {
                struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
                s6->sin6_family = AF_INET6;
                memcpy(&s6->sin6_addr, data, size < 16 ? size : 16);
                if (fam & 4) { /* IPv4-mapped */
                    memset(&s6->sin6_addr, 0, 10);
                    s6->sin6_addr.s6_addr[10] = s6->sin6_addr.s6_addr[11] = 0xff;
                }
                break;
            }
            case 2:
                sa->sa_family = AF_UNIX;
                break;
            default:
                sa = (fam & 4) ? NULL : sa; /* no address, or family 0 */
                break;
            }
            status_ok(&ctx, milter_desc.xxfi_connect(&ctx, a, sa), "connect");
            break;
        }
        case 2:
            status_ok(&ctx, milter_desc.xxfi_helo(&ctx, str(&in, a, sizeof(a))), "helo");
            break;
        case 3: /* a macro: {auth_authen}, or policy-queue's {policy_env} */
            if (op & 0x20)
                ctx.env = str(&in, e, sizeof(e));
            else
                ctx.auth = str(&in, b, sizeof(b));
            break;
        case 4:
        case 5:
            argv[0] = str(&in, a, sizeof(a));
            argv[1] = op & 0x10 ? (char *)"SIZE=1000" : NULL;
            argv[2] = NULL;
            status_ok(&ctx,
                      op % 14 == 4 ? milter_desc.xxfi_envfrom(&ctx, argv)
                                   : milter_desc.xxfi_envrcpt(&ctx, argv),
                      op % 14 == 4 ? "envfrom" : "envrcpt");
            break;
        case 6:
            status_ok(&ctx, milter_desc.xxfi_data(&ctx), "data");
            break;
        case 7:
            str(&in, a, sizeof(a));
            status_ok(&ctx, milter_desc.xxfi_header(&ctx, a, str(&in, b, sizeof(b))), "header");
            break;
        case 8:
            status_ok(&ctx, milter_desc.xxfi_eoh(&ctx), "eoh");
            break;
        case 9: {
            size_t n = (size_t)byte(&in) & 0x7f;
            if (n > in.n)
                n = in.n;
            status_ok(&ctx, milter_desc.xxfi_body(&ctx, (unsigned char *)in.p, n), "body");
            in.p += n;
            in.n -= n;
            break;
        }
        case 10:
            ctx.in_eom = 1;
            status_ok(&ctx, milter_desc.xxfi_eom(&ctx), "eom");
            ctx.in_eom = 0;
            break;
        case 11:
            milter_desc.xxfi_abort(&ctx);
            break;
        case 12:
            milter_desc.xxfi_close(&ctx);
            break;
        default:
            ctx.auth = NULL;
            break;
        }
    }
    milter_desc.xxfi_close(&ctx);
    if (ctx.priv)
        fail("close left private data", "");
    return 0;
}
