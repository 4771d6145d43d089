#!/bin/bash
# run.sh BUILD_DIR [SECONDS] - run every fuzz harness for SECONDS (default 20)
# on a scratch corpus seeded from tests/fuzz/seeds/NAME; fail on any crash.
# A crashing input is kept in BUILD_DIR/fuzz-artifacts (add it to the seeds
# once fixed, so it is replayed by every later run).  FUZZ_SEED (default 1)
# makes a short run repeatable; FUZZ_SEED=0 lets libFuzzer pick one.
set -u
B=$(cd "${1:?usage: run.sh BUILD_DIR [SECONDS]}" && pwd)
S=${2:-20}
HERE=$(cd "$(dirname "$0")" && pwd)
W=$(mktemp -d "${TMPDIR:-/tmp}/libpolicy-fuzz.XXXXXX")
trap 'rm -rf "$W"' EXIT
A="$B/fuzz-artifacts"
mkdir -p "$A"
fail=0
for h in "$B"/tests/fuzz/fuzz_*; do
    [ -f "$h" ] && [ -x "$h" ] || continue
    name=${h##*/fuzz_}
    mkdir -p "$W/$name"
    [ -d "$HERE/seeds/$name" ] && cp "$HERE/seeds/$name"/* "$W/$name/" 2>/dev/null
    dict=()
    [ -f "$HERE/$name.dict" ] && dict=(-dict="$HERE/$name.dict")
    if (cd "$W" && "$h" -max_total_time="$S" -max_len=4096 -seed="${FUZZ_SEED:-1}" \
            -print_final_stats=1 "${dict[@]}" \
            -artifact_prefix="$A/$name-" "$W/$name" >"$W/$name.log" 2>&1); then
        echo "ok - fuzz_$name: $(grep -m1 -o 'stat::number_of_executed_units: [0-9]*' "$W/$name.log" | cut -d' ' -f2) runs, no crash"
    else
        echo "not ok - fuzz_$name crashed:"
        grep -E 'ERROR|SUMMARY|Test unit written' "$W/$name.log" | head -5
        fail=1
    fi
done
exit $fail
