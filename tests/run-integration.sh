#!/bin/bash
# run-integration.sh BUILD_DIR - run every tests/integration/*.sh inside a
# private network namespace (loopback only, a resolv.conf that points at
# 127.0.0.1), sum their results and print "N passed, N failed".
set -u
B=$(cd "${1:?usage: run-integration.sh BUILD_DIR}" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)

if [ -z "${POLICY_IN_NETNS:-}" ]; then
    T=$(mktemp -d "${TMPDIR:-/tmp}/libpolicy-ns.XXXXXX")
    trap 'rm -rf "$T"' EXIT
    echo "nameserver 127.0.0.1" > "$T/resolv.conf"
    printf '127.0.0.1 localhost\n::1 localhost ip6-localhost\n' > "$T/hosts"
    if ! unshare --net --mount --propagation private -- true 2>/dev/null; then
        echo "run-integration: cannot create a private network namespace (need root and unshare)."
        echo "run-integration: refusing to run the integration tests on the host network."
        echo "0 passed, 1 failed"
        exit 1
    fi
    POLICY_IN_NETNS=1 unshare --net --mount --propagation private -- sh -c \
        'ip link set lo up && mount --bind "$1/resolv.conf" /etc/resolv.conf &&
         mount --bind "$1/hosts" /etc/hosts && exec bash "$2" "$3"' ns "$T" "$0" "$B"
    exit $?
fi

passed=0
failed=0
for t in "$HERE"/integration/*.sh; do
    [ "$(basename "$t")" = lib.sh ] && continue
    echo "--- $(basename "$t")"
    out=$(bash "$t" "$B" 2>&1)
    status=$?
    printf '%s\n' "$out"
    last=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -1)
    p=$(echo "${last:-0 passed, 0 failed}" | cut -d' ' -f1)
    f=$(echo "${last:-0 passed, 0 failed}" | cut -d' ' -f3)
    if [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; echo "not ok - $(basename "$t") exited $status"; fi
    passed=$((passed + p))
    failed=$((failed + f))
done
echo "integration: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
