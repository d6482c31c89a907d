/* Tests for compose project grouping, file candidates, YAML parsing, masking and ordering. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "engine/compose.h"

static json_t *item(const char *name, const char *project, const char *service, const char *status)
{
    json_t *labels = json_object();
    if (project) {
        json_object_set_new(labels, "com.docker.compose.project", json_string(project));
        json_object_set_new(labels, "com.docker.compose.project.working_dir",
                            json_string("/srv/shop"));
        json_object_set_new(labels, "com.docker.compose.project.config_files",
                            json_string("compose.yaml"));
    }
    return json_pack("{s:s, s:s, s:s?, s:s?, s:s, s:s, s:o}", "name", name, "container_id", name,
                     "compose_project", project, "compose_service", service, "status", status,
                     "compose_file", "/srv/shop/compose.yaml", "labels", labels);
}

static void projects_grouped_with_status(void **state)
{
    json_t *items = json_array();
    json_array_append_new(items, item("shop-web-1", "shop", "web", "running"));
    json_array_append_new(items, item("shop-db-1", "shop", "db", "exited"));
    json_array_append_new(items, item("blog-web-1", "blog", "web", "running"));
    json_array_append_new(items, item("lonely", NULL, NULL, "running"));
    json_array_append_new(items, item("idle-app-1", "idle", "app", "exited"));
    json_t *projects = im_compose_projects(items);
    assert_int_equal(json_array_size(projects), 3);
    /* Sorted by name: blog, idle, shop. */
    json_t *blog = json_array_get(projects, 0);
    json_t *idle = json_array_get(projects, 1);
    json_t *shop = json_array_get(projects, 2);
    assert_string_equal(json_string_value(json_object_get(blog, "status")), "running");
    assert_string_equal(json_string_value(json_object_get(idle, "status")), "stopped");
    assert_string_equal(json_string_value(json_object_get(shop, "status")), "partial");
    assert_string_equal(json_string_value(json_object_get(shop, "working_dir")), "/srv/shop");
    json_t *services = json_object_get(shop, "services");
    assert_int_equal(json_array_size(services), 2);
    json_t *db = json_array_get(services, 0);
    assert_string_equal(json_string_value(json_object_get(db, "name")), "db");
    assert_int_equal(json_integer_value(json_object_get(db, "running")), 0);
    assert_ptr_equal(im_compose_find(projects, "shop"), shop);
    assert_null(im_compose_find(projects, "none"));
    json_decref(projects);
    json_decref(items);
}

static void candidate_files_from_labels(void **state)
{
    json_t *labels = json_pack("{s:s, s:s}", "com.docker.compose.project.working_dir", "/srv/app",
                               "com.docker.compose.project.config_files",
                               "compose.yaml,/etc/extra/override.yml,/etc/passwd,../up.yaml");
    json_t *files = im_compose_candidate_files(labels);
    assert_int_equal(json_array_size(files), 3);
    assert_string_equal(json_string_value(json_array_get(files, 0)), "/srv/app/compose.yaml");
    assert_string_equal(json_string_value(json_array_get(files, 1)), "/etc/extra/override.yml");
    /* A ".." stays in the candidate: the safe-file helper resolves it against its root. */
    assert_string_equal(json_string_value(json_array_get(files, 2)), "/srv/app/../up.yaml");
    json_decref(files);
    json_decref(labels);

    labels = json_pack("{s:s}", "com.docker.compose.project.working_dir", "/srv/app");
    files = im_compose_candidate_files(labels);
    assert_int_equal(json_array_size(files), 4);
    assert_string_equal(json_string_value(json_array_get(files, 2)), "/srv/app/docker-compose.yml");
    json_decref(files);
    json_decref(labels);
}

