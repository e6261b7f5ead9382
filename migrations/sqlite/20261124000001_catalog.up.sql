-- Catalog schema: accounts, sessions, API keys, tracks with versions, assets, stems, downloads.
-- Timestamps are unix milliseconds (INTEGER) so the same queries run on SQLite and PostgreSQL.

CREATE TABLE users (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    email               TEXT    NOT NULL,
    password_hash       TEXT    NOT NULL,
    role                TEXT    NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
    storage_used_bytes  INTEGER NOT NULL DEFAULT 0,
    storage_quota_bytes INTEGER,
    created_at          INTEGER NOT NULL,
    last_seen_at        INTEGER
);
CREATE UNIQUE INDEX users_email_key ON users (email);

CREATE TABLE sessions (
    id_hash      TEXT    PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    user_agent   TEXT
);
CREATE INDEX sessions_user_idx ON sessions (user_id);
CREATE INDEX sessions_expires_idx ON sessions (expires_at);

CREATE TABLE api_keys (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT    NOT NULL,
    prefix       TEXT    NOT NULL,
    key_hash     TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER
);
CREATE UNIQUE INDEX api_keys_hash_key ON api_keys (key_hash);
CREATE INDEX api_keys_user_idx ON api_keys (user_id, created_at DESC);

CREATE TABLE assets (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    owner_id          INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    storage_key       TEXT    NOT NULL,
    size_bytes        INTEGER NOT NULL CHECK (size_bytes >= 0),
    sha256            TEXT    NOT NULL,
    mime              TEXT    NOT NULL,
    original_filename TEXT,
    duration_ms       INTEGER,
    sample_rate       INTEGER,
    channels          INTEGER,
    bit_depth         INTEGER,
    codec             TEXT,
    bitrate           INTEGER,
    created_at        INTEGER NOT NULL
);
CREATE INDEX assets_owner_idx ON assets (owner_id);
CREATE INDEX assets_sha256_idx ON assets (sha256);

CREATE TABLE tracks (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    owner_id           INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    slug               TEXT    NOT NULL,
    title              TEXT    NOT NULL,
    tags               TEXT    NOT NULL DEFAULT '',
    visibility         TEXT    NOT NULL DEFAULT 'private' CHECK (visibility IN ('private', 'unlisted', 'public')),
    primary_version_id INTEGER REFERENCES track_versions (id) ON DELETE SET NULL,
    duration_ms        INTEGER,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL
);
CREATE UNIQUE INDEX tracks_slug_key ON tracks (slug);
CREATE INDEX tracks_public_recent_idx ON tracks (visibility, created_at DESC, id DESC);
CREATE INDEX tracks_owner_recent_idx ON tracks (owner_id, created_at DESC, id DESC);

CREATE TABLE track_versions (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    track_id       INTEGER NOT NULL REFERENCES tracks (id) ON DELETE CASCADE,
    asset_id       INTEGER NOT NULL REFERENCES assets (id),
    version_number INTEGER NOT NULL,
    label          TEXT    NOT NULL DEFAULT '',
    status         TEXT    NOT NULL DEFAULT 'processing' CHECK (status IN ('processing', 'ready', 'failed')),
    created_at     INTEGER NOT NULL,
    UNIQUE (track_id, version_number)
);
CREATE INDEX track_versions_asset_idx ON track_versions (asset_id);
CREATE INDEX track_versions_status_idx ON track_versions (status);

CREATE TABLE stems (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    version_id INTEGER NOT NULL REFERENCES track_versions (id) ON DELETE CASCADE,
    role       TEXT    NOT NULL,
    asset_id   INTEGER NOT NULL REFERENCES assets (id),
    created_at INTEGER NOT NULL
);
CREATE INDEX stems_version_idx ON stems (version_id, role);
CREATE INDEX stems_asset_idx ON stems (asset_id);

CREATE TABLE downloads (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    INTEGER REFERENCES users (id) ON DELETE SET NULL,
    asset_id   INTEGER NOT NULL REFERENCES assets (id) ON DELETE CASCADE,
    kind       TEXT    NOT NULL CHECK (kind IN ('download', 'stream', 'stems')),
    ip_hash    TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX downloads_user_recent_idx ON downloads (user_id, created_at DESC, id DESC);
CREATE INDEX downloads_asset_recent_idx ON downloads (asset_id, created_at DESC);
