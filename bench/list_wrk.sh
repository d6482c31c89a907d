#!/usr/bin/env bash
# Measure GET /api/v1/containers with a bearer token under wrk, on a private engine with
# 100 containers, and check that no list request reaches the engine.
#
#   bench/list_wrk.sh [BUILD_DIR]
#
# Starts a private engine (tests/engine/engine.sh), CONTAINERS (default 100) busybox
# containers running `sleep`, and `inframon serve` from BUILD_DIR (default build). The rate
# limit is raised to 1,000,000 requests a second, so the limiter still runs on every request
# but never rejects one. After a warm-up it runs
#   wrk -t THREADS -c CONNECTIONS -d SECONDS -s <script setting Authorization> URL
# (defaults 2 threads, 32 connections, 30 s), reads inframon_engine_requests_total before
# and after, and fails when any response was not 2xx or the engine saw more requests than
# the collector's own re-list of the containers every 10 s (none come from requests). For
# scale it then times RUNS (default 20) `docker ps` calls against the same engine. Needs
# root (the engine does), wrk (scripts/deps.sh --bench) and a built inframon.
#
# With SIMULATED=1 the containers come from bench/sim_engine.py instead (no dockerd, no
# root needed, no `docker ps` row). The request path is the same, and the simulator is
# idle during the run, which helps on a machine shared with other work.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=${1:-build}
BIN=$ROOT/$BUILD_DIR/inframon
CONTAINERS=${CONTAINERS:-100}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-32}
SECONDS_UNDER_LOAD=${SECONDS_UNDER_LOAD:-30}
RUNS=${RUNS:-20}
PORT=${PORT:-18621}

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

[ -x "$BIN" ] || { echo "bench: $BIN not found; build first" >&2; exit 1; }
command -v wrk >/dev/null || { echo "bench: wrk not installed; run scripts/deps.sh --bench" >&2; exit 1; }

WORK=$(mktemp -d /tmp/im-bench-wrk-XXXXXX)
ENGINE_DIR=
SERVER_PID=
SIM_PID=
cleanup() {
    if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
    if [ -n "$SIM_PID" ]; then kill "$SIM_PID" 2>/dev/null || true; wait "$SIM_PID" 2>/dev/null || true; fi
    if [ -n "$ENGINE_DIR" ]; then bash "$ROOT/tests/engine/engine.sh" stop "$ENGINE_DIR" >/dev/null 2>&1 || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

HOST_SETTINGS=()
if [ "${SIMULATED:-0}" = 1 ]; then
    mkdir -p "$WORK/tree"
    python3 "$ROOT/bench/sim_engine.py" --socket "$WORK/docker.sock" --root "$WORK/tree" \
        --containers "$CONTAINERS" >"$WORK/sim.log" 2>&1 &
    SIM_PID=$!
    for _ in $(seq 1 600); do [ -S "$WORK/docker.sock" ] && break; sleep 0.1; done
    [ -S "$WORK/docker.sock" ] || { echo "bench: the simulator did not start; its log:" >&2; cat "$WORK/sim.log" >&2; exit 1; }
    DH=unix://$WORK/docker.sock
    HOST_SETTINGS=(HOST_PROC="$WORK/tree/proc" HOST_SYS="$WORK/tree/sys")
else
    ENGINE_DIR=$(bash "$ROOT/tests/engine/engine.sh" start)
    DH=unix://$ENGINE_DIR/docker.sock
    echo "bench: starting $CONTAINERS containers" >&2
    seq 1 "$CONTAINERS" | xargs -P 4 -I{} docker -H "$DH" run -d --name bench-c-{} \
        --network inframon-test inframon-test/busybox:latest sleep 86400 >/dev/null
fi

start_inframon "$BIN" "$PORT" "$WORK/inframon" DOCKER_HOST="$DH" "${HOST_SETTINGS[@]}" \
    RATE_LIMIT_MAX_REQUESTS=1000000 RATE_LIMIT_WINDOW_SECONDS=1
TOKEN=$(login_token "$PORT")
URL=http://127.0.0.1:$PORT/api/v1/containers
LISTED=$(curl -sf -H "Authorization: Bearer $TOKEN" "$URL" |
    python3 -c 'import json,sys; print(len(json.load(sys.stdin)["data"]["containers"]))')
[ "$LISTED" -eq "$CONTAINERS" ] || { echo "bench: the list has $LISTED containers, expected $CONTAINERS" >&2; exit 1; }
BODY_BYTES=$(curl -sf -H "Authorization: Bearer $TOKEN" "$URL" | wc -c)

cat >"$WORK/token.lua" <<EOF
wrk.headers["Authorization"] = "Bearer $TOKEN"
EOF
# A short warm-up, so that connections and caches are set up before the measured run.
wrk -t "$THREADS" -c "$CONNECTIONS" -d 3s -s "$WORK/token.lua" "$URL" >/dev/null

ENGINE_BEFORE=$(metric_value "$PORT" "$TOKEN" inframon_engine_requests_total)
wrk -t "$THREADS" -c "$CONNECTIONS" -d "${SECONDS_UNDER_LOAD}s" --latency -s "$WORK/token.lua" "$URL" \
    >"$WORK/wrk.txt"
ENGINE_AFTER=$(metric_value "$PORT" "$TOKEN" inframon_engine_requests_total)
# The collector reads cgroup files and only calls the engine for events, so any change
# here would come from the request path.
ENGINE_CALLS=$((ENGINE_AFTER - ENGINE_BEFORE))
RATE=$(awk '/^Requests\/sec:/ { print $2 }' "$WORK/wrk.txt")
NON_2XX=$(awk '/Non-2xx or 3xx responses:/ { print $5 }' "$WORK/wrk.txt")

PS_RATE=
if [ -n "$ENGINE_DIR" ]; then
    start=$(date +%s%N)
    for _ in $(seq 1 "$RUNS"); do docker -H "$DH" ps >/dev/null; done
    end=$(date +%s%N)
    PS_RATE=$(echo "scale=1; $RUNS * 1000000000 / ($end - $start)" | bc)
fi

machine_line
echo "command: bench/list_wrk.sh $BUILD_DIR (SIMULATED=${SIMULATED:-0} CONTAINERS=$CONTAINERS THREADS=$THREADS CONNECTIONS=$CONNECTIONS SECONDS_UNDER_LOAD=$SECONDS_UNDER_LOAD)"
echo "response: $LISTED containers, $BODY_BYTES bytes"
sed -n '/Thread Stats/,/Transfer\/sec/p' "$WORK/wrk.txt"
echo
echo "| client | requests/s |"
echo "| --- | --- |"
echo "| wrk, GET /api/v1/containers | $RATE |"
[ -z "$PS_RATE" ] || echo "| docker ps, one after another | $PS_RATE |"
echo
echo "engine requests made by InfraMon during the wrk run: $ENGINE_CALLS"
echo "responses other than 2xx: ${NON_2XX:-0}"
[ -z "$NON_2XX" ] || { echo "bench: wrk saw $NON_2XX responses other than 2xx" >&2; exit 1; }
# The collector re-lists the containers every 10 s, so the run may see that many requests.
RELISTS=$((SECONDS_UNDER_LOAD / 10 + 1))
[ "$ENGINE_CALLS" -le "$RELISTS" ] || {
    echo "bench: the engine saw $ENGINE_CALLS requests during the run, more than the $RELISTS re-lists of the collector" >&2
    exit 1
}
