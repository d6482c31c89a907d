/* Command-line entry: `inframon [serve]`, `migrate`, `backup FILE`, `config`, `user ...`. */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "app.h"
#include "auth/auth.h"
#include "cli.h"
#include "cli_ops.h"
#include "collect/collector.h"
#include "collect/events.h"
#include "collect/history.h"
#include "core/config.h"
#include "core/log.h"
#include "core/util.h"
#include "engine/engine.h"
#include "http/http.h"
#include "http/static.h"
#include "store/backup_schedule.h"
#include "store/store.h"

#define MAINTENANCE_INTERVAL_SECONDS 60

static const im_route_t *const route_tables[] = {
    im_api_health_routes,
    im_api_auth_routes,
    im_api_audit_routes,
    im_api_user_routes,
    im_api_container_routes,
    im_api_docker_routes,
    im_api_system_routes,
    im_api_openapi_routes,
    im_api_compose_routes,
    im_api_event_routes,
    im_api_stats_routes,
    im_api_history_routes,
    im_api_process_routes,
    im_api_metrics_routes,
    im_api_settings_routes,
    im_api_logs_routes,
    im_api_exec_routes,
    im_api_group_routes,
    im_http_static_routes, /* last: it takes every path no other route matches */
    NULL,
};

static void print_help(FILE *out)
{
    fputs("Usage: inframon [COMMAND] [ARGS]\n"
          "\n"
          "Self-hosted Docker monitoring and management server.\n"
          "\n"
          "Commands:\n"
          "  serve                 run the server on HOST:PORT (the default command)\n"
          "  migrate               apply database migrations and exit\n"
          "  backup FILE           write a consistent online copy of the SQLite database;\n"
          "                        an existing FILE is never overwritten\n"
          "  rotate-secret         print a new random SECRET_KEY and the steps to switch to\n"
          "                        it without logging users out\n"
          "  healthcheck           GET /health on this machine's HOST:PORT; exit 0 when it\n"
          "                        returns 200, else 1 (for container health checks)\n"
          "  config                validate and print the effective configuration, secrets\n"
          "                        redacted\n"
          "  user create NAME --role ROLE [--email EMAIL]\n"
          "                        create a user; the password is read from stdin\n"
          "  user list             list users\n"
          "  user passwd NAME      set a user's password (read from stdin) and end their\n"
          "                        sessions\n"
          "  user disable NAME     deactivate a user and end their sessions\n"
          "  user enable NAME      reactivate a user\n"
          "  user reset-totp NAME  remove a user's TOTP second factor and recovery codes\n"
          "\n"
          "Options:\n"
          "  -h, --help            show this help and exit\n"
          "  -V, --version         show the version and exit\n"
          "\n"
          "Configuration comes from the environment, then from ./.env for keys the\n"
          "environment does not set. Settings have no command-line options: for another\n"
          "port, run PORT=8070 inframon serve. SECRET_KEY, SECRET_KEY_PREVIOUS,\n"
          "ADMIN_PASSWORD and DATABASE_URL can instead be read from the file that\n"
          "NAME_FILE names, such as SECRET_KEY_FILE. Main settings (default):\n"
          "  HOST (0.0.0.0), PORT (8065), DEBUG (false), SECRET_KEY (required unless DEBUG),\n"
          "  DATABASE_URL (sqlite:///./data/inframon.db), DOCKER_HOST\n"
          "  (unix:///var/run/docker.sock), ACCESS_TOKEN_EXPIRE_MINUTES (30),\n"
          "  REFRESH_TOKEN_EXPIRE_DAYS (7), MAX_REQUEST_SIZE (10485760 bytes),\n"
          "  COLLECT_INTERVAL_SECONDS (1), LOG_LEVEL (info), LOG_FORMAT (text),\n"
          "  BACKUP_DIR (empty: no scheduled backups), BACKUP_INTERVAL_HOURS (24),\n"
          "  BACKUP_KEEP (7 files).\n"
          "Every setting is described in docs/configuration.md; `inframon config` prints them.\n",
          out);
}

/* Loads and validates the configuration, then sets up logging. Exits on an invalid value. */
static void load_config(im_config_t *config, bool enforce_security)
{
    char err[512];
    if (im_config_load(config, ".env", err, sizeof(err)) != IM_OK) {
        fprintf(stderr, "inframon: configuration error: %s\n", err);
        exit(2);
    }
    im_log_setup((im_log_level_t)config->log_level, (im_log_format_t)config->log_format);
    if (enforce_security && im_config_check_security(config, err, sizeof(err)) != IM_OK) {
        fprintf(stderr, "inframon: refusing to start: %s\n", err);
        exit(2);
    }
}

