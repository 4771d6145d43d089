#!/bin/bash
# qmail_queue.sh - policy-queue as qmail-smtpd runs it: message on fd 0,
# envelope on fd 1, the client in the environment; every exit path (accept,
# 31, 71, 82 on fd 6 and on ERROR_FD, 91, 54, the real queue failing in
# each way), the message byte for byte, spooling, and tcpserver with a real
# tcp.smtp.cdb handing the variables over.
set -u
. "$(dirname "$0")/lib.sh"
B=$(cd "$1" && pwd)
PQ="$B/adapters/qmail-queue/policy-queue"
QQ="$B/tests/tools/qq_record"
mktmp

printf 'Subject: make money fast\n' > "$T/hb"
cat > "$T/policy.conf" <<CONF
[customers]
local_domains = example.test
[regex]
header_block = Subject: make\\s+money\\s+fast
CONF
sed 's/^\[regex\]$/[regex]\naction = tag/' "$T/policy.conf" > "$T/tag.conf"
sed 's/^\[regex\]$/[regex]\naction = tempfail/' "$T/policy.conf" > "$T/temp.conf"
printf '[regex]\nnosuchkey = 1\n' > "$T/broken.conf"

printf 'Received: from client.test (192.0.2.10)\n  by mx.example.test with SMTP; 23 Nov 2026\nFrom: a@sender.test\nTo: good@example.test\nSubject: hello\n\nline one\n.dot line\r\nCRLF line\r\n\nlast line without newline' > "$T/clean"
printf 'Received: from client.test\nSubject: make money fast\nFrom: a@sender.test\n\nbuy now\n' > "$T/spam"
printf 'Fa@sender.test\0Tgood@example.test\0Tother@example.test\0\0' > "$T/env"

export POLICY_QMAILQUEUE="$QQ" TCPREMOTEIP=192.0.2.10
# pq CONF MESSAGE ENVELOPE [env...] - run policy-queue; sets RC, Q (the record dir)
pq() {
    local conf=$1 msg=$2 env=$3; shift 3
    Q=$(mktemp -d "$T/q.XXXXXX")
    env POLICY_CONFIG="$T/$conf" QQ_DIR="$Q" "$@" "$PQ" < "$msg" 1< "$env" 2> "$T/stderr"
    RC=$?
}
queued() { test -s "$Q/message"; }

pq policy.conf "$T/clean" "$T/env"
same "clean message: exit 0" 0 "$RC"
check "clean message: byte-identical at the real queue" cmp -s "$T/clean" "$Q/message"
check "clean message: envelope identical" cmp -s "$T/env" "$Q/envelope"

pq tag.conf "$T/spam" "$T/env"
same "tagged message: exit 0" 0 "$RC"
same "tagged message: the added header is the first line" "X-Policy-Tag" "$(head -1 "$Q/message" | cut -d: -f1)"
check "tagged message: the rest is byte-identical" cmp -s "$T/spam" <(tail -n +2 "$Q/message")

pq policy.conf "$T/spam" "$T/env"
same "rejected, no error fd: exit 31" 31 "$RC"
check "rejected: nothing reached the real queue" test ! -e "$Q/message"
pq policy.conf "$T/spam" "$T/env" bash -c 'exec "$0" 6> "'"$T"'/fd6"'
same "rejected, fd 6 open: exit 82" 82 "$RC"
same "rejected: fd 6 carries D and the library's reply" \
    "Dmessage rejected: header Subject blocked by policy (#5.7.1)" "$(cat "$T/fd6")"
pq policy.conf "$T/spam" "$T/env" ERROR_FD=4 bash -c 'exec "$0" 4> "'"$T"'/fd4" 6> "'"$T"'/fd6b"'
same "rejected, ERROR_FD=4: exit 82" 82 "$RC"
same "ERROR_FD=4: the reply is on fd 4" "Dmessage rejected: header Subject blocked by policy (#5.7.1)" "$(cat "$T/fd4")"
check "ERROR_FD=4: nothing on fd 6" test ! -s "$T/fd6b"
pq policy.conf "$T/spam" "$T/env" ERROR_FD=4
same "ERROR_FD=4 not open: falls back to 31" 31 "$RC"
pq policy.conf "$T/spam" "$T/env" bash -c 'exec "$0" 6< /dev/null'
same "fd 6 open read-only: falls back to 31" 31 "$RC"

