// The outbox on PostgreSQL, across a crash: a writer process commits units of work that append an
// event and enqueue a job, and is SIGKILLed inside the last unit, between its writes and its commit
// (the server rolls the open transaction back when the connection drops). Every committed unit has
// its event and its job; the killed one has neither. The same for jobs carried by an append
// (JobQueue.append, appendMany, put), killed between the last job's insert and the commit, or just
// after the commit.
import { assert, it } from "@effect/vitest"
import { PgDialect, PgStore } from "@strata/postgres"
import { SqlJobs } from "@strata/sql"
import { carriedCrash, type CarriedCrashResult, kinds } from "@strata/test-utils/CarriedCrash"
import { outboxCrash } from "@strata/test-utils/OutboxCrash"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { PgTestDatabase } from "./utils.ts"

// Units 0..killAt-1 committed whole; unit killAt has everything (after its commit) or nothing.
const checkCarried = (result: CarriedCrashResult, killAt: number, when: "before-commit" | "after-commit") => {
  assert.strictEqual(result.exit, "SIGKILL", result.output)
  assert.include(result.output, when === "before-commit" ? "not committed; killing" : `committed ${killAt}; killing`)
  for (const unit of result.units) {
    const whole = unit.n < killAt || when === "after-commit"
    const streams = unit.kind === "appendMany" ? 2 : 1
    assert.deepStrictEqual(
      unit,
      whole
        ? { ...unit, streams, document: unit.kind === "put", jobs: 2 }
        : { ...unit, streams: 0, document: false, jobs: 0 },
      `unit ${unit.n} (${unit.kind}), ${when}: events present <=> jobs present`
    )
  }
}

it.live(
  "outbox on PostgreSQL: SIGKILL between append and commit, and after commits: events present <=> jobs present",
  () =>
    Effect.gen(function*() {
      const db = yield* PgTestDatabase
      const result = yield* outboxCrash({ backend: "postgres", target: db.connectionString }, 20)
      assert.strictEqual(result.exit, "SIGKILL", result.output)
      const committed = Array.from({ length: 20 }, (_, n) => n)
      assert.deepStrictEqual(result.events, committed, "every committed unit's event, not the killed one's")
      assert.deepStrictEqual(result.jobs, result.events, "jobs present exactly where events are")
    }).pipe(
      Effect.provide(
        SqlJobs.layer({ dialect: PgDialect.dialect, backend: "postgres" }).pipe(
          Layer.provideMerge(PgStore.layerFromClient().pipe(Layer.provideMerge(PgTestDatabase.layerClient)))
        )
      ),
      Effect.scoped
    ),
  { timeout: 60_000 }
)

const carriedOnDatabase = (killAt: number, when: "before-commit" | "after-commit") =>
  Effect.gen(function*() {
    const db = yield* PgTestDatabase
    return yield* carriedCrash({ backend: "postgres", target: db.connectionString }, killAt, when)
  }).pipe(
    Effect.provide(
      SqlJobs.layer({ dialect: PgDialect.dialect, backend: "postgres" }).pipe(
        Layer.provideMerge(PgStore.layerFromClient().pipe(Layer.provideMerge(PgTestDatabase.layerClient)))
      )
    ),
    Effect.scoped
  )

// Unit k carries its jobs through kinds[k % 3]: killing in units 3, 4 and 5 kills each kind.
for (const killAt of [3, 4, 5]) {
  it.live(
    `carried jobs on PostgreSQL (${
      kinds[killAt % 3]
    }): SIGKILL between the last job's insert and the commit: events present <=> jobs present`,
    () =>
      Effect.map(carriedOnDatabase(killAt, "before-commit"), (result) => checkCarried(result, killAt, "before-commit")),
    { timeout: 90_000 }
  )
}

it.live(
  "carried jobs on PostgreSQL (put): SIGKILL just after the commit: the unit's events, document and jobs are all there",
  () => Effect.map(carriedOnDatabase(5, "after-commit"), (result) => checkCarried(result, 5, "after-commit")),
  { timeout: 90_000 }
)
