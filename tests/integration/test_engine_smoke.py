"""Check that the private test engine runs containers and returns their output.

This needs no inframon feature: it proves that the engine, the busybox test image
and the harness's docker helper work under ctest, so a failure here points at the
test setup rather than at the server."""

import harness


class EngineSmokeTest(harness.IntegrationTestCase):
    def test_run_once_returns_echo_output(self):
        result = self.docker.run_once("echo", "hello from busybox")
        self.assertEqual(result.stdout, "hello from busybox\n")

    def test_detached_container_logs_both_streams(self):
        name = self.docker.run_detached(
            "sh", "-c", "echo to-stdout; echo to-stderr >&2; sleep 300")
        self.docker.wait_for_log(name, "to-stderr")
        stdout, stderr = self.docker.logs(name)
        self.assertEqual(stdout, "to-stdout\n")
        self.assertEqual(stderr, "to-stderr\n")

    def test_test_network_gives_container_an_address(self):
        name = self.docker.run_detached(
            "sleep", "300", options=["--network", harness.TEST_NETWORK])
        networks = self.docker.inspect(name)["NetworkSettings"]["Networks"]
        self.assertIn(harness.TEST_NETWORK, networks)
        self.assertTrue(networks[harness.TEST_NETWORK]["IPAddress"])

    def test_cleanup_removes_created_container(self):
        helper = harness.Docker()
        name = helper.create("true")
        helper.cleanup()
        result = helper.run("inspect", name, check=False)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("No such", result.stderr)


if __name__ == "__main__":
    harness.main()
