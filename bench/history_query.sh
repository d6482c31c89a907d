#!/usr/bin/env bash
# Time the 24-hour history query of one container over HTTP, and measure the disk use of
# the history tiers.
#
#   bench/history_query.sh [BUILD_DIR]
#
# 1. Builds bench/history_fill.c against BUILD_DIR/libimcore.a (default build) and fills a
#    new SQLite file through the store with HOURS (default 24) of 10-second points for
#    CONTAINERS (default 100) containers, one transaction per 10-second bucket as the
#    history writer does, then rolls them up. It prints the bytes of each tier's table.
# 2. Starts `inframon serve` on 127.0.0.1:PORT with that file. DOCKER_HOST names a socket
#    path in the work folder that nothing listens on, so the server runs without an
#    engine and the container is found through its stored history, by name.
# 3. Sends RUNS (default 200) requests of
#      GET /api/v1/containers/bench-000/stats/history?period=24h
#    over one keep-alive connection after WARMUP (default 20) unmeasured ones, and prints
#    the median, 90th percentile and max client-side latency, and the server's own
#    median from its access log. Then RUNS/4 requests with points=5000&aggregate=true,
#    which read the 10-second tier at full resolution.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=${1:-build}
BIN=$ROOT/$BUILD_DIR/inframon
LIB=$ROOT/$BUILD_DIR/libimcore.a
CONTAINERS=${CONTAINERS:-100}
HOURS=${HOURS:-24}
RUNS=${RUNS:-200}
WARMUP=${WARMUP:-20}
PORT=${PORT:-18598}
PASSWORD=Bench-Password-123

[ -x "$BIN" ] || { echo "bench: $BIN not found; build first (cmake --build $BUILD_DIR)" >&2; exit 1; }
[ -f "$LIB" ] || { echo "bench: $LIB not found; build first" >&2; exit 1; }
WORK=$(mktemp -d /tmp/im-bench-history-XXXXXX)
SERVER_PID=
cleanup() {
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), $(uname -r)"
echo "sqlite: $(sqlite3 --version 2>/dev/null | cut -d' ' -f1 || echo unknown)"

# shellcheck disable=SC2046 # pkg-config prints several flags on purpose
cc -O2 -std=c11 -D_GNU_SOURCE -I"$ROOT/src" "$ROOT/bench/history_fill.c" "$LIB" \
    $(pkg-config --libs libmicrohttpd gnutls jansson sqlite3 libcrypt nettle yaml-0.1) \
    -lwslay -lpthread -lm -o "$WORK/history_fill"

DB=$WORK/inframon.db
echo "filling $DB: $CONTAINERS containers x $HOURS h of 10-second points"
"$WORK/history_fill" "$DB" "$CONTAINERS" "$HOURS" 2>/dev/null
echo "database file: $(stat -c %s "$DB") bytes (plus $(stat -c %s "$DB-wal" 2>/dev/null || echo 0) in the WAL)"

cd "$WORK"
env -i PATH="$PATH" HOST=127.0.0.1 PORT="$PORT" DEBUG=false \
    SECRET_KEY=bench-secret-key-0123456789-abcdefghijklmnop ADMIN_PASSWORD=$PASSWORD \
    DATABASE_URL="sqlite:///$DB" DOCKER_HOST="unix://$WORK/no-engine.sock" \
    RATE_LIMIT_MAX_REQUESTS=1000000 LOG_LEVEL=info "$BIN" serve >"$WORK/server.log" 2>&1 &
SERVER_PID=$!

python3 - "$PORT" "$PASSWORD" "$RUNS" "$WARMUP" <<'EOF'
import http.client
import json
import statistics
import sys
import time

port, password, runs, warmup = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
deadline = time.monotonic() + 30
while True:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/health")
        if conn.getresponse().status == 200:
            break
    except OSError:
        pass
    if time.monotonic() > deadline:
        sys.exit("bench: the server did not become healthy in 30 s")
    time.sleep(0.2)
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
conn.request("POST", "/api/v1/auth/login",
             body=json.dumps({"username": "admin", "password": password}),
             headers={"Content-Type": "application/json"})
token = json.loads(conn.getresponse().read())["access_token"]
headers = {"Authorization": f"Bearer {token}"}


def measure(path, count):
    """Time count requests of path after the warm-up ones and print the figures."""
    latencies = []
    for i in range(warmup + count):
        started = time.perf_counter()
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        body = response.read()
        elapsed = (time.perf_counter() - started) * 1000
        if response.status != 200:
            sys.exit(f"bench: {path} returned {response.status}: {body[:200]!r}")
        if i >= warmup:
            latencies.append(elapsed)
    reply = json.loads(body)
    latencies.sort()
    print(f"GET {path}: {len(reply['stats'])} rows from tier {reply['source']} "
          f"({reply['resolution_seconds']} s buckets), {len(body)} bytes")
    print(f"  client latency over {count} runs: median {statistics.median(latencies):.2f} ms, "
          f"p90 {latencies[int(len(latencies) * 0.9) - 1]:.2f} ms, max {latencies[-1]:.2f} ms")


# The default request (500 buckets), then the full 10-second resolution for comparison.
measure("/api/v1/containers/bench-000/stats/history?period=24h", runs)
measure("/api/v1/containers/bench-000/stats/history?period=24h&points=5000&aggregate=true",
        max(runs // 4, 1))
EOF

# The access log ends each line with the server-side duration, such as "3.0ms". The first
# WARMUP + RUNS history requests are the default ones.
grep 'stats/history 200' "$WORK/server.log" | head -n $((WARMUP + RUNS)) | tail -n "$RUNS" |
    sed -n 's/.* \([0-9.]*\)ms$/\1/p' | sort -n |
    awk '{ v[NR] = $1 } END { if (NR) printf "server-side median %.2f ms over %d requests\n", v[int((NR + 1) / 2)], NR }'
