#!/bin/bash
# greylist.sh BUILD_DIR [SECONDS [TRIPLETS [CLIENTS]]] - the state service in one run:
# store operations per second (bench_store: LMDB and a private Redis), then
# the RCPT decision with greylisting and rate limits on LMDB and Redis
# beside postgrey (Debian's postgrey, a Postfix policy service on a
# loopback port of its own, BerkeleyDB in a temp directory) answering the
# same triplets (bench_greylist).  Redis and postgrey are skipped, and
# said so, when not installed; postgrey needs root (it drops to its user).
set -u
B=$(cd "${1:?usage: greylist.sh BUILD_DIR [SECONDS [TRIPLETS [CLIENTS]]]}" && pwd)
S=${2:-2}
N=${3:-10000}
C=${4:-1000}
D=$(mktemp -d "${TMPDIR:-/tmp}/libpolicy-bgl.XXXXXX")
RPID="" PGPID=""
trap 'kill $RPID $PGPID 2>/dev/null; wait 2>/dev/null; rm -rf "$D"' EXIT
chmod 755 "$D"

args=()
if command -v redis-server >/dev/null; then
    redis-server --port 0 --unixsocket "$D/redis.sock" --daemonize no --save '' --appendonly no \
        --dir "$D" > "$D/redis.log" 2>&1 &
    RPID=$!
    for _ in $(seq 50); do [ -S "$D/redis.sock" ] && break; sleep 0.1; done
    args+=(redis "redis+unix://$D/redis.sock" "$RPID")
fi
"$B/tests/bench/bench_store" "$S" ${RPID:+"redis+unix://$D/redis.sock"}
echo

if command -v postgrey >/dev/null && [ "$(id -u)" = 0 ]; then
    PORT=$(( 20000 + RANDOM % 20000 ))
    mkdir -p "$D/pg"
    chown postgrey "$D/pg" 2>/dev/null || chown nobody "$D/pg"
    pguser=$(stat -c %U "$D/pg")
    # postgrey's defaults (delay 300 s, retry window 2 days, max-age 35
    # days, auto-whitelist after 5 passes), as our [greylist] section's
    postgrey --inet="127.0.0.1:$PORT" --dbdir="$D/pg" --user="$pguser" \
        > "$D/postgrey.log" 2>&1 &
    PGPID=$!    # postgrey stays in the foreground: $! is its process
    for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done
    if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
        args+=(postgrey "$PORT" "$PGPID")
    else
        echo "postgrey did not start: $(tail -1 "$D/postgrey.log")"
    fi
else
    echo "postgrey: not measured (needs the postgrey package and root)"
fi
mkdir -p "$D/state"
"$B/tests/bench/bench_greylist" "$N" "$C" "$D/state" "${args[@]}"
