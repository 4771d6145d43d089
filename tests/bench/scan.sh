#!/bin/bash
# scan.sh BUILD_DIR [SECONDS] - the virus-scan benchmark in a private
# network namespace: a private clamd (unix and TCP sockets) on the test
# signatures (tests/integration/scanners/sigs.sh), then bench_scan on 10 KB
# clean messages and on the corpus when scripts/fetch-corpus.sh fetched it;
# last, which of the ways mail carries an attachment whole-message scanning
# (CL_SCAN_PARSE_MAIL) and scanning the decoded MIME parts each see through
# (tests/bench/scan_mails.py).  Needs root, clamd and clamav-testfiles.
set -u
B=$(cd "${1:?usage: scan.sh BUILD_DIR [SECONDS]}" && pwd)
S=${2:-3}
HERE=$(cd "$(dirname "$0")" && pwd)
if [ -z "${POLICY_IN_NETNS:-}" ]; then
    POLICY_IN_NETNS=1 unshare --net -- sh -c 'ip link set lo up && exec bash "$1" "$2" "$3"' \
        ns "$0" "$B" "$S"
    exit $?
fi
. "$HERE/../integration/scanners/sigs.sh"
W=$(mktemp -d "${TMPDIR:-/tmp}/libpolicy-bscan.XXXXXX")
CLAMD_PID=
trap '[ -n "$CLAMD_PID" ] && kill "$CLAMD_PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$W"' EXIT
sigs_write "$W/db"
# where libclamav and clamd unpack parts: SCAN_TMPDIR, else a tmpfs (the
# setting to use in production), else the disk
if [ -n "${SCAN_TMPDIR:-}" ]; then
    SCANTMP=$SCAN_TMPDIR
elif [ -d /dev/shm ] && [ -w /dev/shm ]; then
    SCANTMP=$(mktemp -d /dev/shm/libpolicy-bscan.XXXXXX)
    trap '[ -n "$CLAMD_PID" ] && kill "$CLAMD_PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$W" "$SCANTMP"' EXIT
else
    SCANTMP=$W/tmp
fi
mkdir -p "$SCANTMP"
cat > "$W/clamd.conf" <<EOF
Foreground yes
LocalSocket $W/clamd.sock
TCPSocket 13310
TCPAddr 127.0.0.1
DatabaseDirectory $W/db
LogFile $W/clamd.log
StreamMaxLength 50M
MaxThreads 2
DisableCache yes
TemporaryDirectory $SCANTMP
EOF
clamd -c "$W/clamd.conf" > "$W/clamd.out" 2>&1 &
CLAMD_PID=$!
for _ in $(seq 300); do
    "$B/tests/tools/scan_drive" ping "unix:$W/clamd.sock" -t 500 >/dev/null 2>&1 && break
    sleep 0.2
done
CORPUS=$(sh "$HERE/../../scripts/fetch-corpus.sh" --where 2>/dev/null)/spam-assassin
[ -f "$CORPUS/.complete" ] || CORPUS=
echo "virus scanning, one message at a time ($(nproc) cores, load average $(cut -d' ' -f1 /proc/loadavg)," \
    "parts unpacked in $SCANTMP, $(df --output=fstype "$SCANTMP" | tail -1)):"
BENCH_TMPDIR=$SCANTMP BENCH_CLAMD_PID=$CLAMD_PID "$B/tests/bench/bench_scan" "$W/db" "unix:$W/clamd.sock" "inet:127.0.0.1:13310" "$S" ${CORPUS:+"$CORPUS"}
[ -n "$CORPUS" ] || echo "(no corpus: scripts/fetch-corpus.sh fetches it)"

echo
echo "what each way finds: clam.exe carried by mail in many ways (scan_mails.py), and a signature"
echo "of target type 4 (mail files) on the words of a plain message"
sigs_write "$W/body" body
echo "Test.MailTarget:4:*:$(printf 'meet for lunch' | od -An -tx1 -v | tr -d ' \n')" >> "$W/body/body.ndb"
mkdir -p "$W/mails"
/usr/bin/python3 "$HERE/scan_mails.py" "$W/mails" "$SIGS_TESTFILES/clam.exe" "$SIGS_TESTFILES/clam.zip"
printf 'From: a@example.test\r\nSubject: lunch\r\n\r\nShall we meet for lunch tomorrow?\r\n' > "$W/mails/99.eml"
echo "mail-target signature" > "$W/mails/99.name"
printf '  %-30s %-11s %-11s %-11s %-11s\n' "how" "PARSE_MAIL" "raw bytes" "MIME parts" "raw + parts"
for m in "$W/mails"/*.eml; do
    v=()
    for o in "-o archives,mail" "-o archives" "-o archives -P"; do
        # shellcheck disable=SC2086
        v+=("$("$B/tests/tools/scan_drive" clamav "$W/body" $o "$m" 2>/dev/null | awk '{print $2}')")
    done
    both=clean
    [ "${v[1]}" = clean ] && [ "${v[2]}" = clean ] || both=infected
    printf '  %-30s %-11s %-11s %-11s %-11s\n' "$(cat "${m%.eml}.name")" "${v[0]}" "${v[1]}" "${v[2]}" "$both"
done
