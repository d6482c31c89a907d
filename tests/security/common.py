"""Shared helpers for the security tests: the integration harness, token minting and raw
HTTP over a socket for requests that http.client refuses to send."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import socket
import sys
import time
import uuid
from typing import Any, Optional

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))

import harness  # noqa: E402  (needs the path above)

# The headers that every response must carry, with their exact values.
SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "X-XSS-Protection": "1; mode=block",
    "Referrer-Policy": "no-referrer",
}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_token(header: dict, payload: dict, key: str, digest: Any = hashlib.sha256) -> str:
    """Build a JWT from header and payload, signed with HMAC(key) over digest."""
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(payload).encode())}"
    signature = hmac.new(key.encode(), signing_input.encode(), digest).digest()
    return f"{signing_input}.{b64url(signature)}"


def token_payload(token: str) -> dict:
    """Decode the payload of a JWT without checking it."""
    return json.loads(b64url_decode(token.split(".")[1]))


def access_claims(base: dict, **changes: Any) -> dict:
    """Copy the claims of a real token, with a fresh jti and the given changes."""
    claims = dict(base)
    claims["jti"] = uuid.uuid4().hex
    claims.update(changes)
    return claims


def now() -> int:
    return int(time.time())


class RawResponse:
    """A response read from a raw socket: status, lower-cased headers, body bytes."""

    def __init__(self, status: int, headers: dict, body: bytes):
        self.status = status
        self.headers = headers
        self.body = body

    def header(self, name: str) -> Optional[str]:
        return self.headers.get(name.lower())

    def json(self) -> Any:
        return json.loads(self.body)

    def __repr__(self) -> str:
        return f"<RawResponse {self.status} {self.body[:200]!r}>"


def read_response(sock: socket.socket) -> Optional[RawResponse]:
    """Read one HTTP response (Content-Length bodies only); None when the server closed the
    connection without sending a status line."""
    data = b""
    while b"\r\n\r\n" not in data:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            return None if not data else _parse(data, b"")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    response = _parse(head, b"")
    length = int(response.header("Content-Length") or 0)
    while len(rest) < length:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        rest += chunk
    response.body = rest[:length]
    return response


def _parse(head: bytes, body: bytes) -> RawResponse:
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return RawResponse(status, headers, body)


def raw_request(server: "harness.Server", data: bytes, timeout: float = 15.0) -> Optional[RawResponse]:
    """Send bytes as they are and read one response; None when the connection was closed
    without a response."""
    with socket.create_connection((server.host, server.port), timeout=timeout) as sock:
        try:
            sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        return read_response(sock)
