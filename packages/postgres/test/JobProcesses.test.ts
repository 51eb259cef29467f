// Job-queue workers as OS processes on one PostgreSQL database (takes with FOR UPDATE SKIP LOCKED):
// 4 workers, jobs that fail at random, two workers SIGKILLed while they hold jobs. Every job ends
// succeeded or dead, none runs in two places at once, none is lost, none starts before it is due.
// (600 jobs here to stay near 20 s; the 5,000-job run is bench/jobs-processes.ts.)
import { assert, it } from "@effect/vitest"
import { PgDialect } from "@strata/postgres"
import { SqlJobs } from "@strata/sql"
import { jobScenario } from "@strata/test-utils/JobProcesses"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { PgTestDatabase } from "./utils.ts"

it.live(
  "job queue across processes on PostgreSQL: each job succeeded or dead, never run twice at once, none lost",
  () =>
    Effect.gen(function*() {
      const db = yield* PgTestDatabase
      const result = yield* jobScenario({ backend: "postgres", target: db.connectionString }, { jobs: 600 })
      const summary = JSON.stringify({ ...result, outputs: undefined })
      const context = `${summary}\n${result.outputs.join("\n").slice(-6_000)}`
      assert.strictEqual(result.total, 600, `no job lost ${summary}`)
      assert.deepStrictEqual(result.unfinished, [], `every job finished\n${context}`)
      assert.strictEqual(result.succeeded + result.dead, 600)
      assert.deepStrictEqual(result.concurrent, [], `no job ran in two places at once: ${summary}`)
      assert.deepStrictEqual(result.wrongFinal, [], `final states match the runs: ${summary}`)
      assert.strictEqual(result.early, 0, `no job started before it was due: ${summary}`)
      assert.isAbove(result.dead, 0, `some jobs failed three times (30% random failures): ${summary}`)
      assert.isAbove(result.killedRuns, 0, `the SIGKILLs cut runs short: ${summary}`)
      assert.isAbove(result.retaken, 0, `jobs of the killed workers were taken again: ${summary}`)
      assert.isAtLeast(
        Object.keys(result.byWorker).length,
        4,
        `the work was shared: ${JSON.stringify(result.byWorker)}`
      )
    }).pipe(
      Effect.provide(
        SqlJobs.layer({ dialect: PgDialect.dialect, backend: "postgres" }).pipe(
          Layer.provideMerge(PgTestDatabase.layerClient)
        )
      ),
      Effect.scoped
    ),
  { timeout: 120_000 }
)
