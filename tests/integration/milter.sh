#!/bin/bash
# milter.sh - policy-milter driven by miltertest (every callback, rejected
# recipients, header edits, malformed input), by a hand-made milter client
# (reply texts, out-of-order and broken packets), the daemon's signals
# (SIGHUP reload, a bad file at reload, SIGTERM), and valgrind on the daemon.
# Run inside a private network namespace (tests/run-integration.sh does).
set -u
. "$(dirname "$0")/lib.sh"
B=$(cd "$1" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
MILTER="$B/adapters/milter/policy-milter"
mktmp
PIDS=""
trap 'for p in $PIDS; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$T"' EXIT
export MTLIB="$HERE/milter/lib.lua"

printf '^bad\\.helo$\n' > "$T/badhelo"
printf 'spammer@evil.test\n' > "$T/badmailfrom"
printf 'blocked@example.test\n' > "$T/badrcptto"
cat > "$T/tcp.smtp" <<'RULES'
192.0.2.99:allow,RELAYCLIENT=""
192.0.2.66:deny
:allow
RULES
tcprules "$T/tcp.smtp.cdb" "$T/tcp.smtp.tmp" < "$T/tcp.smtp"

conf() { # conf FILE REGEX_ACTION
    cat > "$1" <<CONF
[general]
tcprules = $T/tcp.smtp.cdb
[customers]
local_domains = example.test
trusted_networks = 127.0.0.0/8
[regex]
action = $2
badhelo = $T/badhelo
badmailfrom = $T/badmailfrom
badrcptto = $T/badrcptto
header_block = Subject: make\\s+money\\s+fast
CONF
}
conf "$T/a.conf" reject
conf "$T/b.conf" tag

PORT_B=$(( 20000 + RANDOM % 20000 ))
SA="unix:$T/a.sock" SB="inet:$PORT_B@127.0.0.1" SC="unix:$T/c.sock"
start a "$MILTER" -f -c "$T/a.conf" -p "$SA" -P "$T/a.pid"
start b "$MILTER" -f -c "$T/b.conf" -p "$SB"
start c "$MILTER" -f -p "$SC"
check "milter A listens on a unix socket" wait_socket "$SA"
check "milter B listens on a TCP port" wait_socket "$SB"
check "milter C (built-in defaults) listens" wait_socket "$SC"
same "pid file holds the pid" "$PID_a" "$(cat "$T/a.pid" 2>/dev/null)"

mt() { # mt SOCKET SCRIPT - each script ends by saying it ran to its end
    local out st
    out=$(SOCK=$1 miltertest -s "$HERE/milter/$2" 2>&1)
    st=$?
    [ -n "$out" ] || out="not ok - $2 printed nothing"
    tap "$out"
    [ "$st" -eq 0 ] || notok "miltertest $2 exited $st"
}
mt "$SA" envelope.lua
mt "$SA" content.lua
mt "$SB" tag.lua
mt "$SC" defaults.lua
tap "$(python3 "$HERE/milter/rawmilter.py" "$SA" 2>&1)"
check "milter A still running after malformed input" kill -0 "$PID_a"

# --- SIGHUP: the new file applies to new connections
printf 'blocked@example.test\nnewly@example.test\n' > "$T/badrcptto"
cat > "$T/reload.lua" <<'LUA'
dofile(os.getenv("MTLIB"))
run(function()
    local c = session("mx.sender.test", "192.0.2.70", "mx.sender.test")
    reply(mt.mailfrom(c, "<a@sender.test>"), c)
    print((reply(mt.rcptto(c, "<newly@example.test>"), c) == "y") and "listed" or "not listed")
    mt.disconnect(c)
end)
LUA
rl() { SOCK=$SA miltertest -s "$T/reload.lua" 2>&1 | tail -1; }
same "before SIGHUP the old rules apply" "not listed" "$(rl)"
kill -HUP "$PID_a"
for _ in $(seq 50); do grep -q "reloaded" "$T/a.log" && break; sleep 0.1; done
check "SIGHUP is logged as a reload" grep -q "reloaded $T/a.conf" "$T/a.log"
check "milter A survives SIGHUP" kill -0 "$PID_a"
same "after SIGHUP the new rules apply" "listed" "$(rl)"

# a connection open across the reload finishes on the old engine
cat > "$T/across.lua" <<'LUA'
dofile(os.getenv("MTLIB"))
run(function()
    local c = session("mx.sender.test", "192.0.2.71", "mx.sender.test")
    reply(mt.mailfrom(c, "<a@sender.test>"), c)
    os.execute("kill -HUP " .. os.getenv("MPID") .. "; sleep 0.5")
    print((reply(mt.rcptto(c, "<good@example.test>"), c) == "c") and "old session fine" or "old session broken")
    mt.disconnect(c)
end)
LUA
same "a session open across SIGHUP carries on" "old session fine" \
    "$(MPID=$PID_a SOCK=$SA miltertest -s "$T/across.lua" 2>&1 | tail -1)"

# a broken file at SIGHUP keeps the running configuration
cp "$T/a.conf" "$T/a.conf.good"
printf 'no_such_key = 1\n' >> "$T/a.conf" # into its last section, [regex]
kill -HUP "$PID_a"
for _ in $(seq 50); do grep -q "reload failed" "$T/a.log" && break; sleep 0.1; done
check "a bad file at SIGHUP is logged with file, line and key" \
    grep -q "reload failed, keeping the running configuration: $T/a.conf:.*no_such_key" "$T/a.log"
check "milter A survives a bad reload" kill -0 "$PID_a"
same "the running rules still apply after a bad reload" "listed" "$(rl)"
cp "$T/a.conf.good" "$T/a.conf"

# --- configuration errors at start, -T, usage
out=$("$MILTER" -T -c "$T/a.conf" 2>&1); st=$?
same "-T checks a good file" "0" "$st"
printf '[nosuch]\n' > "$T/bad.conf"
out=$("$MILTER" -f -c "$T/bad.conf" -p "unix:$T/bad.sock" 2>&1); st=$?
same "a bad file at start exits 78" "78" "$st"
check "the start error names the file and section" grep -q "bad.conf:1" <<< "$out"
"$MILTER" -x >/dev/null 2>&1; same "an unknown option exits 64" "64" "$?"
"$MILTER" -t abc -T >/dev/null 2>&1; same "a bad -t exits 64" "64" "$?"

# --- SIGTERM: clean exit, socket and pid file removed
kill -TERM "$PID_a"
wait "$PID_a"; st=$?
same "SIGTERM exits 0 (no leak report under ASan)" "0" "$st"
check "SIGTERM removes the unix socket" test ! -e "$T/a.sock"
check "SIGTERM removes the pid file" test ! -e "$T/a.pid"
check "the stop is logged" grep -q "stopped" "$T/a.log"
kill -TERM "$PID_b" "$PID_c"
wait "$PID_b"; same "milter B exits 0" "0" "$?"
wait "$PID_c"; same "milter C exits 0" "0" "$?"
PIDS=""

# --- -u: privileges dropped after the socket is opened
chmod 711 "$T"
mkdir -p "$T/priv"
chown nobody "$T/priv"
conf "$T/priv/u.conf" reject
chmod 644 "$T/priv/u.conf" "$T/badhelo" "$T/badmailfrom" "$T/badrcptto" "$T/tcp.smtp.cdb"
SU="unix:$T/priv/u.sock"
start u "$MILTER" -f -c "$T/priv/u.conf" -p "$SU" -u nobody
check "-u nobody: the milter listens" wait_socket "$SU"
same "-u nobody: the process runs as nobody" "$(id -u nobody)" \
    "$(awk '/^Uid:/ { print ($2 == $3 && $3 == $4 && $4 == $5) ? $2 : "mixed" }' "/proc/$PID_u/status")"
same "-u nobody: the socket is nobody's, mode 660" "nobody 660" "$(stat -c '%U %a' "$T/priv/u.sock")"
tap "$(SOCK=$SU miltertest -s "$HERE/milter/defaults.lua" 2>&1 | grep -v "headers not asked\|body not asked\|relay refused" | sed 's/defaults:/-u nobody:/')"
kill -HUP "$PID_u"
for _ in $(seq 50); do grep -q "reloaded" "$T/u.log" && break; sleep 0.1; done
check "-u nobody: SIGHUP reloads with nobody's rights" grep -q "reloaded" "$T/u.log"
kill -TERM "$PID_u"; wait "$PID_u"; st=$?
same "-u nobody: SIGTERM exits 0" 0 "$st"
check "-u nobody: the socket is removed at exit" test ! -e "$T/priv/u.sock"
PIDS=""

# --- valgrind on the daemon (normal builds only: ASan and valgrind do not mix)
if command -v valgrind >/dev/null && ! nm "$MILTER" 2>/dev/null | grep -q __asan_init; then
    conf "$T/v.conf" reject
    SV="unix:$T/v.sock"
    start v valgrind -q --error-exitcode=9 --leak-check=full --errors-for-leak-kinds=definite --suppressions="$HERE/milter/libmilter.supp" \
        --log-file="$T/valgrind.out" "$MILTER" -f -c "$T/v.conf" -p "$SV"
    if wait_socket "$SV"; then
        # the same traffic as above; its checks were counted there
        for s in envelope.lua content.lua; do SOCK=$SV miltertest -s "$HERE/milter/$s" >/dev/null 2>&1; done
        python3 "$HERE/milter/rawmilter.py" "$SV" > /dev/null 2>&1
        kill -HUP "$PID_v"; sleep 1
        SOCK=$SV miltertest -s "$HERE/milter/envelope.lua" >/dev/null 2>&1
    fi
    kill -TERM "$PID_v"; wait "$PID_v"; st=$?
    same "valgrind: the daemon runs clean (no errors, no definite leaks)" "0" "$st"
    [ "$st" = 0 ] || head -40 "$T/valgrind.out"
    PIDS=""
fi
finish
