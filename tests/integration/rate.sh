#!/bin/bash
# rate.sh BUILD_DIR - the rate layer on real stores, through the qmail glue
# under the real tcpserver: fifty qmail-smtpd-like processes from one
# client at once get exactly the configured number of messages (and of
# connections) through, on LMDB and on a private redis-server; outbound
# limits per authenticated user across policyctl processes, logged loudly;
# per-client limits from tcp.smtp; over_delay greets a client over its
# connections limit late instead; Redis killed during a run is the
# layer's on_error (tempfail, or accept), one timeout per session at most.
# Run inside a private network namespace (tests/run-integration.sh does).
set -u
. "$(dirname "$0")/lib.sh"
B=$(cd "$1" && pwd)
DRIVE="$B/tests/tools/qpolicy_drive"
POLICYCTL="$B/adapters/cli/policyctl"
mktmp
REDIS="" SRVS=""
trap 'kill $SRVS 2>/dev/null; [ -n "$REDIS" ] && { kill -CONT $REDIS; kill $REDIS; } 2>/dev/null; wait 2>/dev/null; rm -rf "$T"' EXIT
for tool in redis-server tcpserver; do
    command -v $tool >/dev/null || { notok "$tool is installed (scripts/install-deps.sh)"; finish; exit 1; }
done
for a in 20 21 22 23 24 25; do ip addr add "127.0.0.$a/8" dev lo 2>/dev/null; done

RPORT=$(( 20000 + RANDOM % 20000 ))
check "redis-server starts on 127.0.0.1:$RPORT" redis_start $RPORT

# conf NAME STORE RATE-KEYS... - a configuration file $T/NAME.conf
conf() {
    local name=$1 store=$2
    shift 2
    { printf '[general]\nstore = %s\n[customers]\nlocal_domains = example.test\n' "$store"
      printf 'trusted_networks = 192.0.2.0/24\n[rate]\n'
      printf '%s\n' "$@"; } > "$T/$name.conf"
}
LMDB="lmdb:$T/state"
REDISURI="redis://127.0.0.1:$RPORT?timeout=200"
# fifty processes at once on a loaded machine: no store error from impatience
PATIENT="redis://127.0.0.1:$RPORT?timeout=5000&connect_timeout=5000"
for s in lmdb redis; do
    st=$LMDB; [ $s = redis ] && st=$PATIENT
    conf msg-$s "$st" "connections = 0" "messages = 20/1h"
    conf conn-$s "$st" "connections = 20/1m" "messages = 0" "delay_reject = no"
done
conf tcp "$LMDB" "connections = 0" "messages = 100/1h"
conf slow "$LMDB" "connections = 2/1m" "messages = 0" "over_delay = 1500ms"
printf '[botnet]\ngreet_delay = 0\n' >> "$T/slow.conf"
printf '127.0.0.24:allow,POLICY_RATE_MESSAGES="2/1h"\n:allow\n' > "$T/tcp.smtp"
tcprules "$T/tcp.smtp.cdb" "$T/tcp.smtp.tmp" < "$T/tcp.smtp"

# serve NAME PORT - the glue under tcpserver with $T/NAME.conf (-c 200:
# every client at once gets its own process)
serve() {
    POLICY_CONFIG="$T/$1.conf" RCPTHOSTS=example.test \
        tcpserver -H -R -l 0 -c 200 -x "$T/tcp.smtp.cdb" 127.0.0.1 "$2" "$DRIVE" 2>> "$T/glue.err" &
    SRVS="$SRVS $!"
    for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null && return 0; sleep 0.1; done
    return 1
}
P=$(( RPORT + 1 ))
declare -A PORTS
for c in msg-lmdb msg-redis conn-lmdb conn-redis tcp slow; do
    PORTS[$c]=$P
    check "tcpserver with $c.conf listens on $P" serve $c $P
    P=$(( P + 1 ))
done

printf 'HELO client.test\nMAIL a@sender.test\nRCPT good@example.test\nQUIT\n' > "$T/cmds"
# burst NAME IP N - N clients from IP at once; their transcripts in $T/burst.*
burst() {
    rm -f "$T"/burst.*
    for i in $(seq "$3"); do
        timeout 30 tcpclient -H -R -l 0 -i "$2" 127.0.0.1 "${PORTS[$1]}" \
            sh -c "cat '$T/cmds' >&7; cat <&6" > "$T/burst.$i" 2>/dev/null &
    done
    wait $(jobs -p | grep -vw -e "$REDIS" $(printf -- '-e %s ' $SRVS)) 2>/dev/null
}
count() { cat "$T"/burst.* | tr -d '\r' | grep -c "^$1" || true; }
# rcpts TEXT - how many clients got TEXT at RCPT (their fourth line)
rcpts() { for f in "$T"/burst.*; do tr -d '\r' < "$f" | sed -n 4p; done | grep -c "^$1" || true; }

for s in lmdb redis; do
    burst msg-$s 127.0.0.20 50
    same "$s: 50 processes at once, messages = 20/1h: exactly 20 accepted" 20 "$(rcpts '250 ok')"
    same "$s: ... and exactly 30 refused with 451 4.7.1" 30 \
        "$(count '451 4.7.1 Too many messages from your address, try again later')"
    burst conn-$s 127.0.0.21 50
    same "$s: 50 connections at once, connections = 20/1m: exactly 20 greeted" 20 "$(count '220 drive')"
    same "$s: ... and exactly 30 refused at connect with 421 4.7.1" 30 \
        "$(count '421 4.7.1 Too many connections from your address, try again later')"
