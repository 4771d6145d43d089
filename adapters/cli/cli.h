/*
 * cli.h - what every policyctl command that runs a session shares: the
 * --var NAME=VALUE list and the log written to standard error.
 */
#ifndef POLICYCTL_CLI_H
#define POLICYCTL_CLI_H

#include <stddef.h>

#include <libpolicy/policy.h>

#define CLI_MAX_VARS 64

/* The --var options of one command, in the order given. */
struct cli_vars {
    char *v[CLI_MAX_VARS];
    size_t n;
};

/* cli_vars_add - one --var argument; NULL, or why it is refused (for usage). */
const char *cli_vars_add(struct cli_vars *vars, char *arg);
/* cli_vars_apply - set every --var on s; NULL, or the one refused. */
const char *cli_vars_apply(policy_session *s, const struct cli_vars *vars);
/* cli_log_to_stderr - a log sink for -v: each line on standard error. */
void cli_log_to_stderr(int level, const char *line, void *ctx);

#endif
