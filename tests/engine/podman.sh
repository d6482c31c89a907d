#!/usr/bin/env bash
# Start, stop and use a private Podman service (the Docker-compatible API of
# `podman system service`) for running InfraMon's integration tests against Podman.
#
#   podman.sh start [DIR]        Start a rootful Podman service with its storage, run
#                                root, network configs and socket under DIR (default: a
#                                new /tmp/im-podman-XXXXXX), import the busybox test
#                                image, create the user bridge network inframon-test,
#                                print DIR on stdout.
#   podman.sh stop DIR           Remove the service's containers, stop it by pid,
#                                unmount what is left and remove DIR.
#   podman.sh env DIR            Print `export INFRAMON_TEST_DOCKER_HOST=unix://DIR/podman.sock`.
#   podman.sh test [CTEST ARGS]  Start a service, run ctest against it (default: the
#                                integration tests that pass on Podman, see PODMAN_TESTS),
#                                stop it. Build first (make build).
#
# The service runs in a network namespace of its own (unshare --net), so container
# networks and their firewall rules never touch the host's. The socket is a file under
# DIR and reachable from the host namespace. Needs root, podman (4.3 in Debian 12),
# catatonit (for --init), runc, busybox-static and the docker client.
set -euo pipefail

unset DOCKER_CONTEXT DOCKER_TLS_VERIFY DOCKER_CERT_PATH

readonly TEST_IMAGE=inframon-test/busybox:latest
readonly TEST_NETWORK=inframon-test
readonly MARKER_NAME=.inframon-podman
START_TIMEOUT_SECONDS=${IM_ENGINE_START_TIMEOUT:-30}
# The integration tests that `podman.sh test` runs by default. The others fail on Podman
# for the reasons listed in docs/podman.md.
PODMAN_TESTS=${PODMAN_TESTS:-'integration\.(test_containers|test_groups|test_events|test_compose|test_stats)$'}

log() { printf 'podman: %s\n' "$*" >&2 || true; }
die() {
    log "error: $*"
    exit 1
}

socket_path() { printf '%s/podman.sock\n' "$1"; }
pid_file() { printf '%s/podman.pid\n' "$1"; }
docker_cli() {
    local dir=$1
    shift
    docker -H "unix://$(socket_path "$dir")" "$@"
}

ping_service() {
    [ "$(curl -s --max-time 2 --unix-socket "$(socket_path "$1")" http://localhost/_ping \
        2>/dev/null)" = OK ]
}

running_pid() {
    local dir=$1 pid
    pid=$(cat "$(pid_file "$dir")" 2>/dev/null) || return 0
    if [ -r "/proc/$pid/cmdline" ] &&
        tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "--root $dir/root"; then
        printf '%s\n' "$pid"
    fi
}

# Writes the containers.conf of the service. Podman lowers its own RLIMIT_NPROC hard
# limit to 32768 at start. Without CAP_SYS_RESOURCE, runc cannot give a container more
# than that, nor more open files than the hard limit, so the defaults stay within both.
# Containers get no network unless a test requests one.
write_config() {
    local dir=$1 nofile nproc
    nofile=$(ulimit -Hn)
    nproc=$(ulimit -Hu)
    [ "$nofile" = unlimited ] && nofile=1048576
    if [ "$nproc" = unlimited ] || [ "$nproc" -gt 32768 ]; then
        nproc=32768
    fi
    cat >"$dir/containers.conf" <<EOF
[containers]
netns = "none"
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "runc"
EOF
}

import_test_image() {
    local dir=$1
    "$(dirname "$0")/engine.sh" import-image "$dir" "unix://$(socket_path "$dir")"
}

