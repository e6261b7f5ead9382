DROP INDEX jobs_queued_by_kind_idx;
