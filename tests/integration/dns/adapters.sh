# adapters.sh - part of dns.sh (sourced, shares its servers and helpers):
# the DNS verdicts arriving at RCPT through policy-milter (miltertest) and
# through the qmail-smtpd glue under tcpserver with tcp.smtp variables.

# ------------------------------------------------------------ milter
MILTER="$B/adapters/milter/policy-milter"
export MTLIB="$HERE/milter/lib.lua"
conf mil "$DNS_PORT" '[rdns]\n[dnsbl]\nzones = bl.test wl.test*-2\n[spf]'
conf mildead "$DEAD_PORT" '[rdns]\n[dnsbl]\nzones = bl.test'
conf mildeadacc "$DEAD_PORT" '[rdns]\non_error = accept\n[dnsbl]\nzones = bl.test\non_error = accept'
conf milbad "$BAD_PORT" '[rdns]'
# milter_run CONF LUA - start a milter on CONF, run the script, stop it
milter_run() {
    local sock="unix:$T/$1.sock" pid out
    "$MILTER" -f -c "$T/$1.conf" -p "$sock" 2> "$T/$1.mlog" &
    pid=$!
    EXTRA_PIDS="$EXTRA_PIDS $pid"
    for _ in $(seq 100); do [ -S "$T/$1.sock" ] && break; sleep 0.1; done
    out=$(SOCK=$sock miltertest -s "$2" 2>&1)
    [ -n "$out" ] || out="not ok - $2 printed nothing"
    while IFS= read -r line; do
        case $line in
        "ok - "*) ok "milter: ${line#ok - }" ;;
        "not ok - "*) notok "milter: ${line#not ok - }" ;;
        esac
    done <<< "$out"
    kill -TERM "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
}
cat > "$T/dns.lua" <<'LUA'
dofile(os.getenv("MTLIB"))
-- one transaction: connect, HELO, MAIL, RCPT; returns the letters
local function tx(host, ip, auth)
    local c, r = session(host, ip, "client.example")
    local m
    if auth then mt.macro(c, SMFIC_MAIL, "{auth_authen}", auth) end
    m = reply(mt.mailfrom(c, "<a@sender.example>"), c)
    local rc = reply(mt.rcptto(c, "<u@example.com>"), c)
    mt.disconnect(c)
    return r .. m .. rc
end
run(function()
    check("listed client (bl.test): connect, HELO, MAIL go on, RCPT refused", tx("unknown", "192.0.2.66") == "ccy")
    check("clean client with a PTR passes", tx("unknown", "192.0.2.10") == "ccc")
    check("client without a PTR: RCPT refused", tx("unknown", "192.0.2.12") == "ccy")
    check("the MTA's host name stands for the PTR", tx("good.client.test", "192.0.2.12") == "ccc")
    check("IPv6 listed client: RCPT refused", tx("unknown", "2001:db8::66") == "ccy")
    check("IPv6 clean client passes", tx("unknown", "2001:db8::10") == "ccc")
    check("DNSWL-listed client passes", tx("unknown", "192.0.2.50") == "ccc")
    check("authenticated listed client passes", tx("unknown", "192.0.2.66", "alice") == "ccc")
    -- SPF: fail refused at RCPT; pass gets a Received-SPF header at end of message
    local c = session("unknown", "192.0.2.10", "client.example")
    reply(mt.mailfrom(c, "<a@spf-fail.test>"), c)
    check("SPF fail: RCPT refused", reply(mt.rcptto(c, "<u@example.com>"), c) == "y")
    mt.disconnect(c)
    c = session("unknown", "192.0.2.10", "client.example")
    reply(mt.mailfrom(c, "<a@spf-pass.test>"), c)
    check("SPF pass: RCPT continues", reply(mt.rcptto(c, "<u@example.com>"), c) == "c")
    reply(mt.data(c), c)
    content(c, {"Subject", "hi", "From", "<a@spf-pass.test>"}, "hello\r\n")
    check("SPF pass: end of message continues", reply(mt.eom(c), c) == "c")
    check("SPF pass: Received-SPF header added", mt.eom_check(c, MT_HDRADD, "Received-SPF"))
    mt.disconnect(c)
end)
LUA
milter_run mil "$T/dns.lua"
check "milter: the dnsbl reject names the list and its TXT in the log" \
    grep -q "action=reject ip=192.0.2.66 .*layer=dnsbl .*listed in bl.test" "$T/mil.mlog"
check "milter: the SPF reject is logged with 5.7.23" \
    grep -q "stage=rcpt action=reject ip=192.0.2.10 .*layer=spf code=550 xcode=5.7.23" "$T/mil.mlog"
check "milter: the rdns reject is logged at RCPT" \
    grep -q "stage=rcpt action=reject ip=192.0.2.12 .*layer=rdns code=550 xcode=5.7.25" "$T/mil.mlog"
cat > "$T/dead.lua" <<'LUA'
dofile(os.getenv("MTLIB"))
run(function()
    local c, r = session("unknown", "192.0.2.66", "client.example")
    check("dead DNS: connect and HELO are not held up", r == "c")
    reply(mt.mailfrom(c, "<a@sender.example>"), c)
    print("rcpt=" .. reply(mt.rcptto(c, "<u@example.com>"), c))
    mt.disconnect(c)
end)
LUA
t0=$(date +%s%N)
milter_run mildead "$T/dead.lua"
check "milter: dead DNS, on_error = tempfail: RCPT deferred (rdns first)" \
    grep -q "stage=rcpt action=tempfail ip=192.0.2.66 .*layer=rdns code=451" "$T/mildead.mlog"
