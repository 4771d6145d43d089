#!/bin/bash
# virus.sh BUILD_DIR [ROUNDS] [MESSAGES] - what virus scanning costs per
# message, side by side in one run on the same messages (MESSAGES, 200 by
# default, of the SpamAssassin corpus, or as many generated 10 KB messages
# when it is not fetched, plus the 44 files of clamav-testfiles as base64
# attachments), the signatures of
# tests/integration/scanners/sigs.sh, a private clamd (DisableCache: every
# scan costs what a new message costs):
#   1. QMAILQUEUE wrappers, one process per message as qmail runs them
#      (bench_content): policy-queue + clamd against `clamdscan -` per
#      message and against simscan's way (ripmime unpacks to disk,
#      clamdscan scans the directory), with the exec-only passthrough as
#      the floor; wall and CPU time (the wrapper, all it runs, and clamd).
#      Target: policy-queue + clamd at least 3x faster than ripmime +
#      clamdscan.
#   2. a private Postfix with policy-milter + libclamav in process (cache
#      off) against the do-nothing null_milter and no milter: messages per
#      second (8 sessions), then MESSAGES clean 10 KB messages one at a time:
#      the time per message and the milter's CPU per message.  Target: the
#      in-process milter adds under 2 ms per clean 10 KB message over the
#      null milter.
# Runs itself inside a private network namespace (root).
set -eu
B=$(cd "${1:?usage: virus.sh BUILD_DIR [ROUNDS] [MESSAGES]}" && pwd)
R=${2:-3}
N=${3:-200}
HERE=$(cd "$(dirname "$0")" && pwd)
if [ -z "${POLICY_IN_NETNS:-}" ]; then
    exec env POLICY_IN_NETNS=1 unshare --net -- sh -c 'ip link set lo up && exec bash "$@"' ns "$0" "$@"
fi
for tool in clamd clamdscan ripmime postfix; do
    command -v "$tool" >/dev/null || { echo "virus benchmark skipped: $tool missing (scripts/install-deps.sh)"; exit 0; }
done
. "$HERE/../integration/postfix_lib.sh"
. "$HERE/../integration/scanners/sigs.sh"
PY=/usr/bin/python3
SEND="$HERE/../integration/virus/send.py"
T=$(mktemp -d /tmp/libpolicy-bvirus.XXXXXX)
chmod 755 "$T"
# where every way unpacks - clamd's TemporaryDirectory, libclamav's tmpdir,
# the anchors' work directories and ripmime's output (TMPDIR) - a tmpfs as
# docs/policy.conf.5 advises (libclamav makes a directory per scan);
# VIRUS_BENCH_TMPDIR=/tmp measures them all on the disk
W=$(mktemp -d "${VIRUS_BENCH_TMPDIR:-/dev/shm}/libpolicy-bvirus.XXXXXX")
PIDS=""
trap 'set +e; pf_stop "$T/pf"; sink_stop; for p in $PIDS; do kill $p 2>/dev/null; done; wait 2>/dev/null; rm -rf "$T" "$W"' EXIT

sigs_write "$T/db"
BASE=$(( 20000 + RANDOM % 20000 ))
cat > "$T/clamd.conf" <<EOF
Foreground yes
LocalSocket $T/clamd.sock
DatabaseDirectory $T/db
LogFile $T/clamd.log
StreamMaxLength 50M
MaxThreads 4
DisableCache yes
TemporaryDirectory $W
EOF
clamd -c "$T/clamd.conf" > "$T/clamd.out" 2>&1 &
CLAMD=$!
PIDS="$PIDS $CLAMD"
for _ in $(seq 300); do
    "$B/tests/tools/scan_drive" ping "unix:$T/clamd.sock" -t 500 >/dev/null 2>&1 && break
    sleep 0.2
done

