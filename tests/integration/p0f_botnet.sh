#!/bin/bash
# p0f_botnet.sh BUILD_DIR - layer 4's OS rules against a real p0f 3
# capturing loopback, whose test fingerprint file labels this machine's
# loopback SYN "Windows 7 or 8": a client p0f fingerprints is refused per
# [botnet] os_reject through the qmail glue under tcpserver, through
# policyctl check and through policy-milter under a private Postfix (os=
# in the decision line), and per [dnsbl] os_weights through policyctl
# check; its greeting delayed per greet_delay_os; a client
# whose SYN matches no signature (a clamped MSS) and one p0f never saw
# pass; p0f stopped or hung gives no verdict and no wait beyond
# p0f_timeout.  Run inside a private network namespace.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/postfix_lib.sh"
pf_test_begin "$1"
DRIVE="$B/tests/tools/qpolicy_drive"
P0F="" QSRV=""
trap 'for p in $P0F $QSRV; do kill -CONT $p; kill $p; done 2>/dev/null; pf_test_cleanup' EXIT
for tool in p0f tcpserver; do
    command -v $tool >/dev/null || { notok "$tool is installed (scripts/install-deps.sh)"; finish; exit 1; }
done
for a in 2 3 4 5; do ip addr add "127.0.0.$a/8" dev lo 2>/dev/null; done

S="$T/p0f.sock"
cat > "$T/policy.conf" <<CONF
[general]
p0f = $S
p0f_timeout = 1s
[customers]
local_domains = sink.test
trusted_networks = 192.0.2.0/24
[botnet]
os_reject = Windows
CONF
cat > "$T/greet.conf" <<CONF
[general]
p0f = $S
p0f_timeout = 1s
[customers]
local_domains = sink.test
trusted_networks = 192.0.2.0/24
[botnet]
greet_delay = 0
greet_delay_unknown = 0
greet_delay_dynamic = 1500ms
greet_delay_os = Windows
CONF
pf_test_world
QPORT=$(( PORT + 2 ))
# this machine's loopback SYN (p0f's raw_sig) under a label of our choosing
cat > "$T/test.fp" <<'FP'
classes = win,unix,other

[tcp:request]

label = s:win:Windows:7 or 8
sig   = *:64:0:*:mss*1,10:mss,sok,ts,nop,ws:df,id+:0
FP
start_p0f() {
    rm -f "$S"
    p0f -i lo -f "$T/test.fp" -s "$S" "tcp port $PORT or tcp port $QPORT" >> "$T/p0f.log" 2>&1 &
    P0F=$!
    for _ in $(seq 50); do [ -S "$S" ] && return 0; sleep 0.1; done
    return 1
}
check "p0f captures the test ports and answers on its API socket" start_p0f

printf '127.0.0.5:allow,POLICY_CONFIG="%s"\n:allow\n' "$T/greet.conf" > "$T/tcp.smtp"
tcprules "$T/tcp.smtp.cdb" "$T/tcp.smtp.tmp" < "$T/tcp.smtp"
POLICY_CONFIG="$T/policy.conf" RCPTHOSTS=sink.test \
    tcpserver -H -R -l 0 -x "$T/tcp.smtp.cdb" 127.0.0.1 "$QPORT" "$DRIVE" 2> "$T/glue.err" &
QSRV=$!
for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$QPORT") 2>/dev/null && break; sleep 0.1; done

CMDS='HELO client.test\nMAIL a@sender.test\nRCPT user@sink.test\nQUIT\n'
REFUSED="550 5.7.1 Service unavailable; client host [127.0.0.2] looks like an end-user PC (Windows), send through your provider's mail server"
# talk FROM_IP - the glue's replies to CMDS, CR removed
talk() {
    printf '%b' "$CMDS" > "$T/cmds"
    timeout 10 tcpclient -H -R -l 0 -i "$1" 127.0.0.1 "$QPORT" \
        sh -c "cat '$T/cmds' >&7; cat <&6" 2>/dev/null | tr -d '\r'
}
# clamped FROM_IP - the same from a client whose SYN carries MSS 1000:
# a SYN no signature of the test file matches
clamped() {
    /usr/bin/python3 - "$1" "$QPORT" <<'PY'
import socket, sys
s = socket.socket()
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 1000)
s.bind((sys.argv[1], 0))
s.connect(("127.0.0.1", int(sys.argv[2])))
s.sendall(b"HELO client.test\r\nMAIL a@sender.test\r\nRCPT user@sink.test\r\nQUIT\r\n")
out = b""
while True:
    d = s.recv(4096)
    if not d:
        break
    out += d
sys.stdout.write(out.decode().replace("\r", ""))
PY
}

# ------------------------------------------------------------ the qmail glue
out=$(talk 127.0.0.2)
same "qmail glue: the client p0f names Windows is refused at RCPT (os_reject)" "$REFUSED" \
    "$(sed -n 4p <<< "$out")"
out=$(clamped 127.0.0.3)
same "qmail glue: a client whose SYN p0f cannot name passes" "250 ok" "$(sed -n 4p <<< "$out")"
check "p0f saw it and named no OS" grep -q "os *= ???" "$T/p0f.log"

