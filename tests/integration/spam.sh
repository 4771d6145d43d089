#!/bin/bash
# spam.sh BUILD_DIR - layer 6 through every adapter, on a synthetic corpus
# (spam/make.py): policyctl train and classify with an LMDB store and a
# Redis store (files, directories, a Maildir, an mbox, --list; the output
# format; a correction taking an auto-learned verdict back); a real spamd
# (private site config, no network tests) with the built-in filter: GTUBE
# refused, ham tagged clean, spam tagged with its subject; the per-recipient
# map and customers; spamd killed, hanging, answering garbage, and the
# store unusable, per on_error; through policy-queue (fd 6, the headers on
# top of the queued message), policy-milter under a private Postfix (the
# subject changed in the delivered message, GTUBE refused at the end of
# DATA); 20 policy-queue processes learning and classifying at once on one
# LMDB store and two "hosts" on one Redis, every training counted.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/postfix_lib.sh"
pf_test_begin "$1"
HERE=$(cd "$(dirname "$0")" && pwd)
PQ="$B/adapters/qmail-queue/policy-queue"
QQ="$B/tests/tools/qq_record"
SD="$B/tests/tools/store_drive"
PY=/usr/bin/python3
M="$T/msgs"
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill -CONT "$p" 2>/dev/null; kill -9 "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
    pf_test_cleanup
}
trap cleanup EXIT
for tool in spamd spamc redis-server; do
    command -v "$tool" >/dev/null || { notok "$tool is installed (scripts/install-deps.sh)"; finish; exit 1; }
done
"$PY" "$HERE/spam/make.py" "$M" || { notok "spam/make.py writes the messages"; finish; exit 1; }

# ------------------------------------------------------------ servers

SPORT=17840 RPORT=16390 FAKE=13340
mkdir -p "$T/site" "$T/home"
cp /etc/spamassassin/*.pre "$T/site/"
printf 'use_bayes 0\ndns_available no\nskip_rbl_checks 1\n' > "$T/site/local.cf"
chown debian-spamd "$T/home"
chmod -R a+rX "$T/site"
spamd_start() {
    spamd --listen=127.0.0.1:$SPORT --allowed-ips=127.0.0.1 -L --siteconfigpath="$T/site" \
        --nouser-config -u debian-spamd -g debian-spamd --helper-home-dir="$T/home" -s stderr \
        -m 2 >> "$T/spamd.out" 2>&1 &
    SPAMD=$!
    disown "$SPAMD" # killed on purpose below: no job report
    PIDS+=("$SPAMD")
    for _ in $(seq 300); do
        spamc -K -d 127.0.0.1 -p $SPORT >/dev/null 2>&1 && break
        sleep 0.1
    done
    spamc -d 127.0.0.1 -p $SPORT -c < "$M/test/ham/000.eml" >/dev/null 2>&1 # warm a child up
    spamc -K -d 127.0.0.1 -p $SPORT >/dev/null 2>&1
}
check "spamd starts" spamd_start
redis-server --port $RPORT --bind 127.0.0.1 --daemonize no --save '' --appendonly no --dir "$T" \
    >> "$T/redis.log" 2>&1 &
PIDS+=("$!")
for _ in $(seq 50); do redis-cli -p $RPORT ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
check "redis-server starts" sh -c "redis-cli -p $RPORT ping | grep -q PONG"
fake() { # PORT MODE
    "$PY" "$HERE/scanners/fakeserver.py" "$1" "$2" > "$T/fake.$1" 2>&1 &
    PIDS+=("$!")
    for _ in $(seq 100); do grep -q ready "$T/fake.$1" 2>/dev/null && return 0; sleep 0.1; done
    return 1
}
fake $((FAKE + 1)) hang
fake $((FAKE + 2)) garbage

conf() { # NAME STORE [KEY=VALUE...] - a configuration with a [spam] section
    local name=$1 store=$2
    shift 2
    {
        printf '[customers]\nlocal_domains = local.example sink.test lenient.example\n[spam]\n'
        [ "$store" = none ] || echo "store = $store"
        for kv in "$@"; do echo "${kv%%=*} = ${kv#*=}"; done
    } > "$T/$name.conf"
}

# ------------------------------------------------------------ policyctl train / classify, LMDB

mkdir "$T/db"
conf lmdb "lmdb:$T/db"
out=$("$POLICYCTL" train -c "$T/lmdb.conf" --spam "$M/train/spam" --ham "$M/train/ham")
same "train: both classes in one run, in proportion" \
    "spam: 60 messages|ham: 60 messages" "$(cut -d: -f1,2 <<< "$out" | cut -d' ' -f1-3 | paste -sd'|')"
same "train: the store counts what was learned" \
    "found $(sed -n 's/^spam: .*: \([0-9]*\) learned.*/\1/p' <<< "$out") $(sed -n 's/^ham: .*: \([0-9]*\) learned.*/\1/p' <<< "$out")" \
    "$("$SD" -n spam "lmdb:$T/db" pget 0x0000000000000000)"
