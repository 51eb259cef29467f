-- Strata job queue migration 2: index_finished_jobs
-- Generated from SqlJobs.migrations by scripts/write-job-migrations.ts; a test keeps the two equal.
-- Records itself in strata_job_migrations (not strata_migrations: the queue may live in another database).

CREATE TABLE IF NOT EXISTS strata_job_migrations (id integer PRIMARY KEY, name text NOT NULL, applied_at text NOT NULL);

DROP INDEX IF EXISTS strata_jobs_changed;

CREATE INDEX IF NOT EXISTS strata_jobs_finished ON strata_jobs (updated_at) WHERE state IN ('succeeded', 'dead', 'cancelled');

INSERT INTO strata_job_migrations (id, name, applied_at) VALUES (2, 'index_finished_jobs', CURRENT_TIMESTAMP) ON CONFLICT DO NOTHING;
