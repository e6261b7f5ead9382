-- Browsing: the listing sorts (title, duration) for public tracks and for one
-- owner's tracks, full-text search (a tsvector over title, tags and the
-- primary file's name, kept current by a trigger, GIN-indexed), stored
-- previews, server secrets (URL signing key, IP hash salt) and what a
-- download history shows.

CREATE INDEX tracks_public_title_idx ON tracks (visibility, lower(title), id);
CREATE INDEX tracks_owner_title_idx ON tracks (owner_id, lower(title), id);
CREATE INDEX tracks_public_duration_idx ON tracks (visibility, COALESCE(duration_ms, 0) DESC, id DESC);
CREATE INDEX tracks_owner_duration_idx ON tracks (owner_id, COALESCE(duration_ms, 0) DESC, id DESC);

ALTER TABLE tracks ADD COLUMN search tsvector;

CREATE FUNCTION tracks_search_refresh() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.search := to_tsvector('simple', regexp_replace(
        coalesce(NEW.title, '') || ' ' || coalesce(NEW.tags, '') || ' ' ||
        coalesce((SELECT a.original_filename FROM track_versions v JOIN assets a ON a.id = v.asset_id
                  WHERE v.id = NEW.primary_version_id), ''),
        '[^[:alnum:]]+', ' ', 'g'));
    RETURN NEW;
END
$$;

CREATE TRIGGER tracks_search_trigger
    BEFORE INSERT OR UPDATE OF title, tags, primary_version_id ON tracks
    FOR EACH ROW EXECUTE FUNCTION tracks_search_refresh();

UPDATE tracks SET title = title;
CREATE INDEX tracks_search_idx ON tracks USING GIN (search);

ALTER TABLE assets ADD COLUMN preview_key TEXT;
ALTER TABLE assets ADD COLUMN preview_at BIGINT;

CREATE TABLE server_secrets (
    name       TEXT   PRIMARY KEY,
    value      TEXT   NOT NULL,
    created_at BIGINT NOT NULL
);

ALTER TABLE downloads ADD COLUMN track_id BIGINT REFERENCES tracks (id) ON DELETE SET NULL;
ALTER TABLE downloads ADD COLUMN label TEXT NOT NULL DEFAULT '';
