#!/usr/bin/env bash
# Build InfraMon and run every ctest test (unit, integration and the rest) against a
# private Docker Engine that this script starts and stops. `make test` runs it.
#
# Arguments are passed on to ctest, for example `scripts/test.sh -L unit` or
# `scripts/test.sh -R engine_smoke`; with arguments, the sanitizer and fuzz passes
# described at the end are skipped. BUILD_DIR (default build) names the build
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
# The binary embeds web/dist, and the browser tests need the real UI in it.
log "building the web UI (make web)"
make --no-print-directory web
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

# Without ctest arguments, two more passes follow: the unit and integration suites again
# on a build with AddressSanitizer and UndefinedBehaviorSanitizer, and each libFuzzer
# target for FUZZ_SECONDS (default 15) on a clang build. EXTRA_PASSES=false skips them.
if [ $# -eq 0 ] && [ "${EXTRA_PASSES:-true}" = true ]; then
    extra_options=()
    if [ "${CI:-}" = true ]; then
        extra_options+=(-DIM_WERROR=ON)
    fi
    sanitize_dir=$build_dir-sanitize
    started=$SECONDS
    log "building with ASan and UBSan in $sanitize_dir"
    cmake -S . -B "$sanitize_dir" "${extra_options[@]}" -DIM_SANITIZE=ON >/dev/null
    cmake --build "$sanitize_dir" --parallel "$(nproc)"
    log "running the unit and integration suites under ASan and UBSan"
    # test_deploy_image checks the runtime packages of a release binary, which a
    # sanitizer build (linked to libasan and libubsan) cannot pass. Two tests run at a
    # time: under ASan most of the time goes to waiting for the engine.
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0} \
        UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
        ctest --test-dir "$sanitize_dir" --output-on-failure --no-tests=error --parallel 2 \
        -L 'unit|integration' -E 'integration.test_deploy_image' || status=1
    log "sanitizer pass finished in $((SECONDS - started)) s"

    fuzz_dir=$build_dir-fuzz
    started=$SECONDS
    log "building the fuzz targets with clang in $fuzz_dir"
    cmake -S . -B "$fuzz_dir" "${extra_options[@]}" -DCMAKE_C_COMPILER=clang -DIM_FUZZ=ON \
        -DIM_FUZZ_SECONDS="${FUZZ_SECONDS:-15}" >/dev/null
    cmake --build "$fuzz_dir" --parallel "$(nproc)" --target fuzz_all
    log "running each fuzz target for ${FUZZ_SECONDS:-15} s"
    ctest --test-dir "$fuzz_dir" --output-on-failure --no-tests=error -L fuzz || status=1
    log "fuzz pass finished in $((SECONDS - started)) s"
fi
exit "$status"
