#!/bin/bash
# qmail.sh BUILD_DIR [MESSAGES] [ROUNDS] - what a message costs qmail, side
# by side in one run (bench_queue): the passthrough that only execs the
# real queue (the anchor), policy-queue checking here, and policy-queue
# handing its check to a running policy-milter (POLICY_DAEMON), each with
# two header rules and with 900 qregex patterns; the virus layer is added
# to the 900-pattern configuration when this build has one ([virus] with
# libclamav and the test signatures of tests/integration/scanners/sigs.sh;
# BENCH_VIRUS_CONF names a file with another section to use).  Wall time
# and CPU time per message: read the CPU figures on a loaded machine.  The
# CPU of a daemon way counts the daemon's too (every thread), and is shown
# apart.  Targets: checking here at most 1.25x the passthrough with two
# rules; through the daemon at most 1.25x with 900 patterns and the virus
# layer.  Last, one run of each counted in instructions (callgrind).
set -eu
B=$(cd "${1:?usage: qmail.sh BUILD_DIR [MESSAGES] [ROUNDS]}" && pwd)
N=${2:-300}
R=${3:-5}
HERE=$(cd "$(dirname "$0")" && pwd)
PQ="$B/adapters/qmail-queue/policy-queue"
MILTER="$B/adapters/milter/policy-milter"
W=$(mktemp -d "${TMPDIR:-/tmp}/libpolicy-bqm.XXXXXX")
PIDS=""
trap 'for p in $PIDS; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$W"' EXIT

. "$HERE/layers_conf.sh"
layers_conf "$W" example.test
grep -v '^bad' "$W/policy.conf" > "$W/small.conf"
cp "$W/policy.conf" "$W/full.conf"
# the virus layer, when this build has one
virus="no virus layer in this build"
if [ -n "${BENCH_VIRUS_CONF:-}" ]; then
    cp "$BENCH_VIRUS_CONF" "$W/virus.section"
elif [ -d /usr/share/clamav-testfiles ]; then
    . "$HERE/../integration/scanners/sigs.sh"
    sigs_write "$W/sigs" >/dev/null 2>&1 || true
    printf '[virus]\nscanner = libclamav\ndatabase = %s\n' "$W/sigs" > "$W/virus.section"
fi
if [ -f "$W/virus.section" ]; then
    cat "$W/policy.conf" "$W/virus.section" > "$W/virus.conf"
    if "$MILTER" -T -c "$W/virus.conf" >"$W/virus.check" 2>&1; then
        cp "$W/virus.conf" "$W/full.conf"
        virus="with the virus layer"
    else
        if grep -q 'layer \[virus\] is not available' "$W/virus.check"; then
            virus="without the virus layer (none in this build)"
        else
            virus="without the virus layer ($(tail -1 "$W/virus.check"))"
        fi
    fi
fi

# start NAME CONF - a policy-milter on a unix socket; its pid in PID_NAME
start() {
    "$MILTER" -f -c "$2" -p "unix:$W/$1.sock" 2> "$W/$1.log" &
    eval "PID_$1=$!"
    PIDS="$PIDS $!"
    for _ in $(seq 100); do [ -S "$W/$1.sock" ] && return 0; sleep 0.1; done
    echo "qmail.sh: policy-milter ($2) did not start:" >&2
    cat "$W/$1.log" >&2
    exit 1
}
start small "$W/small.conf"
start full "$W/full.conf"

QQ="POLICY_QMAILQUEUE=$B/tests/tools/qq_record"
echo "qmail: a message through qmail-smtpd's QMAILQUEUE, 900 patterns $virus"
"$B/tests/bench/bench_queue" -n "$N" -r "$R" \
    "passthrough (exec the real queue)" "$B/tests/bench/qq_passthrough" "$QQ" -- \
    "policy-queue here, 2 header rules" "$PQ" "$QQ" "POLICY_CONFIG=$W/small.conf" -- \
    "policy-queue via daemon, 2 header rules" "$PQ" "$QQ" "POLICY_DAEMON=unix:$W/small.sock" \
    "@daemon=$PID_small" -- \
    "policy-queue here, 900 patterns" "$PQ" "$QQ" "POLICY_CONFIG=$W/full.conf" -- \
    "policy-queue via daemon, 900 patterns" "$PQ" "$QQ" "POLICY_DAEMON=unix:$W/full.sock" \
    "@daemon=$PID_full" | tee "$W/table"
# the targets, on CPU time (the qmail side; with the daemon's share in brackets)
awk -v virus="$virus" '
    /passthrough/ { base = $(NF-1) }
    { sub(/^ +/, "") }
    /here, 2 header rules/ { here = $(NF-1) }
    /via daemon, 900 patterns/ { d = $(NF-3); dd = $NF; sub(/\)/, "", dd) }
    END {
        if (!base) exit
        printf "  target: here, 2 rules <= 1.25x the passthrough (CPU): %.2fx\n", here / base
        printf "  target: via daemon, 900 patterns %s <= 1.25x (CPU, daemon included): %.2fx; qmail side alone: %.2fx\n",
            virus, d / base, (d - dd) / base
    }' "$W/table"
# policy-queue's own work counted in instructions (callgrind, one message,
# the queue it runs not counted; no anchor: callgrind loses a program that
# execs, as the passthrough does): what the machine's load cannot blur
if command -v valgrind >/dev/null; then
    printf 'Received: from client.test\nSubject: quarterly report\n\nline\n' > "$W/msg"
    printf 'Fsender@client.test\0Trcpt@example.test\0\0' > "$W/env"
    # ir LABEL VAR=VALUE... - policy-queue's instructions for one message
    ir() {
        local label=$1
        shift
        if env "$QQ" "$@" valgrind --tool=callgrind --callgrind-out-file="$W/cg" "$PQ" \
            < "$W/msg" 1< "$W/env" 2> "$W/cg-err"; then
            printf '  %-44s %12s\n' "$label" "$(awk '/^summary:/ {print $2}' "$W/cg")"
        else
            echo "  $label: failed" >&2
        fi
    }
    echo "instructions of policy-queue for one message (callgrind, the queue not counted):"
    ir "policy-queue here, 2 header rules" "POLICY_CONFIG=$W/small.conf"
    ir "policy-queue via daemon, 2 header rules" "POLICY_DAEMON=unix:$W/small.sock"
    ir "policy-queue here, 900 patterns" "POLICY_CONFIG=$W/full.conf"
    ir "policy-queue via daemon, 900 patterns" "POLICY_DAEMON=unix:$W/full.sock"
fi
