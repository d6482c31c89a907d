"""A hostile or broken Engine API server (fake_engine.py) against the real binary. Each bad
reply must end in a clear 502 or 503 for the request that met it and a log line naming the
problem, while the server still responds to other requests."""

import os
import threading
import time
import unittest
import urllib.parse

from common import harness
import fake_engine
from test_terminal import WebSocket

HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"

# Case name, what the engine sends, the expected status and a part of the error message.
BAD_REPLIES = [
    ("huge header", HEAD + b"X-Filler: " + b"a" * 70000 + b"\r\n\r\n{}", 502,
     "header block is longer than 65536 bytes"),
    ("many headers", HEAD + b"X-A: b\r\n" * 20000 + b"\r\n{}", 502,
     "header block is longer than 65536 bytes"),
    ("NUL in header", HEAD + b"X-A: b\0c\r\nContent-Length: 2\r\n\r\n{}", 502,
     "contains a NUL byte"),
    ("not HTTP", b"SSH-2.0-OpenSSH_9.2\r\n\r\n", 502, "does not start with an HTTP/1.x"),
    ("chunk size not hex", HEAD + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
     502, "chunk size is not a hexadecimal number"),
    ("chunk size overflow",
     HEAD + b"Transfer-Encoding: chunked\r\n\r\n10000000000000000\r\n{}", 502,
     "chunk size overflows 64 bits"),
    ("101 to a plain request",
     b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: tcp\r\nConnection: Upgrade\r\n\r\n{}", 502,
     "HTTP 101"),
    ("endless 100 Continue", b"HTTP/1.1 100 Continue\r\n\r\n" * 100000, 503,
     "ended inside the reply headers"),
    ("body cut short", HEAD + b"Content-Length: 100\r\n\r\n{}", 503,
     "ended before the end of the reply body"),
]


class HostileEngineTest(harness.IntegrationTestCase):

    def start_against(self, reply: fake_engine.Reply, env: dict = None,
                      routes: list = ()) -> harness.Server:
        engine = fake_engine.FakeEngine(reply, routes)
        server = self.start_server(env={"DOCKER_HOST": engine.docker_host, **(env or {})})
        # Cleanups run last in, first out: the engine closes first, which ends the
        # server's waits for it, so the server then stops at once.
        self.addCleanup(engine.close)
        self.engine = engine
        return server

    def test_bad_replies_rejected(self):
        server = self.start_against(fake_engine.hang)
        client = server.client()
        client.login()
        for name, reply, status, message in BAD_REPLIES:
            with self.subTest(name):
                self.engine.reply = fake_engine.send_then_close(reply)
                response = client.get("/api/v1/containers/web/inspect")
                self.assertEqual(response.status, status, response.text)
                self.assertIn(message, response.json()["detail"])
                self.assertTrue(harness.poll(lambda: message in server.log_text(), timeout=5),
                                f"no log line contains {message!r}")
                self.assertEqual(client.get("/health").status, 200)
        self.assertTrue(server.is_running())

    def test_endless_chunked_body_capped(self):
        server = self.start_against(fake_engine.endless_chunks)
        client = server.client()
        client.login()
        response = client.get("/api/v1/containers/web/inspect")
        self.assertEqual(response.status, 502, response.text)
        self.assertIn("larger than 64 MiB", response.json()["detail"])
        self.assertEqual(client.get("/health").status, 200)

    def test_hung_resize_spares_other_terminals(self):
        container_id = os.urandom(32).hex()
        inspect = {"Id": container_id, "Name": "/web",
                   "State": {"Running": True, "Paused": False}}
        routes = [
            (r"^GET .*/containers/web/json$", fake_engine.json_then_close(200, inspect)),
            (r"^POST .*/exec$", fake_engine.json_then_close(201, {"Id": os.urandom(32).hex()})),
            (r"^POST .*/exec/\w+/start$", fake_engine.upgrade_and_echo),
            (r"^GET .*/exec/\w+/json$", fake_engine.json_then_close(200, {"Running": False})),
        ]
        # Every other request, the resize among them, gets no reply.
        server = self.start_against(fake_engine.hang, routes=routes)
        client = server.client()
        client.login()

        def open_terminal(query: dict) -> WebSocket:
            response = client.post("/api/v1/containers/web/shell", {"shell": "/bin/sh"})
            self.assertEqual(response.status, 200, response.text)
            shell = response.json()
            params = urllib.parse.urlencode({"ticket": shell["ticket"], **query})
            path = f"/api/v1/containers/web/shell/{shell['exec_id']}?{params}"
            ws = WebSocket(server.host, server.port, path)
            self.addCleanup(ws.sock.close)
            return ws

        # Opening with a size sends a resize, which the engine never replies to.
        open_terminal({"rows": "24", "cols": "80"})
        self.assertTrue(harness.poll(lambda: self.engine.requests_for("/resize") >= 1,
                                     timeout=10))
        other = open_terminal({})
        other.send_text("echo-me")
        # The resize blocks the WebSocket thread until its engine timeout, which was the
        # 30 s default before resizes got a timeout of their own.
        other.read_until("echo-me", timeout=10)

    # The HTTP handlers call the engine on libmicrohttpd's pool threads and wait up to 30 s
    # (IM_ENGINE_DEFAULT_TIMEOUT_MS) for a reply. An engine that accepts requests and never
    # replies therefore takes one pool thread per request, and once every thread waits,
    # the server responds to nothing else, not even /health, until the timeouts run out.
    @unittest.expectedFailure
    def test_health_during_hung_engine(self):
        server = self.start_against(fake_engine.hang, env={"HTTP_THREADS": "2"})
        client = server.client()
        client.login()
        slow = harness.Client(server.host, server.port, token=client.token, timeout=60)

        def inspect() -> None:
            try:
                slow.get("/api/v1/containers/web/inspect")
            except OSError:
                pass  # only /health matters here

        for _ in range(4):
            threading.Thread(target=inspect, daemon=True).start()
        self.assertTrue(harness.poll(
            lambda: self.engine.requests_for("/containers/web/json") >= 2, timeout=10))
        time.sleep(0.5)
        health = harness.Client(server.host, server.port, timeout=5)
        try:
            status = health.get("/health").status
        except OSError as exc:
            self.fail(f"GET /health got no response while the engine hangs: {exc}")
        self.assertEqual(status, 200)


if __name__ == "__main__":
    harness.main()
