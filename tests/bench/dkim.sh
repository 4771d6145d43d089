#!/bin/bash
# dkim.sh BUILD_DIR [MESSAGES] [ROUNDS] - DKIM, two ways, in one run:
#  1. the library alone (bench_dkim): signatures and verifications per CPU
#     second of one thread, 2048-bit RSA, beside libopendkim called by hand;
#  2. signing under Postfix 3.7: policy-milter beside the OpenDKIM milter
#     (Debian's opendkim), same key, same headers oversigned, same
#     canonicalization, each on a unix socket of its own smtpd port; the
#     client is smtp-source from 127.0.0.1 (a customer of both), 20
#     sessions, 1 KB messages; the rounds interleave the two, and each
#     reports messages per second (wall) and the filter's CPU per message
#     (utime+stime of its process), medians of ROUNDS.  The machine is
#     shared: CPU per message is the figure to trust, throughput the one
#     asked for.
# Runs itself inside a private network namespace (root): the keys are in
# the test dnsmasq on 127.0.0.1:53 (tests/integration/dkim_lib.sh).
set -eu
B=$(cd "${1:?usage: dkim.sh BUILD_DIR [MESSAGES] [ROUNDS]}" && pwd)
M=${2:-2000}
R=${3:-3}
HERE=$(cd "$(dirname "$0")" && pwd)
if [ -z "${POLICY_IN_NETNS:-}" ]; then
    W=$(mktemp -d "${TMPDIR:-/tmp}/libpolicy-bd.XXXXXX")
    echo "nameserver 127.0.0.1" > "$W/resolv.conf"
    trap 'rm -rf "$W"' EXIT
    POLICY_IN_NETNS=1 unshare --net --mount --propagation private -- sh -c \
        'ip link set lo up && mount --bind "$1/resolv.conf" /etc/resolv.conf && shift && exec bash "$@"' \
        ns "$W" "$0" "$@"
    exit $?
fi
. "$HERE/../integration/postfix_lib.sh"
. "$HERE/../integration/dkim_lib.sh"
. "$HERE/rate_lib.sh"
T=$(mktemp -d /tmp/libpolicy-bench.XXXXXX)
chmod 755 "$T"
PIDS=""
trap 'set +e; pf_stop "$T/pf"; sink_stop; dkim_world_stop; for p in $PIDS; do kill $p 2>/dev/null; done; wait 2>/dev/null; rm -rf "$T"' EXIT
dkim_world_start "$T/w" "$B/adapters/cli/policyctl" || { echo "dkim benchmark: no DNS world"; exit 1; }
K="$T/w/keys/example.test/sel"
chmod 644 "$K"

# ---- 1. the library alone
cat > "$T/lib.conf" <<EOF
[general]
dns_servers = 127.0.0.1
[customers]
local_domains = example.net
[dkim]
sign_key = $K
dmarc = no
EOF
export BENCH_KEY_RECORD="v=DKIM1; k=rsa; p=$(pubkey_of "$K")"
"$B/tests/bench/bench_dkim" "$T/lib.conf" "$K" sel example.test "${DKIM_BENCH_SECONDS:-3}"
# the same by instruction counts (callgrind): what the shared machine
# cannot blur; N runs minus one run, per message (the library's runs are
# connections of 10 messages)
ir() { # ir WHAT N - instructions of bench_dkim doing WHAT N times
    BENCH_ONLY=$1 BENCH_COUNT=$2 valgrind --tool=callgrind --callgrind-out-file="$T/cg.$1.$2" \
        "$B/tests/bench/bench_dkim" "$T/lib.conf" "$K" sel example.test 1 > /dev/null 2>&1
    callgrind_annotate "$T/cg.$1.$2" 2> /dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }'
}
if command -v valgrind > /dev/null; then
    echo "the same in instructions per message (callgrind; user space only, no DNS round trip):"
    printf '  %-44s %10s %10s %7s\n' "" "ours" "anchor" "ratio"
    for w in sign verify; do
        raw=$(( ($(ir raw-$w 11) - $(ir raw-$w 1)) / 10 ))
        lib=$(( ($(ir $w 3) - $(ir $w 1)) / 20 ))
        printf '  %-44s %10s %10s %7s\n' "$w" "$lib" "$raw" "$(awk -v a="$lib" -v b="$raw" 'BEGIN { printf "%.2f", b / a }')"
    done
    echo "  (ratio: anchor / ours, 1.00 = no cost of our own)"
