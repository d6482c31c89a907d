/* Tests of the Engine API client and the container mappings.
 *
 * The mapping tests run on replies recorded from dockerd 20.10.24 (API 1.41) in
 * fixtures/engine/. The negotiation tests use a scripted engine on a private unix socket,
 * because they need responses a real engine does not give on demand: an API version newer
 * than InfraMon's, an engine that rejects a version, and an engine that disappears. */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <jansson.h>

#include "core/util.h"
#include "engine/containers.h"
#include "engine/engine.h"

#define FIXTURES "fixtures/engine/"

static json_t *load_fixture(const char *name)
{
    char path[256];
    json_error_t error;

    snprintf(path, sizeof(path), FIXTURES "%s", name);
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &error);
    if (!root) {
        fail_msg("cannot load %s: %s (line %d)", path, error.text, error.line);
    }
    return root;
}

/* Maps every item of the recorded list and returns the one with the given name. */
static json_t *mapped_list_item(const char *name)
{
    json_t *list = load_fixture("containers_list.json");
    json_t *entry = NULL;
    json_t *found = NULL;
    size_t index = 0;

    json_array_foreach(list, index, entry)
    {
        json_t *item = im_container_map_list_item(entry);
        assert_non_null(item);
        const char *item_name = json_string_value(json_object_get(item, "name"));
        if (!found && item_name && strcmp(item_name, name) == 0) {
            found = item;
        } else {
            json_decref(item);
        }
    }
    json_decref(list);
    if (!found) {
        fail_msg("no container named %s in the list fixture", name);
    }
    return found;
}

static json_t *mapped_detail(const char *name, bool mask_secrets)
{
    char file[128];

    snprintf(file, sizeof(file), "inspect_%s.json", name);
    json_t *inspect = load_fixture(file);
    json_t *detail = im_container_map_detail(inspect, mask_secrets);
    json_decref(inspect);
    assert_non_null(detail);
    return detail;
}

static const char *str(json_t *object, const char *key)
{
    return json_string_value(json_object_get(object, key));
}

static json_int_t num(json_t *object, const char *key)
{
    json_t *value = json_object_get(object, key);
    assert_true(json_is_integer(value));
    return json_integer_value(value);
}

static void assert_null_field(json_t *object, const char *key)
{
    json_t *value = json_object_get(object, key);
    if (!json_is_null(value)) {
        fail_msg("expected %s to be null", key);
    }
}

/* Returns the port entry with the given private port and protocol. */
static json_t *find_port(json_t *ports, json_int_t private_port, const char *type)
{
    json_t *port = NULL;
    size_t index = 0;

    json_array_foreach(ports, index, port)
    {
        json_t *number = json_object_get(port, "private_port");
        if (json_integer_value(number) == private_port && strcmp(str(port, "type"), type) == 0) {
            return port;
        }
    }
    fail_msg("no port %lld/%s", (long long)private_port, type);
    return NULL;
}

static const char *env_value(json_t *environment, const char *name)
{
    json_t *variable = NULL;
    size_t index = 0;

    json_array_foreach(environment, index, variable)
    {
        if (strcmp(str(variable, "name"), name) == 0) {
            return str(variable, "value");
        }
    }
    fail_msg("no environment variable %s", name);
    return NULL;
}

/* ---- list items ------------------------------------------------------------------------- */

static void test_list_item_running_compose(void **state)
{
    json_t *item = mapped_list_item("shop_web_1");

    assert_string_equal(str(item, "container_id"),
                        "0d89eb7ed0c01c9ef8a2fa43304d585aee6de9c67c732de1b884d1c020e88585");
    assert_string_equal(str(item, "short_id"), "0d89eb7ed0c0");
    assert_string_equal(str(item, "image"), "inframon-test/busybox:latest");
    assert_string_equal(str(item, "image_id"),
                        "sha256:89aef779189cb5aae524548978494ca955f3a715b19b6db9bedf69cf98e88d18");
    assert_string_equal(str(item, "status"), "running");
    assert_string_equal(str(item, "state_text"), "Up 15 seconds (healthy)");
    assert_string_equal(str(item, "health"), "healthy");
    assert_string_equal(str(item, "created"), "2026-12-04T15:53:58Z");
    assert_string_equal(str(item, "compose_project"), "shop");
    assert_string_equal(str(item, "compose_service"), "web");
    assert_string_equal(str(item, "compose_file"), "/srv/shop/docker-compose.yml");
    assert_string_equal(str(json_object_get(item, "labels"), "tier"), "frontend");
    assert_int_equal(json_array_size(json_object_get(item, "group_ids")), 0);
    assert_null_field(item, "cpu_usage");
    assert_null_field(item, "memory_usage");
    assert_null_field(item, "memory_limit");
    json_decref(item);
}

static void test_list_item_ports(void **state)
{
    json_t *item = mapped_list_item("shop_web_1");
    json_t *ports = json_object_get(item, "ports");

    assert_int_equal(json_array_size(ports), 4);
    json_t *http = find_port(ports, 80, "tcp");
    assert_string_equal(str(http, "ip"), "127.0.0.1");
    assert_int_equal(num(http, "public_port"), 18080);
    json_t *dns = find_port(ports, 53, "udp");
    assert_int_equal(num(dns, "public_port"), 15353);
    json_t *exposed = find_port(ports, 8080, "tcp");
    assert_null_field(exposed, "ip");
    assert_null_field(exposed, "public_port");
    json_decref(item);
}

static void test_list_item_compose_absolute_files(void **state)
{
    json_t *item = mapped_list_item("shop_db_1");

    // Two -f files were given; the first is reported.
    assert_string_equal(str(item, "compose_file"), "/srv/shop/docker-compose.yml");
    assert_string_equal(str(item, "compose_service"), "db");
    json_decref(item);
}

static void test_list_item_exited(void **state)
{
    json_t *item = mapped_list_item("exited-job");

    assert_string_equal(str(item, "status"), "exited");
    assert_string_equal(str(item, "state_text"), "Exited (3) 27 seconds ago");
    assert_null_field(item, "health");
    assert_null_field(item, "compose_project");
    assert_null_field(item, "compose_file");
    assert_int_equal(json_array_size(json_object_get(item, "ports")), 0);
    assert_int_equal(json_object_size(json_object_get(item, "labels")), 0);
    json_decref(item);
}

static void test_list_item_paused_and_health(void **state)
{
    json_t *paused = mapped_list_item("paused-one");
    json_t *sick = mapped_list_item("sick");
    json_t *warming = mapped_list_item("warming");
    json_t *created = mapped_list_item("fresh");

    assert_string_equal(str(paused, "status"), "paused");
    assert_null_field(paused, "health");
    assert_string_equal(str(sick, "health"), "unhealthy");
    assert_string_equal(str(warming, "health"), "starting");
    assert_string_equal(str(created, "status"), "created");
    assert_string_equal(str(created, "state_text"), "Created");
    json_decref(paused);
    json_decref(sick);
    json_decref(warming);
    json_decref(created);
}

static void test_list_item_without_id(void **state)
{
    json_t *item = json_pack("{s:[s]}", "Names", "/x");

    assert_null(im_container_map_list_item(item));
    json_decref(item);
}

static void test_list_item_skips_link_names(void **state)
{
    json_t *item =
        json_pack("{s:s, s:[s, s]}", "Id", "abcdef0123456789", "Names", "/web/db", "/db");
    json_t *mapped = im_container_map_list_item(item);

    assert_string_equal(str(mapped, "name"), "db");
    assert_string_equal(str(mapped, "short_id"), "abcdef012345");
    assert_null_field(mapped, "created");
    json_decref(mapped);
    json_decref(item);
}

/* Podman 4.3 reports fully qualified image names; the API shows them as Docker does. */
static void test_list_item_podman_image_names(void **state)
{
    static const char *const cases[][2] = {
        {"docker.io/library/busybox:latest", "busybox:latest"},
        {"docker.io/inframon-test/busybox:latest", "inframon-test/busybox:latest"},
        {"quay.io/podman/hello:latest", "quay.io/podman/hello:latest"},
        {"busybox", "busybox"},
    };
    for (size_t i = 0; i < IM_ARRAY_LEN(cases); i++) {
        json_t *item = json_pack("{s:s, s:[s], s:s}", "Id", "abcdef0123456789", "Names", "/x",
                                 "Image", cases[i][0]);
        json_t *mapped = im_container_map_list_item(item);
        assert_string_equal(str(mapped, "image"), cases[i][1]);
        json_decref(mapped);
        json_decref(item);
    }
}

