/*
 * null_milter.c - the benchmark's anchor: a libmilter filter that does
 * nothing.  It takes the same callbacks policy-milter takes (headers with
 * -H, the body with -B) and answers continue to each, so the difference
 * between the two is libpolicy's work, not the milter protocol's.
 *
 *   null_milter -p unix:/path [-H] [-B]
 */
#include <libmilter/mfapi.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int want_headers, want_body;

static sfsistat on_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1, unsigned long f2,
                             unsigned long f3, unsigned long *pf0, unsigned long *pf1,
                             unsigned long *pf2, unsigned long *pf3)
{
    (void)ctx;
    (void)f0;
    (void)f2;
    (void)f3;
    unsigned long skip = SMFIP_NOUNKNOWN | SMFIP_NOEOH;
    if (!want_headers)
        skip |= SMFIP_NOHDRS;
    if (!want_body)
        skip |= SMFIP_NOBODY;
    *pf0 = 0;
    *pf1 = skip & f1;
    *pf2 = *pf3 = 0;
    return SMFIS_CONTINUE;
}

static sfsistat on_connect(SMFICTX *c, char *h, struct sockaddr *a)
{
    (void)c, (void)h, (void)a;
    return SMFIS_CONTINUE;
}
static sfsistat on_str(SMFICTX *c, char *s)
{
    (void)c, (void)s;
    return SMFIS_CONTINUE;
}
static sfsistat on_argv(SMFICTX *c, char **v)
{
    (void)c, (void)v;
    return SMFIS_CONTINUE;
}
static sfsistat on_header(SMFICTX *c, char *n, char *v)
{
    (void)c, (void)n, (void)v;
    return SMFIS_CONTINUE;
}
static sfsistat on_body(SMFICTX *c, unsigned char *b, size_t n)
{
    (void)c, (void)b, (void)n;
    return SMFIS_CONTINUE;
}
static sfsistat on_ctx(SMFICTX *c)
{
    (void)c;
    return SMFIS_CONTINUE;
}

int main(int argc, char **argv)
{
    const char *sock = NULL;
    int opt;
    while ((opt = getopt(argc, argv, "p:HB")) != -1) {
        if (opt == 'p')
            sock = optarg;
        else if (opt == 'H')
            want_headers = 1;
        else if (opt == 'B')
            want_body = 1;
        else
            return 64;
    }
    if (!sock) {
        fprintf(stderr, "usage: null_milter -p SOCKET [-H] [-B]\n");
        return 64;
    }
    struct smfiDesc d = {
        .xxfi_name = "null",
        .xxfi_version = SMFI_VERSION,
        .xxfi_connect = on_connect,
        .xxfi_helo = on_str,
        .xxfi_envfrom = on_argv,
        .xxfi_envrcpt = on_argv,
        .xxfi_header = on_header,
        .xxfi_eoh = on_ctx,
        .xxfi_body = on_body,
        .xxfi_eom = on_ctx,
        .xxfi_abort = on_ctx,
        .xxfi_close = on_ctx,
        .xxfi_data = on_ctx,
        .xxfi_negotiate = on_negotiate,
    };
    if (!strncmp(sock, "unix:", 5))
        unlink(sock + 5);
    umask(0111); /* the MTA's user must be able to connect, as with policy-milter */
    if (smfi_setconn((char *)sock) != MI_SUCCESS || smfi_register(d) != MI_SUCCESS)
        return 69;
    return smfi_main() == MI_SUCCESS ? 0 : 1;
}
