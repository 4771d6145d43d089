/*
 * partscan.h - the other way to give a mail to libclamav: parse it with
 * libpolicy's MIME parser and scan each decoded leaf part from memory
 * (without CL_SCAN_PARSE_MAIL), instead of letting libclamav parse the
 * raw message.  Used by scan_drive and bench_scan to compare the two.
 */
#ifndef TESTS_PARTSCAN_H
#define TESTS_PARTSCAN_H

#include <stddef.h>

#include "clamav.h"

struct partscan;

/* partscan_new - parts up to max_part bytes are scanned whole; NULL when
 * out of memory. */
struct partscan *partscan_new(size_t max_part);
void partscan_free(struct partscan *ps);
/* partscan_run - scan every decoded leaf part of the raw message msg with
 * e and opts (CLAMAV_MAIL is ignored); the first detection wins.  Returns
 * the number of parts scanned. */
unsigned partscan_run(struct partscan *ps, const struct clamav_engine *e, unsigned opts,
                      const void *msg, size_t len, struct virus_result *r);

#endif
