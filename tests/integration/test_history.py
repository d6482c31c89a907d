"""Statistics history in the database on the real engine: 10-second points written by the
collector, history across a restart, retention at start and through POST /stats/prune,
compare, trends and the JSON and CSV exports."""

import calendar
import csv
import io
import sqlite3
import time

import harness

MIB = 1024 * 1024
HOUR = 3600
DAY = 86400

poll = harness.poll


def stored_points(database_path, name):
    """Return the number of 10-second points stored for the container called name."""
    with sqlite3.connect(f"file:{database_path}?mode=ro", uri=True, timeout=5) as db:
        row = db.execute(
            "SELECT count(*) FROM history_10s p JOIN history_series s ON s.id = p.series_id "
            "WHERE s.name = ?", (name,)).fetchone()
    return row[0]


def stored_cpu_max(database_path, name):
    """Return the highest CPU percent stored in 10-second points for name, or 0."""
    with sqlite3.connect(f"file:{database_path}?mode=ro", uri=True, timeout=5) as db:
        row = db.execute(
            "SELECT max(p.cpu_max) FROM history_10s p JOIN history_series s "
            "ON s.id = p.series_id WHERE s.name = ?", (name,)).fetchone()
    return row[0] or 0.0


def tier_times(database_path, tier, container_id):
    """Return the sorted point times of one series in one tier table."""
    with sqlite3.connect(f"file:{database_path}?mode=ro", uri=True, timeout=5) as db:
        rows = db.execute(
            f"SELECT p.t FROM history_{tier} p JOIN history_series s ON s.id = p.series_id "
            "WHERE s.container_id = ? ORDER BY p.t", (container_id,)).fetchall()
    return [row[0] for row in rows]


def insert_point(db, tier, series_id, t):
    """Insert one point with fixed values into a tier table."""
    gauges = [12.5, 40.0, 20.0,                    # cpu min, max, mean
              1000.0, 3000.0, 2000.0] + [1.0] * 15  # memory, then the rates and pids
    counters = [0, 100, 200, 300, 400]
    db.execute(f"INSERT INTO history_{tier} VALUES ({','.join('?' * 29)})",
               [series_id, t, 10, *gauges, *counters])


