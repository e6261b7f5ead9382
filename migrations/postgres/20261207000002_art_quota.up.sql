-- Art an owner uploads counts against their storage quota: the images of
-- one owner's tracks are found through this index (few rows: only tracks
-- with an uploaded image), never by reading all their tracks.
CREATE INDEX tracks_owner_art_idx ON tracks (owner_id, art_upload_sha256) WHERE art_upload_sha256 IS NOT NULL;
