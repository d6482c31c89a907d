# shellcheck shell=bash
# Helpers shared by the bench/ scripts: sourced, not run. They need ROOT (the repository)
# and WORK (the run's temporary folder) set by the caller.

# Prints the given pids and every descendant of them, one per line.
tree_pids() {
    ps -e -o pid=,ppid= | awk -v roots="$*" '
        BEGIN { n = split(roots, r, " "); for (i = 1; i <= n; i++) keep[r[i]] = 1 }
        { parent[$1] = $2 }
        END {
            changed = 1
            while (changed) {
                changed = 0
                for (p in parent) if (!(p in keep) && (parent[p] in keep)) { keep[p] = 1; changed = 1 }
            }
            for (p in keep) if (p in parent) print p
        }'
}

# Prints the CPU time of the given processes in clock ticks: utime + stime of each, plus
# cutime + cstime, so children that exited and were reaped still count. Sum it over a whole
# process tree to charge short-lived helpers to the process that started them.
cpu_ticks() {
    local pid total=0 fields
    for pid in "$@"; do
        fields=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null) || continue
        # After the command name: state is field 1, utime 12, stime 13, cutime 14, cstime 15.
        # shellcheck disable=SC2086 # split on purpose
        set -- $fields
        total=$((total + ${12} + ${13} + ${14} + ${15}))
    done
    echo "$total"
}

# Prints the summed VmRSS of the given processes in KiB.
rss_kb() {
    local pid total=0 kb
    for pid in "$@"; do
        kb=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2>/dev/null)
        total=$((total + ${kb:-0}))
    done
    echo "$total"
}

# Prints the pids of a private engine (tests/engine/engine.sh start DIR): dockerd, the
# containerd it supervises, and the containerd shims of its containers. Container workloads
# are left out.
engine_pids() {
    local dir=$1 address cmdline pid
    address=$dir/exec/containerd/containerd.sock
    cat "$dir/dockerd.pid" "$dir/exec/containerd/containerd.pid" 2>/dev/null | tr -dc '0-9\n'
    echo
    for cmdline in $(grep -laF -- "$address" /proc/[0-9]*/cmdline 2>/dev/null || true); do
        pid=${cmdline#/proc/}
        pid=${pid%/cmdline}
        if tr '\0' ' ' <"$cmdline" 2>/dev/null | grep -q '^[^ ]*containerd-shim'; then
            echo "$pid"
        fi
    done
}

# Prints a process's CPU use between two cpu_ticks readings as percent of one core.
percent_of_core() {
    local ticks=$1 seconds=$2
    echo "scale=2; $ticks * 100 / $(getconf CLK_TCK) / $seconds" | bc
}

# Starts `inframon serve` from binary $1 on port $2 with its database and log under $3,
# extra settings as NAME=VALUE arguments after those. Sets SERVER_PID.
start_inframon() {
    local bin=$1 port=$2 dir=$3
    shift 3
    mkdir -p "$dir"
    (cd "$dir" && exec env HOST=127.0.0.1 PORT="$port" DEBUG=false \
        SECRET_KEY="$(head -c 48 /dev/urandom | base64 | tr -d '/+=' | head -c 48)" \
        ADMIN_PASSWORD="$BENCH_PASSWORD" DATABASE_URL="sqlite:///$dir/db.sqlite" \
        LOG_LEVEL=warn "$@" "$bin" serve >"$dir/server.log" 2>&1) &
    SERVER_PID=$!
    local _
    for _ in $(seq 1 200); do
        curl -sf "http://127.0.0.1:$port/health" >/dev/null && return 0
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "bench: inframon on port $port did not start; its log:" >&2
    cat "$dir/server.log" >&2
    return 1
}

BENCH_PASSWORD=Bench-Password-123

# Prints an access token for the admin user of the server on port $1.
login_token() {
    curl -sf -X POST "http://127.0.0.1:$1/api/v1/auth/login" -H 'Content-Type: application/json' \
        -d "{\"username\":\"admin\",\"password\":\"$BENCH_PASSWORD\"}" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}

# Prints the value of Prometheus sample NAME (exact name and labels) from the server on
# port $1 with token $2.
metric_value() {
    curl -sf -H "Authorization: Bearer $2" "http://127.0.0.1:$1/metrics" |
        awk -v name="$3" '$1 == name { print $2; found = 1 } END { if (!found) print "missing" }'
}

# Prints the machine line the tables are recorded with.
machine_line() {
    local cpu
    cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
    echo "machine: $(nproc) CPUs ($cpu), $(awk '/^MemTotal:/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)," \
        "kernel $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)"
}
