#!/bin/bash
# dkim_mta.sh - the [dkim] layer through the adapters, byte for byte: a
# customer's message signed by policy-milter under a private Postfix, and
# by policy-queue, verifies at the receiving side with dkimpy (the file
# smtp-sink saved; what policy-queue handed on, sent as qmail-remote would,
# CRLF); an outside client's signed message gets Authentication-Results on
# top and the forged one claiming our name removed, the rest untouched;
# qmailtoaster's tcp.smtp lines (RELAYCLIENT + DKSIGN with "%", DKVERIFY
# DEGIJKfh, DKQUEUE) work as they are, through tcp.smtp.cdb for the milter
# and the environment for policy-queue; miltertest sees the header
# inserted and the one deleted.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/postfix_lib.sh"
pf_test_begin "$1"
HERE=$(cd "$(dirname "$0")" && pwd)
PQ="$B/adapters/qmail-queue/policy-queue"
QQ="$B/tests/tools/qq_record"
SIGN="/usr/bin/python3 $HERE/dkim/sign.py"
. "$HERE/dkim_lib.sh"
trap 'dkim_world_stop; pf_test_cleanup' EXIT
if ! dkim_world_start "$T/w" "$POLICYCTL"; then
    notok "the DKIM test world (keys, dnsmasq) starts"
    finish
    exit 1
fi
K="$T/w/keys"
dkimpy_ok() { dkimverify < "$1" > /dev/null 2>&1; }

# qmailtoaster's rules, as they are (the key path under our temp dir)
cat > "$T/tcp.smtp" <<EOF
127.:allow,RELAYCLIENT="",DKSIGN="$K/%/private"
192.0.2.20:allow,DKVERIFY="DEGIJKfh"
:allow
EOF
tcprules "$T/tcp.smtp.cdb" "$T/tcp.smtp.tmp" < "$T/tcp.smtp"
cat > "$T/policy.conf" <<EOF
[general]
hostname = mx.example.test
dns_servers = 127.0.0.1
dns_timeout = 2s
tcprules = $T/tcp.smtp.cdb
[customers]
local_domains = sink.test
[dkim]
EOF

msg() { # msg FROM ID - a message with LF line ends
    printf 'From: Alice <%s>\nTo: user@sink.test\nSubject: hello there\nDate: Mon, 2 Nov 2026 10:00:00 +0000\nMessage-ID: <%s@example.test>\nMIME-Version: 1.0\nContent-Type: text/plain\n\nline one  \n\tindented\n.leading dot\n\nlast line\n' "$1" "$2"
}

