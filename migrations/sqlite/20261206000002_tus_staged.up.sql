-- tus uploads on object storage (issue 20): an upload's bytes so far live in
-- the bucket, not on one instance's disk, so any instance can continue it.
-- Complete parts of PART bytes are parts of one S3 multipart upload
-- (staged_id, their ETags in staged_parts as a JSON array, covering the
-- first staged_bytes bytes); the bytes after them, fewer than a part, are an
-- object named by the offset they end at. hash_state is the sha256 state
-- over the first staged_bytes bytes (hex), so the upload's hash is carried on
-- by whichever instance takes the next PATCH.
ALTER TABLE uploads ADD COLUMN staged_id TEXT;
ALTER TABLE uploads ADD COLUMN staged_parts TEXT NOT NULL DEFAULT '[]';
ALTER TABLE uploads ADD COLUMN staged_bytes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE uploads ADD COLUMN hash_state TEXT;
