"""Container endpoints on the real engine: list, detail, lifecycle actions, errors."""

import os
import subprocess
import time

import harness

ENGINE_SCRIPT = os.path.join(os.path.dirname(__file__), "..", "engine", "engine.sh")


def wait_until(predicate, timeout=15.0, interval=0.1):
    return harness.poll(predicate, timeout, interval)


class ContainerApiTest(harness.IntegrationTestCase):

    def setUp(self) -> None:
        super().setUp()
        self.server = self.start_server()
        self.client = self.server.login()

    def find(self, name, all_containers=True):
        reply = self.client.get_json("/api/v1/containers",
                                     params={"all_containers": str(all_containers).lower()})
        for item in reply["data"]["containers"]:
            if item["name"] == name:
                return item
        return None

    def test_list_shows_engine_containers_with_state(self):
        running = self.docker.run_detached("sleep", "300")
        created = self.docker.create("true")
        reply = self.client.get_json("/api/v1/containers", params={"all_containers": "true"})
        self.assertTrue(reply["success"])
        self.assertTrue(reply["timestamp"].endswith("Z"))
        data = reply["data"]
        names = {item["name"]: item for item in data["containers"]}
        self.assertEqual(names[running]["status"], "running")
        self.assertEqual(names[created]["status"], "created")
        self.assertEqual(names[running]["container_id"], self.docker.container_id(running))
        self.assertEqual(names[running]["short_id"], names[running]["container_id"][:12])
        self.assertEqual(names[running]["image"], harness.TEST_IMAGE)
        self.assertEqual(names[running]["labels"]["inframon.test"], "true")
        self.assertIsNone(names[running]["compose_project"])
        self.assertGreaterEqual(data["total"], 2)
        self.assertGreaterEqual(data["running"], 1)
        # Without all_containers only running ones are listed.
        self.assertIsNone(self.find(created, all_containers=False))
        self.assertIsNotNone(self.find(running, all_containers=False))

    def test_compose_labels_mapped(self):
        name = self.docker.run_detached("sleep", "300", options=[
            "--label", "com.docker.compose.project=shop",
            "--label", "com.docker.compose.service=web",
            "--label", "com.docker.compose.project.working_dir=/srv/shop",
            "--label", "com.docker.compose.project.config_files=compose.yaml"])
        item = self.find(name)
        self.assertEqual(item["compose_project"], "shop")
        self.assertEqual(item["compose_service"], "web")
        self.assertEqual(item["compose_file"], "/srv/shop/compose.yaml")
        filtered = self.client.get_json("/api/v1/containers",
                                        params={"compose_project": "shop"})
        self.assertEqual([c["name"] for c in filtered["data"]["containers"]], [name])

    def test_detail_by_name_and_prefix(self):
        name = self.docker.run_detached("sleep", "300", options=["-e", "API_TOKEN=s3cr3t",
                                                                  "-e", "MODE=fast"])
        full_id = self.docker.container_id(name)
        by_name = self.client.get_json(f"/api/v1/containers/{name}")
        by_prefix = self.client.get_json(f"/api/v1/containers/{full_id[:12]}")
        self.assertEqual(by_name["container_id"], full_id)
        self.assertEqual(by_prefix["container_id"], full_id)
        self.assertEqual(by_name["status"], "running")
        env = {e["name"]: e["value"] for e in by_name["environment"]}
        self.assertEqual(env["MODE"], "fast")

    def test_unknown_container_gives_404(self):
        response = self.client.get("/api/v1/containers/no-such-container-xyz")
        self.assertEqual(response.status, 404)
        self.assertIn("detail", response.json())
        response = self.client.post("/api/v1/containers/no-such-container-xyz/start")
        self.assertEqual(response.status, 404)

    def test_invalid_reference_gives_4xx(self):
        response = self.client.get("/api/v1/containers/..%2F..%2Fetc")
        self.assertIn(response.status, (400, 404, 422))

    def test_stop_start_pause_remove_change_engine_state(self):
        name = self.docker.run_detached("sleep", "300")
        state = lambda: self.docker.inspect(name)["State"]

        response = self.client.post(f"/api/v1/containers/{name}/stop",
                                    params={"timeout": "2"})
        self.assertEqual(response.status, 200, response.text)
        body = response.json()
        self.assertTrue(body["success"])
        self.assertEqual(body["container_id"], self.docker.container_id(name))
        self.assertEqual(state()["Status"], "exited")
        # Stopping a stopped container is a conflict.
        self.assertEqual(self.client.post(f"/api/v1/containers/{name}/stop").status, 409)
        self.assertEqual(self.find(name)["status"], "exited")

        response = self.client.post(f"/api/v1/containers/{name}/start")
        self.assertEqual(response.status, 200, response.text)
        self.assertEqual(state()["Status"], "running")

        response = self.client.post(f"/api/v1/containers/{name}/pause")
        self.assertEqual(response.status, 200, response.text)
        self.assertEqual(state()["Status"], "paused")
        self.assertEqual(self.find(name)["status"], "paused")
        self.assertEqual(self.client.post(f"/api/v1/containers/{name}/pause").status, 409)

        response = self.client.post(f"/api/v1/containers/{name}/unpause")
        self.assertEqual(response.status, 200, response.text)
        self.assertEqual(state()["Status"], "running")

        response = self.client.post(f"/api/v1/containers/{name}/restart",
                                    params={"timeout": "1"})
        self.assertEqual(response.status, 200, response.text)
        self.assertEqual(state()["Status"], "running")

        response = self.client.delete(f"/api/v1/containers/{name}", params={"force": "true"})
        self.assertEqual(response.status, 200, response.text)
        gone = self.docker.run("inspect", name, check=False)
        self.assertNotEqual(gone.returncode, 0)
        self.assertIsNone(self.find(name))

    def test_pause_unpause_reach_list(self):
        # Pauses through the API and through the engine alone, which the server learns of
        # only from the events feed. The engine sends "pause" before its list shows it.
        name = self.docker.run_detached("sleep", "300")
        # Until the start event arrives (at most 2 s after the create event) the list is
        # read from the engine. Past 2 s it surely comes from the snapshot.
        time.sleep(2.5)
        listed = lambda status: lambda: (self.find(name) or {}).get("status") == status
        for round_number in range(5):
            response = self.client.post(f"/api/v1/containers/{name}/pause")
            self.assertEqual(response.status, 200, response.text)
            self.assertTrue(wait_until(listed("paused"), timeout=2.0),
                            f"API pause {round_number}: list shows {self.find(name)}")
            response = self.client.post(f"/api/v1/containers/{name}/unpause")
            self.assertEqual(response.status, 200, response.text)
            self.assertTrue(wait_until(listed("running"), timeout=2.0),
                            f"API unpause {round_number}: list shows {self.find(name)}")

            self.docker.run("pause", name)
            self.assertTrue(wait_until(listed("paused"), timeout=2.0),
                            f"engine pause {round_number}: list shows {self.find(name)}")
            self.docker.run("unpause", name)
            self.assertTrue(wait_until(listed("running"), timeout=2.0),
                            f"engine unpause {round_number}: list shows {self.find(name)}")

    def test_state_text_ages_without_events(self):
        name = self.docker.run_detached("sleep", "300")
        # Until the collector has the start event (at most 2 s after the create event) the
        # list is read from the engine, without an ETag. A slow (sanitizer) build can apply
        # the event late.
        responses = []

        def snapshot_list():
            responses.append(self.client.get("/api/v1/containers"))
            return responses[-1].header("ETag") is not None

        self.assertTrue(wait_until(snapshot_list, timeout=15.0), responses[-1])
        response = responses[-1]
        self.assertEqual(response.status, 200, response.text)
        first_tag = response.header("ETag")
        first_text = self.find(name)["state_text"]
        # No event reaches the container from here on: only the collector's periodic re-list
        # (every 10 s) can bring a newer text.
        self.assertTrue(wait_until(lambda: self.find(name)["state_text"] != first_text,
                                   timeout=12.0),
                        f"state_text stayed {first_text!r}")
        # The engine writes "Up Less than a second", then "Up 1 second", "Up 2 seconds".
        self.assertRegex(self.find(name)["state_text"], r"^Up [0-9]+ seconds?$")
        response = self.client.get("/api/v1/containers", headers={"If-None-Match": first_tag})
        self.assertEqual(response.status, 200, "the old ETag still matches a changed body")
        self.assertNotEqual(response.header("ETag"), first_tag)

    def test_action_shows_in_list_at_once(self):
        # An action waits until the collector has re-read the container, so the very next
        # list, served from the snapshot, shows the new state without polling.
        name = self.docker.run_detached("sleep", "300")
        # Until the start event arrives (at most 2 s after the create event) the list is
        # read from the engine. Past 2 s it surely comes from the snapshot.
        time.sleep(2.5)
        for action, status in (("pause", "paused"), ("unpause", "running"),
                               ("stop", "exited"), ("start", "running")):
            response = self.client.post(f"/api/v1/containers/{name}/{action}",
                                        params={"timeout": "1"} if action == "stop" else None)
            self.assertEqual(response.status, 200, response.text)
            self.assertEqual(self.find(name)["status"], status, action)

    def test_kill_with_signal(self):
        name = self.docker.run_detached("sleep", "300")
        response = self.client.post(f"/api/v1/containers/{name}/kill",
                                    params={"signal": "SIGKILL"})
        self.assertEqual(response.status, 200, response.text)
        self.assertTrue(wait_until(lambda: self.docker.inspect(name)["State"]["Status"]
                                   == "exited"))
        bad = self.client.post(f"/api/v1/containers/{name}/kill",
                               params={"signal": "SIGKILL; rm -rf /"})
        self.assertIn(bad.status, (400, 422))

    def test_rename_and_bulk_action(self):
        first = self.docker.run_detached("sleep", "300")
        second = self.docker.run_detached("sleep", "300")
        new_name = first + "-renamed"
        self.docker.containers.append(new_name)
        response = self.client.put(f"/api/v1/containers/{first}/rename",
                                   {"new_name": new_name})
        self.assertEqual(response.status, 200, response.text)
        self.assertEqual(self.docker.inspect(new_name)["Name"], "/" + new_name)
        bad = self.client.put(f"/api/v1/containers/{new_name}/rename",
                              {"new_name": "bad name/with slash"})
        self.assertEqual(bad.status, 422)

        response = self.client.post("/api/v1/containers/bulk-action", {
            "container_ids": [new_name, second, "no-such-container-xyz"],
            "action": "stop", "timeout": 1})
        self.assertEqual(response.status, 200, response.text)
        body = response.json()
        self.assertEqual(body["total"], 3)
        self.assertEqual(body["succeeded"], 2)
        self.assertEqual(body["failed"], 1)
        self.assertEqual(self.docker.inspect(second)["State"]["Status"], "exited")

    def test_viewer_cannot_act(self):
        name = self.docker.run_detached("sleep", "300")
        self.client.post("/api/v1/users", {
            "username": "watcher", "email": "watcher@example.com",
            "password": "Watcher-Pass-1", "password_confirm": "Watcher-Pass-1",
            "role": "viewer"})
        viewer = self.server.login("watcher", "Watcher-Pass-1")
        self.assertEqual(viewer.get("/api/v1/containers").status, 200)
        response = viewer.post(f"/api/v1/containers/{name}/stop")
        self.assertEqual(response.status, 403)
        self.assertIn("operator", response.json()["detail"])
        self.assertEqual(self.docker.inspect(name)["State"]["Status"], "running")
        inspect = viewer.get_json(f"/api/v1/containers/{name}/inspect")
        self.assertIn("Config", inspect)

    def test_engine_info_and_version(self):
        info = self.client.get_json("/api/v1/docker/info")
        self.assertIn("Containers", info)
        version = self.client.get_json("/api/v1/docker/version")
        self.assertEqual(version["ApiVersion"], "1.41")