done
burst msg-lmdb 127.0.0.22 5
same "another client counts on its own" 5 "$(rcpts '250 ok')"

# per-client limits from tcp.smtp (SpamThrottle's per-IP-block settings)
burst tcp 127.0.0.24 5
same "tcp.smtp POLICY_RATE_MESSAGES=2/1h for one client: 2 of 5 accepted" 2 "$(rcpts '250 ok')"
burst tcp 127.0.0.23 5
same "the file's 100/1h for the others: 5 of 5" 5 "$(rcpts '250 ok')"

# SpamThrottle's slowing down (over_delay): over the connections limit the
# client is greeted late, not refused; it waits for the greeting, then
# sends its commands.  Each line: ms to the greeting|the RCPT reply
greeted() {
    timeout 30 tcpclient -H -R -l 0 -i 127.0.0.25 127.0.0.1 "${PORTS[slow]}" sh -c '
        s0=$(date +%s%N); IFS= read -r g <&6; t=$(( ($(date +%s%N) - s0) / 1000000 ))
        printf "HELO c.test\r\nMAIL a@sender.test\r\nRCPT good@example.test\r\nQUIT\r\n" >&7
        echo "$t|$(tr -d "\r" <&6 | sed -n 3p)"' 2>/dev/null
}
for i in 1 2 3; do greeted; done > "$T/slow.out"
same "over_delay: the first two connections are greeted at once and accepted" "2" \
    "$(head -2 "$T/slow.out" | awk -F'|' '$1 < 1000 && $2 == "250 ok"' | wc -l)"
t3=$(sed -n 3p "$T/slow.out")
check "over_delay = 1500ms: the third is greeted after the delay (${t3%%|*} ms), not refused" \
    awk -F'|' -v l="$t3" 'BEGIN { split(l, f, "|"); exit !(f[1] >= 1400 && f[2] == "250 ok") }'

# ------------------------------------------------------------ outbound
for s in lmdb redis; do
    st=$LMDB; [ $s = redis ] && st=$REDISURI
    conf out-$s "$st" "auth_messages = 3/1h" "auth_recipients = 100/1h"
    codes=""
    for i in 1 2 3 4 5; do
        "$POLICYCTL" check -v -c "$T/out-$s.conf" --ip 203.0.113.9 --helo c.test --auth alice \
            --from alice@example.test --rcpt friend@elsewhere.test > "$T/pc.out" 2>> "$T/pc-$s.err"
        codes="$codes$?"
    done
    same "$s: auth_messages = 3/1h: alice's 4th and 5th messages are deferred" "00022" "$codes"
    same "$s: ... with the sending limit's reply" \
        "rcpt	tempfail	451	4.7.1	rate	Sending limit reached: 3 messages in 1h, try again later" \
        "$(grep '^rcpt' "$T/pc.out")"
    check "$s: ... and logged loudly" grep -q "rate: OUTBOUND LIMIT REACHED by user alice: 4 messages in 1h" "$T/pc-$s.err"
    "$POLICYCTL" check -c "$T/out-$s.conf" --ip 203.0.113.9 --helo c.test --auth bob \
        --from bob@example.test --rcpt friend@elsewhere.test > /dev/null 2>&1
    same "$s: another user is not affected" 0 $?
done

# ------------------------------------------------------------ Redis killed during a run
conf down "$REDISURI" "connections = 0" "messages = 100000/1h"
conf down-accept "$REDISURI" "connections = 0" "messages = 100000/1h" "on_error = accept"
# loop CONF SECONDS - sessions one after another for a while: the RCPT reply
# and the milliseconds of each, one line per session
loop() {
    local end=$(( $(date +%s) + $2 ))
    while [ "$(date +%s)" -lt "$end" ]; do
        s0=$(date +%s%N)
        r=$(printf 'HELO c.test\nMAIL a@sender.test\nRCPT good@example.test\nQUIT\n' |
            env POLICY_CONFIG="$T/$1.conf" TCPREMOTEIP=127.0.0.23 RCPTHOSTS=example.test "$DRIVE" |
            tr -d '\r' | sed -n 4p)
        echo "$r|$(( ($(date +%s%N) - s0) / 1000000 ))"
    done
}
loop down 3 > "$T/loop" &
lp=$!
loop down-accept 3 > "$T/loop-accept" &
lpa=$!
sleep 1
{ kill -9 $REDIS && wait $REDIS; } 2>/dev/null
REDIS=""
wait $lp $lpa
check "Redis up: sessions counted and accepted" grep -q '^250 ok|' "$T/loop"
check "Redis killed: on_error = tempfail defers with 451 4.3.0" \
    grep -q '^451 4.3.0 temporary failure checking sending limits, try again later|' "$T/loop"
same "Redis killed: nothing else answered" 0 "$(grep -vc -e '^250 ok|' -e '^451 4.3.0 ' "$T/loop")"
same "Redis killed: on_error = accept lets every session on" 0 "$(grep -vc '^250 ok|' "$T/loop-accept")"
max=$(cut -d'|' -f2 "$T/loop" "$T/loop-accept" | sort -n | tail -1)
check "no session waited for Redis beyond one timeout (200 ms; slowest session $max ms)" test "$max" -lt 1000

finish
