/* Commands and terminals inside containers: POST /containers/{id}/exec runs a command to
 * completion; POST /containers/{id}/shell creates a TTY exec and a single-use ticket, and
 * the WebSocket /containers/{id}/shell/{exec_id}?ticket= attaches a terminal to it. */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "app.h"
#include "core/config.h"
#include "core/log.h"
#include "core/util.h"
#include "engine/containers.h"
#include "engine/demux.h"
#include "engine/engine.h"
#include "engine/stream.h"
#include "http/websocket.h"
#include "store/store.h"

#define LOG_MODULE            "exec"
#define ERROR_SIZE            1024
#define EXEC_DEFAULT_TIMEOUT  30 /* seconds */
#define EXEC_MAX_TIMEOUT      300
#define EXEC_OUTPUT_CAP       ((size_t)1024 * 1024)
#define CMD_MAX_ARGS          256
#define CMD_MAX_ARG_LEN       4096
#define ENV_MAX               256
#define TICKET_BYTES          32
#define TICKET_TEXT_SIZE      64
#define TICKET_TTL_MS         30000
#define TICKET_SLOTS          256
#define TERMINAL_MAX_SIZE     1000 /* rows and columns */
/* Time in ms that an engine call made on the WebSocket thread (a terminal's resize, the
 * check at its end) may take, since every terminal session waits for it meanwhile. */
#define TERMINAL_ENGINE_TIMEOUT 2000
/* Time in ms that the engine gets to take the Ctrl-C and Ctrl-D sent when a session ends. */
#define TERMINAL_HANGUP_TIMEOUT 200
/* Input waiting for the engine beyond this ends the session. Reading the client pauses as
 * soon as the engine pushes back, so only the frames already read when that happens add up. */
#define TERMINAL_INPUT_BACKLOG_MAX (1024 * 1024)
#define TERMINAL_READ_CHUNK   (32 * 1024)

/* ---- tickets ----------------------------------------------------------------------------- */

typedef struct {
    bool used;
    char token_hash[65];
    int64_t expires_ms;
    int64_t user_id;
    char username[64];
    char exec_id[IM_CONTAINER_ID_SIZE];
    char container_id[IM_CONTAINER_ID_SIZE];
} ticket_t;

struct im_terminal_tickets {
    pthread_mutex_t lock;
    ticket_t slots[TICKET_SLOTS];
};

im_terminal_tickets_t *im_api_terminal_tickets_new(void)
{
    im_terminal_tickets_t *tickets = im_calloc(1, sizeof(*tickets));
    pthread_mutex_init(&tickets->lock, NULL);
    return tickets;
}

void im_api_terminal_tickets_free(im_terminal_tickets_t *tickets)
{
    if (!tickets) {
        return;
    }
    pthread_mutex_destroy(&tickets->lock);
    free(tickets);
}

/* Stores a new ticket; false when every slot contains a live one. */
static bool ticket_issue(im_terminal_tickets_t *tickets, const im_principal_t *who,
                         const char *exec_id, const char *container_id, char out[TICKET_TEXT_SIZE])
{
    int64_t now = im_monotonic_ms();
    bool stored = false;

    im_random_token(out, TICKET_TEXT_SIZE, TICKET_BYTES);
    pthread_mutex_lock(&tickets->lock);
    for (size_t i = 0; i < TICKET_SLOTS && !stored; i++) {
        ticket_t *t = &tickets->slots[i];
        if (t->used && t->expires_ms > now) {
            continue;
        }
        memset(t, 0, sizeof(*t));
        t->used = true;
        im_sha256_hex(out, strlen(out), t->token_hash);
        t->expires_ms = now + TICKET_TTL_MS;
        t->user_id = who->user_id;
        im_strlcpy(t->username, who->username, sizeof(t->username));
        im_strlcpy(t->exec_id, exec_id, sizeof(t->exec_id));
        im_strlcpy(t->container_id, container_id, sizeof(t->container_id));
        stored = true;
    }
    pthread_mutex_unlock(&tickets->lock);
    return stored;
}

/* Spends the ticket if it is live and bound to this exec and container. Only the hash of a
 * ticket is kept, and it is compared in constant time. */
static bool ticket_consume(im_terminal_tickets_t *tickets, const char *token, const char *exec_id,
                           const char *container_id, ticket_t *out)
{
    char hash[65];
    int64_t now = im_monotonic_ms();
    bool found = false;

    im_sha256_hex(token, strlen(token), hash);
    pthread_mutex_lock(&tickets->lock);
    for (size_t i = 0; i < TICKET_SLOTS; i++) {
        ticket_t *t = &tickets->slots[i];
        if (!t->used || !im_const_time_eq(t->token_hash, hash, 64)) {
            continue;
        }
        // A match is spent whatever happens next, so a ticket never works twice.
        t->used = false;
        found = t->expires_ms > now && strcmp(t->exec_id, exec_id) == 0 &&
                strcmp(t->container_id, container_id) == 0;
        *out = *t;
        memset(t, 0, sizeof(*t));
        break;
    }
    pthread_mutex_unlock(&tickets->lock);
    return found;
}

