#!/bin/bash
# spf.sh - the SPF layer against dnsmasq (SPF records, MX, A, AAAA) and the
# dead server (tests/integration/dns/servers.sh): every result at the
# SPFBEHAVIOR levels that matter, the null sender (HELO identity), IPv6,
# Received-SPF as an edit, temperror and on_error, customers, the
# explanation in refusals, and answers of many records or many bytes.
# Client addresses are TEST-NET ones: libspf2 passes loopback clients
# always.
set -u
. "$(dirname "$0")/lib.sh"
B=$(cd "$1" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
P="$B/adapters/cli/policyctl"
mktmp
. "$HERE/dns/servers.sh"
trap 'dns_world_stop; wait 2>/dev/null; rm -rf "$T"' EXIT
if ! dns_world_start "$T/dns"; then
    notok "the test DNS servers start"
    finish
    exit 1
fi

conf() { # conf NAME PORT SPF-KEYS
    printf '[general]\ndns_servers = 127.0.0.1:%s\ndns_timeout = 1s\nhostname = mx.example.com\n[customers]\nlocal_domains = example.com\ntrusted_networks = 10.255.255.0/24\n[spf]\n%b\n' \
        "$2" "$3" > "$T/$1.conf"
}
# verdict CONF IP FROM [ARGS...] - "action code xcode layer text" at RCPT
verdict() {
    local c=$1 ip=$2 from=$3
    shift 3
    "$P" check -c "$T/$c.conf" --ip "$ip" --helo helo.client.test --from "$from" --rcpt u@example.com "$@" \
        2>"$T/last.err" | awk -F'\t' '$1 == "rcpt" { print $2 " " $3 " " $4 " " $5 " " $6 }'
}
short() { cut -d' ' -f1-4; }
printf 'Subject: hi\n\nhello\n' > "$T/msg"
# header CONF IP FROM [ARGS] - the Received-SPF edit, if any
header() {
    local c=$1 ip=$2 from=$3
    shift 3
    "$P" check -c "$T/$c.conf" --ip "$ip" --helo helo.client.test --from "$from" --rcpt u@example.com "$@" "$T/msg" \
        2>/dev/null | awk -F'\t' '$1 == "edit" && $3 ~ /^Received-SPF:/ { print $3 }'
}
conf l3 "$DNS_PORT" 'behavior = 3'
conf l6 "$DNS_PORT" 'behavior = 6'
PASS="continue 250 2.1.5 -"

same "spf: pass is accepted" "$PASS" "$(verdict l3 192.0.2.10 a@spf-pass.test | short)"
same "spf: fail is refused at RCPT with 550 5.7.23 (RFC 7372), saying what failed, no explanation by default" \
    "reject 550 5.7.23 spf <a@spf-fail.test>: Sender address rejected: SPF validation failed (fail) for spf-fail.test from [192.0.2.10]" \
    "$(verdict l3 192.0.2.10 a@spf-fail.test)"
same "spf: the domain's own explanation (exp=) is quoted as the domain's, expanded" \
    "reject 550 5.7.23 spf <a@spf-exp.test>: Sender address rejected: SPF validation failed (fail) for spf-exp.test from [192.0.2.10]: spf-exp.test explains: 192.0.2.10 is not one of the mail servers of spf-exp.test" \
    "$(verdict l3 192.0.2.10 a@spf-exp.test)"
conf expl "$DNS_PORT" 'explanation = Not accepted here, see https://%{r}/spf?ip=%{i}'
same "spf: explanation = TEXT is expanded (SPF macros) into the refusal" \
    "reject 550 5.7.23 spf <a@spf-fail.test>: Sender address rejected: SPF validation failed (fail) for spf-fail.test from [192.0.2.10]: Not accepted here, see https://mx.example.com/spf?ip=192.0.2.10" \
    "$(verdict expl 192.0.2.10 a@spf-fail.test)"
v=$(verdict expl 192.0.2.10 a@spf-exp.test)
check "spf: the domain's explanation wins over the configured one, printable and bounded (${#v} bytes)" \
    sh -c '! printf "%s" "$1" | LC_ALL=C grep -q "[^ -~]" && [ ${#1} -le 430 ] && printf "%s" "$1" | grep -q "spf-exp.test explains: "' _ "$v"
conf explnone "$DNS_PORT" 'explanation = none'
same "spf: explanation = none quotes nothing" \
    "reject 550 5.7.23 spf <a@spf-fail.test>: Sender address rejected: SPF validation failed (fail) for spf-fail.test from [192.0.2.10]" \
    "$(verdict explnone 192.0.2.10 a@spf-fail.test)"
# answers of more than 16 records, the one that matters last (TCP for TXT)
same "spf: the SPF record behind 19 other TXT records (over TCP) gives its verdict: fail" \
    "reject 550 5.7.23 spf" "$(verdict l3 192.0.2.11 a@spf-many.test | short)"
same "spf: the SPF record behind 19 other TXT records gives its verdict: pass" \
    "$PASS" "$(verdict l3 192.0.2.10 a@spf-many.test | short)"
same "spf: a with 20 A records passes the client at the 20th" "$PASS" \
    "$(verdict l3 192.0.2.40 a@a-many.test | short)"
same "spf: a with 20 A records refuses a client not among them" "reject 550 5.7.23 spf" \
    "$(verdict l3 192.0.2.41 a@a-many.test | short)"
same "spf: a 10,000-byte SPF record (TCP) is read whole: its -all at the very end refuses" \
    "reject 550 5.7.23 spf" "$(verdict l3 192.0.2.10 a@spf-huge.test | short)"
same "spf: the 10,000-byte record's ip4 passes its client" "$PASS" \
    "$(verdict l3 198.51.100.1 a@spf-huge.test | short)"
same "spf: MAIL itself continues (verdict delayed to RCPT)" "mail continue 250" \
    "$("$P" check -c "$T/l3.conf" --ip 192.0.2.10 --helo h.test --from a@spf-fail.test | awk -F'\t' '$1 == "mail" { print $1, $2, $3 }')"
same "spf: softfail passes at level 3" "$PASS" "$(verdict l3 192.0.2.10 a@spf-soft.test | short)"
same "spf: softfail is refused at SPFBEHAVIOR=4" "reject 550 5.7.23 spf" \
    "$(verdict l3 192.0.2.10 a@spf-soft.test --var SPFBEHAVIOR=4 | short)"
same "spf: neutral passes at level 4" "$PASS" "$(verdict l3 192.0.2.10 a@spf-neutral.test --var SPFBEHAVIOR=4 | short)"
same "spf: neutral is refused at SPFBEHAVIOR=5" "reject 550 5.7.23 spf" \
    "$(verdict l3 192.0.2.10 a@spf-neutral.test --var SPFBEHAVIOR=5 | short)"
same "spf: none passes at level 5" "$PASS" "$(verdict l3 192.0.2.10 a@nospf.test --var SPFBEHAVIOR=5 | short)"
same "spf: none is refused at level 6" "reject 550 5.7.23 spf" "$(verdict l6 192.0.2.10 a@nospf.test | short)"
same "spf: permerror passes at level 3" "$PASS" "$(verdict l3 192.0.2.10 a@spf-perm.test | short)"
same "spf: permerror is refused at level 6 with 5.7.24" "reject 550 5.7.24 spf" \
    "$(verdict l6 192.0.2.10 a@spf-perm.test | short)"
same "spf: level 1 only adds headers, never refuses" "$PASS" \
    "$(verdict l3 192.0.2.10 a@spf-fail.test --var SPFBEHAVIOR=1 | short)"
same "spf: SPFBEHAVIOR=0 turns it off" "$PASS" "$(verdict l3 192.0.2.10 a@spf-fail.test --var SPFBEHAVIOR=0 | short)"
same "spf: mx mechanism, client is the MX: pass" "$PASS" "$(verdict l3 192.0.2.10 a@spf-mx.test | short)"
same "spf: mx mechanism, client is not the MX: fail" "reject 550 5.7.23 spf" "$(verdict l3 192.0.2.11 a@spf-mx.test | short)"
same "spf: IPv6 client allowed by ip6: pass" "$PASS" "$(verdict l3 2001:db8::10 a@spf-pass.test | short)"
same "spf: IPv6 client on a fail record" "reject 550 5.7.23 spf" "$(verdict l3 2001:db8::10 a@spf-fail.test | short)"
same "spf: null sender: the HELO identity passes" "$PASS" "$(verdict l3 192.0.2.10 '' | short)"
same "spf: null sender: the HELO identity fails" "reject 550 5.7.23 spf" "$(verdict l3 192.0.2.11 '' | short)"
same "spf: an authenticated customer is not checked" "$PASS" \
    "$(verdict l3 192.0.2.10 a@spf-fail.test --auth alice | short)"
# the HELO identity (check_helo)
conf helo "$DNS_PORT" 'check_helo = yes'
same "spf: check_helo refuses a client its HELO name's record does not allow" \
    "reject 550 5.7.23 spf Helo command [helo.client.test] rejected: SPF validation failed (fail) from [192.0.2.11]" \
    "$(verdict helo 192.0.2.11 a@spf-pass.test)"
same "spf: without check_helo the same client passes on its sender" "$PASS" \
    "$(verdict l3 192.0.2.11 a@spf-pass.test | short)"
same "spf: check_helo passes a client its HELO record allows" "$PASS" "$(verdict helo 192.0.2.10 a@spf-pass.test | short)"
same "spf: check_helo: a HELO without SPF leaves MAIL FROM to decide" "reject 550 5.7.23 spf" \
    "$("$P" check -c "$T/helo.conf" --ip 192.0.2.10 --helo nospf.client.test --from a@spf-fail.test --rcpt u@example.com | awk -F'\t' '$1 == "rcpt" { print $2, $3, $4, $5 }')"
# Received-SPF
h=$(header l3 192.0.2.10 a@spf-pass.test)
check "spf: Received-SPF: pass is added as an edit ($h)" grep -q "^Received-SPF: pass .*client-ip=192.0.2.10" <<< "$h"
h=$(header l3 192.0.2.10 a@spf-soft.test)
check "spf: Received-SPF: softfail ($h)" grep -q "^Received-SPF: softfail" <<< "$h"
conf nohdr "$DNS_PORT" 'received_spf = no'
same "spf: received_spf = no adds no header" "" "$(header nohdr 192.0.2.10 a@spf-pass.test)"
same "spf: SPFBEHAVIOR=0 adds no header" "" "$(header l3 192.0.2.10 a@spf-pass.test --var SPFBEHAVIOR=0)"
# temperror: an include whose server never answers, and a dead resolver
same "spf: temperror (include never answers) at level 3: 451 4.7.24" \
    "tempfail 451 4.7.24 spf <a@spf-inc.test>: Sender address rejected: SPF validation error (temperror) for spf-inc.test, try again later" \
    "$(verdict l3 192.0.2.10 a@spf-inc.test)"
same "spf: temperror at level 1: accepted" "$PASS" "$(verdict l3 192.0.2.10 a@spf-inc.test --var SPFBEHAVIOR=1 | short)"
conf acc "$DNS_PORT" 'on_error = accept'
same "spf: temperror with on_error = accept: accepted" "$PASS" "$(verdict acc 192.0.2.10 a@spf-inc.test | short)"
h=$(header acc 192.0.2.10 a@spf-inc.test)
check "spf: temperror still gets a Received-SPF ($h)" grep -q "^Received-SPF: temperror" <<< "$h"
conf dead "$DEAD_PORT" 'behavior = 3'
t0=$(date +%s%N)
same "spf: dead resolver: 451 4.7.24" "tempfail 451 4.7.24 spf" "$(verdict dead 192.0.2.10 a@spf-pass.test | short)"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
check "spf: dead resolver costs the timeout, not more (${ms} ms)" test "$ms" -lt 1900
conf dfail "$FAIL_PORT" 'behavior = 3'
same "spf: SERVFAIL resolver: 451 4.7.24" "tempfail 451 4.7.24 spf" "$(verdict dfail 192.0.2.10 a@spf-pass.test | short)"
# actions on a fail, on_error under warn
for act in tempfail tag warn off; do
    conf "a_$act" "$DNS_PORT" "action = $act"
    case $act in
    tempfail) want="tempfail 450 4.7.23 spf" ;;
    *) want="$PASS" ;;
    esac
    same "spf: fail with action = $act" "$want" "$(verdict "a_$act" 192.0.2.10 a@spf-fail.test | short)"
done
"$P" check -c "$T/a_tag.conf" --ip 192.0.2.10 --helo h.test --from a@spf-fail.test --rcpt u@example.com "$T/msg" > "$T/tag.out" 2>&1
check "spf: action = tag adds X-Policy-Tag" grep -q "^edit	add	X-Policy-Tag: spf; SPF fail" "$T/tag.out"
conf warnerr "$DNS_PORT" 'action = warn'
same "spf: temperror under action = warn never defers" "$PASS" "$(verdict warnerr 192.0.2.10 a@spf-inc.test | short)"
# configuration
printf '[spf]\nbehavior = 7\n' > "$T/bad.conf"
st=0; "$P" check -c "$T/bad.conf" --ip 192.0.2.1 >/dev/null 2>&1 || st=$?
same "spf: behavior = 7 is a configuration error" 78 "$st"
printf '[spf]\nexplanation = see %%{z}\n' > "$T/badexp.conf"
st=0; "$P" check -c "$T/badexp.conf" --ip 192.0.2.1 >/dev/null 2>"$T/badexp.err" || st=$?
same "spf: an explanation libspf2 cannot expand is a configuration error" 78 "$st"
finish