static void parse_extracts_sections(void **state)
{
    const char *text = "services:\n"
                       "  web:\n"
                       "    image: nginx\n"
                       "    depends_on: [db]\n"
                       "  db:\n"
                       "    image: postgres\n"
                       "networks:\n"
                       "  front: {}\n"
                       "volumes:\n"
                       "  data:\n";
    char err[256];
    json_t *doc = im_compose_parse(text, strlen(text), err, sizeof(err));
    assert_non_null(doc);
    json_t *services = json_object_get(doc, "services");
    assert_int_equal(json_object_size(services), 2);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(services, "web"), "image")), "nginx");
    assert_int_equal(json_array_size(json_object_get(doc, "networks")), 1);
    assert_string_equal(json_string_value(json_array_get(json_object_get(doc, "volumes"), 0)),
                        "data");
    json_decref(doc);
}

static void parse_rejects_bad_input(void **state)
{
    char err[256];
    assert_null(im_compose_parse("- just\n- a list\n", 16, err, sizeof(err)));
    assert_non_null(strstr(err, "mapping"));
    assert_null(im_compose_parse("services: [unclosed\n", 20, err, sizeof(err)));
    assert_non_null(strstr(err, "invalid YAML"));
    /* Each level refers to the previous one nine times: 9^9 nodes if expanded. */
    im_buf_t bomb;
    im_buf_init(&bomb);
    im_buf_appendf(&bomb, "a0: &a0 [x, x, x, x, x, x, x, x, x]\n");
    for (int i = 1; i < 10; i++) {
        im_buf_appendf(&bomb, "a%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n",
                       i, i, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1);
    }
    assert_null(im_compose_parse(bomb.data, bomb.len, err, sizeof(err)));
    assert_non_null(strstr(err, "nodes"));
    im_buf_release(&bomb);
}

static void mask_hides_secret_values(void **state)
{
    const char *text = "services:\n"
                       "  db:\n"
                       "    environment:\n"
                       "      POSTGRES_PASSWORD: hunter2\n"
                       "      - API_TOKEN=abc123\n"
                       "      MODE: fast\n"
                       "      secret_key: \"quoted\"\n";
    char *masked = im_compose_mask_text(text);
    assert_null(strstr(masked, "hunter2"));
    assert_null(strstr(masked, "abc123"));
    assert_null(strstr(masked, "quoted"));
    assert_non_null(strstr(masked, "POSTGRES_PASSWORD: ********"));
    assert_non_null(strstr(masked, "API_TOKEN=********"));
    assert_non_null(strstr(masked, "MODE: fast"));
    free(masked);
}

static void start_order_follows_dependencies(void **state)
{
    json_t *services = json_pack("[s, s, s, s]", "worker", "web", "db", "cache");
    json_t *depends =
        json_pack("{s:[s, s], s:[s], s:[s]}", "worker", "db", "web", "web", "cache", "cache", "db");
    assert_non_null(depends);
    json_t *order = im_compose_start_order(services, depends);
    const char *expected[] = {"db", "cache", "web", "worker"};
    assert_int_equal(json_array_size(order), 4);
    for (size_t i = 0; i < 4; i++) {
        assert_string_equal(json_string_value(json_array_get(order, i)), expected[i]);
    }
    json_decref(order);
    json_decref(depends);
    /* A cycle still yields every service once. */
    depends = json_pack("{s:[s], s:[s]}", "web", "db", "db", "web");
    order = im_compose_start_order(services, depends);
    assert_int_equal(json_array_size(order), 4);
    json_decref(order);
    json_decref(depends);
    json_decref(services);
}

static void project_names_validated(void **state)
{
    assert_true(im_compose_name_is_valid("inframon-sample"));
    assert_true(im_compose_name_is_valid("app_2"));
    assert_false(im_compose_name_is_valid(""));
    assert_false(im_compose_name_is_valid("Shop"));
    assert_false(im_compose_name_is_valid("-x"));
    assert_false(im_compose_name_is_valid("../etc"));
}

