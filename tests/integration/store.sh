#!/bin/bash
# store.sh BUILD_DIR - the state service against real stores, through
# tests/tools/store_drive: the same operations give the same answers on
# LMDB and on a real redis-server (over TCP with a password, and over its
# unix socket), for counters, values and pairs of counters; expiry on both; two "hosts" count exactly through Redis and
# fifty processes through LMDB; a Redis that hangs costs one timeout per
# session, one killed during a run gives errors at once and the next
# session after its restart reconnects.
# Run inside a private network namespace (tests/run-integration.sh does).
set -u
. "$(dirname "$0")/lib.sh"
B=$(cd "$1" && pwd)
D="$B/tests/tools/store_drive"
mktmp
REDIS=""
trap '[ -n "$REDIS" ] && { kill -CONT $REDIS; kill $REDIS; } 2>/dev/null; wait 2>/dev/null; rm -rf "$T"' EXIT

if ! command -v redis-server >/dev/null; then
    notok "redis-server is installed (scripts/install-deps.sh)"
    finish
    exit 1
fi

PORT=16379
PW='s3cret pw&more' # a space and an ampersand: escaped in URIs
PWQ='s3cret%20pw%26more'
TCP="redis://:$PWQ@127.0.0.1:$PORT"
UNIX="redis+unix://$T/redis.sock?password=$PWQ"
LMDB="lmdb:$T/state"

start_redis() {
    redis-server --port $PORT --bind 127.0.0.1 -::1 --daemonize no --save '' --appendonly no \
        --dir "$T" --unixsocket "$T/redis.sock" --requirepass "$PW" >> "$T/redis.log" 2>&1 &
    REDIS=$!
    for _ in $(seq 50); do
        redis-cli -p $PORT -a "$PW" --no-auth-warning ping 2>/dev/null | grep -q PONG && return 0
        sleep 0.1
    done
    return 1
}
check "redis-server starts on 127.0.0.1:$PORT and $T/redis.sock" start_redis

# --- the same operations, the same answers
OPS=(get a set a hello 0 get a add a x 0 add b y 100 get b incr c 5 0 incr c -7 0 get c
    set d 41 0 incr d 1 0 incr a 1 0 del b get b del b set e "" 0 get e
    '|' get c incr-renew r 1 100 get r '//' get d
    '|' incr-many tok 300 1 0 '|' incr-many tok 300 2 0)
# error texts differ by store (LMDB: "not a counter"; Redis: its ERR reply)
run_ops() { "$D" "$1" "${OPS[@]}" | sed 's/^error .*/error/'; }
lmdb_out=$(run_ops "$LMDB")
same "LMDB answers every operation" "$(printf 'notfound\nfound\nfound hello\nfound\nnotfound\nfound y\nfound 5\nfound -2\nfound -2\nfound\nfound 42\nerror\nfound\nnotfound\nnotfound\nfound\nfound \nfound -2\nfound 1\nfound 1\nfound 42')" \
    "$(printf '%s\n' "$lmdb_out" | head -21)"
same "LMDB: 300 counters in one batch, twice" "300 found 1|300 found 3|" \
    "$(printf '%s\n' "$lmdb_out" | tail -n 600 | sort | uniq -c | sed 's/^ *//' | tr '\n' '|')"
redis_out=$(run_ops "$TCP")
same "Redis over TCP gives LMDB's answers" "$lmdb_out" "$redis_out"
"$D" "$UNIX" del c del d del r del a del e >/dev/null
redis-cli -p $PORT -a "$PW" --no-auth-warning --raw eval \
    "for _,k in ipairs(redis.call('keys','drive:tok*')) do redis.call('del',k) end" 0 >/dev/null
same "Redis over its unix socket gives LMDB's answers" "$lmdb_out" "$(run_ops "$UNIX")"
same "keys are the namespace, a colon and the key" "drive:a" \
    "$(redis-cli -p $PORT -a "$PW" --no-auth-warning --raw keys 'drive:a')"
same "prefix= goes before the namespace" "found 1|mx1:rate:ip" \
    "$("$D" -n rate "$TCP?prefix=mx1:" incr ip 1 0 | tr '\n' '|')$(redis-cli -p $PORT -a "$PW" --no-auth-warning --raw keys 'mx1:*')"
same "an increment sets the TTL with the counter" "100" \
    "$(redis-cli -p $PORT -a "$PW" --no-auth-warning ttl drive:r)"
