#!/usr/bin/env bash
# Start, stop and describe a private Docker Engine for InfraMon's tests and `make run`.
#
#   engine.sh start [DIR]   Start dockerd with everything under DIR (default: a new
#                           /tmp/im-engine-XXXXXX). Import the busybox test image and
#                           create the user bridge network. Print DIR on stdout.
#   engine.sh stop DIR      Remove the engine's containers and networks. Stop dockerd
#                           and its containerd by pid, unmount what is left, remove DIR.
#   engine.sh env DIR       Print `export DOCKER_HOST=unix://DIR/docker.sock`.
#   engine.sh import-image DIR HOST
#                           Import the busybox test image into another engine at HOST
#                           (unix://...), building its root under DIR (tests/engine/podman.sh).
#
# Everything the engine writes lives under DIR: socket, data root, exec root, pid
# file and daemon log. It never uses /var/run/docker.sock, /var/lib/docker or an
# engine that it did not start. Progress goes to stderr, so `DIR=$(engine.sh start)`
# works. Needs root, dockerd and containerd (Debian's docker.io) and busybox-static.
#
# With IM_ENGINE_TLS_PORT=PORT, start also makes a CA, a server certificate for
# 127.0.0.1 and a client certificate with the openssl CLI under DIR/tls, and dockerd
# listens on tcp://127.0.0.1:PORT with --tlsverify as well. DIR/tls/client contains
# ca.pem, cert.pem and key.pem, the layout DOCKER_CERT_PATH expects.
set -euo pipefail

# The docker client calls below name this engine with -H; client settings meant for
# another engine must not apply to them.
unset DOCKER_CONTEXT DOCKER_TLS_VERIFY DOCKER_CERT_PATH

readonly TEST_IMAGE=inframon-test/busybox:latest
readonly TEST_NETWORK=inframon-test
START_TIMEOUT_SECONDS=${IM_ENGINE_START_TIMEOUT:-30}
STOP_TIMEOUT_SECONDS=${IM_ENGINE_STOP_TIMEOUT:-30}
# dockerd 20.10 attaches to the system containerd when this socket exists, instead of
# starting its own under --exec-root (systemContainerdRunning in its daemon code).
readonly SYSTEM_CONTAINERD_SOCKET=/run/containerd/containerd.sock
# sun_path in struct sockaddr_un is 108 bytes, including the terminating NUL.
readonly MAX_SOCKET_PATH=107
# File that marks a folder as made by `engine.sh start`. stop deletes only such
# folders, so `engine.sh stop` given the wrong path cannot wipe unrelated files.
readonly MARKER_NAME=.inframon-engine

# A failed write (say, to a `| tee` that the same Ctrl-C ended) must not abort a stop
# halfway under set -e.
log() { printf 'engine: %s\n' "$*" >&2 || true; }
die() {
    log "error: $*"
    exit 1
}

usage() {
    sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

# Print the current time in milliseconds, for the timings in the progress lines.
now_ms() { date +%s%3N; }

# Return success while the process exists and is not a zombie (PID 1 on these machines
# can take a second or two to reap an exited daemon).
pid_alive() {
    local pid=$1 state
    [ -r "/proc/$pid/stat" ] || return 1
    state=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1) || return 1
    [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

# Return success when the command line of PID contains STRING, so a pid read from a
# stale pidfile that now belongs to an unrelated process is never signalled.
pid_cmdline_contains() {
    local pid=$1 needle=$2
    { tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null | grep -qF -- "$needle"
}

# Send SIGTERM, wait up to TIMEOUT seconds, then SIGKILL and wait again.
stop_pid() {
    local pid=$1 name=$2 timeout=$3 deadline
    pid_alive "$pid" || return 0
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + timeout))
    while pid_alive "$pid" && [ "$SECONDS" -lt "$deadline" ]; do
        sleep 0.1
    done
    if pid_alive "$pid"; then
        log "$name (pid $pid) still running after ${timeout} s; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        deadline=$((SECONDS + 10))
        while pid_alive "$pid" && [ "$SECONDS" -lt "$deadline" ]; do
            sleep 0.1
        done
        if pid_alive "$pid"; then
            log "error: $name (pid $pid) survived SIGKILL"
            return 1
        fi
    fi
    return 0
}

resolve_dir() {
    local dir=$1
    [ -n "$dir" ] || die "missing engine folder argument"
    case "$dir" in
    / | /tmp | /tmp/ | /var/run* | /run* | /var/lib/docker*)
        die "invalid engine folder '$dir': it is a system path. Give a private folder such as /tmp/im-engine-1234"
        ;;
    esac
    if [ -d "$dir" ]; then
        (cd "$dir" && pwd -P)
    else
        local parent
        parent=$(cd "$(dirname "$dir")" 2>/dev/null && pwd -P) ||
            die "parent folder of '$dir' does not exist"
        printf '%s/%s\n' "$parent" "$(basename "$dir")"
    fi
}

