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
# policy-queue with the layers a qmail host runs after qmail-smtpd: the
# content stages of customers + regex (900 qregex patterns, header rules)
Q=$(mktemp -d "${TMPDIR:-/tmp}/libpolicy-bq.XXXXXX")
for f in badhelo badmailfrom badrcptto; do
    for i in $(seq 300); do echo "^$f-$i[0-9]+\\.spam\\.example\$"; done > "$Q/$f"
done
cat > "$Q/policy.conf" <<CONF
[customers]
local_domains = example.test
[regex]
badhelo = $Q/badhelo
badmailfrom = $Q/badmailfrom
badrcptto = $Q/badrcptto
header_block = Subject: make\\s+money\\s+fast
header_block = X-Mailer: .*bulk.?mailer
CONF
grep -v '^bad' "$Q/policy.conf" > "$Q/small.conf"
for c in small policy; do
    [ $c = small ] && echo "policy-queue, customers + two header rules:" ||
        echo "policy-queue, customers + 900 qregex patterns (compiled at start) + two header rules:"
    POLICY_CONFIG="$Q/$c.conf" POLICY_QMAILQUEUE="$B/tests/tools/qq_record" \
        "$B/tests/bench/bench_queue" "$B/adapters/qmail-queue/policy-queue" \
        "$B/tests/bench/qq_passthrough" "$(( S * 300 ))" 4096
done
rm -rf "$Q"
echo
if [ "$(id -u)" = 0 ] && command -v postfix >/dev/null && command -v smtp-source >/dev/null; then
    bash "$(dirname "$0")/milter.sh" "$B" "${MILTER_BENCH_MESSAGES:-3000}" "${MILTER_BENCH_ROUNDS:-3}"
else
    echo "milter benchmark skipped: needs root, postfix and smtp-source (scripts/install-deps.sh)"
fi
