#!/bin/bash
# qmail_daemon.sh - policy-queue handing its check to a running policy-milter
# (POLICY_DAEMON): the same exit code, reply and queued bytes as a local
# check, over a unix and a TCP socket, for clean, tagged, rejected and
# deferred messages and a spooled 3 MB one; the per-client variables
# reaching the daemon (and nothing smuggled in through their values, and
# the daemon's own tcprules not applied on top); IPv6 clients; a daemon
# that is missing, stopped, closes, hangs or speaks garbage (deferred, or
# checked here with POLICY_DAEMON_FALLBACK=local - never passed unchecked);
# what the client sends and how it applies every kind of header edit,
# against a hand-written filter (qmail_daemon/fakemilter.py); that a run
# through the daemon never loads libpolicy; and the whole path under
# tcpserver with a real tcp.smtp.cdb.  Run inside a private network
# namespace (tests/run-integration.sh does).
set -u
. "$(dirname "$0")/lib.sh"
B=$(cd "$1" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
PQ="$B/adapters/qmail-queue/policy-queue"
QQ="$B/tests/tools/qq_record"
MILTER="$B/adapters/milter/policy-milter"
FAKE="$HERE/qmail_daemon/fakemilter.py"
mktmp
PIDS=""
trap 'for p in $PIDS; do kill -CONT "$p" 2>/dev/null; kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$T"' EXIT

cat > "$T/policy.conf" <<CONF
[customers]
local_domains = example.test
[regex]
header_block = Subject: make\\s+money\\s+fast
CONF
sed 's/^\[regex\]$/[regex]\naction = tag/' "$T/policy.conf" > "$T/tag.conf"
sed 's/^\[regex\]$/[regex]\naction = tempfail/' "$T/policy.conf" > "$T/temp.conf"
# a daemon whose own tcprules would switch the layer off for the client
printf '192.0.2.10:allow,POLICY_REGEX="off"\n:allow\n' > "$T/tcp.smtp"
tcprules "$T/tcp.smtp.cdb" "$T/tcp.smtp.tmp" < "$T/tcp.smtp"
{ printf '[general]\ntcprules = %s\n' "$T/tcp.smtp.cdb"; cat "$T/policy.conf"; } > "$T/rules.conf"

printf 'Received: from client.test (192.0.2.10)\n  by mx.example.test with SMTP; 23 Nov 2026\nFrom: a@sender.test\nTo: good@example.test\nSubject: hello\n\nline one\n.dot line\r\nCRLF line\r\n\nlast line without newline' > "$T/clean"
printf 'Received: from client.test\nSubject: make money fast\nFrom: a@sender.test\n\nbuy now\n' > "$T/spam"
printf 'Fa@sender.test\0Tgood@example.test\0Tother@example.test\0\0' > "$T/env"
{ cat "$T/spam"; head -c 3000000 /dev/urandom | base64; } > "$T/bigspam"

PORT=$(( 20000 + RANDOM % 20000 ))
SP="unix:$T/policy.sock" ST="inet:$PORT@127.0.0.1" SM="unix:$T/temp.sock" SR="unix:$T/rules.sock"
start policy "$MILTER" -f -c "$T/policy.conf" -p "$SP"
start tag "$MILTER" -f -c "$T/tag.conf" -p "$ST"
start temp "$MILTER" -f -c "$T/temp.conf" -p "$SM"
start rules "$MILTER" -f -c "$T/rules.conf" -p "$SR"
for s in "$SP" "$ST" "$SM" "$SR"; do check "policy-milter listens on $s" wait_socket "$s"; done

export POLICY_QMAILQUEUE="$QQ" TCPREMOTEIP=192.0.2.10
# pq CONF MESSAGE [env...] - run policy-queue with fd 6 open; RC, Q (the
# record dir), F6 (what came on fd 6)
pq() {
    local conf=$1 msg=$2; shift 2
    Q=$(mktemp -d "$T/q.XXXXXX")
    env POLICY_CONFIG="$T/$conf" QQ_DIR="$Q" "$@" bash -c 'exec "$0" 6> "$1/fd6"' "$PQ" "$Q" \
        < "$msg" 1< "$T/env" 2> "$Q/stderr"
    RC=$?
    F6=$(cat "$Q/fd6")
}
# both NAME CONF SOCKET MESSAGE [env...] - the message checked here and by
# the daemon: the same status, reply and queued bytes
both() {
    local name=$1 conf=$2 sock=$3 msg=$4; shift 4
    pq "$conf" "$msg" "$@"
    local rc1=$RC f1=$F6 q1=$Q
    pq "$conf" "$msg" POLICY_DAEMON="$sock" "$@"
    same "$name: the daemon gives the local exit status ($rc1)" "$rc1" "$RC"
    same "$name: the daemon gives the local reply" "$f1" "$F6"
    if [ -e "$q1/message" ]; then
        check "$name: the daemon's message reaches the queue byte for byte as the local one" \
            cmp -s "$q1/message" "$Q/message"
        check "$name: the envelope reaches the queue identical" cmp -s "$T/env" "$Q/envelope"
    else
        check "$name: nothing queued, as locally" test ! -e "$Q/message"
    fi
    check "$name: nothing on stderr" test ! -s "$Q/stderr"
}
both "clean message" policy.conf "$SP" "$T/clean"
both "rejected message" policy.conf "$SP" "$T/spam"
both "tagged message (TCP socket)" tag.conf "$ST" "$T/spam"
both "clean message (TCP socket)" tag.conf "$ST" "$T/clean"
both "deferred message" temp.conf "$SM" "$T/spam"
both "3 MB message, spooled, tagged" tag.conf "$ST" "$T/bigspam" POLICY_SPOOL_LIMIT=65536
pq policy.conf /dev/null POLICY_DAEMON="$SP"
same "empty message through the daemon: queued" 0 "$RC"
check "empty message: queued empty, as it came" test -e "$Q/message" -a ! -s "$Q/message"
pq tag.conf "$T/spam" POLICY_DAEMON="$ST"
same "tagged through the daemon: the tag is the first line" "X-Policy-Tag" \
    "$(head -1 "$Q/message" | cut -d: -f1)"
check "the daemon logged the decision with the client's address" \
    grep -q "action=tag ip=192.0.2.10 " "$T/tag.log"

# the per-client variables reach the daemon, and only as variables
pq policy.conf "$T/spam" POLICY_DAEMON="$SP" POLICY_REGEX=tag
same "POLICY_REGEX=tag from the environment: tagged by the daemon (0)" 0 "$RC"
pq policy.conf "$T/spam" POLICY_DAEMON="$SP" "JUNK=x
POLICY_REGEX=off"
same "a newline in a value smuggles no variable in: still rejected" 82 "$RC"
pq policy.conf "$T/spam" POLICY_DAEMON="$SP" 'JUNK=x\' POLICY_REGEX=tag 'ZJUNK=\n\\'
same "backslashes in values: the variables after them still arrive (tagged)" 0 "$RC"
pq rules.conf "$T/spam" POLICY_DAEMON="$SR"
same "the daemon's own tcprules are not applied to a policy-queue client: rejected, not off" 82 "$RC"
pq policy.conf "$T/spam" POLICY_DAEMON="$SP" TCPREMOTEIP=2001:db8::10
same "an IPv6 client through the daemon: rejected" 82 "$RC"
check "the daemon saw the IPv6 address" grep -q "ip=2001:db8::10 " "$T/policy.log"
pq policy.conf "$T/spam" POLICY_DAEMON="$SP" POLICY_STAGES=envelope
same "POLICY_STAGES=envelope from the environment: the content layer does not run (0)" 0 "$RC"

# a daemon that cannot answer: deferred, never passed unchecked
pq policy.conf "$T/clean" POLICY_DAEMON="unix:$T/nonexistent.sock"
same "daemon missing: deferred (82 with the reply on fd 6)" 82 "$RC"
same "daemon missing: the reply says the filter is unavailable" \
    "Zmail filter unavailable, try again later (#4.3.0)" "$F6"
check "daemon missing: nothing queued" test ! -e "$Q/message"
check "daemon missing: stderr names the socket and the reason" \
    grep -q "policy daemon unix:$T/nonexistent.sock: cannot connect" "$Q/stderr"
pq policy.conf "$T/clean" POLICY_DAEMON="unix:$T/nonexistent.sock" POLICY_DAEMON_FALLBACK=local
same "daemon missing, fallback local: checked here and queued (0)" 0 "$RC"
check "fallback local: the message byte for byte" cmp -s "$T/clean" "$Q/message"
pq policy.conf "$T/spam" POLICY_DAEMON="unix:$T/nonexistent.sock" POLICY_DAEMON_FALLBACK=local
same "daemon missing, fallback local: the spam is rejected here (82)" 82 "$RC"
pq policy.conf "$T/clean" POLICY_DAEMON="inet:1@127.0.0.1"
same "nothing listening on the TCP port: deferred" 82 "$RC"
pq policy.conf "$T/clean" POLICY_DAEMON="bogus:spec"
same "a POLICY_DAEMON that is no socket address: deferred" 82 "$RC"
kill -STOP "$PID_policy"
t0=$(date +%s%N)
pq policy.conf "$T/clean" POLICY_DAEMON="$SP" POLICY_DAEMON_TIMEOUT=2
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
kill -CONT "$PID_policy"
same "daemon stopped (SIGSTOP): deferred" 82 "$RC"
check "daemon stopped: the wait is bounded by POLICY_DAEMON_TIMEOUT=2 (${ms} ms)" \
    test "$ms" -ge 1900 -a "$ms" -lt 8000
check "daemon stopped: stderr says it did not answer" grep -q "no answer within 2 s" "$Q/stderr"
pq policy.conf "$T/spam" POLICY_DAEMON="$SP"
same "the daemon answers again after SIGCONT (82)" 82 "$RC"

# what policy-queue sends, against a hand-written filter
fake() { # fake MODE [PROTOCOL] - a fake filter on $T/fake-MODE.sock; FS its socket
    FS="unix:$T/fake-$1.sock"
    start "fake_$1" /usr/bin/python3 "$FAKE" "$FS" "$1" "$T/fake-$1.rec" "${2:-0}"
    wait_socket "$FS"
}
fake record
pq policy.conf "$T/clean" POLICY_DAEMON="$FS" TCPREMOTEHOST=client.test TCPREMOTEPORT=4242
same "a filter that continues at every step: queued (0)" 0 "$RC"
check "the message byte for byte" cmp -s "$T/clean" "$Q/message"
R="$T/fake-record.rec"
same "the commands in order: options, macro, connect, MAIL, 2 RCPT, DATA, 4 headers, EOH, body, EOM, QUIT" \
    "O D C M R R T L L L L N B E Q" "$(cut -c1 "$R" | tr '\n' ' ' | sed 's/ $//')"
check "the variables as {policy_env} at connect, with POLICY_STAGES=content added" \
    grep -q "^D b'C{policy_env}.*TCPREMOTEIP=192.0.2.10.*POLICY_STAGES=content" "$R"
check "connect: host name, family 4, port 4242, address" \
    grep -qF "C b'client.test\\x004\\x10\\x92192.0.2.10\\x00'" "$R"
check "MAIL and RCPT with <>" grep -qF "R b'<other@example.test>\\x00'" "$R"
check "a folded header: its fold kept, the blank after the colon dropped" \
    grep -qF "L b'Received\\x00from client.test (192.0.2.10)\\n  by mx.example.test with SMTP; 23 Nov 2026\\x00'" "$R"
check "the body as it is, CR and all" grep -qF "B b'line one\\n.dot line\\r\\nCRLF line\\r\\n\\nlast line without newline'" "$R"
pq policy.conf "$T/clean" POLICY_DAEMON="$FS" TCPREMOTEIP=
check "no TCPREMOTEIP: a local client 127.0.0.1, as locally" \
    grep -qF "C b'[127.0.0.1]\\x004\\x00\\x00127.0.0.1\\x00'" "$R"
fake leadspc $((0x100000))
pq policy.conf "$T/clean" POLICY_DAEMON="$FS"
check "HDR_LEADSPC: header values as they are, the blank after the colon kept" \
    grep -qF "L b'Subject\\x00 hello\\x00'" "$T/fake-leadspc.rec"
fake skipsteps $((0x20 | 0x10 | 0x40))
pq policy.conf "$T/clean" POLICY_DAEMON="$FS"
same "NOHDRS, NOBODY, NOEOH: queued" 0 "$RC"
same "NOHDRS, NOBODY, NOEOH: no header, EOH or body sent; the end of message still" \
    "O D C M R R T E Q" "$(cut -c1 "$T/fake-skipsteps.rec" | tr '\n' ' ' | sed 's/ $//')"
{ printf 'Subject: long\n\n'; head -c 200000 /dev/zero | tr '\0' 'a'; } > "$T/long"
fake skip
pq policy.conf "$T/long" POLICY_DAEMON="$FS"
same "SKIP after the first body chunk: queued" 0 "$RC"
same "SKIP: the end of message follows the body" "E Q" \
    "$(cut -c1 "$T/fake-skip.rec" | tail -2 | tr '\n' ' ' | sed 's/ $//')"
check "SKIP: the whole message still reaches the queue" cmp -s "$T/long" "$Q/message"
fake discard
pq policy.conf "$T/clean" POLICY_DAEMON="$FS"
same "DISCARD at the end of message: exit 0, nothing handed on (as a local discard)" "0|no" \
    "$RC|$([ -e "$Q/message" ] && echo yes || echo no)"
fake progress
pq policy.conf "$T/clean" POLICY_DAEMON="$FS"
same "PROGRESS before the answer: queued" 0 "$RC"
fake reply
pq policy.conf "$T/clean" POLICY_DAEMON="$FS"
same "a 554 reply at RCPT: refused with the filter's text (82)" 82 "$RC"
same "the reply text, %% read back as %" "Dno thanks: 50% off (#5.7.1)" "$F6"
pq policy.conf "$T/clean" POLICY_DAEMON="$FS" POLICY_DAEMON_FALLBACK=local
same "a refusal is a verdict, not a failure: no local check (82)" 82 "$RC"
fake accept
pq policy.conf "$T/clean" POLICY_DAEMON="$FS"
same "ACCEPT at MAIL: queued unchanged (0)" 0 "$RC"
check "ACCEPT: the message byte for byte" cmp -s "$T/clean" "$Q/message"
check "ACCEPT before the body: the body and the end of message are not sent" \
    bash -c "! grep -qE '^[BE] ' '$T/fake-accept.rec'"

printf 'Received: first\n  folded\nReceived: second\nSubject: hello\nX-Gone: bye\nFrom: a@sender.test\n\nbody\n' > "$T/edits"
printf 'X-Added: first added\nX-Missing: now here\n\tfolded\nX-Second: second added\nReceived: first\n  folded\nReceived: second changed\nSubject: changed subject\nFrom: a@sender.test\n\nbody\n' > "$T/edits.want"
fake edits
pq policy.conf "$T/edits" POLICY_DAEMON="$FS"
same "header edits: queued" 0 "$RC"
check "header edits: added on top in order, changed in place, the second Received changed, an empty change removes, a change of a missing header added" \
    cmp -s "$T/edits.want" "$Q/message"
sed 's/$/\r/' "$T/edits" > "$T/edits.crlf"
sed 's/$/\r/' "$T/edits.want" > "$T/edits.crlf.want"
pq policy.conf "$T/edits.crlf" POLICY_DAEMON="$FS"
check "header edits on a CRLF message: written with CRLF, folds too" cmp -s "$T/edits.crlf.want" "$Q/message"

for mode in chgfrom close garbage badoptions; do
    fake "$mode"
    pq policy.conf "$T/clean" POLICY_DAEMON="$FS"
    same "a filter that $mode: deferred" 82 "$RC"
    check "a filter that $mode: nothing queued" test ! -e "$Q/message"
    pq policy.conf "$T/clean" POLICY_DAEMON="$FS" POLICY_DAEMON_FALLBACK=local
    same "a filter that $mode, fallback local: checked here, queued" 0 "$RC"
done
fake hang
t0=$(date +%s%N)
pq policy.conf "$T/clean" POLICY_DAEMON="$FS" POLICY_DAEMON_TIMEOUT=1
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
same "a filter that never answers the end of message: deferred" 82 "$RC"
check "the wait is bounded by POLICY_DAEMON_TIMEOUT=1 (${ms} ms)" test "$ms" -ge 950 -a "$ms" -lt 6000

# a run through the daemon does not load libpolicy; a local one does
env POLICY_DAEMON="$SP" LD_DEBUG=files "$PQ" < "$T/clean" 1< "$T/env" 2> "$T/lddebug"
same "through the daemon (LD_DEBUG=files): queued" 0 "$?"
check "through the daemon, libpolicy is never loaded" \
    bash -c "grep -q 'file=libc.so.6' '$T/lddebug' && ! grep -q 'file=libpolicy' '$T/lddebug'"
env POLICY_CONFIG="$T/policy.conf" LD_DEBUG=files "$PQ" < "$T/clean" 1< "$T/env" 2> "$T/lddebug"
same "checking locally (LD_DEBUG=files): queued" 0 "$?"
check "checking locally, libpolicy is loaded, when the message is checked" \
    grep -q 'file=libpolicy.so.0 .*dynamically loaded by' "$T/lddebug"

# under tcpserver with a real tcp.smtp.cdb: POLICY_DAEMON from the rules
cat > "$T/tcp2.smtp" <<RULES
127.0.0.1:allow,POLICY_DAEMON="$SP",POLICY_REGEX="tag",QMAILQUEUE="$PQ"
:allow
RULES
tcprules "$T/tcp2.smtp.cdb" "$T/tcp2.smtp.tmp" < "$T/tcp2.smtp"
cat > "$T/smtpd.sh" <<SH
#!/bin/sh
# what qmail-smtpd does at DATA: run \$QMAILQUEUE with the message and envelope
exec "\$QMAILQUEUE" < "$T/spam" 1< "$T/env"
SH
chmod +x "$T/smtpd.sh"
PORT2=$(( PORT + 1 ))
mkdir -p "$T/qt"
before=$(grep -c "action=tag ip=127.0.0.1 " "$T/policy.log")
env -u TCPREMOTEIP QQ_DIR="$T/qt" \
    tcpserver -H -R -l 0 -x "$T/tcp2.smtp.cdb" 127.0.0.1 "$PORT2" \
    sh -c "\"$T/smtpd.sh\"; echo rc=\$?" > /dev/null 2> "$T/tcpserver.err" &
SRV=$!
PIDS="$PIDS $SRV"
for _ in $(seq 50); do tcpclient -H -R -l 0 127.0.0.1 "$PORT2" true 2>/dev/null && break; sleep 0.1; done
rm -rf "$T/qt"/*
out=$(timeout 20 tcpclient -H -R -l 0 127.0.0.1 "$PORT2" sh -c "cat <&6" 2>&1)
same "tcpserver: policy-queue through the daemon accepted (rc=0)" "rc=0" "$out"
same "tcpserver: POLICY_REGEX=tag from tcp.smtp.cdb reached the daemon" "X-Policy-Tag" \
    "$(head -1 "$T/qt/message" 2>/dev/null | cut -d: -f1)"
check "tcpserver: the daemon (configured to reject) decided, for 127.0.0.1" \
    test "$(grep -c "action=tag ip=127.0.0.1 " "$T/policy.log")" -gt "$before"
finish