fi
echo

# ---- 2. signing milters under Postfix
cat > "$T/policy.conf" <<EOF
[general]
dns_servers = 127.0.0.1
[dkim]
sign_key = $T/w/keys/%/sel
dmarc = no
EOF
cat > "$T/opendkim.conf" <<EOF
Syslog yes
Background no
Mode s
Domain example.test
Selector sel
KeyFile $K
Canonicalization relaxed/relaxed
OversignHeaders From
InternalHosts 127.0.0.1
Socket local:$T/opendkim.sock
PidFile $T/opendkim.pid
UserID postfix
RequireSafeKeys no
EOF
chown postfix "$T"
BASE=$(( 20000 + RANDOM % 20000 ))
SINK=$BASE
"$B/adapters/milter/policy-milter" -f -c "$T/policy.conf" -p "unix:$T/policy.sock" 2>/dev/null &
PPID_M=$!
PIDS="$PIDS $PPID_M"
opendkim -f -x "$T/opendkim.conf" 2> "$T/opendkim.err" &
OPID=$!
PIDS="$PIDS $OPID"
for _ in $(seq 100); do [ -S "$T/policy.sock" ] && [ -S "$T/opendkim.sock" ] && break; sleep 0.1; done
[ -S "$T/opendkim.sock" ] || { echo "dkim benchmark: opendkim did not start"; cat "$T/opendkim.err"; exit 1; }
sink_start "$T/sink" "$SINK"
pf_setup "$T/pf" $((BASE + 10)) "$SINK" ""
names="none opendkim policy"
milters=("" "unix:$T/opendkim.sock" "unix:$T/policy.sock")
i=0
for n in $names; do
    echo "127.0.0.1:$((BASE + 20 + i)) inet n - n - - smtpd -o smtpd_milters=${milters[$i]}" \
        >> "$T/pf/conf/master.cf"
    i=$((i + 1))
done
pf_start "$T/pf"
sleep 1
DRAIN="pf_drain $T/pf 300"
SENDER=bench@example.test # the From: both filters sign for

