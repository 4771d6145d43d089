#!/bin/bash
# attachments.sh - the attachments layer through every adapter, one message
# per trick (attachments/make.py: encoded and disguised names, programs
# under harmless names, archives nested, encrypted, tar.gz and 7z,
# uuencode, forwarded messages, broken MIME, Office macros): through
# policyctl check, through policy-queue (the refusal on fd 6 as qmail-smtpd
# gives it to its client, clean mail queued byte for byte), through
# policy-milter under a private Postfix (refused at the end of DATA, clean
# mail delivered byte for byte); BADMIMETYPE/BADLOADERTYPE from tcp.smtp;
# a 45 MB message through the milter and policy-queue in bounded memory;
# a message over message_size_limit refused, never cut.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/postfix_lib.sh"
pf_test_begin "$1"
PQ="$B/adapters/qmail-queue/policy-queue"
QQ="$B/tests/tools/qq_record"
M="$T/msgs"
/usr/bin/python3 "$(dirname "$0")/attachments/make.py" "$M" || { notok "make.py writes the messages"; finish; exit 1; }

cat > "$T/default.conf" <<CONF
[customers]
local_domains = local.example sink.test
[attachments]
CONF
cat > "$T/strict.conf" <<CONF
[customers]
local_domains = local.example sink.test
[attachments]
encrypted = reject
unreadable = reject
macros = yes
CONF

# ------------------------------------------------------------ policyctl

# verdict_of EXIT - accept / reject / defer
verdict_of() { case $1 in 0) echo accept ;; 1) echo reject ;; 2) echo defer ;; *) echo "exit $1" ;; esac; }

while IFS=$'\t' read -r name verdict text conf; do
    out=$("$POLICYCTL" check -c "$T/$conf.conf" --ip 192.0.2.1 --helo mx.example.org \
        --from alice@example.org --rcpt user@local.example "$M/$name.eml" 2>&1)
    got=$(verdict_of $?)
    if [ "$got" = "$verdict" ] && { [ "$text" = - ] || grep -qF -- "$text" <<< "$out"; }; then
        ok "policyctl: $name is ${verdict}ed${text:+ ($text)}"
    else
        notok "policyctl: $name is ${verdict}ed" "got $got: $(grep -E '^(eom|header|body)' <<< "$out" | tr '\n' ' ')"
    fi
done < "$M/cases"

# ------------------------------------------------------------ policy-queue

printf 'Falice@example.org\0Tuser@local.example\0\0' > "$T/env"
# pq CONF MESSAGE - policy-queue as qmail-smtpd runs it, fd 6 open; RC, Q
pq() {
    Q=$(mktemp -d "$T/q.XXXXXX")
    POLICY_CONFIG="$T/$1" POLICY_QMAILQUEUE="$QQ" QQ_DIR="$Q" TCPREMOTEIP=192.0.2.1 \
        bash -c 'exec "$0" < "$1" 1< "$2" 6> "$3/fd6"' "$PQ" "$2" "$T/env" "$Q" 2> "$Q/stderr"
    RC=$?
}
while IFS=$'\t' read -r name verdict text conf; do
    pq "$conf.conf" "$M/$name.eml"
    if [ "$verdict" = accept ]; then
        if [ "$RC" = 0 ] && cmp -s "$M/$name.eml" "$Q/message"; then
            ok "policy-queue: $name queued byte for byte"
        else
            notok "policy-queue: $name queued byte for byte" "exit $RC $(cat "$Q/fd6" "$Q/stderr" 2>/dev/null)"
        fi
    else
        reply=$(cat "$Q/fd6" 2>/dev/null)
        if [ "$RC" = 82 ] && [ "${reply:0:1}" = D ] && { [ "$text" = - ] || grep -qF -- "$text" <<< "$reply"; } &&
            [ ! -e "$Q/message" ]; then
            ok "policy-queue: $name refused on fd 6 (${reply:1:60}...)"
        else
            notok "policy-queue: $name refused on fd 6" "exit $RC, fd 6: $reply"
        fi
    fi
done < "$M/cases"

# what a qmail-smtpd with the fd 6 patch makes of it: "554 " and the text
pq default.conf "$M/zip_exe.eml"
same "policy-queue: the client of qmail-smtpd reads 554 and the library's text" \
    "554 attachment type not allowed: docs.zip/setup.exe (#5.7.1)" "554 $(cut -c2- "$Q/fd6")"