cmd_start() {
    local dir pid
    command -v podman >/dev/null || die "podman not found; install Debian's podman"
    [ -x /usr/libexec/podman/catatonit ] ||
        die "catatonit not found; install Debian's catatonit (docker run --init needs it)"
    command -v docker >/dev/null || die "docker client not found; install Debian's docker.io"
    [ -x /bin/busybox ] || die "/bin/busybox not found; install busybox-static"
    [ "$(id -u)" -eq 0 ] || die "the rootful Podman service needs root; rerun as root"

    dir=${1:-$(mktemp -d /tmp/im-podman-XXXXXX)}
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd -P)
    if [ -n "$(running_pid "$dir")" ] && ping_service "$dir"; then
        log "service already running in $dir; reusing it"
        printf '%s\n' "$dir"
        return 0
    fi
    [ -z "$(ls -A "$dir")" ] || die "folder $dir is not empty; give a new or empty folder"
    : >"$dir/$MARKER_NAME"
    mkdir -p "$dir"/{root,run,net,tmp}
    write_config "$dir"

    log "starting podman system service in $dir"
    # setsid and unshare exec without forking here, so $! is the podman process.
    CONTAINERS_CONF=$dir/containers.conf setsid unshare --net sh -c \
        'ip link set lo up && exec "$@"' sh \
        podman --root "$dir/root" --runroot "$dir/run" --network-config-dir "$dir/net" \
        --tmpdir "$dir/tmp" system service --time=0 "unix://$(socket_path "$dir")" \
        </dev/null >"$dir/service.log" 2>&1 &
    pid=$!
    printf '%s\n' "$pid" >"$(pid_file "$dir")"

    local deadline=$((SECONDS + START_TIMEOUT_SECONDS))
    until ping_service "$dir"; do
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -n 20 "$dir/service.log" >&2 || true
            die "podman (pid $pid) exited before responding to /_ping"
        fi
        [ "$SECONDS" -lt "$deadline" ] || {
            cmd_stop "$dir" || true
            die "podman did not respond to /_ping within ${START_TIMEOUT_SECONDS} s"
        }
        sleep 0.2
    done
    log "podman (pid $pid) responds on $(socket_path "$dir")"
    docker_cli "$dir" image inspect "$TEST_IMAGE" >/dev/null 2>&1 || import_test_image "$dir"
    # The bridge and its firewall rules are made inside the service's network namespace.
    if ! docker_cli "$dir" network inspect "$TEST_NETWORK" >/dev/null 2>&1; then
        docker_cli "$dir" network create --driver bridge "$TEST_NETWORK" >/dev/null ||
            die "creating the user bridge network $TEST_NETWORK failed"
        log "created user bridge network $TEST_NETWORK"
    fi
    printf '%s\n' "$dir"
}

cmd_stop() {
    local dir=$1 pid ids
    [ -e "$dir/$MARKER_NAME" ] || die "$dir was not made by '$0 start', so it is not removed"
    if ping_service "$dir"; then
        ids=$(docker_cli "$dir" ps -aq 2>/dev/null || true)
        if [ -n "$ids" ]; then
            # shellcheck disable=SC2086 # one argument per container id
            docker_cli "$dir" rm -f -v $ids >/dev/null 2>&1 || true
        fi
    fi
    pid=$(running_pid "$dir")
    if [ -n "$pid" ]; then
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
    fi
    # Overlay and shm mounts of removed containers can outlive the service.
    # grep finds nothing when no mount is left, which must not end the script (pipefail).
    { grep -F " $dir/" /proc/mounts || true; } | awk '{print $2}' | sort -r | while read -r mount; do
        umount -l "$mount" 2>/dev/null || true
    done
    rm -rf "$dir"
    log "stopped and removed $dir"
}

cmd_test() {
    local repo dir status=0
    repo=$(cd "$(dirname "$0")/../.." && pwd -P)
    [ -x "$repo/build/inframon" ] || die "build/inframon is missing; run make build first"
    dir=$(cmd_start)
    # shellcheck disable=SC2064 # expand dir now
    trap "cmd_stop '$dir'" EXIT
    export INFRAMON_TEST_DOCKER_HOST=unix://$(socket_path "$dir")
    if [ $# -eq 0 ]; then
        set -- -R "$PODMAN_TESTS"
    fi
    ctest --test-dir "$repo/build" --output-on-failure --no-tests=error "$@" || status=$?
    return "$status"
}

case ${1:-} in
start)
    shift
    cmd_start "$@"
    ;;
stop)
    [ $# -eq 2 ] || die "usage: $0 stop DIR"
    cmd_stop "$2"
    ;;
env)
    [ $# -eq 2 ] || die "usage: $0 env DIR"
    printf 'export INFRAMON_TEST_DOCKER_HOST=unix://%s\n' "$(socket_path "$2")"
    ;;
test)
    shift
    cmd_test "$@"
    ;;
*)
    die "usage: $0 start [DIR] | stop DIR | env DIR | test [CTEST ARGS]"
    ;;
esac
