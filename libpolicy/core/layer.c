/*
 * layer.c - what every layer shares with the core: findings and the names
 * of stages and actions.
 */
#include <stdarg.h>
#include <stdio.h>

#include "layer.h"

/* ------------------------------------------------------------ findings */

void finding_set(struct finding *f, int code, const char *xcode, const char *fmt, ...)
{
    va_list ap;
    f->code = code;
    snprintf(f->xcode, sizeof(f->xcode), "%s", xcode ? xcode : "");
    va_start(ap, fmt);
    vsnprintf(f->text, sizeof(f->text), fmt, ap);
    va_end(ap);
}

void finding_reason(struct finding *f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->reason, sizeof(f->reason), fmt, ap);
    va_end(ap);
}

/* ------------------------------------------------------------ names */

static const char *const action_names[] = {"off", "warn", "tag", "tempfail", "reject", "discard"};

const char *layer_action_name(enum layer_action a)
{
    return (unsigned)a < sizeof(action_names) / sizeof(*action_names) ? action_names[a] : "?";
}

int layer_action_parse(const char *s, enum layer_action *out)
{
    for (size_t i = 0; i < sizeof(action_names) / sizeof(*action_names); i++)
        if (str_ieq(s, action_names[i])) {
            *out = (enum layer_action)i;
            return 0;
        }
    return -1;
}

static const char *const stage_names[STAGE_COUNT] = {"connect", "helo",   "auth", "mail", "rcpt",
                                                     "data",    "header", "body", "eom"};

const char *stage_name(enum stage st)
{
    return (unsigned)st < STAGE_COUNT ? stage_names[st] : "?";
}

const char *policy_action_name(policy_action a)
{
    static const char *const n[] = {"continue", "accept",  "tempfail",
                                    "reject",   "discard", "disconnect"};
    return (unsigned)a < sizeof(n) / sizeof(*n) ? n[a] : "unknown";
}
