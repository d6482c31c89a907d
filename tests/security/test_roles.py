"""Role escalation attempts on the real server: viewers and operators raising their own
role, reactivating themselves, and calling admin and operator endpoints."""

from common import harness

USER_PASSWORD = "Security-Test-Pass-1"


class RoleEscalationTest(harness.IntegrationTestCase):

    def setUp(self) -> None:
        super().setUp()
        self.server = self.start_server()
        self.admin = self.server.login()
        self.users = {}
        for role in ("viewer", "operator"):
            response = self.admin.post("/api/v1/users", {
                "username": f"{role}_user", "email": f"{role}@example.com",
                "password": USER_PASSWORD, "password_confirm": USER_PASSWORD, "role": role})
            self.assertEqual(response.status, 201, response.text)
            self.users[role] = response.json()
        self.viewer = self.server.login("viewer_user", USER_PASSWORD)
        self.operator = self.server.login("operator_user", USER_PASSWORD)

    def role_of(self, role: str) -> str:
        return self.admin.get_json(f"/api/v1/users/{self.users[role]['id']}")["role"]

    def test_raise_own_role_forbidden(self):
        for role, client in (("viewer", self.viewer), ("operator", self.operator)):
            for target in ("admin", "operator"):
                with self.subTest(role=role, target=target):
                    response = client.put(f"/api/v1/users/{self.users[role]['id']}",
                                          {"role": target})
                    self.assertEqual(response.status, 403, response.text)
                    self.assertEqual(self.role_of(role), role)

    def test_role_hidden_next_to_allowed_field(self):
        response = self.viewer.put(f"/api/v1/users/{self.users['viewer']['id']}",
                                   {"email": "new-viewer@example.com", "role": "admin"})
        self.assertEqual(response.status, 403, response.text)
        self.assertEqual(self.role_of("viewer"), "viewer")

    def test_role_in_duplicate_key_rejected(self):
        body = b'{"email": "x@example.com", "role": "viewer", "role": "admin"}'
        response = self.viewer.request("PUT", f"/api/v1/users/{self.users['viewer']['id']}",
                                       body=body, headers={"Content-Type": "application/json"})
        self.assertEqual(response.status, 400, response.text)
        self.assertEqual(self.role_of("viewer"), "viewer")

    def test_reactivate_self_forbidden(self):
        user_id = self.users["operator"]["id"]
        response = self.operator.put(f"/api/v1/users/{user_id}", {"is_active": True})
        self.assertEqual(response.status, 403, response.text)
        response = self.operator.post(f"/api/v1/users/{user_id}/activate")
        self.assertEqual(response.status, 403, response.text)
        self.assertIn("admin", response.json()["detail"])

    def test_admin_cannot_deactivate_self(self):
        admin_id = self.admin.get_json("/api/v1/auth/me")["id"]
        response = self.admin.post(f"/api/v1/users/{admin_id}/deactivate")
        self.assertEqual(response.status, 403, response.text)
        response = self.admin.put(f"/api/v1/users/{admin_id}", {"role": "viewer"})
        self.assertEqual(response.status, 403, response.text)

    def test_admin_endpoints_forbidden(self):
        target = self.users["viewer"]["id"]
        calls = [
            ("GET", "/api/v1/users", None),
            ("POST", "/api/v1/users", {"username": "sneaky", "email": "s@example.com",
                                       "password": USER_PASSWORD, "role": "admin"}),
            ("DELETE", f"/api/v1/users/{target}", None),
            ("POST", f"/api/v1/users/{target}/activate", None),
            ("POST", f"/api/v1/users/{target}/deactivate", None),
            ("DELETE", "/api/v1/containers", None),
            ("POST", "/api/v1/images/prune", {}),
            ("POST", "/api/v1/networks/prune", {}),
            ("POST", "/api/v1/volumes/prune", {}),
        ]
        for role, client in (("viewer", self.viewer), ("operator", self.operator)):
            for method, path, body in calls:
                with self.subTest(role=role, method=method, path=path):
                    response = client.request(method, path, json_body=body)
                    self.assertEqual(response.status, 403, response.text)
                    self.assertEqual(response.json()["detail"],
                                     f"this action requires the admin role; you have {role}")
        users = self.admin.get_json("/api/v1/users")["users"]
        self.assertNotIn("sneaky", [user["username"] for user in users])

    def test_viewer_cannot_act_on_containers(self):
        name = self.docker.run_detached("sleep", "300")
        for method, path, body in (
                ("POST", f"/api/v1/containers/{name}/stop", None),
                ("POST", f"/api/v1/containers/{name}/kill", None),
                ("DELETE", f"/api/v1/containers/{name}", None),
                ("PUT", f"/api/v1/containers/{name}/rename", {"new_name": "taken-over"}),
                ("POST", "/api/v1/containers/bulk-action",
                 {"action": "stop", "container_ids": [name]})):
            with self.subTest(method=method, path=path):
                response = self.viewer.request(method, path, json_body=body)
                self.assertEqual(response.status, 403, response.text)
                self.assertEqual(response.json()["detail"],
                                 "this action requires the operator role; you have viewer")
        self.assertTrue(self.docker.inspect(name)["State"]["Running"])

    def test_demotion_applies_to_live_token(self):
        response = self.admin.put(f"/api/v1/users/{self.users['operator']['id']}",
                                  {"role": "viewer"})
        self.assertEqual(response.status, 200, response.text)
        response = self.operator.post("/api/v1/containers/bulk-action",
                                      {"action": "stop", "container_ids": ["nothing"]})
        self.assertEqual(response.status, 403, response.text)


if __name__ == "__main__":
    harness.main()
