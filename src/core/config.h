#ifndef IM_CORE_CONFIG_H
#define IM_CORE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define IM_CONFIG_MAX_ORIGINS 32
#define IM_CONFIG_MAX_PROXIES 32

/* A CIDR block of trusted proxies, IPv4 (mapped into ::ffff:0:0/96) or IPv6. */
typedef struct {
    unsigned char addr[16];
    int prefix; /* 0..128, counted on the 16-byte form */
} im_cidr_t;

/* The effective configuration: environment first, then the .env file, then defaults. */
typedef struct {
    char host[256];
    int port;
    bool debug;
    char *secret_key;          /* signs tokens */
    char *secret_key_previous; /* verifies tokens only, during a key rotation; may be NULL */
    bool secret_key_generated; /* true when DEBUG made one up at start */
    char admin_username[64];
    char *admin_password; /* NULL: generated on the first start */
    char admin_email[256];
    int access_token_expire_minutes;
    int refresh_token_expire_days;
    int rate_limit_max_requests;
    int rate_limit_window_seconds;
    im_cidr_t trusted_proxies[IM_CONFIG_MAX_PROXIES];
    int trusted_proxy_count;
    int64_t max_request_size;
    int max_json_depth; /* nesting levels of arrays and objects allowed in a request body */
    char *cors_origins[IM_CONFIG_MAX_ORIGINS];
    int cors_origin_count;
    char *database_url;
    char docker_host[512];
    bool docker_tls_verify;
    char docker_cert_path[512];
    char docker_api_version[16]; /* empty: negotiate */
    int collect_interval_seconds;
    int retention_raw_hours;
    int retention_days;
    int audit_retention_days; /* audit rows older than this are deleted */
    int log_level;  /* im_log_level_t */
    int log_format; /* im_log_format_t */
    int http_threads;
    bool metrics_public;
    char host_proc[512];
    char host_sys[512];
    char host_root[512];
    char host_fs_root[512];
    char web_dir[512]; /* empty: serve the embedded UI */
    char backup_dir[512];         /* empty: scheduled backups are off */
    double backup_interval_hours; /* fractions allowed, e.g. 0.5 for every 30 minutes */
    int backup_keep;              /* newest scheduled backups kept in backup_dir */
} im_config_t;

/* Loads the configuration from the process environment and, for keys the environment does
 * not set, from env_file (may be NULL or missing). Every value is validated; on the first
 * invalid one it returns IM_EINVAL with a message naming the variable, the value (redacted
 * for secrets) and what is accepted. */
int im_config_load(im_config_t *config, const char *env_file, char *err, size_t errlen);

/* Applies the production rules: with DEBUG=false a SECRET_KEY of at least 32 characters
 * that is not a known placeholder is required, and CORS "*" is rejected. With DEBUG=true a
 * missing key is generated (config->secret_key_generated is set). */
int im_config_check_security(im_config_t *config, char *err, size_t errlen);

/* Prints every setting as KEY=value lines, secrets shown as "(set, redacted)". */
void im_config_print(const im_config_t *config, FILE *out);

/* Returns the number of HTTP worker threads: HTTP_THREADS, or one per CPU core for 0. */
int im_config_http_threads(const im_config_t *config);

/* Returns true when addr (16-byte form) falls inside one of the trusted proxy CIDRs. */
bool im_config_is_trusted_proxy(const im_config_t *config, const unsigned char addr[16]);

/* Parses one .env line in place. Quotes (single or double) are stripped; an unquoted value
 * ends at " #". A blank or comment line sets *key_out to NULL. Returns false for a
 * malformed line. The key and value point into line. */
bool im_config_parse_env_line(char *line, char **key_out, char **value_out);

/* Parses "ADDRESS" or "ADDRESS/PREFIX" (IPv4 or IPv6) into cidr; false when invalid. */
bool im_cidr_parse(const char *text, im_cidr_t *cidr);

/* Parses a textual IPv4 or IPv6 address into the 16-byte form (IPv4 mapped). */
bool im_ip_parse(const char *text, unsigned char out[16]);
/* Clears the interface half (the last 64 bits) of an IPv6 address, leaving IPv4-mapped
 * addresses as they are. A network usually gives each IPv6 host a whole /64 to pick
 * addresses from, so per-client limits count each /64 as one client. */
void im_ip_client_prefix(unsigned char addr[16]);

void im_config_release(im_config_t *config);

#endif
