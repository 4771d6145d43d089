/* suites.h - one registration function per CUnit suite (one per module). */
#ifndef TESTS_SUITES_H
#define TESTS_SUITES_H

int suite_util(void);
int suite_engine(void);
int suite_session(void);
int suite_address(void);
int suite_customers(void);
int suite_regex(void);
int suite_tcprules(void);
int suite_recipients(void);
int suite_botnet(void);
int suite_dns(void);
int suite_mime(void);
int suite_spam(void);
int suite_files(void);
int suite_message(void);
int suite_store(void);
int suite_p0f(void);
int suite_scanners(void);
int suite_metrics(void);

#endif
