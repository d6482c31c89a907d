#!/usr/bin/env bash
# Build InfraMon and run `inframon serve` in the foreground for development.
# `make run` runs it.
#
# Engine: DOCKER_HOST if it responds, else /var/run/docker.sock if it responds, else a
# private engine under .run/engine that this script starts, fills with sample
# containers and a sample compose project, and stops again on Ctrl-C. The private
# engine's containers are not kept between runs; the InfraMon database
# (.run/inframon.db) and the JWT signing key (.run/secret-key) are.
#
# Settings from the environment are passed on to the server. The defaults here:
# HOST=127.0.0.1, PORT=8065, DEBUG=true, ADMIN_PASSWORD=inframon-dev (used only
# when the database has no users yet), LOG_LEVEL=debug.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd -P)
# When make runs this script, its settings would make the make that cmake --build
# calls print "Entering directory" lines; the build here sets its own parallelism.
unset MAKEFLAGS MFLAGS MAKELEVEL
cd "$repo"
build_dir=${BUILD_DIR:-build}
run_dir=$repo/.run
engine_script=$repo/tests/engine/engine.sh
compose_file=$repo/scripts/sample-project/compose.yml
readonly SAMPLE_PROJECT=inframon-sample
readonly TEST_IMAGE=inframon-test/busybox:latest

log() { printf 'run: %s\n' "$*" || true; }

# Return success when the engine at a DOCKER_HOST-style ADDRESS responds to a ping.
engine_answers() {
    local address=$1
    case "$address" in
    unix://*)
        [ -S "${address#unix://}" ] || return 1
        [ "$(curl -s --max-time 3 --unix-socket "${address#unix://}" http://localhost/_ping 2>/dev/null)" = OK ]
        ;;
    *)
        # tcp:// (possibly with TLS settings from DOCKER_TLS_VERIFY and
        # DOCKER_CERT_PATH), left to the docker client, which reads them.
        DOCKER_HOST=$address timeout 10 docker version --format '{{.Server.Version}}' >/dev/null 2>&1
        ;;
    esac
}

# shellcheck disable=SC2317 # called through the EXIT trap
stop_engine() {
    local status=$?
    trap - EXIT INT TERM
    # Output may go to a pipe whose reader the same Ctrl-C ended, so SIGPIPE is
    # ignored here to let the handler stop the engine.
    trap '' PIPE
    log "stopping the private engine in $engine_dir"
    "$engine_script" stop "$engine_dir" || status=1
    exit "$status"
}

# The sh -c scripts below run inside the containers, so their $ must not expand here.
# shellcheck disable=SC2016
start_sample_containers() {
    local docker=(docker -H "$1")
    log "creating sample containers"
    # tini (--init) runs as PID 1, so a stop ends the shell loops at once.
    "${docker[@]}" run -d --init --name sample-logger --label inframon.sample=true \
        "$TEST_IMAGE" sh -c '
            n=0
            while :; do
                n=$((n + 1))
                echo "logger: request $n served in $((n % 7 + 1)) ms"
                if [ $((n % 10)) -eq 0 ]; then echo "logger: warning: slow upstream" >&2; fi
                sleep 1
            done' >/dev/null
    # Busy for a moment, then idle, so the CPU chart has peaks.
    "${docker[@]}" run -d --init --name sample-cpu-burst --label inframon.sample=true \
        --memory 32m "$TEST_IMAGE" sh -c '
            while :; do
                i=0
                while [ $i -lt 60000 ]; do i=$((i + 1)); done
                echo "cpu-burst: burst done"
                sleep 2
            done' >/dev/null
    "${docker[@]}" run -d --init --name sample-paused --label inframon.sample=true \
        "$TEST_IMAGE" sh -c 'while :; do echo paused-sample; sleep 1; done' >/dev/null
    "${docker[@]}" pause sample-paused >/dev/null
    "${docker[@]}" run --name sample-exited --label inframon.sample=true \
        "$TEST_IMAGE" sh -c 'echo "job: started"; echo "job: failed, exit 3" >&2; exit 3' \
        >/dev/null 2>&1 || true

    local started=$SECONDS
    log "starting compose project $SAMPLE_PROJECT from $compose_file"
    DOCKER_HOST=$1 docker-compose -p "$SAMPLE_PROJECT" -f "$compose_file" up -d 2>&1 |
        sed 's/^/run:   /'
    log "compose project up in $((SECONDS - started)) s"
}

log "building in $build_dir"
cmake -S . -B "$build_dir" >/dev/null
cmake --build "$build_dir" --parallel "$(nproc)"
binary=$build_dir/inframon
[ -x "$binary" ] || {
    log "error: $binary was not built"
    exit 1
}

mkdir -p "$run_dir"
engine_dir=
if [ -n "${DOCKER_HOST:-}" ]; then
    if engine_answers "$DOCKER_HOST"; then
        log "using the engine at DOCKER_HOST=$DOCKER_HOST"
    else
        log "error: DOCKER_HOST=$DOCKER_HOST does not respond; unset DOCKER_HOST to start a private engine"
        exit 1
    fi
elif engine_answers unix:///var/run/docker.sock; then
    export DOCKER_HOST=unix:///var/run/docker.sock
    log "using the engine at $DOCKER_HOST"
else
    engine_dir=$run_dir/engine
    # Socket paths are limited to 107 bytes; a deep checkout falls back to /tmp.
    if [ $((${#engine_dir} + 40)) -gt 107 ]; then
        engine_dir=/tmp/im-run-engine-$(id -u)
    fi
    trap stop_engine EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM

    started=$SECONDS
    "$engine_script" start "$engine_dir" >/dev/null
    export DOCKER_HOST=unix://$engine_dir/docker.sock
    log "engine ready in $((SECONDS - started)) s"
    if ! docker -H "$DOCKER_HOST" container inspect sample-logger >/dev/null 2>&1; then
        start_sample_containers "$DOCKER_HOST"
    fi
    cat <<EOF

run: ------------------------------------------------------------------------
run: No Docker engine was running, so this script started a private one:
run:   socket  $DOCKER_HOST
run:   data    $engine_dir (daemon log: $engine_dir/dockerd.log)
run:   docker -H $DOCKER_HOST ps
run: Its containers are sample ones (names sample-*, project $SAMPLE_PROJECT).
run: Ctrl-C stops the server and this engine, and deletes $engine_dir.
run: ------------------------------------------------------------------------

EOF
fi

secret_file=$run_dir/secret-key
if [ -z "${SECRET_KEY:-}" ]; then
    if [ ! -s "$secret_file" ]; then
        (umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$secret_file")
    fi
    SECRET_KEY=$(cat "$secret_file")
    export SECRET_KEY
fi

export HOST=${HOST:-127.0.0.1}
export PORT=${PORT:-8065}
export DEBUG=${DEBUG:-true}
export LOG_LEVEL=${LOG_LEVEL:-debug}
export DATABASE_URL=${DATABASE_URL:-sqlite:///$run_dir/inframon.db}

log "starting inframon serve on http://$HOST:$PORT (database $DATABASE_URL); Ctrl-C stops it"
if [ -z "${ADMIN_PASSWORD:-}" ]; then
    export ADMIN_PASSWORD=inframon-dev
    log "a new database gets the user ${ADMIN_USERNAME:-admin} with password $ADMIN_PASSWORD"
fi
status=0
"$binary" serve || status=$?
log "inframon exited with status $status"
exit "$status"
