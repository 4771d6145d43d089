#!/bin/bash
# example_config.sh BUILD_DIR - docs/examples/policy.conf loads (with its
# qmail paths pointed at test files) and does what its comments say; so
# does debian/policy.conf, the packages' default, with no file at all.
set -eu
. "$(dirname "$0")/lib.sh"
B=$(cd "$1" && pwd)
EX="$(dirname "$0")/../../docs/examples/policy.conf"
P="$B/adapters/cli/policyctl"
mktmp
printf '^[0-9.]+$\n' > "$T/badhelo"
printf '@spam\\.example$\n' > "$T/badmailfrom"
printf '^nobody@example\\.com$\n' > "$T/badrcptto"
printf '@example\\.com$\n' > "$T/badmailfromnorelay"
printf '127.:allow,RELAYCLIENT=""\n:allow\n' > "$T/tcp.smtp"
tcprules "$T/tcp.smtp.cdb" "$T/tcp.tmp" < "$T/tcp.smtp"
printf 'u@mail.example.com\n@example.net\nu@example.com\n' > "$T/recipients.txt"
"$P" makemap "$T/recipients.txt" "$T/recipients.cdb"
sed -e "s|/var/qmail/control/|$T/|; s|/etc/tcp.smtp.cdb|$T/tcp.smtp.cdb|" \
    -e "s|/etc/libpolicy/recipients.cdb|$T/recipients.cdb|" "$EX" > "$T/policy.conf"

# the DNS layers are tested against real servers in dns.sh and spf.sh;
# here (no DNS server at all) they are switched off per client
NODNS=(--var POLICY_RDNS=off --var POLICY_DNSBL=off --var POLICY_SPF=off)
run() { local s=0; "$P" check -c "$T/policy.conf" "${NODNS[@]}" "$@" >"$T/out" 2>&1 || s=$?; echo $s; }
same "the example configuration loads and accepts mail for a local domain" 0 \
    "$(run --ip 198.51.100.1 --helo mx.example.org --from a@example.org --rcpt u@mail.example.com)"
same "the example refuses relay to strangers" 1 \
    "$(run --ip 198.51.100.1 --helo mx.example.org --from a@example.org --rcpt u@remote.example)"
same "the example trusts 192.0.2.0/24 (a continued line)" 0 \
    "$(run --ip 192.0.2.9 --helo mx.example.org --from a@example.org --rcpt u@remote.example)"
same "the example refuses a forged local sender from a stranger" 1 \
    "$(run --ip 198.51.100.1 --helo mx.example.org --from boss@example.com --rcpt u@example.net)"
same "the example's sender_login refuses another user's address" 1 \
    "$(run --ip 198.51.100.1 --auth alice@example.com --from bob@example.com --rcpt u@remote.example)"
same "the example refuses an unknown local recipient" 1 \
    "$(run --ip 198.51.100.1 --helo mx.example.org --from a@example.org --rcpt nobody@example.com)"
same "the example reaches user-ext@ through user@" 0 \
    "$(run --ip 198.51.100.1 --helo mx.example.org --from a@example.org --rcpt u-news@example.com)"
NODNS=()
DEB="$(dirname "$0")/../../debian/policy.conf"
deb() { local s=0; "$P" check -c "$DEB" "$@" >"$T/out" 2>&1 || s=$?; echo $s; }
same "debian/policy.conf loads with no file of its own" 0 \
    "$(deb --ip 127.0.0.1 --helo localhost --from root@localhost --rcpt u@remote.example)"
check "debian/policy.conf names no file" bash -c "! grep -E '^[a-z_]+ *= */' '$DEB'"
check "policy-milter -T accepts debian/policy.conf" \
    bash -c '"$1" -T -c "$2" >/dev/null' - "$B/adapters/milter/policy-milter" "$DEB"
same "debian/policy.conf refuses relay to strangers" 1 \
    "$(deb --ip 198.51.100.1 --helo mx.example.org --from a@example.org --rcpt u@remote.example)"
same "debian/policy.conf takes mail for localhost" 0 \
    "$(deb --ip 198.51.100.1 --helo mx.example.org --from a@example.org --rcpt postmaster@localhost)"
# no DNS server answers here: the DNS layers in warn mode log, never defer
same "debian/policy.conf's rdns and spf only log when DNS fails (action = warn)" 0 \
    "$(deb --ip 198.51.100.1 --helo mx.example.org --from a@example.org --rcpt root@localhost)"
printf 'From: a@example.org\nSubject: x\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="b"\n\n--b\nContent-Type: text/plain\n\nhi\n--b\nContent-Type: application/octet-stream\nContent-Disposition: attachment; filename="run.exe"\n\nMZ\n--b--\n' > "$T/exe.eml"
same "debian/policy.conf only logs a program attached (action = warn)" 0 \
    "$(deb -v --ip 198.51.100.1 --helo mx.example.org --from a@example.org --rcpt root@localhost "$T/exe.eml")"
check "debian/policy.conf logs that program (action=warn layer=attachments)" \
    grep -q 'stage=eom action=warn .*layer=attachments' "$T/out"
same "the example's DNS layers defer (on_error = tempfail) when no DNS server answers" 2 \
    "$(run --ip 198.51.100.1 --helo mx.example.org --from a@example.org --rcpt u@mail.example.com)"
finish
