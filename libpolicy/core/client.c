/*
 * client.c - facts about the client that every layer may need, worked out
 * once per connection by the core: its address as the MTA spells it, its
 * PTR name (one lookup, shared through listeners), whether it is a
 * customer (RELAYCLIENT, AUTH, trusted networks), which domains are ours,
 * and its operating system as p0f sees it (one question at connect,
 * answered with the other connect-time questions, never waited for beyond
 * its timeout).  These hold even when the customers layer's relay check
 * is off.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../support/address.h"
#include "../support/dns.h"
#include "../support/domains.h"
#include "../support/netlist.h"
#include "../support/p0f.h"
#include "core.h"

/* p0f may not have read the client's SYN when the question arrives (it
 * reads packets in blocks): "not seen" is asked again this often, until
 * p0f_timeout. */
#define P0F_RETRY_MS 25

/* [customers] keys the core owns (the layer keeps relay control and
 * sender_login). */
struct client_cfg {
    struct domainset local;
    int local_given; /* local_domains appeared: no built-in defaults */
    char *morercpthosts;
    struct netlist trusted;
    int trusted_given;
    int trust_unknown; /* a client whose address the MTA does not know is a customer */
};

/* ------------------------------------------------------------ address */

void client_set_address(struct client *c, const char *client_ip, const char *client_host)
{
    if (!client_ip || !*client_ip) {
        /* the MTA has no address for this client (Postfix's XCLIENT
         * ADDR=[UNAVAILABLE], a milter connect without one): a session all
         * the same, in which nothing looks at the address */
        c->ip_unknown = 1;
        snprintf(c->ip, sizeof(c->ip), "unknown");
    } else if (strlen(client_ip) < sizeof(c->ip)) {
        const char *ip = client_ip;
        char buf[64];
        /* tolerate the "[1.2.3.4]" and "IPv6:" spellings MTAs use */
        if (*ip == '[') {
            snprintf(buf, sizeof(buf), "%s", ip + 1);
            char *rb = strchr(buf, ']');
            if (rb)
                *rb = '\0';
            ip = buf;
        }
        if (!strncasecmp(ip, "IPv6:", 5))
            ip += 5;
        if (inet_pton(AF_INET, ip, c->addr) == 1)
            c->family = AF_INET, c->ip_valid = 1;
        else if (inet_pton(AF_INET6, ip, c->addr) == 1)
            c->family = AF_INET6, c->ip_valid = 1;
        if (c->ip_valid) /* canonical text: what tcprules and DNSBLs expect */
            inet_ntop(c->family, c->addr, c->ip, sizeof(c->ip));
        else
            sanitize_copy(c->ip, sizeof(c->ip), client_ip, strlen(client_ip));
    } else {
        snprintf(c->ip, sizeof(c->ip), "invalid");
    }
    /* an IPv4-mapped IPv6 address is the IPv4 client it stands for */
    if (c->ip_valid && c->family == AF_INET6 &&
        !memcmp(c->addr, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12)) {
        memmove(c->addr, c->addr + 12, 4);
        c->family = AF_INET;
        inet_ntop(AF_INET, c->addr, c->ip, sizeof(c->ip));
    }
    if (client_host && *client_host && *client_host != '[')
        sanitize_copy(c->host, sizeof(c->host), client_host, strlen(client_host));
}

/* ------------------------------------------------------------ customers */

struct client_cfg *client_cfg_new(void)
{
    struct client_cfg *c = calloc(1, sizeof(*c));
    if (c)
        domainset_init(&c->local);
    return c;
}

int client_cfg_set(struct client_cfg *c, const char *key, const char *v, struct cfg_err *err)
{
    char bad[256] = "";

    if (!strcmp(key, "local_domains")) { /* repeated or continued: more of them */
        c->local_given = 1;
        if (v[0] == '/') {
            if (domainset_add_file(&c->local, v, bad, sizeof(bad)))
                return cfg_fail(err, "%s", bad);
            return 0;
        }
        if (domainset_add_words(&c->local, v, bad, sizeof(bad)))
            return cfg_fail(err, "not a domain: %s", bad);
        return 0;
    }
    if (!strcmp(key, "morercpthosts")) {
        if (domainset_open_cdb(&c->local, v, bad, sizeof(bad)))
            return cfg_fail(err, "%s", bad);
        c->morercpthosts = strdup(v);
        return c->morercpthosts ? 0 : cfg_fail(err, "out of memory");
    }
    if (!strcmp(key, "trusted_networks")) {
        c->trusted_given = 1;
        if (netlist_add_words(&c->trusted, v, bad, sizeof(bad)))
            return cfg_fail(err, "not a network (address or address/prefix with no host bits): %s",
                            bad);
        return 0;
    }
    if (!strcmp(key, "trust_unknown_address"))
        return cfg_set_bool(v, &c->trust_unknown, err);
    return CFG_UNKNOWN_KEY;
}

