#include "core/config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <jansson.h>

#include "core/log.h"
#include "core/util.h"

#define MAX_ENV_FILE_SIZE (1 << 20)
#define MAX_ENV_ENTRIES   256

/* The .env file, parsed into key/value pairs that the environment may override. */
typedef struct {
    char *keys[MAX_ENV_ENTRIES];
    char *values[MAX_ENV_ENTRIES];
    int count;
} env_file_t;

typedef enum { KIND_STRING, KIND_SECRET, KIND_INT, KIND_BOOL, KIND_SPECIAL } kind_t;

/* One configuration variable: its name, default, kind and where it lands in im_config_t. */
typedef struct setting {
    const char *name;
    const char *fallback; /* NULL: unset by default */
    kind_t kind;
    size_t offset;
    size_t size;      /* for fixed char arrays */
    int64_t min, max; /* for integers */
    const char *accepted;
    int (*parse)(im_config_t *config, const struct setting *s, const char *value, char *err,
                 size_t errlen);
} setting_t;

static int parse_log_level(im_config_t *config, const setting_t *s, const char *value, char *err,
                           size_t errlen);
static int parse_log_format(im_config_t *config, const setting_t *s, const char *value, char *err,
                            size_t errlen);
static int parse_cors(im_config_t *config, const setting_t *s, const char *value, char *err,
                      size_t errlen);
static int parse_proxies(im_config_t *config, const setting_t *s, const char *value, char *err,
                         size_t errlen);
static int parse_database_url(im_config_t *config, const setting_t *s, const char *value, char *err,
                              size_t errlen);
static int parse_api_version(im_config_t *config, const setting_t *s, const char *value, char *err,
                             size_t errlen);
static int parse_backup_interval(im_config_t *config, const setting_t *s, const char *value,
                                 char *err, size_t errlen);

#define FIELD(f)     offsetof(im_config_t, f), sizeof(((im_config_t *)0)->f)
#define PTR_FIELD(f) offsetof(im_config_t, f), 0
#define INT_FIELD(f) offsetof(im_config_t, f), 0
#define NO_FIELD     0, 0

