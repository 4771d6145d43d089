# servers.sh - the test DNS world, sourced by dns.sh and the benchmark.
# dns_world_start DIR starts, on 127.0.0.1 and ports of their own:
#   rbldnsd  ($RBL_PORT)  DNSBL/DNSWL/RHSBL zones (RFC 5782 test entries)
#   dnsmasq  ($DNS_PORT)  PTR, A, AAAA, MX, TXT/SPF; forwards the *.test
#                         lists to rbldnsd, so one dns_servers entry is enough
#   fakedns  ($DEAD_PORT) never answers; ($FAIL_PORT) SERVFAIL;
#                         ($EVIL_PORT) hostile TXT answers; ($BAD_PORT, UDP
#                         and TCP) malformed answers and a 10,000-byte SPF
#                         record that needs TCP
# dnsmasq also serves answers of 20 records (TXT over TCP), the record a
# verdict needs last, to catch a resolver that keeps only the first few.
# and dns_world_stop stops them (by PID).  Needs root (rbldnsd drops to
# nobody) and a private network namespace (tests/run-integration.sh).
HERE_DNS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DNS_PIDS=""

# free_port - a UDP port nobody uses now, different for each call
free_port() {
    python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

dns_world_start() {
    local W=$1
    mkdir -p "$W/zones"
    RBL_PORT=$(free_port); DNS_PORT=$(free_port); DEAD_PORT=$(free_port)
    FAIL_PORT=$(free_port); EVIL_PORT=$(free_port); BAD_PORT=$(free_port)

    # ---- rbldnsd: IP lists (v4 and v6) and domain lists
    cat > "$W/zones/bl.zone" <<'EOF'
:127.0.0.2:Listed in bl.test, see http://bl.test/q?ip=$
127.0.0.2
127.0.0.4
127.0.0.5
192.0.2.66
192.0.2.67
192.0.2.50
:127.0.0.10:Policy listing in bl.test (code 10) for $
192.0.2.68
EOF
    cat > "$W/zones/bl6.zone" <<'EOF'
:127.0.0.2:Listed in bl.test (IPv6), see http://bl.test/q?ip=$
2001:db8::66
EOF
    cat > "$W/zones/bl2.zone" <<'EOF'
:127.0.0.3:Listed in bl2.test: $
192.0.2.66
192.0.2.69
EOF
    cat > "$W/zones/wl.zone" <<'EOF'
:127.0.10.2:Allowlisted in wl.test
192.0.2.50
192.0.2.51
EOF
    cat > "$W/zones/dbl.zone" <<'EOF'
:127.0.1.2:Domain listed in dbl.test
bad.example
ptrlisted.client.test
EOF
    chmod -R a+rX "$W/zones"
    rbldnsd -n -u nobody:nogroup -w "$W/zones" -b "127.0.0.1/$RBL_PORT" -t 60 \
        bl.test:ip4set:bl.zone bl.test:ip6trie:bl6.zone bl2.test:ip4set:bl2.zone \
        wl.test:ip4set:wl.zone dbl.test:dnset:dbl.zone >"$W/rbldnsd.log" 2>&1 &
    DNS_PIDS="$DNS_PIDS $!"

    # ---- fakedns: dead, SERVFAIL, hostile
    local m p
    for m in drop:$DEAD_PORT servfail:$FAIL_PORT hostile:$EVIL_PORT bad:$BAD_PORT; do
        python3 "$HERE_DNS/fakedns.py" "${m%%:*}" "${m##*:}" >"$W/fake.${m%%:*}" 2>&1 &
        DNS_PIDS="$DNS_PIDS $!"
    done

    # ---- dnsmasq: the authority for client names, SPF records, forwards
    cat > "$W/dnsmasq.conf" <<EOF
port=$DNS_PORT
listen-address=127.0.0.1
bind-interfaces
no-resolv
no-hosts
keep-in-foreground
log-facility=$W/dnsmasq.log
local=/test/
local=/example/
local=/in-addr.arpa/
local=/ip6.arpa/
server=/bl.test/127.0.0.1#$RBL_PORT
server=/bl2.test/127.0.0.1#$RBL_PORT
server=/wl.test/127.0.0.1#$RBL_PORT
server=/dbl.test/127.0.0.1#$RBL_PORT
server=/dead.test/127.0.0.1#$DEAD_PORT
server=/fail.test/127.0.0.1#$FAIL_PORT
server=/evil.test/127.0.0.1#$EVIL_PORT
server=/spf-huge.test/127.0.0.1#$BAD_PORT
# a good client: PTR and A agree (v4 and v6)
host-record=good.client.test,192.0.2.10
host-record=good6.client.test,2001:db8::10
# PTR points at a name whose A is another address
ptr-record=11.2.0.192.in-addr.arpa,mismatch.client.test
address=/mismatch.client.test/192.0.2.200
ptr-record=1.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa,mismatch6.client.test
host-record=mismatch6.client.test,2001:db8::99
# 192.0.2.12 and 2001:db8::12: no PTR at all
# generic (IP-in-name), forward-confirmed
host-record=192-0-2-13.dyn.isp.test,192.0.2.13
# PTR whose forward lookup never answers
ptr-record=20.2.0.192.in-addr.arpa,host.dead.test
# listed clients with names (one in a RHSBL)
host-record=listed.client.test,192.0.2.66
host-record=other.client.test,192.0.2.67
host-record=allowed.client.test,192.0.2.50
host-record=code10.client.test,192.0.2.68
host-record=bl2only.client.test,192.0.2.69
host-record=listed6.client.test,2001:db8::66
host-record=wlonly.client.test,192.0.2.51
host-record=ptrlisted.client.test,192.0.2.70
# SPF
txt-record=spf-pass.test,"v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 -all"
txt-record=spf-fail.test,"v=spf1 ip4:198.51.100.1 -all"
txt-record=spf-soft.test,"v=spf1 ip4:198.51.100.1 ~all"
txt-record=spf-neutral.test,"v=spf1 ip4:198.51.100.1 ?all"
txt-record=spf-mx.test,"v=spf1 mx -all"
mx-host=spf-mx.test,mx.spf-mx.test,10
host-record=mx.spf-mx.test,192.0.2.10
txt-record=spf-perm.test,"v=spf1 ip4:192.0.2.0/24 foo:bar -all"
txt-record=spf-inc.test,"v=spf1 include:spf.dead.test -all"
txt-record=helo.client.test,"v=spf1 ip4:192.0.2.10 -all"
# a domain that takes no mail (RFC 7505 null MX) although it has an address
mx-host=nullmx.test,.,0
host-record=nullmx.test,192.0.2.77
# an explanation of the domain's own (RFC 7208 6.2)
txt-record=spf-exp.test,"v=spf1 ip4:198.51.100.1 -all exp=why.spf-exp.test"
txt-record=why.spf-exp.test,"%{i} is not one of the mail servers of %{d}"
EOF
    # answers of 20 records, the one that matters last: dnsmasq answers TXT
    # and PTR records in the reverse order of this file, A records in its
    # order.  20 TXT records do not fit in 512 bytes: they come over TCP.
    {
        echo 'txt-record=spf-many.test,"v=spf1 ip4:192.0.2.10 -all"'
        for i in $(seq 1 19); do
            echo "txt-record=spf-many.test,\"site-verification-$i=0123456789abcdef0123456789abcdef\""
        done
        echo 'txt-record=a-many.test,"v=spf1 a -all"'
        for i in $(seq 1 19); do echo "host-record=a-many.test,198.51.100.$i"; done
        echo 'host-record=a-many.test,192.0.2.40'
        for i in $(seq 1 20); do echo "ptr-record=41.2.0.192.in-addr.arpa,name$i.ptr-many.test"; done
        echo 'address=/name11.ptr-many.test/192.0.2.41' # the 10th in the answer
    } >> "$W/dnsmasq.conf"
    dnsmasq --conf-file="$W/dnsmasq.conf" --user=nobody --group=nogroup >"$W/dnsmasq.out" 2>&1 &
    DNS_PIDS="$DNS_PIDS $!"

    # ready when every server answers
    local i
    for i in $(seq 1 50); do
        if dig +time=1 +tries=1 -p "$RBL_PORT" @127.0.0.1 2.0.0.127.bl.test A +short 2>/dev/null | grep -q 127.0.0.2 &&
            dig +time=1 +tries=1 -p "$DNS_PORT" @127.0.0.1 -x 192.0.2.10 +short 2>/dev/null | grep -q good &&
            grep -q ready "$W/fake.drop" 2>/dev/null && grep -q ready "$W/fake.servfail" 2>/dev/null &&
            grep -q ready "$W/fake.hostile" 2>/dev/null && grep -q ready "$W/fake.bad" 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    echo "dns_world_start: servers did not come up" >&2
    cat "$W/rbldnsd.log" "$W/dnsmasq.out" >&2
    return 1
}

dns_world_stop() {
    local p
    for p in $DNS_PIDS; do kill "$p" 2>/dev/null || true; done
    for p in $DNS_PIDS; do wait "$p" 2>/dev/null || true; done
    DNS_PIDS=""
}