"$POLICYCTL" classify -c "$T/lmdb.conf" "$M/test/spam" "$M/test/ham" > "$T/classify.out"
same "classify: one line per message" 80 "$(wc -l < "$T/classify.out")"
same "classify: PATH TAB SCORE TAB VERDICT, SCORE in [0, 1]" 0 \
    "$(awk -F'\t' 'NF != 3 || $2 !~ /^[01]\.[0-9][0-9][0-9][0-9][0-9][0-9]$/ || $2 > 1 || ($3 != "spam" && $3 != "ham")' "$T/classify.out" | wc -l)"
same "classify: the test spam are spam" 40 "$(grep -c '/test/spam/.*	spam$' "$T/classify.out")"
same "classify: the test ham are ham" 40 "$(grep -c '/test/ham/.*	ham$' "$T/classify.out")"
same "classify: a Maildir's cur and new, an mbox (FILE:N), a list" \
    "5 ham|$M/mbox:1 $M/mbox:2 $M/mbox:3 |3 spam|40 ham" \
    "$("$POLICYCTL" classify -c "$T/lmdb.conf" "$M/maildir" | grep -c "/maildir/\(cur\|new\)/.*	ham$") ham|$(
        "$POLICYCTL" classify -c "$T/lmdb.conf" "$M/mbox" | cut -f1 | tr '\n' ' ')|$(
        "$POLICYCTL" classify -c "$T/lmdb.conf" "$M/mbox" | grep -c 'spam$') spam|$(
        "$POLICYCTL" classify -c "$T/lmdb.conf" --list "$M/list" | grep -c 'ham$') ham"
"$POLICYCTL" classify -c "$T/lmdb.conf" "$T/missing.eml" > /dev/null 2>&1
same "classify: a path that cannot be read is exit 65, the rest is done" 65 "$?"
"$POLICYCTL" classify -c "$T/nothere.conf" "$M/mbox" > /dev/null 2>&1
same "classify: a configuration that cannot be read is exit 78" 78 "$?"
conf nostore none spamd=inet:127.0.0.1:$SPORT builtin=no
"$POLICYCTL" classify -c "$T/nostore.conf" "$M/mbox" > "$T/err" 2>&1
same "classify: without the built-in filter, exit 78 and why" "78|1" \
    "$?|$(grep -c 'built-in spam filter is off' "$T/err")"
# a correction: a ham trained as spam by mistake, then as ham
f="$M/test/ham/001.eml"
s0=$("$POLICYCTL" classify -c "$T/lmdb.conf" "$f" | cut -f2)
what=$("$POLICYCTL" train -c "$T/lmdb.conf" -v --all --spam "$f" | head -1 | cut -f2,3)
s1=$("$POLICYCTL" classify -c "$T/lmdb.conf" "$f" | cut -f2)
same "train --all --spam: learned, the score rises" "spam	learned|1" \
    "$what|$(awk -v a="$s0" -v b="$s1" 'BEGIN { print (b > a) }')"
same "train the same message again with the same label: known already" "known" \
    "$("$POLICYCTL" train -c "$T/lmdb.conf" -v --spam "$f" | head -1 | cut -f3)"
same "train it as ham: the spam training is taken back (corrected)" "corrected" \
    "$("$POLICYCTL" train -c "$T/lmdb.conf" -v --ham "$f" | head -1 | cut -f3)"
s2=$("$POLICYCTL" classify -c "$T/lmdb.conf" "$f" | cut -f2)
check "after the correction it scores below where it started ($s0 -> $s1 -> $s2)" \
    awk -v a="$s0" -v c="$s2" 'BEGIN { exit !(c <= a) }'

