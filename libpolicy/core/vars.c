/*
 * vars.c - per-client variables, qmail style: set by the caller, imported
 * from a qmail environment or looked up in tcp.smtp.cdb as tcpserver
 * would; and what they make of the layers for this client (POLICY_<LAYER>,
 * POLICY_LAYERS, POLICY_STAGES).  A value that a switch cannot take is
 * refused when it is set, so the session never runs on a half-read switch.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../support/tcprules.h"
#include "core.h"

static int var_name_ok(const char *n)
{
    size_t len = 0;
    if (!n || !*n)
        return 0;
    for (; n[len]; len++) {
        unsigned char c = (unsigned char)n[len];
        if (len >= POLICY_VAR_NAME_MAX || c <= ' ' || c == '=' || c > 0x7e)
            return 0;
    }
    return 1;
}

static struct var *var_find(const policy_session *s, const char *name)
{
    for (size_t i = 0; i < s->nvars; i++)
        if (!strcmp(s->vars[i].name, name))
            return (struct var *)&s->vars[i];
    return NULL;
}

/* var_action_ok - value is an action layer i may take (discard only where
 * the layer allows it). */
static int var_action_ok(size_t i, const char *value)
{
    enum layer_action a;
    if (layer_action_parse(value, &a))
        return 0;
    return a != LA_DISCARD || (layer_registry[i]->flags & LAYER_DISCARD);
}

/* layer_from_var - "POLICY_DNSBL" -> the index of layer "dnsbl", or -1. */
static int layer_from_var(const char *name)
{
    if (strncmp(name, "POLICY_", 7) != 0)
        return -1;
    for (size_t i = 0; i < layer_count; i++)
        if (str_ieq(name + 7, layer_registry[i]->name))
            return (int)i;
    return -1;
}

/* stages_parse - POLICY_STAGES: "all", "envelope" (connect to rcpt) or
 * "content" (data to eom): whose layers run.  -1 for anything else. */
static int stages_parse(const char *v, unsigned *mask)
{
    if (str_ieq(v, "all"))
        *mask = ENVELOPE_STAGES | CONTENT_STAGES;
    else if (str_ieq(v, "envelope"))
        *mask = ENVELOPE_STAGES;
    else if (str_ieq(v, "content"))
        *mask = CONTENT_STAGES;
    else
        return -1;
    return 0;
}

void vars_apply(policy_session *s)
{
    const struct var *stages = var_find(s, "POLICY_STAGES");
    s->stage_mask = ENVELOPE_STAGES | CONTENT_STAGES;
    if (stages)
        (void)stages_parse(stages->value, &s->stage_mask); /* validated by setvar */
    const struct var *only = var_find(s, "POLICY_LAYERS");
    for (size_t i = 0; i < layer_count; i++) {
        enum layer_action a = s->e->layers[i].common.action;
        char vname[POLICY_VAR_NAME_MAX + 1];
        snprintf(vname, sizeof(vname), "POLICY_%s", layer_registry[i]->name);
        for (char *p = vname + 7; *p; p++)
            if (*p >= 'a' && *p <= 'z')
                *p = (char)(*p - 'a' + 'A');
        const struct var *v = var_find(s, vname);
        if (v)
            (void)layer_action_parse(v->value, &a); /* validated by setvar */
        if (only && !words_has(only->value, layer_registry[i]->name))
            a = LA_OFF;
        s->laction[i] = a;
    }
}

void vars_free(policy_session *s)
{
    for (size_t i = 0; i < s->nvars; i++)
        free(s->vars[i].value);
    s->nvars = 0;
}

int policy_session_setvar(policy_session *s, const char *name, const char *value)
{
    struct var *v;
    char *copy = NULL;
    int li;

    if (!s || !var_name_ok(name))
        return -1;
    if (value) {
        if (strnlen(value, POLICY_VAR_VALUE_MAX + 1) > POLICY_VAR_VALUE_MAX)
            return -1;
        if ((li = layer_from_var(name)) >= 0 && !var_action_ok((size_t)li, value))
            return -1; /* POLICY_<LAYER> takes an action name only, one the layer may take */
        unsigned mask;
        if (!strcmp(name, "POLICY_STAGES") && stages_parse(value, &mask))
            return -1;
        copy = strdup(value);
        if (!copy)
            return -1;
    }
    v = var_find(s, name);
    if (!value) {
        if (v) {
            free(v->value);
            *v = s->vars[--s->nvars];
        }
    } else if (v) {
        free(v->value);
        v->value = copy;
    } else {
        if (s->nvars >= POLICY_MAX_VARS) {
            free(copy);
            return -1;
        }
        v = &s->vars[s->nvars++];
        snprintf(v->name, sizeof(v->name), "%s", name);
        v->value = copy;
    }
    vars_apply(s);
    if (!strcmp(name, "RELAYCLIENT") && s->state != SS_NEW)
        client_classify(s);
    return 0;
}

const char *policy_session_getvar(const policy_session *s, const char *name)
{
    const struct var *v = s && name ? var_find(s, name) : NULL;
    return v ? v->value : NULL;
}

/* known_var - a variable the library reads: the core's own (RELAYCLIENT
 * and the POLICY_* switches) and those the layers declare. */
static int known_var(const char *name)
{
    if (!strcmp(name, "RELAYCLIENT") || !strncmp(name, "POLICY_", 7))
        return 1;
    for (size_t i = 0; i < layer_count; i++)
        for (const char *const *v = layer_registry[i]->vars; v && *v; v++)
            if (!strcmp(name, *v))
                return 1;
    return 0;
}

int policy_session_import_env(policy_session *s, char *const *envp)
{
    int n = 0;
    if (!s || !envp)
        return 0;
    for (size_t i = 0; envp[i] && i < 100000; i++) {
        const char *eq = strchr(envp[i], '=');
        char name[POLICY_VAR_NAME_MAX + 1];
        size_t len;
        if (!eq || (len = (size_t)(eq - envp[i])) == 0 || len > POLICY_VAR_NAME_MAX)
            continue;
        memcpy(name, envp[i], len);
        name[len] = '\0';
        if (!known_var(name))
            continue;
        if (policy_session_setvar(s, name, eq + 1) == 0)
            n++;
        else
            plog(s, POLICY_LOG_WARNING, "ignored invalid variable %s from the environment", name);
    }
    return n;
}

static void tcprules_set(const char *name, const char *value, void *ctx)
{
    policy_session *s = ctx;
    if (policy_session_setvar(s, name, value) != 0)
        plog(s, POLICY_LOG_WARNING, "tcprules: ignored invalid variable %s", name);
}

int policy_session_tcprules(policy_session *s, const char *info)
{
    const char *path;
    char why[POLICY_ERR_MAX];
    int fd, r;

    if (!s)
        return -1;
    path = s->e->general.tcprules;
    if (!path || !*path || !s->client.ip_valid)
        return 0;
    /* reopened at every connection; never waits on a FIFO put in its place */
    if ((fd = file_open(path, why, sizeof(why))) < 0) {
        plog(s, POLICY_LOG_ERR, "tcprules: %s", why);
        s->tcprules_deny = -1;
        return -1;
    }
    r = tcprules_lookup_fd(fd, s->client.ip, *s->client.host ? s->client.host : NULL, info,
                           tcprules_set, s);
    close(fd);
    if (r < 0) {
        plog(s, POLICY_LOG_ERR, "tcprules: cannot read %s", path);
        s->tcprules_deny = -1;
        return -1;
    }
    s->tcprules_deny = r == 2;
    return r == 2 ? 1 : 0;
}
