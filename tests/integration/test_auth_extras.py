"""Login throttling, the refresh cookie, TOTP, personal API tokens, security events and
the audit-log API, attacked on the real server.

Client addresses are simulated with X-Forwarded-For from a trusted proxy (TRUSTED_PROXIES
names the loopback address the test connects from), so that one test can act as several
clients."""

import concurrent.futures
import csv
import io
import subprocess
import time

import harness
from harness import totp_code

USER_PASSWORD = "user-password-1"
PROXY_ENV = {"TRUSTED_PROXIES": "127.0.0.1/32", "HTTP_THREADS": "4"}


class AuthExtrasBase(harness.IntegrationTestCase):

    env: dict = PROXY_ENV

    def setUp(self) -> None:
        super().setUp()
        self.server = self.start_server(env=self.env)
        self.admin = self.server.login()

    def create_user(self, name: str, role: str = "viewer") -> int:
        response = self.admin.post("/api/v1/users", {
            "username": name, "email": f"{name}@example.com", "password": USER_PASSWORD,
            "password_confirm": USER_PASSWORD, "role": role})
        self.assertEqual(response.status, 201, response.text)
        return response.json()["id"]

    def login_from(self, ip: str, username: str, password: str,
                   extra_headers=None) -> harness.Response:
        headers = {"X-Forwarded-For": ip}
        headers.update(extra_headers or {})
        return self.server.client().post("/api/v1/auth/login",
                                         {"username": username, "password": password},
                                         headers=headers, auth=False)

    def audit_rows(self, action: str) -> list:
        reply = self.admin.get_json("/api/v1/audit-logs",
                                    params={"action": action, "page_size": 100})
        return reply["items"]


class ThrottleTest(AuthExtrasBase):

    def test_username_throttled_after_five_failures(self):
        self.create_user("alice")
        self.assertEqual(self.login_from("198.51.100.7", "alice", USER_PASSWORD).status, 200)
        for attempt in range(6):
            response = self.login_from("203.0.113.5", "alice", "wrong-password")
            self.assertEqual(response.status, 401, f"attempt {attempt + 1}: {response.text}")
        blocked = self.login_from("203.0.113.5", "alice", USER_PASSWORD)
        self.assertEqual(blocked.status, 429, blocked.text)
        retry_after = int(blocked.header("Retry-After"))
        self.assertGreaterEqual(retry_after, 1)
        self.assertLessEqual(retry_after, 15)
        # A new address is held back too: the username itself is throttled.
        self.assertEqual(self.login_from("192.0.2.44", "alice", USER_PASSWORD).status, 429)
        # The address alice logged in from before, with no failures of its own, is not.
        self.assertEqual(self.login_from("198.51.100.7", "alice", USER_PASSWORD).status, 200)

    def test_unknown_user_throttled_alike(self):
        answers = [self.login_from("203.0.113.9", "ghost-user", "wrong-password")
                   for _ in range(6)]
        self.assertEqual([a.status for a in answers], [401] * 6)
        self.assertEqual(len({a.text for a in answers}), 1)
        blocked = self.login_from("203.0.113.9", "ghost-user", "wrong-password")
        self.assertEqual(blocked.status, 429)
        self.assertIsNotNone(blocked.header("Retry-After"))

    def test_brute_force_raises_one_event(self):
        self.create_user("bob")
        for _ in range(9):
            self.login_from("203.0.113.20", "bob", "wrong-password")
        rows = self.audit_rows("security.brute_force_user")
        self.assertEqual(len(rows), 1, rows)
        self.assertEqual(rows[0]["username"], "bob")
        self.assertEqual(rows[0]["ip_address"], "203.0.113.20")
        self.assertIn("security.brute_force_user", self.server.log_text())

    def spray_then_check(self, sprayed: list, blocked_from: str, other: str) -> None:
        """Fail a login for a new username from each of the 11 sprayed addresses, then
        expect the admin's valid login to get 429 from blocked_from and 200 from other."""
        for index, address in enumerate(sprayed):
            response = self.login_from(address, f"sprayed-{index}", "wrong-password")
            self.assertEqual(response.status, 401, f"name {index}: {response.text}")
        blocked = self.login_from(blocked_from, harness.ADMIN_USERNAME,
                                  self.server.admin_password)
        self.assertEqual(blocked.status, 429)
        allowed = self.login_from(other, harness.ADMIN_USERNAME, self.server.admin_password)
        self.assertEqual(allowed.status, 200)

    def test_client_ip_throttled_across_usernames(self):
        self.spray_then_check(["203.0.113.30"] * 11, "203.0.113.30", "198.51.100.30")
        rows = self.audit_rows("security.brute_force_ip")
        self.assertEqual(len(rows), 1, rows)
        self.assertEqual(rows[0]["ip_address"], "203.0.113.30")

    def test_ipv6_prefix_throttled_as_one(self):
        # A host can pick any address in its /64, so a new address for each try must not
        # bring a fresh allowance of failures.
        sprayed = [f"2001:db8:5:6::{index + 1:x}" for index in range(11)]
        self.spray_then_check(sprayed, "2001:db8:5:6:ffff:ffff:ffff:fffe", "2001:db8:5:7::1")

    def test_inactive_wrong_and_unknown_share_answer(self):
        user_id = self.create_user("carol")
        self.assertEqual(self.admin.post(f"/api/v1/users/{user_id}/deactivate").status, 200)
        inactive = self.login_from("198.51.100.40", "carol", USER_PASSWORD)
        wrong = self.login_from("198.51.100.41", harness.ADMIN_USERNAME, "wrong-password")
        unknown = self.login_from("198.51.100.42", "nobody-here", "wrong-password")
        self.assertEqual(inactive.status, 401)
        self.assertEqual(wrong.status, 401)
        self.assertEqual(unknown.status, 401)
        self.assertEqual(inactive.text, wrong.text)
        self.assertEqual(unknown.text, wrong.text)

    def test_concurrent_logins_never_queue_on_hashing(self):
        """Every response is a login or an immediate 503 with Retry-After, never an error."""
        def attempt(index: int) -> harness.Response:
            return self.login_from(f"198.51.100.{100 + index}", harness.ADMIN_USERNAME,
                                   self.server.admin_password)
        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(pool.map(attempt, range(16)))
        for answer in answers:
            self.assertIn(answer.status, (200, 503), answer.text)
            if answer.status == 503:
                self.assertEqual(answer.header("Retry-After"), "1")
        self.assertIn(200, [a.status for a in answers])