static void test_health_from_status(void **state)
{
    assert_string_equal(im_container_health_from_status("Up 2 hours (healthy)"), "healthy");
    assert_string_equal(im_container_health_from_status("Up 1 second (unhealthy)"), "unhealthy");
    assert_string_equal(im_container_health_from_status("Up 3 seconds (health: starting)"),
                        "starting");
    assert_null(im_container_health_from_status("Up 27 seconds (Paused)"));
    assert_null(im_container_health_from_status("Exited (0) 2 minutes ago"));
    assert_null(im_container_health_from_status(NULL));
}

/* ---- compose file ----------------------------------------------------------------------- */

static char *compose_file_of(const char *files, const char *working_dir)
{
    json_t *labels = json_object();

    if (files) {
        json_object_set_new(labels, "com.docker.compose.project.config_files", json_string(files));
    }
    if (working_dir) {
        json_object_set_new(labels, "com.docker.compose.project.working_dir",
                            json_string(working_dir));
    }
    char *path = im_container_compose_file(labels);
    json_decref(labels);
    return path;
}

static void test_compose_file_resolution(void **state)
{
    struct {
        const char *files;
        const char *working_dir;
        const char *expected;
    } cases[] = {
        {"docker-compose.yml", "/srv/app", "/srv/app/docker-compose.yml"},
        {"./compose.yaml", "/srv/app/", "/srv/app/compose.yaml"},
        {"sub/a.yml,b.yml", "/srv/app", "/srv/app/sub/a.yml"},
        {"/etc/app/compose.yml", "/srv/app", "/etc/app/compose.yml"},
        {"compose.yml", NULL, "compose.yml"},
        {NULL, "/srv/app", NULL},
        {"", "/srv/app", NULL},
    };

    for (size_t i = 0; i < IM_ARRAY_LEN(cases); i++) {
        char *path = compose_file_of(cases[i].files, cases[i].working_dir);
        if (!cases[i].expected) {
            assert_null(path);
        } else {
            assert_non_null(path);
            assert_string_equal(path, cases[i].expected);
        }
        free(path);
    }
}

/* ---- detail ------------------------------------------------------------------------------ */

static void test_detail_running_compose(void **state)
{
    json_t *detail = mapped_detail("shop_web_1", false);

    assert_string_equal(str(detail, "name"), "shop_web_1");
    assert_string_equal(str(detail, "image"), "inframon-test/busybox:latest");
    assert_string_equal(str(detail, "status"), "running");
    assert_string_equal(str(detail, "health"), "healthy");
    assert_string_equal(str(detail, "created"), "2026-12-04T15:53:58Z");
    assert_string_equal(str(detail, "started_at"), "2026-12-04T15:53:59Z");
    assert_null_field(detail, "finished_at");
    assert_int_equal(num(detail, "exit_code"), 0);
    assert_int_equal(num(detail, "restart_count"), 0);
    assert_false(json_is_true(json_object_get(detail, "oom_killed")));
    assert_string_equal(str(detail, "working_dir"), "/data");
    assert_string_equal(str(detail, "hostname"), "shopweb");
    assert_null_field(detail, "user");
    assert_null_field(detail, "entrypoint");
    assert_string_equal(json_string_value(json_array_get(json_object_get(detail, "command"), 0)),
                        "sh");
    assert_false(json_is_true(json_object_get(detail, "tty")));
    assert_false(json_is_true(json_object_get(detail, "open_stdin")));
    assert_string_equal(str(json_object_get(detail, "restart_policy"), "name"), "unless-stopped");
    assert_int_equal(num(detail, "memory_limit"), 67108864);
    assert_int_equal(num(detail, "memory_swap"), 134217728);
    assert_int_equal(num(detail, "cpu_shares"), 512);
    assert_int_equal(num(detail, "cpu_period"), 100000);
    assert_int_equal(num(detail, "cpu_quota"), 50000);
    assert_string_equal(str(detail, "compose_project"), "shop");
    assert_string_equal(str(detail, "compose_file"), "/srv/shop/docker-compose.yml");
    assert_int_equal(json_array_size(json_object_get(detail, "group_ids")), 0);
    json_decref(detail);
}

static void test_detail_ports_mounts_networks(void **state)
{
    json_t *detail = mapped_detail("shop_web_1", false);
    json_t *ports = json_object_get(detail, "ports");
    json_t *mounts = json_object_get(detail, "mounts");
    json_t *network = json_array_get(json_object_get(detail, "networks"), 0);

    assert_int_equal(json_array_size(ports), 4);
    assert_int_equal(num(find_port(ports, 443, "tcp"), "public_port"), 18443);
    assert_null_field(find_port(ports, 8080, "tcp"), "public_port");

    assert_int_equal(json_array_size(mounts), 2);
    json_t *volume = json_array_get(mounts, 0);
    assert_string_equal(str(volume, "type"), "volume");
    assert_string_equal(str(volume, "name"), "shopdata");
    assert_string_equal(str(volume, "destination"), "/data");
    assert_true(json_is_true(json_object_get(volume, "rw")));
    json_t *bind = json_array_get(mounts, 1);
    assert_string_equal(str(bind, "type"), "bind");
    assert_string_equal(str(bind, "mode"), "ro");
    assert_true(json_is_false(json_object_get(bind, "rw")));

    assert_string_equal(str(network, "name"), "imtest");
    assert_string_equal(str(network, "ip_address"), "172.17.0.2");
    assert_string_equal(str(network, "gateway"), "172.17.0.1");
    assert_string_equal(str(network, "mac_address"), "02:42:ac:11:00:02");
    json_decref(detail);
}

static void test_detail_environment_unmasked(void **state)
{
    json_t *detail = mapped_detail("shop_web_1", false);
    json_t *environment = json_object_get(detail, "environment");

    assert_int_equal(json_array_size(environment), 6);
    assert_string_equal(env_value(environment, "DB_PASSWORD"), "hunter2");
    assert_string_equal(env_value(environment, "EMPTY"), "");
    json_decref(detail);
}

static void test_detail_environment_masked(void **state)
{
    json_t *detail = mapped_detail("shop_web_1", true);
    json_t *environment = json_object_get(detail, "environment");

    assert_string_equal(env_value(environment, "DB_PASSWORD"), IM_CONTAINER_MASK);
    assert_string_equal(env_value(environment, "API_TOKEN"), IM_CONTAINER_MASK);
    assert_string_equal(env_value(environment, "aws_secret_access_key"), IM_CONTAINER_MASK);
    assert_string_equal(env_value(environment, "SSH_KEYFILE"), IM_CONTAINER_MASK);
    assert_string_equal(env_value(environment, "PLAIN"), "value");
    json_decref(detail);
}

static void test_detail_healthcheck(void **state)
{
    json_t *sick = mapped_detail("sick", false);
    json_t *check = json_object_get(sick, "healthcheck");

    assert_string_equal(str(sick, "health"), "unhealthy");
    assert_string_equal(str(check, "status"), "unhealthy");
    assert_string_equal(json_string_value(json_array_get(json_object_get(check, "test"), 1)),
                        "false");
    assert_true(json_real_value(json_object_get(check, "interval_seconds")) == 1.0);
    assert_int_equal(num(check, "retries"), 1);
    assert_int_equal(num(check, "failing_streak"), 26);
    json_t *probe = json_array_get(json_object_get(check, "log"), 0);
    assert_int_equal(num(probe, "exit_code"), 1);
    assert_string_equal(str(probe, "start"), "2026-12-04T15:54:10Z");
    json_decref(sick);

    json_t *plain = mapped_detail("tty-one", false);
    assert_null_field(plain, "healthcheck");
    assert_null_field(plain, "health");
    json_decref(plain);
}

static void test_detail_exited_and_created(void **state)
{
    json_t *exited = mapped_detail("exited-job", false);
    json_t *created = mapped_detail("fresh", false);

    assert_string_equal(str(exited, "status"), "exited");
    assert_int_equal(num(exited, "exit_code"), 3);
    assert_string_equal(str(exited, "finished_at"), "2026-12-04T15:53:46Z");
    assert_int_equal(json_array_size(json_object_get(exited, "ports")), 0);

    assert_string_equal(str(created, "status"), "created");
    assert_null_field(created, "started_at");
    assert_null_field(created, "finished_at");
    assert_string_equal(
        json_string_value(json_array_get(json_object_get(created, "entrypoint"), 0)), "/bin/sh");
    json_decref(exited);
    json_decref(created);
}

static void test_detail_tty_and_paused(void **state)
{
    json_t *tty = mapped_detail("tty-one", false);
    json_t *paused = mapped_detail("paused-one", false);

    assert_true(json_is_true(json_object_get(tty, "tty")));
    assert_string_equal(str(tty, "status"), "running");
    assert_string_equal(str(paused, "status"), "paused");
    json_decref(tty);
    json_decref(paused);
}