/* Messages as dockerd 20.10 streams them for a pull of one new layer next to one present. */
static void pull_progress_sums_layers(void **state)
{
    static const char *const messages[] = {
        "{\"status\":\"Pulling from imtest/app\",\"id\":\"1\"}",
        "{\"status\":\"Already exists\",\"progressDetail\":{},\"id\":\"aaa\"}",
        "{\"status\":\"Pulling fs layer\",\"progressDetail\":{},\"id\":\"bbb\"}",
        "{\"status\":\"Downloading\",\"progressDetail\":{\"current\":400,\"total\":1000},"
        "\"progress\":\"[====>   ]\",\"id\":\"bbb\"}",
    };
    im_pull_progress_t progress;
    im_pull_progress_init(&progress);
    json_t *event = NULL;
    for (size_t i = 0; i < IM_ARRAY_LEN(messages); i++) {
        json_decref(event);
        event = im_pull_progress_apply(&progress, messages[i], strlen(messages[i]));
        assert_non_null(event);
    }
    assert_string_equal(json_string_value(json_object_get(event, "status")), "Downloading");
    assert_string_equal(json_string_value(json_object_get(event, "layer")), "bbb");
    assert_int_equal(json_integer_value(json_object_get(event, "current")), 400);
    assert_int_equal(json_integer_value(json_object_get(event, "total")), 1000);
    assert_int_equal(json_integer_value(json_object_get(event, "image_current")), 400);
    assert_int_equal(json_integer_value(json_object_get(event, "image_total")), 1000);
    assert_true(json_is_null(json_object_get(event, "error")));
    json_decref(event);

    static const char complete[] = "{\"status\":\"Pull complete\",\"progressDetail\":{},"
                                   "\"id\":\"bbb\"}";
    event = im_pull_progress_apply(&progress, complete, strlen(complete));
    assert_int_equal(json_integer_value(json_object_get(event, "image_current")), 1000);
    assert_true(json_is_null(json_object_get(event, "current")));
    json_decref(event);

    static const char digest[] = "{\"status\":\"Status: Downloaded newer image for x:1\"}";
    event = im_pull_progress_apply(&progress, digest, strlen(digest));
    assert_true(json_is_null(json_object_get(event, "layer")));
    assert_string_equal(progress.status, "Status: Downloaded newer image for x:1");
    assert_string_equal(progress.error, "");
    json_decref(event);
    im_pull_progress_release(&progress);
}

static void pull_progress_keeps_error(void **state)
{
    static const char failure[] =
        "{\"errorDetail\":{\"message\":\"manifest unknown\"},\"error\":\"manifest unknown\"}";
    im_pull_progress_t progress;
    im_pull_progress_init(&progress);
    json_t *event = im_pull_progress_apply(&progress, failure, strlen(failure));
    assert_non_null(event);
    assert_string_equal(json_string_value(json_object_get(event, "error")), "manifest unknown");
    assert_string_equal(progress.error, "manifest unknown");
    json_decref(event);
    assert_null(im_pull_progress_apply(&progress, "not json", 8));
    assert_null(im_pull_progress_apply(&progress, "[1]", 3));
    im_pull_progress_release(&progress);
}

static void pull_ref_gets_latest_tag(void **state)
{
    static const char *const cases[][2] = {
        {"busybox", "busybox:latest"},
        {"busybox:1.36", "busybox:1.36"},
        {"127.0.0.1:5000/team/app", "127.0.0.1:5000/team/app:latest"},
        {"127.0.0.1:5000/team/app:2", "127.0.0.1:5000/team/app:2"},
        {"app@sha256:abcd", "app@sha256:abcd"},
    };
    for (size_t i = 0; i < IM_ARRAY_LEN(cases); i++) {
        char *ref = im_pull_image_ref(cases[i][0]);
        assert_string_equal(ref, cases[i][1]);
        free(ref);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(projects_grouped_with_status),
        cmocka_unit_test(candidate_files_from_labels),
        cmocka_unit_test(parse_extracts_sections),
        cmocka_unit_test(parse_rejects_bad_input),
        cmocka_unit_test(mask_hides_secret_values),
        cmocka_unit_test(start_order_follows_dependencies),
        cmocka_unit_test(project_names_validated),
        cmocka_unit_test(pull_progress_sums_layers),
        cmocka_unit_test(pull_progress_keeps_error),
        cmocka_unit_test(pull_ref_gets_latest_tag),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
