-- Listening (issue 22): a compact waveform of each stored file for the
-- lists (64 levels as letters, made from the overview peaks), and where
-- each user stopped in each long track, so playing it again (on any
-- device) resumes there.

ALTER TABLE assets ADD COLUMN mini_wave TEXT;

CREATE TABLE play_positions (
    user_id     BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    track_id    BIGINT NOT NULL REFERENCES tracks (id) ON DELETE CASCADE,
    position_ms BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (user_id, track_id)
);
CREATE INDEX play_positions_track_idx ON play_positions (track_id);