static void test_detail_without_id(void **state)
{
    json_t *inspect = json_object();

    assert_null(im_container_map_detail(inspect, true));
    json_decref(inspect);
}

/* ---- masking ---------------------------------------------------------------------------- */

static void test_env_name_is_secret(void **state)
{
    const char *secret[] = {"DB_PASSWORD", "password",          "MY_SECRET_X", "Api_Token",
                            "KEY",         "aws_access_key_id", "MONKEY"};
    const char *plain[] = {"PATH", "HOME", "PASSWD", "TOKE", "K_E_Y", ""};

    for (size_t i = 0; i < IM_ARRAY_LEN(secret); i++) {
        if (!im_container_env_name_is_secret(secret[i])) {
            fail_msg("%s should be treated as secret", secret[i]);
        }
    }
    for (size_t i = 0; i < IM_ARRAY_LEN(plain); i++) {
        if (im_container_env_name_is_secret(plain[i])) {
            fail_msg("%s should not be treated as secret", plain[i]);
        }
    }
}

static void test_mask_inspect(void **state)
{
    json_t *inspect = load_fixture("inspect_shop_web_1.json");
    json_t *masked = im_container_mask_inspect(inspect);
    json_t *env = json_object_get(json_object_get(masked, "Config"), "Env");
    json_t *original = json_object_get(json_object_get(inspect, "Config"), "Env");
    json_t *entry = NULL;
    size_t index = 0;
    int masked_count = 0;

    json_array_foreach(env, index, entry)
    {
        const char *text = json_string_value(entry);
        assert_null(strstr(text, "hunter2"));
        assert_null(strstr(text, "abc123"));
        if (strstr(text, "=" IM_CONTAINER_MASK)) {
            masked_count++;
        }
    }
    assert_int_equal(masked_count, 4);
    assert_int_equal(json_array_size(env), 6);
    assert_string_equal(json_string_value(json_array_get(env, 2)), "PLAIN=value");
    // The original document is untouched.
    assert_string_equal(json_string_value(json_array_get(original, 4)), "DB_PASSWORD=hunter2");
    json_decref(masked);
    json_decref(inspect);
}

/* ---- diff -------------------------------------------------------------------------------- */

static void test_diff_mapping(void **state)
{
    json_t *changes = load_fixture("diff_changer.json");
    json_t *diff = im_container_map_diff("4f2653b2d5eb", changes);
    json_t *list = json_object_get(diff, "changes");

    assert_string_equal(str(diff, "container_id"), "4f2653b2d5eb");
    assert_int_equal(json_array_size(list), 7);
    assert_string_equal(str(json_array_get(list, 0), "path"), "/tmp");
    assert_string_equal(str(json_array_get(list, 0), "change"), "modified");
    assert_int_equal(num(json_array_get(list, 0), "kind"), 0);
    assert_string_equal(str(json_array_get(list, 2), "path"), "/tmp/new/file");
    assert_string_equal(str(json_array_get(list, 2), "change"), "added");
    assert_string_equal(str(json_array_get(list, 4), "path"), "/bin/vi");
    assert_string_equal(str(json_array_get(list, 4), "change"), "deleted");
    json_decref(diff);
    json_decref(changes);
}

static void test_diff_empty_and_unknown_kind(void **state)
{
    json_t *none = im_container_map_diff("abc", json_null());
    json_t *odd_changes = json_pack("[{s:s, s:i}]", "Path", "/x", "Kind", 7);
    json_t *odd = im_container_map_diff("abc", odd_changes);

    assert_int_equal(json_array_size(json_object_get(none, "changes")), 0);
    assert_string_equal(str(json_array_get(json_object_get(odd, "changes"), 0), "change"),
                        "unknown");
    json_decref(none);
    json_decref(odd);
    json_decref(odd_changes);
}

/* ---- DOCKER_HOST ------------------------------------------------------------------------- */

static void test_parse_host_valid(void **state)
{
    im_engine_address_t address;
    char err[512] = "";

    assert_int_equal(im_engine_parse_host(NULL, false, &address, err, sizeof(err)), IM_OK);
    assert_true(address.is_unix);
    assert_string_equal(address.socket_path, "/var/run/docker.sock");

    assert_int_equal(
        im_engine_parse_host("unix:///tmp/x/docker.sock", false, &address, err, sizeof(err)),
        IM_OK);
    assert_string_equal(address.socket_path, "/tmp/x/docker.sock");

    assert_int_equal(im_engine_parse_host("tcp://10.0.0.5:2376", true, &address, err, sizeof(err)),
                     IM_OK);
    assert_false(address.is_unix);
    assert_string_equal(address.host, "10.0.0.5");
    assert_int_equal(address.port, 2376);

    assert_int_equal(
        im_engine_parse_host("tcp://docker.example.com", false, &address, err, sizeof(err)), IM_OK);
    assert_string_equal(address.host, "docker.example.com");
    assert_int_equal(address.port, 2375);

    assert_int_equal(im_engine_parse_host("tcp://engine", true, &address, err, sizeof(err)), IM_OK);
    assert_int_equal(address.port, 2376);

    assert_int_equal(im_engine_parse_host("tcp://[::1]:2375/", false, &address, err, sizeof(err)),
                     IM_OK);
    assert_string_equal(address.host, "::1");
    assert_int_equal(address.port, 2375);
}

static void test_parse_host_invalid(void **state)
{
    const char *invalid[] = {
        "/var/run/docker.sock", "unix://relative.sock", "unix://",          "tcp://",
        "tcp://host:0",         "tcp://host:65536",     "tcp://host:abc",   "tcp://host/path",
        "tcp://[::1",           "tcp://[zz]:1",         "http://host:2375", "ssh://user@host",
        "npipe:////./pipe/x",   "tcp://ho st:1",
    };

    for (size_t i = 0; i < IM_ARRAY_LEN(invalid); i++) {
        im_engine_address_t address;
        char err[512] = "";
        int rc = im_engine_parse_host(invalid[i], false, &address, err, sizeof(err));
        if (rc != IM_EINVAL) {
            fail_msg("DOCKER_HOST \"%s\" was accepted", invalid[i]);
        }
        assert_non_null(strstr(err, invalid[i]));
        assert_non_null(strstr(err, "unix:///"));
        assert_non_null(strstr(err, "tcp://host:port"));
    }
}

static void test_parse_host_long_socket_path(void **state)
{
    char value[200];
    im_engine_address_t address;
    char err[512] = "";

    snprintf(value, sizeof(value), "unix:///%0120d.sock", 0);
    assert_int_equal(im_engine_parse_host(value, false, &address, err, sizeof(err)), IM_EINVAL);
}

static void test_open_rejects_bad_options(void **state)
{
    struct im_engine *e = NULL;
    char err[512] = "";
    im_engine_options_t bad_pin = {.docker_host = "unix:///tmp/x.sock", .api_version = "1.x"};
    im_engine_options_t old_pin = {.docker_host = "unix:///tmp/x.sock", .api_version = "1.12"};
    im_engine_options_t bad_host = {.docker_host = "tcp://"};
    im_engine_options_t no_certs = {.docker_host = "tcp://127.0.0.1:2376",
                                    .tls_verify = true,
                                    .cert_path = "/nonexistent-inframon-certs"};

    assert_int_equal(im_engine_open(&bad_pin, &e, err, sizeof(err)), IM_EINVAL);
    assert_non_null(strstr(err, "DOCKER_API_VERSION"));
    assert_int_equal(im_engine_open(&old_pin, &e, err, sizeof(err)), IM_EINVAL);
    assert_non_null(strstr(err, IM_ENGINE_API_MIN));
    assert_int_equal(im_engine_open(&bad_host, &e, err, sizeof(err)), IM_EINVAL);
    assert_non_null(strstr(err, "DOCKER_HOST"));
    assert_int_equal(im_engine_open(&no_certs, &e, err, sizeof(err)), IM_EINVAL);
    assert_non_null(strstr(err, "/nonexistent-inframon-certs/ca.pem"));
    assert_null(e);
}

static void test_version_compare(void **state)
{
    assert_int_equal(im_engine_version_compare("1.41", "1.45"), -1);
    assert_int_equal(im_engine_version_compare("1.45", "1.41"), 1);
    assert_int_equal(im_engine_version_compare("1.9", "1.10"), -1);
    assert_int_equal(im_engine_version_compare("1.41", "1.41"), 0);
    assert_int_equal(im_engine_version_compare("2.0", "1.99"), 1);
    assert_int_equal(im_engine_version_compare("junk", "1.0"), -1);
}

