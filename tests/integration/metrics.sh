#!/bin/bash
# metrics.sh - policy-milter -m under a private Postfix: /metrics answers
# during a load test (smtp-source, refusals, SIGHUP reloads, a reload that
# fails) while mail flows; afterwards its counters equal the decision
# lines of the same run series by series, the sessions equal Postfix's
# connections, and `policyctl stats` of that log agrees.  The endpoint
# itself: only GET /metrics, bounded heads, idle and stalled clients
# dropped, and while they hold every place mail still flows.
# Run inside a private network namespace (tests/run-integration.sh does).
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/postfix_lib.sh"
pf_test_begin "$1"
HERE=$(cd "$(dirname "$0")" && pwd)
N=${METRICS_LOAD_MESSAGES:-3000}

ip addr add 192.0.2.10/32 dev lo
# smtp-source -N numbers the recipients 0rcpt@, 1rcpt@ ...: every tenth is
# warned about (smtp-source gives up on a refusal); the refusals come from
# clients sending alongside; attachments reads the body (message bytes)
printf '^[0-9]*7rcpt@sink\\.test$\nblocked@sink.test\n' > "$T/badrcptto"
cat > "$T/policy.conf" <<CONF
[customers]
local_domains = sink.test
trusted_networks = 127.0.0.0/8
[regex]
action = warn
badrcptto = $T/badrcptto
header_block = Subject: make\\s+money\\s+fast
[attachments]
CONF
cp "$T/policy.conf" "$T/policy.good"

# the world of postfix_lib.sh, with the metrics endpoint on
MPORT=$(( 20000 + RANDOM % 20000 ))
URL="http://127.0.0.1:$MPORT/metrics"
start_milter() {
    "$MILTER" -f -c "$T/policy.conf" -p "$SOCK" -m "127.0.0.1:$MPORT" 2>> "$T/milter.log" &
    MPID=$!
    for _ in $(seq 100); do [ -S "$T/milter.sock" ] && return 0; sleep 0.1; done
    return 1
}
pf_test_world
check "the private Postfix starts" pf_start "$T/pf"
check "the milter logs where it serves metrics" grep -q "metrics on 127.0.0.1:$MPORT" "$T/milter.log"

code=$(curl -s -o "$T/page0" -w '%{http_code}' "$URL")
same "GET /metrics answers 200" 200 "$code"
check "... in the text exposition format" grep -q '^# TYPE policy_decisions_total counter$' "$T/page0"
check "... with Content-Type text/plain; version=0.0.4" \
    sh -c "curl -sI -X GET '$URL' | grep -qi '^Content-Type: text/plain; version=0.0.4'"

# ------------------------------------------------------------ load, scraped
( for i in $(seq 20); do                           # refusals alongside the load
      send 192.0.2.10 someone@elsewhere.test > /dev/null   # relay: 553
      send 192.0.2.10 good@sink.test,x@elsewhere.test --header "Subject: make money fast" > /dev/null
  done ) &
REFUSER=$!
( i=0
  while :; do
      sleep 0.2
      s=$(curl -s -m 5 -o "$T/scrape" -w '%{http_code} %{time_total}' "$URL")
      echo "$s $(awk '/^policy_decisions_total\{/ { n += $NF } END { print n + 0 }' "$T/scrape")" \
          >> "$T/scrapes"
      i=$((i + 1))
      [ $((i % 5)) = 0 ] && kill -HUP "$MPID" 2>/dev/null
  done ) &
SCRAPER=$!
start=$(date +%s.%N)
smtp-source -s 50 -m "$N" -l 1024 -N -f load@client.test -t rcpt@sink.test "127.0.0.1:$PORT" \
    2> "$T/load.err"
sent=$?
end=$(date +%s.%N)
wait "$REFUSER"
# a reload that fails keeps the running configuration, and is counted
printf '[nosuchsection]\n' > "$T/policy.conf"
kill -HUP "$MPID"
for _ in $(seq 50); do grep -q "reload failed" "$T/milter.log" && break; sleep 0.1; done
cp "$T/policy.good" "$T/policy.conf"
kill "$SCRAPER"; wait "$SCRAPER" 2>/dev/null
check "load: the queue drains" pf_drain "$T/pf" 300
same "load: smtp-source saw no error" "0 " "$sent $(grep -v '^$' "$T/load.err" | head -3)"
scrapes=$(wc -l < "$T/scrapes")
check "/metrics answered during the load ($scrapes scrapes)" test "$scrapes" -ge 5
same "every scrape answered 200" "" "$(awk '$1 != 200' "$T/scrapes" | head -3)"
same "every scrape answered within 2 s" "" "$(awk '$2 > 2' "$T/scrapes" | head -3)"
same "the decision counters never went back" "" \
    "$(awk 'NR > 1 && $3 < last { print } { last = $3 }' "$T/scrapes" | head -3)"
check "the decision counters grew during the load" \
    test "$(awk 'NR == 1 { a = $3 } END { print ($3 > a) }' "$T/scrapes")" = 1
