"""TOTP secrets at rest, checked on the real server and its SQLite file: they are stored
encrypted (never as base32), old plaintext rows are encrypted at start, and a SECRET_KEY
rotation re-encrypts them so that TOTP logins keep working."""

import glob
import sqlite3
import subprocess
import time

from common import harness

USER_PASSWORD = "Totp-At-Rest-Pass-1"


def step_code(secret: str, step: int) -> str:
    """Return the TOTP code of a 30-second step number."""
    return harness.totp_code(secret, step * 30)


class TotpAtRestTest(harness.IntegrationTestCase):

    def setUp(self) -> None:
        super().setUp()
        self.server = self.start_server()
        admin = self.server.login()
        response = admin.post("/api/v1/users", {
            "username": "ivan", "email": "ivan@example.com", "password": USER_PASSWORD,
            "password_confirm": USER_PASSWORD, "role": "viewer"})
        self.assertEqual(response.status, 201, response.text)
        self.user_id = response.json()["id"]

    def enable_totp(self) -> tuple:
        """Enable TOTP for ivan with the code of the step before now; return the secret and
        the current step, whose code and the next one are still unspent."""
        ivan = self.server.login("ivan", USER_PASSWORD)
        secret = ivan.post("/api/v1/auth/totp/setup").json()["secret"]
        step = int(time.time()) // 30
        enabled = ivan.post("/api/v1/auth/totp/enable", {"code": step_code(secret, step - 1)})
        self.assertEqual(enabled.status, 200, enabled.text)
        return secret, step

    def totp_login(self, code: str) -> harness.Response:
        first = self.server.client().post("/api/v1/auth/login",
                                          {"username": "ivan", "password": USER_PASSWORD},
                                          auth=False)
        self.assertEqual(first.status, 200, first.text)
        self.assertTrue(first.json()["totp_required"])
        return self.server.client().post("/api/v1/auth/login/totp", {
            "totp_token": first.json()["totp_token"], "code": code}, auth=False)

    def database_bytes(self) -> bytes:
        """The SQLite file and its WAL and shared-memory files, read with the server
        stopped."""
        data = b""
        for path in sorted(glob.glob(self.server.database_path + "*")):
            with open(path, "rb") as handle:
                data += handle.read()
        return data

    def stored_secret(self) -> str:
        with sqlite3.connect(self.server.database_path) as db:
            row = db.execute("SELECT secret FROM user_totp WHERE user_id = ?",
                             (self.user_id,)).fetchone()
        return row[0]

    def rotate_secret_key(self) -> str:
        """Run `inframon rotate-secret` and return the new key it prints."""
        done = subprocess.run([self.server.binary, "rotate-secret"], capture_output=True,
                              text=True, env=self.server.environment(), timeout=30, check=True)
        self.assertIn("re-encrypts every stored TOTP secret", done.stdout)
        lines = done.stdout.splitlines()
        key = lines[lines.index("") + 1].strip()
        self.assertGreaterEqual(len(key), 32)
        return key

    def test_secret_encrypted_and_survives_rotation(self):
        secret, step = self.enable_totp()
        self.server.stop()
        self.assertNotIn(secret.encode(), self.database_bytes())
        sealed_before = self.stored_secret()
        self.assertTrue(sealed_before.startswith("v1:"), sealed_before)

        old_key = self.server.secret_key
        self.server.secret_key = self.rotate_secret_key()
        self.server.extra_env["SECRET_KEY_PREVIOUS"] = old_key
        self.server.start()
        self.server.stop()
        sealed_after = self.stored_secret()
        self.assertTrue(sealed_after.startswith("v1:"), sealed_after)
        self.assertNotEqual(sealed_after, sealed_before, "start did not re-encrypt the secret")

        # With the previous key gone, the secret must open under the new key alone.
        del self.server.extra_env["SECRET_KEY_PREVIOUS"]
        self.server.start()
        done = self.totp_login(step_code(secret, step))
        self.assertEqual(done.status, 200, done.text)
        self.assertIn("access_token", done.json())
        self.server.stop()
        self.assertNotIn(secret.encode(), self.database_bytes())

    def test_plaintext_row_encrypted_at_start(self):
        secret, step = self.enable_totp()
        self.server.stop()
        # A row as the server wrote it before secrets were encrypted.
        with sqlite3.connect(self.server.database_path) as db:
            db.execute("UPDATE user_totp SET secret = ? WHERE user_id = ?",
                       (secret, self.user_id))
        self.server.start()
        self.server.stop()
        self.assertTrue(self.stored_secret().startswith("v1:"), self.stored_secret())
        self.server.start()
        done = self.totp_login(step_code(secret, step))
        self.assertEqual(done.status, 200, done.text)

    def test_unknown_key_refuses_start(self):
        self.enable_totp()
        self.server.stop()
        lost_key = self.server.secret_key
        self.server.secret_key = harness.random_secret(48)
        self.server.launch()
        self.assertNotEqual(self.server.wait_exit(), 0)
        log = self.server.log_text()
        self.assertIn("cannot be decrypted with SECRET_KEY or SECRET_KEY_PREVIOUS", log)
        self.assertIn(f"user {self.user_id}", log)
        self.assertNotIn(lost_key, log)
        self.assertNotIn(self.server.secret_key, log)
        self.assertIn("inframon user reset-totp", log)
        # Naming the earlier key as SECRET_KEY_PREVIOUS lets it start again.
        self.server.extra_env["SECRET_KEY_PREVIOUS"] = lost_key
        self.server.start()

    def test_reset_totp_after_lost_key(self):
        self.enable_totp()
        self.server.stop()
        self.server.secret_key = harness.random_secret(48)
        reset = subprocess.run([self.server.binary, "user", "reset-totp", "ivan"],
                               capture_output=True, text=True, env=self.server.environment(),
                               timeout=30)
        self.assertEqual(reset.returncode, 0, reset.stderr)
        self.assertIn("TOTP second factor and recovery codes removed", reset.stdout)
        self.server.start()
        plain = self.server.client().post("/api/v1/auth/login",
                                          {"username": "ivan", "password": USER_PASSWORD},
                                          auth=False)
        self.assertEqual(plain.status, 200, plain.text)
        self.assertIn("access_token", plain.json())


if __name__ == "__main__":
    harness.main()
