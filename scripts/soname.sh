#!/bin/sh
# soname.sh LIB CC... - the SONAME of libLIB.so as the compiler CC would
# link it: the name to dlopen at run time (support/dynlib.h) for the same
# library whose headers the build uses.  Prints nothing and fails when the
# library is not found.
set -eu
lib=$1
shift
f=$("$@" -print-file-name="lib$lib.so")
[ -e "$f" ] || exit 1
f=$(readlink -f "$f")
s=$(objdump -p "$f" | awk '$1 == "SONAME" {print $2}')
[ -n "$s" ] || exit 1
echo "$s"