/* ---- shared helpers ---------------------------------------------------------------------- */

static bool is_hex_id(const char *text)
{
    size_t len = text ? strlen(text) : 0;

    if (len != 64) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        if (!isxdigit((unsigned char)text[i]) || isupper((unsigned char)text[i])) {
            return false;
        }
    }
    return true;
}

/* Resolves {id} to a running container; false after sending the error (and auditing it). */
static bool resolve_running(im_request_t *req, const char *action, char id[IM_CONTAINER_ID_SIZE],
                            char name[IM_CONTAINER_NAME_SIZE])
{
    char err[ERROR_SIZE] = "";
    json_t *inspect = NULL;
    const char *ref = im_req_param(req, "id");
    const char *bare = (ref && ref[0] == '/') ? ref + 1 : ref;

    if (!im_container_ref_is_valid(bare)) {
        im_resp_invalid(req, "path", "id",
                        "must be a container name, full id or id prefix of at least %d hex digits",
                        IM_CONTAINER_PREFIX_MIN);
        return false;
    }
    int rc = im_container_inspect(im_req_app(req)->engine, ref, &inspect, err, sizeof(err));
    if (rc) {
        im_api_audit(req, action, "container", ref, false, err);
        im_resp_from_rc(req, rc, err);
        return false;
    }
    const char *full = json_string_value(json_object_get(inspect, "Id"));
    const char *raw_name = json_string_value(json_object_get(inspect, "Name"));
    bool running = json_is_true(json_object_get(json_object_get(inspect, "State"), "Running")) &&
                   !json_is_true(json_object_get(json_object_get(inspect, "State"), "Paused"));
    im_strlcpy(id, full ? full : "", IM_CONTAINER_ID_SIZE);
    im_strlcpy(name, raw_name && raw_name[0] == '/' ? raw_name + 1 : (raw_name ? raw_name : ""),
               IM_CONTAINER_NAME_SIZE);
    json_decref(inspect);
    if (!running) {
        snprintf(err, sizeof(err), "container %s is not running (or is paused)", name);
        im_api_audit(req, action, "container", id, false, err);
        im_resp_error(req, 409, "%s", err);
        return false;
    }
    return true;
}

/* Creates an exec instance and copies its id out. */
static int create_exec(struct im_engine *engine, const char *container_id, json_t *config,
                       char exec_id[IM_CONTAINER_ID_SIZE], char *err, size_t errlen)
{
    im_engine_reply_t reply;
    char *path = im_asprintf("/containers/%s/exec", container_id);
    char *body = json_dumps(config, JSON_COMPACT);

    im_engine_reply_init(&reply);
    int rc = im_engine_request(engine, "POST", path, body, &reply, err, errlen);
    if (rc == IM_OK) {
        rc = im_engine_reply_rc(&reply, err, errlen);
    }
    if (rc == IM_OK) {
        json_t *created = im_engine_reply_json(&reply);
        const char *id = json_string_value(json_object_get(created, "Id"));
        if (!is_hex_id(id)) {
            snprintf(err, errlen, "the engine's reply to POST %s has no exec Id", path);
            rc = IM_EUPSTREAM;
        } else {
            im_strlcpy(exec_id, id, IM_CONTAINER_ID_SIZE);
        }
        json_decref(created);
    }
    im_engine_reply_release(&reply);
    free(path);
    free(body);
    return rc;
}

/* Reads GET /exec/{id}/json. */
static int inspect_exec(struct im_engine *engine, const char *exec_id, long timeout_ms,
                        json_t **out, char *err, size_t errlen)
{
    im_engine_reply_t reply;
    char *path = im_asprintf("/exec/%s/json", exec_id);

    *out = NULL;
    im_engine_reply_init(&reply);
    int rc = im_engine_request_timeout(engine, "GET", path, NULL, timeout_ms, &reply, err, errlen);
    if (rc == IM_OK) {
        rc = im_engine_reply_rc(&reply, err, errlen);
    }
    if (rc == IM_OK) {
        *out = im_engine_reply_json(&reply);
        if (!*out) {
            snprintf(err, errlen, "the engine's reply to GET %s is not valid JSON", path);
            rc = IM_EUPSTREAM;
        }
    }
    im_engine_reply_release(&reply);
    free(path);
    return rc;
}

static int resize_exec(struct im_engine *engine, const char *exec_id, int rows, int cols,
                       long timeout_ms, char *err, size_t errlen)
{
    im_engine_reply_t reply;
    char *path = im_asprintf("/exec/%s/resize?h=%d&w=%d", exec_id, rows, cols);

    im_engine_reply_init(&reply);
    int rc = im_engine_request_timeout(engine, "POST", path, NULL, timeout_ms, &reply, err,
                                       errlen);
    if (rc == IM_OK) {
        rc = im_engine_reply_rc(&reply, err, errlen);
    }
    im_engine_reply_release(&reply);
    free(path);
    return rc;
}

