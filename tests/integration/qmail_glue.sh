#!/bin/bash
# qmail_glue.sh - the qmail-smtpd glue under the real tcpserver with a real
# tcp.smtp.cdb (tcprules): the variables tcpserver sets reach the library,
# the library's RCPT replies replace qmail's, a broken configuration defers
# with 451 instead of accepting unchecked.  tests/tools/qpolicy_drive calls
# the glue exactly where the patched qmail-smtpd does.
set -u
. "$(dirname "$0")/lib.sh"
B=$(cd "$1" && pwd)
DRIVE="$B/tests/tools/qpolicy_drive"
mktmp

printf 'blocked@example.test\n' > "$T/badrcptto"
printf '^bad\\.helo$\n' > "$T/badhelo"
cat > "$T/policy.conf" <<CONF
[customers]
local_domains = example.test
trusted_networks = 192.0.2.0/24
[regex]
badrcptto = $T/badrcptto
badhelo = $T/badhelo
CONF
printf '[regex]\nbadrcptto = /nonexistent/file\n' > "$T/broken.conf"
# tcpserver -H looks no names up: every client here has "no rDNS name"
printf '[customers]\nlocal_domains = example.test\ntrusted_networks = 192.0.2.0/24\n[botnet]\ngreet_delay = 0\ngreet_delay_unknown = 1500ms\n' \
    > "$T/greet.conf"
printf '[customers]\ntrusted_networks = 192.0.2.0/24\n[botnet]\nsession_limit = 1s\n' > "$T/limits.conf"
cat > "$T/tcp.smtp" <<RULES
127.0.0.2:allow,RELAYCLIENT=""
127.0.0.3:allow,POLICY_REGEX="warn"
127.0.0.4:allow,POLICY_CONFIG="$T/broken.conf"
127.0.0.5:deny
127.0.0.7:allow,POLICY_SESSION_LIMIT="1"
127.0.0.8:allow,POLICY_THROTTLE="20000"
127.0.0.9:allow,SMTPD_GREETDELAY="2"
127.0.0.10:allow,SMTPD_GREETDELAY="2",DROP_PRE_GREET="1"
127.0.0.11:allow,POLICY_CONFIG="$T/greet.conf"
127.0.0.12:allow,POLICY_CONFIG="$T/greet.conf",RELAYCLIENT=""
127.0.0.13:allow,POLICY_CONFIG="$T/limits.conf"
127.0.0.14:allow,POLICY_CONFIG="$T/limits.conf",RELAYCLIENT=""
127.0.0.15:allow,POLICY_CONFIG="$T/ap.conf"
127.0.0.16:allow,POLICY_CONFIG="$T/ap.conf",DROP_PRE_GREET="1"
192.0.2.:allow,POLICY_CONFIG="$T/dnsgreet.conf"
:allow
RULES
tcprules "$T/tcp.smtp.cdb" "$T/tcp.smtp.tmp" < "$T/tcp.smtp"

PORT=$(( 20000 + RANDOM % 20000 ))
printf '[customers]\nlocal_domains = example.test\ntrusted_networks = 192.0.2.0/24\n[botnet]\nantipipelining = yes\n' \
    > "$T/ap.conf"
for a in $(seq 2 16); do ip addr add "127.0.0.$a/8" dev lo 2>/dev/null; done
for a in 10 12 13; do ip addr add "192.0.2.$a/32" dev lo 2>/dev/null; done
POLICY_CONFIG="$T/policy.conf" RCPTHOSTS="example.test" \
    tcpserver -H -R -l 0 -x "$T/tcp.smtp.cdb" 127.0.0.1 "$PORT" "$DRIVE" 2> "$T/server.err" &
SRV=$!
. "$(dirname "$0")/dns/servers.sh"
trap 'kill $SRV 2>/dev/null; dns_world_stop; rm -rf "$T"' EXIT
for _ in $(seq 50); do tcpclient -H -R -l 0 127.0.0.1 "$PORT" true 2>/dev/null && break; sleep 0.1; done

