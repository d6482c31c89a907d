"""Hostile input on the real server: SQL metacharacters in every string field, script
payloads in container data, and path traversal in every path parameter."""

import http.client
import json
import os
import shutil
import sqlite3
import tempfile

from common import harness

USER_PASSWORD = "Security-Test-Pass-1"
# Strings that break a statement built by concatenation.
SQL_PAYLOADS = (
    "' OR '1'='1",
    "admin'--",
    "x'); DROP TABLE users; --",
    "\" OR \"\"=\"",
    "1; SELECT * FROM sessions",
    "%' AND 1=1 AND '%'='",
    "\\'; --",
)
XSS_PAYLOAD = "\"><script>alert(document.cookie)</script><img src=x onerror=alert(1)>"


def database_rows(server: harness.Server, sql: str, *args) -> list:
    with sqlite3.connect(f"file:{server.database_path}?mode=ro", uri=True) as db:
        return db.execute(sql, args).fetchall()


class SqlMetacharacterTest(harness.IntegrationTestCase):

    def setUp(self) -> None:
        super().setUp()
        # Failed logins are throttled per client address and per username. Behind a
        # trusted proxy each attempt below comes from its own address, so the throttle
        # never responds in place of the login check under test.
        self.server = self.start_server({"TRUSTED_PROXIES": "127.0.0.1/32"})
        self.admin = self.server.login()
        self.address = 0

    def login_from_new_address(self, body: dict) -> harness.Response:
        self.address += 1
        return self.server.client().post(
            "/api/v1/auth/login", body, auth=False,
            headers={"X-Forwarded-For": f"198.51.100.{self.address}"})

    def assert_users_intact(self) -> None:
        users = self.admin.get_json("/api/v1/users")["users"]
        self.assertIn("admin", [user["username"] for user in users])
        self.assertEqual(self.admin.get("/api/v1/auth/me").status, 200)

    def test_login_fields(self):
        # One user per payload, so the per-username throttle sees a single failure each.
        for index, payload in enumerate(SQL_PAYLOADS):
            response = self.admin.post("/api/v1/users", {
                "username": f"target_{index}", "email": f"t{index}@example.com",
                "password": USER_PASSWORD, "password_confirm": USER_PASSWORD})
            self.assertEqual(response.status, 201, response.text)
            for body in ({"username": payload, "password": "whatever-1"},
                         {"username": f"target_{index}", "password": payload}):
                with self.subTest(body=body):
                    response = self.login_from_new_address(body)
                    self.assertEqual(response.status, 401, response.text)
                    self.assertEqual(response.json()["detail"], "Incorrect username or password")
        # Failed logins are audited with the name exactly as sent.
        names = {row[0] for row in database_rows(
            self.server, "SELECT target_id FROM audit_log WHERE action = 'auth.login'")}
        for payload in SQL_PAYLOADS:
            self.assertIn(payload, names)
        self.assert_users_intact()

    def test_password_with_metacharacters_round_trips(self):
        for index, payload in enumerate(SQL_PAYLOADS):
            password = f"pw-{payload}"
            with self.subTest(password=password):
                response = self.admin.post("/api/v1/users", {
                    "username": f"meta_{index}", "email": f"meta{index}@example.com",
                    "password": password, "password_confirm": password})
                self.assertEqual(response.status, 201, response.text)
                client = self.server.login(f"meta_{index}", password)
                self.assertEqual(client.get_json("/api/v1/auth/me")["username"], f"meta_{index}")
        self.assert_users_intact()

    def test_email_with_quote_stored_verbatim(self):
        email = "o'brien--'or'1'='1@example.com"
        response = self.admin.post("/api/v1/users", {
            "username": "obrien", "email": email, "password": USER_PASSWORD,
            "password_confirm": USER_PASSWORD})
        self.assertEqual(response.status, 201, response.text)
        self.assertEqual(response.json()["email"], email)
        user_id = response.json()["id"]
        self.assertEqual(self.admin.get_json(f"/api/v1/users/{user_id}")["email"], email)
        update = "x'||'y'--@example.com"
        response = self.admin.put(f"/api/v1/users/{user_id}", {"email": update})
        self.assertEqual(response.status, 200, response.text)
        self.assertEqual(self.admin.get_json(f"/api/v1/users/{user_id}")["email"], update)
        self.assert_users_intact()

    def test_allow_listed_fields_reject_metacharacters(self):
        for payload in SQL_PAYLOADS:
            with self.subTest(payload=payload):
                response = self.admin.post("/api/v1/users", {
                    "username": payload, "email": "a@example.com", "password": USER_PASSWORD})
                self.assertEqual(response.status, 422, response.text)
                self.assertEqual(response.json()["detail"][0]["loc"], ["body", "username"])
                response = self.admin.post("/api/v1/users", {
                    "username": "rolecheck", "email": "r@example.com",
                    "password": USER_PASSWORD, "role": payload})
                self.assertEqual(response.status, 422, response.text)
                self.assertEqual(response.json()["detail"][0]["loc"], ["body", "role"])
        self.assert_users_intact()

    def test_query_parameters(self):
        for payload in SQL_PAYLOADS:
            for name in ("role", "is_active", "page", "page_size"):
                with self.subTest(name=name, payload=payload):
                    response = self.admin.get("/api/v1/users", params={name: payload})
                    self.assertEqual(response.status, 422, response.text)
                    self.assertEqual(response.json()["detail"][0]["loc"], ["query", name])
        self.assert_users_intact()

    def test_container_endpoints(self):
        name = self.docker.run_detached("sleep", "300")
        for payload in SQL_PAYLOADS:
            with self.subTest(payload=payload):
                response = self.admin.get("/api/v1/containers",
                                          params={"search": payload, "all_containers": "true"})
                self.assertEqual(response.status, 200, response.text)
                self.assertEqual(response.json()["data"]["containers"], [])
                response = self.admin.put(f"/api/v1/containers/{name}/rename",
                                          {"new_name": payload})
                self.assertEqual(response.status, 422, response.text)
                response = self.admin.post("/api/v1/containers/bulk-action",
                                           {"action": payload, "container_ids": [name]})
                self.assertIn(response.status, (400, 422), response.text)
        self.assertTrue(self.docker.inspect(name)["State"]["Running"])
        self.assert_users_intact()