# ---- the messages
"$PY" "$HERE/../integration/virus/make.py" "$T/v" > /dev/null
"$PY" - "$T/c10k" "$N" <<'PY'
import base64, os, random, sys
out = sys.argv[1]
os.makedirs(out)
rnd = random.Random(7)
words = "meeting invoice tomorrow project report please attached thanks review budget".split()
for i in range(int(sys.argv[2])):
    text = " ".join(rnd.choice(words) for _ in range(300))
    att = base64.encodebytes(bytes(rnd.getrandbits(8) for _ in range(6000))).decode()
    with open("%s/c10k-%03d.eml" % (out, i), "w") as f:
        f.write("From: alice@example.org\nTo: user@sink.test\nSubject: weekly report %d\n"
                "Message-ID: <c10k-%d@example.org>\nMIME-Version: 1.0\n"
                'Content-Type: multipart/mixed; boundary="b1"\n\n--b1\n'
                "Content-Type: text/plain; charset=us-ascii\n\n%s\n--b1\n"
                'Content-Type: application/pdf; name="report.pdf"\n'
                "Content-Transfer-Encoding: base64\n\n%s--b1--\n" % (i, i, text, att))
PY
C=$(sh "$HERE/../../scripts/fetch-corpus.sh" --where 2>/dev/null)/spam-assassin
if [ -f "$C/.complete" ]; then
    find "$C/easy-ham-1" "$C/spam-1" -type f | sort | awk 'NR % 10 == 0' | head -"$N" > "$T/list"
    what="$N corpus messages"
