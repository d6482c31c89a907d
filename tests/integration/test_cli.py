"""The command line: --help, --version, config, migrate, user, and clean shutdown."""

import json
import os
import pty
import subprocess

import harness


class CliTest(harness.IntegrationTestCase):

    def run_cli(self, server, *args, input_text=None):
        if not server.port:
            server.port = harness.free_port()
        return subprocess.run([server.binary, *args], cwd=server.workdir,
                              env=server.environment(), input=input_text,
                              capture_output=True, text=True, timeout=60)

    def test_help_and_version(self):
        server = harness.Server()
        self.addCleanup(server.cleanup)
        help_text = self.run_cli(server, "--help")
        self.assertEqual(help_text.returncode, 0)
        for word in ("serve", "migrate", "backup", "config", "user create", "PORT (8065)",
                     "SECRET_KEY_FILE"):
            self.assertIn(word, help_text.stdout)
        version = self.run_cli(server, "--version")
        self.assertEqual(version.returncode, 0)
        self.assertRegex(version.stdout, r"^inframon \d+\.\d+\.\d+")
        unknown = self.run_cli(server, "frobnicate")
        self.assertEqual(unknown.returncode, 2)
        self.assertIn("unknown command", unknown.stderr)
        for args in (("serve", "--port", "9000"), ("config", "--bogus")):
            stray = self.run_cli(server, *args)
            self.assertEqual(stray.returncode, 2, args)
            self.assertIn("takes no arguments", stray.stderr)
            self.assertIn(args[1], stray.stderr)

    def test_config_prints_and_validates(self):
        server = harness.Server()
        self.addCleanup(server.cleanup)
        result = self.run_cli(server, "config")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("SECRET_KEY=(set, redacted)", result.stdout)
        self.assertNotIn(server.secret_key, result.stdout + result.stderr)
        self.assertIn(f"PORT={server.port}", result.stdout)
        weak = harness.Server(env={"SECRET_KEY": "weak-key-123"})
        self.addCleanup(weak.cleanup)
        result = self.run_cli(weak, "config")
        self.assertEqual(result.returncode, 2)
        self.assertIn("SECRET_KEY", result.stderr)
        bad = harness.Server(env={"PORT": "eighty"})
        self.addCleanup(bad.cleanup)
        result = self.run_cli(bad, "config")
        self.assertEqual(result.returncode, 2)
        self.assertIn('invalid PORT="eighty"', result.stderr)

    def test_unknown_env_file_key_warned(self):
        server = harness.Server()
        self.addCleanup(server.cleanup)
        env_path = os.path.join(server.workdir, ".env")
        with open(env_path, "w") as env_file:
            env_file.write("PROT=8070\nBACKUP_KEEP=3\n")
        os.chmod(env_path, 0o600)
        result = self.run_cli(server, "config")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn(".env line 1: unknown setting PROT is ignored", result.stderr)
        self.assertNotIn("BACKUP_KEEP is ignored", result.stderr)

    def test_migrate_then_user_commands(self):
        server = harness.Server()
        self.addCleanup(server.cleanup)
        migrate = self.run_cli(server, "migrate")
        self.assertEqual(migrate.returncode, 0, migrate.stderr)
        self.assertIn("schema version", migrate.stdout)
        created = self.run_cli(server, "user", "create", "ops1", "--role", "operator",
                               input_text="Operator-Pass-1\n")
        self.assertEqual(created.returncode, 0, created.stderr)
        listing = self.run_cli(server, "user", "list")
        self.assertIn("ops1", listing.stdout)
        self.assertIn("operator", listing.stdout)
        bad_role = self.run_cli(server, "user", "create", "ops2", "--role", "root",
                                input_text="Operator-Pass-1\n")
        self.assertEqual(bad_role.returncode, 2)

        server.start()
        client = server.login("ops1", "Operator-Pass-1")
        self.assertEqual(client.get_json("/api/v1/auth/me")["role"], "operator")
        # The database had a user already, so the admin password setting does nothing.
        self.assertIn("ADMIN_PASSWORD is set but ignored", server.log_text())
        server.stop()

        passwd = self.run_cli(server, "user", "passwd", "ops1", input_text="Changed-Pass-22\n")
        self.assertEqual(passwd.returncode, 0, passwd.stderr)
        disable = self.run_cli(server, "user", "disable", "ops1")
        self.assertEqual(disable.returncode, 0, disable.stderr)
        server.start()
        refused = server.client().post("/api/v1/auth/login",
                                       {"username": "ops1", "password": "Changed-Pass-22"},
                                       auth=False)
        self.assertEqual(refused.status, 401)
        # The restarted server listens on a new port: reuse the old token there.
        old_token = server.client(token=client.token)
        self.assertEqual(old_token.get("/api/v1/auth/me").status, 401)

    def test_offline_commands_need_database(self):
        server = harness.Server()
        self.addCleanup(server.cleanup)
        for args in (("user", "list"), ("user", "disable", "admin"), ("backup", "copy.db")):
            with self.subTest(args=args):
                result = self.run_cli(server, *args)
                self.assertEqual(result.returncode, 1, result.stderr)
                self.assertIn(f"no database at {server.database_path}", result.stderr)
                self.assertFalse(os.path.exists(server.database_path))
        bare = self.run_cli(server, "user")
        self.assertEqual(bare.returncode, 2)
        self.assertIn("usage: inframon user", bare.stderr)
        self.assertFalse(os.path.exists(server.database_path))

    def test_password_missing_on_stdin(self):
        server = harness.Server()
        self.addCleanup(server.cleanup)
        self.assertEqual(self.run_cli(server, "migrate").returncode, 0)
        created = self.run_cli(server, "user", "create", "carl", input_text="")
        self.assertEqual(created.returncode, 2)
        self.assertIn("missing password", created.stderr)
        listing = self.run_cli(server, "user", "list")
        self.assertNotIn("carl", listing.stdout)

    def test_password_prompt_hides_typing(self):
        server = harness.Server()
        self.addCleanup(server.cleanup)
        self.assertEqual(self.run_cli(server, "migrate").returncode, 0)
        primary, secondary = pty.openpty()
        process = subprocess.Popen([server.binary, "user", "create", "dana"],
                                   cwd=server.workdir, env=server.environment(),
                                   stdin=secondary, stdout=secondary, stderr=secondary)
        os.close(secondary)
        seen = b""
        while b"password: " not in seen:
            seen += os.read(primary, 4096)
        os.write(primary, b"Typed-Secret-77\n")
        self.assertEqual(process.wait(timeout=30), 0)
        while True:
            try:
                chunk = os.read(primary, 4096)
            except OSError:  # EIO once the process has closed the terminal
                break
            if not chunk:
                break
            seen += chunk
        os.close(primary)
        self.assertIn(b"created viewer user", seen)
        self.assertNotIn(b"Typed-Secret-77", seen)

    def test_sigterm_shuts_down_cleanly(self):
        server = self.start_server()
        server.login()
        self.assertEqual(server.stop(), 0)
        log = server.log_text()
        self.assertIn("received SIGTERM, shutting down", log)
        self.assertIn("stopped: SIGTERM", log)

    def test_json_log_lines(self):
        server = self.start_server(env={"LOG_FORMAT": "json", "LOG_LEVEL": "info"})
        server.login()
        server.stop()
        lines = [line for line in server.log_text().splitlines() if line.strip()]
        self.assertTrue(lines)
        records = [json.loads(line) for line in lines]
        modules = {record["module"] for record in records}
        self.assertIn("access", modules)
        self.assertIn("main", modules)
        access = [r for r in records if r["module"] == "access"]
        self.assertIn("/api/v1/auth/login", {r["path"] for r in access})
        for record in records:
            self.assertIn("time", record)
            self.assertIn("level", record)
        self.assertNotIn(server.admin_password, server.log_text())
        self.assertNotIn(server.secret_key, server.log_text())


if __name__ == "__main__":
    harness.main()
