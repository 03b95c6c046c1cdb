DROP TABLE stream_leases;
DROP TABLE login_failures;
DROP TABLE rate_buckets;
