#!/bin/bash
# greylist.sh BUILD_DIR - greylisting on real stores with time moved by
# faketime (never by sleeping five minutes): through policyctl check on
# LMDB and on a private redis-server, the first attempt is deferred with
# 451 4.7.1 saying when to retry, an early retry too, a retry after the
# delay passes, and the client is then allowlisted; through policy-milter
# under a private Postfix (libfaketime in the milter only) the same, end to
# end, the mail delivered to the sink; Redis killed is the layer's on_error.
# Run inside a private network namespace (tests/run-integration.sh does).
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/postfix_lib.sh"
pf_test_begin "$1"
REDIS=""
trap '[ -n "$REDIS" ] && kill $REDIS 2>/dev/null; pf_test_cleanup' EXIT
FAKETIME_LIB=/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1
for tool in redis-server faketime; do
    command -v $tool >/dev/null || { notok "$tool is installed (scripts/install-deps.sh)"; finish; exit 1; }
done
[ -f "$FAKETIME_LIB" ] || { notok "libfaketime is installed ($FAKETIME_LIB)"; finish; exit 1; }
ip addr add 127.0.0.2/8 dev lo 2>/dev/null
# libfaketime is preloaded before an ASan build's runtime: let ASan accept it
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"

RPORT=$(( 20000 + RANDOM % 20000 ))
check "redis-server starts on 127.0.0.1:$RPORT" redis_start $RPORT

# conf NAME STORE [KEY=VALUE...] - $T/NAME.conf with an empty-but-for-the-
# allowlist [greylist] section: postgrey's defaults otherwise
conf() {
    local name=$1 store=$2
    shift 2
    { printf '[general]\nstore = %s\n[customers]\nlocal_domains = example.test sink.test\n' "$store"
      printf 'trusted_networks = 192.0.2.0/24\n[greylist]\nauto_allowlist = 1\n'
      printf '%s\n' "$@"; } > "$T/$name.conf"
}
conf lmdb "lmdb:$T/state"
conf redis "redis://127.0.0.1:$RPORT?timeout=200"
conf redis-accept "redis://127.0.0.1:$RPORT?timeout=200" "on_error = accept"

# at OFFSET CONF FROM - policyctl check at faketime's OFFSET ("+6m"): the
# RCPT line, its exit status after a bar
at() {
    local out rc
    out=$(faketime -f "$1" "$POLICYCTL" check -c "$T/$2.conf" --ip 203.0.113.7 --helo mx.sender.test \
        --from "$3" --rcpt user@example.test 2>> "$T/pc.err")
    rc=$?
    printf '%s|%s\n' "$(grep '^rcpt' <<< "$out" | cut -f2-7)" "$rc"
}
for s in lmdb redis; do
    same "$s: the first attempt of a triplet: 451 4.7.1 saying when to retry (policyctl exit 2)" \
        "tempfail	451	4.7.1	greylist	Greylisted, please try again in 300 seconds|2" \
        "$(at +0 $s a@sender.test)"
    out=$(at +2m $s a@sender.test)
    check "$s: an early retry two minutes later: deferred for the rest ($out)" \
        grep -Eq '^tempfail	451	4.7.1	greylist	Greylisted, please try again in 1[0-9]{2} seconds\|2$' <<< "$out"
    same "$s: the retry after the delay (+6m) is accepted" "continue	250	2.1.5	-	recipient ok|0" \
        "$(at +6m $s a@sender.test)"
    same "$s: the client is then allowlisted: a new triplet passes at once" \
        "continue	250	2.1.5	-	recipient ok|0" "$(at +7m $s other@sender.test)"
done

# Redis killed: on_error
{ kill -9 $REDIS && wait $REDIS; } 2>/dev/null
REDIS=""
same "Redis killed: on_error = tempfail defers with 451 4.3.0" \
    "tempfail	451	4.3.0	greylist	temporary failure checking the greylist, try again later|2" \
    "$(at +0 redis new@sender.test)"
same "Redis killed: on_error = accept lets the mail on" "continue	250	2.1.5	-	recipient ok|0" \
    "$(at +0 redis-accept new@sender.test)"

# ------------------------------------------------------------ end to end through Postfix
conf policy "lmdb:$T/milter-state"
echo "+0" > "$T/faketime"
# the milter with its clock in $T/faketime (read at every call; monotonic
# time, which bounds every wait, stays real)
start_milter() {
    env LD_PRELOAD="$FAKETIME_LIB" FAKETIME_TIMESTAMP_FILE="$T/faketime" FAKETIME_NO_CACHE=1 \
        FAKETIME_DONT_FAKE_MONOTONIC=1 "$MILTER" -f -c "$T/policy.conf" -p "$SOCK" 2>> "$T/milter.log" &
    MPID=$!
    for _ in $(seq 100); do [ -S "$T/milter.sock" ] && return 0; sleep 0.1; done
    return 1
}
pf_test_world
check "Postfix starts with policy-milter" pf_start "$T/pf"
out=$(send 127.0.0.2 user@sink.test --from first@sender.test)
check "Postfix: the first attempt gets 451 4.7.1 at RCPT" \
    grep -q "<\*\* 451 4.7.1 Greylisted, please try again in 300 seconds" <<< "$out"
echo "+3m" > "$T/faketime"
out=$(send 127.0.0.2 user@sink.test --from first@sender.test)
check "Postfix: three minutes later, still deferred" \
    grep -Eq "<\*\* 451 4.7.1 Greylisted, please try again in 1[0-9]{2} seconds" <<< "$out"
echo "+6m" > "$T/faketime"
out=$(send 127.0.0.2 user@sink.test --from first@sender.test)
check "Postfix: the retry after five minutes is accepted" grep -q "<-  250 2.0.0 Ok: queued" <<< "$out"
out=$(send 127.0.0.2 user@sink.test --from second@sender.test)
check "Postfix: then the client is allowlisted (auto_allowlist = 1): a new sender passes at once" \
    grep -q "<-  250 2.0.0 Ok: queued" <<< "$out"
pf_drain "$T/pf" 20
same "Postfix: both accepted messages reached the sink" 2 "$(find "$T/sink" -type f | wc -l)"
check "the milter logged the greylisting" grep -q 'layer=greylist.*reason="greylisted (new)' "$T/milter.log"

finish
