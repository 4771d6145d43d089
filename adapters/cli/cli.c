/*
 * cli.c - the --var list and the -v log that policyctl check, scan and
 * dkim share.  An argument keeps its text: the '=' split is undone after
 * each variable is set, so an error can quote it whole.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

const char *cli_vars_add(struct cli_vars *vars, char *arg)
{
    if (vars->n == CLI_MAX_VARS)
        return "too many --var";
    if (!strchr(arg, '=') || arg[0] == '=')
        return "--var takes NAME=VALUE";
    vars->v[vars->n++] = arg;
    return NULL;
}

const char *cli_vars_apply(policy_session *s, const struct cli_vars *vars)
{
    for (size_t i = 0; i < vars->n; i++) {
        char *eq = strchr(vars->v[i], '=');
        *eq = '\0';
        int bad = policy_session_setvar(s, vars->v[i], eq + 1) != 0;
        *eq = '=';
        if (bad)
            return vars->v[i];
    }
    return NULL;
}

void cli_log_to_stderr(int level, const char *line, void *ctx)
{
    (void)ctx;
    fprintf(stderr, "policyctl: log<%d>: %s\n", level, line);
}