class ScriptPayloadTest(harness.IntegrationTestCase):

    def assert_json_escaped(self, response, payload: str) -> None:
        self.assertEqual(response.header("Content-Type"), "application/json")
        self.assertEqual(response.header("X-Content-Type-Options"), "nosniff")
        # The payload's quote comes back as \", so it cannot close the JSON string.
        self.assertIn(json.dumps(payload)[1:-1].encode(), response.body)

    def test_label_and_command_come_back_escaped(self):
        server = self.start_server()
        client = server.login()
        name = self.docker.run_detached(
            "sh", "-c", f"echo '{XSS_PAYLOAD}'; sleep 300",
            options=["--label", f"note={XSS_PAYLOAD}", "--env", f"GREETING={XSS_PAYLOAD}"])
        response = client.get(f"/api/v1/containers/{name}")
        self.assertEqual(response.status, 200, response.text)
        self.assert_json_escaped(response, XSS_PAYLOAD)
        self.assertEqual(response.json()["labels"]["note"], XSS_PAYLOAD)
        self.assertIn(XSS_PAYLOAD, [item["value"] for item in response.json()["environment"]])
        response = client.get(f"/api/v1/containers/{name}/inspect")
        self.assertEqual(response.status, 200, response.text)
        self.assert_json_escaped(response, XSS_PAYLOAD)
        self.assertEqual(response.json()["Config"]["Labels"]["note"], XSS_PAYLOAD)
        response = client.get("/api/v1/containers", params={"all_containers": "true"})
        self.assertEqual(response.status, 200, response.text)
        self.assert_json_escaped(response, XSS_PAYLOAD)
        items = [item for item in response.json()["data"]["containers"] if item["name"] == name]
        self.assertEqual(items[0]["labels"]["note"], XSS_PAYLOAD)

    def test_log_lines_come_back_escaped(self):
        server = self.start_server()
        client = server.login()
        payloads = [XSS_PAYLOAD, "<svg onload=alert(2)>", "</script><script>alert(3)</script>"]
        # The payloads go in through the environment so that no shell quoting touches them.
        env_options = []
        for index, payload in enumerate(payloads):
            env_options += ["--env", f"P{index}={payload}"]
        name = self.docker.run_detached(
            "sh", "-c", 'printf "%s\\n" "$P0" "$P1" "$P2"; sleep 300', options=env_options)
        self.docker.wait_for_log(name, payloads[-1])

        response = client.get(f"/api/v1/containers/{name}/logs", params={"tail": "all"})
        self.assertEqual(response.status, 200, response.text)
        for payload in payloads:
            self.assert_json_escaped(response, payload)
        self.assertEqual([line["text"] for line in response.json()["lines"]], payloads)

        # The follow stream sends one JSON object per event.
        conn = http.client.HTTPConnection(server.host, server.port, timeout=15)
        self.addCleanup(conn.close)
        conn.request("GET", f"/api/v1/containers/{name}/logs?tail=all&follow=true",
                     headers={"Authorization": f"Bearer {client.token}"})
        stream = conn.getresponse()
        self.assertEqual(stream.status, 200)
        self.assertEqual(stream.getheader("Content-Type"), "text/event-stream")
        self.assertEqual(stream.getheader("X-Content-Type-Options"), "nosniff")
        texts = []
        while len(texts) < len(payloads):
            line = stream.fp.readline().decode()
            self.assertNotEqual(line, "", "the stream ended early")
            if line.startswith("data:"):
                texts.append(json.loads(line[len("data:"):])["text"])
        self.assertEqual(texts, payloads)

        download = client.get(f"/api/v1/containers/{name}/logs",
                              params={"tail": "all", "download": "true"})
        self.assertEqual(download.status, 200)
        self.assertTrue(download.header("Content-Type").startswith("text/plain"),
                        download.header("Content-Type"))
        self.assertTrue(download.header("Content-Disposition").startswith("attachment"))
        self.assertEqual(download.header("X-Content-Type-Options"), "nosniff")

    def test_script_container_name_rejected(self):
        # The engine accepts only [a-zA-Z0-9][a-zA-Z0-9_.-] names, and so does the API.
        result = self.docker.run("create", "--name", "<script>", harness.TEST_IMAGE,
                                 check=False)
        self.assertNotEqual(result.returncode, 0)
        server = self.start_server()
        client = server.login()
        name = self.docker.run_detached("sleep", "300")
        response = client.put(f"/api/v1/containers/{name}/rename",
                              {"new_name": "<script>alert(1)</script>"})
        self.assertEqual(response.status, 422, response.text)
        self.assertEqual(response.json()["detail"][0]["loc"], ["body", "new_name"])
        self.assertEqual(response.header("Content-Type"), "application/json")


