#!/bin/bash
# postfix_recipients.sh - layer 3 (recipients) under a private Postfix with
# smtpd_milters = policy-milter: an unknown recipient is refused at RCPT
# with the library's chkuser reply while known ones, aliases, extensions
# and catch-alls are delivered; the wrong-recipient and recipient limits
# hold across many RCPTs of one SMTP session and across RSET.  A focused
# case: the load test lives in postfix.sh.
# Run inside a private network namespace (tests/run-integration.sh does).
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/postfix_lib.sh"
pf_test_begin "$1"
for a in 192.0.2.40 192.0.2.41 192.0.2.42; do ip addr add "$a/32" dev lo 2>/dev/null; done

cat > "$T/recipients.txt" <<'TXT'
good@sink.test
sales@sink.test: good@sink.test, other@sink.test
@catchall.sink.test
TXT
"$POLICYCTL" makemap "$T/recipients.txt" "$T/recipients.cdb"
cat > "$T/tcp.smtp" <<'RULES'
192.0.2.41:allow,CHKUSER_RCPTLIMIT="3"
192.0.2.42:allow,CHKUSER_WRONGRCPTLIMIT="2"
:allow
RULES
tcprules "$T/tcp.smtp.cdb" "$T/tcp.smtp.tmp" < "$T/tcp.smtp"
cat > "$T/policy.conf" <<CONF
[general]
tcprules = $T/tcp.smtp.cdb
[customers]
local_domains = sink.test catchall.sink.test
trusted_networks = 127.0.0.0/8
[recipients]
map = $T/recipients.cdb
CONF

pf_test_world
postconf -c "$T/pf/conf" -e "relay_domains = sink.test catchall.sink.test"
check "the private Postfix starts" pf_start "$T/pf"
# rcpt_replies TRANSCRIPT - the reply code of each RCPT, in order
rcpt_replies() { awk '/^ -> RCPT TO/ { want = 1; next } want && /^<[-*~]/ { print $2; want = 0 }'; }
delivered() { cat "$T"/sink/* 2>/dev/null | grep -c "^X-Marker: $1\$"; }

out=$(send 192.0.2.40 nobody@sink.test --header "X-Marker: r1")
same "an unknown recipient gets the library's reply through Postfix" \
    "550 5.1.1 sorry, no mailbox here by that name" \
    "$(grep -E '^<\*\* ' <<< "$out" | head -1 | sed 's/^<\*\* //')"
out=$(send 192.0.2.40 good@sink.test,sales@sink.test,good-ext@sink.test,anyone@catchall.sink.test,nobody@sink.test \
    --header "X-Marker: r2")
same "known, alias, extension and catch-all accepted, the unknown one refused" \
    "250 250 250 250 550" "$(rcpt_replies <<< "$out" | paste -sd' ')"
check "the message is queued for the four known recipients" grep -q "queued as" <<< "$out"
pf_drain "$T/pf" 20
same "it arrives once at the sink" 1 "$(delivered r2)"

# CHKUSER_WRONGRCPTLIMIT=2 from tcp.smtp: the third RCPT after two unknown ones is refused
out=$(send 192.0.2.42 x1@sink.test,x2@sink.test,good@sink.test --header "X-Marker: r3")
same "wrong-recipient limit: 550 550 then the mail bomb's 550" "550 550 550" \
    "$(rcpt_replies <<< "$out" | paste -sd' ')"
check "the mail bomb's reply is 5.7.1" grep -q "^<\*\* *550 5.7.1 sorry, you are violating our security policies" <<< "$out"

# CHKUSER_RCPTLIMIT=3 from tcp.smtp, counted across RSET within the session
out=$(swaks --server "$SERVER" --local-interface 192.0.2.41 --helo client.test --quit-after RCPT \
    --from a@client.test --to good@sink.test,good@sink.test 2>&1)
same "recipient limit: two RCPTs accepted" "250 250" "$(rcpt_replies <<< "$out" | paste -sd' ')"
{ printf 'EHLO client.test\r\nMAIL FROM:<a@client.test>\r\nRCPT TO:<good@sink.test>\r\n'
  printf 'RCPT TO:<good@sink.test>\r\nRSET\r\nMAIL FROM:<b@client.test>\r\nRCPT TO:<good@sink.test>\r\n'
  printf 'RCPT TO:<good@sink.test>\r\nQUIT\r\n'; } > "$T/dialog"
out=$(timeout 20 python3 - "$PORT" "$T/dialog" <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), source_address=("192.0.2.41", 0))
f = s.makefile("rb")
def reply():
    lines = []
    while True:
        l = f.readline().decode()
        lines.append(l.strip())
        if len(l) < 4 or l[3] != "-":
            return lines[-1]
reply()
for cmd in open(sys.argv[2], "rb").read().split(b"\r\n"):
    if not cmd:
        continue
    s.sendall(cmd + b"\r\n")
    r = reply()
    if cmd.startswith(b"RCPT"):
        print(r[:9])
PY
)
same "recipient limit 3 across RSET: the fourth RCPT of the session is deferred" \
    "250 2.1.5 250 2.1.5 250 2.1.5 452 4.5.3" "$(paste -sd' ' <<< "$out")"
check "the milter logged no error" bash -c "! grep -qiE 'error|451' '$T/milter.log'"
finish
