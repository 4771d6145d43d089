#!/bin/bash
# sendmail.sh - a private Sendmail 8.17 (tests/sendmail-root.sh) with the
# .mc lines of docs/examples/sendmail.mc, policy-milter on a TCP socket and
# smtp-sink as the next hop: relay control is the milter's (RELAYCLIENT
# from tcp.smtp.cdb, local domains, {auth_authen}), its refusals reach the
# client with the library's code and text, what Sendmail changes in them
# is what policy-milter(8) says, a message for refused and accepted recipients
# reaches only the accepted ones, an IPv6 client is checked like any
# other, milter down = 4xx (F=T), SIGHUP under load loses nothing, and
# Sendmail sends a macro packet at MAIL only (each one costs a delayed ACK
# over TCP).
# Run inside a private network namespace (tests/run-integration.sh does).
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/postfix_lib.sh"
. "$(dirname "$0")/sendmail_lib.sh"
B=$(cd "$1" && pwd)
MILTER="$B/adapters/milter/policy-milter"
POLICYCTL="$B/adapters/cli/policyctl"
# tests/run-integration.sh fetches the private Sendmail before it cuts the
# network off; this second try only helps a run outside the namespace
[ -x "$B/sendmail-root/usr/libexec/sendmail/sendmail" ] ||
    sh "$(dirname "$0")/../sendmail-root.sh" "$B" > /dev/null 2>&1
if ! why=$(sm_find "$B") || ! command -v swaks >/dev/null || ! command -v smtp-sink >/dev/null; then
    notok "a private Sendmail, swaks and smtp-sink are there" "${why:-swaks and postfix (smtp-sink) are needed}"
    finish
    exit 1