/* Opens and migrates the store, or exits. must_exist: a missing SQLite file is an error
 * instead of a new, empty database (for offline commands on existing data). */
static im_store_t *open_store(const im_config_t *config, bool must_exist)
{
    char err[512];
    im_store_t *store = NULL;
    int rc = must_exist ? im_store_open_existing(config->database_url, &store, err, sizeof(err))
                        : im_store_open(config->database_url, &store, err, sizeof(err));
    if (rc == IM_ENOTFOUND) {
        fprintf(stderr, "inframon: %s\n", err);
        exit(1);
    }
    if (rc != IM_OK) {
        im_log_error("main", "cannot open the database: %s", err);
        exit(1);
    }
    int version = 0;
    rc = im_store_migrate(store, &version);
    if (rc == IM_ECONFLICT) {
        im_log_error("main", "the database schema is newer than this inframon binary: "
                             "upgrade inframon or restore an older backup");
        im_store_close(store);
        exit(1);
    }
    if (rc != IM_OK) {
        im_log_error("main", "database migration failed (error %d)", rc);
        im_store_close(store);
        exit(1);
    }
    return store;
}

static const char *describe_signal(int sig)
{
    if (sig == SIGTERM) {
        return "SIGTERM";
    }
    return sig == SIGINT ? "SIGINT" : "signal";
}

/* Caps glibc's malloc arenas at two before any thread starts. By default glibc gives each
 * thread that contends for the heap an arena of its own, up to eight per core, and every
 * arena keeps freed memory resident. This server runs a dozen threads that allocate
 * little. MALLOC_ARENA_MAX in the environment, when set, takes precedence. */
static void limit_malloc_arenas(void)
{
    if (getenv("MALLOC_ARENA_MAX") == NULL && mallopt(M_ARENA_MAX, 2) != 1) {
        im_log_warn("main", "mallopt(M_ARENA_MAX, 2) failed; using glibc's default arenas");
    }
}