class RefreshCookieTest(AuthExtrasBase):

    @staticmethod
    def cookie_of(response: harness.Response) -> str:
        header = response.header("Set-Cookie")
        assert header and header.startswith("inframon_refresh="), header
        return header

    def test_login_sets_hardened_cookie(self):
        response = self.login_from("198.51.100.50", harness.ADMIN_USERNAME,
                                   self.server.admin_password)
        cookie = self.cookie_of(response)
        attributes = [part.strip() for part in cookie.split(";")]
        self.assertEqual(attributes[0], "inframon_refresh=" + response.json()["refresh_token"])
        for attribute in ("HttpOnly", "Secure", "SameSite=Strict", "Path=/api/v1/auth"):
            self.assertIn(attribute, attributes)

    def test_cookie_refresh_needs_csrf_proof(self):
        login = self.login_from("198.51.100.51", harness.ADMIN_USERNAME,
                                self.server.admin_password)
        token = login.json()["refresh_token"]
        client = self.server.client()
        cookie = {"Cookie": f"theme=dark; inframon_refresh={token}"}
        bare = client.post("/api/v1/auth/refresh", headers=cookie, auth=False)
        self.assertEqual(bare.status, 403, bare.text)
        evil = client.post("/api/v1/auth/refresh",
                           headers={**cookie, "Origin": "https://evil.example"}, auth=False)
        self.assertEqual(evil.status, 403, evil.text)
        same_origin = client.post(
            "/api/v1/auth/refresh",
            headers={**cookie, "Origin": f"http://127.0.0.1:{self.server.port}"}, auth=False)
        self.assertEqual(same_origin.status, 200, same_origin.text)
        new_token = same_origin.json()["refresh_token"]
        self.assertIn(f"inframon_refresh={new_token};", self.cookie_of(same_origin))
        with_header = client.post(
            "/api/v1/auth/refresh",
            headers={"Cookie": f"inframon_refresh={new_token}", "X-Requested-With": "fetch"},
            auth=False)
        self.assertEqual(with_header.status, 200, with_header.text)

    def test_body_refresh_still_works(self):
        self.admin.login()
        response = self.admin.post("/api/v1/auth/refresh",
                                   {"refresh_token": self.admin.refresh_token}, auth=False)
        self.assertEqual(response.status, 200, response.text)
        missing = self.admin.post("/api/v1/auth/refresh", {}, auth=False)
        self.assertEqual(missing.status, 422)

    def test_logout_clears_cookie(self):
        self.admin.login()
        response = self.admin.post("/api/v1/auth/logout")
        self.assertEqual(response.status, 204)
        cookie = self.cookie_of(response)
        self.assertTrue(cookie.startswith("inframon_refresh=;"), cookie)
        self.assertIn("Max-Age=0", cookie)

    def test_reuse_after_grace_raises_security_event(self):
        self.admin.login()
        spent = self.admin.refresh_token
        first = self.admin.post("/api/v1/auth/refresh", {"refresh_token": spent}, auth=False)
        self.assertEqual(first.status, 200)
        time.sleep(11)  # past the 10-second grace window of a rotation
        reuse = self.admin.post("/api/v1/auth/refresh", {"refresh_token": spent}, auth=False)
        self.assertEqual(reuse.status, 401)
        successor = first.json()["refresh_token"]
        revoked = self.admin.post("/api/v1/auth/refresh", {"refresh_token": successor},
                                  auth=False)
        self.assertEqual(revoked.status, 401)
        admin = self.server.login()
        rows = admin.get_json("/api/v1/audit-logs",
                              params={"action": "security.refresh_reuse"})["items"]
        self.assertEqual(len(rows), 1, rows)
        self.assertIn("security.refresh_reuse", self.server.log_text())


