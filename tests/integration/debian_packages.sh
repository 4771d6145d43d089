#!/bin/bash
# debian_packages.sh BUILD_DIR - the Debian packages of debian/: built with
# dpkg-buildpackage -b from a copy of this tree (inside the private network
# namespace: the build needs nothing from the network), judged by lintian,
# installed with apt, policy-milter started from its unit's ExecStartPre and
# ExecStart as systemd would (its User, its RuntimeDirectory) and serving
# miltertest with the packaged /etc/libpolicy/policy.conf, policyctl checked
# against that file, then purged: nothing of it may be left.  It takes a few
# minutes, so the default run leaves it out (scripts/debian-packages.sh, or
# tests/run-integration.sh BUILD_DIR debian_packages).  The packages, the
# build log and lintian's report stay in BUILD_DIR/debian-packages.
# run: on its own
set -u
. "$(dirname "$0")/lib.sh"
B=$(cd "$1" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
PKGS=(libpolicy0 libpolicy-dev policy-milter policy-tools)
UNIT=/lib/systemd/system/policy-milter.service
APT=(apt-get -y -q -o DPkg::Lock::Timeout=600)
export DEBIAN_FRONTEND=noninteractive
unset PKG_CONFIG_PATH
mktmp
chmod 755 "$T" # the daemon's user and nobody read the miltertest scripts here

MILTER_PID=""
INSTALLED=""
RUNDIR=""
cleanup() { # whatever happened: stop the daemon, purge what this test installed
    [ -z "$MILTER_PID" ] || { kill "$MILTER_PID" 2>/dev/null; wait "$MILTER_PID" 2>/dev/null; }
    [ -z "$INSTALLED" ] || "${APT[@]}" purge "${PKGS[@]}" >/dev/null 2>&1
    [ -z "$RUNDIR" ] || rm -rf "$RUNDIR"
    rm -rf "$T"
}
trap cleanup EXIT

# installed PKG - dpkg knows PKG as installed (or half-installed, or with
# its conffiles left)
installed() { dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null | grep -qv '^[up]n'; }

# --- what the test needs, and what it must not destroy
missing=""
for c in dpkg-buildpackage dh lintian apt-get miltertest setpriv pkg-config cc; do
    command -v "$c" >/dev/null || missing="$missing $c"
done
if [ -n "$missing" ] || [ "$(id -u)" -ne 0 ]; then
    notok "tools for the package test (root; run scripts/install-deps.sh)" "missing:$missing"
    finish
    exit 1 # stop here: what follows needs this step
fi
present=""
for p in "${PKGS[@]}"; do installed "$p" && present="$present $p"; done
getent passwd policy-milter >/dev/null && present="$present user:policy-milter"
getent group policy-milter >/dev/null && present="$present group:policy-milter"
for f in /etc/libpolicy/policy.conf /run/policy-milter; do [ ! -e "$f" ] || present="$present $f"; done
if [ -n "$present" ]; then
    notok "this machine has none of what the packages install (the test would purge it)" \
        "already here:$present"
    finish
    exit 1 # stop here: what follows needs this step
fi
ok "this machine has none of what the packages install"

# --- build from a copy of the tree (tracked and new files, no build dirs)
mkdir "$T/src"
if git -C "$SRC" rev-parse --git-dir >/dev/null 2>&1; then
    (cd "$SRC" && git ls-files -co --exclude-standard -z | xargs -0 cp -P --parents -t "$T/src")
else
    tar -C "$SRC" --exclude='./build*' --exclude='./obj-*' -cf - . | tar -C "$T/src" -xf -
fi
if ! (cd "$T/src" && dpkg-checkbuilddeps) >"$T/builddeps.log" 2>&1; then
    notok "the build dependencies of debian/control are installed" "$(cat "$T/builddeps.log")"
    finish
    exit 1 # stop here: what follows needs this step
fi
ok "the build dependencies of debian/control are installed"
start=$(date +%s)
if (cd "$T/src" && dpkg-buildpackage -b -us -uc) >"$T/build.log" 2>&1; then
    ok "dpkg-buildpackage -b -us -uc builds the packages ($(($(date +%s) - start)) s)"
else
    notok "dpkg-buildpackage -b -us -uc builds the packages" \
        "$(grep -A20 'dpkg-gensymbols: warning: some new symbols\|dpkg-gensymbols: error' "$T/build.log"; tail -25 "$T/build.log")"
    finish
    exit 1 # stop here: what follows needs this step
fi
same "the build gives no compiler warning under Debian's flags (fortify, -O2)" "" \
    "$(grep -E '(warning|error):' "$T/build.log" | grep -E '\.[ch]:[0-9]+' | head -5)"
same "the build ran the unit tests and none failed" "ok" \
    "$(grep -qE '^Ok: +[1-9]' "$T/build.log" && grep -qE '^Fail: +0' "$T/build.log" && echo ok)"
for p in "${PKGS[@]}"; do
    check "$p was built" test -f "$T/${p}_"*.deb
done
mkdir -p "$B/debian-packages"
rm -f "$B/debian-packages/"*
cp "$T"/*.deb "$T"/*.changes "$T"/*.buildinfo "$T/build.log" "$B/debian-packages/"
deb() { echo "$T/${1}_"*"_$(dpkg --print-architecture).deb"; }

# --- what the packages say about themselves
# owner_of PATH - the package that holds PATH, also when dpkg knows it by
# its other name under merged /usr (/lib or /usr/lib), or by its target
owner_of() {
    local p f
    for p in "$1" "$(readlink -f "$1")"; do
        for f in "$p" "${p#/usr}" "/usr$p"; do
            dpkg-query -S "$f" 2>/dev/null | head -1 | cut -d: -f1 | grep . && return 0
        done
    done
    return 0
}
# needs_libs PKG FILE - every library FILE needs (but libc) comes from a
# package PKG depends on: dh_shlibdeps wrote the list, nobody by hand
needs_libs() {
    local pkg=$1 file=$2 dir=$T/x-$1 lib path owner missing=""
    rm -rf "$dir" && dpkg-deb -x "$(deb "$pkg")" "$dir"
    local depends
    depends=" $(dpkg-deb -f "$(deb "$pkg")" Depends | sed 's/([^)]*)//g; s/[,|]/ /g') "
    for lib in $(objdump -p "$dir$file" | awk '/NEEDED/ {print $2}'); do
        case $lib in libc.so.* | ld-linux*) continue ;; libpolicy.so.0) owner=libpolicy0 ;;
        *)  path=$(ldconfig -p | awk -v l="$lib" '$1 == l {print $NF; exit}')
            owner=$(owner_of "$path") ;;
        esac
        case $depends in *" $owner "*) ;; *) missing="$missing $lib($owner)" ;; esac
    done
    same "$pkg depends on the package of every library $file needs" "" "$missing"
}
needs_libs libpolicy0 "/usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH)/libpolicy.so.0"
needs_libs policy-milter /usr/sbin/policy-milter
needs_libs policy-tools /usr/bin/policyctl
needs_libs policy-tools /usr/sbin/policy-queue
# libclamav is loaded with dlopen(): not a NEEDED entry, a Recommends
so=$(grep -aoE 'libclamav\.so\.[0-9]+' "$T/x-libpolicy0/usr/lib/"*/libpolicy.so.0 | sort -u)
same "libpolicy0 recommends the package of the libclamav it loads with dlopen() ($so)" \
    "$(owner_of "$(ldconfig -p | awk -v l="$so" '$1 == l {print $NF; exit}')")" \
    "$(dpkg-deb -f "$(deb libpolicy0)" Recommends | tr ',' '\n' | sed 's/^ *//; s/ .*//' | grep '^libclamav')"
