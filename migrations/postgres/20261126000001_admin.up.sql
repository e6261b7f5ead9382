-- Job kinds an admin paused: workers of every process skip them until resumed.
CREATE TABLE queue_pauses (
    kind      TEXT PRIMARY KEY,
    paused_at BIGINT NOT NULL,
    paused_by BIGINT
);
