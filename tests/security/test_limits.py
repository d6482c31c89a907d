"""Request limits on the real server: the per-address rate limit and the client address
behind proxies, body size with and without Content-Length, header count and size, URL
length, and hostile JSON bodies."""

import json
import socket
import sqlite3
import unittest

from common import SECURITY_HEADERS, harness, raw_request, read_response


def audit_ips(server: harness.Server, action: str) -> list:
    """Return the ip_address of every audit row with this action, oldest first."""
    with sqlite3.connect(f"file:{server.database_path}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT ip_address FROM audit_log WHERE action = ? ORDER BY id",
                          (action,)).fetchall()
    return [row[0] for row in rows]


class RateLimitTest(harness.IntegrationTestCase):

    def assert_rate_headers(self, response, remaining: int) -> None:
        self.assertEqual(response.header("X-RateLimit-Limit"), "100")
        self.assertEqual(response.header("X-RateLimit-Remaining"), str(remaining))
        reset = int(response.header("X-RateLimit-Reset"))
        self.assertGreaterEqual(reset, 0)
        self.assertLessEqual(reset, 60)

    def test_101st_request_gets_429(self):
        server = self.start_server({"RATE_LIMIT_MAX_REQUESTS": "100",
                                    "RATE_LIMIT_WINDOW_SECONDS": "60"})
        client = server.client()
        for i in range(100):
            response = client.get("/api/v1/auth/me", auth=False)
            self.assertEqual(response.status, 401, f"request {i + 1}: {response.text}")
            self.assert_rate_headers(response, 99 - i)
        response = client.get("/api/v1/auth/me", auth=False)
        self.assertEqual(response.status, 429, response.text)
        self.assert_rate_headers(response, 0)
        retry_after = int(response.header("Retry-After"))
        self.assertGreaterEqual(retry_after, 1)
        self.assertLessEqual(retry_after, 60)
        self.assertEqual(response.header("Content-Type"), "application/json")
        for name, value in SECURITY_HEADERS.items():
            self.assertEqual(response.header(name), value, name)
        # A valid token does not lift the limit: the limit runs before authentication.
        response = client.post("/api/v1/auth/login",
                               {"username": "admin", "password": server.admin_password},
                               auth=False)
        self.assertEqual(response.status, 429)
        # Liveness probes are exempt.
        for _ in range(5):
            self.assertEqual(client.get("/health", auth=False).status, 200)
            self.assertEqual(client.get("/api/v1/health", auth=False).status, 200)
        # So are the web UI's files, but not the API, /ready or the root page.
        self.assertNotEqual(client.get("/containers", auth=False).status, 429)
        self.assertEqual(client.get("/ready", auth=False).status, 429)
        self.assertEqual(client.get("/", auth=False).status, 429)
        self.assertEqual(client.request("POST", "/containers", auth=False).status, 429)

    def test_spoofed_forwarded_for_ignored(self):
        # No TRUSTED_PROXIES: the socket peer is the client whatever the header contains.
        server = self.start_server({"RATE_LIMIT_MAX_REQUESTS": "100"})
        client = server.client()
        for i in range(100):
            response = client.get("/api/v1/auth/me", auth=False,
                                  headers={"X-Forwarded-For": f"198.51.100.{i}"})
            self.assertEqual(response.status, 401)
        response = client.get("/api/v1/auth/me", auth=False,
                              headers={"X-Forwarded-For": "198.51.100.250"})
        self.assertEqual(response.status, 429)

    def test_spoofed_forwarded_for_not_audited(self):
        server = self.start_server()
        response = server.client().post(
            "/api/v1/auth/login", {"username": "admin", "password": "wrong-password"},
            auth=False, headers={"X-Forwarded-For": "203.0.113.99"})
        self.assertEqual(response.status, 401)
        self.assertEqual(audit_ips(server, "auth.login"), ["127.0.0.1"])

    def test_trusted_proxy_rightmost_untrusted_hop(self):
        server = self.start_server({"RATE_LIMIT_MAX_REQUESTS": "100",
                                    "TRUSTED_PROXIES": "127.0.0.1/32"})
        client = server.client()
        # The left-most hop is what the client wrote; only the right-most untrusted hop,
        # appended by our proxy, counts.
        for i in range(100):
            response = client.get("/api/v1/auth/me", auth=False,
                                  headers={"X-Forwarded-For": f"10.9.9.{i}, 203.0.113.5"})
            self.assertEqual(response.status, 401, f"request {i + 1}")
        response = client.get("/api/v1/auth/me", auth=False,
                              headers={"X-Forwarded-For": "203.0.113.5, 127.0.0.1"})
        self.assertEqual(response.status, 429, "trusted hops must be skipped")
        # Another client behind the same proxy has its own window.
        response = client.get("/api/v1/auth/me", auth=False,
                              headers={"X-Forwarded-For": "203.0.113.6"})
        self.assertEqual(response.status, 401)
        self.assertEqual(response.header("X-RateLimit-Remaining"), "99")
        # Without the header the proxy itself is the client, with its own window.
        response = client.get("/api/v1/auth/me", auth=False)
        self.assertEqual(response.status, 401)
        self.assertEqual(response.header("X-RateLimit-Remaining"), "99")

    def test_ipv6_prefix_shares_window(self):
        server = self.start_server({"RATE_LIMIT_MAX_REQUESTS": "100",
                                    "TRUSTED_PROXIES": "127.0.0.1/32"})
        client = server.client()

        def status_from(address: str) -> int:
            return client.get("/api/v1/auth/me", auth=False,
                              headers={"X-Forwarded-For": address}).status

        # Each request comes from a new address of the same /64, as a host may choose.
        statuses = [status_from(f"2001:db8:1:2::{i + 1:x}") for i in range(100)]
        self.assertEqual(statuses, [401] * 100)
        self.assertEqual(status_from("2001:db8:1:2:abcd::1"), 429)
        # The next /64 is another client, and IPv4 clients keep one window per address.
        for address in ("2001:db8:1:3::1", "203.0.113.7"):
            response = client.get("/api/v1/auth/me", auth=False,
                                  headers={"X-Forwarded-For": address})
            self.assertEqual(response.status, 401, address)
            self.assert_rate_headers(response, 99)

    def test_trusted_proxy_address_audited(self):
        server = self.start_server({"TRUSTED_PROXIES": "127.0.0.1/32"})
        for header in ("198.51.100.7", "1.2.3.4, 198.51.100.8, 127.0.0.1", "not-an-ip"):
            response = server.client().post(
                "/api/v1/auth/login", {"username": "admin", "password": "wrong-password"},
                auth=False, headers={"X-Forwarded-For": header})
            self.assertEqual(response.status, 401)
        # A malformed hop leaves the proxy's own address.
        self.assertEqual(audit_ips(server, "auth.login"),
                         ["198.51.100.7", "198.51.100.8", "127.0.0.1"])


