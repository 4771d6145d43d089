/*
 * qq_passthrough.c - the anchor of bench_queue: the cheapest QMAILQUEUE
 * wrapper there is, one that only execs the real qmail-queue
 * ($POLICY_QMAILQUEUE), leaving fd 0 and fd 1 to it.
 */
#include <stdlib.h>
#include <unistd.h>

int main(void)
{
    const char *q = getenv("POLICY_QMAILQUEUE");
    if (!q)
        return 120;
    execl(q, q, (char *)NULL);
    return 120;
}