static const setting_t settings[] = {
    {"HOST", "0.0.0.0", KIND_STRING, FIELD(host), 0, 0, "an IPv4 or IPv6 address", NULL},
    {"PORT", "8065", KIND_INT, INT_FIELD(port), 1, 65535, "an integer from 1 to 65535", NULL},
    {"DEBUG", "false", KIND_BOOL, INT_FIELD(debug), 0, 0, "true or false", NULL},
    {"SECRET_KEY", NULL, KIND_SECRET, PTR_FIELD(secret_key), 0, 0, "at least 32 characters", NULL},
    {"SECRET_KEY_PREVIOUS", NULL, KIND_SECRET, PTR_FIELD(secret_key_previous), 0, 0,
     "at least 32 characters", NULL},
    {"ADMIN_USERNAME", "admin", KIND_STRING, FIELD(admin_username), 0, 0,
     "3 to 50 characters of A-Z, a-z, 0-9, _ and -", NULL},
    {"ADMIN_PASSWORD", NULL, KIND_SECRET, PTR_FIELD(admin_password), 0, 0, "8 to 72 bytes", NULL},
    {"ADMIN_EMAIL", "admin@localhost", KIND_STRING, FIELD(admin_email), 0, 0, "an email address",
     NULL},
    {"ACCESS_TOKEN_EXPIRE_MINUTES", "30", KIND_INT, INT_FIELD(access_token_expire_minutes), 1, 1440,
     "an integer from 1 to 1440", NULL},
    {"REFRESH_TOKEN_EXPIRE_DAYS", "7", KIND_INT, INT_FIELD(refresh_token_expire_days), 1, 365,
     "an integer from 1 to 365", NULL},
    {"RATE_LIMIT_MAX_REQUESTS", "300", KIND_INT, INT_FIELD(rate_limit_max_requests), 1, 1000000,
     "an integer from 1 to 1000000", NULL},
    {"RATE_LIMIT_WINDOW_SECONDS", "60", KIND_INT, INT_FIELD(rate_limit_window_seconds), 1, 86400,
     "an integer from 1 to 86400", NULL},
    {"TRUSTED_PROXIES", "", KIND_SPECIAL, NO_FIELD, 0, 0,
     "a comma-separated or JSON list of CIDRs such as 10.0.0.0/8", parse_proxies},
    {"MAX_REQUEST_SIZE", "10485760", KIND_INT, INT_FIELD(max_request_size), 1024, 1073741824,
     "a byte count from 1024 to 1073741824", NULL},
    {"MAX_JSON_DEPTH", "64", KIND_INT, INT_FIELD(max_json_depth), 1, 1024,
     "an integer from 1 to 1024 (levels of nested arrays and objects)", NULL},
    {"CORS_ORIGINS", "[]", KIND_SPECIAL, NO_FIELD, 0, 0,
     "a JSON array of origins such as [\"https://ops.example.com\"]", parse_cors},
    {"DATABASE_URL", "sqlite:///./data/inframon.db", KIND_SPECIAL, NO_FIELD, 0, 0,
     "sqlite:///relative/path.db, sqlite:////absolute/path.db or postgresql://...",
     parse_database_url},
    {"DOCKER_HOST", "unix:///var/run/docker.sock", KIND_STRING, FIELD(docker_host), 0, 0,
     "unix:///path/to/docker.sock or tcp://host:port", NULL},
    {"DOCKER_TLS_VERIFY", "false", KIND_BOOL, INT_FIELD(docker_tls_verify), 0, 0,
     "true or false (1 or empty as the docker CLI accepts)", NULL},
    {"DOCKER_CERT_PATH", "", KIND_STRING, FIELD(docker_cert_path), 0, 0, "a folder path", NULL},
    {"DOCKER_API_VERSION", "", KIND_SPECIAL, NO_FIELD, 0, 0, "empty or a version such as 1.41",
     parse_api_version},
    {"COLLECT_INTERVAL_SECONDS", "1", KIND_INT, INT_FIELD(collect_interval_seconds), 1, 3600,
     "an integer from 1 to 3600", NULL},
    {"RETENTION_RAW_HOURS", "24", KIND_INT, INT_FIELD(retention_raw_hours), 1, 8760,
     "an integer from 1 to 8760", NULL},
    {"RETENTION_DAYS", "90", KIND_INT, INT_FIELD(retention_days), 1, 3650,
     "an integer from 1 to 3650", NULL},
    {"AUDIT_RETENTION_DAYS", "365", KIND_INT, INT_FIELD(audit_retention_days), 1, 36500,
     "an integer from 1 to 36500", NULL},
    {"LOG_LEVEL", "info", KIND_SPECIAL, NO_FIELD, 0, 0, "debug, info, warning or error",
     parse_log_level},
    {"LOG_FORMAT", "text", KIND_SPECIAL, NO_FIELD, 0, 0, "text or json", parse_log_format},
    {"HTTP_THREADS", "0", KIND_INT, INT_FIELD(http_threads), 0, 256,
     "an integer from 0 (one per core) to 256", NULL},
    {"METRICS_PUBLIC", "false", KIND_BOOL, INT_FIELD(metrics_public), 0, 0, "true or false", NULL},
    {"HOST_PROC", "/proc", KIND_STRING, FIELD(host_proc), 0, 0, "an absolute path", NULL},
    {"HOST_SYS", "/sys", KIND_STRING, FIELD(host_sys), 0, 0, "an absolute path", NULL},
    {"HOST_ROOT", "/", KIND_STRING, FIELD(host_root), 0, 0, "an absolute path", NULL},
    {"HOST_FS_ROOT", "/", KIND_STRING, FIELD(host_fs_root), 0, 0, "an absolute path", NULL},
    {"WEB_DIR", "", KIND_STRING, FIELD(web_dir), 0, 0, "empty or a folder path", NULL},
    {"BACKUP_DIR", "", KIND_STRING, FIELD(backup_dir), 0, 0,
     "empty (scheduled backups off) or a folder path", NULL},
    {"BACKUP_INTERVAL_HOURS", "24", KIND_SPECIAL, NO_FIELD, 0, 0,
     "a number of hours from 0.001 to 8760, fractions allowed", parse_backup_interval},
    {"BACKUP_KEEP", "7", KIND_INT, INT_FIELD(backup_keep), 1, 10000, "an integer from 1 to 10000",
     NULL},
};

