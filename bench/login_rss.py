#!/usr/bin/env python3
"""Compare the resident memory (VmRSS) of `inframon serve` builds after a login.

    INFRAMON_TEST_DOCKER_HOST=unix://DIR/docker.sock \\
        python3 bench/login_rss.py [--containers N] [--rounds R] [--settle S] BINARY...

Starts N busybox containers on the private test engine (tests/engine/engine.sh start).
Then, R times in turn for each binary, it starts the server with a fresh database and
waits until the server lists all N containers as running. It logs in, refreshes the
tokens and lists the containers, so that the JWT, HMAC and random code has run. After S
more seconds it reads VmRSS from /proc/PID/status. It prints one Markdown table with each
reading and the median per binary, then the largest resident mappings per binary from
/proc/PID/smaps, and removes the containers. Run it on an otherwise idle machine, because
other load changes what the kernel keeps resident.
"""
import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
import harness  # noqa: E402


def vmrss_kib(pid: int) -> int:
    """Return the VmRSS of pid in KiB."""
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS line in /proc/{pid}/status")


def rss_by_mapping(pid: int) -> dict:
    """Return the resident KiB of pid per mapped file ("[anon]" for the rest)."""
    totals: dict = {}
    name = "[anon]"
    with open(f"/proc/{pid}/smaps", encoding="utf-8", errors="replace") as smaps:
        for line in smaps:
            fields = line.split()
            if fields[0].endswith(":"):
                if fields[0] == "Rss:":
                    totals[name] = totals.get(name, 0) + int(fields[1])
                continue
            # A mapping's header line: address, perms, offset, device, inode[, path].
            name = os.path.basename(fields[5]) if len(fields) > 5 else "[anon]"
    return totals


def measure(binary: str, containers: int, settle: float) -> tuple:
    """Run one server from binary through the login sequence and return its VmRSS in KiB
    and its resident KiB per mapped file."""
    os.environ["INFRAMON_BIN"] = binary
    server = harness.Server()
    try:
        server.start()
        client = server.login()
        listed = harness.poll(
            lambda: client.get_json("/api/v1/containers")["data"]["running"] >= containers,
            timeout=120)
        if not listed:
            raise harness.HarnessError(f"the server did not list {containers} running "
                                       "containers within 120 s")
        response = client.post("/api/v1/auth/refresh", {"refresh_token": client.refresh_token},
                               auth=False)
        if response.status != 200:
            raise harness.HarnessError(f"refresh failed with status {response.status}")
        client.token = response.json()["access_token"]
        client.get_json("/api/v1/containers")
        time.sleep(settle)
        pid = server.process.pid
        return vmrss_kib(pid), rss_by_mapping(pid)
    finally:
        server.cleanup()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--containers", type=int, default=100,
                        help="running containers on the engine (default 100)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="readings per binary, taken in turn (default 3)")
    parser.add_argument("--settle", type=float, default=10.0,
                        help="seconds to wait after the requests before reading (default 10)")
    parser.add_argument("--top", type=int, default=8,
                        help="mapped files to list per binary, largest first (default 8)")
    parser.add_argument("binaries", nargs="+", help="inframon binaries to compare")
    args = parser.parse_args()

    docker = harness.Docker()
    docker.ping()
    try:
        for _ in range(args.containers):
            docker.run_detached("sleep", "3600")
        readings = {binary: [] for binary in args.binaries}
        mappings = {}
        for _ in range(args.rounds):
            for binary in args.binaries:
                rss, mappings[binary] = measure(binary, args.containers, args.settle)
                readings[binary].append(rss)
    finally:
        docker.cleanup()

    print("| binary | VmRSS per round (MB) | median (MB) |")
    print("|---|---|---|")
    for binary, values in readings.items():
        rounds = ", ".join(f"{kib / 1024:.1f}" for kib in values)
        print(f"| {binary} | {rounds} | {statistics.median(values) / 1024:.1f} |")
    print()
    print(f"Largest resident mappings in the last round (KiB), top {args.top}:")
    for binary, totals in mappings.items():
        largest = sorted(totals.items(), key=lambda item: -item[1])[:args.top]
        print(f"- {binary}: " + ", ".join(f"{name} {kib}" for name, kib in largest))
    return 0


if __name__ == "__main__":
    sys.exit(main())
