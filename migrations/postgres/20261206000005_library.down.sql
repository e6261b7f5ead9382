DROP TABLE imports;
CREATE OR REPLACE FUNCTION tracks_search_refresh() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.search := to_tsvector('simple', regexp_replace(
        coalesce(NEW.title, '') || ' ' || coalesce(NEW.tags, '') || ' ' ||
        coalesce((SELECT a.original_filename FROM track_versions v JOIN assets a ON a.id = v.asset_id
                  WHERE v.id = NEW.primary_version_id), ''),
        '[^[:alnum:]]+', ' ', 'g'));
    RETURN NEW;
END
$$;
DROP TRIGGER tracks_search_trigger ON tracks;
CREATE TRIGGER tracks_search_trigger
    BEFORE INSERT OR UPDATE OF title, tags, primary_version_id ON tracks
    FOR EACH ROW EXECUTE FUNCTION tracks_search_refresh();

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
