"""Online backups (`inframon backup FILE` and BACKUP_DIR schedules) and the restore steps
of docs/deploy.md, run against the real server and SQLite files."""

import os
import re
import shutil
import stat
import subprocess
import tempfile
import time

import harness

# The smallest BACKUP_INTERVAL_HOURS the configuration accepts: one backup every 3.6 s.
SHORT_INTERVAL_HOURS = "0.001"
# Generous upper bound for waits on a busy 2-core machine; it is a deadline, not a
# measured time that the test checks.
WAIT_SECONDS = 120.0
BACKUP_NAME = re.compile(r"^inframon-\d{8}T\d{6}Z\.db$")
BACKUP_WRITTEN = re.compile(r"backup written to (\S+): (\d+) bytes in (\d+) ms")


def run_command(server: harness.Server, *args: str) -> subprocess.CompletedProcess:
    """Run `inframon ARGS...` with the server's configuration and working folder."""
    return subprocess.run([server.binary, *args], cwd=server.workdir,
                          env=server.environment(), capture_output=True, text=True,
                          timeout=60)


def backup_names(folder: str) -> list:
    """Return the backup file names in folder, oldest first; none while it is missing."""
    if not os.path.isdir(folder):
        return []
    return sorted(name for name in os.listdir(folder) if BACKUP_NAME.match(name))


