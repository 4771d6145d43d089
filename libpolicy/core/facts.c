/*
 * facts.c - what one layer establishes for the others, kept by the core
 * so that no layer calls another: the SPF result of the sender (DMARC and
 * greylisting read it), a DNSWL listing of the client (greylisting spares
 * it).  A fact lives as long as its scope: the connection, or the
 * transaction it was set in.  Bounded: short names and values, a fixed
 * number of facts.
 */
#include <stdio.h>
#include <string.h>

#include "core.h"

static struct fact *find(const policy_session *s, const char *name)
{
    for (size_t i = 0; i < FACTS_MAX; i++)
        if (s->facts[i].scope && !strcmp(s->facts[i].name, name))
            return (struct fact *)&s->facts[i];
    return NULL;
}

int session_fact_set(policy_session *s, enum fact_scope scope, const char *name, const char *value)
{
    if (!name || !*name || strlen(name) >= sizeof(s->facts[0].name))
        return -1;
    struct fact *f = find(s, name);
    for (size_t i = 0; !f && i < FACTS_MAX; i++)
        if (!s->facts[i].scope)
            f = &s->facts[i];
    if (!f)
        return -1;
    f->scope = scope;
    snprintf(f->name, sizeof(f->name), "%s", name);
    sanitize_copy(f->value, sizeof(f->value), value ? value : "", SIZE_MAX);
    return 0;
}

const char *session_fact(const policy_session *s, const char *name)
{
    const struct fact *f = find(s, name);
    return f ? f->value : NULL;
}

void facts_end_transaction(policy_session *s)
{
    for (size_t i = 0; i < FACTS_MAX; i++)
        if (s->facts[i].scope == FACT_TRANSACTION)
            s->facts[i].scope = 0;
}
