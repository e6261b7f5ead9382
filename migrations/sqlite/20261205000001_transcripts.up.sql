-- Transcription (issue 18): a transcript per stored file, made chunk by
-- chunk through an OpenAI-compatible speech-to-text API, stored as segments
-- (and words when the provider gives them), searchable with the tracks.

CREATE TABLE transcripts (
    asset_id      INTEGER PRIMARY KEY REFERENCES assets (id) ON DELETE CASCADE,
    -- running, done or failed
    status        TEXT   NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'done', 'failed')),
    model         TEXT   NOT NULL,
    language      TEXT,
    duration_ms   INTEGER,
    text          TEXT   NOT NULL DEFAULT '',
    -- The chunk plan, fixed at the first attempt (JSON [[start_ms, end_ms], …]),
    -- so a retry or a restart continues with the same chunks.
    plan          TEXT,
    chunks_total  INTEGER NOT NULL DEFAULT 0,
    chunks_done   INTEGER NOT NULL DEFAULT 0,
    error         TEXT,
    requested_by  INTEGER REFERENCES users (id) ON DELETE SET NULL,
    -- The job that made the plan (a redo by another job starts afresh).
    job_id        INTEGER,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    finished_at   INTEGER
);

-- Each chunk's answer, stored as soon as it returns (times relative to the
-- chunk): a retry or a crash resumes at the first missing chunk and never
-- sends one twice.
CREATE TABLE transcript_chunks (
    asset_id  INTEGER NOT NULL REFERENCES transcripts (asset_id) ON DELETE CASCADE,
    idx       INTEGER NOT NULL,
    start_ms  INTEGER NOT NULL,
    end_ms    INTEGER NOT NULL,
    result    TEXT   NOT NULL,
    done_at   INTEGER NOT NULL,
    PRIMARY KEY (asset_id, idx)
);

CREATE TABLE transcript_segments (
    id         INTEGER PRIMARY KEY,
    asset_id   INTEGER NOT NULL REFERENCES transcripts (asset_id) ON DELETE CASCADE,
    idx        INTEGER NOT NULL,
    start_ms   INTEGER NOT NULL,
    end_ms     INTEGER NOT NULL,
    text       TEXT   NOT NULL,
    -- When the owner corrected the text (kept across re-transcription).
    edited_at  INTEGER
);
CREATE UNIQUE INDEX transcript_segments_asset_idx ON transcript_segments (asset_id, idx);

CREATE TABLE transcript_words (
    asset_id     INTEGER NOT NULL REFERENCES transcripts (asset_id) ON DELETE CASCADE,
    segment_idx  INTEGER NOT NULL,
    idx          INTEGER NOT NULL,
    start_ms     INTEGER NOT NULL,
    end_ms       INTEGER NOT NULL,
    word         TEXT   NOT NULL,
    PRIMARY KEY (asset_id, segment_idx, idx)
);

-- The provider's limits, for the whole deployment: every request holds a
-- row from its start (in flight until finished or its lease ends); starts
-- in the last 60 s are the rate window.
CREATE TABLE stt_requests (
    id           TEXT   PRIMARY KEY,
    owner        TEXT   NOT NULL,
    started_at   INTEGER NOT NULL,
    lease_until  INTEGER NOT NULL,
    finished_at  INTEGER,
    outcome      TEXT
);
CREATE INDEX stt_requests_started_idx ON stt_requests (started_at);
CREATE INDEX stt_requests_open_idx ON stt_requests (finished_at, lease_until);

-- One row: a pause ordered by the provider (429), and the circuit breaker.
CREATE TABLE stt_state (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    paused_until   INTEGER NOT NULL DEFAULT 0,
    breaker        TEXT   NOT NULL DEFAULT 'closed' CHECK (breaker IN ('closed', 'open', 'half_open')),
    failures       INTEGER NOT NULL DEFAULT 0,
    opened_at      INTEGER NOT NULL DEFAULT 0,
    probe_until    INTEGER NOT NULL DEFAULT 0
);
INSERT INTO stt_state (id) VALUES (1);

-- Minutes transcribed per user and month ('2026-12').
CREATE TABLE transcription_usage (
    user_id  INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    month    TEXT   NOT NULL,
    seconds  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, month)
);

-- "Transcribe my uploads" (1) or not (0).
ALTER TABLE users ADD COLUMN transcribe_uploads INTEGER NOT NULL DEFAULT 0;

-- Words spoken, searchable like titles (FTS5 over the segments; the rowid is
-- the segment's id).
CREATE VIRTUAL TABLE transcript_fts USING fts5 (
    text,
    content = 'transcript_segments',
    content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2',
    prefix = '2 3'
);

CREATE TRIGGER transcript_fts_insert AFTER INSERT ON transcript_segments BEGIN
    INSERT INTO transcript_fts (rowid, text) VALUES (new.id, new.text);
END;

CREATE TRIGGER transcript_fts_update AFTER UPDATE OF text ON transcript_segments BEGIN
    INSERT INTO transcript_fts (transcript_fts, rowid, text) VALUES ('delete', old.id, old.text);
    INSERT INTO transcript_fts (rowid, text) VALUES (new.id, new.text);
END;

CREATE TRIGGER transcript_fts_delete AFTER DELETE ON transcript_segments BEGIN
    INSERT INTO transcript_fts (transcript_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