class DebugCookieTest(harness.IntegrationTestCase):

    def test_debug_localhost_cookie_not_secure(self):
        server = self.start_server(env={"DEBUG": "true"})
        response = server.client().post(
            "/api/v1/auth/login",
            {"username": harness.ADMIN_USERNAME, "password": server.admin_password}, auth=False)
        self.assertEqual(response.status, 200)
        cookie = response.header("Set-Cookie")
        self.assertIn("HttpOnly", cookie)
        self.assertNotIn("Secure", cookie)


class TotpTest(AuthExtrasBase):

    def test_totp_enrolment_login_and_disable(self):
        user_id = self.create_user("dave")
        dave = self.server.login("dave", USER_PASSWORD)
        setup = dave.post("/api/v1/auth/totp/setup")
        self.assertEqual(setup.status, 200, setup.text)
        secret = setup.json()["secret"]
        self.assertEqual(len(secret), 32)
        self.assertEqual(setup.json()["otpauth_uri"],
                         f"otpauth://totp/InfraMon:dave?secret={secret}&issuer=InfraMon"
                         "&algorithm=SHA1&digits=6&period=30")

        wrong = dave.post("/api/v1/auth/totp/enable", {"code": "000000"
                                                       if totp_code(secret, time.time())
                                                       != "000000" else "111111"})
        self.assertEqual(wrong.status, 422)
        enabled = dave.post("/api/v1/auth/totp/enable", {"code": totp_code(secret, time.time())})
        self.assertEqual(enabled.status, 200, enabled.text)
        recovery = enabled.json()["recovery_codes"]
        self.assertEqual(len(recovery), 10)
        self.assertEqual(len(set(recovery)), 10)
        self.assertEqual(dave.post("/api/v1/auth/totp/setup").status, 409)

        first = self.login_from("198.51.100.60", "dave", USER_PASSWORD)
        self.assertEqual(first.status, 200)
        self.assertTrue(first.json()["totp_required"])
        self.assertNotIn("access_token", first.json())
        totp_token = first.json()["totp_token"]

        client = self.server.client()
        bad = client.post("/api/v1/auth/login/totp", {"totp_token": totp_token, "code": "12345"},
                          auth=False)
        self.assertEqual(bad.status, 401)
        # The next step's code: the enabling code's step is spent.
        code = totp_code(secret, time.time() + 30)
        done = client.post("/api/v1/auth/login/totp", {"totp_token": totp_token, "code": code},
                           auth=False)
        self.assertEqual(done.status, 200, done.text)
        self.assertIn("access_token", done.json())
        again = client.post("/api/v1/auth/login/totp", {"totp_token": totp_token, "code": code},
                            auth=False)
        self.assertEqual(again.status, 401, "a TOTP code or token must work only once")

        second = self.login_from("198.51.100.60", "dave", USER_PASSWORD).json()["totp_token"]
        by_recovery = client.post("/api/v1/auth/login/totp",
                                  {"totp_token": second, "code": recovery[0].lower()},
                                  auth=False)
        self.assertEqual(by_recovery.status, 200, by_recovery.text)
        third = self.login_from("198.51.100.60", "dave", USER_PASSWORD).json()["totp_token"]
        reused = client.post("/api/v1/auth/login/totp",
                             {"totp_token": third, "code": recovery[0]}, auth=False)
        self.assertEqual(reused.status, 401, "a recovery code must work only once")
        refresh_as_totp = client.post("/api/v1/auth/login/totp",
                                      {"totp_token": done.json()["refresh_token"],
                                       "code": recovery[1]}, auth=False)
        self.assertEqual(refresh_as_totp.status, 401)

        dave.token = done.json()["access_token"]
        self.assertEqual(dave.post("/api/v1/auth/totp/disable",
                                   {"password": "not-the-password"}).status, 400)
        self.assertEqual(dave.post("/api/v1/auth/totp/disable",
                                   {"password": USER_PASSWORD}).status, 204)
        plain = self.login_from("198.51.100.60", "dave", USER_PASSWORD)
        self.assertIn("access_token", plain.json())

        actions = {row["action"] for row in self.admin.get_json(
            "/api/v1/audit-logs", params={"user_id": user_id, "page_size": 100})["items"]}
        for action in ("auth.totp_setup", "auth.totp_enable", "auth.totp_disable",
                       "auth.login", "auth.login_password"):
            self.assertIn(action, actions)
        logins = self.admin.get_json("/api/v1/audit-logs", params={
            "user_id": user_id, "action": "auth.login", "success": "true"})["items"]
        factors = {(row["details"] or {}).get("second_factor") for row in logins}
        self.assertEqual(factors, {"totp", "recovery_code", None})


