/* helpers.h - what the suites share: temp files, engines from text, log capture. */
#ifndef TESTS_HELPERS_H
#define TESTS_HELPERS_H

#include <stddef.h>
#include <time.h>

#include "libpolicy/policy.h"

/* A fresh private directory for this test process (removed at exit). */
const char *test_dir(void);
/* Write text to test_dir()/name and return the full path (static buffer ring). */
const char *test_write(const char *name, const char *text);
/* Open an engine from configuration text, written to a file of its own
 * (never shared with another process, forked ones included); NULL + err
 * on failure. */
policy_engine *test_engine(const char *conf, char *err, size_t errlen);
/* An engine on a fresh LMDB store (named after tag) whose clock is clock,
 * customers 198.51.100.0/24, then section; its log captured.  Fails the
 * test when the configuration does not load. */
policy_engine *test_store_engine(const char *tag, const char *section, time_t (*clock)(void));
/* Capture log lines of an engine: test_log_attach, then test_log_has("text"). */
void test_log_attach(policy_engine *e);
int test_log_has(const char *needle);
void test_log_clear(void);

#endif
