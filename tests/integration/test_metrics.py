"""GET /metrics: authentication, `promtool check metrics`, and a real Prometheus server
(Debian's prometheus package) on loopback that scrapes InfraMon and returns the result of a PromQL
query for a test container's CPU rate."""

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request

import harness

# node_exporter names such as node_memory_MemTotal_bytes break promtool's snake_case lint
# (exit 3). They are kept because dashboards query them by these names; promtool's only
# accepted complaint is that one.
NODE_EXPORTER_CAMEL_CASE = re.compile(
    r"^node_memory_[A-Za-z]+_bytes metric names should be written in 'snake_case' not "
    r"'camelCase'$")


def poll(predicate, timeout=60.0, interval=0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()


def require_tool(name):
    path = shutil.which(name)
    if not path:
        raise harness.HarnessError(
            f"{name} is not installed; run scripts/deps.sh (Debian package prometheus)")
    return path


class MetricsTest(harness.IntegrationTestCase):

    def test_token_required_unless_public(self):
        server = self.start_server()
        client = server.login()
        self.assertEqual(client.get("/metrics", auth=False).status, 401)
        response = client.get("/metrics")
        self.assertEqual(response.status, 200)
        self.assertTrue(response.header("Content-Type").startswith("text/plain; version=0.0.4"))
        public = self.start_server(env={"METRICS_PUBLIC": "true"})
        self.assertEqual(public.client().get("/metrics", auth=False).status, 200)

    def test_names_and_promtool(self):
        name = self.docker.run_detached("sleep", "300")
        server = self.start_server()
        client = server.login()
        text = poll(lambda: (t := client.get("/metrics").text) and f'name="{name}"' in t and t)
        self.assertTrue(text)
        for metric in ("container_cpu_usage_seconds_total", "container_memory_usage_bytes",
                       "container_memory_working_set_bytes",
                       "container_network_receive_bytes_total",
                       "container_network_transmit_bytes_total",
                       "container_fs_reads_bytes_total", "container_fs_writes_bytes_total",
                       "container_last_seen", "node_cpu_seconds_total",
                       "node_memory_MemTotal_bytes", "node_memory_MemAvailable_bytes",
                       "node_filesystem_size_bytes", "node_network_receive_bytes_total",
                       "node_load1", "inframon_collector_cycles_total",
                       "inframon_collector_duration_seconds"):
            self.assertIn(f"\n# TYPE {metric} ", "\n" + text, metric)
        self.assertRegex(text, r'container_cpu_usage_seconds_total\{id="/docker/[0-9a-f]{64}",'
                               r'image="[^"]+",name="' + re.escape(name) + r'"\} ')
        # No engine stats API call while the cgroup files are readable.
        self.assertIn("\ninframon_engine_stats_calls_total 0\n", text)
        # The server has made engine requests (version, list, events), and counts them.
        self.assertRegex(text, r"\ninframon_engine_requests_total [1-9][0-9]*\n")

        # Container values are written with the fewest digits that read back exactly.
        for line in text.splitlines():
            if line.startswith("container_"):
                value = line.rsplit(" ", 1)[1]
                shorter = f"{float(value):.15g}"
                if float(shorter) == float(value):
                    self.assertLessEqual(len(value), len(shorter), line)

        result = subprocess.run([require_tool("promtool"), "check", "metrics"], input=text,
                                capture_output=True, text=True, timeout=60)
        problems = [line for line in (result.stdout + result.stderr).splitlines() if line]
        unexpected = [p for p in problems if not NODE_EXPORTER_CAMEL_CASE.match(p)]
        self.assertIn(result.returncode, (0, 3), result.stderr)
        self.assertEqual(unexpected, [])

    def test_process_metrics_match_proc(self):
        started = time.time()
        server = self.start_server()
        client = server.login()
        pid = server.process.pid

        def sample(name, text):
            match = re.search(r"\n" + name + r" ([0-9.e+]+)\n", text)
            self.assertIsNotNone(match, name)
            return float(match.group(1))

        first = client.get("/metrics").text
        with open(f"/proc/{pid}/status") as f:
            vm_rss = int(re.search(r"VmRSS:\s+(\d+) kB", f.read()).group(1)) * 1024
        open_fds = len(os.listdir(f"/proc/{pid}/fd"))
        rss = sample("process_resident_memory_bytes", first)
        # Both readings move a little between the scrape and the read above.
        self.assertGreater(rss, vm_rss / 2)
        self.assertLess(rss, vm_rss * 2)
        self.assertGreater(sample("process_virtual_memory_bytes", first), rss)
        self.assertAlmostEqual(sample("process_open_fds", first), open_fds, delta=8)
        self.assertGreater(sample("process_max_fds", first), open_fds)
        self.assertAlmostEqual(sample("process_start_time_seconds", first), started, delta=30)

        # Spend CPU in the server (each scrape formats every metric), and see it counted.
        cpu_before = sample("process_cpu_seconds_total", first)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if sample("process_cpu_seconds_total", client.get("/metrics").text) > cpu_before:
                break
        self.assertGreater(sample("process_cpu_seconds_total", client.get("/metrics").text),
                           cpu_before)

    def test_real_prometheus_scrapes_cpu_rate(self):
        prometheus = require_tool("prometheus")
        name = self.docker.run_detached("sh", "-c", "while :; do :; done")
        server = self.start_server()
        client = server.login()

        folder = tempfile.mkdtemp(prefix="im-prometheus-")
        self.addCleanup(shutil.rmtree, folder, True)
        token_file = os.path.join(folder, "token")
        with open(token_file, "w") as f:
            f.write(client.token)
        port = harness.free_port()
        config = os.path.join(folder, "prometheus.yml")
        with open(config, "w") as f:
            f.write(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                "scrape_configs:\n  - job_name: inframon\n    metrics_path: /metrics\n"
                f"    authorization:\n      credentials_file: {token_file}\n"
                f"    static_configs:\n      - targets: ['127.0.0.1:{server.port}']\n")
        log = open(os.path.join(folder, "prometheus.log"), "w")
        self.addCleanup(log.close)
        process = subprocess.Popen(
            [prometheus, f"--config.file={config}",
             f"--storage.tsdb.path={os.path.join(folder, 'data')}",
             f"--web.listen-address=127.0.0.1:{port}"],
            stdout=log, stderr=subprocess.STDOUT)
        self.addCleanup(self.stop_process, process)

        query = f'rate(container_cpu_usage_seconds_total{{name="{name}"}}[5s])'
        url = (f"http://127.0.0.1:{port}/api/v1/query?"
               + urllib.parse.urlencode({"query": query}))

        def rate():
            try:
                with urllib.request.urlopen(url, timeout=5) as reply:
                    body = json.load(reply)
            except OSError:
                return None
            results = body.get("data", {}).get("result", [])
            return float(results[0]["value"][1]) if results else None

        value = poll(lambda: (r := rate()) is not None and r > 0 and r)
        if not value:
            with open(os.path.join(folder, "prometheus.log")) as f:
                print(f.read()[-4000:])
        self.assertTrue(value, f"no positive {query} from Prometheus")
        # A busy-loop burns up to one core: the rate is in CPU seconds per second.
        self.assertLessEqual(value, 1.5)

    @staticmethod
    def stop_process(process):
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


if __name__ == "__main__":
    harness.main()