# a long reply is cut to qmail-smtpd's 255 bytes, keeping the status code:
# POLICY_STAGES=all runs the envelope checks here; the reply quotes the
# 300-byte address (refused as syntax: a local part is at most 64 bytes)
long=$(printf 'x%.0s' $(seq 300))
printf 'Fa@sender.test\0T%s@elsewhere.test\0\0' "$long" > "$T/longenv"
pq policy.conf "$T/clean" "$T/longenv" POLICY_STAGES=all bash -c 'exec "$0" 6> "'"$T"'/fd6l"'
same "long reply: exit 82" 82 "$RC"
check "long reply: at most 255 bytes on fd 6" test "$(wc -c < "$T/fd6l")" -le 255
check "long reply: still ends with the status code" grep -qE ' \(#5\.[0-9]\.[0-9]+\)$' "$T/fd6l"

pq temp.conf "$T/spam" "$T/env"
same "deferred, no error fd: exit 71" 71 "$RC"
pq temp.conf "$T/spam" "$T/env" bash -c 'exec "$0" 6> "'"$T"'/fd6t"'
same "deferred, fd 6 open: exit 82" 82 "$RC"
check "deferred: fd 6 carries Z" grep -q "^Z.*header Subject blocked by policy (#4\." "$T/fd6t"

pq broken.conf "$T/clean" "$T/env"
same "configuration that does not load: exit 71" 71 "$RC"
check "configuration error: named on stderr (qmail-smtpd's log)" grep -q "broken.conf:2" "$T/stderr"
check "configuration error: nothing queued" test ! -e "$Q/message"

# the envelope the MTA accepted is taken as given: qmail-smtpd's SMTP limits
# ran already, so POLICY_STAGES=content sets none of its own on the number
# of recipients or the length of an address (memory follows the envelope)
mkenv() { # mkenv FILE SENDER NRCPTS
    { printf 'F%s\0' "$2"; seq -f "Trcpt%.0f@example.test" "$3" | tr '\n' '\0'; printf '\0'; } > "$1"
}
mkenv "$T/env10001" a@sender.test 10001
pq policy.conf "$T/clean" "$T/env10001" POLICY_STAGES=content
same "10,001 recipients under POLICY_STAGES=content: queued (exit 0)" 0 "$RC"
check "10,001 recipients: the envelope reaches the real queue identical" cmp -s "$T/env10001" "$Q/envelope"
pq policy.conf "$T/clean" "$T/env10001"
same "10,001 recipients with policy-queue's default stages: queued" 0 "$RC"
for len in 513 5000; do
    mkenv "$T/envlong$len" "$(printf 's%.0s' $(seq $((len - 12))))@sender.test" 2
    pq policy.conf "$T/clean" "$T/envlong$len" POLICY_STAGES=content
    same "a $len-byte sender under POLICY_STAGES=content: queued" 0 "$RC"
    check "a $len-byte sender: the envelope reaches the real queue identical" cmp -s "$T/envlong$len" "$Q/envelope"
done
printf 'Fa@sender.test\0T%s@example.test\0\0' "$(printf 'r%.0s' $(seq 3000))" > "$T/envlongrcpt"
pq policy.conf "$T/clean" "$T/envlongrcpt" POLICY_STAGES=content
same "a 3,013-byte recipient under POLICY_STAGES=content: queued" 0 "$RC"
# where the envelope checks run here (an unpatched qmail-smtpd), the SMTP limit is back
pq policy.conf "$T/clean" "$T/envlong513" POLICY_STAGES=all
same "a 513-byte sender under POLICY_STAGES=all: refused as SMTP would (31)" 31 "$RC"
# memory: bounded by the envelope, not by a count; 100,001 recipients (3.2 MB)
mkenv "$T/env100k" a@sender.test 100001
maxrss() { # maxrss ENVELOPE - run policy-queue; RC, Q, and RSS its peak in kB (GNU time)
    Q=$(mktemp -d "$T/q.XXXXXX")
    env POLICY_CONFIG="$T/policy.conf" QQ_DIR="$Q" /usr/bin/time -f '%M' -o "$T/rss" \
        "$PQ" < "$T/clean" 1< "$1" 2>/dev/null
    RC=$?
    RSS=$(tail -1 "$T/rss")
}
maxrss "$T/env"; rss1=$RSS
maxrss "$T/env100k"; rss100k=$RSS
same "100,001 recipients: queued" 0 "$RC"
check "100,001 recipients: the envelope reaches the real queue identical" cmp -s "$T/env100k" "$Q/envelope"
envkb=$(( $(wc -c < "$T/env100k") / 1024 ))
if nm "$PQ" 2>/dev/null | grep -q __asan_init; then
    echo "100,001 recipients: peak ${rss1} kB -> ${rss100k} kB, envelope ${envkb} kB (ASan: RSS not judged)"