# ------------------------------------------------------------ the same with Redis

conf redis "redis://127.0.0.1:$RPORT/2"
out=$("$POLICYCTL" train -c "$T/redis.conf" --spam "$M/train/spam" --ham "$M/train/ham")
"$POLICYCTL" classify -c "$T/redis.conf" "$M/test/spam" "$M/test/ham" > "$T/classify.redis"
same "Redis: the same training learns the same" \
    "$("$POLICYCTL" train -c "$T/lmdb.conf" --spam "$M/train/spam" --ham "$M/train/ham" 2>&1 >/dev/null; cut -f2,3 "$T/classify.out" | md5sum)" \
    "$(cut -f2,3 "$T/classify.redis" | md5sum)"
rlua() { redis-cli -p $RPORT -n 2 --raw eval "$1" 0; }
check "Redis: the cells are hashes in database 2 ($(rlua "return #redis.call('keys', 'spam:*')") keys)" \
    test "$(rlua "local n = 0 for _, k in ipairs(redis.call('keys', 'spam:*')) do
        if #k == 13 and redis.call('type', k).ok == 'hash' then n = n + 1 end end return n")" -gt 1000
same "Redis: a token lives token_ttl (180 days) after its training" 1 \
    "$(rlua "return redis.call('ttl', 'spam:' .. string.rep(string.char(0), 8))" |
        awk '{ print ($1 > 15550000 && $1 <= 15552000) }')"
conf redisdown "redis://127.0.0.1:1/0"
"$POLICYCTL" classify -c "$T/redisdown.conf" "$M/mbox" > /dev/null 2> "$T/err"
same "Redis down: classify says why and exits 75" "75|1" "$?|$(grep -c 'token store: redis' "$T/err")"

# ------------------------------------------------------------ the layer with spamd, through policyctl check

SPAMD_ST="inet:127.0.0.1:$SPORT"
both() { # NAME [KEY=VALUE...] - the built-in filter on the trained LMDB store and spamd
    # (a filter trained on 120 messages is seldom sure: 4 points per unit of log odds)
    local name=$1
    shift
    conf "$name" "lmdb:$T/db" spamd="$SPAMD_ST" spamd_timeout=20s learn=none builtin_weight=4 "$@"
}
check_msg() { # CONF MESSAGE [RCPT...] - policyctl check's output
    local c=$1 m=$2 r
    shift 2
    local rcpts=()
    for r in "${@:-user@local.example}"; do rcpts+=(--rcpt "$r"); done
    "$POLICYCTL" check -c "$T/$c.conf" --ip 192.0.2.1 --helo client.test \
        --from sender@client.test "${rcpts[@]}" "$m" 2>&1 | unfold
}
unfold() { tr -d '\r' | sed -e ':a' -e 'N' -e '$!ba' -e 's/\n\t/ /g'; } # header lines joined
eom() { grep '^eom' <<< "$1" | cut -f2-4; }
edit() { grep "^edit	.*	$2:" <<< "$1" | cut -f3- | head -1; }

both both
out=$(check_msg both "$M/gtube.eml")
same "spamd: GTUBE is refused at end of message" "reject	554	5.7.1" "$(eom "$out")"
out=$(check_msg both "$M/test/ham/002.eml")
same "ham: accepted" "continue	250	2.0.0" "$(eom "$out")"
check "ham: X-Spam-Status: No, with spamd's and the filter's shares" \
    grep -Eq '^edit	add	X-Spam-Status: No, score=-?[0-9.]+ required=5\.0 .*builtin=0\.[0-9]{4}.*spamd=' <<< "$out"
check "ham: no X-Spam-Flag, no subject tag" bash -c "! grep -q 'X-Spam-Flag\|Subject' <<< \"\$1\"" _ "$out"
out=$(check_msg both "$M/test/spam/003.eml")
same "spam: tagged, not refused (under reject_score)" "continue	250	2.0.0" "$(eom "$out")"
same "spam: X-Spam-Flag: YES" "X-Spam-Flag: YES" "$(edit "$out" X-Spam-Flag)"
check "spam: X-Spam-Status: Yes and X-Spam-Level stars" \
    bash -c 'grep -q "X-Spam-Status: Yes, score=" <<< "$1" && grep -Eq "X-Spam-Level: \*+$" <<< "$1"' _ "$out"
