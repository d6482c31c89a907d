#!/usr/bin/env bash
# Compare the memory and CPU of `inframon serve` watching 100 real containers with netdata
# and with the cost floor of reading the same cgroup files, all three in the same window.
#
#   bench/collector.sh [BUILD_DIR]
#
# Starts a private engine (tests/engine/engine.sh) and CONTAINERS (default 100) busybox
# containers running `sleep`, each on the engine's user bridge network. It measures the
# engine alone for IDLE_SECONDS (default 20), then starts side by side:
#   - inframon serve from BUILD_DIR (default build), COLLECT_INTERVAL_SECONDS=1;
#   - with BASELINE_BIN set, a second inframon serve from that binary (an earlier build,
#     for before-and-after figures);
#   - netdata (Debian's package, `scripts/deps.sh --bench`) at its default 1 s, with a
#     private configuration under the run's folder. Its web server listens on 127.0.0.1
#     only. Registry, health notifications, anonymous statistics and the collectors that
#     probe services or hosts outside this benchmark are off, and this Debian build has no
#     cloud link. DOCKER_HOST points at the private engine, so it names containers from it;
#   - the floor program (FLOOR_SRC, default ../shared/bench/cgroup_floor.c next to the
#     repository), compiled into the run's folder.
# After WARMUP_SECONDS (default 30, the time netdata needs to find and name 100
# containers) it reads utime+stime from /proc/PID/stat of each process tree, waits
# WINDOW_SECONDS (default 60), reads them again with VmRSS, and prints one table. CPU is
# percent of one core; the engine's row is dockerd, its containerd and shims, minus its own
# idle rate. Needs root (the engine does), gcc, netdata and a built inframon.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=${1:-build}
BIN=$ROOT/$BUILD_DIR/inframon
BASELINE_BIN=${BASELINE_BIN:-}
CONTAINERS=${CONTAINERS:-100}
IDLE_SECONDS=${IDLE_SECONDS:-20}
WARMUP_SECONDS=${WARMUP_SECONDS:-30}
WINDOW_SECONDS=${WINDOW_SECONDS:-60}
PORT=${PORT:-18611}
BASELINE_PORT=${BASELINE_PORT:-18612}
NETDATA_PORT=${NETDATA_PORT:-18613}
FLOOR_SRC=${FLOOR_SRC:-$ROOT/../shared/bench/cgroup_floor.c}

# VmRSS and its split into anonymous, file-backed and shared memory pages, from
# /proc/PID/status, in kB.
rss_breakdown() {
    awk '/^(VmRSS|RssAnon|RssFile|RssShmem):/ { sub(":", "", $1); printf "%s %s, ", $1, $2 }
         END { print "kB" }' "/proc/$1/status"
}
# The resident kB of the largest mappings of PID from /proc/PID/smaps, summed by file name;
# [heap] is the main arena and [anonymous] covers thread stacks and the other malloc arenas.
top_mappings() {
    awk '$1 ~ /^[0-9a-f]+-[0-9a-f]+$/ { name = ($6 == "" ? "[anonymous]" : $6); next }
         $1 == "Rss:" { rss[name] += $2 }
         END { for (n in rss) if (rss[n] > 0) printf "%d %s\n", rss[n], n }' "/proc/$1/smaps" |
        sort -rn | head -n "${2:-8}" | awk '{ n = split($2, p, "/"); printf "%s %d, ", p[n], $1 } END { print "kB" }'
}

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

[ -x "$BIN" ] || { echo "bench: $BIN not found; build first" >&2; exit 1; }
[ -z "$BASELINE_BIN" ] || [ -x "$BASELINE_BIN" ] || { echo "bench: BASELINE_BIN $BASELINE_BIN is not an executable" >&2; exit 1; }
[ -r "$FLOOR_SRC" ] || { echo "bench: floor program $FLOOR_SRC not found; set FLOOR_SRC" >&2; exit 1; }
command -v netdata >/dev/null || { echo "bench: netdata not installed; run scripts/deps.sh --bench" >&2; exit 1; }

