"""`inframon rotate-secret` and the rotation steps it prints, followed on the real server:
tokens signed with the old key keep working while it is SECRET_KEY_PREVIOUS, and stop
working once it is removed."""

import re
import subprocess

import harness

NEW_KEY_LINE = re.compile(r"^    ([A-Za-z0-9_-]{32,})$", re.MULTILINE)


def rotate_secret(server: harness.Server) -> subprocess.CompletedProcess:
    return subprocess.run([server.binary, "rotate-secret"], cwd=server.workdir,
                          env=server.environment(), capture_output=True, text=True,
                          timeout=60)


def new_key_from(output: str) -> str:
    keys = NEW_KEY_LINE.findall(output)
    if len(keys) != 1:
        raise harness.HarnessError(f"expected one indented key line, found {len(keys)}:\n"
                                   f"{output}")
    return keys[0]


class RotateSecretTest(harness.IntegrationTestCase):

    def test_output_has_new_key_and_steps(self):
        server = harness.Server(env={"PORT": "8065", "REFRESH_TOKEN_EXPIRE_DAYS": "3"})
        self.addCleanup(server.cleanup)
        first = rotate_secret(server)
        second = rotate_secret(server)
        self.assertEqual(first.returncode, 0, first.stderr)
        key = new_key_from(first.stdout)
        self.assertEqual(len(key), 64)
        self.assertNotEqual(key, new_key_from(second.stdout))
        self.assertNotEqual(key, server.secret_key)
        self.assertNotIn(server.secret_key, first.stdout + first.stderr)
        self.assertIn("SECRET_KEY_PREVIOUS", first.stdout)
        self.assertIn("After 3 days (REFRESH_TOKEN_EXPIRE_DAYS)", first.stdout)
        self.assertEqual(first.stderr, "")

    def test_warns_when_previous_key_set(self):
        previous = harness.random_secret(48)
        server = harness.Server(env={"PORT": "8065", "SECRET_KEY_PREVIOUS": previous})
        self.addCleanup(server.cleanup)
        result = rotate_secret(server)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("SECRET_KEY_PREVIOUS is already set", result.stderr)
        self.assertNotIn(previous, result.stdout + result.stderr)
        self.assertNotIn(server.secret_key, result.stdout + result.stderr)

    def test_works_with_invalid_configuration(self):
        server = harness.Server(env={"PORT": "8065", "BACKUP_KEEP": "0"})
        self.addCleanup(server.cleanup)
        result = rotate_secret(server)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("configuration error", result.stderr)
        self.assertEqual(len(new_key_from(result.stdout)), 64)

    def test_printed_steps_keep_sessions(self):
        server = self.start_server()
        old_key = server.secret_key
        client = server.login()
        old_access = client.token
        old_refresh = client.refresh_token
        new_key = new_key_from(rotate_secret(server).stdout)

        # Steps 1 to 3: the old key becomes SECRET_KEY_PREVIOUS, then restart.
        server.stop()
        server.secret_key = new_key
        server.extra_env["SECRET_KEY_PREVIOUS"] = old_key
        server.start()
        self.assertEqual(server.client(old_access).get("/api/v1/auth/me").status, 200)
        refreshed = server.client().post("/api/v1/auth/refresh",
                                         {"refresh_token": old_refresh}, auth=False)
        self.assertEqual(refreshed.status, 200, refreshed.text)
        new_access = refreshed.json()["access_token"]
        self.assertEqual(server.client(new_access).get("/api/v1/auth/me").status, 200)

        # Step 4: without SECRET_KEY_PREVIOUS only tokens signed with the new key work.
        server.stop()
        del server.extra_env["SECRET_KEY_PREVIOUS"]
        server.start()
        self.assertEqual(server.client(old_access).get("/api/v1/auth/me").status, 401)
        self.assertEqual(server.client(new_access).get("/api/v1/auth/me").status, 200)


if __name__ == "__main__":
    harness.main()
