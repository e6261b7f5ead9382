-- Claims look for the due jobs of one kind, best first: an index of queued
-- jobs by kind in claim order finds them without stepping over the queued
-- jobs of every other kind.
CREATE INDEX jobs_queued_by_kind_idx ON jobs (kind, priority DESC, run_at, id) WHERE state = 'queued';
