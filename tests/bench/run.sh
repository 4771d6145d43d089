#!/bin/bash
# run.sh BUILD_DIR [SECONDS] - run the benchmarks of a (release) build and
# print their tables.  Builds nothing; use a -Dbuildtype=release build for
# numbers worth quoting.
set -eu
B=${1:?usage: run.sh BUILD_DIR [SECONDS]}
S=${2:-3}
"$B/tests/bench/bench_envelope" "$S"
echo
"$B/tests/bench/bench_patterns" "$S"
echo
if [ "$(id -u)" = 0 ] && command -v postfix >/dev/null && command -v smtp-source >/dev/null; then
    bash "$(dirname "$0")/milter.sh" "$B" "${MILTER_BENCH_MESSAGES:-3000}" "${MILTER_BENCH_ROUNDS:-3}"
else
    echo "milter benchmark skipped: needs root, postfix and smtp-source (scripts/install-deps.sh)"
fi
