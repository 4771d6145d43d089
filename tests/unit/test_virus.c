/*
 * test_virus.c - the virus layer through the public API with libclamav in
 * process, on a database the test writes (EICAR joined at run time from
 * two halves, so no file of the tree or of the build is "infected"):
 * verdicts, actions (reject, tag, discard), encodings (base64,
 * quoted-printable: found in parts mode, missed by ClamAV's own mail
 * parser), size limits, customers, a missing database and on_error, the
 * engine kept across reloads, and configuration errors.  clamd runs for
 * real in tests/integration/virus.sh.
 */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <utime.h>

#include "clamav.h"
#include "helpers.h"
#include "suites.h"

static char err[512];
static char eicar[69];
static char db[300], enddb[300];

/* the EICAR test string, made at run time */
static void make_eicar(void)
{
    static const char a[] = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR";
    static const char b[] = "-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
    snprintf(eicar, sizeof(eicar), "%s%s", a, b);
}

/* write_sig - DIR/test.ndb with one signature on the EICAR string at offset. */
static int write_sig(char *dir, size_t cap, const char *name, const char *sig, const char *offset)
{
    snprintf(dir, cap, "%s/%s", test_dir(), name);
    mkdir(dir, 0700);
    char line[256], path[400];
    snprintf(line, sizeof(line), "%s:0:%s:", sig, offset);
    for (size_t i = 0; eicar[i]; i++)
        snprintf(line + strlen(line), sizeof(line) - strlen(line), "%02x", (unsigned char)eicar[i]);
    snprintf(path, sizeof(path), "%s/test.ndb", dir);
    FILE *fp = fopen(path, "w");
    if (!fp)
        return -1;
    fprintf(fp, "%s\n", line);
    return fclose(fp);
}

/* setup - the EICAR string anywhere (db), and as the very end of a file
 * (enddb: what a whole-file signature sees, a decoding that is not byte
 * for byte misses it). */
static int setup(void)
{
    make_eicar();
    return write_sig(db, sizeof(db), "virusdb", "Test.Eicar", "*") ||
           write_sig(enddb, sizeof(enddb), "enddb", "Test.EicarAtEnd", "EOF-68");
}

static void b64(const unsigned char *in, size_t n, char *out)
{
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (i + 1 < n ? (unsigned)in[i + 1] << 8 : 0) |
                     (i + 2 < n ? in[i + 2] : 0);
        out[o++] = t[v >> 18 & 63];
        out[o++] = t[v >> 12 & 63];
        out[o++] = i + 1 < n ? t[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? t[v & 63] : '=';
    }
    out[o] = '\0';
}

/* every byte as =XX: quoted-printable a mail client may write */
static void qp_all(const char *in, char *out)
{
    size_t o = 0;
    for (size_t i = 0; in[i]; i++)
        o += (size_t)sprintf(out + o, "=%02X", (unsigned char)in[i]);
}

/* message - a multipart with a text part and one attachment. */
static void message(char *buf, size_t cap, const char *cte, const char *body)
{
    snprintf(buf, cap,
             "From: a@example.test\r\nTo: b@example.test\r\nSubject: report\r\n"
             "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
             "--b1\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
             "--b1\r\nContent-Type: application/octet-stream; name=\"x.com\"\r\n"
             "Content-Transfer-Encoding: %s\r\n"
             "Content-Disposition: attachment; filename=\"x.com\"\r\n\r\n%s\r\n--b1--\r\n",
             cte, body);
}

static const char clean_msg[] = "From: a@example.test\r\nTo: b@example.test\r\nSubject: lunch\r\n"
                                "\r\nShall we meet for lunch?\r\n";

/* engine_for - the virus layer (libclamav, database dir) with extra keys;
 * the customers layer off, so that only the virus layer decides. */
