#!/bin/bash
# scanners.sh BUILD_DIR - the scanner clients against the real servers: a
# clamd (unix and TCP sockets, signatures written by the test, a small
# StreamMaxLength) and a spamd (private site config, no network tests,
# GTUBE), plus servers that misbehave (tests/integration/scanners/
# fakeserver.py: never answers, answers garbage, never accepts), and
# libclamav in process: the same detections as clamd, load errors, scan
# options, the engine cache across reloads, threads.  Driven through
# tests/tools/scan_drive.
set -u
. "$(dirname "$0")/lib.sh"
B=$(cd "$1" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
D="$B/tests/tools/scan_drive"
PY=/usr/bin/python3
TF=/usr/share/clamav-testfiles
. "$HERE/scanners/sigs.sh"
mktmp
chmod 755 "$T" # spamd reads its site config as debian-spamd
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT

for tool in clamd spamd spamc zip; do
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

# field KEY LINE - the value of KEY=... in a scan_drive line
field() { printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p" | head -1; }
ms_of() { field ms "$1" | cut -d. -f1; }
why_of() { printf '%s\n' "$1" | sed -n 's/.* why=//p'; }
# first2 LINE - the status and, when there is one, the signature name
first2() { printf '%s\n' "$1" | awk '{ if ($2 ~ /=/) print $1; else print $1, $2 }'; }
# between NAME LOW HIGH VALUE - ok when LOW <= VALUE <= HIGH
between() {
    if [ -n "$4" ] && [ "$4" -ge "$2" ] && [ "$4" -le "$3" ]; then ok "$1 ($4 ms)"; else notok "$1" "got ${4:-nothing} ms, wanted $2-$3"; fi
}

# ---- the messages ----
sigs_eicar "$T/eicar.txt"
printf 'From: a@example.test\nTo: b@example.test\nSubject: lunch\nDate: Wed, 02 Dec 2026 04:00:00 +0000\nMessage-ID: <lunch.1@example.test>\n\nShall we meet for lunch tomorrow at noon?\n' > "$T/ham.eml"
printf 'From: a@example.test\nTo: b@example.test\nSubject: test\nDate: Wed, 02 Dec 2026 04:00:00 +0000\nMessage-ID: <gtube.1@example.test>\n\nXJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X\n' > "$T/gtube.eml"
head -c 4000000 /dev/urandom > "$T/big.bin"     # over StreamMaxLength (3 MB)
head -c 900000 /dev/urandom > "$T/under.bin"    # under it, 14 chunks
cp "$TF/clam.exe" "$T/clam.exe"
(cd "$T" && zip -q -P secret enc.zip clam.exe)

# ---- the servers ----
sigs_write "$T/db"
CPORT=13310
cat > "$T/clamd.conf" <<EOF
Foreground yes
LocalSocket $T/clamd.sock
TCPSocket $CPORT
TCPAddr 127.0.0.1
DatabaseDirectory $T/db
LogFile $T/clamd.log
StreamMaxLength 3M
AlertEncrypted yes
MaxThreads 4
EOF
CU="unix:$T/clamd.sock"
CT="inet:127.0.0.1:$CPORT"
clamd_start() {
    clamd -c "$T/clamd.conf" >> "$T/clamd.out" 2>&1 &
    CLAMD_PID=$!
    disown "$CLAMD_PID" # killed on purpose below: no "Killed" notice
    PIDS+=("$CLAMD_PID")
    for _ in $(seq 300); do
        "$D" ping "$CU $CT" -t 500 >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    return 1
}
if ! clamd_start; then
    notok "clamd starts" "$(tail -5 "$T/clamd.out")"
    finish
    exit 1
fi

SPORT=17830
mkdir -p "$T/site" "$T/home"
cp /etc/spamassassin/*.pre "$T/site/"
printf 'use_bayes 0\ndns_available no\nskip_rbl_checks 1\n' > "$T/site/local.cf"
chown debian-spamd "$T/home"
chmod -R a+rX "$T/site"
spamd --listen=127.0.0.1:$SPORT --listen="$T/spamd.sock" --allowed-ips=127.0.0.1 -L \
    --siteconfigpath="$T/site" --nouser-config -u debian-spamd -g debian-spamd \
    --helper-home-dir="$T/home" -s stderr -m 2 > "$T/spamd.out" 2>&1 &
SPAMD_PID=$!
disown "$SPAMD_PID"
PIDS+=("$SPAMD_PID")
SU="unix:$T/spamd.sock"
ST="inet:127.0.0.1:$SPORT"

FAKE=13320
fake_start() { # fake_start PORT MODE
    "$PY" "$HERE/scanners/fakeserver.py" "$1" "$2" > "$T/fake.$1" 2>&1 &
    PIDS+=("$!")
    for _ in $(seq 100); do grep -q ready "$T/fake.$1" 2>/dev/null && return 0; sleep 0.1; done
    return 1
}
fake_start $((FAKE + 1)) hang
fake_start $((FAKE + 2)) garbage
fake_start $((FAKE + 3)) full
HANG="inet:127.0.0.1:$((FAKE + 1))"
GARB="inet:127.0.0.1:$((FAKE + 2))"
FULL="inet:127.0.0.1:$((FAKE + 3))"
DEAD="unix:$T/nobody.sock inet:127.0.0.1:1"

# ---- clamd ----
same "clamd: zPING is answered PONG over unix and TCP" \
    "$CU pong|$CT pong" "$("$D" ping "$CU $CT" | paste -sd'|')"
same "clamd: a dead server's health check says why" "unix:$T/nobody.sock error why=connection refused" \
    "$("$D" ping "unix:$T/nobody.sock")"
same "clamd: EICAR over the unix socket is infected" "infected Test.Eicar.UNOFFICIAL" "$(first2 "$("$D" clamd "$CU" "$T/eicar.txt")")"
same "clamd: EICAR over TCP is infected" "infected Test.Eicar.UNOFFICIAL" "$(first2 "$("$D" clamd "$CT" "$T/eicar.txt")")"
same "clamd: a plain mail is clean over unix" "clean" "$("$D" clamd "$CU" "$T/ham.eml" | cut -d' ' -f1)"
same "clamd: a plain mail is clean over TCP" "clean" "$("$D" clamd "$CT" "$T/ham.eml" | cut -d' ' -f1)"
same "clamd: clam.exe in a base64 attachment (clam.mail) is infected" "infected ClamTest.Exe.Body.UNOFFICIAL" \
    "$(first2 "$("$D" clamd "$CU" "$TF/clam.mail")")"
same "clamd: 900 KB in 14 chunks under StreamMaxLength is clean" "clean" "$("$D" clamd "$CU" "$T/under.bin" | cut -d' ' -f1)"
r=$("$D" clamd "$CU" "$TF/clam.mail" -s 100 2>"$T/via")
same "clamd: a message streamed from a spool's file is scanned whole" \
    "infected ClamTest.Exe.Body.UNOFFICIAL|message read from the spool-file" "$(first2 "$r")|$(cat "$T/via")"
r=$("$D" clamd "$CU" "$T/under.bin" -s 65536 2>/dev/null)
same "clamd: 900 KB from a spool's file, 14 chunks, is clean" "clean" "${r%% *}"
r=$("$D" clamd "$CU" "$T/big.bin")
same "clamd: over StreamMaxLength is too big, not an error (unix)" "too-big|over clamd's StreamMaxLength" \
    "$(echo "$r" | cut -d' ' -f1)|$(why_of "$r")"
r=$("$D" clamd "$CT" "$T/big.bin")
same "clamd: over StreamMaxLength is too big, not an error (TCP)" "too-big|over clamd's StreamMaxLength" \
    "$(echo "$r" | cut -d' ' -f1)|$(why_of "$r")"
r=$("$D" clamd "$DEAD" "$T/under.bin" -m 100000)
same "clamd: over our own max size is too big without asking any server" \
    "too-big|-|over the configured clamd size limit" "$(echo "$r" | cut -d' ' -f1)|$(field server "$r")|$(why_of "$r")"
same "clamd: an encrypted zip is its own result (AlertEncrypted)" "encrypted Heuristics.Encrypted.Zip" \
    "$(first2 "$("$D" clamd "$CU" "$T/enc.zip")")"
r=$("$D" clamd "$DEAD $CU" "$T/eicar.txt")
same "clamd: a missing socket and a refused port are skipped, the third server answers" \
    "infected|$CU" "$(echo "$r" | cut -d' ' -f1)|$(field server "$r")"
r=$("$D" clamd "$FULL $CT" "$T/eicar.txt" -c 700)
same "clamd: a server that never accepts costs the connect timeout, then the next answers" \
    "infected|$CT" "$(echo "$r" | cut -d' ' -f1)|$(field server "$r")"
between "clamd: ... and no more than the connect timeout (700 ms)" 650 1700 "$(ms_of "$r")"
r=$("$D" clamd "$HANG" "$T/under.bin" -t 1000)
same "clamd: a server that accepts and never answers is an error" "error|timed out" \
    "$(echo "$r" | cut -d' ' -f1)|$(why_of "$r")"
between "clamd: ... within the scan timeout (1000 ms)" 950 2000 "$(ms_of "$r")"
r=$("$D" clamd "$GARB" "$T/eicar.txt" -t 5000)
same "clamd: a garbage reply is an error, at once" "error|unrecognised clamd reply" \
    "$(echo "$r" | cut -d' ' -f1)|$(why_of "$r")"
between "clamd: ... well before the timeout" 0 2500 "$(ms_of "$r")"

# libclamav in process gives what clamd gives, file by file
mismatch=""
n=0
for f in "$TF"/* "$T/eicar.txt" "$T/ham.eml" "$T/enc.zip"; do
    a=$(first2 "$("$D" clamd "$CU" "$f")")
    b=$(first2 "$("$D" clamav "$T/db" -o archives,mail,heuristics,encrypted "$f" 2>/dev/null | cut -d' ' -f2-)")
    case $a in infected* | encrypted*) ;; *) [ "$f" = "$T/ham.eml" ] || a="$a (a detection expected)" ;; esac
    [ "$a" = "$b" ] || mismatch="$mismatch $(basename "$f")[$a/$b]"
    n=$((n + 1))
done
same "libclamav in process detects what clamd detects, same names ($n files)" "" "$mismatch"

# ---- spamd ----
spamd_ready=0
for _ in $(seq 600); do
    if spamc -K -d 127.0.0.1 -p $SPORT >/dev/null 2>&1; then spamd_ready=1; break; fi
    sleep 0.2
done
check "spamd starts" [ $spamd_ready = 1 ]
spamc -d 127.0.0.1 -p $SPORT -c < "$T/ham.eml" >/dev/null 2>&1 # the first check warms a child up
r=$("$D" spamd "$ST" "$T/gtube.eml" -t 60000)
same "spamd: GTUBE over TCP is spam, score 1000+, threshold 5.0" "spam|1|5.0" \
    "$(echo "$r" | cut -d' ' -f1)|$(field score "$r" | awk '{print ($1 >= 1000)}')|$(field threshold "$r")"
r=$("$D" spamd "$SU" "$T/gtube.eml" -C symbols -t 60000)
same "spamd: SYMBOLS over the unix socket names GTUBE" "spam|yes" \
    "$(echo "$r" | cut -d' ' -f1)|$(field symbols "$r" | tr , '\n' | grep -qx GTUBE && echo yes)"
r=$("$D" spamd "$ST" "$T/gtube.eml" -C report -t 60000)
check "spamd: REPORT brings the report text with the GTUBE line" \
    sh -c 'printf "%s\n" "$1" | grep -q "^  *1000 GTUBE "' _ "$r"
check "spamd: the report is printable ASCII" sh -c '! printf "%s" "$1" | LC_ALL=C grep -q "[^ -~]"' _ "$r"
r=$("$D" spamd "$SU" "$T/ham.eml" -t 60000)
same "spamd: a plain mail is not spam" "ham|1" "$(echo "$r" | cut -d' ' -f1)|$(field score "$r" | awk '{print ($1 < 5)}')"
same "spamd: a User: header is accepted" "ham" "$("$D" spamd "$ST" "$T/ham.eml" -u alice -t 60000 | cut -d' ' -f1)"
r=$("$D" spamd "$ST" "$T/ham.eml" -u "alice bob")
same "spamd: a user name that could break the request is refused before sending" \
    "error|-|bad spamd user name" "$(echo "$r" | cut -d' ' -f1)|$(field server "$r")|$(why_of "$r")"
r=$("$D" spamd "$DEAD $ST" "$T/gtube.eml" -t 60000)
same "spamd: dead servers first, the third answers" "spam|$ST" "$(echo "$r" | cut -d' ' -f1)|$(field server "$r")"
r=$("$D" spamd "$DEAD" "$T/under.bin")
same "spamd: over the default 500 KB limit is skipped, nothing sent" \
    "skipped|-|over the spamd size limit: not checked" "$(echo "$r" | cut -d' ' -f1)|$(field server "$r")|$(why_of "$r")"
sz=$(stat -c %s "$T/gtube.eml")
same "spamd: a message of exactly the limit is checked" "spam" "$("$D" spamd "$ST" "$T/gtube.eml" -m "$sz" -t 60000 | cut -d' ' -f1)"
same "spamd: one byte over the limit is skipped" "skipped" "$("$D" spamd "$ST" "$T/gtube.eml" -m $((sz - 1)) | cut -d' ' -f1)"
r=$("$D" spamd "$HANG" "$T/ham.eml" -t 1000)
same "spamd: a server that never answers is an error" "error|timed out" "$(echo "$r" | cut -d' ' -f1)|$(why_of "$r")"
between "spamd: ... within the timeout (1000 ms)" 950 2000 "$(ms_of "$r")"
r=$("$D" spamd "$GARB" "$T/ham.eml" -t 5000)
same "spamd: a garbage reply is an error" "error|unrecognised spamd reply" "$(echo "$r" | cut -d' ' -f1)|$(why_of "$r")"
between "spamd: ... well before the timeout" 0 2500 "$(ms_of "$r")"
r=$("$D" spamd "$FULL $SU" "$T/ham.eml" -c 700 -t 60000)
same "spamd: a server that never accepts costs the connect timeout, then the next answers" \
    "ham|$SU" "$(echo "$r" | cut -d' ' -f1)|$(field server "$r")"

# ---- both at once, on one waiter ----
r=$("$D" both "$CU" "$ST" "$TF/clam.mail" -t 60000)
same "both: clamd and spamd answer side by side on one waiter" "infected|ham" \
    "$(echo "$r" | sed -n 's/^clamd: \([a-z]*\).*/\1/p')|$(echo "$r" | sed -n 's/^spamd: \([a-z]*\).*/\1/p')"
r=$("$D" both "$HANG" "$HANG" "$T/ham.eml" -t 1000)
between "both: two servers that never answer cost one timeout, not two" 950 1600 \
    "$(echo "$r" | sed -n 's/^total ms=\([0-9]*\).*/\1/p')"

# ---- servers that die ----
# killed_mid WHAT PIDS CMD... - stop the server's processes, start CMD (a
# 10 s timeout) against them, kill them a second later: CMD must fail at once
killed_mid() {
    local what=$1 pids=$2 client r
    shift 2
    # shellcheck disable=SC2086
    kill -STOP $pids
    "$@" -t 10000 > "$T/killed.out" &
    client=$!
    sleep 1
    # shellcheck disable=SC2086
    kill -9 $pids
    wait "$client"
    r=$(cat "$T/killed.out")
    same "$what is an error" "error" "${r%% *}"
    between "... at once, not at the 10 s timeout" 900 5000 "$(ms_of "$r")"
}
killed_mid "clamd: killed mid-scan" "$CLAMD_PID" "$D" clamd "$CU" "$T/under.bin"
r=$("$D" clamd "$CU" "$T/eicar.txt")
same "clamd: down is an error at once" "error|connection refused" "$(echo "$r" | cut -d' ' -f1)|$(why_of "$r")"
killed_mid "spamd: killed mid-check" "$SPAMD_PID $(pgrep -P "$SPAMD_PID" | tr '\n' ' ')" \
    "$D" spamd "$ST" "$T/ham.eml"
r=$("$D" spamd "$ST" "$T/ham.eml")
same "spamd: down is an error at once" "error|connection refused" "$(echo "$r" | cut -d' ' -f1)|$(why_of "$r")"

# ---- libclamav in process ----
r=$("$D" clamav "$T/nodb" "$T/eicar.txt" 2>&1)
same "clamav: a missing database directory is a clear load error" \
    "load-error why=ClamAV database directory $T/nodb: No such file or directory" "$r"
mkdir -p "$T/emptydb"
same "clamav: an empty database directory is a clear load error" \
    "load-error why=ClamAV database directory $T/emptydb holds no database" "$("$D" clamav "$T/emptydb" "$T/eicar.txt" 2>&1)"
mkdir -p "$T/baddb" && echo 'Broken:0:*:zz' > "$T/baddb/bad.ndb"
check "clamav: a malformed database is a load error naming it" \
    sh -c '"$1" clamav "$2" "$3" 2>&1 | grep -q "^load-error why=ClamAV database .* does not load: Malformed database"' \
    _ "$D" "$T/baddb" "$T/eicar.txt"
same "clamav: a temporary directory that does not exist is a load error" \
    "load-error why=ClamAV temporary directory $T/notmp: No such file or directory" \
    "$("$D" clamav "$T/db" -T "$T/notmp" "$T/eicar.txt" 2>&1)"
mkdir -p "$T/unpack"
same "clamav: parts unpacked in a temporary directory of our choice are found the same" \
    "infected ClamTest.Exe.Body.UNOFFICIAL|0" \
    "$("$D" clamav "$T/db" -T "$T/unpack" "$TF/clam.mail" 2>/dev/null | awk '{print $2, $3}')|$(ls -A "$T/unpack" | wc -l)"
for kind in hash body ldb; do
    sigs_write "$T/db-$kind" $kind
done
count() { # count DB OPTS NAME-PREFIX FILES... - how many files come back infected with NAME-PREFIX*
    local db=$1 o=$2 p=$3
    shift 3
    "$D" clamav "$db" -o "$o" "$@" 2>/dev/null | awk -v p="$p" '$2 == "infected" && index($3, p) == 1' | wc -l
}
nt=$(ls "$TF" | wc -l)
same "clamav: the .hdb finds each of the $nt test files by MD5 and size" "$nt" \
    "$(count "$T/db-hash" archives,mail ClamTest.Hash. "$TF"/*)"
same "clamav: the .ndb finds clam.exe inside every archive, encoding and packer" "$nt" \
    "$(count "$T/db-body" archives,mail ClamTest.Exe.Body "$TF"/*)"
same "clamav: the .ldb finds it too" "$nt" "$(count "$T/db-ldb" archives,mail ClamTest.Logical "$TF"/*)"
same "clamav: EICAR from the .ndb" "1" "$(count "$T/db-body" archives Test.Eicar "$T/eicar.txt")"
same "clamav: scanning from memory gives what scanning the descriptor gives" \
    "$("$D" clamav "$T/db" "$TF"/* 2>/dev/null | awk '{print $2, $3}')" \
    "$("$D" clamav "$T/db" -M "$TF"/* 2>/dev/null | awk '{print $2, $3}')"
same "clamav: from the spool's memory and from its file, the same detection" \
    "infected infected|scanned from the spool-memory|scanned from the spool-file" \
    "$("$D" clamav "$T/db" -s 1000000 "$TF/clam.mail" 2>"$T/via1" | awk '{print $2}') $("$D" clamav "$T/db" -s 100 "$TF/clam.mail" 2>"$T/via2" | awk '{print $2}')|$(grep -o 'scanned from the .*' "$T/via1")|$(grep -o 'scanned from the .*' "$T/via2")"
same "clamav: a base64 attachment needs mail parsing (clean without it)" "clean|infected" \
    "$("$D" clamav "$T/db-body" -o archives "$TF/clam.exe.mbox.base64" 2>/dev/null | awk '{print $2}')|$("$D" clamav "$T/db-body" -o archives,mail "$TF/clam.exe.mbox.base64" 2>/dev/null | awk '{print $2}')"
same "clamav: the same attachment found in the decoded MIME parts" "infected" \
    "$("$D" clamav "$T/db-body" -o archives -P "$TF/clam.exe.mbox.base64" 2>/dev/null | awk '{print $2}')"
same "clamav: archives are opened only when asked" "clean|infected" \
    "$("$D" clamav "$T/db-body" -o mail "$TF/clam.zip" 2>/dev/null | awk '{print $2}')|$("$D" clamav "$T/db-body" -o archives "$TF/clam.zip" 2>/dev/null | awk '{print $2}')"
same "clamav: an encrypted zip is its own result when asked, else clean" "encrypted Heuristics.Encrypted.Zip|clean" \
    "$("$D" clamav "$T/db-body" -o archives,encrypted "$T/enc.zip" 2>/dev/null | awk '{print $2, $3}')|$("$D" clamav "$T/db-body" -o archives "$T/enc.zip" 2>/dev/null | awk '{print $2}')"
same "clamav: a message over max_filesize is too big, not clean" "too-big" \
    "$("$D" clamav "$T/db" -F 100000 "$T/under.bin" 2>/dev/null | awk '{print $2}')"
same "clamav: one engine scans from 4 threads at once (4 x 50 scans)" "threads=4 scans=200 detected=200 name=ClamTest.Exe.Body.UNOFFICIAL" \
    "$("$D" threads "$T/db-body" "$TF/clam.mail" 4 50 | cut -d' ' -f1-4)"

# the engine cache across reloads: what policy_engine_open does on SIGHUP
mkfifo "$T/rin" "$T/rout"
"$D" reload "$T/db" < "$T/rin" > "$T/rout" 2>&1 &
RELOAD_PID=$!
PIDS+=("$RELOAD_PID")
exec 7> "$T/rin" 8< "$T/rout"
ask() { echo "$1" >&7; read -r -t 60 line <&8; echo "$line"; }
first=$(ask open)
again=$(ask open)
same "clamav: the first open loads an engine" "new engine" "$(echo "$first" | cut -d' ' -f1-2)"
same "clamav: a reload with the same settings and database gets the same engine" "same engine|1" \
    "$(echo "$again" | cut -d' ' -f1-2)|$(field cached "$again")"
ok "clamav: ... in $(field open_ms "$again") ms instead of a load of $(field load_ms "$first") ms"
touch "$T/db/body.ndb"
r=$(ask open)
same "clamav: touching a database file loads a new engine, the old one kept meanwhile" "new engine|2" \
    "$(echo "$r" | cut -d' ' -f1-2)|$(field cached "$r")"
same "clamav: the old engine goes when its last user lets go" "cached=1" "$(ask close-old)"
same "clamav: the reloaded engine still scans" "infected Test.Eicar.UNOFFICIAL" "$(first2 "$(ask "scan $T/eicar.txt")")"
same "clamav: a file not in the database yet is clean" "clean" "$(ask "scan $T/ham.eml" | cut -d' ' -f1)"
echo "Test.Lunch:0:*:$(printf 'meet for lunch' | od -An -tx1 -v | tr -d ' \n')" >> "$T/db/body.ndb"
r=$(ask open)
same "clamav: a changed database (one signature more) loads a new engine" "new engine|$(($(field sigs "$first") + 1))" \
    "$(echo "$r" | cut -d' ' -f1-2)|$(field sigs "$r")"
same "clamav: ... which finds what the new signature describes" "infected Test.Lunch.UNOFFICIAL" \
    "$(first2 "$(ask "scan $T/ham.eml")")"
echo "freshclam state" > "$T/db/freshclam.dat"
same "clamav: freshclam's state file is not part of the database" "same engine" "$(ask open | cut -d' ' -f1-2)"
exec 7>&- # end of the commands: the tool lets go of its engines and ends
cat <&8 > "$T/reload.rest"
exec 8<&-
wait "$RELOAD_PID"
same "clamav: every engine is freed when the last user lets go" "cached=0" "$(tail -1 "$T/reload.rest")"

finish
