-- Strata job queue migration 3: index_dead_jobs
-- Generated from SqlJobs.migrations by scripts/write-job-migrations.ts; a test keeps the two equal.
-- Records itself in strata_job_migrations (not strata_migrations: the queue may live in another database).

CREATE TABLE IF NOT EXISTS strata_job_migrations (id integer PRIMARY KEY, name text NOT NULL, applied_at text NOT NULL);

CREATE INDEX IF NOT EXISTS strata_jobs_dead ON strata_jobs (queue) WHERE state = 'dead';

INSERT INTO strata_job_migrations (id, name, applied_at) VALUES (3, 'index_dead_jobs', CURRENT_TIMESTAMP) ON CONFLICT DO NOTHING;
