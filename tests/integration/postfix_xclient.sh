#!/bin/bash
# postfix_xclient.sh - clients whose address the MTA does not know.
# Under a private Postfix (XCLIENT, smtpd_authorized_xclient_hosts): a
# client made address-less with XCLIENT ADDR=[UNAVAILABLE] never relays
# (Postfix 3.7 reports it as an IPv4 client at "unknown", which libmilter
# refuses: Postfix then applies milter_default_action = tempfail), a loopback
# client and a local submission (sendmail(1) -> pickup) relay as customers,
# an XCLIENT-given untrusted address does not.  Through miltertest's
# "unspec" connect (the milter protocol's unknown family, as Sendmail sends
# for its standard input): an unknown address is not a customer unless
# [customers] trust_unknown_address = yes; "localhost" without an address
# is Sendmail's local submission, a customer.  Postfix relays for everybody
# here, so every refusal is the milter's.  Root, private network namespace.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/postfix_lib.sh"
pf_test_begin "$1"
HERE=$(cd "$(dirname "$0")" && pwd)
export MTLIB="$HERE/milter/lib.lua"
ip addr add 192.0.2.10/32 dev lo

conf() { # conf TRUST - the milter's configuration
    cat > "$T/policy.conf" <<CONF
[customers]
local_domains = sink.test
trusted_networks = 127.0.0.0/8
trust_unknown_address = $1
CONF
}
conf no
pf_test_world
postconf -c "$T/pf/conf" -e "smtpd_authorized_xclient_hosts = 127.0.0.0/8" \
    "smtpd_relay_restrictions = check_client_access static:OK, reject" "non_smtpd_milters = $SOCK"
check "the private Postfix starts" pf_start "$T/pf"

delivered() { cat "$T"/sink/* 2>/dev/null | grep -c "^X-Marker: $1\$"; }
unknown() { send 127.0.0.1 "$@" --xclient-addr '[UNAVAILABLE]'; }
# phase TRUST - the Postfix sessions and the miltertest connects of one setting
phase() {
    local m=$1
    out=$(unknown someone@elsewhere.test --header "X-Marker: u1$m")
    check "trust_unknown_address = $m: XCLIENT ADDR=[UNAVAILABLE] taken by Postfix" \
        grep -q "^ -> XCLIENT ADDR=\[UNAVAILABLE\]" <<< "$out"
    check "trust_unknown_address = $m: the address-less client is deferred (4xx), never relayed" \
        grep -qE "^<\*\* *4[0-9][0-9] " <<< "$out"
    out=$(send 127.0.0.1 someone@elsewhere.test --header "X-Marker: u2$m")
    check "trust_unknown_address = $m: a loopback client (trusted network) relays" grep -q "queued as" <<< "$out"
    out=$(send 127.0.0.1 someone@elsewhere.test --header "X-Marker: u3$m" --xclient-addr 192.0.2.10)
    check "trust_unknown_address = $m: XCLIENT ADDR=192.0.2.10 (untrusted) gets the library's relay denial" \
        grep -q "^<\*\* 553 5.7.1 <someone@elsewhere.test>: Relay access denied" <<< "$out"
    printf 'Subject: local\nX-Marker: u4%s\n\nhello\n' "$m" |
        sendmail -C "$T/pf/conf" -f root@sink.test someone@elsewhere.test
    tap "$(SOCK=$SOCK TRUST=$m miltertest -s "$HERE/milter/unknown.lua" 2>&1)"
}
phase no

# trust_unknown_address = yes, picked up by a reload
conf yes
kill -HUP "$MPID"
for _ in $(seq 50); do grep -q reloaded "$T/milter.log" && break; sleep 0.1; done
check "the milter reloads with trust_unknown_address = yes" grep -q reloaded "$T/milter.log"
phase yes

check "the queue drains" pf_drain "$T/pf" 30
for m in no yes; do
    same "trust_unknown_address = $m: the address-less client's relay never arrived" 0 "$(delivered u1$m)"
    same "trust_unknown_address = $m: the loopback relay arrived once" 1 "$(delivered u2$m)"
    same "trust_unknown_address = $m: the untrusted relay never arrived" 0 "$(delivered u3$m)"
    same "trust_unknown_address = $m: the local submission (sendmail, relay) arrived once" 1 "$(delivered u4$m)"
done
finish
