#!/bin/bash
# install_test.sh BUILD_DIR - `meson install` into a temp prefix, then build
# a program outside the tree with nothing but pkg-config, run it, and check
# what was installed: header, libraries, SONAME, exported symbols, man pages.
set -eu
. "$(dirname "$0")/lib.sh"
B=$(cd "$1" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
mktmp
PREFIX="$T/prefix"
SRC=$(cd "$HERE/../.." && pwd)

# a separate build configured for the prefix, so the test build stays as it is
if meson setup "$T/build" "$SRC" --prefix="$PREFIX" --libdir=lib -Dtests=false -Dbench=false \
        >"$T/setup.log" 2>&1 && ninja -C "$T/build" >"$T/ninja.log" 2>&1 &&
        meson install -C "$T/build" >"$T/install.log" 2>&1; then
    ok "meson install into a prefix"
else
    notok "meson install into a prefix" "$(tail -5 "$T"/*.log)"
    finish
fi
check "the header is installed as <libpolicy/policy.h>" test -f "$PREFIX/include/libpolicy/policy.h"
check "the shared library is installed" test -e "$PREFIX/lib/libpolicy.so"
check "the static library is installed" test -f "$PREFIX/lib/libpolicy.a"
check "libpolicy.pc is installed" test -f "$PREFIX/lib/pkgconfig/libpolicy.pc"
for m in man3/libpolicy.3 man5/policy.conf.5 man1/policyctl.1 man8/policy-milter.8 man8/policy-queue.8; do
    check "man page $m is installed" test -s "$PREFIX/share/man/$m"
done
check "policyctl is installed" test -x "$PREFIX/bin/policyctl"
check "policy-milter is installed in sbin" test -x "$PREFIX/sbin/policy-milter"
check "policy-queue is installed in sbin" test -x "$PREFIX/sbin/policy-queue"
same "the SONAME is libpolicy.so.0" "libpolicy.so.0" \
    "$(objdump -p "$PREFIX/lib/libpolicy.so" | awk '/SONAME/ {print $2}')"
same "only policy_* symbols are exported" "" \
    "$(nm -D --defined-only "$PREFIX/lib/libpolicy.so" | awk '$2 ~ /[TDBR]/ {print $3}' | sed 's/@.*//' | grep -v '^policy_' || true)"

export PKG_CONFIG_PATH="$PREFIX/lib/pkgconfig"
if cc -std=c11 -Wall -Wextra -Werror -o "$T/outside" "$HERE/outside/session.c" \
        $(pkg-config --cflags --libs libpolicy) 2>"$T/cc.log"; then
    ok "an outside program builds with pkg-config --cflags --libs libpolicy"
else
    notok "an outside program builds with pkg-config --cflags --libs libpolicy" "$(cat "$T/cc.log")"
fi
if out=$(LD_LIBRARY_PATH="$PREFIX/lib" "$T/outside" 2>&1); then
    ok "the outside program runs a session through every stage ($out)"
else
    notok "the outside program runs a session through every stage" "$out"
fi
check "the outside program uses the installed library" \
    bash -c "LD_LIBRARY_PATH='$PREFIX/lib' ldd '$T/outside' | grep -q '$PREFIX/lib/libpolicy.so.0'"
# embedding: the static library and what pkg-config --static says it needs
if cc -std=c11 -Wall -Wextra -Werror -o "$T/outside-static" "$HERE/outside/session.c" \
        $(pkg-config --cflags libpolicy) "$PREFIX/lib/libpolicy.a" \
        $(pkg-config --static --libs libpolicy | sed 's/-lpolicy//') 2>"$T/cc-static.log" &&
        out=$("$T/outside-static" 2>&1); then
    ok "an outside program links the static library with pkg-config --static ($out)"
else
    notok "an outside program links the static library with pkg-config --static" \
        "$(cat "$T/cc-static.log") $out"
fi
for m in man3/libpolicy.3 man5/policy.conf.5 man1/policyctl.1 man8/policy-milter.8 man8/policy-queue.8; do
    if man -l "$PREFIX/share/man/$m" >/dev/null 2>"$T/man.err" && [ ! -s "$T/man.err" ]; then
        ok "$m formats without warnings"
    else
        notok "$m formats without warnings" "$(cat "$T/man.err")"
    fi
done
finish
