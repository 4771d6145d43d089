#!/bin/bash
# virus.sh BUILD_DIR - the virus layer against real ClamAV, no network, no
# freshclam: signatures written by the test (scanners/sigs.sh: an MD5 line
# per file of clamav-testfiles, EICAR and clam.exe's code), every file of
# clamav-testfiles carried by mail in five ways (virus/make.py: base64,
# quoted-printable, uuencode, zip, a forwarded message), each with a clean
# twin, through policyctl scan and check (libclamav and clamd), through
# policy-queue with a real clamd (refusals on fd 6, clean mail queued byte
# for byte) and through policy-milter with libclamav under a private Postfix
# (refused at the end of DATA, clean mail delivered byte for byte).  Then
# the faults: clamd killed mid-scan, a listener that never answers, clamd
# refusing the size, the database missing - each what on_error or the
# configuration says, within the timeout, through policy-queue and the
# milter, which keeps serving; SIGHUPs under load with the database loaded
# in process (none lost, none unscanned, an unchanged database not read
# again, a changed one loaded while the old engine scans); the milter with
# the engine under valgrind.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/postfix_lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
pf_test_begin "$1"
PQ="$B/adapters/qmail-queue/policy-queue"
QQ="$B/tests/tools/qq_record"
PY=/usr/bin/python3
TF=/usr/share/clamav-testfiles
M="$T/msgs"
. "$HERE/scanners/sigs.sh"
PIDS=()
virus_cleanup() {
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
    pf_test_cleanup
}
trap virus_cleanup EXIT

for tool in clamd smtp-sink; do
    if ! command -v "$tool" >/dev/null; then
        notok "$tool is installed (scripts/install-deps.sh)"
        finish
        exit 1
    fi
done
if [ ! -f "$TF/clam.exe" ]; then
    notok "clamav-testfiles is installed (scripts/install-deps.sh)"
    finish
    exit 1
fi
"$PY" "$HERE/virus/make.py" "$M" "$TF" || { notok "virus/make.py writes the messages"; finish; exit 1; }
NT=$(ls "$TF" | wc -l)
sigs_write "$T/db"
# clam.exe matches two signatures, its MD5 and 50 bytes of its code;
# ClamAV stops at the first match, the code's, met while it reads the file
CLAMEXE=ClamTest.Exe.Body.UNOFFICIAL

# ------------------------------------------------------------ the scanners

BASE=$(( 20000 + RANDOM % 20000 ))
CPORT=$BASE HANGPORT=$((BASE + 1))
cat > "$T/d.clamd.conf" <<EOF
Foreground yes
LocalSocket $T/clamd.sock
TCPSocket $CPORT
TCPAddr 127.0.0.1
DatabaseDirectory $T/db
LogFile $T/clamd.log
StreamMaxLength 20M
MaxThreads 8
EOF
# a second clamd that takes at most 1 MB a stream
sed -e "s|$T/clamd.sock|$T/small.sock|; s|^TCPSocket.*|TCPSocket $((BASE + 2))|" \
    -e "s|^StreamMaxLength.*|StreamMaxLength 1M|; s|clamd.log|small.log|" "$T/d.clamd.conf" > "$T/d.small.conf"
# clamd_start NAME - clamd with $T/d.NAME.conf; CLAMD_PID; 0 once it answers PING
clamd_start() {
    clamd -c "$T/d.$1.conf" >> "$T/$1.out" 2>&1 &
    CLAMD_PID=$!
    disown "$CLAMD_PID" # killed on purpose below
    PIDS+=("$CLAMD_PID")
    local sock=$T/$1.sock
    [ "$1" = clamd ] && sock=$T/clamd.sock
    for _ in $(seq 300); do
        "$B/tests/tools/scan_drive" ping "unix:$sock" -t 500 >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    return 1
}
clamd_start small || notok "the small clamd starts" "$(tail -3 "$T/small.out")"
check "clamd starts on the test signatures" clamd_start clamd
MAIN_CLAMD=$CLAMD_PID
"$PY" "$HERE/scanners/fakeserver.py" "$HANGPORT" hang > "$T/hang.out" 2>&1 &
disown "$!" # killed at exit: no "Killed" line from bash
PIDS+=("$!")
for _ in $(seq 100); do grep -q ready "$T/hang.out" 2>/dev/null && break; sleep 0.1; done