fi
sm_find "$B"   # again, in this shell: $SM_ROOT and $SENDMAIL
mktmp
chmod 755 "$T"
MPID=""
cleanup() {
    sm_stop "$T/sm"
    sm_stop "$T/stock"
    sink_stop
    [ -n "$MPID" ] && kill "$MPID" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT

# (another script of the same run may have added them already)
for a in 192.0.2.10 192.0.2.44 192.0.2.66 192.0.2.77 192.0.2.99; do ip addr add "$a/32" dev lo 2>/dev/null; done
ip addr add 2001:db8::25/128 dev lo nodad 2>/dev/null

printf 'blocked@sink.test\n' > "$T/badrcptto"
printf '^spammer@\n' > "$T/badmailfrom"
printf '^bad\\.helo\\.test$\n' > "$T/badhelo"
cat > "$T/tcp.smtp" <<'RULES'
192.0.2.66:deny
192.0.2.77:allow,POLICY_REGEX="tag"
192.0.2.99:allow,RELAYCLIENT=""
:allow
RULES
tcprules "$T/tcp.smtp.cdb" "$T/tcp.smtp.tmp" < "$T/tcp.smtp"
cat > "$T/policy.conf" <<CONF
[general]
tcprules = $T/tcp.smtp.cdb
[customers]
local_domains = sink.test
trusted_networks = 127.0.0.0/8
sender_login = address
[regex]
badhelo = $T/badhelo
badmailfrom = $T/badmailfrom
badrcptto = $T/badrcptto
header_block = Subject: make\\s+money\\s+fast
CONF

PORT=$(( 20000 + RANDOM % 20000 )) SINK=$(( PORT + 1 )) MPORT=$(( PORT + 2 ))
SOCK="inet:$MPORT@127.0.0.1"
start_milter() {
    "$MILTER" -f -c "$T/policy.conf" -p "$SOCK" 2>> "$T/milter.log" &
    MPID=$!
    for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$MPORT") 2>/dev/null && return 0; sleep 0.1; done
    return 1
}
check "policy-milter starts on a TCP socket" start_milter
check "smtp-sink starts" sink_start "$T/sink" "$SINK"
# SMTP AUTH needs a SASL setup; instead, check_mail gives {auth_authen} a
# value for 192.0.2.44 (the macro map), as a successful AUTH would
AUTHSIM=$(printf 'LOCAL_CONFIG\nKauthsim macro\nLOCAL_RULESETS\nSLocal_check_mail\n%s\n%s' \
    "R\$*	\$: \$&{client_addr}" "R192.0.2.44	\$: \$(authsim {auth_authen} \$@ alice@sink.test \$)")
check "Sendmail's .cf builds from the documented .mc lines" \
    sm_setup "$T/sm" "$PORT" "$SINK" "$(sm_policy_mc "$SOCK")
$AUTHSIM"
# -d64.20: Sendmail logs each packet it writes to a filter (-D: to a file,
# not to the client)
SM_DEBUG="-D $T/sm/debug -d64.20" check "the private Sendmail starts" sm_start "$T/sm"

send() {
    local ip=$1 to=$2
    shift 2
    swaks --server "127.0.0.1:$PORT" --local-interface "$ip" --helo client.test \
        --from sender@client.test --to "$to" "$@" 2>&1
}
reply_to() { grep -E '^<\*\* ' | head -1 | sed 's/^<\*\* //'; }
# library STAGE ARGS... - "code xcode text" policyctl gives at STAGE
library() {
    local st=$1
    shift
    "$POLICYCTL" check -c "$T/policy.conf" --helo client.test "$@" |
        awk -F'\t' -v st="$st" '$1 == st { print $3 " " $4 " " $6 }'
}
# as_sendmail "CODE XCODE TEXT" ADDR - that reply as Sendmail gives it at
# MAIL or RCPT: "<ADDR>... " first, the library's own "<ADDR>: " left out
as_sendmail() {
    local code=${1%% *} rest=${1#* }
    local xcode=${rest%% *} text=${rest#* }
    echo "$code $xcode <$2>... ${text#"<$2>: "}"
}
delivered() { cat "$T"/sink/* 2>/dev/null | grep -c "^X-Marker: $1\$"; }
file_of() { grep -l "^X-Marker: $1\$" "$T"/sink/* 2>/dev/null | head -1; }

# accepted and delivered intact
BODY="line one
line two with trailing spaces   
.leading dot
last line"
out=$(send 192.0.2.10 good@sink.test --header "X-Marker: s1" --body "$BODY")
check "a clean message is accepted" grep -q "^<-  250 2.0.0 .* Message accepted for delivery" <<< "$out"

# relay control is the milter's: Sendmail passes every RCPT on
lib=$(library rcpt --ip 192.0.2.10 --from sender@client.test --rcpt someone@elsewhere.test)
out=$(send 192.0.2.10 someone@elsewhere.test --header "X-Marker: s2")
same "relay refused with the library's reply, the address once (Sendmail's '<rcpt>... ')" \
    "$(as_sendmail "$lib" someone@elsewhere.test)" "$(reply_to <<< "$out")"
out=$(send 192.0.2.99 someone@elsewhere.test --header "X-Marker: s3")
check "tcp.smtp RELAYCLIENT (read by the milter): Sendmail relays" \
    grep -q "Message accepted for delivery" <<< "$out"

out=$(send 192.0.2.44 someone@elsewhere.test --from alice@sink.test --header "X-Marker: s13")
check "{auth_authen} at MAIL reaches the milter: the authenticated user relays" \
    grep -q "Message accepted for delivery" <<< "$out"
check "the milter logged the user" grep -q "ip=192.0.2.44 .*auth=alice@sink.test" "$T/milter.log"
# refused at MAIL itself (sender_login): Sendmail names the sender first
lib=$(library mail --ip 192.0.2.44 --auth alice@sink.test --from bob@sink.test --rcpt x@elsewhere.test)
out=$(send 192.0.2.44 someone@elsewhere.test --from bob@sink.test --header "X-Marker: s14")
same "sender_login: the library's reply at MAIL, the address once (Sendmail's '<sender>... ')" \
    "$(as_sendmail "$lib" bob@sink.test)" "$(reply_to <<< "$out")"

# the other choice: a Sendmail that keeps its own relay control (the .mc
# lines without promiscuous_relay) refuses before the milter sees RCPT
check "a Sendmail with its own relay control starts" eval \
    'sm_setup "$T/stock" $((PORT + 3)) "$SINK" "$(sm_policy_mc "$SOCK" | grep -v promiscuous_relay)" &&
     sm_start "$T/stock"'
out=$(swaks --server "127.0.0.1:$((PORT + 3))" --local-interface 192.0.2.99 --helo client.test \
    --from sender@client.test --to someone@elsewhere.test 2>&1)
# (here "450 4.4.0 ... Relaying temporarily denied. Cannot resolve PTR
# record": no DNS server answers; with an answer, 550 5.7.1 ... Relaying denied)
check "without promiscuous_relay, RELAYCLIENT from tcp.smtp cannot open the relay" \
    grep -qE "^<\*\* [45][0-9][0-9] [45]\.[0-9.]+ <someone@elsewhere.test>\.\.\. Relaying (temporarily )?denied" \
    <<< "$out"
sm_stop "$T/stock"

# the sender: badmailfrom, refused at the first RCPT (delay_reject)
lib=$(library rcpt --ip 192.0.2.10 --from spammer@client.test --rcpt good@sink.test)
out=$(send 192.0.2.10 good@sink.test --from spammer@client.test --header "X-Marker: s4")
same "badmailfrom: the library's reply at RCPT, after Sendmail's '<rcpt>... '" \
    "$(as_sendmail "$lib" good@sink.test)" "$(reply_to <<< "$out")"

# badrcptto: refused with the library's text, once
lib=$(library rcpt --ip 192.0.2.10 --from sender@client.test --rcpt blocked@sink.test)
out=$(send 192.0.2.10 blocked@sink.test --header "X-Marker: s5")
same "badrcptto: the library's reply after Sendmail's '<rcpt>... '" \
    "$(as_sendmail "$lib" blocked@sink.test)" "$(reply_to <<< "$out")"

# header block: refused at the end of DATA
out=$(send 192.0.2.10 good@sink.test --header "X-Marker: s6" --header "Subject: make money fast")
check "header block: the message is refused with 554 5.7.1" \
    grep -q "^<\*\* *554 5.7.1 message rejected: header Subject blocked by policy" <<< "$out"

# some recipients refused, the others get the message
out=$(send 192.0.2.10 good1@sink.test,blocked@sink.test,x@elsewhere.test,good2@sink.test \
    --header "X-Marker: s7")
check "mixed recipients: two refused, the message accepted" \
    test "$(grep -c '^<\*\* *553 ' <<< "$out")" = 2 -a "$(grep -c 'Message accepted' <<< "$out")" = 1

# per-client rules: deny and tag
out=$(send 192.0.2.66 good@sink.test --header "X-Marker: s8")
# Sendmail keeps only the class of a refusal at connect, not its text
same "tcp.smtp deny: Sendmail refuses the client at the greeting, with its own text" \
    "554 mx.sendmail.test ESMTP not accepting messages" "$(reply_to <<< "$out")"
out=$(swaks --server "127.0.0.1:$PORT" --local-interface 192.0.2.77 --helo bad.helo.test \
    --from sender@client.test --to good@sink.test --header "X-Marker: s9" \
    --header "Subject: make money fast" 2>&1)
check "tcp.smtp POLICY_REGEX=tag: bad HELO and blocked header only tagged" \
    grep -q "Message accepted for delivery" <<< "$out"

# IPv6 client
out=$(swaks --server "[::1]:$PORT" -6 --local-interface 2001:db8::25 --helo v6.client.test \
    --from a@client.test --to good@sink.test --header "X-Marker: s10" 2>&1)
check "IPv6 client: accepted" grep -q "Message accepted for delivery" <<< "$out"
out=$(swaks --server "[::1]:$PORT" -6 --local-interface 2001:db8::25 --helo v6.client.test \
    --from a@client.test --to x@elsewhere.test 2>&1)
check "IPv6 client: relay refused by the library" \
    grep -q "^<\*\* 553 5.7.1 <x@elsewhere.test>... Relay access denied" <<< "$out"
check "IPv6 client: the milter saw its address" grep -q "ip=2001:db8::25 " "$T/milter.log"

check "the queue drains" sm_drain "$T/sm" 30
same "s1 arrived once" 1 "$(delivered s1)"
same "s1 arrived intact (body line for line)" "$BODY" \
    "$(tr -d '\r' < "$(file_of s1)" | awk 'b { l[++n] = $0 } !b && /^$/ { b = 1 }
        END { while (n > 0 && l[n] == "") n--; for (i = 1; i <= n; i++) print l[i] }')"
same "s2 (relay refused) never arrived" 0 "$(delivered s2)"
same "s3 (RELAYCLIENT) relayed once" 1 "$(delivered s3)"
same "s13 (authenticated) relayed once" 1 "$(delivered s13)"
same "s14 (sender not the user's) never arrived" 0 "$(delivered s14)"
same "s4 (badmailfrom) never arrived" 0 "$(delivered s4)"
same "s5 (badrcptto) never arrived" 0 "$(delivered s5)"
same "s6 (header block) never arrived" 0 "$(delivered s6)"
same "s7 arrived once" 1 "$(delivered s7)"
same "s7 went to the two accepted recipients only" "<good1@sink.test> <good2@sink.test>" \
    "$(grep -h '^X-Rcpt-Args: ' "$(file_of s7)" | sed 's/^X-Rcpt-Args: //; s/\r$//' | sort | xargs)"
same "s8 (denied client) never arrived" 0 "$(delivered s8)"
same "s9 arrived once" 1 "$(delivered s9)"
# the edits are badhelo's tag (decided at HELO), then header_block's:
# Sendmail puts each added header above an earlier one of the same name
same "s9: both tags, Sendmail's order: the later edit above the earlier" "header_block badhelo" \
    "$(grep -h '^X-Policy-Tag: ' "$(file_of s9)" | awk '{ print $3 }' | xargs)"
same "s10 (IPv6) arrived once" 1 "$(delivered s10)"

# Sendmail writes a stage's macros to the filter (cmd D) and then the
# command; over TCP the command waits for the filter's delayed ACK of the
# macros (~40 ms).  policy-milter asks for macros at MAIL only.  (Read
# now: the load below runs sessions side by side and mixes the lines.)
same "Sendmail sent macros before MAIL only" "M" \
    "$(awk '/^milter_write\(policy\): cmd / { c = substr($3, 1, 1); if (d) print c; d = (c == "D") }' \
        "$T/sm/debug" |
       sort -u | xargs)"

# milter down: F=T defers, nothing is accepted unchecked
kill "$MPID"; wait "$MPID"; MPID=""
out=$(send 192.0.2.10 good@sink.test --header "X-Marker: s11")
check "milter down: Sendmail defers with 4xx (F=T)" grep -qE "^<\*\* *4[0-9][0-9] " <<< "$out"
check "policy-milter restarts" start_milter
out=$(send 192.0.2.10 good@sink.test --header "X-Marker: s12")
check "milter back: accepted again" grep -q "Message accepted for delivery" <<< "$out"

# SIGHUP under load: every message sent arrives, once
N=${SENDMAIL_LOAD_MESSAGES:-600}
check "the queue drains before the load" sm_drain "$T/sm" 30
same "s11 (milter down) never arrived" 0 "$(delivered s11)"
same "s12 arrived once" 1 "$(delivered s12)"
rm -rf "$T/sink"/*
( while kill -0 "$MPID" 2>/dev/null; do sleep 0.3; kill -HUP "$MPID" 2>/dev/null; done ) &
HUPPER=$!
start=$(date +%s.%N)
smtp-source -s 20 -m "$N" -l 1024 -N -f load@client.test -t rcpt@sink.test "127.0.0.1:$PORT" \
    2> "$T/load.err"
sent_status=$?
end=$(date +%s.%N)
kill "$HUPPER"; wait "$HUPPER" 2>/dev/null
check "load: the queue drains" sm_drain "$T/sm" 120
same "load: smtp-source saw no error" "0 " "$sent_status $(grep -v '^$' "$T/load.err" | head -3)"
reloads=$(grep -c "reloaded" "$T/milter.log")
# smtp-source -N numbers the recipients: NNNrcpt@sink.test, one per message
for _ in $(seq 50); do
    got=$(grep -h "^X-Rcpt-Args: <[0-9]*rcpt@sink.test>" "$T"/sink/* 2>/dev/null | wc -l)
    [ "$got" -ge "$N" ] && break
    sleep 0.1
done
same "load: every message arrived at the sink" "$N" "$got"
same "load: none arrived twice" "$N" \
    "$(grep -h "^X-Rcpt-Args: <[0-9]*rcpt@sink.test>" "$T"/sink/* 2>/dev/null | sort -u | wc -l)"
check "load: SIGHUP reloads happened during the run ($reloads)" test "$reloads" -ge 2
awk -v n="$N" -v s="$start" -v e="$end" -v r="$reloads" \
    'BEGIN { printf "load: %d messages, 20 sessions, %.1f s, %.0f msg/s, %d reloads\n", n, e - s, n / (e - s), r }'
kill -TERM "$MPID"; wait "$MPID"; st=$?; MPID=""
same "the milter exits 0 after the load" 0 "$st"
finish
