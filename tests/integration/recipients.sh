#!/bin/bash
# recipients.sh BUILD_DIR - layer 3 (recipients, chkuser) through every
# adapter: policyctl makemap and check, policy-milter under miltertest
# (limits across RSET, tcp.smtp variables, a map rebuilt while the milter
# runs and picked up at SIGHUP with no failed lookup) and the qmail-smtpd
# glue under the real tcpserver with CHKUSER_* variables from tcp.smtp.
# Run inside a private network namespace (tests/run-integration.sh does).
set -u
. "$(dirname "$0")/lib.sh"
B=$(cd "$1" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
P="$B/adapters/cli/policyctl"
MILTER="$B/adapters/milter/policy-milter"
DRIVE="$B/tests/tools/qpolicy_drive"
mktmp
PIDS=""
. "$HERE/dns/servers.sh"
trap 'for p in $PIDS; do kill "$p" 2>/dev/null; done; dns_world_stop; wait 2>/dev/null; rm -rf "$T"' EXIT
export MTLIB="$HERE/milter/lib.lua"

cat > "$T/recipients.txt" <<'TXT'
# valid recipients of example.test
joe@example.test
Mary.Jane@Example.TEST        # folded to lowercase
sales@example.test: joe@example.test, mary.jane@example.test
list@example.test: :include:/var/lists/list
@catchall.test
TXT

# --- policyctl makemap
"$P" makemap "$T/recipients.txt" "$T/recipients.cdb"; st=$?
same "makemap builds the map" "0" "$st"
check "makemap leaves no temporary file" test -z "$(ls "$T" | grep '\.tmp\.')"
check "the map holds the folded address" sh -c "cdb -q '$T/recipients.cdb' mary.jane@example.test >/dev/null"
printf 'joe@example.test\nbad@@example.test\n' > "$T/bad.txt"
out=$("$P" makemap "$T/bad.txt" "$T/bad.cdb" 2>&1); st=$?
same "makemap refuses a bad line with exit 65" "65" "$st"
same "the error names file and line" "policyctl: $T/bad.txt:2: bad address syntax" "$out"
check "a failed makemap writes nothing" test ! -e "$T/bad.cdb"
"$P" makemap "$T/recipients.txt" >/dev/null 2>&1; same "makemap without an output is a usage error" "64" "$?"
"$P" makemap -k "$T/recipients.txt" "$T/case.cdb"; same "makemap -k builds a case-sensitive map" "0" "$?"

cat > "$T/tcp.smtp" <<'RULES'
192.0.2.20:allow,CHKUSER_RCPTLIMIT="0"
192.0.2.30:allow,CHKUSER_WRONGRCPTLIMIT="1"
192.0.2.99:allow,RELAYCLIENT=""
192.0.2.40:allow,CHKUSER_SENDER_MX=""
:allow
RULES
tcprules "$T/tcp.smtp.cdb" "$T/tcp.smtp.tmp" < "$T/tcp.smtp"
cat > "$T/policy.conf" <<CONF
[general]
tcprules = $T/tcp.smtp.cdb
[customers]
local_domains = example.test catchall.test
trusted_networks = 127.0.0.0/8
[recipients]
map = $T/recipients.cdb
rcpt_limit = 10
wrongrcpt_limit = 3
CONF

# --- policyctl check
pc() { "$P" check -c "$T/policy.conf" --ip "${IP:-192.0.2.1}" --helo client.test --from a@sender.test "$@"; }
rcpt_line() { pc --rcpt "$1" 2>&1 | grep '^rcpt'; }
same "check: unknown local recipient refused with chkuser's text" \
    "$(printf 'rcpt\treject\t550\t5.1.1\trecipients\tsorry, no mailbox here by that name')" \
    "$(rcpt_line nobody@example.test)"
pc --rcpt nobody@example.test >/dev/null 2>&1; same "check: exit 1 when the only recipient is unknown" 1 "$?"
for a in joe@example.test MARY.JANE@example.test sales@example.test list@example.test \
    joe-news@example.test joe+news@example.test anyone@catchall.test postmaster@example.test \
    '"joe"@example.test'; do
    same "check: $a accepted" "$(printf 'rcpt\tcontinue\t250\t2.1.5\t-\trecipient ok')" "$(rcpt_line "$a")"
done
out=$(pc --rcpt joe@example.test --rcpt u1@example.test --rcpt u2@example.test --rcpt u3@example.test \
    --rcpt joe@example.test --rcpt postmaster@example.test 2>&1 | grep '^rcpt' | cut -f3,4 | tr '\t\n' ' ')
same "check: wrongrcpt_limit = 3 is exact, postmaster still reachable" \
    "250 2.1.5 550 5.1.1 550 5.1.1 550 5.1.1 550 5.7.1 250 2.1.5 " "$out"
args=(); for i in $(seq 11); do args+=(--rcpt joe@example.test); done
out=$(pc "${args[@]}" 2>&1 | grep '^rcpt' | cut -f3 | sort | uniq -c | tr -s ' \n' ' ')
same "check: rcpt_limit = 10 is exact (ten 250, one 452)" " 10 250 1 452 " "$out"
out=$(IP=192.0.2.20 pc "${args[@]}" 2>&1 | grep -c $'^rcpt\tcontinue')
same "check: CHKUSER_RCPTLIMIT=0 from tcp.smtp lifts the limit" "11" "$out"
out=$(IP=192.0.2.30 pc --rcpt u1@example.test --rcpt joe@example.test 2>&1 | grep '^rcpt' | cut -f4 | tr '\n' ' ')
same "check: CHKUSER_WRONGRCPTLIMIT=1 from tcp.smtp" "5.1.1 5.7.1 " "$out"
out=$(pc --var CHKUSER_WRONGRCPTLIMIT=2 --rcpt u1@example.test --rcpt u2@example.test --rcpt joe@example.test 2>&1 | grep '^rcpt' | cut -f4 | tr '\n' ' ')
same "check: --var CHKUSER_WRONGRCPTLIMIT=2" "5.1.1 5.1.1 5.7.1 " "$out"
out=$(IP=192.0.2.99 pc --var CHKUSER_WRONGRCPTLIMIT=1 --rcpt u1@example.test --rcpt friend@remote.test \
    --rcpt joe@example.test 2>&1 | grep '^rcpt' | cut -f3 | tr '\n' ' ')
same "check: a RELAYCLIENT's remote recipients escape the wrong limit, local ones do not" "550 250 550 " "$out"

# the sender MX check (chkuser's CHKUSER_SENDER_MX) against the DNS test
# world of dns.sh: dnsmasq answers for *.test, dead.test never answers
if dns_world_start "$T/dns"; then
    cat > "$T/mx.conf" <<CONF
[general]
dns_servers = 127.0.0.1:$DNS_PORT
dns_timeout = 1s
[customers]
local_domains = example.test
[recipients]
map = $T/recipients.cdb
sender_mx = yes
CONF
    mx() { # mx SENDER [ARGS] - the RCPT line's code and enhanced code
        "$P" check -c "$T/mx.conf" --ip 192.0.2.1 --helo client.test --from "$1" \
            --rcpt joe@example.test "${@:2}" 2>&1 | grep '^rcpt' | cut -f3,4 | tr '\t' ' '
    }
    same "sender MX: a domain with an MX passes" "250 2.1.5" "$(mx a@spf-mx.test)"
    same "sender MX: a domain with only an A record passes (implicit MX)" "250 2.1.5" \
        "$(mx a@good.client.test)"
    same "sender MX: a domain with only an AAAA record passes" "250 2.1.5" "$(mx a@good6.client.test)"
    same "sender MX: no such domain is refused at RCPT" "553 5.1.8" "$(mx a@nowhere.test)"
    same "sender MX: a null MX (RFC 7505) is refused although the domain has an A" "553 5.1.8" \
        "$(mx a@nullmx.test)"
    out=$("$P" check -c "$T/mx.conf" --ip 192.0.2.1 --helo client.test --from a@nowhere.test \
        --rcpt joe@example.test 2>&1 | grep '^rcpt' | cut -f6)
    same "sender MX: chkuser's reply text" "sorry, can't find a valid MX for sender domain" "$out"
    same "sender MX: a domain whose DNS never answers is deferred" "451 4.4.3" "$(mx a@x.dead.test)"
    sed "s/^dns_servers = .*/dns_servers = 127.0.0.1:$BAD_PORT/" "$T/mx.conf" > "$T/mxbad.conf"
    out=$("$P" check -c "$T/mxbad.conf" --ip 192.0.2.1 --helo client.test --from a@spf-mx.test \
        --rcpt joe@example.test 2>&1 | grep '^rcpt' | cut -f3,4 | tr '\t' ' ')
    same "sender MX: malformed answers are deferred, never refused" "451 4.4.3" "$out"
    same "sender MX: the null sender is always allowed" "250 2.1.5" "$(mx '<>')"
    same "sender MX: CHKUSER_SENDER_MX=0 turns it off for a client" "250 2.1.5" \
        "$(mx a@nowhere.test --var CHKUSER_SENDER_MX=0)"
    sed -i 's/^sender_mx = yes/sender_mx = no/' "$T/mx.conf"
    same "sender MX: off in the file, on for a client with CHKUSER_SENDER_MX" "553 5.1.8" \
        "$(mx a@nowhere.test --var CHKUSER_SENDER_MX=)"
else
    notok "the DNS test world did not start"
fi
printf '[recipients]\nmap = %s\n' "$T/case.cdb" > "$T/case.conf"
out=$("$P" check -c "$T/case.conf" --ip 192.0.2.1 2>&1); st=$?
same "check: a case-sensitive map with fold_case = yes is refused" 78 "$st"

# --- policy-milter
S="unix:$T/m.sock"
start m "$MILTER" -f -c "$T/policy.conf" -p "$S"
check "milter: listens" wait_socket "$S"
tap() {
    while IFS= read -r line; do
        case $line in
        "ok - "*) ok "milter: ${line#ok - }" ;;
        "not ok - "*) notok "milter: ${line#not ok - }" ;;
        esac
    done <<< "$1"
}
tap "$(SOCK=$S miltertest -s "$HERE/milter/recipients.lua" 2>&1)"

