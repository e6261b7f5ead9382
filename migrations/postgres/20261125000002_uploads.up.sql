-- Resumable (tus) uploads, per-asset processing results, and a subject on
-- jobs so a track page can show the state of the jobs working on its files.

CREATE TABLE uploads (
    id            TEXT    PRIMARY KEY,
    owner_id      BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    length        BIGINT NOT NULL CHECK (length >= 0),
    received      BIGINT NOT NULL DEFAULT 0,
    metadata      TEXT    NOT NULL DEFAULT '',
    concat        TEXT    NOT NULL DEFAULT 'none' CHECK (concat IN ('none', 'partial', 'final')),
    parts         TEXT,
    filename      TEXT,
    title         TEXT,
    target        TEXT    NOT NULL DEFAULT 'track' CHECK (target IN ('track', 'version', 'stem')),
    target_id     BIGINT,
    stem_role     TEXT,
    state         TEXT    NOT NULL DEFAULT 'receiving' CHECK (state IN ('receiving', 'done', 'failed')),
    error         TEXT,
    track_id      BIGINT,
    version_id    BIGINT,
    asset_id      BIGINT,
    lock_token    TEXT,
    lock_until    BIGINT,
    expires_at    BIGINT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE INDEX uploads_owner_state_idx ON uploads (owner_id, state);
CREATE INDEX uploads_expires_idx ON uploads (expires_at);

ALTER TABLE jobs ADD COLUMN subject TEXT;
CREATE INDEX jobs_subject_idx ON jobs (subject, id);

ALTER TABLE assets ADD COLUMN frames BIGINT;
ALTER TABLE assets ADD COLUMN container TEXT;
ALTER TABLE assets ADD COLUMN metadata_at BIGINT;
ALTER TABLE assets ADD COLUMN peaks_at BIGINT;
ALTER TABLE assets ADD COLUMN processing_error TEXT;