# conf NAME KEYS... - $T/NAME.conf: the sink's domain is ours, [virus] with KEYS
conf() {
    local n=$1
    shift
    { printf '[customers]\nlocal_domains = sink.test local.example\n[virus]\n'; printf '%s\n' "$@"; } > "$T/$n.conf"
}
conf lib "scanner = libclamav" "database = $T/db"
conf clamd "clamd = unix:$T/clamd.sock" "timeout = 10s"
conf clamd_tcp "clamd = inet:127.0.0.1:$CPORT" "timeout = 10s"

# ------------------------------------------------------------ what each way gives

# judge WHO RESULTS - RESULTS holds "NAME<TAB>OUTCOME<TAB>TEXT" lines, OUTCOME
# "refused" or "passed"; one check per way and verdict, the misses listed
judge() {
    local who=$1 res=$2 way verdict n bad
    for way in b64 qp uu zip fwd; do
        for verdict in infected clean; do
            n=0 bad=""
            while IFS=$'\t' read -r name v sig; do
                [ "$v" = "$verdict" ] || continue
                case $name in "$way".* | clean-"$way".*) ;; *) continue ;; esac
                n=$((n + 1))
                line=$(awk -F'\t' -v n="$name" '$1 == n' "$res")
                if [ "$verdict" = infected ]; then
                    [ "$(cut -f2 <<< "$line")" = refused ] && grep -qF "virus found: $sig" <<< "$line" ||
                        bad="$bad $name[$(cut -f2- <<< "$line" | tr '\t' ' ')]"
                else
                    [ "$(cut -f2 <<< "$line")" = passed ] || bad="$bad $name[$(cut -f2- <<< "$line" | tr '\t' ' ')]"
                fi
            done < "$M/cases"
            if [ "$verdict" = infected ]; then
                what="$n clamav-testfiles as $way refused with their signature"
            else
                what="their $n clean twins ($way) passed"
            fi
            if [ -z "$bad" ] && [ "$n" -ge "$NT" ]; then ok "$who: $what"; else notok "$who: $what" "$(echo "$bad" | cut -c1-600)"; fi
        done
    done
    for name in eicar.b64 eicar.text clean.text; do
        line=$(awk -F'\t' -v n="$name" '$1 == n' "$res")
        case $name in
        clean*) same "$who: $name passes" passed "$(cut -f2 <<< "$line")" ;;
        *) same "$who: $name is refused as Test.Eicar" "refused|yes" \
            "$(cut -f2 <<< "$line")|$(grep -qF "virus found: Test.Eicar.UNOFFICIAL" <<< "$line" && echo yes)" ;;
        esac
    done
}

ALL=$(cut -f1 "$M/cases" | sed "s|^|$M/|; s|\$|.eml|")
# policyctl scan: every message in one run, an engine loaded once
for c in lib clamd clamd_tcp; do
    # shellcheck disable=SC2086
    "$POLICYCTL" scan -c "$T/$c.conf" $ALL > "$T/scan.$c" 2> "$T/scan.$c.err"
    awk -F'\t' '{ n = $1; sub(/.*\//, "", n); sub(/\.eml$/, "", n);
                  print n "\t" ($2 == "reject" ? "refused" : $2 == "continue" ? "passed" : $2) "\t" $4 " " $6 }' \
        "$T/scan.$c" > "$T/res.scan.$c"
    judge "policyctl scan ($c)" "$T/res.scan.$c"
done
out=$("$POLICYCTL" check -c "$T/lib.conf" --ip 192.0.2.1 --helo mx.example.org --from alice@example.org \
    --rcpt user@sink.test "$M/qp.clam.exe.eml")
same "policyctl check: a message file with clam.exe quoted-printable is refused at eom (exit 1)" \
    "1|eom reject 554 5.7.1 virus message rejected: virus found: $CLAMEXE" \
    "$?|$(grep '^eom' <<< "$out" | tr '\t' ' ')"

# ------------------------------------------------------------ policy-queue with clamd