static int serve(void)
{
    im_config_t config;
    load_config(&config, true);
    char err[512];
    if (config.secret_key_generated) {
        im_log_warn("main", "SECRET_KEY is not set: using a random key for this run (DEBUG=true); "
                            "tokens will not survive a restart");
    }
    if (config.debug) {
        im_log_warn("main", "DEBUG=true: development mode, do not expose this server");
    }

    /* Signals are taken by sigtimedwait in this thread only: block them before any thread
     * starts so that every thread inherits the mask. */
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &signals, NULL);
    signal(SIGPIPE, SIG_IGN);
    limit_malloc_arenas();

    im_app_t app = {.config = &config, .started_at = im_now()};
    app.store = open_store(&config, false);
    app.terminal_tickets = im_api_terminal_tickets_new();
    app.group_index = im_api_group_index_new();
    if (im_auth_new(&config, app.store, &app.auth) != IM_OK ||
        im_auth_bootstrap_admin(app.auth, err, sizeof(err)) != IM_OK) {
        im_log_error("main", "cannot create the first admin user: %s", err);
        return 1;
    }
    int reseal_rc = im_auth_totp_reseal_all(app.auth, err, sizeof(err));
    if (reseal_rc == IM_EDENIED && config.debug) {
        /* DEBUG=true may generate a new SECRET_KEY at each start, which strands every
         * secret stored under the last one: warn, and let development go on. */
        im_log_warn("main", "%s; those users cannot complete a TOTP login", err);
    } else if (reseal_rc != IM_OK) {
        im_log_error("main", "cannot start: %s", err);
        im_auth_free(app.auth);
        im_api_terminal_tickets_free(app.terminal_tickets);
        im_api_group_index_free(app.group_index);
        im_store_close(app.store);
        im_config_release(&config);
        return 1;
    }
    im_engine_options_t engine_options = {
        .docker_host = config.docker_host,
        .tls_verify = config.docker_tls_verify,
        .cert_path = config.docker_cert_path,
        .api_version = config.docker_api_version,
    };
    if (im_engine_open(&engine_options, &app.engine, err, sizeof(err)) != IM_OK) {
        im_log_error("main", "invalid engine settings: %s", err);
        return 1;
    }
    im_events_options_t events_options = {
        .docker_host = config.docker_host,
        .tls_verify = config.docker_tls_verify,
        .cert_path = config.docker_cert_path,
        .engine = app.engine,
    };
    if (im_events_start(&events_options, &app.events, err, sizeof(err)) != IM_OK) {
        im_log_error("main", "cannot start the engine events feed: %s", err);
        return 1;
    }
    im_history_writer_options_t history_options = {
        .store = app.store,
        .raw_hours = config.retention_raw_hours,
        .retention_days = config.retention_days,
    };
    if (im_history_writer_start(&history_options, &app.history, err, sizeof(err)) != IM_OK) {
        im_log_error("main", "%s", err);
        return 1;
    }
    im_collector_options_t collector_options = {
        .engine = app.engine,
        .history = app.history,
        .events = app.events,
        .interval_seconds = config.collect_interval_seconds,
        .proc_root = config.host_proc,
        .sys_root = config.host_sys,
        .host_root = config.host_root,
    };
    if (im_collector_start(&collector_options, &app.collector, err, sizeof(err)) != IM_OK) {
        im_log_error("main", "cannot start the collector: %s", err);
        return 1;
    }

    im_http_server_t *server = NULL;
    if (im_http_start(&app, route_tables, &server, err, sizeof(err)) != IM_OK) {
        im_log_error("main", "%s", err);
        return 1;
    }
    const char *db =
        im_str_starts_with(config.database_url, "sqlite:") ? config.database_url : "postgresql";
    im_log_info("main", "InfraMon %s starting: pid %d, listening on %s:%d, database %s, engine %s",
                IM_VERSION, (int)getpid(), config.host, config.port, db,
                im_engine_address(app.engine));
    if (im_engine_ping(app.engine, err, sizeof(err)) != IM_OK) {
        im_log_warn("main", "%s; serving host numbers only until the engine responds", err);
    }
    im_backup_schedule_t *backups = NULL;
    if (config.backup_dir[0] != '\0') {
        im_backup_schedule_options_t backup_options = {
            .dir = config.backup_dir,
            .interval_seconds = config.backup_interval_hours * 3600.0,
            .keep = config.backup_keep,
        };
        if (im_backup_schedule_start(app.store, &backup_options, &backups, err, sizeof(err)) !=
            IM_OK) {
            im_log_error("main", "scheduled backups are off: %s", err);
        }
    }
    im_api_audit_apply_retention(app.store, config.audit_retention_days);
    im_log_info("main", "ready to accept connections on port %d", config.port);
    /* Hands the start-up allocations (migrations, the first engine list) back to the
     * kernel. */
    malloc_trim(0);

    int sig;
    for (;;) {
        struct timespec wait = {.tv_sec = MAINTENANCE_INTERVAL_SECONDS};
        sig = sigtimedwait(&signals, NULL, &wait);
        if (sig == SIGTERM || sig == SIGINT) {
            break;
        }
        if (sig < 0 && errno == EAGAIN) {
            if (im_store_maintenance(app.store) != IM_OK) {
                im_log_warn("main",
                            "database maintenance (WAL checkpoint) failed; retrying in %d s",
                            MAINTENANCE_INTERVAL_SECONDS);
            }
            im_api_audit_apply_retention(app.store, config.audit_retention_days);
            malloc_trim(0);
        }
    }
    im_log_info("main", "received %s, shutting down", describe_signal(sig));
    im_http_stop(server);
    im_backup_schedule_stop(backups);
    im_collector_stop(app.collector);
    im_history_writer_stop(app.history);
    im_events_stop(app.events);
    im_engine_close(app.engine);
    im_auth_free(app.auth);
    im_api_terminal_tickets_free(app.terminal_tickets);
    im_api_group_index_free(app.group_index);
    im_store_close(app.store);
    im_log_info("main", "stopped: %s", describe_signal(sig));
    im_config_release(&config);
    return 0;
}

static int cmd_migrate(void)
{
    im_config_t config;
    load_config(&config, false);
    im_store_t *store = open_store(&config, false);
    int version = 0;
    if (im_store_schema_version(store, &version) != IM_OK) {
        fprintf(stderr, "inframon: cannot read the schema version\n");
        im_store_close(store);
        return 1;
    }
    printf("database is at schema version %d\n", version);
    im_store_close(store);
    im_config_release(&config);
    return 0;
}

