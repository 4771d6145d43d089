#!/bin/sh
# dlopen-recommends.sh LIBPOLICY.SO - print the substvar line
# libpolicy:Recommends: the Debian package of the libclamav that the library
# loads with dlopen() when a [virus] layer first opens an engine in process
# (libpolicy/support/clamav.c), which dh_shlibdeps cannot see.  The SONAME
# is the one the build compiled in (meson reads it from libclamav-dev's
# library), so the package follows libclamav-dev.  Fails when the library
# names no libclamav or no package holds it.
set -eu
so=$(grep -aoE 'libclamav\.so\.[0-9]+' "$1" | sort -u)
case $so in
libclamav.so.[0-9]*) ;;
*) echo "dlopen-recommends: no single libclamav SONAME in $1: '$so'" >&2; exit 1 ;;
esac
lib=$(${CC:-cc} -print-file-name="$so")
case $lib in
/*) lib=$(realpath -s "$lib") ;;
*) echo "dlopen-recommends: $so is not installed (libclamav-dev)" >&2; exit 1 ;;
esac
pkg=""
for f in "$lib" "${lib#/usr}" "/usr$lib"; do # dpkg may know it by its other name under merged /usr
    pkg=$(dpkg-query -S "$f" 2>/dev/null | head -1 | cut -d: -f1)
    [ -z "$pkg" ] || break
done
[ -n "$pkg" ] || { echo "dlopen-recommends: no package holds $lib" >&2; exit 1; }
echo "libpolicy:Recommends=$pkg"