/* ---- POST /containers/{id}/exec ---------------------------------------------------------- */

/* Builds the engine's exec config from the request body; false after sending a 422. */
static bool read_exec_body(im_request_t *req, json_t *body, json_t **config, int64_t *timeout)
{
    json_t *cmd = json_object_get(body, "cmd");
    json_t *working_dir = json_object_get(body, "working_dir");
    json_t *user = json_object_get(body, "user");
    json_t *environment = json_object_get(body, "environment");
    json_t *timeout_value = json_object_get(body, "timeout");
    json_t *argv = json_array();
    json_t *env = json_array();
    size_t index = 0;
    json_t *item = NULL;

    *config = NULL;
    if (json_is_string(cmd) && json_string_length(cmd) > 0) {
        // A single string runs through the container's shell, as in a terminal.
        json_array_append_new(argv, json_string("/bin/sh"));
        json_array_append_new(argv, json_string("-c"));
        json_array_append(argv, cmd);
    } else if (json_is_array(cmd) && json_array_size(cmd) > 0 &&
               json_array_size(cmd) <= CMD_MAX_ARGS) {
        json_array_foreach(cmd, index, item)
        {
            if (!json_is_string(item) || json_string_length(item) > CMD_MAX_ARG_LEN) {
                im_resp_invalid(req, "body", "cmd",
                                "every argument must be a string of at most %d bytes",
                                CMD_MAX_ARG_LEN);
                goto fail;
            }
            json_array_append(argv, item);
        }
    } else {
        im_resp_invalid(req, "body", "cmd",
                        "is required: a non-empty array of at most %d strings, or one string "
                        "run with /bin/sh -c",
                        CMD_MAX_ARGS);
        goto fail;
    }
    if (working_dir && !json_is_null(working_dir) &&
        (!json_is_string(working_dir) || json_string_value(working_dir)[0] != '/' ||
         json_string_length(working_dir) > CMD_MAX_ARG_LEN)) {
        im_resp_invalid(req, "body", "working_dir", "must be an absolute path");
        goto fail;
    }
    if (user && !json_is_null(user) && (!json_is_string(user) || json_string_length(user) > 256)) {
        im_resp_invalid(req, "body", "user", "must be a user name or uid[:gid] string");
        goto fail;
    }
    if (json_is_array(environment) && json_array_size(environment) <= ENV_MAX) {
        json_array_foreach(environment, index, item)
        {
            const char *text = json_string_value(item);
            if (!text || !strchr(text, '=') || text[0] == '=') {
                im_resp_invalid(req, "body", "environment", "entries must be NAME=value strings");
                goto fail;
            }
            json_array_append(env, item);
        }
    } else if (json_is_object(environment) && json_object_size(environment) <= ENV_MAX) {
        const char *key = NULL;
        json_object_foreach(environment, key, item)
        {
            if (!json_is_string(item) || !key[0] || strchr(key, '=')) {
                im_resp_invalid(req, "body", "environment",
                                "must map names (without =) to string values");
                goto fail;
            }
            json_array_append_new(env, json_sprintf("%s=%s", key, json_string_value(item)));
        }
    } else if (environment && !json_is_null(environment)) {
        im_resp_invalid(req, "body", "environment",
                        "must be a list of NAME=value strings or an object, at most %d entries",
                        ENV_MAX);
        goto fail;
    }
    *timeout = EXEC_DEFAULT_TIMEOUT;
    if (timeout_value && !json_is_null(timeout_value)) {
        if (!json_is_integer(timeout_value) || json_integer_value(timeout_value) < 1 ||
            json_integer_value(timeout_value) > EXEC_MAX_TIMEOUT) {
            im_resp_invalid(req, "body", "timeout", "must be whole seconds from 1 to %d",
                            EXEC_MAX_TIMEOUT);
            goto fail;
        }
        *timeout = json_integer_value(timeout_value);
    }
    *config = json_pack("{s:b, s:b, s:b, s:b, s:o, s:o}", "AttachStdin", 0, "AttachStdout", 1,
                        "AttachStderr", 1, "Tty", 0, "Cmd", argv, "Env", env);
    if (json_is_string(working_dir)) {
        json_object_set(*config, "WorkingDir", working_dir);
    }
    if (json_is_string(user)) {
        json_object_set(*config, "User", user);
    }
    return true;

fail:
    json_decref(argv);
    json_decref(env);
    return false;
}

typedef struct {
    im_demux_t demux;
    im_buf_t output;
    bool truncated;
} exec_output_t;