awk -v n="$N" -v s="$start" -v e="$end" -v k="$scrapes" \
    'BEGIN { printf "load: %d messages, 50 sessions, %.1f s, %.0f msg/s, %d scrapes\n", n, e - s, n / (e - s), k }'

# ------------------------------------------------------------ counters = log
sleep 0.5 # the last sessions close (their counts are in before the close)
curl -s -o "$T/page" "$URL"
"$POLICYCTL" stats "$T/milter.log" > "$T/stats.txt"
tap "$(/usr/bin/python3 "$HERE/metrics/compare.py" "$T/page" "$T/milter.log" "$T/stats.txt")"
value() { awk -v s="$1" '$1 == s { print $2 }' "$T/page"; }
same "policy_sessions_total = the connections Postfix logged" \
    "$(grep -c 'postfix/smtpd\[[0-9]*\]: connect from' "$T/pf/maillog")" "$(value policy_sessions_total)"
same "policy_reloads_total = the reloads the milter logged" \
    "$(grep -c ': reloaded ' "$T/milter.log")" "$(value policy_reloads_total)"
same "policy_reload_failures_total counts the failed reload" 1 "$(value policy_reload_failures_total)"
check "policy_message_bytes_total holds the load's bytes" \
    test "$(value policy_message_bytes_total)" -ge $(( N * 9 / 10 * 1024 ))
same "policy_sessions_active is 0 after the load" 0 "$(value policy_sessions_active)"
same "the load's warnings are in the log: every tenth recipient" $(( N / 10 )) \
    "$(grep -c 'libpolicy: stage=rcpt action=warn .*rcpt=[0-9]*7rcpt@sink.test layer=regex' "$T/milter.log")"
same "the refusals alongside are in the log" 40 \
    "$(grep -c 'libpolicy: stage=rcpt action=reject .*layer=customers' "$T/milter.log")"

# ------------------------------------------------------------ the endpoint itself
same "POST is refused with 405" 405 "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$URL")"
same "HEAD is refused with 405" 405 "$(curl -s -o /dev/null -w '%{http_code}' -I "$URL")"
same "another path is 404" 404 \
    "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$MPORT/")"
raw() { # raw REQUEST-BYTES -> the status line
    exec 3<>"/dev/tcp/127.0.0.1/$MPORT"
    printf '%b' "$1" >&3
    head -1 <&3 | tr -d '\r'
    exec 3<&-
}
same "a request that is no HTTP is 400" "HTTP/1.1 400 Bad Request" "$(raw 'HELLO\r\n\r\n')"
same "an HTTP/1.0 GET is served" "HTTP/1.1 200 OK" "$(raw 'GET /metrics HTTP/1.0\r\n\r\n')"
same "a request head over 4 KB is 431" "HTTP/1.1 431 Request Header Fields Too Large" \
    "$(raw "GET /metrics HTTP/1.1\r\nX-Pad: $(head -c 5000 /dev/zero | tr '\0' a)\r\n\r\n")"
# a client that sends half a request and stalls is closed by the server
exec 4<>"/dev/tcp/127.0.0.1/$MPORT"
printf 'GET /met' >&4
t0=$(date +%s)
timeout 15 cat <&4 > /dev/null
t1=$(date +%s)
exec 4<&-
check "a stalled client is closed after the 5 s limit ($((t1 - t0)) s)" \
    test $((t1 - t0)) -ge 4 -a $((t1 - t0)) -le 8
# eight idle clients hold every place: mail still flows, /metrics waits its turn
for fd in 10 11 12 13 14 15 16 17; do eval "exec $fd<>/dev/tcp/127.0.0.1/$MPORT"; done
t0=$(date +%s.%N)
out=$(send 192.0.2.10 good@sink.test --header "X-Marker: busy")
t1=$(date +%s.%N)
check "with the endpoint full, mail is accepted at once" grep -q "queued as" <<< "$out"
check "... within 3 s" awk -v a="$t0" -v b="$t1" 'BEGIN { exit !(b - a < 3) }'
res=$(curl -s -m 15 -o /dev/null -w '%{http_code} %{time_total}' "$URL")
for fd in 10 11 12 13 14 15 16 17; do eval "exec $fd<&-"; done
same "a scrape waiting behind eight idle clients is served" 200 "${res%% *}"
check "... once they are dropped, within 8 s (${res#* } s)" \
    awk -v t="${res#* }" 'BEGIN { exit !(t < 8) }'

kill -TERM "$MPID"; wait "$MPID"; st=$?; MPID=""
same "the milter exits 0 (no leak report under ASan)" 0 "$st"
check "a port that is taken: the milter refuses to start" \
    sh -c "! '$MILTER' -f -p unix:$T/m2.sock -m 127.0.0.1:$PORT 2>/dev/null"
same "-m without a port: the milter refuses to start (69)" 69 \
    "$("$MILTER" -f -p "unix:$T/m3.sock" -m 127.0.0.1 2>/dev/null; echo $?)"
finish