/* client_cfg_load - the defaults that depend on the engine: localhost and
 * this host's name are local, loopback is trusted (Postfix's choices). */
int client_cfg_load(struct client_cfg *c, const policy_engine *e, struct cfg_err *err,
                    const char **key)
{
    if (!c->local_given) {
        *key = "local_domains";
        if (domainset_add(&c->local, "localhost", 9) ||
            domainset_add(&c->local, e->general.hostname, strlen(e->general.hostname)))
            return cfg_fail(err, "cannot add the default local domains");
    }
    if (!c->trusted_given && netlist_add_words(&c->trusted, "127.0.0.0/8 ::1/128", NULL, 0)) {
        *key = "trusted_networks";
        return cfg_fail(err, "out of memory");
    }
    return 0;
}

void client_cfg_free(struct client_cfg *c)
{
    if (!c)
        return;
    domainset_free(&c->local);
    netlist_clear(&c->trusted);
    free(c->morercpthosts);
    free(c);
}

void client_classify(policy_session *s)
{
    const struct client_cfg *c = s->e->client;
    struct client *cl = &s->client;
    if (cl->customer)
        return;
    if (policy_session_getvar(s, "RELAYCLIENT")) {
        cl->customer = 1;
        cl->customer_why = "relayclient";
    } else if (cl->authenticated) {
        cl->customer = 1;
        cl->customer_why = "auth";
    } else if (cl->ip_valid && netlist_match(&c->trusted, cl->family, cl->addr)) {
        cl->customer = 1;
        cl->customer_why = "trusted";
    } else if (cl->ip_unknown && c->trust_unknown) {
        cl->customer = 1;
        cl->customer_why = "unknown address trusted";
    }
}

int client_domain_is_local(const policy_session *s, const char *domain)
{
    /* "" (no domain: qmail's envnoathost) is ours */
    return domain[0] == '\0' || domainset_match(&s->e->client->local, domain);
}

int client_rcpt_is_local(policy_session *s)
{
    int st;
    const struct addr *a = session_rcpt_addr(s, &st);
    return st == ADDR_OK && client_domain_is_local(s, a->domain);
}

/* ------------------------------------------------------------ PTR name */

/* ptr_known - the name is known (or known to be missing): tell listeners. */
static void ptr_known(policy_session *s)
{
    struct client_ptr *p = &s->ptr;
    if (p->status == DNS_FOUND && !*s->client.host)
        snprintf(s->client.host, sizeof(s->client.host), "%s", p->names[0]);
    for (size_t i = 0; i < p->nlisteners; i++)
        p->listeners[i].fn(s, p->listeners[i].arg);
    p->nlisteners = 0;
}

/* ptr_keep - keep the names (copies in the connection arena). */
static int ptr_keep(policy_session *s, const char *const *names, size_t n)
{
    struct client_ptr *p = &s->ptr;
    if (!(p->names = arena_alloc(&s->conn, (n ? n : 1) * sizeof(*p->names))))
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (!(p->names[i] = arena_strndup(&s->conn, names[i], DNS_NAME_MAX)))
            return -1;
        str_lower(p->names[i]);
    }
    p->nnames = n;
    return 0;
}

static void on_ptr(struct dns_q *q, void *arg)
{
    policy_session *s = arg;
    struct client_ptr *p = &s->ptr;
    const struct dns_answer *a = dns_answer_of(q);
    p->status = a->status;
    p->why = a->why;
    p->q = NULL; /* answered: the resolver frees it with the group */
    if (a->status == DNS_FOUND) {
        const char **names = arena_alloc(&s->conn, a->n * sizeof(*names));
        for (size_t i = 0; names && i < a->n; i++)
            names[i] = a->rr[i].text;
        if (!names || ptr_keep(s, names, a->n) != 0) {
            p->status = DNS_ERROR;
            p->why = "out of memory";
        }
    }
    ptr_known(s);
}

