//! Metric names, in one place, and their descriptions for `/metrics`.

use metrics::Unit;

pub const HTTP_DURATION: &str = "http_request_duration_seconds";
pub const HTTP_REQUESTS: &str = "http_requests_total";
pub const JOB_STARTED: &str = "jobs_started_total";
pub const JOB_SUCCEEDED: &str = "jobs_succeeded_total";
pub const JOB_FAILED: &str = "jobs_failed_total";
pub const JOB_RETRIED: &str = "jobs_retried_total";
pub const JOB_WAIT: &str = "job_wait_seconds";
pub const JOB_RUN: &str = "job_run_seconds";
pub const JOB_RATE_TOKENS: &str = "job_rate_limit_tokens";
pub const JOB_RATE_LIMIT: &str = "job_rate_limit_per_minute";
pub const QUEUE_DEPTH: &str = "queue_jobs";
pub const CACHE_HITS: &str = "cache_hits_total";
pub const CACHE_MISSES: &str = "cache_misses_total";
pub const CACHE_EVICTIONS: &str = "cache_evictions_total";
pub const CACHE_ENTRIES: &str = "cache_entries";
pub const POOL_SIZE: &str = "db_pool_connections";
pub const POOL_IDLE: &str = "db_pool_idle_connections";
pub const POOL_MAX: &str = "db_pool_max_connections";
pub const POOL_ACQUIRE: &str = "db_pool_acquire_seconds";
pub const SLOW_QUERIES: &str = "db_slow_queries_total";
pub const DATA_DIR_BYTES: &str = "data_dir_bytes";
pub const DISK_FREE: &str = "data_disk_free_bytes";
pub const DISK_TOTAL: &str = "data_disk_total_bytes";
pub const ACTIVE_USERS: &str = "active_users";
/// Speech-to-text requests, by outcome: ok, rate_limited, server_error,
/// timeout (no answer in time or a broken connection), client_error.
pub const STT_REQUESTS: &str = "stt_requests_total";
pub const STT_LATENCY: &str = "stt_request_seconds";
pub const STT_IN_FLIGHT: &str = "stt_requests_in_flight";
pub const STT_STARTED_LAST_MINUTE: &str = "stt_requests_started_last_minute";
/// 0 closed, 1 half open, 2 open.
pub const STT_BREAKER: &str = "stt_breaker_state";
pub const STT_SECONDS_MONTH: &str = "stt_transcribed_seconds_this_month";
pub const RSS: &str = "process_resident_memory_bytes";
pub const CPU: &str = "process_cpu_seconds_total";
pub const OPEN_FDS: &str = "process_open_fds";
pub const MAX_FDS: &str = "process_max_fds";
pub const THREADS: &str = "process_threads";

/// Describes every metric (units and help texts) to the recorder.
pub fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "Time to answer a request, per matched route"
    );
    describe_counter!(
        HTTP_REQUESTS,
        "Requests answered, per matched route and status"
    );
    describe_counter!(JOB_STARTED, "Job attempts started, per kind");
    describe_counter!(JOB_SUCCEEDED, "Job attempts that succeeded, per kind");
    describe_counter!(JOB_FAILED, "Jobs that failed for good (dead), per kind");
    describe_counter!(JOB_RETRIED, "Failed attempts queued again, per kind");
    describe_histogram!(
        JOB_WAIT,
        Unit::Seconds,
        "From a job being due to its attempt starting"
    );
    describe_histogram!(JOB_RUN, Unit::Seconds, "How long an attempt ran");
    describe_gauge!(
        JOB_RATE_TOKENS,
        "Starts a rate-limited kind may make right now"
    );
    describe_gauge!(
        JOB_RATE_LIMIT,
        "Starts per minute a rate-limited kind may make"
    );
    describe_gauge!(QUEUE_DEPTH, "Jobs per kind and state");
    describe_counter!(CACHE_HITS, "Cache reads that found the key");
    describe_counter!(CACHE_MISSES, "Cache reads that did not");
    describe_counter!(CACHE_EVICTIONS, "Entries evicted for size");
    describe_gauge!(CACHE_ENTRIES, "Entries per cache");
    describe_gauge!(POOL_SIZE, "Open database connections");
    describe_gauge!(POOL_IDLE, "Idle database connections");
    describe_gauge!(POOL_MAX, "Most database connections the pool opens");
    describe_histogram!(
        POOL_ACQUIRE,
        Unit::Seconds,
        "Time to take a connection from the pool (sampled)"
    );
    describe_counter!(SLOW_QUERIES, "Statements slower than 100 ms");
    describe_gauge!(
        DATA_DIR_BYTES,
        Unit::Bytes,
        "Bytes under the data directory"
    );
    describe_gauge!(
        DISK_FREE,
        Unit::Bytes,
        "Free space on the data directory's disk"
    );
    describe_gauge!(DISK_TOTAL, Unit::Bytes, "Size of the data directory's disk");
    describe_gauge!(ACTIVE_USERS, "Users seen in the last 5 minutes");
    describe_counter!(STT_REQUESTS, "Speech-to-text requests, by outcome");
    describe_histogram!(
        STT_LATENCY,
        Unit::Seconds,
        "Time the speech-to-text provider took per request"
    );
    describe_gauge!(
        STT_IN_FLIGHT,
        "Speech-to-text requests in flight (deployment)"
    );
    describe_gauge!(
        STT_STARTED_LAST_MINUTE,
        "Speech-to-text requests started in the last 60 s (deployment)"
    );
    describe_gauge!(
        STT_BREAKER,
        "The provider's circuit breaker: 0 closed, 1 half open, 2 open"
    );
    describe_gauge!(
        STT_SECONDS_MONTH,
        "Seconds of audio transcribed this month (deployment)"
    );
}
