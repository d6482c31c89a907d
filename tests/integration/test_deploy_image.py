"""Build a container image from the runtime stage of the repository's Dockerfile and run
it on the test engine with the hardening options of deploy/compose.yml.

The test engine cannot pull debian:12 or debian:12-slim, because it has no registry
access. The image is therefore built `FROM scratch` on a root filesystem assembled on
this Debian 12 host. It contains the built binary, the shared libraries that `ldd` lists
(from the same Debian packages that the runtime stage installs), and /etc/passwd with the
non-root user. Every runtime-stage
instruction of the Dockerfile other than FROM, RUN and COPY (ENV, WORKDIR, VOLUME, USER,
EXPOSE, HEALTHCHECK, ENTRYPOINT, CMD) is copied into the test Dockerfile unchanged, so
the test checks those lines of the real file. The build stage and the apt-get steps are
not exercised here.
"""

import io
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import time
import uuid

import harness

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DOCKERFILE = os.path.join(REPO_ROOT, "Dockerfile")
IMAGE_UID = 10001
IMAGE_GID = 10001
WAIT_SECONDS = 120.0
SANITIZER_RUNTIME = re.compile(r"^lib(asan|ubsan|lsan|tsan)\.so")


def runtime_instructions(dockerfile_text: str) -> list:
    """Return the instructions after the last FROM, continuation lines joined, without
    RUN and COPY (their effect is built into the root filesystem instead)."""
    joined = re.sub(r"\\\n\s*", " ", dockerfile_text)
    lines = [line.strip() for line in joined.splitlines()]
    lines = [line for line in lines if line and not line.startswith("#")]
    last_from = max(i for i, line in enumerate(lines) if line.upper().startswith("FROM "))
    return [line for line in lines[last_from + 1:]
            if line.split()[0].upper() not in ("RUN", "COPY")]


def shared_libraries(binary: str) -> list:
    """Return the absolute paths of the shared objects `ldd` resolves for binary,
    the dynamic loader included."""
    output = subprocess.run(["ldd", binary], capture_output=True, text=True,
                            check=True).stdout
    paths = []
    for line in output.splitlines():
        match = re.search(r"(/\S+) \(0x", line)
        if match:
            paths.append(match.group(1))
    return paths


