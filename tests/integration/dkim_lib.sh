# dkim_lib.sh - the DKIM test world, sourced by dkim.sh, dkim_mta.sh and
# tests/bench/dkim.sh.  dkim_world_start DIR POLICYCTL makes the keys
# (policyctl dkim keygen, RSA 2048 and Ed25519; dkimpy's own RSA key) and
# starts dnsmasq on 127.0.0.1:53 as the authority for *.test, so dkimpy's
# dkimverify and opendkim-testmsg (which read /etc/resolv.conf) find the
# keys as the library does.  Keys longer than 255 bytes are published in
# several strings: dnsmasq joins them only from its config file.  Also:
# slow.test and slow2.test are forwarded to a server that never answers
# (timeouts).  dkim_world_stop stops the
# servers by PID.  Needs root and a private network namespace
# (tests/run-integration.sh).
HERE_DKIM=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DKIM_PIDS=""

# txt_line NAME TEXT - a dnsmasq txt-record line, TEXT cut in 250-byte strings
txt_line() {
    /usr/bin/python3 -c 'import sys
n, t = sys.argv[1], sys.argv[2]
print("txt-record=%s,%s" % (n, ",".join("\"%s\"" % t[i:i + 250] for i in range(0, max(len(t), 1), 250))))' "$1" "$2"
}

# pubkey_of PEM - the p= of a key: SubjectPublicKeyInfo base64 (RSA)
pubkey_of() { openssl pkey -in "$1" -pubout -outform DER 2>/dev/null | base64 -w0; }

dkim_world_start() {
    local W=$1 P=$2
    mkdir -p "$W/keys/example.test" "$W/keys/sub.example.test" "$W/keys/other.test"
    (cd "$W/keys/example.test" && "$P" dkim keygen example.test sel > ../sel.txt 2>/dev/null &&
        "$P" dkim keygen -t ed25519 example.test ed > ../ed.txt 2>/dev/null &&
        cp sel private) || return 1
    (cd "$W/keys/other.test" && "$P" dkim keygen other.test sel > ../other.txt 2>/dev/null) || return 1
    openssl genrsa -out "$W/keys/py.pem" 2048 2>/dev/null || return 1
    # the records, from what keygen printed (its strings joined again)
    local sel ed other
    sel=$(tr -d '\n\t' < "$W/keys/sel.txt" | sed 's/^[^(]*( //; s/ )$//; s/" *"//g; s/^"//; s/"$//')
    ed=$(tr -d '\n\t' < "$W/keys/ed.txt" | sed 's/^[^(]*( //; s/ )$//; s/" *"//g; s/^"//; s/"$//')
    other=$(tr -d '\n\t' < "$W/keys/other.txt" | sed 's/^[^(]*( //; s/ )$//; s/" *"//g; s/^"//; s/"$//')
    DEAD_PORT=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    python3 "$HERE_DKIM/dns/fakedns.py" drop "$DEAD_PORT" > "$W/fake.drop" 2>&1 &
    DKIM_PIDS="$DKIM_PIDS $!"
    {
        cat <<EOF
port=53
listen-address=127.0.0.1
bind-interfaces
no-resolv
no-hosts
keep-in-foreground
log-facility=$W/dnsmasq.log
local=/test/
local=/in-addr.arpa/
server=/slow.test/127.0.0.1#$DEAD_PORT
server=/slow2.test/127.0.0.1#$DEAD_PORT
EOF
        txt_line sel._domainkey.example.test "$sel"
        txt_line private._domainkey.example.test "$sel"
        txt_line ed._domainkey.example.test "$ed"
        txt_line sel._domainkey.other.test "$other"
        txt_line py._domainkey.example.test "v=DKIM1; k=rsa; p=$(pubkey_of "$W/keys/py.pem")"
        txt_line py._domainkey.sub.example.test "v=DKIM1; k=rsa; p=$(pubkey_of "$W/keys/py.pem")"
        txt_line revoked._domainkey.example.test "v=DKIM1; k=rsa; p="
        txt_line broken._domainkey.example.test "v=DKIM1; k=rsa; p=not*base64"
        txt_line test._domainkey.example.test "v=DKIM1; k=rsa; t=y; p=$(pubkey_of "$W/keys/py.pem")"
        # DMARC policies
        echo 'txt-record=_dmarc.example.test,"v=DMARC1; p=reject; rua=mailto:dmarc@example.test"'
        echo 'txt-record=_dmarc.quarantine.test,"v=DMARC1; p=quarantine"'
        echo 'txt-record=_dmarc.none.test,"v=DMARC1; p=none"'
        echo 'txt-record=_dmarc.pct.test,"v=DMARC1; p=reject; pct=0"'
        echo 'txt-record=_dmarc.strict.test,"v=DMARC1; p=reject; adkim=s; aspf=s"'
        echo 'txt-record=_dmarc.parent.test,"v=DMARC1; p=none; sp=reject"'
        # SPF for the DMARC cases: TEST-NET clients (libspf2 passes loopback)
        echo 'txt-record=example.test,"v=spf1 ip4:192.0.2.0/24 -all"'
        echo 'txt-record=bounce.example.test,"v=spf1 ip4:192.0.2.0/24 -all"'
        echo 'txt-record=quarantine.test,"v=spf1 ip4:192.0.2.0/24 -all"'
        echo 'txt-record=none.test,"v=spf1 ip4:192.0.2.0/24 -all"'
        echo 'txt-record=pct.test,"v=spf1 ip4:192.0.2.0/24 -all"'
        echo 'txt-record=strict.test,"v=spf1 ip4:192.0.2.0/24 -all"'
        echo 'txt-record=sub.strict.test,"v=spf1 ip4:192.0.2.0/24 -all"'
        echo 'txt-record=other.test,"v=spf1 ip4:192.0.2.0/24 -all"'
        echo 'txt-record=mail.parent.test,"v=spf1 ip4:192.0.2.0/24 -all"'
        echo 'txt-record=parent.test,"v=spf1 ip4:192.0.2.0/24 -all"'
    } > "$W/dnsmasq.conf"
    dnsmasq --conf-file="$W/dnsmasq.conf" --user=nobody --group=nogroup > "$W/dnsmasq.out" 2>&1 &
    DKIM_PIDS="$DKIM_PIDS $!"
    local i
    for i in $(seq 1 50); do
        if dig +time=1 +tries=1 @127.0.0.1 sel._domainkey.example.test TXT +short 2>/dev/null | grep -q DKIM1 &&
            grep -q ready "$W/fake.drop" 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    echo "dkim_world_start: dnsmasq did not come up" >&2
    cat "$W/dnsmasq.out" >&2
    return 1
}

dkim_world_stop() {
    local p
    for p in $DKIM_PIDS; do kill "$p" 2>/dev/null || true; done
    for p in $DKIM_PIDS; do wait "$p" 2>/dev/null || true; done
    DKIM_PIDS=""
}
