"""Process and filesystem statistics on the real engine: a container's processes from the
engine's top, the filesystems mounted in a container, and the host's top processes."""

import shutil
import tempfile

import harness


class ProcessStatsTest(harness.IntegrationTestCase):

    def setUp(self) -> None:
        super().setUp()
        self.server = self.start_server()
        self.client = self.server.login()

    def test_container_processes_from_top(self):
        name = self.docker.run_detached("sleep", "300")
        body = self.client.get_json(f"/api/v1/stats/containers/{name}/processes")
        self.assertEqual(body["container_name"], name)
        self.assertIn("PID", body["titles"])
        command = body["titles"].index("CMD")
        self.assertIn("sleep 300", [row[command] for row in body["processes"]])

        stopped = self.docker.create("true")
        response = self.client.get(f"/api/v1/stats/containers/{stopped}/processes")
        self.assertEqual(response.status, 409, response.text)
        missing = self.client.get("/api/v1/stats/containers/no-such-container/processes")
        self.assertEqual(missing.status, 404)

    def test_container_filesystems_with_volume(self):
        folder = tempfile.mkdtemp(prefix="inframon-fs-")
        self.addCleanup(shutil.rmtree, folder, True)
        name = self.docker.run_detached("sleep", "300", options=["-v", f"{folder}:/data"])
        items = self.client.get_json(f"/api/v1/stats/containers/{name}/filesystem")
        by_mount = {item["mount_point"]: item for item in items}
        self.assertIn("/", by_mount)
        self.assertIn("/data", by_mount)
        # /etc/hosts and the other single-file bind mounts are not filesystems to list.
        self.assertNotIn("/etc/hosts", by_mount)
        data = by_mount["/data"]
        self.assertGreater(data["total"], 0)
        self.assertGreaterEqual(data["free"], 0)
        self.assertGreaterEqual(data["percent"], 0)
        self.assertLessEqual(data["percent"], 100)

        stopped = self.docker.create("true")
        response = self.client.get(f"/api/v1/stats/containers/{stopped}/filesystem")
        self.assertEqual(response.status, 409, response.text)

    def test_system_processes_order_and_limit(self):
        by_memory = self.client.get_json("/api/v1/stats/system/processes",
                                         params={"limit": "5", "order_by": "memory"})
        self.assertEqual(len(by_memory["processes"]), 5)
        rss = [p["memory_rss"] for p in by_memory["processes"]]
        self.assertEqual(rss, sorted(rss, reverse=True))
        self.assertGreater(by_memory["total"], 5)
        first = by_memory["processes"][0]
        for field in ("pid", "name", "username", "status", "cpu_percent", "memory_percent",
                      "create_time"):
            self.assertIn(field, first)
        self.assertTrue(first["create_time"].endswith("Z"))

        by_pid = self.client.get_json("/api/v1/stats/system/processes",
                                      params={"limit": "10", "order_by": "pid"})
        pids = [p["pid"] for p in by_pid["processes"]]
        self.assertEqual(pids, sorted(pids))
        by_cpu = self.client.get_json("/api/v1/stats/system/processes")
        self.assertEqual(len(by_cpu["processes"]), 20)
        cpu = [p["cpu_percent"] for p in by_cpu["processes"]]
        self.assertEqual(cpu, sorted(cpu, reverse=True))

        for params in ({"order_by": "name"}, {"limit": "0"}, {"limit": "101"}):
            response = self.client.get("/api/v1/stats/system/processes", params=params)
            self.assertEqual(response.status, 422, params)


if __name__ == "__main__":
    harness.main()