printf 'Falice@example.org\0Tuser@sink.test\0\0' > "$T/env"
# pq CONF MESSAGE - policy-queue as qmail-smtpd runs it, fd 6 open: RC, Q
# (the queue's directory: message, fd6), MS (its time)
pq() {
    Q=$(mktemp -d "$T/q.XXXXXX")
    local s e
    s=$(date +%s%N)
    POLICY_CONFIG="$T/$1" POLICY_QMAILQUEUE="$QQ" QQ_DIR="$Q" TCPREMOTEIP=192.0.2.1 \
        bash -c 'exec "$0" < "$1" 1< "$2" 6> "$3/fd6"' "$PQ" "$2" "$T/env" "$Q" 2> "$Q/stderr"
    RC=$?
    e=$(date +%s%N)
    MS=$(( (e - s) / 1000000 ))
}
: > "$T/res.pq"
while IFS=$'\t' read -r name verdict sig; do
    pq clamd.conf "$M/$name.eml"
    if [ "$RC" = 0 ] && cmp -s "$M/$name.eml" "$Q/message"; then
        printf '%s\tpassed\tqueued byte for byte\n' "$name" >> "$T/res.pq"
    elif [ "$RC" = 82 ] && [ ! -e "$Q/message" ]; then
        printf '%s\t%s\t%s\n' "$name" "$( [ "$(head -c1 "$Q/fd6")" = D ] && echo refused || echo deferred)" \
            "$(cat "$Q/fd6")" >> "$T/res.pq"
    else
        printf '%s\texit %s\t%s\n' "$name" "$RC" "$(cat "$Q/fd6" "$Q/stderr" 2>/dev/null | head -2)" >> "$T/res.pq"
    fi
    rm -rf "$Q"
done < "$M/cases"
judge "policy-queue + clamd" "$T/res.pq"
pq clamd.conf "$M/b64.clam.zip.eml"
same "policy-queue: the client of qmail-smtpd reads 554 and the signature" \
    "554 message rejected: virus found: $CLAMEXE (#5.7.1)" "554 $(cut -c2- "$Q/fd6")"
POLICY_CONFIG="$T/clamd.conf" POLICY_QMAILQUEUE="$QQ" QQ_DIR="$Q" TCPREMOTEIP=192.0.2.1 \
    "$PQ" < "$M/b64.clam.exe.eml" 1< "$T/env" 2>/dev/null
same "policy-queue: without an error fd an infected message is exit 31" 31 "$?"
conf discard "clamd = unix:$T/clamd.sock" "action = discard"
pq discard.conf "$M/zip.clam.exe.eml"
same "policy-queue: action = discard: exit 0, nothing handed on" "0|no" "$RC|$([ -e "$Q/message" ] && echo yes || echo no)"
conf tag "clamd = unix:$T/clamd.sock" "action = tag" "scanned_header = yes"
pq tag.conf "$M/uu.clam.exe.eml"
same "policy-queue: action = tag: queued with X-Virus-Status on top" \
    "0|X-Virus-Status: Infected ($CLAMEXE)" "$RC|$(grep -m1 '^X-Virus-Status' "$Q/message")"
pq tag.conf "$M/clean.text.eml"
same "policy-queue: scanned_header = yes: clean mail gets X-Virus-Scanned and X-Virus-Status: Clean" \
    "0|X-Virus-Scanned: ClamAV (clamd) on $(hostname)|X-Virus-Status: Clean" \
    "$RC|$(sed -n 1p "$Q/message")|$(sed -n 2p "$Q/message")"

# ------------------------------------------------------------ the faults, policy-queue

Z="Zvirus scanner unavailable, try again later (#4.3.0)"
conf clamd_accept "clamd = unix:$T/clamd.sock" "timeout = 10s" "on_error = accept"
# clamd stopped, policy-queue started on a message (10 s timeout), clamd
# killed a second later: policy-queue must answer at once.  pq in the
# background loses its variables: pq_bg writes them down
pq_bg() { pq "$1" "$2"; echo "$RC $MS $Q" > "$T/bg.out"; }
kill -STOP "$MAIN_CLAMD"
pq_bg clamd.conf "$M/clean-b64.clam-ISmsi-ext.exe.eml" &
p=$!
sleep 1
kill -9 "$MAIN_CLAMD"
wait "$p"
read -r RC MS Q < "$T/bg.out"
same "fault: clamd killed mid-scan: deferred as on_error says (451 on fd 6)" "82|$Z|no" \
    "$RC|$(cat "$Q/fd6")|$([ -e "$Q/message" ] && echo yes || echo no)"
check "fault: ... at once, not at the 10 s timeout ($MS ms)" test "$MS" -lt 5000
pq clamd_accept.conf "$M/clean.text.eml"
same "fault: clamd down, on_error = accept: queued unscanned, byte for byte" "0|same" \
    "$RC|$(cmp -s "$M/clean.text.eml" "$Q/message" && echo same)"
