ALTER TABLE uploads DROP COLUMN staged_id;
ALTER TABLE uploads DROP COLUMN staged_parts;
ALTER TABLE uploads DROP COLUMN staged_bytes;
ALTER TABLE uploads DROP COLUMN hash_state;