# libraries libpolicy loads with dlopen() on first use (support/dynlib.c,
# arcwalk.c) are no NEEDED entry: libpolicy0 must depend on them by hand
# (libclamav, needed by [virus] scanner = libclamav only, is a Recommends: above)
lpso=$(echo "$T/x-libpolicy0/usr/lib/"*/libpolicy.so.0)
dlopened=$(strings "$lpso" | grep -E '^lib[a-z0-9_+-]+\.so\.[0-9.]+$' | sort -u |
    grep -vxF -f <(objdump -p "$lpso" | awk '$1 == "NEEDED" || $1 == "SONAME" {print $2}'))
missing=""
depends=" $(dpkg-deb -f "$(deb libpolicy0)" Depends | sed 's/([^)]*)//g; s/[,|]/ /g') "
for lib in $dlopened; do
    case $lib in libclamav.so.*) continue ;; esac
    owner=$(owner_of "$(ldconfig -p | awk -v l="$lib" '$1 == l {print $NF; exit}')")
    case $depends in *" $owner "*) ;; *) missing="$missing $lib($owner)" ;; esac
done
check "libpolicy names the libraries it loads on first use ($(echo $dlopened | wc -w) of them)" \
    test "$(echo $dlopened | wc -w)" -ge 7
same "libpolicy0 depends on the package of every library it loads on first use" "" "$missing"
same "libpolicy0 holds the library and nothing else" \
    "libpolicy.so.0 libpolicy.so.0.1.0" \
    "$(dpkg-deb -c "$(deb libpolicy0)" | awk '{print $6}' | grep -v '/$' | grep -v '^./usr/share/doc/' |
        xargs -n1 basename | sort | tr '\n' ' ' | sed 's/ $//')"