same "spam: the subject gets [SPAM] in front" \
    "change	Subject: [SPAM] $(sed -n 's/^Subject: //p' "$M/test/spam/003.eml")" \
    "$(grep '^edit	change	' <<< "$out" | cut -f2-)"
out=$(check_msg both "$M/nosubject.eml")
same "spam without a subject: one is made" "change	Subject: [SPAM]" "$(grep '^edit	change	' <<< "$out" | cut -f2-)"
both nosubj subject_tag=none reject_score=off
out=$(check_msg nosubj "$M/gtube.eml")
same "reject_score = off, subject_tag = none: GTUBE tagged, subject kept" "continue||X-Spam-Flag: YES" \
    "$(eom "$out" | cut -f1)|$(grep '^edit	change' <<< "$out")|$(edit "$out" X-Spam-Flag)"
both report spamd_command=report reject_score=off
out=$(check_msg report "$M/gtube.eml")
check "spamd_command = report: spam gets X-Spam-Report with spamd's rules (GTUBE)" \
    grep -Eq '^edit	add	X-Spam-Report: .*GTUBE' <<< "$out"
same "spamd_command = report: the report is folded, no line over 78 columns" 0 \
    "$("$POLICYCTL" check -c "$T/report.conf" --ip 192.0.2.1 --helo client.test --from s@client.test \
        --rcpt user@local.example "$M/gtube.eml" | sed -n '/X-Spam-Report/,/^[^	]/p' | sed '$d' |
        sed 's/^edit	add	//' | tr -d '\r' | expand | awk 'length > 78' | wc -l)"
# over spamd_max_size spamd is not asked (as spamc): the built-in filter alone
{ cat "$M/gtube.eml"; for _ in $(seq 40); do cat "$M/test/ham/012.eml" | tail -n +8; done; } > "$T/biggtube.eml"
both small spamd_max_size=1k
out=$(check_msg small "$T/biggtube.eml")
same "over spamd_max_size: GTUBE not sent to spamd, the filter alone decides (no spamd share)" \
    "continue|1|0" \
    "$(eom "$out" | cut -f1)|$(grep -c 'X-Spam-Status: .*builtin=' <<< "$out")|$(grep -c 'spamd=' <<< "$out")"
both tagonly action=tag
same "action = tag never refuses" "continue" "$(eom "$(check_msg tagonly "$M/gtube.eml")" | cut -f1)"
both warn action=warn
out=$(check_msg warn "$M/gtube.eml")
same "action = warn changes nothing" "continue|0" "$(eom "$out" | cut -f1)|$(grep -c '^edit' <<< "$out")"

# per recipient: a cdb map (cdb -c -m), the most lenient recipient wins
printf 'optout@local.example off\n@lenient.example tag=20 reject=off\nstrict@local.example tag=-50 reject=-40\n' |
    cdb -c -m "$T/spam.cdb"
both mapped map="$T/spam.cdb"
same "map: a recipient who opted out gets GTUBE unchecked" "continue|0" \
    "$(eom "$(check_msg mapped "$M/gtube.eml" optout@local.example)" | cut -f1)|$(check_msg mapped "$M/gtube.eml" optout@local.example | grep -c '^edit')"
same "map: with another recipient, the one who opted out exempts the message" "continue" \
    "$(eom "$(check_msg mapped "$M/gtube.eml" user@local.example optout@local.example)" | cut -f1)"
same "map: a strict recipient refuses ham" "reject" \
    "$(eom "$(check_msg mapped "$M/test/ham/004.eml" strict@local.example)" | cut -f1)"
out=$(check_msg mapped "$M/test/ham/004.eml" strict@local.example bob@lenient.example)
same "map: strict and lenient together: the lenient settings (required 20, no reject)" "continue|required=20.0" \
    "$(eom "$out" | cut -f1)|$(grep -o 'required=[0-9.]*' <<< "$out")"
same "map: a domain entry (@domain) counts for its users" "continue" \
    "$(eom "$(check_msg mapped "$M/gtube.eml" anyone@lenient.example)" | cut -f1)"