int client_ptr(policy_session *s, void (*fn)(policy_session *s, void *arg), void *arg)
{
    struct client_ptr *p = &s->ptr;
    if (!s->client.ip_valid)
        return -1;
    if (p->started && p->status != DNS_PENDING) {
        if (fn)
            fn(s, arg);
        return 0;
    }
    if (fn) {
        if (p->nlisteners >= sizeof(p->listeners) / sizeof(*p->listeners))
            return -1;
        p->listeners[p->nlisteners].fn = fn;
        p->listeners[p->nlisteners].arg = arg;
        p->nlisteners++;
    }
    if (p->started)
        return 0;
    p->started = 1;
    p->deadline = dns_now_ms() + (double)s->e->general.dns_timeout_ms;
    if (*s->client.host) { /* the MTA knows the name: no question to ask */
        const char *given = s->client.host;
        p->status = ptr_keep(s, &given, 1) == 0 ? DNS_FOUND : DNS_ERROR;
        p->why = p->status == DNS_FOUND ? NULL : "out of memory";
        ptr_known(s);
        return 0;
    }
    char name[DNS_NAME_MAX + 1];
    struct dns *d = session_dns(s);
    if (!d || dns_reverse_name(s->client.family, s->client.addr, NULL, name, sizeof(name)) != 0 ||
        !(p->q = dns_start(d, p, name, DNS_PTR, 0, p->deadline, on_ptr, s))) {
        p->status = DNS_ERROR;
        p->why = "cannot ask the resolver";
        ptr_known(s);
    }
    return 0;
}

void client_ptr_wait(policy_session *s)
{
    if (s->ptr.started && s->ptr.status == DNS_PENDING)
        dns_wait(session_dns(s), &s->ptr);
}

int client_ptr_result(const policy_session *s, const char *const **names, size_t *n,
                      const char **why)
{
    *names = (const char *const *)s->ptr.names;
    *n = s->ptr.status == DNS_FOUND ? s->ptr.nnames : 0;
    *why = s->ptr.why;
    return s->ptr.status;
}

void client_ptr_free(policy_session *s)
{
    if (s->dns)
        dns_release_group(s->dns, &s->ptr);
}

/* ------------------------------------------------------------ operating system */

void client_os_begin(policy_session *s)
{
    const char *path = s->e->general.p0f;
    /* only where the client is talking to us now: policy-queue's content
     * sessions (POLICY_STAGES=content) come long after the connection */
    if (!path || !s->client.ip_valid || s->os_q || !(s->stage_mask & (1u << STAGE_CONNECT)))
        return;
    struct waiter *w = session_waiter(s);
    if (!w)
        return;
    s->os_q = p0f_start(w, path, s->client.ip, (unsigned)s->e->general.p0f_timeout_ms,
                        P0F_RETRY_MS);
    if (!s->os_q)
        plog(s, POLICY_LOG_ERR, "p0f: cannot ask: out of memory");
}

void client_os_note(policy_session *s)
{
    if (!s->os_q || s->os_noted || !p0f_done(s->os_q))
        return;
    const struct p0f_answer *a = p0f_answer_of(s->os_q);
    s->os_noted = 1;
    if (a->status == P0F_KNOWN)
        snprintf(s->client.os, sizeof(s->client.os), "%s%s%s", a->os_name,
                 a->os_flavor[0] ? " " : "", a->os_flavor);
    else
        plog(s, POLICY_LOG_INFO, "p0f: no verdict: %s", a->why ? a->why : "unknown");
}

void client_net(const struct client *cl, unsigned prefix4, unsigned prefix6, char *out,
                size_t len)
{
    unsigned char a[16];
    unsigned bits = cl->family == AF_INET ? prefix4 : prefix6;
    size_t n = cl->family == AF_INET ? 4 : 16;
    char ip[INET6_ADDRSTRLEN];
    memcpy(a, cl->addr, n);
    for (size_t i = 0; i < n; i++) {
        unsigned keep = bits > i * 8 ? bits - (unsigned)i * 8 : 0;
        if (keep < 8)
            a[i] &= (unsigned char)(0xff00u >> keep);
    }
    inet_ntop(cl->family, a, ip, sizeof(ip));
    snprintf(out, len, "%s/%u", ip, bits);
}

const struct p0f_answer *client_os(policy_session *s)
{
    if (!s->os_q)
        return NULL;
    p0f_wait(s->os_q); /* at once when the answer is in; never beyond p0f_timeout */
    client_os_note(s);
    return p0f_answer_of(s->os_q);
}

void client_os_free(policy_session *s)
{
    p0f_free(s->os_q);
    s->os_q = NULL;
}
