-- Security hardening (issue 16).
--
-- Bytes in flight through the machine API count against the uploader's
-- quota: a reservation is taken (in the same transaction as the quota check)
-- before the body is read, and removed in the transaction that stores the
-- file, or when the request fails. A crashed process's reservations expire.
CREATE TABLE quota_reservations (
    id          TEXT   PRIMARY KEY,
    owner_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    bytes       BIGINT NOT NULL CHECK (bytes >= 0),
    expires_at  BIGINT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX quota_reservations_owner_idx ON quota_reservations (owner_id, expires_at);

-- Counters that must hold for the whole deployment (every process on the
-- same database): failed logins per account and per client address, and
-- registrations per address. One row per key and fixed window, counted with
-- one atomic upsert.
CREATE TABLE throttle_hits (
    key           TEXT   PRIMARY KEY,
    window_start  BIGINT NOT NULL,
    hits          BIGINT NOT NULL
);
CREATE INDEX throttle_hits_window_idx ON throttle_hits (window_start);

-- A stored file's type is decided from its bytes (the metadata job), never
-- from what the uploader named or claimed: forget every claimed type.
UPDATE assets SET mime = 'application/octet-stream' WHERE mime NOT LIKE 'audio/%';
UPDATE assets SET mime = 'application/octet-stream' WHERE metadata_at IS NULL OR codec IS NULL;
