"""GET /api/v1/settings: the effective configuration for administrators, secrets redacted."""

import subprocess

import harness

# Distinct, searchable values for every secret setting, so that a leak of any of them
# into the response is found by a plain substring search.
SECRET_KEY = "settings-test-current-key-" + harness.random_secret(24)
PREVIOUS_KEY = "settings-test-previous-key-" + harness.random_secret(24)
ADMIN_PASSWORD = "Settings-Admin-" + harness.random_secret(12)
VIEWER_PASSWORD = "Settings-Viewer-Pass-1"


class SettingsTest(harness.IntegrationTestCase):

    def setUp(self) -> None:
        super().setUp()
        self.server = self.start_server(
            env={"SECRET_KEY": SECRET_KEY, "SECRET_KEY_PREVIOUS": PREVIOUS_KEY,
                 "COLLECT_INTERVAL_SECONDS": "3", "CORS_ORIGINS": '["https://ops.example.test"]'},
            admin_password=ADMIN_PASSWORD)
        self.client = self.server.client()
        self.client.login(password=ADMIN_PASSWORD)

    def test_secrets_never_appear(self):
        response = self.client.get("/api/v1/settings")
        self.assertEqual(response.status, 200, response.text)
        for secret in (SECRET_KEY, PREVIOUS_KEY, ADMIN_PASSWORD, self.server.secret_key):
            self.assertNotIn(secret, response.text)
        # A part of a key is a leak too.
        self.assertNotIn(SECRET_KEY[-24:], response.text)
        self.assertNotIn(PREVIOUS_KEY[-24:], response.text)

    def test_lists_effective_values(self):
        body = self.client.get_json("/api/v1/settings")
        settings = {item["name"]: item for item in body["settings"]}
        self.assertEqual(settings["COLLECT_INTERVAL_SECONDS"]["value"], "3")
        self.assertFalse(settings["COLLECT_INTERVAL_SECONDS"]["redacted"])
        self.assertEqual(settings["PORT"]["value"], str(self.server.port))
        self.assertEqual(settings["CORS_ORIGINS"]["value"], '["https://ops.example.test"]')
        self.assertEqual(settings["DATABASE_URL"]["value"],
                         f"sqlite:///{self.server.database_path}")
        for name in ("SECRET_KEY", "SECRET_KEY_PREVIOUS", "ADMIN_PASSWORD"):
            self.assertEqual(settings[name]["value"], "(set, redacted)", name)
            self.assertTrue(settings[name]["redacted"], name)
        self.assertTrue(body["version"])
        self.assertFalse(body["secret_key_generated"])

    def test_same_redaction_as_config_command(self):
        body = self.client.get_json("/api/v1/settings")
        printed = self.server.environment()
        printed["PORT"] = str(self.server.port)
        result = subprocess.run([self.server.binary, "config"], env=printed,
                                        cwd=self.server.workdir, capture_output=True,
                                        text=True, timeout=30, check=False)
        self.assertEqual(result.returncode, 0, result.stderr)
        lines = [f"{item['name']}={item['value']}" for item in body["settings"]]
        self.assertEqual(lines, result.stdout.strip().splitlines())

    def test_viewer_and_anonymous_are_rejected(self):
        created = self.client.post("/api/v1/users", {
            "username": "settings-viewer", "email": "viewer@example.test",
            "password": VIEWER_PASSWORD, "password_confirm": VIEWER_PASSWORD,
            "role": "viewer"})
        self.assertEqual(created.status, 201, created.text)
        viewer = self.server.client()
        viewer.login("settings-viewer", VIEWER_PASSWORD)
        denied = viewer.get("/api/v1/settings")
        self.assertEqual(denied.status, 403)
        self.assertNotIn(SECRET_KEY, denied.text)
        anonymous = self.server.client().get("/api/v1/settings", auth=False)
        self.assertEqual(anonymous.status, 401)


if __name__ == "__main__":
    harness.main()
