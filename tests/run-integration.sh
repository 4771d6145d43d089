#!/bin/bash
# run-integration.sh BUILD_DIR [NAME...] - run every tests/integration/*.sh
# but those marked "# run: on its own" (or only those NAMEs, e.g. "dns" or
# "dns.sh", marked or not) inside a private network
# namespace (loopback only, a resolv.conf that points at 127.0.0.1), sum
# their results and print "N passed, N failed".
set -u
B=$(cd "${1:?usage: run-integration.sh BUILD_DIR [NAME...]}" && pwd)
shift
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
    # sendmail.sh runs a private Sendmail unpacked from Debian's packages,
    # which only the apt mirror outside the namespace can provide
    for n in "${@:-sendmail}"; do
        [ "${n%.sh}" = sendmail ] || continue
        sh "$HERE/sendmail-root.sh" "$B" > /dev/null ||
            echo "run-integration: no private Sendmail (tests/sendmail-root.sh failed): sendmail.sh will fail"
    done
    # stats.sh drives Debian's chromium with playwright-core from npm
    for n in "${@:-stats}"; do
        [ "${n%.sh}" = stats ] || continue
        sh "$HERE/playwright-fetch.sh" "$B" ||
            echo "run-integration: no playwright-core (tests/playwright-fetch.sh failed): stats.sh will fail"
    done
    POLICY_IN_NETNS=1 unshare --net --mount --propagation private -- sh -c \
        'ip link set lo up && mount --bind "$1/resolv.conf" /etc/resolv.conf &&
         mount --bind "$1/hosts" /etc/hosts && shift && exec bash "$@"' ns "$T" "$0" "$B" "$@"
    exit $?
fi

scripts=()
if [ $# -eq 0 ]; then
    for t in "$HERE"/integration/*.sh; do
        case "$(basename "$t")" in lib.sh | *_lib.sh) continue ;; esac
        # scripts marked "# run: on its own" (minutes long) run only when named
        grep -q '^# run: on its own$' "$t" && continue
        scripts+=("$t")
    done
else
    for n in "$@"; do
        t="$HERE/integration/${n%.sh}.sh"
        [ -f "$t" ] || { echo "run-integration: no such test: $n"; exit 64; }
        scripts+=("$t")
    done
fi

passed=0
failed=0
for t in "${scripts[@]}"; do
    echo "--- $(basename "$t")"
    start=$SECONDS
    out=$(bash "$t" "$B" 2>&1)
    status=$?
    printf '%s\n' "$out"
    echo "--- $(basename "$t"): $((SECONDS - start)) s"
    last=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -1)
    p=$(echo "${last:-0 passed, 0 failed}" | cut -d' ' -f1)
    f=$(echo "${last:-0 passed, 0 failed}" | cut -d' ' -f3)
    if [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; echo "not ok - $(basename "$t") exited $status"; fi
    passed=$((passed + p))
    failed=$((failed + f))
done
echo "integration: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