def build_rootfs_tar(binary: str) -> bytes:
    """Return a tar of the runtime root filesystem, with owners set as the Dockerfile's
    RUN steps set them (ADD keeps the owners of a local tar)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        def add_folder(path: str, mode: int, uid: int = 0, gid: int = 0) -> None:
            info = tarfile.TarInfo(path)
            info.type = tarfile.DIRTYPE
            info.mode = mode
            info.uid, info.gid = uid, gid
            tar.addfile(info)

        def add_bytes(path: str, data: bytes, mode: int) -> None:
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mode = mode
            tar.addfile(info, io.BytesIO(data))

        add_folder("etc", 0o755)
        add_folder("tmp", 0o1777)
        add_folder("data", 0o700, IMAGE_UID, IMAGE_GID)
        add_folder("backups", 0o700, IMAGE_UID, IMAGE_GID)
        add_bytes("etc/passwd",
                  (f"root:x:0:0:root:/root:/usr/sbin/nologin\n"
                   f"inframon:x:{IMAGE_UID}:{IMAGE_GID}::/data:/usr/sbin/nologin\n").encode(),
                  0o644)
        add_bytes("etc/group", f"root:x:0:\ninframon:x:{IMAGE_GID}:\n".encode(), 0o644)
        with open(binary, "rb") as file:
            add_bytes("usr/local/bin/inframon", file.read(), 0o755)
        for library in shared_libraries(binary):
            with open(library, "rb") as file:
                add_bytes(library.lstrip("/"), file.read(), 0o755)
    return buffer.getvalue()


def needed_libraries(binary: str) -> list:
    """Return the DT_NEEDED entries of binary (its direct shared-library dependencies)."""
    output = subprocess.run(["readelf", "-d", binary], capture_output=True, text=True,
                            check=True).stdout
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", output)


def owning_package(path: str) -> str:
    """Return the Debian package that installed path, trying the /usr form too, because
    dpkg records each library under the one path its package ships (merged /usr)."""
    for candidate in (path, "/usr" + path, path.removeprefix("/usr")):
        result = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True)
        if result.returncode == 0:
            return result.stdout.split(":", 1)[0]
    raise harness.HarnessError(f"dpkg -S found no package for {path}")


def runtime_packages(dockerfile_text: str) -> set:
    """Return the package names of the `apt-get install` in the runtime stage."""
    joined = re.sub(r"\\\n\s*", " ", dockerfile_text)
    runtime = joined[joined.rindex("\nFROM "):]
    match = re.search(r"apt-get install ([^&]+)", runtime)
    if not match:
        raise harness.HarnessError("no apt-get install in the Dockerfile's runtime stage")
    return {word for word in match.group(1).split() if not word.startswith("-")}


def process_status(pid: int) -> dict:
    """Return the fields of /proc/PID/status as a dict of strings."""
    fields = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return fields


class DeployImageTest(harness.IntegrationTestCase):

    def setUp(self) -> None:
        super().setUp()
        self.tag = f"inframon-test/inframon:{uuid.uuid4().hex[:10]}"
        self.volume = harness.unique_name("data")
        self.context = tempfile.mkdtemp(prefix="inframon-image-")
        self.addCleanup(self.remove_image_and_volume)

    def remove_image_and_volume(self) -> None:
        shutil.rmtree(self.context, ignore_errors=True)
        # The container is removed by docker.cleanup, which runs after this (cleanups run
        # in reverse order), so the removal is forced.
        self.docker.run("rm", "-f", "-v", *self.docker.containers, check=False)
        self.docker.run("volume", "rm", "-f", self.volume, check=False)
        self.docker.run("rmi", "-f", self.tag, check=False)

    def build_image(self) -> None:
        binary = os.path.abspath(harness.require_env("INFRAMON_BIN"))
        with open(os.path.join(self.context, "rootfs.tar"), "wb") as file:
            file.write(build_rootfs_tar(binary))
        with open(DOCKERFILE, encoding="utf-8") as file:
            instructions = runtime_instructions(file.read())
        with open(os.path.join(self.context, "Dockerfile"), "w", encoding="utf-8") as file:
            file.write("FROM scratch\nADD rootfs.tar /\n" + "\n".join(instructions) + "\n")
        # The classic builder: the test engine has no BuildKit and no registry access.
        # Client settings meant for another engine must not apply, as in harness.Docker.
        env = {key: value for key, value in os.environ.items()
               if key not in ("DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_TLS_VERIFY",
                              "DOCKER_CERT_PATH")}
        env["DOCKER_BUILDKIT"] = "0"
        result = subprocess.run(
            [self.docker.cli, "-H", self.docker.host, "build", "-q", "-t", self.tag,
             self.context], capture_output=True, text=True, timeout=300, env=env)
        if result.returncode != 0:
            raise harness.HarnessError(f"docker build failed: {result.stderr.strip()}")

    def test_hardened_container_serves_login(self):
        self.build_image()
        config = self.docker.inspect(self.tag)["Config"]
        self.assertEqual(config["User"], "inframon:inframon")
        self.assertIn("8065/tcp", config["ExposedPorts"])
        self.assertIn("/data", config["Volumes"])
        self.assertEqual(config["Healthcheck"]["Test"],
                         ["CMD", "/usr/local/bin/inframon", "healthcheck"])

        socket_path = self.docker.host.removeprefix("unix://")
        socket_gid = os.stat(socket_path).st_gid
        port = harness.free_port()
        secret = harness.random_secret(48)
        self.docker.run("volume", "create", self.volume)
        name = harness.unique_name("image")
        self.docker.containers.append(name)
        # The options of deploy/compose.yml; --health-interval only shortens the wait.
        self.docker.run(
            "run", "-d", "--name", name, "--label", "inframon.test=true",
            "--read-only", "--cap-drop", "ALL",
            "--security-opt", "no-new-privileges:true",
            "--tmpfs", "/tmp:rw,noexec,nosuid,nodev,size=16m",
            "--user", f"{IMAGE_UID}:{IMAGE_GID}", "--group-add", str(socket_gid),
            "-v", f"{socket_path}:/var/run/docker.sock",
            "-v", f"{self.volume}:/data",
            # The engine runs with --bridge=none, so the default network has no
            # addresses; the published port works on a user bridge network.
            "--network", harness.TEST_NETWORK,
            "-p", f"127.0.0.1:{port}:8065",
            "--health-interval", "1s", "--health-start-period", "60s",
            "-e", f"SECRET_KEY={secret}",
            "-e", f"ADMIN_PASSWORD={harness.ADMIN_PASSWORD}",
            self.tag)

        client = harness.Client("127.0.0.1", port)
        self.wait_for_health(client, name)
        client.login()
        containers = client.get_json("/api/v1/containers")
        listed = [entry["name"] for entry in containers["data"]["containers"]]
        self.assertIn(name, listed)

        state = self.docker.inspect(name)["State"]
        status = process_status(state["Pid"])
        self.assertEqual(status["Uid"].split()[0], str(IMAGE_UID))
        self.assertEqual(status["Gid"].split()[0], str(IMAGE_GID))
        self.assertIn(str(socket_gid), status["Groups"].split())
        self.assertEqual(int(status["CapEff"], 16), 0)
        self.assertEqual(int(status["CapBnd"], 16), 0)
        self.assertEqual(status["NoNewPrivs"], "1")
        self.wait_for_engine_health(name)

        # The database is on the volume, owned by the non-root user, mode 0600.
        listing = self.docker.run_once(
            "ls", "-ln", "/data", options=["-v", f"{self.volume}:/data"]).stdout
        database = [line for line in listing.splitlines() if line.endswith(" inframon.db")]
        self.assertEqual(len(database), 1, listing)
        fields = database[0].split()
        self.assertEqual(fields[0], "-rw-------")
        self.assertEqual(fields[2], str(IMAGE_UID))

    def wait_for_health(self, client: harness.Client, name: str) -> None:
        """Wait until GET /health through the published port returns 200."""
        deadline = time.monotonic() + WAIT_SECONDS
        last_error = "no attempt"
        while time.monotonic() < deadline:
            try:
                response = client.get("/health", auth=False)
                if response.status == 200:
                    return
                last_error = f"status {response.status}"
            except OSError as exc:
                last_error = str(exc)
            if not self.docker.inspect(name)["State"]["Running"]:
                break
            time.sleep(0.2)
        stdout, stderr = self.docker.logs(name)
        raise harness.HarnessError(f"/health on 127.0.0.1:{client.port} did not return 200 "
                                   f"(last error: {last_error}); container log:\n"
                                   f"{stdout}{stderr}")

    def wait_for_engine_health(self, name: str) -> None:
        """Wait until the engine runs the image's HEALTHCHECK and reports healthy."""
        deadline = time.monotonic() + WAIT_SECONDS
        health = {}
        while time.monotonic() < deadline:
            health = self.docker.inspect(name)["State"].get("Health") or {}
            if health.get("Status") == "healthy":
                return
            time.sleep(0.5)
        self.fail(f"container {name} never became healthy: {health}")


