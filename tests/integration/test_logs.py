"""Container logs on the real engine: JSON selection, follow over Server-Sent Events,
resume with Last-Event-ID, search, time ranges, downloads and merged logs."""

import http.client
import json
import socket
import time
import urllib.parse

import harness

LINES = 10000
# Prints LINES numbered lines to each stream, interleaved, then a last line without a
# newline.
PRINT_BOTH = ("i=0; while [ $i -lt %d ]; do echo \"out $i\"; echo \"err $i\" >&2; "
              "i=$((i+1)); done; printf 'last-no-newline'" % LINES)


class EventStream:
    """Reads a text/event-stream response event by event."""

    def __init__(self, server: harness.Server, token: str, path: str,
                 headers: dict = None, timeout: float = 15.0):
        self.conn = http.client.HTTPConnection(server.host, server.port, timeout=timeout)
        send = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
        send.update(headers or {})
        self.conn.request("GET", path, headers=send)
        self.response = self.conn.getresponse()

    def next_event(self) -> dict:
        """Return the next event as {id, event, data} (data decoded from JSON), skipping
        comments; None at the end of the stream."""
        event = {"id": None, "event": "message", "data": None}
        seen = False
        while True:
            raw = self.response.readline()
            if not raw:
                return None
            line = raw.decode().rstrip("\n")
            if line == "":
                if seen:
                    return event
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(": ")
            seen = True
            if name == "data":
                event["data"] = json.loads(value)
            else:
                event[name] = value

    def next_log(self) -> dict:
        """Return the next log-line event, failing on the end of the stream."""
        while True:
            event = self.next_event()
            if event is None:
                raise AssertionError("the event stream ended before the expected line")
            if event["event"] == "message":
                return event

    def close(self) -> None:
        self.conn.close()