static int keep_output(void *ctx, im_stream_kind_t stream, const char *data, size_t len)
{
    exec_output_t *out = ctx;
    size_t room = EXEC_OUTPUT_CAP - out->output.len;

    // Past the cap the stream is still read, so the command is not blocked on a full pipe.
    if (len > room) {
        out->truncated = true;
        len = room;
    }
    im_buf_append(&out->output, data, len);
    return 0;
}

static int exec_response(void *ctx, long status, const char *content_type)
{
    exec_output_t *out = ctx;
    out->demux.mode = im_demux_mode_for(content_type, false);
    return 0;
}

static int exec_data(void *ctx, const char *data, size_t len)
{
    exec_output_t *out = ctx;
    return im_demux_feed(&out->demux, data, len) == IM_OK ? 0 : 1;
}

static void exec_command(im_request_t *req)
{
    char id[IM_CONTAINER_ID_SIZE];
    char name[IM_CONTAINER_NAME_SIZE];
    char exec_id[IM_CONTAINER_ID_SIZE] = "";
    char err[ERROR_SIZE] = "";
    json_t *config = NULL;
    json_t *state = NULL;
    int64_t timeout = 0;
    exec_output_t out = {0};
    im_buf_t clean;
    struct im_engine *engine = im_req_app(req)->engine;

    im_buf_init(&clean);
    im_buf_init(&out.output);
    im_demux_init_chunks(&out.demux, IM_DEMUX_AUTO, keep_output, &out);
    json_t *body = im_req_json_object(req);
    if (!body || !read_exec_body(req, body, &config, &timeout) ||
        !resolve_running(req, "container.exec", id, name)) {
        goto out;
    }
    int rc = create_exec(engine, id, config, exec_id, err, sizeof(err));
    if (rc) {
        im_api_audit(req, "container.exec", "container", id, false, err);
        im_resp_from_rc(req, rc, err);
        goto out;
    }
    // NOTE: this keeps an HTTP worker thread busy for up to the time limit.
    char *path = im_asprintf("/exec/%s/start", exec_id);
    im_engine_stream_callbacks_t cb = {
        .on_response = exec_response, .on_data = exec_data, .ctx = &out};
    rc = im_engine_stream_run(engine, "POST", path, "{\"Detach\":false,\"Tty\":false}",
                              timeout * 1000, &cb, err, sizeof(err));
    free(path);
    bool timed_out = rc == IM_EUPSTREAM && strstr(err, "timed out");
    if (rc && !timed_out) {
        im_api_audit(req, "container.exec", "container", id, false, err);
        im_resp_from_rc(req, rc, err);
        goto out;
    }
    if (!timed_out && im_demux_finish(&out.demux) == IM_EINVAL) {
        im_log_warn(LOG_MODULE, "exec %s output ended inside a frame", exec_id);
    }

    json_t *exit_code = json_null();
    if (!timed_out &&
        inspect_exec(engine, exec_id, IM_ENGINE_DEFAULT_TIMEOUT_MS, &state, err, sizeof(err)) ==
            IM_OK &&
        !json_is_true(json_object_get(state, "Running"))) {
        exit_code = json_incref(json_object_get(state, "ExitCode"));
        exit_code = exit_code ? exit_code : json_null();
    }
    im_utf8_sanitize(&clean, out.output.data ? out.output.data : "", out.output.len);
    bool success = json_is_integer(exit_code) && json_integer_value(exit_code) == 0;
    char outcome[128];
    if (timed_out) {
        snprintf(outcome, sizeof(outcome), "timed out after %lld s; the command was abandoned",
                 (long long)timeout);
    } else if (json_is_integer(exit_code)) {
        snprintf(outcome, sizeof(outcome), "exit code %lld",
                 (long long)json_integer_value(exit_code));
    } else {
        snprintf(outcome, sizeof(outcome), "exit code unknown");
    }
    im_api_audit(req, "container.exec", "container", id, success, success ? NULL : outcome);
    json_t *reply =
        json_pack("{s:b, s:s%, s:o, s:b, s:b, s:s, s:s}", "success", success, "output",
                  clean.data ? clean.data : "", clean.len, "exit_code", exit_code, "truncated",
                  out.truncated, "timed_out", timed_out, "exec_id", exec_id, "message", outcome);
    im_resp_json(req, 200, reply);

out:
    json_decref(config);
    json_decref(state);
    im_demux_release(&out.demux);
    im_buf_release(&out.output);
    im_buf_release(&clean);
}

/* ---- POST /containers/{id}/shell --------------------------------------------------------- */

static const char *const allowed_shells[] = {
    "/bin/sh",   "/bin/bash",     "/bin/ash",     "/bin/zsh",
    "/bin/dash", "/usr/bin/bash", "/usr/bin/zsh", "/usr/bin/fish",
};

