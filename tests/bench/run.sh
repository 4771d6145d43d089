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
