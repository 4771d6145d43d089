#!/bin/sh
# build.sh [DIR [MESON-OPTIONS...]] - configure (once) and build with -Werror.
set -eu
cd "$(dirname "$0")/.."
DIR=${1:-build}
[ $# -gt 0 ] && shift
if [ -f "$DIR/build.ninja" ]; then
    meson configure "$DIR" -Dwerror=true "$@" >/dev/null
else
    meson setup "$DIR" -Dwerror=true "$@" >/dev/null
fi
ninja -C "$DIR"
