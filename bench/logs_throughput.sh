#!/usr/bin/env bash
# Compare streaming a container's whole log through InfraMon with `docker logs`.
#
#   bench/logs_throughput.sh [BUILD_DIR]
#
# Starts a private engine (tests/engine/engine.sh), runs a container that writes
# LOG_MB megabytes (default 100) of 100-byte lines to stdout, then reads that log
# RUNS times (default 3) each way, alternating:
#   docker logs NAME > /dev/null
#   curl GET /api/v1/containers/NAME/logs?download=true&tail=all > /dev/null
# and prints the median throughput of each and their ratio. Needs root, like the
# engine script, and a built inframon in BUILD_DIR (default build).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=${1:-build}
BIN=$ROOT/$BUILD_DIR/inframon
LOG_MB=${LOG_MB:-100}
RUNS=${RUNS:-3}
PORT=${PORT:-18599}
PASSWORD=Bench-Password-123

[ -x "$BIN" ] || { echo "bench: $BIN not found; build first" >&2; exit 1; }
WORK=$(mktemp -d /tmp/im-bench-logs-XXXXXX)
ENGINE_DIR=$(bash "$ROOT/tests/engine/engine.sh" start)
SERVER_PID=
cleanup() {
    if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
    bash "$ROOT/tests/engine/engine.sh" stop "$ENGINE_DIR" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT
DH=unix://$ENGINE_DIR/docker.sock
docker_cli() { docker -H "$DH" "$@"; }

NAME=bench-logs
# 99 characters and a newline per line.
LINE=$(printf 'x%.0s' $(seq 1 90))
docker_cli run -d --name $NAME inframon-test/busybox:latest sh -c \
    "yes '$LINE 012345678' | head -c $((LOG_MB * 1000 * 1000))" >/dev/null
docker_cli wait $NAME >/dev/null
BYTES=$(docker_cli logs $NAME 2>/dev/null | wc -c)

cd "$WORK"
HOST=127.0.0.1 PORT=$PORT DEBUG=false SECRET_KEY=$(head -c 48 /dev/urandom | base64 | tr -d '/+=' | head -c 48) \
    ADMIN_PASSWORD=$PASSWORD DATABASE_URL="sqlite:///$WORK/db.sqlite" DOCKER_HOST=$DH \
    LOG_LEVEL=warn "$BIN" serve >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.1; done
TOKEN=$(curl -sf -X POST "http://127.0.0.1:$PORT/api/v1/auth/login" -H 'Content-Type: application/json' \
    -d "{\"username\":\"admin\",\"password\":\"$PASSWORD\"}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')

seconds() { local start=$1 end=$2; echo "scale=3; ($end - $start) / 1000000000" | bc; }
declare -a CLI INFRAMON
for run in $(seq 1 "$RUNS"); do
    start=$(date +%s%N); docker_cli logs $NAME >/dev/null 2>&1; end=$(date +%s%N)
    CLI+=("$(seconds "$start" "$end")")
    start=$(date +%s%N)
    got=$(curl -sf -H "Authorization: Bearer $TOKEN" \
        "http://127.0.0.1:$PORT/api/v1/containers/$NAME/logs?download=true&tail=all" | wc -c)
    end=$(date +%s%N)
    INFRAMON+=("$(seconds "$start" "$end")")
    [ "$got" -eq "$BYTES" ] || { echo "bench: InfraMon returned $got bytes, docker logs $BYTES" >&2; exit 1; }
done
median() { printf '%s\n' "$@" | sort -n | sed -n "$(( ($# + 1) / 2 ))p"; }
CLI_S=$(median "${CLI[@]}")
IM_S=$(median "${INFRAMON[@]}")
echo "log size: $BYTES bytes; runs: $RUNS"
echo "docker logs:        ${CLI[*]} s (median $CLI_S s, $(echo "scale=1; $BYTES / $CLI_S / 1000000" | bc) MB/s)"
echo "InfraMon download:  ${INFRAMON[*]} s (median $IM_S s, $(echo "scale=1; $BYTES / $IM_S / 1000000" | bc) MB/s)"
echo "ratio (InfraMon / docker logs throughput): $(echo "scale=2; $CLI_S / $IM_S" | bc)"