socket_path() { printf '%s/docker.sock\n' "$1"; }
dockerd_pidfile() { printf '%s/dockerd.pid\n' "$1"; }
# dockerd writes this pidfile for the containerd that it supervises.
containerd_pidfile() { printf '%s/exec/containerd/containerd.pid\n' "$1"; }
containerd_socket() { printf '%s/exec/containerd/containerd.sock\n' "$1"; }

docker_cli() {
    local dir=$1
    shift
    docker -H "unix://$(socket_path "$dir")" "$@"
}

ping_engine() {
    local reply
    reply=$(curl -s --max-time 2 --unix-socket "$(socket_path "$1")" http://localhost/_ping 2>/dev/null) || return 1
    [ "$reply" = OK ]
}

# Print the pid of the dockerd started for DIR, or nothing when it is not running.
running_dockerd_pid() {
    local dir=$1 pidfile pid
    pidfile=$(dockerd_pidfile "$dir")
    [ -r "$pidfile" ] || return 0
    pid=$(tr -dc '0-9' <"$pidfile")
    [ -n "$pid" ] || return 0
    if pid_alive "$pid" && pid_cmdline_contains "$pid" "--pidfile $pidfile"; then
        printf '%s\n' "$pid"
    fi
}

# Print the pid of the containerd that dockerd started for DIR, or nothing.
running_containerd_pid() {
    local dir=$1 pidfile pid
    pidfile=$(containerd_pidfile "$dir")
    [ -r "$pidfile" ] || return 0
    pid=$(tr -dc '0-9' <"$pidfile")
    [ -n "$pid" ] || return 0
    if pid_alive "$pid" && pid_cmdline_contains "$pid" "$dir/exec/containerd/containerd.toml"; then
        printf '%s\n' "$pid"
    fi
}

# Print the pids of containerd shims serving this engine's containers. Each shim is
# started with `-address DIR/exec/containerd/containerd.sock` and outlives dockerd when
# a container is still running, because it is reparented to PID 1.
shim_pids() {
    local address cmdline_file pid
    address=$(containerd_socket "$1")
    # shellcheck disable=SC2013 # /proc/N/cmdline paths contain no spaces
    for cmdline_file in $(grep -laF -- "$address" /proc/[0-9]*/cmdline 2>/dev/null || true); do
        pid=${cmdline_file#/proc/}
        pid=${pid%/cmdline}
        if { tr '\0' ' ' <"$cmdline_file"; } 2>/dev/null | grep -qE -- "^[^ ]*containerd-shim[^ ]* .*-address $address( |$)"; then
            printf '%s\n' "$pid"
        fi
    done
}

# Print the mount points at or below DIR, deepest first. Paths in mountinfo escape
# spaces and other bytes as octal, and engine folders never contain them.
mounts_under() {
    local dir=$1
    awk -v dir="$dir" '$5 == dir || index($5, dir "/") == 1 { print $5 }' /proc/self/mountinfo |
        awk '{ print length($0) " " $0 }' | sort -rn | cut -d' ' -f2-
}

# Delete the host bridges of this engine's user networks. dockerd leaves them behind
# when it exits without the networks being removed first (after a crash, or when
# `docker network prune` failed). The bridge driver stores each network under the key
# bridge/<network id> in DIR/data/network/files/local-kv.db and names its interface
# br-<first 12 hex digits of the id>, so only this engine's bridges match.
remove_leftover_bridges() {
    local kv=$1/data/network/files/local-kv.db id bridge
    [ -r "$kv" ] || return 0
    while IFS= read -r id; do
        [ -n "$id" ] || continue
        bridge=br-${id:0:12}
        if ip -d link show "$bridge" 2>/dev/null | grep -qw bridge; then
            log "deleting leftover bridge $bridge of network ${id:0:12}"
            ip link delete "$bridge" || log "warning: could not delete bridge $bridge"
        fi
    done < <(grep -aoE 'bridge/[0-9a-f]{64}' "$kv" 2>/dev/null | cut -d/ -f2 | sort -u)
}

tail_daemon_log() {
    local logfile=$1/dockerd.log
    if [ -r "$logfile" ]; then
        log "last 40 lines of $logfile:"
        tail -n 40 "$logfile" >&2
    else
        log "no daemon log at $logfile"
    fi
}

# Builds the busybox root under DIR and imports it as TEST_IMAGE into the engine at HOST
# (default: this script's engine in DIR).
build_test_image() {
    local dir=$1 host=${2:-unix://$(socket_path "$1")} root started
    started=$(now_ms)
    root=$dir/image-root
    rm -rf "$root"
    mkdir -p "$root"/{bin,etc,dev,proc,sys,tmp,root,var/log,www}
    chmod 1777 "$root/tmp"
    cp /bin/busybox "$root/bin/busybox"
    # Links made from the host would point at host paths, so busybox installs its own
    # applet links from inside the new root.
    chroot "$root" /bin/busybox --install -s /bin
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
    printf 'inframon test page\n' >"$root/www/index.html"
    tar --numeric-owner -C "$root" -cf - . |
        docker -H "$host" import \
            --change 'ENV PATH=/bin' \
            --change 'CMD ["/bin/sh"]' \
            --message 'busybox-static root for InfraMon tests' \
            - "$TEST_IMAGE" >/dev/null
    rm -rf "$root"
    log "imported $TEST_IMAGE in $(($(now_ms) - started)) ms"
}

# Make a throwaway CA and certificates for the TLS listener under DIR (see the header).
make_tls_files() {
    local dir=$1
    mkdir -p "$dir/client"
    chmod 700 "$dir"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj /CN=inframon-test-ca -keyout "$dir/ca-key.pem" -out "$dir/ca.pem" 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=127.0.0.1 \
        -keyout "$dir/server-key.pem" -out "$dir/server.csr" 2>/dev/null
    openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca-key.pem" \
        -CAcreateserial -days 2 -out "$dir/server-cert.pem" \
        -extfile <(printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n') 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=inframon-test \
        -keyout "$dir/client/key.pem" -out "$dir/client.csr" 2>/dev/null
    openssl x509 -req -in "$dir/client.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca-key.pem" \
        -CAcreateserial -days 2 -out "$dir/client/cert.pem" \
        -extfile <(printf 'extendedKeyUsage=clientAuth\n') 2>/dev/null
    cp "$dir/ca.pem" "$dir/client/ca.pem"
}

cmd_start() {
    local dir started pid waited_ms sock created_dir=0
    command -v dockerd >/dev/null || die "dockerd not found; install Debian's docker.io (make deps)"
    command -v containerd >/dev/null || die "containerd not found; install Debian's docker.io (make deps)"
    command -v docker >/dev/null || die "docker client not found; install Debian's docker.io (make deps)"
    command -v curl >/dev/null || die "curl not found (make deps)"
    [ -x /bin/busybox ] || die "/bin/busybox not found; install busybox-static (make deps)"
    [ "$(id -u)" -eq 0 ] || die "dockerd needs root; rerun as root"

    if [ $# -ge 1 ]; then
        dir=$(resolve_dir "$1")
    else
        dir=$(mktemp -d /tmp/im-engine-XXXXXX)
        created_dir=1
    fi
    sock=$(socket_path "$dir")
    # The longest socket path under DIR is containerd's ttrpc socket.
    local longest="$dir/exec/containerd/containerd.sock.ttrpc"
    if [ ${#longest} -gt $MAX_SOCKET_PATH ]; then
        [ "$created_dir" -eq 1 ] && rmdir "$dir"
        die "engine folder '$dir' is too long: socket path '$longest' has ${#longest} bytes, the limit is $MAX_SOCKET_PATH; use a short folder such as /tmp/im-engine-1234"
    fi

    pid=$(running_dockerd_pid "$dir")
    if [ -z "$pid" ] && [ -e "$dir/$MARKER_NAME" ]; then
        # A previous engine in this folder ended without `stop` (its script was
        # killed, or the daemon crashed): clean up what it left, then start afresh.
        log "found a stopped engine in $dir; cleaning it up first"
        cmd_stop "$dir" || die "cleanup of the stopped engine in $dir failed"
    fi
    if [ -n "$pid" ] && ping_engine "$dir"; then
        log "engine already running in $dir (dockerd pid $pid); reusing it"
    else
        [ -n "$pid" ] && die "dockerd (pid $pid) for $dir is running but does not respond to /_ping on $sock; run '$0 stop $dir' first"
        if [ -e "$SYSTEM_CONTAINERD_SOCKET" ]; then
            [ "$created_dir" -eq 1 ] && rmdir "$dir"
            die "$SYSTEM_CONTAINERD_SOCKET exists, so dockerd 20.10 would use that containerd instead of a private one and this engine would share it; stop the system containerd (or remove its stale socket) and retry"
        fi
        if [ -d "$dir" ] && [ -n "$(ls -A "$dir")" ]; then
            die "engine folder $dir is not empty; give a new or empty folder"
        fi
        mkdir -p "$dir"
        chmod 711 "$dir"
        : >"$dir/$MARKER_NAME"
        rm -f "$sock" "$(dockerd_pidfile "$dir")"

        local tls_options=()
        if [ -n "${IM_ENGINE_TLS_PORT:-}" ]; then
            command -v openssl >/dev/null || die "openssl not found; it makes the TLS certificates"
            make_tls_files "$dir/tls"
            tls_options=(-H "tcp://127.0.0.1:$IM_ENGINE_TLS_PORT" --tlsverify
                --tlscacert "$dir/tls/ca.pem" --tlscert "$dir/tls/server-cert.pem"
                --tlskey "$dir/tls/server-key.pem")
            log "dockerd also listens on tcp://127.0.0.1:$IM_ENGINE_TLS_PORT with TLS (certificates in $dir/tls)"
        fi

        started=$(now_ms)
        log "starting dockerd in $dir"
        # setsid puts dockerd in its own session, so Ctrl-C in the terminal that runs
        # `make run` reaches only the server, and the trap there stops the engine in order.
        setsid dockerd \
            -H "unix://$sock" \
            "${tls_options[@]}" \
            --data-root "$dir/data" \
            --exec-root "$dir/exec" \
            --pidfile "$(dockerd_pidfile "$dir")" \
            --iptables=false \
            --ip6tables=false \
            --bridge=none \
            --exec-opt native.cgroupdriver=cgroupfs \
            </dev/null >"$dir/dockerd.log" 2>&1 &
        local launched_pid=$!

        local deadline=$((SECONDS + START_TIMEOUT_SECONDS))
        until ping_engine "$dir"; do
            if ! pid_alive "$launched_pid"; then
                tail_daemon_log "$dir"
                die "dockerd (pid $launched_pid) exited before responding to /_ping on $sock"
            fi
            if [ "$SECONDS" -ge "$deadline" ]; then
                tail_daemon_log "$dir"
                log "dockerd did not respond to /_ping on $sock within ${START_TIMEOUT_SECONDS} s; stopping it"
                cmd_stop "$dir" || true
                die "engine start timed out"
            fi
            sleep 0.1
        done
        waited_ms=$(($(now_ms) - started))
        pid=$(running_dockerd_pid "$dir")
        log "dockerd (pid ${pid:-?}, containerd pid $(running_containerd_pid "$dir")) responded to /_ping after ${waited_ms} ms"
    fi

    if docker_cli "$dir" image inspect "$TEST_IMAGE" >/dev/null 2>&1; then
        log "image $TEST_IMAGE already present"
    else
        build_test_image "$dir"
    fi

    if docker_cli "$dir" network inspect "$TEST_NETWORK" >/dev/null 2>&1; then
        log "network $TEST_NETWORK already present"
    else
        docker_cli "$dir" network create --driver bridge "$TEST_NETWORK" >/dev/null
        log "created user bridge network $TEST_NETWORK"
    fi

    log "ready: DOCKER_HOST=unix://$sock"
    printf '%s\n' "$dir"
}

cmd_stop() {
    local dir dockerd_pid containerd_pid pid leftover status=0
    dir=$(resolve_dir "$1")
    if [ ! -d "$dir" ]; then
        log "nothing to stop: $dir does not exist"
        return 0
    fi
    dockerd_pid=$(running_dockerd_pid "$dir")
    containerd_pid=$(running_containerd_pid "$dir")

    if [ -n "$dockerd_pid" ] && ping_engine "$dir"; then
        # Removing containers first makes dockerd's own shutdown quick (a busybox sh as
        # PID 1 ignores SIGTERM), and removing user networks deletes their br-* bridges
        # from the host, which dockerd leaves in place when it exits.
        local ids
        ids=$(docker_cli "$dir" ps -aq 2>/dev/null || true)
        if [ -n "$ids" ]; then
            log "removing $(printf '%s\n' "$ids" | wc -l) container(s)"
            # shellcheck disable=SC2086 # one id per word
            docker_cli "$dir" rm -f -v $ids >/dev/null 2>&1 || log "warning: docker rm -f failed for some containers"
        fi
        docker_cli "$dir" network prune -f >/dev/null 2>&1 || log "warning: docker network prune failed"
    fi

    local shims
    shims=$(shim_pids "$dir")

    if [ -n "$dockerd_pid" ]; then
        stop_pid "$dockerd_pid" dockerd "$STOP_TIMEOUT_SECONDS" || status=1
    else
        log "no running dockerd for $dir"
    fi
    # dockerd stops the containerd it supervises on a clean exit; this covers a dockerd
    # that crashed or was killed.
    if [ -n "$containerd_pid" ]; then
        stop_pid "$containerd_pid" containerd 10 || status=1
    fi
    shims="$shims $(shim_pids "$dir")"
    # shellcheck disable=SC2086 # one pid per word
    for pid in $(printf '%s\n' $shims | sort -un); do
        pid_alive "$pid" || continue
        # The shim's child is the container's init process; killing it ends the
        # container's PID namespace, and the shim then exits by itself.
        local child
        for child in $(ps -o pid= --ppid "$pid" 2>/dev/null); do
            log "killing leftover container process $child (shim pid $pid)"
            kill -KILL "$child" 2>/dev/null || true
        done
        stop_pid "$pid" containerd-shim 5 || status=1
    done

    remove_leftover_bridges "$dir"

    local mount_point mounts
    mounts=$(mounts_under "$dir")
    [ -z "$mounts" ] || log "unmounting $(printf '%s\n' "$mounts" | wc -l) leftover mount(s) under $dir"
    while IFS= read -r mount_point; do
        [ -n "$mount_point" ] || continue
        if ! umount "$mount_point" 2>/dev/null; then
            umount -l "$mount_point" 2>/dev/null || log "warning: could not unmount $mount_point"
        fi
    done <<<"$mounts"

    leftover=$(mounts_under "$dir")
    if [ -n "$leftover" ]; then
        log "error: still mounted under $dir, so it is not removed:"
        printf '%s\n' "$leftover" >&2
        return 1
    fi
    if [ "$status" -ne 0 ]; then
        log "error: some engine processes did not stop; $dir is kept for inspection"
        return 1
    fi
    if [ ! -e "$dir/$MARKER_NAME" ]; then
        log "$dir has no $MARKER_NAME file, so it was not made by '$0 start' and is not removed"
        return 0
    fi
    rm -rf --one-file-system "$dir"
    log "stopped and removed $dir"
}

cmd_env() {
    local dir
    dir=$(resolve_dir "$1")
    printf 'export DOCKER_HOST=unix://%s\n' "$(socket_path "$dir")"
}

main() {
    [ $# -ge 1 ] || usage
    local command=$1
    shift
    case "$command" in
    start)
        [ $# -le 1 ] || usage
        cmd_start "$@"
        ;;
    stop)
        [ $# -eq 1 ] || usage
        cmd_stop "$1"
        ;;
    env)
        [ $# -eq 1 ] || usage
        cmd_env "$1"
        ;;
    import-image)
        [ $# -eq 2 ] || usage
        build_test_image "$(resolve_dir "$1")" "$2"
        ;;
    -h | --help | help) usage ;;
    *) usage ;;
    esac
}

main "$@"
