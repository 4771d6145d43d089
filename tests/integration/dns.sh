#!/bin/bash
# dns.sh - layers 1 and 2 (rdns, dnsbl) against real DNS servers on
# loopback: rbldnsd (lists), dnsmasq (names), a server that never answers
# and one that answers SERVFAIL (tests/integration/dns/servers.sh).  Every
# layer x {listed, not listed, no answer} x {action, on_error}, IPv4 and
# IPv6, customers and DNSWL bypass, RBLSMTPD, and the verdict arriving at
# RCPT through policyctl check, policy-milter (miltertest) and the qmail
# glue (tcpserver + qpolicy_drive).  Run inside a private network namespace.
set -u
. "$(dirname "$0")/lib.sh"
B=$(cd "$1" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
P="$B/adapters/cli/policyctl"
mktmp
. "$HERE/dns/servers.sh"
EXTRA_PIDS=""
trap 'for p in $EXTRA_PIDS; do kill "$p" 2>/dev/null; done; dns_world_stop; wait 2>/dev/null; rm -rf "$T"' EXIT
if ! dns_world_start "$T/dns"; then
    notok "the test DNS servers start"
    finish
    exit 1
fi
ok "rbldnsd, dnsmasq and the misbehaving servers start"

# conf NAME SERVER_PORT SECTIONS... - a configuration file $T/NAME.conf
conf() {
    local name=$1 port=$2
    shift 2
    {
        printf '[general]\ndns_servers = 127.0.0.1:%s\ndns_timeout = 1s\n' "$port"
        printf '[customers]\nlocal_domains = example.com\ntrusted_networks = 10.255.255.0/24\n'
        printf '%b\n' "$@"
    } > "$T/$name.conf"
}
# stage_line CONF STAGE ARGS... - "action code xcode layer text" of one stage
stage_line() {
    local c=$1 st=$2
    shift 2
    "$P" check -c "$T/$c.conf" "$@" 2>"$T/last.err" | awk -F'\t' -v st="$st" \
        '$1 == st { print $2 " " $3 " " $4 " " $5 " " $6 }'
}
rcpt() { local c=$1; shift; stage_line "$c" rcpt --helo client.example --from a@sender.example --rcpt u@example.com "$@"; }
short4() { cut -d' ' -f1-4; }
# elapsed_ms CMD... - run CMD, print how long it took
elapsed_ms() {
    local t0 t1
    t0=$(date +%s%N)
    "$@" >/dev/null 2>&1
    t1=$(date +%s%N)
    echo $(( (t1 - t0) / 1000000 ))
}

# ------------------------------------------------------------ layer 1: rdns
conf rdns "$DNS_PORT" '[rdns]'
conf rdnsfc "$DNS_PORT" '[rdns]\nforward_confirm = yes'
conf rdnsgen "$DNS_PORT" '[rdns]\nforward_confirm = yes\nreject_generic = yes'
same "rdns: a client with a PTR passes" "continue 250 2.1.5 - recipient ok" "$(rcpt rdns --ip 192.0.2.10)"
same "rdns: no PTR is rejected at RCPT (RFC 7372 5.7.25)" \
    "reject 550 5.7.25 rdns Client host rejected: cannot find your reverse hostname, [192.0.2.12]" \
    "$(rcpt rdns --ip 192.0.2.12)"
same "rdns: the connect stage itself continues (verdict delayed to RCPT)" \
    "continue 220 - - ready" "$(stage_line rdns connect --ip 192.0.2.12)"
same "rdns: IPv6 client with a PTR passes" "continue 250 2.1.5 - recipient ok" "$(rcpt rdns --ip 2001:db8::10)"
same "rdns: IPv6 client without a PTR is rejected" \
    "reject 550 5.7.25 rdns Client host rejected: cannot find your reverse hostname, [2001:db8::12]" \
    "$(rcpt rdns --ip 2001:db8::12)"
same "rdns: forward mismatch passes without forward_confirm" "continue 250 2.1.5 - recipient ok" \
    "$(rcpt rdns --ip 192.0.2.11)"
same "rdns: forward mismatch is rejected with forward_confirm" \
    "reject 550 5.7.25 rdns Client host rejected: cannot find your hostname, [192.0.2.11]" \
    "$(rcpt rdnsfc --ip 192.0.2.11)"
same "rdns: forward-confirmed IPv4 passes" "continue 250 2.1.5 - recipient ok" "$(rcpt rdnsfc --ip 192.0.2.10)"
same "rdns: forward-confirmed IPv6 (AAAA) passes" "continue 250 2.1.5 - recipient ok" \
    "$(rcpt rdnsfc --ip 2001:db8::10)"
same "rdns: IPv6 forward mismatch is rejected" \
    "reject 550 5.7.25 rdns Client host rejected: cannot find your hostname, [2001:db8::11]" \
    "$(rcpt rdnsfc --ip 2001:db8::11)"
same "rdns: a generic name passes unless reject_generic" "continue 250 2.1.5 - recipient ok" \
    "$(rcpt rdnsfc --ip 192.0.2.13)"
same "rdns: reject_generic refuses an IP-in-name PTR" \
    "reject 550 5.7.1 rdns Client host rejected: your hostname 192-0-2-13.dyn.isp.test looks like a dynamic address, send through your provider's mail server, [192.0.2.13]" \
    "$(rcpt rdnsgen --ip 192.0.2.13)"
same "rdns: reject_generic leaves ordinary names alone" "continue 250 2.1.5 - recipient ok" \
    "$(rcpt rdnsgen --ip 192.0.2.10)"
same "rdns: the MTA's host name is taken as the PTR name" "continue 250 2.1.5 - recipient ok" \
    "$(rcpt rdns --ip 192.0.2.12 --host good.client.test)"
same "rdns: the MTA's host name is still forward-confirmed" \
    "reject 550 5.7.25 rdns Client host rejected: cannot find your hostname, [192.0.2.12]" \
    "$(rcpt rdnsfc --ip 192.0.2.12 --host good.client.test)"
same "rdns: forward confirmation with 20 A records passes the client at the 20th" \
    "continue 250 2.1.5 - recipient ok" "$(rcpt rdnsfc --ip 192.0.2.40)"
same "rdns: 20 PTR names, only the 10th in the answer confirms: passes" \
    "continue 250 2.1.5 - recipient ok" "$(rcpt rdnsfc --ip 192.0.2.41)"
same "rdns: forward lookup that never answers: on_error (tempfail)" \
    "tempfail 451 4.7.25 rdns Client host rejected: temporary failure confirming your hostname host.dead.test, [192.0.2.20]" \
    "$(rcpt rdnsfc --ip 192.0.2.20)"
# actions
conf rdnswarn "$DNS_PORT" '[rdns]\naction = warn'
conf rdnstf "$DNS_PORT" '[rdns]\naction = tempfail'
conf rdnsoff "$DNS_PORT" '[rdns]\naction = off'
conf rdnsnow "$DNS_PORT" '[rdns]\ndelay_reject = no'
same "rdns: action = warn lets the client through" "continue 250 2.1.5 - recipient ok" "$(rcpt rdnswarn --ip 192.0.2.12)"
"$P" check -v -c "$T/rdnswarn.conf" --ip 192.0.2.12 --helo h.example --from a@b.example --rcpt u@example.com 2>"$T/v.err" >/dev/null
check "rdns: action = warn logs what would have happened" grep -q "action=warn .*layer=rdns" "$T/v.err"
same "rdns: action = tempfail defers with 450 4.7.25" \
    "tempfail 450 4.7.25 rdns Client host rejected: cannot find your reverse hostname, [192.0.2.12]" \
    "$(rcpt rdnstf --ip 192.0.2.12)"
same "rdns: action = off" "continue 250 2.1.5 - recipient ok" "$(rcpt rdnsoff --ip 192.0.2.12)"
same "rdns: delay_reject = no rejects the greeting (554)" \
    "reject 554 5.7.25 rdns Client host rejected: cannot find your reverse hostname, [192.0.2.12]" \
    "$(stage_line rdnsnow connect --ip 192.0.2.12)"
same "rdns: POLICY_RDNS=off for one client" "continue 250 2.1.5 - recipient ok" \
    "$(rcpt rdns --ip 192.0.2.12 --var POLICY_RDNS=off)"
same "rdns: customers skip it (AUTH)" "continue 250 2.1.5 - recipient ok" \
    "$(rcpt rdns --ip 192.0.2.12 --auth alice)"
same "rdns: customers skip it (trusted network)" "continue 250 2.1.5 - recipient ok" \
    "$(rcpt rdns --ip 10.255.255.1)"
same "rdns: postmaster@ is still reachable" "continue 250 2.1.5 - recipient ok" \
    "$(stage_line rdns rcpt --ip 192.0.2.12 --from a@b.example --rcpt postmaster@example.com)"
# no answer: a dead server and a SERVFAIL server, both on_error settings
for srv in dead:$DEAD_PORT servfail:$FAIL_PORT; do
    n=${srv%%:*} port=${srv##*:}
    conf "rdns_$n" "$port" '[rdns]'
    conf "rdns_${n}_acc" "$port" '[rdns]\non_error = accept'
    same "rdns: $n server, on_error = tempfail: 451 4.7.25 at RCPT" \
        "tempfail 451 4.7.25 rdns Client host rejected: temporary failure looking up your reverse hostname, [192.0.2.10]" \
        "$(rcpt "rdns_$n" --ip 192.0.2.10)"
    same "rdns: $n server, on_error = accept: passes" "continue 250 2.1.5 - recipient ok" \
        "$(rcpt "rdns_${n}_acc" --ip 192.0.2.10)"
done
# a malformed answer is no answer (temporary), not "no PTR" (permanent)
conf rdns_bad "$BAD_PORT" '[rdns]'
conf rdns_bad_acc "$BAD_PORT" '[rdns]\non_error = accept'
same "rdns: a malformed PTR answer is a temporary failure: 451 4.7.25, not 550" \
    "tempfail 451 4.7.25 rdns Client host rejected: temporary failure looking up your reverse hostname, [192.0.2.30]" \
    "$(rcpt rdns_bad --ip 192.0.2.30)"
same "rdns: a malformed PTR answer with on_error = accept: passes" "continue 250 2.1.5 - recipient ok" \
    "$(rcpt rdns_bad_acc --ip 192.0.2.30)"
"$P" check -v -c "$T/rdns_bad.conf" --ip 192.0.2.30 --from a@b.example --rcpt u@example.com 2>"$T/v.err" >/dev/null
check "rdns: the log says the PTR answer was malformed" grep -q "PTR lookup failed: malformed answer" "$T/v.err"
ms=$(elapsed_ms "$P" check -c "$T/rdns_dead.conf" --ip 192.0.2.10 --from a@b.example --rcpt u@example.com)
check "rdns: a dead server costs the timeout (1 s), not more (${ms} ms)" test "$ms" -ge 900 -a "$ms" -lt 1900

# 70 servers (2.9 KB of text): whatever the configuration accepts is used
# whole; 69 refuse (nothing listens on their ports), the working one is last
{
    printf '[general]\ndns_timeout = 2s\ndns_servers ='
    for i in $(seq 35); do
        printf ' [0000:0000:0000:0000:0000:0000:0000:0001]:%d\n   127.0.0.%d:%d' $((5300 + i)) $((i + 1)) $((5300 + i))
    done
    printf '\n   127.0.0.1:%s\n[customers]\nlocal_domains = example.com\n[rdns]\n' "$DNS_PORT"
} > "$T/rdns70.conf"
same "70 dns_servers: the configuration loads" "" "$("$P" check -c "$T/rdns70.conf" --ip 192.0.2.10 2>&1 >/dev/null)"
same "70 dns_servers: a session resolves through the last one (PTR found)" \
    "continue 250 2.1.5 - recipient ok" "$(rcpt rdns70 --ip 192.0.2.10)"
same "70 dns_servers: and a missing PTR is still a definite no" \
    "reject 550 5.7.25 rdns Client host rejected: cannot find your reverse hostname, [192.0.2.12]" \
    "$(rcpt rdns70 --ip 192.0.2.12)"

# ------------------------------------------------------------ layer 2: dnsbl
conf bl "$DNS_PORT" '[dnsbl]\nzones = bl.test'
same "dnsbl: RFC 5782 test entry 127.0.0.2 is listed, rejected at RCPT with list and TXT" \
    "reject 554 5.7.1 dnsbl Service unavailable; Client host [127.0.0.2] blocked using bl.test; Listed in bl.test, see http://bl.test/q?ip=127.0.0.2" \
    "$(rcpt bl --ip 127.0.0.2)"
same "dnsbl: RFC 5782 127.0.0.1 is not listed" "continue 250 2.1.5 - recipient ok" "$(rcpt bl --ip 127.0.0.1)"
same "dnsbl: listed client's connect continues (verdict delayed)" "continue 220 - - ready" \
    "$(stage_line bl connect --ip 127.0.0.2)"
same "dnsbl: IPv6 client listed (nibbles)" \
    "reject 554 5.7.1 dnsbl Service unavailable; Client host [2001:db8::66] blocked using bl.test; Listed in bl.test (IPv6), see http://bl.test/q?ip=2001:db8::66" \
    "$(rcpt bl --ip 2001:db8::66)"
same "dnsbl: IPv6 client not listed" "continue 250 2.1.5 - recipient ok" "$(rcpt bl --ip 2001:db8::10)"
conf blf "$DNS_PORT" '[dnsbl]\nzones = bl.test=127.0.0.[2..9]'
same "dnsbl: return code outside the filter is not a listing" "continue 250 2.1.5 - recipient ok" \
    "$(rcpt blf --ip 192.0.2.68)"
same "dnsbl: return code inside the filter is" "reject 554 5.7.1 dnsbl" "$(rcpt blf --ip 192.0.2.66 | cut -d' ' -f1-4)"
conf blw "$DNS_PORT" '[dnsbl]\nzones = bl.test bl2.test*2\nthreshold = 3'
same "dnsbl: weights add up: 1 + 2 >= 3 rejects, naming the heaviest list" \
    "reject 554 5.7.1 dnsbl Service unavailable; Client host [192.0.2.66] blocked using bl2.test; Listed in bl2.test: 192.0.2.66" \
    "$(rcpt blw --ip 192.0.2.66)"
same "dnsbl: weights add up: 1 < 3 passes" "continue 250 2.1.5 - recipient ok" "$(rcpt blw --ip 192.0.2.67)"
same "dnsbl: weights add up: 2 < 3 passes" "continue 250 2.1.5 - recipient ok" "$(rcpt blw --ip 192.0.2.69)"
conf blwl "$DNS_PORT" '[dnsbl]\nzones = bl.test wl.test*-2'
same "dnsbl: DNSWL-listed client skips the blacklist verdict" "continue 250 2.1.5 - recipient ok" \
    "$(rcpt blwl --ip 192.0.2.50)"
"$P" check -v -c "$T/blwl.conf" --ip 192.0.2.50 --helo h.example --from a@b.example --rcpt u@example.com 2>"$T/v.err" >/dev/null
check "dnsbl: the allowlisting is logged" grep -q "action=allowlist" "$T/v.err"
same "dnsbl: a listed client not on the DNSWL is still rejected" "reject 554 5.7.1 dnsbl" \
    "$(rcpt blwl --ip 192.0.2.67 | cut -d' ' -f1-4)"
conf rhs "$DNS_PORT" '[dnsbl]\nzones = bl.test\nhelo_zones = dbl.test\nsender_zones = dbl.test\nptr_zones = dbl.test'
same "dnsbl: RHSBL on the HELO name" \
    "reject 554 5.7.1 dnsbl Service unavailable; Helo command [bad.example] blocked using dbl.test; Domain listed in dbl.test" \
    "$(stage_line rhs rcpt --ip 192.0.2.10 --helo bad.example --from a@sender.example --rcpt u@example.com)"
same "dnsbl: RHSBL on the sender domain" \
    "reject 554 5.7.1 dnsbl Service unavailable; Sender address <a@bad.example> domain blocked using dbl.test; Domain listed in dbl.test" \
    "$(stage_line rhs rcpt --ip 192.0.2.10 --helo good.example --from a@bad.example --rcpt u@example.com)"
same "dnsbl: RHSBL on the PTR name" \
    "reject 554 5.7.1 dnsbl Service unavailable; Client host ptrlisted.client.test [192.0.2.70] blocked using dbl.test; Domain listed in dbl.test" \
    "$(rcpt rhs --ip 192.0.2.70)"
same "dnsbl: RHSBLs pass clean names" "continue 250 2.1.5 - recipient ok" "$(rcpt rhs --ip 192.0.2.10)"
same "dnsbl: the null sender has no domain to check" "continue 250 2.1.5 - recipient ok" \
    "$(stage_line rhs rcpt --ip 192.0.2.10 --helo good.example --from '' --rcpt u@example.com)"
conf rhswl "$DNS_PORT" '[dnsbl]\nzones = wl.test*-1\nsender_zones = dbl.test'
same "dnsbl: a DNSWL-listed client skips the RHSBL verdicts too" "continue 250 2.1.5 - recipient ok" \
    "$(stage_line rhswl rcpt --ip 192.0.2.51 --helo good.example --from a@bad.example --rcpt u@example.com)"
# RBLSMTPD (rblsmtpd(1))
same "dnsbl: RBLSMTPD set and empty skips the layer" "continue 250 2.1.5 - recipient ok" \
    "$(rcpt bl --ip 127.0.0.2 --var RBLSMTPD=)"
same "dnsbl: RBLSMTPD with a leading - rejects permanently with its text" \
    "reject 553 5.7.1 dnsbl go away" "$(rcpt bl --ip 192.0.2.10 --var 'RBLSMTPD=-go away')"
same "dnsbl: RBLSMTPD without - defers with its text" \
    "tempfail 451 4.7.1 dnsbl slow down" "$(rcpt bl --ip 192.0.2.10 --var 'RBLSMTPD=slow down')"
# customers
same "dnsbl: an authenticated client skips the blacklist" "continue 250 2.1.5 - recipient ok" \
    "$(rcpt bl --ip 127.0.0.2 --auth alice)"
conf bltrust "$DNS_PORT" '[dnsbl]\nzones = bl.test'
sed -i 's|^trusted_networks = 10.255.255.0/24$|trusted_networks = 127.0.0.0/8|' "$T/bltrust.conf"
same "dnsbl: a trusted-network client skips the blacklist" "continue 250 2.1.5 - recipient ok" \
    "$(rcpt bltrust --ip 127.0.0.2)"
same "dnsbl: postmaster@ stays reachable for a listed client" "continue 250 2.1.5 - recipient ok" \
    "$(stage_line bl rcpt --ip 127.0.0.2 --from a@b.example --rcpt postmaster@example.com)"
# actions
conf bltag "$DNS_PORT" '[dnsbl]\nzones = bl.test\naction = tag'
printf 'Subject: hi\n\nhello\n' > "$T/msg"
"$P" check -c "$T/bltag.conf" --ip 127.0.0.2 --from a@b.example --rcpt u@example.com "$T/msg" > "$T/tag.out" 2>&1
check "dnsbl: action = tag adds X-Policy-Tag naming the list" grep -q "^edit	add	X-Policy-Tag: dnsbl; 127.0.0.2 listed in bl.test" "$T/tag.out"
conf blwarn "$DNS_PORT" '[dnsbl]\nzones = bl.test\naction = warn'
same "dnsbl: action = warn passes" "continue 250 2.1.5 - recipient ok" "$(rcpt blwarn --ip 127.0.0.2)"
conf bltf "$DNS_PORT" '[dnsbl]\nzones = bl.test\naction = tempfail'
same "dnsbl: action = tempfail defers (454 4.7.1)" "tempfail 454 4.7.1 dnsbl" "$(rcpt bltf --ip 127.0.0.2 | cut -d' ' -f1-4)"
conf blnow "$DNS_PORT" '[dnsbl]\nzones = bl.test\ndelay_reject = no'
same "dnsbl: delay_reject = no refuses the greeting" "reject 554 5.7.1 dnsbl" \
    "$(stage_line blnow connect --ip 127.0.0.2 | cut -d' ' -f1-4)"
# hostile list: TXT with CR LF, NUL, 8-bit and 700 bytes
conf evil "$DNS_PORT" '[dnsbl]\nzones = evil.test'
out=$(rcpt evil --ip 192.0.2.10)
check "dnsbl: a hostile TXT is still a listing" test "${out%% *}" = reject
check "dnsbl: a hostile TXT reaches the reply printable, one line, bounded (${#out} bytes)" \
    sh -c '! printf "%s" "$1" | LC_ALL=C grep -q "[^ -~]" && [ ${#1} -le 430 ] && printf "%s" "$1" | grep -qF "Listed??250 fake"' _ "$out"
# no answer
for srv in dead:$DEAD_PORT servfail:$FAIL_PORT; do
    n=${srv%%:*} port=${srv##*:}
    conf "bl_$n" "$port" '[dnsbl]\nzones = bl.test'
    conf "bl_${n}_acc" "$port" '[dnsbl]\nzones = bl.test\non_error = accept'
    same "dnsbl: $n server, on_error = tempfail: 451 at RCPT naming the list" \
        "tempfail 451 4.7.1 dnsbl Service temporarily unavailable; Client host [127.0.0.2]: cannot check bl.test, try again later" \
        "$(rcpt "bl_$n" --ip 127.0.0.2)"
    same "dnsbl: $n server, on_error = accept: passes" "continue 250 2.1.5 - recipient ok" \
        "$(rcpt "bl_${n}_acc" --ip 127.0.0.2)"
done
conf bl_bad "$BAD_PORT" '[dnsbl]\nzones = bl.test'
same "dnsbl: a malformed answer is a temporary failure" "tempfail 451 4.7.1 dnsbl" \
    "$(rcpt bl_bad --ip 127.0.0.2 | short4)"
# one dead list among live ones: answers of the others still count
conf blmix "$DNS_PORT" '[dnsbl]\nzones = bl.test z.dead.test'
same "dnsbl: listed by a live list while another is dead: rejected" "reject 554 5.7.1 dnsbl" \
    "$(rcpt blmix --ip 127.0.0.2 | cut -d' ' -f1-4)"
same "dnsbl: not listed by the live list, the dead one could list: tempfail" "tempfail 451 4.7.1 dnsbl" \
    "$(rcpt blmix --ip 127.0.0.1 | cut -d' ' -f1-4)"
conf blmixwl "$DNS_PORT" '[dnsbl]\nzones = bl.test*2 z.dead.test*-1\nallowlist_threshold = -5'
same "dnsbl: a dead allowlist that could not change the verdict is no error" \
    "reject 554 5.7.1 dnsbl" "$(rcpt blmixwl --ip 127.0.0.2 | cut -d' ' -f1-4)"
# parallel: ten dead lists cost one timeout, not ten
zones=""
for i in $(seq 1 10); do zones="$zones z$i.dead.test"; done
conf bl10dead "$DNS_PORT" "[dnsbl]\nzones =$zones"
ms=$(elapsed_ms "$P" check -c "$T/bl10dead.conf" --ip 192.0.2.10 --from a@b.example --rcpt u@example.com)
check "dnsbl: ten dead lists are asked in parallel: one timeout (${ms} ms < 1900)" test "$ms" -lt 1900
same "dnsbl: ten dead lists: on_error decides" "tempfail 451 4.7.1 dnsbl" \
    "$(rcpt bl10dead --ip 192.0.2.10 | cut -d' ' -f1-4)"
# both layers together, rdns first
conf both "$DNS_PORT" '[rdns]\nforward_confirm = yes\n[dnsbl]\nzones = bl.test bl2.test wl.test*-2'
same "rdns + dnsbl: listed client with a good PTR: dnsbl rejects" "reject 554 5.7.1 dnsbl" \
    "$(rcpt both --ip 192.0.2.66 | cut -d' ' -f1-4)"
"$P" check -v -c "$T/both.conf" --ip 192.0.2.66 --helo h.example --from a@b.example --rcpt u@example.com 2>"$T/v.err" >/dev/null
check "rdns: the PTR name reaches the log (host=)" grep -q "action=reject .*host=listed.client.test" "$T/v.err"
same "rdns + dnsbl: clean client passes" "continue 250 2.1.5 - recipient ok" "$(rcpt both --ip 192.0.2.10)"
same "rdns + dnsbl: missing PTR and unlisted: rdns rejects" "reject 550 5.7.25 rdns" \
    "$(rcpt both --ip 192.0.2.12 | cut -d' ' -f1-4)"

# the action x on_error matrix for both layers: listed and no-answer clients
for layer in rdns dnsbl; do
    if [ $layer = rdns ]; then keys='[rdns]'; listed=192.0.2.12; code="550 5.7.25"; tcode="450 4.7.25"
    else keys='[dnsbl]\nzones = bl.test'; listed=127.0.0.2; code="554 5.7.1"; tcode="454 4.7.1"; fi
    for act in reject tempfail tag warn off; do
        conf "m_${layer}_$act" "$DNS_PORT" "$keys\naction = $act"
        case $act in
        reject) want="reject $code $layer" ;;
        tempfail) want="tempfail $tcode $layer" ;;
        *) want="continue 250 2.1.5 -" ;;
        esac
        same "matrix: $layer listed, action = $act" "$want" "$(rcpt "m_${layer}_$act" --ip "$listed" | short4)"
        same "matrix: $layer not listed, action = $act" "continue 250 2.1.5 -" \
            "$(rcpt "m_${layer}_$act" --ip 192.0.2.10 | short4)"
        for oe in tempfail accept; do
            conf "n_${layer}_${act}_$oe" "$DEAD_PORT" "$keys\naction = $act\non_error = $oe"
            if [ $act = off ] || [ $act = warn ] || [ $oe = accept ]; then want="continue 250 2.1.5 -"
            else want="tempfail 451 $([ $layer = rdns ] && echo 4.7.25 || echo 4.7.1) $layer"; fi
            same "matrix: $layer no answer, action = $act, on_error = $oe" "$want" \
                "$(rcpt "n_${layer}_${act}_$oe" --ip "$listed" | short4)"
        done
    done
    "$P" check -c "$T/m_${layer}_tag.conf" --ip "$listed" --from a@b.example --rcpt u@example.com "$T/msg" > "$T/tag.out" 2>&1
    check "matrix: $layer action = tag adds X-Policy-Tag" grep -q "^edit	add	X-Policy-Tag: $layer; " "$T/tag.out"
    "$P" check -v -c "$T/n_${layer}_warn_tempfail.conf" --ip "$listed" --from a@b.example --rcpt u@example.com 2> "$T/w.err" >/dev/null
    check "matrix: $layer no answer under action = warn is logged as warn-error" grep -q "action=warn-error .*layer=$layer" "$T/w.err"
