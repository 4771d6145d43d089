#!/bin/bash
# tcprules_compat.sh - rules compiled by the real tcprules give libpolicy the
# same variables the real tcpserver gives a qmail-smtpd, client by client.
# Needs ucspi-tcp (tcprules, tcpserver, tcpclient) and tinycdb (cdb).
# Run inside a private network namespace (tests/run-integration.sh does).
set -eu
. "$(dirname "$0")/lib.sh"
B=$(cd "$1" && pwd)
VARS="$B/tests/tools/tcprules_vars"
mktmp

cat > "$T/tcp.smtp" <<'RULES'
# qmailtoaster-style rules, translated to libpolicy variables
127.0.0.1:allow,RELAYCLIENT="",POLICY_LAYERS="spam,virus"
127.0.0.5-9:allow,RELAYCLIENT="",CHKUSER_RCPTLIMIT="50"
127.0.1.:allow,RBLSMTPD="",POLICY_DNSBL="off"
127.0.2.66:deny
127.0.3.:allow,RBLSMTPD="-Blocked: see http://example.test/why"
127.0.4.1:allow
=.good.example:allow,POLICY_DNSBL="off"
=mx.friend.example:allow,RELAYCLIENT=""
:allow,CHKUSER_WRONGRCPTLIMIT="3",BADMIMETYPE="",SPFBEHAVIOR="3"
RULES
tcprules "$T/tcp.smtp.cdb" "$T/tcp.smtp.tmp" < "$T/tcp.smtp"
check "the real tcprules compiles the rules" test -s "$T/tcp.smtp.cdb"

NAMES='RELAYCLIENT|RBLSMTPD|CHKUSER_[A-Z]*|BADMIMETYPE|BADLOADERTYPE|SPFBEHAVIOR|POLICY_[A-Z]*'
PORT=$(( 20000 + RANDOM % 20000 ))
tcpserver -H -R -l 0 -x "$T/tcp.smtp.cdb" 127.0.0.1 "$PORT" \
    sh -c "env | grep -E '^($NAMES)=' | sort; echo end" > /dev/null 2>"$T/server.err" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; rm -rf "$T"' EXIT
for _ in $(seq 50); do
    tcpclient -H -R -l 0 127.0.0.1 "$PORT" true 2>/dev/null && break
    sleep 0.1
done

# what tcpserver gives a client bound to address $1 ("deny" when it closes at once)
from_tcpserver() {
    local out
    out=$(tcpclient -H -R -l 0 -i "$1" 127.0.0.1 "$PORT" sh -c 'cat <&6' 2>/dev/null || true)
    if [ -z "$out" ]; then echo deny; else printf '%s\n' "$out" | grep -v '^end$' | sort; fi
}

# what libpolicy gives the same address (none = no rule, shown as nothing)
from_libpolicy() {
    "$VARS" "$T/tcp.smtp.cdb" "$1" | grep -v '^none$' | sort
}

for ip in 127.0.0.1 127.0.0.2 127.0.0.5 127.0.0.7 127.0.0.9 127.0.0.10 127.0.1.1 127.0.1.200 \
          127.0.2.66 127.0.2.67 127.0.3.3 127.0.4.1 127.0.4.2 127.9.9.9; do
    same "client $ip gets the same variables from libpolicy as from tcpserver" \
        "$(from_tcpserver "$ip")" "$(from_libpolicy "$ip")"
done

# host rules: tcpserver needs a resolver for TCPREMOTEHOST, so these are
# checked against the records the real tcprules wrote (cdb -d) instead.
dump=$(cdb -d "$T/tcp.smtp.cdb" | tr '\0' '|')
case "$dump" in *'=.good.example'*) ok "tcprules stores =.suffix host rules as =.suffix keys" ;;
    *) notok "tcprules stores =.suffix host rules as =.suffix keys" "$dump" ;; esac
same "a host under =.good.example gets its rule" "POLICY_DNSBL=off" \
    "$("$VARS" "$T/tcp.smtp.cdb" 192.0.2.1 relay.good.example)"
same "=mx.friend.example matches that host exactly" "RELAYCLIENT=" \
    "$("$VARS" "$T/tcp.smtp.cdb" 192.0.2.1 mx.friend.example)"
same "an address rule wins over a host rule" "RELAYCLIENT=
POLICY_LAYERS=spam,virus" "$("$VARS" "$T/tcp.smtp.cdb" 127.0.0.1 relay.good.example)"
same "the range 127.0.0.5-9 became five keys" "5" \
    "$(cdb -l "$T/tcp.smtp.cdb" | grep -c ':127\.0\.0\.[5-9]$' || true)"

# policyctl reads the same file named in the configuration
PCTL="$B/adapters/cli/policyctl"
printf '[general]\ntcprules = %s\n' "$T/tcp.smtp.cdb" > "$T/policy.conf"
if "$PCTL" check -c "$T/policy.conf" --ip 127.0.0.7 --from a@example.test \
        --rcpt someone@remote.example >"$T/out" 2>&1; then
    ok "policyctl check relays for a client that tcp.smtp gives RELAYCLIENT"
else
    notok "policyctl check relays for a client that tcp.smtp gives RELAYCLIENT" "$(cat "$T/out")"
fi
if "$PCTL" check -c "$T/policy.conf" --ip 192.0.2.1 --from a@example.test \
        --rcpt someone@remote.example >"$T/out" 2>&1; then
    notok "policyctl check denies relay to a client without RELAYCLIENT" "$(cat "$T/out")"
else
    ok "policyctl check denies relay to a client without RELAYCLIENT"
fi
code=0; "$PCTL" check -c "$T/policy.conf" --ip 127.0.2.66 >"$T/out" 2>&1 || code=$?
same "policyctl check refuses a client that tcp.smtp denies (exit 1)" 1 "$code"
finish
