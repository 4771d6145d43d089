#!/bin/bash
# milter_daemon.sh BUILD_DIR - policy-milter as a daemon under hostile
# handling: a storm of 50,000 SIGHUPs, SIGHUPs in pairs a few ms apart and
# while stopped, SIGTERM in a storm, many SIGHUPs during a slow reload (a
# configuration with a large pattern file to compile) then SIGTERM; a second
# instance on the same socket, a dead socket taken over, exit leaving
# another instance's socket and pid file alone, -u with directories USER
# cannot write, and a start as an unprivileged user.  Each daemon is
# checked by serving a miltertest client.
# Run inside a private network namespace (tests/run-integration.sh does).
set -u
. "$(dirname "$0")/lib.sh"
B=$(cd "$1" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
MILTER="$B/adapters/milter/policy-milter"
mktmp
chmod 711 "$T" # -u nobody reaches $T/nobody
# at exit: kill what still runs (a daemon without an exit status yet)
trap 'for f in "$T"/*.daemon; do [ -e "${f%.daemon}.rc" ] || kill -9 "$(cat "$f")" 2>/dev/null; done
      wait 2>/dev/null; rm -rf "$T"' EXIT
export MTLIB="$HERE/milter/lib.lua"

printf '^bad\\.helo$\n' > "$T/badhelo"
printf 'spammer@evil.test\n' > "$T/badmailfrom"
printf 'blocked@example.test\n' > "$T/badrcptto"
cat > "$T/a.conf" <<CONF
[customers]
local_domains = example.test
trusted_networks = 127.0.0.0/8
[regex]
action = reject
badhelo = $T/badhelo
badmailfrom = $T/badmailfrom
badrcptto = $T/badrcptto
header_block = Subject: make\\s+money\\s+fast
CONF
chmod 644 "$T"/*

# served SPEC - "served" when the milter at SPEC rejects a listed recipient
cat > "$T/served.lua" <<'LUA'
dofile(os.getenv("MTLIB"))
run(function()
    local c = session("mx.sender.test", "192.0.2.70", "mx.sender.test")
    reply(mt.mailfrom(c, "<a@sender.test>"), c)
    local r = reply(mt.rcptto(c, "<blocked@example.test>"), c)
    print(r == "y" and "served" or ("not served: " .. tostring(r)))
    mt.disconnect(c)
end)
LUA
served() { SOCK=$1 timeout 20 miltertest -s "$T/served.lua" 2>&1 | tail -1; }

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# start NAME ARGS... - run the daemon in the background; its pid in
# $T/NAME.daemon, its log in $T/NAME.log, and once it ends its exit status
# in $T/NAME.rc and the time in $T/NAME.end (each renamed into place whole)
start() {
    local name=$1; shift
    rm -f "$T/$name.rc" "$T/$name.end" "$T/$name.daemon"
    (
        "$@" 2> "$T/$name.log" &
        echo $! > "$T/$name.daemon"
        wait $!
        echo $? > "$T/$name.rc.new" && mv "$T/$name.rc.new" "$T/$name.rc"
        now_ms > "$T/$name.end.new" && mv "$T/$name.end.new" "$T/$name.end"
    ) &
    for _ in $(seq 100); do [ -s "$T/$name.daemon" ] && break; sleep 0.02; done
}
pid() { cat "$T/$1.daemon"; }
running() { [ ! -e "$T/$1.rc" ] && kill -0 "$(pid "$1")" 2>/dev/null; }
# ended NAME SECS - until the daemon has exited (at most SECS)
ended() {
    local n=$(($2 * 20))
    while [ "$n" -gt 0 ] && [ ! -e "$T/$1.end" ]; do sleep 0.05; n=$((n - 1)); done
    [ -e "$T/$1.end" ]
}
rc() { cat "$T/$1.rc" 2>/dev/null || echo "still running"; }
# stop NAME - SIGTERM, noting when it was sent
stop() { now_ms > "$T/$1.term"; kill -TERM "$(pid "$1")" 2>/dev/null; }
# stop_took NAME - milliseconds from SIGTERM to exit
stop_took() { echo $(($(cat "$T/$1.end") - $(cat "$T/$1.term"))); }
# wait_socket SPEC [SECS] - until the milter accepts connections (10 s)
wait_socket() {
    for _ in $(seq $((${2:-10} * 10))); do
        case $1 in
        unix:*) python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX).connect(sys.argv[1])' \
                    "${1#unix:}" 2>/dev/null && return 0 ;;
        inet:*) local p=${1#inet:}; (exec 3<>"/dev/tcp/127.0.0.1/${p%%@*}" && exec 3>&-) 2>/dev/null && return 0 ;;
        esac
        sleep 0.1
    done
    return 1
}
reloads() { grep -c "reloaded" "$T/$1.log"; }
inode() { stat -c %i "$1" 2>/dev/null; }
# dead_socket PATH - a unix socket file nobody listens on (its process is gone)
dead_socket() { python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$1"; }
# within NAME MS TEXT - ok when the daemon exited 0 within MS of its SIGTERM
within() {
    local took when
    [ -e "$T/$1.end" ] && took=$(stop_took "$1") || took=never
    if [ "$(rc "$1")" = 0 ] && [ "$took" != never ] && [ "$took" -ge 0 ] && [ "$took" -le "$2" ]; then
        ok "$3 (exit 0 after ${took} ms)"
    else
        case $took in
        never) when="no exit" ;;
        -*) when="it had exited before SIGTERM ($(cat "$T/$1.end") < $(cat "$T/$1.term"))" ;;
        *) when="$took ms after SIGTERM" ;;
        esac
        notok "$3" "exit status $(rc "$1"), $when; log: $(tail -3 "$T/$1.log" | tr '\n' '|')"
    fi
}

# libmilter's listener notices a stop at its next 5-second poll; a session
# may take up to 5 s more to close: 12 s is "within seconds" with a margin
STOP_MS=12000

# --- a storm of 50,000 SIGHUPs from two senders; SIGHUPs in pairs 5 ms
# apart; SIGHUPs sent while the process is stopped (SIGSTOP ... SIGCONT)
for n in storm pairs stopped; do
    start $n "$MILTER" -f -c "$T/a.conf" -p "unix:$T/$n.sock"
    check "$n: the milter listens" wait_socket "unix:$T/$n.sock"
done
t0=$(now_ms)
storm() { for _ in $(seq 25000); do kill -HUP "$1" 2>/dev/null || return; done; }
storm "$(pid storm)" & s1=$!
storm "$(pid storm)" & s2=$!
wait $s1 $s2
echo "  storm: 50,000 SIGHUPs sent in $(($(now_ms) - t0)) ms, $(reloads storm) reloads so far"
P=$(pid pairs)
for _ in $(seq 400); do
    kill -HUP "$P" 2>/dev/null || break
    sleep 0.005
    kill -HUP "$P" 2>/dev/null || break
    sleep 0.01
done
P=$(pid stopped)
for _ in $(seq 200); do
    kill -STOP "$P" 2>/dev/null || break
    kill -HUP "$P" 2>/dev/null
    kill -HUP "$P" 2>/dev/null
    kill -CONT "$P" 2>/dev/null
done
# a filter whose signal thread got a signal stops at libmilter's next
# 5-second poll: look after that
sleep 6
for n in "storm:50,000 SIGHUPs" "pairs:400 pairs of SIGHUPs 5 ms apart" \
    "stopped:200 rounds of two SIGHUPs sent while it is stopped"; do
    check "${n%%:*}: policy-milter survives ${n#*:}" running "${n%%:*}"
    same "${n%%:*}: a client is served after them" "served" "$(served "unix:$T/${n%%:*}.sock")"
    check "${n%%:*}: nothing says libmilter's loop ended" \
        sh -c "! grep -q 'ended without being asked' '$T/${n%%:*}.log'"
done
for n in storm pairs stopped; do stop $n; done
for n in storm pairs stopped; do
    ended $n 30
    within $n $STOP_MS "$n: SIGTERM after them stops it within seconds"
    check "$n: the socket is removed at exit" test ! -e "$T/$n.sock"
done

# --- SIGTERM in the middle of a storm wins over the SIGHUPs still coming
start mid "$MILTER" -f -c "$T/a.conf" -p "unix:$T/mid.sock"
check "mid-storm: the milter listens" wait_socket "unix:$T/mid.sock"
storm "$(pid mid)" & s1=$!
sleep 0.2
stop mid
ended mid 30
kill $s1 2>/dev/null
wait $s1 2>/dev/null
within mid $STOP_MS "mid-storm: SIGTERM during a SIGHUP storm stops it within seconds"

# --- a slow reload: slow.conf is a.conf plus a badmailfrom file of 14,000
# patterns (13 MB of alternations) that takes a second or more to compile,
# at the start and at each reload.  A reload runs in the daemon's main
# thread, which otherwise sleeps waiting for a signal: the checks look at
# that thread's state (/proc/PID/task/PID/stat: R or D while it loads, S
# while it waits), not at the clock, and a loaded machine makes a load
# longer, not a check wrong.  Each pattern requires
# "@evilN.test" (a plain group, so the literal prefilter sees it): a
# client's session never runs them, nor JIT-compiles 14,000 patterns.
SLOWPAT="$T/slow.patterns"
python3 - "$SLOWPAT" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    for i in range(14000):
        words = "|".join("u%dx%d" % (i, j) for j in range(100))
        f.write("^(%s)@evil%d\\.test$\n" % (words, i))
PY
{ cat "$T/a.conf"; printf 'badmailfrom = %s\n' "$SLOWPAT"; } > "$T/slow.conf"
loads() { grep -c "started\|reloaded\|reload failed" "$T/slow.log" 2>/dev/null; }
# reading - a load of slow.conf runs: the main thread is running, not waiting
reading() {
    local st
    st=$(awk '{ print $3 }' "/proc/$(pid slow)/task/$(pid slow)/stat" 2>/dev/null)
    [ "$st" = R ] || [ "$st" = D ]
}
# loaded N - until N loads are logged (60 s)
loaded() { for _ in $(seq 3000); do [ "$(loads)" -ge "$1" ] && return 0; sleep 0.02; done; return 1; }
# hups_in_reload N - with N loads logged: a SIGHUP, then, once the reload
# it starts runs (or has ended), 30 SIGHUPs 3 ms apart
hups_in_reload() {
    kill -HUP "$(pid slow)"
    for _ in $(seq 1000); do
        { reading || [ "$(loads)" -gt "$1" ]; } && break
        sleep 0.01
    done
    for _ in $(seq 30); do kill -HUP "$(pid slow)"; sleep 0.003; done
}
SL="unix:$T/slow.sock"
start slow "$MILTER" -f -c "$T/slow.conf" -p "$SL"
check "slow: the milter listens" wait_socket "$SL" 60
hups_in_reload 1
same "slow: the reload a SIGHUP started still runs after 30 more" "1 yes" \
    "$(loads) $(reading && echo yes)"
load_ms=0
loaded 2 && t2=$(now_ms) && loaded 3 && load_ms=$(($(now_ms) - t2)) &&
    echo "  slow: a reload took about $load_ms ms"
sleep 1
same "slow: 30 SIGHUPs during one reload give one more reload, no third" "3 no" \
    "$(loads) $(reading && echo yes || echo no)"
same "slow: a client is served" "served" "$(served "$SL")"
hups_in_reload 3
stop slow
same "slow: SIGTERM came during a reload" "3 yes" "$(loads) $(reading && echo yes)"
ended slow 60
# the reload it is in ends first: allow twice a reload's time for it
within slow $((STOP_MS + 2 * load_ms)) "slow: SIGTERM after 30 SIGHUPs during a reload stops it within seconds"
same "slow: SIGTERM drops the reload still asked for (one load after the SIGTERM burst)" \
    "4" "$(loads)"

# --- a second instance on the same socket path
S1="unix:$T/one.sock"
start one "$MILTER" -f -c "$T/a.conf" -p "$S1" -P "$T/one.pid"
check "second: the first instance listens" wait_socket "$S1"
ino=$(inode "$T/one.sock")
out=$(timeout 5 "$MILTER" -f -c "$T/a.conf" -p "$S1" -P "$T/one.pid" 2>&1); st=$?
same "second: a second instance on the same path exits 69" "69" "$st"
check "second: its message says another process listens there" \
    grep -q "$T/one.sock: another process is listening there" <<< "$out"
same "second: the first instance's socket is the same file" "$ino" "$(inode "$T/one.sock")"
same "second: the first instance still serves" "served" "$(served "$S1")"
same "second: the first instance's pid file is untouched" "$(pid one)" "$(cat "$T/one.pid" 2>/dev/null)"
printf 'not a socket\n' > "$T/file.sock"
out=$(timeout 5 "$MILTER" -f -c "$T/a.conf" -p "unix:$T/file.sock" 2>&1); st=$?
same "second: a path that is not a socket is refused with 69" "69" "$st"
check "second: ... saying so" grep -q "$T/file.sock exists and is not a socket" <<< "$out"
same "second: ... and the file is left as it was" "not a socket" "$(cat "$T/file.sock" 2>/dev/null)"
PI=$(( 20000 + RANDOM % 20000 ))
start inet1 "$MILTER" -f -c "$T/a.conf" -p "inet:$PI@127.0.0.1"
check "second: the first instance listens on a TCP port" wait_socket "inet:$PI@127.0.0.1"
out=$(timeout 5 "$MILTER" -f -c "$T/a.conf" -p "inet:$PI@127.0.0.1" 2>&1); st=$?
same "second: a second instance on the same TCP port exits 69" "69" "$st"
same "second: the first one on that port still serves" "served" "$(served "inet:$PI@127.0.0.1")"

# --- a dead socket (its process gone) is taken over
dead_socket "$T/dead.sock"
check "dead: the leftover is a socket" test -S "$T/dead.sock"
start dead "$MILTER" -f -c "$T/a.conf" -p "unix:$T/dead.sock"
check "dead: policy-milter starts on a dead socket" wait_socket "unix:$T/dead.sock"
check "dead: the takeover is logged" grep -q "replaced $T/dead.sock: nothing was listening there" "$T/dead.log"
same "dead: it serves on that path" "served" "$(served "unix:$T/dead.sock")"

# --- exit removes only its own socket and pid file: "old" gives up its path
# (renamed away, still listening) and "new" starts on it with the same pid
# file; then "old" stops.  As root and with -u nobody (libmilter itself
# removes a socket at its path when not root).
mkdir "$T/nobody" && chown nobody "$T/nobody"
own_dir() { if [ "$1" = nobody ]; then echo "$T/nobody"; else echo "$T"; fi; }
for who in root nobody; do
    d=$(own_dir $who) u=""
    [ $who = nobody ] && u="-u nobody"
    start old$who "$MILTER" -f -c "$T/a.conf" -p "unix:$d/own.sock" -P "$d/own.pid" $u
    wait_socket "unix:$d/own.sock"
    mv "$d/own.sock" "$d/own-old.sock"
    start new$who "$MILTER" -f -c "$T/a.conf" -p "unix:$d/own.sock" -P "$d/own.pid" $u
    check "own ($who): a new instance starts on the freed path" wait_socket "unix:$d/own.sock"
    inode "$d/own.sock" > "$T/own$who.ino"
    stop old$who
done
for who in root nobody; do
    d=$(own_dir $who)
    ended old$who 30
    same "own ($who): the old instance exits 0" "0" "$(rc old$who)"
    same "own ($who): its exit leaves the new instance's socket" "$(cat "$T/own$who.ino")" "$(inode "$d/own.sock")"
    same "own ($who): ... which still serves" "served" "$(served "unix:$d/own.sock")"
    same "own ($who): its exit leaves the new instance's pid file" "$(pid new$who)" "$(cat "$d/own.pid" 2>/dev/null)"
    check "own ($who): the old one says why it left them" \
        sh -c "grep -q 'did not remove $d/own.sock: it is no longer this process.s socket' '$T/old$who.log' &&
               grep -q 'did not remove $d/own.pid: it is no longer this process.s pid file' '$T/old$who.log'"
    stop new$who
done

# --- -u nobody: the socket and pid file directories must let nobody remove them
mkdir "$T/rootdir" && chmod 755 "$T/rootdir"
out=$(timeout 5 "$MILTER" -f -c "$T/a.conf" -p "unix:$T/rootdir/u.sock" -u nobody 2>&1); st=$?
same "-u: a socket directory nobody cannot write is refused with 77" "77" "$st"
check "-u: ... with a message naming the socket and the user" \
    grep -q "nobody cannot remove the socket $T/rootdir/u.sock" <<< "$out"
check "-u: ... and nothing is created" test -z "$(ls -A "$T/rootdir")"
out=$(timeout 5 "$MILTER" -f -c "$T/a.conf" -p "unix:$T/nobody/u.sock" -P "$T/rootdir/u.pid" -u nobody 2>&1); st=$?
same "-u: a pid file directory nobody cannot write is refused with 77" "77" "$st"
check "-u: ... with a message naming the pid file" grep -q "nobody cannot remove the pid file $T/rootdir/u.pid" <<< "$out"
check "-u: ... and nothing is created" test -z "$(ls -A "$T/rootdir")$(ls "$T/nobody" | grep '^u\.')"
start u "$MILTER" -f -c "$T/a.conf" -p "unix:$T/nobody/u.sock" -P "$T/nobody/u.pid" -u nobody
check "-u: in a directory nobody can write, it listens" wait_socket "unix:$T/nobody/u.sock"
same "-u: the socket is nobody's, mode 660" "nobody 660" "$(stat -c '%U %a' "$T/nobody/u.sock")"
same "-u: the pid file holds its pid" "$(pid u)" "$(cat "$T/nobody/u.pid" 2>/dev/null)"
stop u
start unpriv setpriv --reuid=nobody --regid=nogroup --clear-groups \
    "$MILTER" -f -c "$T/a.conf" -p "unix:$T/nobody/unpriv.sock"
check "started as nobody (as the systemd unit runs it), it listens" wait_socket "unix:$T/nobody/unpriv.sock"
stop unpriv

# the daemons left running stop together
for n in one inet1 dead; do stop $n; done
for n in one inet1 dead newroot newnobody u unpriv; do
    ended $n 30
    within $n $STOP_MS "$n: SIGTERM stops it"
done
check "-u: the socket and pid file are removed at exit" test -z "$(ls "$T/nobody" | grep '^u\.')"
check "started as nobody: the socket is removed at exit" test ! -e "$T/nobody/unpriv.sock"
check "no socket or pid file is left behind by a daemon that owned it" \
    test -z "$(cd "$T" && ls mid.sock slow.sock one.sock one.pid dead.sock 2>/dev/null)"
finish