same "the library's SONAME is libpolicy.so.0" "libpolicy.so.0" \
    "$(objdump -p "$T/x-libpolicy0/usr/lib/"*/libpolicy.so.0 | awk '/SONAME/ {print $2}')"
rm -rf "$T/ctl" && dpkg-deb -e "$(deb libpolicy0)" "$T/ctl"
same "libpolicy0 ships the symbols file, every exported symbol in it" "" \
    "$(nm -D --defined-only "$T/x-libpolicy0/usr/lib/"*/libpolicy.so.0 | awk '{print $3}' | sed 's/@@*/@/' |
        while read -r s; do [ "$s" = LIBPOLICY_0 ] && s=LIBPOLICY_0@LIBPOLICY_0
            grep -q "^ $s " "$T/ctl/symbols" || echo "$s"; done)"
rm -rf "$T/ctl" && dpkg-deb -e "$(deb policy-milter)" "$T/ctl"
same "policy-milter's one conffile is /etc/libpolicy/policy.conf" "/etc/libpolicy/policy.conf" \
    "$(cat "$T/ctl/conffiles")"

# --- lintian: every tag it still reports is explained in debian/README.source
if lintian -I -E --pedantic "$T"/*.changes >"$T/lintian.txt" 2>&1; then :; fi
cp "$T/lintian.txt" "$B/debian-packages/"
same "lintian reports no error" "" "$(grep '^E:' "$T/lintian.txt")"
reported=$(sed -n 's/^[EWIPX]: [^ ]*: \([a-z0-9.+-]*\).*/\1/p' "$T/lintian.txt" | sort -u)
explained=$(sed -n '/^## lintian$/,/^## /s/^- `\([a-z0-9.+-]*\)`.*/\1/p' "$SRC/debian/README.source" | sort -u)
same "lintian reports exactly the tags debian/README.source explains" \
    "$(echo "$explained" | tr '\n' ' ')" "$(echo "$reported" | tr '\n' ' ')"

# --- install
# scan - the files and directories named like ours outside /tmp and /work
scan() {
    find /etc /usr /lib /var /run -xdev \( -name '*libpolicy*' -o -name '*policy-milter*' \
        -o -name '*policy-tools*' -o -name 'policyctl*' -o -name 'policy-queue*' \
        -o -name 'policy.conf*' \) -print 2>/dev/null | sort
}
scan > "$T/before.scan"
for p in "${PKGS[@]}"; do
    dpkg-deb -c "$(deb "$p")" | awk '{print substr($6, 2)}' | sed 's|/$||' | grep . |
        while read -r f; do [ -e "$f" ] || [ -L "$f" ] || echo "$f"; done
