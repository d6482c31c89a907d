-- Initial InfraMon schema. Times are Unix seconds; 0 or NULL means "never".
-- The store creates schema_migrations itself before it runs any migration, and runs each
-- migration inside one transaction, so this file must not contain BEGIN or COMMIT.

-- AUTOINCREMENT keeps SQLite from reusing the id of a deleted user. Access tokens name
-- their user by id, so a reused id would hand a deleted user's live tokens to a new one.
-- NOCASE makes uniqueness and lookups case-insensitive for ASCII letters only.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    username      TEXT    NOT NULL COLLATE NOCASE UNIQUE
                          CHECK (length(username) BETWEEN 3 AND 50),
    email         TEXT    NOT NULL COLLATE NOCASE UNIQUE
                          CHECK (length(email) BETWEEN 3 AND 254),
    password_hash TEXT    NOT NULL,
    role          TEXT    NOT NULL CHECK (role IN ('admin', 'operator', 'viewer')),
    is_active     INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    last_login_at INTEGER
);

-- One login: the family of refresh tokens that rotate from it.
CREATE TABLE sessions (
    id         TEXT    PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER NOT NULL DEFAULT 0,
    ip_address TEXT    NOT NULL DEFAULT '',
    user_agent TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

-- token_hash is the SHA-256 (64 lowercase hex digits) of the token id. The raw token is
-- never stored. spent_at is set once, when the token is rotated.
CREATE TABLE refresh_tokens (
    token_hash  TEXT    PRIMARY KEY
                        CHECK (length(token_hash) = 64 AND token_hash NOT GLOB '*[^0-9a-f]*'),
    session_id  TEXT    NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    issued_at   INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    spent_at    INTEGER NOT NULL DEFAULT 0,
    replaced_by TEXT    NOT NULL DEFAULT ''
) WITHOUT ROWID;
CREATE INDEX refresh_tokens_session_id ON refresh_tokens (session_id);
CREATE INDEX refresh_tokens_user_id ON refresh_tokens (user_id);
CREATE INDEX refresh_tokens_expires_at ON refresh_tokens (expires_at);

-- user_id has no foreign key on purpose: audit rows outlive the user they name, and the
-- AUTOINCREMENT ids above are never reused, so the id stays unambiguous.
CREATE TABLE audit_log (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    timestamp     INTEGER NOT NULL,
    user_id       INTEGER,
    username      TEXT,
    action        TEXT,
    target_type   TEXT,
    target_id     TEXT,
    ip_address    TEXT,
    user_agent    TEXT,
    success       INTEGER NOT NULL CHECK (success IN (0, 1)),
    error_message TEXT,
    details       TEXT    CHECK (details IS NULL OR json_valid(details))
);
CREATE INDEX audit_log_timestamp ON audit_log (timestamp);
CREATE INDEX audit_log_user_id ON audit_log (user_id, timestamp);
CREATE INDEX audit_log_action ON audit_log (action, timestamp);
CREATE INDEX audit_log_target_id ON audit_log (target_id, timestamp);

CREATE TABLE groups (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT    NOT NULL COLLATE NOCASE UNIQUE CHECK (length(name) BETWEEN 1 AND 100),
    description TEXT    NOT NULL DEFAULT '',
    color       TEXT    NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

CREATE TABLE group_members (
    group_id       INTEGER NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    container_name TEXT    NOT NULL,
    PRIMARY KEY (group_id, container_name)
) WITHOUT ROWID;

CREATE TABLE settings (
    key        TEXT    PRIMARY KEY,
    value      TEXT    NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;