/* Placeholder secrets copied from examples; a production server must not start with them. */
static const char *placeholder_secrets[] = {
    "change-me",
    "changeme",
    "secret",
    "your-secret-key",
    "your-secret-key-here",
    "change-this-secret-key-in-production",
    "please-change-me-to-a-long-random-string",
    "replace-with-a-random-string-of-at-least-32-characters",
};

static void env_file_release(env_file_t *env)
{
    for (int i = 0; i < env->count; i++) {
        free(env->keys[i]);
        free(env->values[i]);
    }
    env->count = 0;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s)) {
        s++;
    }
    char *end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1])) {
        *--end = '\0';
    }
    return s;
}

bool im_config_parse_env_line(char *line, char **key_out, char **value_out)
{
    char *s = trim(line);
    if (*s == '\0' || *s == '#') {
        *key_out = NULL;
        return true;
    }
    if (strncmp(s, "export ", 7) == 0) {
        s = trim(s + 7);
    }
    char *eq = strchr(s, '=');
    if (!eq) {
        return false;
    }
    *eq = '\0';
    char *key = trim(s);
    for (char *k = key; *k; k++) {
        if (!isalnum((unsigned char)*k) && *k != '_') {
            return false;
        }
    }
    if (*key == '\0') {
        return false;
    }
    char *value = eq + 1;
    while (*value == ' ' || *value == '\t') {
        value++;
    }
    if (*value == '"' || *value == '\'') {
        char quote = *value++;
        char *close = strrchr(value, quote);
        if (!close) {
            return false;
        }
        *close = '\0';
    } else {
        char *hash = strstr(value, " #");
        if (hash) {
            *hash = '\0';
        }
        value = trim(value);
    }
    *key_out = key;
    *value_out = value;
    return true;
}

static bool is_secret_setting(const setting_t *s)
{
    return s->kind == KIND_SECRET || strcmp(s->name, "DATABASE_URL") == 0;
}

/* Returns true when key is a setting's name, or NAME_FILE for a secret setting. */
static bool known_setting(const char *key)
{
    for (size_t i = 0; i < IM_ARRAY_LEN(settings); i++) {
        const char *name = settings[i].name;
        size_t len = strlen(name);
        if (strcmp(key, name) == 0 ||
            (is_secret_setting(&settings[i]) && strncmp(key, name, len) == 0 &&
             strcmp(key + len, "_FILE") == 0)) {
            return true;
        }
    }
    return false;
}

static int env_file_load(env_file_t *env, const char *path, char *err, size_t errlen)
{
    env->count = 0;
    FILE *f = fopen(path, "r");
    if (!f && errno == ENOENT) {
        return IM_OK; /* the .env file is optional */
    }
    if (!f) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return IM_EINVAL;
    }
    struct stat st;
    if (fstat(fileno(f), &st) == 0) {
        if (st.st_size > MAX_ENV_FILE_SIZE) {
            fclose(f);
            snprintf(err, errlen, "%s is larger than %d bytes", path, MAX_ENV_FILE_SIZE);
            return IM_EINVAL;
        }
        if (st.st_mode & 0077) {
            im_log_warn("config",
                        "%s is readable by other users (mode %03o); it may hold secrets, so "
                        "run: chmod 600 %s",
                        path, (unsigned)(st.st_mode & 0777), path);
        }
    }
    char line[8192];
    int lineno = 0;
    int rc = IM_OK;
    while (fgets(line, sizeof(line), f)) {
        lineno++;
        char *key = NULL, *value = NULL;
        if (!im_config_parse_env_line(line, &key, &value)) {
            snprintf(err, errlen, "%s line %d is not KEY=VALUE", path, lineno);
            rc = IM_EINVAL;
            break;
        }
        if (!key) {
            continue;
        }
        if (!known_setting(key)) {
            /* A typo such as PROT=8070 would otherwise leave the default in place unseen. */
            im_log_warn("config", "%s line %d: unknown setting %s is ignored; inframon --help "
                                  "lists the settings",
                        path, lineno, key);
        }
        if (env->count == MAX_ENV_ENTRIES) {
            snprintf(err, errlen, "%s has more than %d entries", path, MAX_ENV_ENTRIES);
            rc = IM_EINVAL;
            break;
        }
        env->keys[env->count] = im_strdup(key);
        env->values[env->count] = im_strdup(value);
        env->count++;
    }
    fclose(f);
    return rc;
}

