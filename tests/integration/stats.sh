#!/bin/bash
# stats.sh - policyctl stats: the decision lines of real runs (DNSBL
# listings from rbldnsd, a DNSBL that never answers, regex, relay
# control, accepted and blocked messages) spread over six hours and read
# as traditional syslog, ISO-stamped syslog and `journalctl -o export` give
# the same summary, with the right totals, tops, zones, hours and --since;
# the HTML page renders in headless Chromium (Debian's, driven by
# playwright-core) with the summary's numbers in its charts, fetches
# nothing, and its screenshot is kept (BUILD/tests/artifacts/); log text
# reaches it escaped; and the counters of [general] store_metrics read
# back with --store equal the log of the same sessions.
# Run inside a private network namespace (tests/run-integration.sh does).
set -u
. "$(dirname "$0")/lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
B=$(cd "$1" && pwd)
POLICYCTL="$B/adapters/cli/policyctl"
export TZ=UTC
mktmp
. "$HERE/dns/servers.sh"
trap 'dns_world_stop; rm -rf "$T"' EXIT
check "the test DNS world starts" dns_world_start "$T/dns"

# ------------------------------------------------------------ real decision lines
printf 'blocked@sink.test\n' > "$T/badrcptto"
cat > "$T/policy.conf" <<CONF
[general]
dns_servers = 127.0.0.1:$DNS_PORT
[customers]
local_domains = sink.test
trusted_networks = 192.0.2.250/32
[dnsbl]
zones = bl.test
[regex]
badrcptto = $T/badrcptto
header_block = Subject: make\\s+money\\s+fast
CONF
sed "s/^dns_servers = .*/dns_servers = 127.0.0.1:$DEAD_PORT\\ndns_timeout = 300ms/" \
    "$T/policy.conf" > "$T/dead.conf"
printf 'Subject: hello\n\nhi\n' > "$T/good.eml"
printf 'Subject: make money fast\n\nhi\n' > "$T/spam.eml"
run() { "$POLICYCTL" check -v "$@" 2>&1 >/dev/null | sed -n 's/^policyctl: log<[0-9]>: \(stage=\)/\1/p'; }
{
    run -c "$T/policy.conf" --ip 127.0.0.2 --helo h.test --from a@x.test --rcpt u@sink.test
    run -c "$T/policy.conf" --ip 192.0.2.7 --helo h.test --from a@x.test --rcpt blocked@sink.test \
        --rcpt u@sink.test --rcpt v@other.test "$T/good.eml"
    run -c "$T/policy.conf" --ip 192.0.2.8 --host mx.client.test --helo h.test \
        --from '<>' --rcpt u@sink.test "$T/spam.eml"
    run -c "$T/dead.conf" --ip 192.0.2.9 --helo h.test --from b@y.test --rcpt u@sink.test
    run -c "$T/policy.conf" --ip 192.0.2.7 --helo h.test --from 'x<script>alert(1)</script>@evil.test' \
        --rcpt blocked@sink.test
} > "$T/lines"
grep -q 'layer=dnsbl .*listed in bl.test' "$T/lines" && grep -q 'no answer from bl.test' "$T/lines" &&
    grep -q 'action=accept' "$T/lines"
check "real runs logged decision lines ($(wc -l < "$T/lines"))" test $? = 0

base=$(( $(date +%s) / 86400 * 86400 - 3 * 86400 + 10 * 3600 )) # 10:00, three days ago
events=$(/usr/bin/python3 "$HERE/stats/logs.py" "$T/lines" "$base" "$T")
n=$(wc -l < "$T/lines")
same "six hours of events: 21 times the set" $(( 21 * n )) "$events"

for f in syslog iso export; do
    "$POLICYCTL" stats "$T/$f" > "$T/$f.txt"
    st=$?
    same "stats reads the $f file (exit 0)" 0 "$st"
done
same "syslog and ISO-stamped syslog give the same summary" \
    "$(tail -n +2 "$T/syslog.txt")" "$(tail -n +2 "$T/iso.txt")"
same "syslog and the journal export give the same summary" \
    "$(tail -n +2 "$T/syslog.txt")" "$(tail -n +2 "$T/export.txt")"
S="$T/syslog.txt"
grep -q "^policyctl stats: 1 file, $(( 42 * n )) lines read, $(( 21 * n )) decision lines$" "$S"
check "syslog: every line read, only the decision lines counted" test $? = 0
field() { awk -v w="$1" '$0 ~ "^ *[0-9]+  " w "$" { print $1 }' "$S"; }
same "grand total: the decisions" $(( 21 * n )) "$(field decisions)"
same "grand total: the accepted messages (one eom accept a set)" 21 "$(field "messages accepted")"
want_ref=$(grep -cE 'action=(reject|tempfail|disconnect) ' "$T/lines")
same "grand total: the refusals" $(( 21 * want_ref )) "$(field refusals)"
check "the top refused client is the one refused most" \
    grep -qE "^ +$(( 21 * $(grep -cE 'action=(reject|tempfail).* ip=192.0.2.7 ' "$T/lines") ))  192.0.2.7$" "$S"
check "a client with a name is shown with it" grep -qE '^ +[0-9]+  192.0.2.8 \(mx.client.test\)$' "$S"
check "the null sender is shown as <>" grep -qE '^ +[0-9]+  <>$' "$S"
check "DNSBL zones: bl.test refused at RCPT, after the delay at connect, as often as listed" \
    grep -qE "^ +$(( 21 * $(grep -c 'action=reject.*listed in bl.test' "$T/lines") )) +$(( 21 * $(grep -c 'action=delay.*listed in bl.test' "$T/lines") )) +[0-9]+  bl.test$" "$S"
