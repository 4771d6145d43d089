#!/bin/bash
# sendmail.sh BUILD_DIR [MESSAGES] [ROUNDS] [SESSIONS] - Sendmail 8.17
# throughput with policy-milter over a TCP socket, over a unix socket and
# with no milter, side by side in one run: one private Sendmail
# (tests/sendmail-root.sh) with three daemons, each with its own
# InputMailFilters, the same client (smtp-source, SESSIONS parallel
# sessions, default 20, 1 KB messages) and the same messages.  With 20
# sessions the box's CPU is the limit; with a few, the time each session
# waits, stalls included.  The rounds interleave the three; the median is
# reported, with policy/none as the ratio (target >= 0.9 over TCP).  Then
# the time Sendmail takes to answer each SMTP command, one session at a
# time, which shows a per-command stall (a delayed ACK over TCP) where
# throughput only shows its sum; last, policy/inet again with quickack on
# the loopback route.
# Runs itself inside a private network namespace (root).
set -eu
B=$(cd "${1:?usage: sendmail.sh BUILD_DIR [MESSAGES] [ROUNDS] [SESSIONS]}" && pwd)
M=${2:-1000}
R=${3:-3}
SESSIONS=${4:-20}
HERE=$(cd "$(dirname "$0")" && pwd)
if [ -z "${POLICY_IN_NETNS:-}" ]; then
    # the private Sendmail comes from the apt mirror: fetch it before the
    # namespace cuts the network off
    sh "$HERE/../sendmail-root.sh" "$B" > /dev/null
    N=$(mktemp -d "${TMPDIR:-/tmp}/libpolicy-ns.XXXXXX")
    trap 'rm -rf "$N"' EXIT
    echo "nameserver 127.0.0.1" > "$N/resolv.conf"
    printf '127.0.0.1 localhost\n::1 localhost ip6-localhost\n' > "$N/hosts"
    POLICY_IN_NETNS=1 unshare --net --mount --propagation private -- sh -c \
        'ip link set lo up && mount --bind "$1/resolv.conf" /etc/resolv.conf &&
         mount --bind "$1/hosts" /etc/hosts && shift && exec bash "$@"' ns "$N" "$0" "$@"
    exit $?
fi
. "$HERE/../integration/postfix_lib.sh"
. "$HERE/../integration/sendmail_lib.sh"
. "$HERE/rate_lib.sh"
sm_find "$B" || exit 1
T=$(mktemp -d /tmp/libpolicy-bench.XXXXXX)
chmod 755 "$T"
PIDS=""
trap 'set +e; sm_stop "$T/sm"; sink_stop; for p in $PIDS; do kill $p 2>/dev/null; done; wait 2>/dev/null; rm -rf "$T"' EXIT

# every local layer on (layers_conf.sh); clients are not customers
. "$HERE/layers_conf.sh"
layers_conf "$T" sink.test 192.0.2.0/24

BASE=$(( 20000 + RANDOM % 20000 ))
SINK=$BASE PP=$((BASE + 1))
"$B/adapters/milter/policy-milter" -f -c "$T/policy.conf" -p "unix:$T/policy.sock" 2>/dev/null & PIDS="$PIDS $!"
"$B/adapters/milter/policy-milter" -f -c "$T/policy.conf" -p "inet:$PP@127.0.0.1" 2>/dev/null & PIDS="$PIDS $!"
sink_start "$T/sink" "$SINK"
names="none policy/unix policy/inet"
# the documented .mc lines, the filter defined twice (MAIL_FILTER) and
# enabled per daemon
mc="$(sm_policy_mc "local:$T/policy.sock" | sed "s/^INPUT_MAIL_FILTER(\`policy'/MAIL_FILTER(\`punix'/")
$(sm_policy_mc "inet:$PP@127.0.0.1" | sed -n "s/^INPUT_MAIL_FILTER(\`policy'/MAIL_FILTER(\`pinet'/p")
DAEMON_OPTIONS(\`Family=inet, Name=none, Port=$((BASE + 21)), Addr=127.0.0.1, Listen=128')dnl
DAEMON_OPTIONS(\`Family=inet, Name=unix, Port=$((BASE + 22)), Addr=127.0.0.1, Listen=128, InputMailFilters=punix')dnl
DAEMON_OPTIONS(\`Family=inet, Name=inet, Port=$((BASE + 23)), Addr=127.0.0.1, Listen=128, InputMailFilters=pinet')dnl"
sm_setup "$T/sm" $((BASE + 20)) "$SINK" "$mc"
for _ in $(seq 50); do [ -S "$T/policy.sock" ] && break; sleep 0.1; done
sm_start "$T/sm"

DRAIN="sm_drain $T/sm 300"
rate_rounds "none=$((BASE + 21)) policy/unix=$((BASE + 22)) policy/inet=$((BASE + 23))"
rate_table "Sendmail throughput: Sendmail 8.17, smtp-source $SESSIONS sessions, $M messages of 1 KB per run, median of $R interleaved rounds" "$names"
for k in unix inet; do
    awk -v p="$(echo "${RES[policy/$k]}" | median)" -v z="$(echo "${RES[none]}" | median)" -v k="$k" \
        'BEGIN { printf "  policy/none over %s: %.2f (target >= 0.90)\n", k, p / z }'
done
if [ -s "$T/source.err" ]; then echo "  smtp-source errors:"; head -5 "$T/source.err"; fi

# the time to each reply, one session at a time: K sessions per config
K=30
cat > "$T/lat.py" <<'PY'
import smtplib, statistics, sys, time
port, k = int(sys.argv[1]), int(sys.argv[2])
steps = {n: [] for n in ("connect", "EHLO", "MAIL", "RCPT", "DATA", "message")}
msg = b"Subject: latency\r\n\r\n" + b"x" * 1000 + b"\r\n"
def timed(name, f, *a):
    t = time.perf_counter(); r = f(*a); steps[name].append((time.perf_counter() - t) * 1000); return r
for _ in range(k):
    s = smtplib.SMTP()
    timed("connect", s.connect, "127.0.0.1", port)
    timed("EHLO", s.ehlo, "client.test")
    timed("MAIL", s.docmd, "MAIL FROM:<bench@client.test>")
    timed("RCPT", s.docmd, "RCPT TO:<rcpt@sink.test>")
    timed("DATA", s.docmd, "DATA")
    timed("message", lambda: (s.send(msg + b".\r\n"), s.getreply()))
    s.quit()
print(" ".join("%7.1f" % statistics.median(v) for v in steps.values()))
PY
echo "time to each reply in ms (median of $K sessions, one at a time):"
printf '  %-14s %7s %7s %7s %7s %7s %7s\n' config connect EHLO MAIL RCPT DATA message
i=0
for n in $names; do
    printf '  %-14s %s\n' "$n" "$(/usr/bin/python3 "$T/lat.py" $((BASE + 21 + i)) "$K")"
    i=$((i + 1))
done
# the remedy policy-milter(8) gives for TCP: ACK at once on the loopback route
if ip route change local 127.0.0.1 dev lo table local proto kernel scope host src 127.0.0.1 quickack 1 \
    2>/dev/null; then
    printf '  %-14s %s\n' "inet, quickack" "$(/usr/bin/python3 "$T/lat.py" $((BASE + 23)) "$K")"
fi