static bool shell_allowed(const char *shell)
{
    for (size_t i = 0; i < IM_ARRAY_LEN(allowed_shells); i++) {
        if (strcmp(shell, allowed_shells[i]) == 0) {
            return true;
        }
    }
    return false;
}

static void create_shell(im_request_t *req)
{
    char id[IM_CONTAINER_ID_SIZE];
    char name[IM_CONTAINER_NAME_SIZE];
    char exec_id[IM_CONTAINER_ID_SIZE] = "";
    char ticket[TICKET_TEXT_SIZE];
    char err[ERROR_SIZE] = "";
    const char *shell = im_req_query(req, "shell");
    size_t body_len = 0;

    im_req_body(req, &body_len);
    if (!shell && body_len > 0) {
        json_t *body = im_req_json_object(req);
        if (!body) {
            return;
        }
        shell = json_string_value(json_object_get(body, "shell"));
    }
    shell = shell ? shell : "/bin/sh";
    if (!shell_allowed(shell)) {
        im_resp_invalid(req, "body", "shell",
                        "must be one of /bin/sh, /bin/bash, /bin/ash, /bin/zsh, /bin/dash, "
                        "/usr/bin/bash, /usr/bin/zsh, /usr/bin/fish");
        return;
    }
    if (!resolve_running(req, "container.shell", id, name)) {
        return;
    }
    json_t *config =
        json_pack("{s:b, s:b, s:b, s:b, s:[s], s:[s]}", "AttachStdin", 1, "AttachStdout", 1,
                  "AttachStderr", 1, "Tty", 1, "Cmd", shell, "Env", "TERM=xterm-256color");
    int rc = create_exec(im_req_app(req)->engine, id, config, exec_id, err, sizeof(err));
    json_decref(config);
    if (rc) {
        im_api_audit(req, "container.shell", "container", id, false, err);
        im_resp_from_rc(req, rc, err);
        return;
    }
    if (!ticket_issue(im_req_app(req)->terminal_tickets, im_req_principal(req), exec_id, id,
                      ticket)) {
        im_resp_error(req, 503, "too many terminal tickets pending (%d); retry in %d s",
                      TICKET_SLOTS, TICKET_TTL_MS / 1000);
        return;
    }
    im_api_audit(req, "container.shell", "container", id, true, NULL);
    im_resp_json(req, 200,
                 json_pack("{s:b, s:s, s:s, s:i, s:s}", "success", 1, "exec_id", exec_id, "ticket",
                           ticket, "expires_in", TICKET_TTL_MS / 1000, "container_id", id));
}

/* ---- the terminal WebSocket -------------------------------------------------------------- */

typedef struct {
    im_app_t *app;
    im_engine_hijack_t *hijack;
    char exec_id[IM_CONTAINER_ID_SIZE];
    char container_id[IM_CONTAINER_ID_SIZE];
    int64_t user_id;
    char username[64];
    char client_ip[64];
    char user_agent[256];
    int64_t started_ms;
    int rows;
    int cols;
    uint64_t bytes_in;
    uint64_t bytes_out;
    bool shell_exited;
    /* Keystrokes from input_sent on that the engine has not taken yet. They are sent
     * without blocking, because one WebSocket thread serves every session. */
    im_buf_t input;
    size_t input_sent;
    bool input_closed;
} terminal_t;

static void terminal_resize(terminal_t *t, int rows, int cols)
{
    char err[ERROR_SIZE] = "";

    t->rows = rows;
    t->cols = cols;
    // NOTE: a resize blocks the WebSocket thread for up to TERMINAL_ENGINE_TIMEOUT.
    if (resize_exec(t->app->engine, t->exec_id, rows, cols, TERMINAL_ENGINE_TIMEOUT, err,
                    sizeof(err)) != IM_OK) {
        im_log_warn(LOG_MODULE, "resizing the terminal of exec %.12s to %dx%d failed: %s",
                    t->exec_id, cols, rows, err);
    }
}

static void terminal_open(im_ws_session_t *ws, void *ctx)
{
    terminal_t *t = ctx;

    if (t->rows && t->cols) {
        terminal_resize(t, t->rows, t->cols);
    }
}

/* Starts closing the session and drops input still waiting for the engine. Reading the
 * client resumes, so that its reply to the close arrives. */
static void terminal_end(im_ws_session_t *ws, terminal_t *t, uint16_t code, const char *reason)
{
    t->input_closed = true;
    im_buf_reset(&t->input);
    t->input_sent = 0;
    im_ws_pause_client(ws, false);
    im_ws_close(ws, code, reason);
}

/* Sends the waiting input that the engine takes without blocking. While some is left, the
 * client is paused and the hub calls terminal_input_ready when the engine can take more. */
