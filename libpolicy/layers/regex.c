/*
 * regex.c - qregex: badhelo, badmailfrom, badrcptto and header blocks.
 * STUB: replaced by the real implementation.
 */
#include "../core/internal.h"

const struct layer_desc layer_regex = {
    .name = "regex",
    .default_action = LA_REJECT,
};