class PathTraversalTest(harness.IntegrationTestCase):

    # Raw request targets (sent without client-side normalisation) and the expected status:
    # 422 when the segment reaches the handler and fails the allow-list, 404 when the
    # decoded path no longer matches a route.
    CONTAINER_CASES = (
        ("/api/v1/containers/..", 422),
        ("/api/v1/containers/%2e%2e", 422),
        ("/api/v1/containers/%2E%2E/inspect", 422),
        ("/api/v1/containers/.%2e/diff", 422),
        ("/api/v1/containers/..%2f..%2fversion", 404),
        ("/api/v1/containers/%2fetc%2fpasswd", 404),
        ("/api/v1/containers//etc/passwd", 404),
        ("/api/v1/containers/..%5c..%5cversion", 422),
        ("/api/v1/containers/x%3fall=1", 422),
        ("/api/v1/containers/x%23frag/inspect", 422),
        ("/api/v1/containers/-rf", 422),
        ("/api/v1/containers/.hidden", 422),
    )
    USER_CASES = (
        ("/api/v1/users/..", 422),
        ("/api/v1/users/%2e%2e", 422),
        ("/api/v1/users/1%2f..%2f2", 404),
        ("/api/v1/users/-1", 422),
        ("/api/v1/users/0x1", 422),
    )

    def request_raw_path(self, client: harness.Client, path: str) -> harness.Response:
        return client.get(path)

    def test_container_refs(self):
        server = self.start_server()
        client = server.login()
        for path, status in self.CONTAINER_CASES:
            with self.subTest(path=path):
                response = self.request_raw_path(client, path)
                self.assertEqual(response.status, status, response.text)
                self.assertEqual(response.header("Content-Type"), "application/json")

    def test_user_ids(self):
        server = self.start_server()
        client = server.login()
        for path, status in self.USER_CASES:
            with self.subTest(path=path):
                response = self.request_raw_path(client, path)
                self.assertEqual(response.status, status, response.text)

    def test_container_actions_with_traversal(self):
        server = self.start_server()
        client = server.login()
        for ref in ("..", "%2e%2e", "..%2f..%2fcontainers%2fjson"):
            for action in ("start", "stop", "restart", "kill", "pause", "unpause"):
                with self.subTest(ref=ref, action=action):
                    response = client.post(f"/api/v1/containers/{ref}/{action}")
                    self.assertIn(response.status, (404, 422), response.text)

    def test_compose_file_traversal(self):
        # HOST_FS_ROOT is a temporary folder; the compose file path comes from a container
        # label, which anyone who can start a container controls.
        base = tempfile.mkdtemp(prefix="inframon-sec-compose-")
        self.addCleanup(shutil.rmtree, base, True)
        root = os.path.join(base, "root")
        os.makedirs(os.path.join(base, "outside"))
        os.makedirs(root)
        with open(os.path.join(root, "ok.yml"), "w", encoding="utf-8") as ok:
            ok.write("services:\n  web:\n    image: busybox\n")
        with open(os.path.join(base, "outside", "secret.yml"), "w", encoding="utf-8") as secret:
            secret.write("services: {}\n# OUTSIDE-SECRET-CONTENT\n")
        os.symlink("../outside/secret.yml", os.path.join(root, "link-out.yml"))
        os.symlink("/etc/passwd", os.path.join(root, "passwd.yml"))
        server = self.start_server({"HOST_FS_ROOT": root})
        client = server.login()

        def compose_file(label_path: str) -> harness.Response:
            name = self.docker.create("true", options=[
                "--label", "com.docker.compose.project=secproject",
                "--label", "com.docker.compose.service=web",
                "--label", f"com.docker.compose.project.config_files={label_path}"])
            return client.get(f"/api/v1/containers/{name}/compose/file")

        response = compose_file("/ok.yml")
        self.assertEqual(response.status, 200, response.text)
        self.assertIn("busybox", response.json()["content"])
        for label_path in ("/../outside/secret.yml", "/link-out.yml", "/passwd.yml",
                           "/etc/passwd", "/%2e%2e/outside/secret.yml"):
            with self.subTest(label_path=label_path):
                response = compose_file(label_path)
                self.assertEqual(response.status, 404, response.text)
                self.assertNotIn("OUTSIDE-SECRET-CONTENT", response.text)
                self.assertNotIn("root:x:0:0", response.text)


