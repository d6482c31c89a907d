"""Check InfraMon against an engine over TCP: with TLS (DOCKER_TLS_VERIFY) and without.

The test starts an engine of its own with tests/engine/engine.sh and IM_ENGINE_TLS_PORT,
so dockerd also listens on tcp://127.0.0.1:PORT with --tlsverify and certificates that
the openssl CLI made for this run. Plain TCP goes through a small loopback relay to
the same engine's unix socket, because dockerd 20.10 delays its start by 15 s when it
listens on TCP without TLS."""

import os
import socket
import subprocess
import tempfile
import threading

import harness

ENGINE_SCRIPT = os.path.join(os.path.dirname(__file__), "..", "engine", "engine.sh")


class UnixRelay:
    """Accept TCP connections on a free loopback port and pipe each to a unix socket."""

    def __init__(self, socket_path: str):
        self.socket_path = socket_path
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self.accept_loop, daemon=True).start()

    def accept_loop(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            engine = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            engine.connect(self.socket_path)
            threading.Thread(target=self.pipe, args=(client, engine), daemon=True).start()
            threading.Thread(target=self.pipe, args=(engine, client), daemon=True).start()

    @staticmethod
    def pipe(source: socket.socket, target: socket.socket) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                target.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self.listener.close()


def make_other_ca(folder: str, client_folder: str) -> None:
    """Copy the client certificate and key next to a CA that did not sign the engine's."""
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj",
                    "/CN=some-other-ca", "-keyout", os.path.join(folder, "other-key.pem"),
                    "-out", os.path.join(folder, "ca.pem")],
                   check=True, capture_output=True)
    for name in ("cert.pem", "key.pem"):
        with open(os.path.join(client_folder, name), "rb") as source, \
                open(os.path.join(folder, name), "wb") as target:
            target.write(source.read())


class EngineTlsTest(harness.IntegrationTestCase):
    folder = ""
    tls_port = 0

    @classmethod
    def setUpClass(cls) -> None:
        cls.tls_port = harness.free_port()
        env = dict(os.environ, IM_ENGINE_TLS_PORT=str(cls.tls_port))
        cls.folder = subprocess.run(["bash", ENGINE_SCRIPT, "start"], env=env, check=True,
                                    capture_output=True, text=True).stdout.strip()

    @classmethod
    def tearDownClass(cls) -> None:
        subprocess.run(["bash", ENGINE_SCRIPT, "stop", cls.folder], capture_output=True)

    def start_engine_server(self, docker_host: str, env: dict) -> harness.Server:
        server = harness.Server(docker_host=docker_host, env=env)
        server.test_id = self.id()
        self.addCleanup(server.cleanup)
        server.start()
        return server

    def run_container_on_engine(self) -> str:
        docker = harness.Docker(host=f"unix://{self.folder}/docker.sock")
        self.addCleanup(docker.cleanup)
        return docker.run_detached("sleep", "300")

    def assert_lists(self, server: harness.Server, name: str) -> None:
        client = server.login()
        listing = client.get_json("/api/v1/containers", params={"all_containers": "true"})
        names = [item["name"] for item in listing["data"]["containers"]]
        self.assertIn(name, names)
        ready = client.get("/ready")
        self.assertEqual(ready.status, 200)

    def test_tls_engine_lists_containers(self):
        name = self.run_container_on_engine()
        server = self.start_engine_server(
            f"tcp://127.0.0.1:{self.tls_port}",
            {"DOCKER_TLS_VERIFY": "1",
             "DOCKER_CERT_PATH": os.path.join(self.folder, "tls", "client")})
        self.assert_lists(server, name)
        client = server.login()
        # A second listing works too, after the first left its connection in the pool.
        self.assertEqual(client.get("/api/v1/containers").status, 200)

    def test_tls_wrong_ca_rejected(self):
        other = tempfile.mkdtemp(prefix="inframon-other-ca-")
        make_other_ca(other, os.path.join(self.folder, "tls", "client"))
        server = self.start_engine_server(
            f"tcp://127.0.0.1:{self.tls_port}",
            {"DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": other})
        client = server.login()
        listing = client.get("/api/v1/containers")
        self.assertEqual(listing.status, 503)
        detail = listing.json()["detail"]
        self.assertIn("TLS", detail)
        self.assertIn("certificate verification failed", detail)
        self.assertIn(f"127.0.0.1:{self.tls_port}", detail)

    def test_plain_tcp_lists_containers(self):
        name = self.run_container_on_engine()
        relay = UnixRelay(os.path.join(self.folder, "docker.sock"))
        self.addCleanup(relay.close)
        server = self.start_engine_server(f"tcp://127.0.0.1:{relay.port}", {})
        self.assert_lists(server, name)


if __name__ == "__main__":
    harness.main()