static const char *env_file_get(const env_file_t *env, const char *key)
{
    /* The last assignment wins, as in a shell. */
    for (int i = env->count - 1; i >= 0; i--) {
        if (strcmp(env->keys[i], key) == 0) {
            return env->values[i];
        }
    }
    return NULL;
}

/* Reads a secret from <NAME>_FILE when set; trailing newlines are dropped. */
static int read_secret_file(const char *name, const char *path, char **out, char *err,
                            size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s_FILE: cannot read %s: %s", name, path, strerror(errno));
        return IM_EINVAL;
    }
    im_buf_t buf;
    im_buf_init(&buf);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        im_buf_append(&buf, chunk, n);
        if (buf.len > 65536) {
            break;
        }
    }
    fclose(f);
    if (buf.len > 65536) {
        im_buf_release(&buf);
        snprintf(err, errlen, "%s_FILE: %s is larger than 64 KiB", name, path);
        return IM_EINVAL;
    }
    im_buf_append(&buf, "", 0);
    while (buf.len > 0 && (buf.data[buf.len - 1] == '\n' || buf.data[buf.len - 1] == '\r')) {
        buf.data[--buf.len] = '\0';
    }
    *out = im_buf_detach(&buf, NULL);
    return IM_OK;
}

static int parse_log_level(im_config_t *config, const setting_t *s, const char *value, char *err,
                           size_t errlen)
{
    im_log_level_t level;
    if (!im_log_parse_level(value, &level)) {
        return IM_EINVAL;
    }
    config->log_level = level;
    return IM_OK;
}

static int parse_log_format(im_config_t *config, const setting_t *s, const char *value, char *err,
                            size_t errlen)
{
    if (strcasecmp(value, "text") == 0) {
        config->log_format = IM_LOG_TEXT;
    } else if (strcasecmp(value, "json") == 0) {
        config->log_format = IM_LOG_JSON;
    } else {
        return IM_EINVAL;
    }
    return IM_OK;
}

static bool valid_origin(const char *origin)
{
    if (strcmp(origin, "*") == 0) {
        return true;
    }
    const char *rest;
    if (im_str_starts_with(origin, "https://")) {
        rest = origin + 8;
    } else if (im_str_starts_with(origin, "http://")) {
        rest = origin + 7;
    } else {
        return false;
    }
    if (*rest == '\0' || strlen(origin) > 255) {
        return false;
    }
    for (const char *p = rest; *p; p++) {
        if (!isalnum((unsigned char)*p) && !strchr(".-:[]", *p)) {
            return false; /* an origin has no path, query or user info */
        }
    }
    return true;
}

static int parse_cors(im_config_t *config, const setting_t *s, const char *value, char *err,
                      size_t errlen)
{
    json_error_t jerr;
    json_t *list = json_loads(value, JSON_REJECT_DUPLICATES, &jerr);
    int rc = IM_EINVAL;
    if (!json_is_array(list) || json_array_size(list) > IM_CONFIG_MAX_ORIGINS) {
        goto out;
    }
    size_t i;
    json_t *item;
    json_array_foreach(list, i, item)
    {
        if (!json_is_string(item) || !valid_origin(json_string_value(item))) {
            const char *text = json_string_value(item);
            size_t len = text ? strlen(text) : 0;
            if (len > 0 && text[len - 1] == '/') {
                snprintf(err, errlen, "\"%.100s\" ends with /, and an origin has no path", text);
            }
            goto out;
        }
    }
    json_array_foreach(list, i, item)
    {
        config->cors_origins[config->cors_origin_count++] = im_strdup(json_string_value(item));
    }
    rc = IM_OK;
out:
    json_decref(list);
    return rc;
}