# a map rebuilt while the milter runs: no failed lookup, the new one after SIGHUP
cat > "$T/new.lua" <<'LUA'
dofile(os.getenv("MTLIB"))
run(function()
    local c = session("mx.sender.test", "192.0.2.21", "mx.sender.test")
    reply(mt.mailfrom(c, "<a@sender.test>"), c)
    print((reply(mt.rcptto(c, "<newcomer@example.test>"), c) == "c") and "known" or "unknown")
    mt.disconnect(c)
end)
LUA
nl() { SOCK=$S miltertest -s "$T/new.lua" 2>&1 | tail -1; }
same "milter: before the rebuild newcomer@ is unknown" "unknown" "$(nl)"
SOCK=$S SECONDS_TO_RUN=4 miltertest -s "$HERE/milter/rcptload.lua" > "$T/load.out" 2>&1 &
LOAD=$!
for i in $(seq 30); do
    { cat "$T/recipients.txt"; for j in $(seq 2000); do echo "user$i-$j@example.test"; done
      echo newcomer@example.test; } > "$T/r2.txt"
    "$P" makemap "$T/r2.txt" "$T/recipients.cdb" || notok "makemap $i failed"
    [ $((i % 10)) = 0 ] && kill -HUP "$PID_m"
    sleep 0.1
