"""Login, token refresh and revocation, and the users API on the real server."""

import json
import subprocess
import time

import harness


class AuthTest(harness.IntegrationTestCase):

    def setUp(self) -> None:
        super().setUp()
        self.server = self.start_server()
        self.client = self.server.client()

    def test_login_returns_contract_shape(self):
        reply = self.client.login()
        self.assertEqual(reply["token_type"], "bearer")
        self.assertEqual(reply["expires_in"], 30 * 60)
        self.assertTrue(reply["access_token"])
        self.assertTrue(reply["refresh_token"])
        user = reply["user"]
        self.assertEqual(user["username"], harness.ADMIN_USERNAME)
        self.assertEqual(user["role"], "admin")
        self.assertTrue(user["is_superuser"])
        self.assertTrue(user["last_login_at"].endswith("Z"))
        for field in ("id", "email", "is_active", "created_at", "updated_at"):
            self.assertIn(field, user)

    def test_login_form_encoded(self):
        response = self.client.request(
            "POST", "/api/v1/auth/login",
            body=f"username=admin&password={harness.ADMIN_PASSWORD}".encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"}, auth=False)
        self.assertEqual(response.status, 200, response.text)
        self.assertIn("access_token", response.json())

    def test_json_login_sent_as_form_explained(self):
        # curl -d without -H 'Content-Type: application/json' sends this.
        body = json.dumps({"username": "admin", "password": harness.ADMIN_PASSWORD}).encode()
        response = self.client.request(
            "POST", "/api/v1/auth/login", body=body,
            headers={"Content-Type": "application/x-www-form-urlencoded"}, auth=False)
        self.assertEqual(response.status, 422, response.text)
        message = response.json()["detail"][0]["msg"]
        self.assertIn("Content-Type: application/json", message)

    def test_login_failures_share_one_answer(self):
        wrong = self.client.post("/api/v1/auth/login",
                                 {"username": "admin", "password": "wrong-password"}, auth=False)
        unknown = self.client.post("/api/v1/auth/login",
                                   {"username": "nobody", "password": "wrong-password"},
                                   auth=False)
        self.assertEqual(wrong.status, 401)
        self.assertEqual(unknown.status, 401)
        self.assertEqual(wrong.json(), unknown.json())
        self.assertEqual(wrong.json()["detail"], "Incorrect username or password")

    def test_login_validation_names_field(self):
        response = self.client.post("/api/v1/auth/login", {"username": "admin"}, auth=False)
        self.assertEqual(response.status, 422)
        self.assertEqual(response.json()["detail"][0]["loc"], ["body", "password"])
        response = self.client.request("POST", "/api/v1/auth/login", body=b"{not json",
                                       headers={"Content-Type": "application/json"}, auth=False)
        self.assertEqual(response.status, 400)

    def test_protected_endpoint_needs_token(self):
        response = self.client.get("/api/v1/auth/me", auth=False)
        self.assertEqual(response.status, 401)
        self.assertEqual(response.header("WWW-Authenticate"), "Bearer")
        response = self.client.get("/api/v1/containers", auth=False)
        self.assertEqual(response.status, 401)
        response = self.client.get("/api/v1/auth/me", token="not.a.token")
        self.assertEqual(response.status, 401)

    def test_me_with_token(self):
        self.client.login()
        me = self.client.get_json("/api/v1/auth/me")
        self.assertEqual(me["username"], "admin")

    def test_refresh_rotates_and_spends(self):
        reply = self.client.login()
        old_refresh = reply["refresh_token"]
        first = self.client.post("/api/v1/auth/refresh", {"refresh_token": old_refresh},
                                 auth=False)
        self.assertEqual(first.status, 200, first.text)
        new_pair = first.json()
        self.assertNotEqual(new_pair["refresh_token"], old_refresh)
        # Within the grace period the spent token returns the same new pair.
        again = self.client.post("/api/v1/auth/refresh", {"refresh_token": old_refresh},
                                 auth=False)
        self.assertEqual(again.status, 200)
        self.assertEqual(again.json()["refresh_token"], new_pair["refresh_token"])
        me = self.client.get("/api/v1/auth/me", token=new_pair["access_token"])
        self.assertEqual(me.status, 200)

    def test_refresh_token_is_not_a_bearer(self):
        reply = self.client.login()
        response = self.client.get("/api/v1/auth/me", token=reply["refresh_token"])
        self.assertEqual(response.status, 401)
        response = self.client.post("/api/v1/auth/refresh",
                                    {"refresh_token": reply["access_token"]}, auth=False)
        self.assertEqual(response.status, 401)

    def test_logout_revokes_both_tokens(self):
        reply = self.client.login()
        response = self.client.post("/api/v1/auth/logout",
                                    {"refresh_token": reply["refresh_token"]})
        self.assertEqual(response.status, 204)
        self.assertEqual(self.client.get("/api/v1/auth/me").status, 401)
        response = self.client.post("/api/v1/auth/refresh",
                                    {"refresh_token": reply["refresh_token"]}, auth=False)
        self.assertEqual(response.status, 401)

    def test_change_password_revokes_other_sessions(self):
        other = self.server.client()
        other.login()
        self.client.login()
        response = self.client.post("/api/v1/auth/change-password", {
            "current_password": "wrong-password", "new_password": "Brand-New-Pass-2",
            "new_password_confirm": "Brand-New-Pass-2"})
        self.assertEqual(response.status, 400)
        response = self.client.post("/api/v1/auth/change-password", {
            "current_password": harness.ADMIN_PASSWORD, "new_password": "Brand-New-Pass-2",
            "new_password_confirm": "Different-Pass-3"})
        self.assertEqual(response.status, 422)
        response = self.client.post("/api/v1/auth/change-password", {
            "current_password": harness.ADMIN_PASSWORD, "new_password": "Brand-New-Pass-2",
            "new_password_confirm": "Brand-New-Pass-2"})
        self.assertEqual(response.status, 200, response.text)
        self.assertEqual(self.client.get("/api/v1/auth/me").status, 200)
        self.assertEqual(other.get("/api/v1/auth/me").status, 401)
        fresh = self.server.client()
        fresh.login(password="Brand-New-Pass-2")

    def test_user_create_confirm_checked(self):
        self.client.login()
        fields = {"username": "viewer2", "email": "viewer2@example.com",
                  "password": "Viewer-Pass-123", "role": "viewer"}
        missing = self.client.post("/api/v1/users", fields)
        self.assertEqual(missing.status, 422, missing.text)
        error = missing.json()["detail"][0]
        self.assertEqual(error["loc"], ["body", "password_confirm"])
        self.assertEqual(error["msg"], "field required: a string equal to password")
        mismatch = self.client.post("/api/v1/users", {**fields, "password_confirm": "Other-Pass-123"})
        self.assertEqual(mismatch.status, 422, mismatch.text)
        self.assertEqual(mismatch.json()["detail"][0]["msg"], "passwords do not match")

    def test_roles_enforced_on_users_api(self):
        self.client.login()
        created = self.client.post("/api/v1/users", {
            "username": "viewer1", "email": "viewer1@example.com",
            "password": "Viewer-Pass-123", "password_confirm": "Viewer-Pass-123",
            "role": "viewer"})
        self.assertEqual(created.status, 201, created.text)
        viewer_id = created.json()["id"]
        duplicate = self.client.post("/api/v1/users", {
            "username": "VIEWER1", "email": "other@example.com",
            "password": "Viewer-Pass-123", "password_confirm": "Viewer-Pass-123",
            "role": "viewer"})
        self.assertEqual(duplicate.status, 409)

        viewer = self.server.client()
        viewer.login("viewer1", "Viewer-Pass-123")
        forbidden = viewer.get("/api/v1/users")
        self.assertEqual(forbidden.status, 403)
        self.assertIn("admin", forbidden.json()["detail"])
        escalate = viewer.put(f"/api/v1/users/{viewer_id}", {"role": "admin"})
        self.assertEqual(escalate.status, 403)
        self.assertEqual(viewer.get_json("/api/v1/auth/me")["role"], "viewer")

        listing = self.client.get_json("/api/v1/users", params={"role": "viewer"})
        self.assertEqual(listing["total"], 1)
        self.assertEqual(listing["users"][0]["username"], "viewer1")

        deactivated = self.client.post(f"/api/v1/users/{viewer_id}/deactivate")
        self.assertEqual(deactivated.status, 200)
        self.assertEqual(viewer.get("/api/v1/auth/me").status, 401)
        relogin = viewer.post("/api/v1/auth/login",
                              {"username": "viewer1", "password": "Viewer-Pass-123"},
                              auth=False)
        self.assertEqual(relogin.status, 401)

        self_delete = self.client.delete(f"/api/v1/users/{self.client.login()['user']['id']}")
        self.assertEqual(self_delete.status, 400)

    def test_audit_rows_written(self):
        self.client.post("/api/v1/auth/login", {"username": "admin", "password": "bad-pass"},
                         auth=False)
        self.client.login()
        self.server.stop()
        out = subprocess.run(
            ["sqlite3", self.server.database_path,
             "SELECT action, success, username FROM audit_log ORDER BY id"],
            capture_output=True, text=True, check=True).stdout.split("\n")
        self.assertIn("auth.login|0|admin", out)
        self.assertIn("auth.login|1|admin", out)


class ConfigSafetyTest(harness.IntegrationTestCase):

    def test_production_refuses_weak_secret(self):
        server = harness.Server(env={"SECRET_KEY": "tiny-Xq7z"})
        self.addCleanup(server.cleanup)
        server.launch()
        self.assertEqual(server.wait_exit(), 2)
        self.assertIn("SECRET_KEY is shorter than 32 characters", server.log_text())
        self.assertNotIn("tiny-Xq7z", server.log_text())

    def test_generated_admin_password_printed_once(self):
        server = harness.Server(env={"ADMIN_PASSWORD": None})
        self.addCleanup(server.cleanup)
        server.start()
        log = server.log_text()
        self.assertIn("generated password", log)
        password = log.split("generated password:")[1].split()[0]
        client = server.client()
        client.login(password=password)
        server.stop()
        server.start()
        self.assertEqual(server.log_text().count("generated password"), 1)


if __name__ == "__main__":
    harness.main()
