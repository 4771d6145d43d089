/*
 * spf.h - the SPF layer's seam for tests: the check with any libspf2 DNS
 * layer (the session's c-ares one in production, libspf2's zone layer in
 * unit tests for corner cases no test server can produce).
 */
#ifndef LIBPOLICY_SPF_H
#define LIBPOLICY_SPF_H

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <spf2/spf.h>

#include "../core/layer.h"

/* spf_check - evaluate the session's sender (the HELO identity for the null
 * sender, or when helo_identity is set) at SPFBEHAVIOR level behavior with
 * DNS from dns (not freed); adds the Received-SPF edit when asked.  MATCH,
 * ERROR (temperror) or NOMATCH. */
enum check spf_check(policy_session *s, SPF_dns_server_t *dns, int behavior, int received_spf,
                     int helo_identity, struct finding *f);

/* spf_dns_new - a libspf2 DNS layer answering through the session's
 * resolver, every lookup bounded by deadline_ms (absolute); free with
 * spf_dns_free(). */
SPF_dns_server_t *spf_dns_new(policy_session *s, double deadline_ms);
void spf_dns_free(SPF_dns_server_t *d);

#endif