# several spamd servers: the first refuses, the next answers; User: the recipient
conf twoservers "lmdb:$T/db" spamd="inet:127.0.0.1:1 $SPAMD_ST" spamd_user=%recipient learn=none
same "two spamd servers, the first down: the second refuses GTUBE" "reject	554	5.7.1" \
    "$(eom "$(check_msg twoservers "$M/gtube.eml" someone@local.example)")"
check "spamd_user = %recipient: spamd checked it for the recipient" \
    grep -q 'for someone@local.example:' "$T/spamd.out"
# customers: not checked unless scan_customers = yes
out=$("$POLICYCTL" check -c "$T/both.conf" --ip 192.0.2.1 --var RELAYCLIENT= --helo c.test \
    --from a@local.example --rcpt someone@far.example "$M/gtube.eml")
same "a customer's mail is not checked" "continue|0" "$(eom "$out" | cut -f1)|$(grep -c '^edit' <<< "$out")"
both custom scan_customers=yes
out=$("$POLICYCTL" check -c "$T/custom.conf" --ip 192.0.2.1 --var RELAYCLIENT= --helo c.test \
    --from a@local.example --rcpt someone@far.example "$M/gtube.eml")
same "scan_customers = yes checks it" "reject" "$(eom "$out" | cut -f1)"

# ------------------------------------------------------------ faults, per on_error

# ms CONF MESSAGE - policyctl check's eom line and how long it took
timed() {
    local t0 t1 out
    t0=$(date +%s%N)
    out=$(check_msg "$1" "$2")
    t1=$(date +%s%N)
    echo "$(eom "$out" | cut -f1-3)|$(( (t1 - t0) / 1000000 ))"
}
for mode in hang garbage; do
    port=$((FAKE + 1))
    [ $mode = garbage ] && port=$((FAKE + 2))
    conf "f$mode" "lmdb:$T/db" spamd=inet:127.0.0.1:$port spamd_timeout=1s learn=none
    r=$(timed "f$mode" "$M/gtube.eml")
    same "spamd that ${mode}s, on_error = tempfail: deferred (451 4.3.0)" "tempfail	451	4.3.0" "${r%|*}"
    conf "a$mode" "lmdb:$T/db" spamd=inet:127.0.0.1:$port spamd_timeout=1s learn=none on_error=accept
    out=$(check_msg "a$mode" "$M/test/spam/005.eml")
    same "spamd that ${mode}s, on_error = accept: the filter decides alone (spam tagged)" \
        "continue|X-Spam-Flag: YES" "$(eom "$out" | cut -f1)|$(edit "$out" X-Spam-Flag)"
done
ms=$(timed fhang "$M/gtube.eml")
check "a hanging spamd costs the timeout, not more (${ms#*|} ms for 1000 ms)" \
    test "${ms#*|}" -ge 950 -a "${ms#*|}" -lt 3000
conf fdead "lmdb:$T/db" spamd=inet:127.0.0.1:1 learn=none
same "spamd not listening, on_error = tempfail: deferred" "tempfail	451	4.3.0" "$(eom "$(check_msg fdead "$M/gtube.eml")")"
# spamd stopped, the check started, spamd killed a second later
conf fkill "lmdb:$T/db" spamd="$SPAMD_ST" spamd_timeout=10s learn=none
kill -STOP "$SPAMD"
( sleep 1; kill -9 "$SPAMD" ) &
killer=$!
r=$(timed fkill "$M/gtube.eml")
wait "$killer"
same "spamd killed during the check: deferred at once, not at the timeout" "tempfail	451	4.3.0|1" \
    "${r%|*}|$(( ${r#*|} < 5000 ))"
check "spamd starts again" spamd_start
# the store unusable: a path that cannot be made
conf badstore "lmdb:/proc/nope/db" spamd="$SPAMD_ST" learn=none
same "store unusable, on_error = tempfail: deferred" "tempfail	451	4.3.0" "$(eom "$(check_msg badstore "$M/test/ham/006.eml")")"
conf badstore2 "lmdb:/proc/nope/db" spamd="$SPAMD_ST" learn=none on_error=accept
same "store unusable, on_error = accept: spamd decides alone (GTUBE refused)" "reject" \
    "$(eom "$(check_msg badstore2 "$M/gtube.eml")" | cut -f1)"