def wait_for(condition, description: str, server: harness.Server):
    """Poll condition() until it returns a true value and return that value."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise harness.HarnessError(f"timed out after {WAIT_SECONDS:.0f} s waiting for "
                               f"{description}; server log:\n{server.log_text()}")


def create_user(admin: harness.Client, username: str, password: str) -> int:
    response = admin.post("/api/v1/users", {
        "username": username, "email": f"{username}@example.com", "password": password,
        "password_confirm": password, "role": "viewer"})
    if response.status != 201:
        raise harness.HarnessError(f"creating user {username} failed: {response!r}")
    return response.json()["id"]


def change_password(admin: harness.Client, user_id: int, password: str) -> None:
    response = admin.put(f"/api/v1/users/{user_id}", {"password": password})
    if response.status != 200:
        raise harness.HarnessError(f"changing the password of user {user_id} failed: "
                                   f"{response!r}")


def login_status(server: harness.Server, username: str, password: str) -> int:
    return server.client().post("/api/v1/auth/login",
                                {"username": username, "password": password},
                                auth=False).status


def restore(server: harness.Server, backup_path: str) -> None:
    """Restore with the steps of docs/deploy.md: stop, copy over the database, delete
    -wal and -shm, start."""
    server.stop()
    shutil.copyfile(backup_path, server.database_path)
    for suffix in ("-wal", "-shm"):
        if os.path.exists(server.database_path + suffix):
            os.remove(server.database_path + suffix)
    server.start()


class BackupCommandTest(harness.IntegrationTestCase):

    def test_backup_command_restores_users(self):
        server = self.start_server()
        admin = server.login()
        alice = create_user(admin, "alice", "Alice-Password-1")
        backup_path = os.path.join(server.workdir, "manual.db")

        result = run_command(server, "backup", backup_path)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn(f"backup written to {backup_path}", result.stdout)
        self.assertEqual(stat.S_IMODE(os.stat(backup_path).st_mode), 0o600)

        # Changes made after the backup, which the restore must undo.
        change_password(admin, alice, "Alice-Password-2")
        create_user(admin, "bob", "Bob-Password-1")
        self.assertEqual(login_status(server, "alice", "Alice-Password-2"), 200)
        self.assertEqual(login_status(server, "bob", "Bob-Password-1"), 200)

        restore(server, backup_path)
        self.assertEqual(login_status(server, "alice", "Alice-Password-1"), 200)
        self.assertEqual(login_status(server, "alice", "Alice-Password-2"), 401)
        self.assertEqual(login_status(server, "bob", "Bob-Password-1"), 401)
        usernames = {user["username"] for user in
                     server.login().get_json("/api/v1/users")["users"]}
        self.assertEqual(usernames, {harness.ADMIN_USERNAME, "alice"})

    def test_backup_command_keeps_existing_file(self):
        server = self.start_server()
        target = os.path.join(server.workdir, "existing.db")
        with open(target, "w", encoding="ascii") as existing:
            existing.write("keep me\n")

        result = run_command(server, "backup", target)
        self.assertEqual(result.returncode, 1)
        self.assertIn("already exists", result.stderr)
        with open(target, encoding="ascii") as existing:
            self.assertEqual(existing.read(), "keep me\n")
        leftovers = [name for name in os.listdir(server.workdir) if ".tmp-" in name]
        self.assertEqual(leftovers, [])

    def test_backup_command_needs_one_file(self):
        server = self.start_server()
        result = run_command(server, "backup")
        self.assertEqual(result.returncode, 2)
        self.assertIn("usage: inframon backup FILE", result.stderr)


class ScheduledBackupTest(harness.IntegrationTestCase):

    def start_with_backups(self, backup_dir: str, keep: str) -> harness.Server:
        return self.start_server(env={
            "BACKUP_DIR": backup_dir,
            "BACKUP_INTERVAL_HOURS": SHORT_INTERVAL_HOURS,
            "BACKUP_KEEP": keep,
        })

    def test_scheduled_backup_restores_users(self):
        # The folder does not exist yet, so this also checks that it is created 0700.
        backup_root = self.make_folder()
        backup_dir = os.path.join(backup_root, "nested", "backups")
        server = self.start_with_backups(backup_dir, "3")
        admin = server.login()
        alice = create_user(admin, "alice", "Alice-Password-1")

        # A backup that starts after alice exists: wait for two files that were not
        # there when she was created, because the first may have been in progress.
        before = set(backup_names(backup_dir))

        def two_new_backups():
            names = [name for name in backup_names(backup_dir) if name not in before]
            return names if len(names) >= 2 else None

        new_names = wait_for(two_new_backups, "two scheduled backups after the user was "
                             "created", server)
        saved = os.path.join(backup_root, "saved.db")
        shutil.copyfile(os.path.join(backup_dir, new_names[-1]), saved)

        self.assertEqual(stat.S_IMODE(os.stat(backup_dir).st_mode), 0o700)
        self.assertEqual(stat.S_IMODE(os.stat(os.path.join(backup_dir, new_names[-1]))
                                      .st_mode), 0o600)
        written = BACKUP_WRITTEN.findall(server.log_text())
        self.assertTrue(written, "no 'backup written to' line in the server log")
        self.assertTrue(all(int(size) > 0 for _, size, _ in written), written)

        change_password(admin, alice, "Alice-Password-2")
        create_user(admin, "bob", "Bob-Password-1")

        restore(server, saved)
        self.assertEqual(login_status(server, "alice", "Alice-Password-1"), 200)
        self.assertEqual(login_status(server, "alice", "Alice-Password-2"), 401)
        self.assertEqual(login_status(server, "bob", "Bob-Password-1"), 401)

    def test_backup_keep_prunes_only_own_files(self):
        backup_dir = self.make_folder()
        old_backup = "inframon-20200101T000000Z.db"
        foreign = ["inframon-20200101T000000Z.db.bak", "notes.txt", "inframon-latest.db",
                   "other-20200101T000000Z.db", "inframon-20200101T000000Z.db.tmp-abc123"]
        for name in [old_backup, *foreign]:
            with open(os.path.join(backup_dir, name), "w", encoding="ascii") as file:
                file.write("not a database\n")

        server = self.start_with_backups(backup_dir, "2")
        wait_for(lambda: len(BACKUP_WRITTEN.findall(server.log_text())) >= 3,
                 "three scheduled backups", server)
        server.stop()

        names = backup_names(backup_dir)
        self.assertEqual(len(names), 2, names)
        self.assertNotIn(old_backup, names)
        for name in foreign:
            self.assertTrue(os.path.exists(os.path.join(backup_dir, name)), name)
        self.assertIn(f"deleted old backup {backup_dir}/{old_backup}", server.log_text())

    def test_backup_failure_keeps_server_running(self):
        folder = self.make_folder()
        blocker = os.path.join(folder, "a-file")
        with open(blocker, "w", encoding="ascii") as file:
            file.write("a file where the backup folder should be\n")
        server = self.start_with_backups(os.path.join(blocker, "backups"), "2")

        wait_for(lambda: "retrying in" in server.log_text(), "a logged backup failure",
                 server)
        self.assertIn("cannot create backup folder", server.log_text())
        self.assertTrue(server.is_running())
        self.assertEqual(server.client().get("/health", auth=False).status, 200)
        self.assertEqual(login_status(server, harness.ADMIN_USERNAME,
                                      harness.ADMIN_PASSWORD), 200)

    def make_folder(self) -> str:
        """Return a new temporary folder that is deleted after the test."""
        folder = os.path.realpath(tempfile.mkdtemp(prefix="inframon-backup-"))
        self.addCleanup(shutil.rmtree, folder, True)
        return folder


class BackupSettingsTest(harness.IntegrationTestCase):

    def config_result(self, **settings: str) -> subprocess.CompletedProcess:
        # PORT is fixed because a server that is never launched has no port yet.
        server = harness.Server(env={"PORT": "8065", **settings})
        self.addCleanup(server.cleanup)
        return run_command(server, "config")

    def test_invalid_backup_settings_rejected(self):
        cases = [
            ("BACKUP_INTERVAL_HOURS", "0"),
            ("BACKUP_INTERVAL_HOURS", "0.0001"),
            ("BACKUP_INTERVAL_HOURS", "-1"),
            ("BACKUP_INTERVAL_HOURS", "nan"),
            ("BACKUP_INTERVAL_HOURS", "inf"),
            ("BACKUP_INTERVAL_HOURS", "1e3"),
            ("BACKUP_INTERVAL_HOURS", "8761"),
            ("BACKUP_INTERVAL_HOURS", ""),
            ("BACKUP_KEEP", "0"),
            ("BACKUP_KEEP", "ten"),
        ]
        for name, value in cases:
            with self.subTest(name=name, value=value):
                result = self.config_result(**{name: value})
                self.assertEqual(result.returncode, 2, result.stdout)
                self.assertIn(f'invalid {name}="{value}"', result.stderr)

    def test_backup_settings_printed(self):
        result = self.config_result(BACKUP_DIR="/var/backups/inframon",
                                    BACKUP_INTERVAL_HOURS="0.5", BACKUP_KEEP="14")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("BACKUP_DIR=/var/backups/inframon\n", result.stdout)
        self.assertIn("BACKUP_INTERVAL_HOURS=0.5\n", result.stdout)
        self.assertIn("BACKUP_KEEP=14\n", result.stdout)

    def test_backup_defaults_printed(self):
        result = self.config_result()
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("BACKUP_DIR=\n", result.stdout)
        self.assertIn("BACKUP_INTERVAL_HOURS=24\n", result.stdout)
        self.assertIn("BACKUP_KEEP=7\n", result.stdout)


if __name__ == "__main__":
    harness.main()
