# lib.sh - shared helpers for integration scripts: checks and the summary line.
# Source it: . "$(dirname "$0")/lib.sh"
PASSED=0
FAILED=0

# ok NAME / notok NAME [DETAIL] - record one check
ok() { PASSED=$((PASSED + 1)); echo "ok - $1"; }
notok() { FAILED=$((FAILED + 1)); echo "not ok - $1"; [ $# -lt 2 ] || printf '  %s\n' "$2"; }

# check NAME COMMAND... - run COMMAND, ok when it exits 0
check() {
    local name=$1; shift
    if "$@"; then ok "$name"; else notok "$name"; fi
}

# same NAME EXPECTED ACTUAL - ok when the two strings are equal
same() {
    if [ "$2" = "$3" ]; then ok "$1"; else notok "$1" "expected: $2 | got: $3"; fi
}

# tap OUTPUT - count the ok / not ok lines of a helper script (miltertest,
# python) into ours; its indented detail lines are shown
tap() {
    while IFS= read -r line; do
        case $line in
        "ok - "*) ok "${line#ok - }" ;;
        "not ok - "*) notok "${line#not ok - }" ;;
        "  "*) echo "$line" ;;
        esac
    done <<< "$1"
}

# finish - print the summary line and exit with the right status
finish() {
    echo "$PASSED passed, $FAILED failed"
    [ "$FAILED" -eq 0 ]
}

# mktmp - a private temp dir removed at exit
mktmp() {
    T=$(mktemp -d "${TMPDIR:-/tmp}/libpolicy-it.XXXXXX")
    trap 'rm -rf "$T"' EXIT
}

# redis_start PORT - a private redis-server on 127.0.0.1:PORT (no
# persistence, its files and log in $T); its pid in REDIS.  0 once it
# answers PING (5 s at most).
redis_start() {
    redis-server --port "$1" --bind 127.0.0.1 --daemonize no --save '' --appendonly no \
        --dir "$T" >> "$T/redis.log" 2>&1 &
    REDIS=$!
    for _ in $(seq 50); do
        redis-cli -p "$1" ping 2>/dev/null | grep -q PONG && return 0
        sleep 0.1
    done
    return 1
}

# start NAME ARGS... - a daemon in the background, its log in $T/NAME.log,
# its pid in PID_NAME and added to PIDS (which the script's trap kills)
start() {
    local name=$1; shift
    "$@" 2> "$T/$name.log" &
    PIDS="${PIDS:-} $!"
    eval "PID_$name=$!"
}
# wait_socket SPEC - until something listens at unix:PATH or inet:PORT@HOST (10 s)
wait_socket() {
    for _ in $(seq 100); do
        case $1 in
        unix:*) [ -S "${1#unix:}" ] && return 0 ;;
        inet:*) local p=${1#inet:}; (exec 3<>"/dev/tcp/127.0.0.1/${p%%@*}" && exec 3>&-) 2>/dev/null && return 0 ;;
        esac
        sleep 0.1
    done
    return 1
}