# talk FROM_IP COMMANDS - the replies, one per line, CR removed
talk() {
    printf '%b' "$2" > "$T/cmds"
    timeout 10 tcpclient -H -R -l 0 -i "$1" 127.0.0.1 "$PORT" \
        sh -c "cat '$T/cmds' >&7; cat <&6" 2>/dev/null | tr -d '\r'
}
reply_n() { sed -n "$1p"; }

out=$(talk 127.0.0.6 'HELO client.test\nMAIL a@sender.test\nRCPT good@example.test\nRCPT blocked@example.test\nRCPT x@elsewhere.test\nQUIT\n')
same "a good local recipient is accepted" "250 ok" "$(reply_n 4 <<< "$out")"
same "badrcptto: the library's reply" "553 5.7.1 sorry, your envelope recipient has been denied" \
    "$(reply_n 5 <<< "$out")"
same "relay: the library's reply replaces qmail's" "553 5.7.1 <x@elsewhere.test>: Relay access denied" \
    "$(reply_n 6 <<< "$out")"

out=$(talk 127.0.0.2 'HELO client.test\nMAIL a@sender.test\nRCPT x@elsewhere.test\nQUIT\n')
same "tcp.smtp RELAYCLIENT reaches the library: relay accepted" "250 ok" "$(reply_n 4 <<< "$out")"

out=$(talk 127.0.0.6 'HELO bad.helo\nMAIL a@sender.test\nRCPT good@example.test\nQUIT\n')
same "badhelo: refused at RCPT (delay_reject)" "553" "$(reply_n 4 <<< "$out" | cut -c1-3)"
out=$(talk 127.0.0.3 'HELO bad.helo\nMAIL a@sender.test\nRCPT blocked@example.test\nQUIT\n')
same "tcp.smtp POLICY_REGEX=warn reaches the library: only logged" "250 ok" "$(reply_n 4 <<< "$out")"

out=$(talk 127.0.0.4 'HELO client.test\nMAIL a@sender.test\nRCPT good@example.test\nQUIT\n')
same "a configuration that does not load: MAIL deferred with 451" \
    "451 4.3.0 mail filter unavailable, try again later" "$(reply_n 3 <<< "$out")"
check "the reason is on stderr (tcpserver's log)" grep -q "libpolicy: .*broken.conf:2" "$T/server.err"

out=$(talk 127.0.0.5 'HELO client.test\nQUIT\n')
same "tcp.smtp deny: tcpserver refuses before the glue runs" "" "$out"

out=$(talk 127.0.0.6 'HELO client.test\nMAIL a@sender.test\nRCPT blocked@example.test\nRCPT good@example.test\nDATA\nRSET\nMAIL b@sender.test\nRCPT good@example.test\nQUIT\n')
same "DATA after one good recipient goes ahead" "354 go ahead" "$(reply_n 6 <<< "$out")"
same "a second transaction after RSET works" "250 ok" "$(reply_n 9 <<< "$out")"
# session time limit from tcp.smtp: 421 after 1 s, then the glue ends the process
printf 'HELO client.test\n' > "$T/cmds"
out=$(timeout 10 tcpclient -H -R -l 0 -i 127.0.0.7 127.0.0.1 "$PORT" \
    sh -c "cat '$T/cmds' >&7; sleep 3; cat <&6" 2>/dev/null | tr -d '\r')
same "POLICY_SESSION_LIMIT=1: 421 when the time is up" \
    "421 4.4.2 session time limit exceeded, closing connection" "$(reply_n 3 <<< "$out")"
for ip in 127.0.0.13 127.0.0.14; do
    out=$(timeout 10 tcpclient -H -R -l 0 -i $ip 127.0.0.1 "$PORT" \
        sh -c "cat '$T/cmds' >&7; sleep 2; echo QUIT >&7; cat <&6" 2>/dev/null | tr -d '\r')
    [ $ip = 127.0.0.13 ] && same "[botnet] session_limit = 1s: 421 when the time is up" \
        "421 4.4.2 session time limit exceeded, closing connection" "$(reply_n 3 <<< "$out")"
    [ $ip = 127.0.0.14 ] && same "[botnet] session_limit: not for customers (RELAYCLIENT)" \
        "221 drive" "$(reply_n 3 <<< "$out")"
done

