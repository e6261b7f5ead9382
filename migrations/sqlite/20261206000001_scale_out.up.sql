-- Several instances on one database (issue 20).
--
-- The machine API's rate limit per API key, for the whole deployment: one
-- row per key holding its bucket's "theoretical arrival time" (GCRA, in ms):
-- a request is let through when moving it on by one interval keeps it within
-- the burst, in one atomic upsert, so instances cannot pass requests together.
CREATE TABLE rate_buckets (
    key  TEXT   PRIMARY KEY,
    tat  BIGINT NOT NULL
);
CREATE INDEX rate_buckets_tat_idx ON rate_buckets (tat);

-- Every running wavekeep process, for /admin: each one writes its row at
-- start and every few seconds after (seen_at), and removes it when it stops;
-- a row not seen for a while is a process that died. `worker` is the lease
-- owner its job workers claim jobs as.
CREATE TABLE instances (
    id          TEXT   PRIMARY KEY,
    version     TEXT   NOT NULL,
    host        TEXT   NOT NULL,
    addr        TEXT   NOT NULL,
    worker      TEXT   NOT NULL,
    started_at  BIGINT NOT NULL,
    seen_at     BIGINT NOT NULL
);
