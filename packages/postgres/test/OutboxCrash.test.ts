// The outbox on PostgreSQL, across a crash: a writer process commits units of work that append an
// event and enqueue a job, and is SIGKILLed inside the last unit, between its writes and its commit
// (the server rolls the open transaction back when the connection drops). Every committed unit has
// its event and its job; the killed one has neither.
import { assert, it } from "@effect/vitest"
import { PgDialect, PgStore } from "@strata/postgres"
import { SqlJobs } from "@strata/sql"
import { outboxCrash } from "@strata/test-utils/OutboxCrash"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { PgTestDatabase } from "./utils.ts"

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