static void terminal_flush_input(im_ws_session_t *ws, terminal_t *t)
{
    while (t->input_sent < t->input.len) {
        long n = im_engine_hijack_send_some(t->hijack, t->input.data + t->input_sent,
                                            t->input.len - t->input_sent);
        if (n > 0) {
            t->input_sent += (size_t)n;
        } else if (n < 0 && errno == EAGAIN) {
            im_ws_pause_client(ws, true);
            return;
        } else {
            im_log_warn(LOG_MODULE, "sending terminal input to exec %.12s failed: %s",
                        t->exec_id, n < 0 ? strerror(errno) : "connection closed");
            terminal_end(ws, t, 1011, "the container stopped accepting input");
            return;
        }
    }
    im_buf_reset(&t->input);
    t->input_sent = 0;
    im_ws_pause_client(ws, false);
}

static void terminal_input(im_ws_session_t *ws, terminal_t *t, const void *data, size_t len)
{
    t->bytes_in += len;
    if (t->input_closed) {
        return;
    }
    if (t->input.len - t->input_sent + len > TERMINAL_INPUT_BACKLOG_MAX) {
        terminal_end(ws, t, 1008, "too much input is waiting for the container");
        return;
    }
    im_buf_append(&t->input, data, len);
    terminal_flush_input(ws, t);
}

static void terminal_input_ready(im_ws_session_t *ws, void *ctx)
{
    terminal_flush_input(ws, ctx);
}

/* Handles a text frame: {"type":"resize","cols":N,"rows":N}, {"type":"input","data":"..."},
 * and any other text as keystrokes. */
static void terminal_text(im_ws_session_t *ws, terminal_t *t, const uint8_t *data, size_t len)
{
    json_t *msg = json_loadb((const char *)data, len, JSON_REJECT_DUPLICATES, NULL);
    const char *type = json_string_value(json_object_get(msg, "type"));

    if (type && strcmp(type, "resize") == 0) {
        json_t *cols = json_object_get(msg, "cols");
        json_t *rows = json_object_get(msg, "rows");
        if (json_is_integer(cols) && json_is_integer(rows) && json_integer_value(cols) > 0 &&
            json_integer_value(rows) > 0 && json_integer_value(cols) <= TERMINAL_MAX_SIZE &&
            json_integer_value(rows) <= TERMINAL_MAX_SIZE) {
            terminal_resize(t, (int)json_integer_value(rows), (int)json_integer_value(cols));
        }
    } else if (type && strcmp(type, "input") == 0 && json_is_string(json_object_get(msg, "data"))) {
        json_t *input = json_object_get(msg, "data");
        terminal_input(ws, t, json_string_value(input), json_string_length(input));
    } else if (!type) {
        terminal_input(ws, t, data, len);
    }
    json_decref(msg);
}

static void terminal_message(im_ws_session_t *ws, void *ctx, bool binary, const uint8_t *data,
                             size_t len)
{
    terminal_t *t = ctx;

    if (binary) {
        terminal_input(ws, t, data, len);
    } else {
        terminal_text(ws, t, data, len);
    }
}

static void terminal_output(im_ws_session_t *ws, void *ctx)
{
    terminal_t *t = ctx;
    char buf[TERMINAL_READ_CHUNK];

    for (int i = 0; i < 8; i++) {
        long n = im_engine_hijack_recv(t->hijack, buf, sizeof(buf));
        if (n > 0) {
            t->bytes_out += (uint64_t)n;
            if (im_ws_send(ws, true, buf, (size_t)n) != IM_OK) {
                return;
            }
            continue;
        }
        if (n < 0 && errno == EAGAIN) {
            return;
        }
        t->shell_exited = true;
        terminal_end(ws, t, 1000, "the shell exited");
        return;
    }
}

static void terminal_close(im_ws_session_t *ws, void *ctx)
{
    terminal_t *t = ctx;
    json_t *state = NULL;
    char err[ERROR_SIZE] = "";

    // After input that the engine did not take, a send of other bytes could break the TLS
    // record that GnuTLS still holds, and the engine is not taking more anyway.
    if (!t->shell_exited && !t->input_closed && t->input_sent == t->input.len) {
        // dockerd 20.10 keeps a TTY shell running when its attach stream closes, so Ctrl-C
        // and Ctrl-D first end an idle shell at its prompt. A busy one may keep running.
        static const char hangup[] = "\x03\x04";
        (void)im_engine_hijack_send(t->hijack, hangup, sizeof(hangup) - 1,
                                    TERMINAL_HANGUP_TIMEOUT);
    }
    im_engine_hijack_close(t->hijack);
    im_buf_release(&t->input);
    bool running = inspect_exec(t->app->engine, t->exec_id, TERMINAL_ENGINE_TIMEOUT, &state, err,
                                sizeof(err)) == IM_OK &&
                   json_is_true(json_object_get(state, "Running"));
    json_decref(state);
    double seconds = (double)(im_monotonic_ms() - t->started_ms) / 1000.0;
    char *details =
        im_asprintf("{\"exec_id\":\"%s\",\"duration_seconds\":%.1f,\"bytes_in\":%llu,"
                    "\"bytes_out\":%llu,\"shell_exited\":%s}",
                    t->exec_id, seconds, (unsigned long long)t->bytes_in,
                    (unsigned long long)t->bytes_out, t->shell_exited ? "true" : "false");
    im_store_audit_event_t event = {
        .user_id = t->user_id,
        .username = t->username,
        .action = "container.shell.session",
        .target_type = "container",
        .target_id = t->container_id,
        .ip_address = t->client_ip,
        .user_agent = t->user_agent,
        .success = true,
        .details = details,
    };
    if (im_store_audit_insert(t->app->store, &event) != IM_OK) {
        im_log_error(LOG_MODULE, "cannot record the terminal session of exec %.12s", t->exec_id);
    }
    im_log_info(LOG_MODULE, "terminal session of %s on container %.12s ended after %.1f s%s",
                t->username, t->container_id, seconds,
                running ? "; the shell is still running in the container" : "");
    free(details);
    free(t);
}

