/*
 * registry.c - the layers this build has, in the order they run at each
 * stage.  Adding a layer is one line here and one file of its own.
 */
#include <stddef.h>

#include "../core/internal.h"

const struct layer_desc *const layer_registry[] = {
    &layer_customers,  /* 5: customers and relay (decides who is a customer first) */
    &layer_rdns,       /* 1: reverse DNS, forward-confirmed */
    &layer_dnsbl,      /* 2: DNSBL, DNSWL, RHSBL */
    &layer_recipients, /* 3: does the recipient exist (chkuser), RCPT limits */
    &layer_botnet,     /* 4: greeting delay, early talker, connection limits */
    &layer_spf,        /* SPF at MAIL (libspf2 on our resolver) */
    &layer_regex,      /* qregex badhelo/badmailfrom/badrcptto, header blocks */
};

const size_t layer_count = sizeof(layer_registry) / sizeof(*layer_registry);

/* Sections of policy.conf that name layers still to come (ARCHITECTURE.md):
 * refused with a clear message instead of "unknown section". */
const char *const layer_reserved[] = {"spam", "virus", "rate", "greylist", "attachments", NULL};
