#!/bin/bash
# run.sh BUILD_DIR [SECONDS] - run the benchmarks of a (release) build and
# print their tables.  Builds nothing; use a -Dbuildtype=release build for
# numbers worth quoting.
set -eu
B=${1:?usage: run.sh BUILD_DIR [SECONDS]}
S=${2:-3}
"$B/tests/bench/bench_envelope" "$S"
echo
"$B/tests/bench/bench_patterns" "$S"
echo
"$B/tests/bench/bench_recipients" "$S"
echo
CORPUS=$(sh "$(dirname "$0")/../../scripts/fetch-corpus.sh" --where)/spam-assassin
if [ ! -x "$B/tests/bench/bench_mime" ]; then
    echo "MIME benchmark skipped: bench_mime not built (libgmime-3.0-dev missing)"
elif [ ! -f "$CORPUS/.complete" ]; then
    echo "MIME benchmark skipped: corpus not fetched (scripts/fetch-corpus.sh)"
else
    "$B/tests/bench/bench_mime" "$CORPUS" "$S"
fi
echo
# the store (LMDB always; Redis when redis-server is installed: a private
# one on a unix socket of its own), then the RCPT decision with greylisting
# and rate limits beside postgrey (when installed and run as root)
bash "$(dirname "$0")/greylist.sh" "$B" "$S" "${GREYLIST_BENCH_TRIPLETS:-10000}"
echo
# policy-queue with the layers a qmail host runs after qmail-smtpd (customers
# + regex: two header rules, then 900 qregex patterns), checking here and
# through a running policy-milter, beside the exec-only passthrough
bash "$(dirname "$0")/qmail.sh" "$B" "$(( S * 100 ))" "${QMAIL_BENCH_ROUNDS:-5}"
echo
bash "$(dirname "$0")/attachments.sh" "$B" "${ATTACH_BENCH_ROUNDS:-3}"
echo

if [ "$(id -u)" = 0 ] && command -v rbldnsd >/dev/null && command -v dnsmasq >/dev/null; then
    bash "$(dirname "$0")/dns.sh" "$B" "${DNS_BENCH_ROUNDS:-20}"
else
    echo "DNS benchmark skipped: needs root, rbldnsd and dnsmasq (scripts/install-deps.sh)"
fi
echo
if [ "$(id -u)" = 0 ] && command -v postfix >/dev/null && command -v smtp-source >/dev/null; then
    bash "$(dirname "$0")/milter.sh" "$B" "${MILTER_BENCH_MESSAGES:-3000}" "${MILTER_BENCH_ROUNDS:-3}"
else
    echo "milter benchmark skipped: needs root, postfix and smtp-source (scripts/install-deps.sh)"
fi
echo
# the spam filter side by side with bogofilter (a few minutes: five folds
# and a time split, three systems), its tokens in memory, then in LMDB
if [ -x "$B/tests/tools/spam_eval" ] && command -v bogofilter >/dev/null; then
    bash "$(dirname "$0")/spam_eval.sh" "$B" --runs "${SPAM_BENCH_RUNS:-1}"
    echo "-- the same, the built-in filter's tokens in LMDB (the layer's store on a host)"
    bash "$(dirname "$0")/spam_eval.sh" "$B" --runs "${SPAM_BENCH_RUNS:-1}" --lmdb
else
    echo "spam filter evaluation skipped: needs tests/tools/spam_eval (-Dtests=true) and bogofilter"
fi
echo
if [ "$(id -u)" = 0 ] && command -v postfix >/dev/null && command -v opendkim >/dev/null &&
    command -v dnsmasq >/dev/null && command -v dkimverify >/dev/null; then
    bash "$(dirname "$0")/dkim.sh" "$B" "${DKIM_BENCH_MESSAGES:-1000}" "${DKIM_BENCH_ROUNDS:-3}"
else
    echo "DKIM benchmark skipped: needs root, postfix, opendkim, dnsmasq and python3-dkim (scripts/install-deps.sh)"
fi
echo
if [ "$(id -u)" = 0 ] && command -v smtp-source >/dev/null && command -v m4 >/dev/null; then
    bash "$(dirname "$0")/sendmail.sh" "$B" "${SENDMAIL_BENCH_MESSAGES:-1000}" "${SENDMAIL_BENCH_ROUNDS:-3}"
else
    echo "Sendmail benchmark skipped: needs root, smtp-source and m4 (scripts/install-deps.sh)"
fi
echo
if [ "$(id -u)" = 0 ] && command -v clamd >/dev/null && [ -d /usr/share/clamav-testfiles ]; then
    bash "$(dirname "$0")/scan.sh" "$B" "$S"
else
    echo "virus-scan benchmark skipped: needs root, clamd and clamav-testfiles (scripts/install-deps.sh)"
fi
echo
if [ "$(id -u)" = 0 ] && command -v clamd >/dev/null && [ -d /usr/share/clamav-testfiles ]; then
    bash "$(dirname "$0")/virus.sh" "$B" "${VIRUS_BENCH_ROUNDS:-3}" "${VIRUS_BENCH_MESSAGES:-200}"
else
    echo "virus layer benchmark skipped: needs root, clamd and clamav-testfiles (scripts/install-deps.sh)"
fi