done | sort -u > "$T/new.paths"
INSTALLED=1
if "${APT[@]}" install --no-install-recommends \
        "$(deb libpolicy0)" "$(deb libpolicy-dev)" "$(deb policy-milter)" "$(deb policy-tools)" \
        >"$T/install.log" 2>&1; then
    ok "apt-get installs the four packages"
else
    notok "apt-get installs the four packages" "$(tail -15 "$T/install.log")"
    finish
    exit 1 # stop here: what follows needs this step
fi
for p in "${PKGS[@]}"; do
    same "$p is installed" "ii " "$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null)"
done
IFS=: read -r _ _ uid gid _ home shell < <(getent passwd policy-milter)
check "postinst made the system user policy-milter" test -n "${uid:-}"
check "policy-milter is a system user (uid $uid below 1000)" test "${uid:-1000}" -lt 1000
same "policy-milter has no home and no shell" "/nonexistent /usr/sbin/nologin" "${home:-} ${shell:-}"
check "policy-milter's home was not created" test ! -e /nonexistent
same "policy-milter's group is its own" "policy-milter" "$(getent group "${gid:-x}" | cut -d: -f1)"
check "/etc/libpolicy/policy.conf is the packaged default (debian/policy.conf)" \
    cmp -s /etc/libpolicy/policy.conf "$SRC/debian/policy.conf"
check "the service is enabled as deb-systemd-helper does without systemd running" \
    test -L /etc/systemd/system/multi-user.target.wants/policy-milter.service
check "ldconfig knows libpolicy.so.0" bash -c 'ldconfig -p | grep -q "libpolicy.so.0 "'
for m in libpolicy.3 policy.conf.5 policyctl.1 policy-milter.8 policy-queue.8; do
    check "man finds $m" bash -c "man -aw '${m%.*}' 2>/dev/null | grep -q '/usr/share/man/man${m##*.}/$m'"
done
# (--man=no: man would leave formatted pages in /var/cache/man; man -aw
# above found them)
if command -v systemd-analyze >/dev/null; then
    same "systemd-analyze verify finds nothing wrong in the unit" "" \
        "$(systemd-analyze verify --man=no "$UNIT" 2>&1)"
fi

# --- libpolicy-dev: a program outside the tree builds with pkg-config alone
if cc -std=c11 -Wall -Wextra -Werror -o "$T/outside" "$HERE/outside/session.c" \
        $(pkg-config --cflags --libs libpolicy) 2>"$T/cc.log" && out=$("$T/outside" 2>&1); then
    ok "a program builds and runs with the installed libpolicy-dev ($out)"
else
    notok "a program builds and runs with the installed libpolicy-dev" "$(cat "$T/cc.log") ${out:-}"
fi
check "that program uses the packaged libpolicy.so.0" \
    bash -c "ldd '$T/outside' | grep -Eq '=> (/usr)?/lib/[^ ]*/libpolicy.so.0 '"
if cc -std=c11 -Wall -Wextra -Werror -o "$T/outside-static" "$HERE/outside/session.c" \
        $(pkg-config --cflags libpolicy) "/usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH)/libpolicy.a" \
        $(pkg-config --static --libs libpolicy | sed 's/-lpolicy//') 2>"$T/cc-static.log" &&
        out=$("$T/outside-static" 2>&1); then
    ok "a program links the packaged libpolicy.a with pkg-config --static ($out)"
else
    notok "a program links the packaged libpolicy.a with pkg-config --static" \
        "$(cat "$T/cc-static.log") ${out:-}"
fi