class LogsTest(harness.IntegrationTestCase):

    def setUp(self) -> None:
        super().setUp()
        self.server = self.start_server()
        self.client = self.server.client()
        self.client.login()

    def wait_exited(self, name: str) -> None:
        self.docker.run("wait", name, timeout=120)

    def logs(self, name: str, **params) -> dict:
        return self.client.get_json(f"/api/v1/containers/{name}/logs", params=params)

    def test_both_streams_line_exact(self):
        name = self.docker.run_detached("sh", "-c", PRINT_BOTH)
        self.wait_exited(name)
        reply = self.logs(name, tail="all")
        out = [l["text"] for l in reply["lines"] if l["stream"] == "stdout"]
        err = [l["text"] for l in reply["lines"] if l["stream"] == "stderr"]
        self.assertEqual(out, [f"out {i}" for i in range(LINES)] + ["last-no-newline"])
        self.assertEqual(err, [f"err {i}" for i in range(LINES)])
        self.assertEqual(reply["container_name"], name)
        self.assertEqual(reply["container_id"], self.docker.container_id(name))
        self.assertFalse(reply["truncated"])
        self.assertTrue(all(l["timestamp"].endswith("Z") for l in reply["lines"]))
        # The same selection as the docker CLI reads it.
        cli_out, cli_err = self.docker.logs(name)
        self.assertEqual(out, cli_out.split("\n"))
        self.assertEqual(err, cli_err.rstrip("\n").split("\n"))

    def test_tty_line_exact(self):
        name = self.docker.run_detached("sh", "-c", PRINT_BOTH, options=["-t"])
        self.wait_exited(name)
        reply = self.logs(name, tail="all")
        expected = []
        for i in range(LINES):
            expected += [f"out {i}", f"err {i}"]
        expected.append("last-no-newline")
        self.assertEqual({l["stream"] for l in reply["lines"]}, {"stdout"})
        self.assertEqual([l["text"] for l in reply["lines"]], expected)

    def test_line_over_16k_whole(self):
        # The engine stores this line in 16 KiB pieces, each with its own timestamp.
        name = self.docker.run_detached(
            "sh", "-c", "head -c 40000 /dev/zero | tr '\\000' x; echo; echo after")
        self.wait_exited(name)
        texts = [l["text"] for l in self.logs(name)["lines"]]
        self.assertEqual(texts, ["x" * 40000, "after"])
        download = self.client.get(f"/api/v1/containers/{name}/logs",
                                   params={"download": "true"})
        self.assertEqual(download.text, "x" * 40000 + "\nafter\n")

    def test_tail_default_and_number(self):
        name = self.docker.run_detached("sh", "-c", "seq 1 250")
        self.wait_exited(name)
        self.assertEqual(len(self.logs(name)["lines"]), 100)
        self.assertEqual([l["text"] for l in self.logs(name, tail="3")["lines"]],
                         ["248", "249", "250"])
        self.assertEqual(len(self.logs(name, tail="all")["lines"]), 250)
        self.assertEqual(self.client.get(f"/api/v1/containers/{name}/logs",
                                         params={"tail": "-1"}).status, 422)

    def test_stream_selection(self):
        name = self.docker.run_detached("sh", "-c", "echo to-out; echo to-err >&2")
        self.wait_exited(name)
        only_err = self.logs(name, stdout="false")
        self.assertEqual([(l["stream"], l["text"]) for l in only_err["lines"]],
                         [("stderr", "to-err")])
        with_ts = self.logs(name, stderr="false", timestamps="true")
        self.assertRegex(with_ts["logs"], r"^\d{4}-\d\d-\d\dT[0-9:.]+Z to-out\n$")

    def test_utf8_kept_and_invalid_replaced(self):
        name = self.docker.run_detached(
            "sh", "-c", "printf 'caf\\303\\251 \\342\\202\\254\\n'; printf 'bad \\377\\376 end\\n'")
        self.wait_exited(name)
        texts = [l["text"] for l in self.logs(name)["lines"]]
        self.assertEqual(texts, ["café €", "bad \ufffd\ufffd end"])

    def test_search_substring_and_regex(self):
        name = self.docker.run_detached("sh", "-c", "seq 1 200")
        self.wait_exited(name)
        found = self.logs(name, tail="all", search="19")
        self.assertEqual([l["text"] for l in found["lines"]],
                         ["19", "119", "190", "191", "192", "193", "194", "195", "196",
                          "197", "198", "199"])
        regex = self.logs(name, tail="all", search="^1[0-9]$", regex="true")
        self.assertEqual([l["text"] for l in regex["lines"]], [str(i) for i in range(10, 20)])
        # Without regex=true the pattern is plain text and matches nothing here.
        self.assertEqual(self.logs(name, tail="all", search="^1[0-9]$")["lines"], [])
        bad = self.client.get(f"/api/v1/containers/{name}/logs",
                              params={"search": "(", "regex": "true"})
        self.assertEqual(bad.status, 422, bad.text)
        backref = self.client.get(f"/api/v1/containers/{name}/logs",
                                  params={"search": "(a*)*\\1", "regex": "true"})
        self.assertEqual(backref.status, 422, backref.text)

    def test_since_until(self):
        name = self.docker.run_detached(
            "sh", "-c", "echo first; sleep 1.2; echo second; sleep 1.2; echo third")
        self.wait_exited(name)
        lines = self.logs(name, tail="all")["lines"]
        self.assertEqual([l["text"] for l in lines], ["first", "second", "third"])
        second_ts = lines[1]["timestamp"]
        since = self.logs(name, since=second_ts)["lines"]
        self.assertEqual([l["text"] for l in since], ["second", "third"])
        # until as Unix seconds with nanoseconds, from the RFC 3339 timestamp.
        until_seconds = rfc3339_to_unix(second_ts)
        until = self.logs(name, tail="all", until=until_seconds)["lines"]
        self.assertEqual([l["text"] for l in until], ["first", "second"])
        both = self.logs(name, since=second_ts, until=until_seconds)["lines"]
        self.assertEqual([l["text"] for l in both], ["second"])
        bad = self.client.get(f"/api/v1/containers/{name}/logs", params={"since": "yesterday"})
        self.assertEqual(bad.status, 422, bad.text)

    def test_follow_receives_new_line(self):
        name = self.docker.run_detached("sh", "-c", "echo before; sleep 600")
        self.docker.wait_for_log(name, "before")
        stream = EventStream(self.server, self.client.token,
                             f"/api/v1/containers/{name}/logs?follow=true&tail=1")
        self.assertEqual(stream.response.status, 200)
        self.assertEqual(stream.response.getheader("Content-Type"), "text/event-stream")
        first = stream.next_log()
        self.assertEqual(first["data"]["text"], "before")
        started = time.monotonic()
        self.docker.run("exec", name, "sh", "-c", "echo after > /proc/1/fd/1")
        after = stream.next_log()
        latency = time.monotonic() - started
        self.assertEqual(after["data"]["text"], "after")
        self.assertEqual(after["data"]["stream"], "stdout")
        self.assertGreater(int(after["id"]), int(first["id"]))
        print(f"\nfollow: line arrived {latency * 1000:.0f} ms after docker exec began")
        stream.close()

    def test_follow_ends_when_container_stops(self):
        name = self.docker.run_detached("sh", "-c", "echo up; sleep 600")
        self.docker.wait_for_log(name, "up")
        stream = EventStream(self.server, self.client.token,
                             f"/api/v1/containers/{name}/logs?follow=true")
        self.assertEqual(stream.next_log()["data"]["text"], "up")
        self.docker.run("stop", "-t", "1", name)
        event = stream.next_event()
        self.assertEqual(event["event"], "end")
        self.assertIsNone(stream.next_event())
        stream.close()

    def test_slow_client_gets_drop_marker(self):
        # About 20 MB of lines while the client reads nothing: the server keeps at most its
        # queue cap per stream and replaces what it dropped with a "dropped" event.
        name = self.docker.run_detached(
            "sh", "-c", "sleep 2; yes 'a line for the slow client test' | head -n 600000")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect((self.server.host, self.server.port))
        sock.sendall((f"GET /api/v1/containers/{name}/logs?follow=true&tail=all HTTP/1.1\r\n"
                      f"Host: {self.server.host}\r\n"
                      f"Authorization: Bearer {self.client.token}\r\n"
                      "Connection: close\r\n\r\n").encode())
        self.wait_exited(name)
        received = b""
        sock.settimeout(30)
        while True:
            chunk = sock.recv(1 << 20)
            if not chunk:
                break
            received += chunk
        sock.close()
        body = received.decode(errors="replace")
        self.assertIn("event: dropped", body)
        self.assertIn("event: end", body)
        delivered = body.count("a line for the slow client test")
        self.assertGreater(delivered, 0)
        self.assertLess(delivered, 600000)

    def test_resume_with_last_event_id(self):
        name = self.docker.run_detached(
            "sh", "-c", "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.1; done")
        self.docker.wait_for_log(name, "tick 5")
        path = f"/api/v1/containers/{name}/logs?follow=true&tail=all"
        stream = EventStream(self.server, self.client.token, path)
        seen = [stream.next_log() for _ in range(8)]
        stream.close()
        last = seen[-1]
        time.sleep(1.0)  # lines keep coming while the client is away
        resumed = EventStream(self.server, self.client.token, path,
                              headers={"Last-Event-ID": last["id"]})
        following = [resumed.next_log() for _ in range(5)]
        resumed.close()
        numbers = [int(e["data"]["text"].split()[1]) for e in seen + following]
        self.assertEqual(numbers, list(range(numbers[0], numbers[0] + len(numbers))))
        # since= resumes the same way when given the timestamp of the last line seen.
        again = EventStream(self.server, self.client.token,
                            f"{path.split('&tail')[0]}&since="
                            + urllib.parse.quote(following[-1]["data"]["timestamp"]))
        first_again = again.next_log()
        again.close()
        self.assertEqual(first_again["data"]["text"], following[-1]["data"]["text"])

    def test_event_id_forms(self):
        name = self.docker.run_detached("sh", "-c", "for i in 0 1 2 3; do echo n $i; done")
        self.wait_exited(name)
        lines = self.logs(name, tail="all")["lines"]
        second = rfc3339_to_nanoseconds(lines[1]["timestamp"])
        # "STAMP-1" is the first line with that stamp, the same as plain "STAMP".
        for event_id in (str(second), f"{second}-1"):
            with self.subTest(event_id=event_id):
                reply = self.client.get_json(f"/api/v1/containers/{name}/logs",
                                             headers={"Last-Event-ID": event_id})
                self.assertEqual([l["text"] for l in reply["lines"]], ["n 2", "n 3"])
        for event_id in ("abc", f"{second}-0", f"{second}-x", "-5", f"{second}-1-2"):
            with self.subTest(event_id=event_id):
                response = self.client.get(f"/api/v1/containers/{name}/logs",
                                           headers={"Last-Event-ID": event_id})
                self.assertEqual(response.status, 422, response.text)

    def test_download_streams_attachment(self):
        name = self.docker.run_detached("sh", "-c", "seq 1 50000; echo done >&2")
        self.wait_exited(name)
        response = self.client.get(f"/api/v1/containers/{name}/logs",
                                   params={"download": "true", "tail": "all"})
        self.assertEqual(response.status, 200)
        self.assertTrue(response.header("Content-Type").startswith("text/plain"))
        self.assertIn("attachment", response.header("Content-Disposition"))
        lines = response.text.split("\n")
        self.assertEqual(lines[-1], "")
        self.assertEqual(sorted(lines[:-1]), sorted([str(i) for i in range(1, 50001)] + ["done"]))

    def test_viewer_cannot_download(self):
        name = self.docker.run_detached("sh", "-c", "echo x")
        self.wait_exited(name)
        password = "Viewer-Pass-123"
        created = self.client.post("/api/v1/users", {
            "username": "logviewer", "email": "logviewer@example.com", "password": password,
            "password_confirm": password, "role": "viewer"})
        self.assertEqual(created.status, 201, created.text)
        viewer = self.server.client()
        viewer.login("logviewer", password)
        self.assertEqual(viewer.get(f"/api/v1/containers/{name}/logs").status, 200)
        response = viewer.get(f"/api/v1/containers/{name}/logs", params={"download": "true"})
        self.assertEqual(response.status, 403, response.text)

    def test_unknown_container(self):
        response = self.client.get("/api/v1/containers/no-such-container-x/logs")
        self.assertEqual(response.status, 404, response.text)

    def test_merged_logs_time_ordered(self):
        # Both print while the other does, so their lines interleave in time.
        first = self.docker.run_detached(
            "sh", "-c", "for i in 0 1 2 3 4 5; do echo first $i; sleep 0.4; done")
        second = self.docker.run_detached(
            "sh", "-c", "for i in 0 1 2 3 4 5; do echo second $i; sleep 0.4; done")
        self.wait_exited(first)
        self.wait_exited(second)
        reply = self.client.get_json("/api/v1/logs", params={
            "container_ids": f"{first},{second}", "tail": "all"})
        lines = reply["lines"]
        stamps = [l["timestamp"] for l in lines]
        self.assertEqual(stamps, sorted(stamps))
        for name, prefix in ((first, "first"), (second, "second")):
            own = [l["text"] for l in lines if l["container_name"] == name]
            self.assertEqual(own, [f"{prefix} {i}" for i in range(6)])
        names = [l["container_name"] for l in lines]
        self.assertNotEqual(names, sorted(names), "the two containers' lines do not interleave")
        self.assertEqual([c["container_name"] for c in reply["containers"]], [first, second])
        # The parameter may also repeat.
        repeated = self.client.get(
            "/api/v1/logs?" + urllib.parse.urlencode(
                [("container_ids", first), ("container_ids", second), ("tail", "all")]))
        self.assertEqual(repeated.status, 200, repeated.text)
        self.assertEqual(len(repeated.json()["lines"]), 12)

    def test_merged_follow_tags_containers(self):
        first = self.docker.run_detached("sh", "-c", "echo a-old; sleep 600")
        second = self.docker.run_detached("sh", "-c", "echo b-old; sleep 600")
        self.docker.wait_for_log(first, "a-old")
        self.docker.wait_for_log(second, "b-old")
        stream = EventStream(self.server, self.client.token,
                             f"/api/v1/logs?container_ids={first},{second}&follow=true")
        backlog = [stream.next_log()["data"] for _ in range(2)]
        self.assertEqual({(d["container_name"], d["text"]) for d in backlog},
                         {(first, "a-old"), (second, "b-old")})
        self.docker.run("exec", second, "sh", "-c", "echo b-new > /proc/1/fd/1")
        live = stream.next_log()["data"]
        self.assertEqual((live["container_name"], live["text"]), (second, "b-new"))
        stream.close()

    def test_merged_follow_backlog_time_ordered(self):
        # The two containers print alternately, so a backlog sent container by container
        # would put every "first" line before the "second" ones.
        script = "for i in 0 1 2 3 4; do echo %s $i; sleep 0.3; done; echo %s-done; sleep 600"
        first = self.docker.run_detached("sh", "-c", script % ("first", "first"))
        second = self.docker.run_detached("sh", "-c", script % ("second", "second"))
        self.docker.wait_for_log(first, "first-done")
        self.docker.wait_for_log(second, "second-done")
        stream = EventStream(self.server, self.client.token,
                             f"/api/v1/logs?container_ids={first}&container_ids={second}"
                             "&follow=true&tail=all")
        backlog = [stream.next_log()["data"] for _ in range(12)]
        stream.close()
        stamps = [rfc3339_to_nanoseconds(d["timestamp"]) for d in backlog]
        self.assertEqual(stamps, sorted(stamps), [d["text"] for d in backlog])
        names = [d["container_name"] for d in backlog]
        self.assertNotEqual(names, sorted(names), "the two containers' lines do not interleave")
        for name, prefix in ((first, "first"), (second, "second")):
            own = [d["text"] for d in backlog if d["container_name"] == name]
            self.assertEqual(own, [f"{prefix} {i}" for i in range(5)] + [f"{prefix}-done"])

    def test_merged_by_compose_project(self):
        project = "logs" + harness.unique_name("p").replace("-", "")[-8:]
        labels = ["--label", f"com.docker.compose.project={project}"]
        web = self.docker.run_detached(
            "sh", "-c", "for i in 0 1 2; do echo web $i; sleep 0.3; done",
            options=labels + ["--label", "com.docker.compose.service=web"])
        db = self.docker.run_detached(
            "sh", "-c", "for i in 0 1 2; do echo db $i; sleep 0.3; done",
            options=labels + ["--label", "com.docker.compose.service=db"])
        outsider = self.docker.run_detached("sh", "-c", "echo outsider")
        for name in (web, db, outsider):
            self.wait_exited(name)

        reply = self.client.get_json("/api/v1/logs",
                                     params={"compose_project": project, "tail": "all"})
        lines = reply["lines"]
        stamps = [line["timestamp"] for line in lines]
        self.assertEqual(stamps, sorted(stamps))
        self.assertEqual(len(lines), 6)
        self.assertEqual({line["container_name"] for line in lines}, {web, db})
        for line in lines:
            prefix = "web" if line["container_name"] == web else "db"
            self.assertTrue(line["text"].startswith(prefix), line)
        self.assertEqual(sorted(c["container_name"] for c in reply["containers"]),
                         sorted([web, db]))

        missing = self.client.get("/api/v1/logs", params={"compose_project": "no-such-project"})
        self.assertEqual(missing.status, 404, missing.text)
        both = self.client.get("/api/v1/logs",
                               params={"compose_project": project, "container_ids": web})
        self.assertEqual(both.status, 422, both.text)

    def test_merged_by_group_tags_one_container(self):
        member = self.docker.run_detached("sh", "-c", "echo g-old; sleep 600")
        other = self.docker.run_detached("sh", "-c", "echo other; sleep 600")
        self.docker.wait_for_log(member, "g-old")
        self.docker.wait_for_log(other, "other")
        created = self.client.post("/api/v1/groups", {"name": "logs group"})
        self.assertEqual(created.status, 201, created.text)
        group_id = created.json()["id"]
        removed = self.docker.create("true")
        members = self.client.put(f"/api/v1/groups/{group_id}/containers",
                                  {"container_ids": [member, removed]})
        self.assertEqual(members.status, 200, members.text)
        # A member name that no container has any more is skipped, not an error.
        self.docker.remove_container(removed)

        reply = self.client.get_json("/api/v1/logs",
                                     params={"group_id": group_id, "tail": "all"})
        self.assertEqual([(l["container_name"], l["text"]) for l in reply["lines"]],
                         [(member, "g-old")])
        self.assertEqual(reply["lines"][0]["container_id"], self.docker.container_id(member))

        stream = EventStream(self.server, self.client.token,
                             f"/api/v1/logs?group_id={group_id}&follow=true&tail=all")
        backlog = stream.next_log()["data"]
        self.assertEqual((backlog["container_name"], backlog["text"]), (member, "g-old"))
        self.docker.run("exec", member, "sh", "-c", "echo g-new > /proc/1/fd/1")
        live = stream.next_log()["data"]
        self.assertEqual((live["container_name"], live["text"]), (member, "g-new"))
        stream.close()

        self.assertEqual(self.client.get("/api/v1/logs", params={"group_id": 999999}).status,
                         404)
        self.assertEqual(self.client.get("/api/v1/logs", params={"group_id": "x"}).status, 422)

    def test_merged_logs_of_silent_containers(self):
        # Nothing to sort: the merge must handle an empty selection (the sanitizer build
        # stops the server on undefined behaviour there).
        silent = [self.docker.run_detached("sleep", "600") for _ in range(2)]
        reply = self.client.get_json("/api/v1/logs",
                                     params={"container_ids": ",".join(silent), "tail": "all"})
        self.assertEqual(reply["lines"], [])
        self.assertEqual(sorted(c["container_name"] for c in reply["containers"]), sorted(silent))
        self.assertEqual(self.client.get("/health").status, 200)


def rfc3339_to_nanoseconds(text: str) -> int:
    """Convert 2026-01-02T03:04:05.123456789Z to nanoseconds since the epoch."""
    seconds, _, nanoseconds = rfc3339_to_unix(text).partition(".")
    return int(seconds) * 1000000000 + int(nanoseconds)


def rfc3339_to_unix(text: str) -> str:
    """Convert 2026-01-02T03:04:05.123456789Z to "SECONDS.NANOSECONDS"."""
    import calendar
    whole, _, fraction = text.rstrip("Z").partition(".")
    seconds = calendar.timegm(time.strptime(whole, "%Y-%m-%dT%H:%M:%S"))
    return f"{seconds}.{(fraction or '0').ljust(9, '0')}"


if __name__ == "__main__":
    harness.main()
