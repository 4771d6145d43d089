#!/bin/sh
# debian-packages.sh [BUILD_DIR] - install what is missing, then build the
# Debian packages of debian/ (dpkg-buildpackage -b), lint, install, run,
# check and purge them: tests/integration/debian_packages.sh, in a private
# network namespace (the build needs nothing from the network).  Several
# minutes, so not part of scripts/test.sh's integration run.  The packages,
# the build log and lintian's report stay in BUILD_DIR/debian-packages.
# As root on Debian 12; the machine must not have the packages already.
set -eu
cd "$(dirname "$0")/.."
sh scripts/install-deps.sh
DIR=${1:-build}
[ -d "$DIR" ] || mkdir -p "$DIR"
exec bash tests/run-integration.sh "$DIR" debian_packages