# --- policy-milter as its unit runs it
# unit KEY - the value of KEY in the unit (continued lines joined; the last
# one given wins, as in systemd)
unit() {
    sed -e ':a' -e '/\\$/N; s/\\\n//; ta' "$UNIT" | sed -n "s/^$1=//p" | tail -1 | tr -s ' \t' ' '
}
# argv VALUE - the words of an Exec line; only what this unit uses (no
# quotes, no specifiers, no prefixes) is emulated
argv() {
    case $1 in *[\"\'%]* | [-@+!:]*) echo "unsupported Exec syntax: $1" >&2; return 1 ;; esac
    echo "$1"
}
USER_=$(unit User) GROUP_=$(unit Group) RD=$(unit RuntimeDirectory) RDMODE=$(unit RuntimeDirectoryMode)
same "the unit runs as User=policy-milter Group=policy-milter" "policy-milter policy-milter" \
    "$USER_ $GROUP_"
# the directory removed at exit: a name of its own under /run, never /run
case $RD in
'' | */* | . | ..)
    notok "the unit's RuntimeDirectory is one plain name" "got '$RD'"
    finish
    exit 1
    ;;
esac
RUNDIR=/run/$RD
install -d -o "$USER_" -g "$GROUP_" -m "${RDMODE:-0755}" "$RUNDIR"
AS_UNIT=(setpriv --reuid="$USER_" --regid="$GROUP_" --init-groups --no-new-privs --)
read -ra pre <<< "$(argv "$(unit ExecStartPre)")"
if out=$("${AS_UNIT[@]}" "${pre[@]}" 2>&1); then
    ok "ExecStartPre (${pre[*]}) accepts the packaged configuration as $USER_"
else
    notok "ExecStartPre accepts the packaged configuration as $USER_" "$out"
fi
read -ra cmd <<< "$(argv "$(unit ExecStart)")"
sock=/run/policy-milter/policy-milter.sock
for ((i = 0; i < ${#cmd[@]} - 1; i++)); do [ "${cmd[i]}" != -p ] || sock=${cmd[i + 1]#unix:}; done
"${AS_UNIT[@]}" "${cmd[@]}" 2>"$T/milter.log" &
MILTER_PID=$!
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
check "ExecStart (${cmd[*]}) listens on $sock" test -S "$sock"
same "the daemon runs as $USER_" "$USER_" "$(ps -o user= -p "$MILTER_PID" 2>/dev/null)"
same "the socket directory is $USER_'s, mode 750" "$USER_ $GROUP_ 750" "$(stat -c '%U %G %a' "$RUNDIR")"
cp "$HERE/milter/lib.lua" "$HERE/milter/debian.lua" "$T/"
chmod 644 "$T"/*.lua
export MTLIB="$T/lib.lua"
out=$(SOCK=$sock timeout 60 miltertest -s "$T/debian.lua" 2>&1)
[ -n "$out" ] || out="not ok - debian.lua printed nothing"
tap "$out"
check "the packaged [attachments] logs the program it would refuse (action=warn)" \
    grep -q 'layer=attachments.*action=warn\|action=warn.*layer=attachments' "$T/milter.log"
cat > "$T/served.lua" <<'LUA'
dofile(os.getenv("MTLIB"))
run(function()
    local c = session("mx.sender.test", "192.0.2.31", "mx.sender.test")
    print(c and "served" or "not served")
    mt.disconnect(c)
end)
LUA
chmod 644 "$T/served.lua"
served() { # served SETPRIV-OPTIONS... - miltertest as nobody with those groups
    SOCK=$sock timeout 20 setpriv --reuid=nobody --regid=nogroup "$@" -- \
        miltertest -s "$T/served.lua" 2>&1 | tail -1
}
same "a user in the group policy-milter (the MTA's) reaches the socket" "served" \
    "$(served --groups="$(getent group policy-milter | cut -d: -f3)")"
check "a user outside the group does not" \
    test "$(served --clear-groups)" != "served"
read -ra reload <<< "$(argv "$(unit ExecReload | sed "s/\$MAINPID/$MILTER_PID/")")"
"${reload[@]}"
for _ in $(seq 50); do grep -q 'reloaded' "$T/milter.log" && break; sleep 0.1; done
check "ExecReload (${reload[*]}) reloads the configuration" grep -q 'reloaded /etc/libpolicy/policy.conf' "$T/milter.log"
same "the daemon serves after the reload" "served" \
    "$(served --groups="$(getent group policy-milter | cut -d: -f3)")"
kill -TERM "$MILTER_PID"
(sleep 30; kill -KILL "$MILTER_PID" 2>/dev/null) & # systemd's stop timeout, shorter
watchdog=$!
status=0
wait "$MILTER_PID" || status=$?
kill "$watchdog" 2>/dev/null
MILTER_PID=""
same "SIGTERM (systemctl stop) ends the daemon with status 0" 0 "$status"
same "it leaves its RuntimeDirectory empty" "" "$(ls -A "$RUNDIR")"
rm -rf "$RUNDIR" # as systemd does at stop
RUNDIR=""

# --- policyctl against the installed configuration
pc() { local s=0; policyctl check -c /etc/libpolicy/policy.conf "$@" >"$T/pc.out" 2>&1 || s=$?; echo $s; }
same "policyctl check: loopback relays with the packaged configuration" 0 \
    "$(pc --ip 127.0.0.1 --helo localhost --from root@localhost --rcpt x@elsewhere.test)"
same "policyctl check: a stranger may not relay" 1 \
    "$(pc --ip 192.0.2.1 --helo mx.example.org --from a@example.org --rcpt x@elsewhere.test)"
check "policyctl check: the refusal is [customers]' 553 5.7.1" grep -q $'553\t5.7.1\tcustomers' "$T/pc.out"
same "policyctl version is the package's" "0.1.0" "$(policyctl version 2>&1 | grep -o '0\.1\.0' | head -1)"
same "policy-queue finds every library it needs" "" "$(ldd /usr/sbin/policy-queue | grep 'not found')"
# policy-queue loads libpolicy with dlopen() only to check a message itself
printf 'Subject: hello\n\nbody\n' > "$T/pq.msg"
printf 'Fa@example.org\0Troot@localhost\0\0' > "$T/pq.env"
mkdir -p "$T/pq.q"
pqs=0
env POLICY_CONFIG=/etc/libpolicy/policy.conf POLICY_QMAILQUEUE="$B/tests/tools/qq_record" \
    QQ_DIR="$T/pq.q" TCPREMOTEIP=127.0.0.1 /usr/sbin/policy-queue < "$T/pq.msg" 1< "$T/pq.env" \
    2> "$T/pq.err" || pqs=$?
same "the packaged policy-queue checks a message itself (libpolicy0 loaded) and queues it" \
    "0 " "$pqs $(cat "$T/pq.err")"
check "policy-queue: the message reached the queue intact" cmp -s "$T/pq.msg" "$T/pq.q/message"

# --- purge
if "${APT[@]}" purge "${PKGS[@]}" >"$T/purge.log" 2>&1; then
    ok "apt-get purges the four packages"
    INSTALLED=""
else
    notok "apt-get purges the four packages" "$(tail -15 "$T/purge.log")"
fi
left=""
for p in "${PKGS[@]}"; do installed "$p" && left="$left $p"; done
same "dpkg knows none of them any more" "" "$left"
check "purge removed the user policy-milter" bash -c '! getent passwd policy-milter'
check "purge removed the group policy-milter" bash -c '! getent group policy-milter'
check "purge removed /etc/libpolicy" test ! -e /etc/libpolicy
check "purge removed the service's enablement" \
    bash -c '! ls /etc/systemd/system/*/policy-milter.service /var/lib/systemd/deb-systemd-helper-enabled/*policy-milter* 2>/dev/null | grep -q .'
same "every path the packages brought is gone" "" \
    "$(while read -r f; do [ ! -e "$f" ] && [ ! -L "$f" ] || echo "$f"; done < "$T/new.paths" | head -5)"
same "nothing named like the packages is left on the system" "" \
    "$(scan | comm -13 "$T/before.scan" - | head -5)"
finish
