/* Tests for the configuration loader and the .env reader. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/config.h"
#include "core/log.h"
#include "core/util.h"

static const char *managed[] = {"HOST",
                                "PORT",
                                "DEBUG",
                                "SECRET_KEY",
                                "SECRET_KEY_FILE",
                                "SECRET_KEY_PREVIOUS",
                                "ADMIN_PASSWORD",
                                "LOG_LEVEL",
                                "CORS_ORIGINS",
                                "TRUSTED_PROXIES",
                                "DATABASE_URL",
                                "DOCKER_API_VERSION",
                                "MAX_REQUEST_SIZE",
                                "ADMIN_USERNAME"};

static int clear_env(void **state)
{
    for (size_t i = 0; i < IM_ARRAY_LEN(managed); i++) {
        unsetenv(managed[i]);
    }
    return 0;
}

static char *write_temp(const char *content)
{
    char *path = im_strdup("/tmp/im-config-test-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
    close(fd);
    chmod(path, 0600);
    return path;
}

static void defaults_apply(void **state)
{
    im_config_t c;
    char err[256];
    assert_int_equal(im_config_load(&c, NULL, err, sizeof(err)), IM_OK);
    assert_string_equal(c.host, "0.0.0.0");
    assert_int_equal(c.port, 8065);
    assert_false(c.debug);
    assert_null(c.secret_key);
    assert_int_equal(c.access_token_expire_minutes, 30);
    assert_int_equal(c.refresh_token_expire_days, 7);
    assert_int_equal(c.rate_limit_max_requests, 300);
    assert_int_equal(c.max_request_size, 10485760);
    assert_string_equal(c.database_url, "sqlite:///./data/inframon.db");
    assert_string_equal(c.docker_host, "unix:///var/run/docker.sock");
    assert_int_equal(c.log_level, IM_LOG_INFO);
    im_config_release(&c);
}

static void invalid_port_names_variable(void **state)
{
    im_config_t c;
    char err[256];
    setenv("PORT", "70000", 1);
    assert_int_equal(im_config_load(&c, NULL, err, sizeof(err)), IM_EINVAL);
    assert_non_null(strstr(err, "PORT"));
    assert_non_null(strstr(err, "70000"));
    assert_non_null(strstr(err, "1 to 65535"));
    im_config_release(&c);
}

static void invalid_secret_is_redacted(void **state)
{
    im_config_t c;
    char err[256];
    setenv("ADMIN_PASSWORD", "short", 1);
    assert_int_equal(im_config_load(&c, NULL, err, sizeof(err)), IM_EINVAL);
    assert_non_null(strstr(err, "ADMIN_PASSWORD"));
    assert_null(strstr(err, "short"));
    im_config_release(&c);
}

static void env_file_fills_missing_keys(void **state)
{
    char *path = write_temp("# comment\n"
                            "PORT=9000\n"
                            "export LOG_LEVEL=debug\n"
                            "SECRET_KEY=\"a quoted value with # hash and spaces ok 12345\"\n"
                            "HOST=127.0.0.1 # trailing comment\n"
                            "\n");
    setenv("PORT", "9100", 1); /* the environment wins over the file */
    im_config_t c;
    char err[256];
    assert_int_equal(im_config_load(&c, path, err, sizeof(err)), IM_OK);
    assert_int_equal(c.port, 9100);
    assert_int_equal(c.log_level, IM_LOG_DEBUG);
    assert_string_equal(c.secret_key, "a quoted value with # hash and spaces ok 12345");
    assert_string_equal(c.host, "127.0.0.1");
    im_config_release(&c);
    unlink(path);
    free(path);
}

static void env_file_rejects_malformed_line(void **state)
{
    char *path = write_temp("PORT=9000\nthis line has no equals sign\n");
    im_config_t c;
    char err[256];
    assert_int_equal(im_config_load(&c, path, err, sizeof(err)), IM_EINVAL);
    assert_non_null(strstr(err, "line 2"));
    im_config_release(&c);
    unlink(path);
    free(path);
}