class ApiTokenTest(AuthExtrasBase):

    def test_token_lifecycle(self):
        user_id = self.create_user("erin", role="operator")
        erin = self.server.login("erin", USER_PASSWORD)
        created = erin.post("/api/v1/auth/tokens", {"name": "ci script", "expires_in_days": 30})
        self.assertEqual(created.status, 201, created.text)
        token = created.json()["token"]
        self.assertTrue(token.startswith("imt_"))
        self.assertEqual(created.json()["prefix"], token[:8])

        by_token = self.server.client(token=token)
        me = by_token.get("/api/v1/auth/me")
        self.assertEqual(me.status, 200, me.text)
        self.assertEqual(me.json()["username"], "erin")
        listed = erin.get_json("/api/v1/auth/tokens")["items"]
        self.assertEqual(len(listed), 1)
        self.assertNotIn("token", listed[0])
        self.assertNotIn(token, str(listed))
        self.assertIsNotNone(listed[0]["last_used_at"])

        # The role is read when the token is used, not when it was made.
        self.assertEqual(by_token.get("/api/v1/users").status, 403)
        promoted = self.admin.put(f"/api/v1/users/{user_id}", {"role": "admin"})
        self.assertEqual(promoted.status, 200, promoted.text)
        self.assertEqual(by_token.get("/api/v1/users").status, 200)

        # A token cannot mint more tokens or change the second factor.
        self.assertEqual(by_token.post("/api/v1/auth/tokens",
                                       {"name": "x", "expires_in_days": 1}).status, 403)
        self.assertEqual(by_token.post("/api/v1/auth/totp/setup").status, 403)

        token_id = created.json()["id"]
        self.assertEqual(self.admin.delete(f"/api/v1/auth/tokens/{token_id}").status, 404)
        self.assertEqual(erin.delete(f"/api/v1/auth/tokens/{token_id}").status, 204)
        self.assertEqual(by_token.get("/api/v1/auth/me").status, 401)
        actions = [row["action"] for row in self.admin.get_json(
            "/api/v1/audit-logs", params={"user_id": user_id, "page_size": 100})["items"]]
        self.assertIn("auth.api_token_create", actions)
        self.assertIn("auth.api_token_revoke", actions)

    def test_expired_and_forged_tokens_rejected(self):
        created = self.admin.post("/api/v1/auth/tokens", {"name": "short", "expires_in_days": 1})
        token = created.json()["token"]
        client = self.server.client(token=token)
        self.assertEqual(client.get("/api/v1/auth/me").status, 200)
        subprocess.run(["sqlite3", self.server.database_path,
                        "UPDATE api_tokens SET expires_at = 1"], check=True)
        self.assertEqual(client.get("/api/v1/auth/me").status, 401)
        forged = token[:-1] + ("A" if token[-1] != "A" else "B")
        self.assertEqual(self.server.client(token=forged).get("/api/v1/auth/me").status, 401)
        self.assertEqual(self.server.client(token="imt_../../etc").get("/api/v1/auth/me").status,
                         401)

    def test_token_request_validated(self):
        for body, field in (({"expires_in_days": 1}, "name"),
                            ({"name": "x", "expires_in_days": 0}, "expires_in_days"),
                            ({"name": "x", "expires_in_days": 366}, "expires_in_days"),
                            ({"name": "x\n", "expires_in_days": 1}, "name")):
            response = self.admin.post("/api/v1/auth/tokens", body)
            self.assertEqual(response.status, 422, body)
            self.assertEqual(response.json()["detail"][0]["loc"], ["body", field])