"$D" "$TCP" incr kw 1 100 '|' incr kw 1 300 incr-renew ks 1 100 '|' incr-renew ks 1 300 \
    incr-renew kr 1 100 '|' incr-renew kr 1 0 incr kn 1 0 '|' incr kn 1 50 >/dev/null
same "TTLs: a fixed window keeps its end, renew moves it, no TTL keeps it, none gets one" \
    "100 300 100 50" "$(for k in kw ks kr kn; do
        redis-cli -p $PORT -a "$PW" --no-auth-warning ttl drive:$k; done | tr '\n' ' ' | sed 's/ $//')"
redis-cli -p $PORT -a "$PW" --no-auth-warning set drive:big "$(head -c 2000 /dev/zero | tr '\0' x)" >/dev/null
same "a value longer than the store keeps, put there by someone else, is an error" \
    "error redis: value too long" "$("$D" "$TCP" get big)"
same "an IPv6 address in brackets" "found 1" "$("$D" "redis://:$PWQ@[::1]:$PORT" incr v6 1 0)"
"$D" "$TCP/3" set k three 0 >/dev/null
same "the database of the URI is selected" "notfound|found three" \
    "$("$D" "$TCP/4" get k | tr '\n' '|')$("$D" "$UNIX&db=3" get k)"

# --- pairs: two counters under one key (the spam filter's token cells)
POPS=(pget p1 padd p1 3 -4 0 padd p1 1 1 0 pget p1 padd p1 -4 3 0 pget p1 padd p2 0 0 100
    pget p2 padd p3 5 6 100 set p4 x 0 pget p4 padd p4 1 1 0 get p3
    padd p5 9223372036854775807 0 0 padd p5 1 0 0 pget p5)
pairs() { "$D" "$1" "${POPS[@]}" | sed 's/^error .*/error/'; }
lmdb_pairs=$(pairs "$LMDB")
same "LMDB: pairs add, read, vanish at zero, refuse other kinds" \
    "notfound|found 3 -4|found 4 -3|found 4 -3|found 0 0|notfound|found 0 0|notfound|found 5 6|found|error|error|error|found 9223372036854775807 0|error|found 9223372036854775807 0|" \
    "$(printf '%s\n' "$lmdb_pairs" | tr '\n' '|')"
same "Redis gives LMDB's answers for pairs" "$lmdb_pairs" "$(pairs "$TCP")"
ttl=$(redis-cli -p $PORT -a "$PW" --no-auth-warning ttl drive:p3)
check "a pair with a ttl expires with its hash (ttl $ttl of 100: a second may pass before it is read)" \
    test "$ttl" -ge 98 -a "$ttl" -le 100
same "a pair keeps its counters and expiry in a hash" "a 5 b 6" \
    "$(redis-cli -p $PORT -a "$PW" --no-auth-warning --raw hgetall drive:p3 | head -4 | tr '\n' ' ' | sed 's/ $//')"
"$D" "$TCP" del p1 del p2 del p3 del p4 del p5 >/dev/null

# --- expiry
for s in "$LMDB" "$TCP"; do
    "$D" "$s" padd t4 1 1 2 >/dev/null
done
for s in "$LMDB" "$TCP"; do
    "$D" "$s" set t1 x 2 incr t2 1 2 add t3 x 2 >/dev/null
    same "${s%%:*}: records with a TTL are there at first" "found x|found 1|found x|" \
        "$("$D" "$s" get t1 get t2 get t3 | tr '\n' '|')"
done
sleep 3.1
for s in "$LMDB" "$TCP"; do
    same "${s%%:*}: expired records are not found" "notfound|notfound|notfound|notfound|" \
        "$("$D" "$s" get t1 get t2 get t3 pget t4 | tr '\n' '|')"
done

# --- passwords
out=$("$D" "redis://:wrong@127.0.0.1:$PORT" set k v 0 '|' get k)
same "a wrong password is an error for every operation" "2" "$(printf '%s\n' "$out" | grep -c '^error redis: ')"
check "the error says AUTH was refused" sh -c "printf '%s\n' \"$out\" | grep -q 'AUTH refused'"
same "no password is an error too" "error" "$("$D" "redis://127.0.0.1:$PORT" get k | cut -d' ' -f1)"
same "the password in the unix form" "found v" "$("$D" "$UNIX" set k v 0 '|' get k | tail -1)"