static policy_engine *engine_for(const char *dir, const char *extra)
{
    char text[2048];
    snprintf(text, sizeof(text),
             "[customers]\naction = off\ntrusted_networks = 10.0.0.0/8\n"
             "[virus]\nscanner = libclamav\ndatabase = %s\n%s",
             dir, extra ? extra : "");
    policy_engine *e = test_engine(text, err, sizeof(err));
    if (!e)
        fprintf(stderr, "\n  engine: %s\n", err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    test_log_clear();
    test_log_attach(e);
    return e;
}

static policy_engine *engine(const char *extra)
{
    return engine_for(db, extra);
}

/* run - one message through a session from ip; the eom action (or the
 * first refusal), with the session left open in *sp when sp is given. */
static policy_action run(policy_engine *e, const char *ip, const char *msg, policy_session **sp)
{
    policy_session *s = policy_session_new(e, ip, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    policy_action a = policy_connect(s);
    if (a == POLICY_CONTINUE)
        a = policy_mail(s, "<a@example.test>");
    if (a == POLICY_CONTINUE)
        a = policy_rcpt(s, "<b@example.test>");
    if (a == POLICY_CONTINUE)
        a = policy_data(s);
    if (a == POLICY_CONTINUE)
        a = policy_message(s, msg, strlen(msg));
    if (a == POLICY_CONTINUE)
        a = policy_eom(s);
    if (sp)
        *sp = s;
    else
        policy_session_free(s);
    return a;
}

static void test_virus_base64_attachment_is_rejected_with_its_name(void)
{
    policy_engine *e = engine(NULL);
    char enc[200], msg[2048];
    b64((const unsigned char *)eicar, strlen(eicar), enc);
    message(msg, sizeof(msg), "base64", enc);
    policy_session *s;
    CU_ASSERT_EQUAL(run(e, "192.0.2.1", msg, &s), POLICY_REJECT);
    const policy_reply *r = policy_last_reply(s);
    CU_ASSERT_EQUAL(r->code, 554);
    CU_ASSERT_STRING_EQUAL(r->xcode, "5.7.1");
    CU_ASSERT_STRING_EQUAL(r->text, "message rejected: virus found: Test.Eicar.UNOFFICIAL");
    CU_ASSERT_STRING_EQUAL(r->layer, "virus");
    CU_ASSERT_TRUE(test_log_has("virus Test.Eicar.UNOFFICIAL in x.com (libclamav"));
    policy_session_free(s);
    CU_ASSERT_EQUAL(run(e, "192.0.2.1", clean_msg, NULL), POLICY_CONTINUE);
    policy_engine_unref(e);
}

/* ClamAV's mail parser does not decode quoted-printable byte for byte: a
 * signature on the whole file (here: the EICAR string as the end of the
 * file) misses the part it gives, not the one our parser gives. */
static void test_virus_quoted_printable_found_in_parts_missed_by_mail_mode(void)
{
    char enc[400], msg[2048];
    qp_all(eicar, enc);
    message(msg, sizeof(msg), "quoted-printable", enc);
    policy_engine *e = engine_for(enddb, NULL);
    CU_ASSERT_EQUAL(run(e, "192.0.2.1", msg, NULL), POLICY_REJECT);
    policy_engine_unref(e);
    e = engine_for(enddb, "mode = mail\n"); /* ClamAV's own mail parser alone */
    CU_ASSERT_EQUAL(run(e, "192.0.2.1", msg, NULL), POLICY_CONTINUE);
    policy_engine_unref(e);
    b64((const unsigned char *)eicar, strlen(eicar), enc); /* base64 it decodes exactly */
    message(msg, sizeof(msg), "base64", enc);
    e = engine_for(enddb, "mode = mail\n");
    CU_ASSERT_EQUAL(run(e, "192.0.2.1", msg, NULL), POLICY_REJECT);
    policy_engine_unref(e);
}

static void test_virus_tag_and_discard(void)
{
    char enc[200], msg[2048];
    b64((const unsigned char *)eicar, strlen(eicar), enc);
    message(msg, sizeof(msg), "base64", enc);
    policy_engine *e = engine("action = tag\n");
    policy_session *s;
    CU_ASSERT_EQUAL(run(e, "192.0.2.1", msg, &s), POLICY_CONTINUE);
    const policy_edit *ed;
    CU_ASSERT_EQUAL_FATAL(policy_edits(s, &ed), 1);
    CU_ASSERT_STRING_EQUAL(ed[0].name, "X-Virus-Status");
    CU_ASSERT_STRING_EQUAL(ed[0].value, "Infected (Test.Eicar.UNOFFICIAL)");
    policy_session_free(s);
    policy_engine_unref(e);

    e = engine("action = discard\n");
    CU_ASSERT_EQUAL(run(e, "192.0.2.1", msg, &s), POLICY_DISCARD);
    CU_ASSERT_EQUAL(policy_last_reply(s)->code, 250);
    policy_session_free(s);
    CU_ASSERT_EQUAL(run(e, "192.0.2.1", clean_msg, NULL), POLICY_CONTINUE);
    policy_engine_unref(e);
}

static void test_virus_scanned_header_only_when_asked(void)
{
    policy_engine *e = engine(NULL);
    policy_session *s;
    const policy_edit *ed;
    CU_ASSERT_EQUAL(run(e, "192.0.2.1", clean_msg, &s), POLICY_CONTINUE);
    CU_ASSERT_EQUAL(policy_edits(s, &ed), 0);
    policy_session_free(s);
    policy_engine_unref(e);

    e = engine("scanned_header = yes\n");
    CU_ASSERT_EQUAL(run(e, "192.0.2.1", clean_msg, &s), POLICY_CONTINUE);
    CU_ASSERT_EQUAL_FATAL(policy_edits(s, &ed), 2);
    CU_ASSERT_STRING_EQUAL(ed[0].name, "X-Virus-Scanned");
    CU_ASSERT_PTR_NOT_NULL(strstr(ed[0].value, "(libclamav) on "));
    CU_ASSERT_STRING_EQUAL(ed[1].name, "X-Virus-Status");
    CU_ASSERT_STRING_EQUAL(ed[1].value, "Clean");
    policy_session_free(s);
    policy_engine_unref(e);
}

static void test_virus_missing_database_is_on_error(void)
{
    char nodb[400];
    snprintf(nodb, sizeof(nodb), "%s/nodb", test_dir());
    policy_engine *e = engine_for(nodb, NULL); /* loads: the scans say what is wrong */
    policy_session *s;
    CU_ASSERT_EQUAL(run(e, "192.0.2.1", clean_msg, &s), POLICY_TEMPFAIL);
    CU_ASSERT_EQUAL(policy_last_reply(s)->code, 451);
    CU_ASSERT_STRING_EQUAL(policy_last_reply(s)->xcode, "4.3.0");
    CU_ASSERT_STRING_EQUAL(policy_last_reply(s)->text, "virus scanner unavailable, try again later");
    CU_ASSERT_PTR_NOT_NULL(strstr(policy_last_reply(s)->reason, "No such file or directory"));
    policy_session_free(s);
    policy_engine_unref(e);

    e = engine_for(nodb, "on_error = accept\n");
    CU_ASSERT_EQUAL(run(e, "192.0.2.1", clean_msg, NULL), POLICY_CONTINUE);
    CU_ASSERT_TRUE(test_log_has("action=error-accepted"));
    policy_engine_unref(e);
}

static void test_virus_too_big_is_its_own_verdict(void)
{
    char msg[2048];
    message(msg, sizeof(msg), "base64", "bHVuY2ggYXQgbm9vbj8K");
    policy_engine *e = engine("max_size = 100\n");
    CU_ASSERT_EQUAL(run(e, "192.0.2.1", msg, NULL), POLICY_CONTINUE);
    CU_ASSERT_TRUE(test_log_has("virus: accepted without a whole scan: over max_size"));
    policy_engine_unref(e);
    e = engine("max_size = 100\ntoo_big = reject\naction = discard\n");
    policy_session *s;
    CU_ASSERT_EQUAL(run(e, "192.0.2.1", msg, &s), POLICY_REJECT); /* never dropped unscanned */
    CU_ASSERT_EQUAL(policy_last_reply(s)->code, 552);
    CU_ASSERT_STRING_EQUAL(policy_last_reply(s)->text, "message too big to be scanned for viruses");
    policy_session_free(s);
    policy_engine_unref(e);
}

static void test_virus_customers_scanned_unless_told_not_to(void)
{
    char enc[200], msg[2048];
    b64((const unsigned char *)eicar, strlen(eicar), enc);
    message(msg, sizeof(msg), "base64", enc);
    policy_engine *e = engine(NULL);
    CU_ASSERT_EQUAL(run(e, "10.1.2.3", msg, NULL), POLICY_REJECT);
    policy_engine_unref(e);
    e = engine("scan_customers = no\n");
    CU_ASSERT_EQUAL(run(e, "10.1.2.3", msg, NULL), POLICY_CONTINUE);
    CU_ASSERT_EQUAL(run(e, "192.0.2.1", msg, NULL), POLICY_REJECT);
    policy_engine_unref(e);
}

static void test_virus_reload_keeps_an_unchanged_engine(void)
{
    unsigned before = clamav_cached();
    policy_engine *a = engine(NULL), *b = engine(NULL);
    CU_ASSERT_EQUAL(clamav_cached(), before + 1); /* b got a's engine: no database read */
    char path[400];
    snprintf(path, sizeof(path), "%s/test.ndb", db);
    struct utimbuf t = {time(NULL) + 5, time(NULL) + 5};
    CU_ASSERT_EQUAL(utime(path, &t), 0);
    policy_engine *c = engine(NULL);
    CU_ASSERT_EQUAL(clamav_cached(), before + 2); /* the changed database: a new one */
    policy_engine_unref(a);
    policy_engine_unref(b);
    CU_ASSERT_EQUAL(clamav_cached(), before + 1); /* the old one went with its last user */
    char enc[200], msg[2048];
    b64((const unsigned char *)eicar, strlen(eicar), enc);
    message(msg, sizeof(msg), "base64", enc);
    CU_ASSERT_EQUAL(run(c, "192.0.2.1", msg, NULL), POLICY_REJECT);
    policy_engine_unref(c);
}

static void test_virus_bad_database_at_reload_keeps_the_last_good_engine(void)
{
    char dir[320], text[1024], path[400];
    snprintf(dir, sizeof(dir), "%s/gooddb", test_dir());
    snprintf(text, sizeof(text), "cp -r '%s' '%s'", db, dir);
    CU_ASSERT_EQUAL_FATAL(system(text), 0);
    snprintf(text, sizeof(text), "[virus]\nscanner = libclamav\ndatabase = %s\n", dir);
    policy_engine *a = test_engine(text, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    snprintf(path, sizeof(path), "%s/broken.ndb", dir);
    FILE *fp = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
    fputs("Broken:0:*:zz\n", fp);
    fclose(fp);
    policy_engine *b = test_engine(text, err, sizeof(err)); /* the reload */
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    policy_engine_unref(a);
    char enc[200], msg[2048];
    b64((const unsigned char *)eicar, strlen(eicar), enc);
    message(msg, sizeof(msg), "base64", enc);
    CU_ASSERT_EQUAL(run(b, "192.0.2.1", msg, NULL), POLICY_REJECT);
    policy_engine_unref(b);
}

static void test_virus_configuration_errors_name_the_key(void)
{
    static const struct {
        const char *conf, *says;
    } bad[] = {
        {"[virus]\nscanner = sophos\n", "[virus] scanner: expected libclamav or clamd, got 'sophos'"},
        {"[virus]\nscanner = libclamav\ndatabase = var/lib/clamav\n",
         "[virus] database: expected an absolute directory"},
        {"[virus]\nscanner = libclamav\nclamd = unix:/run/c.ctl\n",
         "[virus] clamd: clamd servers are for scanner = clamd"},
        {"[virus]\ndatabase = /var/lib/clamav\n",
         "[virus] database: database is for scanner = libclamav"},
        {"[virus]\nclamd = inet:127.0.0.1\n", "[virus] clamd: bad server"},
        {"[virus]\ntimeout = 0\n", "[virus] timeout: expected a duration"},
        {"[virus]\nmode = whole\n", "[virus] mode: expected parts or mail"},
        {"[virus]\ntoo_big = tempfail\n", "[virus] too_big: expected accept or reject"},
        {"[virus]\nmax_size = 0\n", "[virus] max_size: expected a size above 0"},
        {"[virus]\nscanner = clamd\nscanner = clamd\n", "[virus] scanner: key given twice"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        policy_engine *e = test_engine(bad[i].conf, err, sizeof(err));
        CU_ASSERT_PTR_NULL(e);
        if (!strstr(err, bad[i].says)) { /* fputs: gcc -fsanitize sees a null %s here */
            fputs("\n  expected: ", stderr);
            fputs(bad[i].says, stderr);
            fputs("\n  got: ", stderr);
            fputs(err, stderr);
            fputs("\n", stderr);
        }
        CU_ASSERT_PTR_NOT_NULL(strstr(err, bad[i].says));
        policy_engine_unref(e);
    }
    /* clamd keys repeat: servers are tried in order */
    policy_engine *e = test_engine("[virus]\nclamd = unix:/a.sock\nclamd = inet:127.0.0.1:3310\n",
                                   err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL(e);
    policy_engine_unref(e);
}

static void test_virus_clamd_down_is_on_error_at_once(void)
{
    char text[512];
    snprintf(text, sizeof(text),
             "[customers]\naction = off\n[virus]\nclamd = unix:%s/nobody.sock inet:127.0.0.1:1\n",
             test_dir());
    policy_engine *e = test_engine(text, err, sizeof(err));
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    test_log_clear();
    test_log_attach(e);
    policy_session *s;
    CU_ASSERT_EQUAL(run(e, "192.0.2.1", clean_msg, &s), POLICY_TEMPFAIL);
    CU_ASSERT_EQUAL(policy_last_reply(s)->code, 451);
    CU_ASSERT_PTR_NOT_NULL(strstr(policy_last_reply(s)->reason, "virus scan failed (clamd)"));
    policy_session_free(s);
    policy_engine_unref(e);
}

int suite_virus(void)
{
    CU_pSuite s = CU_add_suite("virus", setup, NULL);
    if (!s)
        return -1;
    CU_ADD_TEST(s, test_virus_base64_attachment_is_rejected_with_its_name);
    CU_ADD_TEST(s, test_virus_quoted_printable_found_in_parts_missed_by_mail_mode);
    CU_ADD_TEST(s, test_virus_tag_and_discard);
    CU_ADD_TEST(s, test_virus_scanned_header_only_when_asked);
    CU_ADD_TEST(s, test_virus_missing_database_is_on_error);
    CU_ADD_TEST(s, test_virus_too_big_is_its_own_verdict);
    CU_ADD_TEST(s, test_virus_customers_scanned_unless_told_not_to);
    CU_ADD_TEST(s, test_virus_reload_keeps_an_unchanged_engine);
    CU_ADD_TEST(s, test_virus_bad_database_at_reload_keeps_the_last_good_engine);
    CU_ADD_TEST(s, test_virus_configuration_errors_name_the_key);
    CU_ADD_TEST(s, test_virus_clamd_down_is_on_error_at_once);
    return 0;
}
