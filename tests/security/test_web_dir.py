"""Files served from WEB_DIR go through the file helper: a symlink inside the folder that
points outside it, or a path that climbs out of it, never serves the outside file."""

import os
import shutil
import tempfile

from common import harness

SECRET_TEXT = "outside-the-web-folder-7f3a"
INDEX_TEXT = "<!doctype html><title>web dir index</title>"


class WebDirSymlinkTest(harness.IntegrationTestCase):

    def setUp(self):
        super().setUp()
        self.base = tempfile.mkdtemp(prefix="inframon-webdir-")
        self.addCleanup(shutil.rmtree, self.base, True)
        self.web = os.path.join(self.base, "web")
        outside = os.path.join(self.base, "outside")
        os.makedirs(os.path.join(self.web, "assets"))
        os.makedirs(outside)
        with open(os.path.join(self.web, "index.html"), "w") as f:
            f.write(INDEX_TEXT)
        with open(os.path.join(self.web, "assets", "app.js"), "w") as f:
            f.write("console.log('inside');\n")
        with open(os.path.join(outside, "secret.txt"), "w") as f:
            f.write(SECRET_TEXT)
        # A file link and a folder link, both pointing out of WEB_DIR.
        os.symlink(os.path.join(outside, "secret.txt"), os.path.join(self.web, "assets", "leak.js"))
        os.symlink(outside, os.path.join(self.web, "assets", "out"))
        # A link that stays inside WEB_DIR is fine.
        os.symlink(os.path.join(self.web, "assets", "app.js"),
                   os.path.join(self.web, "assets", "alias.js"))

    def test_outside_links_not_served(self):
        server = self.start_server(env={"WEB_DIR": self.web})
        client = server.client()

        inside = client.get("/assets/app.js")
        self.assertEqual(inside.status, 200, inside)
        self.assertIn("inside", inside.text)
        alias = client.get("/assets/alias.js")
        self.assertEqual(alias.status, 200, alias)
        self.assertIn("inside", alias.text)

        for path in ("/assets/leak.js", "/assets/out/secret.txt", "/assets/../../outside/secret.txt",
                     "/assets/%2e%2e/%2e%2e/outside/secret.txt", "/assets/out%2fsecret.txt"):
            response = client.get(path)
            self.assertNotIn(SECRET_TEXT, response.text, path)
            self.assertIn(response.status, (200, 400, 404), f"{path}: {response}")
            if response.status == 200:
                # Unknown paths outside /assets/ fall back to the UI's index page.
                self.assertEqual(response.text, INDEX_TEXT, path)
        self.assertIn("not serving", server.log_text())


if __name__ == "__main__":
    harness.main()
