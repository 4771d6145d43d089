#!/bin/sh
# demo.sh - install what is missing, build, and show libpolicy at work with
# the built-in defaults: policyctl check on accepted and refused sessions,
# then the main job, policy-milter, serving on its default socket until
# Ctrl-C (or for DEMO_SECONDS seconds).
set -eu
cd "$(dirname "$0")/.."
sh scripts/install-deps.sh
sh scripts/build.sh build >/dev/null
P=build/adapters/cli/policyctl
run() {
    echo "\$ policyctl $*"
    status=0
    "$P" "$@" || status=$?
    echo "(exit $status)"
    echo
}
echo "libpolicy $($P version | sed 's/.*libpolicy //;s/)//') with the built-in defaults"
echo
run check --ip 192.0.2.1 --helo client.example.org --from alice@example.org --rcpt postmaster@localhost
run check --ip 192.0.2.1 --helo client.example.org --from alice@example.org --rcpt bob@remote.example
run check --ip 192.0.2.1 --helo client.example.org --auth alice --from alice@example.org --rcpt bob@remote.example
run check --ip 192.0.2.1 --from 'x@example.org' --rcpt 'bob%remote.example@localhost'

M=build/adapters/milter/policy-milter
SOCK=/run/policy-milter/policy-milter.sock
# the directory is removed at exit when this script made it (the Debian
# package's own daemon uses the same place)
made_dir=""
[ -d /run/policy-milter ] || { mkdir /run/policy-milter && made_dir=1; }
echo "\$ policy-milter -f -p unix:$SOCK     # built-in defaults"
"$M" -f -p "unix:$SOCK" -P /run/policy-milter/demo.pid &
MPID=$!
trap 'kill $MPID 2>/dev/null; wait $MPID 2>/dev/null; [ -z "$made_dir" ] || rmdir /run/policy-milter 2>/dev/null' EXIT INT TERM
# the pid file is written once the milter listens on the socket; a milter
# that did not start (another one listens there) has said why and exited
for _ in $(seq 50); do
    kill -0 "$MPID" 2>/dev/null || { wait "$MPID"; exit 1; }
    [ "$(cat /run/policy-milter/demo.pid 2>/dev/null)" = "$MPID" ] && break
    sleep 0.1
done
# one milter conversation, as Postfix would hold it (miltertest speaks the protocol)
cat > /tmp/policy-demo.$$.lua <<LUA
local c = mt.connect("unix:$SOCK", 40, 0.25)
mt.conninfo(c, "client.example.org", "192.0.2.1")
mt.helo(c, "client.example.org")
mt.mailfrom(c, "<alice@example.org>")
mt.rcptto(c, "<postmaster@localhost>")
print("milter: RCPT <postmaster@localhost>: " .. (mt.getreply(c) == SMFIR_CONTINUE and "continue" or "refused"))
mt.rcptto(c, "<bob@remote.example>")
print("milter: RCPT <bob@remote.example>: " .. (mt.getreply(c) == SMFIR_REPLYCODE and "refused with the library's reply" or "continue"))
mt.disconnect(c)
LUA
miltertest -s /tmp/policy-demo.$$.lua
rm -f /tmp/policy-demo.$$.lua
echo
echo "policy-milter is running (pid $MPID) on unix:$SOCK with the built-in defaults."
echo "Point Postfix at it (docs/examples/postfix-main.cf):"
echo "    smtpd_milters = unix:$SOCK"
echo "    milter_default_action = tempfail"
echo "Ctrl-C stops it; its log follows."
if [ -n "${DEMO_SECONDS:-}" ]; then
    sleep "$DEMO_SECONDS"
    kill "$MPID"
fi
wait "$MPID"
