#!/bin/sh
# dev-depends.sh LIBPOLICY.PC - print the substvar line libpolicy:Dev-Depends:
# the Debian packages that hold the .pc file of each Requires.private module
# and the library of each -l of Libs.private (libc's own left out), so that
# pkg-config finds every module libpolicy.pc names wherever libpolicy-dev
# is installed.  Fails when a file belongs to no package.
set -eu
pc=$1
pkgs=""
add() { # add FILE - the package that holds FILE (dpkg may know it by its
        # other name under merged /usr)
    for f in "$1" "${1#/usr}" "/usr$1"; do
        p=$(dpkg-query -S "$f" 2>/dev/null | head -1 | cut -d: -f1)
        [ -z "$p" ] || break
    done
    [ -n "$p" ] || { echo "dev-depends: no package holds $1" >&2; exit 1; }
    case " $pkgs " in *" $p "*) ;; *) pkgs="$pkgs $p" ;; esac
}
for mod in $(sed -n 's/^Requires\.private://p' "$pc" | tr ',' ' '); do
    dir=$(pkg-config --variable=pcfiledir "$mod") ||
        { echo "dev-depends: pkg-config knows no $mod" >&2; exit 1; }
    add "$dir/$mod.pc"
done
for flag in $(sed -n 's/^Libs\.private://p' "$pc"); do
    case $flag in
    -lpthread | -lm | -ldl | -lrt | -lc) ;;
    -l*) lib=$(${CC:-cc} -print-file-name="lib${flag#-l}.so")
         case $lib in /*) add "$(realpath -s "$lib")" ;;
         *) echo "dev-depends: no library for $flag" >&2; exit 1 ;; esac ;;
    esac
done
echo "libpolicy:Dev-Depends=$(echo "${pkgs# }" | sed 's/ /, /g')"
