#!/bin/sh
# sendmail-root.sh BUILD_DIR - a private copy of Debian's Sendmail in
# BUILD_DIR/sendmail-root, for the tests and benchmarks that run one.
# sendmail-bin conflicts with the postfix package, so it is never
# installed: its .debs are fetched with `apt-get download` (this needs the
# apt mirror, so run it outside the private network namespace) and
# unpacked with `dpkg -x`.  Quick when the copy is already there.  Prints
# the root's path.  The libraries it links (libwrap0, liblockfile1) and m4
# come from scripts/install-deps.sh.
set -eu
B=$(cd "${1:?usage: sendmail-root.sh BUILD_DIR}" && pwd)
R=$B/sendmail-root
if [ -x "$R/usr/libexec/sendmail/sendmail" ] && [ -d "$R/usr/share/sendmail/cf/m4" ]; then
    echo "$R"
    exit 0
fi
D=$(mktemp -d "$B/sendmail-debs.XXXXXX")
trap 'rm -rf "$D"' EXIT
# _apt cannot write to a root-owned build directory: let apt fetch as root
get() { (cd "$D" && apt-get -o APT::Sandbox::User=root download sendmail-bin sendmail-base sendmail-cf) >"$D/log" 2>&1; }
if ! get; then
    apt-get update -qq >/dev/null 2>&1 || true
    get || { cat "$D/log" >&2; echo "sendmail-root: cannot download Sendmail's packages" >&2; exit 1; }
fi
rm -rf "$R.tmp"
mkdir -p "$R.tmp"
for f in "$D"/*.deb; do dpkg -x "$f" "$R.tmp"; done
rm -rf "$R"
mv "$R.tmp" "$R"
echo "$R"