class EngineOutageTest(harness.IntegrationTestCase):
    """Stops a private engine under a running server and starts it again."""

    def engine(self, *args):
        return subprocess.run(["bash", ENGINE_SCRIPT, *args], check=True,
                              capture_output=True, text=True).stdout.strip()

    def test_engine_down_gives_503_then_recovers(self):
        folder = self.engine("start")
        self.addCleanup(lambda: subprocess.run(["bash", ENGINE_SCRIPT, "stop", folder],
                                               capture_output=True))
        host = f"unix://{folder}/docker.sock"
        server = harness.Server(docker_host=host)
        server.test_id = self.id()
        self.addCleanup(server.cleanup)
        server.start()
        client = server.login()
        self.assertEqual(client.get("/api/v1/containers").status, 200)
        self.assertEqual(client.get("/ready").status, 200)

        self.engine("stop", folder)
        response = client.get("/api/v1/containers")
        self.assertEqual(response.status, 503)
        self.assertIn(folder, response.json()["detail"])
        ready = client.get("/ready")
        self.assertEqual(ready.status, 503)
        self.assertEqual(ready.json()["engine"], "unreachable")
        self.assertEqual(ready.json()["database"], "ok")
        # Host numbers keep coming without an engine.
        self.assertEqual(client.get("/api/v1/stats/system").status, 200)
        self.assertTrue(server.is_running())

        os.makedirs(folder, exist_ok=True)
        self.engine("start", folder)
        recovered = wait_until(lambda: client.get("/api/v1/containers").status == 200)
        self.assertTrue(recovered)
        self.assertEqual(client.get("/ready").status, 200)


if __name__ == "__main__":
    harness.main()