# ------------------------------------------------------------ policy-queue

printf 'Fsender@client.test\0Tuser@local.example\0\0' > "$T/env"
pq() { # CONF MESSAGE - policy-queue as qmail-smtpd runs it; RC, Q
    Q=$(mktemp -d "$T/q.XXXXXX")
    POLICY_CONFIG="$T/$1.conf" POLICY_QMAILQUEUE="$QQ" QQ_DIR="$Q" TCPREMOTEIP=192.0.2.1 \
        bash -c 'exec "$0" < "$1" 1< "$2" 6> "$3/fd6"' "$PQ" "$2" "$T/env" "$Q" 2> "$Q/stderr"
    RC=$?
}
pq both "$M/gtube.eml"
same "policy-queue: GTUBE refused on fd 6" "82|Dmessage rejected as spam (#5.7.1)" "$RC|$(cat "$Q/fd6")"
pq both "$M/test/spam/007.eml"
same "policy-queue: spam queued with the headers on top, the subject tagged in place" \
    "0|X-Spam-Status: Yes|X-Spam-Flag: YES|Subject: [SPAM] $(sed -n 's/^Subject: //p' "$M/test/spam/007.eml")" \
    "$RC|$(head -1 "$Q/message" | cut -c1-18)|$(grep -m1 '^X-Spam-Flag' "$Q/message")|$(grep '^Subject' "$Q/message")"
check "policy-queue: X-Spam-Status is folded within 78 columns ($(sed -n '/^X-Spam-Status/,/^[^	]/p' "$Q/message" | sed '$d' | wc -l) lines)" \
    test "$(sed -n '/^X-Spam-Status/,/^[^	]/p' "$Q/message" | sed '$d' | tr -d '\r' | expand | awk 'length > 78' | wc -l)" = 0
same "policy-queue: the rest of the message byte for byte" "$(grep -v '^Subject' "$M/test/spam/007.eml")" \
    "$(sed '/^X-Spam-\|^	/d' "$Q/message" | grep -v '^Subject')"
pq fhang "$M/gtube.eml"
same "policy-queue: spamd hanging, on_error = tempfail: a temporary refusal, nothing queued" "82|Z|no" \
    "$RC|$(head -c1 "$Q/fd6")|$([ -e "$Q/message" ] && echo yes || echo no)"