# receive throttle from tcp.smtp: 60 KB at 20,000 bytes/s take about 3 s
{ for i in $(seq 60); do printf 'HELO %0999d\n' 0; done; printf 'QUIT\n'; } > "$T/bulk"
elapsed() { # elapsed IP -> seconds to push the bulk input through
    local s e
    s=$(date +%s.%N)
    timeout 20 tcpclient -H -R -l 0 -i "$1" 127.0.0.1 "$PORT" \
        sh -c "cat '$T/bulk' >&7; cat <&6 > /dev/null" 2>/dev/null
    e=$(date +%s.%N)
    awk -v s="$s" -v e="$e" 'BEGIN { printf "%.1f", e - s }'
}
slow=$(elapsed 127.0.0.8)
fast=$(elapsed 127.0.0.6)
check "POLICY_THROTTLE=20000: 60 KB take at least 2.5 s (took $slow s)" \
    awk -v t="$slow" 'BEGIN { exit !(t >= 2.5) }'
check "no throttle: the same 60 KB take under 1.5 s (took $fast s)" \
    awk -v t="$fast" 'BEGIN { exit !(t < 1.5) }'

# greeting delay and early talkers (layer 4).  timed IP SCRIPT: run SCRIPT
# as the client (fd 6 reads, fd 7 writes) and print its output, CR removed,
# then "elapsed=<seconds>"
timed() {
    local s e
    s=$(date +%s.%N)
    timeout 15 tcpclient -H -R -l 0 -i "$1" 127.0.0.1 "$PORT" sh -c "$2" 2>/dev/null | tr -d '\r'
    e=$(date +%s.%N)
    awk -v s="$s" -v e="$e" 'BEGIN { printf "elapsed=%.1f\n", e - s }'
}
secs() { sed -n 's/^elapsed=//p'; }
printf 'HELO client.test\nMAIL a@sender.test\nRCPT good@example.test\nQUIT\n' > "$T/cmds"
EARLY="cat '$T/cmds' >&7; cat <&6"                            # speaks at once
PATIENT="IFS= read -r g <&6; echo \"\$g\"; cat '$T/cmds' >&7; cat <&6" # waits for 220

out=$(timed 127.0.0.9 "$EARLY")
same "SMTPD_GREETDELAY=2, early talker: greeted after the delay all the same" "220 drive ESMTP" \
    "$(reply_n 1 <<< "$out")"
check "SMTPD_GREETDELAY=2: the early talker waited the 2 s out ($(secs <<< "$out") s)" \
    awk -v t="$(secs <<< "$out")" 'BEGIN { exit !(t >= 1.9) }'
same "early talker: refused at RCPT (delay_reject)" \
    "550 5.5.1 protocol error: talked before the greeting" "$(reply_n 4 <<< "$out")"

out=$(timed 127.0.0.10 "$EARLY")
same "DROP_PRE_GREET=1: 554 instead of the greeting, then the connection ends" \
    "554 5.5.1 protocol error: talked before the greeting
elapsed=$(secs <<< "$out")" "$out"
check "DROP_PRE_GREET=1: no waiting for the early talker ($(secs <<< "$out") s)" \
    awk -v t="$(secs <<< "$out")" 'BEGIN { exit !(t < 1.5) }'

out=$(timed 127.0.0.11 "$PATIENT")
same "greet_delay_unknown=1500ms: a patient client gets its greeting" "220 drive ESMTP" \
    "$(reply_n 1 <<< "$out")"
check "greet_delay_unknown=1500ms: held back for 1.5 s ($(secs <<< "$out") s)" \
    awk -v t="$(secs <<< "$out")" 'BEGIN { exit !(t >= 1.4 && t < 3) }'
same "a patient client is not an early talker" "250 ok" "$(reply_n 4 <<< "$out")"

out=$(timed 127.0.0.12 "$PATIENT")
check "RELAYCLIENT: customers are greeted without delay ($(secs <<< "$out") s)" \
    awk -v t="$(secs <<< "$out")" 'BEGIN { exit !(t < 0.5) }'
lines=$(wc -l < "$T/server.err")
timed 127.0.0.9 "exec 7>&- 6<&-" > /dev/null
sleep 2.5
same "a client hanging up during the delay: the glue ends quietly" "$lines" "$(wc -l < "$T/server.err")"

