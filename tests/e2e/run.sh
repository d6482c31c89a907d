#!/usr/bin/env bash
# Runs the browser tests (ctest registers this script as e2e.browser). Needs INFRAMON_BIN
# (ctest sets it), INFRAMON_TEST_DOCKER_HOST (scripts/test.sh sets it), Node.js 20 with
# npm, and Debian's chromium: `make deps` installs the packages. A missing piece fails
# the test; it never skips.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd -P)
repo=$(cd "$here/../.." && pwd -P)

fail() {
    printf 'e2e: error: %s\n' "$*" >&2
    exit 1
}

command -v node >/dev/null 2>&1 || fail "node not found: install Node.js 20 and npm"
[ -x "${CHROMIUM_BIN:-/usr/bin/chromium}" ] ||
    fail "${CHROMIUM_BIN:-/usr/bin/chromium} not found: run 'make deps' (Debian package chromium)"
[ -n "${INFRAMON_BIN:-}" ] || fail "INFRAMON_BIN is not set: run through ctest (make test)"
[ -n "${INFRAMON_TEST_DOCKER_HOST:-}" ] ||
    fail "INFRAMON_TEST_DOCKER_HOST is not set: run 'make test', which starts a private engine"

# The tests run from this folder, so a relative binary path is resolved first.
INFRAMON_BIN=$(realpath "$INFRAMON_BIN")
[ -x "$INFRAMON_BIN" ] || fail "INFRAMON_BIN=$INFRAMON_BIN is not an executable file"
export INFRAMON_BIN

bash "$repo/scripts/deps.sh" --npm-only
cd "$here"
exec node --test --test-concurrency=1 static.test.mjs apidocs.test.mjs ui.test.mjs xss.test.mjs \
    account.test.mjs polling.test.mjs
