#!/usr/bin/env python3
"""A simulated Docker Engine for the 1,000-container scale benchmark (bench/sim_scale.sh).

No machine here can start 1,000 real containers in reasonable time, so this program replaces
the engine and the kernel files of its containers:

- an Engine API server on a unix socket that answers the calls InfraMon makes: GET /_ping,
  GET /version, GET /containers/json (all=1 and the id filter), GET /containers/{id}/json
  and GET /events (held open, no events), with or without a /v1.41 prefix;
- a generated tree under ROOT: ROOT/sys/fs/cgroup/<controller>/docker/<id>/ with the cgroup
  v1 files InfraMon reads, ROOT/proc/<pid>/stat and ROOT/proc/<pid>/net/dev for each
  container's main process, and symbolic links from ROOT/proc and ROOT/sys to this host's
  own files for everything else (/proc/stat, /proc/1, /sys/class, ...).

Run InfraMon with DOCKER_HOST=unix://SOCKET HOST_PROC=ROOT/proc HOST_SYS=ROOT/sys. The
counters in the tree are fixed numbers written once: the benchmark measures InfraMon's own
work per container, and regular files on tmpfs cost the kernel less to read than real
cgroup files, which the kernel generates on every read.
"""

import argparse
import json
import os
import socketserver
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler

API_VERSION = "1.41"
FIRST_PID = 400000
# The counters written for every simulated container, close to those of an idle busybox.
CPUACCT_USAGE_NS = 52_123_456
MEMORY_USAGE = 1_234_944
MEMORY_STAT = (
    "cache 16384\nrss 135168\nrss_huge 0\nshmem 0\nmapped_file 0\ndirty 0\nwriteback 0\n"
    "swap 0\npgpgin 1080\npgpgout 743\npgfault 1386\npgmajfault 0\ninactive_anon 135168\n"
    "active_anon 0\ninactive_file 16384\nactive_file 0\nunevictable 0\n"
    "hierarchical_memory_limit 9223372036854771712\n"
    "hierarchical_memsw_limit 9223372036854771712\ntotal_cache 16384\ntotal_rss 135168\n"
    "total_rss_huge 0\ntotal_shmem 0\ntotal_mapped_file 0\ntotal_dirty 0\n"
    "total_writeback 0\ntotal_swap 0\ntotal_pgpgin 1080\ntotal_pgpgout 743\n"
    "total_pgfault 1386\ntotal_pgmajfault 0\ntotal_inactive_anon 135168\n"
    "total_active_anon 0\ntotal_inactive_file 16384\ntotal_active_file 0\n"
    "total_unevictable 0\n"
)
NET_DEV = (
    "Inter-|   Receive                                                |  Transmit\n"
    " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs "
    "drop fifo colls carrier compressed\n"
    "    lo:       0       0    0    0    0     0          0         0        0       0    0 "
    "   0    0     0       0          0\n"
    "  eth0:    1378      15    0    0    0     0          0         0      336       4    0 "
    "   0    0     0       0          0\n"
)


def container_id(index):
    """Returns a 64-hex-digit id that is stable for a given index."""
    return ("%08x" % (index + 1)) * 8


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="ascii") as f:
        f.write(text)


def build_tree(root, count):
    """Writes the cgroup and proc files of count containers under root."""
    sys_cgroup = os.path.join(root, "sys", "fs", "cgroup")
    proc = os.path.join(root, "proc")
    os.makedirs(sys_cgroup, exist_ok=True)
    os.makedirs(proc, exist_ok=True)
    for name in os.listdir("/proc"):
        if not name.isdigit():
            os.symlink(os.path.join("/proc", name), os.path.join(proc, name))
    os.symlink("/proc/1", os.path.join(proc, "1"))
    for name in os.listdir("/sys"):
        if name != "fs":
            os.symlink(os.path.join("/sys", name), os.path.join(root, "sys", name))
    for index in range(count):
        cid = container_id(index)
        pid = FIRST_PID + index
        base = lambda controller: os.path.join(sys_cgroup, controller, "docker", cid)
        write(os.path.join(base("cpuacct"), "cpuacct.usage"), "%d\n" % CPUACCT_USAGE_NS)
        write(os.path.join(base("cpuacct"), "cpuacct.stat"), "user 3\nsystem 2\n")
        write(os.path.join(base("cpu"), "cpu.stat"),
              "nr_periods 0\nnr_throttled 0\nthrottled_time 0\n")
        write(os.path.join(base("cpu"), "cpu.cfs_quota_us"), "-1\n")
        write(os.path.join(base("cpu"), "cpu.cfs_period_us"), "100000\n")
        write(os.path.join(base("memory"), "memory.usage_in_bytes"), "%d\n" % MEMORY_USAGE)
        write(os.path.join(base("memory"), "memory.limit_in_bytes"), "9223372036854771712\n")
        write(os.path.join(base("memory"), "memory.stat"), MEMORY_STAT)
        write(os.path.join(base("blkio"), "blkio.throttle.io_service_bytes"),
              "8:0 Read 4096\n8:0 Write 0\n8:0 Sync 4096\n8:0 Async 0\n8:0 Total 4096\n"
              "Total 4096\n")
        write(os.path.join(base("pids"), "pids.current"), "1\n")
        write(os.path.join(proc, str(pid), "net", "dev"), NET_DEV)
        write(os.path.join(proc, str(pid), "stat"),
              "%d (sleep) S 1 %d %d 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 %d 1290240 1 "
              "18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n"
              % (pid, pid, pid, 100000 + index))