# ------------------------------------------------------------ policy-milter under Postfix
pf_test_world
check "the private Postfix starts" pf_start "$T/pf"
ip addr add 192.0.2.10/32 dev lo
ip addr add 192.0.2.20/32 dev lo
# received ID - the file smtp-sink saved for Message-ID ID
received() {
    local f
    for _ in $(seq 100); do
        f=$(grep -l "^Message-ID: <$1@example.test>" "$T"/sink/* 2>/dev/null | head -1)
        [ -n "$f" ] && { echo "$f"; return 0; }
        sleep 0.1
    done
    return 1
}

msg a@example.test m1 > "$T/m1"
out=$(send 127.0.0.1 user@sink.test --from a@example.test --data "$T/m1")
check "milter: a customer's message (127.0.0.1, RELAYCLIENT from tcp.smtp.cdb) is accepted" grep -q "queued as" <<< "$out"
f=$(received m1)
check "milter: it arrives at smtp-sink signed" grep -q '^DKIM-Signature:' "$f"
check "milter: s=private, the key DKSIGN names with % as the From domain" \
    grep -q 's=private;' <(tr -d '\r\n\t ' < "$f" | tr ';' '\n' | sed 's/$/;/')
check "milter: dkimpy verifies smtp-sink's file" dkimpy_ok "$f"
cp "$f" "$T/received.m1"

# a message with folded and blank-led headers: exact header bytes matter (simple/simple)
printf 'From:   Alice\n <a@example.test>\nTo:user@sink.test\nSubject: folded\n\tsubject line\nMessage-ID: <m2@example.test>\n\nbody\n' > "$T/m2"
sed -i 's/^\[dkim\]$/[dkim]\ncanonicalization = simple\/simple/' "$T/policy.conf"
kill -HUP "$MPID"
for _ in $(seq 50); do grep -q "reloaded" "$T/milter.log" && break; sleep 0.1; done
out=$(send 127.0.0.1 user@sink.test --from a@example.test --data "$T/m2")
f=$(received m2)
check "milter: signed simple/simple after the reload" grep -q 'c=simple/simple' "$f"
check "milter: simple/simple over headers with odd blanks and folds: dkimpy verifies (exact header bytes)" \
    dkimpy_ok "$f"
sed -i '/^canonicalization = simple\/simple$/d' "$T/policy.conf"
kill -HUP "$MPID"
for _ in $(seq 50); do [ "$(grep -c "reloaded" "$T/milter.log")" -ge 2 ] && break; sleep 0.1; done

# an outside client's signed message: verified, the forged A-R removed
msg a@example.test m3 | $SIGN "$K/py.pem" py example.test | tr -d '\r' > "$T/m3.signed"
{ printf 'Authentication-Results: mx.example.test; dkim=pass header.d=bank.test\n'
  printf 'Authentication-Results: other.example; spf=pass\n'
  cat "$T/m3.signed"; } > "$T/m3"
out=$(send 192.0.2.10 user@sink.test --from a@other.test --data "$T/m3")
check "milter: an outside client's signed message is accepted" grep -q "queued as" <<< "$out"
f=$(received m3)
check "milter: Authentication-Results says dkim=pass for example.test" \
    grep -q 'dkim=pass header.d=example.test' "$f"
same "milter: one blank after the colon of the header we added (SMFIP_HDR_LEADSPC)" \
    "Authentication-Results: mx.example.test;" "$(grep -m1 '^Authentication-Results: mx' "$f" | tr -d '\r')"
same "milter: the forged Authentication-Results claiming our name is gone, the other one stays" \
    "0 1" "$(grep -c 'bank.test' "$f") $(grep -c '^Authentication-Results: other.example' "$f")"
check "milter: the message still verifies with dkimpy after our edits" dkimpy_ok "$f"
same "milter: the body arrives byte for byte" \
    "$(sed '1,/^$/d' "$T/m3")" "$(tr -d '\r' < "$f" | sed '1,/^$/d' | sed -e ':a' -e '/^\n*$/{$d;N;ba' -e '}')"

# DKVERIFY from tcp.smtp.cdb: a signature whose key does not exist (D)
msg a@example.test m4 | $SIGN "$K/py.pem" nokey example.test | tr -d '\r' > "$T/m4"
out=$(send 192.0.2.20 user@sink.test --from a@other.test --data "$T/m4")
check "milter: DKVERIFY=DEGIJKfh from tcp.smtp.cdb refuses a signature without a key: 550 5.7.20" \
    grep -qE '^<\*\* *550 5.7.20 DKIM: no key for signature for example.test' <<< "$out"
out=$(send 192.0.2.10 user@sink.test --from a@other.test --data "$T/m4")
check "milter: the same from a client without DKVERIFY is accepted (header only)" grep -q "queued as" <<< "$out"

# ------------------------------------------------------------ miltertest: the edits themselves
cat > "$T/edits.lua" <<'LUA'
dofile(os.getenv("MTLIB"))
run(function()
    local c = session("mx.sender.test", "192.0.2.30", "mx.sender.test")
    check("miltertest: header values with leading blanks negotiated", mt.test_option(c, SMFIP_HDR_LEADSPC))
    check("miltertest: outside client transaction", reply(mt.mailfrom(c, "<a@other.test>"), c) == "c" and
          reply(mt.rcptto(c, "<user@sink.test>"), c) == "c" and reply(mt.data(c), c) == "c")
    check("miltertest: headers", content(c, {"Authentication-Results", " x.test; none",
          "Authentication-Results", " mx.example.test; dkim=pass", "From", " a@example.test",
          "Subject", " unsigned"}, "body\r\n") == "c")
    check("miltertest: end of message continues", reply(mt.eom(c), c) == "c")
    check("miltertest: Authentication-Results inserted", mt.eom_check(c, MT_HDRINSERT, "Authentication-Results"))
    check("miltertest: the forged one deleted", mt.eom_check(c, MT_HDRDELETE, "Authentication-Results"))
    mt.disconnect(c)
    c = session("localhost", "127.0.0.1", "localhost")
    check("miltertest: customer transaction", reply(mt.mailfrom(c, "<a@example.test>"), c) == "c" and
          reply(mt.rcptto(c, "<user@sink.test>"), c) == "c" and reply(mt.data(c), c) == "c")
    check("miltertest: customer headers", content(c, {"From", " a@example.test", "Subject", " hi"}, "body\r\n") == "c")
    check("miltertest: customer end of message", reply(mt.eom(c), c) == "c")
    check("miltertest: DKIM-Signature inserted", mt.eom_check(c, MT_HDRINSERT, "DKIM-Signature"))
    check("miltertest: no Authentication-Results for a customer", not mt.eom_check(c, MT_HDRINSERT, "Authentication-Results"))
    mt.disconnect(c)
    print("ok - edits.lua ran to its end")
end)
LUA
tap "$(SOCK=$SOCK MTLIB="$HERE/milter/lib.lua" miltertest -s "$T/edits.lua" 2>&1)"

# ------------------------------------------------------------ policy-queue
printf 'Fa@example.test\0Tuser@sink.test\0\0' > "$T/env"
# pq MESSAGE [VAR=VALUE...] - policy-queue as qmail-smtpd runs it, fd 6 open; RC, Q
pq() {
    local m=$1
    shift
    Q=$(mktemp -d "$T/q.XXXXXX")
    env POLICY_CONFIG="$T/policy.conf" QQ_DIR="$Q" "$@" \
        bash -c 'exec "$0" < "$1" 1< "$2" 6> "$3/fd6"' "$PQ" "$m" "$T/env" "$Q" 2> "$Q/stderr"
    RC=$?
}
msg a@example.test q1 > "$T/q1"
pq "$T/q1" DKQUEUE="$QQ" TCPREMOTEIP=127.0.0.1 RELAYCLIENT= DKSIGN="$K/%/private"
same "policy-queue: a customer's message is queued (the real queue from DKQUEUE)" 0 "$RC"
check "policy-queue: signed, DKIM-Signature on top" grep -q '^DKIM-Signature:' "$Q/message"
check "policy-queue: dkimpy verifies it as qmail-remote sends it (CRLF)" dkimpy_ok <(sed 's/$/\r/' "$Q/message")
check "policy-queue: below the signature, the message byte for byte" \
    cmp -s "$T/q1" <(awk 'BEGIN { s = 1 } s && /^(DKIM-Signature:|\t)/ { next } { s = 0; print }' "$Q/message")
msg a@example.test q2 | $SIGN "$K/py.pem" py example.test | tr -d '\r' > "$T/q2"
pq "$T/q2" POLICY_QMAILQUEUE="$QQ" TCPREMOTEIP=192.0.2.10
same "policy-queue: an outside client's signed message is queued" 0 "$RC"
check "policy-queue: Authentication-Results on top says dkim=pass" \
    bash -c "head -2 '$Q/message' | grep -q 'dkim=pass header.d=example.test'"
check "policy-queue: below it, the message byte for byte" \
    cmp -s "$T/q2" <(awk 'BEGIN { s = 1 } s && /^(Authentication-Results:|\t)/ { next } { s = 0; print }' "$Q/message")
check "policy-queue: dkimpy still verifies what was queued" dkimpy_ok <(sed 's/$/\r/' "$Q/message")
msg a@example.test q3 | $SIGN "$K/py.pem" nokey example.test | tr -d '\r' > "$T/q3"
pq "$T/q3" POLICY_QMAILQUEUE="$QQ" TCPREMOTEIP=192.0.2.10 DKVERIFY=DEGIJKfh
same "policy-queue: DKVERIFY=DEGIJKfh refuses a signature without a key: exit 82" 82 "$RC"
same "policy-queue: the D reply on fd 6" "DDKIM: no key for signature for example.test (#5.7.20)" "$(cat "$Q/fd6")"
check "policy-queue: nothing reached the queue" test ! -e "$Q/message"
msg a@slow.test q4 | $SIGN "$K/py.pem" py slow.test | tr -d '\r' > "$T/q4"
pq "$T/q4" POLICY_QMAILQUEUE="$QQ" TCPREMOTEIP=192.0.2.10 DKVERIFY=DEGIJKfh
same "policy-queue: DKVERIFY f: a key lookup that times out defers (exit 82, Z)" \
    "82 Z" "$RC $(head -c1 "$Q/fd6")"
finish