done
wait $LOAD
for _ in $(seq 50); do [ "$(grep -c reloaded "$T/m.log")" -ge 3 ] && break; sleep 0.1; done
same "milter: three reloads happened under load" 3 "$(grep -c reloaded "$T/m.log")"
same "milter: RCPTs during 30 rebuilds and 3 reloads all continue" "refused 0" \
    "$(grep -o 'refused [0-9]*' "$T/load.out")"
check "milter: the load really ran ($(grep -o 'of [0-9]*' "$T/load.out"))" grep -q "of [1-9][0-9]" "$T/load.out"
kill -HUP "$PID_m"
for _ in $(seq 50); do [ "$(grep -c reloaded "$T/m.log")" -ge 4 ] && break; sleep 0.1; done
same "milter: after SIGHUP newcomer@ is known" "known" "$(nl)"
check "milter: no lookup failed or deferred (only the rcpt_limit's 452)" bash -c "! grep -E 'tempfail|cannot read|error' '$T/m.log' | grep -v 'code=452 xcode=4.5.3' | grep -q ."
kill -TERM "$PID_m"; wait "$PID_m"; same "milter: SIGTERM exits 0" 0 "$?"
PIDS=""

# --- the daemon with layer 3 (maps, limits, the sender MX check on its
# resolver) under valgrind (normal builds only: ASan and valgrind do not mix)
if command -v valgrind >/dev/null && ! nm "$MILTER" 2>/dev/null | grep -q __asan_init &&
    [ -n "${DNS_PORT:-}" ]; then
    { printf '[general]\ndns_servers = 127.0.0.1:%s\ndns_timeout = 1s\n' "$DNS_PORT"
      sed '/^\[general\]/d' "$T/policy.conf"; } > "$T/v.conf"
    cat > "$T/mx.lua" <<'LUA'