# --- counting exactly from two hosts (two processes, four sessions each)
"$D" "$TCP" del n >/dev/null
"$D" -c 500 -p 4 -b 5 "$TCP" n > "$T/host1" &
h1=$!
"$D" -c 500 -p 4 -b 5 "$UNIX" n > "$T/host2" &
h2=$!
wait $h1 $h2
same "two hosts sharing Redis count exactly" "failed 0|failed 0|20000" \
    "$(head -1 "$T/host1")|$(head -1 "$T/host2")|$("$D" "$TCP" get n | cut -d' ' -f2)"
same "fifty processes sharing one LMDB file count exactly" "failed 0|found 10000" \
    "$("$D" -c 200 -p 50 "$LMDB" n | tr '\n' '|' | sed 's/|$//')"

# --- a Redis that hangs: one timeout per session, not one per question
kill -STOP $REDIS
out=$("$D" -T "$TCP?timeout=200" get k '|' get k '|' incr n 1 0 '//' get k '|' get k)
kill -CONT $REDIS
ms() { printf '%s\n' "$out" | grep "^batch $1 " | sed 's/.*ms=//'; }
same "a hung Redis: every answer is an error" "5" "$(printf '%s\n' "$out" | grep -c '^error redis: timed out')"
check "the first question of a session waits the timeout ($(ms 1) ms)" test "$(ms 1)" -ge 190 -a "$(ms 1)" -lt 400
check "the next ones of that session fail at once ($(ms 2), $(ms 3) ms)" test "$(ms 2)" -lt 10 -a "$(ms 3)" -lt 10
check "the next session tries again, once ($(ms 4), $(ms 5) ms)" test "$(ms 4)" -ge 190 -a "$(ms 5)" -lt 10
same "once it wakes up, Redis answers again" "found v" "$("$D" "$TCP" get k)"

# --- a Redis gone between two batches of a session (the client reads the
# hang-up before it writes; a write that loses the race costs an error too,
# never a SIGPIPE)
"$D" "$UNIX" get k '|' pause 700 get k > "$T/pipe" 2>&1 &
drive=$!
sleep 0.3
{ kill -9 $REDIS && wait $REDIS; } 2>/dev/null
wait $drive
same "a Redis gone mid-session: the next batch errors and the process lives on" "0|error redis:" \
    "$?|$(tail -1 "$T/pipe" | cut -d' ' -f1,2)"
start_redis

# --- a Redis killed while a batch waits for its answers
"$D" "$UNIX" set k v 0 >/dev/null
kill -STOP $REDIS
"$D" -T "$TCP?timeout=3000" incr-many inflight 100 1 0 '|' get k > "$T/inflight" &
drive=$!
sleep 0.5
{ kill -9 $REDIS && wait $REDIS; } 2>/dev/null
wait $drive
same "a batch in flight when Redis dies: every answer an error" "100" \
    "$(sed '/^batch 1 /q' "$T/inflight" | grep -c '^error redis: ')"
check "given when the connection drops, not at the timeout ($(sed -n 's/^batch 1 ms=//p' "$T/inflight") ms)" \
    test "$(sed -n 's/^batch 1 ms=//p' "$T/inflight")" -lt 1500
same "and remembered for the rest of the session" "error 0" \
    "$(sed -n '102p;103p' "$T/inflight" | sed 's/^\(error\) .*/\1/;s/^batch 2 ms=/ /' | tr -d '\n')"
start_redis

# --- a Redis killed during a run, then started again
"$D" -l 3 "$TCP?timeout=200" loop > "$T/loop" &
loop=$!
sleep 1
{ kill -9 $REDIS && wait $REDIS; } 2>/dev/null
sleep 1
start_redis
wait $loop
first_err=$(grep -n '^error' "$T/loop" | head -1 | cut -d: -f1)
last_err=$(grep -n '^error' "$T/loop" | tail -1 | cut -d: -f1)
check "sessions before the kill counted" test "$(head -1 "$T/loop")" != "" -a "${first_err:-0}" -gt 1
check "sessions while Redis was dead got errors" test -n "$first_err"
check "no session waited longer than the timeout ($(sed 's/.*ms=//' "$T/loop" | sort -n | tail -1) ms)" \
    test "$(sed 's/.*ms=//' "$T/loop" | sort -n | tail -1)" -lt 250
check "the error says why" grep -q '^error redis: cannot connect' "$T/loop"
same "the first session after the restart reconnects and counts from 1" "ok 1" \
    "$(sed -n "$((last_err + 1))p" "$T/loop" | cut -d' ' -f1,2)"

finish
