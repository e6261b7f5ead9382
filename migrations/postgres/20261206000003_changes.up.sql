-- The change feed (issue 20): one row per change to a track, whose id is
-- the server-sent event id of /api/v1/changes, so a browser reconnecting to
-- any instance replays what it missed (Last-Event-ID). Ids only: what
-- changed is read from the tracks themselves. Who may hear of a change is
-- decided when it happens (`public`), not from what the track is later.
-- Kept for a day.
CREATE TABLE changes (
    id        BIGSERIAL PRIMARY KEY,
    track_id  BIGINT  NOT NULL,
    owner_id  BIGINT  NOT NULL,
    kind      TEXT    NOT NULL CHECK (kind IN ('created', 'updated', 'deleted')),
    at        BIGINT  NOT NULL,
    -- 1: everyone may hear of it (the track was public before or after).
    public    BIGINT  NOT NULL DEFAULT 0
);
CREATE INDEX changes_at_idx ON changes (at);
