#!/usr/bin/env bash
# Install the Debian packages that building InfraMon and running its tests need.
#
# Idempotent: packages that dpkg already reports as installed are skipped, and
# apt-get update runs only when something is missing. Run as root (or with sudo
# available); CI runs it as root on a fresh Debian 12 machine.
#
#   scripts/deps.sh            build and test packages, then the npm packages
#   scripts/deps.sh --npm-only the npm packages only
#   scripts/deps.sh --bench    also the peers and load tools that bench/ compares against
#                              (not part of CI's run)
set -euo pipefail

packages=(
    # build
    build-essential cmake pkg-config clang libclang-rt-14-dev clang-format
    # libraries InfraMon links against
    libmicrohttpd-dev libwslay-dev libjansson-dev nettle-dev libcrypt-dev libyaml-dev
    libsqlite3-dev libpq-dev
    # TLS to a tcp:// engine, through the GnuTLS that libmicrohttpd loads anyway
    libgnutls28-dev
    # unit tests; libssl-dev for auth_test's OpenSSL cross-check of the JWT code
    libcmocka-dev libssl-dev
    # the private test engine (tests/engine/engine.sh) and its sample project
    docker.io busybox-static docker-compose
    # a loopback registry for the compose pull tests (tests/integration/test_compose_pull.py)
    docker-registry
    # tools the scripts and integration tests call
    sqlite3 curl openssl iproute2 procps python3
    # the Prometheus tests: the server and promtool (tests/integration/test_metrics.py)
    prometheus
    # the browser tests (tests/e2e) drive Debian's Chromium
    chromium
)

# bench/collector.sh runs its own netdata next to InfraMon; bench/list_wrk.sh drives wrk.
bench_packages=(netdata wrk)

log() { printf 'deps: %s\n' "$*"; }

# Installs the npm packages of web/ and tests/e2e/ from their lockfiles. `npm ci` runs only
# when node_modules is missing or older than package.json or package-lock.json, so a
# second run takes no time.
install_npm_packages() {
    local repo dir
    repo=$(cd "$(dirname "$0")/.." && pwd -P)
    if ! command -v npm >/dev/null 2>&1; then
        log "warning: npm not found: the web UI and the browser tests need Node.js 20 and npm"
        return 0
    fi
    for dir in "$repo/web" "$repo/tests/e2e"; do
        [ -f "$dir/package-lock.json" ] || continue
        local stamp=$dir/node_modules/.package-lock.json
        if [ -f "$stamp" ] && [ "$stamp" -nt "$dir/package-lock.json" ] &&
            [ "$stamp" -nt "$dir/package.json" ]; then
            continue
        fi
        log "running npm ci in ${dir#"$repo"/}"
        (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) || {
            log "error: npm ci failed in $dir; see the npm messages above" >&2
            exit 1
        }
    done
}

if [ "${1:-}" = --npm-only ]; then
    install_npm_packages
    exit 0
fi
if [ "${1:-}" = --bench ]; then
    packages+=("${bench_packages[@]}")
fi

missing=()
for pkg in "${packages[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    if [ "$status" != "install ok installed" ]; then
        missing+=("$pkg")
    fi
done

if [ "${#missing[@]}" -eq 0 ]; then
    log "all ${#packages[@]} packages already installed"
    install_npm_packages
    exit 0
fi

log "missing ${#missing[@]} of ${#packages[@]} packages: ${missing[*]}"

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
        log "error: installing packages needs root, and sudo is not available; rerun as root" >&2
        exit 1
    fi
    sudo_cmd=(sudo)
fi

export DEBIAN_FRONTEND=noninteractive
# Wait for another apt or dpkg run to release its lock instead of failing at once.
apt_options=(-o DPkg::Lock::Timeout=300 -o APT::Get::Assume-Yes=true)

apt_log=$(mktemp /tmp/inframon-deps-XXXXXX.log)
run_apt() {
    local step=$1
    shift
    local start=$SECONDS
    log "running apt-get $step"
    if ! "${sudo_cmd[@]}" apt-get "${apt_options[@]}" -q "$@" >"$apt_log" 2>&1; then
        log "error: apt-get $step failed; last lines of its output (full output in $apt_log):" >&2
        tail -n 30 "$apt_log" >&2
        exit 1
    fi
    log "apt-get $step done in $((SECONDS - start)) s"
}

run_apt update update
run_apt "install of ${missing[*]}" install --no-install-recommends "${missing[@]}"
rm -f "$apt_log"

# Where an init system runs services, Debian's netdata package starts a netdata on install
# (its own configuration opts out of anonymous statistics). It would skew the benchmarks,
# which start their own copy, so stop it.
if [ "${1:-}" = --bench ] && command -v systemctl >/dev/null 2>&1 &&
    systemctl is-active --quiet netdata 2>/dev/null; then
    "${sudo_cmd[@]}" systemctl disable --now netdata
    log "stopped and disabled the netdata service that the package started"
fi

still_missing=()
for pkg in "${missing[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    if [ "$status" != "install ok installed" ]; then
        still_missing+=("$pkg")
    fi
done
if [ "${#still_missing[@]}" -ne 0 ]; then
    log "error: still not installed after apt-get install: ${still_missing[*]}" >&2
    exit 1
fi
log "all ${#packages[@]} packages installed"
install_npm_packages
