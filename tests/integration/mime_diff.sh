#!/bin/bash
# mime_diff.sh BUILD_DIR - the MIME parser against an independent reference,
# GMime 3: for every message of the SpamAssassin public corpus (fetched
# beforehand by scripts/fetch-corpus.sh) and every ClamAV test file, the
# leaf parts (type, file name, decoded length, hash of the decoded bytes)
# must agree, or differ only in a known class that mime/classify.py checks
# against models of both decoders (classes listed in tests/README.md).  Also:
# the same events whether a message is fed whole, in 64 KB pieces or byte
# by byte, over the whole corpus.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
B=$(cd "${1:?usage: mime_diff.sh BUILD_DIR}" && pwd)
OURS=$B/tests/tools/mime_parts
REF=$B/tests/tools/gmime_parts
PY=/usr/bin/python3
mktmp

if [ ! -x "$REF" ]; then
    echo "skipped: gmime_parts not built (install libgmime-3.0-dev: scripts/install-deps.sh)"
    finish
    exit $?
fi

# compare NAME LISTFILE - both tools over the files, classified
compare() {
    local name=$1 list=$2 out
    xargs -d '\n' -a "$list" "$OURS" -H > "$T/ours"
    xargs -d '\n' -a "$list" "$REF" -H > "$T/ref" 2>"$T/err"
    if out=$("$PY" "$HERE/mime/classify.py" "$T/ours" "$T/ref" "$OURS" 2>&1); then
        ok "$name: leaf parts agree with GMime or differ only in known classes"
    else
        notok "$name: leaf parts differ from GMime in an unexplained way"
    fi
    printf '%s\n' "$out" | sed 's/^/  /'
}

CLAM=/usr/share/clamav-testfiles
if [ -d "$CLAM" ]; then
    find "$CLAM" -type f | sort > "$T/clam.list"
    compare "ClamAV test files ($(wc -l < "$T/clam.list"))" "$T/clam.list"
else
    echo "skipped: $CLAM missing (install clamav-testfiles)"
fi

CORPUS=$(sh "$HERE/../../scripts/fetch-corpus.sh" --where)/spam-assassin
if [ ! -f "$CORPUS/.complete" ]; then
    echo "skipped: corpus not fetched (run scripts/fetch-corpus.sh outside the test namespace)"
    finish
    exit $?
fi
find "$CORPUS" -name '*.txt' | sort > "$T/sa.list"
n=$(wc -l < "$T/sa.list")
same "SpamAssassin corpus is complete" 6046 "$n"
compare "SpamAssassin corpus ($n messages)" "$T/sa.list"

# the chunking invariant over real mail: every event, three ways of feeding
xargs -d '\n' -a "$T/sa.list" "$OURS" -H -e > "$T/whole"
xargs -d '\n' -a "$T/sa.list" "$OURS" -H -e -c 65536 > "$T/c64k"
xargs -d '\n' -a "$T/sa.list" "$OURS" -H -e -c 1 > "$T/c1"
if cmp -s "$T/whole" "$T/c64k" && cmp -s "$T/whole" "$T/c1"; then
    ok "corpus: the same events fed whole, in 64 KB pieces and byte by byte ($(wc -l < "$T/whole") event lines)"
else
    notok "corpus: events depend on how the message is fed"
fi
finish
