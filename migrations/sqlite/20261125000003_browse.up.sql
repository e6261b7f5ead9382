-- Browsing: the listing sorts (title, duration) for public tracks and for one
-- owner's tracks, full-text search (FTS5) over title, tags and the primary
-- file's name kept current by triggers, stored previews, server secrets
-- (URL signing key, IP hash salt) and what a download history shows.

CREATE INDEX tracks_public_title_idx ON tracks (visibility, lower(title), id);
CREATE INDEX tracks_owner_title_idx ON tracks (owner_id, lower(title), id);
CREATE INDEX tracks_public_duration_idx ON tracks (visibility, COALESCE(duration_ms, 0) DESC, id DESC);
CREATE INDEX tracks_owner_duration_idx ON tracks (owner_id, COALESCE(duration_ms, 0) DESC, id DESC);

CREATE VIRTUAL TABLE tracks_fts USING fts5 (
    title, tags, filename,
    tokenize = 'unicode61 remove_diacritics 2',
    prefix = '2 3'
);

CREATE TRIGGER tracks_fts_insert AFTER INSERT ON tracks BEGIN
    INSERT INTO tracks_fts (rowid, title, tags, filename) VALUES (new.id, new.title, new.tags, '');
END;

CREATE TRIGGER tracks_fts_update AFTER UPDATE OF title, tags, primary_version_id ON tracks BEGIN
    DELETE FROM tracks_fts WHERE rowid = old.id;
    INSERT INTO tracks_fts (rowid, title, tags, filename)
    VALUES (
        new.id, new.title, new.tags,
        COALESCE((SELECT a.original_filename FROM track_versions v JOIN assets a ON a.id = v.asset_id
                  WHERE v.id = new.primary_version_id), '')
    );
END;

CREATE TRIGGER tracks_fts_delete AFTER DELETE ON tracks BEGIN
    DELETE FROM tracks_fts WHERE rowid = old.id;
END;

INSERT INTO tracks_fts (rowid, title, tags, filename)
SELECT t.id, t.title, t.tags, COALESCE(a.original_filename, '')
FROM tracks t
LEFT JOIN track_versions v ON v.id = t.primary_version_id
LEFT JOIN assets a ON a.id = v.asset_id;

ALTER TABLE assets ADD COLUMN preview_key TEXT;
ALTER TABLE assets ADD COLUMN preview_at INTEGER;

CREATE TABLE server_secrets (
    name       TEXT    PRIMARY KEY,
    value      TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);

ALTER TABLE downloads ADD COLUMN track_id INTEGER REFERENCES tracks (id) ON DELETE SET NULL;
ALTER TABLE downloads ADD COLUMN label TEXT NOT NULL DEFAULT '';