pq default.conf "$M/ext_exe.eml"
POLICY_CONFIG="$T/default.conf" POLICY_QMAILQUEUE="$QQ" QQ_DIR="$Q" TCPREMOTEIP=192.0.2.1 \
    "$PQ" < "$M/ext_exe.eml" 1< "$T/env" 2>/dev/null
same "policy-queue: without an error fd the refusal is exit 31" 31 "$?"

# the warlord patch: BADMIMETYPE and BADLOADERTYPE from tcp.smtp
head -c 7 "$M/pe.bin" | base64 | cut -c1-9 > "$T/badmimetypes" # "TVqQAAAAA"-style prefix of our PE
printf '# loaders\n%s\n' "$(base64 -w0 "$M/pe.bin" | grep -o 'VGhpc[A-Za-z0-9+/]*' | cut -c1-5)" > "$T/badloadertypes"
cat > "$T/warlord.conf" <<CONF
[customers]
local_domains = local.example sink.test
[attachments]
executables = no
extensions = none
content_types = none/none
badmimetypes = $T/badmimetypes
badloadertypes = $T/badloadertypes
CONF
pq warlord.conf "$M/content_pe_as_pdf.eml"
same "warlord: without BADMIMETYPE nothing is refused" 0 "$RC"
BADMIMETYPE= pq warlord.conf "$M/content_pe_as_pdf.eml"
check "warlord: BADMIMETYPE=\"\" refuses a base64 part that starts like a listed type" \
    grep -q "bad MIME type" "$Q/fd6"
BADLOADERTYPE=V pq warlord.conf "$M/content_pe_as_pdf.eml"
check "warlord: BADLOADERTYPE=V refuses a base64 part with a listed loader string" \
    grep -q "bad loader" "$Q/fd6"
BADLOADERTYPE=- pq warlord.conf "$M/content_pe_as_pdf.eml"
same "warlord: BADLOADERTYPE=- is off" 0 "$RC"
BADMIMETYPE='!' pq warlord.conf "$M/clean_pdf.eml"
same "warlord: BADMIMETYPE=! passes clean base64" 0 "$RC"
sed 's/^\(JVBERi0x\)/\1 /' "$M/clean_pdf.eml" > "$T/blank.eml"
BADMIMETYPE='!' pq warlord.conf "$T/blank.eml"
check "warlord: BADMIMETYPE=! refuses a blank inside a base64 line" grep -q "blank inside base64" "$Q/fd6"

# ------------------------------------------------------------ policy-milter under Postfix

cp "$T/default.conf" "$T/policy.conf"
pf_test_world
postconf -c "$T/pf/conf" -e "message_size_limit = 100000000"
check "the private Postfix starts" pf_start "$T/pf"
ip addr add 192.0.2.10/32 dev lo

