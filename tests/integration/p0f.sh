#!/bin/bash
# p0f.sh BUILD_DIR - the p0f client (libpolicy/support/p0f.c) against a
# real p0f 3 capturing loopback, through tests/tools/p0f_drive: a client
# the test's fingerprint file labels Windows, an address p0f has not seen,
# p0f not running, p0f hung, a socket that never answers; never a wait
# beyond the timeout.
# Run inside a private network namespace (tests/run-integration.sh does).
set -u
. "$(dirname "$0")/lib.sh"
B=$(cd "$1" && pwd)
D="$B/tests/tools/p0f_drive"
mktmp
P0F=""
SILENT=""
trap 'for p in $P0F $SILENT; do kill -CONT $p; kill $p; done 2>/dev/null; wait 2>/dev/null; rm -rf "$T"' EXIT

if ! command -v p0f >/dev/null; then
    notok "p0f is installed (scripts/install-deps.sh)"
    finish
    exit 1
fi

PORT=17025
S="$T/p0f.sock"
# The loopback SYN of this Linux (p0f prints it as raw_sig) under a label
# of our choosing: the client becomes "Windows 7 or 8".
cat > "$T/test.fp" <<'FP'
classes = win,unix,other

[tcp:request]

label = s:win:Windows:7 or 8
sig   = *:64:0:*:mss*1,10:mss,sok,ts,nop,ws:df,id+:0
FP

p0f -i lo -f "$T/test.fp" -s "$S" "tcp port $PORT" > "$T/p0f.log" 2>&1 &
P0F=$!
for _ in $(seq 50); do [ -S "$S" ] && break; sleep 0.1; done
check "p0f listens on its API socket" test -S "$S"

field() { printf '%s\n' "$1" | sed -n "s/.*ms=\([0-9]*\).*/\1/p"; }

out=$("$D" probe "$S" $PORT 1000 10)
same "a client p0f saw connect is labelled by the fingerprint file" \
    "$(printf 'known Windows\t7 or 8\tdist=0')" "${out% ms=*}"
check "and answered well within the timeout ($(field "$out") ms)" test "$(field "$out")" -lt 500
out=$("$D" query "$S" 127.0.0.2 300)
same "p0f remembers the host" "$(printf 'known Windows\t7 or 8\tdist=0')" "${out% ms=*}"

out=$("$D" query "$S" 127.0.0.9 300)
same "an address p0f has not seen is unknown, with the reason" \
    "$(printf 'unknown p0f has not seen this address')" "${out%%	*}"
check "at once without retries ($(field "$out") ms)" test "$(field "$out")" -lt 50
out=$("$D" query "$S" 127.0.0.9 300 50)
same "asked again while not seen, it stays unknown" \
    "unknown p0f has not seen this address" "${out%%	*}"
check "retries end by the timeout ($(field "$out") ms)" test "$(field "$out")" -ge 200 -a "$(field "$out")" -lt 350
out=$("$D" query "$S" ::1 300)
same "an IPv6 address is asked as IPv6" "unknown p0f has not seen this address" "${out%%	*}"

kill -STOP $P0F
out=$("$D" query "$S" 127.0.0.2 200)
kill -CONT $P0F
same "a hung p0f is unknown" "unknown p0f timed out" "${out%%	*}"
check "within the timeout ($(field "$out") ms)" test "$(field "$out")" -ge 195 -a "$(field "$out")" -lt 300
out=$("$D" query "$S" 127.0.0.2 300)
same "p0f answers again when it wakes up" "known Windows" "${out%%	*}"

kill $P0F
wait $P0F 2>/dev/null
P0F=""
check "p0f leaves its socket file behind" test -S "$S"
out=$("$D" query "$S" 127.0.0.2 300)
same "p0f gone (its socket left behind) is not running" "unknown p0f is not running" "${out%%	*}"
check "known at once ($(field "$out") ms)" test "$(field "$out")" -lt 20
out=$("$D" query "$T/none.sock" 127.0.0.2 300)
same "no socket at all is not running" "unknown p0f is not running" "${out%%	*}"

"$D" silent "$T/silent.sock" &
SILENT=$!
for _ in $(seq 50); do [ -S "$T/silent.sock" ] && break; sleep 0.1; done
out=$("$D" query "$T/silent.sock" 127.0.0.2 200 20)
same "a socket that never answers is unknown" "unknown p0f timed out" "${out%%	*}"
check "after the timeout and no later ($(field "$out") ms)" test "$(field "$out")" -ge 195 -a "$(field "$out")" -lt 300

finish
