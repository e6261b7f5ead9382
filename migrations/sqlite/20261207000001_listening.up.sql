-- Listening (issue 22): a compact waveform of each stored file for the
-- lists (64 levels as letters, made from the overview peaks), and where
-- each user stopped in each long track, so playing it again (on any
-- device) resumes there.

ALTER TABLE assets ADD COLUMN mini_wave TEXT;

CREATE TABLE play_positions (
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    track_id    INTEGER NOT NULL REFERENCES tracks (id) ON DELETE CASCADE,
    position_ms INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (user_id, track_id)
);
CREATE INDEX play_positions_track_idx ON play_positions (track_id);
