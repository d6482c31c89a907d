#!/usr/bin/env bash
# Measure InfraMon's collection cycle and memory with 1,000 containers from a SIMULATED
# engine.
#
#   bench/sim_scale.sh [BUILD_DIR]
#
# No machine here can start 1,000 real containers quickly, so bench/sim_engine.py replaces
# the engine (Engine API on a unix socket) and writes the cgroup v1 and
# /proc/<pid>/net/dev files of each container as regular files under a temporary folder,
# which InfraMon reads through HOST_SYS and HOST_PROC. For each count in COUNTS (default
# "0 1000") it starts a simulator and `inframon serve` from BUILD_DIR (default build) at
# COLLECT_INTERVAL_SECONDS=1, waits WARMUP_SECONDS (default 10), then reads the self-metric
# inframon_collector_duration_seconds once a second for WINDOW_SECONDS (default 30) and
# VmRSS at the end. It prints the mean and maximum cycle as a share of the interval and the
# memory growth per container between the first and last count. Regular files cost the
# kernel less to read than real cgroup files, so the cycle here understates the kernel's
# part; bench/collector.sh measures that part on 100 real containers.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=${1:-build}
BIN=$ROOT/$BUILD_DIR/inframon
COUNTS=${COUNTS:-0 1000}
WARMUP_SECONDS=${WARMUP_SECONDS:-10}
WINDOW_SECONDS=${WINDOW_SECONDS:-30}
PORT=${PORT:-18631}

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

[ -x "$BIN" ] || { echo "bench: $BIN not found; build first" >&2; exit 1; }
WORK=$(mktemp -d /tmp/im-bench-sim-XXXXXX)
SIM_PID=
SERVER_PID=
stop_run() {
    if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
    if [ -n "$SIM_PID" ]; then kill "$SIM_PID" 2>/dev/null || true; wait "$SIM_PID" 2>/dev/null || true; fi
    SERVER_PID=
    SIM_PID=
}
cleanup() {
    stop_run
    rm -rf "$WORK"
}
trap cleanup EXIT

machine_line
echo "command: bench/sim_scale.sh $BUILD_DIR (COUNTS=\"$COUNTS\" WINDOW_SECONDS=$WINDOW_SECONDS)"
echo "SIMULATED engine and cgroup tree (bench/sim_engine.py); counters are fixed files on $(stat -f -c %T /tmp)"
echo
echo "| containers | listed | mean cycle (ms) | max cycle (ms) | mean cycle, % of 1 s | RSS (MB) |"
echo "| --- | --- | --- | --- | --- | --- |"
declare -A RSS
for count in $COUNTS; do
    run=$WORK/run-$count
    mkdir -p "$run/tree"
    python3 "$ROOT/bench/sim_engine.py" --socket "$run/docker.sock" --root "$run/tree" \
        --containers "$count" >"$run/sim.log" 2>&1 &
    SIM_PID=$!
    for _ in $(seq 1 600); do [ -S "$run/docker.sock" ] && break; sleep 0.1; done
    [ -S "$run/docker.sock" ] || { echo "bench: the simulator did not start; its log:" >&2; cat "$run/sim.log" >&2; exit 1; }
    start_inframon "$BIN" "$PORT" "$run/inframon" DOCKER_HOST="unix://$run/docker.sock" \
        HOST_PROC="$run/tree/proc" HOST_SYS="$run/tree/sys" COLLECT_INTERVAL_SECONDS=1
    TOKEN=$(login_token "$PORT")
    sleep "$WARMUP_SECONDS"
    listed=$(curl -sf -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/api/v1/containers" |
        python3 -c 'import json,sys; print(len(json.load(sys.stdin)["data"]["containers"]))')
    samples=()
    for _ in $(seq 1 "$WINDOW_SECONDS"); do
        samples+=("$(metric_value "$PORT" "$TOKEN" inframon_collector_duration_seconds)")
        sleep 1
    done
    RSS[$count]=$(rss_kb "$SERVER_PID")
    source=$(grep -c "falling back\|engine's stats API" "$run/inframon/server.log" || true)
    [ "$source" -eq 0 ] || { echo "bench: InfraMon fell back to the stats API; see $run/inframon/server.log" >&2; exit 1; }
    printf '%s\n' "${samples[@]}" | awk -v n="$count" -v listed="$listed" -v rss="${RSS[$count]}" '
        { sum += $1; if ($1 > max) max = $1 }
        END { printf "| %d | %d | %.2f | %.2f | %.2f %% | %.1f |\n", n, listed, sum / NR * 1000, max * 1000, sum / NR * 100, rss / 1024 }'
    stop_run
done
read -r -a count_list <<<"$COUNTS"
first=${count_list[0]}
last=${count_list[${#count_list[@]} - 1]}
if [ "$first" != "$last" ]; then
    echo
    echo "RSS growth: $(echo "scale=1; (${RSS[$last]} - ${RSS[$first]}) / ($last - $first)" | bc) KiB per container after $((WARMUP_SECONDS + WINDOW_SECONDS)) s"
fi
