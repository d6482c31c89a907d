#!/usr/bin/env bash
# Print the resident memory of `inframon serve` after it has watched an engine for a while.
#
#   bench/serve_memory.sh ENGINE_DIR BINARY [BINARY...]
#
# ENGINE_DIR is a private engine from `tests/engine/engine.sh start` that already runs the
# containers to watch (for example 100 busybox `sleep` containers). Each BINARY is started
# with `serve` on its own port and database, all at the same time, against that engine.
# After WAIT_SECONDS (default 60) the script prints VmRSS, RssAnon and RssFile of each from
# /proc/PID/status, and the mappings with at least 150 kB resident from /proc/PID/smaps,
# then stops the servers.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WAIT_SECONDS=${WAIT_SECONDS:-60}
FIRST_PORT=${PORT:-18641}

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

[ $# -ge 2 ] || {
    sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}
engine=$1
shift
[ -S "$engine/docker.sock" ] || { echo "bench: no engine socket at $engine/docker.sock" >&2; exit 1; }

WORK=$(mktemp -d /tmp/im-bench-memory-XXXXXX)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

port=$FIRST_PORT
for bin in "$@"; do
    # start_inframon runs the server in its own folder, so a relative path would break.
    bin=$(realpath "$bin")
    start_inframon "$bin" "$port" "$WORK/$port" DOCKER_HOST="unix://$engine/docker.sock"
    pids+=("$SERVER_PID")
    port=$((port + 1))
done
sleep "$WAIT_SECONDS"

index=0
for bin in "$@"; do
    pid=${pids[$index]}
    echo "== $bin (pid $pid, after $WAIT_SECONDS s)"
    grep -E '^(VmRSS|RssAnon|RssFile):' "/proc/$pid/status"
    awk '/^[0-9a-f]+-/ { name = $6 == "" ? "[anonymous]" : $6 }
         /^Rss:/ { rss[name] += $2 }
         END { for (n in rss) if (rss[n] >= 150) printf "  %6d kB  %s\n", rss[n], n }' \
        "/proc/$pid/smaps" | sort -nr
    index=$((index + 1))
done
