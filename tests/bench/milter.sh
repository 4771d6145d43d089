#!/bin/bash
# milter.sh BUILD_DIR [MESSAGES] [ROUNDS] - Postfix throughput with and
# without milters, side by side in one run, same Postfix, same client
# (smtp-source, 20 sessions, 1 KB messages):
#   none        Postfix with no milter
#   null/unix   a do-nothing libmilter filter (null_milter), unix socket
#   policy/unix policy-milter with every local layer on, unix socket
#   null/inet, policy/inet   the same over TCP
# One Postfix serves all five on five smtpd ports; the rounds interleave
# the five and the median of the rounds is reported, with policy/null as
# the ratio (target >= 0.9).  Then the time of one callback round trip,
# measured with miltertest against both filters.
# Runs itself inside a private network namespace (root).
set -eu
B=$(cd "${1:?usage: milter.sh BUILD_DIR [MESSAGES] [ROUNDS]}" && pwd)
M=${2:-3000}
R=${3:-3}
HERE=$(cd "$(dirname "$0")" && pwd)
if [ -z "${POLICY_IN_NETNS:-}" ]; then
    exec env POLICY_IN_NETNS=1 unshare --net -- sh -c 'ip link set lo up && exec bash "$@"' ns "$0" "$@"
fi
. "$HERE/../integration/postfix_lib.sh"
. "$HERE/rate_lib.sh"
T=$(mktemp -d /tmp/libpolicy-bench.XXXXXX)
chmod 755 "$T"
PIDS=""
trap 'set +e; pf_stop "$T/pf"; sink_stop; for p in $PIDS; do kill $p 2>/dev/null; done; wait 2>/dev/null; rm -rf "$T"' EXIT

# every local layer on (layers_conf.sh); clients are not customers
. "$HERE/layers_conf.sh"
layers_conf "$T" sink.test 192.0.2.0/24

BASE=$(( 20000 + RANDOM % 20000 ))
SINK=$BASE NP=$((BASE + 1)) PP=$((BASE + 2))
"$B/tests/bench/null_milter" -p "unix:$T/null.sock" -H & PIDS="$PIDS $!"
"$B/tests/bench/null_milter" -p "inet:$NP@127.0.0.1" -H & PIDS="$PIDS $!"
"$B/adapters/milter/policy-milter" -f -c "$T/policy.conf" -p "unix:$T/policy.sock" 2>/dev/null & PIDS="$PIDS $!"
"$B/adapters/milter/policy-milter" -f -c "$T/policy.conf" -p "inet:$PP@127.0.0.1" 2>/dev/null & PIDS="$PIDS $!"
sink_start "$T/sink" "$SINK"
pf_setup "$T/pf" $((BASE + 10)) "$SINK" ""
names="none null/unix policy/unix null/inet policy/inet"
milters=("" "unix:$T/null.sock" "unix:$T/policy.sock" "inet:127.0.0.1:$NP" "inet:127.0.0.1:$PP")
i=0
for n in $names; do
    echo "127.0.0.1:$((BASE + 20 + i)) inet n - n - - smtpd -o smtpd_milters=${milters[$i]}" \
        >> "$T/pf/conf/master.cf"
    i=$((i + 1))
done
pf_start "$T/pf"
sleep 1

DRAIN="pf_drain $T/pf 300"
ports=""
i=0
for n in $names; do ports="$ports $n=$((BASE + 20 + i))"; i=$((i + 1)); done
rate_rounds "$ports"
rate_table "milter throughput: Postfix 3.7, smtp-source 20 sessions, $M messages of 1 KB per run, median of $R interleaved rounds" "$names"
for k in unix inet; do
    awk -v p="$(echo "${RES[policy/$k]}" | median)" -v z="$(echo "${RES[null/$k]}" | median)" -v k="$k" \
        'BEGIN { printf "  policy/null over %s: %.2f (target >= 0.90)\n", k, p / z }'
done
if [ -s "$T/source.err" ]; then echo "  smtp-source errors:"; head -5 "$T/source.err"; fi

# one callback round trip, measured with miltertest: K x (MAIL + RCPT + RSET)
K=$(( M > 5000 ? 5000 : M ))
declare -A base
cat > "$T/rt.lua" <<'LUA'
local c = mt.connect(os.getenv("SOCK"), 40, 0.25)
mt.conninfo(c, "mx.client.test", "198.51.100.1")
mt.helo(c, "mx.client.test")
for i = 1, tonumber(os.getenv("K")) do
    mt.mailfrom(c, "<bench@client.test>")
    mt.rcptto(c, "<rcpt@sink.test>")
    mt.abort(c)
end
mt.disconnect(c)
LUA
# rt SOCK K -> seconds for one miltertest run of K loops
rt() {
    local s e
    s=$(date +%s.%N); SOCK=$1 K=$2 miltertest -s "$T/rt.lua"; e=$(date +%s.%N)
    awk -v s="$s" -v e="$e" 'BEGIN { printf "%.6f\n", e - s }'
}
# the round trip is latency between two processes on two cores: noisy, so
# 7 interleaved runs per filter, the median, minus miltertest's own start
declare -A us
for f in null policy; do base[$f]=$(rt "unix:$T/$f.sock" 0); done
for r in 1 2 3 4 5 6 7; do
    for f in null policy; do
        us[$f]="${us[$f]:-} $(awk -v t="$(rt "unix:$T/$f.sock" "$K")" -v b="${base[$f]}" -v k="$K" \
            'BEGIN { printf "%.1f", (t - b) / (2 * k) * 1e6 }')"
    done
done
rn=$(echo "${us[null]}" | median); rp=$(echo "${us[policy]}" | median)
echo "callback round trip (miltertest, $K x MAIL+RCPT+RSET, unix socket, median of 7 interleaved runs):"
echo "  null_milter   $rn us   (runs:${us[null]})"
echo "  policy-milter $rp us   (runs:${us[policy]})"
echo "  policy/null   $(awk -v a="$rp" -v b="$rn" 'BEGIN { printf "%.2f", a / b }')"