static void test_url_escape(void **state)
{
    im_buf_t buf;

    im_buf_init(&buf);
    im_engine_url_escape(&buf, "{\"label\":[\"a=b c\"]}~-_.");
    assert_string_equal(buf.data, "%7B%22label%22%3A%5B%22a%3Db%20c%22%5D%7D~-_.");
    im_buf_release(&buf);
}

static void test_reply_rc_mapping(void **state)
{
    struct {
        long status;
        const char *body;
        int rc;
        const char *message;
    } cases[] = {
        {200, "{}", IM_OK, ""},
        {204, "", IM_OK, ""},
        {304, "", IM_ECONFLICT, "the engine returned HTTP 304"},
        {404, "{\"message\":\"No such container: x\"}", IM_ENOTFOUND, "No such container: x"},
        {409, "{\"message\":\"is already paused\"}", IM_ECONFLICT, "is already paused"},
        {400, "client version 1.99 is too new\n", IM_EINVAL, "client version 1.99 is too new"},
        {500, "{\"message\":\"boom\"}", IM_EUPSTREAM, "boom"},
    };

    for (size_t i = 0; i < IM_ARRAY_LEN(cases); i++) {
        im_engine_reply_t reply;
        char err[256] = "";
        im_engine_reply_init(&reply);
        reply.status = cases[i].status;
        im_buf_append(&reply.body, cases[i].body, strlen(cases[i].body));
        assert_int_equal(im_engine_reply_rc(&reply, err, sizeof(err)), cases[i].rc);
        assert_string_equal(err, cases[i].message);
        im_engine_reply_release(&reply);
    }
}

/* ---- input checks ------------------------------------------------------------------------ */

static void test_ref_validation(void **state)
{
    char long_ref[IM_CONTAINER_REF_MAX + 2];
    const char *valid[] = {"web", "shop_web_1", "0d89", "a.b-c_d", "_under", "A"};
    const char *invalid[] = {"",    ".hidden", "-dash", "a/b",   "a b",
                             "a;b", "a%2e",    "../x",  "web\n", "na\xc3\xafve"};

    for (size_t i = 0; i < IM_ARRAY_LEN(valid); i++) {
        if (!im_container_ref_is_valid(valid[i])) {
            fail_msg("\"%s\" was rejected", valid[i]);
        }
    }
    for (size_t i = 0; i < IM_ARRAY_LEN(invalid); i++) {
        if (im_container_ref_is_valid(invalid[i])) {
            fail_msg("\"%s\" was accepted", invalid[i]);
        }
    }
    assert_false(im_container_ref_is_valid(NULL));
    memset(long_ref, 'a', sizeof(long_ref) - 1);
    long_ref[sizeof(long_ref) - 1] = '\0';
    assert_false(im_container_ref_is_valid(long_ref));
    long_ref[IM_CONTAINER_REF_MAX] = '\0';
    assert_true(im_container_ref_is_valid(long_ref));
}

static void test_name_validation(void **state)
{
    assert_true(im_container_name_is_valid("web-2"));
    assert_true(im_container_name_is_valid("9lives.db_x"));
    assert_false(im_container_name_is_valid("_web"));
    assert_false(im_container_name_is_valid(".web"));
    assert_false(im_container_name_is_valid("web 2"));
    assert_false(im_container_name_is_valid("web/2"));
    assert_false(im_container_name_is_valid(""));
    assert_false(im_container_name_is_valid(NULL));
}

static void test_signal_normalize(void **state)
{
    struct {
        const char *input;
        const char *expected; /* NULL: rejected */
    } cases[] = {
        {"SIGTERM", "SIGTERM"},
        {"term", "SIGTERM"},
        {"Sigkill", "SIGKILL"},
        {"9", "9"},
        {"64", "64"},
        {"HUP", "SIGHUP"},
        {"RTMIN+3", "SIGRTMIN+3"},
        {"sigrtmax-14", "SIGRTMAX-14"},
        {"0", NULL},
        {"65", NULL},
        {"-9", NULL},
        {"FOO", NULL},
        {"SIG", NULL},
        {"RTMIN+16", NULL},
        {"KILL;rm", NULL},
        {"", NULL},
        {"SIGVERYVERYLONGNAME", NULL},
    };

    for (size_t i = 0; i < IM_ARRAY_LEN(cases); i++) {
        char out[16] = "";
        bool ok = im_container_signal_normalize(cases[i].input, out);
        if (!cases[i].expected) {
            if (ok) {
                fail_msg("signal \"%s\" was accepted as %s", cases[i].input, out);
            }
            continue;
        }
        if (!ok) {
            fail_msg("signal \"%s\" was rejected", cases[i].input);
        }
        assert_string_equal(out, cases[i].expected);
    }
}

static void test_action_names(void **state)
{
    im_container_action_t action = IM_CONTAINER_START;

    assert_true(im_container_action_parse("unpause", &action));
    assert_int_equal(action, IM_CONTAINER_UNPAUSE);
    assert_string_equal(im_container_action_name(IM_CONTAINER_REMOVE), "remove");
    assert_string_equal(im_container_action_past(IM_CONTAINER_KILL), "killed");
    assert_false(im_container_action_parse("destroy", &action));
}

/* ---- update bodies ----------------------------------------------------------------------- */

static int parse_update(const char *text, im_container_update_t *update, char field[32])
{
    char err[256] = "";
    json_t *body = json_loads(text, 0, NULL);
    assert_non_null(body);
    int rc = im_container_update_parse(body, update, field, err, sizeof(err));
    json_decref(body);
    return rc;
}

static void test_update_parse_valid(void **state)
{
    im_container_update_t update;
    char field[32];

    assert_int_equal(parse_update("{\"memory_limit\": 6291456, \"cpu_shares\": 512, "
                                  "\"cpu_quota\": 50000, \"restart_policy\": \"on-failure:3\"}",
                                  &update, field),
                     IM_OK);
    assert_true(update.has_memory_limit);
    assert_int_equal(update.memory_limit, 6291456);
    assert_int_equal(update.cpu_shares, 512);
    assert_int_equal(update.cpu_quota, 50000);
    assert_string_equal(update.restart_policy, "on-failure");
    assert_int_equal(update.restart_max_retries, 3);

    assert_int_equal(parse_update("{\"memory_limit\": 0, \"cpu_quota\": -1}", &update, field),
                     IM_OK);
    assert_int_equal(update.memory_limit, 0);
    assert_false(update.has_restart_policy);

    assert_int_equal(parse_update("{\"restart_policy\": {\"name\": \"always\"}, \"cpu_shares\": "
                                  "null}",
                                  &update, field),
                     IM_OK);
    assert_string_equal(update.restart_policy, "always");
    assert_false(update.has_cpu_shares);
}

static void test_update_parse_invalid(void **state)
{
    struct {
        const char *body;
        const char *field;
    } cases[] = {
        {"{\"memory_limit\": 1000}", "memory_limit"},
        {"{\"memory_limit\": -5}", "memory_limit"},
        {"{\"memory_limit\": \"1g\"}", "memory_limit"},
        {"{\"cpu_shares\": 1}", "cpu_shares"},
        {"{\"cpu_shares\": 1025}", "cpu_shares"},
        {"{\"cpu_quota\": 500}", "cpu_quota"},
        {"{\"cpu_quota\": -2}", "cpu_quota"},
        {"{\"restart_policy\": \"sometimes\"}", "restart_policy"},
        {"{\"restart_policy\": \"always:3\"}", "restart_policy"},
        {"{\"restart_policy\": \"on-failure:x\"}", "restart_policy"},
        {"{\"restart_policy\": 5}", "restart_policy"},
        {"{\"privileged\": true}", "privileged"},
        {"{}", "body"},
        {"{\"cpu_shares\": null}", "body"},
        {"[]", "body"},
    };

    for (size_t i = 0; i < IM_ARRAY_LEN(cases); i++) {
        im_container_update_t update;
        char field[32] = "";
        if (parse_update(cases[i].body, &update, field) != IM_EINVAL) {
            fail_msg("update body %s was accepted", cases[i].body);
        }
        assert_string_equal(field, cases[i].field);
    }
}

/* ---- prune filters and list filters ----------------------------------------------------- */

static void test_prune_filter_validation(void **state)
{
    assert_true(im_prune_label_is_valid("com.example.tier=web"));
    assert_true(im_prune_label_is_valid("temporary"));
    assert_false(im_prune_label_is_valid("=x"));
    assert_false(im_prune_label_is_valid("a\nb"));
    assert_false(im_prune_label_is_valid(""));

    assert_true(im_prune_until_is_valid("1700000000"));
    assert_true(im_prune_until_is_valid("2026-01-02T03:04:05Z"));
    assert_true(im_prune_until_is_valid("24h"));
    assert_true(im_prune_until_is_valid("1h30m"));
    assert_false(im_prune_until_is_valid("yesterday"));
    assert_false(im_prune_until_is_valid("7d"));
    assert_false(im_prune_until_is_valid("h"));
    assert_false(im_prune_until_is_valid("-1h"));
    assert_false(im_prune_until_is_valid(""));
}

