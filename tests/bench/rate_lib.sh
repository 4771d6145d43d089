# rate_lib.sh - the throughput loop the MTA benchmarks share (milter.sh,
# sendmail.sh): smtp-source against one port per configuration, a warm-up
# run each, then rounds that interleave the configurations, and medians.
# Source it, then set T (temp dir, with the sink writing to $T/sink), M
# (messages per run), R (rounds), DRAIN (a command that returns once the
# MTA has handed on everything it accepted) and optionally SESSIONS
# (smtp-source's parallel sessions, 20) and SENDER (the envelope sender and
# From: header smtp-source writes, bench@client.test), and call:
#   rate_rounds "NAME=PORT ..."   fills RES[NAME] with R rates (msg/s)
#   median < "1 3 2"              the median of a list of numbers
#   rate_table TITLE "NAME ..."   prints the medians and the rounds

# rate PORT -> messages per second for M messages, all checked at the sink
rate() {
    local s e got
    s=$(date +%s.%N)
    smtp-source -s "${SESSIONS:-20}" -m "$M" -l 1024 -f "${SENDER:-bench@client.test}" -t rcpt@sink.test "127.0.0.1:$1" 2>> "$T/source.err"
    e=$(date +%s.%N)
    $DRAIN || true
    got=$(find "$T/sink" -type f | wc -l)
    [ "$got" -eq "$M" ] || echo "port $1: $got of $M messages arrived" >> "$T/source.err"
    rm -rf "$T/sink"/*
    awk -v m="$M" -v s="$s" -v e="$e" 'BEGIN { printf "%.1f\n", m / (e - s) }'
}

declare -A RES
rate_rounds() {
    local p
    for p in $1; do M=200 rate "${p#*=}" > /dev/null; done
    for _ in $(seq "$R"); do
        for p in $1; do RES[${p%%=*}]="${RES[${p%%=*}]:-} $(rate "${p#*=}")"; done
    done
}

median() { tr ' ' '\n' | sed '/^$/d' | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

rate_table() {
    local n
    echo "$1"
    printf '  %-12s %10s   %s\n' config "msg/s" "rounds"
    for n in $2; do
        printf '  %-12s %10s   %s\n' "$n" "$(echo "${RES[$n]}" | median)" "${RES[$n]}"
    done
}