# 20 processes at once on one LMDB store: each learns 10 messages (teft,
# every message past one of the two thresholds) and classifies them
mkdir "$T/loaddb"
conf load "lmdb:$T/loaddb" learn=teft learn_spam_score=5 learn_ham_score=4.99
"$POLICYCTL" train -c "$T/load.conf" --spam "$M/train/spam" --ham "$M/train/ham" > "$T/load.train"
base=$("$SD" -n spam "lmdb:$T/loaddb" pget 0x0000000000000000 | awk '{ print $2 + $3 }')
workers=()
for p in $(seq -w 0 19); do
    (
        fail=0
        for m in "$M/load/$p"/*.eml; do
            pq load "$m"
            [ "$RC" = 0 ] && unfold < "$Q/message" | grep -q '^X-Spam-Status: .*autolearn=\(spam\|ham\)' ||
                fail=$((fail + 1))
            rm -rf "$Q"
        done
        echo "$fail" > "$T/load.$p"
    ) &
    workers+=("$!")
done
wait "${workers[@]}"
same "20 policy-queue processes at once: every message queued and learned" 0 \
    "$(cat "$T"/load.?? | awk '{ s += $1 } END { print s }')"
same "LMDB: the store counted every training (200 more), none lost" "$((base + 200))" \
    "$("$SD" -n spam "lmdb:$T/loaddb" pget 0x0000000000000000 | awk '{ print $2 + $3 }')"

# two hosts sharing Redis: each learns its half at the same time, each
# then finds what the other learned
redis-cli -p $RPORT -n 5 flushdb >/dev/null
# (20 processes on two loaded cores: a store timeout of 3 s, not the 250 ms
# default, so that what is counted is the store's exactness, not the load)
conf hosta "redis://127.0.0.1:$RPORT/5?timeout=3000" learn=teft learn_spam_score=5 learn_ham_score=4.99
conf hostb "redis://127.0.0.1:$RPORT/5?timeout=3000" learn=teft learn_spam_score=5 learn_ham_score=4.99
"$POLICYCTL" train -c "$T/hosta.conf" --spam "$M/train/spam" --ham "$M/train/ham" >/dev/null
base=$("$SD" -n spam "redis://127.0.0.1:$RPORT/5" pget 0x0000000000000000 | awk '{ print $2 + $3 }')
workers=()
for p in $(seq -w 0 19); do
    h=hosta
    [ $((10#$p % 2)) = 1 ] && h=hostb
    ( for m in "$M/load/$p"/*.eml; do pq $h "$m"; [ "$RC" = 0 ] || echo fail; rm -rf "$Q"; done ) > "$T/redis.$p" &
    workers+=("$!")
done
wait "${workers[@]}"
same "two hosts on one Redis: every message queued" "" "$(cat "$T"/redis.??)"
same "Redis: both hosts' trainings counted (200 more), none lost" "$((base + 200))" \
    "$("$SD" -n spam "redis://127.0.0.1:$RPORT/5" pget 0x0000000000000000 | awk '{ print $2 + $3 }')"
"$POLICYCTL" train -c "$T/hosta.conf" --all --spam "$M/test/ham/010.eml" >/dev/null
"$POLICYCTL" train -c "$T/hosta.conf" --all --spam "$M/test/ham/010.eml" >/dev/null
same "host b finds what host a learned: its correction is 'corrected'" "corrected" \
    "$("$POLICYCTL" train -c "$T/hostb.conf" -v --ham "$M/test/ham/010.eml" | head -1 | cut -f3)"

# auto-learning taken back: learned as spam at SMTP time (teft), corrected by hand
conf teft "lmdb:$T/db" learn=teft learn_spam_score=-100 learn_ham_score=-200
out=$(check_msg teft "$M/test/ham/011.eml")
check "teft: a message past learn_spam_score is learned as spam (autolearn=spam)" grep -q 'autolearn=spam' <<< "$out"
same "policyctl train --ham corrects that auto-learning" "corrected" \
    "$("$POLICYCTL" train -c "$T/lmdb.conf" -v --ham "$M/test/ham/011.eml" | head -1 | cut -f3)"

# ------------------------------------------------------------ policy-milter under Postfix

cp "$T/both.conf" "$T/policy.conf"
pf_test_world
check "the private Postfix starts" pf_start "$T/pf"
ip addr add 192.0.2.11/32 dev lo 2>/dev/null
out=$(send 192.0.2.11 user@sink.test --data "$M/gtube.eml")
check "milter: GTUBE refused at the end of DATA (554 5.7.1)" grep -q '^<\*\* *554 5.7.1 message rejected as spam' <<< "$out"
for f in spam/008 ham/009; do
    out=$(send 192.0.2.11 user@sink.test --data "$M/test/$f.eml")
    check "milter: $f accepted" grep -q "queued as" <<< "$out"
done
pf_drain "$T/pf" 20
sleep 0.5
dspam=$(grep -l "^Message-ID: <$(sed -n 's/^Message-ID: <\(.*\)>/\1/p' "$M/test/spam/008.eml")>" "$T"/sink/* | head -1)
dham=$(grep -l "^Message-ID: <$(sed -n 's/^Message-ID: <\(.*\)>/\1/p' "$M/test/ham/009.eml")>" "$T"/sink/* | head -1)
same "milter: delivered spam carries X-Spam-Flag and the tagged subject ($(unfold < "$dspam" | grep -m1 '^X-Spam-Status'))" \
    "X-Spam-Flag: YES|Subject: [SPAM] $(sed -n 's/^Subject: //p' "$M/test/spam/008.eml")" \
    "$(tr -d '\r' < "$dspam" | grep -m1 '^X-Spam-Flag')|$(tr -d '\r' < "$dspam" | grep '^Subject')"
same "milter: delivered ham carries X-Spam-Status: No and its own subject" \
    "X-Spam-Status: No|Subject: $(sed -n 's/^Subject: //p' "$M/test/ham/009.eml")" \
    "$(tr -d '\r' < "$dham" | grep -m1 '^X-Spam-Status' | cut -c1-17)|$(tr -d '\r' < "$dham" | grep '^Subject')"
ip addr del 192.0.2.11/32 dev lo 2>/dev/null
finish
