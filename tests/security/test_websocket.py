"""Cross-site WebSocket hijacking on the terminal socket, tried on the real server and
engine: a page on another site can neither get a shell ticket with the browser's cookie
nor use a ticket from another origin."""

import urllib.parse

from common import harness
from test_terminal import HandshakeRejected, WebSocket


class CrossSiteTerminalTest(harness.IntegrationTestCase):

    def setUp(self) -> None:
        super().setUp()
        self.server = self.start_server()
        self.client = self.server.client()
        self.client.login()
        self.container = self.docker.run_detached("sleep", "600")

    def new_shell(self) -> dict:
        response = self.client.post(f"/api/v1/containers/{self.container}/shell",
                                    {"shell": "/bin/sh"})
        self.assertEqual(response.status, 200, response.text)
        return response.json()

    def open_socket(self, shell: dict, origin) -> WebSocket:
        path = (f"/api/v1/containers/{self.container}/shell/{shell['exec_id']}?"
                + urllib.parse.urlencode({"ticket": shell["ticket"]}))
        return WebSocket(self.server.host, self.server.port, path, origin=origin)

    def test_cookie_alone_gets_no_ticket(self):
        # What a cross-site form or fetch can send: the browser's cookies, no bearer token.
        login = self.client.post("/api/v1/auth/login", {
            "username": harness.ADMIN_USERNAME, "password": self.server.admin_password},
            auth=False)
        self.assertEqual(login.status, 200, login.text)
        cookie = login.header("Set-Cookie").split(";", 1)[0]
        response = self.client.post(
            f"/api/v1/containers/{self.container}/shell", {"shell": "/bin/sh"}, auth=False,
            headers={"Cookie": cookie, "Origin": "https://attacker.example"})
        self.assertEqual(response.status, 401, response.text)
        self.assertNotIn("ticket", response.text)

    def test_foreign_origins_rejected(self):
        own = f"{self.server.host}:{self.server.port}"
        for origin in ("https://attacker.example", f"http://{own}.attacker.example",
                       f"http://attacker.example/{own}", f"http://{own}@attacker.example",
                       "null", f"ws://{own}", f"http://{self.server.host}:1"):
            shell = self.new_shell()
            with self.assertRaises(HandshakeRejected, msg=origin) as caught:
                self.open_socket(shell, origin)
            self.assertEqual(caught.exception.status, 403, origin)
        # The same ticket flow from the server's own page works.
        terminal = self.open_socket(self.new_shell(), f"http://{own}")
        terminal.send_binary(b"echo own-origin-ok\n")
        terminal.read_until("own-origin-ok\r?\n")
        terminal.close()

    def test_wildcard_cors_keeps_terminal_closed(self):
        server = self.start_server(env={"DEBUG": "true", "CORS_ORIGINS": '["*"]'})
        client = server.client()
        client.login()
        response = client.post(f"/api/v1/containers/{self.container}/shell",
                               {"shell": "/bin/sh"})
        self.assertEqual(response.status, 200, response.text)
        shell = response.json()
        path = (f"/api/v1/containers/{self.container}/shell/{shell['exec_id']}?"
                + urllib.parse.urlencode({"ticket": shell["ticket"]}))
        with self.assertRaises(HandshakeRejected) as caught:
            WebSocket(server.host, server.port, path, origin="https://attacker.example")
        self.assertEqual(caught.exception.status, 403)


if __name__ == "__main__":
    harness.main()