else
    check "100,001 recipients: peak memory grows by under 6 times the envelope (${rss1} kB -> ${rss100k} kB, envelope ${envkb} kB)" \
        test $(( rss100k - rss1 )) -lt $(( 6 * envkb ))
fi

# malformed envelopes: 91, and the real queue never runs
i=0
for e in 'Ta@b\0\0' 'F\0\0' 'Fa@b\0Tc@d\0' 'Fa@b\0Tc@d\0\0extra' 'Fa@b\0Xc@d\0\0' 'Fa@b\0T\0\0' '' 'Fa@b'; do
    i=$((i + 1))
    printf "$e" > "$T/bad$i"
    pq policy.conf "$T/clean" "$T/bad$i"
    same "malformed envelope $i: exit 91" 91 "$RC"
    check "malformed envelope $i: nothing queued" test ! -e "$Q/message"
done
printf 'F\0Tgood@example.test\0\0' > "$T/nullsender"
pq policy.conf "$T/clean" "$T/nullsender"
same "null sender: exit 0" 0 "$RC"

# read error on fd 0 (a directory): 54
Q=$(mktemp -d "$T/q.XXXXXX")
POLICY_CONFIG="$T/policy.conf" QQ_DIR="$Q" "$PQ" < / 1< "$T/env" 2>/dev/null; RC=$?
same "read error on the message: exit 54" 54 "$RC"
POLICY_CONFIG="$T/policy.conf" QQ_DIR="$Q" "$PQ" < "$T/clean" 1< / 2>/dev/null; RC=$?
same "read error on the envelope: exit 54" 54 "$RC"

# the real queue failing: its status passes unchanged, never 0
for code in 11 31 51 53 54 71 74 81 91; do
    pq policy.conf "$T/clean" "$T/env" QQ_EXIT=$code
    same "real queue exits $code: passed on" "$code" "$RC"
done
pq policy.conf "$T/clean" "$T/env" QQ_SIGNAL=9
same "real queue killed: 81 (temporary)" 81 "$RC"
pq policy.conf "$T/clean" "$T/env" POLICY_QMAILQUEUE=/nonexistent/qmail-queue
same "real queue missing: 120 (temporary)" 120 "$RC"
pq policy.conf "$T/clean" "$T/env" QQ_NOREAD=1 QQ_EXIT=53
same "real queue that stops reading: its status" 53 "$RC"
pq policy.conf "$T/clean" "$T/env" QQ_ERROR="Dvirus found" bash -c 'exec "$0" 6> "'"$T"'/fd6q"'
same "real queue's own custom reply: 82 passed on" 82 "$RC"
same "real queue's own custom reply: its text on fd 6" "Dvirus found" "$(cat "$T/fd6q")"

# big messages are spooled, not lost; no temp file left behind
mkdir -p "$T/spool"
{ cat "$T/clean"; printf '\n'; head -c 3000000 /dev/urandom | base64; } > "$T/big"
pq policy.conf "$T/big" "$T/env" POLICY_SPOOL_LIMIT=65536 TMPDIR="$T/spool"
same "3 MB message over the spool limit: exit 0" 0 "$RC"
check "3 MB message: byte-identical" cmp -s "$T/big" "$Q/message"
same "spool file removed" "" "$(ls "$T/spool")"
pq policy.conf "$T/big" "$T/env" POLICY_SPOOL_LIMIT=65536 TMPDIR=/nonexistent
same "spool directory unusable: exit 53 (temporary)" 53 "$RC"
pq policy.conf "$T/big" "$T/env"
check "3 MB message in memory: byte-identical" cmp -s "$T/big" "$Q/message"
: > "$T/empty"
pq policy.conf "$T/empty" "$T/env"
same "empty message: exit 0" 0 "$RC"