milter_run mildeadacc "$T/dead.lua"
cat > "$T/bad.lua" <<'LUA'
dofile(os.getenv("MTLIB"))
run(function()
    local c, r = session("unknown", "192.0.2.30", "client.example")
    reply(mt.mailfrom(c, "<a@sender.example>"), c)
    check("malformed PTR answer: RCPT gets a reply", reply(mt.rcptto(c, "<u@example.com>"), c) == "y")
    mt.disconnect(c)
end)
LUA
milter_run milbad "$T/bad.lua"
check "milter: a malformed PTR answer defers RCPT with 451 4.7.25, never refuses" \
    grep -q "stage=rcpt action=tempfail ip=192.0.2.30 .*layer=rdns code=451 xcode=4.7.25" "$T/milbad.mlog"
check "milter: dead DNS, on_error = accept: logged, not enforced" \
    grep -q "action=error-accepted .*layer=dnsbl" "$T/mildeadacc.mlog"
check "milter: dead DNS, on_error = accept: no reject" \
    sh -c "! grep -q 'action=reject\|action=tempfail' '$T/mildeadacc.mlog'"

# ------------------------------------------------------------ qmail glue
DRIVE="$B/tests/tools/qpolicy_drive"
conf qm "$DNS_PORT" '[dnsbl]\nzones = bl.test'
cat > "$T/tcp.smtp" <<RULES
127.0.0.4:allow,RBLSMTPD=""
127.0.0.5:allow,RBLSMTPD="-Go away, you are listed"
127.0.0.6:allow,RBLSMTPD="Come back later"
:allow
RULES
tcprules "$T/tcp.smtp.cdb" "$T/tcp.smtp.tmp" < "$T/tcp.smtp"
QPORT=$(( 20000 + RANDOM % 20000 ))
POLICY_CONFIG="$T/qm.conf" RCPTHOSTS="example.com" \
    tcpserver -H -R -l 0 -x "$T/tcp.smtp.cdb" 127.0.0.1 "$QPORT" "$DRIVE" 2> "$T/qm.err" &
EXTRA_PIDS="$EXTRA_PIDS $!"
for _ in $(seq 50); do tcpclient -H -R -l 0 127.0.0.1 "$QPORT" true 2>/dev/null && break; sleep 0.1; done
qtalk() { # qtalk FROM_IP - HELO, MAIL, RCPT; the RCPT reply
    printf 'HELO client.example\nMAIL a@sender.example\nRCPT u@example.com\nQUIT\n' > "$T/qcmds"
    timeout 10 tcpclient -H -R -l 0 -i "$1" 127.0.0.1 "$QPORT" \
        sh -c "cat '$T/qcmds' >&7; cat <&6" 2>/dev/null | tr -d '\r' | sed -n 4p
}
same "qmail: RFC 5782 127.0.0.2 refused at RCPT with the list and its TXT" \
    "554 5.7.1 Service unavailable; Client host [127.0.0.2] blocked using bl.test; Listed in bl.test, see http://bl.test/q?ip=127.0.0.2" \
    "$(qtalk 127.0.0.2)"
same "qmail: 127.0.0.1 is not listed" "250 ok" "$(qtalk 127.0.0.1)"
same "qmail: RBLSMTPD=\"\" from tcp.smtp skips the lists for a listed client" "250 ok" "$(qtalk 127.0.0.4)"
same "qmail: RBLSMTPD=\"-text\" from tcp.smtp: 553 with that text" \
    "553 5.7.1 Go away, you are listed" "$(qtalk 127.0.0.5)"
same "qmail: RBLSMTPD=\"text\" from tcp.smtp: 451 with that text" \
    "451 4.7.1 Come back later" "$(qtalk 127.0.0.6)"

# ------------------------------------------------------------ valgrind
# the milter with all three DNS layers under valgrind (normal builds only)
if command -v valgrind >/dev/null && ! nm "$MILTER" 2>/dev/null | grep -q __asan_init; then
    vsock="unix:$T/vmil.sock"
    valgrind -q --error-exitcode=9 --leak-check=full --errors-for-leak-kinds=definite \
        --suppressions="$HERE/milter/libmilter.supp" --log-file="$T/vmil.valgrind" \
        "$MILTER" -f -c "$T/mil.conf" -p "$vsock" 2> "$T/vmil.mlog" &
    vpid=$!
    EXTRA_PIDS="$EXTRA_PIDS $vpid"
    for _ in $(seq 200); do [ -S "$T/vmil.sock" ] && break; sleep 0.1; done
    SOCK=$vsock miltertest -s "$T/dns.lua" > "$T/vmil.out" 2>&1
    check "valgrind: the DNS checks through the milter give the same answers" \
        sh -c "! grep -q '^not ok' '$T/vmil.out' && grep -c '^ok' '$T/vmil.out' | grep -qx 12"
    kill -TERM "$vpid"
    wait "$vpid"
    st=$?
    same "valgrind: the milter with the DNS layers runs clean (no errors, no definite leaks)" 0 "$st"
    [ "$st" = 0 ] || head -40 "$T/vmil.valgrind"
fi
