"""Compose project pulls on the real engine, from a registry on loopback.

The test starts Debian's docker-registry on 127.0.0.1 with its storage in a temporary
folder, pushes images to it through the private test engine, and pulls them back through
POST /compose/projects/{name}/pull. No other registry is contacted: every image name
carries the loopback registry's address, which dockerd accepts over plain HTTP because
it treats 127.0.0.0/8 as an insecure registry by default."""

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid

import harness

REGISTRY_BINARY = "/usr/bin/docker-registry"
REGISTRY_START_SECONDS = 15.0
# Size of the random layer that the progress test downloads. Random bytes do not
# compress, so the engine reports about this many bytes of download progress.
LAYER_BYTES = 3 * 1024 * 1024


class Registry:
    """A docker-registry process on a free loopback port, storing under a temp folder."""

    def __init__(self) -> None:
        if not os.access(REGISTRY_BINARY, os.X_OK):
            raise harness.HarnessError(f"{REGISTRY_BINARY} not found; install the Debian "
                                       "package docker-registry (make deps)")
        self.folder = tempfile.mkdtemp(prefix="inframon-registry-")
        self.port = harness.free_port()
        self.address = f"127.0.0.1:{self.port}"
        config = os.path.join(self.folder, "config.yml")
        with open(config, "w") as f:
            f.write("version: 0.1\n"
                    "log:\n  level: warn\n"
                    f"storage:\n  filesystem:\n    rootdirectory: {self.folder}/data\n"
                    f"http:\n  addr: {self.address}\n")
        self.log = open(os.path.join(self.folder, "registry.log"), "w")
        self.process = subprocess.Popen([REGISTRY_BINARY, "serve", config],
                                        stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + REGISTRY_START_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise harness.HarnessError(f"docker-registry did not listen on {self.address}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
        shutil.rmtree(self.folder, ignore_errors=True)


def read_events(response: http.client.HTTPResponse) -> list:
    """Read a text/event-stream response to its end as [(event, data), ...]."""
    events = []
    name, data = "message", []
    for raw in response:
        line = raw.decode().rstrip("\n")
        if line == "":
            if data:
                events.append((name, json.loads("\n".join(data))))
            name, data = "message", []
        elif line.startswith("event: "):
            name = line[len("event: "):]
        elif line.startswith("data: "):
            data.append(line[len("data: "):])
    return events


class PullTestCase(harness.IntegrationTestCase):
    """A registry, a server and a fresh compose project name per test."""

    SERVER_ENV: dict = {}

    def setUp(self) -> None:
        super().setUp()
        self.registry = Registry()
        self.addCleanup(self.registry.stop)
        self.project = "pull" + uuid.uuid4().hex[:8]
        self.server = self.start_server(env=self.SERVER_ENV)
        self.client = self.server.login()

    def image(self, name: str) -> str:
        return f"{self.registry.address}/imtest/{name}-{self.project}:1"

    def remove_image(self, image: str) -> None:
        self.docker.run("rmi", "-f", image, check=False)

    def service_container(self, image: str, service: str) -> str:
        """Create a stopped container of the project that runs image."""
        return self.docker.create("true", image=image, options=[
            "--label", f"com.docker.compose.project={self.project}",
            "--label", f"com.docker.compose.service={service}"])

    def start_pull(self) -> tuple:
        """Request a streamed pull and return (connection, response) after the headers,
        whatever the status."""
        conn = http.client.HTTPConnection(self.server.host, self.server.port, timeout=120)
        conn.request("POST", f"/api/v1/compose/projects/{self.project}/pull",
                     headers={"Authorization": f"Bearer {self.client.token}",
                              "Accept": "text/event-stream"})
        return conn, conn.getresponse()

    def open_pull(self) -> tuple:
        """Start a streamed pull and return (connection, response) after the headers."""
        conn, response = self.start_pull()
        self.assertEqual(response.status, 200)
        self.assertTrue(response.getheader("Content-Type").startswith("text/event-stream"))
        return conn, response

    def publish_new_content(self, image: str) -> None:
        """Give the project a container of image, then push new content under the same
        tag, with a random layer, and remove the tag locally, so that a pull must
        download that layer."""
        self.addCleanup(self.remove_image, image)
        # The project's container runs the old content of the tag.
        self.docker.run("tag", harness.TEST_IMAGE, image)
        self.service_container(image, "web")
        builder = self.docker.run_detached(
            "sh", "-c", f"head -c {LAYER_BYTES} /dev/urandom > /blob && sleep 300")
        harness.poll(lambda: self.docker.run("exec", builder, "test", "-s", "/blob",
                                             check=False).returncode == 0)
        self.docker.run("commit", builder, image)
        self.docker.run("push", image)
        self.docker.remove_container(builder)
        self.remove_image(image)
        self.assertFalse(self.image_present(image))

    def image_present(self, image: str) -> bool:
        return self.docker.run("image", "inspect", image, check=False).returncode == 0

    def stream_pull(self) -> list:
        conn, response = self.open_pull()
        try:
            return read_events(response)
        finally:
            conn.close()


class ComposePullTest(PullTestCase):

    def test_pull_streams_download_progress(self):
        image = self.image("app")
        self.publish_new_content(image)

        events = self.stream_pull()
        progress = [data for name, data in events if name == "progress"]
        downloads = [p for p in progress if p["status"] == "Downloading"]
        self.assertTrue(downloads, f"no download progress in {events}")
        for event in downloads:
            self.assertEqual(event["image"], image)
            self.assertGreater(event["total"], 0)
            self.assertLessEqual(event["current"], event["total"])
        self.assertGreaterEqual(downloads[-1]["image_total"], LAYER_BYTES)
        self.assertEqual(progress[-1]["image_current"], progress[-1]["image_total"])

        results = [data for name, data in events if name == "result"]
        self.assertEqual(len(results), 1)
        self.assertEqual(results[0]["image"], image)
        self.assertTrue(results[0]["success"], results[0])
        self.assertIn("Downloaded newer image", results[0]["message"])
        self.assertEqual(events[-1][0], "summary")
        self.assertEqual(events[-1][1]["failed"], 0)
        self.assertEqual(events[-1][1]["total"], 1)
        # The engine now has the registry's content under the tag.
        self.assertTrue(self.image_present(image))

        audit = self.client.get_json("/api/v1/audit-logs",
                                     params={"action": "compose.pull", "page_size": 10})
        self.assertEqual(audit["items"][0]["target_id"], self.project)
        self.assertTrue(audit["items"][0]["success"])

    def test_pull_reports_each_image_outcome(self):
        present = self.image("present")
        missing = self.image("missing")
        for image in (present, missing):
            self.addCleanup(self.remove_image, image)
            self.docker.run("tag", harness.TEST_IMAGE, image)
        self.docker.run("push", present)  # missing is never pushed
        self.service_container(present, "web")
        self.service_container(missing, "db")

        events = self.stream_pull()
        results = {data["image"]: data for name, data in events if name == "result"}
        self.assertEqual(set(results), {present, missing})
        self.assertTrue(results[present]["success"], results[present])
        self.assertIn("Image is up to date", results[present]["message"])
        self.assertFalse(results[missing]["success"], results[missing])
        self.assertIn("manifest unknown", results[missing]["message"])
        summary = events[-1]
        self.assertEqual(summary[0], "summary")
        self.assertEqual(summary[1]["failed"], 1)
        self.assertFalse(summary[1]["success"])

        # Without Accept: text/event-stream the same pull returns one JSON document.
        reply = self.client.post(f"/api/v1/compose/projects/{self.project}/pull")
        self.assertEqual(reply.status, 200, reply.text)
        body = reply.json()
        self.assertEqual(body["failed"], 1)
        outcomes = {r["image"]: r["success"] for r in body["results"]}
        self.assertEqual(outcomes, {present: True, missing: False})


class ComposePullCancelTest(PullTestCase):
    """Pulls that wait on a registry stopped with SIGSTOP: they must not hold HTTP worker
    threads, and a client that leaves must cancel its pull."""

    HTTP_THREADS = 2
    SERVER_ENV = {"HTTP_THREADS": str(HTTP_THREADS)}
    # The server's limit on streamed pulls running at once.
    MAX_STREAMED_PULLS = 16

    def test_waiting_pulls_free_workers_and_cancel(self):
        image = self.image("stalled")
        self.publish_new_content(image)
        # A stopped registry accepts connections but never responds, so pulls wait.
        os.kill(self.registry.process.pid, signal.SIGSTOP)
        self.addCleanup(os.kill, self.registry.process.pid, signal.SIGCONT)

        pulls = [self.open_pull() for _ in range(self.HTTP_THREADS + 1)]
        health = self.client.get("/health")
        self.assertEqual(health.status, 200, "waiting pulls hold every HTTP worker")
        self.assertEqual(self.client.get_json("/api/v1/groups"), [])

        for conn, _ in pulls:
            conn.close()

        def cancelled_rows():
            rows = self.client.get_json("/api/v1/audit-logs", params={
                "action": "compose.pull", "page_size": 10})["items"]
            return rows if len(rows) == len(pulls) else None

        # The server notices a departed client at its next keepalive write, 5 s apart.
        rows = harness.poll(cancelled_rows, timeout=20)
        self.assertIsNotNone(rows, "the pulls were not cancelled after the clients left")
        for row in rows:
            self.assertFalse(row["success"])
            self.assertIn("cancelled", row["error_message"])
        # The engine dropped the pulls with their connections: once the registry
        # responds again, the image still does not arrive.
        os.kill(self.registry.process.pid, signal.SIGCONT)
        time.sleep(3)
        self.assertFalse(self.image_present(image), "the engine went on pulling")

    def test_streamed_pulls_capped(self):
        image = self.image("capped")
        self.addCleanup(self.remove_image, image)
        self.docker.run("tag", harness.TEST_IMAGE, image)
        self.service_container(image, "web")
        os.kill(self.registry.process.pid, signal.SIGSTOP)
        self.addCleanup(os.kill, self.registry.process.pid, signal.SIGCONT)

        pulls = [self.open_pull() for _ in range(self.MAX_STREAMED_PULLS)]
        self.addCleanup(lambda: [conn.close() for conn, _ in pulls])
        conn, extra = self.start_pull()
        pulls.append((conn, extra))
        self.assertEqual(extra.status, 503)
        self.assertIn("too many", json.loads(extra.read())["detail"])
        self.assertIsNotNone(extra.getheader("Retry-After"))

        # A cancelled pull frees its place once the server notices the client left.
        pulls[0][0].close()

        def accepted():
            conn, response = self.start_pull()
            pulls.append((conn, response))
            return response.status == 200

        self.assertTrue(harness.poll(accepted, timeout=20, interval=1))

    def test_waiting_json_pulls_leave_a_worker(self):
        image = self.image("held")
        self.addCleanup(self.remove_image, image)
        self.docker.run("tag", harness.TEST_IMAGE, image)
        self.service_container(image, "web")
        path = f"/api/v1/compose/projects/{self.project}/pull"

        def hold():
            try:
                self.client.post(path)
            except OSError:
                pass  # the server stopped first; the checks below have run by then

        held = threading.Thread(target=hold, daemon=True)
        # Cleanups run last first: the registry resumes, then the held pull ends.
        self.addCleanup(held.join, 30)
        os.kill(self.registry.process.pid, signal.SIGSTOP)
        self.addCleanup(os.kill, self.registry.process.pid, signal.SIGCONT)

        # Without Accept: text/event-stream a pull occupies its HTTP worker until it ends.
        # With 2 workers one such pull may wait; the next is turned away at once.
        held.start()
        time.sleep(1)
        second = self.client.post(path)
        self.assertEqual(second.status, 503, second.text)
        self.assertIn("text/event-stream", second.json()["detail"])
        self.assertIsNotNone(second.header("Retry-After"))
        self.assertEqual(self.client.get("/health").status, 200)


if __name__ == "__main__":
    harness.main()
