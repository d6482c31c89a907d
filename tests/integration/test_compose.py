"""Compose projects on the real engine, brought up with Debian's docker-compose."""

import os
import shutil
import subprocess
import tempfile
import threading
import time
import uuid

import harness

COMPOSE_FILE = """\
version: "2.4"
services:
  db:
    image: inframon-test/busybox:latest
    init: true
    environment:
      DB_PASSWORD: very-secret-value
    command: ["sleep", "600"]
  web:
    image: inframon-test/busybox:latest
    init: true
    depends_on: [db]
    command: ["sleep", "600"]
volumes:
  data: {}
"""


class ComposeTest(harness.IntegrationTestCase):

    def setUp(self) -> None:
        super().setUp()
        self.folder = tempfile.mkdtemp(prefix="inframon-compose-")
        self.addCleanup(shutil.rmtree, self.folder, True)
        self.project = "imtest" + uuid.uuid4().hex[:8]
        self.file = os.path.join(self.folder, "compose.yaml")
        with open(self.file, "w") as f:
            f.write(COMPOSE_FILE)
        self.compose("up", "-d")
        self.addCleanup(self.compose, "down", "-v", "-t", "1")
        self.server = self.start_server()
        self.client = self.server.login()

    def compose(self, *args):
        env = dict(os.environ, DOCKER_HOST=self.docker.host)
        subprocess.run(["docker-compose", "-p", self.project, "-f", self.file, *args],
                       env=env, check=True, capture_output=True, timeout=180)

    def project_entry(self):
        projects = self.client.get_json("/api/v1/compose/projects")
        for project in projects:
            if project["project_name"] == self.project:
                return project
        self.fail(f"project {self.project} not listed: {projects}")

    def container_states(self):
        result = self.docker.run("ps", "-a", "--filter",
                                 f"label=com.docker.compose.project={self.project}",
                                 "--format", "{{.Names}} {{.State}}")
        return dict(line.split() for line in result.stdout.splitlines())

    def test_project_listed_with_services(self):
        project = self.project_entry()
        self.assertEqual(project["status"], "running")
        self.assertEqual(project["working_dir"], self.folder)
        self.assertEqual(project["compose_file_path"], self.file)
        services = {s["name"]: s for s in project["services"]}
        self.assertEqual(sorted(services), ["db", "web"])
        self.assertEqual(services["web"]["running"], 1)
        self.assertEqual(len(services["db"]["containers"]), 1)

    def test_stop_and_start_through_api(self):
        response = self.client.post(f"/api/v1/compose/projects/{self.project}/stop")
        self.assertEqual(response.status, 200, response.text)
        body = response.json()
        self.assertTrue(body["success"])
        # Dependents stop first: web before db.
        self.assertEqual([r["service"] for r in body["results"]], ["web", "db"])
        self.assertEqual(set(self.container_states().values()), {"exited"})
        self.assertEqual(self.project_entry()["status"], "stopped")

        response = self.client.post(f"/api/v1/compose/projects/{self.project}/start")
        self.assertEqual(response.status, 200, response.text)
        self.assertEqual([r["service"] for r in response.json()["results"]], ["db", "web"])
        self.assertEqual(set(self.container_states().values()), {"running"})
        self.assertEqual(self.project_entry()["status"], "running")

    def test_partial_status_and_unknown_project(self):
        web = [n for n in self.container_states() if "web" in n][0]
        self.docker.run("stop", "-t", "1", web)
        self.assertEqual(self.project_entry()["status"], "partial")
        self.assertEqual(self.client.post("/api/v1/compose/projects/nope-404/stop").status, 404)
        self.assertEqual(self.client.post("/api/v1/compose/projects/BAD..name/stop").status,
                         422)
        bad = self.client.post(f"/api/v1/compose/projects/{self.project}/explode")
        self.assertEqual(bad.status, 422)

    def test_compose_file_view_masks_for_non_admin(self):
        web = [n for n in self.container_states() if "web" in n][0]
        info = self.client.get_json(f"/api/v1/containers/{web}/compose/info")
        self.assertEqual(info["project_name"], self.project)
        self.assertEqual(sorted(info["services"]), ["db", "web"])
        admin_view = self.client.get_json(f"/api/v1/containers/{web}/compose/file")
        self.assertEqual(admin_view["path"], self.file)
        self.assertIn("very-secret-value", admin_view["content"])
        self.assertEqual(sorted(admin_view["services"]), ["db", "web"])
        self.assertEqual(admin_view["volumes"], ["data"])

        self.client.post("/api/v1/users", {
            "username": "reader", "email": "reader@example.com", "password": "Reader-Pass-1",
            "password_confirm": "Reader-Pass-1", "role": "viewer"})
        viewer = self.server.login("reader", "Reader-Pass-1")
        masked = viewer.get_json(f"/api/v1/containers/{web}/compose/file")
        self.assertNotIn("very-secret-value", masked["content"])
        self.assertIn("DB_PASSWORD: ********", masked["content"])
        self.assertEqual(viewer.post(f"/api/v1/compose/projects/{self.project}/stop").status,
                         403)

    def test_file_view_refuses_what_labels_do_not_name(self):
        # A container whose labels point at a non-YAML file and at a symlink to one.
        link = os.path.join(self.folder, "evil.yaml")
        os.symlink("/etc/passwd", link)
        for config_files in ("/etc/passwd", link, "../../../../etc/hostname"):
            name = self.docker.run_detached("sleep", "300", options=[
                "--label", "com.docker.compose.project=evil",
                "--label", f"com.docker.compose.project.working_dir={self.folder}",
                "--label", f"com.docker.compose.project.config_files={config_files}"])
            response = self.client.get(f"/api/v1/containers/{name}/compose/file")
            self.assertIn(response.status, (403, 404), response.text)
            self.assertNotIn("root:", response.text)

        # Once the project's file is gone, the project is still listed.
        os.remove(self.file)
        self.assertEqual(self.project_entry()["status"], "running")
        web = [n for n in self.container_states() if "web" in n][0]
        self.assertEqual(self.client.get(f"/api/v1/containers/{web}/compose/file").status, 404)
        with open(self.file, "w") as f:  # docker-compose down needs it
            f.write(COMPOSE_FILE)


class ComposeWorkerLimitTest(harness.IntegrationTestCase):

    def test_slow_stop_leaves_a_worker(self):
        # Without --init, sleep is PID 1 and ignores SIGTERM, so each stop waits the
        # whole 10 s that a project stop gives a container.
        projects = [f"slow{uuid.uuid4().hex[:8]}" for _ in range(2)]
        for project in projects:
            self.docker.run_detached("sleep", "600", init=False, options=[
                "--label", f"com.docker.compose.project={project}",
                "--label", "com.docker.compose.service=app"])
        server = self.start_server(env={"HTTP_THREADS": "2"})
        client = server.login()

        def stop_first():
            try:
                client.post(f"/api/v1/compose/projects/{projects[0]}/stop")
            except OSError:
                pass  # the server stopped first; the checks below have run by then

        held = threading.Thread(target=stop_first, daemon=True)
        held.start()
        self.addCleanup(held.join, 30)
        time.sleep(1)
        second = client.post(f"/api/v1/compose/projects/{projects[1]}/stop")
        self.assertEqual(second.status, 503, second.text)
        self.assertIsNotNone(second.header("Retry-After"))
        self.assertEqual(client.get("/health").status, 200)


if __name__ == "__main__":
    harness.main()
