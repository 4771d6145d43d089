#!/bin/sh
# playwright-fetch.sh BUILD_DIR - playwright-core from npm into
# BUILD_DIR/playwright, once, for stats.sh to drive Debian's chromium
# (it downloads no browser: the test gives it /usr/bin/chromium).  Needs
# the npm registry, so run-integration.sh calls it before it enters the
# network namespace.
set -eu
B=${1:?usage: playwright-fetch.sh BUILD_DIR}
VERSION=1.65.1
[ -f "$B/playwright/node_modules/playwright-core/package.json" ] &&
    grep -q "\"version\": \"$VERSION\"" "$B/playwright/node_modules/playwright-core/package.json" &&
    exit 0
command -v npm >/dev/null || { echo "playwright-fetch: npm is missing" >&2; exit 1; }
mkdir -p "$B/playwright"
npm install --prefix "$B/playwright" --no-audit --no-fund --no-save "playwright-core@$VERSION" >/dev/null
