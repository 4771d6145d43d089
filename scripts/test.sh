#!/bin/sh
# test.sh - install what is missing, build, and run the whole test suite:
# unit tests and integration tests in a normal build, again under
# AddressSanitizer + UBSan, then a short run of every fuzz harness.
# Exit status non-zero on any failure.
set -eu
cd "$(dirname "$0")/.."
sh scripts/install-deps.sh

fail=0
start=$(date +%s)
step() { echo; echo "=== $* (at $(($(date +%s) - start)) s)"; }

step "build (gcc, -Werror)"
sh scripts/build.sh build
step "unit tests"
build/tests/unit/unit_tests || fail=1
step "test corpus (fetched here: the integration tests have no network)"
sh scripts/fetch-corpus.sh
step "integration tests"
bash tests/run-integration.sh build || fail=1

step "build (AddressSanitizer + UBSan)"
sh scripts/build.sh build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dbench=false
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
step "unit tests under ASan+UBSan"
build-asan/tests/unit/unit_tests || fail=1
step "integration tests under ASan+UBSan"
bash tests/run-integration.sh build-asan || fail=1
unset ASAN_OPTIONS UBSAN_OPTIONS

if command -v clang >/dev/null; then
    step "fuzz harnesses (clang, libFuzzer, ${FUZZ_SECONDS:-20} s each)"
    CC=clang sh scripts/build.sh build-fuzz -Dfuzz=true -Dtests=false -Dbench=false \
        -Db_sanitize=address,undefined -Db_lundef=false
    bash tests/fuzz/run.sh build-fuzz "${FUZZ_SECONDS:-20}" || fail=1
fi

step "benchmark (smoke: numbers, no verdict)"
sh scripts/build.sh build-release --buildtype=release -Dtests=false >/dev/null
MILTER_BENCH_MESSAGES=500 MILTER_BENCH_ROUNDS=1 SENDMAIL_BENCH_MESSAGES=300 SENDMAIL_BENCH_ROUNDS=1 \
    bash tests/bench/run.sh build-release 2 || fail=1

echo
echo "test.sh: $(($(date +%s) - start)) s"
if [ "$fail" -eq 0 ]; then echo "test.sh: all passed"; else echo "test.sh: FAILED"; fi
exit "$fail"
