#!/usr/bin/env bash
# Build InfraMon and run every ctest test (unit, integration and the rest) against a
# private Docker Engine that this script starts and stops. `make test` runs it.
#
# Arguments are passed on to ctest, for example `scripts/test.sh -L unit` or
# `scripts/test.sh -R engine_smoke`. BUILD_DIR (default build) names the build
# folder. With CI=true, warnings are errors (-DIM_WERROR=ON).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd -P)
# When make runs this script, its settings would make the make that cmake --build
# calls print "Entering directory" lines; the build here sets its own parallelism.
unset MAKEFLAGS MFLAGS MAKELEVEL
cd "$repo"
build_dir=${BUILD_DIR:-build}
engine_script=$repo/tests/engine/engine.sh

log() { printf 'test: %s\n' "$*" || true; }

cmake_options=(-S . -B "$build_dir")
if [ "${CI:-}" = true ]; then
    cmake_options+=(-DIM_WERROR=ON)
fi

started=$SECONDS
log "configuring: cmake ${cmake_options[*]}"
cmake "${cmake_options[@]}" >/dev/null
log "building in $build_dir"
cmake --build "$build_dir" --parallel "$(nproc)"
log "build done in $((SECONDS - started)) s"

engine_dir=$(mktemp -d /tmp/im-engine-XXXXXX)
# shellcheck disable=SC2317 # called through the EXIT trap
stop_engine() {
    local status=$?
    trap - EXIT INT TERM
    # Output may go to a pipe whose reader the same Ctrl-C ended, so SIGPIPE is
    # ignored here to let the handler stop the engine.
    trap '' PIPE
    log "stopping the test engine"
    "$engine_script" stop "$engine_dir" || {
        log "error: stopping the test engine in $engine_dir failed"
        [ "$status" -ne 0 ] || status=1
    }
    exit "$status"
}
trap stop_engine EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

started=$SECONDS
log "starting a private Docker engine in $engine_dir"
if ! "$engine_script" start "$engine_dir" >/dev/null; then
    log "error: the private Docker engine did not start, so the integration tests cannot run"
    log "error: see the engine messages above; 'make deps' installs docker.io and busybox-static"
    exit 1
fi
log "engine ready in $((SECONDS - started)) s"
export INFRAMON_TEST_DOCKER_HOST=unix://$engine_dir/docker.sock

started=$SECONDS
log "running: ctest --test-dir $build_dir --output-on-failure --no-tests=error $*"
status=0
ctest --test-dir "$build_dir" --output-on-failure --no-tests=error "$@" || status=$?
log "ctest finished in $((SECONDS - started)) s with exit status $status"
exit "$status"