def list_item(index):
    cid = container_id(index)
    return {
        "Id": cid,
        "Names": ["/sim-c-%d" % (index + 1)],
        "Image": "inframon-test/busybox:latest",
        "ImageID": "sha256:" + "ab" * 32,
        "Command": "sleep 86400",
        "Created": 1764806400,
        "Ports": [],
        "Labels": {"bench": "sim"},
        "State": "running",
        "Status": "Up 1 hour",
        "HostConfig": {"NetworkMode": "inframon-test"},
        "NetworkSettings": {"Networks": {"inframon-test": {"IPAddress": "172.30.0.%d" % (index % 250 + 2)}}},
        "Mounts": [],
    }


def inspect(index):
    cid = container_id(index)
    return {
        "Id": cid,
        "Name": "/sim-c-%d" % (index + 1),
        "Created": "2025-12-04T00:00:00.000000000Z",
        "Image": "sha256:" + "ab" * 32,
        "RestartCount": 0,
        "State": {"Status": "running", "Running": True, "Paused": False, "Restarting": False,
                  "OOMKilled": False, "Dead": False, "Pid": FIRST_PID + index, "ExitCode": 0,
                  "Error": "", "StartedAt": "2025-12-04T00:00:01.000000000Z",
                  "FinishedAt": "0001-01-01T00:00:00Z"},
        "Config": {"Image": "inframon-test/busybox:latest", "Labels": {"bench": "sim"},
                   "Env": [], "Cmd": ["sleep", "86400"]},
        "HostConfig": {"NetworkMode": "inframon-test", "Memory": 0, "NanoCpus": 0},
        "NetworkSettings": {"Networks": {}},
        "Mounts": [],
    }


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "inframon-sim-engine"
    count = 0
    requests = 0
    lock = threading.Lock()

    def log_message(self, format, *args):  # noqa: A002 - the base class names it so
        pass

    def reply(self, status, body, content_type="application/json"):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Api-Version", API_VERSION)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        with Handler.lock:
            Handler.requests += 1
        url = urllib.parse.urlsplit(self.path)
        path = url.path
        if path.startswith("/v1."):
            path = path[path.index("/", 1):]
        query = urllib.parse.parse_qs(url.query)
        if path == "/_ping":
            self.reply(200, b"OK", "text/plain; charset=utf-8")
        elif path == "/version":
            self.reply(200, {"Version": "20.10.24-sim", "ApiVersion": API_VERSION,
                             "MinAPIVersion": "1.12", "Os": "linux", "Arch": "amd64",
                             "KernelVersion": os.uname().release,
                             "Components": [{"Name": "Engine", "Version": "20.10.24-sim"}]})
        elif path == "/containers/json":
            items = [list_item(i) for i in range(self.count)]
            filters = json.loads(query.get("filters", ["{}"])[0])
            ids = filters.get("id")
            if ids:
                items = [item for item in items if any(item["Id"].startswith(i) for i in ids)]
            self.reply(200, items)
        elif path == "/events":
            self.hold_events()
        elif path.startswith("/containers/") and path.endswith("/json"):
            cid = path[len("/containers/"):-len("/json")]
            for index in range(self.count):
                if container_id(index).startswith(cid) or "sim-c-%d" % (index + 1) == cid:
                    self.reply(200, inspect(index))
                    return
            self.reply(404, {"message": "No such container: " + cid})
        else:
            self.reply(404, {"message": "page not found: " + self.path})

    def hold_events(self):
        """Keeps the events stream open without events until the client leaves."""
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Api-Version", API_VERSION)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        while True:
            time.sleep(3600)


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--socket", required=True, help="path of the unix socket to listen on")
    parser.add_argument("--root", required=True, help="empty folder for the generated tree")
    parser.add_argument("--containers", type=int, default=1000, help="number of containers")
    args = parser.parse_args()
    build_tree(args.root, args.containers)
    Handler.count = args.containers
    server = Server(args.socket, Handler)
    print("sim_engine: %d containers, socket %s, tree %s" % (args.containers, args.socket, args.root),
          flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