bool im_ip_parse(const char *text, unsigned char out[16])
{
    struct in_addr v4;
    if (inet_pton(AF_INET, text, &v4) == 1) {
        memset(out, 0, 10);
        out[10] = 0xff;
        out[11] = 0xff;
        memcpy(out + 12, &v4, 4);
        return true;
    }
    return inet_pton(AF_INET6, text, out) == 1;
}

void im_ip_client_prefix(unsigned char addr[16])
{
    static const unsigned char v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (memcmp(addr, v4_mapped, sizeof(v4_mapped)) != 0) {
        memset(addr + 8, 0, 8);
    }
}

bool im_cidr_parse(const char *text, im_cidr_t *cidr)
{
    char addr[64];
    const char *slash = strchr(text, '/');
    size_t len = slash ? (size_t)(slash - text) : strlen(text);
    if (len == 0 || len >= sizeof(addr)) {
        return false;
    }
    memcpy(addr, text, len);
    addr[len] = '\0';
    bool v4 = strchr(addr, ':') == NULL;
    if (!im_ip_parse(addr, cidr->addr)) {
        return false;
    }
    int64_t prefix = v4 ? 32 : 128;
    if (slash && !im_parse_int64(slash + 1, 0, v4 ? 32 : 128, &prefix)) {
        return false;
    }
    cidr->prefix = (int)(v4 ? prefix + 96 : prefix);
    return true;
}

static int parse_proxies(im_config_t *config, const setting_t *s, const char *value, char *err,
                         size_t errlen)
{
    char *copy = im_strdup(value);
    int rc = IM_OK;
    /* Accept both "a,b" and the JSON form ["a","b"]. */
    for (char *p = copy; *p; p++) {
        if (*p == '[' || *p == ']' || *p == '"') {
            *p = ' ';
        }
    }
    char *save = NULL;
    for (char *tok = strtok_r(copy, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
        if (config->trusted_proxy_count == IM_CONFIG_MAX_PROXIES ||
            !im_cidr_parse(tok, &config->trusted_proxies[config->trusted_proxy_count])) {
            rc = IM_EINVAL;
            break;
        }
        config->trusted_proxy_count++;
    }
    free(copy);
    return rc;
}

static int parse_database_url(im_config_t *config, const setting_t *s, const char *value, char *err,
                              size_t errlen)
{
    if (strncmp(value, "sqlite:///", 10) != 0 && strncmp(value, "postgresql://", 13) != 0 &&
        strncmp(value, "postgres://", 11) != 0) {
        return IM_EINVAL;
    }
    if (strncmp(value, "sqlite:///", 10) == 0 && value[10] == '\0') {
        return IM_EINVAL;
    }
    config->database_url = im_strdup(value);
    return IM_OK;
}

static int parse_api_version(im_config_t *config, const setting_t *s, const char *value, char *err,
                             size_t errlen)
{
    if (*value == '\0') {
        config->docker_api_version[0] = '\0';
        return IM_OK;
    }
    unsigned major, minor;
    char tail;
    if (sscanf(value, "%u.%u%c", &major, &minor, &tail) != 2 || major != 1 || minor > 99) {
        return IM_EINVAL;
    }
    snprintf(config->docker_api_version, sizeof(config->docker_api_version), "%u.%u", major, minor);
    return IM_OK;
}

/* The smallest interval, 0.001 h (3.6 s), exists for tests. Production schedules use hours. */
static int parse_backup_interval(im_config_t *config, const setting_t *s, const char *value,
                                 char *err, size_t errlen)
{
    char *end = NULL;
    errno = 0;
    double hours = strtod(value, &end);
    /* strtod also reads "nan", "inf" and hex floats, so only plain decimals are accepted. */
    bool decimal = *value != '\0' && strspn(value, "0123456789.") == strlen(value);
    if (!decimal || errno != 0 || end == value || *end != '\0' || hours < 0.001 ||
        hours > 8760) {
        return IM_EINVAL;
    }
    config->backup_interval_hours = hours;
    return IM_OK;
}

static bool valid_username(const char *name)
{
    size_t len = strlen(name);
    if (len < 3 || len > 50) {
        return false;
    }
    for (const char *p = name; *p; p++) {
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-') {
            return false;
        }
    }
    return true;
}