# delivered_as NAME - the message smtp-sink saved for NAME (by its
# Message-ID) from its first line on (every test message starts with the
# same From:), without what smtp-sink and Postfix put on top (X-Client-*,
# two Received) and the empty lines swaks and smtp-sink add at the end,
# with LF line ends
delivered_as() {
    local f
    f=$(grep -l "^Message-ID: <$1@example.org>" "$T"/sink/* 2>/dev/null | head -1)
    [ -n "$f" ] || return 1
    tr -d '\r' < "$f" | awk '$0 == "From: alice@example.org" { on = 1 } on' |
        sed -e ':a' -e '/^\n*$/{$d;N;ba' -e '}'
}
while IFS=$'\t' read -r name verdict text conf <&3; do
    [ "$conf" = default ] || continue
    out=$(send 192.0.2.10 user@sink.test --data "$M/$name.eml" < /dev/null)
    if [ "$verdict" = accept ]; then
        sleep 0.2
        for _ in $(seq 50); do delivered_as "$name" >/dev/null && break; sleep 0.1; done
        if grep -q "queued as" <<< "$out" && cmp -s <(delivered_as "$name") "$M/$name.eml"; then
            ok "milter: $name delivered byte for byte"
        else
            notok "milter: $name delivered byte for byte" \
                "$(grep -E '^<' <<< "$out" | tail -1) $(diff <(delivered_as "$name") "$M/$name.eml" | head -4)"
        fi
    else
        if grep -qE "^<\*\* *554 5.7.1 .*$(printf '%s' "$text" | sed 's/[][\.*^$/(){}+?|]/\\&/g')" <<< "$out"; then
            ok "milter: $name refused at the end of DATA"
        else
            notok "milter: $name refused at the end of DATA" "$(grep -E '^<\*\*' <<< "$out" | head -2)"
        fi
    fi
done 3< "$M/cases"

# ------------------------------------------------------------ memory and size

# a 45 MB message: 40 MB of attachment (random bytes, base64) and text
/usr/bin/python3 - "$T/big.eml" <<'PY'
import base64, os, sys
with open(sys.argv[1], "w") as f:
    f.write("From: alice@example.org\nTo: user@sink.test\nSubject: big\nMessage-ID: <big@example.org>\n"
            "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=bb\n\n--bb\n"
            "Content-Type: text/plain\n\n" + "some text\n" * 400000 + "--bb\n"
            "Content-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n"
            "Content-Disposition: attachment; filename=\"data.bin\"\n\n")
    for _ in range(30):
        s = base64.encodebytes(os.urandom(1024 * 1024)).decode()
        f.write(s)
    f.write("--bb--\n")
PY
size=$(stat -c %s "$T/big.eml")
check "the big message is over 40 MB ($size bytes)" test "$size" -gt 40000000
hwm() { awk '/^VmHWM/ { print $2 }' "/proc/$1/status"; }
before=$(hwm "$MPID")
out=$(send 192.0.2.10 user@sink.test --data "$T/big.eml")
after=$(hwm "$MPID")
check "milter: the 45 MB message is accepted" grep -q "queued as" <<< "$out"
grew=$(( after - before ))
# asan - built with AddressSanitizer: its quarantine keeps what is freed,
# so peak memory says nothing about ours
asan() { nm "$1" 2>/dev/null | grep -q __asan_init; }
if asan "$MILTER"; then
    echo "milter: peak memory grew ${grew} kB for 45 MB (ASan: not judged)"
else
    check "milter: peak memory grew ${grew} kB for 45 MB (under 8 MB beyond the 1 MB spool)" \
        test "$grew" -lt $(( 9 * 1024 ))
fi

# policy-queue: peak memory of the process for the big and a small message,
# handing on to a queue that reads and forgets (a recording one would count)
printf '#!/bin/sh\ncat > /dev/null\ncat <&1 > /dev/null\n' > "$T/forget"
chmod +x "$T/forget"
maxrss() { # CONF MESSAGE - ru_maxrss of policy-queue, kB
    /usr/bin/python3 - "$PQ" "$T/$1" "$2" "$T/env" "$T/forget" <<'PY'
import os, resource, subprocess, sys
pq, conf, msg, env, qq = sys.argv[1:]
e = dict(os.environ, POLICY_CONFIG=conf, POLICY_QMAILQUEUE=qq, TCPREMOTEIP="192.0.2.1")
with open(msg, "rb") as m, open(env, "rb") as v:
    r = subprocess.run([pq], stdin=m, stdout=v, env=e, stderr=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, r.returncode)
PY
}
small=$(maxrss default.conf "$M/clean_text.eml")
big=$(maxrss default.conf "$T/big.eml")
grew=$(( ${big% *} - ${small% *} ))
if asan "$PQ"; then
    echo "policy-queue: peak memory grew ${grew} kB for 45 MB (ASan: not judged)"
else
    check "policy-queue: peak memory grew ${grew} kB for 45 MB (under 8 MB beyond the 1 MB spool)" \
        test "$grew" -lt $(( 9 * 1024 ))
fi
pq default.conf "$T/big.eml"
check "policy-queue: the 45 MB message reaches the queue byte for byte" cmp -s "$T/big.eml" "$Q/message"

# over message_size_limit: refused with 552, nothing handed on
printf '[general]\nmessage_size_limit = 10M\n' | cat - "$T/default.conf" > "$T/small.conf"
pq small.conf "$T/big.eml"
same "policy-queue: over message_size_limit: exit 82" 82 "$RC"
same "policy-queue: the reply says why" "Dmessage size exceeds the fixed limit (#5.3.4)" "$(cat "$Q/fd6")"
check "policy-queue: nothing reached the queue" test ! -e "$Q/message"
out=$("$POLICYCTL" check -c "$T/small.conf" --ip 192.0.2.1 --from a@example.org \
    --rcpt user@local.example "$T/big.eml")
same "policyctl: over message_size_limit: 552 5.3.4" "552 5.3.4" "$(awk -F'\t' '$1 == "body" { print $3, $4 }' <<< "$out")"
cp "$T/small.conf" "$T/policy.conf"
kill -HUP "$MPID"
for _ in $(seq 50); do grep -q "reloaded" "$T/milter.log" && break; sleep 0.1; done
out=$(send 192.0.2.10 user@sink.test --data "$T/big.eml")
check "milter: over message_size_limit: 552 5.3.4 at the end of DATA" grep -qE "^<\*\* *552 5.3.4" <<< "$out"
finish