class LogEvasionTest(harness.IntegrationTestCase):
    """Bytes that are not UTF-8 in a request must not remove it from the JSON access log."""

    def test_invalid_utf8_requests_logged(self):
        server = self.start_server(env={"LOG_FORMAT": "json", "LOG_LEVEL": "info"})
        client = server.client()
        # http.client sends header text as Latin-1, so "\xff" goes out as the byte 0xff.
        hidden_agent = client.get("/api/v1/containers", headers={"User-Agent": "probe\xff"})
        self.assertEqual(hidden_agent.status, 401)
        hidden_path = client.get("/api/v1/probe%ff", auth=False)
        self.assertEqual(hidden_path.status, 404)
        server.stop()

        with open(server.log_path, "rb") as log_file:
            lines = [line for line in log_file.read().splitlines() if line.strip()]
        records = [json.loads(line) for line in lines]
        access = [r for r in records if r["module"] == "access"]
        agents = [r for r in access if r["path"] == "/api/v1/containers"]
        self.assertEqual(len(agents), 1, access)
        self.assertEqual(agents[0]["status"], 401)
        paths = [r for r in access if r["path"].startswith("/api/v1/probe")]
        self.assertEqual(len(paths), 1, access)
        self.assertEqual(paths[0]["status"], 404)
        self.assertNotIn("\xff", paths[0]["path"])


if __name__ == "__main__":
    harness.main()