/* Checks value rules that go beyond the kind: addresses, paths, names. */
static bool extra_check(const setting_t *s, const char *value)
{
    if (strcmp(s->name, "HOST") == 0) {
        unsigned char addr[16];
        return im_ip_parse(value, addr);
    }
    if (strcmp(s->name, "ADMIN_USERNAME") == 0) {
        return valid_username(value);
    }
    if (strcmp(s->name, "ADMIN_EMAIL") == 0) {
        const char *at = strchr(value, '@');
        return at && at != value && at[1] != '\0' && strlen(value) < 255 && !strchr(value, ' ');
    }
    if (strcmp(s->name, "ADMIN_PASSWORD") == 0) {
        return strlen(value) >= 8 && strlen(value) <= 72;
    }
    if (strcmp(s->name, "DOCKER_HOST") == 0) {
        return (im_str_starts_with(value, "unix:///") && strlen(value) < 8 + 100) ||
               (im_str_starts_with(value, "tcp://") && strlen(value) > 6);
    }
    if (strcmp(s->name, "HOST_PROC") == 0 || strcmp(s->name, "HOST_SYS") == 0 ||
        strcmp(s->name, "HOST_ROOT") == 0 || strcmp(s->name, "HOST_FS_ROOT") == 0) {
        return value[0] == '/';
    }
    return true;
}

static int apply_setting(im_config_t *config, const setting_t *s, const char *value, char *err,
                         size_t errlen)
{
    char *base = (char *)config;
    int rc = IM_OK;
    switch (s->kind) {
    case KIND_STRING:
        if (strlen(value) >= s->size || !extra_check(s, value)) {
            rc = IM_EINVAL;
        } else {
            im_strlcpy(base + s->offset, value, s->size);
        }
        break;
    case KIND_SECRET:
        if (!extra_check(s, value)) {
            rc = IM_EINVAL;
        } else {
            char **slot = (char **)(base + s->offset);
            free(*slot);
            *slot = *value ? im_strdup(value) : NULL;
        }
        break;
    case KIND_INT: {
        int64_t v;
        if (!im_parse_int64(value, s->min, s->max, &v)) {
            rc = IM_EINVAL;
        } else if (strcmp(s->name, "MAX_REQUEST_SIZE") == 0) {
            *(int64_t *)(base + s->offset) = v;
        } else {
            *(int *)(base + s->offset) = (int)v;
        }
        break;
    }
    case KIND_BOOL: {
        bool v;
        if (strcmp(s->name, "DOCKER_TLS_VERIFY") == 0 && *value == '\0') {
            v = false;
        } else if (!im_parse_bool(value, &v)) {
            rc = IM_EINVAL;
            break;
        }
        *(bool *)(base + s->offset) = v;
        break;
    }
    case KIND_SPECIAL:
        err[0] = '\0';
        rc = s->parse(config, s, value, err, errlen);
        break;
    }
    if (rc != IM_OK) {
        /* A parser may have written a detail, which goes after the general message. */
        char detail[160] = "";
        if (s->kind == KIND_SPECIAL && strcmp(s->name, "DATABASE_URL") != 0) {
            im_strlcpy(detail, err, sizeof(detail));
        }
        if (s->kind == KIND_SECRET || strcmp(s->name, "DATABASE_URL") == 0) {
            snprintf(err, errlen, "invalid %s (value redacted): expected %s", s->name, s->accepted);
        } else {
            snprintf(err, errlen, "invalid %s=\"%.200s\": expected %s%s%s", s->name, value,
                     s->accepted, detail[0] ? "; " : "", detail);
        }
    }
    return rc;
}

