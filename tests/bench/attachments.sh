#!/bin/bash
# attachments.sh BUILD_DIR [ROUNDS] - per-message cost of policy-queue with
# the attachments layer on real mail (the SpamAssassin corpus, and the test
# messages with attachments of tests/integration/attachments/make.py),
# beside the exec-only passthrough and beside simscan's way: the message
# unpacked to disk by ripmime and the file names checked (ripmime_queue).
set -eu
B=$(cd "${1:?usage: attachments.sh BUILD_DIR [ROUNDS]}" && pwd)
ROUNDS=${2:-3}
HERE=$(cd "$(dirname "$0")" && pwd)
C=$(sh "$HERE/../../scripts/fetch-corpus.sh" --where)/spam-assassin
if ! command -v ripmime >/dev/null; then
    echo "attachments benchmark skipped: ripmime missing (scripts/install-deps.sh)"
    exit 0
fi
W=$(mktemp -d "${TMPDIR:-/tmp}/libpolicy-batt.XXXXXX")
trap 'rm -rf "$W"' EXIT
/usr/bin/python3 "$HERE/../integration/attachments/make.py" "$W/msgs" > /dev/null
: > "$W/list"
if [ -d "$C/easy-ham-1" ]; then # 200 corpus messages: ham and spam as they come
    find "$C/easy-ham-1" "$C/spam-1" -type f | sort | awk 'NR % 10 == 0' | head -200 > "$W/list"
fi
awk -F'\t' '$2 == "accept" { print $1 }' "$W/msgs/cases" | sed "s|^|$W/msgs/|; s|$|.eml|" >> "$W/list"
printf '[attachments]\n' > "$W/policy.conf"
echo "policy-queue with [attachments] vs exec passthrough vs ripmime to disk (simscan's way):"
POLICY_CONFIG="$W/policy.conf" POLICY_QMAILQUEUE="$B/tests/tools/qq_record" TMPDIR="$W" \
    "$B/tests/bench/bench_content" "$W/list" "$ROUNDS" \
    "passthrough (exec the queue)=$B/tests/bench/qq_passthrough" \
    "policy-queue [attachments]=$B/adapters/qmail-queue/policy-queue" \
    "ripmime to disk + name check (simscan)=$B/tests/bench/ripmime_queue"
