# postfix_lib.sh - a private Postfix instance for tests and benchmarks.
# Source it, then:
#   pf_setup DIR SMTP_PORT SINK_PORT [MILTER_SPEC]   write config, make the queue
#   pf_start DIR / pf_stop DIR                      run it in the background / stop it
#   sink_start DIR PORT / sink_stop                 smtp-sink saving one file per message
# and, for the test scripts (after lib.sh):
#   pf_test_begin BUILD_DIR    MILTER, POLICYCTL, a temp dir $T, cleanup at exit
#   pf_test_world              policy-milter ($T/policy.conf) on $SOCK, smtp-sink,
#                              Postfix on $PORT with smtpd_milters = $SOCK
#   start_milter / send FROM_IP RCPTS [swaks options]
# Every domain is relayed to the sink; Postfix itself refuses nothing from
# the test networks, so every rejection seen is the milter's.  Root only.

# pf_setup DIR SMTP_PORT SINK_PORT [MILTER_SPEC]
pf_setup() {
    local d=$1 port=$2 sink=$3 milter=${4:-}
    mkdir -p "$d/conf" "$d/queue" "$d/data"
    chown postfix "$d/data"
    cat > "$d/conf/main.cf" <<CF
compatibility_level = 3.6
queue_directory = $d/queue
data_directory = $d/data
mail_owner = postfix
setgid_group = postdrop
maillog_file_prefixes = /tmp,/var,/dev/stdout,$d
maillog_file = $d/maillog
inet_interfaces = 127.0.0.1, [::1]
inet_protocols = all
myhostname = mx.postfix.test
mydestination =
mynetworks = 127.0.0.0/8 192.0.2.0/24 [::1]/128 [2001:db8::]/32
smtpd_peername_lookup = no
smtp_dns_support_level = disabled
disable_dns_lookups = yes
smtpd_relay_restrictions = permit_mynetworks, reject
relay_domains = sink.test
relay_transport = smtp:[127.0.0.1]:$sink
default_transport = smtp:[127.0.0.1]:$sink
default_process_limit = 300
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
smtpd_client_message_rate_limit = 0
anvil_rate_time_unit = 60s
default_destination_concurrency_limit = 20
smtp_connection_cache_on_demand = yes
smtpd_milters = $milter
non_smtpd_milters =
milter_default_action = tempfail
milter_protocol = 6
biff = no
CF
    # every service unchrooted; one smtpd on the test port
    awk -v port="$port" '
        /^#/ || /^[ \t]/ || NF < 8 { print; next }
        $1 == "smtp" && $2 == "inet" { print "127.0.0.1:" port " inet n - n - - smtpd";
                                       print "[::1]:" port " inet n - n - - smtpd"; next }
        { $5 = "n"; print }' /etc/postfix/master.cf > "$d/conf/master.cf"
    postfix -c "$d/conf" check >/dev/null 2>&1 || postfix -c "$d/conf" check
}

pf_start() {
    postfix -c "$1/conf" start >/dev/null 2>&1
    local port
    port=$(awk '$2 == "inet" && $1 ~ /^127/ { sub(/.*:/, "", $1); print $1; exit }' "$1/conf/master.cf")
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

pf_stop() { postfix -c "$1/conf" stop >/dev/null 2>&1 || true; }

# pf_drain DIR SECONDS - wait until the queue is empty
pf_drain() {
    for _ in $(seq $(( $2 * 10 ))); do
        [ -z "$(find "$1/queue/incoming" "$1/queue/active" "$1/queue/deferred" "$1/queue/maildrop" \
                 -type f 2>/dev/null | head -1)" ] && return 0
        sleep 0.1
    done
    return 1
}

# sink_start DIR PORT - smtp-sink writing each message it receives to DIR
sink_start() {
    mkdir -p "$1"
    chown postfix "$1"
    smtp-sink -u postfix -d "$1/%M." 127.0.0.1:"$2" 1000 >/dev/null 2>&1 &
    SINK_PID=$!
    for _ in $(seq 50); do
        (exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}
sink_stop() {
    [ -n "${SINK_PID:-}" ] || return 0
    kill "$SINK_PID" 2>/dev/null
    for _ in $(seq 30); do kill -0 "$SINK_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SINK_PID" 2>/dev/null || true
    wait "$SINK_PID" 2>/dev/null || true
    SINK_PID=""
}

# ------------------------------------------------------------ test scripts

# pf_test_begin BUILD_DIR - what every Postfix test starts with: the tools
# (or one failed check and exit), the programs under test, $T, and a
# cleanup of Postfix, the sink and the milter ($MPID) at exit.
pf_test_begin() {
    B=$(cd "$1" && pwd)
    MILTER="$B/adapters/milter/policy-milter"
    POLICYCTL="$B/adapters/cli/policyctl"
    if ! command -v postfix >/dev/null || ! command -v swaks >/dev/null; then
        notok "postfix and swaks are needed (scripts/install-deps.sh installs them)"
        finish
        exit 1
    fi
    mktmp
    chmod 755 "$T"
    MPID=""
    trap pf_test_cleanup EXIT
}

pf_test_cleanup() {
    pf_stop "$T/pf"
    sink_stop
    [ -n "$MPID" ] && kill "$MPID" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$T"
}

# start_milter - policy-milter with $T/policy.conf on $SOCK; 0 once it listens
start_milter() {
    "$MILTER" -f -c "$T/policy.conf" -p "$SOCK" 2>> "$T/milter.log" &
    MPID=$!
    for _ in $(seq 100); do [ -S "$T/milter.sock" ] && return 0; sleep 0.1; done
    return 1
}

# pf_test_world - the milter, the sink and Postfix, each start a check
pf_test_world() {
    PORT=$(( 20000 + RANDOM % 20000 )) SINK=$(( PORT + 1 ))
    SOCK="unix:$T/milter.sock"
    SERVER=127.0.0.1:$PORT
    check "policy-milter starts" start_milter
    check "smtp-sink starts" sink_start "$T/sink" "$SINK"
    pf_setup "$T/pf" "$PORT" "$SINK" "$SOCK"
}

# send FROM_IP RCPT[,RCPT...] [swaks options] -> the whole swaks transcript
send() {
    local ip=$1 to=$2
    shift 2
    swaks --server "$SERVER" --local-interface "$ip" --helo client.test \
        --from sender@client.test --to "$to" "$@" 2>&1
}
