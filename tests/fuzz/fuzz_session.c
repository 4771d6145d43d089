/*
 * fuzz_session.c - libFuzzer harness for the stage API as an adapter (or a
 * hostile client through it) drives it: the input is a program of stage
 * calls in any order with any arguments, run against an engine with the
 * customers and regex layers on.  Checks the promises of policy.h, not
 * just crashes: every reply is one bounded printable line with a code that
 * fits its action, and every edit is one well-formed header.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpolicy/policy.h>

static policy_engine *engine;
static char dir[64];

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
    static const char *const files[] = {"policy.conf", "badhelo", "badmailfrom", "badrcptto",
                                        "badrcpttonorelay"};
    char path[160];
    for (size_t i = 0; i < sizeof(files) / sizeof(*files); i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char conf[1024], err[512];
    (void)argc;
    (void)argv;
    snprintf(dir, sizeof(dir), "/tmp/fuzz-session.XXXXXX");
    if (!mkdtemp(dir))
        abort();
    atexit(cleanup);
    put("badhelo", "^[0-9.]+$\n!\\.\n\\.dyn\\.\n");
    put("badmailfrom", "@spam\\.test$\n^bulk[0-9]*@\n");
    put("badrcptto", "^root@\n");
    put("badrcpttonorelay", "^abuse-me@\n");
    snprintf(conf, sizeof(conf),
             /* a variable may turn a DNS layer on: never the real resolvers */
             "[general]\ndns_servers = 127.0.0.1:9\ndns_timeout = 50ms\n"
             "[customers]\nlocal_domains = example.test .example.test\n"
             "trusted_networks = 10.0.0.0/8 2001:db8::/32\nsender_login = address\n"
             "[regex]\nbadhelo = %s/badhelo\nbadmailfrom = %s/badmailfrom\n"
             "badrcptto = %s/badrcptto\nbadrcpttonorelay = %s/badrcpttonorelay\n"
             "header_block = Subject: viagra\nheader_block = X-Mailer: !^ok\n"
             "[botnet]\ngreet_delay = 1\ngreet_delay_unknown = 2\ngreet_delay_dynamic = 3\n"
             "antipipelining = yes\n",
             dir, dir, dir, dir);
    put("policy.conf", conf);
    snprintf(conf, sizeof(conf), "%s/policy.conf", dir);
    engine = policy_engine_open(conf, err, sizeof(err));
    if (!engine)
        abort();
    return 0;
}

/* The program being run: a cursor over the input. */
struct prog {
    const uint8_t *p;
    size_t left;
};

static unsigned byte(struct prog *g)
{
    if (!g->left)
        return 0;
    g->left--;
    return *g->p++;
}

/* str - a length byte, then that many bytes (fewer at the end), NUL-ended. */
static const char *str(struct prog *g, char *buf, size_t cap)
{
    size_t n = byte(g);
    if (n > g->left)
        n = g->left;
    if (n >= cap)
        n = cap - 1;
    memcpy(buf, g->p, n);
    buf[n] = '\0'; /* an embedded NUL just ends the C string early */
    g->p += n;
    g->left -= n;
    return buf;
}

static void check_line(const char *s, size_t max)
{
    size_t n = 0;
    for (; s[n]; n++)
        if ((unsigned char)s[n] < 0x20 || (unsigned char)s[n] > 0x7e)
            abort();
    if (n > max)
        abort();
}

static void check_reply(const policy_session *s, policy_action a)
{
    const policy_reply *r = policy_last_reply(s);
    if (!r || r->action != a || (unsigned)a > POLICY_DISCONNECT)
        abort();
    check_line(r->text, 400);
    check_line(r->xcode, 11);
    check_line(r->reason, 400);
    check_line(r->layer, 64);
    int cls = r->code / 100;
    if ((a == POLICY_REJECT && cls != 5) || (a == POLICY_TEMPFAIL && cls != 4) ||
        (a == POLICY_DISCONNECT && r->code != 421) ||
        ((a == POLICY_CONTINUE || a == POLICY_ACCEPT) && cls != 2 && cls != 3))
        abort();
    if (r->xcode[0] && r->xcode[0] != '0' + cls)
        abort();

    const policy_edit *ed;
    size_t ne = policy_edits(s, &ed);
    for (size_t i = 0; i < ne; i++) {
        if (!ed[i].name[0] || strpbrk(ed[i].name, ": \t\r\n"))
            abort();
        for (const char *v = ed[i].value; *v; v++)
            if ((*v == '\r' || *v == '\n') && v[1] != ' ' && v[1] != '\t' && v[1] != '\n')
                abort(); /* a line break that is not folding: header injection */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const ips[] = {
        "192.0.2.1", "10.1.2.3", "2001:db8::1", "::ffff:192.0.2.9", "[127.0.0.1]",
        "not-an-ip", "",         "IPv6:::1"};
    struct prog g = {data, size};
    char a1[300], a2[300];
    const char *ip = ips[byte(&g) % (sizeof(ips) / sizeof(*ips))];
    char host[300];
    policy_session *s =
        policy_session_new(engine, ip, byte(&g) & 1 ? str(&g, host, sizeof(host)) : NULL);
    if (!s)
        abort();
    for (int steps = 0; g.left && steps < 200; steps++) {
        policy_action a = POLICY_CONTINUE;
        int stage = 1;
        switch (byte(&g) % 16) {
        case 0:
            a = policy_connect(s);
            break;
        case 1:
            a = policy_helo(s, str(&g, a1, sizeof(a1)));
            break;
        case 2:
            a = policy_auth(s, str(&g, a1, sizeof(a1)));
            break;
        case 3:
            a = policy_mail(s, str(&g, a1, sizeof(a1)));
            break;
        case 4:
            a = policy_rcpt(s, str(&g, a1, sizeof(a1)));
            break;
        case 5:
            a = policy_data(s);
            break;
        case 6:
            str(&g, a1, sizeof(a1));
            a = policy_header(s, a1, str(&g, a2, sizeof(a2)));
            break;
        case 7:
            str(&g, a1, sizeof(a1));
            a = policy_body(s, a1, strlen(a1));
            break;
        case 8:
            a = policy_eom(s);
            break;
        case 9:
            policy_reset(s);
            stage = 0;
            break;
        case 10:
            str(&g, a1, sizeof(a1));
            (void)policy_session_setvar(s, a1, byte(&g) & 1 ? str(&g, a2, sizeof(a2)) : NULL);
            stage = 0;
            break;
        case 11:
            (void)policy_session_tcprules(s, NULL);
            stage = 0;
            break;
        case 12:
            a = policy_helo(s, NULL);
            break;
        case 13: /* the greeting, as the qmail glue drives it */
            (void)policy_greeting_delay(s);
            (void)policy_session_limit(s);
            (void)policy_receive_throttle(s);
            a = policy_early_talker(s);
            break;
        case 14: /* a command before its reply, as the qmail glue reports it */
            a = policy_pipelining(s);
            break;
        default:
            a = policy_rcpt(s, "postmaster");
            break;
        }
        if (stage)
            check_reply(s, a);
    }
    policy_session_free(s);
    return 0;
}