# antipipelining (smtp-delay): a command sent before the reply to the last
# one, where PIPELINING was not offered or the last one ended a group
out=$(talk 127.0.0.15 'HELO client.test\nMAIL a@sender.test\nRCPT good@example.test\nQUIT\n')
same "antipipelining: commands sent at once after HELO: refused at RCPT" \
    "550 5.5.1 protocol error: command sent before the reply" "$(reply_n 4 <<< "$out")"
# lockstep CMD... - a client that waits for every reply (one line each, two
# after EHLO) before its next command
lockstep() {
    local script="IFS= read -r l <&6; echo \"\$l\""
    for c in "$@"; do
        script="$script; printf '%s\\r\\n' '$c' >&7; IFS= read -r l <&6; echo \"\$l\""
        case $c in EHLO*) script="$script; IFS= read -r l <&6; echo \"\$l\"" ;; esac
    done
    timeout 10 tcpclient -H -R -l 0 -i 127.0.0.15 127.0.0.1 "$PORT" sh -c "$script" 2>/dev/null | tr -d '\r'
}
out=$(lockstep 'HELO client.test' 'MAIL a@sender.test' 'RCPT good@example.test' QUIT)
same "antipipelining: a client that waits for each reply is accepted" "250 ok" "$(reply_n 4 <<< "$out")"
# after EHLO (PIPELINING offered) MAIL, RCPT and DATA may come in one go
group() { # group IP REST - EHLO, wait for its reply, then REST at once
    timeout 10 tcpclient -H -R -l 0 -i "$1" 127.0.0.1 "$PORT" sh -c \
        "IFS= read -r l <&6; echo \"\$l\"; printf 'EHLO client.test\r\n' >&7;
         IFS= read -r l <&6; echo \"\$l\"; IFS= read -r l <&6; echo \"\$l\"; printf '$2' >&7; cat <&6" \
        2>/dev/null | tr -d '\r'
}
out=$(group 127.0.0.15 'MAIL a@sender.test\r\nRCPT good@example.test\r\nDATA\r\n')
same "antipipelining: after EHLO, MAIL RCPT DATA pipelined are accepted" "250 ok|250 ok|354 go ahead" \
    "$(sed -n '4,6p' <<< "$out" | tr '\n' '|' | sed 's/|$//')"
out=$(group 127.0.0.15 'MAIL a@sender.test\r\nRCPT good@example.test\r\nDATA\r\nSubject: x\r\n\r\nhi\r\n.\r\nQUIT\r\n')
same "antipipelining: a message sent before the 354: 421, and the connection ends" \
    "250 ok|250 ok|421 4.5.1 protocol error: command sent before the reply" \
    "$(sed -n '4,$p' <<< "$out" | tr '\n' '|' | sed 's/|$//')"
out=$(talk 127.0.0.16 'HELO client.test\nMAIL a@sender.test\nRCPT good@example.test\nQUIT\n')
same "antipipelining with DROP_PRE_GREET=1: 421 at once, then the connection ends" \
    "220 drive ESMTP|421 4.5.1 protocol error: command sent before the reply" \
    "$(tr '\n' '|' <<< "$out" | sed 's/|$//')"
out=$(talk 127.0.0.6 'HELO client.test\nMAIL a@sender.test\nRCPT good@example.test\nQUIT\n')
same "antipipelining is off unless configured" "250 ok" "$(reply_n 4 <<< "$out")"

# memory within one connection: refused MAILs and refused RCPTs are not
# kept (before, 100,000 of each of these held about 80 MB)
printf '^refused@\n' > "$T/badmailfrom"
printf '[customers]\nlocal_domains = example.test\ntrusted_networks = 192.0.2.0/24\n[regex]\nbadmailfrom = %s\ndelay_reject = no\n' \
    "$T/badmailfrom" > "$T/mem.conf"