# a run maps what its configuration and message use, nothing more
HEAVY='file=lib(clamav|cares|lmdb|hiredis|psl|archive|pcre2-8|spf2|resolv)\.'
pq policy.conf "$T/clean" "$T/env" LD_DEBUG=files
same "header rules, clean message (LD_DEBUG=files): queued" 0 "$RC"
check "header rules, clean message: libpolicy is loaded" grep -q 'file=libpolicy.so.0 ' "$T/stderr"
check "header rules, clean message: no libclamav, c-ares, LMDB, hiredis, libpsl, libarchive, PCRE2 or libspf2 is mapped" \
    bash -c "! grep -qE '$HEAVY' '$T/stderr'"
pq policy.conf "$T/spam" "$T/env" LD_DEBUG=files
same "a message the prefilter lets through: refused" 31 "$RC"
check "a message the prefilter lets through: PCRE2 is loaded for it, and only it" \
    bash -c "grep -q 'file=libpcre2-8.so.0 .*dynamically loaded' '$T/stderr' &&
             [ \"\$(grep -oE '$HEAVY' '$T/stderr' | sort -u)\" = 'file=libpcre2-8.' ]"
{ printf '[general]\nstore = lmdb:%s/state\nstore_metrics = yes\n' "$T"; cat "$T/policy.conf"; } > "$T/store.conf"
pq store.conf "$T/clean" "$T/env" LD_DEBUG=files
same "a configured store (metrics counted in LMDB): queued" 0 "$RC"
check "a configured store: LMDB is loaded, when the counts are written" \
    grep -q 'file=liblmdb.so.0 .*dynamically loaded' "$T/stderr"
check "a configured store: the counts reached the file" test -s "$T/state"

# under tcpserver with a real tcp.smtp.cdb: the variables reach the library
cat > "$T/tcp.smtp" <<'RULES'
127.0.0.1:allow,POLICY_REGEX="tag",QMAILQUEUE="PQ"
:allow
RULES
sed -i "s|PQ|$PQ|" "$T/tcp.smtp"
tcprules "$T/tcp.smtp.cdb" "$T/tcp.smtp.tmp" < "$T/tcp.smtp"
cat > "$T/smtpd.sh" <<SH
#!/bin/sh
# what qmail-smtpd does at DATA: run \$QMAILQUEUE with the message and envelope
exec "\$QMAILQUEUE" < "$T/spam" 1< "$T/env"
SH
chmod +x "$T/smtpd.sh"
PORT=$(( 20000 + RANDOM % 20000 ))
mkdir -p "$T/qt"
env -u TCPREMOTEIP POLICY_CONFIG="$T/policy.conf" QQ_DIR="$T/qt" \
    tcpserver -H -R -l 0 -x "$T/tcp.smtp.cdb" 127.0.0.1 "$PORT" \
    sh -c "\"$T/smtpd.sh\"; echo rc=\$?" > /dev/null 2> "$T/tcpserver.err" &
SRV=$!
for _ in $(seq 50); do tcpclient -H -R -l 0 127.0.0.1 "$PORT" true 2>/dev/null && break; sleep 0.1; done
rm -rf "$T/qt"/*
out=$(timeout 20 tcpclient -H -R -l 0 127.0.0.1 "$PORT" sh -c "cat <&6" 2>&1)
kill "$SRV" 2>/dev/null; wait "$SRV" 2>/dev/null
same "tcpserver: policy-queue accepted (rc=0)" "rc=0" "$out"
same "tcpserver: POLICY_REGEX=tag from tcp.smtp.cdb reached the library" "X-Policy-Tag" \
    "$(head -1 "$T/qt/message" 2>/dev/null | cut -d: -f1)"
check "tcpserver: TCPREMOTEIP reached the real queue" grep -q "^TCPREMOTEIP=127.0.0.1$" "$T/qt/env"
finish
