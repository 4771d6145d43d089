# sendmail_lib.sh - a private Sendmail 8.17 instance for tests and benchmarks,
# from the copy tests/sendmail-root.sh unpacks under the build directory
# (Debian's sendmail-bin conflicts with postfix, so it is never installed).
# Source it, then:
#   sm_find BUILD_DIR                 $SM_ROOT, $SENDMAIL, or a message and 1
#   sm_policy_mc SOCKET               the lines of docs/examples/sendmail.mc,
#                                     with the filter's socket (S=) replaced
#   sm_setup DIR PORT SINK_PORT [MC_LINES]
#                                     write DIR/sendmail.mc (ending with
#                                     MC_LINES), build DIR/sendmail.cf, the
#                                     queue and the aliases
#   sm_start DIR / sm_stop DIR        run `sendmail -bD` in the background / stop it
#   sm_drain DIR SECONDS              wait until the queue is empty
# The instance listens on 127.0.0.1 and [::1] port PORT, relays every
# domain to smtp-sink on SINK_PORT (SMART_HOST) and never asks a resolver
# (hosts files only; confHOSTS_FILE carries the machine's own name, which
# Sendmail looks up at start).  Root only.

# sm_find BUILD_DIR - the private Sendmail root, or why there is none
sm_find() {
    SM_ROOT=$1/sendmail-root
    SENDMAIL=$SM_ROOT/usr/libexec/sendmail/sendmail
    if [ ! -x "$SENDMAIL" ]; then
        echo "no private Sendmail in $SM_ROOT: run tests/sendmail-root.sh $1 (needs the apt mirror)"
        return 1
    fi
    if ! command -v m4 >/dev/null || ldd "$SENDMAIL" 2>&1 | grep -q "not found"; then
        echo "Sendmail needs m4, libwrap0 and liblockfile1 (scripts/install-deps.sh installs them)"
        return 1
    fi
}

# sm_policy_mc SOCKET - the documented .mc lines for policy-milter on SOCKET
sm_policy_mc() {
    sed "s|S=local:/run/policy-milter/policy-milter.sock|S=$1|" \
        "$(dirname "${BASH_SOURCE[0]}")/../../docs/examples/sendmail.mc"
}

# sm_setup DIR PORT SINK_PORT [MC_LINES]
sm_setup() {
    local d=$1 port=$2 sink=$3 lines=${4:-}
    mkdir -p "$d/queue"
    chmod 700 "$d/queue"
    printf 'hosts files\naliases files\n' > "$d/service.switch"
    printf '127.0.0.1 localhost %s mx.sendmail.test\n::1 localhost6\n' "$(hostname)" > "$d/hosts"
    printf 'postmaster: root\nMAILER-DAEMON: postmaster\n' > "$d/aliases"
    : > "$d/statistics"
    {
        echo "divert(-1)"
        echo "divert(0)dnl"
        echo "VERSIONID(\`libpolicy test instance')dnl"
        echo "OSTYPE(\`linux')dnl"
        echo "define(\`confDOMAIN_NAME', \`mx.sendmail.test')dnl"
        echo "define(\`QUEUE_DIR', \`$d/queue')dnl"
        echo "define(\`confPID_FILE', \`$d/sendmail.pid')dnl"
        echo "define(\`ALIAS_FILE', \`$d/aliases')dnl"
        echo "define(\`STATUS_FILE', \`$d/statistics')dnl"
        echo "define(\`HELP_FILE', \`$SM_ROOT/etc/mail/helpfile')dnl"
        echo "define(\`confSERVICE_SWITCH_FILE', \`$d/service.switch')dnl"
        echo "define(\`confHOSTS_FILE', \`$d/hosts')dnl"
        echo "define(\`confDONT_BLAME_SENDMAIL', \`TrustStickyBit')dnl"
        echo "define(\`confDONT_PROBE_INTERFACES', \`True')dnl"
        echo "define(\`confTO_IDENT', \`0')dnl"
        echo "define(\`confQUEUE_LA', \`1000')dnl"
        echo "define(\`confREFUSE_LA', \`1000')dnl"
        echo "define(\`confDELAY_LA', \`0')dnl"
        echo "define(\`confCONNECTION_RATE_THROTTLE', \`0')dnl"
        echo "define(\`confMAX_DAEMON_CHILDREN', \`0')dnl"
        echo "define(\`confDELIVERY_MODE', \`background')dnl"
        echo "define(\`SMART_HOST', \`esmtp:[127.0.0.1]')dnl"
        echo "define(\`ESMTP_MAILER_ARGS', \`TCP \$h $sink')dnl"
        echo "FEATURE(\`no_default_msa')dnl"
        echo "FEATURE(\`nocanonify')dnl"
        echo "FEATURE(\`accept_unresolvable_domains')dnl"
        echo "DAEMON_OPTIONS(\`Family=inet, Name=MTA-v4, Port=$port, Addr=127.0.0.1, Listen=128')dnl"
        echo "DAEMON_OPTIONS(\`Family=inet6, Name=MTA-v6, Port=$port, Addr=::1, Listen=128')dnl"
        [ -z "$lines" ] || printf '%s\n' "$lines"
        echo "MAILER(\`smtp')dnl"
    } > "$d/sendmail.mc"
    m4 -D_CF_DIR_="$SM_ROOT/usr/share/sendmail/cf/" "$SM_ROOT/usr/share/sendmail/cf/m4/cf.m4" \
        "$d/sendmail.mc" > "$d/sendmail.cf" 2> "$d/m4.err" || { cat "$d/m4.err"; return 1; }
    "$SENDMAIL" -C "$d/sendmail.cf" -bi > "$d/newaliases.out" 2>&1 || { cat "$d/newaliases.out"; return 1; }
}

# sm_start DIR - the daemon in the foreground of a background job; 0 once it listens
sm_start() {
    local port
    port=$(sed -n 's/^O DaemonPortOptions=.*Port=\([0-9]*\).*/\1/p' "$1/sendmail.cf" | head -1)
    # shellcheck disable=SC2086
    "$SENDMAIL" -C "$1/sendmail.cf" -bD ${SM_DEBUG:-} > "$1/sendmail.out" 2>&1 &
    echo $! > "$1/daemon.pid"
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
        kill -0 "$(cat "$1/daemon.pid")" 2>/dev/null || break
        sleep 0.1
    done
    cat "$1/sendmail.out"
    return 1
}

# sm_stop DIR - end the daemon started by sm_start DIR (its children
# finish their delivery)
sm_stop() {
    [ -s "$1/daemon.pid" ] || return 0
    local pid
    pid=$(cat "$1/daemon.pid")
    rm -f "$1/daemon.pid"
    kill "$pid" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# sm_drain DIR SECONDS - wait until no message is left in the queue
sm_drain() {
    for _ in $(seq $(( $2 * 10 ))); do
        [ -z "$(find "$1/queue" -type f \( -name 'qf*' -o -name 'df*' \) 2>/dev/null | head -1)" ] && return 0
        sleep 0.1
    done
    return 1
}
