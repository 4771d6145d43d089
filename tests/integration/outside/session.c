/*
 * session.c - a program outside the tree: built only with
 * `pkg-config --cflags --libs libpolicy` after `meson install`, it opens the
 * default engine and runs a session through every stage.  Exit 0 = all good.
 */
#include <libpolicy/policy.h>
#include <stdio.h>
#include <string.h>

#define EXPECT(call, want)                                                                         \
    do {                                                                                           \
        policy_action got_ = (call);                                                               \
        if (got_ != (want)) {                                                                      \
            const policy_reply *r_ = policy_last_reply(s);                                         \
            fprintf(stderr, "%s: %s, want %s (%d %s %s)\n", #call, policy_action_name(got_),       \
                    policy_action_name(want), r_->code, r_->xcode, r_->text);                      \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

int main(void)
{
    char err[256];
    const policy_edit *edits;
    policy_engine *e = policy_engine_open(NULL, err, sizeof(err));
    if (!e) {
        fprintf(stderr, "open: %s\n", err);
        return 1;
    }
    policy_session *s = policy_session_new(e, "192.0.2.1", "client.example.org");
    EXPECT(policy_connect(s), POLICY_CONTINUE);
    EXPECT(policy_helo(s, "client.example.org"), POLICY_CONTINUE);
    EXPECT(policy_auth(s, "alice"), POLICY_CONTINUE);
    EXPECT(policy_mail(s, "<alice@example.org>"), POLICY_CONTINUE);
    EXPECT(policy_rcpt(s, "<bob@example.net>"), POLICY_CONTINUE); /* authenticated: relay */
    EXPECT(policy_data(s), POLICY_CONTINUE);
    EXPECT(policy_header(s, "Subject", "hello"), POLICY_CONTINUE);
    EXPECT(policy_body(s, "hi\r\n", 4), POLICY_CONTINUE);
    EXPECT(policy_eom(s), POLICY_CONTINUE);
    if (policy_edits(s, &edits) != 0)
        return 1;
    policy_reset(s);
    EXPECT(policy_mail(s, "<alice@example.org>"), POLICY_CONTINUE);
    policy_session_free(s);

    s = policy_session_new(e, "198.51.100.7", NULL);
    EXPECT(policy_connect(s), POLICY_CONTINUE);
    EXPECT(policy_mail(s, "<x@example.org>"), POLICY_CONTINUE);
    EXPECT(policy_rcpt(s, "<bob@example.net>"), POLICY_REJECT); /* a stranger: no relay */
    if (policy_last_reply(s)->code != 553 || strcmp(policy_last_reply(s)->xcode, "5.7.1"))
        return 1;
    policy_session_free(s);
    policy_engine_unref(e);
    printf("outside program: libpolicy %s, every stage ok\n", policy_version());
    return 0;
}
