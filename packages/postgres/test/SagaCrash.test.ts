// The order saga (examples/orderSaga.ts) on PostgreSQL, across a crash: a process is SIGKILLed
// inside a step, before its effect; a new process resumes the execution from its stream and
// completes it, with every effect applied once.
import { assert, describe, it } from "@effect/vitest"
import { PgDialect, PgStore } from "@strata/postgres"
import { SqlJobs } from "@strata/sql"
import { sagaCrash } from "@strata/test-utils/SagaCrash"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { PgTestDatabase } from "./utils.ts"

const cases: ReadonlyArray<
  { readonly killBefore: string; readonly amount: number; readonly effects: ReadonlyArray<string> }
> = [
  { killBefore: "PaymentCharged", amount: 30, effects: ["StockReserved", "PaymentCharged", "Shipped"] },
  { killBefore: "Shipped", amount: 30, effects: ["StockReserved", "PaymentCharged", "Shipped"] }
]

describe("order saga on PostgreSQL across SIGKILL", () => {
  for (const c of cases) {
    it.live(`killed before ${c.killBefore}: resumed in a new process, each effect once`, () =>
      Effect.gen(function*() {
        const db = yield* PgTestDatabase
        const orderId = `o-${c.killBefore}-${Math.random().toString(16).slice(2, 10)}`
        const result = yield* sagaCrash({ backend: "postgres", target: db.connectionString }, {
          orderId,
          amount: c.amount,
          killBefore: c.killBefore
        })
        assert.strictEqual(result.first.exit, "SIGKILL", result.first.output)
        assert.deepStrictEqual([...result.afterCrash], c.effects.slice(0, c.effects.indexOf(c.killBefore)))
        assert.strictEqual(result.second.exit, 0, result.second.output)
        assert.deepStrictEqual([...result.effects], [...c.effects], "every effect applied once, in order")
        assert.include(result.second.output, `"shipped":"shipment-${orderId}"`)
      }).pipe(
        Effect.provide(
          SqlJobs.layer({ dialect: PgDialect.dialect, backend: "postgres" }).pipe(
            Layer.provideMerge(PgStore.layerFromClient().pipe(Layer.provideMerge(PgTestDatabase.layerClient)))
          )
        ),
        Effect.scoped
      ), { timeout: 60_000 })
  }
})