static void secret_from_file(void **state)
{
    char *path = write_temp("0123456789abcdef0123456789abcdef-from-file\n");
    setenv("SECRET_KEY_FILE", path, 1);
    im_config_t c;
    char err[256];
    assert_int_equal(im_config_load(&c, NULL, err, sizeof(err)), IM_OK);
    assert_string_equal(c.secret_key, "0123456789abcdef0123456789abcdef-from-file");
    im_config_release(&c);
    setenv("SECRET_KEY", "also-set-directly-0123456789abcdef", 1);
    assert_int_equal(im_config_load(&c, NULL, err, sizeof(err)), IM_EINVAL);
    assert_non_null(strstr(err, "SECRET_KEY_FILE"));
    im_config_release(&c);
    unlink(path);
    free(path);
}

/* An empty secret line, as in a copied .env.example, counts as not set. */
static void empty_secret_is_unset(void **state)
{
    char *path = write_temp("0123456789abcdef0123456789abcdef-from-file\n");
    setenv("SECRET_KEY", "", 1);
    setenv("SECRET_KEY_FILE", path, 1);
    setenv("ADMIN_PASSWORD", "", 1);
    im_config_t c;
    char err[256];
    assert_int_equal(im_config_load(&c, NULL, err, sizeof(err)), IM_OK);
    assert_string_equal(c.secret_key, "0123456789abcdef0123456789abcdef-from-file");
    assert_null(c.admin_password);
    im_config_release(&c);
    unlink(path);
    free(path);
}

static void production_requires_strong_secret(void **state)
{
    im_config_t c;
    char err[256];
    assert_int_equal(im_config_load(&c, NULL, err, sizeof(err)), IM_OK);
    assert_int_equal(im_config_check_security(&c, err, sizeof(err)), IM_EINVAL);
    assert_non_null(strstr(err, "SECRET_KEY is not set"));
    im_config_release(&c);

    setenv("SECRET_KEY", "too-short", 1);
    assert_int_equal(im_config_load(&c, NULL, err, sizeof(err)), IM_OK);
    assert_int_equal(im_config_check_security(&c, err, sizeof(err)), IM_EINVAL);
    assert_non_null(strstr(err, "shorter than 32"));
    im_config_release(&c);

    setenv("SECRET_KEY", "change-this-secret-key-in-production", 1);
    assert_int_equal(im_config_load(&c, NULL, err, sizeof(err)), IM_OK);
    assert_int_equal(im_config_check_security(&c, err, sizeof(err)), IM_EINVAL);
    assert_non_null(strstr(err, "placeholder"));
    im_config_release(&c);

    setenv("SECRET_KEY", "kP3v9QmZx7Lr2Tn8Ws4Yb6Hc1Jd5Fg0Ae", 1);
    assert_int_equal(im_config_load(&c, NULL, err, sizeof(err)), IM_OK);
    assert_int_equal(im_config_check_security(&c, err, sizeof(err)), IM_OK);
    im_config_release(&c);
}

static void debug_generates_secret(void **state)
{
    setenv("DEBUG", "true", 1);
    im_config_t c;
    char err[256];
    assert_int_equal(im_config_load(&c, NULL, err, sizeof(err)), IM_OK);
    assert_int_equal(im_config_check_security(&c, err, sizeof(err)), IM_OK);
    assert_true(c.secret_key_generated);
    assert_true(strlen(c.secret_key) >= 32);
    im_config_release(&c);
}

static void cors_wildcard_rejected_in_production(void **state)
{
    setenv("SECRET_KEY", "kP3v9QmZx7Lr2Tn8Ws4Yb6Hc1Jd5Fg0Ae", 1);
    setenv("CORS_ORIGINS", "[\"*\"]", 1);
    im_config_t c;
    char err[256];
    assert_int_equal(im_config_load(&c, NULL, err, sizeof(err)), IM_OK);
    assert_int_equal(im_config_check_security(&c, err, sizeof(err)), IM_EINVAL);
    im_config_release(&c);
    setenv("CORS_ORIGINS", "[\"https://ops.example.com/path\"]", 1);
    assert_int_equal(im_config_load(&c, NULL, err, sizeof(err)), IM_EINVAL);
    assert_non_null(strstr(err, "CORS_ORIGINS"));
    im_config_release(&c);
    setenv("CORS_ORIGINS", "[\"https://ops.example.com/\"]", 1);
    assert_int_equal(im_config_load(&c, NULL, err, sizeof(err)), IM_EINVAL);
    assert_non_null(strstr(err, "\"https://ops.example.com/\" ends with /"));
    im_config_release(&c);
}