# the greeting held back for the OS, from tcp.smtp's configuration
s0=$(date +%s.%N)
out=$(timeout 15 tcpclient -H -R -l 0 -i 127.0.0.5 127.0.0.1 "$QPORT" \
    sh -c "IFS= read -r g <&6; echo \"\$g\"; printf 'QUIT\r\n' >&7; cat <&6" 2>/dev/null | tr -d '\r')
s1=$(date +%s.%N)
t=$(awk -v a="$s0" -v b="$s1" 'BEGIN { printf "%.1f", b - a }')
same "qmail glue: greet_delay_os = Windows: greeted after the delay" "220 drive ESMTP" "$(sed -n 1p <<< "$out")"
check "qmail glue: the greeting was held back 1.5 s ($t s)" awk -v t="$t" 'BEGIN { exit !(t >= 1.4 && t < 3) }'

# ------------------------------------------------------------ policyctl
# p0f remembers 127.0.0.2 from the connections above
pc() { # pc IP - policyctl check's lines, its log on $T/pc.err
    "$POLICYCTL" check -v -c "$T/policy.conf" --ip "$1" --helo client.test --from a@sender.test \
        --rcpt user@sink.test 2> "$T/pc.err"
}
out=$(pc 127.0.0.2)
same "policyctl check: the client p0f fingerprinted is refused at RCPT" \
    "$(printf 'rcpt\treject\t550\t5.7.1\tbotnet\t%s' "${REFUSED#550 5.7.1 }")" "$(grep '^rcpt' <<< "$out")"
check "policyctl check: the decision line names the OS (os=\"Windows 7 or 8\")" \
    grep -q 'os="Windows 7 or 8".*layer=botnet.*reason="p0f: OS Windows 7 or 8 matches os_reject Windows"' "$T/pc.err"
out=$(pc 127.0.0.4)
same "policyctl check: an address p0f never saw passes" "rcpt	continue	250" "$(grep '^rcpt' <<< "$out" | cut -f1-3)"
check "policyctl check: and the log says why there is no verdict" \
    grep -q "p0f: no verdict: p0f has not seen this address" "$T/pc.err"
# [dnsbl] os_weights: the OS weighs in the DNSBL score (here alone: no zone)
sed -e '/^\[botnet\]/,$d' "$T/policy.conf" > "$T/dnsbl.conf"
printf '[dnsbl]\nos_weights = Linux*-1, Windows*2\nthreshold = 2\n' >> "$T/dnsbl.conf"
pcd() { "$POLICYCTL" check -v -c "$T/dnsbl.conf" --ip "$1" --helo client.test \
            --from a@sender.test --rcpt user@sink.test 2> "$T/pcd.err"; }
same "dnsbl os_weights = Windows*2, threshold 2: the client p0f names Windows is refused" \
    "rcpt	reject	554	5.7.1	dnsbl" "$(pcd 127.0.0.2 | grep '^rcpt' | cut -f1-5)"
check "... its decision line gives the score (OS Windows 7 or 8 +2)" \
    grep -q 'layer=dnsbl.*reason="127.0.0.2: score 2 (OS Windows 7 or 8 +2), threshold 2"' "$T/pcd.err"
same "... an address p0f never saw passes" "rcpt	continue	250" "$(pcd 127.0.0.4 | grep '^rcpt' | cut -f1-3)"

# ------------------------------------------------------------ policy-milter under Postfix
check "Postfix starts with policy-milter" pf_start "$T/pf"
out=$(send 127.0.0.2 user@sink.test)
check "milter: the client p0f fingerprinted is refused at RCPT" \
    grep -q "<\*\* 550 5.7.1 Service unavailable; client host \[127.0.0.2\] looks like an end-user PC (Windows)" <<< "$out"
check "milter: its decision line names the OS" grep -q 'os="Windows 7 or 8".*layer=botnet' "$T/milter.log"

# ------------------------------------------------------------ p0f hung, then gone
kill -STOP $P0F
s0=$(date +%s.%N)
out=$(pc 127.0.0.2)
s1=$(date +%s.%N)
kill -CONT $P0F
t=$(awk -v a="$s0" -v b="$s1" 'BEGIN { printf "%.2f", b - a }')
same "p0f hung: no verdict, the client passes" "rcpt	continue	250" "$(grep '^rcpt' <<< "$out" | cut -f1-3)"
check "p0f hung: no wait beyond p0f_timeout = 1s ($t s)" awk -v t="$t" 'BEGIN { exit !(t >= 0.9 && t < 1.6) }'
check "p0f hung: logged" grep -q "p0f: no verdict: p0f timed out" "$T/pc.err"
kill $P0F
wait $P0F 2>/dev/null
P0F=""
s0=$(date +%s.%N)
out=$(talk 127.0.0.2)
s1=$(date +%s.%N)
t=$(awk -v a="$s0" -v b="$s1" 'BEGIN { printf "%.2f", b - a }')
same "p0f not running: the qmail glue lets the client on" "250 ok" "$(sed -n 4p <<< "$out")"
check "p0f not running: at once ($t s)" awk -v t="$t" 'BEGIN { exit !(t < 0.5) }'
out=$(send 127.0.0.2 user@sink.test)
check "p0f not running: the milter lets the client on" grep -q "<-  250 2.0.0 Ok: queued" <<< "$out"
out=$(pc 127.0.0.2)
check "p0f not running: logged" grep -q "p0f: no verdict: p0f is not running" "$T/pc.err"

finish