class ForbiddenEventTest(AuthExtrasBase):

    def test_repeated_forbidden_raises_one_event(self):
        self.create_user("frank")
        frank = self.server.login("frank", USER_PASSWORD)
        for _ in range(15):
            self.assertEqual(frank.get("/api/v1/users").status, 403)
        rows = self.audit_rows("security.repeated_forbidden")
        self.assertEqual(len(rows), 1, rows)
        self.assertEqual(rows[0]["username"], "frank")


class AuditLogApiTest(AuthExtrasBase):

    def test_filters_and_paging(self):
        for index in range(3):
            self.login_from(f"198.51.100.{70 + index}", harness.ADMIN_USERNAME, "bad-password")
        failed = self.admin.get_json("/api/v1/audit-logs", params={
            "action": "auth.login", "success": "false", "page_size": 2})
        self.assertEqual(failed["total"], 3)
        self.assertEqual(failed["page"], 1)
        self.assertEqual(failed["page_size"], 2)
        self.assertEqual(len(failed["items"]), 2)
        page2 = self.admin.get_json("/api/v1/audit-logs", params={
            "action": "auth.login", "success": "false", "page_size": 2, "page": 2})
        self.assertEqual(len(page2["items"]), 1)
        for item in failed["items"] + page2["items"]:
            self.assertEqual(item["action"], "auth.login")
            self.assertFalse(item["success"])
        ids = [i["id"] for i in failed["items"] + page2["items"]]
        self.assertEqual(ids, sorted(ids, reverse=True))
        future = self.admin.get_json("/api/v1/audit-logs",
                                     params={"since": "2200-01-01T00:00:00Z"})
        self.assertEqual(future["total"], 0)
        past = self.admin.get_json("/api/v1/audit-logs",
                                   params={"until": "2000-01-01T00:00:00+02:00"})
        self.assertEqual(past["total"], 0)
        for params, field in (({"page_size": 101}, "page_size"), ({"page": 0}, "page"),
                              ({"since": "yesterday"}, "since"), ({"success": "maybe"}, "success"),
                              ({"user_id": "1 OR 1=1"}, "user_id"), ({"format": "xml"}, "format")):
            response = self.admin.get("/api/v1/audit-logs", params=params)
            self.assertEqual(response.status, 422, params)
            self.assertEqual(response.json()["detail"][0]["loc"], ["query", field])

    def test_admin_only(self):
        self.create_user("gina", role="operator")
        gina = self.server.login("gina", USER_PASSWORD)
        response = gina.get("/api/v1/audit-logs")
        self.assertEqual(response.status, 403)
        self.assertIn("admin", response.json()["detail"])

    def test_csv_export_escapes_fields(self):
        hostile_name = '=HYPERLINK("http://x.example","y")'
        hostile_agent = '@evil "quoted", agent'
        self.server.client().post("/api/v1/auth/login",
                                  {"username": hostile_name, "password": "whatever1"},
                                  headers={"User-Agent": hostile_agent}, auth=False)
        response = self.admin.get("/api/v1/audit-logs",
                                  params={"format": "csv", "success": "false"})
        self.assertEqual(response.status, 200)
        self.assertTrue(response.header("Content-Type").startswith("text/csv"))
        rows = list(csv.reader(io.StringIO(response.text)))
        self.assertEqual(rows[0][:5], ["id", "timestamp", "user_id", "username", "action"])
        self.assertEqual(len(rows), 2, rows)
        row = dict(zip(rows[0], rows[1]))
        self.assertEqual(row["username"], "'" + hostile_name)
        self.assertEqual(row["user_agent"], "'" + hostile_agent)
        self.assertEqual(row["success"], "false")
        self.assertIn('"=HYPERLINK(""http', response.text.replace("'", ""))


class AuditRetentionTest(harness.IntegrationTestCase):

    def test_old_rows_deleted_at_start(self):
        server = self.start_server(env={"AUDIT_RETENTION_DAYS": "30"})
        server.stop()
        now = int(time.time())
        subprocess.run(["sqlite3", server.database_path,
                        "INSERT INTO audit_log (timestamp, action, success) VALUES "
                        f"({now - 40 * 86400}, 'test.old', 1), "
                        f"({now - 10 * 86400}, 'test.recent', 1)"], check=True)
        server.start()
        admin = server.login()
        actions = {row["action"] for row in admin.get_json(
            "/api/v1/audit-logs", params={"page_size": 100})["items"]}
        self.assertIn("test.recent", actions)
        self.assertNotIn("test.old", actions)


if __name__ == "__main__":
    harness.main()
