"""A hostile Engine API server on a unix socket under /tmp, for tests of InfraMon's engine
client (src/engine/wire.c).

A real Docker Engine never sends malformed HTTP, so these cases need a server of their own.
It serves the version negotiation (GET /_ping and GET /version) and an empty container
list like a real engine, and keeps GET /events open without sending anything. Every other
request gets the reply a test picked: the first of `routes` whose pattern matches
"METHOD PATH", else `reply`. Each connection runs on its own thread."""

from __future__ import annotations

import json
import os
import re
import socket
import tempfile
import threading
from typing import Callable

API_VERSION = "1.41"
VERSION_BODY = json.dumps({
    "Version": "20.10.99-hostile", "ApiVersion": API_VERSION, "MinAPIVersion": "1.12",
    "Os": "linux", "Arch": "amd64", "KernelVersion": "6.1.0",
}).encode()

# A reply writer gets the connected socket and a threading.Event that is set when the
# engine closes. It writes what it wants and returns, and then the connection is closed.
Reply = Callable[[socket.socket, threading.Event], None]


def json_reply(status: int, body: bytes) -> bytes:
    return (f"HTTP/1.1 {status} Status\r\nContent-Type: application/json\r\n"
            f"Api-Version: {API_VERSION}\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body


class FakeEngine:
    """Serves the Engine API on a unix socket, with `reply` for the requests under test."""

    def __init__(self, reply: Reply, routes: list[tuple[str, Reply]] = ()):
        self.reply = reply
        self.routes = [(re.compile(pattern), route_reply) for pattern, route_reply in routes]
        self.folder = tempfile.mkdtemp(prefix="inframon-fake-engine-")
        self.path = os.path.join(self.folder, "docker.sock")
        self.closing = threading.Event()
        self.requests: list[str] = []
        self.lock = threading.Lock()
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.path)
        self.listener.listen(64)
        self.connections: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def docker_host(self) -> str:
        return f"unix://{self.path}"

    def close(self) -> None:
        self.closing.set()
        self.listener.close()
        with self.lock:
            for connection in self.connections:
                try:
                    connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                connection.close()
        os.unlink(self.path)
        os.rmdir(self.folder)

    def _accept(self) -> None:
        while not self.closing.is_set():
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                self.connections.append(connection)
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection: socket.socket) -> None:
        buffer = b""
        try:
            while not self.closing.is_set():
                while b"\r\n\r\n" not in buffer:
                    data = connection.recv(65536)
                    if not data:
                        return
                    buffer += data
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target = lines[0].split(" ")[:2]
                length = 0
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value.strip())
                while len(buffer) < length:
                    data = connection.recv(65536)
                    if not data:
                        return
                    buffer += data
                buffer = buffer[length:]
                path = target.split("?")[0]
                with self.lock:
                    self.requests.append(f"{method} {path}")
                if path == "/_ping":
                    connection.sendall(json_reply(200, b"OK"))
                elif path == "/version":
                    connection.sendall(json_reply(200, VERSION_BODY))
                elif path.endswith("/containers/json"):
                    connection.sendall(json_reply(200, b"[]"))
                elif path.endswith("/events"):
                    connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                       b"Transfer-Encoding: chunked\r\n\r\n")
                    self.closing.wait()
                    return
                else:
                    self._reply_for(f"{method} {path}")(connection, self.closing)
                    return
        except OSError:
            return
        finally:
            connection.close()

    def _reply_for(self, request: str) -> Reply:
        for pattern, route_reply in self.routes:
            if pattern.search(request):
                return route_reply
        return self.reply

    def requests_for(self, suffix: str) -> int:
        with self.lock:
            return sum(1 for request in self.requests if request.endswith(suffix))


def hang(connection: socket.socket, closing: threading.Event) -> None:
    """Reads the request and never replies."""
    closing.wait()


def send_then_close(data: bytes) -> Reply:
    """Returns a reply writer that sends data and closes the connection."""
    def reply(connection: socket.socket, closing: threading.Event) -> None:
        connection.sendall(data)
    return reply


def endless_chunks(connection: socket.socket, closing: threading.Event) -> None:
    """Sends a chunked body of 1 MiB chunks until the client stops reading."""
    connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                       b"Transfer-Encoding: chunked\r\n\r\n")
    chunk = b"100000\r\n" + b"[" * 0x100000 + b"\r\n"
    while not closing.is_set():
        connection.sendall(chunk)


def json_then_close(status: int, value) -> Reply:
    """Returns a reply writer that sends value as a JSON reply and closes the connection."""
    return send_then_close(json_reply(status, json.dumps(value).encode()))


def upgrade_and_echo(connection: socket.socket, closing: threading.Event) -> None:
    """Upgrades the connection as POST /exec/{id}/start does, then sends back what it gets."""
    connection.sendall(b"HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream"
                       b"\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n")
    while not closing.is_set():
        data = connection.recv(65536)
        if not data:
            return
        connection.sendall(data)
