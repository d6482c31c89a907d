"""Run the real inframon binary against the private test engine.

Integration tests import this module (Python 3 standard library only). It starts
`inframon serve` on a free loopback port with a fresh SQLite database and talks to it
over HTTP. It also creates and removes containers in the private engine that
scripts/test.sh starts with tests/engine/engine.sh.

Environment:
    INFRAMON_BIN                path of the built binary (ctest sets it)
    INFRAMON_TEST_DOCKER_HOST   unix:// address of the private test engine
                                (scripts/test.sh sets it); a missing value fails the
                                test, it never skips

Typical test file::

    import harness

    class ContainerListTest(harness.IntegrationTestCase):
        def test_lists_new_container(self):
            name = self.docker.run_detached("sleep", "300")
            server = self.start_server()
            client = server.login()
            ...

    if __name__ == "__main__":
        harness.main()
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import os
import secrets
import shutil
import signal
import socket
import string
import struct
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse
import uuid
from typing import Any, Iterable, Mapping, Optional

ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "Integration-Test-Pass-1"
TEST_IMAGE = "inframon-test/busybox:latest"
TEST_NETWORK = "inframon-test"
# Prefix of every container and network name the harness creates, so a person can
# tell test leftovers apart in `docker ps -a`.
NAME_PREFIX = "imtest"

# Environment variables that configure inframon. They are removed from the inherited
# environment so that a developer's shell settings cannot leak into a test server.
INFRAMON_CONFIG_VARIABLES = (
    "HOST", "PORT", "DEBUG", "SECRET_KEY", "ADMIN_USERNAME", "ADMIN_PASSWORD",
    "ADMIN_EMAIL", "ACCESS_TOKEN_EXPIRE_MINUTES", "REFRESH_TOKEN_EXPIRE_DAYS",
    "RATE_LIMIT_MAX_REQUESTS", "RATE_LIMIT_WINDOW_SECONDS", "TRUSTED_PROXIES",
    "MAX_REQUEST_SIZE", "CORS_ORIGINS", "DATABASE_URL", "DOCKER_HOST",
    "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "DOCKER_API_VERSION",
    "COLLECT_INTERVAL_SECONDS", "RETENTION_RAW_HOURS", "RETENTION_DAYS",
    "LOG_LEVEL", "LOG_FORMAT", "HTTP_THREADS", "WEB_DIR", "HOST_PROC", "HOST_SYS",
    "HOST_ROOT", "HOST_FS_ROOT", "BACKUP_DIR", "BACKUP_INTERVAL_HOURS", "BACKUP_KEEP",
)

# Text that AddressSanitizer, LeakSanitizer and UndefinedBehaviorSanitizer write to the
# server's stderr, which goes to its log.
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")

STARTUP_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 15.0

# Every server started in this process, so that main() can print their logs when a
# test fails.
_started_servers: list["Server"] = []


class HarnessError(AssertionError):
    """A failure of the test setup: missing configuration, a server that did not
    start, a docker command that failed. It derives from AssertionError so that
    unittest reports it as a test failure, never as a skip."""


def require_env(name: str) -> str:
    """Return the value of an environment variable that the harness needs."""
    value = os.environ.get(name, "")
    if not value:
        hints = {
            "INFRAMON_BIN": "run the tests through ctest (make test), which sets it to "
                            "the built binary, or export it by hand",
            "INFRAMON_TEST_DOCKER_HOST": "run `make test`, which starts a private engine "
                                         "and sets it, or start one with "
                                         "tests/engine/engine.sh start and export "
                                         "INFRAMON_TEST_DOCKER_HOST=unix://DIR/docker.sock",
        }
        raise HarnessError(f"environment variable {name} is missing; "
                           f"{hints.get(name, 'set it')}")
    return value


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def random_secret(length: int = 48) -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))


def unique_name(kind: str) -> str:
    """Return a container or network name unique to this test run."""
    return f"{NAME_PREFIX}-{kind}-{uuid.uuid4().hex[:10]}"


def poll(predicate, timeout: float = 20.0, interval: float = 0.2):
    """Return the first truthy value of predicate() before timeout, else its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()