pad=$(printf 'x%.0s' $(seq 50))
dom=$(printf '%s.' "$(printf 'y%.0s' $(seq 60))" "$(printf 'y%.0s' $(seq 60))" "$(printf 'y%.0s' $(seq 60))")elsewhere.test
drive_rss() { # drive_rss N - peak RSS (kB) of the glue for N refused MAILs and N refused RCPTs
    awk -v n="$1" -v pad="$pad" -v dom="$dom" 'BEGIN { print "HELO client.test"
        for (i = 0; i < n; i++) print "MAIL refused@" i pad "." dom
        print "MAIL ok@sender.test"
        for (i = 0; i < n; i++) print "RCPT " i pad "@" dom
        print "QUIT" }' |
        env POLICY_CONFIG="$T/mem.conf" TCPREMOTEIP=127.0.0.1 RCPTHOSTS=example.test \
            /usr/bin/time -f '%M' -o "$T/rss" "$DRIVE" > "$T/drive.out" 2>/dev/null
    tail -1 "$T/rss"
}
rss_small=$(drive_rss 100)
rss_big=$(drive_rss 100000)
same "100,000 refused MAILs (300 bytes each): each refused at MAIL" 100000 \
    "$(grep -c '^553 5.7.1 sorry, your envelope sender has been denied' "$T/drive.out")"
same "100,000 refused RCPTs (300 bytes each): each refused with the library's relay reply" 100000 \
    "$(grep -c '^553 5.7.1 <[0-9]*x*@y*\.y*\.y*\.elsewhere.test>: Relay access denied' "$T/drive.out")"
if nm "$DRIVE" 2>/dev/null | grep -q __asan_init; then # its quarantine keeps what is freed
    echo "100,000 refused MAILs and RCPTs: peak ${rss_small} kB -> ${rss_big} kB (ASan: RSS not judged)"
else
    check "100,000 refused MAILs and RCPTs: the glue's peak memory grows by under 4 MB (${rss_small} kB -> ${rss_big} kB)" \
        test $(( rss_big - rss_small )) -lt 4096
fi

# qmail-smtpd without TCPREMOTEIP (not under tcpserver) talks SMTP with a
# client whose address is unknown: not a loopback customer
printf '[customers]\nlocal_domains = example.test\n' > "$T/loop.conf"
rcpt_reply() { # rcpt_reply [VAR=value] - the reply to one RCPT to elsewhere
    printf 'HELO c.test\nMAIL a@c.test\nRCPT x@elsewhere.test\nQUIT\n' |
        env -u TCPREMOTEIP POLICY_CONFIG="$T/loop.conf" RCPTHOSTS=example.test "$@" "$DRIVE" |
        tr -d '\r' | sed -n 4p
}
same "no TCPREMOTEIP: the library refuses relaying (address unknown, not a customer)" \
    "553 5.7.1 <x@elsewhere.test>: Relay access denied" "$(rcpt_reply)"
same "TCPREMOTEIP=127.0.0.1: a customer to the library (only qmail's rcpthosts refuses)" \
    "553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)" "$(rcpt_reply TCPREMOTEIP=127.0.0.1)"

# the delay by PTR name when tcpserver looked none up (-H): the library asks
# dnsmasq (the DNS test world of dns.sh) itself
if dns_world_start "$T/dns"; then
    printf '[general]\ndns_servers = 127.0.0.1:%s\n[customers]\nlocal_domains = example.test\n[botnet]\ngreet_delay = 0\ngreet_delay_unknown = 800ms\ngreet_delay_dynamic = 1500ms\n' \
        "$DNS_PORT" > "$T/dnsgreet.conf"
    t=$(secs <<< "$(timed 192.0.2.10 "$PATIENT")")
    check "PTR good.client.test (looked up by the library): no delay ($t s)" \
        awk -v t="$t" 'BEGIN { exit !(t < 0.5) }'
    t=$(secs <<< "$(timed 192.0.2.12 "$PATIENT")")
    check "no PTR record: greet_delay_unknown = 800ms ($t s)" \
        awk -v t="$t" 'BEGIN { exit !(t >= 0.7 && t < 1.4) }'
    t=$(secs <<< "$(timed 192.0.2.13 "$PATIENT")")
    check "PTR 192-0-2-13.dyn.isp.test: greet_delay_dynamic = 1500ms ($t s)" \
        awk -v t="$t" 'BEGIN { exit !(t >= 1.4 && t < 2.5) }'
else
    notok "the DNS test world did not start"
fi
finish
