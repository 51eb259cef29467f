// One job-queue worker as its own OS process, for the multi-process job tests (JobProcesses.test.ts
// in packages/sqlite and packages/postgres) and bench/jobs-processes.ts.
//
// Run: node --conditions=@strata/source jobWorker.ts, configured by environment variables:
//   STRATA_BACKEND  sqlite | postgres      STRATA_TARGET  the SQLite file or the PostgreSQL URL
//   QUEUE, WORKER, CONCURRENCY, LEASE_MS, MAX_ATTEMPTS, POLL_MS
//   FAIL_PERCENT    the chance that a run fails, in percent
//   HANDLER_MS      how long each run takes
//
// Every run writes a row into `job_runs` when it starts and sets its outcome and end time when it
// ends (a SIGKILLed run keeps `outcome` NULL), so the test can see every handler entry.
import * as PgClient from "@effect/sql-pg/PgClient"
import { JobQueue } from "@strata/core"
import { PgDialect } from "@strata/postgres"
import { SqliteDialect, SqlJobs } from "@strata/sql"
import { SqliteClient } from "@strata/sqlite"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as References from "effect/References"
import * as Schedule from "effect/Schedule"
import * as SqlClient from "effect/sql/SqlClient"
import { Work } from "./jobWorkerSchema.ts"

const env = (name: string, fallback?: string): string => {
  const value = process.env[name] ?? fallback
  if (value === undefined) throw new Error(`jobWorker: ${name} is not set`)
  return value
}

const backend = env("STRATA_BACKEND")
const target = env("STRATA_TARGET")
const workerName = env("WORKER")
const failPercent = Number(env("FAIL_PERCENT", "0"))
const handlerMs = Number(env("HANDLER_MS", "0"))

const client = backend === "postgres"
  ? PgClient.layer({ url: Redacted.make(target) })
  : SqliteClient.layer({ filename: target, safeIntegers: true, busyTimeout: "30 seconds" })
const jobs = SqlJobs.layer({
  dialect: backend === "postgres" ? PgDialect.dialect : SqliteDialect.dialect,
  backend,
  migrate: false
})

const handler = (_: typeof Work.Type, job: JobQueue.JobInfo) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql<{ id: unknown }>`INSERT INTO job_runs (job_id, attempt, worker, started_at, run_at)
VALUES (${job.id}, ${job.attempt}, ${workerName}, ${Date.now()}, ${job.runAt}) RETURNING id`
    const run = Number(rows[0].id)
    if (handlerMs > 0) yield* Effect.sleep(handlerMs)
    const fail = Math.random() * 100 < failPercent
    yield* sql`UPDATE job_runs SET outcome = ${
      fail ? "failed" : "succeeded"
    }, ended_at = ${Date.now()} WHERE id = ${run}`
    if (fail) return yield* Effect.fail(`random failure of ${job.id} on attempt ${job.attempt}`)
  }).pipe(Effect.catchTag("SqlError", Effect.die))

const program = Effect.gen(function*() {
  yield* JobQueue.worker(JobQueue.make(env("QUEUE"), Work), handler, {
    name: workerName,
    concurrency: Number(env("CONCURRENCY", "4")),
    lease: Number(env("LEASE_MS", "1000")),
    maxAttempts: Number(env("MAX_ATTEMPTS", "3")),
    pollInterval: Number(env("POLL_MS", "100")),
    retry: Schedule.spaced("20 millis")
  })
  console.log(`worker ${workerName} running`)
  return yield* Effect.never
})

Effect.runFork(
  program.pipe(
    Effect.scoped,
    Effect.provide(Layer.provideMerge(jobs, client)),
    Effect.provideService(References.MinimumLogLevel, "Error"),
    Effect.tapCause((cause) => Effect.sync(() => console.error(`worker ${workerName} failed`, cause))),
    Effect.ensuring(Effect.sync(() => process.exit(1)))
  )
)