static void test_list_filters(void **state)
{
    json_t *web = mapped_list_item("shop_web_1");
    json_t *exited = mapped_list_item("exited-job");
    json_t *created = mapped_list_item("fresh");
    im_container_filter_t none = {0};
    im_container_filter_t running = {.status = "running"};
    im_container_filter_t stopped = {.status = "stopped"};
    im_container_filter_t search = {.search = "SHOP_WEB"};
    im_container_filter_t search_image = {.search = "busybox"};
    im_container_filter_t project = {.compose_project = "shop"};
    im_container_filter_t group = {.has_group_id = true, .group_id = 1};

    assert_true(im_container_matches(web, &none));
    assert_true(im_container_matches(web, &running));
    assert_false(im_container_matches(exited, &running));
    assert_true(im_container_matches(exited, &stopped));
    assert_true(im_container_matches(created, &stopped));
    assert_false(im_container_matches(web, &stopped));
    assert_true(im_container_matches(web, &search));
    assert_false(im_container_matches(exited, &search));
    assert_true(im_container_matches(exited, &search_image));
    assert_true(im_container_matches(web, &project));
    assert_false(im_container_matches(exited, &project));
    assert_false(im_container_matches(web, &group));
    json_array_append_new(json_object_get(web, "group_ids"), json_integer(1));
    assert_true(im_container_matches(web, &group));

    assert_true(im_container_status_filter_is_valid("paused"));
    assert_true(im_container_status_filter_is_valid("stopped"));
    assert_false(im_container_status_filter_is_valid("up"));
    json_decref(web);
    json_decref(exited);
    json_decref(created);
}

/* ---- requests against a missing socket and a scripted engine ----------------------------- */

static void test_request_missing_socket(void **state)
{
    char dir[] = "/tmp/im-engine-test-XXXXXX";
    char host[128];
    char err[512] = "";
    struct im_engine *e = NULL;
    im_engine_reply_t reply;

    assert_non_null(mkdtemp(dir));
    snprintf(host, sizeof(host), "unix://%s/missing.sock", dir);
    im_engine_options_t opts = {.docker_host = host};
    assert_int_equal(im_engine_open(&opts, &e, err, sizeof(err)), IM_OK);
    assert_string_equal(im_engine_address(e), host);

    im_engine_reply_init(&reply);
    int rc = im_engine_request(e, "GET", "/containers/json", NULL, &reply, err, sizeof(err));
    assert_int_equal(rc, IM_EUNAVAILABLE);
    assert_non_null(strstr(err, dir));
    assert_non_null(strstr(err, "missing.sock"));
    assert_non_null(strstr(err, "DOCKER_HOST"));
    assert_null(strstr(err, "port 80"));

    assert_int_equal(im_engine_ping(e, err, sizeof(err)), IM_EUNAVAILABLE);
    assert_non_null(strstr(err, "missing.sock"));

    im_engine_reply_release(&reply);
    im_engine_close(e);
    rmdir(dir);
}

static void test_request_rejects_bad_path(void **state)
{
    char err[512] = "";
    struct im_engine *e = NULL;
    im_engine_reply_t reply;
    im_engine_options_t opts = {.docker_host = "unix:///tmp/im-engine-test-unused.sock"};

    assert_int_equal(im_engine_open(&opts, &e, err, sizeof(err)), IM_OK);
    im_engine_reply_init(&reply);
    assert_int_equal(im_engine_request(e, "GET", "containers/json", NULL, &reply, err, sizeof(err)),
                     IM_EINVAL);
    assert_int_equal(im_engine_request(e, "GET", "/containers/x y", NULL, &reply, err, sizeof(err)),
                     IM_EINVAL);
    assert_int_equal(
        im_engine_request(e, "PATCH", "/containers/json", NULL, &reply, err, sizeof(err)),
        IM_EINVAL);
    im_engine_reply_release(&reply);
    im_engine_close(e);
}

/* A canned response of the scripted engine to one method and unversioned path. */
typedef struct {
    const char *method;
    const char *path;
    int status;
    const char *body;
} canned_t;

/* A scripted engine: one thread serves one request per connection, or every request of a
 * connection when keep_alive is set. GET /version returns the configured versions. A path versioned newer than api_version gets the engine's "too
 * new" 400, and other versioned paths get their canned response or 200 "[]". */
typedef struct {
    char dir[32];
    char path[64];
    int listen_fd;
    pthread_t thread;
    pthread_mutex_t lock;
    char api_version[16];
    char min_version[16];
    char last_path[256];
    int version_requests;
    const canned_t *canned; /* ends with a NULL method; may be NULL */
    bool keep_alive;        /* reply without "Connection: close" and read the next request */
    int drop_requests;      /* read this many next requests and close without a reply */
    int connections;        /* connections accepted */
    int requests;           /* requests read, dropped ones included */
    bool stop;
} fake_engine_t;

static const canned_t *find_canned(const fake_engine_t *fake, const char *method, const char *path)
{
    for (const canned_t *c = fake->canned; c && c->method; c++) {
        if (strcmp(c->method, method) == 0 && strcmp(c->path, path) == 0) {
            return c;
        }
    }
    return NULL;
}

/* Runs on the server thread, where cmocka's assertions must not be used: a short write
 * shows up as a failed request in the test itself. */
static void write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL); // the client may hang up early
        if (n <= 0) {
            return;
        }
        data += n;
        len -= (size_t)n;
    }
}

static void fake_reply(const fake_engine_t *fake, int fd, int status, const char *body)
{
    char head[256];
    int len = snprintf(head, sizeof(head),
                       "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: "
                       "%zu\r\n%s\r\n",
                       status, strlen(body), fake->keep_alive ? "" : "Connection: close\r\n");
    write_all(fd, head, (size_t)len);
    write_all(fd, body, strlen(body));
}

static bool fake_stopping(fake_engine_t *fake)
{
    pthread_mutex_lock(&fake->lock);
    bool stop = fake->stop;
    pthread_mutex_unlock(&fake->lock);
    return stop;
}

/* Serves one request. Returns true when the connection stays open for another. */
static bool fake_serve_one(fake_engine_t *fake, int fd)
{
    char request[4096];
    size_t used = 0;
    char method[16] = "";
    char path[256] = "";
    char body[512];

    while (used < sizeof(request) - 1) {
        // A kept-alive connection can stay idle, so the wait checks for a stop in between.
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, 50) == 0) {
            if (fake_stopping(fake)) {
                return false;
            }
            continue;
        }
        ssize_t n = read(fd, request + used, sizeof(request) - 1 - used);
        if (n <= 0) {
            return false;
        }
        used += (size_t)n;
        request[used] = '\0';
        if (strstr(request, "\r\n\r\n")) {
            break;
        }
    }
    if (sscanf(request, "%15s %255s", method, path) != 2) {
        return false;
    }

    pthread_mutex_lock(&fake->lock);
    fake->requests++;
    if (fake->drop_requests > 0) {
        fake->drop_requests--;
        pthread_mutex_unlock(&fake->lock);
        return false;
    }
    if (strcmp(path, "/version") == 0) {
        fake->version_requests++;
        snprintf(body, sizeof(body),
                 "{\"Version\":\"99.0.0-fake\",\"ApiVersion\":\"%s\",\"MinAPIVersion\":\"%s\","
                 "\"Os\":\"linux\",\"Arch\":\"amd64\",\"KernelVersion\":\"6.1\","
                 "\"Platform\":{\"Name\":\"\"}}",
                 fake->api_version, fake->min_version);
        fake_reply(fake, fd, 200, body);
    } else if (strncmp(path, "/v", 2) == 0) {
        char version[16] = "";
        snprintf(fake->last_path, sizeof(fake->last_path), "%s", path);
        sscanf(path, "/v%15[0-9.]", version);
        if (im_engine_version_compare(version, fake->api_version) > 0) {
            snprintf(body, sizeof(body),
                     "{\"message\":\"client version %s is too new. Maximum supported API "
                     "version is %s\"}",
                     version, fake->api_version);
            fake_reply(fake, fd, 400, body);
        } else {
            const char *rest = strchr(path + 1, '/');
            const canned_t *canned = find_canned(fake, method, rest ? rest : "");
            if (canned) {
                fake_reply(fake, fd, canned->status, canned->body);
            } else {
                fake_reply(fake, fd, 200, "[]");
            }
        }
    } else {
        fake_reply(fake, fd, 404, "{\"message\":\"page not found\"}");
    }
    bool keep_alive = fake->keep_alive;
    pthread_mutex_unlock(&fake->lock);
    return keep_alive;
}

