"""Brute force of the current password (or second-factor code) through a stolen access
token, attacked on the real server: change-password and TOTP disable are throttled like
login, per username and per client IP.

Client addresses come from X-Forwarded-For through a trusted loopback proxy, so one test
can act as several clients."""

import time

from common import harness

totp_code = harness.totp_code

USER_PASSWORD = "Recheck-Test-Pass-1"
PROXY_ENV = {"TRUSTED_PROXIES": "127.0.0.1/32", "HTTP_THREADS": "4"}


class PasswordRecheckThrottleTest(harness.IntegrationTestCase):

    def setUp(self) -> None:
        super().setUp()
        self.server = self.start_server(env=PROXY_ENV)
        self.admin = self.server.login()

    def create_user(self, name: str) -> None:
        response = self.admin.post("/api/v1/users", {
            "username": name, "email": f"{name}@example.com", "password": USER_PASSWORD,
            "password_confirm": USER_PASSWORD, "role": "viewer"})
        self.assertEqual(response.status, 201, response.text)

    def login_from(self, ip: str, name: str, password: str = USER_PASSWORD) -> harness.Response:
        return self.server.client().post("/api/v1/auth/login",
                                         {"username": name, "password": password},
                                         headers={"X-Forwarded-For": ip}, auth=False)

    def stolen_token(self, name: str) -> str:
        """Log name in from the victim's address and return the access token."""
        response = self.login_from("198.51.100.10", name)
        self.assertEqual(response.status, 200, response.text)
        return response.json()["access_token"]

    def change_password(self, token: str, ip: str, current: str) -> harness.Response:
        return self.server.client().post("/api/v1/auth/change-password", {
            "current_password": current, "new_password": "Attacker-Chosen-1",
            "new_password_confirm": "Attacker-Chosen-1"},
            headers={"X-Forwarded-For": ip}, token=token)

    def audit_rows(self, action: str) -> list:
        return self.admin.get_json("/api/v1/audit-logs",
                                   params={"action": action, "page_size": 100})["items"]

    def test_change_password_guesses_throttled_per_user(self):
        self.create_user("erin")
        token = self.stolen_token("erin")
        for attempt in range(6):
            response = self.change_password(token, "203.0.113.70", f"guess-{attempt}")
            self.assertEqual(response.status, 400, f"guess {attempt + 1}: {response.text}")
        blocked = self.change_password(token, "203.0.113.70", USER_PASSWORD)
        self.assertEqual(blocked.status, 429, blocked.text)
        retry_after = int(blocked.header("Retry-After"))
        self.assertGreaterEqual(retry_after, 1)
        self.assertLessEqual(retry_after, 15)
        # Another address of the attacker is held back by the username block too.
        self.assertEqual(self.change_password(token, "192.0.2.71", USER_PASSWORD).status, 429)
        # The right password behind the block changed nothing: the old one still logs in
        # from the victim's own address, which has no failures.
        self.assertEqual(self.login_from("198.51.100.10", "erin").status, 200)

        rows = self.audit_rows("security.brute_force_user")
        self.assertEqual(len(rows), 1, rows)
        self.assertEqual(rows[0]["username"], "erin")
        self.assertIn("current-password checks", rows[0]["error_message"])
        failures = [row for row in self.audit_rows("user.change_password")
                    if row["username"] == "erin"]
        self.assertEqual(len(failures), 6, failures)
        self.assertTrue(all(not row["success"] for row in failures))

    def test_change_password_guesses_throttled_per_ip(self):
        tokens = []
        for index in range(3):
            self.create_user(f"frank{index}")
            tokens.append(self.stolen_token(f"frank{index}"))
        # 4 guesses per user stay under the username limit; 12 from one address pass
        # the address limit of 10.
        statuses = []
        for token in tokens:
            for attempt in range(4):
                statuses.append(self.change_password(token, "203.0.113.80",
                                                     f"guess-{attempt}").status)
        self.assertEqual(statuses[:11], [400] * 11)
        self.assertEqual(statuses[11], 429)
        self.create_user("frank3")
        fresh = self.stolen_token("frank3")
        self.assertEqual(self.change_password(fresh, "203.0.113.80", USER_PASSWORD).status, 429)
        rows = self.audit_rows("security.brute_force_ip")
        self.assertEqual(len(rows), 1, rows)
        self.assertEqual(rows[0]["ip_address"], "203.0.113.80")
        # The same user from another address still changes the password.
        self.assertEqual(self.change_password(fresh, "198.51.100.81", USER_PASSWORD).status, 200)

    def test_totp_disable_guesses_throttled(self):
        self.create_user("grace")
        token = self.stolen_token("grace")
        grace = self.server.client(token)
        secret = grace.post("/api/v1/auth/totp/setup").json()["secret"]
        enabled = grace.post("/api/v1/auth/totp/enable",
                             {"code": totp_code(secret, time.time())})
        self.assertEqual(enabled.status, 200, enabled.text)
        valid = {totp_code(secret, time.time() + drift) for drift in (-30, 0, 30, 60)}
        guesses = [f"{n:06d}" for n in range(1000) if f"{n:06d}" not in valid][:6]
        headers = {"X-Forwarded-For": "203.0.113.90"}
        for guess in guesses:
            response = grace.post("/api/v1/auth/totp/disable", {"code": guess}, headers=headers)
            self.assertEqual(response.status, 400, f"code {guess}: {response.text}")
        blocked = grace.post("/api/v1/auth/totp/disable", {"password": USER_PASSWORD},
                             headers=headers)
        self.assertEqual(blocked.status, 429, blocked.text)
        self.assertIsNotNone(blocked.header("Retry-After"))
        self.assertIn("second-factor checks",
                      self.audit_rows("security.brute_force_user")[0]["error_message"])
        # TOTP is still on: a password login still returns totp_required.
        self.assertTrue(self.login_from("198.51.100.10", "grace").json()["totp_required"])


if __name__ == "__main__":
    harness.main()