int im_config_load(im_config_t *config, const char *env_file_path, char *err, size_t errlen)
{
    memset(config, 0, sizeof(*config));
    env_file_t env = {0};
    int rc = IM_OK;
    if (env_file_path) {
        rc = env_file_load(&env, env_file_path, err, errlen);
        if (rc) {
            goto out;
        }
    }
    for (size_t i = 0; i < IM_ARRAY_LEN(settings); i++) {
        const setting_t *s = &settings[i];
        const char *value = getenv(s->name);
        if (!value) {
            value = env_file_get(&env, s->name);
        }
        char *from_file = NULL;
        if (is_secret_setting(s)) {
            /* An empty secret, as in a copied .env.example, means "not set" everywhere. */
            if (value && !value[0]) {
                value = NULL;
            }
            char file_key[64];
            snprintf(file_key, sizeof(file_key), "%s_FILE", s->name);
            const char *file = getenv(file_key);
            if (!file) {
                file = env_file_get(&env, file_key);
            }
            if (file && value) {
                snprintf(err, errlen, "both %s and %s are set: keep only one", s->name, file_key);
                rc = IM_EINVAL;
                goto out;
            }
            if (file) {
                rc = read_secret_file(s->name, file, &from_file, err, errlen);
                if (rc) {
                    goto out;
                }
                value = from_file;
            }
        }
        if (!value) {
            value = s->fallback;
        }
        if (value) {
            rc = apply_setting(config, s, value, err, errlen);
        }
        free(from_file);
        if (rc) {
            goto out;
        }
    }
    if (config->docker_tls_verify && config->docker_cert_path[0] == '\0') {
        const char *home = getenv("HOME");
        snprintf(config->docker_cert_path, sizeof(config->docker_cert_path), "%s/.docker",
                 home ? home : "");
    }
out:
    env_file_release(&env);
    return rc;
}

int im_config_check_security(im_config_t *config, char *err, size_t errlen)
{
    for (int i = 0; i < config->cors_origin_count; i++) {
        if (strcmp(config->cors_origins[i], "*") == 0 && !config->debug) {
            snprintf(err, errlen,
                     "CORS_ORIGINS contains \"*\", which DEBUG=false does not allow: list the "
                     "exact origins of your UI");
            return IM_EINVAL;
        }
    }
    const char *keys[2] = {config->secret_key, config->secret_key_previous};
    const char *names[2] = {"SECRET_KEY", "SECRET_KEY_PREVIOUS"};
    for (int k = 0; k < 2; k++) {
        const char *key = keys[k];
        if (!key) {
            continue;
        }
        bool placeholder = false;
        for (size_t i = 0; i < IM_ARRAY_LEN(placeholder_secrets); i++) {
            if (strcasecmp(key, placeholder_secrets[i]) == 0) {
                placeholder = true;
            }
        }
        if ((strlen(key) < 32 || placeholder) && !config->debug) {
            snprintf(err, errlen,
                     "%s is %s: with DEBUG=false it must be at least 32 random characters, "
                     "for example the output of: openssl rand -base64 48",
                     names[k], placeholder ? "a known placeholder" : "shorter than 32 characters");
            return IM_EINVAL;
        }
    }
    if (!config->secret_key) {
        if (!config->debug) {
            snprintf(err, errlen,
                     "SECRET_KEY is not set: with DEBUG=false a key of at least 32 random "
                     "characters is required, for example: openssl rand -base64 48");
            return IM_EINVAL;
        }
        char generated[65];
        im_random_token(generated, sizeof(generated), 48);
        config->secret_key = im_strdup(generated);
        config->secret_key_generated = true;
    }
    return IM_OK;
}