# both sign what smtp-source sends, and dkimpy verifies both
for n in opendkim policy; do
    port=$((BASE + 20 + $(echo "$names" | tr ' ' '\n' | grep -n "^$n\$" | cut -d: -f1) - 1))
    smtp-source -s 1 -m 1 -l 1024 -f bench@example.test -t rcpt@sink.test "127.0.0.1:$port"
    $DRAIN
    f=$(find "$T/sink" -type f | head -1)
    if [ -n "$f" ] && grep -q '^DKIM-Signature:' "$f" && dkimverify < "$f" > /dev/null 2>&1; then
        echo "  $n signs, and dkimpy verifies what it signed"
    else
        echo "  $n: NOT signed or not verified ($f)"
    fi
    rm -rf "$T/sink"/*
done

# ticks PID - utime + stime of a process, in clock ticks
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)
declare -A CPU
pid_of() { case $1 in opendkim) echo "$OPID" ;; policy) echo "$PPID_M" ;; *) echo "" ;; esac; }
for n in $names; do M=200 rate $((BASE + 20 + $(echo "$names" | tr ' ' '\n' | grep -n "^$n\$" | cut -d: -f1) - 1)) > /dev/null; done
for _ in $(seq "$R"); do
    i=0
    for n in $names; do
        pid=$(pid_of "$n")
        [ -n "$pid" ] && c0=$(ticks "$pid")
        RES[$n]="${RES[$n]:-} $(rate $((BASE + 20 + i)))"
        [ -n "$pid" ] && CPU[$n]="${CPU[$n]:-} $(awk -v a="$c0" -v b="$(ticks "$pid")" -v hz="$HZ" -v m="$M" \
            'BEGIN { printf "%.0f", (b - a) / hz / m * 1e6 }')"
        i=$((i + 1))
    done
done
rate_table "signing milters: Postfix 3.7, smtp-source 20 sessions from 127.0.0.1, $M messages of 1 KB per run, median of $R interleaved rounds" "$names"
echo "  filter CPU per message (utime+stime, us):"
for n in opendkim policy; do
    printf '  %-12s %10s   %s\n' "$n" "$(echo "${CPU[$n]}" | median)" "${CPU[$n]}"
done
awk -v p="$(echo "${RES[policy]}" | median)" -v o="$(echo "${RES[opendkim]}" | median)" \
    -v pc="$(echo "${CPU[policy]}" | median)" -v oc="$(echo "${CPU[opendkim]}" | median)" \
    'BEGIN { printf "  policy/opendkim: throughput %.2f (target >= 1.00), CPU per message %.2f\n", p / o, pc / oc }'
if [ -s "$T/source.err" ]; then echo "  smtp-source errors:"; head -5 "$T/source.err"; fi

# the filters' instructions per signed message: each under callgrind,
# counters zeroed after a warm-up, then N messages through it alone
if command -v valgrind > /dev/null; then
    N=${DKIM_BENCH_CALLGRIND:-100}
    kill $PPID_M $OPID 2> /dev/null || true
    wait $PPID_M $OPID 2> /dev/null || true
    PIDS=""
    valgrind --tool=callgrind --callgrind-out-file="$T/cg.policy" \
        "$B/adapters/milter/policy-milter" -f -c "$T/policy.conf" -p "unix:$T/policy.sock" 2> /dev/null &
    PPID_M=$!
    # as root: vgdb (callgrind_control) cannot reach a process that
    # changed its user; the socket left open to Postfix instead
    { grep -v '^UserID' "$T/opendkim.conf"; echo "UMask 000"; } > "$T/opendkim.cg.conf"
    valgrind --tool=callgrind --callgrind-out-file="$T/cg.opendkim" \
        opendkim -f -x "$T/opendkim.cg.conf" 2> /dev/null &
    OPID=$!
    PIDS="$PPID_M $OPID"
    for _ in $(seq 300); do [ -S "$T/policy.sock" ] && [ -S "$T/opendkim.sock" ] && break; sleep 0.1; done
    sleep 2
    declare -A IR
    i=0
    for n in $names; do
        pid=$(pid_of "$n")
        if [ -n "$pid" ]; then
            smtp-source -s 2 -m 10 -l 1024 -f bench@example.test -t rcpt@sink.test "127.0.0.1:$((BASE + 20 + i))"
            $DRAIN
            callgrind_control -z "$pid" > /dev/null 2>&1 || { echo "  callgrind_control cannot reach $n"; break; }
            smtp-source -s 2 -m "$N" -l 1024 -f bench@example.test -t rcpt@sink.test "127.0.0.1:$((BASE + 20 + i))"
            $DRAIN
            rm -f "$T"/cg.$n.*
            callgrind_control -d "$pid" > /dev/null 2>&1
            sleep 1
            f=$(ls -t "$T"/cg."$n"* | head -1)
            IR[$n]=$(( $(callgrind_annotate "$f" 2> /dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }') / N ))
        fi
        rm -rf "$T/sink"/*
        i=$((i + 1))
    done
    echo "filter instructions per signed message (callgrind, $N messages, user space):"
    printf '  %-12s %12s\n' opendkim "${IR[opendkim]}" policy "${IR[policy]}"
    awk -v p="${IR[policy]}" -v o="${IR[opendkim]}" 'BEGIN { printf "  policy/opendkim: %.2f\n", p / o }'
fi
