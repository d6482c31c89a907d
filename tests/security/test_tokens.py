"""Attacks on bearer tokens against the real server: forged, tampered, expired, wrong
algorithm, wrong key, cross-user, refresh-as-bearer, and tokens of deleted users."""

import hashlib
import json
import uuid

from common import (access_claims, b64url, harness, now, sign_token, token_payload)

USER_PASSWORD = "Security-Test-Pass-1"


class TokenAttackTest(harness.IntegrationTestCase):

    def setUp(self) -> None:
        super().setUp()
        self.server = self.start_server()
        self.admin = self.server.login()
        self.claims = token_payload(self.admin.token)

    def create_user(self, username: str, role: str = "viewer") -> dict:
        response = self.admin.post("/api/v1/users", {
            "username": username, "email": f"{username}@example.com",
            "password": USER_PASSWORD, "password_confirm": USER_PASSWORD, "role": role})
        self.assertEqual(response.status, 201, response.text)
        return response.json()

    def assert_rejected(self, token: str) -> None:
        response = self.server.client().get("/api/v1/auth/me", token=token)
        self.assertEqual(response.status, 401, f"token accepted: {response.text}")
        self.assertEqual(response.header("WWW-Authenticate"), "Bearer")
        self.assertEqual(response.json()["detail"], "Could not validate credentials")

    def test_genuine_token_accepted(self):
        # The control case: the minting helper reproduces a token the server accepts, so
        # each rejection below comes from the one thing that test changed.
        token = sign_token({"alg": "HS256", "typ": "JWT"}, access_claims(self.claims),
                           self.server.secret_key)
        response = self.server.client().get("/api/v1/auth/me", token=token)
        self.assertEqual(response.status, 200, response.text)

    def test_alg_none_rejected(self):
        header = b64url(b'{"alg":"none","typ":"JWT"}')
        payload = b64url(json.dumps(access_claims(self.claims)).encode())
        self.assert_rejected(f"{header}.{payload}.")
        self.assert_rejected(f"{header}.{payload}")

    def test_hs512_rejected(self):
        token = sign_token({"alg": "HS512", "typ": "JWT"}, access_claims(self.claims),
                           self.server.secret_key, hashlib.sha512)
        self.assert_rejected(token)

    def test_lowercase_hs256_rejected(self):
        token = sign_token({"alg": "hs256", "typ": "JWT"}, access_claims(self.claims),
                           self.server.secret_key)
        self.assert_rejected(token)

    def test_wrong_key_rejected(self):
        token = sign_token({"alg": "HS256", "typ": "JWT"}, access_claims(self.claims),
                           harness.random_secret(48))
        self.assert_rejected(token)

    def test_changed_payload_rejected(self):
        header, _, signature = self.admin.token.split(".")
        claims = dict(self.claims, sub="someone-else", user_id=999)
        payload = b64url(json.dumps(claims).encode())
        self.assert_rejected(f"{header}.{payload}.{signature}")

    def test_garbage_tokens_rejected(self):
        for token in ("", "a", "a.b", "a.b.c", "....", "x" * 5000, self.admin.token + "x"):
            with self.subTest(token=token[:20]):
                response = self.server.client().get(
                    "/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}, auth=False)
                self.assertEqual(response.status, 401)

    def test_expired_token_rejected(self):
        claims = access_claims(self.claims, iat=now() - 7200, exp=now() - 3600)
        self.assert_rejected(sign_token({"alg": "HS256", "typ": "JWT"}, claims,
                                        self.server.secret_key))

    def test_future_iat_rejected(self):
        claims = access_claims(self.claims, iat=now() + 3600, exp=now() + 7200)
        self.assert_rejected(sign_token({"alg": "HS256", "typ": "JWT"}, claims,
                                        self.server.secret_key))

    def test_refresh_token_as_bearer_rejected(self):
        self.assert_rejected(self.admin.refresh_token)

    def test_access_token_as_refresh_rejected(self):
        response = self.server.client().post(
            "/api/v1/auth/refresh", {"refresh_token": self.admin.token}, auth=False)
        self.assertEqual(response.status, 401, response.text)

    def test_token_of_a_cannot_act_as_b(self):
        user_a = self.create_user("user_a")
        user_b = self.create_user("user_b")
        client_a = self.server.login("user_a", USER_PASSWORD)
        self.server.login("user_b", USER_PASSWORD)
        # A's own token on B's resources.
        response = client_a.get(f"/api/v1/users/{user_b['id']}")
        self.assertEqual(response.status, 403)
        response = client_a.put(f"/api/v1/users/{user_b['id']}", {"email": "a-owns@example.com"})
        self.assertEqual(response.status, 403)
        self.assertEqual(self.admin.get_json(f"/api/v1/users/{user_b['id']}")["email"],
                         "user_b@example.com")
        # A's session with B's identity, signed with the real key: the session belongs to
        # A, so the server must refuse it even though the signature is valid.
        a_claims = token_payload(client_a.token)
        forged = access_claims(a_claims, sub="user_b", user_id=user_b["id"])
        self.assert_rejected(sign_token({"alg": "HS256", "typ": "JWT"}, forged,
                                        self.server.secret_key))
        # A session id that does not exist.
        forged = access_claims(a_claims, sid=uuid.uuid4().hex)
        self.assert_rejected(sign_token({"alg": "HS256", "typ": "JWT"}, forged,
                                        self.server.secret_key))
        me = client_a.get_json("/api/v1/auth/me")
        self.assertEqual(me["id"], user_a["id"])

    def test_deleted_user_token_dies(self):
        user = self.create_user("doomed_user", role="operator")
        client = self.server.login("doomed_user", USER_PASSWORD)
        self.assertEqual(client.get("/api/v1/auth/me").status, 200)
        response = self.admin.delete(f"/api/v1/users/{user['id']}")
        self.assertEqual(response.status, 204, response.text)
        self.assert_rejected(client.token)
        response = self.server.client().post(
            "/api/v1/auth/refresh", {"refresh_token": client.refresh_token}, auth=False)
        self.assertEqual(response.status, 401, response.text)

    def test_deactivated_user_token_dies(self):
        user = self.create_user("paused_user")
        client = self.server.login("paused_user", USER_PASSWORD)
        response = self.admin.post(f"/api/v1/users/{user['id']}/deactivate")
        self.assertEqual(response.status, 200, response.text)
        self.assert_rejected(client.token)

    def test_logged_out_token_dies(self):
        client = self.server.login()
        response = client.post("/api/v1/auth/logout", {"refresh_token": client.refresh_token})
        self.assertIn(response.status, (200, 204), response.text)
        self.assert_rejected(client.token)

    def test_bearer_scheme_required(self):
        for value in (f"Basic {self.admin.token}", self.admin.token, "Bearer", "Bearer "):
            with self.subTest(value=value[:12]):
                response = self.server.client().get(
                    "/api/v1/auth/me", headers={"Authorization": value}, auth=False)
                self.assertEqual(response.status, 401)


if __name__ == "__main__":
    harness.main()