void im_config_print(const im_config_t *config, FILE *out)
{
    const char *base = (const char *)config;
    for (size_t i = 0; i < IM_ARRAY_LEN(settings); i++) {
        const setting_t *s = &settings[i];
        fprintf(out, "%s=", s->name);
        switch (s->kind) {
        case KIND_STRING:
            fprintf(out, "%s\n", base + s->offset);
            break;
        case KIND_SECRET:
            fprintf(out, "%s\n",
                    *(char *const *)(base + s->offset) ? "(set, redacted)" : "(not set)");
            break;
        case KIND_INT:
            if (strcmp(s->name, "MAX_REQUEST_SIZE") == 0) {
                fprintf(out, "%lld\n", (long long)*(const int64_t *)(base + s->offset));
            } else {
                fprintf(out, "%d\n", *(const int *)(base + s->offset));
            }
            break;
        case KIND_BOOL:
            fprintf(out, "%s\n", *(const bool *)(base + s->offset) ? "true" : "false");
            break;
        case KIND_SPECIAL:
            if (strcmp(s->name, "LOG_LEVEL") == 0) {
                static const char *levels[] = {"debug", "info", "warning", "error"};
                fprintf(out, "%s\n", levels[config->log_level]);
            } else if (strcmp(s->name, "LOG_FORMAT") == 0) {
                fprintf(out, "%s\n", config->log_format == IM_LOG_JSON ? "json" : "text");
            } else if (strcmp(s->name, "DATABASE_URL") == 0) {
                /* The scheme and path are useful; credentials in a postgresql URL are not. */
                const char *url = config->database_url ? config->database_url : "";
                fprintf(out, "%s\n",
                        im_str_starts_with(url, "sqlite:") ? url : "postgresql://(redacted)");
            } else if (strcmp(s->name, "DOCKER_API_VERSION") == 0) {
                fprintf(out, "%s\n", config->docker_api_version);
            } else if (strcmp(s->name, "BACKUP_INTERVAL_HOURS") == 0) {
                fprintf(out, "%g\n", config->backup_interval_hours);
            } else if (strcmp(s->name, "CORS_ORIGINS") == 0) {
                fputc('[', out);
                for (int k = 0; k < config->cors_origin_count; k++) {
                    fprintf(out, "%s\"%s\"", k ? "," : "", config->cors_origins[k]);
                }
                fputs("]\n", out);
            } else if (strcmp(s->name, "TRUSTED_PROXIES") == 0) {
                for (int k = 0; k < config->trusted_proxy_count; k++) {
                    const im_cidr_t *c = &config->trusted_proxies[k];
                    char text[INET6_ADDRSTRLEN];
                    bool v4 =
                        memcmp(c->addr, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0 && c->prefix >= 96;
                    inet_ntop(v4 ? AF_INET : AF_INET6, v4 ? c->addr + 12 : c->addr, text,
                              sizeof(text));
                    fprintf(out, "%s%s/%d", k ? "," : "", text, v4 ? c->prefix - 96 : c->prefix);
                }
                fputc('\n', out);
            }
            break;
        }
    }
}

int im_config_http_threads(const im_config_t *config)
{
    long threads = config->http_threads;
    if (threads <= 0) {
        threads = sysconf(_SC_NPROCESSORS_ONLN);
        threads = threads > 0 ? threads : 2;
    }
    return (int)threads;
}

bool im_config_is_trusted_proxy(const im_config_t *config, const unsigned char addr[16])
{
    for (int i = 0; i < config->trusted_proxy_count; i++) {
        const im_cidr_t *c = &config->trusted_proxies[i];
        int full = c->prefix / 8, rest = c->prefix % 8;
        if (memcmp(addr, c->addr, (size_t)full) != 0) {
            continue;
        }
        if (rest) {
            unsigned char mask = (unsigned char)(0xff << (8 - rest));
            if ((addr[full] & mask) != (c->addr[full] & mask)) {
                continue;
            }
        }
        return true;
    }
    return false;
}

void im_config_release(im_config_t *config)
{
    free(config->secret_key);
    free(config->secret_key_previous);
    free(config->admin_password);
    free(config->database_url);
    for (int i = 0; i < config->cors_origin_count; i++) {
        free(config->cors_origins[i]);
    }
    memset(config, 0, sizeof(*config));
}