static int cmd_backup(const char *path)
{
    im_config_t config;
    load_config(&config, false);
    im_store_t *store = open_store(&config, true);
    int rc = im_store_backup(store, path, false);
    if (rc == IM_ECONFLICT) {
        fprintf(stderr, "inframon: backup failed: %s already exists\n", path);
    } else if (rc != IM_OK) {
        fprintf(stderr, "inframon: backup failed (error %d); the server log has details\n", rc);
    } else {
        printf("backup written to %s\n", path);
    }
    im_store_close(store);
    im_config_release(&config);
    return rc == IM_OK ? 0 : 1;
}

static int cmd_config(void)
{
    im_config_t config;
    load_config(&config, false);
    char err[512];
    im_config_print(&config, stdout);
    int rc = im_config_check_security(&config, err, sizeof(err));
    if (rc == IM_OK && !im_str_starts_with(config.database_url, "sqlite:")) {
        snprintf(err, sizeof(err),
                 "DATABASE_URL names PostgreSQL, whose backend is not built "
                 "yet: use sqlite:///path/to/inframon.db");
        rc = IM_EINVAL;
    }
    if (rc != IM_OK) {
        fprintf(stderr, "inframon: the server would refuse to start: %s\n", err);
    }
    im_config_release(&config);
    return rc == IM_OK ? 0 : 2;
}

/* Runs rotate-secret or healthcheck. Both read the configuration without the production
 * key checks. rotate-secret still works when the configuration is invalid. */
static int cmd_ops(const char *command)
{
    im_config_t config;
    char err[512];
    int loaded = im_config_load(&config, ".env", err, sizeof(err));
    if (loaded != IM_OK) {
        fprintf(stderr, "inframon: configuration error: %s\n", err);
    }
    int rc;
    if (strcmp(command, "rotate-secret") == 0) {
        rc = im_cli_rotate_secret(loaded == IM_OK ? &config : NULL, stdout);
    } else {
        rc = loaded == IM_OK ? im_cli_healthcheck(&config) : 1;
    }
    im_config_release(&config);
    return rc;
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    /* "+" stops at the first command so that subcommands parse their own options. */
    while ((opt = getopt_long(argc, argv, "+hV", options, NULL)) != -1) {
        switch (opt) {
        case 'h':
            print_help(stdout);
            return 0;
        case 'V':
            printf("inframon %s\n", IM_VERSION);
            return 0;
        default:
            print_help(stderr);
            return 2;
        }
    }
    const char *command = optind < argc ? argv[optind] : "serve";
    int rest = argc - optind - 1;
    char **args = argv + optind + 1;
    /* Settings come from the environment only, so a stray "--port 9000" must not pass silently. */
    bool takes_args = strcmp(command, "backup") == 0 || strcmp(command, "user") == 0;
    if (rest > 0 && !takes_args) {
        fprintf(stderr,
                "inframon: \"%s\" takes no arguments, got \"%s\"; settings come from the "
                "environment (for example PORT=9000 inframon serve), see inframon --help\n",
                command, args[0]);
        return 2;
    }
    if (strcmp(command, "serve") == 0) {
        return serve();
    }
    if (strcmp(command, "migrate") == 0) {
        return cmd_migrate();
    }
    if (strcmp(command, "backup") == 0) {
        if (rest != 1) {
            fprintf(stderr, "inframon: usage: inframon backup FILE\n");
            return 2;
        }
        return cmd_backup(args[0]);
    }
    if (strcmp(command, "config") == 0) {
        return cmd_config();
    }
    if (strcmp(command, "rotate-secret") == 0 || strcmp(command, "healthcheck") == 0) {
        return cmd_ops(command);
    }
    if (strcmp(command, "user") == 0) {
        if (rest == 0) {
            fprintf(stderr, "inframon: usage: inframon user "
                            "create|list|passwd|disable|enable|reset-totp ...\n");
            return 2;
        }
        im_config_t config;
        load_config(&config, false);
        im_store_t *store = open_store(&config, true);
        int rc = im_cli_user(store, rest, args);
        im_store_close(store);
        im_config_release(&config);
        return rc;
    }
    fprintf(stderr, "inframon: unknown command \"%s\"; see inframon --help\n", command);
    return 2;
}