static const im_ws_handler_t terminal_handler = {
    .on_open = terminal_open,
    .on_message = terminal_message,
    .on_peer_readable = terminal_output,
    .on_peer_writable = terminal_input_ready,
    .on_close = terminal_close,
};

/* Accepts a missing Origin (non-browser clients), the server's own origin, and the exact
 * entries of CORS_ORIGINS. A "*" entry is ignored here, because a WebSocket carries no
 * bearer token and a wildcard would let any site drive a logged-in user's terminal. */
static bool origin_allowed(im_request_t *req)
{
    const char *origin = im_req_header(req, "Origin");
    const char *host = im_req_header(req, "Host");
    const im_config_t *config = im_req_app(req)->config;

    if (!origin) {
        return true;
    }
    if (host) {
        const char *rest = NULL;
        if (im_str_starts_with(origin, "http://")) {
            rest = origin + 7;
        } else if (im_str_starts_with(origin, "https://")) {
            rest = origin + 8;
        }
        if (rest && strcasecmp(rest, host) == 0) {
            return true;
        }
    }
    for (int i = 0; i < config->cors_origin_count; i++) {
        if (strcmp(config->cors_origins[i], "*") != 0 &&
            strcmp(config->cors_origins[i], origin) == 0) {
            return true;
        }
    }
    return false;
}

static bool read_size(im_request_t *req, const char *name, int *out)
{
    int64_t value = 0;

    if (!im_req_query_int(req, name, 0, TERMINAL_MAX_SIZE, 0, &value)) {
        return false;
    }
    *out = (int)value;
    return true;
}

static void open_terminal(im_request_t *req)
{
    const char *exec_id = im_req_param(req, "exec_id");
    const char *token = im_req_query(req, "ticket");
    char id[IM_CONTAINER_ID_SIZE];
    char name[IM_CONTAINER_NAME_SIZE];
    char err[ERROR_SIZE] = "";
    ticket_t ticket;
    int rows = 0;
    int cols = 0;
    im_engine_hijack_t *hijack = NULL;

    if (!origin_allowed(req)) {
        im_log_warn(LOG_MODULE, "request %s: terminal WebSocket from origin %s rejected",
                    im_req_id(req), im_req_header(req, "Origin"));
        im_resp_error(req, 403,
                      "origin not allowed for the terminal: open it from this server's own "
                      "page or add the origin to CORS_ORIGINS");
        return;
    }
    if (!im_ws_check_request(req) || !read_size(req, "rows", &rows) ||
        !read_size(req, "cols", &cols)) {
        return;
    }
    if (!is_hex_id(exec_id)) {
        im_resp_invalid(req, "path", "exec_id", "must be the 64-hex-digit id from POST /shell");
        return;
    }
    if (!token || strlen(token) >= TICKET_TEXT_SIZE) {
        im_resp_error(req, 401,
                      "missing or malformed ticket: get one from POST "
                      "/api/v1/containers/{id}/shell");
        return;
    }
    if (!resolve_running(req, "container.shell.session", id, name)) {
        return;
    }
    if (!ticket_consume(im_req_app(req)->terminal_tickets, token, exec_id, id, &ticket)) {
        im_api_audit(req, "container.shell.session", "container", id, false,
                     "invalid, expired or reused ticket");
        im_resp_error(req, 401,
                      "invalid, expired or already used ticket: get a new one from "
                      "POST /api/v1/containers/{id}/shell");
        return;
    }
    char *path = im_asprintf("/exec/%s/start", exec_id);
    int rc = im_engine_hijack_open(im_req_app(req)->engine, "POST", path,
                                   "{\"Detach\":false,\"Tty\":true}", &hijack, err, sizeof(err));
    free(path);
    if (rc) {
        im_api_audit(req, "container.shell.session", "container", id, false, err);
        im_resp_from_rc(req, rc, err);
        return;
    }
    terminal_t *t = im_calloc(1, sizeof(*t));
    t->app = im_req_app(req);
    t->hijack = hijack;
    im_buf_init(&t->input);
    im_strlcpy(t->exec_id, exec_id, sizeof(t->exec_id));
    im_strlcpy(t->container_id, id, sizeof(t->container_id));
    t->user_id = ticket.user_id;
    im_strlcpy(t->username, ticket.username, sizeof(t->username));
    im_strlcpy(t->client_ip, im_req_client_ip(req), sizeof(t->client_ip));
    im_strlcpy(t->user_agent, im_req_user_agent(req), sizeof(t->user_agent));
    t->started_ms = im_monotonic_ms();
    t->rows = rows;
    t->cols = cols;
    im_log_info(LOG_MODULE, "terminal session of %s on container %s (exec %.12s) opened from %s",
                t->username, name, exec_id, t->client_ip);
    im_ws_respond(req, &terminal_handler, t, im_engine_hijack_fd(hijack));
}

