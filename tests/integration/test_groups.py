"""Container groups on the real engine: CRUD, validation, membership by name, the
container list's group filter and ETag, group statistics, roles and audit rows."""

import harness

USER_PASSWORD = "Groups-Test-Pass-1"


class GroupApiTest(harness.IntegrationTestCase):

    def setUp(self) -> None:
        super().setUp()
        self.server = self.start_server()
        self.admin = self.server.login()

    def create_group(self, name, **fields):
        response = self.admin.post("/api/v1/groups", {"name": name, **fields})
        self.assertEqual(response.status, 201, response.text)
        return response.json()

    def set_members(self, group_id, refs, expected_status=200):
        response = self.admin.put(f"/api/v1/groups/{group_id}/containers",
                                  {"container_ids": refs})
        self.assertEqual(response.status, expected_status, response.text)
        return response.json()

    def listed(self, **params):
        params.setdefault("all_containers", "true")
        reply = self.admin.get_json("/api/v1/containers", params=params)
        return {item["name"]: item for item in reply["data"]["containers"]}

    def audit_actions(self, action):
        reply = self.admin.get_json("/api/v1/audit-logs",
                                    params={"action": action, "page_size": 100})
        return reply["items"]

    def test_create_read_update_delete(self):
        created = self.create_group("web tier", description="front end", color="#1F77b4")
        self.assertIsInstance(created["id"], int)
        self.assertEqual(created["name"], "web tier")
        self.assertEqual(created["description"], "front end")
        self.assertEqual(created["color"], "#1F77b4")
        self.assertEqual(created["container_ids"], [])
        self.assertTrue(created["created_at"].endswith("Z"))

        one = self.admin.get_json(f"/api/v1/groups/{created['id']}")
        self.assertEqual(one["name"], "web tier")
        listing = self.admin.get_json("/api/v1/groups")
        self.assertEqual([g["name"] for g in listing], ["web tier"])

        updated = self.admin.put(f"/api/v1/groups/{created['id']}", {"color": "#000000"})
        self.assertEqual(updated.status, 200, updated.text)
        self.assertEqual(updated.json()["color"], "#000000")
        self.assertEqual(updated.json()["name"], "web tier")
        self.assertEqual(updated.json()["description"], "front end")

        renamed = self.admin.put(f"/api/v1/groups/{created['id']}", {"name": "edge"})
        self.assertEqual(renamed.json()["name"], "edge")

        deleted = self.admin.delete(f"/api/v1/groups/{created['id']}")
        self.assertEqual(deleted.status, 204)
        self.assertEqual(self.admin.get(f"/api/v1/groups/{created['id']}").status, 404)
        self.assertEqual(self.admin.delete(f"/api/v1/groups/{created['id']}").status, 404)

    def test_validation_and_conflicts(self):
        self.create_group("db")
        taken = self.admin.post("/api/v1/groups", {"name": "DB"})
        self.assertEqual(taken.status, 409, taken.text)
        self.assertIn("DB", taken.json()["detail"])

        cases = [
            ({"name": ""}, "name"),
            ({"name": "x" * 101}, "name"),
            ({"description": "no name"}, "name"),
            ({"name": "ok", "color": "red"}, "color"),
            ({"name": "ok", "color": "#12345"}, "color"),
            ({"name": "ok", "color": "#12345g"}, "color"),
            ({"name": "ok", "description": "d" * 501}, "description"),
            ({"name": 5}, "name"),
        ]
        for body, field in cases:
            with self.subTest(body=body):
                response = self.admin.post("/api/v1/groups", body)
                self.assertEqual(response.status, 422, response.text)
                self.assertEqual(response.json()["detail"][0]["loc"], ["body", field])

        self.assertEqual(self.admin.post("/api/v1/groups", {"name": "x" * 100}).status, 201)
        other = self.create_group("cache")
        clash = self.admin.put(f"/api/v1/groups/{other['id']}", {"name": "db"})
        self.assertEqual(clash.status, 409, clash.text)
        self.assertEqual(self.admin.get("/api/v1/groups/999999").status, 404)
        self.assertEqual(self.admin.put("/api/v1/groups/999999", {"name": "z"}).status, 404)
        self.assertEqual(self.admin.get("/api/v1/groups/abc").status, 422)

    def test_membership_by_id_and_name(self):
        first = self.docker.run_detached("sleep", "300")
        second = self.docker.run_detached("sleep", "300")
        outsider = self.docker.run_detached("sleep", "300")
        group = self.create_group("pair")
        full_id = self.docker.container_id(first)

        reply = self.set_members(group["id"], [full_id[:12], second, second])
        self.assertEqual(sorted(reply["container_ids"]), sorted([first, second]))
        members = {m["name"]: m for m in reply["members"]}
        self.assertEqual(members[first]["container_id"], full_id)

        names = self.listed()
        self.assertEqual(names[first]["group_ids"], [group["id"]])
        self.assertEqual(names[outsider]["group_ids"], [])
        filtered = self.listed(group_id=str(group["id"]))
        self.assertEqual(sorted(filtered), sorted([first, second]))
        detail = self.admin.get_json(f"/api/v1/containers/{first}")
        self.assertEqual(detail["group_ids"], [group["id"]])

        unknown = self.admin.put(f"/api/v1/groups/{group['id']}/containers",
                                 {"container_ids": [first, "no-such-container-xyz"]})
        self.assertEqual(unknown.status, 422, unknown.text)
        self.assertIn("no-such-container-xyz", unknown.json()["detail"][0]["msg"])
        # A rejected request leaves the membership as it was.
        kept = self.admin.get_json(f"/api/v1/groups/{group['id']}")
        self.assertEqual(sorted(kept["container_ids"]), sorted([first, second]))

        emptied = self.set_members(group["id"], [])
        self.assertEqual(emptied["container_ids"], [])
        self.assertEqual(self.listed(group_id=str(group["id"])), {})

    def test_membership_survives_recreate(self):
        name = self.docker.run_detached("sleep", "300")
        old_id = self.docker.container_id(name)
        group = self.create_group("survivors")
        self.set_members(group["id"], [old_id])

        self.docker.remove_container(name)
        self.docker.run_detached("sleep", "300", name=name)
        new_id = self.docker.container_id(name)
        self.assertNotEqual(new_id, old_id)

        item = harness.poll(lambda: self.listed(group_id=str(group["id"])).get(name))
        self.assertIsNotNone(item)
        self.assertEqual(item["container_id"], new_id)
        self.assertEqual(item["group_ids"], [group["id"]])
        self.assertEqual(self.admin.get_json(f"/api/v1/groups/{group['id']}")["container_ids"],
                         [name])

    def test_list_etag_changes_with_membership(self):
        name = self.docker.run_detached("sleep", "300")
        group = self.create_group("tagged")

        def tagged_list():
            response = self.admin.get("/api/v1/containers")
            return response if response.header("ETag") else None

        before = harness.poll(tagged_list)
        self.assertIsNotNone(before, "the container list never carried an ETag")
        etag = before.header("ETag")
        unchanged = self.admin.get("/api/v1/containers", headers={"If-None-Match": etag})
        self.assertIn(unchanged.status, (200, 304))

        self.set_members(group["id"], [name])
        after = self.admin.get("/api/v1/containers", headers={"If-None-Match": etag})
        self.assertEqual(after.status, 200, "the ETag did not change with the membership")
        self.assertNotEqual(after.header("ETag"), etag)
        items = {i["name"]: i for i in after.json()["data"]["containers"]}
        self.assertEqual(items[name]["group_ids"], [group["id"]])
        again = self.admin.get("/api/v1/containers",
                               headers={"If-None-Match": after.header("ETag")})
        self.assertIn(again.status, (200, 304))

    def test_group_stats_from_snapshot(self):
        running = self.docker.run_detached("sleep", "300")
        stopped = self.docker.create("true")
        group = self.create_group("stats")
        self.set_members(group["id"], [running, stopped])
        self.docker.remove_container(stopped)

        def sampled():
            stats = self.admin.get_json(f"/api/v1/stats/groups/{group['id']}")
            items = {c["name"]: c for c in stats["containers"]}
            removed = stopped in stats["missing_containers"]
            if removed and running in items and items[running]["memory_usage"] is not None:
                return stats
            return None

        stats = harness.poll(sampled)
        self.assertIsNotNone(stats, "the running member was never sampled, or the removed "
                                    "one never left the snapshot")
        self.assertEqual(stats["group_id"], group["id"])
        self.assertEqual(stats["group_name"], "stats")
        self.assertEqual(stats["total_containers"], 1)
        self.assertEqual(stats["running_containers"], 1)
        self.assertEqual(stats["stopped_containers"], 0)
        self.assertEqual(stats["missing_containers"], [stopped])
        self.assertGreater(stats["total_memory_usage"], 0)
        self.assertGreaterEqual(stats["total_cpu_usage"], 0)
        # Rounded to two decimals like the other statistics, not printed as 9.440000000000001.
        self.assertRegex(repr(stats["total_cpu_usage"]), r"^[0-9]+(\.[0-9]{1,2})?$")
        self.assertEqual(self.admin.get("/api/v1/stats/groups/999999").status, 404)

    def test_viewer_reads_but_cannot_write(self):
        created = self.admin.post("/api/v1/users", {
            "username": "groupviewer", "email": "groupviewer@example.com",
            "password": USER_PASSWORD, "password_confirm": USER_PASSWORD, "role": "viewer"})
        self.assertEqual(created.status, 201, created.text)
        viewer = self.server.client()
        viewer.login("groupviewer", USER_PASSWORD)
        group = self.create_group("readonly")

        self.assertEqual(viewer.get("/api/v1/groups").status, 200)
        self.assertEqual(viewer.get(f"/api/v1/groups/{group['id']}").status, 200)
        writes = [
            ("POST", "/api/v1/groups", {"name": "nope"}),
            ("PUT", f"/api/v1/groups/{group['id']}", {"name": "nope"}),
            ("PUT", f"/api/v1/groups/{group['id']}/containers", {"container_ids": []}),
            ("DELETE", f"/api/v1/groups/{group['id']}", None),
        ]
        for method, path, body in writes:
            with self.subTest(method=method, path=path):
                response = viewer.request(method, path, json_body=body)
                self.assertEqual(response.status, 403, response.text)
                self.assertIn("admin", response.json()["detail"])
        self.assertEqual(self.admin.get_json(f"/api/v1/groups/{group['id']}")["name"],
                         "readonly")

    def test_writes_are_audited(self):
        group = self.create_group("audited")
        self.admin.put(f"/api/v1/groups/{group['id']}", {"description": "d"})
        self.admin.put(f"/api/v1/groups/{group['id']}/containers",
                       {"container_ids": ["no-such-container-xyz"]})
        self.admin.delete(f"/api/v1/groups/{group['id']}")

        create = self.audit_actions("group.create")
        self.assertEqual(len(create), 1)
        self.assertTrue(create[0]["success"])
        self.assertEqual(create[0]["target_id"], str(group["id"]))
        self.assertEqual(create[0]["username"], harness.ADMIN_USERNAME)
        self.assertTrue(self.audit_actions("group.update")[0]["success"])
        members = self.audit_actions("group.containers.set")
        self.assertFalse(members[0]["success"])
        self.assertIn("no-such-container-xyz", members[0]["error_message"])
        self.assertTrue(self.audit_actions("group.delete")[0]["success"])


if __name__ == "__main__":
    harness.main()
