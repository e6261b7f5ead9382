-- Libraries (issue 21): what files' own tags say (read by the metadata job,
-- applied to the track a file first becomes, then the owner's to edit),
-- searchable; and artwork, embedded in files or uploaded by the owner,
-- stored by the image's content hash with WebP thumbnails.

-- JSON (media::FileTags); NULL until the metadata job has read the file.
ALTER TABLE assets ADD COLUMN file_tags TEXT;
-- Cover art embedded in the file (an artwork row).
ALTER TABLE assets ADD COLUMN art_sha256 TEXT;
CREATE INDEX assets_art_idx ON assets (art_sha256) WHERE art_sha256 IS NOT NULL;

ALTER TABLE tracks ADD COLUMN artist TEXT NOT NULL DEFAULT '';
ALTER TABLE tracks ADD COLUMN album TEXT NOT NULL DEFAULT '';
ALTER TABLE tracks ADD COLUMN album_artist TEXT NOT NULL DEFAULT '';
ALTER TABLE tracks ADD COLUMN track_no INTEGER;
ALTER TABLE tracks ADD COLUMN disc_no INTEGER;
ALTER TABLE tracks ADD COLUMN year INTEGER;
ALTER TABLE tracks ADD COLUMN genre TEXT NOT NULL DEFAULT '';
ALTER TABLE tracks ADD COLUMN comment TEXT NOT NULL DEFAULT '';
-- 1: the title was made from the file name (a tag title replaces it).
ALTER TABLE tracks ADD COLUMN title_from_name INTEGER NOT NULL DEFAULT 0;
-- 1: the primary file's tags were applied (never twice: edits stay).
ALTER TABLE tracks ADD COLUMN file_tags_applied INTEGER NOT NULL DEFAULT 0;
-- The artwork shown (by its artwork token; its thumbnails are made), and
-- the owner's own image (which wins over embedded art; shown once its
-- thumbnails are made).
ALTER TABLE tracks ADD COLUMN art_token TEXT;
ALTER TABLE tracks ADD COLUMN art_upload_sha256 TEXT;
CREATE INDEX tracks_art_upload_idx ON tracks (art_upload_sha256) WHERE art_upload_sha256 IS NOT NULL;

CREATE TABLE artwork (
    sha256         TEXT    PRIMARY KEY,
    -- What its URLs carry (random, 128 bits): unguessable, so art is seen
    -- only by who sees a track showing it; stable, so URLs are immutable.
    token          TEXT    NOT NULL UNIQUE,
    status         TEXT    NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'ready', 'failed')),
    width          INTEGER,
    height         INTEGER,
    original_bytes INTEGER NOT NULL,
    -- JSON [media::Thumb]
    thumbs         TEXT    NOT NULL DEFAULT '[]',
    error          TEXT,
    created_at     INTEGER NOT NULL,
    ready_at       INTEGER
);

-- Search covers artist, album artist, album and genre too.
DROP TRIGGER tracks_fts_delete;
DROP TRIGGER tracks_fts_update;
DROP TRIGGER tracks_fts_insert;
DROP TABLE tracks_fts;

CREATE VIRTUAL TABLE tracks_fts USING fts5 (
    title, tags, filename, people,
    tokenize = 'unicode61 remove_diacritics 2',
    prefix = '2 3'
);

CREATE TRIGGER tracks_fts_insert AFTER INSERT ON tracks BEGIN
    INSERT INTO tracks_fts (rowid, title, tags, filename, people)
    VALUES (new.id, new.title, new.tags, '',
            new.artist || ' ' || new.album_artist || ' ' || new.album || ' ' || new.genre);
END;

CREATE TRIGGER tracks_fts_update
AFTER UPDATE OF title, tags, primary_version_id, artist, album_artist, album, genre ON tracks BEGIN
    DELETE FROM tracks_fts WHERE rowid = old.id;
    INSERT INTO tracks_fts (rowid, title, tags, filename, people)
    VALUES (
        new.id, new.title, new.tags,
        COALESCE((SELECT a.original_filename FROM track_versions v JOIN assets a ON a.id = v.asset_id
                  WHERE v.id = new.primary_version_id), ''),
        new.artist || ' ' || new.album_artist || ' ' || new.album || ' ' || new.genre
    );
END;

CREATE TRIGGER tracks_fts_delete AFTER DELETE ON tracks BEGIN
    DELETE FROM tracks_fts WHERE rowid = old.id;
END;

INSERT INTO tracks_fts (rowid, title, tags, filename, people)
SELECT t.id, t.title, t.tags, COALESCE(a.original_filename, ''), ''
FROM tracks t
LEFT JOIN track_versions v ON v.id = t.primary_version_id
LEFT JOIN assets a ON a.id = v.asset_id;

-- Server folders imported from /admin (POST /api/admin/import): the
-- progress as it goes, written by whichever instance runs it.
CREATE TABLE imports (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    owner_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    started_by  INTEGER REFERENCES users (id) ON DELETE SET NULL,
    dir         TEXT    NOT NULL,
    status      TEXT    NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'done', 'failed')),
    total       INTEGER,
    done        INTEGER NOT NULL DEFAULT 0,
    imported    INTEGER NOT NULL DEFAULT 0,
    skipped     INTEGER NOT NULL DEFAULT 0,
    failed      INTEGER NOT NULL DEFAULT 0,
    -- JSON [[path, reason]], the first 50 failures.
    errors      TEXT    NOT NULL DEFAULT '[]',
    message     TEXT,
    started_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    finished_at INTEGER
);
CREATE INDEX imports_recent_idx ON imports (started_at DESC);
