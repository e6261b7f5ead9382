ALTER TABLE users DROP COLUMN transcribe_uploads;
DROP TABLE transcription_usage;
DROP TABLE stt_state;
DROP TABLE stt_requests;
DROP TABLE transcript_words;
DROP TABLE transcript_segments;
DROP TABLE transcript_chunks;
DROP TABLE transcripts;
