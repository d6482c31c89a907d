-- TOTP second factor, recovery codes and personal API tokens.

-- secret is the base32 TOTP key. It has to stay readable because every code is checked
-- against it. enabled_at is 0 until the user confirms the setup with a valid code.
-- last_step is the time step of the last accepted code, so a code works only once.
CREATE TABLE user_totp (
    user_id    INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret     TEXT    NOT NULL,
    enabled_at INTEGER NOT NULL DEFAULT 0,
    last_step  INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);

-- Single-use recovery codes, stored as the SHA-256 hex of the normalised code.
CREATE TABLE totp_recovery_codes (
    user_id   INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash TEXT    NOT NULL
                      CHECK (length(code_hash) = 64 AND code_hash NOT GLOB '*[^0-9a-f]*'),
    used_at   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, code_hash)
) WITHOUT ROWID;

-- Personal API tokens. Only the SHA-256 hex of the token is stored; prefix keeps its first
-- characters so that a user can tell tokens apart in a list.
CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    token_hash   TEXT    NOT NULL UNIQUE
                         CHECK (length(token_hash) = 64 AND token_hash NOT GLOB '*[^0-9a-f]*'),
    prefix       TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    last_used_at INTEGER NOT NULL DEFAULT 0,
    revoked_at   INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX api_tokens_user_id ON api_tokens (user_id);