check "DNSBL zones: a zone that never answered counts as errors" \
    grep -qE "^ +[0-9]+ +[0-9]+ +$(( 21 * $(grep -c 'reason="no answer from bl.test' "$T/lines") ))  bl.test$" "$S"
same "per hour: six hours, the n-th hour n times the set" \
    "$(for h in 1 2 3 4 5 6; do echo $(( h * n )); done)" \
    "$(awk '/^Per-hour volume/ { on = 1; next } on && /^[0-9][0-9][0-9][0-9]-/ { print $3 } on && /^$/ { on = 0 }' "$S")"
since=$(date -u -d "@$(( base + 3 * 3600 ))" '+%Y-%m-%d %H:%M')
"$POLICYCTL" stats --since "$since" "$T/syslog" > "$T/since.txt"
same "--since '$since': the last three hours only" $(( (4 + 5 + 6) * n )) \
    "$(awk '/^ *[0-9]+  decisions$/ { print $1 }' "$T/since.txt")"
check "--since: what came before is reported, not counted" \
    grep -q "^Decision lines before --since: $(( (1 + 2 + 3) * n )) (not counted)$" "$T/since.txt"
same "--since with a relative time" "$(cat "$T/syslog.txt")" "$("$POLICYCTL" stats --since -30d "$T/syslog")"
same "a bad --since is a usage error" 64 "$("$POLICYCTL" stats --since yesterday "$T/syslog" >/dev/null 2>&1; echo $?)"
same "a missing file is an error" 66 "$("$POLICYCTL" stats "$T/nope" >/dev/null 2>&1; echo $?)"
same "stats reads standard input" "$(tail -n +2 "$S")" "$("$POLICYCTL" stats < "$T/syslog" | tail -n +2)"

# ------------------------------------------------------------ the page in Chromium
"$POLICYCTL" stats --html "$T/report.html" "$T/syslog" > "$T/html.txt"
same "--html prints the same summary" "$(cat "$S")" "$(cat "$T/html.txt")"
check "the page names no address to fetch" sh -c "! grep -qiE '(src|href)=|url\\(|@import' '$T/report.html'"
check "log text reaches the page escaped" \
    sh -c "grep -q 'x&lt;script&gt;alert(1)&lt;/script&gt;@evil.test' '$T/report.html' && ! grep -q '<script' '$T/report.html'"
mkdir -p "$B/tests/artifacts"
SHOT="$B/tests/artifacts/stats-report.png"
rm -f "$SHOT"
if [ ! -x /usr/bin/chromium ] || [ ! -d "$B/playwright/node_modules/playwright-core" ]; then
    notok "headless Chromium and playwright-core are needed (scripts/install-deps.sh, tests/playwright-fetch.sh)"
else
    PLAYWRIGHT_CORE="$B/playwright/node_modules/playwright-core" \
        timeout 120 node "$HERE/stats/render.js" "$T/report.html" "$SHOT" > "$T/rendered.json" 2> "$T/render.err"
    same "Chromium renders the page (exit 0)" "0 " "$? $(head -c 300 "$T/render.err")"
    tap "$(/usr/bin/python3 "$HERE/stats/check.py" "$T/rendered.json" "$T/html.txt" "file://$T/report.html")"
    check "the screenshot is kept: $SHOT" test -s "$SHOT"
fi

# ------------------------------------------------------------ the store's counters
cat "$T/policy.conf" > "$T/store.conf"
sed -i "s|^\\[general\\]|[general]\\nstore = lmdb:$T/metrics.lmdb\\nstore_metrics = yes|" "$T/store.conf"
{
    run -c "$T/store.conf" --ip 127.0.0.2 --helo h.test --from a@x.test --rcpt u@sink.test
    run -c "$T/store.conf" --ip 192.0.2.7 --helo h.test --from a@x.test --rcpt blocked@sink.test \
        --rcpt u@sink.test --rcpt v@other.test "$T/good.eml"
    run -c "$T/store.conf" --ip 192.0.2.8 --helo h.test --from '<>' --rcpt u@sink.test "$T/spam.eml"
} > "$T/store.lines"
sed 's/^/libpolicy: /' "$T/store.lines" | "$POLICYCTL" stats > "$T/store-log.txt"
"$POLICYCTL" stats -c "$T/store.conf" --store > "$T/store.txt"
same "--store reads the counters (exit 0)" 0 $?
section() { awk -v t="$1" '$0 ~ "^" t { on = 1; next } on && /^$/ { exit } on' "$2"; }
same "--store: the same decisions per layer and action as the log of those sessions" \
    "$(section "Per layer and action" "$T/store-log.txt")" "$(section "Per layer and action" "$T/store.txt")"
same "--store: the same refusals per stage" \
    "$(section "Refusals per stage" "$T/store-log.txt")" "$(section "Refusals per stage" "$T/store.txt")"
check "--store: three sessions, two messages counted" \
    sh -c "grep -qE '^ +3  sessions$' '$T/store.txt' && grep -qE '^ +2  messages \\(any verdict\\)$' '$T/store.txt'"
check "--store --since: this hour's counts" \
    sh -c "'$POLICYCTL' stats -c '$T/store.conf' --store --since -1h | grep -qE '^ +[1-9][0-9]*  decisions$'"
same "--store without a store configured is an error" 69 \
    "$("$POLICYCTL" stats -c "$T/policy.conf" --store >/dev/null 2>&1; echo $?)"
finish
