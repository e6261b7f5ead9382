-- Radio calls (issue 21): a call is a track with the facts of the radio
-- call it recorded, as trunk-recorder and sdrtrunk send them to
-- rdio-scanner's upload API. One row per call track; the unique key makes a
-- call sent twice (same system, talkgroup, start and audio) one call.
CREATE TABLE calls (
    track_id         INTEGER PRIMARY KEY REFERENCES tracks (id) ON DELETE CASCADE,
    owner_id         INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    system_id        INTEGER NOT NULL,
    system_label     TEXT    NOT NULL DEFAULT '',
    talkgroup_id     INTEGER NOT NULL,
    talkgroup_label  TEXT    NOT NULL DEFAULT '',
    talkgroup_name   TEXT    NOT NULL DEFAULT '',
    talkgroup_group  TEXT    NOT NULL DEFAULT '',
    talkgroup_tag    TEXT    NOT NULL DEFAULT '',
    frequency        INTEGER,
    frequencies      TEXT    NOT NULL DEFAULT '[]',
    source           INTEGER,
    sources          TEXT    NOT NULL DEFAULT '[]',
    units            TEXT    NOT NULL DEFAULT '[]',
    patches          TEXT    NOT NULL DEFAULT '[]',
    site             INTEGER,
    started_at       INTEGER NOT NULL,
    sha256           TEXT    NOT NULL,
    created_at       INTEGER NOT NULL
);
CREATE UNIQUE INDEX calls_once_key ON calls (owner_id, system_id, talkgroup_id, started_at, sha256);
CREATE INDEX calls_recent_idx ON calls (owner_id, started_at DESC, track_id DESC);
CREATE INDEX calls_talkgroup_idx ON calls (owner_id, system_id, talkgroup_id, started_at DESC, track_id DESC);
CREATE INDEX calls_started_idx ON calls (started_at DESC, track_id DESC);

-- What an API key may upload calls for: NULL for every system, else JSON
-- as rdio-scanner's keys say it: [{"id": 1, "talkgroups": "*"}, {"id": 2,
-- "talkgroups": [100, 200]}].
ALTER TABLE api_keys ADD COLUMN call_scope TEXT;
-- 1: calls uploaded with this key are transcribed whatever the owner's
-- default (the transcription limits apply).
ALTER TABLE api_keys ADD COLUMN transcribe_calls INTEGER NOT NULL DEFAULT 0;