else
    ls "$T"/c10k/*.eml > "$T/list"
    what="$N generated 10 KB messages (corpus not fetched)"
fi
awk -F'\t' '$1 ~ /^b64\./ { print $1 }' "$T/v/cases" | sed "s|^|$T/v/|; s|\$|.eml|" >> "$T/list"
infected=$(grep -c "/b64\." "$T/list")

# ---- 1. one process per message
printf '[virus]\nclamd = unix:%s/clamd.sock\n' "$T" > "$T/pq.conf"
echo "virus scanning per message in a QMAILQUEUE wrapper: $what + $infected infected ($(nproc) cores," \
    "load average $(cut -d' ' -f1 /proc/loadavg)); unpacking in $W ($(stat -f -c %T "$W")); CPU includes clamd's:"
POLICY_CONFIG="$T/pq.conf" POLICY_QMAILQUEUE="$B/tests/tools/qq_record" QQ_DIR="$T/qq" \
    CLAMDSCAN_CONF="$T/clamd.conf" BENCH_SERVER_PID=$CLAMD \
    TMPDIR="$W" "$B/tests/bench/bench_content" "$T/list" "$R" \
    "passthrough (exec the queue)=$B/tests/bench/qq_passthrough" \
    "policy-queue + clamd=$B/adapters/qmail-queue/policy-queue" \
    "clamdscan - per message=$B/tests/bench/clamdscan_queue" \
    "ripmime + clamdscan (simscan's way)=$B/tests/bench/ripmime_clamdscan_queue" | tee "$T/pq.out"
awk '/policy-queue \+ clamd/ { pw = $(NF-1); pc = $(NF-3) }
     /simscan/ { sw = $(NF-1); sc = $(NF-3) }
     /clamdscan - per/ { dw = $(NF-1); dc = $(NF-3) }
     END { printf "  ripmime+clamdscan / policy-queue+clamd: %.1fx wall, %.1fx CPU (target >= 3)\n", sw / pw, sc / pc;
           printf "  clamdscan - / policy-queue+clamd:       %.1fx wall, %.1fx CPU\n", dw / pw, dc / pc }' "$T/pq.out"

# ---- 2. Postfix with the milters
printf '[virus]\nscanner = libclamav\ndatabase = %s/db\ncache = no\ntmpdir = %s\n' "$T" "$W" > "$T/policy.conf"
"$B/tests/bench/null_milter" -p "unix:$T/null.sock" -H & PIDS="$PIDS $!"
NULLPID=$!
"$B/adapters/milter/policy-milter" -f -c "$T/policy.conf" -p "unix:$T/policy.sock" 2>"$T/milter.log" & PIDS="$PIDS $!"
POLPID=$!
SINK=$BASE
sink_start "$T/sink" "$SINK"
pf_setup "$T/pf" $((BASE + 10)) "$SINK" ""
postconf -c "$T/pf/conf" -e "message_size_limit = 100000000" "smtpd_soft_error_limit = 100000" \
    "smtpd_hard_error_limit = 100000"
names="none null policy"
milters=("" "unix:$T/null.sock" "unix:$T/policy.sock")
i=0
for n in $names; do
    echo "127.0.0.1:$((BASE + 20 + i)) inet n - n - - smtpd -o smtpd_milters=${milters[$i]}" >> "$T/pf/conf/master.cf"
    i=$((i + 1))
done
pf_start "$T/pf"
for _ in $(seq 100); do [ -S "$T/policy.sock" ] && [ -S "$T/null.sock" ] && break; sleep 0.1; done
port_of() { case $1 in none) echo $((BASE + 20)) ;; null) echo $((BASE + 21)) ;; policy) echo $((BASE + 22)) ;; esac; }
pid_of() { case $1 in null) echo "$NULLPID" ;; policy) echo "$POLPID" ;; *) echo 0 ;; esac; }
cpu_ms() { awk -v p="$1" 'BEGIN { if (p == 0) { print 0; exit } getline l < ("/proc/" p "/stat");
    sub(/.*\) /, "", l); split(l, f, " "); print (f[12] + f[13]) * 1000 / '"$(getconf CLK_TCK)"' }'; }
# run CONFIG SESSIONS LIST -> "msg/s cpu-ms-per-message median-s-per-message refused"
run() {
    local c0 c1 s e n
    n=$(wc -l < "$3")
    c0=$(cpu_ms "$(pid_of "$1")")
    s=$(date +%s.%N)
    # shellcheck disable=SC2046
    "$PY" "$SEND" "127.0.0.1:$(port_of "$1")" 127.0.0.1 "$2" $(cat "$3") > "$T/run.out" 2>>"$T/send.err"
    e=$(date +%s.%N)
    c1=$(cpu_ms "$(pid_of "$1")")
    pf_drain "$T/pf" 120 || true
    rm -rf "$T/sink"/*
    local lat
    lat=$(cut -f4 "$T/run.out" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] * 1000 }')
    awk -F'\t' -v n="$n" -v s="$s" -v e="$e" -v c0="$c0" -v c1="$c1" -v lat="$lat" '
        $2 == 554 { r++ }
        END { printf "%.1f %.3f %.2f %d\n", n / (e - s), (c1 - c0) / n, lat, r }' "$T/run.out"
}
declare -A RATE CPU REF
run none 8 "$T/list" > /dev/null # warm-up
for r in $(seq "$R"); do
    for n in $names; do
        read -r rate cpu _ refused < <(run "$n" 8 "$T/list")
        RATE[$n]="${RATE[$n]:-} $rate"
        CPU[$n]="${CPU[$n]:-} $cpu"
        REF[$n]=$refused
    done
done 2>/dev/null
median() { tr ' ' '\n' | sed '/^$/d' | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
echo
echo "Postfix 3.7 with milters, $what + $infected infected, 8 sessions, median of $R interleaved rounds:"
printf '  %-36s %10s %16s   %s\n' config "msg/s" "milter CPU ms/msg" rounds
for n in $names; do
    label=$n
    [ "$n" = none ] && label="no milter"
    [ "$n" = null ] && label="null_milter (does nothing)"
    [ "$n" = policy ] && label="policy-milter + libclamav in process"
    printf '  %-36s %10s %16s   %s\n' "$label" "$(echo "${RATE[$n]}" | median)" "$(echo "${CPU[$n]}" | median)" "${RATE[$n]}"
done
echo "  policy refused $(echo "${REF[policy]:-?}") of $infected infected; null refused ${REF[null]:-?}"

ls "$T"/c10k/*.eml > "$T/c10k.list"
declare -A LAT LCPU
for r in $(seq "$R"); do
    for n in null policy; do
        read -r _ cpu lat _ < <(run "$n" 1 "$T/c10k.list")
        LAT[$n]="${LAT[$n]:-} $lat"
        LCPU[$n]="${LCPU[$n]:-} $cpu"
    done
done
ln=$(echo "${LAT[null]}" | median); lp=$(echo "${LAT[policy]}" | median)
cn=$(echo "${LCPU[null]}" | median); cp=$(echo "${LCPU[policy]}" | median)
echo
echo "$N clean 10 KB messages one at a time, median of $R interleaved rounds (per message):"
printf '  %-36s %8s ms  %8s ms CPU\n' "null_milter" "$ln" "$cn"
printf '  %-36s %8s ms  %8s ms CPU\n' "policy-milter + libclamav in process" "$lp" "$cp"
awk -v a="$lp" -v b="$ln" -v c="$cp" -v d="$cn" 'BEGIN {
    printf "  policy - null: %+.2f ms per message (wall), %+.2f ms CPU (target < 2 ms)\n", a - b, c - d }'
