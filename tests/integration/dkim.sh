#!/bin/bash
# dkim.sh - the [dkim] layer through policyctl against real implementations
# on both sides: what we sign verifies with dkimpy (dkimverify) and
# OpenDKIM (opendkim-testmsg), what dkimpy signs verifies with us; keys
# come from dnsmasq (dkim_lib.sh).  Then messages mangled each way (body,
# a signed header, key revoked, missing, broken or in testing mode, DNS
# timeout, x= expired, l= with text appended, two From headers, a
# malformed signature), qmail-dk's DKVERIFY and qmail-dkim's DKIMVERIFY
# letters and what they do, forged Authentication-Results, and DMARC
# (reject, quarantine, none, pct, strict alignment, subdomain policy) with
# the SPF fact of the spf layer, enforced or header only, and its history
# file.
set -u
. "$(dirname "$0")/lib.sh"
B=$(cd "$1" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
P="$B/adapters/cli/policyctl"
SIGN="/usr/bin/python3 $HERE/dkim/sign.py"
mktmp
. "$HERE/dkim_lib.sh"
trap 'dkim_world_stop; wait 2>/dev/null; rm -rf "$T"' EXIT
if ! dkim_world_start "$T/w" "$P"; then
    notok "the DKIM test world (keys, dnsmasq) starts"
    finish
    exit 1
fi
K="$T/w/keys"

# conf NAME [DKIM-KEYS] - a configuration with [dkim] (and [spf], [customers])
conf() {
    cat > "$T/$1.conf" <<EOF
[general]
hostname = mx.example.test
dns_servers = 127.0.0.1
dns_timeout = 1s
[customers]
local_domains = example.com
[spf]
behavior = 1
[dkim]
$(printf '%b' "${2:-}")
EOF
}
conf plain
conf signing "sign_key = $K/%/sel"
conf simple "sign_key = $K/%/sel\ncanonicalization = simple/simple"
conf ed "sign_key = $K/example.test/ed"
conf nokey "sign_key = $K/example.test/absent"
conf expiring "sign_key = $K/%/sel\nsignature_expire = 3600"
conf letters "dkverify = DEGIJKfh"
conf enforce "dmarc_enforce = yes\ndmarc_history = $T/history"

# quiet checkers: dkimpy, OpenDKIM, and ourselves
dkimpy_ok() { dkimverify < "$1" > /dev/null 2>&1; }
testmsg_ok() { opendkim-testmsg < "$1" > /dev/null 2>&1; }
we_verify() { "$P" dkim verify -c "$T/$1.conf" "$2" > /dev/null 2>&1; }
msg() { # msg FROM [EXTRA-HEADER] - a plain message, CRLF
    printf 'From: Alice <%s>\r\nTo: b@example.com\r\nSubject: hello\r\nDate: Mon, 2 Nov 2026 10:00:00 +0000\r\nMessage-ID: <%s.1@example.test>\r\n%sMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nthe body  \r\nof the message\r\n\r\n' \
        "$1" "$RANDOM" "${2:-}"
}
msg a@example.test > "$T/m"
msg a@slow.test > "$T/m.slow"
msg a@sub.example.test > "$T/m.sub"

# ---- we sign, others verify
"$P" dkim sign -c "$T/signing.conf" "$T/m" > "$T/s.relaxed"
same "dkim sign: exit 0" 0 $?
check "we sign (rsa-sha256, relaxed/relaxed): dkimpy verifies" dkimpy_ok "$T/s.relaxed"
check "we sign (rsa-sha256, relaxed/relaxed): opendkim-testmsg verifies" testmsg_ok "$T/s.relaxed"
# unsigned FILE - the message without the DKIM-Signature on top
unsigned() { awk 'BEGIN { s = 1 } s && /^DKIM-Signature:/ { next } s && /^\t/ { next } { s = 0; print }' "$1"; }
# tag_of FILE TAG - a tag of the DKIM-Signature on top, unfolded
tag_of() { awk '/^DKIM-Signature:/ { p = 1 } p && !/^(DKIM-Signature:|\t)/ { exit } p' "$1" | tr -d '\r\n\t ' |
    tr ';' '\n' | sed -n "s/^\(DKIM-Signature:\)\?$2=//p"; }
check "the signature is the first header, the message after it untouched" cmp -s "$T/m" <(unsigned "$T/s.relaxed")
same "h= lists the headers there are and oversigns From" "From:To:Subject:Date:Message-ID:MIME-Version:Content-Type:From" \
    "$(tag_of "$T/s.relaxed" h)"
same "selector and domain: s=sel d=example.test" "sel example.test" "$(tag_of "$T/s.relaxed" s) $(tag_of "$T/s.relaxed" d)"
"$P" dkim sign -c "$T/simple.conf" "$T/m" > "$T/s.simple"
check "we sign simple/simple: dkimpy verifies" dkimpy_ok "$T/s.simple"
check "we sign simple/simple: opendkim-testmsg verifies" testmsg_ok "$T/s.simple"
# libopendkim 2.11.0~beta2 leaks the Ed25519 key it loads to sign (its
# dkim_privkey_load, dkim_free forgets it): not ours, kept from LeakSanitizer
printf 'leak:dkim_privkey_load\n' > "$T/lsan.supp"
LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$T/lsan.supp:fast_unwind_on_malloc=0" \
    "$P" dkim sign -c "$T/ed.conf" "$T/m" > "$T/s.ed"
same "dkim sign with an Ed25519 key: exit 0" 0 $?
check "we sign ed25519-sha256: the header says so" grep -q 'a=ed25519-sha256' "$T/s.ed"
check "we sign ed25519-sha256: dkimpy verifies" dkimpy_ok "$T/s.ed"
check "we sign ed25519-sha256: we verify it" we_verify plain "$T/s.ed"
tr -d '\r' < "$T/m" > "$T/m.lf"
"$P" dkim sign -c "$T/signing.conf" "$T/m.lf" > "$T/s.lf"
check "a message with LF line ends (qmail's) is signed as on the wire: dkimpy verifies its CRLF form" \
    dkimpy_ok <(sed 's/$/\r/' "$T/s.lf")
check "the LF message keeps its LF line ends, the signature takes them too" \
    bash -c "cmp -s '$T/m.lf' <(awk 'BEGIN { s = 1 } s && /^DKIM-Signature:/ { next } s && /^\t/ { next } { s = 0; print }' '$T/s.lf') && ! grep -q \$'\\r' '$T/s.lf'"

sed 's/^of the message/of the massage/' "$T/s.relaxed" > "$T/s.mangled"
check "control: dkimpy refuses our signature once the body changed" bash -c "! dkimverify < '$T/s.mangled' > /dev/null 2>&1"
check "control: opendkim-testmsg refuses it too" bash -c "! opendkim-testmsg < '$T/s.mangled' > /dev/null 2>&1"

# ---- DKSIGN and DKIMSIGN, qmail-dk's semantics
"$P" dkim sign -c "$T/plain.conf" --var "DKSIGN=$K/%/private" "$T/m" > "$T/s.pct"
same "DKSIGN with %: the From domain's key, selector = the file's name (s=private)" private "$(tag_of "$T/s.pct" s)"
check "DKSIGN with %: dkimpy verifies" dkimpy_ok "$T/s.pct"
"$P" dkim sign -c "$T/plain.conf" --var "DKIMSIGN=$K/example.test/sel" "$T/m" > "$T/s.dkimsign"
check "DKIMSIGN (qmail-dkim's name) signs too: dkimpy verifies" dkimpy_ok "$T/s.dkimsign"
msg a@nodomainkey.test > "$T/m.nodk"
"$P" dkim sign -c "$T/plain.conf" --var "DKSIGN=$K/%/private" "$T/m.nodk" > /dev/null 2> "$T/err"
same "DKSIGN with % and no key file for the domain: not signed (exit 1)" 1 $?
check_eom() { # check_eom CONF MSG IP ARGS... - "action code xcode" of the end of message
    local c=$1 m=$2 ip=$3
    shift 3
    "$P" check -c "$T/$c.conf" --ip "$ip" --helo client.test --from a@other.test --rcpt b@example.com "$@" "$m" \
        2> /dev/null | awk -F'\t' '$1 == "eom" { print $2 " " $3 " " $4 }'
}
edits() { # edits CONF MSG IP ARGS... - the edit lines
    local c=$1 m=$2 ip=$3
    shift 3
    "$P" check -c "$T/$c.conf" --ip "$ip" --helo client.test --from a@other.test --rcpt b@example.com "$@" "$m" \
        2> /dev/null | awk -F'\t' '$1 == "edit" { print $2 " " $3 }'
}
same "DKSIGN with % and no key: the message passes unsigned" "continue 250 2.0.0" \
    "$(check_eom plain "$T/m.nodk" 127.0.0.1 --var "DKSIGN=$K/%/private")"
same "DKSIGN without % and the key missing: a temporary failure (451)" "tempfail 451 4.3.0" \
    "$(check_eom plain "$T/m" 127.0.0.1 --var "DKSIGN=$K/example.test/absent")"
openssl genrsa -traditional -out "$T/traditional.pem" 2048 2> /dev/null
"$P" dkim sign -c "$T/plain.conf" --var "DKSIGN=$T/traditional.pem" "$T/m" > "$T/s.trad"
same "a key in the traditional RSA format signs too (selector traditional.pem)" "0 traditional.pem" \
    "$? $(tag_of "$T/s.trad" s)"
openssl ecparam -name prime256v1 -genkey -noout -out "$T/ec.pem" 2> /dev/null
same "an EC key is no DKIM key: a temporary failure, not a bad signature" "tempfail 451 4.3.0" \
    "$(check_eom plain "$T/m" 127.0.0.1 --var "DKSIGN=$T/ec.pem")"
# loaded_libs CONF - the DKIM libraries the dynamic loader opened for one check
loaded_libs() {
    LD_DEBUG=files "$P" check -c "$1" --ip 192.0.2.1 --helo client.test --from a@other.test \
        --rcpt b@example.com "$T/m" 2>&1 >/dev/null | grep -o 'file=libopen[a-z]*' | sort -u | tr '\n' ' '
}
grep -v '^\[dkim\]' "$T/plain.conf" > "$T/nodkim.conf"
same "without [dkim] neither libopendkim nor libopendmarc is loaded" "" "$(loaded_libs "$T/nodkim.conf")"
same "with [dkim] both are loaded (dlopen)" "file=libopendkim file=libopendmarc " "$(loaded_libs "$T/plain.conf")"
"$P" dkim sign -c "$T/nokey.conf" "$T/m" > /dev/null 2> "$T/err"
same "sign_key without % must exist when the configuration loads (exit 78, naming the file)" "78 1" \
    "$? $(grep -c 'absent' "$T/err")"
printf 'example.test sel:%s\nother.test %s\n' "$K/example.test/sel" "$K/other.test/sel" > "$T/keys.txt"
cdb -c -m "$T/keys.cdb" < "$T/keys.txt"
conf map "key_map = $T/keys.cdb"
"$P" dkim sign -c "$T/map.conf" "$T/m" > "$T/s.map"
check "key_map: the domain's entry (selector:path) signs: dkimpy verifies" dkimpy_ok "$T/s.map"
msg a@other.test > "$T/m.other"
"$P" dkim sign -c "$T/map.conf" "$T/m.other" > "$T/s.map2"
same "key_map: an entry without a selector takes the file's name" "sel other.test" \
    "$(tag_of "$T/s.map2" s) $(tag_of "$T/s.map2" d)"
check "key_map: ... and dkimpy verifies it" dkimpy_ok "$T/s.map2"
same "customers are signed, not verified: no Authentication-Results" "insert DKIM-Signature:" \
    "$(edits signing "$T/m" 127.0.0.1 | cut -d' ' -f1-2)"

# ---- dkimpy signs, we verify
$SIGN "$K/py.pem" py example.test < "$T/m" > "$T/py"
"$P" dkim verify -c "$T/plain.conf" "$T/py" > "$T/ar"
same "dkimpy signs (relaxed/relaxed): we verify, exit 0" 0 $?
check "the Authentication-Results value names our host, the domain and the selector" \
    grep -q '^mx.example.test;' "$T/ar"
check "... dkim=pass header.d=example.test ... header.s=py" grep -q 'dkim=pass header.d=example.test .*header.s=py' "$T/ar"
$SIGN "$K/py.pem" py example.test --hcanon simple --bcanon simple < "$T/m" > "$T/py.simple"
check "dkimpy signs simple/simple: we verify" we_verify plain "$T/py.simple"
$SIGN "$K/py.pem" py example.test --hcanon relaxed --bcanon simple < "$T/m" > "$T/py.rs"
check "dkimpy signs relaxed/simple: we verify" we_verify plain "$T/py.rs"
$SIGN "$K/py.pem" py sub.example.test < "$T/py" > "$T/py.two"
"$P" dkim verify -c "$T/plain.conf" "$T/py.two" > "$T/ar"
same "two signatures, both good: two dkim=pass results, exit 0" "2 0" "$(grep -c 'dkim=pass' "$T/ar") $?"

# ---- mangled messages: the result and its reason
ar_of() { # ar_of CONF MSG [ARGS] - the first dkim= result and its comment
    "$P" dkim verify -c "$T/$1.conf" "${@:3}" "$2" 2> /dev/null | grep -o 'dkim=[a-z]*\( ([^)]*)\)\?' | head -1
}
sed 's/^of the message/of the massage/' "$T/py" > "$T/x.body"
same "body changed: dkim=fail (body hash did not verify)" "dkim=fail (body hash did not verify)" "$(ar_of plain "$T/x.body")"
check "... and verify exits 1" bash -c "! '$P' dkim verify -c '$T/plain.conf' '$T/x.body' > /dev/null"
sed 's/^Subject: hello/Subject: hellO/' "$T/py" > "$T/x.subject"
same "a signed header changed: dkim=fail (signature did not verify)" "dkim=fail (signature did not verify)" \
    "$(ar_of plain "$T/x.subject")"
printf 'X-Unsigned: added later\r\n' | cat - "$T/py" > "$T/x.unsigned"
same "an unsigned header added: still dkim=pass" "dkim=pass" "$(ar_of plain "$T/x.unsigned")"
$SIGN "$K/py.pem" revoked example.test < "$T/m" > "$T/x.revoked"
same "key revoked (p= empty): dkim=permerror (key revoked)" "dkim=permerror (key revoked)" "$(ar_of plain "$T/x.revoked")"
$SIGN "$K/py.pem" nokey example.test < "$T/m" > "$T/x.nokey"
same "key missing: dkim=permerror (no key for signature)" "dkim=permerror (no key for signature)" "$(ar_of plain "$T/x.nokey")"
$SIGN "$K/py.pem" broken example.test < "$T/m" > "$T/x.broken"
same "key unusable (p= not base64): dkim=permerror (key unusable)" "dkim=permerror (key unusable)" "$(ar_of plain "$T/x.broken")"
$SIGN "$K/py.pem" py slow.test < "$T/m.slow" > "$T/x.slow"
start=$(date +%s%N)
same "DNS timeout: dkim=temperror (key lookup failed: timeout)" "dkim=temperror (key lookup failed: timeout)" \
    "$(ar_of plain "$T/x.slow")"
ms=$((($(date +%s%N) - start) / 1000000))
check "the timeout is bounded by dns_timeout (1s): took ${ms}ms" test "$ms" -lt 2500
$SIGN "$K/py.pem" py slow2.test < "$T/x.slow" > "$T/x.slow2"
start=$(date +%s%N)
same "two keys and the DMARC records time out side by side: both temperror" "2" \
    "$("$P" dkim verify -c "$T/plain.conf" "$T/x.slow2" | grep -c 'dkim=temperror (key lookup failed: timeout)')"
ms=$((($(date +%s%N) - start) / 1000000))
check "... in one timeout, not the sum: took ${ms}ms" test "$ms" -lt 2500
# (libfaketime is preloaded before the ASan runtime: let an ASan build run)
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" faketime -f '-2d' "$P" dkim sign -c "$T/expiring.conf" "$T/m" > "$T/x.expired" 2> /dev/null
check "an x= tag when signature_expire is set" grep -q 'x=' "$T/x.expired"
same "x= has passed: dkim=fail (signature expired)" "dkim=fail (signature expired)" "$(ar_of plain "$T/x.expired")"
$SIGN "$K/py.pem" py example.test --length < "$T/m" > "$T/x.len"
same "l= covering the whole body: dkim=pass" "dkim=pass" "$(ar_of plain "$T/x.len")"
{ cat "$T/x.len"; printf 'Appended: click here\r\n'; } > "$T/x.len2"
same "l= and text appended after it: dkim=policy (part of the body is not signed)" \
    "dkim=policy (body length tag: part of the body is not signed)" "$(ar_of plain "$T/x.len2")"
printf 'From: Mallory <m@evil.test>\r\n' | cat - "$T/py" > "$T/x.from2"
same "two From headers: dkim=policy (From header not signed once)" "dkim=policy (From header not signed once)" \
    "$(ar_of plain "$T/x.from2")"
$SIGN "$K/py.pem" test example.test < "$T/m" | sed 's/^of the message/of the massage/' > "$T/x.testing"
same "a failing signature under a t=y key: dkim=neutral, as if unsigned" "dkim=neutral (failed, key in testing mode)" \
    "$(ar_of plain "$T/x.testing")"
sed 's/ bh=[^;]*;//' "$T/py" > "$T/x.syntax"
same "a signature without bh=: dkim=neutral (signature syntax error)" "dkim=neutral (signature syntax error)" \
    "$(ar_of plain "$T/x.syntax")"
"$P" dkim verify -c "$T/plain.conf" "$T/m" > "$T/ar"
same "an unsigned message: dkim=none, exit 1" "1 dkim=none" "$? $(grep -o 'dkim=none' "$T/ar")"

# ---- DKVERIFY / DKIMVERIFY letters and their actions (outside client)
X=192.0.2.10
same "DKVERIFY=DEGIJKfh: no key (D) is refused, 550 5.7.20" "reject 550 5.7.20" \
    "$(check_eom plain "$T/x.nokey" $X --var DKVERIFY=DEGIJKfh)"
same "DKVERIFY=DEGIJKfh: revoked (J) is refused" "reject 550 5.7.20" \
    "$(check_eom plain "$T/x.revoked" $X --var DKVERIFY=DEGIJKfh)"
same "DKVERIFY=DEGIJKfh: key unusable (E) is refused" "reject 550 5.7.20" \
    "$(check_eom plain "$T/x.broken" $X --var DKVERIFY=DEGIJKfh)"
same "DKVERIFY=DEGIJKfh: a malformed signature (G) is refused" "reject 550 5.7.20" \
    "$(check_eom plain "$T/x.syntax" $X --var DKVERIFY=DEGIJKfh)"
same "DKVERIFY=DEGIJKfh: DNS timeout (f) is deferred, 451 4.7.5" "tempfail 451 4.7.5" \
    "$(check_eom plain "$T/x.slow" $X --var DKVERIFY=DEGIJKfh)"
same "DKVERIFY=DEGIJKfh: a bad body hash (B, not in the set) only gets the header" "continue 250 2.0.0" \
    "$(check_eom plain "$T/x.body" $X --var DKVERIFY=DEGIJKfh)"
same "DKVERIFY=DEGIJKfh: an unsigned message (C, not in the set) passes" "continue 250 2.0.0" \
    "$(check_eom plain "$T/m" $X --var DKVERIFY=DEGIJKfh)"
same "DKVERIFY=DEGIJKfh: a good signature passes" "continue 250 2.0.0" \
    "$(check_eom plain "$T/py" $X --var DKVERIFY=DEGIJKfh)"
same "DKVERIFY=C refuses unsigned mail" "reject 550 5.7.20" "$(check_eom plain "$T/m" $X --var DKVERIFY=C)"
same "DKVERIFY=b defers a bad signature" "tempfail 451 4.7.5" "$(check_eom plain "$T/x.body" $X --var DKVERIFY=b)"
same "DKVERIFY=M refuses two From headers" "reject 550 5.7.20" "$(check_eom plain "$T/x.from2" $X --var DKVERIFY=M)"
same "DKVERIFY=Bb: upper case wins (refused)" "reject 550 5.7.20" "$(check_eom plain "$T/x.body" $X --var DKVERIFY=Bb)"
same "DKIMVERIFY=U refuses a body hash mismatch" "reject 550 5.7.20" "$(check_eom plain "$T/x.body" $X --var DKIMVERIFY=U)"
same "DKIMVERIFY=I does not refuse it (I is a bad header signature)" "continue 250 2.0.0" \
    "$(check_eom plain "$T/x.body" $X --var DKIMVERIFY=I)"
same "DKIMVERIFY=p defers a DNS timeout" "tempfail 451 4.7.5" "$(check_eom plain "$T/x.slow" $X --var DKIMVERIFY=p)"
same "DKIMVERIFY=S refuses unsigned mail" "reject 550 5.7.20" "$(check_eom plain "$T/m" $X --var DKIMVERIFY=S)"
same "DKIMVERIFY=K refuses an expired signature" "reject 550 5.7.20" "$(check_eom plain "$T/x.expired" $X --var DKIMVERIFY=K)"
same "DKIMVERIFY=N refuses a revoked key" "reject 550 5.7.20" "$(check_eom plain "$T/x.revoked" $X --var DKIMVERIFY=N)"
same "DKIMVERIFY=X refuses two From headers" "reject 550 5.7.20" "$(check_eom plain "$T/x.from2" $X --var DKIMVERIFY=X)"
same "qmail-dkim's conservative FGHIKLMNOQRTUVWjp refuses a body hash mismatch" "reject 550 5.7.20" \
    "$(check_eom plain "$T/x.body" $X --var DKIMVERIFY=FGHIKLMNOQRTUVWjp)"
same "without letters a missing key only gets the header" "continue 250 2.0.0" "$(check_eom plain "$T/x.nokey" $X)"
same "the configuration's dkverify applies when the client has no DKVERIFY" "reject 550 5.7.20" \
    "$(check_eom letters "$T/x.nokey" $X)"
same "the client's DKVERIFY (even empty) overrides the configuration's" "continue 250 2.0.0" \
    "$(check_eom letters "$T/x.nokey" $X --var DKVERIFY=)"
"$P" check -c "$T/plain.conf" --ip $X --helo client.test --from a@other.test --rcpt b@example.com \
    --var DKVERIFY=DEGIJKfh "$T/x.nokey" > "$T/out" 2>&1
check "the refusal names the reason and the domain" \
    grep -q $'^eom\treject\t550\t5.7.20\tdkim\tDKIM: no key for signature for example.test$' "$T/out"
check "customers are not verified: no letter refuses them" \
    bash -c "'$P' check -c '$T/plain.conf' --ip 127.0.0.1 --from a@example.test --rcpt b@example.com --var DKVERIFY=C '$T/m' | grep -q \$'^eom\tcontinue'"
conf badpsl "public_suffix_list = $T/nonexistent.dat"
"$P" dkim verify -c "$T/badpsl.conf" "$T/m" > /dev/null 2> "$T/err"
same "a public suffix list that cannot be read is a configuration error" "78 1" "$? $(grep -c 'nonexistent.dat' "$T/err")"
conf badletters "dkverify = DEGIJKZ"
check "dkverify with a letter past M is a configuration error" \
    bash -c "'$P' dkim verify -c '$T/badletters.conf' '$T/m' 2>&1 | grep -q 'dkverify'"

# ---- forged Authentication-Results
{ printf 'Authentication-Results: mx.example.test; dkim=pass header.d=example.test\r\n'
  printf 'Authentication-Results: other.example; spf=pass\r\n'
  printf 'Authentication-Results: MX.Example.Test (spoofed);\r\n\tdmarc=pass\r\n'
  cat "$T/x.nokey"; } > "$T/x.forged"
edits plain "$T/x.forged" $X | tr -d "\r" | grep Authentication-Results > "$T/edits"
same "forged Authentication-Results with our authserv-id are deleted, the highest first; a foreign one stays" \
    "delete Authentication-Results #3|delete Authentication-Results|insert Authentication-Results: mx.example.test;" \
    "$(cut -d' ' -f1-3 "$T/edits" | tr '\n' '|' | sed 's/|$//')"

# ---- DMARC, with the SPF fact of the spf layer (client 192.0.2.10 passes SPF)
# dmarc_of CONF MSG FROM-ENVELOPE - "eom action code xcode | dmarc=RESULT (COMMENT) | tags":
# the comment of Authentication-Results, or of the log line of a refusal
# (a refused message gets no header)
dmarc_of() {
    local out
    out=$("$P" check -v -c "$T/$1.conf" --ip $X --helo client.test --from "$3" --rcpt b@example.com "$2" 2>&1)
    printf '%s | %s | %s' "$(echo "$out" | awk -F'\t' '$1 == "eom" { print $2 " " $3 " " $4 }')" \
        "$(echo "$out" | grep -o 'dmarc=[a-z]* ([^)]*)\|reason="dmarc=[^"]*"' | head -1)" \
        "$(echo "$out" | grep -c 'X-Policy-Tag: dkim; DMARC quarantine')"
}
same "DMARC p=reject, nothing aligned, header only by default" \
    "continue 250 2.0.0 | dmarc=fail (p=reject sp=reject dis=none) | 0" "$(dmarc_of plain "$T/m" a@other.test)"
same "DMARC p=reject, nothing aligned, enforced: 550 5.7.1" \
    "reject 550 5.7.1 | reason=\"dmarc=fail p=reject sp=reject pct=100 header.from=example.test\" | 0" \
    "$(dmarc_of enforce "$T/m" a@other.test)"
same "DMARC p=reject, SPF aligned (relaxed: bounce.example.test)" \
    "continue 250 2.0.0 | dmarc=pass (p=reject sp=reject dis=none) | 0" \
    "$(dmarc_of enforce "$T/m" a@bounce.example.test)"
same "DMARC p=reject, DKIM aligned (d=example.test), SPF not" \
    "continue 250 2.0.0 | dmarc=pass (p=reject sp=reject dis=none) | 0" "$(dmarc_of enforce "$T/py" a@other.test)"
same "DMARC p=reject, DKIM aligned relaxed (d=sub.example.test)" \
    "continue 250 2.0.0 | dmarc=pass (p=reject sp=reject dis=none) | 0" \
    "$(dmarc_of enforce <($SIGN "$K/py.pem" py sub.example.test < "$T/m") a@other.test)"
same "DMARC p=reject, the signature fails: not aligned, rejected" \
    "reject 550 5.7.1 | reason=\"dmarc=fail p=reject sp=reject pct=100 header.from=example.test\" | 0" \
    "$(dmarc_of enforce "$T/x.body" a@other.test)"
msg a@strict.test > "$T/m.strict"
same "DMARC aspf=s: SPF of sub.strict.test does not align with strict.test" \
    "reject 550 5.7.1 | reason=\"dmarc=fail p=reject sp=reject pct=100 header.from=strict.test\" | 0" \
    "$(dmarc_of enforce "$T/m.strict" a@sub.strict.test)"
same "DMARC aspf=s: SPF of strict.test itself aligns" \
    "continue 250 2.0.0 | dmarc=pass (p=reject sp=reject dis=none) | 0" "$(dmarc_of enforce "$T/m.strict" a@strict.test)"
msg a@quarantine.test > "$T/m.q"
same "DMARC p=quarantine, enforced: accepted with a tag" \
    "continue 250 2.0.0 | dmarc=fail (p=quarantine sp=quarantine dis=quarantine) | 1" \
    "$(dmarc_of enforce "$T/m.q" a@other.test)"
same "DMARC p=quarantine, header only: no tag" \
    "continue 250 2.0.0 | dmarc=fail (p=quarantine sp=quarantine dis=none) | 0" "$(dmarc_of plain "$T/m.q" a@other.test)"
msg a@none.test > "$T/m.none"
same "DMARC p=none: dmarc=fail, nothing done" "continue 250 2.0.0 | dmarc=fail (p=none sp=none dis=none) | 0" \
    "$(dmarc_of enforce "$T/m.none" a@other.test)"
msg a@pct.test > "$T/m.pct"
same "DMARC p=reject pct=0: never sampled, quarantined instead (RFC 7489 6.6.4)" \
    "continue 250 2.0.0 | dmarc=fail (p=reject sp=reject dis=quarantine) | 1" "$(dmarc_of enforce "$T/m.pct" a@other.test)"
msg a@mail.parent.test > "$T/m.subd"
same "DMARC subdomain policy: mail.parent.test takes sp=reject of parent.test" \
    "reject 550 5.7.1 | reason=\"dmarc=fail p=none sp=reject pct=100 header.from=mail.parent.test\" | 0" \
    "$(dmarc_of enforce "$T/m.subd" a@other.test)"
msg a@parent.test > "$T/m.parent"
same "DMARC subdomain policy: parent.test itself takes p=none" \
    "continue 250 2.0.0 | dmarc=fail (p=none sp=reject dis=none) | 0" "$(dmarc_of enforce "$T/m.parent" a@other.test)"
same "DMARC no record: dmarc=none, accepted" "continue 250 2.0.0 |  | 0" "$(dmarc_of enforce "$T/m.other" a@bounce.example.test)"
check "DMARC no record: the header says dmarc=none" \
    bash -c "'$P' check -c '$T/enforce.conf' --ip $X --from a@other.test --rcpt b@example.com '$T/m.other' | grep -q 'dmarc=none header.from=other.test'"
check "the SPF result is in Authentication-Results too" \
    bash -c "'$P' check -c '$T/enforce.conf' --ip $X --from a@bounce.example.test --rcpt b@example.com '$T/m' | grep -q 'spf=pass smtp.mailfrom=bounce.example.test'"
{ printf 'From: a@other.test\r\n'; cat "$T/m"; } > "$T/m.from2"
same "DMARC with two From domains: each is weighed, the strictest decides" \
    "reject 550 5.7.1 | reason=\"dmarc=fail p=reject sp=reject pct=100 header.from=example.test\" | 0" \
    "$(dmarc_of enforce "$T/m.from2" a@other.test)"
check "the history file has opendmarc's records (from, policy 16, action 0 for a rejection)" \
    bash -c "grep -q '^from example.test\$' '$T/history' && grep -q '^policy 16\$' '$T/history' && grep -q '^action 0\$' '$T/history' && grep -q '^rua mailto:dmarc@example.test\$' '$T/history'"
check "the history file: a record for each evaluated message, each starting with job" \
    test "$(grep -c '^job ' "$T/history")" -ge 10

finish