dofile(os.getenv("MTLIB"))
run(function()
    for _, t in ipairs({{"<a@spf-mx.test>", "c"}, {"<a@nowhere.test>", "y"}, {"<a@nullmx.test>", "y"},
                        {"<a@x.dead.test>", "y"}, {"<>", "c"}}) do
        local c = session("mx.sender.test", "192.0.2.40", "mx.sender.test")
        reply(mt.mailfrom(c, t[1]), c)
        local got = reply(mt.rcptto(c, "<joe@example.test>"), c)
        check("sender MX " .. t[1] .. " at RCPT: " .. t[2] .. " (got " .. tostring(got) .. ")", got == t[2])
        mt.disconnect(c)
    end
end)
LUA
    S="unix:$T/v.sock"
    valgrind -q --error-exitcode=9 --leak-check=full --errors-for-leak-kinds=definite \
        --suppressions="$HERE/milter/libmilter.supp" --log-file="$T/valgrind.out" \
        "$MILTER" -f -c "$T/v.conf" -p "$S" 2> "$T/v.log" &
    PID_v=$!
    PIDS="$PIDS $PID_v"
    check "valgrind: the milter listens" wait_socket "$S"
    tap "$(SOCK=$S miltertest -s "$HERE/milter/recipients.lua" 2>&1)"
    tap "$(SOCK=$S miltertest -s "$T/mx.lua" 2>&1)"
    kill -HUP "$PID_v"
    for _ in $(seq 100); do grep -q reloaded "$T/v.log" && break; sleep 0.1; done
    tap "$(SOCK=$S miltertest -s "$T/mx.lua" 2>&1)"
    kill -TERM "$PID_v"; wait "$PID_v"; st=$?
    same "valgrind: the daemon with layer 3, before and after a reload, runs clean" 0 "$st"
    [ "$st" = 0 ] || head -40 "$T/valgrind.out"
    PIDS=""
fi

# --- the qmail-smtpd glue under tcpserver, CHKUSER_* from tcp.smtp
"$P" makemap "$T/recipients.txt" "$T/recipients.cdb"
cat > "$T/qmail.tcp" <<'RULES'
127.0.0.2:allow,CHKUSER_RCPTLIMIT="3"
127.0.0.3:allow,CHKUSER_WRONGRCPTLIMIT="2"
:allow
RULES
tcprules "$T/qmail.cdb" "$T/qmail.tmp" < "$T/qmail.tcp"
sed '/^tcprules/d; /^rcpt_limit/d; /^wrongrcpt_limit/d' "$T/policy.conf" > "$T/q.conf"
PORT=$(( 20000 + RANDOM % 20000 ))
for a in 2 3 6; do ip addr add "127.0.0.$a/8" dev lo 2>/dev/null; done
POLICY_CONFIG="$T/q.conf" RCPTHOSTS="example.test catchall.test" \
    tcpserver -H -R -l 0 -x "$T/qmail.cdb" 127.0.0.1 "$PORT" "$DRIVE" 2> "$T/server.err" &
PIDS="$PIDS $!"
for _ in $(seq 50); do tcpclient -H -R -l 0 127.0.0.1 "$PORT" true 2>/dev/null && break; sleep 0.1; done
talk() {
    printf '%b' "$2" > "$T/cmds"
    timeout 10 tcpclient -H -R -l 0 -i "$1" 127.0.0.1 "$PORT" \
        sh -c "cat '$T/cmds' >&7; cat <&6" 2>/dev/null | tr -d '\r'
}
out=$(talk 127.0.0.6 'HELO c.test\nMAIL a@sender.test\nRCPT joe@example.test\nRCPT nobody@example.test\nRCPT sales@example.test\nRCPT joe-x@example.test\nRCPT x@catchall.test\nQUIT\n')
same "qmail: a known recipient" "250 ok" "$(sed -n 4p <<< "$out")"
same "qmail: an unknown one gets chkuser's reply" "550 5.1.1 sorry, no mailbox here by that name" "$(sed -n 5p <<< "$out")"
same "qmail: alias, extension, catch-all" "250 ok|250 ok|250 ok" "$(sed -n '6,8p' <<< "$out" | paste -sd'|')"
out=$(talk 127.0.0.2 'HELO c.test\nMAIL a@sender.test\nRCPT joe@example.test\nRCPT joe@example.test\nRSET\nMAIL b@sender.test\nRCPT joe@example.test\nRCPT joe@example.test\nQUIT\n')
same "qmail: CHKUSER_RCPTLIMIT=3 from tcp.smtp, counted across RSET" \
    "452 4.5.3 sorry, reached maximum number of recipients for one session" "$(sed -n 9p <<< "$out")"
out=$(talk 127.0.0.3 'HELO c.test\nMAIL a@sender.test\nRCPT u1@example.test\nRCPT u2@example.test\nRCPT joe@example.test\nQUIT\n')
same "qmail: CHKUSER_WRONGRCPTLIMIT=2: the mail bomb is refused" \
    "550 5.7.1 sorry, you are violating our security policies" "$(sed -n 6p <<< "$out")"
finish