done

# no dns_servers: /etc/resolv.conf (nameserver 127.0.0.1 in our namespace);
# a hostile server on port 53 lists everybody
if python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 53))' 2>/dev/null; then
    python3 "$HERE/dns/fakedns.py" hostile 53 > "$T/fake53" 2>&1 &
    EXTRA_PIDS="$EXTRA_PIDS $!"
    for _ in $(seq 50); do grep -q ready "$T/fake53" && break; sleep 0.1; done
    printf '[customers]\nlocal_domains = example.com\ntrusted_networks = 10.255.255.0/24\n[dnsbl]\nzones = any.test\n' > "$T/resolv.conf.conf"
    same "without dns_servers the servers of /etc/resolv.conf are asked" "reject 554 5.7.1 dnsbl" \
        "$(rcpt resolv.conf --ip 192.0.2.10 | short4)"
else
    notok "port 53 is free in the test namespace"
fi

# configuration errors
for bad in 'zones = bl.test=127.0.0.[2..x]' 'zones = bl.test*0' 'zones = not_a..zone' \
    'helo_zones = dbl.test*2' 'threshold = 1\nallowlist_threshold = 1' 'timeout = forever'; do
    printf '[dnsbl]\n%b\n' "$bad" > "$T/badbl.conf"
    st=0; "$P" check -c "$T/badbl.conf" --ip 192.0.2.1 >/dev/null 2>"$T/e" || st=$?
    same "dnsbl: configuration error refused: $bad" "78" "$st"
done
printf '[rdns]\nforward_confirm = maybe\n' > "$T/badr.conf"
st=0; "$P" check -c "$T/badr.conf" --ip 192.0.2.1 >/dev/null 2>"$T/e" || st=$?
same "rdns: configuration error refused" "78" "$st"
printf '[general]\ndns_timeout = 0\n' > "$T/badg.conf"
st=0; "$P" check -c "$T/badg.conf" --ip 192.0.2.1 >/dev/null 2>"$T/e" || st=$?
same "general: dns_timeout = 0 refused" "78" "$st"

. "$HERE/dns/adapters.sh"
finish
