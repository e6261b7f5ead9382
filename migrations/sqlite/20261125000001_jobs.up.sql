-- The persistent job queue: one table of jobs and every error each attempt left.

CREATE TABLE jobs (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    kind         TEXT    NOT NULL,
    payload      TEXT    NOT NULL DEFAULT '{}',
    priority     INTEGER NOT NULL DEFAULT 0,
    state        TEXT    NOT NULL DEFAULT 'queued'
                 CHECK (state IN ('queued', 'running', 'succeeded', 'dead', 'cancelled')),
    attempts     INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL DEFAULT 4,
    run_at       INTEGER NOT NULL,
    dedupe_key   TEXT,
    lease_owner  TEXT,
    lease_until  INTEGER,
    progress     INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT,
    created_at   INTEGER NOT NULL,
    started_at   INTEGER,
    finished_at  INTEGER
);
-- At most one queued job per dedupe key, enforced by the database.
CREATE UNIQUE INDEX jobs_dedupe_queued_key ON jobs (dedupe_key) WHERE state = 'queued';
CREATE INDEX jobs_claim_idx ON jobs (state, priority DESC, run_at, id);
CREATE INDEX jobs_kind_state_idx ON jobs (kind, state);
CREATE INDEX jobs_lease_idx ON jobs (lease_until) WHERE state = 'running';
CREATE INDEX jobs_finished_idx ON jobs (finished_at) WHERE state IN ('succeeded', 'dead', 'cancelled');

CREATE TABLE job_errors (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id     INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    attempt    INTEGER NOT NULL,
    error      TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX job_errors_job_idx ON job_errors (job_id, attempt);