class RequestSizeTest(harness.IntegrationTestCase):

    def setUp(self) -> None:
        super().setUp()
        self.server = self.start_server()

    def assert_healthy(self) -> None:
        self.assertEqual(self.server.client().get("/health", auth=False).status, 200)

    def test_content_length_over_limit_413_before_body(self):
        limit = 10485760  # the default MAX_REQUEST_SIZE
        request = (f"POST /api/v1/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   f"Content-Type: application/json\r\nContent-Length: {limit + 1}\r\n\r\n")
        # Only the headers are sent: the 413 must come without waiting for the body.
        response = raw_request(self.server, request.encode())
        self.assertIsNotNone(response, "connection closed without a response")
        self.assertEqual(response.status, 413, response)
        self.assertEqual(response.header("Connection"), "close")
        self.assertIn("MAX_REQUEST_SIZE", response.json()["detail"])
        for name, value in SECURITY_HEADERS.items():
            self.assertEqual(response.header(name), value, name)
        self.assert_healthy()

    def test_body_within_limit_is_read(self):
        body = b'{"username": "admin", "password": "' + b"x" * 100 + b'"}'
        request = (f"POST /api/v1/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
        response = raw_request(self.server, request.encode() + body)
        self.assertEqual(response.status, 401, response)
        self.assert_healthy()

    def test_invalid_content_length_rejected(self):
        for value in ("-1", "abc", "99999999999999999999999"):
            with self.subTest(value=value):
                request = (f"POST /api/v1/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                           f"Content-Length: {value}\r\n\r\n")
                response = raw_request(self.server, request.encode())
                if response is not None:
                    self.assertIn(response.status, (400, 413), response)
        self.assert_healthy()

    def test_chunked_body_cut_at_limit(self):
        limit = 10485760
        sock = socket.create_connection((self.server.host, self.server.port), timeout=30)
        sock.sendall(b"POST /api/v1/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"a" * 65536
        sent = 0
        closed = False
        try:
            while sent <= limit + len(chunk) * 64:
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            closed = True
        if not closed:
            # The server may close after reading what it takes; a read then sees EOF.
            sock.settimeout(10)
            try:
                closed = sock.recv(65536) == b""
            except ConnectionResetError:
                closed = True
        sock.close()
        self.assertTrue(closed, f"connection still open after {sent} body bytes")
        self.assertGreater(sent, limit // 2)
        self.assert_healthy()
        self.assertEqual(self.server.login().get("/api/v1/auth/me").status, 200)

    def test_chunked_body_under_limit_accepted(self):
        body = json.dumps({"username": "admin", "password": self.server.admin_password}).encode()
        request = (b"POST /api/v1/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
                   b"Connection: close\r\n\r\n")
        half = len(body) // 2
        for part in (body[:half], body[half:]):
            request += b"%x\r\n%s\r\n" % (len(part), part)
        request += b"0\r\n\r\n"
        response = raw_request(self.server, request)
        self.assertEqual(response.status, 200, response)

    def test_too_many_headers_431(self):
        headers = "".join(f"X-Filler-{i}: {i}\r\n" for i in range(101))
        request = f"GET /api/v1/auth/me HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}\r\n"
        response = raw_request(self.server, request.encode())
        self.assertEqual(response.status, 431, response)
        self.assertEqual(response.header("X-Content-Type-Options"), "nosniff")
        self.assert_healthy()

    def test_oversized_header_rejected(self):
        # 70 KiB in one header passes the 32 KiB header limit.
        request = (f"GET /api/v1/auth/me HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   f"X-Big: {'b' * 70000}\r\n\r\n")
        response = raw_request(self.server, request.encode())
        self.assertEqual(response.status, 431, response)
        self.assertEqual(response.header("X-Frame-Options"), "DENY")
        self.assert_healthy()

    def test_huge_url_414(self):
        for length in (1100, 5000):
            with self.subTest(length=length):
                response = raw_request(self.server, f"GET /api/v1/{'a' * length} HTTP/1.1\r\n"
                                                    "Host: 127.0.0.1\r\n\r\n".encode())
                self.assertEqual(response.status, 414, response)
                self.assertEqual(response.header("X-Frame-Options"), "DENY")
        self.assert_healthy()

    def test_many_query_arguments_answered(self):
        response = raw_request(self.server, f"GET /health?{'q=1&' * 1000} HTTP/1.1\r\n"
                                            "Host: 127.0.0.1\r\n\r\n".encode(), timeout=5)
        self.assertEqual(response.status, 200, response)

    def test_query_string_over_limit_414(self):
        for query in ("q=" + "a" * 5000, "q=1&" * 1100, "%41" * 4200):
            with self.subTest(length=len(query)):
                response = raw_request(self.server, f"GET /health?{query} HTTP/1.1\r\n"
                                                    "Host: 127.0.0.1\r\n\r\n".encode())
                self.assertEqual(response.status, 414, response)
                self.assertEqual(response.header("X-Frame-Options"), "DENY")
        self.assert_healthy()

    @unittest.expectedFailure
    def test_thousands_of_query_arguments_answered(self):
        # NOTE: libmicrohttpd 0.9.75 stores each query argument in the connection's 96 KiB
        # memory pool while it parses the request line. When the pool runs out it logs a
        # 431 but never sends it, and the connection stays open until the 60 s connection
        # timeout. docs/security.md ("Known limits") names the code path in libmicrohttpd.
        response = raw_request(self.server, f"GET /health?{'q=1&' * 3000} HTTP/1.1\r\n"
                                            "Host: 127.0.0.1\r\n\r\n".encode(), timeout=5)
        self.assertIsNotNone(response)

    def test_control_characters_in_url_400(self):
        for path in (b"/api/v1/users%00/1/deactivate", b"/api/v1/users%01", b"/health%0a"):
            with self.subTest(path=path):
                response = raw_request(self.server,
                                       b"GET " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                self.assertEqual(response.status, 400, response)
                self.assertEqual(response.json()["detail"], "URL contains control characters")
        self.assert_healthy()


class JsonBodyTest(harness.IntegrationTestCase):

    def setUp(self) -> None:
        super().setUp()
        self.server = self.start_server()
        self.admin = self.server.login()

    def post_raw(self, path: str, body: bytes):
        return self.admin.request("POST", path, body=body,
                                  headers={"Content-Type": "application/json"})

    def test_malformed_json_400(self):
        for body in (b"{", b"{\"a\":}", b"[1,2", b"\xff\xfe", b"nul", b"{'a':1}", b"\"str\"",
                     b"[]", b"123", b"{\"a\":1} trailing"):
            with self.subTest(body=body):
                response = self.post_raw("/api/v1/users", body)
                self.assertEqual(response.status, 400, response.text)
                self.assertEqual(response.header("Content-Type"), "application/json")

    def test_nesting_over_limit_400(self):
        deep = b'{"a":' * 65 + b"1" + b"}" * 65
        response = self.post_raw("/api/v1/users", deep)
        self.assertEqual(response.status, 400, response.text)
        self.assertIn("MAX_JSON_DEPTH", response.json()["detail"])
        very_deep = b"[" * 100000 + b"]" * 100000
        response = self.post_raw("/api/v1/users", very_deep)
        self.assertEqual(response.status, 400, response.text)
        self.assertIn("MAX_JSON_DEPTH", response.json()["detail"])
        self.assertEqual(self.server.client().get("/health", auth=False).status, 200)

    def test_nesting_at_limit_parsed(self):
        body = b'{"x":' + b"[" * 63 + b"]" * 63 + b"}"
        response = self.post_raw("/api/v1/users", body)
        # Parsed, then rejected by validation because the fields are missing.
        self.assertEqual(response.status, 422, response.text)
        self.assertEqual(response.json()["detail"][0]["loc"], ["body", "username"])

    def test_brackets_inside_strings_not_counted(self):
        body = json.dumps({"username": "[" * 200, "email": "{" * 200}).encode()
        response = self.post_raw("/api/v1/users", body)
        self.assertEqual(response.status, 422, response.text)

    def test_configured_depth_applies(self):
        server = self.start_server({"MAX_JSON_DEPTH": "2"})
        client = server.login()
        response = client.request("POST", "/api/v1/users", body=b'{"a":{"b":[1]}}',
                                  headers={"Content-Type": "application/json"})
        self.assertEqual(response.status, 400, response.text)
        self.assertIn("limit is 2", response.json()["detail"])

    def test_duplicate_keys_400(self):
        response = self.post_raw(
            "/api/v1/auth/login",
            b'{"username":"nobody","username":"admin","password":"x"}')
        self.assertEqual(response.status, 400, response.text)
        self.assertIn("duplicate", response.json()["detail"])

    def test_nul_bytes_in_strings_rejected(self):
        # jansson rejects \u0000 unless JSON_ALLOW_NUL is given, so no handler ever sees a
        # string that C would cut short.
        for path, body in (
                ("/api/v1/auth/login", {"username": "admin\u0000x", "password": "pw"}),
                ("/api/v1/users", {"username": "nul_user", "email": "a\u0000@example.com",
                                   "password": "Security-Test-Pass-1"}),
                ("/api/v1/users", {"username": "nul_user", "email": "nul@example.com",
                                   "password": "Security-\u0000-Pass-1"})):
            with self.subTest(body=body):
                response = self.post_raw(path, json.dumps(body).encode())
                self.assertEqual(response.status, 400, response.text)
                self.assertIn("\\u0000", response.json()["detail"])
        # A raw NUL byte (not an escape) is invalid JSON.
        response = self.post_raw("/api/v1/auth/login",
                                 b'{"username":"ad\x00min","password":"pw"}')
        self.assertEqual(response.status, 400, response.text)

    def test_empty_body_400(self):
        response = self.post_raw("/api/v1/users", b"")
        self.assertEqual(response.status, 400, response.text)


if __name__ == "__main__":
    harness.main()
