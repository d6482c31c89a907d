/* Tests of the SQLite store against real database files in a temporary folder. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "core/util.h"
#include "store/migrations.h"
#include "store/store.h"

typedef struct {
    char dir[64];
    char db_path[128];
    im_store_t *store;
} fixture_t;

static int open_url(const char *url, im_store_t **store)
{
    char err[256] = "";
    int rc = im_store_open(url, store, err, sizeof(err));
    if (rc) {
        print_error("im_store_open(%s): %s\n", url, err);
    }
    return rc;
}

static int setup(void **state)
{
    fixture_t *fx = im_calloc(1, sizeof(*fx));
    im_strlcpy(fx->dir, "/tmp/im-store-test-XXXXXX", sizeof(fx->dir));
    if (!mkdtemp(fx->dir)) {
        free(fx);
        return -1;
    }
    /* A nested folder checks that open creates the missing ones. */
    snprintf(fx->db_path, sizeof(fx->db_path), "%s/data/inframon.db", fx->dir);
    char url[160];
    snprintf(url, sizeof(url), "sqlite:///%s", fx->db_path);

    int version = 0;
    if (open_url(url, &fx->store) != IM_OK || im_store_migrate(fx->store, &version) != IM_OK) {
        return -1;
    }
    *state = fx;
    return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static int teardown(void **state)
{
    fixture_t *fx = *state;
    im_store_close(fx->store);
    nftw(fx->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(fx);
    return 0;
}

static int make_user(im_store_t *store, const char *username, const char *email, const char *role,
                     bool is_active, im_store_user_t *out)
{
    im_store_user_t user = {.is_active = is_active};
    im_strlcpy(user.username, username, sizeof(user.username));
    im_strlcpy(user.email, email, sizeof(user.email));
    im_strlcpy(user.password_hash, "$2b$12$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234",
               sizeof(user.password_hash));
    im_strlcpy(user.role, role, sizeof(user.role));
    int rc = im_store_user_create(store, &user);
    if (out) {
        *out = user;
    }
    return rc;
}

static void make_session(im_store_t *store, const char *id, int64_t user_id, int64_t expires_at)
{
    im_store_session_t session = {.user_id = user_id, .created_at = 1000, .expires_at = expires_at};
    im_strlcpy(session.id, id, sizeof(session.id));
    im_strlcpy(session.ip_address, "127.0.0.1", sizeof(session.ip_address));
    im_strlcpy(session.user_agent, "store-test", sizeof(session.user_agent));
    assert_int_equal(im_store_session_create(store, &session), IM_OK);
}

/* Writes the SHA-256 hex of token id `name`, the form the store expects in token_hash. */
static void token_hash(const char *name, char out[65])
{
    im_sha256_hex(name, strlen(name), out);
}

static int insert_token(im_store_t *store, const char *name, const char *session_id,
                        int64_t user_id, int64_t expires_at)
{
    im_store_refresh_token_t token = {
        .user_id = user_id, .issued_at = 1000, .expires_at = expires_at};
    token_hash(name, token.token_hash);
    im_strlcpy(token.session_id, session_id, sizeof(token.session_id));
    return im_store_refresh_insert(store, &token);
}

static int64_t count_rows(const char *db_path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *stmt = NULL;
    int64_t count = -1;
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW) {
        count = sqlite3_column_int64(stmt, 0);
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return count;
}

/* Counts the files that a backup left behind under its temporary ".tmp-" names. */
static int count_temp_files(const char *dir)
{
    int count = 0;
    DIR *folder = opendir(dir);
    if (!folder) {
        return -1;
    }
    for (struct dirent *entry = readdir(folder); entry; entry = readdir(folder)) {
        if (strstr(entry->d_name, ".tmp-")) {
            count++;
        }
    }
    closedir(folder);
    return count;
}

/* ---- opening and migrations ---------------------------------------------------------------- */

static void open_creates_private_files(void **state)
{
    fixture_t *fx = *state;
    char folder[128];
    snprintf(folder, sizeof(folder), "%s/data", fx->dir);
    struct stat st;

    assert_int_equal(stat(folder, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    assert_int_equal(stat(fx->db_path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);

    char wal[160];
    snprintf(wal, sizeof(wal), "%s-wal", fx->db_path);
    assert_int_equal(stat(wal, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
}

static void open_relative_path(void **state)
{
    fixture_t *fx = *state;
    char cwd[4096];
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_int_equal(chdir(fx->dir), 0);

    im_store_t *store = NULL;
    int rc = open_url("sqlite:///./relative/x.db", &store);
    im_store_close(store);
    assert_int_equal(chdir(cwd), 0);
    assert_int_equal(rc, IM_OK);

    char path[160];
    snprintf(path, sizeof(path), "%s/relative/x.db", fx->dir);
    assert_int_equal(access(path, F_OK), 0);
}

static void open_rejects_bad_urls(void **state)
{
    static const char *const urls[] = {
        "",
        "sqlite:///",
        "sqlite://host/x.db",
        "mysql://admin:s3cret@db/x",
        "postgresql://admin:s3cret@db/inframon",
    };
    for (size_t i = 0; i < IM_ARRAY_LEN(urls); i++) {
        char err[256] = "";
        im_store_t *store = (im_store_t *)1;
        assert_int_equal(im_store_open(urls[i], &store, err, sizeof(err)), IM_EINVAL);
        assert_null(store);
        assert_true(err[0] != '\0');
        assert_null(strstr(err, "s3cret"));
    }

    char err[256] = "";
    im_store_t *store = NULL;
    assert_int_equal(im_store_open("postgresql://u@h/db", &store, err, sizeof(err)), IM_EINVAL);
    assert_non_null(strstr(err, "not built yet"));
}

static void open_file_as_folder_fails(void **state)
{
    fixture_t *fx = *state;
    char url[200];
    /* A regular file where a folder should be makes the open fail on any user, root too. */
    snprintf(url, sizeof(url), "sqlite:///%s/sub/x.db", fx->db_path);
    char err[256] = "";
    im_store_t *store = NULL;
    assert_int_equal(im_store_open(url, &store, err, sizeof(err)), IM_EUNAVAILABLE);
    assert_null(store);
    assert_non_null(strstr(err, fx->db_path));
}

static void migrate_twice_is_idempotent(void **state)
{
    fixture_t *fx = *state;
    int latest = im_migrations[im_migrations_count - 1].version;
    int version = 0;

    assert_int_equal(im_store_schema_version(fx->store, &version), IM_OK);
    assert_int_equal(version, latest);
    assert_int_equal(im_store_migrate(fx->store, &version), IM_OK);
    assert_int_equal(version, latest);
    assert_int_equal(im_store_migrate(fx->store, NULL), IM_OK);
    assert_int_equal(count_rows(fx->db_path, "SELECT count(*) FROM schema_migrations"),
                     im_migrations_count);
    assert_int_equal(count_rows(fx->db_path, "SELECT count(*) FROM schema_migrations "
                                             "WHERE version = 1 AND name = '0001_initial'"),
                     1);
}

static void migrate_rejects_newer_schema(void **state)
{
    fixture_t *fx = *state;
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(fx->db_path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "INSERT INTO schema_migrations VALUES (9999, '9999_future', 1)",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);

    int version = 0;
    assert_int_equal(im_store_migrate(fx->store, &version), IM_ECONFLICT);
    assert_int_equal(version, 9999);
}

static void ping_and_maintenance(void **state)
{
    fixture_t *fx = *state;
    assert_int_equal(im_store_ping(fx->store), IM_OK);
    for (int i = 0; i < 20; i++) {
        char name[32];
        char email[48];
        snprintf(name, sizeof(name), "user%02d", i);
        snprintf(email, sizeof(email), "user%02d@example.com", i);
        assert_int_equal(make_user(fx->store, name, email, "viewer", true, NULL), IM_OK);
    }

    assert_int_equal(im_store_maintenance(fx->store), IM_OK);
    char wal[160];
    snprintf(wal, sizeof(wal), "%s-wal", fx->db_path);
    struct stat st;
    assert_int_equal(stat(wal, &st), 0);
    assert_int_equal(st.st_size, 0);
}

/* ---- users ------------------------------------------------------------------------------ */

static void user_create_get_update_delete(void **state)
{
    fixture_t *fx = *state;
    im_store_user_t created;
    int64_t before = im_now();
    assert_int_equal(make_user(fx->store, "alice", "alice@example.com", "admin", true, &created),
                     IM_OK);
    assert_true(created.id > 0);
    assert_true(created.created_at >= before);
    assert_int_equal(created.updated_at, created.created_at);

    im_store_user_t user;
    assert_int_equal(im_store_user_get_by_id(fx->store, created.id, &user), IM_OK);
    assert_string_equal(user.username, "alice");
    assert_string_equal(user.email, "alice@example.com");
    assert_string_equal(user.password_hash, created.password_hash);
    assert_string_equal(user.role, "admin");
    assert_true(user.is_active);
    assert_int_equal(user.last_login_at, 0);

    assert_int_equal(im_store_user_get_by_name(fx->store, "ALICE", &user), IM_OK);
    assert_int_equal(user.id, created.id);
    assert_int_equal(im_store_user_get_by_name(fx->store, "bob", &user), IM_ENOTFOUND);
    assert_int_equal(im_store_user_get_by_id(fx->store, created.id + 100, &user), IM_ENOTFOUND);

    assert_int_equal(im_store_user_touch_login(fx->store, created.id, 1234567), IM_OK);
    assert_int_equal(im_store_user_touch_login(fx->store, created.id + 100, 1), IM_ENOTFOUND);
    im_strlcpy(user.email, "alice@new.example.com", sizeof(user.email));
    im_strlcpy(user.role, "viewer", sizeof(user.role));
    user.is_active = false;
    user.updated_at = 0;
    assert_int_equal(im_store_user_update(fx->store, &user), IM_OK);
    assert_true(user.updated_at >= before);

    im_store_user_t updated;
    assert_int_equal(im_store_user_get_by_id(fx->store, created.id, &updated), IM_OK);
    assert_string_equal(updated.email, "alice@new.example.com");
    assert_string_equal(updated.role, "viewer");
    assert_false(updated.is_active);
    assert_int_equal(updated.last_login_at, 1234567);

    int64_t count = -1;
    assert_int_equal(im_store_user_count(fx->store, &count), IM_OK);
    assert_int_equal(count, 1);
    assert_int_equal(im_store_user_delete(fx->store, created.id), IM_OK);
    assert_int_equal(im_store_user_delete(fx->store, created.id), IM_ENOTFOUND);
    assert_int_equal(im_store_user_count(fx->store, &count), IM_OK);
    assert_int_equal(count, 0);
    user.id = created.id;
    assert_int_equal(im_store_user_update(fx->store, &user), IM_ENOTFOUND);
}

static void user_duplicates_conflict(void **state)
{
    fixture_t *fx = *state;
    im_store_user_t other;
    assert_int_equal(make_user(fx->store, "Alice", "alice@example.com", "admin", true, NULL),
                     IM_OK);
    assert_int_equal(make_user(fx->store, "aLICE", "other@example.com", "viewer", true, NULL),
                     IM_ECONFLICT);
    assert_int_equal(make_user(fx->store, "bob", "ALICE@Example.COM", "viewer", true, NULL),
                     IM_ECONFLICT);
    assert_int_equal(make_user(fx->store, "bob", "bob@example.com", "viewer", true, &other), IM_OK);

    int64_t count = 0;
    assert_int_equal(im_store_user_count(fx->store, &count), IM_OK);
    assert_int_equal(count, 2);

    /* An update that takes another user's email conflicts too. */
    im_strlcpy(other.email, "Alice@example.com", sizeof(other.email));
    assert_int_equal(im_store_user_update(fx->store, &other), IM_ECONFLICT);
}

static void user_invalid_values_rejected(void **state)
{
    fixture_t *fx = *state;
    assert_int_equal(make_user(fx->store, "rooty", "r@example.com", "root", true, NULL), IM_EINVAL);
    assert_int_equal(make_user(fx->store, "rooty", "r@example.com", "Admin", true, NULL),
                     IM_EINVAL);
    assert_int_equal(make_user(fx->store, "ab", "ab@example.com", "viewer", true, NULL), IM_EINVAL);

    /* 51 bytes: one more than the column allows. */
    im_store_user_t user = {.is_active = true};
    memset(user.username, 'u', sizeof(user.username));
    im_strlcpy(user.email, "long@example.com", sizeof(user.email));
    im_strlcpy(user.role, "viewer", sizeof(user.role));
    assert_int_equal(im_store_user_create(fx->store, &user), IM_EINVAL);

    im_store_user_t valid;
    assert_int_equal(make_user(fx->store, "carol", "c@example.com", "operator", true, &valid),
                     IM_OK);
    im_strlcpy(valid.role, "root", sizeof(valid.role));
    assert_int_equal(im_store_user_update(fx->store, &valid), IM_EINVAL);

    int64_t count = 0;
    assert_int_equal(im_store_user_count(fx->store, &count), IM_OK);
    assert_int_equal(count, 1);
}

static void user_list_filters_and_paging(void **state)
{
    fixture_t *fx = *state;
    static const char *const roles[] = {"admin", "operator", "viewer"};
    for (int i = 0; i < 25; i++) {
        char name[32];
        char email[48];
        snprintf(name, sizeof(name), "user%02d", i);
        snprintf(email, sizeof(email), "user%02d@example.com", i);
        /* Roles cycle admin, operator, viewer. Every fifth user (i = 0, 5, ...) is inactive. */
        assert_int_equal(make_user(fx->store, name, email, roles[i % 3], i % 5 != 0, NULL), IM_OK);
    }

    im_store_user_page_t page;
    im_store_user_filter_t filter = {.offset = 0, .limit = 10};
    assert_int_equal(im_store_user_list(fx->store, &filter, &page), IM_OK);
    assert_int_equal(page.total, 25);
    assert_int_equal(page.count, 10);
    assert_string_equal(page.users[0].username, "user00");
    assert_string_equal(page.users[9].username, "user09");
    for (size_t i = 1; i < page.count; i++) {
        assert_true(page.users[i].id > page.users[i - 1].id);
    }
    im_store_user_page_release(&page);
    assert_null(page.users);

    filter.offset = 20;
    assert_int_equal(im_store_user_list(fx->store, &filter, &page), IM_OK);
    assert_int_equal(page.total, 25);
    assert_int_equal(page.count, 5);
    assert_string_equal(page.users[4].username, "user24");
    im_store_user_page_release(&page);

    filter.offset = 30;
    assert_int_equal(im_store_user_list(fx->store, &filter, &page), IM_OK);
    assert_int_equal(page.total, 25);
    assert_int_equal(page.count, 0);
    im_store_user_page_release(&page);

    /* viewers are i = 2, 5, 8, 11, 14, 17, 20, 23 */
    im_store_user_filter_t viewers = {.role = "viewer", .limit = 100};
    assert_int_equal(im_store_user_list(fx->store, &viewers, &page), IM_OK);
    assert_int_equal(page.total, 8);
    assert_int_equal(page.count, 8);
    for (size_t i = 0; i < page.count; i++) {
        assert_string_equal(page.users[i].role, "viewer");
    }
    im_store_user_page_release(&page);

    im_store_user_filter_t inactive = {.is_active = IM_STORE_BOOL_FALSE, .limit = 100};
    assert_int_equal(im_store_user_list(fx->store, &inactive, &page), IM_OK);
    assert_int_equal(page.total, 5);
    im_store_user_page_release(&page);

    /* active viewers: 2, 8, 11, 14, 17, 23 */
    im_store_user_filter_t active_viewers = {
        .is_active = IM_STORE_BOOL_TRUE, .role = "viewer", .offset = 4, .limit = 100};
    assert_int_equal(im_store_user_list(fx->store, &active_viewers, &page), IM_OK);
    assert_int_equal(page.total, 6);
    assert_int_equal(page.count, 2);
    assert_string_equal(page.users[0].username, "user17");
    assert_string_equal(page.users[1].username, "user23");
    im_store_user_page_release(&page);

    im_store_user_filter_t bad[] = {
        {.limit = 0}, {.limit = IM_STORE_PAGE_LIMIT_MAX + 1}, {.offset = -1, .limit = 10}};
    for (size_t i = 0; i < IM_ARRAY_LEN(bad); i++) {
        assert_int_equal(im_store_user_list(fx->store, &bad[i], &page), IM_EINVAL);
        assert_null(page.users);
    }
}

static void sql_metacharacters_stored_verbatim(void **state)
{
    fixture_t *fx = *state;
    const char *name = "a'; DROP TABLE users;--";
    const char *email = "\"x'\"@example.com; DELETE FROM users";
    im_store_user_t created;
    assert_int_equal(make_user(fx->store, name, email, "viewer", true, &created), IM_OK);

    im_store_user_t user;
    assert_int_equal(im_store_user_get_by_name(fx->store, name, &user), IM_OK);
    assert_string_equal(user.username, name);
    assert_string_equal(user.email, email);
    assert_int_equal(user.id, created.id);
    assert_int_equal(im_store_user_get_by_name(fx->store, "a' OR '1'='1", &user), IM_ENOTFOUND);

    int64_t count = 0;
    assert_int_equal(im_store_user_count(fx->store, &count), IM_OK);
    assert_int_equal(count, 1);

    im_store_audit_event_t event = {.action = "x' OR 1=1 --",
                                    .target_id = name,
                                    .details = "{\"q\":\"'; DROP TABLE audit_log;--\"}"};
    assert_int_equal(im_store_audit_insert(fx->store, &event), IM_OK);
    im_store_audit_filter_t filter = {.target_id = name, .limit = 10};
    im_store_audit_page_t page;
    assert_int_equal(im_store_audit_list(fx->store, &filter, &page), IM_OK);
    assert_int_equal(page.count, 1);
    assert_string_equal(page.entries[0].action, event.action);
    assert_string_equal(page.entries[0].details, event.details);
    im_store_audit_page_release(&page);
}

/* ---- sessions and refresh tokens --------------------------------------------------------- */

static void session_create_and_get(void **state)
{
    fixture_t *fx = *state;
    im_store_user_t user;
    assert_int_equal(make_user(fx->store, "dave", "d@example.com", "viewer", true, &user), IM_OK);

    im_store_session_t session = {.user_id = user.id, .expires_at = im_now() + 3600};
    im_strlcpy(session.id, "session-1", sizeof(session.id));
    im_strlcpy(session.ip_address, "2001:db8::1", sizeof(session.ip_address));
    /* 100 three-byte characters: the store keeps 85 of them (255 bytes). */
    char agent[512] = "";
    for (int i = 0; i < 100; i++) {
        strcat(agent, "\xe2\x82\xac");
    }
    im_strlcpy(session.user_agent, agent, sizeof(session.user_agent));
    assert_int_equal(im_store_session_create(fx->store, &session), IM_OK);
    assert_int_equal(im_store_session_create(fx->store, &session), IM_ECONFLICT);

    im_store_session_t read;
    assert_int_equal(im_store_session_get(fx->store, "session-1", &read), IM_OK);
    assert_int_equal(read.user_id, user.id);
    assert_true(read.created_at > 0);
    assert_int_equal(read.expires_at, session.expires_at);
    assert_int_equal(read.revoked_at, 0);
    assert_string_equal(read.ip_address, "2001:db8::1");
    assert_int_equal(strlen(read.user_agent), 255);
    assert_memory_equal(read.user_agent, agent, 255);
    assert_int_equal(im_store_session_get(fx->store, "session-2", &read), IM_ENOTFOUND);

    im_strlcpy(session.id, "session-2", sizeof(session.id));
    session.user_id = user.id + 100;
    assert_int_equal(im_store_session_create(fx->store, &session), IM_ENOTFOUND);
    session.id[0] = '\0';
    assert_int_equal(im_store_session_create(fx->store, &session), IM_EINVAL);
}

static void refresh_spend_succeeds_once(void **state)
{
    fixture_t *fx = *state;
    im_store_user_t user;
    assert_int_equal(make_user(fx->store, "erin", "e@example.com", "viewer", true, &user), IM_OK);
    int64_t now = im_now();
    make_session(fx->store, "family", user.id, now + 3600);
    assert_int_equal(insert_token(fx->store, "token-1", "family", user.id, now + 3600), IM_OK);
    assert_int_equal(insert_token(fx->store, "token-1", "family", user.id, now + 3600),
                     IM_ECONFLICT);

    char first[65];
    char second[65];
    token_hash("token-1", first);
    token_hash("token-2", second);
    assert_int_equal(im_store_refresh_spend(fx->store, first, second, now), IM_OK);
    assert_int_equal(im_store_refresh_spend(fx->store, first, second, now + 1), IM_ECONFLICT);

    im_store_refresh_token_t token;
    assert_int_equal(im_store_refresh_get(fx->store, first, &token), IM_OK);
    assert_string_equal(token.token_hash, first);
    assert_string_equal(token.session_id, "family");
    assert_int_equal(token.user_id, user.id);
    assert_int_equal(token.issued_at, 1000);
    assert_int_equal(token.spent_at, now);
    assert_string_equal(token.replaced_by, second);
    assert_int_equal(token.session_revoked_at, 0);
    assert_int_equal(token.session_expires_at, now + 3600);

    assert_int_equal(im_store_refresh_spend(fx->store, second, NULL, now), IM_ENOTFOUND);
    assert_int_equal(im_store_refresh_get(fx->store, second, &token), IM_ENOTFOUND);
}

static void refresh_rejects_bad_input(void **state)
{
    fixture_t *fx = *state;
    im_store_user_t owner;
    im_store_user_t other;
    assert_int_equal(make_user(fx->store, "frank", "f@example.com", "viewer", true, &owner), IM_OK);
    assert_int_equal(make_user(fx->store, "grace", "g@example.com", "viewer", true, &other), IM_OK);
    int64_t now = im_now();
    make_session(fx->store, "franks", owner.id, now + 3600);

    /* A token may only join a session of its own user. */
    assert_int_equal(insert_token(fx->store, "t", "franks", other.id, now + 3600), IM_ENOTFOUND);
    assert_int_equal(insert_token(fx->store, "t", "missing", owner.id, now + 3600), IM_ENOTFOUND);

    /* Anything but a lowercase SHA-256 hex digest is rejected, so a raw token cannot be
     * stored by mistake. */
    im_store_refresh_token_t raw = {.user_id = owner.id, .expires_at = now + 3600};
    im_strlcpy(raw.token_hash, "eyJhbGciOiJIUzI1NiJ9.raw-token", sizeof(raw.token_hash));
    im_strlcpy(raw.session_id, "franks", sizeof(raw.session_id));
    assert_int_equal(im_store_refresh_insert(fx->store, &raw), IM_EINVAL);
    char upper[65];
    token_hash("t", upper);
    upper[0] = 'A';
    upper[1] = 'B';
    im_strlcpy(raw.token_hash, upper, sizeof(raw.token_hash));
    assert_int_equal(im_store_refresh_insert(fx->store, &raw), IM_EINVAL);

    char hash[65];
    token_hash("t", hash);
    im_store_refresh_token_t token;
    assert_int_equal(im_store_refresh_get(fx->store, "raw", &token), IM_EINVAL);
    assert_int_equal(im_store_refresh_spend(fx->store, hash, "not-a-hash", now), IM_EINVAL);
    assert_int_equal(im_store_refresh_spend(fx->store, hash, NULL, 0), IM_EINVAL);
}

static void refresh_expired_token_unusable(void **state)
{
    fixture_t *fx = *state;
    im_store_user_t user;
    assert_int_equal(make_user(fx->store, "heidi", "h@example.com", "viewer", true, &user), IM_OK);
    make_session(fx->store, "s", user.id, 5000);
    assert_int_equal(insert_token(fx->store, "old", "s", user.id, 2000), IM_OK);
    char hash[65];
    token_hash("old", hash);
    assert_int_equal(im_store_refresh_spend(fx->store, hash, NULL, 2000), IM_ENOTFOUND);
    assert_int_equal(im_store_refresh_spend(fx->store, hash, NULL, 1999), IM_OK);
}

static void session_revoke_blocks_tokens(void **state)
{
    fixture_t *fx = *state;
    im_store_user_t user;
    assert_int_equal(make_user(fx->store, "ivan", "i@example.com", "viewer", true, &user), IM_OK);
    int64_t now = im_now();
    make_session(fx->store, "s", user.id, now + 3600);
    assert_int_equal(insert_token(fx->store, "t", "s", user.id, now + 3600), IM_OK);

    assert_int_equal(im_store_session_revoke(fx->store, "s", now), IM_OK);
    assert_int_equal(im_store_session_revoke(fx->store, "s", now + 50), IM_OK);
    assert_int_equal(im_store_session_revoke(fx->store, "nope", now), IM_ENOTFOUND);
    assert_int_equal(im_store_session_revoke(fx->store, "s", 0), IM_EINVAL);

    im_store_session_t session;
    assert_int_equal(im_store_session_get(fx->store, "s", &session), IM_OK);
    assert_int_equal(session.revoked_at, now);

    char hash[65];
    token_hash("t", hash);
    im_store_refresh_token_t token;
    assert_int_equal(im_store_refresh_get(fx->store, hash, &token), IM_OK);
    assert_int_equal(token.session_revoked_at, now);
    assert_int_equal(token.spent_at, 0);
    assert_int_equal(im_store_refresh_spend(fx->store, hash, NULL, now + 1), IM_ENOTFOUND);
}

static void session_revoke_user_keeps_exception(void **state)
{
    fixture_t *fx = *state;
    im_store_user_t user;
    im_store_user_t other;
    assert_int_equal(make_user(fx->store, "judy", "j@example.com", "viewer", true, &user), IM_OK);
    assert_int_equal(make_user(fx->store, "karl", "k@example.com", "viewer", true, &other), IM_OK);
    int64_t now = im_now();
    make_session(fx->store, "judy-1", user.id, now + 3600);
    make_session(fx->store, "judy-2", user.id, now + 3600);
    make_session(fx->store, "judy-3", user.id, now + 3600);
    make_session(fx->store, "karl-1", other.id, now + 3600);

    assert_int_equal(im_store_session_revoke_user(fx->store, user.id, "judy-2", now), IM_OK);
    im_store_session_t session;
    assert_int_equal(im_store_session_get(fx->store, "judy-1", &session), IM_OK);
    assert_int_equal(session.revoked_at, now);
    assert_int_equal(im_store_session_get(fx->store, "judy-2", &session), IM_OK);
    assert_int_equal(session.revoked_at, 0);
    assert_int_equal(im_store_session_get(fx->store, "judy-3", &session), IM_OK);
    assert_int_equal(session.revoked_at, now);
    assert_int_equal(im_store_session_get(fx->store, "karl-1", &session), IM_OK);
    assert_int_equal(session.revoked_at, 0);

    assert_int_equal(im_store_session_revoke_user(fx->store, user.id, NULL, now + 10), IM_OK);
    assert_int_equal(im_store_session_get(fx->store, "judy-2", &session), IM_OK);
    assert_int_equal(session.revoked_at, now + 10);
    assert_int_equal(im_store_session_get(fx->store, "judy-1", &session), IM_OK);
    assert_int_equal(session.revoked_at, now);
}

static void user_delete_cascades(void **state)
{
    fixture_t *fx = *state;
    im_store_user_t user;
    assert_int_equal(make_user(fx->store, "leo", "l@example.com", "viewer", true, &user), IM_OK);
    int64_t now = im_now();
    make_session(fx->store, "leo-1", user.id, now + 3600);
    assert_int_equal(insert_token(fx->store, "leo-t", "leo-1", user.id, now + 3600), IM_OK);
    im_store_audit_event_t event = {.user_id = user.id, .username = "leo", .action = "login"};
    assert_int_equal(im_store_audit_insert(fx->store, &event), IM_OK);

    assert_int_equal(im_store_user_delete(fx->store, user.id), IM_OK);
    im_store_session_t session;
    assert_int_equal(im_store_session_get(fx->store, "leo-1", &session), IM_ENOTFOUND);
    char hash[65];
    token_hash("leo-t", hash);
    im_store_refresh_token_t token;
    assert_int_equal(im_store_refresh_get(fx->store, hash, &token), IM_ENOTFOUND);
    assert_int_equal(count_rows(fx->db_path, "SELECT count(*) FROM refresh_tokens"), 0);

    /* The audit trail outlives the user. */
    im_store_audit_filter_t filter = {.user_id = user.id, .limit = 10};
    im_store_audit_page_t page;
    assert_int_equal(im_store_audit_list(fx->store, &filter, &page), IM_OK);
    assert_int_equal(page.total, 1);
    im_store_audit_page_release(&page);

    /* AUTOINCREMENT: a new user never gets the deleted user's id. */
    im_store_user_t next;
    assert_int_equal(make_user(fx->store, "leo", "l@example.com", "viewer", true, &next), IM_OK);
    assert_true(next.id > user.id);
}

static void refresh_purge_removes_expired(void **state)
{
    fixture_t *fx = *state;
    im_store_user_t user;
    assert_int_equal(make_user(fx->store, "mallory", "m@example.com", "viewer", true, &user),
                     IM_OK);
    make_session(fx->store, "live", user.id, 10000);
    make_session(fx->store, "dead", user.id, 3000);
    assert_int_equal(insert_token(fx->store, "live-old", "live", user.id, 2000), IM_OK);
    assert_int_equal(insert_token(fx->store, "live-new", "live", user.id, 9000), IM_OK);
    assert_int_equal(insert_token(fx->store, "dead-new", "dead", user.id, 9000), IM_OK);

    int64_t deleted = -1;
    assert_int_equal(im_store_refresh_purge_expired(fx->store, 5000, &deleted), IM_OK);
    assert_int_equal(deleted, 1);

    im_store_session_t session;
    assert_int_equal(im_store_session_get(fx->store, "dead", &session), IM_ENOTFOUND);
    assert_int_equal(im_store_session_get(fx->store, "live", &session), IM_OK);
    char hash[65];
    im_store_refresh_token_t token;
    token_hash("live-new", hash);
    assert_int_equal(im_store_refresh_get(fx->store, hash, &token), IM_OK);
    token_hash("live-old", hash);
    assert_int_equal(im_store_refresh_get(fx->store, hash, &token), IM_ENOTFOUND);
    token_hash("dead-new", hash);
    assert_int_equal(im_store_refresh_get(fx->store, hash, &token), IM_ENOTFOUND);
}

/* ---- audit log --------------------------------------------------------------------------- */

static void audit_insert_and_list(void **state)
{
    fixture_t *fx = *state;
    /* Ten events at times 100..1000. User 1 acts for even i and user 2 for odd i. Events
     * with i < 4 are "login", and those with i = 3 and i = 7 failed. */
    for (int i = 0; i < 10; i++) {
        char target[16];
        snprintf(target, sizeof(target), "c%d", i % 3);
        im_store_audit_event_t event = {
            .timestamp = 100 * (i + 1),
            .user_id = i % 2 ? 2 : 1,
            .username = i % 2 ? "bob" : "alice",
            .action = i < 4 ? "login" : "container.stop",
            .target_type = "container",
            .target_id = target,
            .ip_address = "10.0.0.1",
            .user_agent = "curl/8",
            .success = i != 3 && i != 7,
            .error_message = i == 3 ? "invalid password" : NULL,
            .details = i == 5 ? "{\"signal\":\"SIGTERM\"}" : NULL,
        };
        assert_int_equal(im_store_audit_insert(fx->store, &event), IM_OK);
    }

    im_store_audit_page_t page;
    im_store_audit_filter_t all = {.limit = 4};
    assert_int_equal(im_store_audit_list(fx->store, &all, &page), IM_OK);
    assert_int_equal(page.total, 10);
    assert_int_equal(page.count, 4);
    assert_int_equal(page.entries[0].timestamp, 1000);
    assert_int_equal(page.entries[3].timestamp, 700);
    assert_int_equal(page.entries[1].user_id, 1);
    assert_string_equal(page.entries[1].username, "alice");
    assert_string_equal(page.entries[1].target_type, "container");
    assert_string_equal(page.entries[1].ip_address, "10.0.0.1");
    assert_string_equal(page.entries[1].user_agent, "curl/8");
    assert_null(page.entries[1].error_message);
    assert_null(page.entries[1].details);
    assert_false(page.entries[2].success);
    assert_true(page.entries[3].success);
    im_store_audit_page_release(&page);

    struct {
        im_store_audit_filter_t filter;
        int64_t total;
    } cases[] = {
        {{.user_id = 2, .limit = 100}, 5},
        {{.action = "login", .limit = 100}, 4},
        {{.target_id = "c0", .limit = 100}, 4},
        {{.since = 300, .until = 600, .limit = 100}, 4},
        {{.success = IM_STORE_BOOL_FALSE, .limit = 100}, 2},
        {{.success = IM_STORE_BOOL_TRUE, .limit = 100}, 8},
        {{.user_id = 2, .action = "login", .success = IM_STORE_BOOL_FALSE, .limit = 100}, 1},
        {{.action = "nothing", .limit = 100}, 0},
    };
    for (size_t i = 0; i < IM_ARRAY_LEN(cases); i++) {
        assert_int_equal(im_store_audit_list(fx->store, &cases[i].filter, &page), IM_OK);
        assert_int_equal(page.total, cases[i].total);
        assert_int_equal(page.count, (size_t)cases[i].total);
        im_store_audit_page_release(&page);
    }

    im_store_audit_filter_t failed_login = {
        .action = "login", .success = IM_STORE_BOOL_FALSE, .limit = 10};
    assert_int_equal(im_store_audit_list(fx->store, &failed_login, &page), IM_OK);
    assert_int_equal(page.count, 1);
    assert_string_equal(page.entries[0].error_message, "invalid password");
    im_store_audit_page_release(&page);

    im_store_audit_filter_t detailed = {.since = 600, .until = 600, .limit = 10};
    assert_int_equal(im_store_audit_list(fx->store, &detailed, &page), IM_OK);
    assert_int_equal(page.count, 1);
    assert_string_equal(page.entries[0].details, "{\"signal\":\"SIGTERM\"}");
    im_store_audit_page_release(&page);

    im_store_audit_filter_t second_page = {.offset = 8, .limit = 4};
    assert_int_equal(im_store_audit_list(fx->store, &second_page, &page), IM_OK);
    assert_int_equal(page.total, 10);
    assert_int_equal(page.count, 2);
    assert_int_equal(page.entries[1].timestamp, 100);
    im_store_audit_page_release(&page);
}

static void audit_null_fields_and_bad_json(void **state)
{
    fixture_t *fx = *state;
    int64_t before = im_now();
    im_store_audit_event_t empty = {0};
    assert_int_equal(im_store_audit_insert(fx->store, &empty), IM_OK);
    im_store_audit_event_t bad = {.action = "x", .details = "{not json"};
    assert_int_equal(im_store_audit_insert(fx->store, &bad), IM_EINVAL);

    im_store_audit_page_t page;
    im_store_audit_filter_t all = {.limit = 10};
    assert_int_equal(im_store_audit_list(fx->store, &all, &page), IM_OK);
    assert_int_equal(page.count, 1);
    im_store_audit_entry_t *entry = &page.entries[0];
    assert_true(entry->timestamp >= before);
    assert_int_equal(entry->user_id, 0);
    assert_null(entry->username);
    assert_null(entry->action);
    assert_null(entry->target_type);
    assert_null(entry->target_id);
    assert_null(entry->ip_address);
    assert_null(entry->user_agent);
    assert_null(entry->error_message);
    assert_null(entry->details);
    assert_false(entry->success);
    im_store_audit_page_release(&page);
}

/* ---- groups and settings ----------------------------------------------------------------- */

static void groups_create_list_delete(void **state)
{
    fixture_t *fx = *state;
    im_store_group_t web = {0};
    im_strlcpy(web.name, "Web", sizeof(web.name));
    im_strlcpy(web.description, "front ends", sizeof(web.description));
    im_strlcpy(web.color, "#3366ff", sizeof(web.color));
    assert_int_equal(im_store_group_create(fx->store, &web), IM_OK);
    assert_true(web.id > 0);
    assert_true(web.created_at > 0);

    im_store_group_t duplicate = {0};
    im_strlcpy(duplicate.name, "WEB", sizeof(duplicate.name));
    assert_int_equal(im_store_group_create(fx->store, &duplicate), IM_ECONFLICT);
    im_store_group_t db = {0};
    im_strlcpy(db.name, "Databases", sizeof(db.name));
    assert_int_equal(im_store_group_create(fx->store, &db), IM_OK);
    im_store_group_t unnamed = {0};
    assert_int_equal(im_store_group_create(fx->store, &unnamed), IM_EINVAL);

    im_store_group_t read;
    assert_int_equal(im_store_group_get(fx->store, web.id, &read), IM_OK);
    assert_string_equal(read.name, "Web");
    assert_string_equal(read.description, "front ends");
    assert_string_equal(read.color, "#3366ff");
    assert_int_equal(im_store_group_get(fx->store, web.id + 100, &read), IM_ENOTFOUND);

    im_store_group_list_t list;
    assert_int_equal(im_store_group_list(fx->store, &list), IM_OK);
    assert_int_equal(list.count, 2);
    assert_string_equal(list.groups[0].name, "Databases");
    assert_string_equal(list.groups[1].name, "Web");
    im_store_group_list_release(&list);

    assert_int_equal(im_store_group_member_add(fx->store, web.id, "nginx"), IM_OK);
    assert_int_equal(im_store_group_member_add(fx->store, web.id, "nginx"), IM_OK);
    assert_int_equal(im_store_group_member_add(fx->store, web.id, "caddy"), IM_OK);
    assert_int_equal(im_store_group_member_add(fx->store, web.id + 100, "x"), IM_ENOTFOUND);
    im_store_strings_t names;
    assert_int_equal(im_store_group_member_list(fx->store, web.id, &names), IM_OK);
    assert_int_equal(names.count, 2);
    assert_string_equal(names.items[0], "caddy");
    assert_string_equal(names.items[1], "nginx");
    im_store_strings_release(&names);

    assert_int_equal(im_store_group_member_remove(fx->store, web.id, "caddy"), IM_OK);
    assert_int_equal(im_store_group_member_remove(fx->store, web.id, "caddy"), IM_ENOTFOUND);
    assert_int_equal(im_store_group_delete(fx->store, web.id), IM_OK);
    assert_int_equal(im_store_group_delete(fx->store, web.id), IM_ENOTFOUND);
    assert_int_equal(count_rows(fx->db_path, "SELECT count(*) FROM group_members"), 0);
}

static void groups_update_replaces_members(void **state)
{
    fixture_t *fx = *state;
    im_store_group_t web = {0};
    im_store_group_t db = {0};
    im_strlcpy(web.name, "Web", sizeof(web.name));
    im_strlcpy(db.name, "Databases", sizeof(db.name));
    web.created_at = 1000;
    web.updated_at = 1000;
    assert_int_equal(im_store_group_create(fx->store, &web), IM_OK);
    assert_int_equal(im_store_group_create(fx->store, &db), IM_OK);
    assert_int_equal(im_store_group_member_add(fx->store, web.id, "old"), IM_OK);

    /* Fields only: the members stay. */
    im_strlcpy(web.color, "#000000", sizeof(web.color));
    web.updated_at = 0;
    assert_int_equal(im_store_group_update(fx->store, &web, NULL), IM_OK);
    assert_true(web.updated_at > 1000);
    im_store_group_t read;
    assert_int_equal(im_store_group_get(fx->store, web.id, &read), IM_OK);
    assert_string_equal(read.color, "#000000");
    assert_int_equal(read.created_at, 1000);
    assert_int_equal(count_rows(fx->db_path, "SELECT count(*) FROM group_members"), 1);

    /* With members: the list becomes exactly the new one. */
    char *items[] = {"nginx", "caddy"};
    im_store_strings_t members = {.items = items, .count = 2};
    assert_int_equal(im_store_group_update(fx->store, &web, &members), IM_OK);
    im_store_strings_t names;
    assert_int_equal(im_store_group_member_list(fx->store, web.id, &names), IM_OK);
    assert_int_equal(names.count, 2);
    assert_string_equal(names.items[0], "caddy");
    assert_string_equal(names.items[1], "nginx");
    im_store_strings_release(&names);

    /* A taken name or an empty member fails and changes nothing. */
    im_strlcpy(web.name, "databases", sizeof(web.name));
    assert_int_equal(im_store_group_update(fx->store, &web, NULL), IM_ECONFLICT);
    im_strlcpy(web.name, "Web", sizeof(web.name));
    char *bad_items[] = {"redis", ""};
    im_store_strings_t bad = {.items = bad_items, .count = 2};
    assert_int_equal(im_store_group_update(fx->store, &web, &bad), IM_EINVAL);
    assert_int_equal(im_store_group_member_list(fx->store, web.id, &names), IM_OK);
    assert_int_equal(names.count, 2);
    im_store_strings_release(&names);

    /* Clearing the members and updating a missing group. */
    im_store_strings_t none = {0};
    assert_int_equal(im_store_group_update(fx->store, &web, &none), IM_OK);
    assert_int_equal(count_rows(fx->db_path, "SELECT count(*) FROM group_members"), 0);
    web.id += 100;
    assert_int_equal(im_store_group_update(fx->store, &web, NULL), IM_ENOTFOUND);
}

static void settings_get_and_set(void **state)
{
    fixture_t *fx = *state;
    char *value = (char *)"stale";
    assert_int_equal(im_store_setting_get(fx->store, "theme", &value), IM_ENOTFOUND);
    assert_null(value);

    assert_int_equal(im_store_setting_set(fx->store, "theme", "dark", 0), IM_OK);
    assert_int_equal(im_store_setting_get(fx->store, "theme", &value), IM_OK);
    assert_string_equal(value, "dark");
    free(value);

    assert_int_equal(im_store_setting_set(fx->store, "theme", "{\"mode\":\"light\"}", 5), IM_OK);
    assert_int_equal(im_store_setting_get(fx->store, "theme", &value), IM_OK);
    assert_string_equal(value, "{\"mode\":\"light\"}");
    free(value);
}

/* ---- backup ------------------------------------------------------------------------------ */

static void backup_copies_database(void **state)
{
    fixture_t *fx = *state;
    assert_int_equal(make_user(fx->store, "nina", "n@example.com", "admin", true, NULL), IM_OK);
    assert_int_equal(make_user(fx->store, "oscar", "o@example.com", "viewer", false, NULL), IM_OK);

    char path[160];
    snprintf(path, sizeof(path), "%s/backup.db", fx->dir);
    assert_int_equal(im_store_backup(fx->store, path, false), IM_OK);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);

    /* Bytes 18 and 19 of the header are 1 in rollback-journal mode and 2 in WAL mode. */
    unsigned char header[20];
    FILE *file = fopen(path, "rb");
    assert_non_null(file);
    assert_int_equal(fread(header, 1, sizeof(header), file), sizeof(header));
    fclose(file);
    assert_int_equal(header[18], 1);
    assert_int_equal(header[19], 1);

    assert_int_equal(count_temp_files(fx->dir), 0);
    assert_int_equal(count_rows(path, "SELECT count(*) FROM users"), 2);
    char url[200];
    snprintf(url, sizeof(url), "sqlite:///%s", path);
    im_store_t *copy = NULL;
    assert_int_equal(open_url(url, &copy), IM_OK);
    int version = 0;
    assert_int_equal(im_store_schema_version(copy, &version), IM_OK);
    assert_int_equal(version, im_migrations[im_migrations_count - 1].version);
    im_store_user_t user;
    assert_int_equal(im_store_user_get_by_name(copy, "oscar", &user), IM_OK);
    assert_string_equal(user.email, "o@example.com");
    assert_false(user.is_active);
    im_store_close(copy);
}

static void backup_rejects_existing_target(void **state)
{
    fixture_t *fx = *state;
    char path[160];
    snprintf(path, sizeof(path), "%s/backup.db", fx->dir);
    assert_int_equal(im_store_backup(fx->store, path, false), IM_OK);
    assert_int_equal(make_user(fx->store, "peggy", "p@example.com", "viewer", true, NULL), IM_OK);

    assert_int_equal(im_store_backup(fx->store, path, false), IM_ECONFLICT);
    assert_int_equal(count_rows(path, "SELECT count(*) FROM users"), 0);
    assert_int_equal(im_store_backup(fx->store, path, true), IM_OK);
    assert_int_equal(count_rows(path, "SELECT count(*) FROM users"), 1);

    assert_int_equal(im_store_backup(fx->store, fx->db_path, true), IM_EINVAL);
    assert_int_equal(im_store_backup(fx->store, "", true), IM_EINVAL);
    char missing[200];
    snprintf(missing, sizeof(missing), "%s/no/such/folder/b.db", fx->dir);
    assert_int_equal(im_store_backup(fx->store, missing, false), IM_ERR);

    assert_int_equal(count_temp_files(fx->dir), 0);
}

/* ---- concurrency ------------------------------------------------------------------------- */

#define THREADS           4
#define THREAD_ITERATIONS 200

typedef struct {
    im_store_t *store;
    int index;
    int errors;
} worker_t;

static void *worker_main(void *arg)
{
    worker_t *worker = arg;
    for (int i = 0; i < THREAD_ITERATIONS; i++) {
        char name[32];
        char email[48];
        snprintf(name, sizeof(name), "t%d-user%03d", worker->index, i);
        snprintf(email, sizeof(email), "t%d-user%03d@example.com", worker->index, i);
        im_store_user_t created;
        if (make_user(worker->store, name, email, "viewer", true, &created) != IM_OK) {
            worker->errors++;
            continue;
        }
        im_store_user_t read;
        if (im_store_user_get_by_id(worker->store, created.id, &read) != IM_OK ||
            strcmp(read.username, name) != 0) {
            worker->errors++;
        }
        im_store_audit_event_t event = {.user_id = created.id, .action = "user.create"};
        if (im_store_audit_insert(worker->store, &event) != IM_OK) {
            worker->errors++;
        }
        int64_t count = 0;
        if (im_store_user_count(worker->store, &count) != IM_OK || count < 1) {
            worker->errors++;
        }
    }
    return NULL;
}

static void concurrent_inserts_and_reads(void **state)
{
    fixture_t *fx = *state;
    pthread_t threads[THREADS];
    worker_t workers[THREADS];
    for (int i = 0; i < THREADS; i++) {
        workers[i] = (worker_t){.store = fx->store, .index = i};
        assert_int_equal(pthread_create(&threads[i], NULL, worker_main, &workers[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_join(threads[i], NULL), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(workers[i].errors, 0);
    }

    int64_t count = 0;
    assert_int_equal(im_store_user_count(fx->store, &count), IM_OK);
    assert_int_equal(count, THREADS * THREAD_ITERATIONS);
    im_store_audit_filter_t filter = {.action = "user.create", .limit = 1};
    im_store_audit_page_t page;
    assert_int_equal(im_store_audit_list(fx->store, &filter, &page), IM_OK);
    assert_int_equal(page.total, THREADS * THREAD_ITERATIONS);
    im_store_audit_page_release(&page);
}

typedef struct {
    im_store_t *store;
    const char *token_hash;
    pthread_barrier_t *start;
    int result;
} spender_t;

static void *spender_main(void *arg)
{
    spender_t *spender = arg;
    pthread_barrier_wait(spender->start);
    spender->result = im_store_refresh_spend(spender->store, spender->token_hash, NULL, im_now());
    return NULL;
}

static void refresh_concurrent_spend_one_wins(void **state)
{
    fixture_t *fx = *state;
    im_store_user_t user;
    assert_int_equal(make_user(fx->store, "quinn", "q@example.com", "viewer", true, &user), IM_OK);
    make_session(fx->store, "race", user.id, im_now() + 3600);
    char hash[65];
    for (int round = 0; round < 20; round++) {
        char name[32];
        snprintf(name, sizeof(name), "contested-%d", round);
        token_hash(name, hash);
        assert_int_equal(insert_token(fx->store, name, "race", user.id, im_now() + 3600), IM_OK);

        pthread_barrier_t start;
        pthread_barrier_init(&start, NULL, THREADS);
        pthread_t threads[THREADS];
        spender_t spenders[THREADS];
        for (int i = 0; i < THREADS; i++) {
            spenders[i] = (spender_t){.store = fx->store, .token_hash = hash, .start = &start};
            assert_int_equal(pthread_create(&threads[i], NULL, spender_main, &spenders[i]), 0);
        }
        int won = 0;
        int conflicts = 0;
        for (int i = 0; i < THREADS; i++) {
            assert_int_equal(pthread_join(threads[i], NULL), 0);
            won += spenders[i].result == IM_OK;
            conflicts += spenders[i].result == IM_ECONFLICT;
        }
        pthread_barrier_destroy(&start);
        assert_int_equal(won, 1);
        assert_int_equal(conflicts, THREADS - 1);
    }
}

/* Runs sql on the database file through a connection of its own, as another process would. */
static void exec_sql(const char *db_path, const char *sql)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        print_error("%s: %s\n", sql, sqlite3_errmsg(db));
    }
    sqlite3_close(db);
    assert_int_equal(rc, SQLITE_OK);
}

/* abs() of the smallest int64 fails with "integer overflow", so a view column built with it
 * makes reading that one row fail while the rows before it read normally. */
#define FAILING_VALUE "abs(-9223372036854775807 - 1)"

/* A list call repeated more often than the store has pooled connections (four). A failed
 * call that kept its connection would make a later call wait forever. One that left its
 * read transaction open would make the next BEGIN on that connection fail. */
#define LIST_CALLS 6

static void audit_list_error_mid_page(void **state)
{
    fixture_t *fx = *state;
    for (int i = 1; i <= 3; i++) {
        im_store_audit_event_t event = {
            .timestamp = 100 * i, .username = "alice", .action = "login", .success = true};
        assert_int_equal(im_store_audit_insert(fx->store, &event), IM_OK);
    }
    /* The page reads ids 3, 2, 1, so row 3 is read and copied before row 2 fails. */
    exec_sql(fx->db_path,
             "ALTER TABLE audit_log RENAME TO audit_log_real;"
             "CREATE VIEW audit_log AS SELECT id, timestamp, user_id, username, action, "
             "target_type, target_id, ip_address, user_agent, success, error_message, "
             "CASE WHEN id = 2 THEN " FAILING_VALUE " ELSE details END AS details "
             "FROM audit_log_real");

    im_store_audit_filter_t all = {.limit = 10};
    im_store_audit_page_t page;
    for (int i = 0; i < LIST_CALLS; i++) {
        assert_int_equal(im_store_audit_list(fx->store, &all, &page), IM_ERR);
        assert_null(page.entries);
        assert_int_equal(page.count, 0);
        assert_int_equal(page.total, 0);
    }

    exec_sql(fx->db_path, "DROP VIEW audit_log; ALTER TABLE audit_log_real RENAME TO audit_log");
    for (int i = 0; i < LIST_CALLS; i++) {
        assert_int_equal(im_store_audit_list(fx->store, &all, &page), IM_OK);
        assert_int_equal(page.total, 3);
        assert_int_equal(page.count, 3);
        assert_int_equal(page.entries[0].id, 3);
        im_store_audit_page_release(&page);
    }
}

static void user_list_error_in_count(void **state)
{
    fixture_t *fx = *state;
    assert_int_equal(make_user(fx->store, "alice", "alice@example.com", "admin", true, NULL),
                     IM_OK);
    exec_sql(fx->db_path, "ALTER TABLE users RENAME TO users_real");

    im_store_user_filter_t all = {.limit = 10};
    im_store_user_page_t page;
    for (int i = 0; i < LIST_CALLS; i++) {
        assert_int_equal(im_store_user_list(fx->store, &all, &page), IM_ERR);
        assert_null(page.users);
        assert_int_equal(page.count, 0);
        assert_int_equal(page.total, 0);
    }

    exec_sql(fx->db_path, "ALTER TABLE users_real RENAME TO users");
    for (int i = 0; i < LIST_CALLS; i++) {
        assert_int_equal(im_store_user_list(fx->store, &all, &page), IM_OK);
        assert_int_equal(page.total, 1);
        assert_int_equal(page.count, 1);
        assert_string_equal(page.users[0].username, "alice");
        im_store_user_page_release(&page);
    }
}

static void api_token_list_error_mid_list(void **state)
{
    fixture_t *fx = *state;
    im_store_user_t user;
    assert_int_equal(make_user(fx->store, "alice", "alice@example.com", "admin", true, &user),
                     IM_OK);
    const char *names[] = {"first", "second"};
    for (size_t i = 0; i < 2; i++) {
        im_store_api_token_t token = {.user_id = user.id, .expires_at = 5000};
        im_strlcpy(token.name, names[i], sizeof(token.name));
        im_strlcpy(token.prefix, "imt_", sizeof(token.prefix));
        token_hash(names[i], token.token_hash);
        assert_int_equal(im_store_api_token_create(fx->store, &token), IM_OK);
    }
    /* The list reads ids 2, 1, so token 2 is copied before token 1 fails. */
    exec_sql(fx->db_path,
             "ALTER TABLE api_tokens RENAME TO api_tokens_real;"
             "CREATE VIEW api_tokens AS SELECT id, user_id, "
             "CASE WHEN id = 1 THEN " FAILING_VALUE " ELSE name END AS name, token_hash, "
             "prefix, created_at, expires_at, last_used_at, revoked_at FROM api_tokens_real");

    im_store_api_token_list_t list;
    for (int i = 0; i < LIST_CALLS; i++) {
        assert_int_equal(im_store_api_token_list(fx->store, user.id, &list), IM_ERR);
        assert_null(list.tokens);
        assert_int_equal(list.count, 0);
    }

    exec_sql(fx->db_path, "DROP VIEW api_tokens; ALTER TABLE api_tokens_real RENAME TO api_tokens");
    for (int i = 0; i < LIST_CALLS; i++) {
        assert_int_equal(im_store_api_token_list(fx->store, user.id, &list), IM_OK);
        assert_int_equal(list.count, 2);
        assert_string_equal(list.tokens[0].name, "second");
        assert_string_equal(list.tokens[1].name, "first");
        im_store_api_token_list_release(&list);
    }
}

#define STORE_TEST(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    /* clang-format off */
    const struct CMUnitTest tests[] = {
        STORE_TEST(open_creates_private_files),
        STORE_TEST(open_relative_path),
        STORE_TEST(open_rejects_bad_urls),
        STORE_TEST(open_file_as_folder_fails),
        STORE_TEST(migrate_twice_is_idempotent),
        STORE_TEST(migrate_rejects_newer_schema),
        STORE_TEST(ping_and_maintenance),
        STORE_TEST(user_create_get_update_delete),
        STORE_TEST(user_duplicates_conflict),
        STORE_TEST(user_invalid_values_rejected),
        STORE_TEST(user_list_filters_and_paging),
        STORE_TEST(sql_metacharacters_stored_verbatim),
        STORE_TEST(session_create_and_get),
        STORE_TEST(refresh_spend_succeeds_once),
        STORE_TEST(refresh_rejects_bad_input),
        STORE_TEST(refresh_expired_token_unusable),
        STORE_TEST(session_revoke_blocks_tokens),
        STORE_TEST(session_revoke_user_keeps_exception),
        STORE_TEST(user_delete_cascades),
        STORE_TEST(refresh_purge_removes_expired),
        STORE_TEST(audit_insert_and_list),
        STORE_TEST(audit_null_fields_and_bad_json),
        STORE_TEST(groups_create_list_delete),
        STORE_TEST(groups_update_replaces_members),
        STORE_TEST(settings_get_and_set),
        STORE_TEST(backup_copies_database),
        STORE_TEST(backup_rejects_existing_target),
        STORE_TEST(concurrent_inserts_and_reads),
        STORE_TEST(refresh_concurrent_spend_one_wins),
        STORE_TEST(audit_list_error_mid_page),
        STORE_TEST(user_list_error_in_count),
        STORE_TEST(api_token_list_error_mid_list),
    };
    /* clang-format on */
    return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