class Response:
    """An HTTP response read in full."""

    def __init__(self, status: int, reason: str, headers: http.client.HTTPMessage,
                 body: bytes):
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise HarnessError(f"response body is not JSON ({exc}): {self.text[:500]!r}")

    def header(self, name: str) -> Optional[str]:
        return self.headers.get(name)

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.reason} {self.text[:200]!r}>"


class Client:
    """A small HTTP/1.1 client for one server, with JSON helpers and a bearer token.

    Each request opens a new connection, so a test never depends on keep-alive."""

    def __init__(self, host: str, port: int, token: Optional[str] = None,
                 timeout: float = 15.0):
        self.host = host
        self.port = port
        self.token = token
        self.timeout = timeout
        self.refresh_token: Optional[str] = None

    def request(self, method: str, path: str, *, json_body: Any = None,
                body: Optional[bytes] = None, headers: Optional[Mapping[str, str]] = None,
                params: Optional[Mapping[str, Any]] = None,
                token: Optional[str] = None, auth: bool = True) -> Response:
        """Send one request and return the whole response.

        json_body is serialised with Content-Type application/json; body is sent as
        is. The bearer token is `token` if given, else the client's own, and none at
        all when auth is False."""
        if params:
            path = f"{path}?{urllib.parse.urlencode(params)}"
        send_headers = {"Accept": "application/json"}
        if json_body is not None:
            body = json.dumps(json_body).encode()
            send_headers["Content-Type"] = "application/json"
        bearer = token if token is not None else self.token
        if auth and bearer:
            send_headers["Authorization"] = f"Bearer {bearer}"
        if headers:
            send_headers.update(headers)
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            conn.request(method, path, body=body, headers=send_headers)
            raw = conn.getresponse()
            return Response(raw.status, raw.reason, raw.headers, raw.read())
        finally:
            conn.close()

    def get(self, path: str, **kwargs: Any) -> Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, json_body: Any = None, **kwargs: Any) -> Response:
        return self.request("POST", path, json_body=json_body, **kwargs)

    def put(self, path: str, json_body: Any = None, **kwargs: Any) -> Response:
        return self.request("PUT", path, json_body=json_body, **kwargs)

    def patch(self, path: str, json_body: Any = None, **kwargs: Any) -> Response:
        return self.request("PATCH", path, json_body=json_body, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Response:
        return self.request("DELETE", path, **kwargs)

    def get_json(self, path: str, expected_status: int = 200, **kwargs: Any) -> Any:
        """GET a path, check its status and return the decoded JSON body."""
        response = self.get(path, **kwargs)
        if response.status != expected_status:
            raise HarnessError(f"GET {path}: expected status {expected_status}, "
                               f"got {response.status}: {response.text[:500]}")
        return response.json()

    def login(self, username: str = ADMIN_USERNAME,
              password: str = ADMIN_PASSWORD) -> dict:
        """Log in with POST /api/v1/auth/login, keep the tokens, return the reply."""
        response = self.post("/api/v1/auth/login",
                             {"username": username, "password": password}, auth=False)
        if response.status != 200:
            raise HarnessError(f"login as {username!r} failed with status "
                               f"{response.status}: {response.text[:500]}")
        reply = response.json()
        self.token = reply["access_token"]
        self.refresh_token = reply.get("refresh_token")
        return reply


class Server:
    """One `inframon serve` process on a free loopback port with its own database.

    The working folder is a new temporary folder, so no `.env` file from the
    repository is read. Output (stdout and stderr) goes to server.log there."""

    def __init__(self, env: Optional[Mapping[str, Optional[str]]] = None,
                 admin_password: str = ADMIN_PASSWORD,
                 docker_host: Optional[str] = None):
        """env overrides the test settings; a value of None removes that variable."""
        # Absolute, because the server runs in its own working folder.
        self.binary = os.path.abspath(require_env("INFRAMON_BIN"))
        if not os.access(self.binary, os.X_OK):
            raise HarnessError(f"INFRAMON_BIN={self.binary} is not an executable file; "
                               "build first (cmake --build build)")
        self.docker_host = docker_host or require_env("INFRAMON_TEST_DOCKER_HOST")
        self.workdir = tempfile.mkdtemp(prefix="inframon-it-")
        self.database_path = os.path.join(self.workdir, "inframon.db")
        self.log_path = os.path.join(self.workdir, "server.log")
        self.admin_password = admin_password
        self.secret_key = random_secret(48)
        self.host = "127.0.0.1"
        self.port = 0
        self.process: Optional[subprocess.Popen] = None
        self.exit_code: Optional[int] = None
        self.saved_log: Optional[str] = None
        # The unittest id of the test that started this server, if known.
        self.test_id: Optional[str] = None
        self.extra_env = dict(env or {})
        _started_servers.append(self)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def environment(self) -> dict:
        env = {k: v for k, v in os.environ.items() if k not in INFRAMON_CONFIG_VARIABLES}
        env.update({
            "HOST": self.host,
            "PORT": str(self.port),
            "DEBUG": "false",
            "SECRET_KEY": self.secret_key,
            "ADMIN_USERNAME": ADMIN_USERNAME,
            "ADMIN_PASSWORD": self.admin_password,
            # sqlite:/// followed by an absolute path gives four slashes.
            "DATABASE_URL": f"sqlite:///{self.database_path}",
            "DOCKER_HOST": self.docker_host,
            "LOG_LEVEL": "debug",
            # Tests send many requests from one address; the rate-limit tests set their
            # own, lower limit.
            "RATE_LIMIT_MAX_REQUESTS": "1000000",
        })
        for name, value in self.extra_env.items():
            if value is None:
                env.pop(name, None)
            else:
                env[name] = value
        return env

    def launch(self, *args: str) -> None:
        """Start `inframon ARGS...` (default `serve`) without waiting for it."""
        if self.process is not None and self.process.poll() is None:
            raise HarnessError("server already running")
        fixed_port = self.extra_env.get("PORT")
        self.port = int(fixed_port) if fixed_port else free_port()
        with open(self.log_path, "ab") as log_file:
            self.process = subprocess.Popen(
                [self.binary, *(args or ("serve",))], cwd=self.workdir,
                env=self.environment(), stdin=subprocess.DEVNULL, stdout=log_file,
                stderr=subprocess.STDOUT)

    def start(self, timeout: float = STARTUP_TIMEOUT_SECONDS) -> "Server":
        """Start `inframon serve` and wait until GET /health returns 200.

        The free port is picked before the server binds it, so another process can
        take it in between. A start that fails with "in use" in its log is retried
        on a new port, up to three attempts in all."""
        for attempt in range(1, 4):
            self.launch()
            try:
                self.wait_healthy(timeout)
                return self
            except HarnessError:
                port_taken = "in use" in self.log_text().lower()
                if self.is_running() or not port_taken or attempt == 3:
                    raise
                sys.stderr.write(f"harness: port {self.port} was taken; retrying\n")
        return self

    def wait_exit(self, timeout: float = STARTUP_TIMEOUT_SECONDS) -> int:
        """Wait for a launched process to exit by itself and return its status."""
        if self.process is None:
            raise HarnessError("server was never launched")
        try:
            self.exit_code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise HarnessError(f"inframon still running {timeout:.0f} s after start, "
                               f"expected it to exit; its log:\n{self.log_text()}") from None
        return self.exit_code

    def wait_healthy(self, timeout: float = STARTUP_TIMEOUT_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        last_error = "no attempt made"
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                self.exit_code = self.process.returncode
                raise HarnessError(
                    f"inframon exited with status {self.exit_code} before /health "
                    f"returned 200; its log:\n{self.log_text()}")
            try:
                response = self.client().get("/health", auth=False)
                if response.status == 200:
                    return
                last_error = f"status {response.status}"
            except OSError as exc:
                last_error = str(exc)
            time.sleep(0.05)
        raise HarnessError(f"inframon did not return 200 on {self.base_url}/health within "
                           f"{timeout:.0f} s (last error: {last_error}); its log:\n"
                           f"{self.log_text()}")

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> Optional[int]:
        """Send SIGTERM, wait for the exit and return the exit status.

        A server that is still running after the timeout gets SIGKILL, and the
        returned status is then negative (-9)."""
        if self.process is None:
            return self.exit_code
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                sys.stderr.write(f"harness: inframon pid {self.process.pid} still running "
                                 f"{timeout:.0f} s after SIGTERM; sending SIGKILL\n")
                self.process.kill()
                self.process.wait()
        self.exit_code = self.process.returncode
        return self.exit_code

    def is_running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_text(self) -> str:
        if self.saved_log is not None:
            return self.saved_log
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as log_file:
                return log_file.read()
        except FileNotFoundError:
            return "(no log written)"

    def client(self, token: Optional[str] = None) -> Client:
        return Client(self.host, self.port, token=token)

    def login(self, username: str = ADMIN_USERNAME,
              password: Optional[str] = None) -> Client:
        """Return a client logged in as `username` (the admin by default)."""
        client = self.client()
        client.login(username, password if password is not None else self.admin_password)
        return client

    def cleanup(self) -> None:
        """Stop the server and delete its folder (database and log).

        The log is kept in memory first, so main() can still print it. A sanitizer
        report in the log fails the test: LeakSanitizer reports only when the server
        exits, after every request of the test has passed."""
        self.stop()
        self.saved_log = self.log_text()
        shutil.rmtree(self.workdir, ignore_errors=True)
        found = [marker for marker in SANITIZER_MARKERS if marker in self.saved_log]
        if found:
            raise HarnessError(f"the inframon log contains a sanitizer report "
                               f"({found[0]!r}); the log is printed below")


def find_docker_cli() -> str:
    """Return the docker client to use: the one on PATH, else Debian's."""
    for candidate in (shutil.which("docker"), "/usr/local/bin/docker", "/usr/bin/docker"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise HarnessError("docker client not found; install Debian's docker.io (make deps)")


class Docker:
    """The docker CLI aimed at the private test engine.

    Every container and network created through it is recorded and removed by
    cleanup(), which IntegrationTestCase registers for each test."""

    def __init__(self, host: Optional[str] = None):
        self.host = host or require_env("INFRAMON_TEST_DOCKER_HOST")
        self.cli = find_docker_cli()
        self.containers: list[str] = []
        self.networks: list[str] = []

    def run(self, *args: str, check: bool = True, timeout: float = 120.0,
            input_text: Optional[str] = None) -> subprocess.CompletedProcess:
        """Run `docker -H HOST ARGS...` and return the completed process (text)."""
        command = [self.cli, "-H", self.host, *args]
        # Client settings meant for another engine must not apply to the test engine.
        env = {k: v for k, v in os.environ.items()
               if k not in ("DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_TLS_VERIFY",
                            "DOCKER_CERT_PATH")}
        try:
            result = subprocess.run(command, capture_output=True, text=True,
                                    timeout=timeout, input=input_text, env=env)
        except subprocess.TimeoutExpired:
            raise HarnessError(f"{' '.join(command)} timed out after {timeout:.0f} s") from None
        if check and result.returncode != 0:
            raise HarnessError(f"{' '.join(command)} failed with exit status "
                               f"{result.returncode}: {result.stderr.strip()}")
        return result

    def ping(self) -> None:
        """Check that the engine responds, else raise HarnessError with the reason."""
        result = self.run("version", "--format", "{{.Server.Version}}", check=False,
                          timeout=15)
        if result.returncode != 0:
            raise HarnessError(f"the test engine at {self.host} does not respond: "
                               f"{result.stderr.strip()}")

    def create(self, *command: str, name: Optional[str] = None,
               options: Iterable[str] = (), image: str = TEST_IMAGE) -> str:
        """Create (not start) a container and return its name."""
        name = name or unique_name("ctr")
        self.containers.append(name)
        self.run("create", "--name", name, "--label", "inframon.test=true",
                 *options, image, *command)
        return name

    def run_detached(self, *command: str, name: Optional[str] = None,
                     options: Iterable[str] = (), image: str = TEST_IMAGE,
                     init: bool = True) -> str:
        """Start a container in the background and return its name.

        With init (the default) tini runs as PID 1, so a stop ends the container at
        once: a busybox sh as PID 1 ignores SIGTERM and a stop would wait its whole
        timeout."""
        name = name or unique_name("ctr")
        self.containers.append(name)
        init_option = ["--init"] if init else []
        self.run("run", "-d", "--name", name, "--label", "inframon.test=true",
                 *init_option, *options, image, *command)
        return name

    def run_once(self, *command: str, options: Iterable[str] = (),
                 image: str = TEST_IMAGE, timeout: float = 120.0) -> subprocess.CompletedProcess:
        """Run a container in the foreground with --rm and return the result."""
        return self.run("run", "--rm", "--label", "inframon.test=true", *options,
                        image, *command, timeout=timeout)

    def container_id(self, name: str) -> str:
        return self.inspect(name)["Id"]

    def inspect(self, name: str) -> dict:
        return json.loads(self.run("inspect", name).stdout)[0]

    def logs(self, name: str, *options: str) -> tuple[str, str]:
        """Return (stdout, stderr) of the container's log."""
        result = self.run("logs", *options, name)
        return result.stdout, result.stderr

    def wait_for_log(self, name: str, text: str, timeout: float = 15.0) -> str:
        """Wait until `text` appears in the container's stdout or stderr."""
        deadline = time.monotonic() + timeout
        while True:
            stdout, stderr = self.logs(name)
            if text in stdout or text in stderr:
                return stdout + stderr
            if time.monotonic() >= deadline:
                raise HarnessError(f"{text!r} did not appear in the log of {name} within "
                                   f"{timeout:.0f} s; log so far:\n{stdout}{stderr}")
            time.sleep(0.1)

    def create_network(self, name: Optional[str] = None) -> str:
        name = name or unique_name("net")
        self.networks.append(name)
        self.run("network", "create", "--label", "inframon.test=true", name)
        return name

    def remove_container(self, name: str) -> None:
        self.run("rm", "-f", "-v", name, check=False)
        if name in self.containers:
            self.containers.remove(name)

    def cleanup(self) -> None:
        """Remove every container and network created through this helper."""
        errors = []
        for name in reversed(self.containers):
            result = self.run("rm", "-f", "-v", name, check=False)
            if result.returncode != 0 and "No such container" not in result.stderr:
                errors.append(f"container {name}: {result.stderr.strip()}")
        self.containers.clear()
        for name in reversed(self.networks):
            result = self.run("network", "rm", name, check=False)
            if result.returncode != 0 and "not found" not in result.stderr:
                errors.append(f"network {name}: {result.stderr.strip()}")
        self.networks.clear()
        if errors:
            raise HarnessError("cleanup of test containers and networks failed: "
                               + "; ".join(errors))


class IntegrationTestCase(unittest.TestCase):
    """Base class with a docker helper per test and servers stopped after each test."""

    docker: Docker

    def setUp(self) -> None:
        super().setUp()
        self.docker = Docker()
        self.addCleanup(self.docker.cleanup)

    def start_server(self, env: Optional[Mapping[str, Optional[str]]] = None,
                     admin_password: str = ADMIN_PASSWORD) -> Server:
        """Start a server for this test; it is stopped and deleted after the test.

        env overrides the test settings; a value of None removes that variable."""
        server = Server(env=env, admin_password=admin_password)
        server.test_id = self.id()
        self.addCleanup(server.cleanup)
        server.start()
        return server


def main() -> None:
    """Run the calling module's tests; on failure print the servers' logs.

    The logs printed are those of servers started by a failed test, and of servers
    started outside IntegrationTestCase.start_server.

    The test engine is checked first, so a missing or dead engine fails the whole
    file with one clear message instead of skipping."""
    try:
        require_env("INFRAMON_BIN")
        Docker().ping()
    except HarnessError as exc:
        sys.stderr.write(f"harness: {exc}\n")
        sys.exit(1)
    program = unittest.main(module="__main__", exit=False, verbosity=2)
    succeeded = program.result.wasSuccessful()
    if program.result.testsRun == 0:
        sys.stderr.write("harness: no test ran; a test file must contain at least one\n")
        succeeded = False
    if not succeeded:
        failed_ids = {test.id() for test, _ in program.result.failures + program.result.errors}
        for server in _started_servers:
            if server.test_id is not None and server.test_id not in failed_ids:
                continue
            sys.stderr.write(f"\n----- inframon log ({server.base_url}, exit status "
                             f"{server.exit_code}) -----\n{server.log_text()}"
                             "----- end of inframon log -----\n")
    sys.exit(0 if succeeded else 1)


def totp_code(secret: str, when: float) -> str:
    """Return the RFC 6238 code (SHA-1, 30 s, 6 digits) of a base32 secret at `when`."""
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    digest = hmac.new(key, struct.pack(">Q", int(when) // 30), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset:offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 1000000:06d}"