static void *fake_run(void *arg)
{
    fake_engine_t *fake = arg;

    for (;;) {
        pthread_mutex_lock(&fake->lock);
        bool stop = fake->stop;
        pthread_mutex_unlock(&fake->lock);
        if (stop) {
            break;
        }
        struct pollfd pfd = {.fd = fake->listen_fd, .events = POLLIN};
        if (poll(&pfd, 1, 50) <= 0) {
            continue;
        }
        int fd = accept(fake->listen_fd, NULL, NULL);
        if (fd >= 0) {
            pthread_mutex_lock(&fake->lock);
            fake->connections++;
            pthread_mutex_unlock(&fake->lock);
            while (fake_serve_one(fake, fd)) {
            }
            close(fd);
        }
    }
    return NULL;
}

static void fake_start(fake_engine_t *fake)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};

    fake->stop = false;
    fake->listen_fd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_true(fake->listen_fd >= 0);
    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", fake->path);
    assert_int_equal(bind(fake->listen_fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    assert_int_equal(listen(fake->listen_fd, 16), 0);
    assert_int_equal(pthread_create(&fake->thread, NULL, fake_run, fake), 0);
}

static void fake_stop(fake_engine_t *fake)
{
    pthread_mutex_lock(&fake->lock);
    fake->stop = true;
    pthread_mutex_unlock(&fake->lock);
    pthread_join(fake->thread, NULL);
    close(fake->listen_fd);
    unlink(fake->path);
}

static void fake_set_versions(fake_engine_t *fake, const char *api, const char *min)
{
    pthread_mutex_lock(&fake->lock);
    snprintf(fake->api_version, sizeof(fake->api_version), "%s", api);
    snprintf(fake->min_version, sizeof(fake->min_version), "%s", min);
    pthread_mutex_unlock(&fake->lock);
}

static void fake_set_canned(fake_engine_t *fake, const canned_t *canned)
{
    pthread_mutex_lock(&fake->lock);
    fake->canned = canned;
    pthread_mutex_unlock(&fake->lock);
}

static int fake_version_requests(fake_engine_t *fake)
{
    pthread_mutex_lock(&fake->lock);
    int count = fake->version_requests;
    pthread_mutex_unlock(&fake->lock);
    return count;
}

/* Sets keep-alive and the number of requests to drop, and resets the counters. */
static void fake_set_connection_mode(fake_engine_t *fake, bool keep_alive, int drop_requests)
{
    pthread_mutex_lock(&fake->lock);
    fake->keep_alive = keep_alive;
    fake->drop_requests = drop_requests;
    fake->connections = 0;
    fake->requests = 0;
    pthread_mutex_unlock(&fake->lock);
}

static void fake_counts(fake_engine_t *fake, int *connections, int *requests)
{
    pthread_mutex_lock(&fake->lock);
    *connections = fake->connections;
    *requests = fake->requests;
    pthread_mutex_unlock(&fake->lock);
}

static void fake_last_path(fake_engine_t *fake, char *out, size_t outlen)
{
    pthread_mutex_lock(&fake->lock);
    snprintf(out, outlen, "%s", fake->last_path);
    pthread_mutex_unlock(&fake->lock);
}

static int fake_setup(void **state)
{
    fake_engine_t *fake = calloc(1, sizeof(*fake));

    snprintf(fake->dir, sizeof(fake->dir), "/tmp/im-engine-test-XXXXXX");
    assert_non_null(mkdtemp(fake->dir));
    snprintf(fake->path, sizeof(fake->path), "%s/engine.sock", fake->dir);
    pthread_mutex_init(&fake->lock, NULL);
    fake_set_versions(fake, "1.47", "1.24");
    fake_start(fake);
    *state = fake;
    return 0;
}

static int fake_teardown(void **state)
{
    fake_engine_t *fake = *state;

    fake_stop(fake);
    rmdir(fake->dir);
    pthread_mutex_destroy(&fake->lock);
    free(fake);
    return 0;
}

static struct im_engine *open_fake(fake_engine_t *fake, const char *pin)
{
    char host[160];
    char err[512] = "";
    struct im_engine *e = NULL;

    snprintf(host, sizeof(host), "unix://%s", fake->path);
    im_engine_options_t opts = {.docker_host = host, .api_version = pin};
    assert_int_equal(im_engine_open(&opts, &e, err, sizeof(err)), IM_OK);
    return e;
}

static void request_ok(struct im_engine *e, const char *path)
{
    char err[512] = "";
    im_engine_reply_t reply;

    im_engine_reply_init(&reply);
    int rc = im_engine_request(e, "GET", path, NULL, &reply, err, sizeof(err));
    if (rc != IM_OK) {
        fail_msg("GET %s failed: %s", path, err);
    }
    assert_int_equal(reply.status, 200);
    im_engine_reply_release(&reply);
}

static void test_negotiation_caps_newer_engine(void **state)
{
    fake_engine_t *fake = *state;
    struct im_engine *e = open_fake(fake, NULL);
    char version[IM_ENGINE_VERSION_SIZE];
    char path[256];
    char err[512] = "";
    json_t *info = NULL;

    request_ok(e, "/containers/json?all=1");
    fake_last_path(fake, path, sizeof(path));
    assert_string_equal(path, "/v" IM_ENGINE_API_MAX "/containers/json?all=1");
    assert_int_equal(im_engine_api_version(e, version, err, sizeof(err)), IM_OK);
    assert_string_equal(version, IM_ENGINE_API_MAX);

    assert_int_equal(im_engine_version_json(e, &info, err, sizeof(err)), IM_OK);
    assert_string_equal(str(info, "name"), "Docker Engine");
    assert_string_equal(str(info, "version"), "99.0.0-fake");
    assert_string_equal(str(info, "api_version"), IM_ENGINE_API_MAX);
    json_decref(info);

    // Later requests reuse the negotiated version without asking again.
    request_ok(e, "/info");
    assert_int_equal(fake_version_requests(fake), 1);
    im_engine_close(e);
}

static void test_negotiation_uses_older_engine(void **state)
{
    fake_engine_t *fake = *state;
    char path[256];

    fake_set_versions(fake, "1.41", "1.12");
    struct im_engine *e = open_fake(fake, NULL);
    request_ok(e, "/containers/json");
    fake_last_path(fake, path, sizeof(path));
    assert_string_equal(path, "/v1.41/containers/json");
    im_engine_close(e);
}

static void test_negotiation_pin_wins(void **state)
{
    fake_engine_t *fake = *state;
    char path[256];
    struct im_engine *e = open_fake(fake, "1.30");

    request_ok(e, "/containers/json");
    fake_last_path(fake, path, sizeof(path));
    assert_string_equal(path, "/v1.30/containers/json");
    im_engine_close(e);
}

static void test_negotiation_rejects_ancient_engine(void **state)
{
    fake_engine_t *fake = *state;
    char err[512] = "";
    im_engine_reply_t reply;

    fake_set_versions(fake, "1.24", "1.12");
    struct im_engine *e = open_fake(fake, NULL);
    im_engine_reply_init(&reply);
    assert_int_equal(im_engine_request(e, "GET", "/info", NULL, &reply, err, sizeof(err)),
                     IM_EUPSTREAM);
    assert_non_null(strstr(err, "1.24"));
    assert_non_null(strstr(err, IM_ENGINE_API_MIN));
    im_engine_reply_release(&reply);
    im_engine_close(e);
}

static void test_negotiation_retries_after_rejection(void **state)
{
    fake_engine_t *fake = *state;
    char path[256];
    struct im_engine *e = open_fake(fake, NULL);

    request_ok(e, "/info");
    // The engine is replaced by an older one without a connection failure in between.
    fake_set_versions(fake, "1.40", "1.12");
    request_ok(e, "/containers/json");
    fake_last_path(fake, path, sizeof(path));
    assert_string_equal(path, "/v1.40/containers/json");
    assert_int_equal(fake_version_requests(fake), 2);
    im_engine_close(e);
}

static void test_engine_comes_back(void **state)
{
    fake_engine_t *fake = *state;
    char err[512] = "";
    char path[256];
    im_engine_reply_t reply;
    struct im_engine *e = open_fake(fake, NULL);

    request_ok(e, "/containers/json");
    assert_int_equal(im_engine_ping(e, err, sizeof(err)), IM_EUPSTREAM); // no /_ping here

    fake_stop(fake);
    im_engine_reply_init(&reply);
    assert_int_equal(
        im_engine_request(e, "GET", "/containers/json", NULL, &reply, err, sizeof(err)),
        IM_EUNAVAILABLE);
    assert_non_null(strstr(err, fake->path));
    im_engine_reply_release(&reply);

    // A different engine version listens on the same socket, so the client negotiates again.
    fake_set_versions(fake, "1.43", "1.12");
    fake_start(fake);
    request_ok(e, "/containers/json");
    fake_last_path(fake, path, sizeof(path));
    assert_string_equal(path, "/v1.43/containers/json");
    im_engine_close(e);
}

/* Several threads share one client: each request must get its own handle and reply. */
typedef struct {
    struct im_engine *engine;
    int failures;
} worker_t;

static void *concurrent_worker(void *arg)
{
    worker_t *worker = arg;

    for (int i = 0; i < 20; i++) {
        char err[512] = "";
        im_engine_reply_t reply;
        im_engine_reply_init(&reply);
        int rc = im_engine_request(worker->engine, "GET", "/containers/json", NULL, &reply, err,
                                   sizeof(err));
        if (rc != IM_OK || reply.status != 200 || strcmp(reply.body.data, "[]") != 0) {
            worker->failures++;
        }
        im_engine_reply_release(&reply);
    }
    return NULL;
}

static void test_concurrent_requests(void **state)
{
    fake_engine_t *fake = *state;
    struct im_engine *e = open_fake(fake, NULL);
    pthread_t threads[4];
    worker_t workers[4];

    for (size_t i = 0; i < IM_ARRAY_LEN(threads); i++) {
        workers[i] = (worker_t){.engine = e, .failures = 0};
        assert_int_equal(pthread_create(&threads[i], NULL, concurrent_worker, &workers[i]), 0);
    }
    for (size_t i = 0; i < IM_ARRAY_LEN(threads); i++) {
        pthread_join(threads[i], NULL);
        assert_int_equal(workers[i].failures, 0);
    }
    assert_int_equal(fake_version_requests(fake), 1);
    im_engine_close(e);
}

static void test_request_rejects_oversized_body(void **state)
{
    fake_engine_t *fake = *state;
    size_t size = IM_ENGINE_MAX_BODY + 1;
    char *huge = malloc(size + 1);
    char err[512] = "";
    im_engine_reply_t reply;

    assert_non_null(huge);
    memset(huge, 'x', size);
    huge[size] = '\0';
    const canned_t canned[] = {
        {"GET", "/huge", 200, huge},
        {"GET", "/small", 200, "{}"},
        {NULL, NULL, 0, NULL},
    };
    fake_set_canned(fake, canned);
    struct im_engine *e = open_fake(fake, NULL);

    im_engine_reply_init(&reply);
    assert_int_equal(im_engine_request(e, "GET", "/huge", NULL, &reply, err, sizeof(err)),
                     IM_EUPSTREAM);
    assert_non_null(strstr(err, "larger than 64 MiB"));
    // The client stays usable.
    assert_int_equal(im_engine_request(e, "GET", "/small", NULL, &reply, err, sizeof(err)), IM_OK);
    assert_string_equal(reply.body.data, "{}");
    im_engine_reply_release(&reply);
    im_engine_close(e);
    fake_set_canned(fake, NULL);
    free(huge);
}

/* Opens a client on the fake in the given connection mode and sends one request, so that
 * the version is negotiated. */
static struct im_engine *open_fake_negotiated(fake_engine_t *fake, bool keep_alive)
{
    fake_set_connection_mode(fake, keep_alive, 0);
    struct im_engine *e = open_fake(fake, NULL);
    request_ok(e, "/containers/json");
    return e;
}

static void test_keep_alive_reuses_connection(void **state)
{
    fake_engine_t *fake = *state;
    int connections = 0;
    int requests = 0;

    struct im_engine *e = open_fake_negotiated(fake, true);
    request_ok(e, "/containers/json");
    request_ok(e, "/images/json");
    im_engine_close(e);

    fake_counts(fake, &connections, &requests);
    assert_int_equal(requests, 4); // GET /version and three requests
    assert_int_equal(connections, 1);
}

static void test_closed_pooled_connection_retried(void **state)
{
    fake_engine_t *fake = *state;
    int connections = 0;
    int requests = 0;

    struct im_engine *e = open_fake_negotiated(fake, true);
    // The engine reads the next request on the pooled connection and closes it without a
    // reply. The client then sends the request once more, on a new connection.
    pthread_mutex_lock(&fake->lock);
    fake->drop_requests = 1;
    pthread_mutex_unlock(&fake->lock);
    request_ok(e, "/containers/json");
    im_engine_close(e);

    fake_counts(fake, &connections, &requests);
    assert_int_equal(requests, 4);
    assert_int_equal(connections, 2);
}

static void test_fresh_connection_not_retried(void **state)
{
    fake_engine_t *fake = *state;
    char err[512] = "";
    int connections = 0;
    int requests = 0;
    im_engine_reply_t reply;

    struct im_engine *e = open_fake_negotiated(fake, false);
    fake_set_connection_mode(fake, false, 1);

    im_engine_reply_init(&reply);
    assert_int_equal(
        im_engine_request(e, "POST", "/containers/x/start", NULL, &reply, err, sizeof(err)),
        IM_EUNAVAILABLE);
    assert_non_null(strstr(err, "closed the connection"));
    assert_non_null(strstr(err, fake->path));
    im_engine_reply_release(&reply);
    im_engine_close(e);

    fake_counts(fake, &connections, &requests);
    assert_int_equal(requests, 1);
    assert_int_equal(connections, 1);
}

#define ID_ONE "abcd111111111111111111111111111111111111111111111111111111111111"
#define ID_TWO "abcd222222222222222222222222222222222222222222222222222222222222"
#define ID_WEB "9f00aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

static const char list_two_abcd[] =
    "[{\"Id\":\"" ID_ONE "\",\"Names\":[\"/one\"]},{\"Id\":\"" ID_TWO
    "\",\"Names\":[\"/two\"]},{\"Id\":\"" ID_WEB "\",\"Names\":[\"/web\"]}]";
static const char list_one_abcd[] =
    "[{\"Id\":\"" ID_ONE "\",\"Names\":[\"/one\"]},{\"Id\":\"" ID_WEB "\",\"Names\":[\"/web\"]}]";
static const char ambiguous_reply[] =
    "{\"message\":\"Multiple IDs found with provided prefix: abcd\"}";

static void test_resolve_ambiguous_prefix(void **state)
{
    fake_engine_t *fake = *state;
    const canned_t canned[] = {
        {"GET", "/containers/abcd/json", 500, ambiguous_reply},
        {"GET", "/containers/json?all=1", 200, list_two_abcd},
        {NULL, NULL, 0, NULL},
    };
    char id[IM_CONTAINER_ID_SIZE] = "";
    char name[IM_CONTAINER_NAME_SIZE] = "";
    char err[512] = "";

    fake_set_canned(fake, canned);
    struct im_engine *e = open_fake(fake, NULL);
    int rc = im_container_resolve(e, "abcd", id, name, err, sizeof(err));
    assert_int_equal(rc, IM_ECONFLICT);
    assert_non_null(strstr(err, "abcd11111111 (one)"));
    assert_non_null(strstr(err, "abcd22222222 (two)"));
    assert_null(strstr(err, "web"));
    im_engine_close(e);
}

static void test_resolve_prefix_from_list(void **state)
{
    fake_engine_t *fake = *state;
    const canned_t canned[] = {
        {"GET", "/containers/abcd/json", 500, ambiguous_reply},
        {"GET", "/containers/json?all=1", 200, list_one_abcd},
        {"GET", "/containers/" ID_ONE "/json", 200, "{\"Id\":\"" ID_ONE "\",\"Name\":\"/one\"}"},
        {NULL, NULL, 0, NULL},
    };
    char id[IM_CONTAINER_ID_SIZE] = "";
    char name[IM_CONTAINER_NAME_SIZE] = "";
    char err[512] = "";

    fake_set_canned(fake, canned);
    struct im_engine *e = open_fake(fake, NULL);
    assert_int_equal(im_container_resolve(e, "abcd", id, name, err, sizeof(err)), IM_OK);
    assert_string_equal(id, ID_ONE);
    assert_string_equal(name, "one");
    im_engine_close(e);
}

static void test_resolve_rejects_short_prefix(void **state)
{
    fake_engine_t *fake = *state;
    // The engine resolves any prefix length; InfraMon wants at least four digits.
    const canned_t canned[] = {
        {"GET", "/containers/9f0/json", 200, "{\"Id\":\"" ID_WEB "\",\"Name\":\"/web\"}"},
        {"GET", "/containers/9f00/json", 200, "{\"Id\":\"" ID_WEB "\",\"Name\":\"/web\"}"},
        {"GET", "/containers/web/json", 200, "{\"Id\":\"" ID_WEB "\",\"Name\":\"/web\"}"},
        {"GET", "/containers/gone/json", 404, "{\"message\":\"No such container: gone\"}"},
        {NULL, NULL, 0, NULL},
    };
    char id[IM_CONTAINER_ID_SIZE] = "";
    char name[IM_CONTAINER_NAME_SIZE] = "";
    char err[512] = "";

    fake_set_canned(fake, canned);
    struct im_engine *e = open_fake(fake, NULL);
    assert_int_equal(im_container_resolve(e, "9f0", id, name, err, sizeof(err)), IM_ENOTFOUND);
    assert_non_null(strstr(err, "at least 4 hex digits"));
    assert_int_equal(im_container_resolve(e, "9f00", id, name, err, sizeof(err)), IM_OK);
    assert_int_equal(im_container_resolve(e, "/web", id, name, err, sizeof(err)), IM_OK);
    assert_string_equal(name, "web");
    assert_int_equal(im_container_resolve(e, "gone", id, name, err, sizeof(err)), IM_ENOTFOUND);
    assert_int_equal(im_container_resolve(e, "a/../b", id, name, err, sizeof(err)), IM_EINVAL);
    im_engine_close(e);
}

static void test_action_status_mapping(void **state)
{
    fake_engine_t *fake = *state;
    const canned_t canned[] = {
        {"POST", "/containers/" ID_WEB "/start", 304, ""},
        {"POST", "/containers/" ID_WEB "/stop", 304, ""},
        {"POST", "/containers/" ID_WEB "/unpause", 500,
         "{\"message\":\"Container " ID_WEB " is not paused\"}"},
        {"POST", "/containers/" ID_WEB "/kill?signal=SIGKILL", 409,
         "{\"message\":\"Cannot kill container: " ID_WEB ": Container " ID_WEB
         " is not running\"}"},
        {"POST", "/containers/" ID_WEB "/pause", 404, "{\"message\":\"No such container\"}"},
        {"POST", "/containers/" ID_WEB "/restart?t=5", 500,
         "{\"message\":\"runc failed for " ID_WEB "\"}"},
        {"DELETE", "/containers/" ID_WEB "?force=0&v=0", 409,
         "{\"message\":\"You cannot remove a running container " ID_WEB ".\"}"},
        {"POST", "/containers/" ID_WEB "/kill?signal=SIGHUP", 400,
         "{\"message\":\"Invalid signal: SIGHUP\"}"},
        {NULL, NULL, 0, NULL},
    };
    struct {
        im_container_action_t action;
        im_container_action_options_t opts;
        int rc;
        const char *message;
    } cases[] = {
        {IM_CONTAINER_START, {.timeout = -1}, IM_ECONFLICT, "container web is already running"},
        {IM_CONTAINER_STOP, {.timeout = -1}, IM_ECONFLICT, "container web is not running"},
        {IM_CONTAINER_UNPAUSE, {.timeout = -1}, IM_ECONFLICT, "container web is not paused"},
        {IM_CONTAINER_KILL, {.timeout = -1}, IM_ECONFLICT, "container web is not running"},
        {IM_CONTAINER_PAUSE, {.timeout = -1}, IM_ENOTFOUND, "container web not found"},
        {IM_CONTAINER_RESTART,
         {.timeout = 5},
         IM_EUPSTREAM,
         "failed to restart container web: runc failed for web"},
        {IM_CONTAINER_REMOVE,
         {.timeout = -1},
         IM_ECONFLICT,
         "failed to remove container web: You cannot remove a running container web."},
        {IM_CONTAINER_KILL,
         {.timeout = -1, .signal = "hup"},
         IM_EINVAL,
         "failed to kill container web: Invalid signal: SIGHUP"},
        {IM_CONTAINER_KILL, {.timeout = -1, .signal = "nope"}, IM_EINVAL, NULL},
        {IM_CONTAINER_STOP, {.timeout = 4000}, IM_EINVAL, NULL},
    };

    fake_set_canned(fake, canned);
    struct im_engine *e = open_fake(fake, NULL);
    for (size_t i = 0; i < IM_ARRAY_LEN(cases); i++) {
        char err[512] = "";
        int rc = im_container_action(e, ID_WEB, "web", cases[i].action, &cases[i].opts, err,
                                     sizeof(err));
        if (rc != cases[i].rc) {
            fail_msg("case %zu (%s): rc %d, expected %d: %s", i,
                     im_container_action_name(cases[i].action), rc, cases[i].rc, err);
        }
        if (cases[i].message) {
            assert_string_equal(err, cases[i].message);
        }
    }
    im_engine_close(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_list_item_running_compose),
        cmocka_unit_test(test_list_item_podman_image_names),
        cmocka_unit_test(test_list_item_ports),
        cmocka_unit_test(test_list_item_compose_absolute_files),
        cmocka_unit_test(test_list_item_exited),
        cmocka_unit_test(test_list_item_paused_and_health),
        cmocka_unit_test(test_list_item_without_id),
        cmocka_unit_test(test_list_item_skips_link_names),
        cmocka_unit_test(test_health_from_status),
        cmocka_unit_test(test_compose_file_resolution),
        cmocka_unit_test(test_detail_running_compose),
        cmocka_unit_test(test_detail_ports_mounts_networks),
        cmocka_unit_test(test_detail_environment_unmasked),
        cmocka_unit_test(test_detail_environment_masked),
        cmocka_unit_test(test_detail_healthcheck),
        cmocka_unit_test(test_detail_exited_and_created),
        cmocka_unit_test(test_detail_tty_and_paused),
        cmocka_unit_test(test_detail_without_id),
        cmocka_unit_test(test_env_name_is_secret),
        cmocka_unit_test(test_mask_inspect),
        cmocka_unit_test(test_diff_mapping),
        cmocka_unit_test(test_diff_empty_and_unknown_kind),
        cmocka_unit_test(test_parse_host_valid),
        cmocka_unit_test(test_parse_host_invalid),
        cmocka_unit_test(test_parse_host_long_socket_path),
        cmocka_unit_test(test_open_rejects_bad_options),
        cmocka_unit_test(test_version_compare),
        cmocka_unit_test(test_url_escape),
        cmocka_unit_test(test_reply_rc_mapping),
        cmocka_unit_test(test_ref_validation),
        cmocka_unit_test(test_name_validation),
        cmocka_unit_test(test_signal_normalize),
        cmocka_unit_test(test_action_names),
        cmocka_unit_test(test_update_parse_valid),
        cmocka_unit_test(test_update_parse_invalid),
        cmocka_unit_test(test_prune_filter_validation),
        cmocka_unit_test(test_list_filters),
        cmocka_unit_test(test_request_missing_socket),
        cmocka_unit_test(test_request_rejects_bad_path),
        cmocka_unit_test_setup_teardown(test_negotiation_caps_newer_engine, fake_setup,
                                        fake_teardown),
        cmocka_unit_test_setup_teardown(test_negotiation_uses_older_engine, fake_setup,
                                        fake_teardown),
        cmocka_unit_test_setup_teardown(test_negotiation_pin_wins, fake_setup, fake_teardown),
        cmocka_unit_test_setup_teardown(test_negotiation_rejects_ancient_engine, fake_setup,
                                        fake_teardown),
        cmocka_unit_test_setup_teardown(test_negotiation_retries_after_rejection, fake_setup,
                                        fake_teardown),
        cmocka_unit_test_setup_teardown(test_engine_comes_back, fake_setup, fake_teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_requests, fake_setup, fake_teardown),
        cmocka_unit_test_setup_teardown(test_keep_alive_reuses_connection, fake_setup,
                                        fake_teardown),
        cmocka_unit_test_setup_teardown(test_closed_pooled_connection_retried, fake_setup,
                                        fake_teardown),
        cmocka_unit_test_setup_teardown(test_fresh_connection_not_retried, fake_setup,
                                        fake_teardown),
        cmocka_unit_test_setup_teardown(test_resolve_ambiguous_prefix, fake_setup, fake_teardown),
        cmocka_unit_test_setup_teardown(test_resolve_prefix_from_list, fake_setup, fake_teardown),
        cmocka_unit_test_setup_teardown(test_resolve_rejects_short_prefix, fake_setup,
                                        fake_teardown),
        cmocka_unit_test_setup_teardown(test_action_status_mapping, fake_setup, fake_teardown),
        cmocka_unit_test_setup_teardown(test_request_rejects_oversized_body, fake_setup,
                                        fake_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