WORK=$(mktemp -d /tmp/im-bench-collector-XXXXXX)
ENGINE_DIR=
PIDS_TO_STOP=()
cleanup() {
    local pid
    for pid in "${PIDS_TO_STOP[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [ -n "$ENGINE_DIR" ]; then bash "$ROOT/tests/engine/engine.sh" stop "$ENGINE_DIR" >/dev/null 2>&1 || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

gcc -O2 -o "$WORK/cgroup_floor" "$FLOOR_SRC"

ENGINE_DIR=$(bash "$ROOT/tests/engine/engine.sh" start)
DH=unix://$ENGINE_DIR/docker.sock
docker_cli() { docker -H "$DH" "$@"; }

echo "bench: starting $CONTAINERS containers" >&2
seq 1 "$CONTAINERS" | xargs -P 4 -I{} docker -H "$DH" run -d --name bench-c-{} \
    --network inframon-test inframon-test/busybox:latest sleep 86400 >/dev/null
docker_cli ps -q --no-trunc | while read -r id; do
    echo "$id $(docker_cli inspect -f '{{.State.Pid}}' "$id")"
done >"$WORK/idpids.txt"
[ "$(wc -l <"$WORK/idpids.txt")" -eq "$CONTAINERS" ] || { echo "bench: not every container is running" >&2; exit 1; }

# The engine's own idle rate with the containers running and nothing watching them.
sleep 15
mapfile -t ENGINE < <(engine_pids "$ENGINE_DIR")
idle_start=$(cpu_ticks "${ENGINE[@]}")
sleep "$IDLE_SECONDS"
idle_ticks=$(( $(cpu_ticks "${ENGINE[@]}") - idle_start ))

# ---- the watchers ----
start_inframon "$BIN" "$PORT" "$WORK/inframon" DOCKER_HOST="$DH" COLLECT_INTERVAL_SECONDS=1
INFRAMON_PID=$SERVER_PID
PIDS_TO_STOP+=("$INFRAMON_PID")
BASELINE_PID=
if [ -n "$BASELINE_BIN" ]; then
    start_inframon "$BASELINE_BIN" "$BASELINE_PORT" "$WORK/baseline" DOCKER_HOST="$DH" COLLECT_INTERVAL_SECONDS=1
    BASELINE_PID=$SERVER_PID
    PIDS_TO_STOP+=("$BASELINE_PID")
fi

ND=$WORK/netdata
mkdir -p "$ND/etc" "$ND/log" "$ND/cache" "$ND/lib" "$ND/run"
: >"$ND/etc/.opt-out-from-anonymous-statistics"
cat >"$ND/etc/netdata.conf" <<EOF
[global]
    run as user = root
    hostname = inframon-bench
[db]
    update every = 1
[directories]
    config = $ND/etc
    stock config = /usr/lib/netdata/conf.d
    log = $ND/log
    cache = $ND/cache
    lib = $ND/lib
    home = $ND/lib
    lock = $ND/run
    plugins = /usr/lib/netdata/plugins.d
    web = /usr/share/netdata/web
    registry = $ND/lib/registry
[logs]
    access = none
[web]
    bind to = 127.0.0.1:$NETDATA_PORT
[registry]
    enabled = no
[health]
    enabled = no
[statsd]
    enabled = no
[plugins]
    # Collectors that probe local services or remote hosts are off, so that nothing here
    # sends traffic beyond this benchmark; what watches containers stays on.
    charts.d = no
    python.d = no
    go.d = no
    fping = no
    ioping = no
    cups = no
    freeipmi = no
    ebpf = no
    perf = no
    nfacct = no
    slabinfo = no
EOF
(cd "$ND" && exec env DISABLE_TELEMETRY=1 DO_NOT_TRACK=1 DOCKER_HOST="$DH" \
    netdata -D -c "$ND/etc/netdata.conf" -P "$ND/run/netdata.pid" >"$ND/log/stdout.log" 2>&1) &
NETDATA_PID=$!
PIDS_TO_STOP+=("$NETDATA_PID")

"$WORK/cgroup_floor" "$WORK/idpids.txt" $((WARMUP_SECONDS + WINDOW_SECONDS + 5)) 2>"$WORK/floor.log" &
FLOOR_PID=$!
PIDS_TO_STOP+=("$FLOOR_PID")

TOKEN=$(login_token "$PORT")
sleep 10
START_BREAKDOWN=$(rss_breakdown "$INFRAMON_PID")
[ -z "$BASELINE_PID" ] || START_BASELINE_BREAKDOWN=$(rss_breakdown "$BASELINE_PID")
sleep $((WARMUP_SECONDS > 10 ? WARMUP_SECONDS - 10 : 0))
curl -sf "http://127.0.0.1:$NETDATA_PORT/api/v1/info" >/dev/null ||
    { echo "bench: netdata does not respond on 127.0.0.1:$NETDATA_PORT; see $ND/log" >&2; exit 1; }
NETDATA_NAMED=$(curl -sf "http://127.0.0.1:$NETDATA_PORT/api/v1/charts" |
    { grep -o '"cgroup_bench-c-[0-9]*\.cpu"' || true; } | sort -u | wc -l)

# Every TCP or UDP socket of netdata's processes must be on loopback.
mapfile -t NETDATA_TREE < <(tree_pids "$NETDATA_PID")
NETDATA_SOCKETS=$(ss -tunap 2>/dev/null | grep -F "$(printf 'pid=%s,\n' "${NETDATA_TREE[@]}")" |
    awk '{ print $1, $5, $6 }' | sort -u | tr '\n' ';')
if ss -tunap 2>/dev/null | grep -F "$(printf 'pid=%s,\n' "${NETDATA_TREE[@]}")" |
    awk '{ print $5; print $6 }' | grep -v -e '^127\.' -e '^\*:\*$' -e '^0\.0\.0\.0:\*$' -e '^\[::\]:\*$' -q; then
    echo "bench: netdata has a socket off loopback: $NETDATA_SOCKETS" >&2
    exit 1
fi

# ---- the window ----
declare -A START
measure() {
    local pids
    mapfile -t pids < <(tree_pids "$@")
    cpu_ticks "${pids[@]}"
}
START[inframon]=$(measure "$INFRAMON_PID")
[ -z "$BASELINE_PID" ] || START[baseline]=$(measure "$BASELINE_PID")
START[netdata]=$(measure "$NETDATA_PID")
START[floor]=$(measure "$FLOOR_PID")
START[engine]=$(cpu_ticks "${ENGINE[@]}")
CYCLES_START=$(metric_value "$PORT" "$TOKEN" inframon_collector_cycles_total)
sleep "$WINDOW_SECONDS"
declare -A TICKS RSS
TICKS[inframon]=$(( $(measure "$INFRAMON_PID") - START[inframon] ))
[ -z "$BASELINE_PID" ] || TICKS[baseline]=$(( $(measure "$BASELINE_PID") - START[baseline] ))
TICKS[netdata]=$(( $(measure "$NETDATA_PID") - START[netdata] ))
TICKS[floor]=$(( $(measure "$FLOOR_PID") - START[floor] ))
TICKS[engine]=$(( $(cpu_ticks "${ENGINE[@]}") - START[engine] ))
RSS[inframon]=$(rss_kb "$INFRAMON_PID")
[ -z "$BASELINE_PID" ] || RSS[baseline]=$(rss_kb "$BASELINE_PID")
mapfile -t NETDATA_TREE < <(tree_pids "$NETDATA_PID")
RSS[netdata]=$(rss_kb "${NETDATA_TREE[@]}")
RSS[floor]=$(rss_kb "$FLOOR_PID")
CYCLES=$(( $(metric_value "$PORT" "$TOKEN" inframon_collector_cycles_total) - CYCLES_START ))
STATS_CALLS=$(metric_value "$PORT" "$TOKEN" inframon_engine_stats_calls_total)
SOURCE=$(curl -sf -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/api/v1/stats/system/info" |
    python3 -c 'import json,sys; d=json.load(sys.stdin); d=d.get("data",d); print(d.get("collector_source") or d.get("collector",{}).get("source","?"))' 2>/dev/null || echo "?")
wait "$FLOOR_PID" 2>/dev/null || true

# ---- the table ----
pct() { percent_of_core "$1" "$WINDOW_SECONDS"; }
mb() { echo "scale=1; $1 / 1024" | bc; }
engine_extra=$(echo "scale=2; $(pct "${TICKS[engine]}") - $(percent_of_core "$idle_ticks" "$IDLE_SECONDS")" | bc)
machine_line
echo "command: bench/collector.sh $BUILD_DIR (CONTAINERS=$CONTAINERS WINDOW_SECONDS=$WINDOW_SECONDS WARMUP_SECONDS=$WARMUP_SECONDS${BASELINE_BIN:+ BASELINE_BIN=$BASELINE_BIN})"
echo "engine: $(docker_cli version -f 'dockerd {{.Server.Version}} (API {{.Server.APIVersion}})'), $CONTAINERS running busybox containers"
echo "netdata $(netdata -v 2>&1 | awk '{ print $2 }'): charts for $NETDATA_NAMED of $CONTAINERS containers under their names"
echo
printf '| %-28s | %10s | %14s |\n' "process" "RSS (MB)" "CPU (% of core)"
printf '| %-28s | %10s | %14s |\n' "---" "---" "---"
printf '| %-28s | %10s | %14s |\n' "inframon serve" "$(mb "${RSS[inframon]}")" "$(pct "${TICKS[inframon]}")"
[ -z "$BASELINE_PID" ] || printf '| %-28s | %10s | %14s |\n' "inframon serve (baseline)" "$(mb "${RSS[baseline]}")" "$(pct "${TICKS[baseline]}")"
printf '| %-28s | %10s | %14s |\n' "netdata (all processes)" "$(mb "${RSS[netdata]}")" "$(pct "${TICKS[netdata]}")"
printf '| %-28s | %10s | %14s |\n' "cgroup_floor" "$(mb "${RSS[floor]}")" "$(pct "${TICKS[floor]}")"
printf '| %-28s | %10s | %14s |\n' "engine beyond idle" "" "$engine_extra"
echo
echo "engine idle: $(percent_of_core "$idle_ticks" "$IDLE_SECONDS") % of a core over $IDLE_SECONDS s"
echo "floor: $(cat "$WORK/floor.log")"
echo "inframon: $CYCLES collection cycles in the window, source $SOURCE, engine stats API calls since start: $STATS_CALLS"
ratio() { if [ "$2" -gt 0 ]; then echo "scale=2; $1 / $2" | bc; else echo "n/a (denominator 0 ticks)"; fi; }
echo "ratios: inframon / floor CPU $(ratio "${TICKS[inframon]}" "${TICKS[floor]}")," \
    "inframon / netdata RSS $(echo "scale=3; ${RSS[inframon]} / ${RSS[netdata]}" | bc)"
echo "netdata sockets: $NETDATA_SOCKETS"
echo "inframon memory 10 s after start: $START_BREAKDOWN"
echo "inframon memory at the end: $(rss_breakdown "$INFRAMON_PID")"
echo "inframon largest mappings at the end: $(top_mappings "$INFRAMON_PID")"
if [ -n "$BASELINE_PID" ]; then
    echo "baseline memory 10 s after start: $START_BASELINE_BREAKDOWN"
    echo "baseline memory at the end: $(rss_breakdown "$BASELINE_PID")"
    echo "baseline largest mappings at the end: $(top_mappings "$BASELINE_PID")"
fi
