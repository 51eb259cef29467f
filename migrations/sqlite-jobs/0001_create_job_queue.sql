-- Strata job queue migration 1: create_job_queue
-- Generated from SqlJobs.migrations by scripts/write-job-migrations.ts; a test keeps the two equal.
-- Records itself in strata_job_migrations (not strata_migrations: the queue may live in another database).

CREATE TABLE IF NOT EXISTS strata_job_migrations (id integer PRIMARY KEY, name text NOT NULL, applied_at text NOT NULL);

CREATE TABLE IF NOT EXISTS strata_jobs (
  id text PRIMARY KEY,
  queue text NOT NULL,
  job_key text,
  payload text NOT NULL,
  priority integer NOT NULL DEFAULT 0,
  state text NOT NULL,
  run_at bigint NOT NULL,
  attempts integer NOT NULL DEFAULT 0,
  last_error text,
  owner text,
  lease_expires_at bigint,
  created_at bigint NOT NULL,
  updated_at bigint NOT NULL,
  trace_id text,
  span_id text
);

CREATE UNIQUE INDEX IF NOT EXISTS strata_jobs_key ON strata_jobs (queue, job_key) WHERE job_key IS NOT NULL AND state IN ('pending', 'running');

CREATE INDEX IF NOT EXISTS strata_jobs_due ON strata_jobs (queue, priority DESC, run_at, created_at, id) WHERE state = 'pending';

CREATE INDEX IF NOT EXISTS strata_jobs_leased ON strata_jobs (queue, lease_expires_at) WHERE state = 'running';

CREATE INDEX IF NOT EXISTS strata_jobs_changed ON strata_jobs (state, updated_at);

CREATE INDEX IF NOT EXISTS strata_jobs_listed ON strata_jobs (queue, created_at, id);

CREATE TABLE IF NOT EXISTS strata_job_queues (name text PRIMARY KEY, declared_at bigint NOT NULL);

INSERT INTO strata_job_migrations (id, name, applied_at) VALUES (1, 'create_job_queue', CURRENT_TIMESTAMP) ON CONFLICT DO NOTHING;
