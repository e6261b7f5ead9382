DROP TABLE imports;
DROP TRIGGER tracks_fts_delete;
DROP TRIGGER tracks_fts_update;
DROP TRIGGER tracks_fts_insert;
DROP TABLE tracks_fts;
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

DROP TABLE artwork;
DROP INDEX tracks_art_upload_idx;
ALTER TABLE tracks DROP COLUMN art_upload_sha256;
ALTER TABLE tracks DROP COLUMN art_token;
ALTER TABLE tracks DROP COLUMN file_tags_applied;
ALTER TABLE tracks DROP COLUMN title_from_name;
ALTER TABLE tracks DROP COLUMN comment;
ALTER TABLE tracks DROP COLUMN genre;
ALTER TABLE tracks DROP COLUMN year;
ALTER TABLE tracks DROP COLUMN disc_no;
ALTER TABLE tracks DROP COLUMN track_no;
ALTER TABLE tracks DROP COLUMN album_artist;
ALTER TABLE tracks DROP COLUMN album;
ALTER TABLE tracks DROP COLUMN artist;
DROP INDEX assets_art_idx;
ALTER TABLE assets DROP COLUMN art_sha256;
ALTER TABLE assets DROP COLUMN file_tags;
