"""GET /api/v1/events: engine container events as Server-Sent Events."""

import http.client
import json
import socket
import time

import harness


class EventReader:
    """Reads SSE events from one open GET /api/v1/events response."""

    def __init__(self, server, token, query=""):
        self.conn = http.client.HTTPConnection(server.host, server.port, timeout=15)
        self.conn.request("GET", f"/api/v1/events{query}",
                          headers={"Authorization": f"Bearer {token}",
                                   "Accept": "text/event-stream"})
        self.response = self.conn.getresponse()

    def close(self):
        self.conn.close()

    def events(self, until, timeout=15.0):
        """Collect container events until until(events) is true or the timeout passes."""
        collected, lines = [], []
        # A read that times out leaves the response unusable, so one timeout ends the
        # collection; keepalive comments arrive every 20 s, events much sooner.
        self.conn.sock.settimeout(timeout)
        while not until(collected):
            try:
                raw = self.response.fp.readline()
            except (socket.timeout, OSError):
                break
            if not raw:
                break
            line = raw.decode().rstrip("\n")
            if line:
                lines.append(line)
                continue
            data = [entry[6:] for entry in lines if entry.startswith("data: ")]
            kind = [entry[7:] for entry in lines if entry.startswith("event: ")]
            if data and kind == ["container"]:
                collected.append(json.loads(data[0]))
            lines = []
        return collected


def actions_for(events, name):
    return [event["action"] for event in events if event["name"] == name]


class EventsTest(harness.IntegrationTestCase):

    def setUp(self) -> None:
        super().setUp()
        self.server = self.start_server()
        self.client = self.server.login()
        # The collector connects to the engine's events stream in the background.
        harness.poll(lambda: self.client.get("/api/v1/events",
                                              params={"type": "bogus"}).status == 422)

    def open(self, query=""):
        reader = harness.poll(lambda: self.try_open(query), timeout=15.0)
        self.assertIsNotNone(reader, "the events endpoint never answered 200")
        self.addCleanup(reader.close)
        return reader

    def try_open(self, query):
        reader = EventReader(self.server, self.client.token, query)
        if reader.response.status == 200:
            return reader
        reader.close()
        return None

    def test_lifecycle_events_stream(self):
        reader = self.open()
        self.assertEqual(reader.response.getheader("Content-Type"), "text/event-stream")
        name = self.docker.run_detached("sh", "-c", "exit 3", init=False)
        events = reader.events(lambda got: "die" in actions_for(got, name))
        actions = actions_for(events, name)
        self.assertIn("create", actions)
        self.assertIn("start", actions)
        self.assertIn("die", actions)
        die = [e for e in events if e["name"] == name and e["action"] == "die"][0]
        self.assertEqual(die["exit_code"], 3)
        self.assertEqual(die["container_id"], self.docker.container_id(name))
        self.assertTrue(die["time"].endswith("Z"))

    def test_type_filter(self):
        reader = self.open("?type=die")
        name = self.docker.run_detached("true", init=False)
        events = reader.events(lambda got: "die" in actions_for(got, name))
        self.assertEqual(actions_for(events, name), ["die"])

    def test_since_replays_backlog(self):
        before = int(time.time()) - 1
        name = self.docker.run_detached("true", init=False)
        harness.poll(lambda: self.docker.inspect(name)["State"]["Status"] == "exited")
        reader = self.open(f"?since={before}")
        events = reader.events(lambda got: "die" in actions_for(got, name))
        self.assertIn("start", actions_for(events, name))
        self.assertIn("die", actions_for(events, name))

    def test_invalid_queries_and_auth(self):
        self.assertEqual(self.client.get("/api/v1/events", params={"type": "bogus"}).status, 422)
        self.assertEqual(self.client.get("/api/v1/events",
                                         params={"since": "yesterday"}).status, 422)
        self.assertEqual(self.server.client().get("/api/v1/events", auth=False).status, 401)


if __name__ == "__main__":
    harness.main()
