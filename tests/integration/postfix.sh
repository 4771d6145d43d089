#!/bin/bash
# postfix.sh - a private Postfix with smtpd_milters = policy-milter, relaying
# to smtp-sink: what the library rejects is rejected with the library's own
# reply, everything else arrives intact (with the edits), once; per-client
# rules from tcp.smtp.cdb work under Postfix; milter down = tempfail.  Then
# the load test: 200 concurrent sessions, 20,000 messages (POSTFIX_LOAD_MESSAGES)
# with SIGHUP reloads during the run: none lost, none twice, no tempfail, and
# the milter's memory does not grow.
# Run inside a private network namespace (tests/run-integration.sh does).
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/postfix_lib.sh"
pf_test_begin "$1"

# test clients, all on loopback
for a in 192.0.2.10 192.0.2.66 192.0.2.77 192.0.2.99; do ip addr add "$a/32" dev lo; done
ip addr add 2001:db8::25/128 dev lo nodad 2>/dev/null

printf 'blocked@sink.test\n' > "$T/badrcptto"
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
[regex]
badrcptto = $T/badrcptto
header_block = Subject: make\\s+money\\s+fast
CONF

pf_test_world
postconf -c "$T/pf/conf" -e "non_smtpd_milters = $SOCK"
# a second smtpd whose clients look authenticated: Postfix gives
# {auth_authen} this value when SASL set none (milter_macro_defaults);
# -v logs the macro lists and the macros Postfix sends
AUTHPORT=$(( PORT + 2 ))
echo "127.0.0.1:$AUTHPORT inet n - n - - smtpd -v -o { milter_macro_defaults = {auth_authen}=alice@sink.test }" \
    >> "$T/pf/conf/master.cf"
check "the private Postfix starts" pf_start "$T/pf"

reply_to() { grep -E '^<\*\* ' | head -1 | sed 's/^<\*\* //'; }
library_text() { # what policyctl says the library answers for RCPT $2 from $1
    "$POLICYCTL" check -c "$T/policy.conf" --ip "$1" --helo client.test \
        --from sender@client.test --rcpt "$2" | awk -F'\t' '$1 == "rcpt" { print $3 " " $4 " " $6 }'
}
delivered() { cat "$T"/sink/* 2>/dev/null | grep -c "^X-Marker: $1\$"; }

# accepted and delivered intact
BODY="line one
line two with trailing spaces   
.leading dot
last line"
out=$(send 192.0.2.10 good@sink.test --header "X-Marker: m1" --body "$BODY")
check "a clean message is accepted" grep -q "^<-  250 2.0.0 Ok: queued" <<< "$out"

# rejected at RCPT with the library's code and text
out=$(send 192.0.2.10 blocked@sink.test --header "X-Marker: m2")
same "badrcptto: Postfix gives the library's reply" "$(library_text 192.0.2.10 blocked@sink.test)" \
    "$(reply_to <<< "$out")"
out=$(send 192.0.2.10 someone@elsewhere.test --header "X-Marker: m3")
same "relay refused with the library's reply" "$(library_text 192.0.2.10 someone@elsewhere.test)" \
    "$(reply_to <<< "$out")"

# one recipient refused, the other still gets the message
out=$(send 192.0.2.10 good2@sink.test,blocked@sink.test --header "X-Marker: m4")
check "mixed recipients: the message is queued" grep -q "queued as" <<< "$out"

# policy-milter asks for {auth_authen} at MAIL and for no macro at the other
# stages (smfi_setsymlist); Postfix reads an empty list as its defaults
out=$(swaks --server "127.0.0.1:$AUTHPORT" --local-interface 192.0.2.10 --helo client.test \
    --from alice@sink.test --to someone@elsewhere.test --header "X-Marker: m14" 2>&1)
check "Postfix passes {auth_authen} to the milter's macro list: the user relays" \
    grep -q "queued as" <<< "$out"
check "the milter logged the user" grep -q "ip=192.0.2.10 .*auth=alice@sink.test" "$T/milter.log"

# header block: rejected at end of DATA
out=$(send 192.0.2.10 good@sink.test --header "X-Marker: m5" --header "Subject: make money fast")
check "header block: the message is rejected with 554 5.7.1" grep -q "^<\*\* *554 5.7.1" <<< "$out"

# per-client rules from tcp.smtp.cdb
out=$(send 192.0.2.99 someone@elsewhere.test --header "X-Marker: m6")
check "tcp.smtp RELAYCLIENT: relay accepted" grep -q "queued as" <<< "$out"
out=$(send 192.0.2.66 good@sink.test --header "X-Marker: m7")
check "tcp.smtp deny: the client is refused" grep -qE "^<\*\* *5[0-9][0-9] " <<< "$out"
out=$(send 192.0.2.77 good@sink.test --header "X-Marker: m8" --header "Subject: make money fast")
check "tcp.smtp POLICY_REGEX=tag: the message is accepted" grep -q "queued as" <<< "$out"

# IPv6 client
out=$(swaks --server "[::1]:$PORT" -6 --local-interface 2001:db8::25 --helo v6.client.test \
    --from a@client.test --to good@sink.test --header "X-Marker: m9" 2>&1)
check "IPv6 client: accepted" grep -q "queued as" <<< "$out"
out=$(swaks --server "[::1]:$PORT" -6 --local-interface 2001:db8::25 --helo v6.client.test \
    --from a@client.test --to x@elsewhere.test 2>&1)
check "IPv6 client: relay refused by the library" grep -q "^<\*\* 553 5.7.1" <<< "$out"

# local submission (sendmail -> pickup -> cleanup -> non_smtpd_milters)
printf 'Subject: local\nX-Marker: m12\n\nhello\n' |
    sendmail -C "$T/pf/conf" -f root@sink.test good@sink.test
printf 'Subject: make money fast\nX-Marker: m13\n\nhello\n' |
    sendmail -C "$T/pf/conf" -f root@sink.test good@sink.test

check "the queue drains" pf_drain "$T/pf" 30
same "m1 arrived once" 1 "$(delivered m1)"
bodyfile=$(grep -l '^X-Marker: m1$' "$T"/sink/* | head -1)
# the body: after the first empty line (smtp-sink's dump lines run into the headers)
same "m1 arrived intact (body line for line)" "$BODY" \
    "$(tr -d '\r' < "$bodyfile" | awk 'b { l[++n] = $0 } !b && /^$/ { b = 1 }
        END { while (n > 0 && l[n] == "") n--; for (i = 1; i <= n; i++) print l[i] }')"
same "m2 (rejected) never arrived" 0 "$(delivered m2)"
same "m4 arrived once, for the good recipient" 1 "$(delivered m4)"
check "m4 went to good2 only" grep -q "good2@sink.test" "$(grep -l '^X-Marker: m4$' "$T"/sink/*)"
same "m5 (header block) never arrived" 0 "$(delivered m5)"
same "m6 relayed once" 1 "$(delivered m6)"
same "m7 (denied client) never arrived" 0 "$(delivered m7)"
same "m8 arrived once" 1 "$(delivered m8)"
check "m8 carries the X-Policy-Tag edit" grep -q "^X-Policy-Tag: " "$(grep -l '^X-Marker: m8$' "$T"/sink/*)"
same "m9 (IPv6) arrived once" 1 "$(delivered m9)"
same "m14 (authenticated) relayed once" 1 "$(delivered m14)"
check "m14: Postfix takes the milter's list for MAIL" \
    grep -q 'override SMFIM_ENVFROM macro list with "{auth_authen} {opMode}"' "$T/pf/maillog"
check "m14: Postfix reads an empty list (connect) as its default macros" \
    grep -q "event: SMFIC_CONNECT; macros: j=mx.postfix.test" "$T/pf/maillog"
same "m12 (local submission) arrived once" 1 "$(delivered m12)"
check "m13 (local, header block) bounced by the milter's verdict" \
    grep -q "status=bounced (message rejected: header Subject blocked by policy)" "$T/pf/maillog"

# milter down: milter_default_action = tempfail defers, nothing is accepted unchecked
kill "$MPID"; wait "$MPID"; MPID=""
out=$(send 192.0.2.10 good@sink.test --header "X-Marker: m10")
check "milter down: Postfix defers with 4xx" grep -qE "^<\*\* *4[0-9][0-9] " <<< "$out"
check "policy-milter restarts" start_milter
sleep 1
out=$(send 192.0.2.10 good@sink.test --header "X-Marker: m11")
check "milter back: accepted again" grep -q "queued as" <<< "$out"
pf_drain "$T/pf" 30
same "m10 never arrived" 0 "$(delivered m10)"

# ------------------------------------------------------------ load test
N=${POSTFIX_LOAD_MESSAGES:-20000}
rm -rf "$T/sink"/*
rss() { awk '/^VmRSS/ { print $2 }' "/proc/$MPID/status"; }
smtp-source -s 200 -m 2000 -l 1024 -N -f load@client.test -t warm@sink.test "127.0.0.1:$PORT" \
    2> "$T/warm.err"
pf_drain "$T/pf" 120
rss_before=$(rss)
log_mark=$(wc -l < "$T/pf/maillog")
( while kill -0 "$MPID" 2>/dev/null; do sleep 0.5; kill -HUP "$MPID" 2>/dev/null; done ) &
HUPPER=$!
start=$(date +%s.%N)
smtp-source -s 200 -m "$N" -l 1024 -N -f load@client.test -t rcpt@sink.test "127.0.0.1:$PORT" \
    2> "$T/load.err"
sent_status=$?
end=$(date +%s.%N)
kill "$HUPPER"; wait "$HUPPER" 2>/dev/null
check "load: the queue drains" pf_drain "$T/pf" 300
rss_after=$(rss)
same "load: smtp-source saw no error" "0 " "$sent_status $(grep -v '^$' "$T/load.err" | head -3)"
reloads=$(grep -c "reloaded" "$T/milter.log")
# smtp-source -N numbers the recipients: NNNrcpt@sink.test, one per message
got=$(grep -h "^X-Rcpt-Args: <[0-9]*rcpt@sink.test>" "$T"/sink/* 2>/dev/null | wc -l)
uniq=$(grep -h "^X-Rcpt-Args: <[0-9]*rcpt@sink.test>" "$T"/sink/* 2>/dev/null | sort -u | wc -l)
same "load: every message arrived" "$N" "$got"
same "load: none arrived twice" "$N" "$uniq"
same "load: no milter tempfail or reject in the Postfix log" 0 \
    "$(tail -n +$((log_mark + 1)) "$T/pf/maillog" |
      grep -cE 'milter-(reject|tempfail|discard)|milter.*(error|timeout)|4\.7\.1 Service unavailable')"
check "load: SIGHUP reloads happened during the run ($reloads)" test "$reloads" -ge 2
# Leaks are judged exactly by LeakSanitizer (the ASan run of this script:
# exit status below) and valgrind (next section).  RSS moves by a few MB
# with glibc's per-thread arenas, so it only guards against a gross leak:
# 16 MB over 20,000 messages is 800 bytes per message.  Under ASan the
# quarantine of freed memory (256 MB) makes RSS meaningless: LSan decides.
grow=$(( rss_after - rss_before ))
if nm "$MILTER" 2>/dev/null | grep -q __asan_init; then
    echo "load: milter RSS before ${rss_before} kB, after ${rss_after} kB (ASan quarantine; LSan checks leaks at exit)"
else
    check "load: milter RSS did not grow by 16 MB (before ${rss_before} kB, after ${rss_after} kB)" \
        test "$grow" -lt 16384
fi
awk -v n="$N" -v s="$start" -v e="$end" -v r="$reloads" \
    'BEGIN { printf "load: %d messages, 200 sessions, %.1f s, %.0f msg/s, %d reloads\n", n, e - s, n / (e - s), r }'
kill -TERM "$MPID"; wait "$MPID"; st=$?; MPID=""
same "the milter exits 0 after the load (no leak report under ASan)" 0 "$st"

# ------------------------------------------------------------ valgrind under Postfix
if command -v valgrind >/dev/null && ! nm "$MILTER" 2>/dev/null | grep -q __asan_init; then
    V=${POSTFIX_VALGRIND_MESSAGES:-1000}
    rm -f "$T/milter.sock"
    valgrind -q --error-exitcode=9 --leak-check=full --errors-for-leak-kinds=definite \
        --suppressions="$(dirname "$0")/milter/libmilter.supp" --log-file="$T/valgrind.out" \
        "$MILTER" -f -c "$T/policy.conf" -p "$SOCK" 2>> "$T/milter.log" &
    MPID=$!
    for _ in $(seq 300); do [ -S "$T/milter.sock" ] && grep -q started "$T/milter.log" && break; sleep 0.1; done
    reloads0=$(grep -c "reloaded" "$T/milter.log")
    # each SIGHUP once the reload before it is logged: SIGHUPs that come
    # while a reload runs are merged into one more (valgrind makes it slow)
    ( for i in 1 2 3 4 5; do
          sleep 1
          kill -HUP "$MPID" 2>/dev/null
          for _ in $(seq 300); do
              [ "$(grep -c "reloaded" "$T/milter.log")" -ge $((reloads0 + i)) ] && break
              sleep 0.1
          done
      done ) &
    HUPPER=$!
    smtp-source -s 50 -m "$V" -l 1024 -N -f vg@client.test -t vg@sink.test "127.0.0.1:$PORT" \
        2> "$T/vg.err"
    wait "$HUPPER"
    pf_drain "$T/pf" 120
    same "valgrind: $V messages through Postfix, none lost" "$V" \
        "$(grep -h "^X-Rcpt-Args: <[0-9]*vg@sink.test>" "$T"/sink/* 2>/dev/null | sort -u | wc -l)"
    same "valgrind: the daemon reloaded at each of the 5 SIGHUPs" 5 \
        "$(( $(grep -c "reloaded" "$T/milter.log") - reloads0 ))"
    kill -TERM "$MPID"; wait "$MPID"; st=$?; MPID=""
    same "valgrind: the daemon under load and reloads is clean" 0 "$st"
    [ "$st" = 0 ] || head -40 "$T/valgrind.out"
fi
finish
