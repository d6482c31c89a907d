"""A unix-socket relay in front of the private test engine that can hold back the engine's
events stream, so a test can make the server miss an event for as long as it needs.

Every connection is relayed byte for byte to the real engine. While the events are held,
the bytes that the engine sends on a `GET .../events` connection wait in the relay. They
are delivered in order on release, so nothing is invented or lost."""

import os
import socket
import tempfile
import threading

import harness

CHUNK = 65536
METHODS = (b"GET ", b"HEAD ", b"POST ", b"PUT ", b"DELETE ")


class EngineProxy:
    """Relays a unix socket to the engine at INFRAMON_TEST_DOCKER_HOST."""

    def __init__(self):
        engine = harness.require_env("INFRAMON_TEST_DOCKER_HOST")
        if not engine.startswith("unix://"):
            raise harness.HarnessError(f"EngineProxy needs a unix:// engine, not {engine}")
        self.engine_path = engine[len("unix://"):]
        self.folder = tempfile.mkdtemp(prefix="inframon-proxy-")
        self.path = os.path.join(self.folder, "docker.sock")
        self.events_flowing = threading.Event()
        self.events_flowing.set()
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.path)
        self.listener.listen(64)
        self.closed = False
        self.connections = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def docker_host(self) -> str:
        return f"unix://{self.path}"

    def hold_events(self) -> None:
        """Keep event bytes from the engine until release_events()."""
        self.events_flowing.clear()

    def release_events(self) -> None:
        self.events_flowing.set()

    def close(self) -> None:
        self.closed = True
        self.events_flowing.set()
        self.listener.close()
        with self.lock:
            for connection in self.connections:
                connection.close()
        os.unlink(self.path)
        os.rmdir(self.folder)

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            engine = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                engine.connect(self.engine_path)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.connections += [client, engine]
            state = {"events": False}

            # A kept-alive connection carries several requests: each new request line shows
            # whether the response that follows is the events stream.
            def note_request(data, state=state):
                if data.startswith(METHODS):
                    request_line = data.split(b"\r\n", 1)[0].split(b" ")
                    target = request_line[1] if len(request_line) > 1 else b""
                    state["events"] = target.split(b"?")[0].endswith(b"/events")

            def gate_response(data, state=state):
                if state["events"]:
                    self.events_flowing.wait()

            threading.Thread(target=_relay, args=(client, engine, note_request),
                             daemon=True).start()
            threading.Thread(target=_relay, args=(engine, client, gate_response),
                             daemon=True).start()


def _relay(source, target, before_send) -> None:
    """Copy bytes from source to target until either side closes."""
    while True:
        try:
            data = source.recv(CHUNK)
        except OSError:
            data = b""
        if not data:
            break
        before_send(data)
        try:
            target.sendall(data)
        except OSError:
            break
    _shut(target)


def _shut(sock) -> None:
    try:
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass
