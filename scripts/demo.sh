#!/bin/sh
# demo.sh - install what is missing, build, and show libpolicy at work with
# the built-in defaults: policyctl check on an accepted and a refused session.
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
echo "policy-milter (the milter daemon) is not part of this version yet: it is the next issue."
