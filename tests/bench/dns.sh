#!/bin/bash
# dns.sh BUILD_DIR [ROUNDS] - the DNS benchmark (bench_dns) in a private
# network namespace: the test DNS world of tests/integration/dns/servers.sh
# behind fakedns.py's delay mode, which answers every question 50 ms late
# (answers overlap, as a real slow server's do).  Needs root.
set -u
B=$(cd "${1:?usage: dns.sh BUILD_DIR [ROUNDS]}" && pwd)
R=${2:-20}
HERE=$(cd "$(dirname "$0")" && pwd)
if [ -z "${POLICY_IN_NETNS:-}" ]; then
    T=$(mktemp -d "${TMPDIR:-/tmp}/libpolicy-bns.XXXXXX")
    trap 'rm -rf "$T"' EXIT
    echo "nameserver 127.0.0.1" > "$T/resolv.conf"
    POLICY_IN_NETNS=1 unshare --net --mount --propagation private -- sh -c \
        'ip link set lo up && mount --bind "$1/resolv.conf" /etc/resolv.conf && exec bash "$2" "$3" "$4"' \
        ns "$T" "$0" "$B" "$R"
    exit $?
fi
. "$HERE/../integration/dns/servers.sh"
W=$(mktemp -d "${TMPDIR:-/tmp}/libpolicy-bdns.XXXXXX")
trap 'dns_world_stop; rm -rf "$W"' EXIT
dns_world_start "$W" || exit 1
SLOW_PORT=$(free_port)
python3 "$HERE/../integration/dns/fakedns.py" delay "$SLOW_PORT" "$DNS_PORT" 50 > "$W/slow.out" 2>&1 &
DNS_PIDS="$DNS_PIDS $!"
for _ in $(seq 50); do grep -q ready "$W/slow.out" && break; sleep 0.1; done
"$B/tests/bench/bench_dns" "127.0.0.1:$SLOW_PORT" "$R"
