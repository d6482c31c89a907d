"""Health, readiness, the root description, the OpenAPI document and routing errors."""

import harness


class MetaTest(harness.IntegrationTestCase):

    def setUp(self) -> None:
        super().setUp()
        self.server = self.start_server()
        self.client = self.server.client()

    def test_health_and_ready(self):
        for path in ("/health", "/api/v1/health"):
            body = self.client.get_json(path)
            self.assertEqual(body["status"], "healthy")
            self.assertTrue(body["version"])
        ready = self.client.get_json("/ready")
        self.assertEqual(ready["status"], "ready")
        self.assertEqual(ready["database"], "ok")
        self.assertEqual(ready["engine"], "ok")

    def test_root_describes_service_as_json(self):
        body = self.client.get_json("/", headers={"Accept": "application/json"})
        self.assertEqual(body["name"], "InfraMon")
        self.assertEqual(body["api_docs"], "/api/docs")

    def test_openapi_lists_routes_with_roles(self):
        doc = self.client.get_json("/api/openapi.json")
        self.assertEqual(doc["openapi"], "3.0.3")
        paths = doc["paths"]
        self.assertEqual(paths["/api/v1/containers"]["get"]["x-required-role"], "viewer")
        self.assertEqual(paths["/api/v1/containers/{id}/stop"]["post"]["x-required-role"],
                         "operator")
        self.assertEqual(paths["/api/v1/users"]["post"]["x-required-role"], "admin")
        self.assertEqual(paths["/api/v1/auth/login"]["post"]["security"], [])
        # Every operation has a summary of its own, not its path repeated.
        for path, operations in paths.items():
            for method, operation in operations.items():
                self.assertNotEqual(operation["summary"], path, f"{method} {path}")
        params = paths["/api/v1/containers/{id}"]["get"]["parameters"]
        self.assertEqual(params[0]["name"], "id")
        page = self.client.get("/api/docs")
        self.assertEqual(page.status, 200)
        self.assertIn("text/html", page.header("Content-Type"))
        self.assertIn('src="/api/docs.js"', page.text)

    def test_unknown_path_and_wrong_method(self):
        missing = self.client.get("/api/v1/no-such-thing")
        self.assertEqual(missing.status, 404)
        self.assertEqual(missing.json()["detail"], "Not found")
        wrong = self.client.request("DELETE", "/api/v1/auth/login", auth=False)
        self.assertEqual(wrong.status, 405)
        self.assertIn("Allow", wrong.headers)

    def test_allow_lists_path_methods(self):
        login = self.client.request("DELETE", "/api/v1/auth/login", auth=False)
        self.assertEqual(login.header("Allow"), "POST")
        health = self.client.request("POST", "/health", auth=False)
        self.assertEqual(health.status, 405)
        self.assertEqual(health.header("Allow"), "GET, HEAD")
        user = self.client.request("PATCH", "/api/v1/users/1", auth=False)
        self.assertEqual(user.status, 405)
        self.assertEqual(user.header("Allow"), "GET, HEAD, PUT, DELETE")

    def test_head_answers_like_get(self):
        self.client.login()
        paths = ["/health", "/ready", "/", "/api/docs", "/api/v1/containers", "/metrics",
                 "/api/v1/auth/me"]
        for path in paths:
            with self.subTest(path=path):
                get = self.client.get(path)
                head = self.client.request("HEAD", path)
                self.assertEqual(head.status, get.status)
                self.assertEqual(head.header("Content-Type"), get.header("Content-Type"))
                self.assertEqual(head.body, b"")
                self.assertEqual(head.header("X-Content-Type-Options"), "nosniff")
        unauthenticated = self.client.request("HEAD", "/api/v1/containers", auth=False)
        self.assertEqual(unauthenticated.status, 401)

    def test_head_on_streams_keeps_serving(self):
        self.client.login()
        name = self.docker.run_detached("sh", "-c", "while true; do echo tick; sleep 1; done")
        for path in (f"/api/v1/containers/{name}/logs?follow=true",
                     "/api/v1/events", f"/api/v1/containers/{name}/logs?download=true"):
            with self.subTest(path=path):
                head = self.client.request("HEAD", path)
                self.assertEqual(head.status, 200)
                self.assertEqual(head.body, b"")
        self.assertEqual(self.client.get("/health").status, 200)
        self.assertEqual(self.client.get(f"/api/v1/containers/{name}/logs").status, 200)

    def test_engine_unreachable_reported(self):
        server = harness.Server(docker_host="unix:///tmp/inframon-no-engine-here.sock")
        server.test_id = self.id()
        self.addCleanup(server.cleanup)
        server.start()
        client = server.login()
        ready = client.get("/ready")
        self.assertEqual(ready.status, 503)
        body = ready.json()
        self.assertEqual(body["engine"], "unreachable")
        self.assertIn("/tmp/inframon-no-engine-here.sock", body["engine_error"])
        self.assertIn("DOCKER_HOST", body["engine_error"])
        listing = client.get("/api/v1/containers")
        self.assertEqual(listing.status, 503)
        self.assertIn("/tmp/inframon-no-engine-here.sock", listing.json()["detail"])
        self.assertEqual(client.get("/api/v1/stats/system").status, 200)
        self.assertIn("/tmp/inframon-no-engine-here.sock", server.log_text())


if __name__ == "__main__":
    harness.main()