check "fault: clamd restarts" clamd_start clamd
MAIN_CLAMD=$CLAMD_PID
pq clamd.conf "$M/fwd.clam.exe.eml"
same "fault: ... and the next message is scanned again" "82|D" "$RC|$(head -c1 "$Q/fd6")"

conf hang "clamd = inet:127.0.0.1:$HANGPORT" "timeout = 1s"
pq hang.conf "$M/clean.text.eml"
same "fault: a clamd that accepts and never answers: deferred (451 on fd 6)" "82|$Z" "$RC|$(cat "$Q/fd6")"
check "fault: ... within the 1 s timeout ($MS ms)" test "$MS" -ge 900 -a "$MS" -lt 3000
conf hang_accept "clamd = inet:127.0.0.1:$HANGPORT" "timeout = 1s" "on_error = accept"
pq hang_accept.conf "$M/clean.text.eml"
same "fault: ... on_error = accept: queued byte for byte" "0|same" "$RC|$(cmp -s "$M/clean.text.eml" "$Q/message" && echo same)"
# servers in order: one that is not there is skipped for the next; one that
# accepts the connection is the one asked, and its timeout is the wait
conf gone_then "clamd = unix:$T/gone.sock inet:127.0.0.1:$((BASE + 3)) unix:$T/clamd.sock" "timeout = 10s"
pq gone_then.conf "$M/zip.clam.exe.eml"
same "servers in order: two that are not listening are skipped, the third refuses the virus" \
    "82|D|$CLAMEXE" "$RC|$(head -c1 "$Q/fd6")|$(grep -o 'ClamTest[^ ]*' "$Q/fd6")"
check "... at once ($MS ms)" test "$MS" -lt 5000
conf hang_then "clamd = inet:127.0.0.1:$HANGPORT unix:$T/clamd.sock" "timeout = 1s"
pq hang_then.conf "$M/zip.clam.exe.eml"
same "fault: a hung first server is the one asked: deferred after its timeout, never passed" "82|$Z" \
    "$RC|$(cat "$Q/fd6")"
check "... within the 1 s timeout ($MS ms)" test "$MS" -ge 900 -a "$MS" -lt 3000

head -c 1500000 /dev/urandom | base64 > "$T/big.b64"
{ printf 'From: alice@example.org\nTo: user@sink.test\nSubject: big\nMessage-ID: <big@example.org>\n'
  printf 'MIME-Version: 1.0\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n'
  cat "$T/big.b64"; } > "$M/big.eml"
conf small "clamd = unix:$T/small.sock"
pq small.conf "$M/big.eml"
same "fault: clamd refuses the size (StreamMaxLength 1M): too_big = accept queues it byte for byte" "0|same" \
    "$RC|$(cmp -s "$M/big.eml" "$Q/message" && echo same)"
conf small_reject "clamd = unix:$T/small.sock" "too_big = reject"
pq small_reject.conf "$M/big.eml"
same "fault: ... too_big = reject refuses it with 552 5.3.4" \
    "82|Dmessage too big to be scanned for viruses (#5.3.4)" "$RC|$(cat "$Q/fd6")"
conf nodb "scanner = libclamav" "database = $T/nodb"
pq nodb.conf "$M/clean.text.eml"
same "fault: the database missing at load (libclamav): deferred as on_error says" "82|$Z" "$RC|$(cat "$Q/fd6")"
conf nodb_accept "scanner = libclamav" "database = $T/nodb" "on_error = accept"
pq nodb_accept.conf "$M/clean.text.eml"
same "fault: ... on_error = accept: queued" 0 "$RC"

# ------------------------------------------------------------ policy-milter under Postfix (libclamav)

cp "$T/lib.conf" "$T/policy.conf"
pf_test_world
# a session may send many infected messages in a row: no error sleep, no
# "too many errors" disconnect (each refusal counts as a client error)
postconf -c "$T/pf/conf" -e "message_size_limit = 100000000" "smtpd_soft_error_limit = 100000" \
    "smtpd_hard_error_limit = 100000"
check "the private Postfix starts" pf_start "$T/pf"
ip addr add 192.0.2.10/32 dev lo 2>/dev/null