class HistoryTest(harness.IntegrationTestCase):

    def history(self, client, ref, period, **params):
        return client.get_json(f"/api/v1/containers/{ref}/stats/history",
                               params={"period": period, **params})

    def test_points_reach_database_and_survive_restart(self):
        server = self.start_server()
        client = server.login()
        # Two busy loops, so the container gets more than half a core even when other jobs
        # keep both cores busy.
        burner = self.docker.run_detached("sh", "-c",
                                          "while :; do :; done & while :; do :; done")
        holder = self.docker.run_detached(
            "sh", "-c", "dd if=/dev/zero of=/dev/shm/fill bs=1M count=64 && sleep 300",
            options=["--shm-size", "128m", "--memory", "256m"])

        # One 10-second point of each is in the database once a bucket has closed.
        # A point reaches the database once its 10-second bucket has closed. The deadline
        # is wide because other jobs may share these cores and slow the burner down.
        self.assertTrue(poll(lambda: stored_points(server.database_path, holder) >= 1,
                             timeout=45.0), "no 10-second point reached the database")
        self.assertTrue(poll(lambda: stored_cpu_max(server.database_path, burner) > 50.0,
                             timeout=45.0),
                        f"stored cpu max {stored_cpu_max(server.database_path, burner)}")

        hour = self.history(client, burner, "1h", aggregate="true")
        self.assertEqual(hour["source"], "10s")
        self.assertEqual(hour["resolution_seconds"], 10)
        self.assertTrue(hour["aggregate"])
        self.assertGreater(max(row["cpu_usage_max"] for row in hour["stats"]), 50.0)
        self.assertTrue(all(row["timestamp"].endswith("Z") for row in hour["stats"]))
        held = self.history(client, holder, "1h", aggregate="true")
        self.assertGreaterEqual(max(row["memory_usage_max"] for row in held["stats"]), 64 * MIB)
        self.assertEqual(held["stats"][-1]["memory_limit"], 256 * MIB)

        metrics = client.get("/metrics")
        self.assertEqual(metrics.status, 200)
        written = [line for line in metrics.text.splitlines()
                   if line.startswith("inframon_history_batches_written_total ")]
        self.assertEqual(len(written), 1, metrics.text[-2000:])
        self.assertGreaterEqual(float(written[0].split()[1]), 1)
        self.assertIn("inframon_history_batches_dropped_total 0", metrics.text)

        server.stop()
        restarted_at = time.time()
        server.start()
        client = server.login()
        after = self.history(client, burner, "1h", aggregate="true")
        before_restart = [row for row in after["stats"]
                          if harness_time(row["timestamp"]) < restarted_at - 1]
        self.assertTrue(before_restart, after)
        self.assertGreater(max(row["cpu_usage_max"] for row in before_restart), 50.0)

        system = client.get_json("/api/v1/stats/system/history", params={"period": "6h"})
        self.assertEqual(system["source"], "10s")
        self.assertTrue(system["stats"])

        # The 15-minute view reaches back past the restart too: memory starts empty, so
        # the points before it come from the 10-second tier.
        recent = self.history(client, burner, "15m", aggregate="true")
        self.assertIn(recent["source"], ("10s", "10s+memory"))
        earlier = [row for row in recent["stats"]
                   if harness_time(row["timestamp"]) < restarted_at - 1]
        self.assertTrue(earlier, recent)
        self.assertGreater(max(row["cpu_usage_max"] for row in earlier), 50.0)

    def test_retention_at_start_keeps_recent(self):
        server = self.start_server()
        server.stop()
        now = int(time.time())
        base = now - now % HOUR
        container_id = "ab" * 32
        with sqlite3.connect(server.database_path, timeout=5) as db:
            series_id = db.execute(
                "INSERT INTO history_series (container_id, name, first_seen, last_seen) "
                "VALUES (?, 'gone-web', ?, ?) RETURNING id",
                (container_id, base - 91 * DAY, base - 23 * HOUR)).fetchone()[0]
            for t in (base - 25 * HOUR, base - 23 * HOUR):
                insert_point(db, "10s", series_id, t)
            for t in (base - 8 * DAY, base - 6 * DAY):
                insert_point(db, "1m", series_id, t)
            for t in (base - 91 * DAY, base - 89 * DAY):
                insert_point(db, "1h", series_id, t)

        server.start()
        # At start the writer rolls the 10-second points up, then applies retention.
        self.assertTrue(poll(lambda: len(tier_times(server.database_path, "10s",
                                                    container_id)) == 1, timeout=15.0))
        self.assertTrue(poll(lambda: base - 89 * DAY in tier_times(server.database_path, "1h",
                                                                   container_id)
                             and base - 91 * DAY not in tier_times(server.database_path, "1h",
                                                                   container_id), timeout=15.0))
        self.assertEqual(tier_times(server.database_path, "10s", container_id),
                         [base - 23 * HOUR])
        self.assertEqual(tier_times(server.database_path, "1m", container_id),
                         [base - 6 * DAY, base - 25 * HOUR, base - 23 * HOUR])
        self.assertEqual(tier_times(server.database_path, "1h", container_id),
                         [base - 89 * DAY, base - 8 * DAY, base - 6 * DAY, base - 25 * HOUR,
                          base - 23 * HOUR])

        # The engine no longer lists the container, but its history is found by name.
        client = server.login()
        month = self.history(client, "gone-web", "30d")
        self.assertEqual(month["container_id"], container_id)
        self.assertEqual(month["source"], "1h")
        self.assertEqual(len(month["stats"]), 4)
        self.assertEqual(month["stats"][0]["cpu_usage"], 20.0)

        viewer = client.post("/api/v1/users", {
            "username": "viewer1", "email": "viewer1@example.com",
            "password": "Viewer-Pass-123", "password_confirm": "Viewer-Pass-123",
            "role": "viewer"})
        self.assertEqual(viewer.status, 201, viewer.text)
        viewer_client = server.client()
        viewer_client.login("viewer1", "Viewer-Pass-123")
        forbidden = viewer_client.post("/api/v1/stats/prune", params={"retention_days": "2"})
        self.assertEqual(forbidden.status, 403)
        self.assertEqual(client.post("/api/v1/stats/prune",
                                     params={"retention_days": "0"}).status, 422)

        pruned = client.post("/api/v1/stats/prune", {"retention_days": 2})
        self.assertEqual(pruned.status, 200, pruned.text)
        body = pruned.json()
        self.assertEqual(body["deleted_points"], {"10s": 0, "1m": 1, "1h": 3})
        self.assertEqual(tier_times(server.database_path, "1h", container_id),
                         [base - 25 * HOUR, base - 23 * HOUR])

    def test_compare_trends_and_exports(self):
        server = self.start_server()
        client = server.login()
        first = self.docker.run_detached("sleep", "300")
        second = self.docker.run_detached("sleep", "300")
        self.assertTrue(poll(lambda: len(self.history(client, first, "15m")["stats"]) >= 3
                             and len(self.history(client, second, "15m")["stats"]) >= 3))

        compare = client.get_json("/api/v1/stats/compare", params=[
            ("container_ids", first), ("container_ids", second), ("metric", "memory"),
            ("period", "15m")])
        self.assertEqual([c["container_name"] for c in compare["containers"]], [first, second])
        self.assertTrue(compare["containers"][0]["data"])
        self.assertGreater(compare["containers"][0]["max_value"], 0)
        missing = client.get("/api/v1/stats/compare", params={"period": "15m"})
        self.assertEqual(missing.status, 422)

        top = client.get_json("/api/v1/stats/top-consumers",
                              params={"metric": "memory", "period": "15m", "limit": "2"})
        self.assertEqual(top["period"], "15m")
        self.assertEqual(len(top["containers"]), 2)
        self.assertTrue(all(item["value"] > 0 for item in top["containers"]))
        values = [item["value"] for item in top["containers"]]
        self.assertEqual(values, sorted(values, reverse=True))
        bad_period = client.get("/api/v1/stats/top-consumers", params={"period": "2h"})
        self.assertEqual(bad_period.status, 422)

        trends = client.get_json("/api/v1/stats/trends",
                                 params={"metric": "cpu", "period": "15m"})
        self.assertIn(trends["trend"], ("increasing", "decreasing", "stable"))
        self.assertIn("change_percent", trends)
        self.assertTrue(trends["data"])

        response = client.get("/api/v1/stats/export", params={
            "stats_type": "container", "container_id": first, "period": "15m",
            "format": "csv"})
        self.assertEqual(response.status, 200, response.text)
        self.assertTrue(response.header("Content-Type").startswith("text/csv"))
        self.assertIn("attachment", response.header("Content-Disposition"))
        rows = list(csv.DictReader(io.StringIO(response.text)))
        self.assertGreaterEqual(len(rows), 3)
        for row in rows:
            self.assertTrue(row["timestamp"].endswith("Z"))
            self.assertGreaterEqual(float(row["cpu_usage_max"]), float(row["cpu_usage_min"]))
            self.assertGreater(int(row["memory_usage"].split(".")[0]), 0)
            self.assertGreaterEqual(int(row["samples"]), 1)
            # Only numbers follow the timestamp, so no field can start a spreadsheet formula.
            for column, value in row.items():
                if column != "timestamp":
                    self.assertRegex(value, r"^[0-9]+(\.[0-9]+)?$", column)
        self.assertNotIn(first, response.text)

        exported = client.get_json("/api/v1/stats/export", params={
            "stats_type": "system", "period": "15m", "format": "json"})
        self.assertIsNone(exported["container_id"])
        self.assertIn("cpu_usage_avg", exported["stats"][0])
        bad = client.get("/api/v1/stats/export", params={"format": "xml"})
        self.assertEqual(bad.status, 422)
        # A container_id without stats_type selects that container, not the host.
        implied = client.get_json("/api/v1/stats/export", params={
            "container_id": first, "period": "15m", "format": "json"})
        self.assertEqual(implied["stats_type"], "container")
        self.assertIsNotNone(implied["container_id"])
        mixed = client.get("/api/v1/stats/export", params={
            "stats_type": "system", "container_id": first, "period": "15m"})
        self.assertEqual(mixed.status, 422, mixed.text)
        self.assertIn("container_id", mixed.text)
        unknown = client.get("/api/v1/containers/no-such-container/stats/history")
        self.assertEqual(unknown.status, 404)

    def test_compare_long_list_kept_whole(self):
        # Four names of 128 characters, the longest reference the API takes, make one
        # container_ids value of 515 bytes. The last name is another container's name
        # with "-abc" added, so a value cut short would select that other container.
        server = self.start_server()
        client = server.login()
        fillers = [self.docker.run_detached("sleep", "300",
                                            name=harness.unique_name(f"fill{i}").ljust(128, "f"))
                   for i in range(3)]
        short = harness.unique_name("short").ljust(124, "s")
        self.docker.run_detached("sleep", "300", name=short)
        wanted = self.docker.run_detached("sleep", "300", name=short + "-abc")
        value = ",".join(fillers + [wanted])
        self.assertGreater(len(value), 512)

        compare = client.get_json("/api/v1/stats/compare",
                                  params={"container_ids": value, "period": "5m"})
        names = [item["container_name"] for item in compare["containers"]]
        self.assertEqual(names, fillers + [wanted])


def harness_time(timestamp):
    """Parse an ISO-8601 UTC timestamp with a Z into Unix seconds."""
    return calendar.timegm(time.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ"))


if __name__ == "__main__":
    harness.main()