static void trusted_proxies_match(void **state)
{
    setenv("TRUSTED_PROXIES", "10.0.0.0/8, 192.168.1.7,fd00::/8", 1);
    im_config_t c;
    char err[256];
    assert_int_equal(im_config_load(&c, NULL, err, sizeof(err)), IM_OK);
    assert_int_equal(c.trusted_proxy_count, 3);
    unsigned char addr[16];
    assert_true(im_ip_parse("10.20.30.40", addr));
    assert_true(im_config_is_trusted_proxy(&c, addr));
    assert_true(im_ip_parse("192.168.1.7", addr));
    assert_true(im_config_is_trusted_proxy(&c, addr));
    assert_true(im_ip_parse("192.168.1.8", addr));
    assert_false(im_config_is_trusted_proxy(&c, addr));
    assert_true(im_ip_parse("fd12::1", addr));
    assert_true(im_config_is_trusted_proxy(&c, addr));
    assert_true(im_ip_parse("11.0.0.1", addr));
    assert_false(im_config_is_trusted_proxy(&c, addr));
    im_config_release(&c);
    setenv("TRUSTED_PROXIES", "10.0.0.0/33", 1);
    assert_int_equal(im_config_load(&c, NULL, err, sizeof(err)), IM_EINVAL);
    im_config_release(&c);
}

static void print_redacts_secrets(void **state)
{
    setenv("SECRET_KEY", "kP3v9QmZx7Lr2Tn8Ws4Yb6Hc1Jd5Fg0Ae", 1);
    setenv("ADMIN_PASSWORD", "hunter2hunter2", 1);
    setenv("DATABASE_URL", "postgresql://inframon:dbpass@localhost/inframon", 1);
    im_config_t c;
    char err[256];
    assert_int_equal(im_config_load(&c, NULL, err, sizeof(err)), IM_OK);
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    im_config_print(&c, out);
    fclose(out);
    assert_null(strstr(text, "kP3v9Q"));
    assert_null(strstr(text, "hunter2"));
    assert_null(strstr(text, "dbpass"));
    assert_non_null(strstr(text, "SECRET_KEY=(set, redacted)"));
    assert_non_null(strstr(text, "PORT=8065"));
    free(text);
    im_config_release(&c);
}

static void api_version_pin_validated(void **state)
{
    setenv("DOCKER_API_VERSION", "1.41", 1);
    im_config_t c;
    char err[256];
    assert_int_equal(im_config_load(&c, NULL, err, sizeof(err)), IM_OK);
    assert_string_equal(c.docker_api_version, "1.41");
    im_config_release(&c);
    setenv("DOCKER_API_VERSION", "1.41; rm", 1);
    assert_int_equal(im_config_load(&c, NULL, err, sizeof(err)), IM_EINVAL);
    im_config_release(&c);
}

int main(void)
{
    im_log_setup(IM_LOG_ERROR, IM_LOG_TEXT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(defaults_apply, clear_env),
        cmocka_unit_test_setup(invalid_port_names_variable, clear_env),
        cmocka_unit_test_setup(invalid_secret_is_redacted, clear_env),
        cmocka_unit_test_setup(env_file_fills_missing_keys, clear_env),
        cmocka_unit_test_setup(env_file_rejects_malformed_line, clear_env),
        cmocka_unit_test_setup(secret_from_file, clear_env),
        cmocka_unit_test_setup(empty_secret_is_unset, clear_env),
        cmocka_unit_test_setup(production_requires_strong_secret, clear_env),
        cmocka_unit_test_setup(debug_generates_secret, clear_env),
        cmocka_unit_test_setup(cors_wildcard_rejected_in_production, clear_env),
        cmocka_unit_test_setup(trusted_proxies_match, clear_env),
        cmocka_unit_test_setup(print_redacts_secrets, clear_env),
        cmocka_unit_test_setup(api_version_pin_validated, clear_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
