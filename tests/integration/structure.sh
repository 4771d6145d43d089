#!/bin/bash
# structure.sh - the shape of the library, checked on the sources and the
# built objects: util/ sees nothing of the library, support/ only util/,
# a layer only the layer contract (core/layer.h) and support/, the core no
# layer; no layer calls another layer, the core calls none by name (only
# through the registry), so the graph of includes and calls between core
# and layers has no circle.  A new layer is its file plus one line in
# layers/layers.def.
set -u
. "$(dirname "$0")/lib.sh"
B=$(cd "$1" && pwd)
S=$(cd "$(dirname "$0")/../.." && pwd)/libpolicy

# includes_of FILE - the quoted includes of a source file
includes_of() { grep -ho '^#include "[^"]*"' "$@" | sed 's/^#include "//; s/"$//'; }

bad=$(for f in "$S"/util/*.c "$S"/util/*.h; do includes_of "$f" | grep -v '^util\.h$' | sed "s|^|$(basename "$f"): |"; done)
same "util/ includes nothing of the library" "" "$bad"
bad=$(for f in "$S"/support/*.[ch]; do
    includes_of "$f" | grep -vE '^(\.\./util/util\.h|[a-z0-9_]+\.h)$' | sed "s|^|$(basename "$f"): |"; done)
same "support/ includes only util/util.h and support/ headers" "" "$bad"
bad=$(for f in "$S"/support/*/*.[ch]; do
    includes_of "$f" | grep -vE '^(\.\./\.\./util/util\.h|\.\./[a-z0-9_]+\.h|[a-z0-9_]+\.h)$' |
        sed "s|^|${f#"$S"/}: |"; done)
same "a directory of support/ includes only util/util.h, support/ and its own headers" "" "$bad"
bad=$(for f in "$S"/layers/*.[ch]; do
    includes_of "$f" | grep -vE '^(\.\./core/layer\.h|\.\./support/([a-z0-9_]+/)?[a-z0-9_]+\.h|[a-z0-9_]+\.h|layers\.def)$' |
        sed "s|^|$(basename "$f"): |"; done)
same "a layer includes only core/layer.h, support/ and its own headers" "" "$bad"
bad=$(for f in "$S"/core/*.[ch]; do includes_of "$f" | grep '\.\./layers/' | sed "s|^|$(basename "$f"): |"; done)
same "the core includes no layer" "" "$bad"

# calls, from the objects: the symbols each layer defines and uses
O="$B/libpolicy.a.p"
layers=$(sed -n 's/^LAYER(\([a-z0-9_]*\),.*/\1/p' "$S/layers/layers.def")
defined_by() { nm --defined-only -g "$O/libpolicy_$1_$2.c.o" 2>/dev/null | awk '{ print $3 }'; }
used_by() { nm -u "$O/libpolicy_$1_$2.c.o" 2>/dev/null | awk '{ print $2 }'; }
for l in $layers; do
    check "layer $l is built from layers/$l.c (its line in layers.def)" test -f "$O/libpolicy_layers_$l.c.o"
done
calls=""
for l in $layers; do
    for other in $layers; do
        [ "$l" = "$other" ] && continue
        for sym in $(defined_by layers "$other" | grep -v '^policy_'); do
            used_by layers "$l" | grep -qx "$sym" && calls="$calls $l->$other:$sym"
        done
    done
done
same "no layer calls another layer" "" "$calls"
calls=""
for c in "$O"/libpolicy_core_*.c.o; do
    c=$(basename "$c" .c.o); c=${c#libpolicy_core_}
    for l in $layers; do
        for sym in $(defined_by layers "$l"); do
            used_by core "$c" | grep -qx "$sym" && calls="$calls core/$c->$l:$sym"
        done
    done
done
same "the core calls no layer by name" "" "$calls"
registry=$(used_by layers registry | grep '^layer_' | sort | tr '\n' ' ')
same "the registry takes exactly the layers of layers.def" \
    "$(for l in $layers; do echo "layer_$l"; done | sort | tr '\n' ' ')" "$registry"
finish