/* ---- POST /containers/{id}/resize -------------------------------------------------------- */

static void resize_tty(im_request_t *req)
{
    char id[IM_CONTAINER_ID_SIZE];
    char name[IM_CONTAINER_NAME_SIZE];
    char err[ERROR_SIZE] = "";
    const char *exec_id = im_req_query(req, "exec_id");
    json_t *body = im_req_json_object(req);

    if (!body) {
        return;
    }
    json_t *height = json_object_get(body, "height");
    json_t *width = json_object_get(body, "width");
    if (!json_is_integer(height) || json_integer_value(height) < 1 ||
        json_integer_value(height) > TERMINAL_MAX_SIZE) {
        im_resp_invalid(req, "body", "height", "must be an integer from 1 to %d",
                        TERMINAL_MAX_SIZE);
        return;
    }
    if (!json_is_integer(width) || json_integer_value(width) < 1 ||
        json_integer_value(width) > TERMINAL_MAX_SIZE) {
        im_resp_invalid(req, "body", "width", "must be an integer from 1 to %d", TERMINAL_MAX_SIZE);
        return;
    }
    if (exec_id && !is_hex_id(exec_id)) {
        im_resp_invalid(req, "query", "exec_id", "must be a 64-hex-digit exec id");
        return;
    }
    if (!resolve_running(req, "container.resize", id, name)) {
        return;
    }
    int rows = (int)json_integer_value(height);
    int cols = (int)json_integer_value(width);
    int rc = IM_OK;
    if (exec_id) {
        json_t *state = NULL;
        rc = inspect_exec(im_req_app(req)->engine, exec_id, IM_ENGINE_DEFAULT_TIMEOUT_MS, &state,
                          err, sizeof(err));
        const char *owner = json_string_value(json_object_get(state, "ContainerID"));
        if (rc == IM_OK && (!owner || strcmp(owner, id) != 0)) {
            snprintf(err, sizeof(err), "exec %.12s does not belong to container %s", exec_id, name);
            rc = IM_ENOTFOUND;
        }
        json_decref(state);
        if (rc == IM_OK) {
            rc = resize_exec(im_req_app(req)->engine, exec_id, rows, cols,
                             IM_ENGINE_DEFAULT_TIMEOUT_MS, err, sizeof(err));
        }
    } else {
        im_engine_reply_t reply;
        char *path = im_asprintf("/containers/%s/resize?h=%d&w=%d", id, rows, cols);
        im_engine_reply_init(&reply);
        rc = im_engine_request(im_req_app(req)->engine, "POST", path, NULL, &reply, err,
                               sizeof(err));
        if (rc == IM_OK) {
            rc = im_engine_reply_rc(&reply, err, sizeof(err));
        }
        im_engine_reply_release(&reply);
        free(path);
    }
    if (rc) {
        im_resp_from_rc(req, rc, err);
        return;
    }
    im_resp_json(req, 200, json_pack("{s:b}", "success", 1));
}

const im_route_t im_api_exec_routes[] = {
    {"POST", "/api/v1/containers/{id}/exec", IM_ROLE_OPERATOR, exec_command,
     "Run a command and return its output and exit code"},
    {"POST", "/api/v1/containers/{id}/shell", IM_ROLE_OPERATOR, create_shell,
     "Create a TTY exec and a single-use ticket for the terminal socket"},
    /* Public here: the single-use ticket authenticates, since a browser WebSocket cannot
     * send a bearer header. */
    {"GET", "/api/v1/containers/{id}/shell/{exec_id}", IM_ROLE_PUBLIC, open_terminal,
     "Terminal WebSocket; needs the ticket from POST .../shell"},
    {"POST", "/api/v1/containers/{id}/resize", IM_ROLE_OPERATOR, resize_tty,
     "Resize a terminal (exec_id, height, width)"},
    {NULL, NULL, IM_ROLE_PUBLIC, NULL},
};
