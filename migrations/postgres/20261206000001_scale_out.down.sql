DROP TABLE rate_buckets;
DROP TABLE instances;
