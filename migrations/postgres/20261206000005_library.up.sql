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
ALTER TABLE tracks ADD COLUMN track_no BIGINT;
ALTER TABLE tracks ADD COLUMN disc_no BIGINT;
ALTER TABLE tracks ADD COLUMN year BIGINT;
ALTER TABLE tracks ADD COLUMN genre TEXT NOT NULL DEFAULT '';
ALTER TABLE tracks ADD COLUMN comment TEXT NOT NULL DEFAULT '';
-- 1: the title was made from the file name (a tag title replaces it).
ALTER TABLE tracks ADD COLUMN title_from_name BIGINT NOT NULL DEFAULT 0;
-- 1: the primary file's tags were applied (never twice: edits stay).
ALTER TABLE tracks ADD COLUMN file_tags_applied BIGINT NOT NULL DEFAULT 0;
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
    width          BIGINT,
    height         BIGINT,
    original_bytes BIGINT  NOT NULL,
    -- JSON [media::Thumb]
    thumbs         TEXT    NOT NULL DEFAULT '[]',
    error          TEXT,
    created_at     BIGINT  NOT NULL,
    ready_at       BIGINT
);

-- Search covers artist, album artist, album and genre too.
CREATE OR REPLACE FUNCTION tracks_search_refresh() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.search := to_tsvector('simple', regexp_replace(
        coalesce(NEW.title, '') || ' ' || coalesce(NEW.tags, '') || ' ' ||
        coalesce((SELECT a.original_filename FROM track_versions v JOIN assets a ON a.id = v.asset_id
                  WHERE v.id = NEW.primary_version_id), '') || ' ' ||
        NEW.artist || ' ' || NEW.album_artist || ' ' || NEW.album || ' ' || NEW.genre,
        '[^[:alnum:]]+', ' ', 'g'));
    RETURN NEW;
END
$$;

DROP TRIGGER tracks_search_trigger ON tracks;
CREATE TRIGGER tracks_search_trigger
    BEFORE INSERT OR UPDATE OF title, tags, primary_version_id, artist, album_artist, album, genre ON tracks
    FOR EACH ROW EXECUTE FUNCTION tracks_search_refresh();

-- Server folders imported from /admin (POST /api/admin/import): the
-- progress as it goes, written by whichever instance runs it.
CREATE TABLE imports (
    id          BIGSERIAL PRIMARY KEY,
    owner_id    BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    started_by  BIGINT  REFERENCES users (id) ON DELETE SET NULL,
    dir         TEXT    NOT NULL,
    status      TEXT    NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'done', 'failed')),
    total       BIGINT,
    done        BIGINT  NOT NULL DEFAULT 0,
    imported    BIGINT  NOT NULL DEFAULT 0,
    skipped     BIGINT  NOT NULL DEFAULT 0,
    failed      BIGINT  NOT NULL DEFAULT 0,
    -- JSON [[path, reason]], the first 50 failures.
    errors      TEXT    NOT NULL DEFAULT '[]',
    message     TEXT,
    started_at  BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL,
    finished_at BIGINT
);
CREATE INDEX imports_recent_idx ON imports (started_at DESC);