# delivered_as NAME - what smtp-sink got for NAME, from "From: alice@..." on
# (without Postfix's Received and smtp-sink's headers), LF line ends, the
# empty lines smtp-sink adds at the end taken off
delivered_as() {
    local f
    f=$(grep -l "^Message-ID: <$1@example.org>" "$T"/sink/* 2>/dev/null | head -1)
    [ -n "$f" ] || return 1
    tr -d '\r' < "$f" | awk '$0 == "From: alice@example.org" { on = 1 } on' |
        sed -e ':a' -e '/^\n*$/{$d;N;ba' -e '}'
}
# smtp_results OUT - send.py's lines as judge() reads them, clean mail checked at the sink
smtp_results() {
    pf_drain "$T/pf" 60
    while IFS=$'\t' read -r name code text _; do
        if [ "$code" = 250 ]; then
            if cmp -s <(delivered_as "$name") "$M/$name.eml"; then
                printf '%s\tpassed\tdelivered byte for byte\n' "$name"
            else
                printf '%s\tchanged\t%s\n' "$name" "$(diff <(delivered_as "$name") "$M/$name.eml" | head -3 | tr '\n' ' ')"
            fi
        elif [ "$code" = 554 ]; then
            printf '%s\trefused\t%s\n' "$name" "$text"
        else
            printf '%s\t%s\t%s\n' "$name" "$code" "$text"
        fi
    done < "$1"
}
# shellcheck disable=SC2086
"$PY" "$HERE/virus/send.py" "$SERVER" 192.0.2.10 4 $ALL > "$T/smtp.lib" 2> "$T/smtp.err"
smtp_results "$T/smtp.lib" > "$T/res.milter"
judge "policy-milter + libclamav under Postfix" "$T/res.milter"
same "milter: the refusal is 554 5.7.1 at the end of DATA" \
    "554|5.7.1 message rejected: virus found: $CLAMEXE" \
    "$(awk -F'\t' '$1 == "qp.clam.exe" { print $2 "|" $3 }' "$T/smtp.lib")"

# mreload CONF - the milter on $T/CONF.conf (SIGHUP), once the reload is logged
mreload() {
    local n
    n=$(grep -c "reloaded\|reload failed" "$T/milter.log")
    cp "$T/$1.conf" "$T/policy.conf"
    kill -HUP "$MPID"
    for _ in $(seq 300); do
        [ "$(grep -c "reloaded\|reload failed" "$T/milter.log")" -gt "$n" ] && return 0
        sleep 0.1
    done
    return 1
}
# msend NAME... - send.py over one session; its lines in $T/ms
msend() {
    local files=()
    for n in "$@"; do files+=("$M/$n.eml"); done
    "$PY" "$HERE/virus/send.py" "$SERVER" 192.0.2.10 1 "${files[@]}" > "$T/ms" 2>> "$T/smtp.err"
}
code_of() { awk -F'\t' -v n="$1" '$1 == n { print $2 " " $3 }' "$T/ms"; }
ms_of() { awk -F'\t' -v n="$1" '$1 == n { printf "%d", $4 * 1000 }' "$T/ms"; }

# ------------------------------------------------------------ the faults, policy-milter with clamd

conf mclamd "clamd = unix:$T/clamd.sock" "timeout = 10s"
mreload mclamd
msend zip.clam.exe clean.text
same "milter + clamd: infected refused, clean accepted" "554 5.7.1 message rejected: virus found: $CLAMEXE|250" \
    "$(code_of zip.clam.exe)|$(code_of clean.text | cut -d' ' -f1)"
kill -STOP "$MAIN_CLAMD"
( sleep 1; kill -9 "$MAIN_CLAMD" ) &
p=$!
msend clean-b64.clam-ISmsi-ext.exe
wait "$p"
same "milter fault: clamd killed mid-scan: 451 4.3.0 at the end of DATA" \
    "451 4.3.0 virus scanner unavailable, try again later" "$(code_of clean-b64.clam-ISmsi-ext.exe)"
check "milter fault: ... at once, not at the 10 s timeout ($(ms_of clean-b64.clam-ISmsi-ext.exe) ms)" \
    test "$(ms_of clean-b64.clam-ISmsi-ext.exe)" -lt 5000
clamd_start clamd
MAIN_CLAMD=$CLAMD_PID
msend uu.clam.exe clean.text
same "milter: serves on when clamd is back (infected refused, clean accepted)" "554|250" \
    "$(code_of uu.clam.exe | cut -d' ' -f1)|$(code_of clean.text | cut -d' ' -f1)"
conf mhang "clamd = inet:127.0.0.1:$HANGPORT" "timeout = 2s"
mreload mhang
msend clean.text
same "milter fault: a clamd that never answers: 451 4.3.0" "451 4.3.0 virus scanner unavailable, try again later" \
    "$(code_of clean.text)"
check "milter fault: ... within the 2 s timeout ($(ms_of clean.text) ms)" \
    test "$(ms_of clean.text)" -ge 1900 -a "$(ms_of clean.text)" -lt 5000
conf mhang_accept "clamd = inet:127.0.0.1:$HANGPORT" "timeout = 2s" "on_error = accept"
mreload mhang_accept
msend clean.text
same "milter fault: ... on_error = accept: accepted" 250 "$(code_of clean.text | cut -d' ' -f1)"
conf msmall "clamd = unix:$T/small.sock" "too_big = reject"
mreload msmall
msend big
same "milter fault: clamd refuses the size, too_big = reject: 552 5.3.4" \
    "552 5.3.4 message too big to be scanned for viruses" "$(code_of big)"
conf msmall_accept "clamd = unix:$T/small.sock"
mreload msmall_accept
msend big
same "milter fault: ... too_big = accept: delivered" 250 "$(code_of big | cut -d' ' -f1)"
conf mnodb "scanner = libclamav" "database = $T/nodb"
mreload mnodb
msend b64.clam.exe
same "milter fault: the database missing at load: 451 4.3.0 (on_error)" \
    "451 4.3.0 virus scanner unavailable, try again later" "$(code_of b64.clam.exe)"
mreload lib
msend b64.clam.exe clean.text
same "milter: the daemon serves on after every fault (infected refused, clean accepted)" "554|250" \
    "$(code_of b64.clam.exe | cut -d' ' -f1)|$(code_of clean.text | cut -d' ' -f1)"
cp -r "$T/db" "$T/db2"
conf lib2 "scanner = libclamav" "database = $T/db2"
mreload lib2
rm -rf "$T/db2"
mreload lib2
msend fwd.clam.exe
same "milter: the database gone at a reload: the engine loaded before goes on scanning" "554" \
    "$(code_of fwd.clam.exe | cut -d' ' -f1)"

# ------------------------------------------------------------ SIGHUP under load, the database in process

# a database that takes a while to load: the test signatures and 300,000 more
mkdir -p "$T/bigdb"
cp "$T/db"/* "$T/bigdb/"
"$PY" -c "
import hashlib, sys
with open(sys.argv[1], 'w') as f:
    for i in range(300000):
        f.write('%s:%d:Filler.%d\n' % (hashlib.md5(str(i).encode()).hexdigest(), 1000 + i % 5000, i))
" "$T/bigdb/filler.hdb"
conf big "scanner = libclamav" "database = $T/bigdb"
mreload big
first=$(grep "reloaded" "$T/milter.log" | tail -1 | sed -n 's/.* in \([0-9.]*\) ms$/\1/p')
mkdir -p "$T/load"
for i in $(seq 200); do
    sed "s/^Message-ID: <b64.clam.exe@/Message-ID: <load-v$i@/" "$M/b64.clam.exe.eml" > "$T/load/load-v$i.eml"
    sed "s/^Message-ID: <clean-b64.clam.exe@/Message-ID: <load-c$i@/" "$M/clean-b64.clam.exe.eml" > "$T/load/load-c$i.eml"
done
rm -f "$T"/sink/*
reloads0=$(grep -c "reloaded" "$T/milter.log")
"$PY" "$HERE/virus/send.py" "$SERVER" 192.0.2.10 8 "$T"/load/*.eml > "$T/load.out" 2>> "$T/smtp.err" &
SENDER=$!
hups=0
# SIGHUPs with nothing changed, each once the one before it is logged;
# the fourth comes after the database changed: that reload loads a new
# engine (early, so that the sender is still sending however fast it is)
while kill -0 "$SENDER" 2>/dev/null; do
    [ "$hups" = 3 ] && touch "$T/bigdb/filler.hdb" && changed_at=$(date +%s.%N)
    kill -HUP "$MPID"
    hups=$((hups + 1))
    for _ in $(seq 100); do
        [ "$(grep -c "reloaded" "$T/milter.log")" -ge $((reloads0 + hups)) ] && break
        sleep 0.05
    done
    [ "$hups" = 4 ] && changed_done=$(date +%s.%N)
    sleep 0.1
done
wait "$SENDER"
pf_drain "$T/pf" 60
same "load: 200 infected messages refused during the reloads (554), none unscanned" 200 \
    "$(awk -F'\t' '$1 ~ /^load-v/ && $2 == 554 && $3 ~ /virus found/' "$T/load.out" | wc -l)"
same "load: 200 clean messages accepted (250) during the reloads" 200 \
    "$(awk -F'\t' '$1 ~ /^load-c/ && $2 == 250' "$T/load.out" | wc -l)"
same "load: every clean one reached the sink, none lost" 200 \
    "$(grep -h "^Message-ID: <load-c" "$T"/sink/* 2>/dev/null | sort -u | wc -l)"
same "load: no infected one reached the sink" 0 "$(grep -lh "^Message-ID: <load-v" "$T"/sink/* 2>/dev/null | wc -l)"
grep "reloaded" "$T/milter.log" | tail -n +"$((reloads0 + 1))" | sed -n 's/.* in \([0-9.]*\) ms$/\1/p' > "$T/reload.ms"
check "load: the daemon reloaded at each of the $hups SIGHUPs" test "$(wc -l < "$T/reload.ms")" -ge "$hups"
slow=$(sed -n 4p "$T/reload.ms")
fast=$(sed -e 4d "$T/reload.ms" | sort -n | tail -1)
during=$(awk -F'\t' -v a="${changed_at:-0}" -v b="${changed_done:-0}" '$5 >= a && $5 <= b' "$T/load.out" | wc -l)
echo "load: database of $(grep -c . "$T/bigdb/filler.hdb") signatures loaded in ${first} ms at the first reload;" \
    "$((hups - 1)) reloads with nothing changed took at most ${fast} ms; the one after the change ${slow} ms"
check "load: a reload with unchanged settings and database reads no signature (at most ${fast} ms, against ${slow} ms for a changed one)" \
    awk -v f="$fast" -v s="$slow" 'BEGIN { exit !(f * 5 < s) }'
check "load: $during messages were answered while the changed database loaded (the old engine scanned on)" \
    test "$during" -gt 0
same "load: no message deferred or lost" 0 "$(awk -F'\t' '$2 != 250 && $2 != 554' "$T/load.out" | wc -l)"

# ------------------------------------------------------------ valgrind, the engine in process

kill -TERM "$MPID"; wait "$MPID"; st=$?; MPID=""
same "the milter exits 0 (no leak report under ASan)" 0 "$st"
if command -v valgrind >/dev/null && ! nm "$MILTER" 2>/dev/null | grep -q __asan_init; then
    cp "$T/lib.conf" "$T/policy.conf"
    rm -f "$T/milter.sock"
    valgrind -q --error-exitcode=9 --leak-check=full --errors-for-leak-kinds=definite \
        --suppressions="$HERE/milter/libmilter.supp" --log-file="$T/valgrind.out" \
        "$MILTER" -f -c "$T/policy.conf" -p "$SOCK" 2>> "$T/milter.log" &
    MPID=$!
    for _ in $(seq 600); do [ -S "$T/milter.sock" ] && grep -q started "$T/milter.log" && break; sleep 0.1; done
    V=()
    for way in b64 qp uu zip fwd; do V+=("$M/$way.clam.exe.eml" "$M/clean-$way.clam.exe.eml" "$M/$way.clam.zip.eml"); done
    "$PY" "$HERE/virus/send.py" "$SERVER" 192.0.2.10 2 "${V[@]}" > "$T/vg.out" 2>> "$T/smtp.err"
    mreload lib
    "$PY" "$HERE/virus/send.py" "$SERVER" 192.0.2.10 2 "${V[@]}" >> "$T/vg.out" 2>> "$T/smtp.err"
    same "valgrind: 20 infected refused, 10 clean accepted" "20|10" \
        "$(awk -F'\t' '$2 == 554' "$T/vg.out" | wc -l)|$(awk -F'\t' '$2 == 250' "$T/vg.out" | wc -l)"
    kill -TERM "$MPID"; wait "$MPID"; st=$?; MPID=""
    same "valgrind: the milter with libclamav in process is clean" 0 "$st"
    [ "$st" = 0 ] || head -60 "$T/valgrind.out"
fi
finish