class RuntimePackagesTest(harness.IntegrationTestCase):

    def test_runtime_packages_cover_libraries(self):
        """Every library the binary links against directly comes from a package that the
        runtime stage installs (libc6 is in every Debian image)."""
        binary = os.path.abspath(harness.require_env("INFRAMON_BIN"))
        with open(DOCKERFILE, encoding="utf-8") as file:
            installed = runtime_packages(file.read()) | {"libc6"}
        resolved = {os.path.basename(path): path for path in shared_libraries(binary)}
        # The sanitizer runtimes come from an IM_SANITIZE=ON test build; the Dockerfile
        # builds without sanitizers, so its image never needs them.
        needed = [library for library in needed_libraries(binary)
                  if not SANITIZER_RUNTIME.match(library)]
        self.assertIn("libsqlite3.so.0", needed)
        for library in needed:
            with self.subTest(library=library):
                self.assertIn(library, resolved)
                self.assertIn(owning_package(resolved[library]), installed)


class HealthcheckCommandTest(harness.IntegrationTestCase):

    def run_healthcheck(self, server: harness.Server) -> subprocess.CompletedProcess:
        return subprocess.run([server.binary, "healthcheck"], cwd=server.workdir,
                              env=server.environment(), capture_output=True, text=True,
                              timeout=60)

    def test_healthcheck_exit_status(self):
        server = self.start_server()
        healthy = self.run_healthcheck(server)
        self.assertEqual(healthy.returncode, 0, healthy.stderr)
        self.assertIn(f"GET http://127.0.0.1:{server.port}/health returned 200",
                      healthy.stdout)

        server.stop()
        stopped = self.run_healthcheck(server)
        self.assertEqual(stopped.returncode, 1, stopped.stdout)
        self.assertIn(f"GET http://127.0.0.1:{server.port}/health failed", stopped.stderr)


if __name__ == "__main__":
    harness.main()
